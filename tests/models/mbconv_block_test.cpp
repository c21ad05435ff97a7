// Tests for edet/models/mbconv_block.hpp: the stem and every backbone block, each built on
// its own by its module name and chained by hand, give the network's own backbone taps
// bit for bit and the reference's backbone.0..2 within tolerance (three fixtures: TF
// padding with SE, Lite without SE and with ReLU6, symmetric padding with BN eps 1e-5);
// bad names, inputs and checkpoints are refused with messages that say what exists.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "edet/models/efficientdet.hpp"
#include "edet/models/mbconv_block.hpp"
#include "model_test_util.hpp"

namespace {

edet_test::Fixture block_test_fixture(const std::string& folder) {
    for (auto& f : edet_test::discover_fixtures({edet_test::fixtures_dir()}))
        if (f.name == folder) return f;
    FAIL("fixture " << folder << " not found in " << edet_test::fixtures_dir());
    return {};
}

bool block_test_same_bits(edet::TensorView<const float> a, edet::TensorView<const float> b) {
    return a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous() &&
           std::memcmp(a.data(), b.data(), a.shape().numel() * sizeof(float)) == 0;
}

// The stem, then every block by name, on the fixture's input; each tap (end of stages 2,
// 4, 6) against the network's own backbone output and the reference's.
void block_test_chain(const std::string& folder) {
    const edet_test::Fixture f = block_test_fixture(folder);
    CAPTURE(f.name);
    const auto weights = edet::io::open_weights(f.weights());
    edet::EfficientDetConfig c = edet::efficientdet_config(f.variant());
    c.image_height = f.image_height();
    c.image_width = f.image_width();
    const auto input_file = edet::io::SafeTensorsFile::open(f.input());
    const auto ref = edet::io::SafeTensorsFile::open(f.outputs());
    const edet::Tensor<float> input = edet_test::read_nchw_as_nhwc(*input_file, "input");
    edet::EfficientDet net = edet::EfficientDet::from_source(*weights, c);
    const edet::HeadOutputs& o = net.forward(input.view());
    const double tol = std::max(1e-4, 4.0 * f.noise_max());

    const edet::StemModel stem = edet::StemModel::from_source(*weights, "backbone.conv_stem", c);
    CHECK(stem.out_channels() == c.backbone.stem_channels);
    edet::Tensor<float> x = stem.forward(input.view());
    std::size_t tap = 0, blocks = 0;
    for (int s = 0; s < 7; ++s) {
        for (int i = 0; i < c.backbone.stage_repeats[static_cast<std::size_t>(s)]; ++i) {
            const std::string module = edet::cat("backbone.blocks.", s, ".", i);
            const edet::MBConvBlockModel block = edet::MBConvBlockModel::from_source(*weights, module, c);
            REQUIRE(block.name() == module);
            REQUIRE(block.in_channels() == x.c());
            x = block.forward(x.view());
            ++blocks;
        }
        if (s != edet::kBackboneTapStages[tap]) continue;
        const std::string name = edet::cat("backbone.", tap);
        CAPTURE(name);
        const bool identical = block_test_same_bits(x.view(), o.backbone[tap]);
        CHECK(identical);
        const edet_test::ErrorStats e = edet_test::compare_views(x.view(), edet_test::read_nchw_as_nhwc(*ref, name));
        MESSAGE(f.name << " stem + " << blocks << " blocks by name, " << name << ": rel " << e.rel() << " (tolerance " << tol
                       << "); bit-identical to EfficientDet::forward's: " << std::string(identical ? "yes" : "NO"));
        CHECK(e.finite);
        CHECK(e.rel() <= tol);
        if (++tap == 3) break;
    }
    CHECK(tap == 3);
}

}  // namespace

TEST_CASE("mbconv_block: stem and blocks by name chain to the network's backbone taps" * doctest::test_suite("parity")) {
    block_test_chain("tf_efficientdet_d0_s3_256x384");
    block_test_chain("tf_efficientdet_lite0_s0");    // no SE, ReLU6
    block_test_chain("efficientdet_d0_s0");          // symmetric padding, BN eps 1e-5
}

TEST_CASE("mbconv_block: on random weights, any size and batch, the chain is the backbone bit for bit") {
    edet::EfficientDetConfig c = edet::efficientdet_config("tf_efficientdet_d0");
    c.image_height = 128;
    c.image_width = 256;
    c.num_classes = 3;
    const auto w = edet_test::MemorySource::random_for(edet::EfficientDet::state_dict(c), 7);
    edet::EfficientDet net = edet::EfficientDet::from_source(w, c);
    edet::Tensor<float> input(edet::Shape{2, 128, 256, 3});
    edet_test::Random r(3);
    for (std::size_t i = 0; i < input.numel(); ++i) input.data()[i] = r.uniform(-1.0f, 1.0f);
    const edet::HeadOutputs& o = net.forward(input.view());
    edet::Tensor<float> x = edet::StemModel::from_source(w, "backbone.conv_stem", c).forward(input.view());
    CHECK(x.shape() == edet::Shape{2, 64, 128, 32});
    std::size_t tap = 0;
    for (int s = 0; s < 7; ++s) {
        for (int i = 0; i < c.backbone.stage_repeats[static_cast<std::size_t>(s)]; ++i)
            x = edet::MBConvBlockModel::from_source(w, edet::cat("backbone.blocks.", s, ".", i), c).forward(x.view());
        if (tap < 3 && s == edet::kBackboneTapStages[tap]) CHECK(block_test_same_bits(x.view(), o.backbone[tap++]));
    }
    CHECK(tap == 3);
}

