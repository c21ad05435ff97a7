// edet/nn/mbconv.hpp - SqueezeExcite and MBConv, the EfficientNet blocks.
//
//   depthwise-separable block (expand ratio 1, stage 0):
//     x -> dw kxk -> BN+act -> [SE] -> pw 1x1 -> BN -> (+ x if stride 1 and cin == cout)
//   inverted residual block:
//     x -> pw 1x1 expand -> BN+act -> dw kxk (stride) -> BN+act -> [SE] -> pw 1x1 project
//       -> BN -> (+ x if stride 1 and cin == cout)
//   SE (B-series; none in Lite):  s = mean_hw(x); g = sigmoid(W_e swish(W_r s + b_r) + b_e);
//     x *= g.
// No activation follows the last BN. Names follow timm (conv_dw, bn1, se.conv_reduce, ...).
#pragma once

#include <cstddef>
#include <string>

#include "edet/core/parallel.hpp"
#include "edet/kernels/squeeze_excite.hpp"
#include "edet/nn/binder.hpp"
#include "edet/nn/conv.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

struct SqueezeExciteSpec {
    std::string prefix;  // e.g. "backbone.blocks.1.0.se"
    int channels = 0;    // the gated (expanded) channels
    int reduced = 0;     // rd
    Activation activation = Activation::swish;
};

class SqueezeExcite {
public:
    SqueezeExcite() = default;
    SqueezeExcite(const SqueezeExciteSpec& s, Binder& b) : spec_(s) {
        if (s.channels < 1 || s.reduced < 1)
            fail(cat("layer '", s.prefix, "'"), "SqueezeExcite", cat("channels ", s.channels, " reduced ", s.reduced));
        reduce_w_ = b.take(s.prefix + ".conv_reduce.weight", {s.reduced, s.channels, 1, 1});
        reduce_b_ = b.take(s.prefix + ".conv_reduce.bias", {s.reduced});
        expand_w_ = b.take(s.prefix + ".conv_expand.weight", {s.channels, s.reduced, 1, 1});
        expand_b_ = b.take(s.prefix + ".conv_expand.bias", {s.channels});
    }

    std::size_t scratch_floats(const Shape& in) const {
        return static_cast<std::size_t>(in.n) * spec_.channels + spec_.channels + spec_.reduced;
    }

    // x *= gate(x), in place; x contiguous {n, h, w, channels}.
    void forward(TensorView<float> x, float* scratch) const {
        if (x.c() != spec_.channels)
            fail(cat("layer '", spec_.prefix, "'"), "SqueezeExcite::forward", cat("input has ", x.c(), " channels, expected ", spec_.channels));
        float* gate = scratch;
        kernels::SqueezeExciteArgs a;
        a.input = x.data();
        a.shape = x.shape();
        a.reduced = spec_.reduced;
        a.reduce_weights = reduce_w_.data();
        a.reduce_bias = reduce_b_.data();
        a.expand_weights = expand_w_.data();
        a.expand_bias = expand_b_.data();
        a.activation = spec_.activation;
        a.gate = gate;
        a.scratch = scratch + static_cast<std::size_t>(x.n()) * spec_.channels;
        kernels::squeeze_excite_gate(a);
        const std::int64_t pixels = static_cast<std::int64_t>(x.shape().pixels());
        float* data = x.data();
        const Shape shape = x.shape();
        parallel_for(0, pixels, grain_for(spec_.channels), [&](std::int64_t p0, std::int64_t p1) {
            kernels::scale_channels(data, shape, gate, static_cast<std::size_t>(p0), static_cast<std::size_t>(p1));
        });
    }

private:
    SqueezeExciteSpec spec_;
    std::vector<float> reduce_w_, reduce_b_, expand_w_, expand_b_;
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

class MBConv {
public:
    MBConv() = default;
    MBConv(const MBConvSpec& s, Binder& b) : spec_(s) {
        const std::string& p = s.prefix;
        if (s.depthwise_separable) {
            depthwise_ = ConvBnAct(conv(p + ".conv_dw", p + ".bn1", ConvKind::depthwise, s.in_channels, s.in_channels, s.kernel, s.stride, s.activation), b);
            bind_se(b);
            project_ = ConvBnAct(conv(p + ".conv_pw", p + ".bn2", ConvKind::pointwise, s.in_channels, s.out_channels, 1, 1, Activation::none), b);
        } else {
            expand_ = ConvBnAct(conv(p + ".conv_pw", p + ".bn1", ConvKind::pointwise, s.in_channels, s.mid_channels, 1, 1, s.activation), b);
            depthwise_ = ConvBnAct(conv(p + ".conv_dw", p + ".bn2", ConvKind::depthwise, s.mid_channels, s.mid_channels, s.kernel, s.stride, s.activation), b);
            bind_se(b);
            project_ = ConvBnAct(conv(p + ".conv_pwl", p + ".bn3", ConvKind::pointwise, s.mid_channels, s.out_channels, 1, 1, Activation::none), b);
        }
    }

