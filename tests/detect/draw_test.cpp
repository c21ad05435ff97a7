// Tests for edet/detect/draw.hpp: a drawn box changes exactly its edge pixels, clipping,
// and text stays inside its tag.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "edet/detect/draw.hpp"
#include "test_util.hpp"

using namespace edet::detect;
using edet::io::Image;

namespace {
Image noise(int w, int h) {
    edet_test::Random rng(5);
    Image img(w, h);
    for (auto& b : img.rgb) b = static_cast<std::uint8_t>(rng.integer(0, 254));  // never 255
    return img;
}
}  // namespace

TEST_CASE("draw: a box differs from the source exactly along its edges") {
    const Image src = noise(60, 40);
    for (int thickness : {1, 2, 3}) {
        INFO("thickness " << thickness);
        Image img = src;
        const Rgb white{255, 255, 255};
        draw_rect(img, pixel_rect(10.2f, 5.6f, 30.4f, 20.49f), white, thickness);  // -> x 10..30, y 6..20
        int mismatches = 0;
        for (int y = 0; y < 40; ++y)
            for (int x = 0; x < 60; ++x) {
                const bool inside = x >= 10 && x <= 30 && y >= 6 && y <= 20;
                const bool edge = inside && (x < 10 + thickness || x > 30 - thickness || y < 6 + thickness || y > 20 - thickness);
                const bool changed = std::memcmp(img.at(x, y), src.at(x, y), 3) != 0;
                const bool is_white = img.at(x, y)[0] == 255 && img.at(x, y)[1] == 255 && img.at(x, y)[2] == 255;
                if (changed != edge || (edge && !is_white)) {
                    if (++mismatches < 4) {
                        INFO("pixel (" << x << ", " << y << ") changed " << changed << " edge " << edge);
                        CHECK(false);
                    }
                }
            }
        CHECK(mismatches == 0);
    }
}

TEST_CASE("draw: boxes outside or across the border are clipped, NaN is harmless") {
    const Image src = noise(20, 10);
    Image img = src;
    draw_rect(img, pixel_rect(-50, -50, 500, 500), {255, 255, 255}, 2);  // all edges outside
    CHECK(img.rgb == src.rgb);
    draw_rect(img, pixel_rect(5, -3, 8, 4), {255, 255, 255}, 1);  // top edge outside
    CHECK(img.at(5, 0)[0] == 255);
    CHECK(img.at(6, 4)[0] == 255);
    CHECK(std::memcmp(img.at(6, 2), src.at(6, 2), 3) == 0);
    Image img2 = src;
    draw_detections(img2, {{NAN, 1, 5, NAN, 3, "x"}, {1e30f, -1e30f, 2e30f, 3e30f, 4, ""}});
    CHECK(img2.width == 20);
}

TEST_CASE("draw: text renders inside its tag and differs per character") {
    Image a(80, 20, 0, 0, 0), b(80, 20, 0, 0, 0);
    draw_text(a, 2, 3, "dog 0.87", {255, 255, 255}, 1);
    draw_text(b, 2, 3, "cat 0.87", {255, 255, 255}, 1);
    CHECK(a.rgb != b.rgb);
    int ink = 0;
    for (int y = 0; y < 20; ++y)
        for (int x = 0; x < 80; ++x)
            if (a.at(x, y)[0] == 255) {
                ++ink;
                CHECK(x >= 2);
                CHECK(x < 2 + text_width("dog 0.87"));
                CHECK(y >= 3);
                CHECK(y < 3 + text_height());
            }
    CHECK(ink > 30);
    // Upper case draws as lower case.
    Image c(80, 20, 0, 0, 0);
    draw_text(c, 2, 3, "DOG 0.87", {255, 255, 255}, 1);
    CHECK(c.rgb == a.rgb);
    // Scale 2 doubles the extent.
    CHECK(text_width("ab", 2) == 24);
}

TEST_CASE("draw: detections get their class colour and a label tag") {
    Image img(100, 100, 0, 0, 0);
    draw_detections(img, {{20, 40, 80, 90, 18, "dog"}});
    const Rgb c = class_color(18);
    CHECK(img.at(20, 60)[0] == c[0]);
    CHECK(img.at(20, 60)[1] == c[1]);
    // The tag sits above the box (rows < 40) at its left edge.
    bool tag = false;
    for (int y = 20; y < 40; ++y) tag = tag || (img.at(22, y)[2] == c[2] && img.at(22, y)[0] == c[0]);
    CHECK(tag);
}
