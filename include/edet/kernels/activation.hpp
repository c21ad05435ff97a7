// edet/kernels/activation.hpp - activation functions, scalar reference and vectorised.
//
// CONTRACT
//   apply_activation(data, count, act): in place over `count` contiguous floats, any
//     alignment, any count (the tail shorter than one SIMD batch runs the same vector
//     code on a padded copy). Multi-threaded callers split [0, count) themselves.
//   ref::activate(x, act): the scalar definition, in float32:
//     relu(x) = max(x, 0); relu6(x) = min(max(x, 0), 6);
//     sigmoid(x) = 1 / (1 + e^-x);  swish(x) = x / (1 + e^-x)  (x * sigmoid(x)).
//   Vector helpers other kernels fuse into their epilogues (B = FloatBatch, the widest
//     xsimd::batch<float> the flags allow; kFloatLanes lanes):
//     exp_batch(x), sigmoid_batch(x), swish_batch(x), activate_batch(x, act), and
//     fma_batch(x, y, z): a guaranteed single-rounding fma on FMA builds (xsimd 8.1's
//     xsimd::fma is not one on AVX-512). EDET_SIMD_WARNINGS_BEGIN/END wrap code that
//     inlines AVX-512 intrinsics (g++ 12 false -Wmaybe-uninitialized).
//
// ACCURACY (measured by tests/kernels/activation_test.cpp on a dense sweep of [-88, 88],
// every 2^-12, against exp in double precision rounded to float):
//   exp_batch: max error 1 ulp against the correctly rounded value and against std::exp
//     (relative 7.6e-8 with FMA, 9.8e-8 on SSE2 without FMA, on normal results), including
//     the subnormal results below e^-87.34; exp(x) = +inf above ln(FLT_MAX) ~ 88.72,
//     0 below ~ -103.9, exp(+inf) = +inf, exp(-inf) = 0, exp(NaN) = NaN.
//   exp_fast_batch: max 1 ulp against the correctly rounded value on [-86.6, 88.72]
//     (tested <= 2). sigmoid and swish use detail::one_plus_exp_neg(x): on AVX-512 a
//     32-entry table of 2^(j/32) and a cubic, within 2 ulp of the correctly rounded
//     1 + e^-x (tested); elsewhere 1 + exp_fast_batch(-x) bit for bit (tested) in fewer
//     instructions.
//   sigmoid_batch / swish_batch on [-100, 100] against ref::activate (std::exp): max
//     relative 2.7e-7 on normal results (tested <= 3e-7), sigmoid max absolute 1.2e-7,
//     subnormal results within 1e-38. They are not bit-identical to the reference.
//   Limits: sigmoid(+-inf) = 1 / 0, sigmoid(100) = 1, swish(-100) = -0, swish(-inf) = -0,
//     swish(+inf) = +inf; NaN in gives NaN out; no NaN is created from finite or infinite
//     input (the reference gives swish(-inf) = NaN, we give its limit -0).
//
// HOW exp_batch WORKS (the textbook method; the polynomial is plain Taylor, 1/k!):
//   e^x = 2^n * e^r with n = round(x / ln 2) and r = x - n ln 2 in [-ln2/2, ln2/2]; ln 2 is
//   split into a high part exact in float and a low correction (Cody-Waite), so r is
//   accurate; e^r is its Taylor series to degree 7 (truncation error < 5.5e-9, under half
//   an ulp); 2^n is built from exponent bits in two halves so that results in the
//   subnormal range round once, correctly scaled, and overflow gives +inf.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

// g++ 12 warns (-Wuninitialized / -Wmaybe-uninitialized) inside its own AVX-512 intrinsics
// once they are inlined (the _mm512_undefined_* idiom, GCC bug 105593); the warning is
// false, so we silence exactly those two around the code that inlines them.
#if defined(__GNUC__) && !defined(__clang__)
#define EDET_SIMD_WARNINGS_BEGIN \
    _Pragma("GCC diagnostic push") \
    _Pragma("GCC diagnostic ignored \"-Wuninitialized\"") \
    _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define EDET_SIMD_WARNINGS_END _Pragma("GCC diagnostic pop")
#else
#define EDET_SIMD_WARNINGS_BEGIN
#define EDET_SIMD_WARNINGS_END
#endif

EDET_SIMD_WARNINGS_BEGIN
#include <xsimd/xsimd.hpp>
EDET_SIMD_WARNINGS_END

#include "edet/core/arch.hpp"
#include "edet/kernels/op_kinds.hpp"

