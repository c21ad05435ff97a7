// Tests for edet/detect/postprocess.hpp: decode without FMA, top-k, NMS and soft-NMS on
// hand-made boxes, image-info clipping, and the fixtures' detections from their head outputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "detect/fixture_reader.hpp"
#include "edet/detect/anchors.hpp"
#include "edet/detect/postprocess.hpp"
#include "edet/detect/variants.hpp"
#include "test_util.hpp"

using namespace edet::detect;
using edet::Shape;
using edet::TensorView;

namespace {
// Each operation rounded to float through double (exact products of floats), so no FMA can
// sneak in: an independent path for decode_box.
float f(double v) { return static_cast<float>(v); }
Box decode_reference(const float* an, const float* code) {
    const float yca = f((double(an[0]) + an[2]) / 2), xca = f((double(an[1]) + an[3]) / 2);
    const float ha = f(double(an[2]) - an[0]), wa = f(double(an[3]) - an[1]);
    const float w = f(double(std::exp(code[3])) * wa), h = f(double(std::exp(code[2])) * ha);
    const float yc = f(double(f(double(code[0]) * ha)) + yca), xc = f(double(f(double(code[1]) * wa)) + xca);
    const float hw = f(double(w) / 2), hh = f(double(h) / 2);
    return Box{f(double(xc) - hw), f(double(yc) - hh), f(double(xc) + hw), f(double(yc) + hh)};
}
bool same_bits(float a, float b) { return std::memcmp(&a, &b, 4) == 0; }

// Every allowed logit of the levels in flat-index order (all classes when allowed is empty),
// and the order top_k_logits promises: logit descending, then index ascending.
std::vector<Candidate> allowed_logits(const std::vector<std::vector<float>>& levels, int num_classes,
                                      const std::vector<char>& allowed) {
    std::vector<Candidate> all;
    std::int64_t index = 0;
    for (const auto& level : levels)
        for (float x : level) {
            if (allowed.empty() || allowed[static_cast<std::size_t>(index % num_classes)]) all.push_back({index, x});
            ++index;
        }
    return all;
}
bool ranks_before(const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.index < b.index);
}
}  // namespace

TEST_CASE("decode: bit-identical to per-operation float rounding (no FMA contraction)") {
    edet_test::Random rng(3);
    int mismatches = 0, fused_would_differ = 0;
    for (int i = 0; i < 20000; ++i) {
        const float y1 = rng.uniform(-100, 600), x1 = rng.uniform(-100, 600);
        const float an[4] = {y1, x1, y1 + rng.uniform(1, 300), x1 + rng.uniform(1, 300)};
        const float code[4] = {rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-3, 3)};
        const Box got = decode_box(an, code), want = decode_reference(an, code);
        // Sensitivity: a fused centre (what -ffp-contract=fast may emit) must be caught.
        const float ha = an[2] - an[0], yca = (an[0] + an[2]) / 2.0f;
        const float yc_fused = std::fma(code[0], ha, yca), yc_plain = f(double(f(double(code[0]) * ha)) + yca);
        fused_would_differ += !same_bits(yc_fused, yc_plain);
        const bool ok = same_bits(got.x1, want.x1) && same_bits(got.y1, want.y1) && same_bits(got.x2, want.x2) &&
                        same_bits(got.y2, want.y2);
        if (!ok && mismatches++ < 3) {
            INFO("anchor " << an[0] << " " << an[1] << " " << an[2] << " " << an[3] << " code " << code[0] << " "
                           << code[1] << " " << code[2] << " " << code[3]);
            CHECK(ok);
        }
    }
    CHECK(mismatches == 0);
    MESSAGE("an FMA would change the box centre in " << fused_would_differ << " of 20000 cases");
    CHECK(fused_would_differ > 100);
}

TEST_CASE("iou: overlap, disjoint, identical and zero-area boxes") {
    const Box a{0, 0, 10, 10}, b{5, 0, 15, 10};
    CHECK(box_iou(a, b) == doctest::Approx(50.0 / 150.0));
    CHECK(box_iou(a, Box{20, 20, 30, 30}) == 0.0f);
    CHECK(box_iou(a, a) == 1.0f);
    CHECK(box_iou(Box{3, 3, 3, 3}, Box{3, 3, 3, 3}) == 0.0f);  // zero area: no overlap, not NaN
    CHECK(box_iou(Box{3, 3, 3, 8}, a) == 0.0f);
}

