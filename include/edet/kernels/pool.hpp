// edet/kernels/pool.hpp - max pooling and global average pooling.
//
// CONTRACT max_pool
//   input NHWC contiguous {n, in_h, in_w, c}; output {n, out_h, out_w, c}, not aliasing
//   any kernel >= 1, stride >= 1, padding 0 <= pad < kernel on each side (so every window
//   holds at least one real pixel); out = conv_output_size(in, kernel, stride, pads)
//   padding is -infinity, so a padded position never wins (TF 'same' and symmetric alike)
//   rows [row_begin, row_end) of the flattened n*out_h output rows (row_end < 0: all)
//   maths: m = -inf; for taps (ky, kx) in order: if (v > m) m = v. NaN inputs are skipped
//   as in this comparison; the fast version is bit-identical to ref::max_pool.
// CONTRACT global_average_pool
//   input {n, h, w, c} -> output [n][c] = (sum over h*w) / (h*w), summed in float32
//   in row-major pixel order, then one true division; the fast version keeps that order
//   per channel (vectorising across channels), so it is bit-identical to the reference.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>

#include "edet/core/error.hpp"
#include "edet/kernels/activation.hpp"  // FloatBatch, xsimd
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
    if (a.kernel < 1 || a.stride < 1) fail("geometry", where, cat("kernel ", a.kernel, " stride ", a.stride, " must be >= 1"));
    const int pads[4] = {a.pad.top, a.pad.bottom, a.pad.left, a.pad.right};
    for (int p : pads)
        if (p < 0 || p >= a.kernel)
            fail("padding", where, cat("pad ", p, " outside [0, kernel ", a.kernel, ")"));
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

inline void validate(const GlobalAveragePoolArgs& a) {
    if (!a.input || !a.output) fail("buffers", "global_average_pool", "input and output must not be null");
    check_shape(a.input_shape, "global_average_pool");
}

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
    validate(a);
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

EDET_SIMD_WARNINGS_BEGIN

// The fast max pool: per output pixel, the window's valid taps are found once (so no
// per-tap bounds test) and the channels run in SIMD batches; a scalar loop does the
// channel tail with the same comparison.
inline void max_pool(const MaxPoolArgs& a) {
    validate(a);
    using B = FloatBatch;
    constexpr int W = static_cast<int>(kFloatLanes);
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int C = is.c;
    const int vec_end = C - C % W;
    const std::size_t row_stride = static_cast<std::size_t>(is.w) * C;
    const float neg_inf = -std::numeric_limits<float>::infinity();
    const int rows = os.n * os.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    for (int r = a.row_begin; r < end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        const int iy0 = oy * a.stride - a.pad.top;
        const int ky_begin = std::max(0, -iy0), ky_end = std::min(a.kernel, is.h - iy0);
        const float* image = a.input + static_cast<std::size_t>(n) * is.h * row_stride;
        float* out = a.output + (static_cast<std::size_t>(n) * os.h + oy) * os.w * C;
        for (int ox = 0; ox < os.w; ++ox, out += C) {
            const int ix0 = ox * a.stride - a.pad.left;
            const int kx_begin = std::max(0, -ix0), kx_end = std::min(a.kernel, is.w - ix0);
            const float* window = image + static_cast<std::size_t>(iy0 + ky_begin) * row_stride +
                                  static_cast<std::size_t>(ix0 + kx_begin) * C;
            const int taps_y = ky_end - ky_begin, taps_x = kx_end - kx_begin;
            int ch = 0;
            for (; ch < vec_end; ch += W) {
                B m(neg_inf);
                for (int ty = 0; ty < taps_y; ++ty) {
                    const float* p = window + static_cast<std::size_t>(ty) * row_stride + ch;
                    for (int tx = 0; tx < taps_x; ++tx, p += C) {
                        const B v = B::load_unaligned(p);
                        m = xsimd::select(v > m, v, m);
                    }
                }
                m.store_unaligned(out + ch);
            }
            for (; ch < C; ++ch) {
                float m = neg_inf;
                for (int ty = 0; ty < taps_y; ++ty) {
                    const float* p = window + static_cast<std::size_t>(ty) * row_stride + ch;
                    for (int tx = 0; tx < taps_x; ++tx, p += C)
                        if (*p > m) m = *p;
                }
                out[ch] = m;
            }
        }
    }
}

// The fast global average pool: per image, channel blocks of up to four SIMD batches stay
// in registers while the pixels stream past in order, so each channel's sum is the
// reference's sum, bit for bit.
inline void global_average_pool(const GlobalAveragePoolArgs& a) {
    validate(a);
    using B = FloatBatch;
    constexpr std::size_t W = kFloatLanes;
    const Shape& s = a.input_shape;
    const std::size_t C = static_cast<std::size_t>(s.c);
    const std::size_t hw = static_cast<std::size_t>(s.h) * s.w;
    const float count = static_cast<float>(hw);
    for (int n = 0; n < s.n; ++n) {
        const float* x = a.input + static_cast<std::size_t>(n) * hw * C;
        float* out = a.output + static_cast<std::size_t>(n) * C;
        std::size_t ch = 0;
        for (; ch + 4 * W <= C; ch += 4 * W) {
            B s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
            const float* p = x + ch;
            for (std::size_t i = 0; i < hw; ++i, p += C) {
                s0 += B::load_unaligned(p);
                s1 += B::load_unaligned(p + W);
                s2 += B::load_unaligned(p + 2 * W);
                s3 += B::load_unaligned(p + 3 * W);
            }
            (s0 / B(count)).store_unaligned(out + ch);
            (s1 / B(count)).store_unaligned(out + ch + W);
            (s2 / B(count)).store_unaligned(out + ch + 2 * W);
            (s3 / B(count)).store_unaligned(out + ch + 3 * W);
        }
        for (; ch + W <= C; ch += W) {
            B s0(0.0f);
            const float* p = x + ch;
            for (std::size_t i = 0; i < hw; ++i, p += C) s0 += B::load_unaligned(p);
            (s0 / B(count)).store_unaligned(out + ch);
        }
        for (; ch < C; ++ch) {
            float sum = 0.0f;
            const float* p = x + ch;
            for (std::size_t i = 0; i < hw; ++i, p += C) sum += *p;
            out[ch] = sum / count;
        }
    }
}

EDET_SIMD_WARNINGS_END

}  // namespace kernels
EDET_NAMESPACE_END
