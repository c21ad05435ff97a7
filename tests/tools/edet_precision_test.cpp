// --precision (tools/model_flags.hpp) in the tools: bad values are usage errors naming the
// valid ones, edet-dump --path reference refuses bf16, edet-bench reports the precision it
// ran, edet-summary names the 1x1 convs that would run in bf16, edet-dump in
// bf16-emulated stays within bf16 tolerance of a fixture.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "edet/io/json.hpp"
#include "edet/io/safetensors.hpp"
#include "test_util.hpp"
#include "tools/tool_runner.hpp"

TEST_CASE("--precision: a bad value is a usage error (exit 2) naming fp32, bf16 and bf16-emulated, in every tool") {
    edet_test::TempDir tmp;
    for (const char* tool : {"edet-dump", "edet-bench", "edet-summary", "edet-detect", "edet-convert"}) {
        const std::string path = edet_test::tool_path(tool);
        if (path.empty()) continue;
        CAPTURE(tool);
        const edet_test::RunResult r = edet_test::run_tool({path, "--precision", "fp16"}, tmp);
        CHECK(r.exit_code == 2);
        CHECK(edet_test::contains(r.err, "--precision must be fp32, bf16 or bf16-emulated, got 'fp16'"));
        const edet_test::RunResult help = edet_test::run_tool({path, "--help"}, tmp);
        CHECK(edet_test::contains(help.out + help.err, "--precision"));
    }
}

TEST_CASE("--precision: edet-dump --path reference refuses bf16; edet-summary and edet-bench report it") {
    edet_test::TempDir tmp;
    const std::string dump = edet_test::tool_path("edet-dump");
    if (!dump.empty()) {
        const edet_test::RunResult r = edet_test::run_tool(
            {dump, "--weights", "w", "--input", "i", "--output", "o", "--path", "reference", "--precision", "bf16-emulated"}, tmp);
        CHECK(r.exit_code == 2);
        CHECK(edet_test::contains(r.err, "float32 only"));
    }
    const std::string summary = edet_test::tool_path("edet-summary");
    if (!summary.empty()) {
        const edet_test::RunResult r =
            edet_test::run_tool({summary, "--variant", "tf_efficientdet_d0", "--precision", "bf16-emulated"}, tmp);
        CHECK(r.exit_code == 0);
        CHECK(edet_test::contains(r.out, "precision bf16-emulated: 1x1 convs in bf16: "));
        CHECK(edet_test::contains(r.out, "head_predict"));
        const edet_test::RunResult plain = edet_test::run_tool({summary, "--variant", "tf_efficientdet_d0"}, tmp);
        CHECK_FALSE(edet_test::contains(plain.out, "precision"));
    }
    const std::string bench = edet_test::tool_path("edet-bench");
    if (!bench.empty()) {
        const edet_test::RunResult r =
            edet_test::run_tool({bench, "--variant", "tf_efficientdet_lite0", "--size", "64x64", "--runs", "1", "--warmup", "0",
                                 "--no-peak", "--json", "--precision", "bf16-emulated"},
                                tmp);
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        const edet::io::json::Value v = edet::io::json::parse(r.out, "edet-bench --json");
        CHECK(v["precision"].as_string() == "bf16-emulated");
    }
}

TEST_CASE("--precision bf16-emulated: edet-dump's head outputs within bf16 tolerance of the fixture" *
          doctest::test_suite("parity")) {
    const std::string dump = edet_test::tool_path("edet-dump");
    if (dump.empty()) return;
    const std::string dir = edet_test::fixtures_dir() + "/tf_efficientdet_d0_s3_256x384";
    if (!std::filesystem::exists(dir + "/weights.safetensors")) return;
    edet_test::TempDir tmp;
    const std::string out = tmp / "bf16.safetensors";
    const edet_test::RunResult r = edet_test::run_tool({dump, "--weights", dir + "/weights.safetensors", "--input",
                                                        dir + "/input.safetensors", "--output", out, "--threads", "2",
                                                        "--precision", "bf16-emulated"},
                                                       tmp);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    const auto got = edet::io::SafeTensorsFile::open(out);
    const auto ref = edet::io::SafeTensorsFile::open(dir + "/outputs.safetensors");
    for (const char* name : {"class_out.0", "class_out.4", "box_out.0", "box_out.4"}) {
        CAPTURE(name);
        const std::vector<float> g = got->read_f32(name), w = ref->read_f32(name);
        REQUIRE(g.size() == w.size());
        const edet_test::ErrorStats s = edet_test::compare(g.data(), w.data(), w.size());
        CHECK(s.finite);
        // The bf16 network tolerance of tests/models/efficientdet_precision_test.cpp.
        CHECK(s.rel() <= 6e-2);
        CHECK(s.max_abs > 0);  // bf16 did run: float32 would be within ~1e-5
    }
}
