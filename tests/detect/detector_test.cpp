// Tests for edet/detect/detector.hpp with the fixtures' (random) weights: the facade's
// detect_tensor reproduces the reference detections, detect() on a real image returns
// clipped boxes in image pixels, and batch / thread settings do not change results.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "detect/fixture_reader.hpp"
#include "edet/detect/detector.hpp"
#include "edet/io/json.hpp"
#include "test_util.hpp"

namespace {
const char* kLite = "tf_efficientdet_lite0_s0";

edet::Tensor<float> fixture_input(const std::string& folder) {
    const auto t = edet_test::FixtureFile(edet_test::fixtures_dir() + "/" + folder + "/input.safetensors").read("input");
    const std::vector<float> nhwc = edet_test::nchw_to_nhwc(t);
    return edet::Tensor<float>(edet::Shape{int(t.shape[0]), int(t.shape[2]), int(t.shape[3]), int(t.shape[1])}, nhwc.data());
}

bool same(const std::vector<edet::Detection>& a, const std::vector<edet::Detection>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].class_id != b[i].class_id || a[i].score != b[i].score || a[i].box.x1 != b[i].box.x1 ||
            a[i].box.y2 != b[i].box.y2)
            return false;
    return true;
}
}  // namespace

TEST_CASE("detector: detect_tensor reproduces the fixture's detections (lite0)" * doctest::test_suite("parity")) {
    const std::string dir = edet_test::fixtures_dir() + "/" + kLite;
    edet::Detector det = edet::Detector::load(dir + "/weights.safetensors", "tf_efficientdet_lite0");
    CHECK(det.input_height() == 320);
    const edet::Tensor<float> input = fixture_input(kLite);
    const auto ref = edet_test::FixtureFile(dir + "/outputs.safetensors").read("detections").values;
    const std::vector<edet::Detection> got = det.detect_tensor(input.view()).at(0);
    REQUIRE(got.size() == 100);
    double max_ref = 0, max_box = 0, max_score = 0;
    int class_mismatch = 0;
    for (std::size_t i = 0; i < 100; ++i) {
        for (int k = 0; k < 4; ++k) max_ref = std::max(max_ref, std::fabs(double(ref[i * 6 + std::size_t(k)])));
        // Match by class and box among rows with a near-equal score (ties may reorder).
        double best = 1e30;
        for (std::size_t j = 0; j < 100; ++j) {
            if (int(ref[j * 6 + 5]) != got[i].class_id || std::fabs(ref[j * 6 + 4] - got[i].score) > 1e-3) continue;
            const float* r = &ref[j * 6];
            best = std::min(best, std::max({std::fabs(double(got[i].box.x1) - r[0]), std::fabs(double(got[i].box.y1) - r[1]),
                                            std::fabs(double(got[i].box.x2) - r[2]), std::fabs(double(got[i].box.y2) - r[3])}));
        }
        if (best > 1e29) ++class_mismatch;
        else max_box = std::max(max_box, best);
        max_score = std::max(max_score, std::fabs(double(got[i].score) - ref[i * 6 + 4]));
        CHECK(got[i].label == edet::detect::coco_label(got[i].class_id));
    }
    // Parity tolerance of ../shared/fixtures/README.md: max(1e-4, 4 x fp32_noise_max).
    const std::vector<std::uint8_t> manifest = edet::io::read_file_bytes(dir + "/manifest.json");
    const double noise = edet::io::json::parse(std::string(manifest.begin(), manifest.end()), "manifest")["fp32_noise_max"].as_number();
    const double tol = std::max(1e-4, 4 * noise);
    MESSAGE("tolerance " << tol);
    MESSAGE("rows without a reference match " << class_mismatch << ", max box error " << max_box << " (rel "
                                              << max_box / max_ref << "), max score error " << max_score);
    CHECK(class_mismatch == 0);
    CHECK(max_box / max_ref <= tol);
    CHECK(max_score <= tol);
}

TEST_CASE("detector: detect() on an image: clipped boxes, batch and threads agree" * doctest::test_suite("parity")) {
    const std::string dir = edet_test::fixtures_dir() + "/" + kLite;
    edet::Detector det = edet::Detector::load(dir + "/weights.safetensors", "tf_efficientdet_lite0");
    const edet::io::Image coffee = edet::io::read_image(std::string(EDET_SOURCE_DIR) + "/examples/data/coffee.png");
    REQUIRE(coffee.width == 600);
    edet::DetectOptions opt;
    opt.max_detections = 20;
    const std::vector<edet::Detection> one = det.detect(coffee, opt);
    REQUIRE(one.size() == 20);
    for (const auto& d : one) {
        CHECK(d.box.x1 >= 0.0f);
        CHECK(d.box.y1 >= 0.0f);
        CHECK(d.box.x2 <= 600.0f * 1.0001f);
        CHECK(d.box.y2 <= 400.0f * 1.0001f);
        CHECK(d.class_id >= 1);
        CHECK(d.class_id <= 90);
    }
    for (std::size_t i = 1; i < one.size(); ++i) CHECK(one[i - 1].score >= one[i].score);
    opt.batch_size = 2;
    opt.threads = 1;
    const edet::io::Image small = edet::detect::resize_bilinear_pillow(coffee, 150, 100);
    const auto batch = det.detect_batch({coffee, small, coffee}, opt);
    REQUIRE(batch.size() == 3);
    CHECK(same(batch[0], one));
    CHECK(same(batch[2], one));
    CHECK(same(batch[1], det.detect(small, opt)));
    opt.score_threshold = 2.0f;  // nothing reaches it
    CHECK(det.detect(coffee, opt).empty());
    CHECK_THROWS_AS(edet::Detector::load(dir + "/weights.safetensors", "tf_efficientdet_d9"), edet::Error);
    CHECK_THROWS_AS(edet::Detector::load(dir + "/missing.safetensors", "tf_efficientdet_lite0"), edet::Error);
}

TEST_CASE("detector: every published variant maps to a network the model knows, with the same geometry") {
    for (const edet::detect::VariantInfo& v : edet::detect::variants()) {
        INFO("variant " << v.name << " -> network " << v.network);
        const edet::EfficientDetConfig c = edet::efficientdet_config(v.network);
        CHECK(c.image_height == v.image_size);
        CHECK(c.image_width == v.image_size);
        CHECK(c.min_level == v.min_level);
        CHECK(c.max_level == v.max_level);
        CHECK(c.anchor_scale == v.anchor_scale);
    }
    CHECK(edet::detect::variants().size() == 23u);  // the rows of ../shared/checkpoints.tsv
}
