// edet/models/config.hpp - the published EfficientDet / EfficientNet tables as constexpr
// data, the compound-scaling formulas beside them, and the runtime config the model uses.
//
// The tables are the source of truth. The paper's formulas
//   W_bifpn = 64 * 1.35^phi,  D_bifpn = 3 + phi,  D_head = 3 + floor(phi / 3),
//   R_input = 512 + 128 * phi
// are constexpr functions below; tests static_assert where they agree with the table and
// where they do not (d2's width, d5-d7's BiFPN repeats, d7's input size, every Lite row).
//
// Backbone scaling (timm): channels c' = round_channels(c * width), repeats ceil(r * depth).
// The stage tables below are what those functions give; they are asserted in the tests.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/kernels/op_kinds.hpp"  // Activation, FusionRule: names only, no SIMD
#include "edet/kernels/padding.hpp"   // PaddingMode

EDET_NAMESPACE_BEGIN

// ---- EfficientNet backbones ----------------------------------------------------------

enum class BlockKind { depthwise_separable, inverted_residual };

// One stage of the B0 base network (timm's arch_def).
struct StageBase {
    BlockKind kind;
    int kernel;
    int stride;   // of the first block of the stage
    int expand;   // expansion ratio (1 for the DS stage)
    int channels; // output channels before width scaling
    int repeats;  // blocks before depth scaling
};

inline constexpr std::array<StageBase, 7> kEfficientNetStages = {{
    {BlockKind::depthwise_separable, 3, 1, 1, 16, 1},
    {BlockKind::inverted_residual, 3, 2, 6, 24, 2},
    {BlockKind::inverted_residual, 5, 2, 6, 40, 2},
    {BlockKind::inverted_residual, 3, 2, 6, 80, 3},
    {BlockKind::inverted_residual, 5, 1, 6, 112, 3},
    {BlockKind::inverted_residual, 5, 2, 6, 192, 4},
    {BlockKind::inverted_residual, 3, 1, 6, 320, 1},
}};

// timm round_channels / make_divisible(divisor 8, round_limit 0.9).
constexpr int round_channels(int channels, double width) {
    const double v = channels * width;
    int r = static_cast<int>(v + 4.0) / 8 * 8;
    if (r < 8) r = 8;
    if (r < 0.9 * v) r += 8;
    return r;
}
// ceil(repeats * depth) (timm 'ceil' depth truncation).
constexpr int scale_repeats(int repeats, double depth) {
    const double v = repeats * depth;
    const int f = static_cast<int>(v);
    return f < v ? f + 1 : f;
}

// A backbone as the table gives it.
struct BackboneSpec {
    const char* name;
    double width;
    double depth;
    bool lite;           // Lite: no SE, ReLU6, stem fixed at 32, stages 0 and 6 unscaled
    bool tf_same;        // tf_*: TF 'same' padding and BN eps 1e-3; else symmetric, 1e-5
    int stem_channels;
    std::array<int, 7> stage_channels;
    std::array<int, 7> stage_repeats;

    constexpr PaddingMode padding() const { return tf_same ? PaddingMode::tf_same : PaddingMode::symmetric; }
    constexpr float bn_eps() const { return tf_same ? 1e-3f : 1e-5f; }
    constexpr Activation activation() const { return lite ? Activation::relu6 : Activation::swish; }
    constexpr bool squeeze_excite() const { return !lite; }
    // P3, P4, P5 channels: outputs of stages 2, 4, 6.
    constexpr int feature_channels(int i) const { return stage_channels[static_cast<std::size_t>(2 + 2 * i)]; }
};

// The formulas, for the static_asserts that tie them to the table.
constexpr int formula_stem_channels(double width, bool lite) { return lite ? 32 : round_channels(32, width); }
constexpr int formula_stage_channels(int stage, double width) {
    return round_channels(kEfficientNetStages[static_cast<std::size_t>(stage)].channels, width);
}
constexpr int formula_stage_repeats(int stage, double depth, bool lite) {
    const int r = kEfficientNetStages[static_cast<std::size_t>(stage)].repeats;
    return (lite && (stage == 0 || stage == 6)) ? r : scale_repeats(r, depth);
}

