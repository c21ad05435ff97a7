// edet/core/arch.hpp - the instruction set this translation unit is compiled for.
//
// Why: edet is header-only, so every object file instantiates its own copy of the
// kernels with the flags it was compiled with. If two objects built with different
// -march flags were linked together, the linker would silently keep one copy of each
// inline function (an ODR violation) and an AVX-512 body could run on an AVX2 CPU.
// Putting the whole library into an inline namespace named after the instruction set
// (edet::arch_avx512bw::..., reachable as edet::...) makes such objects use distinct
// symbols, so they cannot merge.
//
// The tag must change whenever the kernels' code changes, and what decides that is the
// architecture xsimd picks as its default (xsimd::default_arch: the lane width of
// xsimd::batch<float> the kernels are written in, and whether xsimd::fma is one
// instruction). So the conditions below are xsimd 8.1's own (config/xsimd_config.hpp's
// XSIMD_WITH_* macros, taken in the order of xsimd_arch.hpp's all_x86_architectures,
// the first supported one wins), written out here so this header needs no xsimd.
// EDET_ARCH_FLOAT_LANES is the float lane count that architecture has; the kernels check
// it against xsimd::batch<float>::size (kernels/activation.hpp), so a disagreement (a new
// xsimd release changing its rules) stops the build instead of sharing a namespace.
// E.g. -mavx512f alone gives 16-float lanes (arch_avx512f), -mavx2 without -mfma 8 lanes
// with separate multiply and add (arch_avx2), -mavx2 -mfma arch_avx2_fma.
#pragma once

// xsimd 8.1 takes AVX512F only from g++ >= 6 and clang >= 6.
#if defined(__AVX512F__) && ((defined(__clang__) && __clang_major__ >= 6) || !(defined(__GNUC__) && __GNUC__ < 6))
#define EDET_ARCH_AVX512F_USABLE 1
#else
#define EDET_ARCH_AVX512F_USABLE 0
#endif

#if EDET_ARCH_AVX512F_USABLE && defined(__AVX512BW__)
#define EDET_ARCH_NS arch_avx512bw
#define EDET_ARCH_NAME "avx512bw"
#define EDET_ARCH_FLOAT_LANES 16
#elif EDET_ARCH_AVX512F_USABLE && defined(__AVX512DQ__)
#define EDET_ARCH_NS arch_avx512dq
#define EDET_ARCH_NAME "avx512dq"
#define EDET_ARCH_FLOAT_LANES 16
#elif EDET_ARCH_AVX512F_USABLE && defined(__AVX512CD__)
#define EDET_ARCH_NS arch_avx512cd
#define EDET_ARCH_NAME "avx512cd"
#define EDET_ARCH_FLOAT_LANES 16
#elif EDET_ARCH_AVX512F_USABLE
#define EDET_ARCH_NS arch_avx512f
#define EDET_ARCH_NAME "avx512f"
#define EDET_ARCH_FLOAT_LANES 16
#elif defined(__AVX2__) && defined(__FMA__)
#define EDET_ARCH_NS arch_avx2_fma
#define EDET_ARCH_NAME "avx2+fma"
#define EDET_ARCH_FLOAT_LANES 8
#elif defined(__AVX2__)
#define EDET_ARCH_NS arch_avx2
#define EDET_ARCH_NAME "avx2"
#define EDET_ARCH_FLOAT_LANES 8
#elif defined(__AVX__) && defined(__FMA__)
#define EDET_ARCH_NS arch_avx_fma
#define EDET_ARCH_NAME "avx+fma"
#define EDET_ARCH_FLOAT_LANES 8
#elif defined(__AVX__)
#define EDET_ARCH_NS arch_avx
#define EDET_ARCH_NAME "avx"
#define EDET_ARCH_FLOAT_LANES 8
#elif defined(__FMA4__)
#define EDET_ARCH_NS arch_fma4
#define EDET_ARCH_NAME "fma4"
#define EDET_ARCH_FLOAT_LANES 4
#elif defined(__FMA__) && defined(__SSE__)
#define EDET_ARCH_NS arch_sse_fma
#define EDET_ARCH_NAME "sse+fma"
#define EDET_ARCH_FLOAT_LANES 4
#elif defined(__SSE4_2__)
#define EDET_ARCH_NS arch_sse42
#define EDET_ARCH_NAME "sse4.2"
#define EDET_ARCH_FLOAT_LANES 4
#elif defined(__SSE4_1__)
#define EDET_ARCH_NS arch_sse41
#define EDET_ARCH_NAME "sse4.1"
#define EDET_ARCH_FLOAT_LANES 4
#elif defined(__SSSE3__)
#define EDET_ARCH_NS arch_ssse3
#define EDET_ARCH_NAME "ssse3"
#define EDET_ARCH_FLOAT_LANES 4
#elif defined(__SSE3__)
#define EDET_ARCH_NS arch_sse3
#define EDET_ARCH_NAME "sse3"
#define EDET_ARCH_FLOAT_LANES 4
#elif defined(__SSE2__)
#define EDET_ARCH_NS arch_sse2
#define EDET_ARCH_NAME "sse2"
#define EDET_ARCH_FLOAT_LANES 4
#else
#define EDET_ARCH_NS arch_generic
#define EDET_ARCH_NAME "generic"
#define EDET_ARCH_FLOAT_LANES 0  // xsimd has no architecture here: the kernels do not build
#endif

#define EDET_NAMESPACE_BEGIN \
    namespace edet {         \
    inline namespace EDET_ARCH_NS {
#define EDET_NAMESPACE_END \
    }                      \
    }

EDET_NAMESPACE_BEGIN

// The instruction set the library was compiled for, e.g. "avx2+fma".
inline constexpr const char* compiled_arch() { return EDET_ARCH_NAME; }

// True when the running CPU supports every instruction set this build uses. Tools call
// this first and refuse clearly instead of dying with SIGILL (a recurring complaint about
// -march=native binaries moved to another machine). We use the compiler's cpu detection,
// not xsimd 8.1's, which misreports AVX on some Xeons.
inline bool cpu_supports_compiled_arch() {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    bool ok = true;
#if defined(__AVX512F__)
    ok = ok && __builtin_cpu_supports("avx512f");
#endif
#if defined(__AVX512BW__)
    ok = ok && __builtin_cpu_supports("avx512bw");
#endif
#if defined(__AVX512DQ__)
    ok = ok && __builtin_cpu_supports("avx512dq");
#endif
#if defined(__AVX512CD__)
    ok = ok && __builtin_cpu_supports("avx512cd");
#endif
#if defined(__AVX512VL__)
    ok = ok && __builtin_cpu_supports("avx512vl");
#endif
#if defined(__AVX2__)
    ok = ok && __builtin_cpu_supports("avx2");
#endif
#if defined(__FMA__)
    ok = ok && __builtin_cpu_supports("fma");
#endif
#if defined(__AVX__)
    ok = ok && __builtin_cpu_supports("avx");
#endif
    return ok;
#else
    return true;
#endif
}

EDET_NAMESPACE_END
