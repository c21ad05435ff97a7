// Tests for edet/detect/coco_eval.hpp: pycocotools' numbers on the generated cases of
// tests/data/coco (expected outputs computed by pycocotools), and the rules one at a time
// on hand-built data.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "edet/detect/coco_dataset.hpp"
#include "edet/detect/coco_eval.hpp"
#include "edet/io/json.hpp"
#include "test_util.hpp"

using namespace edet::detect;
namespace json = edet::io::json;

namespace {

std::string read_coco_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot read " << path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<int> parse_max_dets_list(const std::string& s) {
    std::vector<int> out;
    std::size_t at = 0;
    for (;;) {
        const std::size_t comma = s.find(',', at);
        out.push_back(std::stoi(s.substr(at, comma - at)));
        if (comma == std::string::npos) return out;
        at = comma + 1;
    }
}

CocoAnnotation coco_gt(std::int64_t id, std::int64_t image, std::int64_t category, CocoBox b, bool crowd = false, double area = -1) {
    CocoAnnotation a;
    a.id = id;
    a.image_id = image;
    a.category_id = category;
    a.bbox = b;
    a.area = area < 0 ? b.w * b.h : area;
    a.iscrowd = crowd;
    return a;
}

CocoResult coco_det(std::int64_t image, std::int64_t category, CocoBox b, double score) {
    CocoResult r;
    r.image_id = image;
    r.category_id = category;
    r.bbox = b;
    r.score = score;
    return r;
}

CocoDataset coco_ds(std::vector<std::int64_t> images, std::vector<std::int64_t> categories, std::vector<CocoAnnotation> anns) {
    CocoDataset d;
    d.image_ids = std::move(images);
    d.category_ids = std::move(categories);
    d.annotations = std::move(anns);
    return d;
}

}  // namespace

TEST_CASE("coco_eval: the generated cases give pycocotools' 12 numbers, per-category AP and summary") {
    const std::string dir = edet_test::test_data_dir() + "/coco/";
    const json::Value manifest = json::parse(read_coco_file(dir + "cases.json"), "cases.json");
    double max_diff = 0;
    std::size_t cases = 0;
    for (const json::Value& c : manifest["cases"].as_array()) {
        const std::string name = c["name"].as_string();
        CAPTURE(name);
        const std::string base = dir + name + "/";
        CocoEvalOptions opt;
        opt.max_dets = parse_max_dets_list(c["max_dets"].as_string());
        const CocoEvaluation ev =
            evaluate_coco(load_coco_dataset(base + "annotations.json"), load_coco_results(base + "results.json"), opt);
        const json::Value want = json::parse(read_coco_file(base + "expected.json"), base + "expected.json");
        for (std::size_t s = 0; s < kCocoStatNames.size(); ++s) {
            const double w = want["stats"][kCocoStatNames[s]].as_number();
            CAPTURE(kCocoStatNames[s]);
            CHECK(std::abs(ev.stats[s] - w) <= 1e-6);
            max_diff = std::max(max_diff, std::abs(ev.stats[s] - w));
        }
        const json::Value& per_cat = want["per_category_AP"];
        REQUIRE(per_cat.size() == ev.category_ids.size());
        for (std::size_t k = 0; k < ev.category_ids.size(); ++k) {
            const double w = per_cat[std::to_string(ev.category_ids[k])].as_number();
            CAPTURE(ev.category_ids[k]);
            CHECK(std::abs(ev.per_category_ap[k] - w) <= 1e-6);
            max_diff = std::max(max_diff, std::abs(ev.per_category_ap[k] - w));
        }
        // Shape of pycocotools' precision array [T, R, K, A, M].
        const json::Value& shape = want["precision_shape"];
        CHECK(shape[0].as_int64() == 10);
        CHECK(shape[1].as_int64() == 101);
        CHECK(shape[2].as_int64() == static_cast<std::int64_t>(ev.category_ids.size()));
        CHECK(shape[4].as_int64() == static_cast<std::int64_t>(ev.max_dets.size()));
        CHECK(want["num_images"].as_int64() == static_cast<std::int64_t>(ev.num_images));
        // The printout, character for character.
        CHECK(coco_summary(ev) == read_coco_file(base + "summary.txt"));
        ++cases;
    }
    CHECK(cases >= 8);
    MESSAGE("max |edet - pycocotools| over " << cases << " cases: " << max_diff);
}

