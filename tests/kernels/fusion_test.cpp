// Tests for edet/kernels/fusion.hpp: hand-worked fusions, the fast kernel == reference
// (bit for bit) over random sizes, range splits, the per-input factors, argument checks.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "edet/kernels/fusion.hpp"
#include "edet/tensor/tensor.hpp"
#include "test_util.hpp"

using edet::FusionRule;
using edet::Shape;
using edet::Tensor;
using edet::TensorView;
namespace k = edet::kernels;

namespace {

Tensor<float> filled(Shape s, const std::vector<float>& values) {
    REQUIRE(values.size() == s.numel());
    return Tensor<float>(s, values.data());
}

std::vector<float> to_vector(const Tensor<float>& t) { return std::vector<float>(t.data(), t.data() + t.numel()); }

bool same_bits(const float* a, const float* b, std::size_t n) { return std::memcmp(a, b, n * sizeof(float)) == 0; }

// The kernel on whole tensors of one shape (raw edge weights; none for sum).
Tensor<float> fuse_tensors(FusionRule rule, const std::vector<float>& raw, const std::vector<const Tensor<float>*>& inputs) {
    const float* pointers[k::kMaxFusionInputs] = {};
    for (std::size_t i = 0; i < inputs.size(); ++i) pointers[i] = inputs[i]->data();
    Tensor<float> out(inputs[0]->shape());
    k::FuseArgs a;
    a.inputs = pointers;
    a.count = static_cast<int>(inputs.size());
    a.weights = raw.empty() ? nullptr : raw.data();
    a.rule = rule;
    a.output = out.data();
    a.elements = out.numel();
    k::fuse(a);
    return out;
}

// The factor each input is scaled by under a rule (what the learned edge weights mean).
std::vector<float> fusion_factors_of(FusionRule rule, const std::vector<float>& raw) {
    k::FuseArgs a;
    a.count = static_cast<int>(raw.size());
    a.weights = raw.data();
    a.rule = rule;
    const k::FusionFactors f = k::fusion_factors(a);
    std::vector<float> out;
    for (std::size_t i = 0; i < raw.size(); ++i) out.push_back(f.weight[i] / f.divisor);
    return out;
}

}  // namespace

TEST_CASE("fusion: two-input fast normalized, worked by hand") {
    // w = (1, 3): relu keeps both; d = (1 + 3) + 1e-4 = 4.0001.
    // x0 = 2, x1 = 6: out = 2*1/4.0001 + 6*3/4.0001 = 20/4.0001 = 4.99987500312...
    // x0 = -1, x1 = 1: out = (-1 + 3)/4.0001 = 0.49998750031...
    const Shape s{1, 1, 2, 1};
    const Tensor<float> a = filled(s, {2, -1}), b = filled(s, {6, 1});
    const Tensor<float> out = fuse_tensors(FusionRule::fast_normalized, {1.0f, 3.0f}, {&a, &b});
    CHECK(out.data()[0] == doctest::Approx(4.999875003124922).epsilon(1e-7));
    CHECK(out.data()[1] == doctest::Approx(0.49998750031249).epsilon(1e-7));
    // The same in float32, step by step as the reference computes it: bit-identical.
    const float d = (1.0f + 3.0f) + 1e-4f;
    CHECK(out.data()[0] == (2.0f * 1.0f) / d + (6.0f * 3.0f) / d);
    CHECK(out.data()[1] == (-1.0f * 1.0f) / d + (1.0f * 3.0f) / d);
    const auto f = fusion_factors_of(FusionRule::fast_normalized, {1.0f, 3.0f});  // 1/4.0001 and 3/4.0001
    CHECK(f[0] == doctest::Approx(0.24999375015624).epsilon(1e-7));
    CHECK(f[1] == doctest::Approx(0.74998125046874).epsilon(1e-7));
}

