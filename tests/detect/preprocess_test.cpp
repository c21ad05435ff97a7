// Tests for edet/detect/preprocess.hpp: Pillow's bilinear resize against bytes Pillow
// produced (tests/data/detect/make_refs.py, Pillow 9.4), letterbox geometry and the full
// effdet preprocessing against numpy's float32 result.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "edet/detect/preprocess.hpp"
#include "test_util.hpp"

using namespace edet::detect;
using edet::io::Image;

namespace {
std::string data(const std::string& name) { return edet_test::test_data_dir() + "/detect/" + name; }
}  // namespace

TEST_CASE("preprocess: Pillow bilinear resize, up and down, one axis only - bit-exact") {
    const Image src = edet::io::read_image(data("resize_src_97x61.png"));
    for (auto wh : {std::pair<int, int>{211, 133}, {40, 25}, {97, 30}}) {
        const std::string name = "resize_pillow_" + std::to_string(wh.first) + "x" + std::to_string(wh.second) + ".png";
        INFO(name);
        const Image want = edet::io::read_image(data(name));
        const Image got = resize_bilinear_pillow(src, wh.first, wh.second);
        REQUIRE(got.rgb.size() == want.rgb.size());
        int worst = 0;
        std::size_t differ = 0;
        for (std::size_t i = 0; i < got.rgb.size(); ++i) {
            const int d = std::abs(int(got.rgb[i]) - int(want.rgb[i]));
            worst = std::max(worst, d);
            differ += d != 0;
        }
        INFO("max diff " << worst << ", " << differ << " of " << got.rgb.size() << " values differ");
        CHECK(worst <= 1);
        CHECK(differ * 100 < got.rgb.size());
        CHECK(differ == 0);  // the aim, and what we measure: bit-exact
    }
}

TEST_CASE("preprocess: resize taps are normalised and cover the input") {
    for (auto io : {std::pair<int, int>{1, 512}, {512, 1}, {640, 512}, {77, 319}, {1000, 17}, {3, 3}}) {
        INFO(io.first << " -> " << io.second);
        const ResampleTaps t = pillow_bilinear_taps(io.first, io.second);
        for (int i = 0; i < io.second; ++i) {
            const int first = t.first[std::size_t(i)], count = t.count[std::size_t(i)];
            REQUIRE(first >= 0);
            REQUIRE(count >= 1);
            REQUIRE(first + count <= io.first);
            REQUIRE(count <= t.max_taps);
            long long sum = 0;
            for (int j = 0; j < count; ++j) sum += t.coeffs[std::size_t(i) * std::size_t(t.max_taps) + std::size_t(j)];
            CHECK(std::llabs(sum - (1LL << kPillowPrecisionBits)) <= count);
        }
    }
    // A constant image stays constant whatever the sizes.
    Image flat(13, 7, 201, 3, 99);
    const Image r = resize_bilinear_pillow(flat, 50, 2);
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 50; ++x) {
            CHECK(r.at(x, y)[0] == 201);
            CHECK(r.at(x, y)[2] == 99);
        }
}

TEST_CASE("preprocess: letterbox geometry truncates like Python's int()") {
    const LetterboxGeometry g = letterbox_geometry(640, 427, 512, 512);
    CHECK(g.scale == 0.8);
    CHECK(g.resized_w == 512);
    CHECK(g.resized_h == 341);  // int(427 * 0.8) = int(341.6)
    CHECK(g.img_scale() == 1.25f);
    const LetterboxGeometry t = letterbox_geometry(100, 300, 512, 512);
    CHECK(t.resized_h == 512);
    CHECK(t.resized_w == 170);  // int(100 * 1.7066...) = 170
    const LetterboxGeometry one = letterbox_geometry(1, 1, 320, 320);
    CHECK(one.resized_w == 320);
    const LetterboxGeometry thin = letterbox_geometry(10000, 1, 512, 512);
    CHECK(thin.resized_h == 1);  // int() would give 0; one row survives
    CHECK_THROWS_AS(letterbox_geometry(0, 5, 512, 512), edet::Error);
}

TEST_CASE("preprocess: effdet letterbox equals Pillow + numpy float32 (64x48, ImageNet)") {
    const Image src = edet::io::read_image(data("resize_src_97x61.png"));
    PreprocessOptions opt;  // ImageNet mean/std, fill 124,116,104
    opt.height = 48;
    opt.width = 64;
    const Letterbox lb = letterbox(src, opt);
    const std::vector<std::uint8_t> raw = edet::io::read_file_bytes(data("letterbox_64x48_imagenet.f32"));
    REQUIRE(raw.size() == 48u * 64 * 3 * 4);
    std::vector<float> want(48 * 64 * 3);
    std::memcpy(want.data(), raw.data(), raw.size());
    REQUIRE(lb.input.numel() == want.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < want.size(); ++i) differ += std::memcmp(&lb.input.data()[i], &want[i], 4) != 0;
    CHECK(differ == 0);
    CHECK(lb.geometry.resized_w == 64);
    CHECK(lb.geometry.resized_h == 40);
}

TEST_CASE("preprocess: variants map to their normalisation; lite uses 0.5 and grey fill") {
    const PreprocessOptions lite = PreprocessOptions::for_variant("tf_efficientdet_lite0");
    CHECK(lite.height == 320);
    CHECK(lite.fill[0] == 128);
    const PreprocessOptions ap = PreprocessOptions::for_variant("tf_efficientdet_d3_ap");
    CHECK(ap.height == 896);
    CHECK(ap.fill[1] == 0);
    CHECK(ap.mean[2] == 0.5);
    CHECK(variant_info("tf_efficientdet_d3_ap").network == std::string("tf_efficientdet_d3"));
    CHECK_THROWS_AS(PreprocessOptions::for_variant("efficientdet_d9"), edet::Error);
    // A 2x1 white image into a lite 4x4 canvas: row 0..1 white ((255-127.5)/127.5 = 1), rest fill.
    PreprocessOptions o = lite;
    o.height = o.width = 4;
    const Letterbox lb = letterbox(Image(2, 1, 255, 255, 255), o);
    CHECK(lb.input.at(0, 0, 0, 0) == 1.0f);
    CHECK(lb.input.at(0, 1, 3, 0) == 1.0f);
    CHECK(lb.input.at(0, 2, 0, 0) == (128.0f - 127.5f) / 127.5f);
    CHECK(lb.input.at(0, 3, 3, 2) == (128.0f - 127.5f) / 127.5f);
}

TEST_CASE("preprocess: automl mode normalises first, pads with zeros") {
    PreprocessOptions o;
    o.mode = PreprocessOptions::Mode::automl;
    o.height = o.width = 8;
    o.mean = {0.5, 0.5, 0.5};
    o.std = {0.5, 0.5, 0.5};
    const Letterbox lb = letterbox(Image(4, 2, 255, 0, 255), o);  // -> 8x4 resized
    CHECK(lb.geometry.resized_h == 4);
    CHECK(lb.input.at(0, 0, 0, 0) == 1.0f);
    CHECK(lb.input.at(0, 3, 7, 1) == -1.0f);
    CHECK(lb.input.at(0, 4, 0, 0) == 0.0f);
    CHECK(lb.input.at(0, 7, 7, 2) == 0.0f);
}
