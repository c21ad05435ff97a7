// Tests for edet/kernels/pointwise_conv_bf16.hpp: the emulation and (when the CPU has
// AVX512_BF16) the vdpbf16ps kernel against the scalar model ref::pointwise_conv_bf16, bit
// for bit, over random shapes, strides, bias, residual, input scale and every activation; the model's
// rounding edge cases (odd-first order, tininess after rounding, DAZ/FTZ, signed zeros)
// through every implementation; the bf16 result against float32 maths within the bound
// that bf16 inputs allow; misuse.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <string>
#include <vector>

#include "edet/kernels/pointwise_conv_bf16.hpp"
#include "test_util.hpp"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

using edet::Activation;
using edet::Precision;
using edet::kernels::PackedPointwiseWeightsBf16;
using edet::kernels::PointwiseConvBf16Args;

namespace {

const Activation kBf16Activations[] = {Activation::none, Activation::relu, Activation::relu6, Activation::swish,
                                       Activation::sigmoid};

struct Bf16Case {
    int rows = 1, cin = 1, cout = 1;
    std::size_t in_pad = 0, out_pad = 0, res_pad = 0;  // stride - channels
    bool bias = false, residual = false;
    Activation act = Activation::none;
    bool input_scale = false;
    int panel_max_columns = 0;  // > 0: ask for panel_max with runs this wide
};

std::string bf16_describe(const Bf16Case& c) {
    return edet::cat("rows=", c.rows, " cin=", c.cin, " cout=", c.cout, " pads=", c.in_pad, "/", c.out_pad, "/",
                     c.res_pad, " bias=", c.bias, " residual=", c.residual, " act=", edet::to_string(c.act),
                     " input_scale=", c.input_scale, " panel_max_columns=", c.panel_max_columns);
}

// Same bits, or both NaN (the NaN's payload is not part of the contract).
bool bf16_same(float a, float b) {
    return edet::float_bits(a) == edet::float_bits(b) || (std::isnan(a) && std::isnan(b));
}

// Output of every implementation for one case, the reference first; padding sentinels
// checked, and panel_max (when asked for) against the maxima of the reference's output.
struct Bf16Outputs {
    std::vector<float> ref, emulated, hardware;
};

Bf16Outputs bf16_run_all(const Bf16Case& c, const std::vector<float>& x, const std::vector<float>& w,
                         const std::vector<float>& b, const std::vector<float>& res,
                         const std::vector<float>& scale = {}) {
    const std::size_t os = c.cout + c.out_pad;
    const PackedPointwiseWeightsBf16 packed = edet::kernels::pack_pointwise_weights_bf16(w.data(), c.cin, c.cout);
    PointwiseConvBf16Args a;
    a.input = x.data();
    a.input_stride = c.in_pad ? c.cin + c.in_pad : 0;
    a.rows = static_cast<std::size_t>(c.rows);
    a.weights = &packed;
    a.bias = c.bias ? b.data() : nullptr;
    a.residual = c.residual ? res.data() : nullptr;
    a.residual_stride = c.res_pad ? c.cout + c.res_pad : 0;
    a.output_stride = c.out_pad ? os : 0;
    a.activation = c.act;
    a.input_scale = c.input_scale ? scale.data() : nullptr;
    const float sentinel = 12345.0f;
    Bf16Outputs o;
    o.ref.assign(c.rows * os, sentinel);
    a.output = o.ref.data();
    edet::kernels::ref::pointwise_conv_bf16(a, w.data());
    const int runs = c.panel_max_columns > 0 ? (c.cout + c.panel_max_columns - 1) / c.panel_max_columns : 0;
    std::vector<float> want_max(static_cast<std::size_t>(c.rows) * runs);
    for (int r = 0; r < c.rows; ++r)
        for (int q = 0; q < runs; ++q) {
            float m = -INFINITY;
            for (int j = q * c.panel_max_columns; j < std::min(c.cout, (q + 1) * c.panel_max_columns); ++j)
                m = std::isnan(m) || std::isnan(o.ref[r * os + j]) ? NAN : std::max(m, o.ref[r * os + j]);
            want_max[r * runs + q] = m;
        }
    const auto check_max = [&](const std::vector<float>& got_max) {
        std::size_t bad = 0;
        for (std::size_t i = 0; i < want_max.size(); ++i)
            bad += !(got_max[i] == want_max[i] || (std::isnan(got_max[i]) && std::isnan(want_max[i])));
        CHECK(bad == 0);
    };
    std::vector<float> got_max(want_max.size());
    a.panel_max = runs ? got_max.data() : nullptr;
    a.panel_max_columns = c.panel_max_columns;
    o.emulated.assign(c.rows * os, sentinel);
    a.output = o.emulated.data();
    a.precision = Precision::bf16_emulated;
    edet::kernels::pointwise_conv_bf16(a);
    if (runs) check_max(got_max);
    if (edet::cpu_has_avx512_bf16()) {
        o.hardware.assign(c.rows * os, sentinel);
        a.output = o.hardware.data();
        a.precision = Precision::bf16;
        std::fill(got_max.begin(), got_max.end(), 0.0f);
        edet::kernels::pointwise_conv_bf16(a);
        if (runs) check_max(got_max);
    }
    for (int r = 0; r < c.rows; ++r)
        for (std::size_t j = c.cout; j < os; ++j) {
            REQUIRE(o.emulated[r * os + j] == sentinel);
            if (!o.hardware.empty()) REQUIRE(o.hardware[r * os + j] == sentinel);
        }
    return o;
}

// Number of elements where `got` differs from the reference's bits.
std::size_t bf16_mismatches(const std::vector<float>& want, const std::vector<float>& got) {
    std::size_t bad = 0;
    for (std::size_t i = 0; i < want.size(); ++i) bad += !bf16_same(want[i], got[i]);
    return bad;
}

void bf16_check_case(const Bf16Case& c, edet_test::Random& rng) {
    const std::size_t is = c.cin + c.in_pad, rs = c.cout + c.res_pad;
    const std::vector<float> x = rng.vector(c.rows * is, -2.0f, 2.0f);
    const std::vector<float> w = rng.vector(static_cast<std::size_t>(c.cout) * c.cin, -0.5f, 0.5f);
    const std::vector<float> b = rng.vector(c.cout, -1.0f, 1.0f);
    const std::vector<float> res = rng.vector(c.rows * rs, -1.0f, 1.0f);
    const std::vector<float> scale = rng.vector(c.cin, 0.0f, 1.5f);
    const Bf16Outputs o = bf16_run_all(c, x, w, b, res, scale);
    INFO(bf16_describe(c));
    CHECK(bf16_mismatches(o.ref, o.emulated) == 0);
    if (!o.hardware.empty()) CHECK(bf16_mismatches(o.ref, o.hardware) == 0);
}

// A float with a random sign, mantissa and an exponent in [lo, hi].
float bf16_wide_float(edet_test::Random& rng, int lo, int hi) {
    return std::ldexp(rng.uniform(-1.0f, 1.0f), rng.integer(lo, hi));
}

// acc + x1 * w1, then + x0 * w0 (one vdpbf16ps lane, bias = acc), through every
// implementation: cin 2, cout 1, one row.
void bf16_check_pair(float acc, float x0, float x1, float w0, float w1, float want) {
    const Bf16Case c{1, 2, 1, 0, 0, 0, true, false, Activation::none};
    const Bf16Outputs o = bf16_run_all(c, {x0, x1}, {w0, w1}, {acc}, {0.0f});
    INFO("acc=" << acc << " x=(" << x0 << ", " << x1 << ") w=(" << w0 << ", " << w1 << ")");
    CHECK(edet::float_bits(o.ref[0]) == edet::float_bits(want));
    CHECK(edet::float_bits(o.emulated[0]) == edet::float_bits(want));
    if (!o.hardware.empty()) CHECK(edet::float_bits(o.hardware[0]) == edet::float_bits(want));
}

}  // namespace

