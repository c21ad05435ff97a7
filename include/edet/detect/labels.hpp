// edet/detect/labels.hpp - the COCO label map the 90-class checkpoints predict.
//
// Class index c of the network's head is COCO category id c + 1. COCO's paper defined 91
// ids (1..90 used here); ten of them never received annotations in the released
// datasets: 12 street sign, 26 hat, 29 shoe, 30 eye glasses, 45 plate, 66 mirror,
// 68 window, 69 desk, 71 door, 83 blender. They keep their paper names and are marked
// unused; a trained model rarely predicts them.
#pragma once

#include <array>
#include <cctype>
#include <string>

#include "edet/core/arch.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

struct CocoLabel {
    int id;            // COCO category id, 1..90
    const char* name;  // e.g. "traffic light"
    bool used;         // false for the ten ids without annotations
};

inline constexpr int kCocoNumClasses = 90;

inline const std::array<CocoLabel, kCocoNumClasses>& coco_labels() {
    static constexpr std::array<CocoLabel, kCocoNumClasses> labels{{
        {1, "person", true},        {2, "bicycle", true},       {3, "car", true},
        {4, "motorcycle", true},    {5, "airplane", true},      {6, "bus", true},
        {7, "train", true},         {8, "truck", true},         {9, "boat", true},
        {10, "traffic light", true}, {11, "fire hydrant", true}, {12, "street sign", false},
        {13, "stop sign", true},    {14, "parking meter", true}, {15, "bench", true},
        {16, "bird", true},         {17, "cat", true},          {18, "dog", true},
        {19, "horse", true},        {20, "sheep", true},        {21, "cow", true},
        {22, "elephant", true},     {23, "bear", true},         {24, "zebra", true},
        {25, "giraffe", true},      {26, "hat", false},         {27, "backpack", true},
        {28, "umbrella", true},     {29, "shoe", false},        {30, "eye glasses", false},
        {31, "handbag", true},      {32, "tie", true},          {33, "suitcase", true},
        {34, "frisbee", true},      {35, "skis", true},         {36, "snowboard", true},
        {37, "sports ball", true},  {38, "kite", true},         {39, "baseball bat", true},
        {40, "baseball glove", true}, {41, "skateboard", true}, {42, "surfboard", true},
        {43, "tennis racket", true}, {44, "bottle", true},      {45, "plate", false},
        {46, "wine glass", true},   {47, "cup", true},          {48, "fork", true},
        {49, "knife", true},        {50, "spoon", true},        {51, "bowl", true},
        {52, "banana", true},       {53, "apple", true},        {54, "sandwich", true},
        {55, "orange", true},       {56, "broccoli", true},     {57, "carrot", true},
        {58, "hot dog", true},      {59, "pizza", true},        {60, "donut", true},
        {61, "cake", true},         {62, "chair", true},        {63, "couch", true},
        {64, "potted plant", true}, {65, "bed", true},          {66, "mirror", false},
        {67, "dining table", true}, {68, "window", false},      {69, "desk", false},
        {70, "toilet", true},       {71, "door", false},        {72, "tv", true},
        {73, "laptop", true},       {74, "mouse", true},        {75, "remote", true},
        {76, "keyboard", true},     {77, "cell phone", true},   {78, "microwave", true},
        {79, "oven", true},         {80, "toaster", true},      {81, "sink", true},
        {82, "refrigerator", true}, {83, "blender", false},     {84, "book", true},
        {85, "clock", true},        {86, "vase", true},         {87, "scissors", true},
        {88, "teddy bear", true},   {89, "hair drier", true},   {90, "toothbrush", true},
    }};
    return labels;
}

// The name of a COCO id; "class <id>" outside 1..90 (models with other class counts).
inline std::string coco_label(int id) {
    if (id >= 1 && id <= kCocoNumClasses) return coco_labels()[static_cast<std::size_t>(id - 1)].name;
    return "class " + std::to_string(id);
}

inline bool coco_id_used(int id) {
    return id >= 1 && id <= kCocoNumClasses && coco_labels()[static_cast<std::size_t>(id - 1)].used;
}

// The id of a name, case-insensitive, '_' or '-' matching a space ("traffic_light");
// a plain number is taken as an id. -1 when unknown.
inline int coco_id(const std::string& name) {
    if (name.empty()) return -1;
    bool digits = true;
    for (char ch : name) digits = digits && std::isdigit(static_cast<unsigned char>(ch));
    if (digits) {
        if (name.size() > 3) return -1;
        const int id = std::stoi(name);
        return id >= 1 && id <= kCocoNumClasses ? id : -1;
    }
    std::string key;
    for (char ch : name) {
        const char c = (ch == '_' || ch == '-') ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        key += c;
    }
    for (const CocoLabel& l : coco_labels())
        if (key == l.name) return l.id;
    return -1;
}

}  // namespace detect
EDET_NAMESPACE_END
