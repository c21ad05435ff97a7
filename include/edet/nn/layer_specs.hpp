// edet/nn/layer_specs.hpp - what each layer of the network is, as data: the specs the fast
// layers (nn/mbconv.hpp, nn/bifpn.hpp, nn/resample.hpp, nn/head.hpp) and the plain reference
// layers (reference/) are both built from. No kernels here (no SIMD): a spec names a
// layer's module prefix (effdet's state_dict names), its widths and its choices.
//
// models/architecture.hpp fills these from a network config, one spec per module name.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/kernels/op_kinds.hpp"  // Activation, FusionRule: names only
#include "edet/kernels/padding.hpp"   // PaddingMode

EDET_NAMESPACE_BEGIN
namespace nn {

// The backbone's stem: conv 3x3 stride 2 ("backbone.conv_stem") + BN ("backbone.bn1") + act.
struct StemSpec {
    int in_channels = 3;
    int out_channels = 32;
    int kernel = 3;
    int stride = 2;
    float bn_eps = 1e-3f;
    Activation activation = Activation::swish;
    PaddingMode padding = PaddingMode::tf_same;
};

struct SqueezeExciteSpec {
    std::string prefix;  // e.g. "backbone.blocks.1.0.se"
    int channels = 0;    // the gated (expanded) channels
    int reduced = 0;     // rd
    Activation activation = Activation::swish;
};

struct MBConvSpec {
    std::string prefix;  // "backbone.blocks.{stage}.{block}"
    bool depthwise_separable = false;  // expand ratio 1 (stage 0)
    int in_channels = 0;
    int out_channels = 0;
    int mid_channels = 0;  // expanded width (= in_channels for the DS block)
    int kernel = 3;
    int stride = 1;
    int se_reduced = 0;    // 0 = no SE (Lite)
    Activation activation = Activation::swish;
    float bn_eps = 1e-3f;
    PaddingMode padding = PaddingMode::tf_same;

