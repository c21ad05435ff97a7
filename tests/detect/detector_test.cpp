// Tests for edet/detect/detector.hpp with the fixtures' (random) weights: the facade's
// detect_tensor reproduces the reference detections, detect() on a real image returns
// clipped boxes in image pixels, and batch / thread settings do not change results.
// With random weights: options outside their ranges and non-finite weights are refused;
// Detectors in two threads with their own thread counts do not disturb each other.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "detect/fixture_reader.hpp"
#include "edet/detect/detector.hpp"
#include "edet/io/json.hpp"
#include "edet/io/safetensors.hpp"
#include "nn/nn_test_util.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace {
const char* kLite = "tf_efficientdet_lite0_s0";

edet::Tensor<float> fixture_input(const std::string& folder) {
    const auto t = edet_test::FixtureFile(edet_test::fixtures_dir() + "/" + folder + "/input.safetensors").read("input");
    const std::vector<float> nhwc = edet_test::nchw_to_nhwc(t);
    return edet::Tensor<float>(edet::Shape{int(t.shape[0]), int(t.shape[2]), int(t.shape[3]), int(t.shape[1])}, nhwc.data());
}

// Every field of every row equal, bit for bit.
bool identical(const std::vector<edet::Detection>& a, const std::vector<edet::Detection>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].class_id != b[i].class_id || a[i].score != b[i].score || a[i].box.x1 != b[i].box.x1 ||
            a[i].box.y1 != b[i].box.y1 || a[i].box.x2 != b[i].box.x2 || a[i].box.y2 != b[i].box.y2)
            return false;
    return true;
}

// Lite0 at 128x128 with random weights: small enough to run many times in a unit test.
edet::EfficientDetConfig small_lite0() {
    edet::EfficientDetConfig c = edet::efficientdet_config("tf_efficientdet_lite0");
    c.image_height = 128;
    c.image_width = 128;
    return c;
}

edet_test::MemorySource random_weights(std::uint64_t seed = 11) {
    return edet_test::MemorySource::random_for(edet::EfficientDet::state_dict(small_lite0()), seed);
}

edet::Detector small_detector(const edet_test::MemorySource& w) {
    return edet::Detector::from_network(edet::EfficientDet::from_source(w, small_lite0()), "tf_efficientdet_lite0");
}

edet::io::Image test_image(int w, int h) {
    edet::io::Image img(w, h);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < 3; ++k)
                img.rgb[(static_cast<std::size_t>(y) * w + x) * 3 + k] = static_cast<std::uint8_t>((x * 7 + y * 3 + k * 50) ^ (x * y));
    return img;
}

