// edet/io/checkpoints.hpp - the published EfficientDet variants, compiled in: THE table.
//
// One row per released weight file (from ../shared/checkpoints.tsv; effdet's model
// registry): the name users type, the network it runs, the preprocessing it was trained
// with, its COCO val2017 AP, and where the file lives. Everything else about a variant -
// input size, pyramid levels, anchor scale, widths and depths - belongs to the network and
// is read from that network's row of kEfficientDetVariants (models/config.hpp); it is not
// repeated here, so adding a variant is one row. detect::variants() joins the two.
//
// Preprocessing lives here and not in the network row because it is a fact about the
// trained weights, not the architecture: `network` differs from `variant` only for the
// AdvProp (_ap) checkpoints, and tf_efficientdet_dN_ap runs exactly the tf_efficientdet_dN
// network but was trained on inputs normalised with mean = std = 0.5 and letterboxed with
// a zero fill instead of the ImageNet statistics.
//
//   const io::CheckpointInfo* c = io::find_checkpoint("tf_efficientdet_d0_ap");
//   c->network  -> "tf_efficientdet_d0"; c->mean -> {0.5, 0.5, 0.5}; c->fill -> {0, 0, 0}
//
// find_checkpoint accepts the variant name, the release file name
// ("tf_efficientdet_d0_34-f153e0cf.pth") or that name without ".pth".
//
// Plain data on purpose: io/ sits below models/, and this header must stay cheap to include
// (io/checkpoint_cache.hpp, the tools). That every `network` names a row of
// kEfficientDetVariants is a static_assert in detect/variants.hpp, which sees both tables.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "edet/core/arch.hpp"

