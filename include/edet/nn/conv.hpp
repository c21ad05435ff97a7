// edet/nn/conv.hpp - the conv layers with their batch norm folded in, one class per kind:
// PointwiseConvBn (1x1, the only one that takes a residual or other epilogue additions),
// DepthwiseConvBn and DenseConvBn (the stem), sharing fold_batch_norm and their geometry.
//
// A layer is built from a named spec and binds its weights by reference name:
//   ConvSpec s;  s.conv = "backbone.conv_stem"; s.bn = "backbone.bn1"; ...
//   DenseConvBn stem(s, binder);           // reads backbone.conv_stem.weight, backbone.bn1.*
//   Shape out = stem.plan(in_shape);       // output shape for an input shape
//   stem.forward(in, out_view);            // const, allocation-free, threads over rows
// At bind time the batch norm is folded into the conv (fold_batch_norm) and the weights
// are packed once for the kernels. A PointwiseConvBn whose role (ConvSpec::role) runs in
// bf16 when the binder's precision asks for it (nn/precision_table.hpp) packs the same
// folded weights as bf16 instead and runs kernels/pointwise_conv_bf16.hpp.
#pragma once

#include <algorithm>
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
#include "edet/kernels/pointwise_conv_bf16.hpp"
#include "edet/nn/binder.hpp"
#include "edet/nn/precision_table.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

struct ConvSpec {
    std::string conv;        // module name of the conv: weights at conv + ".weight"
    std::string bn;          // module name of the batch norm; "" = none
    int in_channels = 0;
    int out_channels = 0;    // = in_channels for depthwise
    int kernel = 1;          // 1 for pointwise
    int stride = 1;          // 1 for pointwise
    bool bias = false;       // conv + ".bias" exists
    float bn_eps = 1e-3f;
    Activation activation = Activation::none;
    PaddingMode padding = PaddingMode::tf_same;
    GemmRole role = GemmRole::other;  // 1x1 convs: which row of nn/precision_table.hpp applies
};

// Work per parallel chunk: about this many multiply-adds, so tiny maps stay on one thread.
inline constexpr std::int64_t kMinChunkWork = 1 << 16;

inline std::int64_t grain_for(std::int64_t work_per_item) {
    return std::max<std::int64_t>(1, kMinChunkWork / std::max<std::int64_t>(work_per_item, 1));
}

// A conv's weights and bias with its batch norm folded in.
struct FoldedConv {
    std::vector<float> weights;  // the reference layout, [cout][...]
    std::vector<float> bias;     // [cout]; empty = none (no conv bias and no batch norm)
};

// w' = w * alpha, b' = b * alpha + beta (alpha = bn.scale, beta = bn.shift), computed in
// double and rounded once. w in the reference layout [out_channels][...]; bias empty =
// none; bn empty = none (the weights are copied, the bias kept).
inline FoldedConv fold_batch_norm(const std::vector<float>& w, const std::vector<float>& bias, const BatchNormAffine& bn,
                                  int out_channels) {
    const std::size_t cout = static_cast<std::size_t>(out_channels);
    const std::size_t per_out = w.size() / cout;  // cin*k*k (1*k*k for depthwise)
    const bool has_bn = !bn.scale.empty();
    FoldedConv f;
    f.weights.resize(w.size());
    for (std::size_t co = 0; co < cout; ++co)
        for (std::size_t i = 0; i < per_out; ++i) {
            const double v = static_cast<double>(w[co * per_out + i]);
            f.weights[co * per_out + i] = static_cast<float>(has_bn ? v * bn.scale[co] : v);
        }
    if (has_bn || !bias.empty()) {
        f.bias.assign(cout, 0.0f);
        for (std::size_t co = 0; co < cout; ++co) {
            const double b = bias.empty() ? 0.0 : static_cast<double>(bias[co]);
            f.bias[co] = static_cast<float>(has_bn ? b * bn.scale[co] + bn.shift[co] : b);
        }
    }
    return f;
}

// What the three kinds share: the spec, binding and folding, the output geometry and the
// counts. `depthwise` decides the weight shape (one input channel per output channel).
class ConvBnLayer {
public:
    const ConvSpec& spec() const { return spec_; }

    std::vector<std::int64_t> weight_shape() const {
        const int k = spec_.kernel;
        return {spec_.out_channels, depthwise_ ? 1 : spec_.in_channels, k, k};
    }

    Padding2d padding_for(const Shape& in) const {
        return kernels::conv_padding(in.h, in.w, spec_.kernel, spec_.stride, spec_.padding);
    }

