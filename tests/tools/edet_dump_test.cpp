// edet-dump: head outputs and post-processed detections against every shared fixture,
// --image preprocessing against the oracle's, exit codes and messages.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "edet/core/parallel.hpp"
#include "edet/io/image.hpp"
#include "edet/io/json.hpp"
#include "edet/io/safetensors.hpp"
#include "edet/io/sha256.hpp"
#include "test_util.hpp"
#include "tools/tool_runner.hpp"

namespace {

using edet::io::SafeTensorsFile;

const char* const kFixtures[] = {"tf_efficientdet_lite0_s0", "tf_efficientdet_d0_s3_256x384", "tf_efficientdet_d0_s0",
                                 "efficientdet_d0_s0"};

// Parity tolerance of ../shared/fixtures/README.md: max(1e-4, 4 x fp32_noise_max).
double fixture_tolerance(const std::string& dir) {
    const std::vector<std::uint8_t> bytes = edet::io::read_file_bytes(dir + "/manifest.json");
    const double noise =
        edet::io::json::parse(std::string(bytes.begin(), bytes.end()), "manifest")["fp32_noise_max"].as_number();
    return std::max(1e-4, 4 * noise);
}

struct RowMatch {
    int unmatched = 0;          // rows of ours without a reference row (outside a cut-off tie)
    int count_ours = 0, count_ref = 0;
    double max_box = 0;         // max |box - ref box| over matched rows
    double max_ref = 0;         // max |ref box coordinate|
    double max_score_at_row = 0;  // max |score[i] - ref score[i]|, row by row
};

// Matches {n, rows, 6} detections against the reference. Equal-score rows may come in
// either order (the reference leaves ties unspecified and float noise reorders near-ties),
// so each row of ours is matched to an unused reference row of the same class whose score
// is within `score_tol`, taking the closest box; rows are also compared position by
// position on score, which keeps the order honest. A row may be missing only when its
// score ties the last kept reference row (the 100-row cut).
RowMatch match_rows(const std::vector<float>& got, const std::vector<float>& ref, std::size_t images, std::size_t rows,
                    double score_tol) {
    RowMatch m;
    for (std::size_t b = 0; b < images; ++b) {
        const float* g = got.data() + b * rows * 6;
        const float* r = ref.data() + b * rows * 6;
        auto live = [](const float* row) { return row[5] != 0.0f; };
        std::vector<char> used(rows, 0);
        float last_ref_score = 1.0f;
        for (std::size_t j = 0; j < rows; ++j)
            if (live(r + j * 6)) {
                ++m.count_ref;
                last_ref_score = r[j * 6 + 4];
                for (int k = 0; k < 4; ++k) m.max_ref = std::max(m.max_ref, std::fabs(double(r[j * 6 + std::size_t(k)])));
            }
        for (std::size_t i = 0; i < rows; ++i) {
            const float* gi = g + i * 6;
            m.max_score_at_row = std::max(m.max_score_at_row, std::fabs(double(gi[4]) - r[i * 6 + 4]));
            if (!live(gi)) continue;
            ++m.count_ours;
            double best = 1e30;
            std::size_t best_j = rows;
            for (std::size_t j = 0; j < rows; ++j) {
                const float* rj = r + j * 6;
                if (used[j] || !live(rj) || rj[5] != gi[5] || std::fabs(double(rj[4]) - gi[4]) > score_tol) continue;
                double e = 0;
                for (int k = 0; k < 4; ++k) e = std::max(e, std::fabs(double(gi[k]) - rj[k]));
                if (e < best) {
                    best = e;
                    best_j = j;
                }
            }
            if (best_j == rows) {
                if (std::fabs(double(gi[4]) - last_ref_score) > score_tol) ++m.unmatched;
                continue;
            }
            used[best_j] = 1;
            m.max_box = std::max(m.max_box, best);
        }
    }
    return m;
}

std::vector<float> read_tensor(const SafeTensorsFile& f, const std::string& name) {
    const edet::io::TensorInfo* t = f.find(name);
    if (!t) FAIL("tensor " << name << " missing from " << f.path());
    return f.read_f32(name);
}

}  // namespace

