// edet/nn/conv.hpp - ConvBnAct (conv -> batch norm -> activation) and SeparableConv
// (depthwise -> pointwise -> batch norm -> activation), the two conv layers everything
// else is made of, and depthwise_pointwise, the two run by row chunks.
//
// A layer is built from a named spec and binds its weights by reference name:
//   ConvSpec s;  s.conv = "backbone.conv_stem"; s.bn = "backbone.bn1"; ...
//   ConvBnAct stem(s, binder);             // reads backbone.conv_stem.weight, backbone.bn1.*
//   Shape out = stem.plan(in_shape);       // output shape for an input shape
//   stem.forward(in, out_view);            // const, allocation-free, threads over rows
// At bind time the batch norm is folded into the conv (w' = w * alpha, b' = b * alpha +
// beta, in double) and the weights are packed once for the kernels.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/core/parallel.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/kernels/dense_conv.hpp"
#include "edet/kernels/depthwise_conv.hpp"
#include "edet/kernels/padding.hpp"
#include "edet/kernels/pointwise_conv.hpp"
#include "edet/nn/binder.hpp"
#include "edet/nn/row_window.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

enum class ConvKind { dense, pointwise, depthwise };

struct ConvSpec {
    std::string conv;        // module name of the conv: weights at conv + ".weight"
    std::string bn;          // module name of the batch norm; "" = none
    ConvKind kind = ConvKind::pointwise;
    int in_channels = 0;
    int out_channels = 0;    // = in_channels for depthwise
    int kernel = 1;
    int stride = 1;
    bool bias = false;       // conv + ".bias" exists
    float bn_eps = 1e-3f;
    Activation activation = Activation::none;
    PaddingMode padding = PaddingMode::tf_same;
};

// Work per parallel chunk: about this many multiply-adds, so tiny maps stay on one thread.
inline constexpr std::int64_t kMinChunkWork = 1 << 16;

inline std::int64_t grain_for(std::int64_t work_per_item) {
    return std::max<std::int64_t>(1, kMinChunkWork / std::max<std::int64_t>(work_per_item, 1));
}

class ConvBnAct {
public:
    ConvBnAct() = default;

    // Binds conv (+bias) and bn (if named) from the binder.
    ConvBnAct(const ConvSpec& spec, Binder& b) : spec_(spec) {
        validate_spec();
        std::vector<float> w = b.take(spec.conv + ".weight", weight_shape());
        std::vector<float> bias;
        if (spec.bias) bias = b.take(spec.conv + ".bias", {spec.out_channels});
        BatchNormAffine bn;
        if (!spec.bn.empty()) bn = b.take_batch_norm(spec.bn, spec.out_channels, spec.bn_eps);
        if (b.listing()) return;
        init(w, bias, bn);
    }

    // Builds from weights already read (a head conv shared across levels, each level with
    // its own batch norm): w in the reference layout, bias empty = none, bn empty = none.
    static ConvBnAct from_weights(const ConvSpec& spec, const std::vector<float>& w, const std::vector<float>& bias,
                                  const BatchNormAffine& bn) {
        ConvBnAct c;
        c.spec_ = spec;
        c.validate_spec();
        c.init(w, bias, bn);
        return c;
    }

    const ConvSpec& spec() const { return spec_; }

    std::vector<std::int64_t> weight_shape() const {
        const int k = spec_.kernel;
        if (spec_.kind == ConvKind::depthwise) return {spec_.out_channels, 1, k, k};
        return {spec_.out_channels, spec_.in_channels, k, k};
    }

    Padding2d padding_for(const Shape& in) const {
        return kernels::conv_padding(in.h, in.w, spec_.kernel, spec_.stride, spec_.padding);
    }