inline constexpr std::array<BackboneSpec, 15> kBackbones = {{
    // name                    width depth  lite   tf    stem  stage channels                     repeats
    {"tf_efficientnet_b0", 1.0, 1.0, false, true, 32, {16, 24, 40, 80, 112, 192, 320}, {1, 2, 2, 3, 3, 4, 1}},
    {"tf_efficientnet_b1", 1.0, 1.1, false, true, 32, {16, 24, 40, 80, 112, 192, 320}, {2, 3, 3, 4, 4, 5, 2}},
    {"tf_efficientnet_b2", 1.1, 1.2, false, true, 32, {16, 24, 48, 88, 120, 208, 352}, {2, 3, 3, 4, 4, 5, 2}},
    {"tf_efficientnet_b3", 1.2, 1.4, false, true, 40, {24, 32, 48, 96, 136, 232, 384}, {2, 3, 3, 5, 5, 6, 2}},
    {"tf_efficientnet_b4", 1.4, 1.8, false, true, 48, {24, 32, 56, 112, 160, 272, 448}, {2, 4, 4, 6, 6, 8, 2}},
    {"tf_efficientnet_b5", 1.6, 2.2, false, true, 48, {24, 40, 64, 128, 176, 304, 512}, {3, 5, 5, 7, 7, 9, 3}},
    {"tf_efficientnet_b6", 1.8, 2.6, false, true, 56, {32, 40, 72, 144, 200, 344, 576}, {3, 6, 6, 8, 8, 11, 3}},
    {"tf_efficientnet_b7", 2.0, 3.1, false, true, 64, {32, 48, 80, 160, 224, 384, 640}, {4, 7, 7, 10, 10, 13, 4}},
    {"efficientnet_b0", 1.0, 1.0, false, false, 32, {16, 24, 40, 80, 112, 192, 320}, {1, 2, 2, 3, 3, 4, 1}},
    {"efficientnet_b1", 1.0, 1.1, false, false, 32, {16, 24, 40, 80, 112, 192, 320}, {2, 3, 3, 4, 4, 5, 2}},
    {"tf_efficientnet_lite0", 1.0, 1.0, true, true, 32, {16, 24, 40, 80, 112, 192, 320}, {1, 2, 2, 3, 3, 4, 1}},
    {"tf_efficientnet_lite1", 1.0, 1.1, true, true, 32, {16, 24, 40, 80, 112, 192, 320}, {1, 3, 3, 4, 4, 5, 1}},
    {"tf_efficientnet_lite2", 1.1, 1.2, true, true, 32, {16, 24, 48, 88, 120, 208, 352}, {1, 3, 3, 4, 4, 5, 1}},
    {"tf_efficientnet_lite3", 1.2, 1.4, true, true, 32, {24, 32, 48, 96, 136, 232, 384}, {1, 3, 3, 5, 5, 6, 1}},
    {"tf_efficientnet_lite4", 1.4, 1.8, true, true, 32, {24, 32, 56, 112, 160, 272, 448}, {1, 4, 4, 6, 6, 8, 1}},
}};

// True when a table row is what the scaling formulas give.
constexpr bool backbone_matches_formulas(const BackboneSpec& b) {
    if (b.stem_channels != formula_stem_channels(b.width, b.lite)) return false;
    for (int s = 0; s < 7; ++s) {
        if (b.stage_channels[static_cast<std::size_t>(s)] != formula_stage_channels(s, b.width)) return false;
        if (b.stage_repeats[static_cast<std::size_t>(s)] != formula_stage_repeats(s, b.depth, b.lite)) return false;
    }
    return true;
}

constexpr bool same_name(const char* a, const char* b) {
    while (*a && *a == *b) ++a, ++b;
    return *a == *b;
}

// Index into kBackbones, -1 when unknown.
constexpr int find_backbone(const char* name) {
    for (std::size_t i = 0; i < kBackbones.size(); ++i)
        if (same_name(kBackbones[i].name, name)) return static_cast<int>(i);
    return -1;
}

// ---- EfficientDet variants --------------------------------------------------------------

