// edet/kernels/bf16.hpp - bfloat16 as data, the CPU check for AVX512_BF16, and the
// `precision` choice (fp32 / bf16 / bf16-emulated).
//
// CONTRACT
//   A bfloat16 is stored as std::uint16_t: the top 16 bits of a float32 (sign, 8 exponent
//   bits, 7 fraction bits). from_bf16(h) is exact.
//   to_bf16(x) is what VCVTNEPS2BF16 / VCVTNE2PS2BF16 produce (Intel SDM, "convert_fp32_
//   to_bfloat16"), which ignore MXCSR:
//     NaN        -> the top 16 bits with the quiet bit (bit 6) set: a quiet NaN, sign and
//                   the top 6 payload bits kept (sNaN 0x7f800001 -> 0x7fc0)
//     +-0, float32 denormal -> +-0 (denormal inputs are flushed: DAZ; the sign is kept)
//     otherwise  -> round to nearest, ties to even, on the 16 dropped bits; a value that
//                   rounds past the largest bf16 becomes +-inf (0x7f7fffff -> 0x7f80)
//   No finite result is a bf16 denormal: a normal float32 rounds to a normal bf16 or inf.
//   Checked against the instruction on this machine (AMD Zen 5) for special values and,
//   in tests/kernels/bf16_test.cpp, for a stride through all 2^32 bit patterns (every
//   pattern in the "slow" suite).
//
//   cpu_has_avx512_bf16(): CPUID leaf 7 sub-leaf 1 EAX bit 5 (AVX512_BF16) plus AVX512F,
//   BW and VL, and the OS saving the zmm / opmask state (XCR0 bits 1, 2, 5, 6, 7). Only
//   after it returned true may the *_avx512bf16 functions of edet run: they are compiled
//   with a function-level target attribute, so the rest of the binary keeps the build's
//   -march and never contains vdpbf16ps on a path taken without that check.
//
//   Precision: fp32 (exact float32 path, the default), bf16 (bf16 inputs, float32
//   accumulation, hardware AVX512_BF16), bf16_emulated (the same arithmetic, bit for bit,
//   in ordinary vector code: any CPU, slower; for tests). Spellings "fp32", "bf16",
//   "bf16-emulated". resolve_precision(bf16) throws edet::Error on a CPU without
//   AVX512_BF16 instead of letting an illegal instruction happen later.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "edet/core/arch.hpp"
#include "edet/core/error.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
// The hardware bf16 kernels exist (compiled for AVX512_BF16 function by function).
#define EDET_HAVE_AVX512_BF16_KERNELS 1
#define EDET_TARGET_AVX512_BF16 __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
#else
#define EDET_HAVE_AVX512_BF16_KERNELS 0
#endif

EDET_NAMESPACE_BEGIN

using bf16_t = std::uint16_t;

inline std::uint32_t float_bits(float x) {
    std::uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
inline float bits_float(std::uint32_t u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

inline float from_bf16(bf16_t h) { return bits_float(static_cast<std::uint32_t>(h) << 16); }

inline bf16_t to_bf16(float x) {
    const std::uint32_t u = float_bits(x);
    const std::uint32_t magnitude = u & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return static_cast<bf16_t>((u >> 16) | 0x0040u);  // NaN: quieted
    if (magnitude < 0x00800000u) return static_cast<bf16_t>((u >> 16) & 0x8000u);  // 0, denormal: +-0
    // Ties to even: add 0x7fff plus the bit that becomes the lsb; a carry into the exponent
    // is the correct rounding up, including to inf (0x7f7f8000 and above).
    const std::uint32_t lsb = (u >> 16) & 1u;
    return static_cast<bf16_t>((u + 0x7fffu + lsb) >> 16);
}

// x rounded to bf16 and back: the float value the bf16 arithmetic sees.
inline float round_to_bf16(float x) { return from_bf16(to_bf16(x)); }

namespace bf16_detail {
inline bool query_avx512_bf16() {
#if EDET_HAVE_AVX512_BF16_KERNELS
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(1, 0, &eax, &ebx, &ecx, &edx)) return false;
    const bool osxsave = (ecx >> 27) & 1u;
    if (!osxsave) return false;
    // XGETBV by hand: the _xgetbv intrinsic would need -mxsave for the whole translation unit.
    unsigned xcr0_lo = 0, xcr0_hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    const unsigned needed_state = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7);
    if ((xcr0_lo & needed_state) != needed_state) return false;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    const bool avx512f = (ebx >> 16) & 1u, avx512bw = (ebx >> 30) & 1u, avx512vl = (ebx >> 31) & 1u;
    if (!(avx512f && avx512bw && avx512vl) || eax < 1) return false;
    if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
    return (eax >> 5) & 1u;
#else
    return false;
#endif
}
}  // namespace bf16_detail

// Asked once per process (CPUID traps to the hypervisor in a VM: microseconds).
inline bool cpu_has_avx512_bf16() {
    static const bool has = bf16_detail::query_avx512_bf16();
    return has;
}

#if EDET_HAVE_AVX512_BF16_KERNELS
// dst[0..n) = to_bf16(src[0..n)) with VCVTNE2PS2BF16. Call only if cpu_has_avx512_bf16().
EDET_TARGET_AVX512_BF16 inline void convert_to_bf16_avx512bf16(const float* src, bf16_t* dst, std::size_t n) {
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        // cvtne2ps(a, b) puts b's 16 values in the low half, a's in the high half.
        const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512(static_cast<void*>(dst + i), reinterpret_cast<__m512i>(h));
    }
    for (; i < n; i += 16) {
        const std::size_t left = n - i < 16 ? n - i : 16;
        const __mmask16 k = static_cast<__mmask16>((1u << left) - 1u);
        const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(k, src + i));
        _mm256_mask_storeu_epi16(static_cast<void*>(dst + i), k, reinterpret_cast<__m256i>(h));
    }
}
#endif

enum class Precision { fp32, bf16, bf16_emulated };

inline const char* to_string(Precision p) {
    switch (p) {
        case Precision::fp32: return "fp32";
        case Precision::bf16: return "bf16";
        case Precision::bf16_emulated: return "bf16-emulated";
    }
    return "?";
}

inline Precision parse_precision(const std::string& s) {
    if (s == "fp32") return Precision::fp32;
    if (s == "bf16") return Precision::bf16;
    if (s == "bf16-emulated") return Precision::bf16_emulated;
    fail("precision '" + s + "'", "parse_precision", "expected fp32, bf16 or bf16-emulated");
}

// `p` if this CPU can run it, else edet::Error naming the missing feature: checked once
// when a model is set up, so a bf16 request on an older CPU fails with a message instead
// of SIGILL in the first convolution.
inline Precision resolve_precision(Precision p) {
    if (p == Precision::bf16 && !cpu_has_avx512_bf16())
        fail("precision 'bf16'", "resolve_precision",
             EDET_HAVE_AVX512_BF16_KERNELS
                 ? "this CPU lacks AVX512_BF16 (the vdpbf16ps instruction, CPUID.(EAX=7,ECX=1):EAX[5], with "
                   "AVX512F/BW/VL and OS zmm state); use fp32, or bf16-emulated (the same results, slower)"
                 : "this build has no AVX512_BF16 kernels (not an x86 g++/clang build); use fp32, or "
                   "bf16-emulated (the same results, slower)");
    return p;
}

EDET_NAMESPACE_END
