// Tests for edet/detect/label_map.hpp: COCO's map, text files, COCO annotation files
// (categories sorted by id, as effdet's parser numbers them), lookups and bad files.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "edet/detect/label_map.hpp"

using edet::detect::LabelMap;

namespace {
std::string label_error_of(const std::string& text) {
    try {
        LabelMap::from_text(text, "test-labels");
    } catch (const edet::Error& e) {
        return e.what();
    }
    return "";
}
}  // namespace

TEST_CASE("label_map: COCO's 90 classes keep their ids") {
    const LabelMap m = LabelMap::coco();
    REQUIRE(m.size() == 90);
    CHECK(m.name(0) == "person");
    CHECK(m.category_id(0) == 1);
    CHECK(m.name(89) == "toothbrush");
    CHECK(m.category_id(89) == 90);
    CHECK(m.find("traffic_light") == 9);
    CHECK(m.find("Traffic-Light") == 9);
    CHECK(m.find("18") == 17);  // dog, by its category id
    CHECK(m.find("91") == -1);
    CHECK(m.find("unicorn") == -1);
    // Outside the map: a generic name, the 1-based index as id.
    CHECK(m.name(90) == "class 91");
    CHECK(m.category_id(90) == 91);
}

TEST_CASE("label_map: a text file, one name a line") {
    const LabelMap m = LabelMap::from_text("# my classes\napple\n\n  banana  \r\ncherry", "labels.txt");
    REQUIRE(m.size() == 3);
    CHECK(m.names() == std::vector<std::string>{"apple", "banana", "cherry"});
    CHECK(m.category_ids() == std::vector<int>{1, 2, 3});
    CHECK(m.find("Banana") == 1);
    CHECK(m.find("3") == 2);
    CHECK_NOTHROW(m.check_class_count(3, "net"));
    try {
        m.check_class_count(4, "net");
        FAIL("no error");
    } catch (const edet::Error& e) {
        CHECK(std::string(e.what()).find("names 3 classes but the network predicts 4") != std::string::npos);
    }
    const LabelMap l = LabelMap::from_list("apple, banana,cherry");
    CHECK(l.names() == m.names());
}

TEST_CASE("label_map: a COCO annotation file, categories sorted by id") {
    const std::string json = R"({"images": [], "annotations": [],
        "categories": [{"id": 8, "name": "cherry"}, {"id": 2, "name": "apple", "supercategory": "fruit"},
                       {"id": 6, "name": "banana"}]})";
    const LabelMap m = LabelMap::from_text(json, "ann.json");
    REQUIRE(m.size() == 3);
    CHECK(m.names() == std::vector<std::string>{"apple", "banana", "cherry"});
    CHECK(m.category_ids() == std::vector<int>{2, 6, 8});
    CHECK(m.find("6") == 1);
    CHECK(m.find("1") == -1);  // ids are the dataset's, not 1..n
}

TEST_CASE("label_map: the shared custom fixture's labels.json" * doctest::test_suite("parity")) {
    const LabelMap m =
        LabelMap::from_file(std::string(EDET_FIXTURES_DIR) + "/custom/tf_efficientdet_lite0_c3_s7_256x384/labels.json");
    CHECK(m.names() == std::vector<std::string>{"apple", "banana", "cherry"});
    CHECK(m.category_ids() == std::vector<int>{2, 6, 8});
}

TEST_CASE("label_map: bad label files are refused with the reason") {
    CHECK(label_error_of("").find("holds no names") != std::string::npos);
    CHECK(label_error_of("# only a comment\n\n").find("holds no names") != std::string::npos);
    CHECK(label_error_of("cat\ndog\nCat\n").find("'Cat' appears twice") != std::string::npos);
    CHECK(label_error_of("{\"categories\": []}").find("empty") != std::string::npos);
    CHECK(label_error_of("{\"images\": []}").find("no \"categories\"") != std::string::npos);
    CHECK(label_error_of("{\"categories\": [{\"id\": 1}]}").find("categories[0] needs") != std::string::npos);
    CHECK(label_error_of("{\"categories\": [{\"id\": 1.5, \"name\": \"a\"}]}").find("categories[0] needs") != std::string::npos);
    CHECK(label_error_of("{\"categories\": [{\"id\": 0, \"name\": \"a\"}]}").find("has id 0") != std::string::npos);
    CHECK(label_error_of("{\"categories\": [{\"id\": 3, \"name\": \"a\"}, {\"id\": 3, \"name\": \"b\"}]}")
              .find("id 3 appears twice") != std::string::npos);
    CHECK(label_error_of("{\"categories\": [{\"id\": 3, \"name\": \" \"}]}").find("empty name") != std::string::npos);
    CHECK(label_error_of("{\"categories\": [").find("test-labels") != std::string::npos);  // malformed JSON names the file
    CHECK_THROWS_AS(LabelMap::from_file("/nonexistent/labels.txt"), edet::Error);
}