TEST_CASE("nms: suppression above the threshold only, ties in input order") {
    // Two boxes with IoU exactly 1/3 and one copy of the first.
    const std::vector<Box> boxes{{0, 0, 10, 10}, {5, 0, 15, 10}, {0, 0, 10, 10}, {100, 100, 110, 110}};
    const std::vector<float> scores{0.9f, 0.8f, 0.9f, 0.1f};
    // IoU(0, 1) = 1/3: kept at threshold 0.5, dropped at 0.3. Box 2 is identical to box 0 with
    // the same score: the first in input order wins.
    CHECK(nms(boxes, scores, 0.5f) == std::vector<int>{0, 1, 3});
    CHECK(nms(boxes, scores, 0.3f) == std::vector<int>{0, 3});
    // IoU equal to the threshold is not above it.
    CHECK(nms({{0, 0, 10, 10}, {5, 0, 15, 10}}, {1.0f, 0.5f}, box_iou(Box{0, 0, 10, 10}, Box{5, 0, 15, 10})) ==
          std::vector<int>{0, 1});
    // Zero-area boxes never suppress anything (IoU 0), even when identical.
    CHECK(nms({{1, 1, 1, 1}, {1, 1, 1, 1}}, {0.5f, 0.4f}, 0.5f) == std::vector<int>{0, 1});
    CHECK(nms({}, {}, 0.5f).empty());
    CHECK_THROWS_AS(nms(boxes, {0.1f}, 0.5f), edet::Error);
}

TEST_CASE("batched nms: a class suppresses only itself; agnostic suppresses across classes") {
    const std::vector<Box> boxes{{0, 0, 10, 10}, {1, 0, 11, 10}, {0, 1, 10, 11}, {50, 50, 60, 60}};
    const std::vector<float> scores{0.6f, 0.9f, 0.7f, 0.2f};
    const std::vector<int> classes{0, 1, 1, 0};
    // Class 1: box 1 (0.9) drops box 2 (IoU 0.74). Class 0: boxes 0 and 3 stay.
    CHECK(batched_nms(boxes, scores, classes, 0.5f) == std::vector<int>{1, 0, 3});
    // Agnostic: box 1 drops both 0 and 2.
    CHECK(nms(boxes, scores, 0.5f) == std::vector<int>{1, 3});
}

TEST_CASE("soft nms: gaussian decay, pick order and the score floor") {
    const std::vector<Box> boxes{{0, 0, 10, 10}, {5, 0, 15, 10}, {0, 0, 10, 10}};
    const std::vector<float> scores{0.9f, 0.8f, 0.5f};
    const std::vector<int> classes{0, 0, 1};
    const SoftNmsResult r = soft_nms(boxes, scores, classes);
    // Box 0 first; box 1 decays by exp(-(1/3)^2 / 0.5); box 2 is another class: offset away,
    // so it keeps its score despite being identical.
    REQUIRE(r.index.size() == 3);
    CHECK(r.index[0] == 0);
    CHECK(r.score[0] == 0.9f);
    const float iou = box_iou(boxes[0], boxes[1]);
    const float decayed = 0.8f * std::exp(-(iou * iou) / 0.5f);
    CHECK(decayed < 0.8f);
    CHECK(r.index[1] == 1);
    CHECK(r.score[1] == doctest::Approx(decayed).epsilon(1e-6));
    CHECK(r.index[2] == 2);
    CHECK(r.score[2] == 0.5f);
    // Same class, identical boxes: the second decays by exp(-2) each round it survives.
    const SoftNmsResult s = soft_nms({{0, 0, 4, 4}, {0, 0, 4, 4}}, {0.5f, 0.4f}, {3, 3});
    REQUIRE(s.index.size() == 2);
    CHECK(s.score[1] == doctest::Approx(0.4 * std::exp(-2.0)).epsilon(1e-6));
    // Below the floor after decay: removed.
    const SoftNmsResult t = soft_nms({{0, 0, 4, 4}, {0, 0, 4, 4}}, {0.5f, 0.005f}, {0, 0});
    CHECK(t.index == std::vector<int>{0});
    // Ties: the first index is picked first.
    const SoftNmsResult u = soft_nms({{0, 0, 1, 1}, {5, 5, 6, 6}}, {0.5f, 0.5f}, {0, 0});
    CHECK(u.index == std::vector<int>{0, 1});
}

