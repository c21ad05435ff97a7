// edet/kernels/fusion.hpp - BiFPN feature fusion: sum, softmax, fast normalized.
//
//   sum:             out = (x0 + x1) + x2
//   softmax:         out = sum_i softmax(w)_i * x_i
//   fast normalized: out = sum_i relu(w_i) * x_i / (eps + sum_j relu(w_j)),  eps = 1e-4
//     parity: computed per input as the reference does, in float32:
//       d = ((w0 + w1) + w2) + eps;  t_i = (x_i * w_i) / d  (a multiply, then a true
//       divide);  out = (t0 + t1) + t2.
//
// CONTRACT fuse
//   inputs[0..count) each point to `elements` contiguous floats of the same shape;
//   weights: `count` raw edge weights (before relu/softmax), ignored by sum;
//   output: `elements` floats, may alias inputs[0]; computes [begin, end) of the elements.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "edet/core/error.hpp"

EDET_NAMESPACE_BEGIN

enum class FusionRule { sum, softmax, fast_normalized };

namespace kernels {

inline constexpr float kFastFusionEpsilon = 1e-4f;

struct FuseArgs {
    const float* const* inputs = nullptr;
    int count = 0;
    const float* weights = nullptr;  // raw edge weights [count]; nullptr for sum
    FusionRule rule = FusionRule::sum;
    float* output = nullptr;
    std::size_t elements = 0;
    std::size_t begin = 0;
    std::size_t end = static_cast<std::size_t>(-1);  // -1: all elements
};

inline void validate(const FuseArgs& a) {
    const char* where = "fuse";
    if (a.count < 1) fail("input count", where, cat(a.count, " must be >= 1"));
    if (!a.inputs || !a.output) fail("buffers", where, "inputs and output must not be null");
    for (int i = 0; i < a.count; ++i)
        if (!a.inputs[i]) fail(cat("input ", i), where, "null pointer");
    if (a.rule != FusionRule::sum && !a.weights) fail("weights", where, "weighted fusion needs edge weights");
}

// The per-input factors the rule applies; for fast normalized also the divisor.
struct FusionFactors {
    float weight[16] = {};
    float divisor = 1.0f;
};

inline FusionFactors fusion_factors(const FuseArgs& a) {
    if (a.count > 16) fail("input count", "fuse", cat(a.count, " inputs; at most 16 supported"));
    FusionFactors f;
    if (a.rule == FusionRule::fast_normalized) {
        float s = 0.0f;
        for (int i = 0; i < a.count; ++i) {
            f.weight[i] = std::max(a.weights[i], 0.0f);
            s += f.weight[i];
        }
        f.divisor = s + kFastFusionEpsilon;
    } else if (a.rule == FusionRule::softmax) {
        float m = a.weights[0];
        for (int i = 1; i < a.count; ++i) m = std::max(m, a.weights[i]);
        float s = 0.0f;
        for (int i = 0; i < a.count; ++i) {
            f.weight[i] = std::exp(a.weights[i] - m);
            s += f.weight[i];
        }
        for (int i = 0; i < a.count; ++i) f.weight[i] /= s;
    } else {
        for (int i = 0; i < a.count; ++i) f.weight[i] = 1.0f;
    }
    return f;
}

namespace ref {
inline void fuse(const FuseArgs& a) {
    validate(a);
    const FusionFactors f = fusion_factors(a);
    const std::size_t end = std::min(a.end, a.elements);
    for (std::size_t e = a.begin; e < end; ++e) {
        float acc = 0.0f;
        for (int i = 0; i < a.count; ++i) {
            const float x = a.inputs[i][e];
            float t;
            switch (a.rule) {
                case FusionRule::sum: t = x; break;
                case FusionRule::softmax: t = x * f.weight[i]; break;
                default: t = (x * f.weight[i]) / f.divisor; break;
            }
            acc = i == 0 ? t : acc + t;
        }
        a.output[e] = acc;
    }
}
}  // namespace ref

inline void fuse(const FuseArgs& a) { ref::fuse(a); }

}  // namespace kernels
EDET_NAMESPACE_END
