// Tests for edet/kernels/fusion.hpp: hand-worked fusions, the fast kernel == reference
// (bit for bit) over random sizes, range splits, the FusionNode / DynamicFusionNode API.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "edet/kernels/fusion.hpp"
#include "test_util.hpp"

using edet::DynamicFusionNode;
using edet::FastNormalizedFusion;
using edet::FusionNode;
using edet::FusionRule;
using edet::Shape;
using edet::SoftmaxFusion;
using edet::SumFusion;
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

}  // namespace

TEST_CASE("fusion: two-input fast normalized, worked by hand") {
    // w = (1, 3): relu keeps both; d = (1 + 3) + 1e-4 = 4.0001.
    // x0 = 2, x1 = 6: out = 2*1/4.0001 + 6*3/4.0001 = 20/4.0001 = 4.99987500312...
    // x0 = -1, x1 = 1: out = (-1 + 3)/4.0001 = 0.49998750031...
    const Shape s{1, 1, 2, 1};
    const Tensor<float> a = filled(s, {2, -1}), b = filled(s, {6, 1});
    const FusionNode<FastNormalizedFusion, 2> node(s, {1.0f, 3.0f});
    const Tensor<float> out = node({a.view(), b.view()});
    CHECK(out.data()[0] == doctest::Approx(4.999875003124922).epsilon(1e-7));
    CHECK(out.data()[1] == doctest::Approx(0.49998750031249).epsilon(1e-7));
    // The same in float32, step by step as DESIGN.md writes it: bit-identical.
    const float d = (1.0f + 3.0f) + 1e-4f;
    CHECK(out.data()[0] == (2.0f * 1.0f) / d + (6.0f * 3.0f) / d);
    CHECK(out.data()[1] == (-1.0f * 1.0f) / d + (1.0f * 3.0f) / d);
    const auto f = node.factors();  // 1/4.0001 and 3/4.0001
    CHECK(f[0] == doctest::Approx(0.24999375015624).epsilon(1e-7));
    CHECK(f[1] == doctest::Approx(0.74998125046874).epsilon(1e-7));
}

TEST_CASE("fusion: three-input fast normalized; a negative weight contributes nothing") {
    // w = (2, -1, 0.5) -> relu (2, 0, 0.5); d = (2 + 0) + 0.5 + 1e-4 = 2.5001.
    // x = (1, 100, -4): t = (2/2.5001, 0, -2/2.5001) -> out = 0 exactly (x1 = 100 ignored).
    // x = (3, 7, 2):    t = (6/2.5001, 0, 1/2.5001)  -> out = 7/2.5001 = 2.79988800447982...
    const Shape s{1, 2, 1, 1};
    const Tensor<float> x0 = filled(s, {1, 3}), x1 = filled(s, {100, 7}), x2 = filled(s, {-4, 2});
    const FusionNode<FastNormalizedFusion, 3> node(s, {2.0f, -1.0f, 0.5f});
    const Tensor<float> out = node({x0.view(), x1.view(), x2.view()});
    CHECK(out.data()[0] == 0.0f);
    CHECK(out.data()[1] == doctest::Approx(2.79988800447982).epsilon(1e-7));
    const float d = ((2.0f + 0.0f) + 0.5f) + 1e-4f;
    CHECK(out.data()[1] == ((3.0f * 2.0f) / d + (7.0f * 0.0f) / d) + (2.0f * 0.5f) / d);
    CHECK(node.factors()[1] == 0.0f);
}