TEST_CASE("pointwise_conv_bf16: the VDPBF16PS model's edge cases, in every implementation") {
    const float tiny = FLT_MIN;  // 2^-126
    SUBCASE("odd channel first, each product added with its own rounding") {
        // 1 + 2^-24 is a tie and stays 1, twice: 1. Summed with one rounding: 1 + 2^-23.
        bf16_check_pair(1.0f, 0x1p-24f, 0x1p-24f, 1.0f, 1.0f, 1.0f);
        // Odd (1.5 * 2^-24) first: 1 + 2^-23, then + 2^-24 ties to even: 1 + 2^-22.
        // Even first would give 1, then 1 + 2^-23; one rounding 1 + 2^-23 too.
        bf16_check_pair(1.0f, 0x1p-24f, 0x1.8p-24f, 1.0f, 1.0f, 1.0f + 0x1p-22f);
    }
    SUBCASE("tininess after rounding, flush to zero") {
        // 2^-126 - 0.75 * 2^-150 rounds (24 bits, unbounded exponent) to 2^-126 - 2^-150:
        // tiny, flushed. Gradual underflow would have given 2^-126.
        bf16_check_pair(tiny, 0.0f, 3 * 0x1p-77f, 0.0f, -0x1p-75f, 0.0f);
        // 2^-126 - 2^-152 rounds to 2^-126: not tiny, kept.
        bf16_check_pair(tiny, 0.0f, 0x1p-76f, 0.0f, -0x1p-76f, tiny);
        // A product far below 2^-126 on a zero accumulator: +0.
        bf16_check_pair(0.0f, 0x1p-70f, 0.0f, 0x1p-70f, 0.0f, 0.0f);
        bf16_check_pair(0.0f, 0x1p-70f, 0.0f, -0x1p-70f, 0.0f, -0.0f);
    }
    SUBCASE("denormal inputs read as zero") {
        bf16_check_pair(0x1p-130f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f);    // denormal bias
        bf16_check_pair(-0x1p-130f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f);   // -0 + (+0) = +0
        bf16_check_pair(0.0f, 0x1p-130f, 0.0f, 0x1p100f, 0.0f, 0.0f);  // flushed by to_bf16 too
    }
    SUBCASE("signed zeros and the padding of an odd cin") {
        bf16_check_pair(-0.0f, -0.0f, 0.0f, 1.0f, 0.0f, 0.0f);  // -0 + 0*0 = +0 first
        // cin 1: the pad pair element (+0 * +0) is added first, so a -0 bias becomes +0.
        const Bf16Case c{1, 1, 1, 0, 0, 0, true, false, Activation::none};
        const Bf16Outputs o = bf16_run_all(c, {-0.0f}, {1.0f}, {-0.0f}, {0.0f});
        CHECK(edet::float_bits(o.ref[0]) == 0u);
        CHECK(edet::float_bits(o.emulated[0]) == 0u);
        if (!o.hardware.empty()) CHECK(edet::float_bits(o.hardware[0]) == 0u);
    }
    SUBCASE("overflow, infinities, NaN") {
        bf16_check_pair(FLT_MAX, 0x1p120f, 0.0f, 0x1p120f, 0.0f, INFINITY);
        const Bf16Case c{1, 2, 1, 0, 0, 0, false, false, Activation::none};
        const Bf16Outputs o = bf16_run_all(c, {INFINITY, 1.0f}, {0.0f, 1.0f}, {0.0f}, {0.0f});  // inf * 0
        CHECK(std::isnan(o.ref[0]));
        CHECK(std::isnan(o.emulated[0]));
        if (!o.hardware.empty()) CHECK(std::isnan(o.hardware[0]));
    }
    if (!edet::cpu_has_avx512_bf16()) MESSAGE("CPU without AVX512_BF16: checked reference and emulation only");
}

