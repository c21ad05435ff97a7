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
// Two levels of API:
//   kernels::fuse(FuseArgs)      the kernel: raw pointers, any input count 1..16, element
//                                range [begin, end) so callers can split work over threads.
//   FusionNode<Rule, N>          the user-facing node: a rule policy (SumFusion,
//   DynamicFusionNode            SoftmaxFusion, FastNormalizedFusion), N = 2 or 3 inputs
//                                fixed at compile time, shapes checked; or the same with
//                                the rule and input count chosen at run time.
//
//   FusionNode<FastNormalizedFusion, 2> node(Shape{1, 64, 64, 64}, {w0, w1});
//   Tensor<float> out = node({p4_in, p5_up});   // relu(w)-weighted mean of the inputs
//
// CONTRACT fuse
//   inputs[0..count) each point to `elements` contiguous floats of the same shape;
//   weights: `count` raw edge weights (before relu/softmax), ignored by sum, finite;
//   output: `elements` floats, may alias inputs[0]; computes [begin, end) of the elements
//   (end = -1: to the last), begin <= min(end, elements).
//   The fast version (xsimd) is bit-identical to ref::fuse for every rule.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/kernels/op_kinds.hpp"
#include "edet/kernels/activation.hpp"  // FloatBatch, xsimd
#include "edet/tensor/tensor.hpp"

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

// ---------------------------------------------------------------------------------------
// The fusion node, as in the paper. A rule is a small policy type:
//
//   SumFusion             out = x0 + x1 (+ x2)                      (no weights)
//   SoftmaxFusion         out = sum_i e^{w_i} / sum_j e^{w_j} * x_i
//   FastNormalizedFusion  out = sum_i w_i * x_i / (eps + sum_j w_j),  w_i <- relu(w_i)
//
// and factors(raw) returns the normalised weight each input is scaled by (what the
// learned edge weights mean; the kernel applies fast-normalized ones as (x*w)/d, see top).

struct SumFusion {
    static constexpr FusionRule rule = FusionRule::sum;
};

namespace detail {
template <std::size_t N>
std::array<float, N> fusion_rule_factors(FusionRule rule, const std::array<float, N>& raw) {
    kernels::FuseArgs a;
    a.count = static_cast<int>(N);
    a.weights = raw.data();
    a.rule = rule;
    for (std::size_t i = 0; i < N; ++i)
        if (!std::isfinite(raw[i])) fail(cat("weight ", i), "fusion factors", cat(raw[i], " is not finite"));
    const kernels::FusionFactors f = kernels::fusion_factors(a);
    std::array<float, N> out{};
    for (std::size_t i = 0; i < N; ++i) out[i] = f.weight[i] / f.divisor;
    return out;
}
}  // namespace detail

struct SoftmaxFusion {
    static constexpr FusionRule rule = FusionRule::softmax;
    // softmax(raw): positive, summing to one (up to rounding).
    template <std::size_t N>
    static std::array<float, N> factors(const std::array<float, N>& raw) {
        return detail::fusion_rule_factors(rule, raw);
    }
};

struct FastNormalizedFusion {
    static constexpr FusionRule rule = FusionRule::fast_normalized;
    static constexpr float epsilon = kernels::kFastFusionEpsilon;
    // relu(w_i) / (eps + sum_j relu(w_j)): non-negative, summing to just under one.
    template <std::size_t N>
    static std::array<float, N> factors(const std::array<float, N>& raw) {
        return detail::fusion_rule_factors(rule, raw);
    }
};

namespace detail {
// Checks the inputs and output of a node and runs the kernel on [begin, end).
inline void run_fusion(FusionRule rule, const Shape& shape, const TensorView<const float>* inputs, int count,
                       const float* raw_weights, TensorView<float> out, std::size_t begin, std::size_t end,
                       const char* where) {
    const float* pointers[kernels::kMaxFusionInputs] = {};
    for (int i = 0; i < count; ++i) {
        const TensorView<const float>& v = inputs[i];
        if (v.empty()) fail(cat("input ", i), where, "empty view");
        if (v.shape() != shape) fail(cat("input ", i), where, cat("shape ", v.shape().str(), ", node expects ", shape.str()));
        if (!v.is_contiguous()) fail(cat("input ", i), where, "the view must be contiguous");
        pointers[i] = v.data();
    }
    if (out.empty()) fail("output", where, "empty view");
    if (out.shape() != shape) fail("output", where, cat("shape ", out.shape().str(), ", node expects ", shape.str()));
    if (!out.is_contiguous()) fail("output", where, "the view must be contiguous");
    kernels::FuseArgs a;
    a.inputs = pointers;
    a.count = count;
    a.weights = raw_weights;
    a.rule = rule;
    a.output = out.data();
    a.elements = shape.numel();
    a.begin = begin;
    a.end = end;
    kernels::fuse(a);
}
}  // namespace detail

