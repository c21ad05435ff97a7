// Tests for edet/kernels/activation.hpp: exp accuracy, limits, vector vs scalar reference.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "edet/kernels/activation.hpp"
#include "test_util.hpp"

using edet::Activation;
namespace k = edet::kernels;

namespace {

std::int64_t float_bits(float f) {
    std::int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i;
}

// Distance in units in the last place between two finite floats of the same sign.
std::int64_t ulp_distance(float a, float b) { return std::llabs(float_bits(a) - float_bits(b)); }

// One lane at a time through the vector helper.
float exp_lane(float x) {
    alignas(64) float v[k::kFloatLanes];
    for (auto& e : v) e = x;
    k::exp_batch(k::FloatBatch::load_aligned(v)).store_aligned(v);
    return v[0];
}

float activate_lane(float x, Activation a) {
    float v = x;
    k::apply_activation(&v, 1, a);
    return v;
}

}  // namespace

TEST_CASE("activation: exp_batch is within 1 ulp of the correctly rounded e^x on [-88, 88]") {
    // Dense sweep, every 2^-12, vectorised over contiguous points.
    const std::size_t count = 176 * 4096 + 1;
    std::vector<float> x(count), got(count);
    for (std::size_t i = 0; i < count; ++i) x[i] = -88.0f + static_cast<float>(i) / 4096.0f;
    for (std::size_t i = 0; i + k::kFloatLanes <= count; i += k::kFloatLanes)
        k::exp_batch(k::FloatBatch::load_unaligned(x.data() + i)).store_unaligned(got.data() + i);
    for (std::size_t i = count - count % k::kFloatLanes; i < count; ++i) got[i] = exp_lane(x[i]);
    std::int64_t max_ulp = 0, max_ulp_std = 0;
    double max_rel = 0.0;
    float worst = 0.0f;
    for (std::size_t i = 0; i < count; ++i) {
        const double exact = std::exp(static_cast<double>(x[i]));
        const float rounded = static_cast<float>(exact);
        const std::int64_t u = ulp_distance(got[i], rounded);
        if (u > max_ulp) {
            max_ulp = u;
            worst = x[i];
        }
        max_ulp_std = std::max(max_ulp_std, ulp_distance(got[i], std::exp(x[i])));
        if (rounded >= std::numeric_limits<float>::min())  // relative error on normal results
            max_rel = std::max(max_rel, std::fabs(got[i] - exact) / exact);
    }
    MESSAGE("exp_batch over [-88, 88] step 2^-12 (", k::kFloatLanes, " lanes): max ", max_ulp,
            " ulp vs correctly rounded (at x = ", worst, "), max ", max_ulp_std,
            " ulp vs std::exp, max relative error ", max_rel);
    CHECK(max_ulp <= 1);
    CHECK(max_ulp_std <= 2);
    CHECK(max_rel < 1.2e-7);
}

TEST_CASE("activation: exp_fast_batch (sigmoid, swish) is within 2 ulp of e^x on [-86.6, 88.72]") {
    const std::size_t count = 17528 * 8 + 3;  // -86.6 .. ~88.7 every 1/800, then the top end
    std::vector<float> x(count), got(count);
    for (std::size_t i = 0; i < count; ++i) x[i] = std::min(-86.6f + static_cast<float>(i) / 800.0f, 88.7228f);
    alignas(64) float v[k::kFloatLanes];
    for (std::size_t i = 0; i < count; ++i) {
        for (auto& e : v) e = x[i];
        k::exp_fast_batch(k::FloatBatch::load_aligned(v)).store_aligned(v);
        got[i] = v[0];
    }
    std::int64_t max_ulp = 0;
    float worst = 0.0f;
    for (std::size_t i = 0; i < count; ++i) {
        const float rounded = static_cast<float>(std::exp(static_cast<double>(x[i])));
        REQUIRE(std::isfinite(got[i]));
        const std::int64_t u = ulp_distance(got[i], rounded);
        if (u > max_ulp) {
            max_ulp = u;
            worst = x[i];
        }
    }
    MESSAGE("exp_fast_batch over [-86.6, 88.72]: max ", max_ulp, " ulp vs correctly rounded (at x = ", worst, ")");
    CHECK(max_ulp <= 2);
    const float inf = std::numeric_limits<float>::infinity();
    for (auto& e : v) e = 88.73f;
    k::exp_fast_batch(k::FloatBatch::load_aligned(v)).store_aligned(v);
    CHECK(v[0] == inf);
    for (auto& e : v) e = std::numeric_limits<float>::quiet_NaN();
    k::exp_fast_batch(k::FloatBatch::load_aligned(v)).store_aligned(v);
    CHECK(std::isnan(v[0]));
    for (auto& e : v) e = -1000.0f;  // the documented floor, e^-86.6
    k::exp_fast_batch(k::FloatBatch::load_aligned(v)).store_aligned(v);
    CHECK(v[0] > 0.0f);
    CHECK(v[0] < 3e-38f);
}