    // Output shape for an input shape; throws on a channel mismatch.
    Shape plan(const Shape& in) const {
        check_shape(in, cat(kind_, "::plan").c_str());
        if (in.c != spec_.in_channels)
            fail(cat("layer '", spec_.conv, "'"), cat(kind_, "::plan"), cat("input has ", in.c, " channels, expected ", spec_.in_channels));
        const Padding2d p = padding_for(in);
        return Shape{in.n, kernels::conv_output_size(in.h, spec_.kernel, spec_.stride, p.top, p.bottom),
                     kernels::conv_output_size(in.w, spec_.kernel, spec_.stride, p.left, p.right), spec_.out_channels};
    }

    // Multiply-adds of one forward on `in` (conv only; BN is folded, activations not counted).
    double macs(const Shape& in) const {
        const Shape os = plan(in);
        const double per_output = static_cast<double>(spec_.kernel) * spec_.kernel * (depthwise_ ? 1 : spec_.in_channels);
        return static_cast<double>(os.numel()) * per_output;
    }

    std::size_t parameter_count() const {
        std::size_t n = 1;
        for (auto d : weight_shape()) n *= static_cast<std::size_t>(d);
        return n + (spec_.bias ? static_cast<std::size_t>(spec_.out_channels) : 0);
    }

protected:
    ConvBnLayer() = default;
    ConvBnLayer(const ConvSpec& spec, const char* kind, bool depthwise) : spec_(spec), kind_(kind), depthwise_(depthwise) {
        if (spec_.in_channels < 1 || spec_.out_channels < 1 || spec_.kernel < 1 || spec_.stride < 1)
            fail(cat("layer '", spec_.conv, "'"), kind_,
                 cat("bad geometry cin=", spec_.in_channels, " cout=", spec_.out_channels, " k=", spec_.kernel, " s=", spec_.stride));
    }

    // Takes conv (+bias) and bn (if named) from the binder, in that order, and folds them;
    // false in listing mode (nothing to fold).
    bool bind(Binder& b, FoldedConv& folded) {
        std::vector<float> w = b.take(spec_.conv + ".weight", weight_shape());
        std::vector<float> bias;
        if (spec_.bias) bias = b.take(spec_.conv + ".bias", {spec_.out_channels});
        BatchNormAffine bn;
        if (!spec_.bn.empty()) bn = b.take_batch_norm(spec_.bn, spec_.out_channels, spec_.bn_eps);
        if (b.listing()) return false;
        folded = fold(w, bias, bn);
        return true;
    }

    FoldedConv fold(const std::vector<float>& w, const std::vector<float>& bias, const BatchNormAffine& bn) {
        FoldedConv f = fold_batch_norm(w, bias, bn, spec_.out_channels);
        bias_ = f.bias;
        return f;
    }

    void check_views(TensorView<const float> in, TensorView<float> out, const char* where) const {
        check_same_shape(out.shape(), plan(in.shape()), "output", where);
        if (!in.is_contiguous() || !out.is_contiguous()) fail(cat("layer '", spec_.conv, "'"), where, "views must be contiguous");
    }

    // The depthwise / dense kernel arguments for input shape `in` (every row).
    template <class Args>
    Args kernel_args(const float* in, const Shape& in_shape, const float* weights, float* out) const {
        Args a;
        a.input = in;
        a.input_shape = in_shape;
        a.weights = weights;
        a.bias = bias_.empty() ? nullptr : bias_.data();
        a.output = out;
        a.output_shape = plan(in_shape);
        a.kernel = spec_.kernel;
        a.stride = spec_.stride;
        a.pad = padding_for(in_shape);
        a.activation = spec_.activation;
        return a;
    }

    ConvSpec spec_;
    const char* kind_ = "conv";
    bool depthwise_ = false;
    std::vector<float> bias_;  // folded; empty = none
};

// 1x1 conv -> BN -> act [-> + residual], a GEMM over the pixels (kernels/pointwise_conv.hpp).
class PointwiseConvBn : public ConvBnLayer {
public:
    PointwiseConvBn() = default;

    // Binds conv (+bias) and bn (if named) from the binder; runs at the binder's precision
    // if its table says so for spec.role.
    PointwiseConvBn(const ConvSpec& spec, Binder& b) : PointwiseConvBn(spec, b.layer_precision(spec.role)) {
        FoldedConv f;
        if (bind(b, f)) pack(f);
    }

    // Builds from weights already read (a head conv shared across levels, each level with
    // its own batch norm): w in the reference layout, bias empty = none, bn empty = none.
    // precision: this layer's (Binder::layer_precision(spec.role)).
    static PointwiseConvBn from_weights(const ConvSpec& spec, const std::vector<float>& w, const std::vector<float>& bias,
                                        const BatchNormAffine& bn, Precision precision = Precision::fp32) {
        PointwiseConvBn c(spec, precision);
        c.pack(c.fold(w, bias, bn));
        return c;
    }

