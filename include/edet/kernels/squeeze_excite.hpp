// edet/kernels/squeeze_excite.hpp - squeeze-and-excitation gate.
//
//   s   = mean_{h,w} x                     [n][c]
//   z   = act(W_reduce s + b_reduce)       [n][rd]   (act: swish in EfficientNet)
//   g   = sigmoid(W_expand z + b_expand)   [n][c]
//   x  *= g                                 (per image and channel)
//
// CONTRACT
//   squeeze_excite_gate: computes g for every image into `gate` ([n][c]); needs
//     `scratch` of at least c + rd floats; single-threaded (the FCs are tiny; the pool
//     is one pass over x, which callers may do themselves and pass as `pooled`).
//   scale_channels: x[r][ch] *= gate[image(r)][ch] for pixel rows [pixel_begin,
//     pixel_end) of the flattened n*h*w pixels; callers split pixels across threads.
//   weights in the reference layout: reduce [rd][c], expand [c][rd].
//   scale_channels throws edet::Error on null pointers, a bad shape or a pixel range
//   outside [0, n*h*w].
// NUMERICS of the fast versions
//   The pool is bit-identical to ref::global_average_pool (same order per channel). The
//   two matrix-vector products sum in SIMD lanes (a different order than the reference's
//   running sum) and swish/sigmoid use exp_batch, so the gate matches ref to tolerance
//   (measured max abs error on the gate 4.5e-7..7.5e-7 vs ref (AVX-512/AVX2/SSE2), 1.3e-7
//   ..2.5e-7 vs the formula in double, c up to 1152; tested <= 1e-6). scale_channels is one
//   multiply per element: bit-identical.
#pragma once

#include <algorithm>
#include <cstddef>

#include "edet/core/error.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/kernels/pool.hpp"
#include "edet/tensor/shape.hpp"