TEST_CASE("edet-dump --detections reproduces every shared fixture" * doctest::test_suite("parity")) {
    const std::string dump = edet_test::tool_path("edet-dump");
    if (dump.empty()) return;
    edet_test::TempDir tmp;
    for (const char* fixture : kFixtures) {
        const std::string name = fixture;
        CAPTURE(name);
        const std::string dir = edet_test::fixtures_dir() + "/" + name;
        const std::string out = tmp / (name + ".safetensors");
        const edet_test::RunResult run = edet_test::run_tool(
            {dump, "--weights", dir + "/weights.safetensors", "--input", dir + "/input.safetensors", "--output", out,
             "--detections"},
            tmp);
        CAPTURE(run.err);
        REQUIRE(run.exit_code == 0);
        const double tol = fixture_tolerance(dir);
        const auto got = SafeTensorsFile::open(out);
        const auto ref = SafeTensorsFile::open(dir + "/outputs.safetensors");
        CHECK(got->metadata("producer") == "edet-dump");
        double worst = 0;
        for (const char* head : {"class_out", "box_out"})
            for (int l = 0; l < 5; ++l) {
                const std::string t = std::string(head) + "." + std::to_string(l);
                CAPTURE(t);
                REQUIRE(got->find(t));
                CHECK(got->find(t)->shape == ref->find(t)->shape);
                const std::vector<float> g = read_tensor(*got, t), r = read_tensor(*ref, t);
                REQUIRE(g.size() == r.size());
                const edet_test::ErrorStats e = edet_test::compare(g.data(), r.data(), g.size());
                CAPTURE(e.max_abs);
                CAPTURE(e.rel());
                CHECK(e.finite);
                CHECK(e.rel() <= tol);
                worst = std::max(worst, e.rel());
            }
        for (const std::string det : {"detections", "detections_soft"}) {
            CAPTURE(det);
            REQUIRE(got->find(det));
            const std::vector<std::int64_t> shape = ref->find(det)->shape;
            CHECK(got->find(det)->shape == shape);
            const RowMatch m = match_rows(read_tensor(*got, det), read_tensor(*ref, det), std::size_t(shape[0]),
                                          std::size_t(shape[1]), tol);
            CAPTURE(m.unmatched);
            CAPTURE(m.count_ours);
            CAPTURE(m.count_ref);
            CAPTURE(m.max_box);
            CAPTURE(m.max_ref);
            CAPTURE(m.max_score_at_row);
            CHECK(m.count_ours == m.count_ref);
            CHECK(m.unmatched == 0);
            CHECK(m.max_box / m.max_ref <= tol);
            CHECK(m.max_score_at_row <= tol);
            MESSAGE(name << " " << det << ": rows " << m.count_ours << ", max box error " << m.max_box << " (rel "
                         << m.max_box / m.max_ref << "), score error " << m.max_score_at_row << ", tolerance " << tol);
        }
        MESSAGE(name << ": worst head rel error " << worst << " (tolerance " << tol << ")");
    }
}