TEST_CASE("coco_eval: thresholds are numpy.linspace's") {
    // summarize() finds AP75 by exact comparison with the table: 0.75 must be in it.
    CHECK(std::count(kCocoIouThresholds.begin(), kCocoIouThresholds.end(), 0.75) == 1);
    CHECK(kCocoIouThresholds[8] < 0.9);  // linspace's 0.8999999999999999
    CHECK(coco_recall_threshold(0) == 0.0);
    CHECK(coco_recall_threshold(35) == 0.35000000000000003);  // 35 * 0.01, not 0.35
    CHECK(coco_recall_threshold(100) == 1.0);
}

TEST_CASE("coco_eval: perfect detections give 1, none give 0, no ground truth gives -1") {
    const CocoDataset d = coco_ds({1, 2}, {1, 2}, {coco_gt(1, 1, 1, {10, 10, 50, 50}), coco_gt(2, 2, 1, {0, 0, 200, 100})});
    const CocoEvaluation perfect = evaluate_coco(d, {coco_det(1, 1, {10, 10, 50, 50}, 0.9), coco_det(2, 1, {0, 0, 200, 100}, 0.8)});
    CHECK(perfect.stats[0] == doctest::Approx(1.0));
    CHECK(perfect.stats[8] == doctest::Approx(1.0));
    CHECK(perfect.stats[3] == -1.0);  // no small objects (2500 is medium)
    CHECK(perfect.per_category_ap[0] == doctest::Approx(1.0));
    CHECK(perfect.per_category_ap[1] == -1.0);  // category 2: no ground truth
    const CocoEvaluation none = evaluate_coco(d, {});
    CHECK(none.stats[0] == 0.0);
    CHECK(none.stats[8] == 0.0);
    const CocoEvaluation empty = evaluate_coco(coco_ds({1}, {1}, {}), {coco_det(1, 1, {0, 0, 5, 5}, 0.5)});
    for (double s : empty.stats) CHECK(s == -1.0);
}

TEST_CASE("coco_eval: a crowd region is matched by IoU over the detection's area and never used up") {
    // One real object and a crowd region; three detections inside the crowd.
    const CocoDataset d = coco_ds({1}, {1}, {coco_gt(1, 1, 1, {300, 300, 40, 40}), coco_gt(2, 1, 1, {0, 0, 200, 200}, true)});
    const std::vector<CocoResult> r = {coco_det(1, 1, {300, 300, 40, 40}, 0.5), coco_det(1, 1, {10, 10, 20, 20}, 0.9),
                                       coco_det(1, 1, {50, 50, 20, 20}, 0.8), coco_det(1, 1, {100, 100, 30, 30}, 0.7)};
    CHECK(coco_detail::box_iou(r[1].bbox, d.annotations[1].bbox, true) == 1.0);
    CHECK(coco_detail::box_iou(r[1].bbox, d.annotations[1].bbox, false) == doctest::Approx(400.0 / 40000.0));
    // The three crowd detections are ignored, so the real one is the only ranked detection.
    const CocoEvaluation ev = evaluate_coco(d, r);
    CHECK(ev.stats[0] == doctest::Approx(1.0));
    // Without the crowd flag they would be false positives ranked first.
    CocoDataset plain = d;
    plain.annotations[1].iscrowd = false;
    CHECK(evaluate_coco(plain, r).stats[0] < 0.5);
}