// The message of the edet::Error `f` throws, or "(no error)".
template <class F>
std::string option_error(F&& f) {
    try {
        f();
    } catch (const edet::Error& e) {
        return e.what();
    }
    return "(no error)";
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
    opt.score_threshold = 2.0f;  // outside [0, 1]: refused (it once silently returned nothing)
    CHECK_THROWS_AS(det.detect(coffee, opt), edet::Error);
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

TEST_CASE("detector: options outside their ranges are edet::Errors naming the field and value") {
    const edet_test::MemorySource w = random_weights();
    edet::Detector det = small_detector(w);
    const edet::io::Image img = test_image(96, 64);
    struct Case {
        const char* field;
        void (*change)(edet::DetectOptions&);
    };
    const Case bad[] = {
        {"score_threshold", [](edet::DetectOptions& o) { o.score_threshold = std::nanf(""); }},
        {"score_threshold", [](edet::DetectOptions& o) { o.score_threshold = -0.01f; }},
        {"score_threshold", [](edet::DetectOptions& o) { o.score_threshold = 1.5f; }},
        {"iou_threshold", [](edet::DetectOptions& o) { o.iou_threshold = std::nanf(""); }},
        {"iou_threshold", [](edet::DetectOptions& o) { o.iou_threshold = -0.5f; }},
        {"iou_threshold", [](edet::DetectOptions& o) { o.iou_threshold = 1.01f; }},
        {"max_detections", [](edet::DetectOptions& o) { o.max_detections = -2; }},
        {"max_detections", [](edet::DetectOptions& o) { o.max_detections = edet::kMaxDetections + 1; }},
        {"threads", [](edet::DetectOptions& o) { o.threads = -1; }},
        {"threads", [](edet::DetectOptions& o) { o.threads = edet::max_num_threads() + 1; }},
        {"batch_size", [](edet::DetectOptions& o) { o.batch_size = 0; }},
        {"allow_classes", [](edet::DetectOptions& o) { o.allow_classes = {1, 0}; }},
        {"allow_classes", [](edet::DetectOptions& o) { o.allow_classes = {91}; }},
        {"deny_classes", [](edet::DetectOptions& o) { o.deny_classes = {-3}; }},
    };
    for (const Case& c : bad) {
        edet::DetectOptions o;
        c.change(o);
        const std::string detect_error = option_error([&] { det.detect(img, o); });
        CAPTURE(detect_error);
        CHECK(detect_error.find(std::string("DetectOptions::") + c.field) != std::string::npos);
        const std::string batch_error = option_error([&] { det.detect_batch({img, img}, o); });
        CHECK(batch_error.find(c.field) != std::string::npos);
        edet::Tensor<float> input(edet::Shape{1, 128, 128, 3});
        const std::string tensor_error = option_error([&] { det.detect_tensor(input.view(), o); });
        CHECK(tensor_error.find(c.field) != std::string::npos);
    }
    // The edges of every range are accepted.
    edet::DetectOptions o;
    o.score_threshold = 1.0f;
    o.iou_threshold = 0.0f;
    o.max_detections = edet::kMaxDetections;
    o.threads = 2;
    o.allow_classes = {1, 90};
    o.deny_classes = {90};
    CHECK(option_error([&] { det.detect(img, o); }) == "(no error)");
    o = {};
    o.score_threshold = 0.0f;
    o.iou_threshold = 1.0f;
    o.max_detections = 0;
    CHECK(option_error([&] { CHECK(det.detect(img, o).empty()); }) == "(no error)");
}

TEST_CASE("detector: a weights file with an Inf class bias or a negative BN variance is refused at load") {
    edet_test::TempDir tmp;
    struct Case {
        std::string tensor;
        float value;
    };
    const Case cases[] = {
        {"class_net.predict.conv_pw.bias", INFINITY},  // once: 100 boxes of score 1.000, zero height
        {"box_net.predict.conv_pw.weight", std::nanf("")},
        {"backbone.bn1.running_var", -1.0f},
    };
    for (const Case& c : cases) {
        CAPTURE(c.tensor);
        edet_test::MemorySource w = random_weights();
        REQUIRE(w.find(c.tensor));
        w.set(c.tensor, 3, c.value);
        // Through the file loader, as a user's checkpoint would come.
        std::vector<std::vector<float>> f32;
        std::vector<std::int64_t> zero_i64(1, 0);
        std::vector<edet::io::SafeTensorsEntry> entries;
        f32.reserve(w.tensors().size());
        for (const auto& t : w.tensors()) {
            if (t.dtype == edet::io::DType::i64) {
                entries.push_back({t.name, t.dtype, t.shape, zero_i64.data()});
            } else {
                f32.push_back(w.read_f32(t.name));
                entries.push_back({t.name, t.dtype, t.shape, f32.back().data()});
            }
        }
        const std::string path = tmp / "bad.safetensors";
        edet::io::write_safetensors(path, entries, {{"model", "tf_efficientdet_lite0"}});
        const std::string error = option_error([&] { edet::Detector::load(path, "", 128, 128); });
        CAPTURE(error);
        CHECK(error.find("tensor '" + c.tensor + "'") != std::string::npos);
        CHECK(error.find(path) != std::string::npos);
    }
}

TEST_CASE("detector: two Detectors in two threads with 1 and 2 threads agree bit for bit, leave the default alone") {
    const edet_test::MemorySource w = random_weights();
    edet::Detector one = small_detector(w), two = small_detector(w);
    const edet::io::Image img = test_image(150, 100);
    edet::DetectOptions o1, o2;
    o1.threads = 1;
    o2.threads = 2;
    const std::vector<edet::Detection> want = one.detect(img, o1);  // alone, one thread
    REQUIRE(want.size() == 100);
    CHECK(identical(two.detect(img, o2), want));
    const int before = edet::num_threads();
    std::atomic<int> mismatches{0};
    auto run = [&](edet::Detector& det, const edet::DetectOptions& o) {
        for (int iter = 0; iter < 60; ++iter)
            if (!identical(det.detect(img, o), want)) ++mismatches;
    };
    std::thread t1(run, std::ref(one), std::cref(o1)), t2(run, std::ref(two), std::cref(o2));
    t1.join();
    t2.join();
    CHECK(mismatches.load() == 0);
    CHECK(edet::detail::thread_setting().load() == 0);  // nobody changed the process default
    CHECK(edet::num_threads() == before);
}

TEST_CASE("detector: a train.py checkpoint of a custom model (3 classes, 6 anchors, 256x384, labels)" *
          doctest::test_suite("parity")) {
    const std::string folder = "custom/tf_efficientdet_lite0_c3_s7_256x384";
    const std::string dir = edet_test::fixtures_dir() + "/" + folder;
    edet::detect::ModelDescription d;
    d.variant = "tf_efficientdet_lite0";
    d.image_height = 256;
    d.image_width = 384;
    d.num_scales = 2;
    d.aspect_ratios = edet::detect::parse_aspect_ratios("1.0,2.0,0.5");
    d.anchor_scale = 3.0;
    d.labels = edet::detect::LabelMap::from_file(dir + "/labels.json");
    edet::Detector det = edet::Detector::load(dir + "/train_checkpoint.pth.tar", d);
    REQUIRE(det.num_classes() == 3);
    const std::vector<std::uint8_t> manifest = edet::io::read_file_bytes(dir + "/manifest.json");
    const double noise = edet::io::json::parse(std::string(manifest.begin(), manifest.end()), "manifest")["fp32_noise_max"].as_number();
    const double tol = std::max(1e-4, 4 * noise);

    // Raw head outputs on the fixture's input.
    const edet::Tensor<float> input = fixture_input(folder);
    const edet::HeadOutputs& out = det.network().forward(input.view());
    const edet_test::FixtureFile ref_out(dir + "/outputs.safetensors");
    double worst = 0;
    for (int l = 0; l < 5; ++l)
        for (const char* head : {"class_out", "box_out"}) {
            const auto ref = ref_out.read(edet::cat(head, ".", l));
            const auto& got = std::string(head) == "class_out" ? out.class_out[std::size_t(l)] : out.box_out[std::size_t(l)];
            const std::vector<float> ref_nhwc = edet_test::nchw_to_nhwc(ref);
            REQUIRE(ref_nhwc.size() == got.numel());
            double num = 0, den = 0;
            for (std::size_t i = 0; i < ref_nhwc.size(); ++i) {
                num = std::max(num, std::fabs(double(got.data()[i]) - ref_nhwc[i]));
                den = std::max(den, std::fabs(double(ref_nhwc[i])));
            }
            worst = std::max(worst, num / den);
        }
    MESSAGE("custom model head outputs: worst rel error " << worst << " (tolerance " << tol << ")");
    CHECK(worst <= tol);

    // Detections on the photo, in its pixels, clipped (effdet's validate.py).
    const edet::io::Image photo = edet::io::read_image(dir + "/coffee.png");
    edet::DetectOptions opt;
    const std::vector<edet::Detection> got = det.detect(photo, opt);
    const auto ref = ref_out.read("detections").values;
    std::size_t ref_rows = 0;
    while (ref_rows < 100 && ref[ref_rows * 6 + 4] > 0) ++ref_rows;
    REQUIRE(got.size() == ref_rows);
    double max_box = 0, max_score = 0;
    int unmatched = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        CHECK(got[i].class_id == d.labels->category_id(got[i].class_index));  // the dataset's ids: 2, 6, 8
        double best = 1e30;
        for (std::size_t j = 0; j < ref_rows; ++j) {
            if (int(ref[j * 6 + 5]) != got[i].class_index + 1 || std::fabs(ref[j * 6 + 4] - got[i].score) > 1e-3) continue;
            const float* r = &ref[j * 6];
            best = std::min(best, std::max({std::fabs(double(got[i].box.x1) - r[0]), std::fabs(double(got[i].box.y1) - r[1]),
                                            std::fabs(double(got[i].box.x2) - r[2]), std::fabs(double(got[i].box.y2) - r[3])}));
        }
        if (best > 1e29) ++unmatched;
        else max_box = std::max(max_box, best);
        max_score = std::max(max_score, std::fabs(double(got[i].score) - ref[i * 6 + 4]));
    }
    MESSAGE("custom model detections: " << got.size() << " rows, unmatched " << unmatched << ", max box error " << max_box
                                         << " px, max score error " << max_score);
    CHECK(unmatched == 0);
    CHECK(max_box <= tol * std::max(photo.width, photo.height));
    CHECK(max_score <= tol);
}