EDET_NAMESPACE_BEGIN
namespace io {

struct CheckpointInfo {
    const char* variant;            // the name the API accepts, e.g. "tf_efficientdet_d0_ap"
    const char* network;            // the architecture it runs, a kEfficientDetVariants name
    // Preprocessing, RGB: x = (u8 / 255 - mean) / std. Doubles, written as in the TSV, so the
    // values preprocessing uses are exactly the published decimals.
    std::array<double, 3> mean;
    std::array<double, 3> std;
    std::array<int, 3> fill;        // RGB letterbox fill, u8
    double coco_ap;                 // published COCO val2017 AP
    double params_m;                // parameters, millions
    const char* file;               // release file name; "<stem>-<sha256 prefix>.pth"
    const char* sha256_prefix;      // first 8 hex digits of the file's SHA-256
    const char* url;                // download location
};

inline constexpr CheckpointInfo checkpoint_table[] = {
    {"tf_efficientdet_lite0", "tf_efficientdet_lite0", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {128, 128, 128}, 27.1, 3.24,
     "tf_efficientdet_lite0-dfacfc78.pth", "dfacfc78",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_lite0-dfacfc78.pth"},
    {"tf_efficientdet_lite1", "tf_efficientdet_lite1", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {128, 128, 128}, 32.2, 4.25,
     "tf_efficientdet_lite1-6dc7ab30.pth", "6dc7ab30",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_lite1-6dc7ab30.pth"},
    {"tf_efficientdet_lite2", "tf_efficientdet_lite2", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {128, 128, 128}, 35.9, 5.25,
     "tf_efficientdet_lite2-86c5d55b.pth", "86c5d55b",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_lite2-86c5d55b.pth"},
    {"tf_efficientdet_lite3", "tf_efficientdet_lite3", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {128, 128, 128}, 39.6, 8.35,
     "tf_efficientdet_lite3-506852cb.pth", "506852cb",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_lite3-506852cb.pth"},
    {"tf_efficientdet_lite3x", "tf_efficientdet_lite3x", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {128, 128, 128}, 43.6, 9.28,
     "tf_efficientdet_lite3x-8404c57b.pth", "8404c57b",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_lite3x-8404c57b.pth"},
    {"tf_efficientdet_lite4", "tf_efficientdet_lite4", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {128, 128, 128}, 44.2, 15.1,
     "tf_efficientdet_lite4-391ddabc.pth", "391ddabc",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_lite4-391ddabc.pth"},
    {"efficientdet_d0", "efficientdet_d0", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {124, 116, 104}, 33.6, 3.88,
     "efficientdet_d0-f3276ba8.pth", "f3276ba8",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/efficientdet_d0-f3276ba8.pth"},
    {"efficientdet_d1", "efficientdet_d1", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {124, 116, 104}, 39.4, 6.62,
     "efficientdet_d1-bb7e98fe.pth", "bb7e98fe",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/efficientdet_d1-bb7e98fe.pth"},
    {"tf_efficientdet_d0", "tf_efficientdet_d0", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {124, 116, 104}, 34.2, 3.88,
     "tf_efficientdet_d0_34-f153e0cf.pth", "f153e0cf",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d0_34-f153e0cf.pth"},
    {"tf_efficientdet_d1", "tf_efficientdet_d1", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {124, 116, 104}, 40.1, 6.63,
     "tf_efficientdet_d1_40-a30f94af.pth", "a30f94af",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d1_40-a30f94af.pth"},
    {"tf_efficientdet_d2", "tf_efficientdet_d2", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {124, 116, 104}, 43.4, 8.10,
     "tf_efficientdet_d2_43-8107aa99.pth", "8107aa99",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d2_43-8107aa99.pth"},
    {"tf_efficientdet_d3", "tf_efficientdet_d3", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {124, 116, 104}, 47.1, 12.0,
     "tf_efficientdet_d3_47-0b525f35.pth", "0b525f35",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d3_47-0b525f35.pth"},
    {"tf_efficientdet_d4", "tf_efficientdet_d4", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {124, 116, 104}, 49.2, 20.7,
     "tf_efficientdet_d4_49-f56376d9.pth", "f56376d9",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d4_49-f56376d9.pth"},
    {"tf_efficientdet_d5", "tf_efficientdet_d5", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {124, 116, 104}, 51.2, 33.7,
     "tf_efficientdet_d5_51-c79f9be6.pth", "c79f9be6",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d5_51-c79f9be6.pth"},
    {"tf_efficientdet_d6", "tf_efficientdet_d6", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {124, 116, 104}, 52.0, 51.9,
     "tf_efficientdet_d6_52-4eda3773.pth", "4eda3773",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d6_52-4eda3773.pth"},
    {"tf_efficientdet_d7", "tf_efficientdet_d7", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {124, 116, 104}, 53.1, 51.9,
     "tf_efficientdet_d7_53-6d1d7a95.pth", "6d1d7a95",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d7_53-6d1d7a95.pth"},
    {"tf_efficientdet_d7x", "tf_efficientdet_d7x", {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}, {124, 116, 104}, 54.3, 77.1,
     "tf_efficientdet_d7x-f390b87c.pth", "f390b87c",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d7x-f390b87c.pth"},
    {"tf_efficientdet_d0_ap", "tf_efficientdet_d0", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0, 0, 0}, 34.8, 3.88,
     "tf_efficientdet_d0_ap-d0cdbd0a.pth", "d0cdbd0a",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d0_ap-d0cdbd0a.pth"},
    {"tf_efficientdet_d1_ap", "tf_efficientdet_d1", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0, 0, 0}, 40.8, 6.63,
     "tf_efficientdet_d1_ap-7721d075.pth", "7721d075",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d1_ap-7721d075.pth"},
    {"tf_efficientdet_d2_ap", "tf_efficientdet_d2", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0, 0, 0}, 44.2, 8.10,
     "tf_efficientdet_d2_ap-a2995c19.pth", "a2995c19",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d2_ap-a2995c19.pth"},
    {"tf_efficientdet_d3_ap", "tf_efficientdet_d3", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0, 0, 0}, 47.7, 12.0,
     "tf_efficientdet_d3_ap-e4a2feab.pth", "e4a2feab",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d3_ap-e4a2feab.pth"},
    {"tf_efficientdet_d4_ap", "tf_efficientdet_d4", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0, 0, 0}, 50.2, 20.7,
     "tf_efficientdet_d4_ap-f601a5fc.pth", "f601a5fc",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d4_ap-f601a5fc.pth"},
    {"tf_efficientdet_d5_ap", "tf_efficientdet_d5", {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0, 0, 0}, 52.1, 33.7,
     "tf_efficientdet_d5_ap-3673ae5d.pth", "3673ae5d",
     "https://github.com/rwightman/efficientdet-pytorch/releases/download/v0.1/tf_efficientdet_d5_ap-3673ae5d.pth"},
};

inline constexpr std::size_t checkpoint_count = sizeof(checkpoint_table) / sizeof(checkpoint_table[0]);

// The row for a variant name, release file name or file stem; nullptr when unknown.
inline const CheckpointInfo* find_checkpoint(std::string_view name) {
    std::string_view stem = name;
    if (stem.size() > 4 && stem.substr(stem.size() - 4) == ".pth") stem.remove_suffix(4);
    for (const CheckpointInfo& c : checkpoint_table) {
        const std::string_view file(c.file);
        if (name == c.variant || name == file || stem == file.substr(0, file.size() - 4)) return &c;
    }
    return nullptr;
}

}  // namespace io
EDET_NAMESPACE_END