TEST_CASE("edet-dump --image: the oracle's preprocessing, image info, clipped boxes" * doctest::test_suite("parity")) {
    const std::string dump = edet_test::tool_path("edet-dump");
    if (dump.empty()) return;
    edet_test::TempDir tmp;
    const std::string weights = edet_test::fixtures_dir() + "/tf_efficientdet_lite0_s0/weights.safetensors";
    const std::string image = std::string(EDET_SOURCE_DIR) + "/examples/data/astronaut.png";
    const std::string out = tmp / "img.safetensors";
    const edet_test::RunResult run =
        edet_test::run_tool({dump, "--weights", weights, "--image", image, "--output", out, "--detections"}, tmp);
    CAPTURE(run.err);
    REQUIRE(run.exit_code == 0);
    const auto got = SafeTensorsFile::open(out);

    // The oracle (../shared/oracle/make_fixture tf_efficientdet_lite0 DIR --image
    // examples/data/astronaut.png) wrote `input` float32 {1, 3, 320, 320} with this SHA-256
    // of its raw bytes (effdet's transform through Pillow); ours must be bit-identical.
    REQUIRE(got->find("input"));
    CHECK(got->find("input")->shape == std::vector<std::int64_t>{1, 3, 320, 320});
    CHECK(edet::io::sha256_hex(got->raw("input"), got->raw_size("input")) ==
          "e9b039733dd9d759557a460a3064d6f02bc3494ba91f8d79e117405ed7a4536a");

    // scale = original / resized and img_size = (width, height), from the image's own size.
    const edet::io::Image img = edet::io::read_image(image);
    const std::vector<float> scale = read_tensor(*got, "scale"), size = read_tensor(*got, "img_size");
    REQUIRE(scale.size() == 1);
    REQUIRE(size.size() == 2);
    CHECK(scale[0] == static_cast<float>(1.0 / std::min(320.0 / img.width, 320.0 / img.height)));
    CHECK(size[0] == float(img.width));
    CHECK(size[1] == float(img.height));

    // With image info the boxes are clipped to the image and in its pixels.
    const std::vector<float> det = read_tensor(*got, "detections");
    REQUIRE(det.size() == 600);
    int live = 0;
    for (std::size_t i = 0; i < 100; ++i) {
        const float* r = &det[i * 6];
        if (r[5] == 0.0f) continue;
        ++live;
        CAPTURE(i);
        CHECK(r[0] >= 0.0f);
        CHECK(r[1] >= 0.0f);
        CHECK(r[2] <= float(img.width));
        CHECK(r[3] <= float(img.height));
        CHECK(r[5] >= 1.0f);
        CHECK(r[5] <= 90.0f);
        if (i > 0) CHECK(r[4] <= det[(i - 1) * 6 + 4]);
    }
    CHECK(live == 100);

    // Feeding that output back as --input (it holds input, scale and img_size, like an
    // oracle fixture made with --image) takes the same image info: the same detections.
    const std::string again = tmp / "again.safetensors";
    const edet_test::RunResult rerun =
        edet_test::run_tool({dump, "--weights", weights, "--input", out, "--output", again, "--detections"}, tmp);
    REQUIRE(rerun.exit_code == 0);
    const auto got2 = SafeTensorsFile::open(again);
    CHECK(read_tensor(*got2, "detections") == det);
    CHECK(read_tensor(*got2, "detections_soft") == read_tensor(*got, "detections_soft"));
    CHECK(!got2->find("input"));  // --input runs do not copy the input
}

TEST_CASE("edet-dump --image with an _ap variant: zero fill, non-square letterbox" * doctest::test_suite("parity")) {
    const std::string dump = edet_test::tool_path("edet-dump");
    if (dump.empty()) return;
    edet_test::TempDir tmp;
    // tf_efficientdet_d0_ap runs the tf_efficientdet_d0 network with mean = std = 0.5 and
    // fill 0; the fixture's d0 weights fit it.
    const std::string weights = edet_test::fixtures_dir() + "/tf_efficientdet_d0_s0/weights.safetensors";
    const std::string image = std::string(EDET_SOURCE_DIR) + "/examples/data/coffee.png";
    const std::string out = tmp / "ap.safetensors";
    const edet_test::RunResult run = edet_test::run_tool(
        {dump, "--weights", weights, "--variant", "tf_efficientdet_d0_ap", "--image", image, "--output", out, "--threads", "2"},
        tmp);
    CAPTURE(run.err);
    REQUIRE(run.exit_code == 0);
    const auto got = SafeTensorsFile::open(out);
    CHECK(got->metadata("model") == "tf_efficientdet_d0_ap");
    // SHA-256 of the raw `input` bytes the oracle wrote for
    // make_fixture tf_efficientdet_d0_ap DIR --image examples/data/coffee.png (600x400 -> 512x341).
    REQUIRE(got->find("input"));
    CHECK(got->find("input")->shape == std::vector<std::int64_t>{1, 3, 512, 512});
    CHECK(edet::io::sha256_hex(got->raw("input"), got->raw_size("input")) ==
          "60ebf8a82a63e0d6c8bb3c33ff3067ce12e5d1c6fb6fd9d637dc205d89e1bfc9");
    CHECK(read_tensor(*got, "scale") == std::vector<float>{1.171875f});
    CHECK(read_tensor(*got, "img_size") == std::vector<float>{600.0f, 400.0f});
    CHECK(!got->find("detections"));  // only with --detections
}