// Forces inlining of the small vector helpers into kernel loops (g++ otherwise keeps
// activate_batch out of line, a call per vector: 14% of D0's time once, measured by perf).
#if defined(__GNUC__)
#define EDET_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define EDET_ALWAYS_INLINE inline
#endif

// The instruction-set tag (core/arch.hpp) promises the lane width xsimd uses; objects with
// different widths must never share a namespace.
static_assert(EDET_ARCH_FLOAT_LANES == static_cast<int>(xsimd::batch<float>::size),
              "core/arch.hpp's instruction-set tag disagrees with xsimd's default architecture");

EDET_NAMESPACE_BEGIN

// Activation / FusionRule and their spellings: kernels/op_kinds.hpp.

namespace kernels {
namespace ref {

// The maths, in float32: swish(x) = x * sigmoid(x), sigmoid(x) = 1 / (1 + e^-x).
inline float activate(float x, Activation a) {
    switch (a) {
        case Activation::none: return x;
        case Activation::relu: return std::max(x, 0.0f);
        case Activation::relu6: return std::min(std::max(x, 0.0f), 6.0f);
        case Activation::swish: return x / (1.0f + std::exp(-x));
        case Activation::sigmoid: return 1.0f / (1.0f + std::exp(-x));
    }
    return x;
}

inline void apply_activation(float* data, std::size_t count, Activation a) {
    for (std::size_t i = 0; i < count; ++i) data[i] = activate(data[i], a);
}

}  // namespace ref

EDET_SIMD_WARNINGS_BEGIN

// The SIMD batch every edet kernel uses: the widest the compiler flags allow.
using FloatBatch = xsimd::batch<float>;
inline constexpr std::size_t kFloatLanes = FloatBatch::size;

// x * y + z with one rounding whenever the build has FMA instructions, else a multiply
// then an add. Use this, not xsimd::fma: xsimd 8.1 has no AVX-512 fma kernel and falls
// back to x * y + z there, which the compiler may or may not contract into an fma.
template <class B>
EDET_ALWAYS_INLINE B fma_batch(B x, B y, B z) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<typename B::value_type, float> && B::size == 16)
        return B(_mm512_fmadd_ps(x, y, z));
    else
#endif
        return xsimd::fma(x, y, z);
}
// -x * y + z, likewise.
template <class B>
EDET_ALWAYS_INLINE B fnma_batch(B x, B y, B z) {
    return fma_batch(B(-x), y, z);
}

// e^x, lane by lane (see ACCURACY above).
template <class B>
B exp_batch(B x) {
    using I = xsimd::batch<std::int32_t, typename B::arch_type>;
    // Beyond these bounds the result is +inf / 0 anyway; clamping keeps n in [-150, 128].
    const B xc = xsimd::min(xsimd::max(x, B(-104.0f)), B(88.8f));
    const B n = xsimd::nearbyint(xc * B(1.44269504088896341f));  // round(x / ln 2)
    // ln 2 = 0.693145751953125 (15 significant bits, so n * hi is exact) + 1.4286068e-6.
    B r = fnma_batch(n, B(0.693145751953125f), xc);
    r = fnma_batch(n, B(1.42860682030942e-6f), r);
    // e^r = sum_k r^k / k!, k <= 7, by Horner.
    B p = B(1.0f / 5040.0f);
    p = fma_batch(p, r, B(1.0f / 720.0f));
    p = fma_batch(p, r, B(1.0f / 120.0f));
    p = fma_batch(p, r, B(1.0f / 24.0f));
    p = fma_batch(p, r, B(1.0f / 6.0f));
    p = fma_batch(p, r, B(0.5f));
    p = fma_batch(p, r, B(1.0f));
    p = fma_batch(p, r, B(1.0f));
    // 2^n = 2^n1 * 2^n2 with n1 = floor(n / 2): both factors are normal floats.
    const I ni = xsimd::to_int(n);
    const I n1 = ni >> 1;
    const I n2 = ni - n1;
    const B s1 = xsimd::bitwise_cast<B>((n1 + I(127)) << 23);
    const B s2 = xsimd::bitwise_cast<B>((n2 + I(127)) << 23);
    const B result = (p * s1) * s2;
    return xsimd::select(xsimd::isnan(x), x, result);  // NaN stays NaN
}