namespace {
// A tiny two-level head: level 0 is 2x2, level 1 is 1x1, 1 anchor per cell, 3 classes.
struct TinyHeads {
    std::vector<float> cls0, cls1, box0, box1;
    std::vector<TensorView<const float>> cls, box;
    std::vector<float> anchors;
    TinyHeads() : cls0(2 * 2 * 3, -10.0f), cls1(1 * 1 * 3, -10.0f), box0(2 * 2 * 4, 0.0f), box1(4, 0.0f) {
        for (int i = 0; i < 5; ++i) {  // anchor i: a 10x10 square at (20 i, 20 i)
            const float o = 20.0f * static_cast<float>(i);
            anchors.insert(anchors.end(), {o, o, o + 10, o + 10});
        }
    }
    void bind() {
        cls = {TensorView<const float>(cls0.data(), Shape{1, 2, 2, 3}), TensorView<const float>(cls1.data(), Shape{1, 1, 1, 3})};
        box = {TensorView<const float>(box0.data(), Shape{1, 2, 2, 4}), TensorView<const float>(box1.data(), Shape{1, 1, 1, 4})};
    }
};
}  // namespace

TEST_CASE("postprocess: top-k order, class filters, score threshold and image info") {
    TinyHeads t;
    t.cls0[1 * 3 + 2] = 2.0f;   // anchor 1, class 2 (id 3)
    t.cls0[3 * 3 + 0] = 1.0f;   // anchor 3, class 0 (id 1)
    t.cls1[1] = 3.0f;           // anchor 4, class 1 (id 2)
    t.box1[3] = std::log(2.0f); // anchor 4 twice as wide
    t.bind();
    PostprocessOptions opt;
    opt.max_detection_points = 3;
    auto rows = postprocess(t.cls, t.box, t.anchors, 3, 0, opt);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].class_id == 2);
    CHECK(rows[0].score == sigmoid(3.0f));
    CHECK(rows[0].box.x1 == doctest::Approx(80 - 5));
    CHECK(rows[0].box.x2 == doctest::Approx(90 + 5));
    CHECK(rows[0].box.y1 == 80.0f);
    CHECK(rows[1].class_id == 3);
    CHECK(rows[1].box.x1 == 20.0f);
    CHECK(rows[2].class_id == 1);
    opt.deny_classes = {2};
    rows = postprocess(t.cls, t.box, t.anchors, 3, 0, opt);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].class_id == 3);
    opt.deny_classes.clear();
    opt.allow_classes = {1};
    rows = postprocess(t.cls, t.box, t.anchors, 3, 0, opt);
    REQUIRE(rows.size() == 3);
    for (const auto& r : rows) CHECK(r.class_id == 1);
    opt.allow_classes.clear();
    opt.score_threshold = sigmoid(1.5f);
    rows = postprocess(t.cls, t.box, t.anchors, 3, 0, opt);
    CHECK(rows.size() == 2);
    opt.score_threshold = 0;
    opt.max_detections = 1;
    CHECK(postprocess(t.cls, t.box, t.anchors, 3, 0, opt).size() == 1);
    // Image info: network box (75, 80)-(95, 90) clipped to 60/0.5... image 40x45 at
    // img_scale 2 -> network limits x <= 20, y <= 22.5, then scaled by 2.
    opt.max_detections = 100;
    ImageInfo info{2.0f, 40.0f, 45.0f};
    rows = postprocess(t.cls, t.box, t.anchors, 3, 0, opt, &info);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].box.x1 == 40.0f);
    CHECK(rows[0].box.x2 == 40.0f);
    CHECK(rows[0].box.y1 == 45.0f);
    CHECK(rows[1].box.x1 == 40.0f);  // anchor 1: x 20..30 -> clip 20..20 -> 40..40
    CHECK(rows[1].box.y1 == 40.0f);  // y 20 -> 40
    CHECK(rows[1].box.y2 == 45.0f);  // y 30 -> 22.5 -> 45
}

