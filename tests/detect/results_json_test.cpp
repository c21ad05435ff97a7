// Tests for edet/detect/results_json.hpp: the COCO results JSON parses back (io/json.hpp)
// with the same ids, boxes as [x, y, w, h] and scores; the streamed text is the same bytes.
#include <doctest/doctest.h>

#include "edet/detect/results_json.hpp"
#include "edet/io/json.hpp"

#include <random>
#include <string>
#include <vector>

using namespace edet::detect;
namespace json = edet::io::json;

TEST_CASE("results json: parses back with COCO fields, ids from file names") {
    std::vector<ImageResults> images(3);
    images[0].file_name = "val2017/000000397133.jpg";
    images[0].boxes = {{10.5f, 20.25f, 110.5f, 220.25f, 0.87f, 18}, {0, 0, 1, 1, 0.001f, 1}};
    images[1].file_name = "photos/my dog \"rex\".png";
    images[1].boxes = {{1.1f, 2.2f, 3.3f, 4.4f, 0.5f, 90}};
    images[2].file_name = "empty.png";  // no boxes: contributes nothing
    const std::string text = coco_results_json(images);
    const json::Value v = json::parse(text, "results");
    REQUIRE(v.is_array());
    REQUIRE(v.size() == 3);
    CHECK(v[0]["image_id"].as_int64() == 397133);
    CHECK(v[0]["file_name"].as_string() == "val2017/000000397133.jpg");
    CHECK(v[0]["category_id"].as_int64() == 18);
    CHECK(v[0]["bbox"][0].as_number() == 10.5);
    CHECK(v[0]["bbox"][1].as_number() == 20.25);
    CHECK(v[0]["bbox"][2].as_number() == 100.0);
    CHECK(v[0]["bbox"][3].as_number() == 200.0);
    CHECK(static_cast<float>(v[0]["score"].as_number()) == 0.87f);
    CHECK(text.find("\"score\":0.87}") != std::string::npos);  // shortest form, not 0.8700000047683716
    CHECK(v[2]["image_id"].as_int64() == 1);  // no numeric stem: the position
    CHECK(v[2]["file_name"].as_string() == "photos/my dog \"rex\".png");
    CHECK(static_cast<float>(v[2]["bbox"][2].as_number()) == 3.3f - 1.1f);
    CHECK(coco_results_json({}) == "[]");
}

TEST_CASE("results json: numeric image ids") {
    CHECK(numeric_image_id("000000397133.jpg") == 397133);
    CHECK(numeric_image_id("a/b/42") == 42);
    CHECK(numeric_image_id("dog.jpg") == -1);
    CHECK(numeric_image_id("12a.jpg") == -1);
    CHECK(numeric_image_id("") == -1);
    CHECK(numeric_image_id("1234567890123456789012.png") == -1);
}

TEST_CASE("results json: CocoResultsStream writes coco_results_json's bytes, one image at a time") {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> coord(0.0f, 640.0f), score(0.0f, 1.0f);
    for (int run = 0; run < 50; ++run) {
        CAPTURE(run);
        // 0..6 images of 0..4 boxes; ids set, numeric names or positions; empty images
        // first, between and last.
        std::vector<ImageResults> images(static_cast<std::size_t>(rng() % 7));
        for (std::size_t i = 0; i < images.size(); ++i) {
            ImageResults& im = images[i];
            const unsigned kind = rng() % 3;
            im.file_name = kind == 0 ? "dir/" + std::to_string(rng() % 1000000) + ".jpg" : "img \"" + std::to_string(i) + "\".png";
            if (kind == 2) im.image_id = static_cast<std::int64_t>(rng() % 5000);
            const unsigned boxes = rng() % 5;
            for (unsigned b = 0; b < boxes; ++b) {
                const float x1 = coord(rng), y1 = coord(rng);
                im.boxes.push_back({x1, y1, x1 + coord(rng) / 4, y1 + coord(rng) / 4, score(rng), 1 + static_cast<int>(rng() % 90)});
            }
        }
        CocoResultsStream stream;
        std::string text = stream.begin();
        for (const ImageResults& im : images) {
            const std::string piece = stream.add(im);
            CHECK(json::parse(text + piece + stream.end(), "prefix").is_array());  // every cut point closes into an array
            text += piece;
        }
        text += stream.end();
        CHECK(text == coco_results_json(images));
        CHECK(stream.images() == images.size());
        CHECK(stream.entries() == json::parse(text, "results").size());
    }
}