// e^x for sigmoid and swish only: the degree-5 minimax polynomial published with the Cephes
// library (expf.c) after a Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, and 2^n built
// by the 1.5 * 2^23 "shifter" trick, all in ~15 vector instructions (exp_batch takes ~25;
// this is about 2x faster, and sigmoid/swish are most of an activation pass).
// Accurate to ~1 ulp on [-86.6, 88.72] (tests/kernels/activation_test.cpp). Outside: below
// -86.6 it returns e^-86.6 (~2.4e-38; 1 + that is 1, so sigmoid and swish do not notice),
// above ln(FLT_MAX) = 88.7228 +inf; NaN propagates (x is the second operand of max/min).
namespace detail {
// exp_fast_batch without its +inf for x > ln(FLT_MAX): there it returns ~FLT_MAX (sigmoid
// and swish select their limit for those inputs anyway, so they skip the extra select).
template <class B>
EDET_ALWAYS_INLINE B exp_fast_finite(B x) {
    using I = xsimd::batch<std::int32_t, typename B::arch_type>;
    const B xc = xsimd::min(B(88.7228394f), xsimd::max(B(-86.6f), x));
    // t = round(x log2 e) + 126 + 1.5 * 2^23: the integer n + 126 sits in t's low mantissa
    // bits, and shifting them into the exponent field builds 2^(n-1) (n + 126 in [1, 254]).
    const B shifter(12582912.0f + 126.0f);
    const B t = fma_batch(xc, B(1.44269504088896341f), shifter);
    const B n = t - shifter;
    B r = fnma_batch(n, B(0.693359375f), xc);     // ln 2 high part: n * hi is exact
    r = fnma_batch(n, B(-2.12194440e-4f), r);     // ln 2 low part
    B p(1.9875691500e-4f);
    p = fma_batch(p, r, B(1.3981999507e-3f));
    p = fma_batch(p, r, B(8.3334519073e-3f));
    p = fma_batch(p, r, B(4.1665795894e-2f));
    p = fma_batch(p, r, B(1.6666665459e-1f));
    p = fma_batch(p, r, B(5.0000001201e-1f));
    p = fma_batch(p, r * r, r + B(1.0f));
    const B half_scale = xsimd::bitwise_cast<B>(xsimd::bitwise_cast<I>(t) << 23);  // 2^(n-1)
    return (p + p) * half_scale;  // 2^(n-1) keeps n = 128 (e^88.72 ~ FLT_MAX) finite
}
}  // namespace detail

template <class B>
EDET_ALWAYS_INLINE B exp_fast_batch(B x) {
    return xsimd::select(x > B(88.7228394f), B(std::numeric_limits<float>::infinity()), detail::exp_fast_finite(x));
}