TEST_CASE("pointwise_conv_bf16: relu and relu6 pass NaN and -0 as the library's activation does") {
    // One row, cin 2, cout 4, bias {0, -0, 7, -3}. Inputs (-0, -0) give 0, -0 (the -0
    // products keep the -0 bias), 7 (relu6: 6) and -3 (0); inputs (inf, -0) give NaN
    // (inf * 0) and infinities. With and without a residual. The hardware tile clamps in
    // registers, the reference and the emulation in finish_row.
    const std::vector<float> w = {0.0f, 0.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f};  // [4][2]
    const std::vector<float> b = {0.0f, -0.0f, 7.0f, -3.0f}, res = {0.5f, -0.0f, 0.25f, 1.0f};
    for (Activation act : {Activation::relu, Activation::relu6}) {
        for (bool residual : {false, true}) {
            // panel_max in runs of 2 columns: the NaN run must report NaN.
            const Bf16Case c{1, 2, 4, 0, 0, 0, true, residual, act, false, 2};
            INFO(edet::to_string(act) << " residual=" << residual);
            const Bf16Outputs zeros = bf16_run_all(c, {-0.0f, -0.0f}, w, b, res);
            const Bf16Outputs nans = bf16_run_all(c, {INFINITY, -0.0f}, w, b, res);
            CHECK(std::isnan(nans.ref[0]));
            for (const Bf16Outputs* o : {&zeros, &nans}) {
                CHECK(bf16_mismatches(o->ref, o->emulated) == 0);
                if (!o->hardware.empty()) CHECK(bf16_mismatches(o->ref, o->hardware) == 0);
            }
            if (!residual) {
                CHECK(edet::float_bits(zeros.ref[1]) == 0x80000000u);  // relu(-0) = -0, as std::max
                CHECK(zeros.ref[2] == (act == Activation::relu6 ? 6.0f : 7.0f));
            }
        }
    }
}