TEST_CASE("postprocess: letterbox round trip of a box through scale and clip") {
    // An image 300x200 letterboxed into 512x512: scale 512/300, img_scale = 300/512.
    const double scale = 512.0 / 300.0;
    const float img_scale = static_cast<float>(1.0 / scale);
    TinyHeads t;
    t.cls0[0] = 5.0f;
    t.anchors[0] = 10.0f * static_cast<float>(scale);   // y1: image y 10
    t.anchors[1] = 20.0f * static_cast<float>(scale);   // x1: image x 20
    t.anchors[2] = 150.0f * static_cast<float>(scale);  // y2: image y 150
    t.anchors[3] = 400.0f * static_cast<float>(scale);  // x2: image x 400 -> clipped to 300
    t.bind();
    PostprocessOptions opt;
    opt.max_detection_points = 1;
    ImageInfo info{img_scale, 300.0f, 200.0f};
    const auto rows = postprocess(t.cls, t.box, t.anchors, 3, 0, opt, &info);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].box.x1 == doctest::Approx(20.0).epsilon(1e-5));
    CHECK(rows[0].box.y1 == doctest::Approx(10.0).epsilon(1e-5));
    CHECK(rows[0].box.x2 == doctest::Approx(300.0).epsilon(1e-5));
    CHECK(rows[0].box.y2 == doctest::Approx(150.0).epsilon(1e-5));
}

TEST_CASE("postprocess: mismatched heads, anchors and NaN logits throw") {
    TinyHeads t;
    t.bind();
    PostprocessOptions opt;
    std::vector<float> short_anchors(t.anchors.begin(), t.anchors.end() - 4);
    CHECK_THROWS_AS(postprocess(t.cls, t.box, short_anchors, 3, 0, opt), edet::Error);
    CHECK_THROWS_AS(postprocess(t.cls, t.box, t.anchors, 2, 0, opt), edet::Error);
    CHECK_THROWS_AS(postprocess(t.cls, t.box, t.anchors, 3, 1, opt), edet::Error);
    t.cls1[0] = std::nanf("");
    CHECK_THROWS_AS(postprocess(t.cls, t.box, t.anchors, 3, 0, opt), edet::Error);
}

using edet_test::FixtureCase;
using edet_test::kFixtures;

namespace {

// Compares our rows with the reference (N=1, 100 x 6, zero rows pad). Classes must match row
// for row except where reference scores tie (then the set of rows within the tie must match).
void compare_detections(const std::vector<DetectionRow>& got, const std::vector<float>& ref, double tol) {
    std::size_t ref_count = 0;
    while (ref_count < 100 && !(ref[ref_count * 6 + 4] == 0.0f && ref[ref_count * 6 + 5] == 0.0f)) ++ref_count;
    REQUIRE(got.size() == ref_count);
    double max_ref = 0;
    for (std::size_t i = 0; i < ref_count * 6; ++i)
        if (i % 6 < 4) max_ref = std::max(max_ref, std::fabs(double(ref[i])));
    std::vector<char> used(ref_count, 0);
    double max_box = 0, max_score = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        // The reference row i, or a row with a tying score, with the same class and box.
        std::size_t best = ref_count;
        double best_err = 1e30;
        for (std::size_t j = 0; j < ref_count; ++j) {
            if (used[j] || int(ref[j * 6 + 5]) != got[i].class_id) continue;
            if (j != i && std::fabs(double(ref[j * 6 + 4]) - double(ref[i * 6 + 4])) > 1e-6) continue;
            const float* r = &ref[j * 6];
            const double e = std::max({std::fabs(double(got[i].box.x1) - r[0]), std::fabs(double(got[i].box.y1) - r[1]),
                                       std::fabs(double(got[i].box.x2) - r[2]), std::fabs(double(got[i].box.y2) - r[3])});
            if (e < best_err) {
                best_err = e;
                best = j;
            }
        }
        INFO("row " << i << ": class " << got[i].class_id << " score " << got[i].score << " box " << got[i].box.x1
                    << " " << got[i].box.y1 << " " << got[i].box.x2 << " " << got[i].box.y2 << "; reference row class "
                    << ref[i * 6 + 5] << " score " << ref[i * 6 + 4]);
        REQUIRE(best < ref_count);
        used[best] = 1;
        max_box = std::max(max_box, best_err);
        max_score = std::max(max_score, std::fabs(double(got[i].score) - ref[best * 6 + 4]));
    }
    MESSAGE("rows " << got.size() << ", max box error " << max_box << " (rel " << max_box / max_ref
                    << "), max score error " << max_score);
    CHECK(max_box / max_ref <= tol);
    CHECK(max_score <= tol);
}

