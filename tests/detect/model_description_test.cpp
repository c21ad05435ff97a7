// Tests for edet/detect/model_description.hpp: a custom model resolved from a description,
// the file's metadata and the variant's row; descriptions that do not fit the weights name
// the tensor, its shape and the implied shape; the metadata round trip edet-convert uses.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "edet/detect/model_description.hpp"
#include "edet/io/safetensors.hpp"
#include "temp_dir.hpp"

using edet::detect::LabelMap;
using edet::detect::ModelDescription;
using edet::detect::parse_aspect_ratios;
using edet::detect::resolve_model;

namespace {

// A file holding only the two predict convs (enough to resolve: nothing is built) of a
// 64-wide head with `anchors` anchors and `classes` classes, and the given metadata.
std::string heads_file(const edet_test::TempDir& dir, const std::string& name, int anchors, int classes,
                       const std::map<std::string, std::string>& meta) {
    static std::vector<float> zeros(64 * 90 * 9);
    std::vector<edet::io::SafeTensorsEntry> e = {
        {"box_net.predict.conv_pw.weight", edet::io::DType::f32, {4 * anchors, 64, 1, 1}, zeros.data()},
        {"class_net.predict.conv_pw.weight", edet::io::DType::f32, {classes * anchors, 64, 1, 1}, zeros.data()}};
    const std::string path = dir / name;
    edet::io::write_safetensors(path, e, meta);
    return path;
}

std::string description_error_of(const ModelDescription& d, const std::string& path) {
    try {
        resolve_model(d, *edet::io::SafeTensorsFile::open(path), path);
    } catch (const edet::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("model_description: a published variant resolves to its row, COCO labels") {
    edet_test::TempDir dir;
    const std::string path = heads_file(dir, "d0.safetensors", 9, 90, {{"model", "tf_efficientdet_d0"}});
    const auto r = resolve_model({}, *edet::io::SafeTensorsFile::open(path), path);
    CHECK(r.variant->name == std::string("tf_efficientdet_d0"));
    CHECK(r.config.image_height == 512);
    CHECK(r.config.num_classes == 90);
    CHECK(r.anchors.num_scales == 3);
    CHECK(r.anchors.anchor_scale == 4.0);
    CHECK(r.labels.size() == 90);
    CHECK(r.labels.name(17) == "dog");
    CHECK(r.max_detections == 100);
    // The _ap variants: the dN network, their own preprocessing row.
    ModelDescription ap;
    ap.variant = "tf_efficientdet_d2_ap";
    const auto rap = resolve_model(ap, *edet::io::SafeTensorsFile::open(path), path);
    CHECK(rap.config.name == "tf_efficientdet_d2");
    CHECK(rap.variant->fill[0] == 0);
}

TEST_CASE("model_description: a custom model, and descriptions that do not fit its weights") {
    edet_test::TempDir dir;
    const std::string path = heads_file(dir, "c3.safetensors", 6, 3, {});
    ModelDescription d;
    d.variant = "tf_efficientdet_lite0";
    d.image_height = 256;
    d.image_width = 384;
    d.num_scales = 2;
    d.aspect_ratios = parse_aspect_ratios("1.0,2.0,0.5");
    d.anchor_scale = 3.0;
    d.labels = LabelMap::from_names_and_ids({"apple", "banana", "cherry"}, {2, 6, 8}, "test");
    const auto r = resolve_model(d, *edet::io::SafeTensorsFile::open(path), path);
    CHECK(r.config.num_classes == 3);
    CHECK(r.config.image_width == 384);
    CHECK(r.anchors.anchors_per_cell() == 6);
    CHECK(r.anchors.anchor_scale == 3.0);
    CHECK(r.labels.category_id(2) == 8);

    // The variant's 9 anchors do not fit a 24-output box head.
    ModelDescription no_anchors = d;
    no_anchors.num_scales = 0;
    no_anchors.aspect_ratios.clear();
    std::string e = description_error_of(no_anchors, path);
    CHECK(e.find("box_net.predict.conv_pw.weight") != std::string::npos);
    CHECK(e.find("[24, 64, 1, 1]") != std::string::npos);
    CHECK(e.find("implies [36, 64, 1, 1]") != std::string::npos);
    CHECK(e.find("the weights have 6 anchors per location") != std::string::npos);
    // A class count that is not the head's.
    ModelDescription four = d;
    four.num_classes = 4;
    e = description_error_of(four, path);
    CHECK(e.find("class_net.predict.conv_pw.weight") != std::string::npos);
    CHECK(e.find("implies [24, 64, 1, 1]") != std::string::npos);
    CHECK(e.find("the weights hold 3 classes") != std::string::npos);
    // Labels for another count.
    ModelDescription two = d;
    two.labels = LabelMap::from_list("apple,banana");
    CHECK(description_error_of(two, path).find("names 2 classes but the network predicts 3") != std::string::npos);
    // Out-of-range fields.
    ModelDescription big = d;
    big.image_height = 8192;
    CHECK(description_error_of(big, path).find("outside [32, 4096]") != std::string::npos);
    ModelDescription half = d;
    half.image_width = 0;
    CHECK(description_error_of(half, path).find("both height and width") != std::string::npos);
    ModelDescription unnamed = d;
    unnamed.variant.clear();
    CHECK(description_error_of(unnamed, path).find("give the published variant") != std::string::npos);
    ModelDescription unknown = d;
    unknown.variant = "tf_efficientdet_d9";
    CHECK(description_error_of(unknown, path).find("unknown") != std::string::npos);
}

TEST_CASE("model_description: the metadata round trip (a converted model needs no flags)") {
    edet_test::TempDir dir;
    ModelDescription d;
    d.variant = "tf_efficientdet_lite0";
    d.image_height = 256;
    d.image_width = 384;
    d.num_scales = 2;
    d.aspect_ratios = parse_aspect_ratios("1.0,2.0,0.5");
    d.anchor_scale = 3.0;
    d.max_detections = 50;
    d.labels = LabelMap::from_names_and_ids({"apple", "banana", "cherry"}, {2, 6, 8}, "test");
    const std::string path = heads_file(dir, "self.safetensors", 6, 3, d.to_metadata());
    const auto r = resolve_model({}, *edet::io::SafeTensorsFile::open(path), path);
    CHECK(r.variant->name == std::string("tf_efficientdet_lite0"));
    CHECK(r.config.image_height == 256);
    CHECK(r.config.image_width == 384);
    CHECK(r.anchors.num_scales == 2);
    CHECK(r.anchors.aspects == d.aspect_ratios);  // bit for bit through the text form
    CHECK(r.anchors.anchor_scale == 3.0);
    CHECK(r.max_detections == 50);
    CHECK(r.labels.names() == std::vector<std::string>{"apple", "banana", "cherry"});
    CHECK(r.labels.category_ids() == std::vector<int>{2, 6, 8});
    // Flags win over the metadata.
    ModelDescription flags;
    flags.max_detections = 7;
    CHECK(resolve_model(flags, *edet::io::SafeTensorsFile::open(path), path).max_detections == 7);
    // Malformed metadata names the key.
    const std::string bad = heads_file(dir, "bad.safetensors", 6, 3, {{"variant", "tf_efficientdet_lite0"}, {"num_scales", "two"}});
    CHECK(description_error_of({}, bad).find("metadata 'num_scales'") != std::string::npos);
    const std::string bad2 = heads_file(dir, "bad2.safetensors", 6, 3,
                                        {{"variant", "tf_efficientdet_lite0"}, {"labels", "[\"a\",\"b\",\"c\"]"},
                                         {"category_ids", "[1,2]"}});
    CHECK(description_error_of({}, bad2).find("metadata 'category_ids'") != std::string::npos);
}

TEST_CASE("model_description: sizes") {
    CHECK(ModelDescription::parse_size("384x640") == std::array<int, 2>{384, 640});
    CHECK(ModelDescription::parse_size("512") == std::array<int, 2>{512, 512});
    for (const char* bad : {"", "x", "384x", "16x16", "384x640x3", "a", "5000x512", "-384x640"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(ModelDescription::parse_size(bad), edet::Error);
    }
}
