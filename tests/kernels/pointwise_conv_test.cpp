// Tests for edet/kernels/pointwise_conv.hpp: the packed xsimd GEMM against
// ref::pointwise_conv (which reads the unpacked [cout][cin] weights) over boundary and
// random shapes, strides, bias, residual and every activation; split invariance; misuse.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "edet/kernels/pointwise_conv.hpp"
#include "test_util.hpp"

using edet::Activation;
using edet::kernels::PackedPointwiseWeights;
using edet::kernels::PointwiseConvArgs;
namespace pw = edet::kernels::pointwise_detail;

namespace {

const Activation kPointwiseActivations[] = {Activation::none, Activation::relu, Activation::relu6, Activation::swish,
                                   Activation::sigmoid};

struct Case {
    int rows = 1, cin = 1, cout = 1;
    std::size_t in_pad = 0, out_pad = 0, res_pad = 0;  // stride - channels
    bool bias = false, residual = false;
    Activation act = Activation::none;
};

// Runs one case through the kernel and the reference and checks every element against a
// forward error bound: both compute the same dot product in float32 in (possibly)
// different orders / with or without FMA, so |got - want| <= 2 * gamma_cin * S, where
// S = |b| + sum |x w| is computed in double (Higham, Accuracy and Stability, 3.1), plus the
// activation's own error (< 4 ulp of the result) and slack for the residual add.
double check_case(const Case& c, edet_test::Random& rng) {
    const std::size_t is = c.cin + c.in_pad, os = c.cout + c.out_pad, rs = c.cout + c.res_pad;
    std::vector<float> x = rng.vector(c.rows * is, -2.0f, 2.0f);
    std::vector<float> w = rng.vector(static_cast<std::size_t>(c.cout) * c.cin, -0.5f, 0.5f);
    std::vector<float> b = rng.vector(c.cout, -1.0f, 1.0f);
    std::vector<float> res = rng.vector(c.rows * rs, -1.0f, 1.0f);
    const PackedPointwiseWeights packed = edet::kernels::pack_pointwise_weights(w.data(), c.cin, c.cout);
    PointwiseConvArgs a;
    a.input = x.data();
    a.input_stride = c.in_pad ? is : 0;
    a.rows = static_cast<std::size_t>(c.rows);
    a.weights = &packed;
    a.epilogue.bias = c.bias ? b.data() : nullptr;
    a.epilogue.residual = c.residual ? res.data() : nullptr;
    a.epilogue.residual_stride = c.res_pad ? rs : 0;
    a.output_stride = c.out_pad ? os : 0;
    a.epilogue.activation = c.act;
    // Sentinels in the padding between rows must survive.
    const float sentinel = 12345.0f;
    std::vector<float> got(c.rows * os, sentinel), want(c.rows * os, sentinel);
    a.output = got.data();
    edet::kernels::pointwise_conv(a);
    a.output = want.data();
    edet::kernels::ref::pointwise_conv(a, w.data());

    const edet_test::ErrorStats st = edet_test::compare(got.data(), want.data(), got.size());
    const double gamma = 2.0 * (c.cin + 1) * (FLT_EPSILON / 2) / (1.0 - (c.cin + 1) * (FLT_EPSILON / 2));
    double worst_excess = 0.0;
    int bad_r = -1, bad_co = -1;
    for (int r = 0; r < c.rows; ++r) {
        for (int co = 0; co < c.cout; ++co) {
            double s = c.bias ? std::fabs(b[co]) : 0.0;
            for (int ci = 0; ci < c.cin; ++ci)
                s += std::fabs(static_cast<double>(x[r * is + ci]) * w[static_cast<std::size_t>(co) * c.cin + ci]);
            const double want_v = want[r * os + co];
            const double bound = gamma * s * 1.0001 + 4.0 * FLT_EPSILON * (std::fabs(want_v) + 1.0) + 1e-30;
            const double err = std::fabs(static_cast<double>(got[r * os + co]) - want_v);
            if (!(err <= bound) && (bad_r < 0 || err / bound > worst_excess)) {
                worst_excess = err / bound;
                bad_r = r;
                bad_co = co;
            }
        }
        for (std::size_t j = c.cout; j < os; ++j) REQUIRE(got[r * os + j] == sentinel);
    }
    INFO("rows=", c.rows, " cin=", c.cin, " cout=", c.cout, " in_stride=", is, " out_stride=", os,
         " res_stride=", rs, " bias=", c.bias, " residual=", c.residual, " act=", std::string(edet::to_string(c.act)));
    INFO("max abs=", st.max_abs, " rel=", st.rel(), " worst index=", st.worst, "; bound exceeded x", worst_excess,
         " at r=", bad_r, " co=", bad_co);
    CHECK(st.finite);
    CHECK(bad_r == -1);
    return st.rel();
}

}  // namespace