TEST_CASE("coco_eval: score ties keep input order across images") {
    // Image 1's detection is a hit, image 2's a miss, same score: concatenated in image-id
    // order, the hit ranks first (precision 1 at recall 1/2); the other way round it ranks second.
    const CocoDataset d = coco_ds({1, 2}, {1}, {coco_gt(1, 1, 1, {0, 0, 50, 50}), coco_gt(2, 1, 1, {0, 0, 50, 50}),
                                                coco_gt(3, 2, 1, {100, 100, 50, 50})});
    const CocoEvaluation hit_first = evaluate_coco(d, {coco_det(2, 1, {300, 300, 50, 50}, 0.5), coco_det(1, 1, {0, 0, 50, 50}, 0.5)});
    CocoDataset swapped = d;
    swapped.annotations[0].image_id = 2;
    swapped.annotations[1].image_id = 1;
    swapped.annotations[2].image_id = 1;
    const CocoEvaluation miss_first = evaluate_coco(swapped, {coco_det(1, 1, {300, 300, 50, 50}, 0.5), coco_det(2, 1, {0, 0, 50, 50}, 0.5)});
    // recall thresholds 0..0.33: precision 1 when the hit comes first, 1/2 otherwise
    CHECK(hit_first.precision_at(0, 0, 0, 0, 2) == doctest::Approx(1.0));
    CHECK(miss_first.precision_at(0, 0, 0, 0, 2) == doctest::Approx(0.5));
}

TEST_CASE("coco_eval: area ranges include both bounds and use the annotation's area field") {
    // A 32x32 box whose annotation says area 1024 counts as small and as medium.
    const CocoDataset d = coco_ds({1}, {1}, {coco_gt(1, 1, 1, {0, 0, 32, 32})});
    const CocoEvaluation ev = evaluate_coco(d, {coco_det(1, 1, {0, 0, 32, 32}, 0.9)});
    CHECK(ev.stats[3] == doctest::Approx(1.0));
    CHECK(ev.stats[4] == doctest::Approx(1.0));
    CHECK(ev.stats[5] == -1.0);
    // The same box with a segment area of 9000 is medium only.
    const CocoEvaluation seg = evaluate_coco(coco_ds({1}, {1}, {coco_gt(1, 1, 1, {0, 0, 32, 32}, false, 9000)}),
                                             {coco_det(1, 1, {0, 0, 32, 32}, 0.9)});
    CHECK(seg.stats[3] == -1.0);
    CHECK(seg.stats[4] == doctest::Approx(1.0));
}

TEST_CASE("coco_eval: maxDets beyond the count per image cuts the lowest scores") {
    // 3 detections on one object, the hit scored lowest: at maxDets 1 and 2 it is cut.
    const CocoDataset d = coco_ds({1}, {1}, {coco_gt(1, 1, 1, {0, 0, 50, 50})});
    const std::vector<CocoResult> r = {coco_det(1, 1, {0, 0, 50, 50}, 0.1), coco_det(1, 1, {200, 0, 50, 50}, 0.9),
                                       coco_det(1, 1, {0, 200, 50, 50}, 0.8)};
    CocoEvalOptions opt;
    opt.max_dets = {3, 1, 2};  // sorted as pycocotools does
    const CocoEvaluation ev = evaluate_coco(d, r, opt);
    CHECK(ev.max_dets == std::vector<int>{1, 2, 3});
    CHECK(ev.stats[6] == 0.0);                        // AR @ 1
    CHECK(ev.stats[7] == 0.0);                        // AR @ 2
    CHECK(ev.stats[8] == doctest::Approx(1.0));       // AR @ 3
    CHECK(ev.stats[0] == -1.0);                       // 100 is not in the list
    CHECK(ev.per_category_ap[0] == doctest::Approx(1.0 / 3.0).epsilon(1e-6));
}

