// edet/core/arch.hpp - the instruction set this translation unit is compiled for.
//
// Why: edet is header-only, so every object file instantiates its own copy of the
// kernels with the flags it was compiled with. If two objects built with different
// -march flags were linked together, the linker would silently keep one copy of each
// inline function (an ODR violation) and an AVX-512 body could run on an AVX2 CPU.
// Putting the whole library into an inline namespace named after the instruction set
// (edet::arch_avx512::..., reachable as edet::...) makes such objects use distinct
// symbols, so they cannot merge.
#pragma once

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
#define EDET_ARCH_NS arch_avx512
#define EDET_ARCH_NAME "avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#define EDET_ARCH_NS arch_avx2
#define EDET_ARCH_NAME "avx2+fma"
#elif defined(__AVX__)
#define EDET_ARCH_NS arch_avx
#define EDET_ARCH_NAME "avx"
#elif defined(__SSE4_1__)
#define EDET_ARCH_NS arch_sse41
#define EDET_ARCH_NAME "sse4.1"
#elif defined(__SSE2__) || defined(_M_X64)
#define EDET_ARCH_NS arch_sse2
#define EDET_ARCH_NAME "sse2"
#else
#define EDET_ARCH_NS arch_generic
#define EDET_ARCH_NAME "generic"
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
    ok = ok && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
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
