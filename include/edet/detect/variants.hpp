// edet/detect/variants.hpp - what the detector needs to know about each published model.
//
// A variant is a released checkpoint name (../shared/checkpoints.tsv). It picks a network
// (the `_ap` AdvProp checkpoints reuse the plain D0-D5 networks) and the preprocessing
// that checkpoint was trained with:
//
//   variant                    network                 image   mean / std          fill
//   tf_efficientdet_d0..d7x    same                    512..   ImageNet            124,116,104
//   efficientdet_d0, d1        same                    512,640 ImageNet            124,116,104
//   tf_efficientdet_lite0..4   same                    320..   0.5 / 0.5           128,128,128
//   tf_efficientdet_d0..5_ap   tf_efficientdet_d0..5   512..   0.5 / 0.5           0,0,0
//
// The anchor fields (levels, anchor scale) follow DESIGN.md section 2; they are kept here so
// post-processing can be tested without building a network.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "edet/core/error.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

struct VariantInfo {
    const char* name;        // checkpoint / variant name, e.g. "tf_efficientdet_d0_ap"
    const char* network;     // network it runs, e.g. "tf_efficientdet_d0"
    int image_size;          // square input, pixels
    int min_level;           // first pyramid level (P3)
    int max_level;           // last pyramid level (P7, P8 for d7x)
    double anchor_scale;     // anchor size in strides
    std::array<double, 3> mean;  // per RGB channel, on the 0..1 scale
    std::array<double, 3> std;
    std::array<std::uint8_t, 3> fill;  // letterbox padding colour: round(255 * mean), or 0
};

namespace detail {
inline constexpr std::array<double, 3> kImagenetMean{0.485, 0.456, 0.406};
inline constexpr std::array<double, 3> kImagenetStd{0.229, 0.224, 0.225};
inline constexpr std::array<double, 3> kHalf{0.5, 0.5, 0.5};
inline constexpr std::array<std::uint8_t, 3> kImagenetFill{124, 116, 104};
inline constexpr std::array<std::uint8_t, 3> kGreyFill{128, 128, 128};
inline constexpr std::array<std::uint8_t, 3> kZeroFill{0, 0, 0};
}  // namespace detail

// Every published variant, in the order of checkpoints.tsv.
inline const std::vector<VariantInfo>& variants() {
    using namespace detail;
    static const std::vector<VariantInfo> table{
        {"tf_efficientdet_lite0", "tf_efficientdet_lite0", 320, 3, 7, 3.0, kHalf, kHalf, kGreyFill},
        {"tf_efficientdet_lite1", "tf_efficientdet_lite1", 384, 3, 7, 3.0, kHalf, kHalf, kGreyFill},
        {"tf_efficientdet_lite2", "tf_efficientdet_lite2", 448, 3, 7, 3.0, kHalf, kHalf, kGreyFill},
        {"tf_efficientdet_lite3", "tf_efficientdet_lite3", 512, 3, 7, 4.0, kHalf, kHalf, kGreyFill},
        {"tf_efficientdet_lite3x", "tf_efficientdet_lite3x", 640, 3, 7, 3.0, kHalf, kHalf, kGreyFill},
        {"tf_efficientdet_lite4", "tf_efficientdet_lite4", 640, 3, 7, 4.0, kHalf, kHalf, kGreyFill},
        {"efficientdet_d0", "efficientdet_d0", 512, 3, 7, 4.0, kImagenetMean, kImagenetStd, kImagenetFill},
        {"efficientdet_d1", "efficientdet_d1", 640, 3, 7, 4.0, kImagenetMean, kImagenetStd, kImagenetFill},
        {"tf_efficientdet_d0", "tf_efficientdet_d0", 512, 3, 7, 4.0, kImagenetMean, kImagenetStd, kImagenetFill},
        {"tf_efficientdet_d1", "tf_efficientdet_d1", 640, 3, 7, 4.0, kImagenetMean, kImagenetStd, kImagenetFill},
        {"tf_efficientdet_d2", "tf_efficientdet_d2", 768, 3, 7, 4.0, kImagenetMean, kImagenetStd, kImagenetFill},
        {"tf_efficientdet_d3", "tf_efficientdet_d3", 896, 3, 7, 4.0, kImagenetMean, kImagenetStd, kImagenetFill},
        {"tf_efficientdet_d4", "tf_efficientdet_d4", 1024, 3, 7, 4.0, kImagenetMean, kImagenetStd, kImagenetFill},
        {"tf_efficientdet_d5", "tf_efficientdet_d5", 1280, 3, 7, 4.0, kImagenetMean, kImagenetStd, kImagenetFill},
        {"tf_efficientdet_d6", "tf_efficientdet_d6", 1280, 3, 7, 4.0, kImagenetMean, kImagenetStd, kImagenetFill},
        {"tf_efficientdet_d7", "tf_efficientdet_d7", 1536, 3, 7, 5.0, kImagenetMean, kImagenetStd, kImagenetFill},
        {"tf_efficientdet_d7x", "tf_efficientdet_d7x", 1536, 3, 8, 4.0, kImagenetMean, kImagenetStd, kImagenetFill},
        {"tf_efficientdet_d0_ap", "tf_efficientdet_d0", 512, 3, 7, 4.0, kHalf, kHalf, kZeroFill},
        {"tf_efficientdet_d1_ap", "tf_efficientdet_d1", 640, 3, 7, 4.0, kHalf, kHalf, kZeroFill},
        {"tf_efficientdet_d2_ap", "tf_efficientdet_d2", 768, 3, 7, 4.0, kHalf, kHalf, kZeroFill},
        {"tf_efficientdet_d3_ap", "tf_efficientdet_d3", 896, 3, 7, 4.0, kHalf, kHalf, kZeroFill},
        {"tf_efficientdet_d4_ap", "tf_efficientdet_d4", 1024, 3, 7, 4.0, kHalf, kHalf, kZeroFill},
        {"tf_efficientdet_d5_ap", "tf_efficientdet_d5", 1280, 3, 7, 4.0, kHalf, kHalf, kZeroFill},
    };
    return table;
}

// nullptr when the name is unknown.
inline const VariantInfo* find_variant(const std::string& name) {
    for (const VariantInfo& v : variants())
        if (name == v.name) return &v;
    return nullptr;
}

// Throws edet::Error listing the known names when the name is unknown.
inline const VariantInfo& variant_info(const std::string& name) {
    if (const VariantInfo* v = find_variant(name)) return *v;
    std::string known;
    for (const VariantInfo& v : variants()) known += (known.empty() ? "" : ", ") + std::string(v.name);
    fail("variant '" + name + "'", "detect::variant_info", "unknown; known variants: " + known);
}

}  // namespace detect
EDET_NAMESPACE_END
