// Tests for edet/models/head_model.hpp: the class and box heads, each built on its own by
// its module name, give the reference's class_out / box_out from the reference's BiFPN
// outputs (within tolerance) and the network's own head outputs from the network's BiFPN
// outputs (bit for bit); the class count comes from the checkpoint; bad names, inputs and
// checkpoints are refused.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "edet/models/efficientdet.hpp"
#include "edet/models/head_model.hpp"
#include "model_test_util.hpp"

namespace {

void head_test_fixture(const std::string& folder) {
    edet_test::Fixture f;
    for (auto& g : edet_test::discover_fixtures({edet_test::fixtures_dir()}))
        if (g.name == folder) f = g;
    REQUIRE_MESSAGE(!f.dir.empty(), "fixture " << folder << " not found in " << edet_test::fixtures_dir());
    CAPTURE(f.name);
    const auto weights = edet::io::open_weights(f.weights());
    edet::EfficientDetConfig c = edet::efficientdet_config(f.variant());
    c.image_height = f.image_height();
    c.image_width = f.image_width();
    const auto input_file = edet::io::SafeTensorsFile::open(f.input());
    const auto ref = edet::io::SafeTensorsFile::open(f.outputs());
    const double tol = std::max(1e-4, 4.0 * f.noise_max());
    std::vector<edet::Tensor<float>> fpn;
    for (int l = 0; l < c.num_levels(); ++l) fpn.push_back(edet_test::read_nchw_as_nhwc(*ref, edet::cat("fpn.", l)));
    const std::vector<edet::TensorView<const float>> ref_levels(fpn.begin(), fpn.end());

    edet::EfficientDet net = edet::EfficientDet::from_source(*weights, c);
    const edet::Tensor<float> input = edet_test::read_nchw_as_nhwc(*input_file, "input");
    const edet::HeadOutputs& o = net.forward(input.view());

    for (const std::string module : {"class_net", "box_net"}) {
        CAPTURE(module);
        const edet::HeadModel head = edet::HeadModel::from_source(*weights, module, c);
        CHECK(head.name() == module);
        const bool cls = head.name() == "class_net";
        CHECK(head.out_channels() == head.num_anchors() * (cls ? 90 : 4));
        const std::vector<edet::Tensor<float>> got = head.forward(ref_levels);
        REQUIRE(static_cast<int>(got.size()) == c.num_levels());
        double worst = 0;
        for (int l = 0; l < c.num_levels(); ++l) {
            const std::string name = edet::cat(cls ? "class_out." : "box_out.", l);
            CAPTURE(name);
            const edet_test::ErrorStats e =
                edet_test::compare_views(got[static_cast<std::size_t>(l)].view(), edet_test::read_nchw_as_nhwc(*ref, name));
            CHECK(e.finite);
            CHECK(e.rel() <= tol);
            worst = std::max(worst, e.rel());
        }
        // Fed the network's own BiFPN outputs, the head gives the network's own outputs.
        const std::vector<edet::Tensor<float>> same = head.forward(o.fpn);
        std::size_t identical = 0;
        for (std::size_t l = 0; l < same.size(); ++l) {
            const edet::TensorView<const float> want = cls ? o.class_out[l] : o.box_out[l];
            identical += same[l].shape() == want.shape() &&
                         std::memcmp(same[l].data(), want.data(), want.shape().numel() * sizeof(float)) == 0;
        }
        CHECK(identical == same.size());
        MESSAGE(f.name << " " << module << " by name on the reference's fpn.0.." << c.num_levels() - 1 << ": worst rel "
                       << worst << " (tolerance " << tol << "); on the network's BiFPN outputs: " << identical << "/"
                       << same.size() << " levels bit-identical to EfficientDet::forward");
    }
}

}  // namespace

TEST_CASE("head_model: class and box heads by name equal the reference and the network" * doctest::test_suite("parity")) {
    head_test_fixture("tf_efficientdet_d0_s3_256x384");
    head_test_fixture("tf_efficientdet_lite0_s0");
    head_test_fixture("efficientdet_d0_s0");
}