TEST_CASE("edet-dump: usage errors exit 2 with a message, bad weights exit 1 naming the file") {
    const std::string dump = edet_test::tool_path("edet-dump");
    if (dump.empty()) return;
    edet_test::TempDir tmp;
    const std::string out = tmp / "out.safetensors";

    const edet_test::RunResult help = edet_test::run_tool({dump, "--help"}, tmp);
    CHECK(help.exit_code == 0);
    CHECK(edet_test::contains(help.out, "usage: edet-dump"));

    const edet_test::RunResult unknown = edet_test::run_tool({dump, "--bogus", "1"}, tmp);
    CHECK(unknown.exit_code == 2);
    CHECK(edet_test::contains(unknown.err, "unknown argument '--bogus'"));
    CHECK(edet_test::contains(unknown.err, "usage:"));

    const edet_test::RunResult no_weights = edet_test::run_tool({dump, "--input", "x.safetensors", "--output", out}, tmp);
    CHECK(no_weights.exit_code == 2);
    CHECK(edet_test::contains(no_weights.err, "--weights is required"));

    const edet_test::RunResult no_input = edet_test::run_tool({dump, "--weights", "w", "--output", out}, tmp);
    CHECK(no_input.exit_code == 2);
    CHECK(edet_test::contains(no_input.err, "--input or --image"));

    const edet_test::RunResult both =
        edet_test::run_tool({dump, "--weights", "w", "--input", "i", "--image", "a.png", "--output", out}, tmp);
    CHECK(both.exit_code == 2);
    CHECK(edet_test::contains(both.err, "cannot be combined"));

    const edet_test::RunResult no_value = edet_test::run_tool({dump, "--weights"}, tmp);
    CHECK(no_value.exit_code == 2);
    CHECK(edet_test::contains(no_value.err, "--weights needs a value"));

    const edet_test::RunResult path = edet_test::run_tool({dump, "--path", "slow", "--weights", "w"}, tmp);
    CHECK(path.exit_code == 2);
    CHECK(edet_test::contains(path.err, "--path must be fast or reference"));

    const edet_test::RunResult threads = edet_test::run_tool({dump, "--threads", "0", "--weights", "w"}, tmp);
    CHECK(threads.exit_code == 2);
    // At most edet::max_num_threads() (4 x the cores, at least 64), as edet-detect.
    const std::string most = std::to_string(edet::max_num_threads());
    const edet_test::RunResult too_many =
        edet_test::run_tool({dump, "--threads", std::to_string(edet::max_num_threads() + 1), "--weights", "w"}, tmp);
    CHECK(too_many.exit_code == 2);
    CHECK(edet_test::contains(too_many.err, "--threads needs an integer in [1, " + most + "]"));

    // A weights file that is not a checkpoint: exit 1, the message names it; nothing written.
    const std::string bad = tmp / "not_weights.safetensors";
    edet::io::write_file_bytes(bad, std::vector<std::uint8_t>(64, 0xab));
    const edet_test::RunResult bad_run =
        edet_test::run_tool({dump, "--weights", bad, "--image", "unused.png", "--output", out}, tmp);
    CHECK(bad_run.exit_code == 1);
    CHECK(edet_test::contains(bad_run.err, bad));
    CHECK(!std::filesystem::exists(out));

    const std::string missing = tmp / "missing.safetensors";
    const edet_test::RunResult missing_run =
        edet_test::run_tool({dump, "--weights", missing, "--image", "unused.png", "--output", out}, tmp);
    CHECK(missing_run.exit_code == 1);
    CHECK(edet_test::contains(missing_run.err, missing));
}