    // fp32, or bf16 / bf16_emulated when this layer runs in bf16.
    Precision precision() const { return precision_; }
    bool runs_bf16() const { return precision_ != Precision::fp32; }

    // The layer's own epilogue (its folded bias and activation); callers add a residual or
    // panel maxima to a copy of it.
    kernels::PointwiseEpilogue epilogue() const {
        kernels::PointwiseEpilogue e;
        e.bias = bias_.empty() ? nullptr : bias_.data();
        e.activation = spec_.activation;
        return e;
    }

    // out = act(bn(conv(in))), over threads by rows. in, out contiguous; out must not alias in.
    void forward(TensorView<const float> in, TensorView<float> out) const { forward(in, out, epilogue()); }

    // The same with epilogue `e` (normally epilogue() plus a residual, added after the
    // activation, or panel maxima: [pixels][kernels::pointwise_panel_count(out channels)]
    // row maxima per weight panel, kernels/pointwise_conv.hpp), both laid out like `out`.
    void forward(TensorView<const float> in, TensorView<float> out, const kernels::PointwiseEpilogue& e) const {
        check_views(in, out, "PointwiseConvBn::forward");
        const std::int64_t rows = static_cast<std::int64_t>(in.shape().pixels());
        const std::size_t cin = static_cast<std::size_t>(spec_.in_channels);
        const std::size_t cout = static_cast<std::size_t>(spec_.out_channels);
        parallel_for(0, rows, grain_for(static_cast<std::int64_t>(cin * cout)), [&](std::int64_t r0, std::int64_t r1) {
            const std::size_t r = static_cast<std::size_t>(r0);
            this->rows(in.data() + r * cin, static_cast<std::size_t>(r1 - r0), out.data() + r * cout,
                       kernels::epilogue_from_row(e, r, spec_.out_channels));
        });
    }

    // The building block of layers that fuse convs (nn/fused_*.hpp): `count` pixels of
    // `in` (in_channels floats each) -> `out` (out_channels each) on the calling thread
    // only, with exactly the arithmetic of forward(), so fused and unfused results are
    // bit-identical. `e` as in forward(), for these rows; `scaled_weights` (optional, fp32
    // only) replaces the packed weights with a kernels::scale_packed_inputs copy of packed().
    void rows(const float* in, std::size_t count, float* out) const { rows(in, count, out, epilogue()); }
    void rows(const float* in, std::size_t count, float* out, const kernels::PointwiseEpilogue& e,
              const float* scaled_weights = nullptr) const {
        if (runs_bf16()) {
            if (scaled_weights) fail(cat("layer '", spec_.conv, "'"), "PointwiseConvBn::rows", "scaled weights are fp32 only (use gated_rows)");
            bf16_rows(in, count, out, e, nullptr);
            return;
        }
        kernels::PointwiseConvArgs a;
        a.input = in;
        a.rows = count;
        a.weights = &packed_;
        a.packed = scaled_weights;
        a.output = out;
        a.epilogue = e;
        kernels::pointwise_conv(a);
    }

    // rows() of a bf16 layer with its input channels multiplied by `gate` ([in_channels],
    // squeeze-excite's) before they are rounded to bf16: the kernel's input_scale, so the
    // bf16 weights are used as packed (no per-image copies, no second rounding).
    void gated_rows(const float* in, std::size_t count, float* out, const kernels::PointwiseEpilogue& e,
                    const float* gate) const {
        if (!runs_bf16()) fail(cat("layer '", spec_.conv, "'"), "PointwiseConvBn::gated_rows", "bf16 layers only (fp32 scales packed())");
        bf16_rows(in, count, out, e, gate);
    }

    // The fp32 packed weights; empty when the layer runs in bf16.
    const kernels::PackedPointwiseWeights& packed() const { return packed_; }

private:
    PointwiseConvBn(const ConvSpec& spec, Precision precision)
        : ConvBnLayer(spec, "PointwiseConvBn", false), precision_(precision) {
        if (spec_.kernel != 1 || spec_.stride != 1) fail(cat("layer '", spec_.conv, "'"), kind_, "pointwise convs are 1x1 stride 1");
    }
    void pack(const FoldedConv& f) {
        if (runs_bf16())
            packed_bf16_ = kernels::pack_pointwise_weights_bf16(f.weights.data(), spec_.in_channels, spec_.out_channels);
        else
            packed_ = kernels::pack_pointwise_weights(f.weights.data(), spec_.in_channels, spec_.out_channels);
    }

