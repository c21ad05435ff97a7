// edet-bench: its JSON line parses and is self-consistent (stage MACs add up to the total,
// which equals edet-summary's, medians lie between min and max, the ceilings were
// measured), --no-peak skips the ceilings, and bad arguments exit 2 / bad inputs exit 1
// with a message. Timings themselves are never checked: they belong to bench/, not tests.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "edet/core/parallel.hpp"
#include "edet/io/json.hpp"
#include "test_util.hpp"
#include "tools/tool_runner.hpp"

namespace {

const std::vector<std::string> kBenchStages = {"stem",     "blocks.0", "blocks.1", "blocks.2",  "blocks.3", "blocks.4",
                                               "blocks.5", "blocks.6", "bifpn",    "class_net", "box_net"};

void check_bench_stats(const edet::io::json::Value& s) {
    CHECK(s["min"].as_number() > 0);
    CHECK(s["min"].as_number() <= s["median"].as_number());
    CHECK(s["median"].as_number() <= s["max"].as_number());
}

}  // namespace

TEST_CASE("edet-bench --json: one line whose figures are consistent") {
    const std::string bench = edet_test::tool_path("edet-bench");
    const std::string summary = edet_test::tool_path("edet-summary");
    if (bench.empty() || summary.empty()) return;
    edet_test::TempDir tmp;
    const edet_test::RunResult r = edet_test::run_tool(
        {bench, "--variant", "tf_efficientdet_lite0", "--size", "128x96", "--runs", "3", "--threads", "1", "--json"}, tmp);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find('\n') == r.out.size() - 1);  // exactly one line
    const edet::io::json::Value v = edet::io::json::parse(r.out, "edet-bench --json");
    CHECK(v["variant"].as_string() == "tf_efficientdet_lite0");
    CHECK(v["size"][0].as_int64() == 128);
    CHECK(v["size"][1].as_int64() == 96);
    CHECK(v["threads"].as_int64() == 1);
    CHECK(v["runs"].as_int64() == 3);
    check_bench_stats(v["net_ms"]);
    check_bench_stats(v["post_ms"]);
    CHECK(v["detections"].as_int64() >= 0);
    CHECK(v["detections"].as_int64() <= 100);
    CHECK(v["rss_start_kb"].as_int64() > 0);
    CHECK(v["rss_start_kb"].as_int64() <= v["rss_loaded_kb"].as_int64());
    CHECK(v["rss_loaded_kb"].as_int64() <= v["peak_rss_kb"].as_int64());
    CHECK(v["arena_bytes"].as_int64() > 0);
    CHECK(v["arena_bytes"].as_int64() <= v["unplanned_bytes"].as_int64());
    CHECK(v["fma_peak_gflops"].as_number() > 0);
    CHECK(v["dram_triad_gbs"].as_number() > 0);
    CHECK(v["l2_triad_gbs"].as_number() > 0);
    CHECK(v["fork_join_us"].as_number() == 0);  // one thread: no fork-join to measure

    // The stages are EfficientDet's, and their MACs add up to the network's, which is the
    // total edet-summary counts layer by layer for the same variant and size.
    const auto& stages = v["stages"].as_array();
    REQUIRE(stages.size() == kBenchStages.size());
    double macs = 0;
    for (std::size_t i = 0; i < stages.size(); ++i) {
        CAPTURE(i);
        CHECK(stages[i]["name"].as_string() == kBenchStages[i]);
        CHECK(stages[i]["macs"].as_number() > 0);
        CHECK(stages[i]["ms"].as_number() > 0);
        CHECK(stages[i]["pct_peak"].as_number() > 0);
        macs += stages[i]["macs"].as_number();
    }
    CHECK(macs == doctest::Approx(v["macs"].as_number()).epsilon(1e-9));
    const edet_test::RunResult s =
        edet_test::run_tool({summary, "--variant", "tf_efficientdet_lite0", "--size", "128x96", "--json"}, tmp);
    REQUIRE(s.exit_code == 0);
    const edet::io::json::Value sv = edet::io::json::parse(s.out, "edet-summary --json");
    CHECK(v["macs"].as_number() == doctest::Approx(sv["macs"].as_number()).epsilon(1e-9));

    // The text report carries the same sections.
    const edet_test::RunResult text =
        edet_test::run_tool({bench, "--variant", "tf_efficientdet_lite0", "--size", "64x64", "--runs", "1", "--threads", "2"}, tmp);
    CAPTURE(text.err);
    REQUIRE(text.exit_code == 0);
    for (const char* line : {"network:", "post-processing:", "peak RSS:", "arena:", "machine now:", "box_net"})
        CHECK_MESSAGE(edet_test::contains(text.out, line), line);
}

