// Tests for edet/kernels/resize.hpp: the source index rule (worked examples), fast
// nearest resize == reference over random shapes, range splits, misuse.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "edet/kernels/activation.hpp"
#include "edet/kernels/resize.hpp"
#include "test_util.hpp"

using edet::Shape;
namespace k = edet::kernels;

namespace {
std::vector<int> source_indices(int in, int out) {
    std::vector<int> v;
    for (int d = 0; d < out; ++d) v.push_back(k::nearest_source_index(d, in, out));
    return v;
}
}  // namespace

TEST_CASE("resize: source index rule matches the reference's worked examples") {
    CHECK(source_indices(3, 5) == std::vector<int>{0, 0, 1, 1, 2});        // lite0 P7 -> P6
    CHECK(source_indices(4, 7) == std::vector<int>{0, 0, 1, 1, 2, 2, 3});  // lite2 P7 -> P6
    CHECK(source_indices(5, 3) == std::vector<int>{0, 1, 3});              // down: floor(d * 5/3)
    CHECK(source_indices(1, 4) == std::vector<int>{0, 0, 0, 0});
    CHECK(source_indices(6, 6) == std::vector<int>{0, 1, 2, 3, 4, 5});
    for (int in = 1; in <= 1024; ++in)
        for (int d = 0; d < 2 * in; ++d) {
            CAPTURE(in);
            CAPTURE(d);
            REQUIRE(k::nearest_source_index(d, in, 2 * in) == d >> 1);  // exact 2x
        }
}

TEST_CASE("resize: hand-worked 1x2x3x2 -> 1x3x5x2") {
    // rows read [0, 0, 1] (2 -> 3: floor(d * 0.6667) = 0, 0, 1); cols read [0, 0, 1, 1, 2].
    const std::vector<float> in = {0, 1, 2, 3, 4, 5,      // row 0: pixels (0,1) (2,3) (4,5)
                                   10, 11, 12, 13, 14, 15};  // row 1
    std::vector<float> out(3 * 5 * 2, -1.0f);
    k::ResizeNearestArgs a{in.data(), Shape{1, 2, 3, 2}, out.data(), Shape{1, 3, 5, 2}};
    k::resize_nearest(a);
    const std::vector<float> row0 = {0, 1, 0, 1, 2, 3, 2, 3, 4, 5};
    const std::vector<float> row1 = {10, 11, 10, 11, 12, 13, 12, 13, 14, 15};
    std::vector<float> want = row0;
    want.insert(want.end(), row0.begin(), row0.end());
    want.insert(want.end(), row1.begin(), row1.end());
    CHECK(out == want);
}

TEST_CASE("resize: fast == reference over random shapes, with range splits") {
    const int W = static_cast<int>(k::kFloatLanes);
    edet_test::Random rng(31);
    const std::vector<int> channels = {1, 2, 3, W - 1, W, W + 1, 64, 88};
    for (int t = 0; t < 200; ++t) {
        const Shape is{rng.integer(1, 2), rng.integer(1, 11), rng.integer(1, 11), rng.pick(channels)};
        Shape os = is;
        switch (t % 4) {
            case 0: os.h = 2 * is.h; os.w = 2 * is.w; break;  // the common BiFPN case
            case 1: os.h = 2 * is.h - 1; os.w = 2 * is.w - 1 > 0 ? 2 * is.w - 1 : 1; break;  // odd level sizes
            case 2: os.h = rng.integer(1, 23); os.w = rng.integer(1, 23); break;
            default: os.h = is.h; os.w = rng.integer(1, 23); break;
        }
        const std::vector<float> in = rng.vector(is.numel());
        std::vector<float> want(os.numel(), 1.0f), got(os.numel(), 2.0f);
        k::ResizeNearestArgs a{in.data(), is, want.data(), os};
        k::ref::resize_nearest(a);
        a.output = got.data();
        k::resize_nearest(a);
        const auto e = edet_test::compare(got.data(), want.data(), got.size());
        INFO(is.str(), " -> ", os.str(), " max abs ", e.max_abs, " rel ", e.rel(), " at ", e.worst);
        REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
        const int rows = os.n * os.h;
        const int cut1 = rng.integer(0, rows), cut2 = rng.integer(cut1, rows);
        std::vector<float> split(os.numel(), 3.0f);
        a.output = split.data();
        for (auto [b, e2] : {std::pair<int, int>{0, cut1}, {cut1, cut2}, {cut2, rows}}) {
            a.row_begin = b;
            a.row_end = e2;
            k::resize_nearest(a);
        }
        INFO("split at rows ", cut1, ", ", cut2, " of ", rows);
        REQUIRE(std::memcmp(split.data(), want.data(), got.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("resize: misuse throws edet::Error") {
    std::vector<float> in(2 * 3 * 3 * 4), out(2 * 6 * 6 * 4);
    const k::ResizeNearestArgs ok{in.data(), Shape{2, 3, 3, 4}, out.data(), Shape{2, 6, 6, 4}};
    k::resize_nearest(ok);
    auto b = ok;
    b.input = nullptr;
    CHECK_THROWS_AS(k::resize_nearest(b), edet::Error);
    b = ok;
    b.output = nullptr;
    CHECK_THROWS_AS(k::resize_nearest(b), edet::Error);
    b = ok;
    b.output_shape.c = 3;
    CHECK_THROWS_AS(k::resize_nearest(b), edet::Error);
    b = ok;
    b.output_shape.n = 1;
    CHECK_THROWS_AS(k::resize_nearest(b), edet::Error);
    b = ok;
    b.output_shape.h = 0;
    CHECK_THROWS_AS(k::resize_nearest(b), edet::Error);
    b = ok;
    b.row_begin = -1;
    CHECK_THROWS_AS(k::resize_nearest(b), edet::Error);
    b = ok;
    b.row_end = 13;
    CHECK_THROWS_AS(k::resize_nearest(b), edet::Error);
}
