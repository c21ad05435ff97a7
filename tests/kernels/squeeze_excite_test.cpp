// Tests for edet/kernels/squeeze_excite.hpp: the fast gate against the reference and an
// independent double-precision computation, scale_channels, range splits, misuse.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "edet/kernels/squeeze_excite.hpp"
#include "test_util.hpp"

using edet::Activation;
using edet::Shape;
namespace k = edet::kernels;

namespace {

struct SeCase {
    Shape shape;
    int rd = 1;
    Activation act = Activation::swish;
    std::vector<float> x, wr, br, we, be;
};

SeCase make_case(edet_test::Random& rng, Shape s, int rd, Activation act) {
    SeCase c;
    c.shape = s;
    c.rd = rd;
    c.act = act;
    c.x = rng.vector(s.numel(), -2.0f, 3.0f);
    const float sr = 2.0f / std::sqrt(static_cast<float>(s.c)), se = 2.0f / std::sqrt(static_cast<float>(rd));
    c.wr = rng.vector(static_cast<std::size_t>(rd) * s.c, -sr, sr);
    c.br = rng.vector(static_cast<std::size_t>(rd), -0.5f, 0.5f);
    c.we = rng.vector(static_cast<std::size_t>(s.c) * rd, -se, se);
    c.be = rng.vector(static_cast<std::size_t>(s.c), -0.5f, 0.5f);
    return c;
}

k::SqueezeExciteArgs args(const SeCase& c, std::vector<float>& gate, std::vector<float>& scratch) {
    gate.assign(static_cast<std::size_t>(c.shape.n) * c.shape.c, -1.0f);
    scratch.assign(static_cast<std::size_t>(c.shape.c + c.rd), 0.0f);
    k::SqueezeExciteArgs a;
    a.input = c.x.data();
    a.shape = c.shape;
    a.reduced = c.rd;
    a.reduce_weights = c.wr.data();
    a.reduce_bias = c.br.data();
    a.expand_weights = c.we.data();
    a.expand_bias = c.be.data();
    a.activation = c.act;
    a.gate = gate.data();
    a.scratch = scratch.data();
    return a;
}

// The gate from the formula, in double, sharing no code with the kernels.
std::vector<double> gate_in_double(const SeCase& c) {
    const Shape& s = c.shape;
    const std::size_t hw = static_cast<std::size_t>(s.h) * s.w, C = static_cast<std::size_t>(s.c);
    std::vector<double> out;
    for (int n = 0; n < s.n; ++n) {
        std::vector<double> mean(C, 0.0), hidden(static_cast<std::size_t>(c.rd));
        for (std::size_t p = 0; p < hw; ++p)
            for (std::size_t ch = 0; ch < C; ++ch) mean[ch] += c.x[(static_cast<std::size_t>(n) * hw + p) * C + ch];
        for (auto& m : mean) m /= static_cast<double>(hw);
        for (std::size_t j = 0; j < hidden.size(); ++j) {
            double z = c.br[j];
            for (std::size_t ch = 0; ch < C; ++ch) z += static_cast<double>(c.wr[j * C + ch]) * mean[ch];
            hidden[j] = c.act == Activation::swish ? z / (1.0 + std::exp(-z)) : (c.act == Activation::relu ? std::max(z, 0.0) : z);
        }
        for (std::size_t ch = 0; ch < C; ++ch) {
            double z = c.be[ch];
            for (std::size_t j = 0; j < hidden.size(); ++j) z += static_cast<double>(c.we[ch * hidden.size() + j]) * hidden[j];
            out.push_back(1.0 / (1.0 + std::exp(-z)));
        }
    }
    return out;
}

}  // namespace

TEST_CASE("squeeze_excite: hand-worked gate, c = 2, rd = 1, no activation") {
    // x: 1x1x2x2 pixels (1, 4) and (3, 0) -> mean (2, 2). reduce w = (0.5, -0.25), b = 0.5:
    // z = 0.5 + 1 - 0.5 = 1. expand w = (2, -1), b = (-2, 1): (0, 0) -> sigmoid(0) = 0.5 twice.
    SeCase c;
    c.shape = Shape{1, 1, 2, 2};
    c.rd = 1;
    c.act = Activation::none;
    c.x = {1, 4, 3, 0};
    c.wr = {0.5f, -0.25f};
    c.br = {0.5f};
    c.we = {2.0f, -1.0f};
    c.be = {-2.0f, 1.0f};
    std::vector<float> gate, scratch;
    k::squeeze_excite_gate(args(c, gate, scratch));
    CHECK(gate == std::vector<float>{0.5f, 0.5f});
}

