// Tests for edet/kernels/pool.hpp: fast max pool and global average pool against the
// scalar references (bit-identical), hand-worked cases, range splits and misuse.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "edet/kernels/pool.hpp"
#include "test_util.hpp"

using edet::PaddingMode;
using edet::Shape;
namespace k = edet::kernels;

namespace {

const int W = static_cast<int>(k::kFloatLanes);

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

k::MaxPoolArgs pool_args(const std::vector<float>& in, Shape is, std::vector<float>& out, int kernel, int stride,
                         edet::Padding2d pad) {
    k::MaxPoolArgs a;
    a.input = in.data();
    a.input_shape = is;
    a.kernel = kernel;
    a.stride = stride;
    a.pad = pad;
    a.output_shape = Shape{is.n, k::conv_output_size(is.h, kernel, stride, pad.top, pad.bottom),
                           k::conv_output_size(is.w, kernel, stride, pad.left, pad.right), is.c};
    out.assign(a.output_shape.numel(), 12345.0f);
    a.output = out.data();
    return a;
}

}  // namespace

TEST_CASE("max_pool: hand-worked 3x3 input, k3 s2 TF-same (pad 1 each side): padding never wins") {
    // in = 3, out = ceil(3/2) = 2, total pad = (2-1)*2 + 3 - 3 = 2 -> 1 before, 1 after.
    // Input 1..9 row-major; windows: (0,0) rows/cols -1..1 -> {1,2,4,5}; (0,1) cols 1..3 ->
    // {2,3,5,6}; (1,0) -> {4,5,7,8}; (1,1) -> {5,6,8,9}.
    for (float sign : {1.0f, -1.0f}) {
        std::vector<float> in(9), out;
        for (int i = 0; i < 9; ++i) in[static_cast<std::size_t>(i)] = sign * static_cast<float>(i + 1);
        const edet::Padding2d pad = edet::kernels::conv_padding(3, 3, 3, 2, PaddingMode::tf_same);
        CHECK(pad.top == 1);
        CHECK(pad.bottom == 1);
        auto a = pool_args(in, Shape{1, 3, 3, 1}, out, 3, 2, pad);
        k::max_pool(a);
        if (sign > 0) {
            CHECK(out == std::vector<float>{5, 6, 8, 9});
        } else {
            // All values negative: a zero (or any finite) pad would win; -inf never does.
            CHECK(out == std::vector<float>{-1, -2, -4, -5});
        }
    }
    // 4x4, TF-same: out 2, total = (2-1)*2 + 3 - 4 = 1 -> 0 before, 1 after.
    // Windows rows {0..2}, {2..4}: (0,0) = max of rows 0-2, cols 0-2 of 1..16 = 11;
    // (0,1) cols 2..3 = 12; (1,0) rows 2..3 = 15; (1,1) = 16.
    std::vector<float> in(16), out;
    for (int i = 0; i < 16; ++i) in[static_cast<std::size_t>(i)] = static_cast<float>(i + 1);
    auto a = pool_args(in, Shape{1, 4, 4, 1}, out, 3, 2, k::conv_padding(4, 4, 3, 2, PaddingMode::tf_same));
    k::max_pool(a);
    CHECK(out == std::vector<float>{11, 12, 15, 16});
}