// One row of the EfficientDet table.
struct EfficientDetSpec {
    const char* name;
    const char* backbone;
    int image_size;      // H = W
    int fpn_channels;    // BiFPN width
    int fpn_repeats;     // BiFPN layers
    int head_repeats;    // class/box head conv repeats
    FusionRule fusion;   // bifpn_fa: fast_normalized; bifpn_sum: sum
    double anchor_scale;
    int max_level;       // 7, or 8 for d7x
    bool redundant_bias; // bias on BiFPN/head pointwise convs and resample 1x1 convs
    // No preprocessing here: mean/std/fill belong to the trained checkpoint, not the network
    // (tf_efficientdet_d0 and tf_efficientdet_d0_ap run this same row with different
    // statistics). They live in the published-variant table, io/checkpoints.hpp.
};

// The first pyramid level (P3) of every published network; the last is the row's max_level.
inline constexpr int kEfficientDetMinLevel = 3;

inline constexpr FusionRule kFastFuse = FusionRule::fast_normalized;
inline constexpr FusionRule kSumFuse = FusionRule::sum;

inline constexpr std::array<EfficientDetSpec, 17> kEfficientDetVariants = {{
    // name                      backbone                 size  W    D  head fusion    anchor max  rbias
    {"tf_efficientdet_d0", "tf_efficientnet_b0", 512, 64, 3, 3, kFastFuse, 4.0, 7, true},
    {"tf_efficientdet_d1", "tf_efficientnet_b1", 640, 88, 4, 3, kFastFuse, 4.0, 7, true},
    {"tf_efficientdet_d2", "tf_efficientnet_b2", 768, 112, 5, 3, kFastFuse, 4.0, 7, true},
    {"tf_efficientdet_d3", "tf_efficientnet_b3", 896, 160, 6, 4, kFastFuse, 4.0, 7, true},
    {"tf_efficientdet_d4", "tf_efficientnet_b4", 1024, 224, 7, 4, kFastFuse, 4.0, 7, true},
    {"tf_efficientdet_d5", "tf_efficientnet_b5", 1280, 288, 7, 4, kFastFuse, 4.0, 7, true},
    {"tf_efficientdet_d6", "tf_efficientnet_b6", 1280, 384, 8, 5, kSumFuse, 4.0, 7, true},
    {"tf_efficientdet_d7", "tf_efficientnet_b6", 1536, 384, 8, 5, kSumFuse, 5.0, 7, true},
    {"tf_efficientdet_d7x", "tf_efficientnet_b7", 1536, 384, 8, 5, kSumFuse, 4.0, 8, true},
    {"efficientdet_d0", "efficientnet_b0", 512, 64, 3, 3, kFastFuse, 4.0, 7, false},
    {"efficientdet_d1", "efficientnet_b1", 640, 88, 4, 3, kFastFuse, 4.0, 7, false},
    {"tf_efficientdet_lite0", "tf_efficientnet_lite0", 320, 64, 3, 3, kSumFuse, 3.0, 7, true},
    {"tf_efficientdet_lite1", "tf_efficientnet_lite1", 384, 88, 4, 3, kSumFuse, 3.0, 7, true},
    {"tf_efficientdet_lite2", "tf_efficientnet_lite2", 448, 112, 5, 3, kSumFuse, 3.0, 7, true},
    {"tf_efficientdet_lite3", "tf_efficientnet_lite3", 512, 160, 6, 4, kSumFuse, 4.0, 7, true},
    {"tf_efficientdet_lite3x", "tf_efficientnet_lite3", 640, 200, 6, 4, kSumFuse, 3.0, 7, true},
    {"tf_efficientdet_lite4", "tf_efficientnet_lite4", 640, 224, 7, 4, kSumFuse, 4.0, 7, true},
}};

constexpr int find_efficientdet(const char* name) {
    for (std::size_t i = 0; i < kEfficientDetVariants.size(); ++i)
        if (same_name(kEfficientDetVariants[i].name, name)) return static_cast<int>(i);
    return -1;
}

// The paper's compound-scaling formulas (EfficientDet, Tan et al. 2020, eq. 1-3).
constexpr int paper_bifpn_width(int phi) {
    double w = 64.0;
    for (int i = 0; i < phi; ++i) w *= 1.35;
    return static_cast<int>(w);  // the table rounds to a multiple of 8 by hand
}
constexpr int paper_bifpn_repeats(int phi) { return 3 + phi; }
constexpr int paper_head_repeats(int phi) { return 3 + phi / 3; }
constexpr int paper_input_size(int phi) { return 512 + 128 * phi; }

