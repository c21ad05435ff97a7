// edet/detect/variants.hpp - what the detector needs to know about each published model: a
// view joining the two tables that hold the facts, never a third copy of them.
//
// A variant is a released checkpoint name (../shared/checkpoints.tsv). Its row in
// io::checkpoint_table (io/checkpoints.hpp) says which network it runs and the
// preprocessing the checkpoint was trained with; that network's row of
// kEfficientDetVariants (models/config.hpp) gives the input size, pyramid levels and
// anchor scale. Adding a variant is one row in io/checkpoints.hpp; this view follows.
//
//   variant                    network                 image   mean / std          fill
//   tf_efficientdet_d0..d7x    same                    512..   ImageNet            124,116,104
//   efficientdet_d0, d1        same                    512,640 ImageNet            124,116,104
//   tf_efficientdet_lite0..4   same                    320..   0.5 / 0.5           128,128,128
//   tf_efficientdet_d0..5_ap   tf_efficientdet_d0..5   512..   0.5 / 0.5           0,0,0
//
// The view is built at compile time, so a row naming a network the model table lacks (or a
// fill outside 0..255) stops the build here rather than at a user's first detection. The
// anchor fields are copied into the view so post-processing can be tested without building
// a network.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "edet/core/error.hpp"
#include "edet/io/checkpoints.hpp"
#include "edet/models/config.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

struct VariantInfo {
    const char* name;        // checkpoint / variant name, e.g. "tf_efficientdet_d0_ap"
    const char* network;     // network it runs, e.g. "tf_efficientdet_d0"
    int image_size;          // square input, pixels (the network row's)
    int min_level;           // first pyramid level (P3)
    int max_level;           // last pyramid level (P7, P8 for d7x; the network row's)
    double anchor_scale;     // anchor size in strides (the network row's)
    std::array<double, 3> mean;  // per RGB channel, on the 0..1 scale (the checkpoint row's)
    std::array<double, 3> std;
    std::array<std::uint8_t, 3> fill;  // letterbox padding colour: round(255 * mean), or 0
    const io::CheckpointInfo* checkpoint;  // the published row: AP, params, file, URL
};

namespace detail {

// True when every published row is usable: its network is in the model table and its
// preprocessing is in range.
constexpr bool published_rows_valid() {
    for (const io::CheckpointInfo& c : io::checkpoint_table) {
        if (find_efficientdet(c.network) < 0) return false;
        for (std::size_t k = 0; k < 3; ++k)
            if (c.fill[k] < 0 || c.fill[k] > 255 || !(c.std[k] > 0.0)) return false;
    }
    return true;
}
static_assert(published_rows_valid(),
              "io::checkpoint_table: every row's network must be a kEfficientDetVariants name, its std > 0 and "
              "its fill in 0..255");

constexpr VariantInfo variant_view(const io::CheckpointInfo& c) {
    const EfficientDetSpec& n = kEfficientDetVariants[static_cast<std::size_t>(find_efficientdet(c.network))];
    return VariantInfo{c.variant,
                       c.network,
                       n.image_size,
                       kEfficientDetMinLevel,
                       n.max_level,
                       n.anchor_scale,
                       c.mean,
                       c.std,
                       {{static_cast<std::uint8_t>(c.fill[0]), static_cast<std::uint8_t>(c.fill[1]),
                         static_cast<std::uint8_t>(c.fill[2])}},
                       &c};
}

template <std::size_t... I>
constexpr std::array<VariantInfo, sizeof...(I)> variant_views(std::index_sequence<I...>) {
    return {{variant_view(io::checkpoint_table[I])...}};
}

inline constexpr std::array<VariantInfo, io::checkpoint_count> kVariants =
    variant_views(std::make_index_sequence<io::checkpoint_count>{});

}  // namespace detail

// Every published variant, in the order of checkpoints.tsv.
inline const std::array<VariantInfo, io::checkpoint_count>& variants() { return detail::kVariants; }

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