TEST_CASE("max_pool: fast == reference over random shapes, both paddings, any kernel/stride") {
    edet_test::Random rng(77);
    const std::vector<int> channels = {1, 2, 3, W - 1, W, W + 1, 2 * W + 3, 64, 88};
    int cases = 0;
    for (int t = 0; t < 240; ++t) {
        const Shape is{rng.integer(1, 2), rng.integer(1, 13), rng.integer(1, 13), rng.pick(channels)};
        int kernel = 3, stride = 2;
        edet::Padding2d pad;
        const int mode = t % 3;
        if (mode == 0) {
            pad = k::conv_padding(is.h, is.w, 3, 2, PaddingMode::tf_same);
        } else if (mode == 1) {
            pad = k::conv_padding(is.h, is.w, 3, 2, PaddingMode::symmetric);  // pad 1
        } else {
            kernel = rng.integer(1, 4);
            stride = rng.integer(1, 3);
            pad = {rng.integer(0, kernel - 1), rng.integer(0, kernel - 1), rng.integer(0, kernel - 1),
                   rng.integer(0, kernel - 1)};
        }
        if (is.h + pad.top + pad.bottom < kernel || is.w + pad.left + pad.right < kernel) continue;
        // Half the cases all-negative, so a wrongly zero-padded tap would win.
        const bool negative = t % 2 == 0;
        std::vector<float> in = rng.vector(is.numel(), negative ? -9.0f : -1.0f, negative ? -0.5f : 1.0f);
        std::vector<float> want, got;
        auto ra = pool_args(in, is, want, kernel, stride, pad);
        auto fa = pool_args(in, is, got, kernel, stride, pad);
        k::ref::max_pool(ra);
        k::max_pool(fa);
        const auto e = edet_test::compare(got.data(), want.data(), got.size());
        INFO("input ", is.str(), " kernel ", kernel, " stride ", stride, " pad t/b/l/r ", pad.top, "/", pad.bottom,
             "/", pad.left, "/", pad.right, " max abs ", e.max_abs, " rel ", e.rel(), " at ", e.worst);
        REQUIRE(same_bits(got, want));
        for (float v : got) REQUIRE(std::isfinite(v));

        // The same rows split into three calls give identical results.
        const int rows = fa.output_shape.n * fa.output_shape.h;
        const int cut1 = rng.integer(0, rows), cut2 = rng.integer(cut1, rows);
        std::vector<float> split(got.size(), 999.0f);
        fa.output = split.data();
        for (auto [b, e2] : {std::pair<int, int>{0, cut1}, {cut1, cut2}, {cut2, rows}}) {
            fa.row_begin = b;
            fa.row_end = e2;
            k::max_pool(fa);
        }
        INFO("split at rows ", cut1, ", ", cut2, " of ", rows);
        REQUIRE(same_bits(split, want));
        ++cases;
    }
    CHECK(cases >= 150);
}

TEST_CASE("max_pool: NaN and -inf inputs are treated as the reference treats them") {
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    const Shape is{1, 5, 5, W + 3};
    edet_test::Random rng(5);
    std::vector<float> in = rng.vector(is.numel());
    for (std::size_t i = 0; i < in.size(); i += 7) in[i] = nan;
    for (std::size_t i = 3; i < in.size(); i += 11) in[i] = -inf;
    std::vector<float> want, got;
    const auto pad = k::conv_padding(5, 5, 3, 2, PaddingMode::tf_same);
    auto ra = pool_args(in, is, want, 3, 2, pad);
    auto fa = pool_args(in, is, got, 3, 2, pad);
    k::ref::max_pool(ra);
    k::max_pool(fa);
    CHECK(same_bits(got, want));
}

TEST_CASE("max_pool: misuse throws edet::Error") {
    std::vector<float> in(2 * 5 * 5 * 3), out;
    auto a = pool_args(in, Shape{2, 5, 5, 3}, out, 3, 2, edet::Padding2d{1, 1, 1, 1});
    k::max_pool(a);  // valid
    auto b = a;
    b.input = nullptr;
    CHECK_THROWS_AS(k::max_pool(b), edet::Error);
    b = a;
    b.output = nullptr;
    CHECK_THROWS_AS(k::max_pool(b), edet::Error);
    b = a;
    b.output_shape.h += 1;
    CHECK_THROWS_AS(k::max_pool(b), edet::Error);
    b = a;
    b.output_shape.c = 4;
    CHECK_THROWS_AS(k::max_pool(b), edet::Error);
    b = a;
    b.stride = 0;
    CHECK_THROWS_AS(k::max_pool(b), edet::Error);
    b = a;
    b.kernel = 0;
    CHECK_THROWS_AS(k::max_pool(b), edet::Error);
    b = a;
    b.pad.left = 3;  // a window entirely in the padding would output -inf
    CHECK_THROWS_AS(k::max_pool(b), edet::Error);
    b = a;
    b.pad.top = -1;
    CHECK_THROWS_AS(k::max_pool(b), edet::Error);
    b = a;
    b.row_begin = 2;
    b.row_end = 1;
    CHECK_THROWS_AS(k::max_pool(b), edet::Error);
    b = a;
    b.row_end = 2 * 3 + 1;
    CHECK_THROWS_AS(k::max_pool(b), edet::Error);
    b = a;
    b.input_shape.w = 0;
    CHECK_THROWS_AS(k::max_pool(b), edet::Error);
}

