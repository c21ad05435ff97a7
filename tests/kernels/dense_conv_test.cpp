// Tests for edet/kernels/dense_conv.hpp: the xsimd stem convolution against the scalar
// reference over random geometry, output channels around the SIMD width, row-range
// splitting, misuse.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "edet/kernels/dense_conv.hpp"
#include "test_util.hpp"

using edet::Activation;
using edet::Padding2d;
using edet::PaddingMode;
using edet::Shape;
namespace k = edet::kernels;

namespace {

const std::vector<Activation> kActs = {Activation::none, Activation::relu, Activation::relu6, Activation::swish,
                                       Activation::sigmoid};

struct StemCase {
    Shape in{};
    int cout = 32;
    int kernel = 3, stride = 2;
    PaddingMode mode = PaddingMode::tf_same;
    Activation act = Activation::swish;
    bool bias = false;

    Padding2d pad() const { return k::conv_padding(in.h, in.w, kernel, stride, mode); }
    bool valid() const {
        const Padding2d p = pad();
        return in.h + p.top + p.bottom >= kernel && in.w + p.left + p.right >= kernel;
    }
    Shape out() const {
        const Padding2d p = pad();
        return {in.n, k::conv_output_size(in.h, kernel, stride, p.top, p.bottom),
                k::conv_output_size(in.w, kernel, stride, p.left, p.right), cout};
    }
    std::string str() const {
        return edet::cat("in ", in.str(), " cout ", cout, " k", kernel, " s", stride, " ",
                         mode == PaddingMode::tf_same ? "tf_same" : "symmetric", " ", edet::to_string(act),
                         bias ? " bias" : " no-bias");
    }
};

struct StemBuffers {
    std::vector<float> input, weights, bias, output;
    k::DenseConvArgs args(const StemCase& t) {
        k::DenseConvArgs a;
        a.input = input.data();
        a.input_shape = t.in;
        a.weights = weights.data();
        a.bias = t.bias ? bias.data() : nullptr;
        a.output = output.data();
        a.output_shape = t.out();
        a.kernel = t.kernel;
        a.stride = t.stride;
        a.pad = t.pad();
        a.activation = t.act;
        return a;
    }
};

StemBuffers make_buffers(const StemCase& t, edet_test::Random& rng) {
    StemBuffers b;
    b.input = rng.vector(t.in.numel(), -2.0f, 2.0f);
    b.weights = rng.vector(static_cast<std::size_t>(t.kernel) * t.kernel * t.in.c * t.cout);
    b.bias = rng.vector(static_cast<std::size_t>(t.cout));
    b.output.assign(t.out().numel(), std::numeric_limits<float>::quiet_NaN());
    return b;
}

void check_against_ref(const StemCase& t, edet_test::Random& rng) {
    StemBuffers b = make_buffers(t, rng);
    std::vector<float> want(b.output.size());
    k::DenseConvArgs a = b.args(t);
    k::dense_conv(a);
    a.output = want.data();
    k::ref::dense_conv(a);
    const edet_test::ErrorStats e = edet_test::compare(b.output.data(), want.data(), want.size());
    const std::string tuple = t.str();
    CAPTURE(tuple);
    CAPTURE(e.max_abs);
    CAPTURE(e.rel());
    CAPTURE(e.worst);
    REQUIRE(e.finite);
    CHECK(e.max_abs <= 4e-6 * std::max(1.0, e.max_ref));  // same tap order: float rounding only
}

}  // namespace

TEST_CASE("dense_conv: reference matches hand-computed values") {
    // 4x4 input, one channel, value = x; 3x3 weights of ones, stride 2, TF same (pad 0 top/left,
    // 1 bottom/right): out(0,0) sums rows 0-2, cols 0-2 = 3*(0+1+2) = 9; out(0,1) cols 2-3 = 3*5 = 15;
    // out(1,0) rows 2-3 = 2*3 = 6; out(1,1) = 2*5 = 10. Two output channels: weights 1 and -1.
    std::vector<float> in(16);
    for (int i = 0; i < 16; ++i) in[static_cast<std::size_t>(i)] = static_cast<float>(i % 4);
    // [cout][cin][k][k] -> [k][k][cin][cout] through pack_dense_conv_weights.
    std::vector<float> torch_w(18);
    for (int t = 0; t < 9; ++t) torch_w[static_cast<std::size_t>(t)] = 1.0f, torch_w[9 + static_cast<std::size_t>(t)] = -1.0f;
    auto w = k::pack_dense_conv_weights(torch_w.data(), 2, 1, 3);
    for (int t = 0; t < 9; ++t) {
        CHECK(w[static_cast<std::size_t>(2 * t)] == 1.0f);
        CHECK(w[static_cast<std::size_t>(2 * t + 1)] == -1.0f);
    }
    std::vector<float> bias{0.5f, 0.0f}, out(8, 0.0f);
    k::DenseConvArgs a;
    a.input = in.data();
    a.input_shape = Shape{1, 4, 4, 1};
    a.weights = w.data();
    a.bias = bias.data();
    a.output = out.data();
    a.output_shape = Shape{1, 2, 2, 2};
    a.kernel = 3;
    a.stride = 2;
    a.pad = k::conv_padding(4, 4, 3, 2, PaddingMode::tf_same);
    a.activation = Activation::relu;
    const float want[8] = {9.5f, 0.0f, 15.5f, 0.0f, 6.5f, 0.0f, 10.5f, 0.0f};
    k::ref::dense_conv(a);
    for (int i = 0; i < 8; ++i) CHECK(out[static_cast<std::size_t>(i)] == want[i]);
    std::fill(out.begin(), out.end(), -1.0f);
    k::dense_conv(a);
    for (int i = 0; i < 8; ++i) CHECK(out[static_cast<std::size_t>(i)] == want[i]);
}