TEST_CASE("pointwise_conv_bf16: random operands over the whole exponent range, bit for bit") {
    // Wide exponents reach overflow, cancellation and the flush-to-zero range; cin 2 makes
    // every output one instruction lane, cin 33 a chain of 17.
    edet_test::Random rng(2024);
    for (int cin : {2, 33}) {
        const Bf16Case c{cin == 2 ? 4096 : 600, cin, 48, 0, 0, 0, true, false, Activation::none};
        std::vector<float> x(c.rows * c.cin), w(c.cout * c.cin), b(c.cout);
        for (float& v : x) v = bf16_wide_float(rng, -70, 60);
        for (float& v : w) v = bf16_wide_float(rng, -70, 60);
        for (float& v : b) v = bf16_wide_float(rng, -140, 120);
        const Bf16Outputs o = bf16_run_all(c, x, w, b, {});
        INFO("cin=" << cin);
        CHECK(bf16_mismatches(o.ref, o.emulated) == 0);
        if (!o.hardware.empty()) CHECK(bf16_mismatches(o.ref, o.hardware) == 0);
    }
    // Small magnitudes only: sums around 2^-126, where tininess is decided.
    {
        const Bf16Case c{480, 4, 32, 0, 0, 0, true, false, Activation::none};
        std::vector<float> x(c.rows * c.cin), w(c.cout * c.cin), b(c.cout);
        for (float& v : x) v = bf16_wide_float(rng, -66, -60);
        for (float& v : w) v = bf16_wide_float(rng, -66, -60);
        for (float& v : b) v = bf16_wide_float(rng, -127, -124);
        const Bf16Outputs o = bf16_run_all(c, x, w, b, {});
        CHECK(bf16_mismatches(o.ref, o.emulated) == 0);
        if (!o.hardware.empty()) CHECK(bf16_mismatches(o.ref, o.hardware) == 0);
    }
}

#if defined(__SSE2__)
TEST_CASE("pointwise_conv_bf16: the same bits with MXCSR's FTZ and DAZ set by the application") {
    // The hardware ignores MXCSR; the reference and the emulation run ordinary float32
    // steps, which FTZ/DAZ could change. Same wide and tiny operands as above.
    const unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040u);  // FTZ (bit 15) | DAZ (bit 6)
    edet_test::Random rng(31);
    std::size_t bad_emulated = 0, bad_hardware = 0;
    for (bool tiny_range : {false, true}) {
        for (int cin : {2, 4, 33}) {
            const Bf16Case c{300, cin, 48, 0, 0, 0, true, false, Activation::none};
            std::vector<float> x(c.rows * c.cin), w(c.cout * c.cin), b(c.cout);
            for (float& v : x) v = tiny_range ? bf16_wide_float(rng, -66, -60) : bf16_wide_float(rng, -70, 60);
            for (float& v : w) v = tiny_range ? bf16_wide_float(rng, -66, -60) : bf16_wide_float(rng, -70, 60);
            for (float& v : b) v = tiny_range ? bf16_wide_float(rng, -127, -124) : bf16_wide_float(rng, -140, 120);
            const Bf16Outputs o = bf16_run_all(c, x, w, b, {});
            bad_emulated += bf16_mismatches(o.ref, o.emulated);
            if (!o.hardware.empty()) bad_hardware += bf16_mismatches(o.ref, o.hardware);
        }
    }
    _mm_setcsr(saved);
    CHECK(bad_emulated == 0);
    CHECK(bad_hardware == 0);
}
#endif