TEST_CASE("fusion: three-input fast normalized; a negative weight contributes nothing") {
    // w = (2, -1, 0.5) -> relu (2, 0, 0.5); d = (2 + 0) + 0.5 + 1e-4 = 2.5001.
    // x = (1, 100, -4): t = (2/2.5001, 0, -2/2.5001) -> out = 0 exactly (x1 = 100 ignored).
    // x = (3, 7, 2):    t = (6/2.5001, 0, 1/2.5001)  -> out = 7/2.5001 = 2.79988800447982...
    const Shape s{1, 2, 1, 1};
    const Tensor<float> x0 = filled(s, {1, 3}), x1 = filled(s, {100, 7}), x2 = filled(s, {-4, 2});
    const Tensor<float> out = fuse_tensors(FusionRule::fast_normalized, {2.0f, -1.0f, 0.5f}, {&x0, &x1, &x2});
    CHECK(out.data()[0] == 0.0f);
    CHECK(out.data()[1] == doctest::Approx(2.79988800447982).epsilon(1e-7));
    const float d = ((2.0f + 0.0f) + 0.5f) + 1e-4f;
    CHECK(out.data()[1] == ((3.0f * 2.0f) / d + (7.0f * 0.0f) / d) + (2.0f * 0.5f) / d);
    CHECK(fusion_factors_of(FusionRule::fast_normalized, {2.0f, -1.0f, 0.5f})[1] == 0.0f);
}

TEST_CASE("fusion: all weights <= 0 give the epsilon-guarded 0, not NaN") {
    const Shape s{1, 1, 3, 1};
    const Tensor<float> a = filled(s, {5, -7, 1e30f}), b = filled(s, {-3, 2, -1e30f});
    for (const std::vector<float>& w : {std::vector<float>{0.0f, 0.0f}, std::vector<float>{-1.0f, -0.5f}}) {
        const Tensor<float> out = fuse_tensors(FusionRule::fast_normalized, w, {&a, &b});
        for (std::size_t i = 0; i < out.numel(); ++i) {
            CAPTURE(i);
            CHECK(out.data()[i] == 0.0f);
        }
    }
}

TEST_CASE("fusion: softmax weights sum to one, worked by hand") {
    // w = (0, ln 3): softmax = (1/4, 3/4); x = (4, 8) -> 1 + 6 = 7.
    const Shape s{1, 1, 1, 1};
    const Tensor<float> a = filled(s, {4}), b = filled(s, {8});
    const std::vector<float> w2{0.0f, std::log(3.0f)};
    CHECK(fusion_factors_of(FusionRule::softmax, w2)[0] == doctest::Approx(0.25).epsilon(1e-6));
    CHECK(fusion_factors_of(FusionRule::softmax, w2)[1] == doctest::Approx(0.75).epsilon(1e-6));
    CHECK(fuse_tensors(FusionRule::softmax, w2, {&a, &b}).data()[0] == doctest::Approx(7.0).epsilon(1e-6));
    edet_test::Random rng(3);
    for (int t = 0; t < 100; ++t) {
        const std::vector<float> w = {rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(-50, 50)};
        const auto f = fusion_factors_of(FusionRule::softmax, w);
        CAPTURE(w[0]);
        CAPTURE(w[1]);
        CAPTURE(w[2]);
        for (float v : f) REQUIRE((v >= 0.0f && v <= 1.0f));
        REQUIRE(static_cast<double>(f[0]) + f[1] + f[2] == doctest::Approx(1.0).epsilon(1e-6));
    }
    const auto big = fusion_factors_of(FusionRule::softmax, {1000.0f, 0.0f});  // no overflow
    CHECK(big[0] == 1.0f);
    CHECK(big[1] == 0.0f);
    const auto fn = fusion_factors_of(FusionRule::fast_normalized, {1.0f, 1.0f, 2.0f});
    CHECK(static_cast<double>(fn[0]) + fn[1] + fn[2] == doctest::Approx(4.0 / 4.0001).epsilon(1e-7));
}

TEST_CASE("fusion: sum rule, worked by hand") {
    // (1 + 2) + 3.5 = 6.5; (-1 + 0.25) + 0.75 = 0.
    const Shape s{1, 1, 1, 2};
    const Tensor<float> a = filled(s, {1, -1}), b = filled(s, {2, 0.25f}), c = filled(s, {3.5f, 0.75f});
    const Tensor<float> out = fuse_tensors(FusionRule::sum, {}, {&a, &b, &c});
    CHECK(to_vector(out) == std::vector<float>{6.5f, 0.0f});
    CHECK(fusion_factors_of(FusionRule::sum, {0.3f, -2.0f}) == std::vector<float>{1.0f, 1.0f});  // weights ignored
}