namespace detail {
// 1 + e^-x for x >= -ln(FLT_MAX) = -88.72 (below: +inf, or garbage below -89.07; callers
// select their limits there). On AVX-512 by a table (one_plus_exp_neg_table below); else
// the same operations as 1 + exp_fast_finite(-x), bit for bit, with 15 instructions instead
// of 19 (swish is instruction-bound at ~2 per cycle on the 512-bit ports, and in D0's early
// blocks it costs more than the convolution it follows; swish_batch: 23 -> 18, measured
// 8.1 -> 6.4 ns per 16 lanes):
//   - no negation: with s = x + n ln2 = -r (the same roundings, sign-flipped), Horner runs
//     on s with alternating-sign coefficients, each step giving +-p exactly;
//   - one clamp, from above, min(87.3, x): there e^-x is < 2^-125 and 1 + e^-x rounds to
//     1; x below -88.72 is the caller's (its min() keeps NaN: min(a, b) returns b then);
//   - the doubling for 2^(n-1) (which keeps n = 128 finite) folded into the coefficients
//     (powers of two: exact), and the exact multiply by 2^(n-1) fused with the + 1.
inline constexpr float kExpNegUpper = 87.3f;
inline constexpr float kLnFltMax = 88.7228394f;

template <class B>
EDET_ALWAYS_INLINE B one_plus_exp_neg_poly(B x) {
    using I = xsimd::batch<std::int32_t, typename B::arch_type>;
    const B xc = xsimd::min(B(kExpNegUpper), x);
    const B shifter(12582912.0f + 126.0f);
    const B t = fma_batch(xc, B(-1.44269504088896341f), shifter);  // round(-x log2 e) + 126 + 1.5 * 2^23
    const B n = t - shifter;
    B s = fma_batch(n, B(0.693359375f), xc);
    s = fma_batch(n, B(-2.12194440e-4f), s);  // s = -r, r = -x - n ln 2
    B q(-2 * 1.9875691500e-4f);               // q_k = (-1)^(k+1) 2 p_k of exp_fast_finite
    q = fma_batch(q, s, B(2 * 1.3981999507e-3f));
    q = fma_batch(q, s, B(-2 * 8.3334519073e-3f));
    q = fma_batch(q, s, B(2 * 4.1665795894e-2f));
    q = fma_batch(q, s, B(-2 * 1.6666665459e-1f));
    q = fma_batch(q, s, B(2 * 5.0000001201e-1f));
    q = fma_batch(q, s * s, fma_batch(s, B(-2.0f), B(2.0f)));      // 2 e^r = 2 (p r^2 + r + 1)
    const B half_scale = xsimd::bitwise_cast<B>(xsimd::bitwise_cast<I>(t) << 23);  // 2^(n-1)
    return fma_batch(q, half_scale, B(1.0f));
}

#if defined(__AVX512F__)
// 2^(j/32), j = 0..31, as float bits (correctly rounded; tests/kernels/activation_test.cpp
// recomputes them in double).
inline constexpr std::uint32_t kExp2Fraction32[32] = {
    0x3f800000, 0x3f82cd87, 0x3f85aac3, 0x3f88980f, 0x3f8b95c2, 0x3f8ea43a, 0x3f91c3d3, 0x3f94f4f0,
    0x3f9837f0, 0x3f9b8d3a, 0x3f9ef532, 0x3fa27043, 0x3fa5fed7, 0x3fa9a15b, 0x3fad583f, 0x3fb123f6,
    0x3fb504f3, 0x3fb8fbaf, 0x3fbd08a4, 0x3fc12c4d, 0x3fc5672a, 0x3fc9b9be, 0x3fce248c, 0x3fd2a81e,
    0x3fd744fd, 0x3fdbfbb8, 0x3fe0ccdf, 0x3fe5b907, 0x3feac0c7, 0x3fefe4ba, 0x3ff5257d, 0x3ffa83b3};
// The table one_plus_exp_neg_table permutes from: entry j is 2^(j/32)'s bits minus what
// adding t << 18 puts in (exponent 127 and j in the mantissa's top five bits).
struct alignas(64) Exp2Table {
    std::int32_t bits[32];
};
constexpr Exp2Table make_exp2_table() {
    Exp2Table t{};
    for (std::uint32_t j = 0; j < 32; ++j)
        t.bits[j] = static_cast<std::int32_t>(kExp2Fraction32[j] - (127u << 23) - (j << 18));
    return t;
}
inline constexpr Exp2Table kExp2Table = make_exp2_table();
inline constexpr float kExpNegTableUpper = 86.6f;

// 1 + e^-x with a 32-entry table of 2^(j/32) held in two registers (one vpermt2ps looks up
// 16 lanes): e^-x = 2^(m/32) e^-s with m = round(-x 32 / ln2) and s = x + m ln2 / 32, so
// |s| <= ln2 / 64 and e^-s needs only a cubic (truncation < 5.7e-10, under 0.01 ulp).
// 13 instructions against one_plus_exp_neg_poly's 15, 7 of them on the FMA ports against
// 12: swish_batch measured 8.2 -> 6.0 cycles per 16 lanes (Zen 5), D0 3-4% faster at 1 thread.
// Accuracy: within 2 ulp of the correctly rounded 1 + e^-x (tested); not bit-identical to
// one_plus_exp_neg_poly.
//   - m + 32 * 126 + 1.5 * 2^23 is t's bit pattern's low bits (the shifter trick), so
//     t << 18 puts floor(m/32) + 126 in the exponent field and j = m mod 32 in the top
//     mantissa bits; adding the table entry gives 2^(m/32 - 1) exactly, and vpermt2ps uses
//     the same low five bits of t as its index;
//   - the -1 (so that m = 4096, e^88.72 ~ FLT_MAX, stays finite) is undone by doubled
//     coefficients; the clamp from above at 86.6 keeps the exponent field >= 1 (e^-86.6 <
//     2^-124: 1 + e^-x rounds to 1 there anyway);
//   - ln2 / 32 is split so that m * hi is exact (Cody-Waite), as in exp_batch.
template <class B>
EDET_ALWAYS_INLINE B one_plus_exp_neg_table(B x) {
    const __m512 xc = _mm512_min_ps(_mm512_set1_ps(kExpNegTableUpper), x);  // NaN stays NaN
    const __m512 shifter = _mm512_set1_ps(12582912.0f + 32.0f * 126.0f);
    const __m512 t = _mm512_fmadd_ps(xc, _mm512_set1_ps(-46.1662413084468283f), shifter);  // -32 / ln 2
    const __m512 m = _mm512_sub_ps(t, shifter);
    __m512 s = _mm512_fmadd_ps(m, _mm512_set1_ps(0.693359375f / 32.0f), xc);
    s = _mm512_fmadd_ps(m, _mm512_set1_ps(-2.12194440e-4f / 32.0f), s);
    // 2 e^-s = 2 - 2 s + s^2 - s^3 / 3
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(-1.0f / 3.0f), s, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(-2.0f));
    p = _mm512_fmadd_ps(p, s, _mm512_set1_ps(2.0f));
    const __m512i ti = _mm512_castps_si512(t);
    const __m512i lo = _mm512_load_si512(kExp2Table.bits);
    const __m512i hi = _mm512_load_si512(kExp2Table.bits + 16);
    const __m512i half_scale = _mm512_add_epi32(_mm512_permutex2var_epi32(lo, ti, hi), _mm512_slli_epi32(ti, 18));
    return B(_mm512_fmadd_ps(_mm512_castsi512_ps(half_scale), p, _mm512_set1_ps(1.0f)));
}
#endif