EDET_NAMESPACE_BEGIN
namespace kernels {

struct SqueezeExciteArgs {
    const float* input = nullptr;  // {n, h, w, c}
    Shape shape{};
    int reduced = 0;                       // rd
    const float* reduce_weights = nullptr;  // [rd][c]
    const float* reduce_bias = nullptr;     // [rd]
    const float* expand_weights = nullptr;  // [c][rd]
    const float* expand_bias = nullptr;     // [c]
    Activation activation = Activation::swish;
    float* gate = nullptr;     // [n][c] output
    float* scratch = nullptr;  // >= c + rd floats
    // [n][c] channel means of the input, when the caller pooled already (nn::SqueezeExcite
    // pools on two threads); the fast kernel then does not read `input`. The reference
    // always pools itself.
    const float* pooled = nullptr;
};

inline void validate(const SqueezeExciteArgs& a) {
    const char* where = "squeeze_excite";
    if (!a.input || !a.reduce_weights || !a.reduce_bias || !a.expand_weights || !a.expand_bias || !a.gate || !a.scratch)
        fail("buffers", where, "no pointer may be null");
    check_shape(a.shape, where);
    if (a.reduced < 1) fail("reduced channels", where, cat(a.reduced, " must be >= 1"));
}

inline void validate_scale_channels(const float* x, const Shape& shape, const float* gate, std::size_t pixel_begin,
                                    std::size_t pixel_end) {
    const char* where = "scale_channels";
    if (!x || !gate) fail("buffers", where, "x and gate must not be null");
    check_shape(shape, where);
    if (pixel_begin > pixel_end || pixel_end > shape.pixels())
        fail("pixel range", where, cat("[", pixel_begin, ", ", pixel_end, ") outside [0, ", shape.pixels(), "]"));
}

namespace ref {
inline void squeeze_excite_gate(const SqueezeExciteArgs& a) {
    validate(a);
    const int c = a.shape.c, rd = a.reduced;
    float* pooled = a.scratch;
    float* hidden = a.scratch + c;
    for (int n = 0; n < a.shape.n; ++n) {
        GlobalAveragePoolArgs p;
        p.input = a.input + static_cast<std::size_t>(n) * a.shape.h * a.shape.w * c;
        p.input_shape = Shape{1, a.shape.h, a.shape.w, c};
        p.output = pooled;
        ref::global_average_pool(p);
        for (int j = 0; j < rd; ++j) {
            float acc = a.reduce_bias[j];
            for (int ch = 0; ch < c; ++ch) acc += a.reduce_weights[static_cast<std::size_t>(j) * c + ch] * pooled[ch];
            hidden[j] = activate(acc, a.activation);
        }
        for (int ch = 0; ch < c; ++ch) {
            float acc = a.expand_bias[ch];
            for (int j = 0; j < rd; ++j) acc += a.expand_weights[static_cast<std::size_t>(ch) * rd + j] * hidden[j];
            a.gate[static_cast<std::size_t>(n) * c + ch] = activate(acc, Activation::sigmoid);
        }
    }
}

inline void scale_channels(float* x, const Shape& shape, const float* gate, std::size_t pixel_begin, std::size_t pixel_end) {
    validate_scale_channels(x, shape, gate, pixel_begin, pixel_end);
    const std::size_t hw = static_cast<std::size_t>(shape.h) * shape.w;
    for (std::size_t p = pixel_begin; p < pixel_end; ++p) {
        const float* g = gate + (p / hw) * shape.c;
        for (int ch = 0; ch < shape.c; ++ch) x[p * shape.c + ch] *= g[ch];
    }
}
}  // namespace ref

EDET_SIMD_WARNINGS_BEGIN

namespace detail {
// sum_i a[i] * b[i]: SIMD lanes for the bulk (two accumulators), a scalar tail.
inline float dot(const float* a, const float* b, std::size_t len) {
    using B = FloatBatch;
    constexpr std::size_t W = kFloatLanes;
    std::size_t i = 0;
    float sum = 0.0f;
    if (len >= W) {
        B s0(0.0f), s1(0.0f);
        for (; i + 2 * W <= len; i += 2 * W) {
            s0 = fma_batch(B::load_unaligned(a + i), B::load_unaligned(b + i), s0);
            s1 = fma_batch(B::load_unaligned(a + i + W), B::load_unaligned(b + i + W), s1);
        }
        if (i + W <= len) {
            s0 = fma_batch(B::load_unaligned(a + i), B::load_unaligned(b + i), s0);
            i += W;
        }
        sum = xsimd::hadd(s0 + s1);
    }
    for (; i < len; ++i) sum += a[i] * b[i];
    return sum;
}
}  // namespace detail

inline void squeeze_excite_gate(const SqueezeExciteArgs& a) {
    validate(a);
    const std::size_t c = static_cast<std::size_t>(a.shape.c), rd = static_cast<std::size_t>(a.reduced);
    const std::size_t hw = static_cast<std::size_t>(a.shape.h) * a.shape.w;
    float* pooled = a.scratch;
    float* hidden = a.scratch + c;
    for (int n = 0; n < a.shape.n; ++n) {
        if (a.pooled) std::copy(a.pooled + static_cast<std::size_t>(n) * c, a.pooled + static_cast<std::size_t>(n + 1) * c, pooled);
        else global_average_pool({a.input + static_cast<std::size_t>(n) * hw * c, Shape{1, a.shape.h, a.shape.w, a.shape.c}, pooled});
        for (std::size_t j = 0; j < rd; ++j) hidden[j] = a.reduce_bias[j] + detail::dot(a.reduce_weights + j * c, pooled, c);
        apply_activation(hidden, rd, a.activation);
        float* gate = a.gate + static_cast<std::size_t>(n) * c;
        for (std::size_t ch = 0; ch < c; ++ch) gate[ch] = a.expand_bias[ch] + detail::dot(a.expand_weights + ch * rd, hidden, rd);
        apply_activation(gate, c, Activation::sigmoid);
    }
}

// x[p][ch] *= gate[image of p][ch], image by image, channels in SIMD batches.
inline void scale_channels(float* x, const Shape& shape, const float* gate, std::size_t pixel_begin, std::size_t pixel_end) {
    validate_scale_channels(x, shape, gate, pixel_begin, pixel_end);
    using B = FloatBatch;
    constexpr std::size_t W = kFloatLanes;
    const std::size_t C = static_cast<std::size_t>(shape.c);
    const std::size_t hw = static_cast<std::size_t>(shape.h) * shape.w;
    const std::size_t vec_end = C - C % W;
    std::size_t p = pixel_begin;
    while (p < pixel_end) {
        const std::size_t image = p / hw;
        const std::size_t stop = std::min(pixel_end, (image + 1) * hw);
        const float* g = gate + image * C;
        for (; p < stop; ++p) {
            float* px = x + p * C;
            std::size_t ch = 0;
            for (; ch < vec_end; ch += W) (B::load_unaligned(px + ch) * B::load_unaligned(g + ch)).store_unaligned(px + ch);
            for (; ch < C; ++ch) px[ch] *= g[ch];
        }
    }
}

EDET_SIMD_WARNINGS_END

}  // namespace kernels
EDET_NAMESPACE_END
