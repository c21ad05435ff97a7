// edet-eval end to end: pycocotools' summary printed character for character, --json
// written and equal to pycocotools' numbers, bad input -> exit codes and messages.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>

#include "edet/io/json.hpp"
#include "test_util.hpp"
#include "tools/tool_runner.hpp"

namespace {

namespace json = edet::io::json;

std::string case_dir(const std::string& name) { return edet_test::test_data_dir() + "/coco/" + name + "/"; }

void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
    REQUIRE(out.good());
}

}  // namespace

TEST_CASE("edet-eval: summary and --json equal pycocotools' on the generated cases") {
    const std::string eval = edet_test::tool_path("edet-eval");
    if (eval.empty()) return;
    edet_test::TempDir tmp;
    for (const char* name : {"basic", "crowd", "max_dets_custom"}) {
        CAPTURE(name);
        const std::string dir = case_dir(name);
        std::vector<std::string> argv = {eval, dir + "annotations.json", dir + "results.json", "--json", tmp / "out.json"};
        if (std::string(name) == "max_dets_custom") argv.insert(argv.end(), {"--max-dets", "20,1,5"});
        const edet_test::RunResult r = edet_test::run_tool(argv, tmp);
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        CHECK(r.out == edet_test::read_text(dir + "summary.txt"));
        const json::Value got = json::parse(edet_test::read_text(tmp / "out.json"), "out.json");
        const json::Value want = json::parse(edet_test::read_text(dir + "expected.json"), "expected.json");
        for (const auto& m : want["stats"].as_object()) {
            CAPTURE(m.first);
            CHECK(std::abs(got["stats"][m.first].as_number() - m.second.as_number()) <= 1e-6);
        }
        CHECK(got["per_category_AP"].size() == want["per_category_AP"].size());
        for (const auto& m : want["per_category_AP"].as_object()) {
            CAPTURE(m.first);
            CHECK(std::abs(got["per_category_AP"][m.first].as_number() - m.second.as_number()) <= 1e-6);
        }
    }
}

TEST_CASE("edet-eval: left-out entries and annotation id 0 are reported on stderr") {
    const std::string eval = edet_test::tool_path("edet-eval");
    if (eval.empty()) return;
    edet_test::TempDir tmp;
    const edet_test::RunResult r =
        edet_test::run_tool({eval, case_dir("empty_images") + "annotations.json", case_dir("empty_images") + "results.json"}, tmp);
    REQUIRE(r.exit_code == 0);
    CHECK(edet_test::contains(r.err, "1 result(s) with a category_id not in"));
    CHECK(edet_test::contains(r.err, "2 annotation(s)"));
    const edet_test::RunResult z =
        edet_test::run_tool({eval, case_dir("id_zero") + "annotations.json", case_dir("id_zero") + "results.json"}, tmp);
    REQUIRE(z.exit_code == 0);
    CHECK(edet_test::contains(z.err, "id 0"));
    CHECK(z.out == edet_test::read_text(case_dir("id_zero") + "summary.txt"));
}

TEST_CASE("edet-eval: usage errors exit 2, bad input exits 1 naming the file and entry") {
    const std::string eval = edet_test::tool_path("edet-eval");
    if (eval.empty()) return;
    edet_test::TempDir tmp;
    const std::string ann = case_dir("basic") + "annotations.json", res = case_dir("basic") + "results.json";

    const edet_test::RunResult none = edet_test::run_tool({eval}, tmp);
    CHECK(none.exit_code == 2);
    CHECK(edet_test::contains(none.err, "usage: edet-eval"));
    CHECK(edet_test::run_tool({eval, ann}, tmp).exit_code == 2);
    CHECK(edet_test::run_tool({eval, ann, res, res}, tmp).exit_code == 2);
    const edet_test::RunResult bogus = edet_test::run_tool({eval, ann, res, "--bogus"}, tmp);
    CHECK(bogus.exit_code == 2);
    CHECK(edet_test::contains(bogus.err, "--bogus"));
    CHECK(edet_test::run_tool({eval, ann, res, "--json"}, tmp).exit_code == 2);
    for (const char* md : {"1,10", "1,x,100", "0,10,100", "1,10,10", ""}) {
        CAPTURE(md);
        const edet_test::RunResult r = edet_test::run_tool({eval, ann, res, "--max-dets", md}, tmp);
        CHECK(r.exit_code == 2);
        CHECK(edet_test::contains(r.err, "--max-dets"));
    }
    CHECK(edet_test::run_tool({eval, "--help"}, tmp).exit_code == 0);

    // Missing, malformed and invalid files: exit 1, the message names the file and entry.
    const edet_test::RunResult missing = edet_test::run_tool({eval, tmp / "nope.json", res}, tmp);
    CHECK(missing.exit_code == 1);
    CHECK(edet_test::contains(missing.err, "nope.json"));
    write_text(tmp / "broken.json", "[{\"image_id\": 1,");
    const edet_test::RunResult broken = edet_test::run_tool({eval, ann, tmp / "broken.json"}, tmp);
    CHECK(broken.exit_code == 1);
    CHECK(edet_test::contains(broken.err, "broken.json"));
    CHECK(edet_test::contains(broken.err, "JSON syntax"));
    write_text(tmp / "negative.json",
               "[{\"image_id\": 397133, \"category_id\": 1, \"bbox\": [0, 0, 5, 5], \"score\": 0.5},"
               " {\"image_id\": 397133, \"category_id\": 1, \"bbox\": [0, 0, -5, 5], \"score\": 0.5}]");
    const edet_test::RunResult negative = edet_test::run_tool({eval, ann, tmp / "negative.json"}, tmp);
    CHECK(negative.exit_code == 1);
    CHECK(edet_test::contains(negative.err, "negative.json: results[1]"));
    CHECK(edet_test::contains(negative.err, "negative size"));
    write_text(tmp / "unknown.json", "[{\"image_id\": 12345, \"category_id\": 1, \"bbox\": [0, 0, 5, 5], \"score\": 0.5}]");
    const edet_test::RunResult unknown = edet_test::run_tool({eval, ann, tmp / "unknown.json"}, tmp);
    CHECK(unknown.exit_code == 1);
    CHECK(edet_test::contains(unknown.err, "results[0]"));
    CHECK(edet_test::contains(unknown.err, "image_id 12345"));
    CHECK(unknown.out.empty());
    // Results given where the annotations belong.
    const edet_test::RunResult swapped = edet_test::run_tool({eval, res, ann}, tmp);
    CHECK(swapped.exit_code == 1);
    CHECK(edet_test::contains(swapped.err, "expected an object"));
    // An unwritable --json target.
    const edet_test::RunResult unwritable = edet_test::run_tool({eval, ann, res, "--json", tmp / "no/such/dir/out.json"}, tmp);
    CHECK(unwritable.exit_code == 1);
    CHECK(edet_test::contains(unwritable.err, "out.json"));
}
