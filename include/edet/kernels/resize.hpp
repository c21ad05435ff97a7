// edet/kernels/resize.hpp - nearest-neighbour resize to a target size (BiFPN upsampling).
//
// CONTRACT
//   input NHWC contiguous {n, in_h, in_w, c} -> output {n, out_h, out_w, c}, not aliasing
//   source index per axis (PyTorch 'nearest'):
//     src = min(floor(dst * (float)in / out), in - 1), computed in float32;
//     for an exact 2x this is dst >> 1.
//   rows [row_begin, row_end) of the flattened n*out_h output rows (row_end < 0: all).
//   Any sizes (up or down). A pure copy, so the fast version equals the reference exactly.
//   Worked examples: 3 -> 5 reads [0, 0, 1, 1, 2]; 4 -> 7 reads
//   [0, 0, 1, 1, 2, 2, 3]; 8 -> 16 reads [0, 0, 1, 1, ..., 7, 7].
// FAST PATH
//   An output row whose source row equals the previous output row's is a copy of that
//   row (one memcpy); otherwise pixels are copied from the source row, whole when the
//   width is unchanged, two at a time for an exact 2x.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "edet/core/error.hpp"
#include "edet/tensor/shape.hpp"

EDET_NAMESPACE_BEGIN
namespace kernels {

struct ResizeNearestArgs {
    const float* input = nullptr;
    Shape input_shape{};
    float* output = nullptr;
    Shape output_shape{};
    int row_begin = 0;
    int row_end = -1;
};

// parity: PyTorch computes the scale as a float32 division and floors the product.
inline int nearest_source_index(int dst, int in, int out) {
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    const int src = static_cast<int>(std::floor(static_cast<float>(dst) * scale));
    return std::min(src, in - 1);
}

inline void validate(const ResizeNearestArgs& a) {
    const char* where = "resize_nearest";
    if (!a.input || !a.output) fail("buffers", where, "input and output must not be null");
    check_shape(a.input_shape, where);
    check_shape(a.output_shape, where);
    if (a.input_shape.n != a.output_shape.n || a.input_shape.c != a.output_shape.c)
        fail("shapes", where, cat("n and c must match: ", a.input_shape.str(), " -> ", a.output_shape.str()));
    const int rows = a.output_shape.n * a.output_shape.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    if (a.row_begin < 0 || a.row_begin > end || end > rows)
        fail("row range", where, cat("[", a.row_begin, ", ", end, ") outside [0, ", rows, ")"));
}

namespace ref {
inline void resize_nearest(const ResizeNearestArgs& a) {
    validate(a);
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int rows = os.n * os.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    for (int r = a.row_begin; r < end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        const int iy = nearest_source_index(oy, is.h, os.h);
        for (int ox = 0; ox < os.w; ++ox) {
            const int ix = nearest_source_index(ox, is.w, os.w);
            for (int ch = 0; ch < is.c; ++ch)
                a.output[((static_cast<std::size_t>(n) * os.h + oy) * os.w + ox) * os.c + ch] =
                    a.input[((static_cast<std::size_t>(n) * is.h + iy) * is.w + ix) * is.c + ch];
        }
    }
}
}  // namespace ref

namespace detail {
inline void copy_pixel(float* dst, const float* src, std::size_t c) {
    if (c == 1) *dst = *src;
    else std::memcpy(dst, src, c * sizeof(float));
}
}  // namespace detail

inline void resize_nearest(const ResizeNearestArgs& a) {
    validate(a);
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const std::size_t C = static_cast<std::size_t>(is.c);
    const std::size_t in_row = static_cast<std::size_t>(is.w) * C;
    const std::size_t out_row = static_cast<std::size_t>(os.w) * C;
    const int rows = os.n * os.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    for (int r = a.row_begin; r < end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        const int iy = nearest_source_index(oy, is.h, os.h);
        float* out = a.output + static_cast<std::size_t>(r) * out_row;
        if (r > a.row_begin && oy > 0 && nearest_source_index(oy - 1, is.h, os.h) == iy) {
            std::memcpy(out, out - out_row, out_row * sizeof(float));  // same source row
            continue;
        }
        const float* in = a.input + (static_cast<std::size_t>(n) * is.h + iy) * in_row;
        if (os.w == is.w) {
            std::memcpy(out, in, out_row * sizeof(float));
        } else if (os.w == 2 * is.w) {  // exact 2x: src = dst >> 1
            for (int ix = 0; ix < is.w; ++ix) {
                detail::copy_pixel(out + 2 * static_cast<std::size_t>(ix) * C, in + static_cast<std::size_t>(ix) * C, C);
                detail::copy_pixel(out + (2 * static_cast<std::size_t>(ix) + 1) * C, in + static_cast<std::size_t>(ix) * C, C);
            }
        } else {
            for (int ox = 0; ox < os.w; ++ox)
                detail::copy_pixel(out + static_cast<std::size_t>(ox) * C,
                                   in + static_cast<std::size_t>(nearest_source_index(ox, is.w, os.w)) * C, C);
        }
    }
}

}  // namespace kernels
EDET_NAMESPACE_END
