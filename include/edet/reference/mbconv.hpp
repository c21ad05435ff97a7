// edet/reference/mbconv.hpp - the EfficientNet backbone's layers, plainly: the stem,
// squeeze-excite and the MBConv block (Sandler et al. 2018; Tan & Le 2019), one operation
// a line, in the order of timm's modules (whose names the weights carry).
//
// The fast versions (nn/mbconv.hpp) compute the same with BN folded into the convs and
// expand + depthwise (+ project) fused by row bands; tests/reference/ holds them to these.
#pragma once

#include <string>
#include <vector>

#include "edet/nn/layer_specs.hpp"
#include "edet/reference/ops.hpp"
#include "edet/reference/params.hpp"

EDET_NAMESPACE_BEGIN
namespace reference {

// stem: x = act(BN(conv3x3 stride 2(x)))   ("backbone.conv_stem", "backbone.bn1")
inline Tensor<float> stem(const nn::StemSpec& s, const Params& p, TensorView<const float> image) {
    const int cout = s.out_channels, k = s.kernel;
    Tensor<float> x = conv2d(image, p.tensor("backbone.conv_stem.weight", {cout, s.in_channels, k, k}), cout, k, s.stride, s.padding);
    batch_norm(x, p.batch_norm("backbone.bn1", cout, s.bn_eps));
    activate(x, s.activation);
    return x;
}

// squeeze-excite, in place ("<block>.se"):
//   s = mean over the image of x          (per image and channel)
//   r = act(W_reduce s + b_reduce)        (a 1x1 conv on one pixel)
//   g = sigmoid(W_expand r + b_expand)
//   x = x * g                             (each channel scaled by its gate)
inline void squeeze_excite(const nn::SqueezeExciteSpec& s, const Params& p, Tensor<float>& x) {
    const int C = s.channels, R = s.reduced;
    Tensor<float> squeezed(Shape{x.shape().n, 1, 1, C}, channel_means(x.view()).data());
    Tensor<float> r = pointwise_conv2d(squeezed.view(), p.tensor(s.prefix + ".conv_reduce.weight", {R, C, 1, 1}), R,
                                       &p.tensor(s.prefix + ".conv_reduce.bias", {R}));
    activate(r, s.activation);
    Tensor<float> g = pointwise_conv2d(r.view(), p.tensor(s.prefix + ".conv_expand.weight", {C, R, 1, 1}), C,
                                       &p.tensor(s.prefix + ".conv_expand.bias", {C}));
    activate(g, Activation::sigmoid);
    scale_channels(x, std::vector<float>(g.data(), g.data() + g.shape().numel()));
}

// MBConv ("backbone.blocks.<stage>.<block>"):
//   inverted residual (stages 1-6):                 depthwise-separable (stage 0):
//     h = act(BN1(conv_pw 1x1 expand(x)))
//     h = act(BN2(conv_dw kxk stride s(h)))           h = act(BN1(conv_dw kxk(x)))
//     h = SE(h)                  (not in Lite)        h = SE(h)
//     y = BN3(conv_pwl 1x1 project(h))                y = BN2(conv_pw 1x1(h))
//   y = y + x  when stride 1 and the width is kept (no activation after the last BN).
inline Tensor<float> mbconv(const nn::MBConvSpec& s, const Params& p, TensorView<const float> x) {
    const std::string& m = s.prefix;
    const int cin = s.in_channels, mid = s.mid_channels, cout = s.out_channels, k = s.kernel;
    const bool ds = s.depthwise_separable;
    Tensor<float> expanded;  // the inverted residual's expansion; the DS block convolves x itself
    if (!ds) {
        expanded = pointwise_conv2d(x, p.tensor(m + ".conv_pw.weight", {mid, cin, 1, 1}), mid);
        batch_norm(expanded, p.batch_norm(m + ".bn1", mid, s.bn_eps));
        activate(expanded, s.activation);
    }
    Tensor<float> h = depthwise_conv2d(ds ? x : expanded.view(), p.tensor(m + ".conv_dw.weight", {mid, 1, k, k}), k, s.stride, s.padding);
    batch_norm(h, p.batch_norm(m + (ds ? ".bn1" : ".bn2"), mid, s.bn_eps));
    activate(h, s.activation);
    if (s.se_reduced > 0) {
        nn::SqueezeExciteSpec se;
        se.prefix = m + ".se";
        se.channels = mid;
        se.reduced = s.se_reduced;
        se.activation = s.activation;
        squeeze_excite(se, p, h);
    }
    const std::string project = m + (ds ? ".conv_pw" : ".conv_pwl");
    Tensor<float> y = pointwise_conv2d(h.view(), p.tensor(project + ".weight", {cout, mid, 1, 1}), cout);
    batch_norm(y, p.batch_norm(m + (ds ? ".bn2" : ".bn3"), cout, s.bn_eps));
    if (s.has_skip()) add(y, x);
    return y;
}

}  // namespace reference
EDET_NAMESPACE_END