TEST_CASE("mbconv_block: specs and accessors come from the config") {
    edet::EfficientDetConfig c = edet::efficientdet_config("efficientdet_d0");  // symmetric, backbone BN eps 1e-5
    c.image_height = c.image_width = 64;
    const auto w = edet_test::MemorySource::random_for(edet::EfficientDet::state_dict(c), 2);
    const edet::MBConvBlockModel b = edet::MBConvBlockModel::from_source(w, "backbone.blocks.3.0", c);
    CHECK(b.in_channels() == 40);
    CHECK(b.out_channels() == 80);
    CHECK(b.stride() == 2);
    CHECK(b.spec().bn_eps == c.backbone_bn_eps);
    CHECK(c.backbone_bn_eps != c.bn_eps);
    CHECK(b.spec().padding == edet::PaddingMode::symmetric);
    const edet::MBConvBlockModel ds = edet::MBConvBlockModel::from_source(w, "backbone.blocks.0.0", c);
    CHECK(ds.spec().depthwise_separable);
    CHECK(ds.forward(edet::Tensor<float>(edet::Shape{1, 9, 7, 32}).view()).shape() == edet::Shape{1, 9, 7, 16});
    const edet::StemModel stem = edet::StemModel::from_source(w, "backbone.conv_stem", c);
    CHECK(stem.name() == "backbone.conv_stem");
    CHECK(stem.stride() == 2);
    CHECK(stem.spec().bn_eps == c.backbone_bn_eps);
    CHECK(stem.forward(edet::Tensor<float>(edet::Shape{1, 9, 7, 3}).view()).shape() == edet::Shape{1, 5, 4, 32});
}

TEST_CASE("mbconv_block: wrong module names, inputs and checkpoints are refused") {
    edet::EfficientDetConfig c = edet::efficientdet_config("tf_efficientdet_d0");
    c.image_height = c.image_width = 64;
    const auto params = edet::EfficientDet::state_dict(c);
    const auto w = edet_test::MemorySource::random_for(params, 1);
    struct Case {
        std::string module;
        std::string message;
    };
    for (const Case& k : {Case{"backbone.blocks.3.7", "tf_efficientdet_d0's stage 3 has blocks 0..2"},
                          Case{"backbone.blocks.7.0", "backbone has stages 0..6"},
                          Case{"backbone.blocks.3", "not a backbone block of tf_efficientdet_d0"},
                          Case{"backbone.blocks.03.1", "not a backbone block"},
                          Case{"backbone.blocks.3.1.conv_dw", "not a backbone block"},
                          Case{"backbone.blocks.-1.0", "not a backbone block"},
                          Case{"backbone.conv_stem", "StemModel"},
                          Case{"fpn.cell.0.fnode.3", "backbone.blocks.<stage 0..6>.<block>"}}) {
        CAPTURE(k.module);
        CHECK_THROWS_WITH_AS(edet::MBConvBlockModel::from_source(w, k.module, c), doctest::Contains(k.message.c_str()), edet::Error);
    }
    CHECK_THROWS_WITH_AS(edet::StemModel::from_source(w, "backbone.bn1", c), doctest::Contains("backbone.conv_stem"), edet::Error);
    CHECK_THROWS_WITH_AS(edet::StemModel::from_source(w, "backbone.blocks.0.0", c), doctest::Contains("MBConvBlockModel"),
                         edet::Error);

    // A tensor of the block missing, or the whole block or the stem's BN.
    auto missing = edet_test::MemorySource::copy_of(w);
    missing.drop("backbone.blocks.3.1.bn2.running_var");
    CHECK_THROWS_WITH_AS(edet::MBConvBlockModel::from_source(missing, "backbone.blocks.3.1", c),
                         doctest::Contains("backbone.blocks.3.1.bn2.running_var"), edet::Error);
    CHECK_NOTHROW(edet::MBConvBlockModel::from_source(missing, "backbone.blocks.3.0", c));  // others' tensors don't matter
    const edet_test::MemorySource empty;
    CHECK_THROWS_WITH_AS(edet::MBConvBlockModel::from_source(empty, "backbone.blocks.3.1", c),
                         doctest::Contains("no tensor of the checkpoint is under this name"), edet::Error);
    auto no_bn = edet_test::MemorySource::copy_of(w);
    for (const char* t : {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"})
        no_bn.drop(edet::cat("backbone.bn1.", t));
    CHECK_THROWS_WITH_AS(edet::StemModel::from_source(no_bn, "backbone.conv_stem", c), doctest::Contains("backbone.bn1"),
                         edet::Error);
    // A misshapen tensor (the block is another variant's).
    auto reshaped = edet_test::MemorySource::copy_of(w);
    reshaped.reshape("backbone.blocks.3.1.conv_dw.weight", {480, 1, 5, 5});
    CHECK_THROWS_WITH_AS(edet::MBConvBlockModel::from_source(reshaped, "backbone.blocks.3.1", c),
                         doctest::Contains("backbone.blocks.3.1.conv_dw.weight"), edet::Error);

    const edet::MBConvBlockModel b = edet::MBConvBlockModel::from_source(w, "backbone.blocks.3.1", c);
    const edet::Tensor<float> wrong(edet::Shape{1, 8, 8, 40});
    CHECK_THROWS_WITH_AS(b.forward(wrong.view()), doctest::Contains("needs {n, h, w, 80}"), edet::Error);
    const edet::Tensor<float> wide(edet::Shape{1, 8, 8, 96});
    CHECK_THROWS_AS(b.forward(wide.view().channels(0, 80)), edet::Error);  // strided
    const edet::StemModel stem = edet::StemModel::from_source(w, "backbone.conv_stem", c);
    CHECK_THROWS_WITH_AS(stem.forward(wrong.view()), doctest::Contains("needs {n, h, w, 3}"), edet::Error);
}
