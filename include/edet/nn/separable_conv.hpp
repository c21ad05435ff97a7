// edet/nn/separable_conv.hpp - SeparableConv (effdet SeparableConv2d): depthwise ->
// pointwise -> batch norm -> activation, the BiFPN nodes' and the heads' conv.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "edet/kernels/pointwise_conv.hpp"
#include "edet/nn/binder.hpp"
#include "edet/nn/conv.hpp"
#include "edet/nn/fused_separable.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

// conv_dw (no bias) -> conv_pw (bias optional) -> bn (optional) -> act (optional). Names:
// prefix.conv_dw.weight, prefix.conv_pw.{weight,bias}, prefix.bn.* if bn (the heads keep
// theirs per level, nn/head.hpp).
struct SeparableConvSpec {
    std::string prefix;
    int in_channels = 0;
    int out_channels = 0;
    int kernel = 3;
    bool pw_bias = false;
    bool bn = true;
    float bn_eps = 1e-3f;
    Activation activation = Activation::none;
    PaddingMode padding = PaddingMode::tf_same;
    GemmRole role = GemmRole::other;  // the pointwise conv's row of nn/precision_table.hpp
};

class SeparableConv {
public:
    SeparableConv() = default;
    SeparableConv(const SeparableConvSpec& s, Binder& b) : depthwise_(dw_spec(s), b), pointwise_(pw_spec(s), b) {}

    static ConvSpec dw_spec(const SeparableConvSpec& s) {
        ConvSpec d;
        d.conv = s.prefix + ".conv_dw";
        d.in_channels = d.out_channels = s.in_channels;
        d.kernel = s.kernel;
        d.padding = s.padding;
        return d;
    }
    static ConvSpec pw_spec(const SeparableConvSpec& s) {
        ConvSpec p;
        p.conv = s.prefix + ".conv_pw";
        p.bn = s.bn ? s.prefix + ".bn" : "";
        p.in_channels = s.in_channels;
        p.out_channels = s.out_channels;
        p.bias = s.pw_bias;
        p.bn_eps = s.bn_eps;
        p.activation = s.activation;
        p.padding = s.padding;
        p.role = s.role;
        return p;
    }

    Shape plan(const Shape& in) const { return pointwise_.plan(depthwise_.plan(in)); }
    double macs(const Shape& in) const { return depthwise_.macs(in) + pointwise_.macs(depthwise_.plan(in)); }
    // Floats of scratch forward() needs (the depthwise output).
    std::size_t scratch_floats(const Shape& in) const { return depthwise_.plan(in).numel(); }

    void forward(TensorView<const float> in, TensorView<float> out, float* scratch) const {
        depthwise_pointwise(depthwise_, pointwise_, in, out, scratch);
    }
    // With the pointwise conv's epilogue `e` (pointwise().epilogue() plus panel maxima, say).
    void forward(TensorView<const float> in, TensorView<float> out, float* scratch, const kernels::PointwiseEpilogue& e) const {
        depthwise_pointwise(depthwise_, pointwise_, in, out, scratch, e);
    }

    const DepthwiseConvBn& depthwise() const { return depthwise_; }
    const PointwiseConvBn& pointwise() const { return pointwise_; }

private:
    DepthwiseConvBn depthwise_;
    PointwiseConvBn pointwise_;
};

}  // namespace nn
EDET_NAMESPACE_END