    // Output shape for an input shape; throws on a channel mismatch.
    Shape plan(const Shape& in) const {
        check_shape(in, "ConvBnAct::plan");
        if (in.c != spec_.in_channels)
            fail(cat("layer '", spec_.conv, "'"), "ConvBnAct::plan",
                 cat("input has ", in.c, " channels, expected ", spec_.in_channels));
        const Padding2d p = padding_for(in);
        return Shape{in.n, kernels::conv_output_size(in.h, spec_.kernel, spec_.stride, p.top, p.bottom),
                     kernels::conv_output_size(in.w, spec_.kernel, spec_.stride, p.left, p.right), spec_.out_channels};
    }

    // out = act(bn(conv(in))) [+ residual, pointwise only, added after the activation].
    // in, out (and residual) contiguous; out must not alias in.
    // panel_max (pointwise only, optional): [pixels][kernels::pointwise_panel_count(out
    // channels)] row maxima per weight panel (kernels/pointwise_conv.hpp).
    void forward(TensorView<const float> in, TensorView<float> out, const float* residual = nullptr,
                 float* panel_max = nullptr) const {
        const Shape os = plan(in.shape());
        check_same_shape(out.shape(), os, "output", "ConvBnAct::forward");
        if (!in.is_contiguous() || !out.is_contiguous())
            fail(cat("layer '", spec_.conv, "'"), "ConvBnAct::forward", "views must be contiguous");
        if (spec_.kind == ConvKind::pointwise) {
            const std::int64_t rows = static_cast<std::int64_t>(in.shape().pixels());
            const std::size_t cin = static_cast<std::size_t>(spec_.in_channels);
            const std::size_t cout = static_cast<std::size_t>(spec_.out_channels);
            parallel_for(0, rows, grain_for(static_cast<std::int64_t>(cin * cout)), [&](std::int64_t r0, std::int64_t r1) {
                const std::size_t r = static_cast<std::size_t>(r0);
                const std::size_t panels = static_cast<std::size_t>(kernels::pointwise_panel_count(spec_.out_channels));
                pointwise_rows(in.data() + r * cin, static_cast<std::size_t>(r1 - r0), out.data() + r * cout,
                               residual ? residual + r * cout : nullptr, nullptr, panel_max ? panel_max + r * panels : nullptr);
            });
            return;
        }
        if (residual) fail(cat("layer '", spec_.conv, "'"), "ConvBnAct::forward", "residual only for pointwise convs");
        if (panel_max) fail(cat("layer '", spec_.conv, "'"), "ConvBnAct::forward", "panel maxima only for pointwise convs");
        const std::int64_t rows = static_cast<std::int64_t>(os.n) * os.h;
        const std::int64_t k2 = static_cast<std::int64_t>(spec_.kernel) * spec_.kernel;
        if (spec_.kind == ConvKind::depthwise) {
            const kernels::DepthwiseConvArgs args = kernel_args<kernels::DepthwiseConvArgs>(in.data(), in.shape(), out.data());
            parallel_for(0, rows, grain_for(k2 * os.w * os.c), [&](std::int64_t r0, std::int64_t r1) {
                kernels::DepthwiseConvArgs a = args;
                a.row_begin = static_cast<int>(r0);
                a.row_end = static_cast<int>(r1);
                kernels::depthwise_conv(a);
            });
        } else {
            const kernels::DenseConvArgs args = kernel_args<kernels::DenseConvArgs>(in.data(), in.shape(), out.data());
            parallel_for(0, rows, grain_for(k2 * os.w * os.c * spec_.in_channels), [&](std::int64_t r0, std::int64_t r1) {
                kernels::DenseConvArgs a = args;
                a.row_begin = static_cast<int>(r0);
                a.row_end = static_cast<int>(r1);
                kernels::dense_conv(a);
            });
        }
    }