TEST_CASE("global_average_pool: hand-worked, fast == reference over random shapes, misuse") {
    {
        // 1x2x2x2: channel 0 = 1,2,3,4 -> 10/4 = 2.5; channel 1 = -1,0,0,3 -> 2/4 = 0.5.
        const std::vector<float> in = {1, -1, 2, 0, 3, 0, 4, 3};
        std::vector<float> out(2);
        k::GlobalAveragePoolArgs a{in.data(), Shape{1, 2, 2, 2}, out.data()};
        k::global_average_pool(a);
        CHECK(out == std::vector<float>{2.5f, 0.5f});
    }
    edet_test::Random rng(99);
    const std::vector<int> channels = {1, 3, W - 1, W, W + 1, 4 * W, 4 * W + 5, 5 * W + 1, 96, 240};
    for (int t = 0; t < 120; ++t) {
        const Shape s{rng.integer(1, 3), rng.integer(1, 17), rng.integer(1, 17), rng.pick(channels)};
        const std::vector<float> in = rng.vector(s.numel(), -3.0f, 5.0f);
        std::vector<float> want(static_cast<std::size_t>(s.n) * s.c, 7.0f), got(want.size(), -7.0f);
        k::ref::global_average_pool({in.data(), s, want.data()});
        k::global_average_pool({in.data(), s, got.data()});
        const auto e = edet_test::compare(got.data(), want.data(), got.size());
        INFO("shape ", s.str(), " max abs ", e.max_abs, " rel ", e.rel(), " at ", e.worst);
        REQUIRE(same_bits(got, want));
        // An independent check in double: the float sum is close to the exact mean.
        for (int n = 0; n < s.n; ++n)
            for (int ch = 0; ch < s.c; ++ch) {
                double sum = 0.0;
                for (int p = 0; p < s.h * s.w; ++p)
                    sum += in[(static_cast<std::size_t>(n) * s.h * s.w + static_cast<std::size_t>(p)) * s.c + static_cast<std::size_t>(ch)];
                REQUIRE(std::fabs(got[static_cast<std::size_t>(n) * s.c + static_cast<std::size_t>(ch)] - sum / (s.h * s.w)) < 1e-5);
            }
    }
    std::vector<float> in(8), out(2);
    CHECK_THROWS_AS(k::global_average_pool({nullptr, Shape{1, 2, 2, 2}, out.data()}), edet::Error);
    CHECK_THROWS_AS(k::global_average_pool({in.data(), Shape{1, 2, 2, 2}, nullptr}), edet::Error);
    CHECK_THROWS_AS(k::global_average_pool({in.data(), Shape{1, 0, 2, 2}, out.data()}), edet::Error);
}