TEST_CASE("pointwise_conv: boundary battery (rows, cout around tile and panel sizes)") {
    edet_test::Random rng(1);
    const int lanes = pw::kLanes, mr = pw::kTileRows, nr = pw::kPanelWidth;
    std::vector<int> couts = {1, 2, 3, lanes - 1, lanes, lanes + 1, nr - 1, nr, nr + 1, nr + lanes, 2 * nr + 3};
    std::vector<int> rows = {1, 2, mr - 1, mr, mr + 1, 2 * mr + 3};
    int i = 0;
    for (int cout : couts)
        for (int r : rows) {
            Case c;
            c.rows = r;
            c.cin = 1 + (i * 7) % 19;
            c.cout = cout;
            c.bias = i % 2 == 0;
            c.residual = i % 3 == 0;
            c.out_pad = i % 4 == 1 ? 5 : 0;
            c.act = kPointwiseActivations[i % 5];
            check_case(c, rng);
            ++i;
        }
}

TEST_CASE("pointwise_conv: 150 random shapes, strides, bias, residual, activations") {
    const std::uint64_t seed = 20261125;
    edet_test::Random rng(seed);
    const std::vector<int> special_cout = {1, 3, 17, 24, 36, 40, 64, 810, 809, 813};
    double worst_rel = 0.0;
    for (int i = 0; i < 150; ++i) {
        Case c;
        c.rows = i % 10 == 0 ? 1 : rng.integer(1, 300);
        c.cin = i % 17 == 0 ? 1 : rng.integer(1, 300);
        if (i % 25 == 3) c.cin = 1152;  // several depth blocks
        if (i % 50 == 7) c.cin = 2304;
        c.cout = i % 3 == 0 ? rng.pick(special_cout) : rng.integer(1, 300);
        if (c.cin > 300 || c.cout > 300) c.rows = std::min(c.rows, 40);  // keep ref time small
        c.in_pad = rng.integer(0, 2) == 0 ? static_cast<std::size_t>(rng.integer(1, 9)) : 0;
        c.out_pad = rng.integer(0, 2) == 0 ? static_cast<std::size_t>(rng.integer(1, 9)) : 0;
        c.res_pad = rng.integer(0, 2) == 0 ? static_cast<std::size_t>(rng.integer(1, 9)) : 0;
        c.bias = rng.integer(0, 1) == 1;
        c.residual = rng.integer(0, 1) == 1;
        c.act = kPointwiseActivations[i % 5];
        CAPTURE(seed);
        CAPTURE(i);
        worst_rel = std::max(worst_rel, check_case(c, rng));
    }
    MESSAGE("150 random shapes: worst max|got - ref| / max|ref| = ", worst_rel);
}

TEST_CASE("pointwise_conv: operands larger than kStreamingBytes (prefetched paths) match the reference") {
    // The random shapes above stay under the threshold; these take the prefetching paths
    // (input rows; output and residual lines): one and several depth blocks, padded rows,
    // a partial last tile and panel.
    edet_test::Random rng(11);
    // Case{rows, cin, cout, in_pad, out_pad, res_pad, bias, residual, act}
    for (const Case& c : {Case{1501, 96, 48, 0, 0, 0, true, true, Activation::swish},
                          Case{2005, 80, 40, 3, 0, 0, false, false, Activation::relu6},
                          Case{130, 1152, 36, 7, 0, 0, true, false, Activation::none},
                          Case{211, 700, 64, 0, 5, 0, false, true, Activation::sigmoid},
                          Case{1700, 40, 100, 0, 9, 2, true, true, Activation::swish},
                          Case{1403, 24, 130, 1, 0, 0, false, false, Activation::relu}}) {
        const std::size_t in_bytes = static_cast<std::size_t>(c.rows) * (c.cin + c.in_pad) * sizeof(float);
        const std::size_t out_bytes = static_cast<std::size_t>(c.rows) * (c.cout + c.out_pad) * sizeof(float);
        REQUIRE(std::max(in_bytes, out_bytes) > pw::kStreamingBytes);
        check_case(c, rng);
    }
}