    // Building blocks for layers that fuse convs (nn::MBConv). Both run on the calling
    // thread only, with exactly the arithmetic of forward(), so fused and unfused results
    // are bit-identical.
    // Pointwise: `rows` pixels of `in` (in_channels floats each) -> `out` (out_channels each),
    // + residual (same layout as out) if given; `packed` replaces the packed weights (a
    // kernels::scale_packed_inputs copy of packed_pointwise()) if given.
    void pointwise_rows(const float* in, std::size_t rows, float* out, const float* residual = nullptr,
                        const float* packed = nullptr, float* panel_max = nullptr) const {
        if (spec_.kind != ConvKind::pointwise) fail(cat("layer '", spec_.conv, "'"), "ConvBnAct::pointwise_rows", "not a pointwise conv");
        kernels::PointwiseConvArgs a;
        a.input = in;
        a.rows = rows;
        a.weights = &pointwise_;
        a.bias = bias_.empty() ? nullptr : bias_.data();
        a.output = out;
        a.residual = residual;
        a.packed = packed;
        a.panel_max = panel_max;
        a.activation = spec_.activation;
        kernels::pointwise_conv(a);
    }
    const kernels::PackedPointwiseWeights& packed_pointwise() const { return pointwise_; }
    // Depthwise: output rows [row_begin, row_end) of one image (`image` = that image's
    // input shape, n = 1) into `out_image` (the image's whole output), reading only the
    // input rows [window_row0, window_row0 + window_rows) held contiguously at `window`.
    void depthwise_rows(const float* window, int window_row0, int window_rows, const Shape& image, float* out_image,
                        int row_begin, int row_end) const {
        if (spec_.kind != ConvKind::depthwise) fail(cat("layer '", spec_.conv, "'"), "ConvBnAct::depthwise_rows", "not a depthwise conv");
        kernels::DepthwiseConvArgs a = kernel_args<kernels::DepthwiseConvArgs>(window, image, out_image);
        a.input_row0 = window_row0;
        a.input_rows = window_rows;
        a.row_begin = row_begin;
        a.row_end = row_end;
        kernels::depthwise_conv(a);
    }

    // Multiply-adds of one forward on `in` (conv only; BN is folded, activations not counted).
    double macs(const Shape& in) const {
        const Shape os = plan(in);
        const double per_output = static_cast<double>(spec_.kernel) * spec_.kernel *
                                  (spec_.kind == ConvKind::depthwise ? 1 : spec_.in_channels);
        return static_cast<double>(os.numel()) * per_output;
    }

    std::size_t parameter_count() const {
        std::size_t n = 1;
        for (auto d : weight_shape()) n *= static_cast<std::size_t>(d);
        return n + (spec_.bias ? static_cast<std::size_t>(spec_.out_channels) : 0);
    }

private:
    // The depthwise / dense kernel arguments for input shape `in` (every row).
    template <class Args>
    Args kernel_args(const float* in, const Shape& in_shape, float* out) const {
        Args a;
        a.input = in;
        a.input_shape = in_shape;
        a.weights = packed_.data();
        a.bias = bias_.empty() ? nullptr : bias_.data();
        a.output = out;
        a.output_shape = plan(in_shape);
        a.kernel = spec_.kernel;
        a.stride = spec_.stride;
        a.pad = padding_for(in_shape);
        a.activation = spec_.activation;
        return a;
    }

    void validate_spec() {
        const char* where = "ConvBnAct";
        if (spec_.in_channels < 1 || spec_.out_channels < 1 || spec_.kernel < 1 || spec_.stride < 1)
            fail(cat("layer '", spec_.conv, "'"), where,
                 cat("bad geometry cin=", spec_.in_channels, " cout=", spec_.out_channels, " k=", spec_.kernel, " s=", spec_.stride));
        if (spec_.kind == ConvKind::depthwise && spec_.in_channels != spec_.out_channels)
            fail(cat("layer '", spec_.conv, "'"), where, "depthwise convs keep the channel count");
        if (spec_.kind == ConvKind::pointwise && (spec_.kernel != 1 || spec_.stride != 1))
            fail(cat("layer '", spec_.conv, "'"), where, "pointwise convs are 1x1 stride 1");
    }

