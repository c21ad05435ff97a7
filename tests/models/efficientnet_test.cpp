// Tests for edet/models/efficientnet.hpp: block specs of the backbones (strides, skips,
// SE widths, Lite rules) as timm builds them.
#include <doctest/doctest.h>

#include "edet/models/efficientnet.hpp"

using namespace edet;

TEST_CASE("efficientnet: B0 blocks, strides, skips and SE widths") {
    const auto& b0 = kBackbones[static_cast<std::size_t>(find_backbone("tf_efficientnet_b0"))];
    const auto st = efficientnet_blocks(b0, 1e-3f);
    REQUIRE(st.size() == 7);
    std::size_t blocks = 0;
    for (const auto& s : st) blocks += s.size();
    CHECK(blocks == 16);
    CHECK(st[0][0].depthwise_separable);
    CHECK(st[0][0].in_channels == 32);
    CHECK(st[0][0].se_reduced == 8);  // DS block: stem / 4
    CHECK(st[1][0].mid_channels == 96);
    CHECK(st[1][0].se_reduced == 4);  // block_in / 4
    CHECK(st[1][0].stride == 2);
    CHECK_FALSE(st[1][0].has_skip());
    CHECK(st[1][1].stride == 1);
    CHECK(st[1][1].has_skip());
    CHECK(st[4][0].stride == 1);       // stage 4 keeps stride 16
    CHECK(st[4][0].kernel == 5);
    CHECK_FALSE(st[4][0].has_skip());  // 80 -> 112
    CHECK(st[6][0].out_channels == 320);
    CHECK(st[6][0].se_reduced == 48);  // 192 / 4
    CHECK(st[2][0].padding == PaddingMode::tf_same);
}

TEST_CASE("efficientnet: Lite has no SE and ReLU6; B1 stage 0 has a skip block; symmetric variants") {
    const auto& lite = kBackbones[static_cast<std::size_t>(find_backbone("tf_efficientnet_lite3"))];
    for (const auto& s : efficientnet_blocks(lite, 1e-3f))
        for (const auto& m : s) {
            CHECK(m.se_reduced == 0);
            CHECK(m.activation == Activation::relu6);
        }
    CHECK(efficientnet_blocks(lite, 1e-3f)[0][0].in_channels == 32);
    const auto& b1 = kBackbones[static_cast<std::size_t>(find_backbone("efficientnet_b1"))];
    const auto st = efficientnet_blocks(b1, 1e-5f);
    REQUIRE(st[0].size() == 2);
    CHECK(st[0][1].has_skip());
    CHECK(st[0][1].se_reduced == 4);  // 16 / 4
    CHECK(st[0][1].padding == PaddingMode::symmetric);
    CHECK(st[0][1].bn_eps == doctest::Approx(1e-5));
    const auto& b3 = kBackbones[static_cast<std::size_t>(find_backbone("tf_efficientnet_b3"))];
    CHECK(efficientnet_blocks(b3, 1e-3f)[0][0].in_channels == 40);
    CHECK(efficientnet_blocks(b3, 1e-3f)[0][0].se_reduced == 10);
}
