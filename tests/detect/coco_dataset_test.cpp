// Tests for edet/detect/coco_dataset.hpp: what the readers accept, and that every bad entry
// is an error naming the file, the entry and why.
#include <doctest/doctest.h>

#include <string>

#include "edet/detect/coco_dataset.hpp"
#include "edet/io/json.hpp"

using namespace edet::detect;
namespace json = edet::io::json;

namespace {

CocoDataset read_coco_ds(const std::string& text) { return read_coco_dataset(json::parse(text, "ann.json"), "ann.json"); }
std::vector<CocoResult> read_coco_res(const std::string& text) { return read_coco_results(json::parse(text, "res.json"), "res.json"); }

// The message of the edet::Error `f` throws ("" if none).
template <class F>
std::string coco_error_of(F f) {
    try {
        f();
    } catch (const edet::Error& e) {
        return e.what();
    }
    return "";
}

const char* kGoodCocoAnnotations = R"({"info": {}, "images": [{"id": 3, "width": 9}, {"id": 1}], "categories": [{"id": 18, "name": "dog"}],
  "annotations": [{"id": 5, "image_id": 3, "category_id": 18, "bbox": [1, 2.5, 30, 40], "area": 900.5, "iscrowd": 0,
                   "segmentation": [[1, 2, 3, 4]]},
                  {"id": 6, "image_id": 1, "category_id": 18, "bbox": [0, 0, 0, 0], "area": 0, "iscrowd": true}]})";

}  // namespace

TEST_CASE("coco_dataset: a well-formed annotations file") {
    const CocoDataset d = read_coco_ds(kGoodCocoAnnotations);
    CHECK(d.image_ids == std::vector<std::int64_t>{3, 1});
    CHECK(d.category_ids == std::vector<std::int64_t>{18});
    REQUIRE(d.annotations.size() == 2);
    const CocoAnnotation& a = d.annotations[0];
    CHECK(a.id == 5);
    CHECK(a.image_id == 3);
    CHECK(a.category_id == 18);
    CHECK(a.bbox.x == 1);
    CHECK(a.bbox.y == 2.5);
    CHECK(a.bbox.w == 30);
    CHECK(a.bbox.h == 40);
    CHECK(a.area == 900.5);
    CHECK_FALSE(a.iscrowd);
    CHECK(d.annotations[1].iscrowd);
}

TEST_CASE("coco_dataset: results, including an empty list") {
    const std::vector<CocoResult> r =
        read_coco_res(R"([{"image_id": 3, "category_id": 18, "bbox": [-1.5, 2, 3, 4], "score": 0.87, "file_name": "x.jpg"}])");
    REQUIRE(r.size() == 1);
    CHECK(r[0].image_id == 3);
    CHECK(r[0].bbox.x == -1.5);  // a box may start outside the image
    CHECK(r[0].score == 0.87);
    CHECK(read_coco_res("[]").empty());
    // An integral float is the integer id, as in Python.
    CHECK(read_coco_res(R"([{"image_id": 3.0, "category_id": 1e1, "bbox": [0, 0, 1, 1], "score": 1}])")[0].category_id == 10);
}

