// edet/kernels/fusion.hpp - BiFPN feature fusion: sum, softmax, fast normalized.
//
// A BiFPN node first combines its (already resampled) inputs, then convolves the result
// (EfficientDet, Tan et al. 2020, section 3.3). This header is the combine step:
//
//   sum:             out = (x0 + x1) + x2
//   softmax:         out = sum_i softmax(w)_i * x_i
//   fast normalized: out = sum_i relu(w_i) * x_i / (eps + sum_j relu(w_j)),  eps = 1e-4
//     parity: computed per input as the reference does, in float32:
//       d = ((w0 + w1) + w2) + eps;  t_i = (x_i * w_i) / d  (a multiply, then a true
//       divide);  out = (t0 + t1) + t2.
//     With all weights <= 0 the result is 0 * x / eps = 0 for finite x (never NaN).
//   softmax numerics: s_i = softmax(w)_i computed once (max-subtracted, in float32);
//     out = x0 * s0, then out = fma(x_i, s_i, out) for i >= 1 when the build has FMA
//     (__FMA__ / aarch64), out + x_i * s_i otherwise. We fix this on purpose: left to the
//     compiler, "multiply then add" may or may not be contracted into an fma, and the
//     scalar and vector paths could then differ. (No reference model uses softmax.)
//
// kernels::fuse(FuseArgs) is the kernel: raw pointers, any input count 1..16, an element
// range [begin, end) so callers can split work over threads; kernels::fusion_factors gives
// the per-input factors a rule applies (what the learned edge weights mean). The node
// around it (resample, fuse, activation, separable conv) is nn::FusionNode, the class the
// BiFPN runs; edet::BiFpnNodeModel builds one by module name, and reference/bifpn.hpp
// writes it plainly.
//
// CONTRACT fuse
//   inputs[0..count) each point to `elements` contiguous floats of the same shape;
//   weights: `count` raw edge weights (before relu/softmax), ignored by sum, finite;
//   output: `elements` floats, may alias inputs[0]; computes [begin, end) of the elements
//   (end = -1: to the last), begin <= min(end, elements).
//   The fast version (xsimd) is bit-identical to ref::fuse for every rule.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

#include "edet/core/error.hpp"
#include "edet/kernels/op_kinds.hpp"
#include "edet/kernels/activation.hpp"  // FloatBatch, xsimd

#if defined(__FMA__) || (defined(__aarch64__) && defined(__ARM_FEATURE_FMA))
#define EDET_FUSION_FMA 1
#else
#define EDET_FUSION_FMA 0
#endif

EDET_NAMESPACE_BEGIN

// Activation / FusionRule and their spellings: kernels/op_kinds.hpp.

namespace kernels {

inline constexpr float kFastFusionEpsilon = 1e-4f;
inline constexpr int kMaxFusionInputs = 16;

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
    if (a.count < 1 || a.count > kMaxFusionInputs)
        fail("input count", where, cat(a.count, " outside [1, ", kMaxFusionInputs, "]"));
    if (!a.inputs || !a.output) fail("buffers", where, "inputs and output must not be null");
    for (int i = 0; i < a.count; ++i)
        if (!a.inputs[i]) fail(cat("input ", i), where, "null pointer");
    if (a.rule != FusionRule::sum) {
        if (!a.weights) fail("weights", where, "weighted fusion needs edge weights");
        for (int i = 0; i < a.count; ++i)
            if (!std::isfinite(a.weights[i])) fail(cat("weight ", i), where, cat(a.weights[i], " is not finite"));
    }
    const std::size_t end = std::min(a.end, a.elements);
    if (a.begin > end) fail("element range", where, cat("[", a.begin, ", ", end, ") is reversed"));
}

// The per-input factors the rule applies; for fast normalized also the divisor.
struct FusionFactors {
    float weight[kMaxFusionInputs] = {};
    float divisor = 1.0f;
};