TEST_CASE("pointwise_conv: vector activations match ref::activate element by element") {
    // cin = 1, w = 1, no bias: the accumulator is exactly x, so out = act(x).
    const float one = 1.0f;
    const PackedPointwiseWeights packed = edet::kernels::pack_pointwise_weights(&one, 1, 1);
    std::vector<float> x;
    for (float v = -110.0f; v <= 110.0f; v += 0.01953125f) x.push_back(v);
    for (float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 87.0f, -87.0f, 88.5f, -88.5f, 89.0f, -104.0f, 1e10f, -1e10f,
                    std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})
        x.push_back(v);
    std::vector<float> got(x.size());
    for (Activation act : kPointwiseActivations) {
        PointwiseConvArgs a;
        a.input = x.data();
        a.rows = x.size();
        a.weights = &packed;
        a.output = got.data();
        a.epilogue.activation = act;
        edet::kernels::pointwise_conv(a);
        double worst_rel = 0.0;
        for (std::size_t i = 0; i < x.size(); ++i) {
            const float want = edet::kernels::ref::activate(x[i], act);
            const double err = std::fabs(static_cast<double>(got[i]) - want);
            INFO("act=", std::string(edet::to_string(act)), " x=", x[i], " got=", got[i], " want=", want);
            if (std::isnan(want)) {  // swish(-inf) = -inf / inf in the reference; every edet
                // kernel gives its limit -0 instead (activation.hpp, one definition for all)
                REQUIRE(act == Activation::swish);
                REQUIRE(got[i] == 0.0f);
                REQUIRE(std::signbit(got[i]));
                continue;
            }
            if (std::isinf(want)) {
                REQUIRE(got[i] == want);
                continue;
            }
            // 4 ulp (4.8e-7) of the result: exp's error (~1 ulp) + the reference's std::exp
            // error + the rounding of 1 + e and of the division; or absolutely tiny where e^-x
            // saturates (|want| < 1e-35, e.g. swish(-100)).
            REQUIRE(err <= 4.0 * FLT_EPSILON * std::fabs(want) + 1e-35);
            if (std::fabs(want) > 1e-30f) worst_rel = std::max(worst_rel, err / std::fabs(want));
        }
        MESSAGE("activation ", std::string(edet::to_string(act)), ": max elementwise rel error ", worst_rel);
        // NaN in, NaN out, as in the reference.
        const float nan = std::numeric_limits<float>::quiet_NaN();
        float y = 0.0f;
        a.input = &nan;
        a.rows = 1;
        a.output = &y;
        edet::kernels::pointwise_conv(a);
        CHECK(std::isnan(y));
    }
}

