// Tests for edet/kernels/bf16.hpp: to_bf16's rounding by hand (ties to even, overflow,
// NaN, signed zero, denormals), against VCVTNE2PS2BF16 when the CPU has it, the CPUID
// check against /proc/cpuinfo, and the Precision spellings and resolution.
#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "edet/kernels/bf16.hpp"

using edet::bf16_t;
using edet::Precision;

namespace {

bf16_t bf16_of_bits(std::uint32_t bits) { return edet::to_bf16(edet::bits_float(bits)); }

bool bf16_is_nan(bf16_t h) { return (h & 0x7fffu) > 0x7f80u; }

// Linux's view of the CPU flags, or "" when there is no /proc/cpuinfo.
std::string bf16_cpuinfo_flags() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("flags", 0) == 0) return line + " ";
    return "";
}

}  // namespace

TEST_CASE("to_bf16: round to nearest, ties to even, on the 16 dropped bits") {
    CHECK(bf16_of_bits(0x3f800000u) == 0x3f80u);  // 1
    CHECK(bf16_of_bits(0x3f807fffu) == 0x3f80u);  // just below half: down
    CHECK(bf16_of_bits(0x3f808000u) == 0x3f80u);  // tie, lsb 0: stays even
    CHECK(bf16_of_bits(0x3f808001u) == 0x3f81u);  // just above half: up
    CHECK(bf16_of_bits(0x3f818000u) == 0x3f82u);  // tie, lsb 1: up to even
    CHECK(bf16_of_bits(0xbf818000u) == 0xbf82u);  // the same for negatives (magnitude rounds)
    CHECK(bf16_of_bits(0x3fffffffu) == 0x4000u);  // carry into the exponent: 2
    CHECK(edet::to_bf16(1.0f / 3.0f) == 0x3eabu);
}

TEST_CASE("to_bf16: overflow to infinity, infinities kept") {
    CHECK(bf16_of_bits(0x7f7f7fffu) == 0x7f7fu);  // largest bf16 (3.39e38)
    CHECK(bf16_of_bits(0x7f7f8000u) == 0x7f80u);  // tie above it, lsb 1: rounds to inf
    CHECK(bf16_of_bits(0x7f7fffffu) == 0x7f80u);  // FLT_MAX -> inf
    CHECK(bf16_of_bits(0xff7fffffu) == 0xff80u);
    CHECK(edet::to_bf16(std::numeric_limits<float>::infinity()) == 0x7f80u);
    CHECK(edet::to_bf16(-std::numeric_limits<float>::infinity()) == 0xff80u);
}

