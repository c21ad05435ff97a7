// edet/reference/bifpn.hpp - the BiFPN (EfficientDet paper, section 3), plainly: resample,
// the fusion node, the extra levels and the repeated cells, one operation a line.
//
// A node (effdet's Fnode "fpn.cell.<c>.fnode.<j>") reads some of the cell's features
// (nn::bifpn_nodes says which), brings each to its level's size and width, fuses them
// with learned weights (the paper's "fast normalized fusion", eq. 3), then convolves:
//   x_i' = resample_i(x_i)                                  1x1 conv + BN if the width differs,
//                                                           then max pool down / nearest up
//   c    = sum_i w_i x_i' / (eps + sum_j w_j), w = relu(w)  (or a softmax, or a plain sum)
//   out  = BN(conv_pw(conv_dw 3x3(act(c))))
// The fast node (nn/bifpn.hpp) never materialises c or act(c) whole: it fuses combine,
// depthwise and pointwise by row bands. Here every step is a tensor.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/nn/layer_specs.hpp"
#include "edet/reference/ops.hpp"
#include "edet/reference/params.hpp"

EDET_NAMESPACE_BEGIN
namespace reference {

// Sees a BiFPN tensor under its effdet module name ("fpn.resample.3", "fpn.cell.0.fnode.5",
// "fpn.cell.0.fnode.5.combine"); the same type as nn::NodeObserver. "<node>.combine" is
// act(c), the fused inputs after the node's activation: effdet applies that activation in
// place on the combine module's output, and the oracle's "<node>.combine.out" holds the
// activated values (measured: swish(c) matches it to 6e-8, c itself is 0.2-1.4 off).
using NodeObserver = std::function<void(const std::string& name, TensorView<const float> out)>;

// Level sizes (h, w) indexed by level 0..max_level (models/config.hpp's feature_sizes).
using LevelSizes = std::vector<std::pair<int, int>>;

// ResampleFeatureMap: a 1x1 conv + BN when the width differs, then to the target size:
// max pool (kernel s + 1, stride s = (in - 1) / out + 1, padded by the variant's rule) if
// smaller on both axes, nearest-neighbour if larger, else as is.
inline Tensor<float> resample(const nn::ResampleSpec& s, const Params& p, TensorView<const float> x, int th, int tw) {
    Tensor<float> y;
    if (s.in_channels != s.out_channels) {
        const std::string conv = s.prefix + ".conv.conv";
        const std::vector<float>* bias = s.conv_bias ? &p.tensor(conv + ".bias", {s.out_channels}) : nullptr;
        y = pointwise_conv2d(x, p.tensor(conv + ".weight", {s.out_channels, s.in_channels, 1, 1}), s.out_channels, bias);
        batch_norm(y, p.batch_norm(s.prefix + ".conv.bn", s.out_channels, s.bn_eps));
    } else {
        y = copy(x);
    }
    const int h = y.shape().h, w = y.shape().w;
    if (h > th && w > tw) {
        const int stride = (h - 1) / th + 1;
        y = max_pool2d(y.view(), stride + 1, stride, s.padding);
    } else if (h < th || w < tw) {
        y = resize_nearest(y.view(), th, tw);
    }
    if (y.shape().h != th || y.shape().w != tw)
        fail(cat("layer '", s.prefix, "'"), "reference::resample", cat("gives ", y.shape().str(), ", not ", th, "x", tw));
    return y;
}

// The fusion weights w_i of a node (one per input), as its rule turns the learned edge
// weights into them: relu(e_i) / (eps + sum_j relu(e_j)), softmax(e)_i, or 1.
inline std::vector<float> fusion_weights(const nn::FusionNodeSpec& s, const Params& p) {
    const int count = static_cast<int>(s.inputs.size());
    if (s.fusion.rule == FusionRule::sum) return std::vector<float>(static_cast<std::size_t>(count), 1.0f);
    std::vector<float> e = p.tensor(s.prefix + ".combine.edge_weights", {count});
    std::vector<float> w(e.size());
    if (s.fusion.rule == FusionRule::softmax) {
        const float top = *std::max_element(e.begin(), e.end());
        float total = 0;
        for (std::size_t i = 0; i < e.size(); ++i) total += w[i] = std::exp(e[i] - top);
        for (float& v : w) v /= total;
        return w;
    }
    float total = 1e-4f;  // effdet's eps; the weights are summed first, as it does
    for (float v : e) total += std::max(v, 0.0f);
    for (std::size_t i = 0; i < e.size(); ++i) w[i] = std::max(e[i], 0.0f) / total;
    return w;
}

struct NodeResult {
    Tensor<float> combine;    // the fused inputs, c (effdet's FpnCombine output)
    Tensor<float> activated;  // act(c), what the oracle's nodes.safetensors holds as "<node>.combine.out"
    Tensor<float> out;        // the node's output
};

// One fusion node on the cell's feature list `x` (node inputs at s.inputs), producing
// level size th x tw.
inline NodeResult fusion_node(const nn::FusionNodeSpec& s, const Params& p, const std::vector<Tensor<float>>& x, int th, int tw) {
    const std::vector<float> w = fusion_weights(s, p);
    const int C = s.channels;
    NodeResult r;
    r.combine = Tensor<float>(Shape{x.at(static_cast<std::size_t>(s.inputs[0])).shape().n, th, tw, C});
    for (std::size_t i = 0; i < s.inputs.size(); ++i) {
        nn::ResampleSpec rs;
        rs.prefix = cat(s.prefix, ".combine.resample.", s.inputs[i]);
        rs.in_channels = s.input_channels[i];
        rs.out_channels = C;
        rs.conv_bias = s.redundant_bias;
        rs.bn_eps = s.bn_eps;
        rs.padding = s.padding;
        const Tensor<float> xi = resample(rs, p, x.at(static_cast<std::size_t>(s.inputs[i])).view(), th, tw);
        for (std::size_t e = 0; e < xi.shape().numel(); ++e) r.combine.data()[e] += w[i] * xi.data()[e];
    }
    const std::string conv = s.prefix + ".after_combine.conv";
    r.activated = copy(r.combine.view());
    activate(r.activated, s.activation);
    Tensor<float> h = depthwise_conv2d(r.activated.view(), p.tensor(conv + ".conv_dw.weight", {C, 1, 3, 3}), 3, 1, s.padding);
    const std::vector<float>* bias = s.redundant_bias ? &p.tensor(conv + ".conv_pw.bias", {C}) : nullptr;
    r.out = pointwise_conv2d(h.view(), p.tensor(conv + ".conv_pw.weight", {C, C, 1, 1}), C, bias);
    batch_norm(r.out, p.batch_norm(conv + ".bn", C, s.bn_eps));
    return r;
}

// The BiFPN: P6 (and P7, P8) made from the backbone's last level, then `repeats` cells of
// nodes; returns the last cell's outputs P3..P7 (P8). `taps`: the backbone's P3, P4, P5.
inline std::vector<Tensor<float>> bifpn(const nn::BiFpnSpec& s, const Params& p, std::vector<Tensor<float>> taps,
                                        const LevelSizes& sizes, const NodeObserver& observe = {}) {
    std::vector<Tensor<float>> x = std::move(taps);
    for (int level = static_cast<int>(x.size()); level < s.num_levels(); ++level) {  // P6 = pool(BN(conv(P5))), P7 = pool(P6)
        const auto& hw = sizes.at(static_cast<std::size_t>(s.min_level + level));
        x.push_back(resample(nn::extra_level_spec(s, level), p, x.back().view(), hw.first, hw.second));
        if (observe) observe(cat("fpn.resample.", level), x.back().view());
    }
    const std::vector<nn::BiFpnNodeSpec> table = nn::bifpn_nodes(s.min_level, s.max_level);
    for (int cell = 0; cell < s.repeats; ++cell) {
        for (std::size_t j = 0; j < table.size(); ++j) {  // x grows: the cell's inputs, then its nodes
            const nn::FusionNodeSpec node = nn::fusion_node_spec(s, cell, static_cast<int>(j));
            const auto& hw = sizes.at(static_cast<std::size_t>(table[j].level));
            NodeResult r = fusion_node(node, p, x, hw.first, hw.second);
            if (observe) observe(node.prefix + ".combine", r.activated.view());
            if (observe) observe(node.prefix, r.out.view());
            x.push_back(std::move(r.out));
        }
        x.erase(x.begin(), x.end() - s.num_levels());  // the cell's outputs: its last num_levels nodes
    }
    return x;
}

}  // namespace reference
EDET_NAMESPACE_END