TEST_CASE("pointwise_conv: splitting rows into chunks gives bit-identical results") {
    edet_test::Random rng(7);
    const int lanes = pw::kLanes;
    struct Shape {
        int cin, cout;
    };
    // 2304 and 1152 use several depth blocks; 36 and 810 have a partial panel.
    for (Shape s : {Shape{2304, 36}, Shape{1152, 3 * lanes + 5}, Shape{64, 810}, Shape{7, 1}}) {
        const int rows = 97;
        std::vector<float> x = rng.vector(static_cast<std::size_t>(rows) * s.cin);
        std::vector<float> w = rng.vector(static_cast<std::size_t>(s.cin) * s.cout, -0.1f, 0.1f);
        std::vector<float> b = rng.vector(s.cout), res = rng.vector(static_cast<std::size_t>(rows) * s.cout);
        const PackedPointwiseWeights packed = edet::kernels::pack_pointwise_weights(w.data(), s.cin, s.cout);
        PointwiseConvArgs a;
        a.input = x.data();
        a.rows = rows;
        a.weights = &packed;
        a.epilogue.bias = b.data();
        a.epilogue.residual = res.data();
        a.epilogue.activation = Activation::swish;
        std::vector<float> whole(static_cast<std::size_t>(rows) * s.cout), split(whole.size(), -1.0f);
        a.output = whole.data();
        edet::kernels::pointwise_conv(a);
        for (int trial = 0; trial < 4; ++trial) {
            std::fill(split.begin(), split.end(), -1.0f);
            int r0 = 0;
            while (r0 < rows) {
                const int n = std::min(rows - r0, trial == 0 ? 1 : rng.integer(1, 40));
                PointwiseConvArgs part = a;
                part.input = x.data() + static_cast<std::size_t>(r0) * s.cin;
                part.epilogue.residual = res.data() + static_cast<std::size_t>(r0) * s.cout;
                part.output = split.data() + static_cast<std::size_t>(r0) * s.cout;
                part.rows = static_cast<std::size_t>(n);
                edet::kernels::pointwise_conv(part);
                r0 += n;
            }
            INFO("cin=", s.cin, " cout=", s.cout, " trial=", trial);
            CHECK(std::memcmp(whole.data(), split.data(), whole.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("pointwise_conv: row blocks follow the output width and never change the result") {
    // row_block: whole tiles, at least one, at most kRowBlock, fewer rows for wider outputs.
    int previous = pw::kRowBlock;
    for (std::size_t os : {1, 16, 64, 85, 86, 144, 300, 810, 1152, 4096, 100000}) {
        const int mc = pw::row_block(os);
        INFO("output stride ", os, ": row block ", mc);
        CHECK(mc % pw::kTileRows == 0);
        CHECK(mc >= pw::kTileRows);
        CHECK(mc <= pw::kRowBlock);
        CHECK(mc <= previous);
        CHECK((mc == pw::kTileRows || mc * os * sizeof(float) <= pw::kRowBlockOutputBytes));
        previous = mc;
    }
    // The class head's shape over several of its (24- or 36-row) blocks with a partial last
    // one, against the reference; then any explicit row block gives the same bits, since
    // the row block only changes which rows share a pass over the weights.
    edet_test::Random rng(810);
    Case c;
    c.rows = 3 * pw::row_block(810) + 5;
    c.cin = 64;
    c.cout = 810;
    c.bias = true;
    c.residual = true;
    c.act = Activation::swish;
    check_case(c, rng);
    std::vector<float> x = rng.vector(static_cast<std::size_t>(c.rows) * c.cin);
    std::vector<float> w = rng.vector(static_cast<std::size_t>(c.cin) * c.cout, -0.2f, 0.2f);
    std::vector<float> b = rng.vector(c.cout);
    const PackedPointwiseWeights packed = edet::kernels::pack_pointwise_weights(w.data(), c.cin, c.cout);
    PointwiseConvArgs a;
    a.input = x.data();
    a.rows = static_cast<std::size_t>(c.rows);
    a.weights = &packed;
    a.epilogue.bias = b.data();
    a.epilogue.activation = Activation::swish;
    std::vector<float> by_default(static_cast<std::size_t>(c.rows) * c.cout), blocked(by_default.size());
    a.output = by_default.data();
    edet::kernels::pointwise_conv(a);
    for (int rows_block : {pw::kTileRows, 5 * pw::kTileRows, pw::kRowBlock}) {
        std::fill(blocked.begin(), blocked.end(), -1.0f);
        a.output = blocked.data();
        pw::Blocking bl;
        bl.rows = rows_block;
        pw::run(a, bl);
        INFO("rows_block ", rows_block);
        CHECK(std::memcmp(by_default.data(), blocked.data(), blocked.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("pointwise_conv: packed layout keeps every weight and pads with zeros") {
    // cin = 3, cout = panel width + 1: one full panel and one single-vector panel.
    const int cin = 3, cout = pw::kPanelWidth + 1;
    std::vector<float> w(static_cast<std::size_t>(cin) * cout);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i + 1);
    const PackedPointwiseWeights p = edet::kernels::pack_pointwise_weights(w.data(), cin, cout);
    CHECK(p.data.size() == static_cast<std::size_t>(cin) * (pw::kPanelWidth + pw::kLanes));
    double sum = 0.0, want = 0.0;
    int nonzero = 0;
    for (std::size_t i = 0; i < p.data.size(); ++i) {
        sum += p.data[i];
        nonzero += p.data[i] != 0.0f;
    }
    for (float v : w) want += v;
    CHECK(sum == want);
    CHECK(nonzero == cin * cout);
}

TEST_CASE("pointwise_conv: zero rows is a no-op") {
    const float w = 2.0f;
    const PackedPointwiseWeights p = edet::kernels::pack_pointwise_weights(&w, 1, 1);
    float out = 7.0f;
    PointwiseConvArgs a;
    a.weights = &p;
    a.rows = 0;
    a.output = &out;
    CHECK_NOTHROW(edet::kernels::pointwise_conv(a));
    CHECK(out == 7.0f);
}

TEST_CASE("pointwise_conv: misuse throws edet::Error") {
    std::vector<float> w(4 * 8, 0.5f), x(10 * 8, 1.0f), y(10 * 8), r(10 * 8);
    CHECK_THROWS_AS(edet::kernels::pack_pointwise_weights(nullptr, 4, 8), edet::Error);
    CHECK_THROWS_AS(edet::kernels::pack_pointwise_weights(w.data(), 0, 8), edet::Error);
    CHECK_THROWS_AS(edet::kernels::pack_pointwise_weights(w.data(), 4, -1), edet::Error);
    const PackedPointwiseWeights p = edet::kernels::pack_pointwise_weights(w.data(), 4, 8);
    PointwiseConvArgs good;
    good.input = x.data();
    good.rows = 10;
    good.weights = &p;
    good.output = y.data();
    CHECK_NOTHROW(edet::kernels::pointwise_conv(good));
    CHECK(y[0] == doctest::Approx(2.0f));

    auto bad = good;
    bad.weights = nullptr;
    CHECK_THROWS_AS(edet::kernels::pointwise_conv(bad), edet::Error);
    PackedPointwiseWeights unpacked;  // default-constructed: never packed
    bad = good;
    bad.weights = &unpacked;
    CHECK_THROWS_AS(edet::kernels::pointwise_conv(bad), edet::Error);
    bad = good;
    bad.input = nullptr;
    CHECK_THROWS_AS(edet::kernels::pointwise_conv(bad), edet::Error);
    bad = good;
    bad.output = nullptr;
    CHECK_THROWS_AS(edet::kernels::pointwise_conv(bad), edet::Error);
    bad = good;
    bad.input_stride = 3;  // < cin 4
    CHECK_THROWS_AS(edet::kernels::pointwise_conv(bad), edet::Error);
    bad = good;
    bad.output_stride = 7;  // < cout 8
    CHECK_THROWS_AS(edet::kernels::pointwise_conv(bad), edet::Error);
    bad = good;
    bad.epilogue.residual = r.data();
    bad.epilogue.residual_stride = 1;
    CHECK_THROWS_AS(edet::kernels::pointwise_conv(bad), edet::Error);
    bad = good;
    bad.output = x.data() + 8;  // overlaps the input
    CHECK_THROWS_AS(edet::kernels::pointwise_conv(bad), edet::Error);
    bad = good;
    bad.epilogue.residual = y.data();  // residual in place is not supported (depth blocks reuse output)
    CHECK_THROWS_AS(edet::kernels::pointwise_conv(bad), edet::Error);
    CHECK_THROWS_AS(edet::kernels::ref::pointwise_conv(good, nullptr), edet::Error);
    try {
        bad = good;
        bad.input_stride = 3;
        edet::kernels::pointwise_conv(bad);
        FAIL("no throw");
    } catch (const edet::Error& e) {
        CHECK(std::string(e.what()).find("3 < cin 4") != std::string::npos);
    }
}

TEST_CASE("pointwise_conv: scale_packed_inputs + packed == the reference on channel-scaled input") {
    // W (g . x) computed as (W diag(g)) x: the SE gate folded into MBConv's projection.
    edet_test::Random rng(77);
    for (int iter = 0; iter < 60; ++iter) {
        const int cin = rng.integer(1, 150), cout = rng.integer(1, 90);
        const std::size_t rows = static_cast<std::size_t>(rng.integer(1, 70));
        INFO("iter ", iter, " cin ", cin, " cout ", cout, " rows ", rows);
        const std::vector<float> w = rng.vector(static_cast<std::size_t>(cin) * cout);
        const std::vector<float> bias = rng.vector(static_cast<std::size_t>(cout));
        const std::vector<float> x = rng.vector(rows * cin), gate = rng.vector(static_cast<std::size_t>(cin), 0.0f, 1.0f);
        const std::vector<float> res = rng.vector(rows * cout);
        const PackedPointwiseWeights packed = edet::kernels::pack_pointwise_weights(w.data(), cin, cout);
        edet::AlignedBuffer<float> scaled(packed.data.size());
        edet::kernels::scale_packed_inputs(packed, gate.data(), scaled.data());
        {  // the same copy in panel ranges (as threads split it) is the same, bit for bit
            const int panels = edet::kernels::pointwise_panel_count(cout);
            edet::AlignedBuffer<float> pieces(packed.data.size());
            pieces.zero();
            const int cut = rng.integer(0, panels);
            edet::kernels::scale_packed_inputs(packed, gate.data(), pieces.data(), cut, panels);
            edet::kernels::scale_packed_inputs(packed, gate.data(), pieces.data(), 0, cut);
            CHECK(std::memcmp(pieces.data(), scaled.data(), scaled.size() * sizeof(float)) == 0);
            CHECK_THROWS_AS(edet::kernels::scale_packed_inputs(packed, gate.data(), pieces.data(), 0, panels + 1), edet::Error);
            CHECK_THROWS_AS(edet::kernels::scale_packed_inputs(packed, gate.data(), pieces.data(), 1, 0), edet::Error);
        }
        std::vector<float> xg(x.size());
        for (std::size_t r = 0; r < rows; ++r)
            for (int c = 0; c < cin; ++c) xg[r * cin + c] = x[r * cin + c] * gate[static_cast<std::size_t>(c)];
        const Activation act = iter % 2 ? Activation::swish : Activation::none;
        std::vector<float> got(rows * cout), want(rows * cout);
        PointwiseConvArgs a;
        a.input = x.data();
        a.rows = rows;
        a.weights = &packed;
        a.epilogue.bias = bias.data();
        a.epilogue.residual = iter % 3 ? res.data() : nullptr;
        a.epilogue.activation = act;
        a.output = got.data();
        a.packed = scaled.data();
        edet::kernels::pointwise_conv(a);
        a.input = xg.data();
        a.output = want.data();
        a.packed = nullptr;
        edet::kernels::ref::pointwise_conv(a, w.data());
        const edet_test::ErrorStats e = edet_test::compare(got.data(), want.data(), got.size());
        REQUIRE(e.finite);
        // (w g) x and w (x g) differ by one rounding per product: a few ulp of the sum.
        CHECK(e.max_abs <= 1e-6 * (cin + 1) * std::max(1.0, e.max_ref));
    }
    // Misaligned per-call weights are refused, not read with aligned loads.
    const float one = 1.0f;
    const PackedPointwiseWeights p1 = edet::kernels::pack_pointwise_weights(&one, 1, 1);
    edet::AlignedBuffer<float> buf(p1.data.size() + 16);
    float x = 2.0f, y = 0.0f;
    PointwiseConvArgs a;
    a.input = &x;
    a.rows = 1;
    a.weights = &p1;
    a.output = &y;
    a.packed = buf.data() + 1;
    CHECK_THROWS_AS(edet::kernels::pointwise_conv(a), edet::Error);
}

TEST_CASE("pointwise_conv: panel_max holds each row's maximum per panel, NaN when a value is NaN") {
    // Derived from the kernel's own output, which the other cases check against the
    // reference; shapes with partial panels, several depth blocks, activation + residual,
    // rows split into chunks (the maxima must not depend on the split either).
    edet_test::Random rng(31);
    struct Shape {
        int rows, cin, cout;
        Activation act;
    };
    for (Shape sh : {Shape{97, 64, 810, Activation::none}, Shape{40, 1152, 36, Activation::swish},
                     Shape{13, 7, 1, Activation::relu}, Shape{50, 24, pw::kPanelWidth, Activation::none},
                     Shape{29, 33, 2 * pw::kPanelWidth + 5, Activation::sigmoid}}) {
        const int panels = edet::kernels::pointwise_panel_count(sh.cout);
        const int cols = edet::kernels::pointwise_panel_columns();
        REQUIRE(panels == (sh.cout + cols - 1) / cols);
        std::vector<float> x = rng.vector(static_cast<std::size_t>(sh.rows) * sh.cin);
        x[static_cast<std::size_t>(sh.rows / 2) * sh.cin] = std::nanf("");  // row rows/2: NaN everywhere
        std::vector<float> w = rng.vector(static_cast<std::size_t>(sh.cin) * sh.cout, -0.2f, 0.2f);
        std::vector<float> b = rng.vector(sh.cout), res = rng.vector(static_cast<std::size_t>(sh.rows) * sh.cout);
        const PackedPointwiseWeights packed = edet::kernels::pack_pointwise_weights(w.data(), sh.cin, sh.cout);
        PointwiseConvArgs a;
        a.input = x.data();
        a.rows = static_cast<std::size_t>(sh.rows);
        a.weights = &packed;
        a.epilogue.bias = b.data();
        a.epilogue.residual = sh.act == Activation::swish ? res.data() : nullptr;
        a.epilogue.activation = sh.act;
        std::vector<float> y(static_cast<std::size_t>(sh.rows) * sh.cout);
        std::vector<float> maxima(static_cast<std::size_t>(sh.rows) * panels, 12345.0f);
        a.output = y.data();
        a.epilogue.panel_max = maxima.data();
        edet::kernels::pointwise_conv(a);
        INFO("rows ", sh.rows, " cin ", sh.cin, " cout ", sh.cout);
        for (int r = 0; r < sh.rows; ++r)
            for (int p = 0; p < panels; ++p) {
                float want = -std::numeric_limits<float>::infinity();
                bool nan = false;
                for (int co = p * cols; co < std::min(sh.cout, (p + 1) * cols); ++co) {
                    const float v = y[static_cast<std::size_t>(r) * sh.cout + co];
                    nan = nan || std::isnan(v);
                    want = std::max(want, v);
                }
                const float got = maxima[static_cast<std::size_t>(r) * panels + p];
                INFO("row ", r, " panel ", p);
                if (nan) REQUIRE(std::isnan(got));
                else REQUIRE(got == want);
            }
        CHECK(std::isnan(maxima[static_cast<std::size_t>(sh.rows / 2) * panels]));
        // Rows in chunks of 1..12: the same maxima.
        std::vector<float> split(maxima.size(), -1.0f), y2(y.size());
        for (int r0 = 0; r0 < sh.rows;) {
            const int n = std::min(sh.rows - r0, rng.integer(1, 12));
            PointwiseConvArgs part = a;
            part.input = x.data() + static_cast<std::size_t>(r0) * sh.cin;
            part.epilogue.residual = a.epilogue.residual ? res.data() + static_cast<std::size_t>(r0) * sh.cout : nullptr;
            part.output = y2.data() + static_cast<std::size_t>(r0) * sh.cout;
            part.epilogue.panel_max = split.data() + static_cast<std::size_t>(r0) * panels;
            part.rows = static_cast<std::size_t>(n);
            edet::kernels::pointwise_conv(part);
            r0 += n;
        }
        CHECK(std::memcmp(split.data(), maxima.data(), split.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("pointwise_conv: epilogue_from_row moves the residual and panel maxima, nothing else") {
    std::vector<float> bias(40), res(10 * 48), maxima(10 * 3);
    edet::kernels::PointwiseEpilogue e;
    e.bias = bias.data();
    e.activation = Activation::relu6;
    e.residual = res.data();
    e.panel_max = maxima.data();
    const auto at = edet::kernels::epilogue_from_row(e, 4, 40);
    CHECK(at.bias == bias.data());
    CHECK(at.activation == Activation::relu6);
    CHECK(at.residual == res.data() + 4 * 40);  // stride 0: out_channels
    CHECK(at.panel_max == maxima.data() + 4 * edet::kernels::pointwise_panel_count(40));
    e.residual_stride = 48;
    CHECK(edet::kernels::epilogue_from_row(e, 3, 40).residual == res.data() + 3 * 48);
    edet::kernels::PointwiseEpilogue none;
    const auto still_none = edet::kernels::epilogue_from_row(none, 5, 40);
    CHECK(still_none.residual == nullptr);
    CHECK(still_none.panel_max == nullptr);
}