TEST_CASE("detector: a model with fewer than 5000 anchors x classes keeps them all (where effdet's top-k fails)") {
    // One class, one anchor per location at 384x384: 48^2 + 24^2 + 12^2 + 6^2 + 3^2 = 3069
    // candidates, fewer than the 5000 effdet's torch.topk asks for (k out of range there).
    edet::EfficientDetConfig c = edet::efficientdet_config("tf_efficientdet_lite0");
    c.image_height = c.image_width = 384;
    c.num_classes = 1;
    c.num_scales = 1;
    c.aspect_ratios = {{1.0, 1.0}};
    const edet_test::MemorySource w = edet_test::MemorySource::random_for(edet::EfficientDet::state_dict(c), 5);
    edet::Detector det = edet::Detector::from_network(edet::EfficientDet::from_source(w, c), "tf_efficientdet_lite0");
    REQUIRE(det.num_classes() == 1);
    REQUIRE(det.anchors().size() / 4 == 3069);
    edet::DetectOptions opt;
    opt.max_detections = 5000;
    opt.iou_threshold = 1.0f;  // NMS keeps every box that is not an exact duplicate
    const std::vector<edet::Detection> dets = det.detect(test_image(384, 384), opt);
    CHECK(dets.size() > 100);
    CHECK(dets.size() <= 3069);
    for (const edet::Detection& d : dets) {
        CHECK(d.class_index == 0);
        CHECK(d.label == "class 1");
    }
}
