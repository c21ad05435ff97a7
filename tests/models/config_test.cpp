// Tests for edet/models/config.hpp: the published tables, the scaling formulas beside
// them, and the runtime configs of all 17 variants.
#include <doctest/doctest.h>

#include "edet/models/config.hpp"

using namespace edet;

// The backbone table rows are what timm's scaling functions give.
static_assert(round_channels(32, 1.2) == 40 && round_channels(32, 1.4) == 48 && round_channels(32, 2.0) == 64);
static_assert(round_channels(40, 1.1) == 48 && round_channels(112, 1.1) == 120 && round_channels(320, 1.1) == 352);
static_assert(scale_repeats(3, 1.1) == 4 && scale_repeats(4, 3.1) == 13 && scale_repeats(1, 1.0) == 1);
static_assert(backbone_matches_formulas(kBackbones[0]) && backbone_matches_formulas(kBackbones[1]) &&
              backbone_matches_formulas(kBackbones[2]) && backbone_matches_formulas(kBackbones[3]) &&
              backbone_matches_formulas(kBackbones[4]) && backbone_matches_formulas(kBackbones[5]) &&
              backbone_matches_formulas(kBackbones[6]) && backbone_matches_formulas(kBackbones[7]) &&
              backbone_matches_formulas(kBackbones[8]) && backbone_matches_formulas(kBackbones[9]) &&
              backbone_matches_formulas(kBackbones[10]) && backbone_matches_formulas(kBackbones[11]) &&
              backbone_matches_formulas(kBackbones[12]) && backbone_matches_formulas(kBackbones[13]) &&
              backbone_matches_formulas(kBackbones[14]));
// P3/P4/P5 channels of timm's backbones.
static_assert(kBackbones[find_backbone("tf_efficientnet_b3")].feature_channels(1) == 136);
static_assert(kBackbones[find_backbone("tf_efficientnet_b7")].feature_channels(2) == 640);
static_assert(kBackbones[find_backbone("tf_efficientnet_lite3")].stem_channels == 32);

// The EfficientDet table against the paper's formulas: where they agree ...
static_assert(efficientdet_spec_for_phi(0).fpn_channels == paper_bifpn_width(0));
static_assert(efficientdet_spec_for_phi(1).fpn_channels == paper_bifpn_width(1) / 8 * 8 + 8);  // 86.4 -> 88
static_assert(efficientdet_spec_for_phi(4).fpn_repeats == paper_bifpn_repeats(4));
static_assert(efficientdet_spec_for_phi(3).head_repeats == paper_head_repeats(3));
static_assert(efficientdet_spec_for_phi(6).image_size == paper_input_size(6));
// ... and where the table deviates (the table wins).
static_assert(efficientdet_spec_for_phi(2).fpn_channels == 112 && paper_bifpn_width(2) == 116);
static_assert(efficientdet_spec_for_phi(5).fpn_repeats == 7 && paper_bifpn_repeats(5) == 8);
static_assert(efficientdet_spec_for_phi(6).fpn_repeats == 8 && paper_bifpn_repeats(6) == 9);
static_assert(efficientdet_spec_for_phi(7).fpn_repeats == 8 && paper_bifpn_repeats(7) == 10);
static_assert(efficientdet_spec_for_phi(5).image_size == 1280 && paper_input_size(5) == 1152);
static_assert(efficientdet_spec_for_phi(7).image_size == 1536 && paper_input_size(7) == 1408);
static_assert(kEfficientDetVariants[find_efficientdet("tf_efficientdet_d7x")].max_level == 8);
static_assert(kEfficientDetVariants[find_efficientdet("tf_efficientdet_lite3x")].fpn_channels == 200);
static_assert(find_efficientdet("tf_efficientdet_d8") == -1);

TEST_CASE("config: every variant has a backbone and the reference settings") {
    CHECK(efficientdet_variants().size() == 17);
    for (const auto& v : efficientdet_variants()) {
        CAPTURE(v);
        const EfficientDetConfig c = efficientdet_config(v);
        CHECK(c.name == v);
        CHECK(c.num_anchors() == 9);
        const bool lite = v.find("lite") != std::string::npos;
        const bool symmetric = v.rfind("efficientdet_", 0) == 0;
        CHECK(c.activation == (lite ? Activation::relu6 : Activation::swish));
        CHECK(c.padding == (symmetric ? PaddingMode::symmetric : PaddingMode::tf_same));
        CHECK(c.redundant_bias == !symmetric);
        CHECK(c.backbone_bn_eps == doctest::Approx(symmetric ? 1e-5 : 1e-3));
        CHECK(c.bn_eps == doctest::Approx(1e-3));
        CHECK(c.min_level == kEfficientDetMinLevel);  // preprocessing is the checkpoint row's (detect/variants)
    }
    CHECK(efficientdet_config("tf_efficientdet_d6").fusion == FusionRule::sum);
    CHECK(efficientdet_config("tf_efficientdet_d5").fusion == FusionRule::fast_normalized);
    CHECK(efficientdet_config("tf_efficientdet_lite0").fusion == FusionRule::sum);
    CHECK(efficientdet_config("tf_efficientdet_d7").backbone_name == "tf_efficientnet_b6");
    CHECK(efficientdet_config("tf_efficientdet_d7").anchor_scale == 5.0);
    CHECK(efficientdet_config("tf_efficientdet_lite3x").image_height == 640);
    CHECK_THROWS_AS(efficientdet_config(""), Error);
}

TEST_CASE("config: level sizes follow s' = floor((s - 1) / 2) + 1") {
    const auto s = feature_sizes(448, 320, 7);
    CHECK(s[3] == std::make_pair(56, 40));
    CHECK(s[6] == std::make_pair(7, 5));
    CHECK(s[7] == std::make_pair(4, 3));  // lite2's P7 is 4 (upsampled 4 -> 7), lite0's 3
    const auto t = feature_sizes(1536, 1536, 8);
    CHECK(t[8] == std::make_pair(6, 6));
}