TEST_CASE("to_bf16: NaN stays NaN and becomes quiet, keeping sign and top payload bits") {
    CHECK(bf16_of_bits(0x7fc00000u) == 0x7fc0u);
    CHECK(bf16_of_bits(0x7fc00001u) == 0x7fc0u);  // low payload bits are dropped, not rounded
    CHECK(bf16_of_bits(0x7fffffffu) == 0x7fffu);  // would carry into the sign if rounded
    CHECK(bf16_of_bits(0x7f800001u) == 0x7fc0u);  // signalling NaN with only low bits: quiet NaN, not inf
    CHECK(bf16_of_bits(0xffa00000u) == 0xffe0u);  // signalling NaN: quiet bit set, payload kept
    CHECK(bf16_is_nan(edet::to_bf16(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("to_bf16: zeros keep their sign, float32 denormals flush to signed zero (DAZ)") {
    CHECK(edet::to_bf16(0.0f) == 0x0000u);
    CHECK(edet::to_bf16(-0.0f) == 0x8000u);
    CHECK(bf16_of_bits(0x00000001u) == 0x0000u);
    CHECK(bf16_of_bits(0x007fffffu) == 0x0000u);  // would round up to FLT_MIN without DAZ
    CHECK(bf16_of_bits(0x80400000u) == 0x8000u);
    CHECK(bf16_of_bits(0x00800000u) == 0x0080u);  // FLT_MIN is normal: kept
    CHECK(bf16_of_bits(0x0080ffffu) == 0x0081u);
}

TEST_CASE("from_bf16 is exact and to_bf16 gives every non-denormal bf16 back") {
    for (std::uint32_t h = 0; h <= 0xffffu; ++h) {
        const bf16_t b = static_cast<bf16_t>(h);
        const float x = edet::from_bf16(b);
        REQUIRE(edet::float_bits(x) == h << 16);
        const bool denormal = (h & 0x7f80u) == 0 && (h & 0x7fu) != 0;
        if (bf16_is_nan(b)) REQUIRE(edet::to_bf16(x) == (b | 0x0040u));
        else if (denormal) REQUIRE(edet::to_bf16(x) == (b & 0x8000u));
        else REQUIRE(edet::to_bf16(x) == b);
    }
}

TEST_CASE("cpu_has_avx512_bf16 agrees with the kernel's /proc/cpuinfo flags") {
    const std::string flags = bf16_cpuinfo_flags();
    if (flags.empty()) {
        MESSAGE("no /proc/cpuinfo: skipped");
        return;
    }
    const bool listed = flags.find(" avx512_bf16 ") != std::string::npos && flags.find(" avx512f ") != std::string::npos &&
                        flags.find(" avx512bw ") != std::string::npos && flags.find(" avx512vl ") != std::string::npos;
    CHECK(edet::cpu_has_avx512_bf16() == listed);
    const std::string answer = listed ? "yes" : "no";
    MESSAGE("AVX512_BF16 on this CPU: " << answer);
}

#if EDET_HAVE_AVX512_BF16_KERNELS
namespace {
// VCVTNE2PS2BF16 on x[0..n) against to_bf16 (through convert_to_bf16_avx512bf16, which
// also runs the masked tail); returns the number of differing results.
std::size_t bf16_count_conversion_mismatches(const std::vector<std::uint32_t>& bits) {
    std::vector<float> x(bits.size());
    for (std::size_t i = 0; i < bits.size(); ++i) x[i] = edet::bits_float(bits[i]);
    std::vector<bf16_t> got(bits.size());
    edet::convert_to_bf16_avx512bf16(x.data(), got.data(), x.size());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < bits.size(); ++i) bad += got[i] != edet::to_bf16(x[i]);
    return bad;
}
}  // namespace

TEST_CASE("to_bf16 equals VCVTNE2PS2BF16 for every bf16 and the rounding-critical low halves") {
    if (!edet::cpu_has_avx512_bf16()) {
        MESSAGE("CPU without AVX512_BF16: hardware comparison skipped");
        return;
    }
    // Every sign/exponent/top-fraction (the high 16 bits) with the low halves where
    // rounding decides: exact, just below / at / above the tie, the largest, and the
    // odd count 7 * 65536 + 5 to exercise the masked tail.
    const std::uint32_t lows[] = {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu, 0x4321u};
    std::vector<std::uint32_t> bits;
    for (std::uint32_t hi = 0; hi <= 0xffffu; ++hi)
        for (std::uint32_t lo : lows) bits.push_back(hi << 16 | lo);
    for (std::uint32_t extra = 0; extra < 5; ++extra) bits.push_back(0x3f808000u + extra);
    CHECK(bf16_count_conversion_mismatches(bits) == 0);
}

TEST_CASE("to_bf16 equals VCVTNE2PS2BF16 on all 2^32 floats" * doctest::test_suite("slow")) {
    if (!edet::cpu_has_avx512_bf16()) {
        MESSAGE("CPU without AVX512_BF16: hardware comparison skipped");
        return;
    }
    // In chunks of 2^24, the buffers reused (fresh 64 MB vectors per chunk spent most of
    // the time in page faults).
    const std::size_t chunk = std::size_t{1} << 24;
    std::vector<float> x(chunk);
    std::vector<bf16_t> got(chunk);
    std::size_t bad = 0;
    for (std::uint64_t base = 0; base < (std::uint64_t{1} << 32); base += chunk) {
        for (std::size_t i = 0; i < chunk; ++i) x[i] = edet::bits_float(static_cast<std::uint32_t>(base + i));
        edet::convert_to_bf16_avx512bf16(x.data(), got.data(), chunk);
        for (std::size_t i = 0; i < chunk; ++i) bad += got[i] != edet::to_bf16(x[i]);
    }
    CHECK(bad == 0);
}
#endif

TEST_CASE("Precision: spellings, parsing, resolution") {
    for (Precision p : {Precision::fp32, Precision::bf16, Precision::bf16_emulated})
        CHECK(edet::parse_precision(edet::to_string(p)) == p);
    CHECK(std::string(edet::to_string(Precision::bf16_emulated)) == "bf16-emulated");
    CHECK_THROWS_AS(edet::parse_precision("bfloat16"), edet::Error);
    CHECK_THROWS_AS(edet::parse_precision("bf16_emulated"), edet::Error);
    CHECK(edet::resolve_precision(Precision::fp32) == Precision::fp32);
    CHECK(edet::resolve_precision(Precision::bf16_emulated) == Precision::bf16_emulated);
    if (edet::cpu_has_avx512_bf16()) {
        CHECK(edet::resolve_precision(Precision::bf16) == Precision::bf16);
    } else {
        try {
            edet::resolve_precision(Precision::bf16);
            FAIL("bf16 resolved on a CPU without AVX512_BF16");
        } catch (const edet::Error& e) {
            const std::string why = e.what();
            CHECK(why.find("AVX512_BF16") != std::string::npos);
            CHECK(why.find("bf16-emulated") != std::string::npos);
        }
    }
}