void run_fixture(const FixtureCase& fc, bool soft) {
    const std::string dir = edet_test::fixtures_dir() + "/" + fc.folder;
    const edet_test::FixtureFile out(dir + "/outputs.safetensors");
    const edet::detect::VariantInfo& v = edet::detect::variant_info(fc.variant);
    std::vector<std::vector<float>> cls_data, box_data;
    std::vector<TensorView<const float>> cls, box;
    int H = 0, W = 0;
    for (int l = 0; l <= v.max_level - v.min_level; ++l) {
        const auto c = out.read("class_out." + std::to_string(l));
        const auto b = out.read("box_out." + std::to_string(l));
        cls_data.push_back(edet_test::nchw_to_nhwc(c));
        box_data.push_back(edet_test::nchw_to_nhwc(b));
        const Shape cs{int(c.shape[0]), int(c.shape[2]), int(c.shape[3]), int(c.shape[1])};
        const Shape bs{int(b.shape[0]), int(b.shape[2]), int(b.shape[3]), int(b.shape[1])};
        cls.emplace_back(cls_data.back().data(), cs);
        box.emplace_back(box_data.back().data(), bs);
        if (l == 0) {
            H = cs.h * 8;
            W = cs.w * 8;
        }
    }
    AnchorConfig ac;
    ac.image_height = H;
    ac.image_width = W;
    ac.min_level = v.min_level;
    ac.max_level = v.max_level;
    ac.anchor_scale = v.anchor_scale;
    const std::vector<float> anchors = generate_anchors(ac);
    PostprocessOptions opt;
    if (soft) opt.nms = NmsMethod::soft;
    const auto rows = postprocess(cls, box, anchors, 90, 0, opt);
    const auto ref = out.read(soft ? "detections_soft" : "detections");
    compare_detections(rows, ref.values, 1e-4);
}
}  // namespace

TEST_CASE("postprocess: fixtures' detections from their head outputs (hard NMS)" * doctest::test_suite("parity")) {
    for (const FixtureCase& fc : kFixtures) {
        INFO("fixture " << fc.folder);
        run_fixture(fc, false);
    }
}

TEST_CASE("postprocess: fixtures' detections_soft from their head outputs (soft-NMS)" * doctest::test_suite("parity")) {
    for (const FixtureCase& fc : kFixtures) {
        INFO("fixture " << fc.folder);
        run_fixture(fc, true);
    }
}

TEST_CASE("top_k_logits equals a full sort by (logit descending, index ascending)") {
    // The fast selection (sampled threshold, one vectorised pass) must give exactly what
    // sorting every allowed logit gives, ties included.
    edet_test::Random rng(2024);
    for (int trial = 0; trial < 60; ++trial) {
        const int num_classes = rng.integer(1, 12);
        const int anchors = rng.integer(1, 3);
        const int levels = rng.integer(1, 4);
        const bool ties = trial % 3 == 0;  // logits drawn from a few values
        std::vector<std::vector<float>> storage;
        std::vector<TensorView<const float>> class_out;
        storage.reserve(static_cast<std::size_t>(levels));
        for (int l = 0; l < levels; ++l) {
            const Shape s{1, rng.integer(1, 9), rng.integer(1, 9), anchors * num_classes};
            std::vector<float> v(s.numel());
            for (auto& x : v) x = ties ? static_cast<float>(rng.integer(-3, 3)) : rng.uniform(-8.0f, 4.0f);
            storage.push_back(std::move(v));
            class_out.emplace_back(storage.back().data(), s);
        }
        std::vector<char> allowed;
        if (trial % 4 == 1) {
            allowed.assign(static_cast<std::size_t>(num_classes), 1);
            for (auto& a : allowed) a = static_cast<char>(rng.integer(0, 1));
        }
        std::vector<Candidate> all = allowed_logits(storage, num_classes, allowed);
        std::int64_t index = 0;
        for (const auto& level : storage) index += static_cast<std::int64_t>(level.size());
        std::stable_sort(all.begin(), all.end(), ranks_before);
        for (int k : {1, 7, 100, static_cast<int>(index / 2) + 1, static_cast<int>(index) + 5}) {
            const std::vector<Candidate> got = top_k_logits(class_out, 0, k, num_classes, allowed);
            const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(k), all.size());
            INFO("trial ", trial, " k ", k, " classes ", num_classes, " total ", index, " ties ", ties);
            REQUIRE(got.size() == n);
            for (std::size_t i = 0; i < n; ++i) {
                REQUIRE(got[i].index == all[i].index);
                REQUIRE(got[i].logit == all[i].logit);
            }
        }
    }
}