TEST_CASE("pointwise_conv_bf16: emulation and hardware equal the reference over random shapes") {
    edet_test::Random rng(77);
    const std::vector<int> rows = {1, 2, 11, 12, 13, 25, 40};
    // Odd and even; 511 / 513 / 600 cross the depth-block split (256 pairs).
    const std::vector<int> cins = {1, 2, 3, 7, 16, 24, 33, 64, 144, 511, 513, 600};
    // Narrow panels (16), full panels (32), tails in both.
    const std::vector<int> couts = {1, 5, 15, 16, 17, 24, 31, 32, 33, 48, 64, 70, 100};
    int cases = 0;
    for (Activation act : kBf16Activations) {
        for (int i = 0; i < 40; ++i) {
            Bf16Case c;
            c.rows = rng.pick(rows);
            c.cin = rng.pick(cins);
            c.cout = rng.pick(couts);
            c.in_pad = rng.integer(0, 2) == 0 ? static_cast<std::size_t>(rng.integer(1, 9)) : 0;
            c.out_pad = rng.integer(0, 2) == 0 ? static_cast<std::size_t>(rng.integer(1, 9)) : 0;
            c.res_pad = rng.integer(0, 2) == 0 ? static_cast<std::size_t>(rng.integer(1, 9)) : 0;
            c.bias = rng.integer(0, 3) != 0;
            c.residual = rng.integer(0, 1) == 0;
            c.act = act;
            c.input_scale = rng.integer(0, 2) == 0;
            c.panel_max_columns = rng.pick(std::vector<int>{0, 0, 7, 16, 32});
            bf16_check_case(c, rng);
            ++cases;
        }
    }
    const std::string hardware = edet::cpu_has_avx512_bf16() ? "yes" : "no (no AVX512_BF16)";
    MESSAGE(cases << " random cases; hardware compared: " << hardware);
}

