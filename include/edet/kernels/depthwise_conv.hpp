// edet/kernels/depthwise_conv.hpp - depthwise KxK convolution, fused bias + activation.
//
// CONTRACT
//   input   NHWC contiguous, shape {n, in_h, in_w, c}
//   weights [k][k][c] (tap-major, channels innermost): pack_depthwise_weights() turns the
//           reference's [c][1][k][k] into this
//   bias    [c] or nullptr (no bias)
//   output  NHWC contiguous, shape {n, out_h, out_w, c}; must not alias input
//   padding zeros, amounts in `pad` (see padding.hpp); any odd or even k, any stride >= 1
//   rows    computes the output rows [row_begin, row_end) of the flattened n*out_h rows
//           (row_end < 0: all); callers split rows across threads
//   maths   out = act(bias + sum_{ky,kx} x * w), accumulated in float32 over taps in
//           (ky, kx) order starting from 0 (the reference's order), then + bias.
#pragma once

#include <cstddef>

#include "edet/core/error.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/kernels/padding.hpp"
#include "edet/tensor/aligned_buffer.hpp"
#include "edet/tensor/shape.hpp"

EDET_NAMESPACE_BEGIN
namespace kernels {

struct DepthwiseConvArgs {
    const float* input = nullptr;
    Shape input_shape{};
    const float* weights = nullptr;  // [kernel][kernel][c]
    const float* bias = nullptr;     // [c] or nullptr
    float* output = nullptr;
    Shape output_shape{};
    int kernel = 3;
    int stride = 1;
    Padding2d pad{};
    Activation activation = Activation::none;
    int row_begin = 0;   // flattened output row n*out_h + y
    int row_end = -1;    // -1: all rows
};

// [c][1][k][k] (PyTorch) -> [k][k][c].
inline AlignedBuffer<float> pack_depthwise_weights(const float* w_c1kk, int channels, int kernel) {
    if (!w_c1kk) fail("depthwise weights", "pack_depthwise_weights", "null pointer");
    AlignedBuffer<float> packed(static_cast<std::size_t>(kernel) * kernel * channels);
    for (int ch = 0; ch < channels; ++ch)
        for (int t = 0; t < kernel * kernel; ++t)
            packed[static_cast<std::size_t>(t) * channels + ch] = w_c1kk[static_cast<std::size_t>(ch) * kernel * kernel + t];
    return packed;
}

// Throws edet::Error on null buffers or inconsistent shapes.
inline void validate(const DepthwiseConvArgs& a) {
    const char* where = "depthwise_conv";
    if (!a.input || !a.weights || !a.output) fail("buffers", where, "input, weights and output must not be null");
    check_shape(a.input_shape, where);
    check_shape(a.output_shape, where);
    if (a.kernel < 1 || a.stride < 1) fail("geometry", where, cat("kernel ", a.kernel, " stride ", a.stride));
    if (a.pad.top < 0 || a.pad.bottom < 0 || a.pad.left < 0 || a.pad.right < 0)
        fail("padding", where, "negative padding");
    const int oh = conv_output_size(a.input_shape.h, a.kernel, a.stride, a.pad.top, a.pad.bottom);
    const int ow = conv_output_size(a.input_shape.w, a.kernel, a.stride, a.pad.left, a.pad.right);
    const Shape expect{a.input_shape.n, oh, ow, a.input_shape.c};
    if (a.output_shape != expect)
        fail("output shape", where, cat("expected ", expect.str(), " for input ", a.input_shape.str(), ", got ", a.output_shape.str()));
    const int rows = a.output_shape.n * a.output_shape.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    if (a.row_begin < 0 || a.row_begin > end || end > rows)
        fail("row range", where, cat("[", a.row_begin, ", ", end, ") outside [0, ", rows, ")"));
}

namespace ref {

inline void depthwise_conv(const DepthwiseConvArgs& a) {
    validate(a);
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int c = is.c;
    const int rows = os.n * os.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    for (int r = a.row_begin; r < end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        for (int ox = 0; ox < os.w; ++ox) {
            for (int ch = 0; ch < c; ++ch) {
                float acc = 0.0f;
                for (int ky = 0; ky < a.kernel; ++ky) {
                    const int iy = oy * a.stride + ky - a.pad.top;
                    if (iy < 0 || iy >= is.h) continue;
                    for (int kx = 0; kx < a.kernel; ++kx) {
                        const int ix = ox * a.stride + kx - a.pad.left;
                        if (ix < 0 || ix >= is.w) continue;
                        const float x = a.input[((static_cast<std::size_t>(n) * is.h + iy) * is.w + ix) * c + ch];
                        const float w = a.weights[(static_cast<std::size_t>(ky) * a.kernel + kx) * c + ch];
                        acc += x * w;
                    }
                }
                if (a.bias) acc += a.bias[ch];
                a.output[((static_cast<std::size_t>(n) * os.h + oy) * os.w + ox) * c + ch] = activate(acc, a.activation);
            }
        }
    }
}

}  // namespace ref

// Entry point (initially the reference; replaced by the xsimd version).
inline void depthwise_conv(const DepthwiseConvArgs& a) { ref::depthwise_conv(a); }

}  // namespace kernels
EDET_NAMESPACE_END
