// Tests for edet/kernels/depthwise_conv.hpp (and the padding rules of padding.hpp it uses):
// the xsimd kernel against the scalar reference over random geometry, channel counts
// around the SIMD width, row-range splitting, misuse.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "edet/kernels/depthwise_conv.hpp"
#include "test_util.hpp"

using edet::Activation;
using edet::Padding2d;
using edet::PaddingMode;
using edet::Shape;
namespace k = edet::kernels;

namespace {

const std::vector<Activation> kActivations = {Activation::none, Activation::relu, Activation::relu6,
                                              Activation::swish, Activation::sigmoid};

// One depthwise problem with its buffers.
struct DwCase {
    Shape in{};
    int kernel = 3, stride = 1;
    PaddingMode mode = PaddingMode::tf_same;
    Activation act = Activation::none;
    bool bias = true;

    Padding2d pad() const { return k::conv_padding(in.h, in.w, kernel, stride, mode); }
    // False when the kernel does not fit the padded input (the geometry is invalid).
    bool valid() const {
        const Padding2d p = pad();
        return in.h + p.top + p.bottom >= kernel && in.w + p.left + p.right >= kernel;
    }
    Shape out() const {
        const Padding2d p = pad();
        return {in.n, k::conv_output_size(in.h, kernel, stride, p.top, p.bottom),
                k::conv_output_size(in.w, kernel, stride, p.left, p.right), in.c};
    }
};

struct DwBuffers {
    std::vector<float> input, weights, bias, output;
    k::DepthwiseConvArgs args(const DwCase& t) {
        k::DepthwiseConvArgs a;
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

DwBuffers make_buffers(const DwCase& t, edet_test::Random& rng, float scale = 2.0f) {
    DwBuffers b;
    b.input = rng.vector(t.in.numel(), -scale, scale);
    b.weights = rng.vector(static_cast<std::size_t>(t.kernel) * t.kernel * t.in.c);
    b.bias = rng.vector(static_cast<std::size_t>(t.in.c));
    b.output.assign(t.out().numel(), std::numeric_limits<float>::quiet_NaN());
    return b;
}

std::string describe(const DwCase& t) {
    return edet::cat("in ", t.in.str(), " k", t.kernel, " s", t.stride, " ",
                     t.mode == PaddingMode::tf_same ? "tf_same" : "symmetric", " ", edet::to_string(t.act),
                     t.bias ? " bias" : " no-bias");
}

// Runs the kernel and the reference on one case; checks error within float rounding.
void check_against_ref(const DwCase& t, edet_test::Random& rng) {
    DwBuffers b = make_buffers(t, rng);
    std::vector<float> want(b.output.size());
    k::DepthwiseConvArgs a = b.args(t);
    k::depthwise_conv(a);
    a.output = want.data();
    k::ref::depthwise_conv(a);
    const edet_test::ErrorStats e = edet_test::compare(b.output.data(), want.data(), want.size());
    const std::string tuple = describe(t);
    CAPTURE(tuple);
    CAPTURE(e.max_abs);
    CAPTURE(e.rel());
    CAPTURE(e.worst);
    REQUIRE(e.finite);
    // Same taps in the same order; only fma-vs-mul+add rounding and the activation's exp
    // may differ: a few float ulps of the largest value.
    CHECK(e.max_abs <= 4e-6 * std::max(1.0, e.max_ref));
}

}  // namespace

TEST_CASE("padding: TF-same and symmetric amounts match hand-computed values") {
    struct Want {
        int in, kernel, stride;
        PaddingMode mode;
        int before, after;
    };
    const PaddingMode tf = PaddingMode::tf_same, sym = PaddingMode::symmetric;
    // TF same: out = ceil(in/s), total = max((out-1)*s + k - in, 0), extra pixel after.
    const Want cases[] = {
        {7, 3, 2, tf, 1, 1},    // out 4: 6 + 3 - 7 = 2
        {8, 3, 2, tf, 0, 1},    // out 4: 6 + 3 - 8 = 1
        {8, 5, 2, tf, 1, 2},    // out 4: 6 + 5 - 8 = 3
        {512, 3, 2, tf, 0, 1},  // D0 stem: 510 + 3 - 512 = 1
        {5, 3, 1, tf, 1, 1},    // stride 1: k/2 each side
        {5, 5, 1, tf, 2, 2},
        {1, 3, 2, tf, 1, 1},    // out 1: 0 + 3 - 1 = 2
        {9, 1, 2, tf, 0, 0},    // 1x1 stride 2: 8 + 1 - 9 = 0
        {6, 2, 2, tf, 0, 0},    // out 3: 4 + 2 - 6 = 0
        {3, 7, 1, tf, 3, 3},
        {7, 3, 2, sym, 1, 1},   // timm: ((s-1) + (k-1)) / 2
        {8, 5, 2, sym, 2, 2},
        {8, 5, 1, sym, 2, 2},
        {8, 2, 2, sym, 1, 1},
        {8, 4, 1, sym, 1, 1},
    };
    for (const Want& w : cases) {
        CAPTURE(w.in);
        CAPTURE(w.kernel);
        CAPTURE(w.stride);
        const k::AxisPadding p = k::axis_padding(w.in, w.kernel, w.stride, w.mode);
        CHECK(p.before == w.before);
        CHECK(p.after == w.after);
    }
    const Padding2d p = k::conv_padding(7, 8, 3, 2, tf);  // rows use in=7, columns in=8
    CHECK(p.top == 1);
    CHECK(p.bottom == 1);
    CHECK(p.left == 0);
    CHECK(p.right == 1);
    // TF same always gives ceil(in / s) outputs.
    for (int in = 1; in <= 20; ++in)
        for (int kk = 1; kk <= 7; ++kk)
            for (int s = 1; s <= 3; ++s) {
                const k::AxisPadding q = k::axis_padding(in, kk, s, tf);
                if (in + q.before + q.after < kk) continue;
                CHECK(k::conv_output_size(in, kk, s, q.before, q.after) == (in + s - 1) / s);
            }
    CHECK_THROWS_AS(k::axis_padding(0, 3, 1, tf), edet::Error);
    CHECK_THROWS_AS(k::axis_padding(4, 3, 0, sym), edet::Error);
}

TEST_CASE("depthwise_conv: reference matches hand-computed values") {
    // 3x3 input of ones, 3x3 weights of ones, zero padding 1: each output counts the taps
    // inside the image (4 at corners, 6 at edges, 9 in the centre); bias 0.5; relu6 clips.
    std::vector<float> in(9, 1.0f), w(9, 1.0f), bias{0.5f}, out(9, 0.0f);
    k::DepthwiseConvArgs a;
    a.input = in.data();
    a.input_shape = Shape{1, 3, 3, 1};
    a.weights = w.data();
    a.bias = bias.data();
    a.output = out.data();
    a.output_shape = Shape{1, 3, 3, 1};
    a.pad = Padding2d{1, 1, 1, 1};
    a.activation = Activation::relu6;
    const float want[9] = {4.5f, 6.0f, 4.5f, 6.0f, 6.0f, 6.0f, 4.5f, 6.0f, 4.5f};
    k::ref::depthwise_conv(a);
    for (int i = 0; i < 9; ++i) CHECK(out[i] == want[i]);
    std::fill(out.begin(), out.end(), 0.0f);
    k::depthwise_conv(a);
    for (int i = 0; i < 9; ++i) CHECK(out[i] == want[i]);
    // pack_depthwise_weights: [c][1][k][k] -> [k][k][c].
    const float torch_w[2 * 4] = {0, 1, 2, 3, 10, 11, 12, 13};  // c=2, k=2
    auto packed = k::pack_depthwise_weights(torch_w, 2, 2);
    const float want_packed[8] = {0, 10, 1, 11, 2, 12, 3, 13};
    for (int i = 0; i < 8; ++i) CHECK(packed[static_cast<std::size_t>(i)] == want_packed[i]);
}

TEST_CASE("depthwise_conv: random geometry sweep against the reference") {
    edet_test::Random rng(20261125);
    const std::vector<int> channels = {1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 47, 48, 64, 88, 96};
    const std::vector<int> kernels = {1, 2, 3, 3, 3, 4, 5, 5, 5, 7};
    int done = 0, attempts = 0;
    while (done < 300 && attempts < 5000) {
        ++attempts;
        DwCase t;
        t.kernel = rng.pick(kernels);
        t.stride = rng.integer(1, 3) == 3 ? rng.integer(1, 3) : rng.integer(1, 2);
        t.in = Shape{rng.integer(1, 3) == 3 ? 2 : 1, rng.integer(1, 19), rng.integer(1, 23), rng.pick(channels)};
        if (done % 10 == 0) t.in.h = t.in.w = 1;  // 1x1 maps
        t.mode = rng.integer(0, 1) ? PaddingMode::tf_same : PaddingMode::symmetric;
        t.act = rng.pick(kActivations);
        t.bias = rng.integer(0, 1) == 1;
        if (!t.valid()) continue;
        check_against_ref(t, rng);
        ++done;
    }
    CHECK(done == 300);
}

TEST_CASE("depthwise_conv: channel counts around the SIMD width, fast-path geometries") {
    const int v = k::detail::dw::kLanes;
    edet_test::Random rng(7);
    const int geometry[][2] = {{3, 1}, {3, 2}, {5, 1}, {5, 2}, {1, 1}, {7, 2}};
    for (int c : {1, v - 1, v, v + 1, 2 * v - 1, 2 * v, 2 * v + 1, 3 * v + 3})
        for (const auto& g : geometry)
            for (int hw : {9, 14}) {
                DwCase t;
                t.in = Shape{2, hw, hw + 3, c};
                t.kernel = g[0];
                t.stride = g[1];
                t.act = Activation::relu6;
                t.mode = c % 2 ? PaddingMode::symmetric : PaddingMode::tf_same;
                check_against_ref(t, rng);
            }
}

TEST_CASE("depthwise_conv: D0-sized layers against the reference") {
    edet_test::Random rng(11);
    struct L {
        Shape in;
        int kernel, stride;
    };
    const L layers[] = {{{1, 32, 32, 96}, 3, 2},  {{1, 24, 24, 144}, 3, 1}, {{1, 16, 16, 240}, 5, 2},
                        {{1, 12, 12, 480}, 3, 1}, {{1, 8, 8, 1152}, 5, 1},  {{1, 10, 10, 88}, 3, 1}};
    for (const L& l : layers) {
        DwCase t;
        t.in = l.in;
        t.kernel = l.kernel;
        t.stride = l.stride;
        t.act = Activation::swish;
        check_against_ref(t, rng);
    }
}

TEST_CASE("depthwise_conv: any split into row ranges is bit-identical and writes only its rows") {
    edet_test::Random rng(99);
    for (int trial = 0; trial < 24; ++trial) {
        DwCase t;
        t.in = Shape{rng.integer(1, 2), rng.integer(1, 17), rng.integer(1, 21), rng.pick(std::vector<int>{1, 5, 16, 21, 40})};
        t.kernel = rng.pick(std::vector<int>{1, 3, 5, 4});
        t.stride = rng.integer(1, 2);
        t.mode = trial % 2 ? PaddingMode::tf_same : PaddingMode::symmetric;
        t.act = kActivations[static_cast<std::size_t>(trial) % kActivations.size()];
        if (!t.valid()) continue;
        const std::string tuple = describe(t);
        CAPTURE(tuple);
        DwBuffers b = make_buffers(t, rng);
        k::DepthwiseConvArgs a = b.args(t);
        k::depthwise_conv(a);
        const std::vector<float> whole = b.output;
        const Shape os = t.out();
        const int rows = os.n * os.h;
        const std::size_t row_floats = static_cast<std::size_t>(os.w) * os.c;
        // Random chunks, including empty ones, in random order of size.
        std::vector<float> split(whole.size(), std::numeric_limits<float>::quiet_NaN());
        a.output = split.data();
        int r = 0;
        while (r < rows) {
            const int end = std::min(rows, r + rng.integer(0, 3));
            a.row_begin = r;
            a.row_end = end;
            k::depthwise_conv(a);
            // Rows from `end` on are untouched (still NaN).
            for (std::size_t i = static_cast<std::size_t>(end) * row_floats; i < split.size(); ++i)
                REQUIRE(std::isnan(split[i]));
            r = end;
        }
        CHECK(std::memcmp(split.data(), whole.data(), whole.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("depthwise_conv: zero input gives act(bias) everywhere") {
    DwCase t;
    t.in = Shape{1, 6, 7, 19};
    t.kernel = 5;
    t.stride = 2;
    t.act = Activation::sigmoid;
    edet_test::Random rng(3);
    DwBuffers b = make_buffers(t, rng);
    std::fill(b.input.begin(), b.input.end(), 0.0f);
    k::depthwise_conv(b.args(t));
    const Shape os = t.out();
    for (std::size_t i = 0; i < b.output.size(); ++i) {
        const float want = 1.0f / (1.0f + std::exp(-b.bias[i % static_cast<std::size_t>(os.c)]));
        REQUIRE(std::fabs(b.output[i] - want) <= 1e-6f);
    }
}

TEST_CASE("depthwise_conv: misuse throws edet::Error") {
    DwCase t;
    t.in = Shape{2, 8, 8, 20};
    t.kernel = 3;
    t.stride = 2;
    edet_test::Random rng(5);
    DwBuffers b = make_buffers(t, rng);
    const k::DepthwiseConvArgs good = b.args(t);
    CHECK_NOTHROW(k::depthwise_conv(good));
    auto bad = [&](auto&& change) {
        k::DepthwiseConvArgs a = good;
        change(a);
        CHECK_THROWS_AS(k::depthwise_conv(a), edet::Error);
        CHECK_THROWS_AS(k::ref::depthwise_conv(a), edet::Error);
    };
    bad([](k::DepthwiseConvArgs& a) { a.input = nullptr; });
    bad([](k::DepthwiseConvArgs& a) { a.weights = nullptr; });
    bad([](k::DepthwiseConvArgs& a) { a.output = nullptr; });
    bad([](k::DepthwiseConvArgs& a) { a.output_shape.h += 1; });
    bad([](k::DepthwiseConvArgs& a) { a.output_shape.w -= 1; });
    bad([](k::DepthwiseConvArgs& a) { a.output_shape.c = 21; });
    bad([](k::DepthwiseConvArgs& a) { a.output_shape.n = 1; });
    bad([](k::DepthwiseConvArgs& a) { a.input_shape.c = 0; });
    bad([](k::DepthwiseConvArgs& a) { a.kernel = 0; });
    bad([](k::DepthwiseConvArgs& a) { a.stride = 0; });
    bad([](k::DepthwiseConvArgs& a) { a.kernel = 11; });  // larger than the padded input
    bad([](k::DepthwiseConvArgs& a) { a.pad.left = -1; });
    bad([](k::DepthwiseConvArgs& a) { a.pad.top = 1 << 30; });
    bad([](k::DepthwiseConvArgs& a) { a.row_begin = -1; });
    bad([](k::DepthwiseConvArgs& a) { a.row_begin = 3, a.row_end = 2; });
    bad([](k::DepthwiseConvArgs& a) { a.row_end = 9; });  // 2 images x 4 rows
    bad([](k::DepthwiseConvArgs& a) { a.row_begin = 9; });
    bad([&](k::DepthwiseConvArgs& a) { a.output = b.input.data() + 5; });  // overlaps the input
    CHECK_THROWS_AS(k::pack_depthwise_weights(nullptr, 4, 3), edet::Error);
}

TEST_CASE("depthwise_conv: row-window input (fused producers) equals the whole-tensor result") {
    // A window holding only the input rows a chunk of output rows reads gives exactly the
    // values computed from the whole tensor, fast and reference paths alike.
    edet_test::Random rng(314);
    for (int iter = 0; iter < 80; ++iter) {
        const int kernel = rng.integer(1, 5), stride = rng.integer(1, 2);
        const int c = rng.integer(1, 40), h = rng.integer(1, 19), w = rng.integer(1, 19);
        const PaddingMode mode = iter % 2 ? PaddingMode::tf_same : PaddingMode::symmetric;
        const Padding2d pad = k::conv_padding(h, w, kernel, stride, mode);
        const Shape in{1, h, w, c};
        const Shape out{1, k::conv_output_size(h, kernel, stride, pad.top, pad.bottom),
                        k::conv_output_size(w, kernel, stride, pad.left, pad.right), c};
        if (out.h < 1 || out.w < 1) continue;
        const std::vector<float> x = rng.vector(in.numel()), wt = rng.vector(static_cast<std::size_t>(kernel) * kernel * c);
        const std::vector<float> bias = rng.vector(static_cast<std::size_t>(c));
        const auto packed = k::pack_depthwise_weights(wt.data(), c, kernel);
        k::DepthwiseConvArgs a;
        a.input = x.data();
        a.input_shape = in;
        a.weights = packed.data();
        a.bias = bias.data();
        a.output_shape = out;
        a.kernel = kernel;
        a.stride = stride;
        a.pad = pad;
        a.activation = iter % 3 ? Activation::swish : Activation::relu6;
        std::vector<float> whole(out.numel()), fast(out.numel()), ref(out.numel());
        a.output = whole.data();
        k::depthwise_conv(a);
        const int r0 = rng.integer(0, out.h - 1), r1 = rng.integer(r0 + 1, out.h);
        const auto rows = k::depthwise_input_rows(r0, r1, h, kernel, stride, pad.top);
        INFO("iter ", iter, " k ", kernel, " s ", stride, " c ", c, " in ", in.str(), " rows [", r0, ", ", r1, ") window [",
             rows.first, ", ", rows.second, ")");
        const std::size_t row_floats = static_cast<std::size_t>(w) * c;
        std::vector<float> window(x.begin() + static_cast<std::ptrdiff_t>(rows.first * row_floats),
                                  x.begin() + static_cast<std::ptrdiff_t>(rows.second * row_floats));
        window.push_back(0.0f);  // never empty, so data() is a valid pointer
        a.input = window.data();
        a.input_row0 = rows.first;
        a.input_rows = std::max(1, rows.second - rows.first);
        if (rows.second == rows.first) continue;  // every tap in the padding: nothing to read
        a.row_begin = r0;
        a.row_end = r1;
        a.output = fast.data();
        k::depthwise_conv(a);
        a.output = ref.data();
        k::ref::depthwise_conv(a);
        const std::size_t b = static_cast<std::size_t>(r0) * out.w * c, e = static_cast<std::size_t>(r1) * out.w * c;
        for (std::size_t i = b; i < e; ++i) {
            REQUIRE(fast[i] == whole[i]);
            REQUIRE(std::fabs(ref[i] - whole[i]) <= 1e-5f * (1.0f + std::fabs(whole[i])));
        }
        // A window one row short of what the rows read is refused.
        if (rows.second - rows.first >= 2) {
            a.input_rows = rows.second - rows.first - 1;
            a.output = fast.data();
            CHECK_THROWS_AS(k::depthwise_conv(a), edet::Error);
        }
    }
    // Windows need one image, and input_row0 needs input_rows.
    const std::vector<float> x(2 * 4 * 4 * 8, 1.0f), wt(9 * 8, 1.0f);
    std::vector<float> y(2 * 4 * 4 * 8);
    k::DepthwiseConvArgs a;
    a.input = x.data();
    a.input_shape = Shape{2, 4, 4, 8};
    a.weights = wt.data();
    a.output = y.data();
    a.output_shape = Shape{2, 4, 4, 8};
    a.pad = Padding2d{1, 1, 1, 1};
    a.input_rows = 4;
    CHECK_THROWS_AS(k::depthwise_conv(a), edet::Error);
    a.input_shape.n = a.output_shape.n = 1;
    a.input_rows = 0;
    a.input_row0 = 1;
    CHECK_THROWS_AS(k::depthwise_conv(a), edet::Error);
}