    // Folds bn into (w, bias) and packs.
    void init(const std::vector<float>& w, const std::vector<float>& bias, const BatchNormAffine& bn) {
        const std::size_t cout = static_cast<std::size_t>(spec_.out_channels);
        const std::size_t per_out = w.size() / cout;  // cin*k*k (1*k*k for depthwise)
        std::vector<float> wf(w.size());
        const bool has_bn = !bn.scale.empty();
        for (std::size_t co = 0; co < cout; ++co)
            for (std::size_t i = 0; i < per_out; ++i) {
                const double v = static_cast<double>(w[co * per_out + i]);
                wf[co * per_out + i] = static_cast<float>(has_bn ? v * bn.scale[co] : v);
            }
        if (has_bn || !bias.empty()) {
            bias_.assign(cout, 0.0f);
            for (std::size_t co = 0; co < cout; ++co) {
                const double b = bias.empty() ? 0.0 : static_cast<double>(bias[co]);
                bias_[co] = static_cast<float>(has_bn ? b * bn.scale[co] + bn.shift[co] : b);
            }
        }
        switch (spec_.kind) {
            case ConvKind::pointwise:
                pointwise_ = kernels::pack_pointwise_weights(wf.data(), spec_.in_channels, spec_.out_channels);
                break;
            case ConvKind::depthwise:
                packed_ = kernels::pack_depthwise_weights(wf.data(), spec_.out_channels, spec_.kernel);
                break;
            case ConvKind::dense:
                packed_ = kernels::pack_dense_conv_weights(wf.data(), spec_.out_channels, spec_.in_channels, spec_.kernel);
                break;
        }
    }

    ConvSpec spec_;
    kernels::PackedPointwiseWeights pointwise_;
    AlignedBuffer<float> packed_;
    std::vector<float> bias_;  // folded; empty = none
};

// out = pw(dw(in)) [+ residual], by chunks of rows: one parallel region instead of two,
// each chunk's depthwise rows (about kRowWindowBytes) projected while they are still in
// L2. `mid` holds dw's whole output (dw.plan(in).numel() floats); panel_max as in
// ConvBnAct::forward. The same kernels on the same values as dw.forward then pw.forward,
// so the results are bit-identical to them.
inline void depthwise_pointwise(const ConvBnAct& dw, const ConvBnAct& pw, TensorView<const float> in, TensorView<float> out,
                                float* mid, const float* residual = nullptr, float* panel_max = nullptr) {
    const Shape is = in.shape();
    const Shape ms = dw.plan(is);
    check_same_shape(out.shape(), pw.plan(ms), "output", "depthwise_pointwise");
    if (!in.is_contiguous() || !out.is_contiguous())
        fail(cat("layers '", dw.spec().conv, "', '", pw.spec().conv, "'"), "depthwise_pointwise", "views must be contiguous");
    const Shape image{1, is.h, is.w, is.c};
    const std::size_t in_image_floats = static_cast<std::size_t>(is.h) * is.w * is.c;
    const std::size_t mid_row_floats = static_cast<std::size_t>(ms.w) * ms.c;
    const std::size_t cout = static_cast<std::size_t>(pw.spec().out_channels);
    const std::size_t panels = panel_max ? static_cast<std::size_t>(kernels::pointwise_panel_count(pw.spec().out_channels)) : 0;
    const int chunk = static_cast<int>(std::max<std::size_t>(1, kRowWindowBytes / (mid_row_floats * sizeof(float))));
    const std::int64_t k2 = static_cast<std::int64_t>(dw.spec().kernel) * dw.spec().kernel;
    const std::int64_t work_per_row = (k2 + static_cast<std::int64_t>(cout)) * static_cast<std::int64_t>(mid_row_floats);
    parallel_for(0, static_cast<std::int64_t>(ms.n) * ms.h, grain_for(work_per_row), [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t r = r0; r < r1;) {
            const int b = static_cast<int>(r / ms.h);
            const int y_begin = static_cast<int>(r - static_cast<std::int64_t>(b) * ms.h);
            const int y_end = static_cast<int>(std::min<std::int64_t>(r1, static_cast<std::int64_t>(b + 1) * ms.h) - static_cast<std::int64_t>(b) * ms.h);
            for (int oy = y_begin; oy < y_end; oy += chunk) {
                const int oy1 = std::min(oy + chunk, y_end);
                dw.depthwise_rows(in.data() + static_cast<std::size_t>(b) * in_image_floats, 0, is.h, image,
                                  mid + static_cast<std::size_t>(b) * ms.h * mid_row_floats, oy, oy1);
                const std::size_t p0 = (static_cast<std::size_t>(b) * ms.h + static_cast<std::size_t>(oy)) * ms.w;
                pw.pointwise_rows(mid + p0 * ms.c, static_cast<std::size_t>(oy1 - oy) * ms.w, out.data() + p0 * cout,
                                  residual ? residual + p0 * cout : nullptr, nullptr, panel_max ? panel_max + p0 * panels : nullptr);
            }
            r = static_cast<std::int64_t>(b) * ms.h + y_end;
        }
    });
}