template <class B>
EDET_ALWAYS_INLINE B one_plus_exp_neg(B x) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<typename B::value_type, float> && B::size == 16)
        return one_plus_exp_neg_table(x);
    else
#endif
        return one_plus_exp_neg_poly(x);
}
}  // namespace detail

// sigmoid(x) = 1 / (1 + e^-x): 1 for large x, 0 below -ln(FLT_MAX) (as in the reference,
// where e^-x overflows to +inf), never NaN from a non-NaN input.
template <class B>
EDET_ALWAYS_INLINE B sigmoid_batch(B x) {
    const B s = B(1.0f) / detail::one_plus_exp_neg(x);
    return xsimd::select(x < B(-detail::kLnFltMax), B(0.0f), s);
}

// swish(x) = x / (1 + e^-x), as the reference writes it. Below -ln(FLT_MAX), e^-x is +inf
// in the reference and the quotient is -0, which we return too (also for x = -inf, where
// x / inf would be NaN).
template <class B>
EDET_ALWAYS_INLINE B swish_batch(B x) {
    const B q = x / detail::one_plus_exp_neg(x);
    return xsimd::select(x < B(-detail::kLnFltMax), B(-0.0f), q);
}

template <class B>
EDET_ALWAYS_INLINE B activate_batch(B x, Activation a) {
    switch (a) {
        case Activation::none: return x;
        // Written as std::max / std::min evaluate, so NaN and -0 pass as in the reference.
        case Activation::relu: return xsimd::select(x < B(0.0f), B(0.0f), x);
        case Activation::relu6: {
            const B y = xsimd::select(x < B(0.0f), B(0.0f), x);
            return xsimd::select(B(6.0f) < y, B(6.0f), y);
        }
        case Activation::swish: return swish_batch(x);
        case Activation::sigmoid: return sigmoid_batch(x);
    }
    return x;
}

namespace detail {
template <Activation A>
void apply_activation_static(float* data, std::size_t count) {
    const std::size_t full = count - count % kFloatLanes;
    for (std::size_t i = 0; i < full; i += kFloatLanes)
        activate_batch(FloatBatch::load_unaligned(data + i), A).store_unaligned(data + i);
    if (full < count) {  // the tail, through the same vector code
        alignas(64) float tail[kFloatLanes] = {};
        std::copy(data + full, data + count, tail);
        activate_batch(FloatBatch::load_aligned(tail), A).store_aligned(tail);
        std::copy(tail, tail + (count - full), data + full);
    }
}
}  // namespace detail

// Entry point: the xsimd version. none/relu/relu6 give exactly ref::activate's values
// (NaN and -0 included); swish/sigmoid are within the tolerance above.
inline void apply_activation(float* data, std::size_t count, Activation a) {
    if (count == 0) return;
    switch (a) {
        case Activation::none: return;
        case Activation::relu: return detail::apply_activation_static<Activation::relu>(data, count);
        case Activation::relu6: return detail::apply_activation_static<Activation::relu6>(data, count);
        case Activation::swish: return detail::apply_activation_static<Activation::swish>(data, count);
        case Activation::sigmoid: return detail::apply_activation_static<Activation::sigmoid>(data, count);
    }
}

EDET_SIMD_WARNINGS_END

}  // namespace kernels
EDET_NAMESPACE_END
