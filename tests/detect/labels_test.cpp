// Tests for edet/detect/labels.hpp: the 90-id COCO map, unused ids, name lookup.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "edet/detect/labels.hpp"

using namespace edet::detect;

TEST_CASE("labels: ids 1..90 in order, 80 used, the ten unused ones known") {
    int used = 0;
    std::set<std::string> names;
    for (int i = 0; i < kCocoNumClasses; ++i) {
        const CocoLabel& l = coco_labels()[static_cast<std::size_t>(i)];
        CHECK(l.id == i + 1);
        used += l.used;
        names.insert(l.name);
    }
    CHECK(used == 80);
    CHECK(names.size() == 90u);
    for (int id : {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}) {
        INFO("id " << id);
        CHECK_FALSE(coco_id_used(id));
    }
    CHECK(coco_label(1) == "person");
    CHECK(coco_label(18) == "dog");
    CHECK(coco_label(90) == "toothbrush");
    CHECK(coco_label(67) == "dining table");
    CHECK(coco_label(0) == "class 0");
    CHECK(coco_label(91) == "class 91");
}

TEST_CASE("labels: names and ids parse, case and separators forgiven") {
    CHECK(coco_id("person") == 1);
    CHECK(coco_id("Traffic_Light") == 10);
    CHECK(coco_id("hot-dog") == 58);
    CHECK(coco_id("18") == 18);
    CHECK(coco_id("0") == -1);
    CHECK(coco_id("91") == -1);
    CHECK(coco_id("99999999999") == -1);
    CHECK(coco_id("unicorn") == -1);
    CHECK(coco_id("") == -1);
    for (const CocoLabel& l : coco_labels()) CHECK(coco_id(l.name) == l.id);
}
