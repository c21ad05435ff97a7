// Tests for edet/detect/anchors.hpp: sizes, order and the fixtures' anchors bit for bit.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "detect/fixture_reader.hpp"
#include "edet/detect/anchors.hpp"
#include "edet/detect/variants.hpp"
#include "test_util.hpp"

using edet::detect::AnchorConfig;
using edet::detect::generate_anchors;
using edet::detect::level_size;

TEST_CASE("anchors: level sizes halve with ceiling, lite0 P7 is 3x3") {
    CHECK(level_size(512, 512, 3) == std::array<int, 2>{64, 64});
    CHECK(level_size(512, 512, 7) == std::array<int, 2>{4, 4});
    CHECK(level_size(320, 320, 7) == std::array<int, 2>{3, 3});
    CHECK(level_size(448, 448, 7) == std::array<int, 2>{4, 4});
    CHECK(level_size(256, 384, 3) == std::array<int, 2>{32, 48});
    CHECK(level_size(1536, 1536, 8) == std::array<int, 2>{6, 6});
}

TEST_CASE("anchors: count, order and the first box by hand") {
    AnchorConfig cfg;  // 512x512, P3-P7, anchor scale 4
    const std::vector<float> a = generate_anchors(cfg);
    CHECK(a.size() == 49104u * 4);
    // Level 3, cell (0, 0), octave 0, aspect (1, 1): centre 4, half extent 4*8/2 = 16.
    CHECK(a[0] == -12.0f);
    CHECK(a[1] == -12.0f);
    CHECK(a[2] == 20.0f);
    CHECK(a[3] == 20.0f);
    // Aspect (1.4, 0.7): width x 1.4 -> half x = 22.4, half y = 11.2.
    CHECK(a[4 + 1] == static_cast<float>(4.0 - 32.0 * 1.4 / 2.0));
    CHECK(a[4 + 0] == static_cast<float>(4.0 - 32.0 * 0.7 / 2.0));
    // The second cell of the row moves x by the stride (8), not y.
    CHECK(a[9 * 4 + 1] == a[1] + 8.0f);
    CHECK(a[9 * 4 + 0] == a[0]);
    // Lite0's P7 stride is 320/3, not 128: the centre of its first cell is 53.33.
    AnchorConfig lite;
    lite.image_height = lite.image_width = 320;
    lite.anchor_scale = 3.0;
    const std::vector<float> b = generate_anchors(lite);
    const std::size_t p7_first = (40 * 40 + 20 * 20 + 10 * 10 + 5 * 5) * 9;
    CHECK(b.size() == (p7_first + 9 * 9) * 4);
    const double stride = 320.0 / 3.0;
    CHECK(b[p7_first * 4 + 0] == static_cast<float>(stride / 2 - 3.0 * stride / 2.0));
}

TEST_CASE("anchors: bad configs throw") {
    AnchorConfig cfg;
    cfg.max_level = 2;
    CHECK_THROWS_AS(generate_anchors(cfg), edet::Error);
    cfg = AnchorConfig{};
    cfg.image_width = 0;
    CHECK_THROWS_AS(generate_anchors(cfg), edet::Error);
}

using edet_test::FixtureCase;
using edet_test::kFixtures;

TEST_CASE("anchors: equal the fixtures' anchors bit for bit" * doctest::test_suite("parity")) {
    for (const FixtureCase& fc : kFixtures) {
        INFO("fixture " << fc.folder);
        const std::string dir = edet_test::fixtures_dir() + "/" + fc.folder;
        const edet_test::FixtureTensor input = edet_test::FixtureFile(dir + "/input.safetensors").read("input");
        const edet_test::FixtureTensor ref = edet_test::FixtureFile(dir + "/outputs.safetensors").read("anchors");
        const edet::detect::VariantInfo& v = edet::detect::variant_info(fc.variant);
        AnchorConfig cfg;
        cfg.image_height = static_cast<int>(input.shape[2]);
        cfg.image_width = static_cast<int>(input.shape[3]);
        cfg.min_level = v.min_level;
        cfg.max_level = v.max_level;
        cfg.anchor_scale = v.anchor_scale;
        const std::vector<float> got = generate_anchors(cfg);
        REQUIRE(got.size() == ref.values.size());
        std::size_t differ = 0, first = 0;
        for (std::size_t i = 0; i < got.size(); ++i)
            if (std::memcmp(&got[i], &ref.values[i], 4) != 0 && differ++ == 0) first = i;
        INFO("first differing value at " << first << ": got " << got[first] << " want " << ref.values[first]);
        CHECK(differ == 0);
    }
}

TEST_CASE("anchors: aspect ratios as effdet's configs spell them") {
    using edet::detect::format_aspect_ratios;
    using edet::detect::parse_aspect_ratios;
    const auto pairs = parse_aspect_ratios("1.0x1.0, 1.4x0.7,0.7x1.4");
    REQUIRE(pairs.size() == 3);
    CHECK(pairs[1][0] == 1.4);
    CHECK(pairs[1][1] == 0.7);
    // A single ratio r: (sqrt(r), 1 / sqrt(r)), as effdet's anchors.py computes it.
    const auto ratios = parse_aspect_ratios("1.0,2.0,0.5");
    REQUIRE(ratios.size() == 3);
    CHECK(ratios[0][0] == 1.0);
    CHECK(ratios[0][1] == 1.0);
    CHECK(ratios[1][0] == std::sqrt(2.0));
    CHECK(ratios[1][1] == 1.0 / std::sqrt(2.0));
    CHECK(ratios[2][0] == std::sqrt(0.5));
    // Formatting reads back to the same doubles.
    CHECK(parse_aspect_ratios(format_aspect_ratios(ratios)) == ratios);
    CHECK(format_aspect_ratios(pairs) == "1x1,1.4x0.7,0.7x1.4");
    for (const char* bad : {"", "1.0,", "0", "-1", "1x", "x1", "a", "1.0x0.5x2", "inf", "nan", "1e999"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_aspect_ratios(bad), edet::Error);
    }
}

TEST_CASE("anchors: the custom fixture's anchors (2 scales, ratios 1,2,0.5, scale 3, 256x384)" *
          doctest::test_suite("parity")) {
    const std::string dir = edet_test::fixtures_dir() + "/custom/tf_efficientdet_lite0_c3_s7_256x384";
    const edet_test::FixtureTensor ref = edet_test::FixtureFile(dir + "/outputs.safetensors").read("anchors");
    AnchorConfig cfg;
    cfg.image_height = 256;
    cfg.image_width = 384;
    cfg.num_scales = 2;
    cfg.anchor_scale = 3.0;
    cfg.aspects = edet::detect::parse_aspect_ratios("1.0,2.0,0.5");
    const std::vector<float> got = generate_anchors(cfg);
    REQUIRE(got.size() == ref.values.size());
    std::size_t differ = 0;
    for (std::size_t i = 0; i < got.size(); ++i) differ += std::memcmp(&got[i], &ref.values[i], 4) != 0;
    CHECK(differ == 0);
}
