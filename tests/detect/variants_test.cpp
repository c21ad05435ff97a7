// Tests for edet/detect/variants.hpp: the view joining the published-variant table
// (io/checkpoints.hpp) with the network table (models/config.hpp) equals checkpoints.tsv
// row for row in every column the TSV has (tests/data/pth/checkpoints.tsv is a copy of
// ../shared/checkpoints.tsv), including image_hw, which only the network row holds.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "edet/detect/variants.hpp"
#include "test_util.hpp"

namespace {

std::vector<std::string> variants_tsv_split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string part;
    std::istringstream ss(s);
    while (std::getline(ss, part, sep)) out.push_back(part);
    return out;
}

std::vector<std::vector<std::string>> variants_tsv_rows() {
    std::ifstream in(edet_test::test_data_dir() + "/pth/checkpoints.tsv");
    REQUIRE(in);
    std::vector<std::vector<std::string>> rows;
    std::string line;
    std::getline(in, line);
    CHECK(line == "variant\tnetwork\timage_hw\tmean\tstd\tfill\tcoco_val2017_ap\tparams_m\tfile\tsha256_prefix\turl");
    while (std::getline(in, line))
        if (!line.empty()) rows.push_back(variants_tsv_split(line, '\t'));
    return rows;
}

}  // namespace

// The view is compile-time data: one entry per published row, in the same order.
static_assert(edet::detect::detail::kVariants.size() == 23, "one entry per released checkpoint");
static_assert(edet::detect::detail::kVariants[17].image_size == 512, "tf_efficientdet_d0_ap runs d0 at 512");
static_assert(edet::detect::detail::kVariants[16].max_level == 8, "tf_efficientdet_d7x reaches P8");

TEST_CASE("variants: the view equals checkpoints.tsv in every column") {
    const auto rows = variants_tsv_rows();
    REQUIRE(rows.size() == edet::detect::variants().size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& r = rows[i];
        REQUIRE(r.size() == 11);
        const edet::detect::VariantInfo& v = edet::detect::variants()[i];
        CAPTURE(r[0]);
        CHECK(r[0] == v.name);
        CHECK(r[1] == v.network);
        const auto hw = variants_tsv_split(r[2], 'x');
        REQUIRE(hw.size() == 2);
        CHECK(std::stoi(hw[0]) == v.image_size);
        CHECK(std::stoi(hw[1]) == v.image_size);
        const auto mean = variants_tsv_split(r[3], ','), stdv = variants_tsv_split(r[4], ','),
                   fill = variants_tsv_split(r[5], ',');
        REQUIRE(mean.size() == 3);
        REQUIRE(stdv.size() == 3);
        REQUIRE(fill.size() == 3);
        for (std::size_t k = 0; k < 3; ++k) {
            CHECK(std::stod(mean[k]) == v.mean[k]);  // exactly the published decimals
            CHECK(std::stod(stdv[k]) == v.std[k]);
            CHECK(std::stoi(fill[k]) == v.fill[k]);
        }
        REQUIRE(v.checkpoint != nullptr);
        CHECK(v.checkpoint == &edet::io::checkpoint_table[i]);
        CHECK(std::stod(r[6]) == v.checkpoint->coco_ap);
        CHECK(std::stod(r[7]) == v.checkpoint->params_m);
        CHECK(r[8] == v.checkpoint->file);
        CHECK(r[9] == v.checkpoint->sha256_prefix);
        CHECK(r[10] == v.checkpoint->url);
        CHECK(edet::detect::find_variant(r[0]) == &v);
        CHECK(&edet::detect::variant_info(r[0]) == &v);
    }
}

TEST_CASE("variants: every row's network exists and its geometry is the network row's") {
    for (const edet::detect::VariantInfo& v : edet::detect::variants()) {
        CAPTURE(v.name);
        const int n = edet::find_efficientdet(v.network);
        REQUIRE(n >= 0);
        const edet::EfficientDetSpec& s = edet::kEfficientDetVariants[static_cast<std::size_t>(n)];
        CHECK(v.image_size == s.image_size);
        CHECK(v.max_level == s.max_level);
        CHECK(v.anchor_scale == s.anchor_scale);
        CHECK(v.min_level == edet::kEfficientDetMinLevel);
        const edet::EfficientDetConfig c = edet::efficientdet_config(v.network);
        CHECK(c.image_height == v.image_size);
        CHECK(c.image_width == v.image_size);
        CHECK(c.min_level == v.min_level);
    }
}

TEST_CASE("variants: unknown names") {
    CHECK(edet::detect::find_variant("") == nullptr);
    CHECK(edet::detect::find_variant("tf_efficientdet_d8") == nullptr);
    CHECK_THROWS_AS(edet::detect::variant_info("tf_efficientdet_d8"), edet::Error);
}
