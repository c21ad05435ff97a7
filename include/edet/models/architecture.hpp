// edet/models/architecture.hpp - a network config turned into the spec of every layer,
// by effdet module name: the backbone's stem and blocks ("backbone.blocks.3.1"), the
// BiFPN ("fpn.resample.3", "fpn.cell.0.fnode.3") and the heads ("class_net", "box_net").
//
// Both forwards are built from these specs: the fast layers (nn/, models/efficientdet.hpp)
// and the plain reference (reference/). No kernels here: this header is data (xsimd-free).
//
// The scaling by phi (widths, depths, input size) is in the rows of config.hpp, checked
// there against the paper's formulas; this header only spells the layers out.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/tensor_source.hpp"
#include "edet/models/config.hpp"
#include "edet/nn/layer_specs.hpp"

EDET_NAMESPACE_BEGIN

// The backbone's stem (the spec is in nn/layer_specs.hpp, beside the others).
using StemSpec = nn::StemSpec;

inline StemSpec stem_spec(const BackboneSpec& bb, float bn_eps) {
    StemSpec s;
    s.out_channels = bb.stem_channels;
    s.bn_eps = bn_eps;
    s.activation = bb.activation();
    s.padding = bb.padding();
    return s;
}

// Every block of a backbone, stage by stage, with its reference name prefix.
inline std::vector<std::vector<nn::MBConvSpec>> efficientnet_blocks(const BackboneSpec& bb, float bn_eps) {
    std::vector<std::vector<nn::MBConvSpec>> stages;
    int in = bb.stem_channels;
    for (std::size_t s = 0; s < kEfficientNetStages.size(); ++s) {
        const StageBase& base = kEfficientNetStages[s];
        std::vector<nn::MBConvSpec> blocks;
        for (int i = 0; i < bb.stage_repeats[s]; ++i) {
            nn::MBConvSpec m;
            m.prefix = cat("backbone.blocks.", s, ".", i);
            m.depthwise_separable = base.kind == BlockKind::depthwise_separable;
            m.in_channels = in;
            m.out_channels = bb.stage_channels[s];
            m.mid_channels = m.depthwise_separable ? in : round_channels(in * base.expand, 1.0);
            m.kernel = base.kernel;
            m.stride = i == 0 ? base.stride : 1;
            // timm: rd = round(mid * se_ratio / expand) with se_ratio 0.25.
            m.se_reduced = bb.squeeze_excite()
                               ? static_cast<int>(std::floor(m.mid_channels * 0.25 / base.expand + 0.5))
                               : 0;
            m.activation = bb.activation();
            m.bn_eps = bn_eps;
            m.padding = bb.padding();
            blocks.push_back(m);
            in = m.out_channels;
        }
        stages.push_back(blocks);
    }
    return stages;
}

// The backbone stages whose last block feeds the BiFPN: P3 (stride 8), P4 (16), P5 (32).
inline constexpr int kBackboneTapStages[3] = {2, 4, 6};

// The BiFPN of a network config.
inline nn::BiFpnSpec bifpn_spec(const EfficientDetConfig& c) {
    nn::BiFpnSpec f;
    f.min_level = c.min_level;
    f.max_level = c.max_level;
    for (int i = 0; i < 3; ++i) f.backbone_channels.push_back(c.backbone.feature_channels(i));
    f.channels = c.fpn_channels;
    f.repeats = c.fpn_repeats;
    f.fusion.rule = c.fusion;
    f.redundant_bias = c.redundant_bias;
    f.bn_eps = c.bn_eps;
    f.activation = c.activation;
    f.padding = c.padding;
    return f;
}

enum class HeadKind { class_net, box_net };

// The class or box head of a network config: num_anchors * num_classes (or * 4) outputs.
inline nn::HeadNetSpec head_spec(const EfficientDetConfig& c, HeadKind kind) {
    nn::HeadNetSpec h;
    h.prefix = kind == HeadKind::class_net ? "class_net" : "box_net";
    h.channels = c.fpn_channels;
    h.repeats = c.head_repeats;
    h.num_levels = c.num_levels();
    h.redundant_bias = c.redundant_bias;
    h.bn_eps = c.bn_eps;
    h.activation = c.activation;
    h.padding = c.padding;
    h.outputs = c.num_anchors() * (kind == HeadKind::class_net ? c.num_classes : 4);
    return h;
}

// The class count a checkpoint was trained for, read from the class head's predict conv
// ([num_anchors * num_classes, fpn_channels, 1, 1]); throws naming the tensor if it is
// missing or its shape does not fit the config's anchors.
inline int checkpoint_num_classes(const io::TensorSource& weights, const EfficientDetConfig& c) {
    const std::string pred = "class_net.predict.conv_pw.weight";
    const io::TensorInfo* info = weights.find(pred);
    if (!info) fail(cat("tensor '", pred, "'"), weights.path(), "missing: cannot read the class count");
    const int a = c.num_anchors();
    if (info->shape.size() != 4 || info->shape[0] < a || info->shape[0] % a != 0 || info->shape[0] / a > 100000)
        fail(cat("tensor '", pred, "'"), weights.path(),
             cat("shape ", info->shape_str(), " is not [", a, " * num_classes, ", c.fpn_channels, ", 1, 1]"));
    return static_cast<int>(info->shape[0] / a);
}

EDET_NAMESPACE_END