TEST_CASE("squeeze_excite: fast gate == reference (tolerance) and == formula in double, random shapes") {
    const int W = static_cast<int>(k::kFloatLanes);
    edet_test::Random rng(404);
    const std::vector<int> channels = {1, 3, W - 1, W, W + 1, 2 * W + 3, 32, 96, 144, 240, 1152};
    double worst_ref = 0.0, worst_exact = 0.0;
    for (int t = 0; t < 120; ++t) {
        const int c = rng.pick(channels);
        const int rd = t % 3 == 0 ? std::max(1, c / 4) : rng.integer(1, std::max(1, std::min(c, 48)));
        const Activation act = t % 5 == 0 ? Activation::relu : Activation::swish;
        const SeCase sc = make_case(rng, Shape{rng.integer(1, 2), rng.integer(1, 9), rng.integer(1, 9), c}, rd, act);
        std::vector<float> want, got, s1, s2;
        k::ref::squeeze_excite_gate(args(sc, want, s1));
        k::squeeze_excite_gate(args(sc, got, s2));
        const auto e = edet_test::compare(got.data(), want.data(), got.size());
        const std::vector<double> exact = gate_in_double(sc);
        double e_exact = 0.0;
        for (std::size_t i = 0; i < got.size(); ++i) e_exact = std::max(e_exact, std::fabs(got[i] - exact[i]));
        INFO("shape ", sc.shape.str(), " rd ", rd, " act ", edet::to_string(act), " vs ref: max abs ", e.max_abs,
             " rel ", e.rel(), " at ", e.worst, "; vs double: max abs ", e_exact);
        REQUIRE(e.finite);
        REQUIRE(e.max_abs <= 1e-6);
        REQUIRE(e_exact <= 1e-6);
        worst_ref = std::max(worst_ref, e.max_abs);
        worst_exact = std::max(worst_exact, e_exact);
    }
    MESSAGE("squeeze_excite gate: max abs error vs ref ", worst_ref, ", vs double ", worst_exact);
}

TEST_CASE("scale_channels: fast == reference, pixel ranges across image boundaries") {
    const int W = static_cast<int>(k::kFloatLanes);
    edet_test::Random rng(8);
    for (int t = 0; t < 120; ++t) {
        const Shape s{rng.integer(1, 3), rng.integer(1, 7), rng.integer(1, 7), rng.pick(std::vector<int>{1, 3, W - 1, W, W + 1, 72})};
        const std::vector<float> x = rng.vector(s.numel());
        const std::vector<float> gate = rng.vector(static_cast<std::size_t>(s.n) * s.c, 0.0f, 1.0f);
        const std::size_t pixels = s.pixels();
        std::vector<float> want = x, got = x;
        k::ref::scale_channels(want.data(), s, gate.data(), 0, pixels);
        const std::size_t cut1 = static_cast<std::size_t>(rng.integer(0, static_cast<int>(pixels)));
        const std::size_t cut2 = static_cast<std::size_t>(rng.integer(static_cast<int>(cut1), static_cast<int>(pixels)));
        k::scale_channels(got.data(), s, gate.data(), 0, cut1);
        k::scale_channels(got.data(), s, gate.data(), cut1, cut2);
        k::scale_channels(got.data(), s, gate.data(), cut2, pixels);
        const auto e = edet_test::compare(got.data(), want.data(), got.size());
        INFO("shape ", s.str(), " split ", cut1, ", ", cut2, " max abs ", e.max_abs, " at ", e.worst);
        REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
        // Independent: element (n, p, ch) is x * gate[n][ch].
        const std::size_t hw = static_cast<std::size_t>(s.h) * s.w, C = static_cast<std::size_t>(s.c);
        const std::size_t i = static_cast<std::size_t>(rng.integer(0, static_cast<int>(x.size()) - 1));
        REQUIRE(got[i] == x[i] * gate[(i / C / hw) * C + i % C]);
    }
}

TEST_CASE("squeeze_excite: misuse throws edet::Error") {
    edet_test::Random rng(1);
    const SeCase c = make_case(rng, Shape{1, 3, 3, 8}, 2, Activation::swish);
    std::vector<float> gate, scratch;
    const auto ok = args(c, gate, scratch);
    k::squeeze_excite_gate(ok);
    auto b = ok;
    b.input = nullptr;
    CHECK_THROWS_AS(k::squeeze_excite_gate(b), edet::Error);
    b = ok;
    b.scratch = nullptr;
    CHECK_THROWS_AS(k::squeeze_excite_gate(b), edet::Error);
    b = ok;
    b.expand_bias = nullptr;
    CHECK_THROWS_AS(k::squeeze_excite_gate(b), edet::Error);
    b = ok;
    b.reduced = 0;
    CHECK_THROWS_AS(k::squeeze_excite_gate(b), edet::Error);
    b = ok;
    b.shape.c = 0;
    CHECK_THROWS_AS(k::squeeze_excite_gate(b), edet::Error);
    std::vector<float> x(72);
    const Shape s{1, 3, 3, 8};
    CHECK_THROWS_AS(k::scale_channels(nullptr, s, gate.data(), 0, 9), edet::Error);
    CHECK_THROWS_AS(k::scale_channels(x.data(), s, nullptr, 0, 9), edet::Error);
    CHECK_THROWS_AS(k::scale_channels(x.data(), s, gate.data(), 0, 10), edet::Error);
    CHECK_THROWS_AS(k::scale_channels(x.data(), s, gate.data(), 5, 4), edet::Error);
    CHECK_THROWS_AS(k::scale_channels(x.data(), Shape{1, 3, 0, 8}, gate.data(), 0, 0), edet::Error);
    k::scale_channels(x.data(), s, gate.data(), 4, 4);  // empty range is fine
}