TEST_CASE("edet-dump: a missing input tensor or image exits 1 naming it" * doctest::test_suite("parity")) {
    const std::string dump = edet_test::tool_path("edet-dump");
    if (dump.empty()) return;
    edet_test::TempDir tmp;
    const std::string weights = edet_test::fixtures_dir() + "/tf_efficientdet_lite0_s0/weights.safetensors";
    const std::string out = tmp / "out.safetensors";
    const std::string no_image = tmp / "no_such_image.png";
    const edet_test::RunResult r1 = edet_test::run_tool({dump, "--weights", weights, "--image", no_image, "--output", out}, tmp);
    CHECK(r1.exit_code == 1);
    CHECK(edet_test::contains(r1.err, no_image));

    // An input file without `input`.
    const std::string empty_input = tmp / "empty_input.safetensors";
    const float one = 1.0f;
    edet::io::write_safetensors(empty_input, {edet::io::SafeTensorsEntry{"other", edet::io::DType::f32, {1}, &one}});
    const edet_test::RunResult r2 =
        edet_test::run_tool({dump, "--weights", weights, "--input", empty_input, "--output", out}, tmp);
    CHECK(r2.exit_code == 1);
    CHECK(edet_test::contains(r2.err, "'input'"));
    CHECK(edet_test::contains(r2.err, empty_input));

    // An unknown variant is a usage error (as in every tool) listing the known ones.
    const edet_test::RunResult r3 = edet_test::run_tool(
        {dump, "--weights", weights, "--variant", "tf_efficientdet_d9", "--image", "x.png", "--output", out}, tmp);
    CHECK(r3.exit_code == 2);
    CHECK(edet_test::contains(r3.err, "tf_efficientdet_d9"));
    CHECK(edet_test::contains(r3.err, "tf_efficientdet_lite0"));
    CHECK(!std::filesystem::exists(out));
}

TEST_CASE("edet-dump: a custom model's train.py checkpoint, described by the model flags" * doctest::test_suite("parity")) {
    const std::string dump = edet_test::tool_path("edet-dump");
    if (dump.empty()) return;
    edet_test::TempDir tmp;
    const std::string dir = edet_test::fixtures_dir() + "/custom/tf_efficientdet_lite0_c3_s7_256x384/";
    const std::string out = tmp / "c3.safetensors";
    const edet_test::RunResult r = edet_test::run_tool(
        {dump, "--weights", dir + "train_checkpoint.pth.tar", "--variant", "tf_efficientdet_lite0", "--num-scales", "2",
         "--aspect-ratios", "1.0,2.0,0.5", "--anchor-scale", "3", "--input", dir + "input.safetensors", "--output", out,
         "--detections"},
        tmp);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    const auto got = edet::io::SafeTensorsFile::open(out);
    const auto ref = edet::io::SafeTensorsFile::open(dir + "outputs.safetensors");
    const std::vector<std::uint8_t> manifest = edet::io::read_file_bytes(dir + "manifest.json");
    const double noise =
        edet::io::json::parse(std::string(manifest.begin(), manifest.end()), "manifest")["fp32_noise_max"].as_number();
    const double tol = std::max(1e-4, 4 * noise);
    double worst = 0;
    for (int l = 0; l < 5; ++l)
        for (const char* head : {"class_out", "box_out"}) {
            const std::string name = edet::cat(head, ".", l);
            const std::vector<float> a = got->read_f32(name), b = ref->read_f32(name);
            REQUIRE(a.size() == b.size());
            double num = 0, den = 0;
            for (std::size_t i = 0; i < a.size(); ++i) {
                num = std::max(num, std::fabs(double(a[i]) - b[i]));
                den = std::max(den, std::fabs(double(b[i])));
            }
            worst = std::max(worst, num / den);
        }
    MESSAGE("custom model via edet-dump: worst head error " << worst << " (tolerance " << tol << ")");
    CHECK(worst <= tol);
    // Detections in the photo's pixels (the input's scale and img_size): same classes, boxes within tolerance.
    const std::vector<float> d = got->read_f32("detections"), rd = ref->read_f32("detections");
    REQUIRE(d.size() == rd.size());
    double box = 0;
    for (std::size_t i = 0; i < d.size() / 6; ++i) {
        CHECK(d[i * 6 + 5] == rd[i * 6 + 5]);
        for (int k = 0; k < 4; ++k) box = std::max(box, std::fabs(double(d[i * 6 + std::size_t(k)]) - rd[i * 6 + std::size_t(k)]));
    }
    CHECK(box <= tol * 600);
}