// SeparableConv (effdet SeparableConv2d): conv_dw (no bias) -> conv_pw (bias optional) ->
// bn (optional) -> act (optional). Names: prefix.conv_dw.weight, prefix.conv_pw.{weight,bias},
// prefix.bn.* unless bn_name overrides (heads keep their BNs elsewhere).
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
};

class SeparableConv {
public:
    SeparableConv() = default;
    SeparableConv(const SeparableConvSpec& s, Binder& b)
        : depthwise_(dw_spec(s), b), pointwise_(pw_spec(s), b) {}
    // From already-built halves (HeadNet: shared convs, per-level BN).
    SeparableConv(ConvBnAct dw, ConvBnAct pw) : depthwise_(std::move(dw)), pointwise_(std::move(pw)) {}

    static ConvSpec dw_spec(const SeparableConvSpec& s) {
        ConvSpec d;
        d.conv = s.prefix + ".conv_dw";
        d.kind = ConvKind::depthwise;
        d.in_channels = d.out_channels = s.in_channels;
        d.kernel = s.kernel;
        d.padding = s.padding;
        return d;
    }
    static ConvSpec pw_spec(const SeparableConvSpec& s) {
        ConvSpec p;
        p.conv = s.prefix + ".conv_pw";
        p.bn = s.bn ? s.prefix + ".bn" : "";
        p.kind = ConvKind::pointwise;
        p.in_channels = s.in_channels;
        p.out_channels = s.out_channels;
        p.bias = s.pw_bias;
        p.bn_eps = s.bn_eps;
        p.activation = s.activation;
        p.padding = s.padding;
        return p;
    }

    Shape plan(const Shape& in) const { return pointwise_.plan(depthwise_.plan(in)); }
    double macs(const Shape& in) const { return depthwise_.macs(in) + pointwise_.macs(depthwise_.plan(in)); }
    // Floats of scratch forward() needs (the depthwise output).
    std::size_t scratch_floats(const Shape& in) const { return depthwise_.plan(in).numel(); }

    // panel_max: the pointwise conv's optional row maxima (ConvBnAct::forward).
    void forward(TensorView<const float> in, TensorView<float> out, float* scratch, float* panel_max = nullptr) const {
        depthwise_pointwise(depthwise_, pointwise_, in, out, scratch, nullptr, panel_max);
    }

    const ConvBnAct& depthwise() const { return depthwise_; }
    const ConvBnAct& pointwise() const { return pointwise_; }

private:
    ConvBnAct depthwise_;
    ConvBnAct pointwise_;
};

}  // namespace nn
EDET_NAMESPACE_END
