// edet/kernels/pointwise_conv.hpp - 1x1 convolution as a GEMM, fused epilogue.
//
// CONTRACT
//   out[r][co] = act(bias[co] + sum_ci in[r][ci] * W[co][ci]) + residual[r][co]
//   for rows r in [0, rows): a row is one pixel (NHWC: rows = n*h*w).
//   input     rows x input_stride floats, the first `in_channels` of each row used
//   weights   packed once by pack_pointwise_weights() from the reference's [cout][cin]
//   bias      [cout] or nullptr
//   residual  rows x residual_stride or nullptr; added AFTER the activation (MBConv skip)
//   output    rows x output_stride; must not alias input or residual
//   strides   0 means "packed": in_channels / out_channels
//   Callers split rows across threads; the result does not depend on the split.
#pragma once

#include <cstddef>

#include "edet/core/error.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/tensor/aligned_buffer.hpp"

EDET_NAMESPACE_BEGIN
namespace kernels {

// Weights in the kernel's own layout. Built once at load time.
struct PackedPointwiseWeights {
    int in_channels = 0;
    int out_channels = 0;
    AlignedBuffer<float> data;  // layout private to pointwise_conv (initially [cin][cout])
};

inline PackedPointwiseWeights pack_pointwise_weights(const float* w_out_in, int in_channels, int out_channels) {
    if (!w_out_in) fail("pointwise weights", "pack_pointwise_weights", "null pointer");
    if (in_channels < 1 || out_channels < 1)
        fail("pointwise weights", "pack_pointwise_weights", cat("cin=", in_channels, " cout=", out_channels));
    PackedPointwiseWeights p;
    p.in_channels = in_channels;
    p.out_channels = out_channels;
    p.data = AlignedBuffer<float>(static_cast<std::size_t>(in_channels) * out_channels);
    for (int co = 0; co < out_channels; ++co)
        for (int ci = 0; ci < in_channels; ++ci)
            p.data[static_cast<std::size_t>(ci) * out_channels + co] = w_out_in[static_cast<std::size_t>(co) * in_channels + ci];
    return p;
}

struct PointwiseConvArgs {
    const float* input = nullptr;
    std::size_t input_stride = 0;  // 0: in_channels
    std::size_t rows = 0;
    const PackedPointwiseWeights* weights = nullptr;
    const float* bias = nullptr;
    const float* residual = nullptr;
    std::size_t residual_stride = 0;  // 0: out_channels
    float* output = nullptr;
    std::size_t output_stride = 0;  // 0: out_channels
    Activation activation = Activation::none;
};

inline void validate(const PointwiseConvArgs& a) {
    const char* where = "pointwise_conv";
    if (!a.weights) fail("weights", where, "null packed weights");
    if (a.rows == 0) return;
    if (!a.input || !a.output) fail("buffers", where, "input and output must not be null");
    const std::size_t cin = static_cast<std::size_t>(a.weights->in_channels);
    const std::size_t cout = static_cast<std::size_t>(a.weights->out_channels);
    if (a.input_stride && a.input_stride < cin) fail("input stride", where, cat(a.input_stride, " < cin ", cin));
    if (a.output_stride && a.output_stride < cout) fail("output stride", where, cat(a.output_stride, " < cout ", cout));
    if (a.residual_stride && a.residual_stride < cout) fail("residual stride", where, cat(a.residual_stride, " < cout ", cout));
}

namespace ref {

// The reference reads the original [cout][cin] weights, independently of any packing.
inline void pointwise_conv(const PointwiseConvArgs& a, const float* w_out_in) {
    validate(a);
    if (!w_out_in) fail("weights", "ref::pointwise_conv", "null pointer");
    const int cin = a.weights->in_channels, cout = a.weights->out_channels;
    const std::size_t is = a.input_stride ? a.input_stride : cin;
    const std::size_t os = a.output_stride ? a.output_stride : cout;
    const std::size_t rs = a.residual_stride ? a.residual_stride : cout;
    for (std::size_t r = 0; r < a.rows; ++r) {
        for (int co = 0; co < cout; ++co) {
            float acc = a.bias ? a.bias[co] : 0.0f;
            for (int ci = 0; ci < cin; ++ci) acc += a.input[r * is + ci] * w_out_in[static_cast<std::size_t>(co) * cin + ci];
            float y = activate(acc, a.activation);
            if (a.residual) y += a.residual[r * rs + co];
            a.output[r * os + co] = y;
        }
    }
}

}  // namespace ref

// Entry point (initially a plain loop over the packed layout; replaced by the xsimd
// micro-kernel).
inline void pointwise_conv(const PointwiseConvArgs& a) {
    validate(a);
    const int cin = a.weights->in_channels, cout = a.weights->out_channels;
    const std::size_t is = a.input_stride ? a.input_stride : cin;
    const std::size_t os = a.output_stride ? a.output_stride : cout;
    const std::size_t rs = a.residual_stride ? a.residual_stride : cout;
    const float* w = a.weights->data.data();
    for (std::size_t r = 0; r < a.rows; ++r) {
        float* out = a.output + r * os;
        for (int co = 0; co < cout; ++co) out[co] = a.bias ? a.bias[co] : 0.0f;
        for (int ci = 0; ci < cin; ++ci) {
            const float x = a.input[r * is + ci];
            const float* wr = w + static_cast<std::size_t>(ci) * cout;
            for (int co = 0; co < cout; ++co) out[co] += x * wr[co];
        }
        for (int co = 0; co < cout; ++co) {
            float y = activate(out[co], a.activation);
            if (a.residual) y += a.residual[r * rs + co];
            out[co] = y;
        }
    }
}

}  // namespace kernels
EDET_NAMESPACE_END