TEST_CASE("edet-dump --nodes: every BiFPN node of every cell equals the reference's own, on both paths" *
          doctest::test_suite("parity")) {
    const std::string dump = edet_test::tool_path("edet-dump");
    if (dump.empty()) return;
    edet_test::TempDir tmp;
    const std::string dir = edet_test::fixtures_dir() + "/tf_efficientdet_d0_s3_256x384/";
    const auto ref = edet::io::SafeTensorsFile::open(dir + "nodes.safetensors");
    const std::vector<std::uint8_t> manifest = edet::io::read_file_bytes(dir + "manifest.json");
    const edet::io::json::Value m = edet::io::json::parse(std::string(manifest.begin(), manifest.end()), "manifest");
    const double tol = std::max(1e-4, 4 * m["fp32_noise_max"].as_number());
    const std::string out = tmp / "nodes.safetensors";
    for (const std::string path : {"fast", "reference"}) {
        CAPTURE(path);
        const edet_test::RunResult r = edet_test::run_tool({dump, "--weights", dir + "weights.safetensors", "--input",
                                                            dir + "input.safetensors", "--output", out, "--nodes", "--path", path},
                                                           tmp);
        CAPTURE(r.err);
        REQUIRE(r.exit_code == 0);
        const auto got = edet::io::SafeTensorsFile::open(out);
        // Every node the manifest lists (3 cells x 8 nodes), whole and its combine, and the
        // two extra levels: every tensor of the oracle's file.
        std::vector<std::string> names = {"fpn.resample.3.out", "fpn.resample.4.out"};
        for (const auto& node : m["fpn_nodes"].as_array()) {
            names.push_back(node["name"].as_string() + ".out");
            names.push_back(node["name"].as_string() + ".combine.out");
        }
        REQUIRE(names.size() == 50);
        CHECK(ref->tensors().size() == names.size());
        double worst = 0;
        for (const std::string& name : names) {
            CAPTURE(name);
            REQUIRE(got->find(name) != nullptr);
            REQUIRE(got->find(name)->shape == ref->find(name)->shape);
            const std::vector<float> a = got->read_f32(name), b = ref->read_f32(name);
            double num = 0, den = 0;
            for (std::size_t i = 0; i < a.size(); ++i) {
                num = std::max(num, std::fabs(double(a[i]) - b[i]));
                den = std::max(den, std::fabs(double(b[i])));
            }
            if (den == 0) {  // all zero: a node whose edge weights are all <= 0 (cell 0's node 3, cell 2's node 1)
                CHECK(num == 0);
                continue;
            }
            CHECK(num / den <= tol);
            worst = std::max(worst, num / den);
        }
        MESSAGE("BiFPN nodes, " << path << " path: worst rel error " << worst << " over " << names.size()
                                << " outputs (tolerance " << tol << ")");
    }
    REQUIRE(edet_test::run_tool({dump, "--weights", dir + "weights.safetensors", "--input", dir + "input.safetensors",
                                 "--output", out, "--nodes"},
                                tmp)
                .exit_code == 0);
    const auto got = edet::io::SafeTensorsFile::open(out);
    // The heads are the same with and without --nodes (the observer only copies).
    const std::string plain = tmp / "plain.safetensors";
    REQUIRE(edet_test::run_tool({dump, "--weights", dir + "weights.safetensors", "--input", dir + "input.safetensors",
                                 "--output", plain},
                                tmp)
                .exit_code == 0);
    const auto p = edet::io::SafeTensorsFile::open(plain);
    CHECK(p->read_f32("class_out.0") == got->read_f32("class_out.0"));
    CHECK(p->read_f32("box_out.4") == got->read_f32("box_out.4"));
}