TEST_CASE("fusion: all weights <= 0 give the epsilon-guarded 0, not NaN") {
    const Shape s{1, 1, 3, 1};
    const Tensor<float> a = filled(s, {5, -7, 1e30f}), b = filled(s, {-3, 2, -1e30f});
    for (const std::array<float, 2> w : {std::array<float, 2>{0.0f, 0.0f}, std::array<float, 2>{-1.0f, -0.5f}}) {
        const Tensor<float> out = FusionNode<FastNormalizedFusion, 2>(s, w)({a.view(), b.view()});
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
    const FusionNode<SoftmaxFusion, 2> node(s, {0.0f, std::log(3.0f)});
    CHECK(node.factors()[0] == doctest::Approx(0.25).epsilon(1e-6));
    CHECK(node.factors()[1] == doctest::Approx(0.75).epsilon(1e-6));
    CHECK(node({a.view(), b.view()}).data()[0] == doctest::Approx(7.0).epsilon(1e-6));
    edet_test::Random rng(3);
    for (int t = 0; t < 100; ++t) {
        const std::array<float, 3> w = {rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(-50, 50)};
        const auto f = SoftmaxFusion::factors(w);
        CAPTURE(w[0]);
        CAPTURE(w[1]);
        CAPTURE(w[2]);
        for (float v : f) REQUIRE((v >= 0.0f && v <= 1.0f));
        REQUIRE(static_cast<double>(f[0]) + f[1] + f[2] == doctest::Approx(1.0).epsilon(1e-6));
    }
    const auto big = SoftmaxFusion::factors(std::array<float, 2>{1000.0f, 0.0f});  // no overflow
    CHECK(big[0] == 1.0f);
    CHECK(big[1] == 0.0f);
    const auto fn = FastNormalizedFusion::factors(std::array<float, 3>{1.0f, 1.0f, 2.0f});
    CHECK(static_cast<double>(fn[0]) + fn[1] + fn[2] == doctest::Approx(4.0 / 4.0001).epsilon(1e-7));
}

TEST_CASE("fusion: sum rule, worked by hand") {
    // (1 + 2) + 3.5 = 6.5; (-1 + 0.25) + 0.75 = 0.
    const Shape s{1, 1, 1, 2};
    const Tensor<float> a = filled(s, {1, -1}), b = filled(s, {2, 0.25f}), c = filled(s, {3.5f, 0.75f});
    const Tensor<float> out = FusionNode<SumFusion, 3>(s)({a.view(), b.view(), c.view()});
    CHECK(to_vector(out) == std::vector<float>{6.5f, 0.0f});
    CHECK(FusionNode<SumFusion, 2>(s).factors() == std::array<float, 2>{1.0f, 1.0f});
    static_assert(!std::is_constructible_v<FusionNode<SumFusion, 2>, Shape, std::array<float, 2>>);
    static_assert(!std::is_constructible_v<FusionNode<FastNormalizedFusion, 2>, Shape>);
    static_assert(FusionNode<SoftmaxFusion, 3>::rule == FusionRule::softmax);
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

TEST_CASE("fusion nodes: forward ranges, DynamicFusionNode == FusionNode, shape checks") {
    edet_test::Random rng(55);
    const Shape s{2, 5, 7, 19};
    std::vector<Tensor<float>> in;
    for (int i = 0; i < 3; ++i) in.push_back(Tensor<float>(s, rng.vector(s.numel(), -4.0f, 4.0f).data()));
    const std::array<float, 3> w = {0.7f, -0.2f, 1.3f};

    const FusionNode<FastNormalizedFusion, 3> node(s, w);
    const Tensor<float> full = node({in[0].view(), in[1].view(), in[2].view()});
    // Against the reference kernel.
    const float* ptrs[3] = {in[0].data(), in[1].data(), in[2].data()};
    std::vector<float> want(s.numel());
    k::FuseArgs a;
    a.inputs = ptrs;
    a.count = 3;
    a.weights = w.data();
    a.rule = FusionRule::fast_normalized;
    a.output = want.data();
    a.elements = s.numel();
    k::ref::fuse(a);
    CHECK(same_bits(full.data(), want.data(), s.numel()));
    // Elements split over "threads".
    Tensor<float> parts(s);
    const std::size_t n = s.numel();
    for (std::size_t b = 0; b < n; b += 100) node.forward({in[0].view(), in[1].view(), in[2].view()}, parts.view(), b, std::min(n, b + 100));
    CHECK(same_bits(parts.data(), full.data(), n));

    for (FusionRule rule : {FusionRule::sum, FusionRule::softmax, FusionRule::fast_normalized}) {
        const std::string rule_name = edet::to_string(rule);
        CAPTURE(rule_name);
        const std::vector<float> dw = rule == FusionRule::sum ? std::vector<float>{} : std::vector<float>(w.begin(), w.end());
        const DynamicFusionNode dyn(rule, s, 3, dw);
        const Tensor<float> got = dyn({in[0].view(), in[1].view(), in[2].view()});
        Tensor<float> expect;
        if (rule == FusionRule::sum) expect = FusionNode<SumFusion, 3>(s)({in[0].view(), in[1].view(), in[2].view()});
        else if (rule == FusionRule::softmax) expect = FusionNode<SoftmaxFusion, 3>(s, w)({in[0].view(), in[1].view(), in[2].view()});
        else expect = node({in[0].view(), in[1].view(), in[2].view()});
        CHECK(same_bits(got.data(), expect.data(), n));
        const auto df = dyn.factors();
        CHECK(df.size() == 3);
    }
    // Two inputs, dynamic vs static.
    const DynamicFusionNode dyn2(FusionRule::fast_normalized, s, 2, {1.0f, 2.0f});
    const FusionNode<FastNormalizedFusion, 2> st2(s, {1.0f, 2.0f});
    const Tensor<float> d2 = dyn2({in[0].view(), in[1].view()}), s2 = st2({in[0].view(), in[1].view()});
    CHECK(same_bits(d2.data(), s2.data(), n));
    CHECK(dyn2.factors() == std::vector<float>{st2.factors()[0], st2.factors()[1]});

    // Mismatched and bad inputs throw edet::Error.
    const Tensor<float> other(Shape{2, 5, 7, 18});
    const Tensor<float> wide(Shape{2, 5, 7, 38});
    CHECK_THROWS_AS(node({in[0].view(), other.view(), in[2].view()}), edet::Error);
    CHECK_THROWS_AS(node({in[0].view(), in[1].view(), TensorView<const float>()}), edet::Error);
    CHECK_THROWS_AS(node({in[0].view(), in[1].view(), wide.view().channels(0, 19)}), edet::Error);  // not contiguous
    Tensor<float> small_out(Shape{1, 5, 7, 19});
    CHECK_THROWS_AS(node.forward({in[0].view(), in[1].view(), in[2].view()}, small_out.view()), edet::Error);
    CHECK_THROWS_AS(node.forward({in[0].view(), in[1].view(), in[2].view()}, parts.view(), 10, 5), edet::Error);
    CHECK_THROWS_AS(dyn2({in[0].view()}), edet::Error);
    CHECK_THROWS_AS(dyn2({in[0].view(), other.view()}), edet::Error);
    CHECK_THROWS_AS(DynamicFusionNode(FusionRule::sum, s, 2, {1.0f, 1.0f}), edet::Error);
    CHECK_THROWS_AS(DynamicFusionNode(FusionRule::softmax, s, 2, {1.0f}), edet::Error);
    CHECK_THROWS_AS(DynamicFusionNode(FusionRule::softmax, s, 0, {}), edet::Error);
    CHECK_THROWS_AS(DynamicFusionNode(FusionRule::sum, s, 17), edet::Error);
    CHECK_THROWS_AS(DynamicFusionNode(FusionRule::sum, Shape{1, 0, 1, 1}, 2), edet::Error);
    CHECK_THROWS_AS((FusionNode<FastNormalizedFusion, 2>(s, {1.0f, std::numeric_limits<float>::infinity()})), edet::Error);
    CHECK_THROWS_AS((FusionNode<SumFusion, 2>(Shape{0, 1, 1, 1})), edet::Error);
}