    const MBConvSpec& spec() const { return spec_; }

    Shape plan(const Shape& in) const { return project_.plan(depthwise_.plan(expanded(in))); }

    // Multiply-adds: expand, depthwise, SE (two 1x1 convs on one pixel per image), project.
    double macs(const Shape& in) const {
        const Shape e = expanded(in);
        const Shape d = depthwise_.plan(e);
        double m = depthwise_.macs(e) + project_.macs(d);
        if (!spec_.depthwise_separable) m += expand_.macs(in);
        if (spec_.se_reduced > 0) m += 2.0 * d.n * d.c * spec_.se_reduced;
        return m;
    }

    std::size_t scratch_floats(const Shape& in) const {
        const Shape e = expanded(in);
        const Shape d = depthwise_.plan(e);
        std::size_t n = round16(d.numel());
        if (!spec_.depthwise_separable) n += round16(e.numel());
        if (spec_.se_reduced > 0) n += se_.scratch_floats(d);
        return n;
    }

    void forward(TensorView<const float> in, TensorView<float> out, float* scratch) const {
        const Shape e = expanded(in.shape());
        const Shape d = depthwise_.plan(e);
        TensorView<float> dw(scratch, d);
        float* rest = scratch + round16(d.numel());
        if (spec_.depthwise_separable) {
            depthwise_.forward(in, dw);
        } else {
            TensorView<float> ex(rest, e);
            rest += round16(e.numel());
            expand_.forward(in, ex);
            depthwise_.forward(ex, dw);
        }
        if (spec_.se_reduced > 0) se_.forward(dw, rest);
        project_.forward(dw, out, spec_.has_skip() ? in.data() : nullptr);
    }

private:
    static std::size_t round16(std::size_t n) { return (n + 15) / 16 * 16; }

    Shape expanded(const Shape& in) const {
        if (in.c != spec_.in_channels)
            fail(cat("block '", spec_.prefix, "'"), "MBConv", cat("input has ", in.c, " channels, expected ", spec_.in_channels));
        Shape e = in;
        e.c = spec_.depthwise_separable ? spec_.in_channels : spec_.mid_channels;
        return e;
    }

    ConvSpec conv(std::string name, std::string bn, ConvKind kind, int cin, int cout, int k, int stride, Activation act) const {
        ConvSpec c;
        c.conv = std::move(name);
        c.bn = std::move(bn);
        c.kind = kind;
        c.in_channels = cin;
        c.out_channels = cout;
        c.kernel = k;
        c.stride = stride;
        c.bn_eps = spec_.bn_eps;
        c.activation = act;
        c.padding = spec_.padding;
        return c;
    }

    void bind_se(Binder& b) {
        if (spec_.se_reduced <= 0) return;
        SqueezeExciteSpec s;
        s.prefix = spec_.prefix + ".se";
        s.channels = spec_.depthwise_separable ? spec_.in_channels : spec_.mid_channels;
        s.reduced = spec_.se_reduced;
        s.activation = spec_.activation;
        se_ = SqueezeExcite(s, b);
    }

    MBConvSpec spec_;
    ConvBnAct expand_;     // IR only
    ConvBnAct depthwise_;
    SqueezeExcite se_;
    ConvBnAct project_;
};

}  // namespace nn
EDET_NAMESPACE_END
