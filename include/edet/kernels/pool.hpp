// edet/kernels/pool.hpp - max pooling and global average pooling.
//
// CONTRACT max_pool
//   input NHWC contiguous {n, in_h, in_w, c}; output {n, out_h, out_w, c}, not aliasing
//   padding is -infinity, so a padded position never wins (TF 'same' and symmetric alike)
//   rows [row_begin, row_end) of the flattened n*out_h output rows
// CONTRACT global_average_pool
//   input {n, h, w, c} -> output [n][c] = (sum over h*w) / (h*w), summed in float32
//   in row-major pixel order.
#pragma once

#include <cstddef>
#include <limits>

#include "edet/core/error.hpp"
#include "edet/kernels/padding.hpp"
#include "edet/tensor/shape.hpp"

EDET_NAMESPACE_BEGIN
namespace kernels {

struct MaxPoolArgs {
    const float* input = nullptr;
    Shape input_shape{};
    float* output = nullptr;
    Shape output_shape{};
    int kernel = 3;
    int stride = 2;
    Padding2d pad{};
    int row_begin = 0;
    int row_end = -1;
};

inline void validate(const MaxPoolArgs& a) {
    const char* where = "max_pool";
    if (!a.input || !a.output) fail("buffers", where, "input and output must not be null");
    check_shape(a.input_shape, where);
    check_shape(a.output_shape, where);
    const int oh = conv_output_size(a.input_shape.h, a.kernel, a.stride, a.pad.top, a.pad.bottom);
    const int ow = conv_output_size(a.input_shape.w, a.kernel, a.stride, a.pad.left, a.pad.right);
    const Shape expect{a.input_shape.n, oh, ow, a.input_shape.c};
    if (a.output_shape != expect) fail("output shape", where, cat("expected ", expect.str(), ", got ", a.output_shape.str()));
    const int rows = a.output_shape.n * a.output_shape.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    if (a.row_begin < 0 || a.row_begin > end || end > rows)
        fail("row range", where, cat("[", a.row_begin, ", ", end, ") outside [0, ", rows, ")"));
}

struct GlobalAveragePoolArgs {
    const float* input = nullptr;
    Shape input_shape{};
    float* output = nullptr;  // [n][c]
};

namespace ref {

inline void max_pool(const MaxPoolArgs& a) {
    validate(a);
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int rows = os.n * os.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    for (int r = a.row_begin; r < end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        for (int ox = 0; ox < os.w; ++ox)
            for (int ch = 0; ch < is.c; ++ch) {
                float m = -std::numeric_limits<float>::infinity();
                for (int ky = 0; ky < a.kernel; ++ky) {
                    const int iy = oy * a.stride + ky - a.pad.top;
                    if (iy < 0 || iy >= is.h) continue;
                    for (int kx = 0; kx < a.kernel; ++kx) {
                        const int ix = ox * a.stride + kx - a.pad.left;
                        if (ix < 0 || ix >= is.w) continue;
                        const float v = a.input[((static_cast<std::size_t>(n) * is.h + iy) * is.w + ix) * is.c + ch];
                        if (v > m) m = v;
                    }
                }
                a.output[((static_cast<std::size_t>(n) * os.h + oy) * os.w + ox) * os.c + ch] = m;
            }
    }
}

inline void global_average_pool(const GlobalAveragePoolArgs& a) {
    if (!a.input || !a.output) fail("buffers", "global_average_pool", "input and output must not be null");
    check_shape(a.input_shape, "global_average_pool");
    const Shape& s = a.input_shape;
    const std::size_t hw = static_cast<std::size_t>(s.h) * s.w;
    for (int n = 0; n < s.n; ++n)
        for (int ch = 0; ch < s.c; ++ch) {
            float sum = 0.0f;
            for (std::size_t p = 0; p < hw; ++p) sum += a.input[(static_cast<std::size_t>(n) * hw + p) * s.c + ch];
            a.output[static_cast<std::size_t>(n) * s.c + ch] = sum / static_cast<float>(hw);
        }
}

}  // namespace ref

inline void max_pool(const MaxPoolArgs& a) { ref::max_pool(a); }
inline void global_average_pool(const GlobalAveragePoolArgs& a) { ref::global_average_pool(a); }

}  // namespace kernels
EDET_NAMESPACE_END