// The table row for D<phi> (phi 0..7: tf_efficientdet_d0..d7).
constexpr const EfficientDetSpec& efficientdet_spec_for_phi(int phi) {
    return kEfficientDetVariants[static_cast<std::size_t>(phi)];
}

// ---- the runtime config ------------------------------------------------------------------

struct EfficientDetConfig {
    std::string name;                 // e.g. "tf_efficientdet_d0"
    std::string backbone_name;        // e.g. "tf_efficientnet_b0"
    BackboneSpec backbone{};          // the backbone's table row
    int image_height = 512;           // the network's input size (level sizes follow from it)
    int image_width = 512;
    int fpn_channels = 64;
    int fpn_repeats = 3;              // BiFPN layers
    int head_repeats = 3;             // conv repeats in the class and box heads
    FusionRule fusion = FusionRule::fast_normalized;
    double anchor_scale = 4.0;
    PaddingMode padding = PaddingMode::tf_same;  // backbone, BiFPN and heads alike
    Activation activation = Activation::swish;   // backbone, BiFPN and heads alike
    bool redundant_bias = true;
    int min_level = kEfficientDetMinLevel;
    int max_level = 7;
    int num_classes = 90;             // read from the class head's predict conv at load
    int num_scales = 3;
    std::vector<std::pair<double, double>> aspect_ratios{{1.0, 1.0}, {1.4, 0.7}, {0.7, 1.4}};
    // (No mean/std: preprocessing is the checkpoint's, detect::VariantInfo / io/checkpoints.hpp.)
    float backbone_bn_eps = 1e-3f;    // 1e-5 for efficientdet_d0/d1
    float bn_eps = 1e-3f;             // P6 resample, BiFPN, heads
    int max_detection_points = 5000;  // top-k before NMS
    int max_detections = 100;

    int num_levels() const { return max_level - min_level + 1; }
    int num_anchors() const { return num_scales * static_cast<int>(aspect_ratios.size()); }
};

inline std::vector<std::string> efficientdet_variants() {
    std::vector<std::string> v;
    for (const auto& s : kEfficientDetVariants) v.emplace_back(s.name);
    return v;
}

// The runtime config of a table row (the compile-time path: EfficientDetD<Phi>).
inline EfficientDetConfig efficientdet_config(const EfficientDetSpec& s) {
    const int b = find_backbone(s.backbone);
    if (b < 0) fail(cat("backbone '", s.backbone, "'"), "efficientdet_config", "not in the backbone table");
    const BackboneSpec& bb = kBackbones[static_cast<std::size_t>(b)];
    EfficientDetConfig c;
    c.name = s.name;
    c.backbone_name = s.backbone;
    c.backbone = bb;
    c.image_height = c.image_width = s.image_size;
    c.fpn_channels = s.fpn_channels;
    c.fpn_repeats = s.fpn_repeats;
    c.head_repeats = s.head_repeats;
    c.fusion = s.fusion;
    c.anchor_scale = s.anchor_scale;
    c.padding = bb.padding();
    c.activation = bb.activation();
    c.redundant_bias = s.redundant_bias;
    c.max_level = s.max_level;
    c.backbone_bn_eps = bb.bn_eps();
    return c;
}

// The runtime config of a variant name; throws edet::Error listing the valid names.
inline EfficientDetConfig efficientdet_config(const std::string& variant) {
    const int i = find_efficientdet(variant.c_str());
    if (i < 0) {
        std::string names;
        for (const auto& n : efficientdet_variants()) names += (names.empty() ? "" : ", ") + n;
        fail(cat("variant '", variant, "'"), "efficientdet_config", "unknown; valid names: " + names);
    }
    return efficientdet_config(kEfficientDetVariants[static_cast<std::size_t>(i)]);
}

// Feature size per axis at each level: s_0 = image size, s_{l+1} = floor((s_l - 1)/2) + 1.
inline std::vector<std::pair<int, int>> feature_sizes(int image_height, int image_width, int max_level) {
    std::vector<std::pair<int, int>> s;
    int h = image_height, w = image_width;
    for (int l = 0; l <= max_level; ++l) {
        s.emplace_back(h, w);
        h = (h - 1) / 2 + 1;
        w = (w - 1) / 2 + 1;
    }
    return s;
}

EDET_NAMESPACE_END