TEST_CASE("coco_eval: errors") {
    const CocoDataset d = coco_ds({1}, {1}, {coco_gt(1, 1, 1, {0, 0, 50, 50})});
    CocoEvalOptions opt;
    opt.results_name = "res.json";
    // A result on an image the annotations do not list (pycocotools asserts).
    try {
        evaluate_coco(d, {coco_det(1, 1, {0, 0, 5, 5}, 0.5), coco_det(7, 1, {0, 0, 5, 5}, 0.5)}, opt);
        FAIL("no error");
    } catch (const edet::Error& e) {
        CHECK(e.where() == "res.json");
        CHECK(e.subject() == "results[1]");
        CHECK(std::string(e.what()).find("image_id 7") != std::string::npos);
    }
    // Data built in code is checked like the files.
    CHECK_THROWS_WITH_AS(evaluate_coco(d, {coco_det(1, 1, {0, 0, -5, 5}, 0.5)}, opt), doctest::Contains("negative size"), edet::Error);
    CHECK_THROWS_WITH_AS(evaluate_coco(d, {coco_det(1, 1, {0, 0, 5, 5}, NAN)}, opt), doctest::Contains("score"), edet::Error);
    CHECK_THROWS_WITH_AS(evaluate_coco(d, {coco_det(1, 1, {INFINITY, 0, 5, 5}, 0.5)}, opt), doctest::Contains("non-finite"), edet::Error);
    CocoDataset bad_area = d;
    bad_area.annotations[0].area = -1;
    CHECK_THROWS_WITH_AS(evaluate_coco(bad_area, {}), doctest::Contains("annotations[0]"), edet::Error);
    // maxDets lists pycocotools' summary cannot use.
    opt.max_dets = {1, 10};
    CHECK_THROWS_WITH_AS(evaluate_coco(d, {}, opt), doctest::Contains("at least 3"), edet::Error);
    opt.max_dets = {1, 10, 10};
    CHECK_THROWS_WITH_AS(evaluate_coco(d, {}, opt), doctest::Contains("repeated"), edet::Error);
    opt.max_dets = {0, 10, 100};
    CHECK_THROWS_WITH_AS(evaluate_coco(d, {}, opt), doctest::Contains("positive"), edet::Error);
    // A hostile category list: refused before its precision table (97 KB a category) exists.
    std::vector<std::int64_t> many(30000);
    for (std::size_t k = 0; k < many.size(); ++k) many[k] = static_cast<std::int64_t>(k + 1);
    opt.max_dets = {1, 10, 100};
    opt.annotations_name = "ann.json";
    CHECK_THROWS_WITH_AS(evaluate_coco(coco_ds({1}, many, {}), {}, opt), doctest::Contains("30000 categories"), edet::Error);
    many.resize(500);  // real lists stay fine (LVIS: 1,203)
    CHECK(evaluate_coco(coco_ds({1}, many, {}), {}, opt).category_ids.size() == 500);
}

TEST_CASE("coco_eval: left-out entries are counted, --json shape") {
    const CocoDataset d = coco_ds({1}, {1}, {coco_gt(1, 1, 1, {0, 0, 50, 50}), coco_gt(2, 5, 1, {0, 0, 5, 5}), coco_gt(3, 1, 9, {0, 0, 5, 5})});
    const CocoEvaluation ev = evaluate_coco(d, {coco_det(1, 1, {0, 0, 50, 50}, 0.5), coco_det(1, 4, {0, 0, 5, 5}, 0.5)});
    CHECK(ev.results_unknown_category == 1);
    CHECK(ev.annotations_left_out == 2);
    CHECK_FALSE(ev.annotation_id_zero);
    const json::Value v = json::parse(json::dump(coco_evaluation_json(ev)));
    CHECK(v["stats"].size() == 12);
    CHECK(v["stats"]["AP"].as_number() == doctest::Approx(1.0));
    CHECK(v["stats"]["APs"].as_number() == -1.0);
    CHECK(v["per_category_AP"]["1"].as_number() == doctest::Approx(1.0));
    CHECK(v["max_dets"].size() == 3);
}
