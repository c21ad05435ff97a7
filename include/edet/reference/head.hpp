// edet/reference/head.hpp - the class and box prediction heads (EfficientDet paper,
// section 3.3), plainly.
//
// Each level's feature map runs through the same convolutions (shared weights), but each
// level has its own batch norms:
//   for r in 0..repeats-1:  x = act(BN[r][level](conv_pw_r(conv_dw_r 3x3(x))))
//   out = conv_pw_pred(conv_dw_pred 3x3(x))          (the predict conv always has a bias)
// out has num_anchors * num_classes channels (class head: logits) or num_anchors * 4
// (box head: ty, tx, th, tw), anchor-major.
#pragma once

#include <string>
#include <vector>

#include "edet/nn/layer_specs.hpp"
#include "edet/reference/ops.hpp"
#include "edet/reference/params.hpp"

EDET_NAMESPACE_BEGIN
namespace reference {

// The head `s.prefix` ("class_net" / "box_net") on the BiFPN's levels P3..P7 (P8).
inline std::vector<Tensor<float>> head(const nn::HeadNetSpec& s, const Params& p, const std::vector<Tensor<float>>& levels) {
    const int C = s.channels;
    std::vector<Tensor<float>> outputs;
    for (std::size_t level = 0; level < levels.size(); ++level) {
        Tensor<float> x = copy(levels[level].view());
        for (int r = 0; r < s.repeats; ++r) {
            const std::string conv = cat(s.prefix, ".conv_rep.", r);
            x = depthwise_conv2d(x.view(), p.tensor(conv + ".conv_dw.weight", {C, 1, 3, 3}), 3, 1, s.padding);
            const std::vector<float>* bias = s.redundant_bias ? &p.tensor(conv + ".conv_pw.bias", {C}) : nullptr;
            x = pointwise_conv2d(x.view(), p.tensor(conv + ".conv_pw.weight", {C, C, 1, 1}), C, bias);
            batch_norm(x, p.batch_norm(cat(s.prefix, ".bn_rep.", r, ".", level, ".bn"), C, s.bn_eps));
            activate(x, s.activation);
        }
        const std::string pred = s.prefix + ".predict";
        x = depthwise_conv2d(x.view(), p.tensor(pred + ".conv_dw.weight", {C, 1, 3, 3}), 3, 1, s.padding);
        outputs.push_back(pointwise_conv2d(x.view(), p.tensor(pred + ".conv_pw.weight", {s.outputs, C, 1, 1}), s.outputs,
                                           &p.tensor(pred + ".conv_pw.bias", {s.outputs})));
    }
    return outputs;
}

}  // namespace reference
EDET_NAMESPACE_END