// A BiFPN combine node with N = 2 or 3 inputs of one shape, the rule a policy type.
//
//   FusionNode<FastNormalizedFusion, 3> node(shape, {w0, w1, w2});
//   Tensor<float> out = node({a, b, c});            // allocates the output
//   node.forward({a, b, c}, out_view);              // no allocation
//   node.forward({a, b, c}, out_view, begin, end);  // elements [begin, end): per thread
//
// Inputs and output must be contiguous views of exactly shape(); the output may be the
// first input's memory. Mismatches throw edet::Error naming the input.
template <class Rule, int N>
class FusionNode {
    static_assert(N == 2 || N == 3, "a BiFPN node fuses two or three inputs");

public:
    static constexpr FusionRule rule = Rule::rule;
    static constexpr int input_count = N;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);
    using Inputs = std::array<TensorView<const float>, N>;
    using Weights = std::array<float, N>;

    // Sum fusion: no weights.
    template <class R = Rule, std::enable_if_t<R::rule == FusionRule::sum, int> = 0>
    explicit FusionNode(Shape shape) : shape_(shape) {
        check_shape(shape, "FusionNode");
        raw_.fill(1.0f);
    }
    // Weighted rules: the raw learned edge weights, one per input (e.g. a checkpoint's
    // fnode.{i}.combine.edge_weights).
    template <class R = Rule, std::enable_if_t<R::rule != FusionRule::sum, int> = 0>
    FusionNode(Shape shape, const Weights& raw_weights) : shape_(shape), raw_(raw_weights) {
        check_shape(shape, "FusionNode");
        factors();  // throws on non-finite weights
    }

    const Shape& shape() const noexcept { return shape_; }
    // The raw weights (all 1 for sum).
    const Weights& raw_weights() const noexcept { return raw_; }
    // The normalised factor each input is scaled by.
    Weights factors() const {
        if constexpr (rule == FusionRule::sum) return raw_;
        else return Rule::factors(raw_);
    }

    Tensor<float> operator()(const Inputs& inputs) const {
        Tensor<float> out(shape_);
        forward(inputs, out.view());
        return out;
    }

    void forward(const Inputs& inputs, TensorView<float> out, std::size_t begin = 0, std::size_t end = npos) const {
        detail::run_fusion(rule, shape_, inputs.data(), N, rule == FusionRule::sum ? nullptr : raw_.data(), out, begin,
                           end, "FusionNode");
    }

private:
    Shape shape_{};
    Weights raw_{};
};

// The same node with the rule and the input count (1..16) chosen at run time, e.g. from a
// config read at load time. Gives the same bits as FusionNode for the same rule and inputs.
class DynamicFusionNode {
public:
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    // raw_weights: empty for sum; one per input otherwise.
    DynamicFusionNode(FusionRule rule, Shape shape, int inputs, std::vector<float> raw_weights = {})
        : rule_(rule), shape_(shape), count_(inputs), raw_(std::move(raw_weights)) {
        const char* where = "DynamicFusionNode";
        check_shape(shape, where);
        if (inputs < 1 || inputs > kernels::kMaxFusionInputs)
            fail("input count", where, cat(inputs, " outside [1, ", kernels::kMaxFusionInputs, "]"));
        if (rule == FusionRule::sum) {
            if (!raw_.empty()) fail("weights", where, cat("sum fusion takes no weights, got ", raw_.size()));
        } else {
            if (raw_.size() != static_cast<std::size_t>(inputs))
                fail("weights", where, cat(to_string(rule), " fusion of ", inputs, " inputs needs ", inputs,
                                           " weights, got ", raw_.size()));
            for (std::size_t i = 0; i < raw_.size(); ++i)
                if (!std::isfinite(raw_[i])) fail(cat("weight ", i), where, cat(raw_[i], " is not finite"));
        }
    }

    FusionRule rule() const noexcept { return rule_; }
    const Shape& shape() const noexcept { return shape_; }
    int input_count() const noexcept { return count_; }
    const std::vector<float>& raw_weights() const noexcept { return raw_; }
    std::vector<float> factors() const {
        std::vector<float> out(static_cast<std::size_t>(count_), 1.0f);
        if (rule_ == FusionRule::sum) return out;
        kernels::FuseArgs a;
        a.count = count_;
        a.weights = raw_.data();
        a.rule = rule_;
        const kernels::FusionFactors f = kernels::fusion_factors(a);
        for (int i = 0; i < count_; ++i) out[static_cast<std::size_t>(i)] = f.weight[i] / f.divisor;
        return out;
    }

    Tensor<float> operator()(const std::vector<TensorView<const float>>& inputs) const {
        Tensor<float> out(shape_);
        forward(inputs, out.view());
        return out;
    }

    void forward(const std::vector<TensorView<const float>>& inputs, TensorView<float> out, std::size_t begin = 0,
                 std::size_t end = npos) const {
        if (inputs.size() != static_cast<std::size_t>(count_))
            fail("inputs", "DynamicFusionNode", cat("got ", inputs.size(), " inputs, node fuses ", count_));
        detail::run_fusion(rule_, shape_, inputs.data(), count_, rule_ == FusionRule::sum ? nullptr : raw_.data(), out,
                           begin, end, "DynamicFusionNode");
    }

private:
    FusionRule rule_;
    Shape shape_;
    int count_;
    std::vector<float> raw_;
};

EDET_NAMESPACE_END