TEST_CASE("dense_conv: random geometry sweep against the reference") {
    edet_test::Random rng(424242);
    const std::vector<int> couts = {1, 3, 4, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 48, 56, 64};
    const std::vector<int> kernels = {1, 2, 3, 3, 3, 5, 7};
    int done = 0, attempts = 0;
    while (done < 200 && attempts < 5000) {
        ++attempts;
        StemCase t;
        t.kernel = rng.pick(kernels);
        t.stride = rng.integer(1, 4) == 4 ? 3 : rng.integer(1, 2);
        t.in = Shape{rng.integer(1, 3) == 3 ? 2 : 1, rng.integer(1, 19), rng.integer(1, 23), rng.integer(1, 5)};
        if (done % 10 == 0) t.in.h = t.in.w = 1;
        t.cout = rng.pick(couts);
        t.mode = rng.integer(0, 1) ? PaddingMode::tf_same : PaddingMode::symmetric;
        t.act = rng.pick(kActs);
        t.bias = rng.integer(0, 1) == 1;
        if (!t.valid()) continue;
        check_against_ref(t, rng);
        ++done;
    }
    CHECK(done == 200);
}

TEST_CASE("dense_conv: stem geometry, output channels around the SIMD width") {
    const int v = k::detail::dense::kLanes;
    edet_test::Random rng(17);
    for (int cout : {1, v - 1, v, v + 1, 2 * v - 1, 2 * v, 2 * v + 1, 32, 40, 48, 56, 64})
        for (int hw : {7, 8, 17, 32})
            for (PaddingMode mode : {PaddingMode::tf_same, PaddingMode::symmetric}) {
                StemCase t;
                t.in = Shape{1, hw, hw + 1, 3};
                t.cout = cout;
                t.mode = mode;
                check_against_ref(t, rng);
            }
}

TEST_CASE("dense_conv: any split into row ranges is bit-identical and writes only its rows") {
    edet_test::Random rng(23);
    for (int trial = 0; trial < 16; ++trial) {
        StemCase t;
        t.in = Shape{rng.integer(1, 2), rng.integer(1, 19), rng.integer(1, 19), rng.integer(1, 4)};
        t.cout = rng.pick(std::vector<int>{3, 16, 21, 32, 40});
        t.kernel = rng.pick(std::vector<int>{1, 3, 3, 5});
        t.stride = rng.integer(1, 2);
        t.mode = trial % 2 ? PaddingMode::tf_same : PaddingMode::symmetric;
        t.act = kActs[static_cast<std::size_t>(trial) % kActs.size()];
        t.bias = trial % 3 == 0;
        if (!t.valid()) continue;
        const std::string tuple = t.str();
        CAPTURE(tuple);
        StemBuffers b = make_buffers(t, rng);
        k::DenseConvArgs a = b.args(t);
        k::dense_conv(a);
        const std::vector<float> whole = b.output;
        const Shape os = t.out();
        const int rows = os.n * os.h;
        const std::size_t row_floats = static_cast<std::size_t>(os.w) * os.c;
        std::vector<float> split(whole.size(), std::numeric_limits<float>::quiet_NaN());
        a.output = split.data();
        for (int r = 0; r < rows;) {
            const int end = std::min(rows, r + rng.integer(0, 3));
            a.row_begin = r;
            a.row_end = end;
            k::dense_conv(a);
            for (std::size_t i = static_cast<std::size_t>(end) * row_floats; i < split.size(); ++i)
                REQUIRE(std::isnan(split[i]));
            r = end;
        }
        CHECK(std::memcmp(split.data(), whole.data(), whole.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("dense_conv: misuse throws edet::Error") {
    StemCase t;
    t.in = Shape{2, 9, 8, 3};
    t.cout = 24;
    edet_test::Random rng(5);
    StemBuffers b = make_buffers(t, rng);
    const k::DenseConvArgs good = b.args(t);
    CHECK_NOTHROW(k::dense_conv(good));
    auto bad = [&](auto&& change) {
        k::DenseConvArgs a = good;
        change(a);
        CHECK_THROWS_AS(k::dense_conv(a), edet::Error);
    };
    bad([](k::DenseConvArgs& a) { a.input = nullptr; });
    bad([](k::DenseConvArgs& a) { a.weights = nullptr; });
    bad([](k::DenseConvArgs& a) { a.output = nullptr; });
    bad([](k::DenseConvArgs& a) { a.output_shape.h += 1; });
    bad([](k::DenseConvArgs& a) { a.output_shape.w = 3; });
    bad([](k::DenseConvArgs& a) { a.output_shape.n = 1; });
    bad([](k::DenseConvArgs& a) { a.output_shape.c = 0; });
    bad([](k::DenseConvArgs& a) { a.kernel = 0; });
    bad([](k::DenseConvArgs& a) { a.stride = -2; });
    bad([](k::DenseConvArgs& a) { a.kernel = 12; });
    bad([](k::DenseConvArgs& a) { a.pad.right = -1; });
    bad([](k::DenseConvArgs& a) { a.pad.bottom = 1 << 30; });
    bad([](k::DenseConvArgs& a) { a.row_begin = -1; });
    bad([](k::DenseConvArgs& a) { a.row_begin = 4, a.row_end = 3; });
    bad([](k::DenseConvArgs& a) { a.row_end = 11; });  // 2 images x 5 rows
    bad([&](k::DenseConvArgs& a) { a.output = b.input.data(); });
    CHECK_THROWS_AS(k::pack_dense_conv_weights(nullptr, 32, 3, 3), edet::Error);
}