TEST_CASE("activation: limits and special values") {
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    CHECK(exp_lane(0.0f) == 1.0f);
    CHECK(exp_lane(inf) == inf);
    CHECK(exp_lane(-inf) == 0.0f);
    CHECK(exp_lane(89.0f) == inf);
    CHECK(exp_lane(-104.0f) == 0.0f);
    CHECK(exp_lane(-1000.0f) == 0.0f);
    CHECK(exp_lane(1000.0f) == inf);
    CHECK(std::isnan(exp_lane(nan)));
    CHECK(exp_lane(88.72f) == doctest::Approx(std::exp(88.72f)).epsilon(2e-7));
    CHECK(exp_lane(-100.0f) == std::exp(-100.0f));  // subnormal: 2^-144.27 rounds the same

    const float swish_m100 = activate_lane(-100.0f, Activation::swish);
    CHECK(swish_m100 == 0.0f);
    CHECK(std::signbit(swish_m100));
    CHECK(activate_lane(100.0f, Activation::sigmoid) == 1.0f);
    CHECK(activate_lane(100.0f, Activation::swish) == 100.0f);
    CHECK(activate_lane(-100.0f, Activation::sigmoid) == doctest::Approx(std::exp(-100.0f)));
    CHECK(activate_lane(inf, Activation::sigmoid) == 1.0f);
    CHECK(activate_lane(-inf, Activation::sigmoid) == 0.0f);
    CHECK(activate_lane(inf, Activation::swish) == inf);
    const float swish_minf = activate_lane(-inf, Activation::swish);
    CHECK(swish_minf == 0.0f);
    CHECK(std::signbit(swish_minf));
    CHECK(activate_lane(0.0f, Activation::sigmoid) == 0.5f);
    CHECK(activate_lane(0.0f, Activation::swish) == 0.0f);
    for (Activation a : {Activation::none, Activation::relu, Activation::relu6, Activation::swish, Activation::sigmoid}) {
        CAPTURE(std::string(edet::to_string(a)));
        CHECK(std::isnan(activate_lane(nan, a)));
    }
    CHECK(activate_lane(-inf, Activation::relu) == 0.0f);
    CHECK(activate_lane(inf, Activation::relu6) == 6.0f);
    CHECK(std::signbit(activate_lane(-0.0f, Activation::relu)));  // std::max(-0, 0) keeps -0
}

TEST_CASE("activation: apply_activation matches the scalar reference for every length and offset") {
    edet_test::Random rng(2024);
    const Activation acts[] = {Activation::none, Activation::relu, Activation::relu6, Activation::swish,
                               Activation::sigmoid};
    std::size_t cases = 0;
    for (Activation a : acts)
        for (std::size_t count = 0; count <= 3 * k::kFloatLanes + 3; ++count)
            for (std::size_t offset = 0; offset < 3; ++offset) {
                const float range = (count % 3 == 0) ? 100.0f : 12.0f;
                std::vector<float> buf = rng.vector(count + offset + 1, -range, range);
                std::vector<float> want = buf;
                k::ref::apply_activation(want.data() + offset, count, a);
                std::vector<float> got = buf;
                k::apply_activation(got.data() + offset, count, a);
                CAPTURE(std::string(edet::to_string(a)));
                CAPTURE(count);
                CAPTURE(offset);
                // Untouched outside [offset, offset + count).
                for (std::size_t i = 0; i < offset; ++i) REQUIRE(got[i] == buf[i]);
                REQUIRE(got.back() == buf.back());
                for (std::size_t i = offset; i < offset + count; ++i) {
                    const float w = want[i], g = got[i];
                    CAPTURE(buf[i]);
                    CAPTURE(w);
                    CAPTURE(g);
                    if (a == Activation::none || a == Activation::relu || a == Activation::relu6) {
                        REQUIRE(std::memcmp(&w, &g, sizeof w) == 0);  // bit-identical
                    } else {
                        REQUIRE(std::fabs(g - w) <= 3e-7f * std::fabs(w) + 1e-38f);
                    }
                }
                ++cases;
            }
    CHECK(cases > 100);
}