    bool has_skip() const { return stride == 1 && in_channels == out_channels; }
};

struct ResampleSpec {
    std::string prefix;      // e.g. "fpn.resample.3" or "fpn.cell.0.fnode.3.combine.resample.0"
    int in_channels = 0;
    int out_channels = 0;
    bool conv_bias = true;   // redundant bias
    float bn_eps = 1e-3f;
    PaddingMode padding = PaddingMode::tf_same;
};

// The combine rule of a node as a small policy: how many edge weights it binds and how
// it fuses (the arithmetic lives in kernels::fuse).
struct FusionPolicy {
    FusionRule rule = FusionRule::fast_normalized;
    bool has_edge_weights() const { return rule != FusionRule::sum; }
};

struct BiFpnNodeSpec {
    int level;                 // feature level this node produces (3..max_level)
    std::vector<int> inputs;   // offsets into [cell inputs..., earlier nodes...]
};

// The BiFPN node table for levels [min_level, max_level] (effdet bifpn_config).
inline std::vector<BiFpnNodeSpec> bifpn_nodes(int min_level, int max_level) {
    const int levels = max_level - min_level + 1;
    std::vector<std::vector<int>> ids(static_cast<std::size_t>(levels));
    for (int i = 0; i < levels; ++i) ids[static_cast<std::size_t>(i)].push_back(i);
    int next = levels;
    std::vector<BiFpnNodeSpec> nodes;
    for (int l = max_level - 1; l >= min_level; --l) {  // top-down
        const std::size_t i = static_cast<std::size_t>(l - min_level);
        nodes.push_back({l, {ids[i].back(), ids[i + 1].back()}});
        ids[i].push_back(next++);
    }
    for (int l = min_level + 1; l <= max_level; ++l) {  // bottom-up
        const std::size_t i = static_cast<std::size_t>(l - min_level);
        BiFpnNodeSpec n{l, ids[i]};
        n.inputs.push_back(ids[i - 1].back());
        nodes.push_back(n);
        ids[i].push_back(next++);
    }
    return nodes;
}

struct FusionNodeSpec {
    std::string prefix;               // "fpn.cell.{r}.fnode.{n}"
    std::vector<int> inputs;          // offsets
    std::vector<int> input_channels;  // channels of each input
    int channels = 64;                // fpn width
    FusionPolicy fusion;
    bool redundant_bias = true;
    float bn_eps = 1e-3f;
    Activation activation = Activation::swish;
    PaddingMode padding = PaddingMode::tf_same;
};

struct BiFpnSpec {
    int min_level = 3;
    int max_level = 7;
    std::vector<int> backbone_channels;  // channels of the backbone taps (P3, P4, P5)
    int channels = 64;
    int repeats = 3;
    FusionPolicy fusion;
    bool redundant_bias = true;
    float bn_eps = 1e-3f;
    Activation activation = Activation::swish;
    PaddingMode padding = PaddingMode::tf_same;
    int num_levels() const { return max_level - min_level + 1; }
};

struct HeadNetSpec {
    std::string prefix;   // "class_net" or "box_net"
    int channels = 64;    // fpn width
    int repeats = 3;
    int num_levels = 5;
    int outputs = 9 * 90; // predict channels: num_anchors * (num_classes or 4)
    bool redundant_bias = true;
    float bn_eps = 1e-3f;
    Activation activation = Activation::swish;
    PaddingMode padding = PaddingMode::tf_same;
};

// Node `node` of cell `cell` of a BiFPN ("fpn.cell.<cell>.fnode.<node>"): its inputs as
// offsets into effdet's list of the cell's features - for cell 0 the backbone's P3, P4, P5
// then the extra levels P6, P7 (P8), for later cells the previous cell's outputs - followed
// by the cell's own node outputs in order, and each input's channels.
inline FusionNodeSpec fusion_node_spec(const BiFpnSpec& s, int cell, int node) {
    const std::vector<BiFpnNodeSpec> table = bifpn_nodes(s.min_level, s.max_level);
    if (cell < 0 || cell >= s.repeats || node < 0 || node >= static_cast<int>(table.size()))
        fail(cat("BiFPN node ", cell, ".", node), "fusion_node_spec",
             cat("cells are 0..", s.repeats - 1, ", nodes 0..", table.size() - 1));
    std::vector<int> channels;  // of every entry of the cell's feature list
    const std::size_t taps = s.backbone_channels.size();
    for (int i = 0; i < s.num_levels(); ++i)
        channels.push_back(cell == 0 && static_cast<std::size_t>(i) < taps ? s.backbone_channels[static_cast<std::size_t>(i)]
                                                                           : s.channels);
    for (std::size_t j = 0; j < table.size(); ++j) channels.push_back(s.channels);
    FusionNodeSpec f;
    f.prefix = cat("fpn.cell.", cell, ".fnode.", node);
    f.inputs = table[static_cast<std::size_t>(node)].inputs;
    for (int off : f.inputs) f.input_channels.push_back(channels[static_cast<std::size_t>(off)]);
    f.channels = s.channels;
    f.fusion = s.fusion;
    f.redundant_bias = s.redundant_bias;
    f.bn_eps = s.bn_eps;
    f.activation = s.activation;
    f.padding = s.padding;
    return f;
}

// The resample that makes extra level `index` of the BiFPN (index into the level list,
// 3 = P6 for P3..P7 with three backbone taps: "fpn.resample.3"): a 1x1 conv + BN when its
// input's width differs from the BiFPN's (P6 from the backbone's P5), then a max pool.
inline ResampleSpec extra_level_spec(const BiFpnSpec& s, int index) {
    const int taps = static_cast<int>(s.backbone_channels.size());
    if (taps < 1 || index < taps || index >= s.num_levels())
        fail(cat("BiFPN extra level ", index), "extra_level_spec", cat("extra levels are ", taps, "..", s.num_levels() - 1));
    ResampleSpec r;
    r.prefix = cat("fpn.resample.", index);
    r.in_channels = index == taps ? s.backbone_channels.back() : s.channels;
    r.out_channels = s.channels;
    r.conv_bias = s.redundant_bias;
    r.bn_eps = s.bn_eps;
    r.padding = s.padding;
    return r;
}

}  // namespace nn
EDET_NAMESPACE_END