TEST_CASE("global_average_pool: the cascade sum stays accurate over a 256x256 map") {
    // A plain running float sum of 65536 values near 0.7 drifts by ~1e-4 relative (each
    // addition rounds at the size of the running total); the cascade sum stays near 1e-7.
    edet_test::Random rng(7);
    const Shape s{1, 256, 256, 3};
    const std::vector<float> in = rng.vector(s.numel(), 0.6f, 0.8f);
    std::vector<float> want(3), got(3);
    k::ref::global_average_pool({in.data(), s, want.data()});
    k::global_average_pool({in.data(), s, got.data()});
    CHECK(same_bits(got, want));
    for (int ch = 0; ch < 3; ++ch) {
        double exact = 0.0;
        float running = 0.0f;
        for (std::size_t p = 0; p < 65536; ++p) {
            exact += in[p * 3 + ch];
            running += in[p * 3 + ch];
        }
        exact /= 65536.0;
        const double cascade_err = std::fabs(got[ch] - exact) / exact;
        const double running_err = std::fabs(running / 65536.0f - exact) / exact;
        INFO("channel ", ch, " cascade rel err ", cascade_err, " running-sum rel err ", running_err);
        CHECK(cascade_err < 1e-6);
        CHECK(running_err > cascade_err);
    }
}

TEST_CASE("CascadeSummer: pixels fed in runs of any length give pool_sums' sums bit for bit") {
    edet_test::Random rng(41);
    const std::vector<int> channels = {1, 3, W - 1, W, W + 1, 2 * W + 3, 96, 144};
    const std::vector<std::size_t> counts = {1, 2, 15, 16, 17, 31, 32, 33, 100, 255, 256, 257, 1000, 4096, 4099};
    for (int t = 0; t < 80; ++t) {
        const std::size_t count = t < static_cast<int>(counts.size()) ? counts[static_cast<std::size_t>(t)]
                                                                        : static_cast<std::size_t>(rng.integer(1, 3000));
        const std::size_t C = static_cast<std::size_t>(rng.pick(channels));
        const std::vector<float> x = rng.vector(count * C, -2.0f, 3.0f);
        // Independent path: the contract's recursive cascade, one channel at a time.
        std::vector<float> want(C);
        for (std::size_t ch = 0; ch < C; ++ch)
            want[ch] = k::detail::cascade_sum<float>(x.data() + ch, count, C, [](const float* q) { return *q; });
        std::vector<float> fast(C), scratch(k::pool_sum_scratch_floats(count, C));
        k::pool_sums(x.data(), count, C, fast.data(), scratch.data());
        REQUIRE(same_bits(fast, want));
        // Runs: single pixels, whole rows of a random width, random lengths, everything at once.
        k::CascadeSummer summer;
        for (int mode = 0; mode < 4; ++mode) {
            summer.reset(count, C);  // reuses the plan when count and C repeat
            const std::size_t row = static_cast<std::size_t>(rng.integer(1, 40));
            std::size_t at = 0;
            while (at < count) {
                std::size_t n = mode == 0 ? 1 : mode == 1 ? row : mode == 2 ? static_cast<std::size_t>(rng.integer(0, 70)) : count;
                n = std::min(n, count - at);
                summer.add(x.data() + at * C, n);
                at += n;
            }
            CHECK(summer.fed() == count);
            std::vector<float> got(C, 9.0f);
            summer.finish(got.data());
            INFO("count ", count, " C ", C, " mode ", mode);
            REQUIRE(same_bits(got, want));
        }
    }
}

TEST_CASE("CascadeSummer: misuse throws edet::Error") {
    CHECK_THROWS_AS(k::CascadeSummer(0, 4), edet::Error);
    CHECK_THROWS_AS(k::CascadeSummer(4, 0), edet::Error);
    k::CascadeSummer s(20, 3);
    std::vector<float> px(3 * 21, 1.0f), out(3);
    s.add(px.data(), 19);
    CHECK_THROWS_AS(s.finish(out.data()), edet::Error);  // one pixel missing
    CHECK_THROWS_AS(s.add(px.data(), 2), edet::Error);   // one too many
    s.add(px.data(), 1);
    s.finish(out.data());
    CHECK(out == std::vector<float>{20.0f, 20.0f, 20.0f});
}
