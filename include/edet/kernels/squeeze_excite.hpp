// edet/kernels/squeeze_excite.hpp - squeeze-and-excitation gate.
//
//   s   = mean_{h,w} x                     [n][c]
//   z   = act(W_reduce s + b_reduce)       [n][rd]   (act: swish in EfficientNet)
//   g   = sigmoid(W_expand z + b_expand)   [n][c]
//   x  *= g                                 (per image and channel)
//
// CONTRACT
//   squeeze_excite_gate: computes g for every image into `gate` ([n][c]); needs
//     `scratch` of at least c + rd floats; single-threaded (it is tiny).
//   scale_channels: x[r][ch] *= gate[image(r)][ch] for pixel rows [pixel_begin,
//     pixel_end) of the flattened n*h*w pixels; callers split pixels across threads.
//   weights in the reference layout: reduce [rd][c], expand [c][rd].
#pragma once

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
};

inline void validate(const SqueezeExciteArgs& a) {
    const char* where = "squeeze_excite";
    if (!a.input || !a.reduce_weights || !a.reduce_bias || !a.expand_weights || !a.expand_bias || !a.gate || !a.scratch)
        fail("buffers", where, "no pointer may be null");
    check_shape(a.shape, where);
    if (a.reduced < 1) fail("reduced channels", where, cat(a.reduced, " must be >= 1"));
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
    const std::size_t hw = static_cast<std::size_t>(shape.h) * shape.w;
    for (std::size_t p = pixel_begin; p < pixel_end; ++p) {
        const float* g = gate + (p / hw) * shape.c;
        for (int ch = 0; ch < shape.c; ++ch) x[p * shape.c + ch] *= g[ch];
    }
}
}  // namespace ref

inline void squeeze_excite_gate(const SqueezeExciteArgs& a) { ref::squeeze_excite_gate(a); }
inline void scale_channels(float* x, const Shape& shape, const float* gate, std::size_t pixel_begin, std::size_t pixel_end) {
    ref::scale_channels(x, shape, gate, pixel_begin, pixel_end);
}

}  // namespace kernels
EDET_NAMESPACE_END