TEST_CASE("activation: one_plus_exp_neg_poly is 1 + exp_fast_finite(-x) bit for bit on [-88.72, 87.3]") {
    // swish and sigmoid use the shorter form off AVX-512; its comment promises the same roundings.
    // Every 2^-10 over the range, plus the ends and values around the clamp.
    std::vector<float> x;
    for (float v = -88.72f; v <= 87.3f; v += 1.0f / 1024.0f) x.push_back(v);
    for (float v : {-88.7228f, -88.0f, -0.0f, 0.0f, 1e-30f, -1e-30f, 87.29f, 87.3f, 87.31f, 88.0f, 1e10f,
                    std::numeric_limits<float>::infinity()})
        x.push_back(v);
    std::size_t mismatches = 0;
    float first_bad = 0.0f;
    alignas(64) float v[k::kFloatLanes];
    for (std::size_t i = 0; i < x.size(); i += k::kFloatLanes) {
        for (std::size_t j = 0; j < k::kFloatLanes; ++j) v[j] = x[std::min(i + j, x.size() - 1)];
        const k::FloatBatch in = k::FloatBatch::load_aligned(v);
        alignas(64) float short_form[k::kFloatLanes], long_form[k::kFloatLanes];
        k::detail::one_plus_exp_neg_poly(in).store_aligned(short_form);
        (k::FloatBatch(1.0f) + k::detail::exp_fast_finite(-in)).store_aligned(long_form);
        for (std::size_t j = 0; j < k::kFloatLanes; ++j)
            if (std::memcmp(&short_form[j], &long_form[j], sizeof(float)) != 0 && mismatches++ == 0) first_bad = v[j];
    }
    INFO("first mismatch at x = ", first_bad);
    CHECK(mismatches == 0);
}

TEST_CASE("activation: one_plus_exp_neg is within 2 ulp of the correctly rounded 1 + e^-x on [-88.72, 87.3]") {
    // Every 2^-12 (704k points): the AVX-512 table path and the polynomial elsewhere.
    std::vector<float> x;
    for (double v = -88.72; v <= 87.3; v += 1.0 / 4096) x.push_back(static_cast<float>(v));
    for (float v : {-88.7228f, -0.0f, 0.0f, 1e-30f, -1e-30f, 86.59f, 86.6f, 86.61f, 87.3f}) x.push_back(v);
    double max_ulp = 0.0;
    float worst = 0.0f;
    alignas(64) float v[k::kFloatLanes], got[k::kFloatLanes];
    for (std::size_t i = 0; i < x.size(); i += k::kFloatLanes) {
        for (std::size_t j = 0; j < k::kFloatLanes; ++j) v[j] = x[std::min(i + j, x.size() - 1)];
        k::detail::one_plus_exp_neg(k::FloatBatch::load_aligned(v)).store_aligned(got);
        for (std::size_t j = 0; j < k::kFloatLanes; ++j) {
            const double want = 1.0 + std::exp(-static_cast<double>(v[j]));
            const float rounded = static_cast<float>(want);
            REQUIRE(std::isfinite(got[j]));
            const double ulp = std::nextafter(rounded, std::numeric_limits<float>::infinity()) - static_cast<double>(rounded);
            const double e = std::fabs(got[j] - want) / ulp;
            if (e > max_ulp) max_ulp = e, worst = v[j];
        }
    }
    MESSAGE("one_plus_exp_neg (", k::kFloatLanes, " lanes): max ", max_ulp, " ulp at x = ", worst);
    CHECK(max_ulp <= 2.0);
}

#if defined(__AVX512F__)
TEST_CASE("activation: the AVX-512 table holds 2^(j/32) correctly rounded") {
    for (int j = 0; j < 32; ++j) {
        const float want = static_cast<float>(std::exp2(j / 32.0));
        std::uint32_t bits;
        std::memcpy(&bits, &want, sizeof bits);
        CHECK(k::detail::kExp2Fraction32[j] == bits);
    }
}
#endif

TEST_CASE("activation: swish and sigmoid error against the reference on a dense sweep") {
    const std::size_t count = 200 * 1024 + 5;
    std::vector<float> x(count);
    for (std::size_t i = 0; i < count; ++i) x[i] = -100.0f + static_cast<float>(i) / 1024.0f;
    for (Activation a : {Activation::swish, Activation::sigmoid}) {
        std::vector<float> want = x, got = x;
        k::ref::apply_activation(want.data(), count, a);
        k::apply_activation(got.data(), count, a);
        double max_rel = 0.0, max_abs = 0.0;
        for (std::size_t i = 0; i < count; ++i) {
            const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
            max_abs = std::max(max_abs, d);
            // Relative error on normal results; subnormal ones (x < -87.3) count as absolute.
            if (std::fabs(want[i]) >= std::numeric_limits<float>::min()) max_rel = std::max(max_rel, d / std::fabs(want[i]));
            else REQUIRE(d <= 1e-38);
        }
        MESSAGE(std::string(edet::to_string(a)), " on [-100, 100]: max relative ", max_rel, ", max absolute ", max_abs);
        CHECK(max_rel <= 3e-7);
        if (a == Activation::sigmoid) CHECK(max_abs <= 1.2e-7);
    }
}
