// edet/kernels/dense_conv.hpp - dense KxK convolution (the stem: 3x3 stride 2, 3 -> C).
//
// CONTRACT
//   input   NHWC contiguous {n, in_h, in_w, cin}
//   weights [k][k][cin][cout]: pack_dense_conv_weights() turns [cout][cin][k][k] into this
//   bias    [cout] or nullptr
//   output  NHWC contiguous {n, out_h, out_w, cout}, not aliasing input
//   padding zeros, amounts in `pad`; rows [row_begin, row_end) of the flattened n*out_h
//   maths   out = act(bias + sum_{ky,kx,ci} x * w), taps in (ky, kx, ci) order from 0.
#pragma once

#include <cstddef>

#include "edet/core/error.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/kernels/padding.hpp"
#include "edet/tensor/aligned_buffer.hpp"
#include "edet/tensor/shape.hpp"

EDET_NAMESPACE_BEGIN
namespace kernels {

struct DenseConvArgs {
    const float* input = nullptr;
    Shape input_shape{};
    const float* weights = nullptr;  // [k][k][cin][cout]
    const float* bias = nullptr;
    float* output = nullptr;
    Shape output_shape{};
    int kernel = 3;
    int stride = 2;
    Padding2d pad{};
    Activation activation = Activation::none;
    int row_begin = 0;
    int row_end = -1;
};

inline AlignedBuffer<float> pack_dense_conv_weights(const float* w_oikk, int cout, int cin, int kernel) {
    if (!w_oikk) fail("dense conv weights", "pack_dense_conv_weights", "null pointer");
    AlignedBuffer<float> p(static_cast<std::size_t>(kernel) * kernel * cin * cout);
    for (int co = 0; co < cout; ++co)
        for (int ci = 0; ci < cin; ++ci)
            for (int t = 0; t < kernel * kernel; ++t)
                p[(static_cast<std::size_t>(t) * cin + ci) * cout + co] =
                    w_oikk[(static_cast<std::size_t>(co) * cin + ci) * kernel * kernel + t];
    return p;
}

inline void validate(const DenseConvArgs& a) {
    const char* where = "dense_conv";
    if (!a.input || !a.weights || !a.output) fail("buffers", where, "input, weights and output must not be null");
    check_shape(a.input_shape, where);
    check_shape(a.output_shape, where);
    if (a.kernel < 1 || a.stride < 1) fail("geometry", where, cat("kernel ", a.kernel, " stride ", a.stride));
    const int oh = conv_output_size(a.input_shape.h, a.kernel, a.stride, a.pad.top, a.pad.bottom);
    const int ow = conv_output_size(a.input_shape.w, a.kernel, a.stride, a.pad.left, a.pad.right);
    if (a.output_shape.n != a.input_shape.n || a.output_shape.h != oh || a.output_shape.w != ow)
        fail("output shape", where, cat("expected n=", a.input_shape.n, " h=", oh, " w=", ow, ", got ", a.output_shape.str()));
    const int rows = a.output_shape.n * a.output_shape.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    if (a.row_begin < 0 || a.row_begin > end || end > rows)
        fail("row range", where, cat("[", a.row_begin, ", ", end, ") outside [0, ", rows, ")"));
}

namespace ref {

inline void dense_conv(const DenseConvArgs& a) {
    validate(a);
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int rows = os.n * os.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    for (int r = a.row_begin; r < end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        for (int ox = 0; ox < os.w; ++ox)
            for (int co = 0; co < os.c; ++co) {
                float acc = 0.0f;
                for (int ky = 0; ky < a.kernel; ++ky) {
                    const int iy = oy * a.stride + ky - a.pad.top;
                    if (iy < 0 || iy >= is.h) continue;
                    for (int kx = 0; kx < a.kernel; ++kx) {
                        const int ix = ox * a.stride + kx - a.pad.left;
                        if (ix < 0 || ix >= is.w) continue;
                        for (int ci = 0; ci < is.c; ++ci)
                            acc += a.input[((static_cast<std::size_t>(n) * is.h + iy) * is.w + ix) * is.c + ci] *
                                   a.weights[((static_cast<std::size_t>(ky) * a.kernel + kx) * is.c + ci) * os.c + co];
                    }
                }
                if (a.bias) acc += a.bias[co];
                a.output[((static_cast<std::size_t>(n) * os.h + oy) * os.w + ox) * os.c + co] = activate(acc, a.activation);
            }
    }
}

}  // namespace ref

inline void dense_conv(const DenseConvArgs& a) { ref::dense_conv(a); }

}  // namespace kernels
EDET_NAMESPACE_END