TEST_CASE("top_k_logits: the scan split over 2 threads equals the full sort (large heads, ties, class mask, NaN)") {
    // >= 2^21 logits, so collect_at_least_parallel really splits; levels of uneven sizes so
    // the split falls inside spans. Ties: logits from a few values in some trials.
    edet_test::Random rng(99);
    edet::set_num_threads(2);
    for (int trial = 0; trial < 4; ++trial) {
        const int num_classes = 90;
        const bool ties = trial % 2 == 1;
        std::vector<std::vector<float>> storage;
        std::vector<TensorView<const float>> class_out;
        storage.reserve(3);
        for (const Shape& s : {Shape{1, 101, 97, 9 * num_classes}, Shape{1, 51, 49, 9 * num_classes}, Shape{1, 3, 5, 9 * num_classes}}) {
            std::vector<float> v(s.numel());
            for (auto& x : v) x = ties ? static_cast<float>(rng.integer(-40, 2)) * 0.25f : rng.uniform(-12.0f, 4.0f);
            storage.push_back(std::move(v));
            class_out.emplace_back(storage.back().data(), s);
        }
        std::vector<char> allowed;
        if (trial == 2) {
            allowed.assign(static_cast<std::size_t>(num_classes), 1);
            for (auto& a : allowed) a = static_cast<char>(rng.integer(0, 1));
        }
        std::vector<Candidate> all = allowed_logits(storage, num_classes, allowed);
        std::int64_t index = 0;
        for (const auto& level : storage) index += static_cast<std::int64_t>(level.size());
        REQUIRE(index >= (std::int64_t{1} << 21));
        const int k = 5000;
        std::partial_sort(all.begin(), all.begin() + k, all.end(), ranks_before);
        const std::vector<Candidate> got = top_k_logits(class_out, 0, k, num_classes, allowed);
        INFO("trial ", trial, " ties ", ties);
        REQUIRE(got.size() == static_cast<std::size_t>(k));
        for (std::size_t i = 0; i < got.size(); ++i) {
            REQUIRE(got[i].index == all[i].index);
            REQUIRE(got[i].logit == all[i].logit);
        }
    }
    // Two NaNs, one in each half: the error names the first in index order, as one thread does.
    std::vector<float> v(static_cast<std::size_t>(4) * 1024 * 1024, 0.0f);
    v[3 * 1024 * 1024 + 5] = std::nanf("");
    v[700001] = std::nanf("");
    const std::vector<TensorView<const float>> heads{TensorView<const float>(v.data(), Shape{1, 1024, 512, 8})};
    std::string two, one;
    try { top_k_logits(heads, 0, 100, 8); } catch (const edet::Error& e) { two = e.what(); }
    edet::set_num_threads(1);
    try { top_k_logits(heads, 0, 100, 8); } catch (const edet::Error& e) { one = e.what(); }
    edet::set_num_threads(0);  // back to the default
    CHECK(!two.empty());
    CHECK(two == one);
    CHECK(two.find("channel 1") != std::string::npos);  // flat 700001 = pixel 87500, channel 1
}

namespace {
// Run maxima of every level as the class head writes them (HeadOutputs::class_max),
// computed here by a plain loop: the max of each run of `columns` logits of a pixel, NaN if
// any is NaN.
std::vector<std::vector<float>> run_maxima(const std::vector<std::vector<float>>& storage,
                                           const std::vector<TensorView<const float>>& class_out, int columns,
                                           std::vector<TensorView<const float>>& views) {
    std::vector<std::vector<float>> out;
    out.reserve(storage.size());
    views.clear();
    for (std::size_t l = 0; l < storage.size(); ++l) {
        const Shape s = class_out[l].shape();
        const int runs = (s.c + columns - 1) / columns;
        std::vector<float> m(static_cast<std::size_t>(s.n) * s.h * s.w * runs);
        for (std::size_t p = 0; p < m.size() / static_cast<std::size_t>(runs); ++p)
            for (int j = 0; j < runs; ++j) {
                float best = -std::numeric_limits<float>::infinity();
                bool nan = false;
                for (int ch = j * columns; ch < std::min(s.c, (j + 1) * columns); ++ch) {
                    const float x = storage[l][p * static_cast<std::size_t>(s.c) + static_cast<std::size_t>(ch)];
                    nan = nan || std::isnan(x);
                    best = std::max(best, x);
                }
                m[p * static_cast<std::size_t>(runs) + static_cast<std::size_t>(j)] =
                    nan ? std::numeric_limits<float>::quiet_NaN() : best;
            }
        out.push_back(std::move(m));
        views.emplace_back(out.back().data(), Shape{s.n, s.h, s.w, runs});
    }
    return out;
}
}  // namespace