TEST_CASE("head_model: the class count is the checkpoint's; wrong names, inputs and checkpoints are refused") {
    edet::EfficientDetConfig c = edet::efficientdet_config("tf_efficientdet_lite0");
    c.image_height = c.image_width = 64;
    c.num_classes = 3;
    const auto w = edet_test::MemorySource::random_for(edet::EfficientDet::state_dict(c), 5);
    const edet::EfficientDetConfig coco = edet::efficientdet_config("tf_efficientdet_lite0");  // 90 classes
    const edet::HeadModel cls = edet::HeadModel::from_source(w, "class_net", coco);
    CHECK(cls.num_classes() == 3);
    CHECK(cls.num_anchors() == 9);
    CHECK(cls.out_channels() == 27);
    CHECK(cls.num_levels() == 5);
    const edet::HeadModel box = edet::HeadModel::from_source(w, "box_net", coco);
    CHECK(box.out_channels() == 36);
    CHECK(box.num_classes() == 0);

    std::vector<edet::Tensor<float>> levels;
    for (int s = 8; s >= 1; s /= 2) levels.emplace_back(edet::Shape{2, s, s + 1, 64});
    levels.emplace_back(edet::Shape{2, 1, 1, 64});
    const std::vector<edet::TensorView<const float>> views(levels.begin(), levels.end());
    const std::vector<edet::Tensor<float>> out = cls.forward(views);
    REQUIRE(out.size() == 5);
    CHECK(out[0].shape() == edet::Shape{2, 8, 9, 27});
    CHECK(out[4].shape() == edet::Shape{2, 1, 1, 27});

    for (const std::string module : {"class_net.predict", "heads", "fpn.cell.0.fnode.3", "backbone.conv_stem"}) {
        CAPTURE(module);
        CHECK_THROWS_WITH_AS(edet::HeadModel::from_source(w, module, coco), doctest::Contains("the heads are class_net and box_net"),
                             edet::Error);
    }
    auto no_predict = edet_test::MemorySource::copy_of(w);
    no_predict.drop("class_net.predict.conv_pw.weight");
    CHECK_THROWS_WITH_AS(edet::HeadModel::from_source(no_predict, "class_net", coco), doctest::Contains("cannot read the class count"),
                         edet::Error);
    CHECK_NOTHROW(edet::HeadModel::from_source(no_predict, "box_net", coco));  // the class head's tensors are not its own
    auto missing = edet_test::MemorySource::copy_of(w);
    missing.drop("box_net.bn_rep.2.4.bn.running_mean");
    CHECK_THROWS_WITH_AS(edet::HeadModel::from_source(missing, "box_net", coco), doctest::Contains("box_net.bn_rep.2.4.bn.running_mean"),
                         edet::Error);
    // A checkpoint with a sixth level's BN (D7x's heads) is not lite0's head.
    auto extra = edet_test::MemorySource::copy_of(w);
    extra.add("box_net.bn_rep.0.5.bn.weight", {64}, std::vector<float>(64, 1.0f));
    CHECK_THROWS_WITH_AS(edet::HeadModel::from_source(extra, "box_net", coco), doctest::Contains("box_net.bn_rep.0.5.bn.weight"),
                         edet::Error);

    CHECK_THROWS_WITH_AS(cls.forward({views.begin(), views.begin() + 4}), doctest::Contains("4 levels given, it takes 5"),
                         edet::Error);
    std::vector<edet::TensorView<const float>> narrow = views;
    const edet::Tensor<float> p5(edet::Shape{2, 2, 3, 32});
    narrow[2] = p5.view();
    CHECK_THROWS_WITH_AS(cls.forward(narrow), doctest::Contains("level 2"), edet::Error);
    std::vector<edet::TensorView<const float>> batch = views;
    const edet::Tensor<float> one(edet::Shape{1, 2, 3, 64});
    batch[2] = one.view();
    CHECK_THROWS_AS(cls.forward(batch), edet::Error);
}
