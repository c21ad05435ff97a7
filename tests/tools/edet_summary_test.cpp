// edet-summary: totals equal the reference's parameter counts; --json parses and its
// layers add up; exit codes.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "edet/detect/variants.hpp"
#include "edet/io/json.hpp"
#include "test_util.hpp"
#include "tools/tool_runner.hpp"

TEST_CASE("edet-summary --json: totals equal the reference parameter counts") {
    const std::string summary = edet_test::tool_path("edet-summary");
    if (summary.empty()) return;
    edet_test::TempDir tmp;
    // sum(p.numel() for p in model.parameters()) of effdet 0.4.1 (the fixtures' manifests).
    const std::vector<std::pair<std::string, std::int64_t>> reference = {
        {"tf_efficientdet_d0", 3880067}, {"efficientdet_d0", 3877763}, {"tf_efficientdet_lite0", 3243470}};
    for (const auto& entry : reference) {
        const std::string& variant = entry.first;
        const std::int64_t params = entry.second;
        CAPTURE(variant);
        const edet_test::RunResult r = edet_test::run_tool({summary, "--variant", variant, "--json"}, tmp);
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        const edet::io::json::Value v = edet::io::json::parse(r.out, "edet-summary --json");
        CHECK(v["variant"].as_string() == variant);
        CHECK(v["params"].as_int64() == params);
        std::int64_t layer_params = 0;
        double layer_macs = 0;
        for (const edet::io::json::Value& layer : v["layers"].as_array()) {
            layer_params += layer["params"].as_int64();
            layer_macs += layer["macs"].as_number();
            CHECK(layer["shape"].size() == 4);
        }
        CHECK(layer_params == params);
        CHECK(layer_macs == doctest::Approx(v["macs"].as_number()).epsilon(1e-9));

        // The table's total line carries the same count.
        const edet_test::RunResult table = edet_test::run_tool({summary, "--variant", variant}, tmp);
        REQUIRE(table.exit_code == 0);
        CHECK(edet_test::contains(table.out, std::to_string(params)));
    }
    // A different input size keeps the parameters and reports the size.
    const edet_test::RunResult small = edet_test::run_tool({summary, "--variant", "tf_efficientdet_d0", "--size", "256x384", "--json"}, tmp);
    REQUIRE(small.exit_code == 0);
    const edet::io::json::Value v = edet::io::json::parse(small.out, "edet-summary --json");
    CHECK(v["params"].as_int64() == 3880067);
    CHECK(v["image_size"][0].as_int64() == 256);
    CHECK(v["image_size"][1].as_int64() == 384);
}

TEST_CASE("edet-summary: every published name, the _ap ones on their dN network") {
    const std::string summary = edet_test::tool_path("edet-summary");
    if (summary.empty()) return;
    edet_test::TempDir tmp;
    for (const edet::detect::VariantInfo& v : edet::detect::variants()) {
        CAPTURE(v.name);
        const edet_test::RunResult r = edet_test::run_tool({summary, "--variant", v.name, "--json"}, tmp);
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        const edet::io::json::Value j = edet::io::json::parse(r.out, "edet-summary --json");
        CHECK(j["variant"].as_string() == v.name);
        CHECK(j["network"].as_string() == v.network);
    }
}

TEST_CASE("edet-summary: a custom model's parameters equal the reference's" * doctest::test_suite("parity")) {
    const std::string summary = edet_test::tool_path("edet-summary");
    if (summary.empty()) return;
    edet_test::TempDir tmp;
    // ../shared/fixtures/custom/tf_efficientdet_lite0_c3_s7_256x384/manifest.json "params".
    const edet_test::RunResult r =
        edet_test::run_tool({summary, "--variant", "tf_efficientdet_lite0", "--size", "256x384", "--num-classes", "3",
                             "--num-scales", "2", "--aspect-ratios", "1.0,2.0,0.5", "--anchor-scale", "3", "--json"},
                            tmp);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    const edet::io::json::Value j = edet::io::json::parse(r.out, "edet-summary --json");
    const edet::io::json::Value m = edet::io::json::parse(
        edet_test::read_text(edet_test::fixtures_dir() + "/custom/tf_efficientdet_lite0_c3_s7_256x384/manifest.json"), "manifest");
    CHECK(j["params"].as_int64() == m["params"].as_int64());
    CHECK(j["num_anchors"].as_int64() == 6);
    CHECK(j["num_classes"].as_int64() == 3);
}

TEST_CASE("edet-summary: usage errors (an unknown variant too) exit 2, listing the known names") {
    const std::string summary = edet_test::tool_path("edet-summary");
    if (summary.empty()) return;
    edet_test::TempDir tmp;
    const edet_test::RunResult none = edet_test::run_tool({summary}, tmp);
    CHECK(none.exit_code == 2);
    CHECK(edet_test::contains(none.err, "--variant is required"));
    const edet_test::RunResult bogus = edet_test::run_tool({summary, "--bogus"}, tmp);
    CHECK(bogus.exit_code == 2);
    CHECK(edet_test::contains(bogus.err, "--bogus"));
    CHECK(edet_test::run_tool({summary, "--variant", "tf_efficientdet_d0", "--size", "big"}, tmp).exit_code == 2);
    const edet_test::RunResult unknown = edet_test::run_tool({summary, "--variant", "nope"}, tmp);
    CHECK(unknown.exit_code == 2);
    CHECK(edet_test::contains(unknown.err, "'nope'"));
    CHECK(edet_test::contains(unknown.err, "tf_efficientdet_lite4"));
}