TEST_CASE("coco_dataset: bad annotations name the file, the entry and why") {
    const struct {
        const char* text;
        const char* want;
    } cases[] = {
        {"[]", "expected an object"},
        {R"({"categories": [], "annotations": []})", "missing \"images\""},
        {R"({"images": {}, "categories": [], "annotations": []})", "\"images\" must be an array"},
        {R"({"images": [{"id": "7"}], "categories": [], "annotations": []})", "images[0]: \"id\" must be an integer, got \"7\""},
        {R"({"images": [{"id": 1.5}], "categories": [], "annotations": []})", "images[0]: \"id\" must be an integer"},
        {R"({"images": [], "categories": [7], "annotations": []})", "categories[0]: expected an object"},
        {R"({"images": [], "categories": [], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 1, "iscrowd": 0}]})",
         "annotations[0]: missing \"bbox\""},
        {R"({"images": [], "categories": [], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3], "area": 1, "iscrowd": 0}]})",
         "\"bbox\" must be [x, y, width, height]"},
        {R"({"images": [], "categories": [], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, "3", 4], "area": 1, "iscrowd": 0}]})",
         "\"bbox\"[2] must be a number"},
        {R"({"images": [], "categories": [], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, -3, 4], "area": 1, "iscrowd": 0}]})",
         "negative size"},
        {R"({"images": [], "categories": [], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "area": -1, "iscrowd": 0}]})",
         "\"area\" -1 is negative"},
        {R"({"images": [], "categories": [], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 1, "iscrowd": 2}]})",
         "\"iscrowd\" must be 0, 1, false or true"},
        {R"({"images": [], "categories": [], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 1}]})",
         "missing \"iscrowd\""},
        {R"({"images": [], "categories": [], "annotations": [
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 1, "iscrowd": 0},
            {"id": 4, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 1, "iscrowd": 0}]})",
         "annotations[1]: \"id\" 4 is used by an earlier annotation"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        const std::string msg = coco_error_of([&] { read_coco_ds(c.text); });
        CHECK(msg.find("ann.json") != std::string::npos);
        CHECK_MESSAGE(msg.find(c.want) != std::string::npos, msg);
    }
}

TEST_CASE("coco_dataset: bad results name the file, the entry and why") {
    const struct {
        const char* text;
        const char* want;
    } cases[] = {
        {R"({"image_id": 1})", "expected an array"},
        {R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}, 3])", "results[1]: expected an object"},
        {R"([{"category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}])", "results[0]: missing \"image_id\""},
        {R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}])", "missing \"score\""},
        {R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": "high"}])", "\"score\" must be a number"},
        {R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, -1], "score": 0.5}])", "negative size"},
        {R"([{"image_id": 1, "category_id": null, "bbox": [0, 0, 1, 1], "score": 0.5}])", "\"category_id\" must be an integer, got null"},
        {R"([{"image_id": 1, "category_id": 1, "bbox": [], "score": 0.5}])", "must be [x, y, width, height], got an array of 0"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        const std::string msg = coco_error_of([&] { read_coco_res(c.text); });
        CHECK(msg.find("res.json") != std::string::npos);
        CHECK_MESSAGE(msg.find(c.want) != std::string::npos, msg);
    }
    // Not JSON at all (NaN and 1e999 have no JSON form): the parser's error, naming the file.
    CHECK(coco_error_of([] { read_coco_res(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": NaN}])"); })
              .find("res.json") != std::string::npos);
    CHECK(coco_error_of([] { read_coco_res(R"([{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1e999, 1], "score": 1}])"); })
              .find("out of range") != std::string::npos);
}

TEST_CASE("coco_dataset: files") {
    const std::string msg = coco_error_of([] { load_coco_dataset("/nonexistent/ann.json"); });
    CHECK(msg.find("/nonexistent/ann.json") != std::string::npos);
    CHECK(msg.find("cannot open") != std::string::npos);
}

TEST_CASE("coco_dataset: image file names are read and kept inside the image directory") {
    const char* good = R"({"images": [{"id": 4, "file_name": "a/000004.jpg"}, {"id": 9}], "categories": [], "annotations": []})";
    const edet::detect::CocoDataset ds = edet::detect::read_coco_dataset(edet::io::json::parse(good, "ann"), "ann");
    CHECK(ds.image_files == std::vector<std::string>{"a/000004.jpg", ""});
    for (const char* name : {"/etc/passwd", "../x.jpg", "a/../../x.jpg", "..", ""}) {
        CAPTURE(name);
        const std::string text = std::string(R"({"images": [{"id": 1, "file_name": ")") + name +
                                 R"("}], "categories": [], "annotations": []})";
        CHECK_THROWS_WITH_AS(edet::detect::read_coco_dataset(edet::io::json::parse(text, "ann"), "ann"),
                             doctest::Contains("must be a relative path"), edet::Error);
    }
    CHECK_THROWS_AS(edet::detect::read_coco_dataset(
                        edet::io::json::parse(R"({"images": [{"id": 1, "file_name": 7}], "categories": [], "annotations": []})", "ann"),
                        "ann"),
                    edet::Error);
}