inline FusionFactors fusion_factors(const FuseArgs& a) {
    if (a.count > kMaxFusionInputs) fail("input count", "fuse", cat(a.count, " inputs; at most 16 supported"));
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

namespace detail {
// acc + x * w, fused exactly when the build has FMA (see "softmax numerics" above).
inline float multiply_add(float x, float w, float acc) {
#if EDET_FUSION_FMA
    return std::fma(x, w, acc);
#else
    return acc + x * w;
#endif
}
}  // namespace detail

namespace ref {
inline void fuse(const FuseArgs& a) {
    validate(a);
    const FusionFactors f = fusion_factors(a);
    const std::size_t end = std::min(a.end, a.elements);
    for (std::size_t e = a.begin; e < end; ++e) {
        float acc = 0.0f;
        for (int i = 0; i < a.count; ++i) {
            const float x = a.inputs[i][e];
            switch (a.rule) {
                case FusionRule::sum: acc = i == 0 ? x : acc + x; break;
                case FusionRule::softmax: acc = i == 0 ? x * f.weight[i] : detail::multiply_add(x, f.weight[i], acc); break;
                case FusionRule::fast_normalized: {
                    const float t = (x * f.weight[i]) / f.divisor;
                    acc = i == 0 ? t : acc + t;
                    break;
                }
            }
        }
        a.output[e] = acc;
    }
}
}  // namespace ref

EDET_SIMD_WARNINGS_BEGIN

namespace detail {

// One element group (a batch, or a single float for the tail) of the rule, inputs in order.
// V is FloatBatch or float; Count is the input count (0: use `count`).
template <FusionRule R, int Count, class V, class Load>
V fuse_group(Load load, int count, const FusionFactors& f) {
    const int n = Count > 0 ? Count : count;
    V acc{};
    for (int i = 0; i < n; ++i) {
        const V x = load(i);
        if constexpr (R == FusionRule::sum) {
            acc = i == 0 ? x : acc + x;
        } else if constexpr (R == FusionRule::softmax) {
            if (i == 0) {
                acc = x * V(f.weight[0]);
            } else if constexpr (std::is_same_v<V, float>) {
                acc = multiply_add(x, f.weight[i], acc);
            } else {
                acc = kernels::fma_batch(x, V(f.weight[i]), acc);  // == multiply_add lane by lane
            }
        } else {
            const V t = (x * V(f.weight[i])) / V(f.divisor);
            acc = i == 0 ? t : acc + t;
        }
    }
    return acc;
}

template <FusionRule R, int Count>
void fuse_range(const FuseArgs& a, const FusionFactors& f, std::size_t begin, std::size_t end) {
    using B = FloatBatch;
    constexpr std::size_t W = kFloatLanes;
    const float* const* in = a.inputs;
    std::size_t e = begin;
    for (; e + W <= end; e += W) {
        const B v = fuse_group<R, Count, B>([&](int i) { return B::load_unaligned(in[i] + e); }, a.count, f);
        v.store_unaligned(a.output + e);
    }
    for (; e < end; ++e) a.output[e] = fuse_group<R, Count, float>([&](int i) { return in[i][e]; }, a.count, f);
}

template <FusionRule R>
void fuse_rule(const FuseArgs& a, const FusionFactors& f, std::size_t begin, std::size_t end) {
    switch (a.count) {
        case 2: return fuse_range<R, 2>(a, f, begin, end);
        case 3: return fuse_range<R, 3>(a, f, begin, end);
        default: return fuse_range<R, 0>(a, f, begin, end);
    }
}

}  // namespace detail

// Entry point: the xsimd version, bit-identical to ref::fuse.
inline void fuse(const FuseArgs& a) {
    validate(a);
    const FusionFactors f = fusion_factors(a);
    const std::size_t end = std::min(a.end, a.elements);
    switch (a.rule) {
        case FusionRule::sum: return detail::fuse_rule<FusionRule::sum>(a, f, a.begin, end);
        case FusionRule::softmax: return detail::fuse_rule<FusionRule::softmax>(a, f, a.begin, end);
        case FusionRule::fast_normalized: return detail::fuse_rule<FusionRule::fast_normalized>(a, f, a.begin, end);
    }
}

EDET_SIMD_WARNINGS_END

}  // namespace kernels

EDET_NAMESPACE_END