TEST_CASE("edet-bench --no-peak: no ceilings measured, no % of peak") {
    const std::string bench = edet_test::tool_path("edet-bench");
    if (bench.empty()) return;
    edet_test::TempDir tmp;
    const edet_test::RunResult r =
        edet_test::run_tool({bench, "--variant", "tf_efficientdet_d0", "--size", "64x64", "--runs", "1", "--no-peak", "--json"}, tmp);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    const edet::io::json::Value v = edet::io::json::parse(r.out, "edet-bench --json");
    CHECK(v["fma_peak_gflops"].as_number() == 0);
    CHECK(v["dram_triad_gbs"].as_number() == 0);
    for (const auto& st : v["stages"].as_array()) CHECK(st["pct_peak"].as_number() == 0);
}

TEST_CASE("edet-bench: usage errors (an unknown variant too) exit 2, bad inputs exit 1, each with a message") {
    const std::string bench = edet_test::tool_path("edet-bench");
    if (bench.empty()) return;
    edet_test::TempDir tmp;
    struct Case {
        std::vector<std::string> args;
        int exit_code;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{}, 2, "--variant"},
        {{"--bogus"}, 2, "unknown"},
        {{"--variant", "tf_efficientdet_lite0", "--runs", "0"}, 2, "--runs"},
        {{"--variant", "tf_efficientdet_lite0", "--runs"}, 2, "needs a value"},
        {{"--variant", "tf_efficientdet_lite0", "--size", "12x"}, 2, "--size"},
        {{"--variant", "tf_efficientdet_lite0", "--threads", "-1"}, 2, "--threads"},
        {{"--variant", "tf_efficientdet_lite0", "--threads", std::to_string(edet::max_num_threads() + 1)}, 2, "--threads"},
        {{"--variant", "nope"}, 2, "unknown"},
        {{"--variant", "tf_efficientdet_lite0", "--aspect-ratios", "1,-2"}, 2, "--aspect-ratios"},
        {{"--variant", "tf_efficientdet_lite0", "--num-scales", "0"}, 2, "--num-scales"},
        {{"--variant", "tf_efficientdet_lite0", "--weights", tmp / "missing.safetensors"}, 1, "does not exist"},
    };
    for (const Case& c : cases) {
        std::vector<std::string> argv = {bench};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        const edet_test::RunResult r = edet_test::run_tool(argv, tmp);
        CAPTURE(r.err);
        CAPTURE(c.message);
        CHECK(r.exit_code == c.exit_code);
        CHECK(edet_test::contains(r.err, c.message));
        CHECK(r.out.empty());
    }
}

TEST_CASE("edet-bench: a custom model described by the model flags, MACs equal edet-summary's") {
    const std::string bench = edet_test::tool_path("edet-bench");
    const std::string summary = edet_test::tool_path("edet-summary");
    if (bench.empty() || summary.empty()) return;
    edet_test::TempDir tmp;
    const std::vector<std::string> model = {"--variant", "tf_efficientdet_lite0", "--size", "128x96", "--num-classes", "3",
                                            "--num-scales", "2", "--aspect-ratios", "1.0,2.0,0.5", "--anchor-scale", "3"};
    std::vector<std::string> b = {bench, "--runs", "1", "--warmup", "0", "--no-peak", "--json", "--threads", "1"};
    b.insert(b.end(), model.begin(), model.end());
    const edet_test::RunResult r = edet_test::run_tool(b, tmp);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    std::vector<std::string> s = {summary, "--json"};
    s.insert(s.end(), model.begin(), model.end());
    const edet_test::RunResult t = edet_test::run_tool(s, tmp);
    REQUIRE(t.exit_code == 0);
    const edet::io::json::Value v = edet::io::json::parse(r.out, "edet-bench --json");
    const edet::io::json::Value w = edet::io::json::parse(t.out, "edet-summary --json");
    CHECK(v["macs"].as_number() == doctest::Approx(w["macs"].as_number()).epsilon(1e-9));
    CHECK(w["num_anchors"].as_int64() == 6);
}