TEST_CASE("fuse: fast == reference bit for bit over random sizes, counts, rules; range splits; aliasing") {
    edet_test::Random rng(1234);
    const FusionRule rules[] = {FusionRule::sum, FusionRule::softmax, FusionRule::fast_normalized};
    const int W = static_cast<int>(k::kFloatLanes);
    for (int t = 0; t < 300; ++t) {
        const FusionRule rule = rules[t % 3];
        const int count = t % 7 == 0 ? rng.integer(1, 6) : rng.integer(2, 3);
        const std::size_t elements = static_cast<std::size_t>(
            t % 4 == 0 ? rng.integer(1, 3 * W + 2) : rng.integer(1, 5000));
        std::vector<std::vector<float>> data;
        std::vector<const float*> ptrs;
        for (int i = 0; i < count; ++i) data.push_back(rng.vector(elements, -10.0f, 10.0f));
        for (auto& d : data) ptrs.push_back(d.data());
        std::vector<float> w = rng.vector(static_cast<std::size_t>(count), -1.0f, 2.0f);
        if (t % 11 == 0) std::fill(w.begin(), w.end(), 0.0f);
        k::FuseArgs a;
        a.inputs = ptrs.data();
        a.count = count;
        a.weights = w.data();
        a.rule = rule;
        a.elements = elements;
        std::vector<float> want(elements, 1.0f), got(elements, 2.0f);
        a.output = want.data();
        k::ref::fuse(a);
        a.output = got.data();
        k::fuse(a);
        const auto e = edet_test::compare(got.data(), want.data(), elements);
        INFO("rule ", std::string(edet::to_string(rule)), " count ", count, " elements ", elements, " max abs ", e.max_abs, " rel ",
             e.rel(), " at ", e.worst);
        REQUIRE(same_bits(got.data(), want.data(), elements));
        // Three element ranges give the same bits.
        const std::size_t c1 = static_cast<std::size_t>(rng.integer(0, static_cast<int>(elements)));
        const std::size_t c2 = static_cast<std::size_t>(rng.integer(static_cast<int>(c1), static_cast<int>(elements)));
        std::vector<float> split(elements, 3.0f);
        a.output = split.data();
        for (auto [b, e2] : {std::pair<std::size_t, std::size_t>{0, c1}, {c1, c2}, {c2, elements}}) {
            a.begin = b;
            a.end = e2;
            k::fuse(a);
        }
        INFO("split at ", c1, ", ", c2);
        REQUIRE(same_bits(split.data(), want.data(), elements));
        // Output aliasing input 0.
        a.begin = 0;
        a.end = static_cast<std::size_t>(-1);
        a.output = data[0].data();
        k::fuse(a);
        REQUIRE(same_bits(data[0].data(), want.data(), elements));
    }
}

TEST_CASE("fuse: misuse throws edet::Error") {
    std::vector<float> x(8, 1.0f), y(8, 2.0f), out(8);
    const float* ptrs[2] = {x.data(), y.data()};
    const float w[2] = {1.0f, 1.0f};
    k::FuseArgs ok;
    ok.inputs = ptrs;
    ok.count = 2;
    ok.weights = w;
    ok.rule = FusionRule::fast_normalized;
    ok.output = out.data();
    ok.elements = 8;
    k::fuse(ok);
    auto b = ok;
    b.inputs = nullptr;
    CHECK_THROWS_AS(k::fuse(b), edet::Error);
    b = ok;
    b.output = nullptr;
    CHECK_THROWS_AS(k::fuse(b), edet::Error);
    b = ok;
    b.weights = nullptr;
    CHECK_THROWS_AS(k::fuse(b), edet::Error);
    b = ok;
    b.count = 0;
    CHECK_THROWS_AS(k::fuse(b), edet::Error);
    b = ok;
    b.count = 17;
    CHECK_THROWS_AS(k::fuse(b), edet::Error);
    const float* with_null[2] = {x.data(), nullptr};
    b = ok;
    b.inputs = with_null;
    CHECK_THROWS_AS(k::fuse(b), edet::Error);
    const float bad_w[2] = {1.0f, std::numeric_limits<float>::quiet_NaN()};
    b = ok;
    b.weights = bad_w;
    CHECK_THROWS_AS(k::fuse(b), edet::Error);
    b = ok;
    b.begin = 5;
    b.end = 4;
    CHECK_THROWS_AS(k::fuse(b), edet::Error);
    b = ok;
    b.begin = 9;
    CHECK_THROWS_AS(k::fuse(b), edet::Error);
    b = ok;
    b.rule = FusionRule::sum;
    b.weights = nullptr;
    k::fuse(b);  // sum needs no weights
    CHECK(out == std::vector<float>(8, 3.0f));
}