TEST_CASE("pointwise_conv_bf16: splitting the rows does not change a bit") {
    edet_test::Random rng(5);
    const int rows = 37, cin = 70, cout = 40;
    const std::vector<float> x = rng.vector(rows * cin), w = rng.vector(cin * cout), b = rng.vector(cout);
    const auto packed = edet::kernels::pack_pointwise_weights_bf16(w.data(), cin, cout);
    for (Precision p : {Precision::bf16_emulated, Precision::bf16}) {
        if (p == Precision::bf16 && !edet::cpu_has_avx512_bf16()) continue;
        std::vector<float> whole(rows * cout), parts(rows * cout);
        PointwiseConvBf16Args a;
        a.input = x.data();
        a.rows = rows;
        a.weights = &packed;
        a.bias = b.data();
        a.activation = Activation::swish;
        a.precision = p;
        a.output = whole.data();
        edet::kernels::pointwise_conv_bf16(a);
        for (int r0 : {0, 5, 18}) {
            const int r1 = r0 == 18 ? rows : (r0 == 0 ? 5 : 18);
            PointwiseConvBf16Args part = a;
            part.input = x.data() + r0 * cin;
            part.rows = static_cast<std::size_t>(r1 - r0);
            part.output = parts.data() + r0 * cout;
            edet::kernels::pointwise_conv_bf16(part);
        }
        CHECK(std::memcmp(whole.data(), parts.data(), whole.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("pointwise_conv_bf16: error against float32 maths stays within the bf16 input bound") {
    // Each input and weight is rounded to 8 significant bits (relative error <= u = 2^-8,
    // half an ulp of 2^-7),
    // so each exact product x^ w^ = x w (1 + e), |e| <= 2u + u^2; float32 accumulation of
    // the cin + 1 terms adds at most gamma_(cin+1) = (cin+1) 2^-24 / (1 - (cin+1) 2^-24)
    // times their magnitude (Higham 3.1). With S = |b| + sum |x w| (in double):
    //   |bf16 result - exact| <= (2u + u^2 + gamma_(cin+1) (1 + 2u + u^2)) S.
    // That is the guaranteed bound the test enforces. The typical error is much smaller:
    // the rounding errors are independent, ~uniform, so it is about
    // at most u sqrt(2/3) sqrt(sum (x w)^2), i.e. ~2^-8 sqrt(cin) / cin of S; the test
    // also checks no element exceeds 8 of those standard deviations (plus the float32 part).
    edet_test::Random rng(11);
    const double u = std::ldexp(1.0, -8);
    double worst_of_bound = 0.0, worst_sigmas = 0.0;
    for (int cin : {1, 8, 24, 64, 144, 672, 1152}) {
        const int rows = 50, cout = 40;
        const std::vector<float> x = rng.vector(rows * cin, -2.0f, 2.0f), w = rng.vector(cin * cout, -1.0f, 1.0f),
                                 b = rng.vector(cout);
        const auto packed = edet::kernels::pack_pointwise_weights_bf16(w.data(), cin, cout);
        std::vector<float> got(rows * cout);
        PointwiseConvBf16Args a;
        a.input = x.data();
        a.rows = rows;
        a.weights = &packed;
        a.bias = b.data();
        a.output = got.data();
        a.precision = Precision::bf16_emulated;
        edet::kernels::pointwise_conv_bf16(a);
        const double n = cin + 1.0, gamma = n * std::ldexp(1.0, -24) / (1.0 - n * std::ldexp(1.0, -24));
        for (int r = 0; r < rows; ++r) {
            for (int co = 0; co < cout; ++co) {
                double exact = b[co], magnitude = std::fabs(b[co]), squares = 0.0;
                for (int ci = 0; ci < cin; ++ci) {
                    const double p = static_cast<double>(x[r * cin + ci]) * w[co * cin + ci];
                    exact += p;
                    magnitude += std::fabs(p);
                    squares += p * p;
                }
                const double err = std::fabs(got[r * cout + co] - exact);
                const double bound = (2 * u + u * u + gamma * (1 + 2 * u + u * u)) * magnitude;
                REQUIRE(err <= bound);
                worst_of_bound = std::max(worst_of_bound, err / bound);
                const double sigma = u * std::sqrt(2.0 / 3.0) * std::sqrt(squares);
                const double sigmas = (err - gamma * magnitude) / sigma;
                worst_sigmas = std::max(worst_sigmas, sigmas);
                CHECK(sigmas <= 8.0);
            }
        }
    }
    MESSAGE("largest error / guaranteed bound: " << worst_of_bound << "; largest error in typical-error units: "
                                                 << worst_sigmas);
}

TEST_CASE("pointwise_conv_bf16: misuse is an edet::Error") {
    std::vector<float> w(32, 0.5f), x(64, 1.0f), y(64);
    CHECK_THROWS_AS(edet::kernels::pack_pointwise_weights_bf16(nullptr, 4, 8), edet::Error);
    CHECK_THROWS_AS(edet::kernels::pack_pointwise_weights_bf16(w.data(), 0, 8), edet::Error);
    CHECK_THROWS_AS(edet::kernels::pack_pointwise_weights_bf16(w.data(), 4, -1), edet::Error);
    const auto packed = edet::kernels::pack_pointwise_weights_bf16(w.data(), 4, 8);
    PointwiseConvBf16Args a;
    a.input = x.data();
    a.rows = 8;
    a.weights = &packed;
    a.output = y.data();
    a.precision = Precision::bf16_emulated;
    CHECK_NOTHROW(edet::kernels::pointwise_conv_bf16(a));
    PointwiseConvBf16Args bad = a;
    bad.precision = Precision::fp32;
    CHECK_THROWS_AS(edet::kernels::pointwise_conv_bf16(bad), edet::Error);
    bad = a;
    bad.weights = nullptr;
    CHECK_THROWS_AS(edet::kernels::pointwise_conv_bf16(bad), edet::Error);
    bad = a;
    bad.output = x.data() + 4;  // overlaps the input
    CHECK_THROWS_AS(edet::kernels::pointwise_conv_bf16(bad), edet::Error);
    bad = a;
    bad.input_stride = 3;  // < cin
    CHECK_THROWS_AS(edet::kernels::pointwise_conv_bf16(bad), edet::Error);
    bad = a;
    std::vector<float> maxima(8);
    bad.panel_max = maxima.data();  // without panel_max_columns
    CHECK_THROWS_AS(edet::kernels::pointwise_conv_bf16(bad), edet::Error);
    bad = a;
    bad.precision = Precision::bf16;
    if (edet::cpu_has_avx512_bf16()) CHECK_NOTHROW(edet::kernels::pointwise_conv_bf16(bad));
    else CHECK_THROWS_AS(edet::kernels::pointwise_conv_bf16(bad), edet::Error);
}