    // The same epilogue in the bf16 kernel's terms: the panel maxima keep the fp32
    // kernel's runs of pointwise_panel_columns() outputs, so readers see one layout.
    void bf16_rows(const float* in, std::size_t count, float* out, const kernels::PointwiseEpilogue& e,
                   const float* gate) const {
        kernels::PointwiseConvBf16Args a;
        a.input = in;
        a.rows = count;
        a.weights = &packed_bf16_;
        a.bias = e.bias;
        a.residual = e.residual;
        a.residual_stride = e.residual_stride;
        a.output = out;
        a.activation = e.activation;
        a.precision = precision_;
        a.input_scale = gate;
        a.panel_max = e.panel_max;
        a.panel_max_columns = e.panel_max ? kernels::pointwise_panel_columns() : 0;
        kernels::pointwise_conv_bf16(a);
    }

    Precision precision_ = Precision::fp32;
    kernels::PackedPointwiseWeights packed_;              // fp32 layers
    kernels::PackedPointwiseWeightsBf16 packed_bf16_;     // bf16 layers
};

// kxk depthwise conv -> BN -> act (kernels/depthwise_conv.hpp).
class DepthwiseConvBn : public ConvBnLayer {
public:
    DepthwiseConvBn() = default;

    DepthwiseConvBn(const ConvSpec& spec, Binder& b) : ConvBnLayer(spec, "DepthwiseConvBn", true) {
        if (spec_.in_channels != spec_.out_channels) fail(cat("layer '", spec_.conv, "'"), kind_, "depthwise convs keep the channel count");
        FoldedConv f;
        if (bind(b, f)) packed_ = kernels::pack_depthwise_weights(f.weights.data(), spec_.out_channels, spec_.kernel);
    }

    // out = act(bn(conv(in))), over threads by output rows. in, out contiguous; out must not alias in.
    void forward(TensorView<const float> in, TensorView<float> out) const {
        check_views(in, out, "DepthwiseConvBn::forward");
        const Shape os = out.shape();
        const std::int64_t k2 = static_cast<std::int64_t>(spec_.kernel) * spec_.kernel;
        const kernels::DepthwiseConvArgs args =
            kernel_args<kernels::DepthwiseConvArgs>(in.data(), in.shape(), packed_.data(), out.data());
        parallel_for(0, static_cast<std::int64_t>(os.n) * os.h, grain_for(k2 * os.w * os.c), [&](std::int64_t r0, std::int64_t r1) {
            kernels::DepthwiseConvArgs a = args;
            a.row_begin = static_cast<int>(r0);
            a.row_end = static_cast<int>(r1);
            kernels::depthwise_conv(a);
        });
    }

    // The building block of layers that fuse convs (nn/fused_*.hpp), on the calling thread
    // only with exactly the arithmetic of forward(): output rows [row_begin, row_end) of one
    // image (`image` = that image's input shape, n = 1) into `out_image` (the image's whole
    // output), reading only the input rows [window_row0, window_row0 + window_rows) held
    // contiguously at `window`.
    void rows(const float* window, int window_row0, int window_rows, const Shape& image, float* out_image, int row_begin,
              int row_end) const {
        kernels::DepthwiseConvArgs a = kernel_args<kernels::DepthwiseConvArgs>(window, image, packed_.data(), out_image);
        a.input_row0 = window_row0;
        a.input_rows = window_rows;
        a.row_begin = row_begin;
        a.row_end = row_end;
        kernels::depthwise_conv(a);
    }

private:
    AlignedBuffer<float> packed_;
};

// kxk dense conv -> BN -> act (kernels/dense_conv.hpp): the backbone's stem.
class DenseConvBn : public ConvBnLayer {
public:
    DenseConvBn() = default;

    DenseConvBn(const ConvSpec& spec, Binder& b) : ConvBnLayer(spec, "DenseConvBn", false) {
        FoldedConv f;
        if (bind(b, f))
            packed_ = kernels::pack_dense_conv_weights(f.weights.data(), spec_.out_channels, spec_.in_channels, spec_.kernel);
    }

    // out = act(bn(conv(in))), over threads by output rows. in, out contiguous; out must not alias in.
    void forward(TensorView<const float> in, TensorView<float> out) const {
        check_views(in, out, "DenseConvBn::forward");
        const Shape os = out.shape();
        const std::int64_t k2 = static_cast<std::int64_t>(spec_.kernel) * spec_.kernel;
        const kernels::DenseConvArgs args = kernel_args<kernels::DenseConvArgs>(in.data(), in.shape(), packed_.data(), out.data());
        parallel_for(0, static_cast<std::int64_t>(os.n) * os.h, grain_for(k2 * os.w * os.c * spec_.in_channels),
                     [&](std::int64_t r0, std::int64_t r1) {
            kernels::DenseConvArgs a = args;
            a.row_begin = static_cast<int>(r0);
            a.row_end = static_cast<int>(r1);
            kernels::dense_conv(a);
        });
    }

private:
    AlignedBuffer<float> packed_;
};

}  // namespace nn
EDET_NAMESPACE_END