TEST_CASE("top_k_logits with the class head's run maxima equals the full sort (ties, masks, NaN, bad maxima)") {
    edet_test::Random rng(4242);
    for (int trial = 0; trial < 40; ++trial) {
        const int num_classes = trial % 5 == 0 ? 90 : rng.integer(1, 12);
        const int anchors = rng.integer(1, 9);
        const int levels = rng.integer(1, 4);
        const int columns = trial % 3 == 0 ? 16 : (trial % 3 == 1 ? 32 : rng.integer(1, 40));
        const bool ties = trial % 4 == 0;
        std::vector<std::vector<float>> storage;
        std::vector<TensorView<const float>> class_out;
        storage.reserve(static_cast<std::size_t>(levels));
        for (int l = 0; l < levels; ++l) {
            const Shape s{rng.integer(1, 2), rng.integer(1, 40), rng.integer(1, 40), anchors * num_classes};
            std::vector<float> v(s.numel());
            for (auto& x : v) x = ties ? static_cast<float>(rng.integer(-6, 1)) : rng.uniform(-12.0f, 4.0f);
            storage.push_back(std::move(v));
            class_out.emplace_back(storage.back().data(), s);
        }
        std::vector<TensorView<const float>> max_views;
        const auto maxima_storage = run_maxima(storage, class_out, columns, max_views);
        const edet::detect::LogitMaxima maxima{&max_views, columns};
        std::vector<char> allowed;
        if (trial % 4 == 1) {
            allowed.assign(static_cast<std::size_t>(num_classes), 1);
            for (auto& a : allowed) a = static_cast<char>(rng.integer(0, 1));
        }
        for (int image = 0; image < class_out[0].n(); ++image) {
            if (std::any_of(class_out.begin(), class_out.end(), [&](const auto& v) { return v.n() <= image; })) break;
            for (int k : {1, 100, 5000}) {
                const std::vector<Candidate> want = top_k_logits(class_out, image, k, num_classes, allowed);
                const std::vector<Candidate> got = top_k_logits(class_out, image, k, num_classes, allowed, &maxima);
                INFO("trial ", trial, " image ", image, " k ", k, " columns ", columns, " ties ", ties);
                REQUIRE(got.size() == want.size());
                for (std::size_t i = 0; i < got.size(); ++i) {
                    REQUIRE(got[i].index == want[i].index);
                    REQUIRE(got[i].logit == want[i].logit);
                }
            }
        }
    }
    // A NaN logit: the same error with and without maxima (the maximum of its run is NaN).
    const Shape s{1, 20, 30, 810};
    std::vector<float> v(s.numel(), -3.0f);
    v[12345] = std::nanf("");
    v[400000] = std::nanf("");
    const std::vector<std::vector<float>> storage{v};
    const std::vector<TensorView<const float>> heads{TensorView<const float>(storage[0].data(), s)};
    std::vector<TensorView<const float>> max_views;
    const auto maxima_storage = run_maxima(storage, heads, 32, max_views);
    const edet::detect::LogitMaxima maxima{&max_views, 32};
    std::string with, without;
    try { top_k_logits(heads, 0, 100, 90, {}, &maxima); } catch (const edet::Error& e) { with = e.what(); }
    try { top_k_logits(heads, 0, 100, 90); } catch (const edet::Error& e) { without = e.what(); }
    CHECK(!with.empty());
    CHECK(with == without);
    // Maxima that do not describe the logits are refused, not trusted.
    const edet::detect::LogitMaxima wrong_columns{&max_views, 16};
    CHECK_THROWS_AS(top_k_logits(heads, 0, 100, 90, {}, &wrong_columns), edet::Error);
    const std::vector<TensorView<const float>> no_levels;
    const edet::detect::LogitMaxima missing{&no_levels, 32};
    CHECK_THROWS_AS(top_k_logits(heads, 0, 100, 90, {}, &missing), edet::Error);
    const edet::detect::LogitMaxima null_views{nullptr, 32};
    CHECK_THROWS_AS(top_k_logits(heads, 0, 100, 90, {}, &null_views), edet::Error);
}
