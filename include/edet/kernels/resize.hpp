// edet/kernels/resize.hpp - nearest-neighbour resize to a target size (BiFPN upsampling).
//
// CONTRACT
//   input NHWC contiguous {n, in_h, in_w, c} -> output {n, out_h, out_w, c}, not aliasing
//   source index per axis (PyTorch 'nearest', DESIGN.md section 3):
//     src = min(floor(dst * (float)in / out), in - 1), computed in float32;
//     for an exact 2x this is dst >> 1.
//   rows [row_begin, row_end) of the flattened n*out_h output rows.
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

inline void resize_nearest(const ResizeNearestArgs& a) { ref::resize_nearest(a); }

}  // namespace kernels
EDET_NAMESPACE_END
