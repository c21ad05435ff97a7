// edet/kernels/conv_common.hpp - pieces the depthwise and dense (stem) convolution
// kernels share: the SIMD type, the clamp form of relu/relu6, the scalar tap, and the
// range of output columns whose taps need no bounds checks.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include <xsimd/xsimd.hpp>

#include "edet/core/arch.hpp"
#include "edet/kernels/activation.hpp"

EDET_NAMESPACE_BEGIN
namespace kernels {
namespace detail {
namespace conv {

using vfloat = xsimd::batch<float>;
// Channels per SIMD register: 16 with AVX-512, 8 with AVX2, 4 with SSE.
inline constexpr int kLanes = static_cast<int>(vfloat::size);

// relu, relu6 and none as a clamp to [lo, hi]. Written as `x < lo ? lo : x` so a NaN
// passes through and -0 stays -0, as in ref::activate (std::max(x, 0.0f)). The vector
// form uses compare + select rather than xsimd::min/max: GCC 12 gives a false
// -Wmaybe-uninitialized inside the AVX-512 min/max intrinsics.
struct Clamp {
    float lo, hi;
};
inline Clamp clamp_for(Activation act) {
    constexpr float inf = std::numeric_limits<float>::infinity();
    switch (act) {
        case Activation::relu: return {0.0f, inf};
        case Activation::relu6: return {0.0f, 6.0f};
        default: return {-inf, inf};  // none; swish and sigmoid run afterwards
    }
}
inline bool needs_row_activation(Activation act) {
    return act == Activation::swish || act == Activation::sigmoid;
}
inline float clamp(float x, Clamp c) {
    x = x < c.lo ? c.lo : x;
    return x > c.hi ? c.hi : x;
}
inline vfloat clamp(vfloat x, vfloat lo, vfloat hi) {
    x = xsimd::select(x < lo, lo, x);
    return xsimd::select(x > hi, hi, x);
}

// Scalar tap for the narrow-channel path: the same fused multiply-add as the vector path.
inline float madd(float x, float w, float acc) {
#if defined(__FMA__)
    return std::fma(x, w, acc);
#else
    return acc + x * w;
#endif
}

// Output columns [lo, hi) whose taps kx = 0..k-1 all fall inside the input (no padding).
struct Interior {
    int lo, hi;
};
inline Interior interior_columns(int in, int kernel, int stride, int pad_before, int out) {
    const int lo = std::min((pad_before + stride - 1) / stride, out);
    const int span = in - kernel + pad_before;  // last valid ox satisfies ox*stride <= span
    const int hi = span < 0 ? 0 : std::min(span / stride + 1, out);
    return {lo, std::max(lo, hi)};
}

}  // namespace conv
}  // namespace detail
}  // namespace kernels
EDET_NAMESPACE_END
