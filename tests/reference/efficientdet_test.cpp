// Tests for edet/reference/efficientdet.hpp (and through it reference/mbconv.hpp,
// bifpn.hpp, head.hpp): the plain reference forward against the reference model's own
// outputs (../shared/fixtures: every fixture's backbone, BiFPN and head outputs; every
// BiFPN node, combine alone and whole), then the fast path against the reference path.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "edet/io/safetensors.hpp"
#include "edet/models/efficientdet.hpp"
#include "edet/reference/efficientdet.hpp"
#include "models/model_test_util.hpp"

using namespace edet_test;

namespace {

double reference_tolerance(const Fixture& f) { return std::max(1e-4, 4 * f.noise_max()); }

edet::Tensor<float> reference_input(const Fixture& f) {
    const auto in = edet::io::SafeTensorsFile::open(f.input());
    return read_nchw_as_nhwc(*in, "input");
}

// Checks one group of tensors (backbone/fpn/class_out/box_out) against the fixture's.
void check_group(const edet::io::TensorSource& want, const std::string& key,
                 const std::vector<edet::TensorView<const float>>& got, double tol) {
    for (std::size_t l = 0; l < got.size(); ++l) {
        const std::string name = key + "." + std::to_string(l);
        CAPTURE(name);
        const ErrorStats e = compare_views(got[l], read_nchw_as_nhwc(want, name));
        MESSAGE(name << ": " << e.rel());
        CHECK(e.finite);
        CHECK(e.rel() <= tol);
    }
}

}  // namespace

TEST_CASE("reference path: every fixture's outputs from the weights as stored; the fast path agrees with it" *
          doctest::test_suite("parity")) {
    const auto fixtures = all_fixtures();
    REQUIRE(!fixtures.empty());
    for (const auto& f : fixtures) {
        CAPTURE(f.name);
        auto ref = edet::EfficientDet::load(f.weights(), f.variant(), f.image_height(), f.image_width(),
                                            edet::ForwardPath::reference);
        auto fast = edet::EfficientDet::load(f.weights(), f.variant(), f.image_height(), f.image_width());
        CHECK(ref.forward_path() == edet::ForwardPath::reference);
        CHECK(fast.forward_path() == edet::ForwardPath::fast);
        const edet::Tensor<float> x = reference_input(f);
        const edet::HeadOutputs& o = ref.forward(x.view());
        CHECK(o.class_max.empty());  // the reference path computes no run maxima
        const auto want = edet::io::SafeTensorsFile::open(f.outputs());
        const double tol = reference_tolerance(f);
        REQUIRE(o.backbone.size() == 3);
        REQUIRE(o.fpn.size() == static_cast<std::size_t>(ref.config().num_levels()));
        check_group(*want, "backbone", o.backbone, tol);
        check_group(*want, "fpn", o.fpn, tol);
        check_group(*want, "class_out", o.class_out, tol);
        check_group(*want, "box_out", o.box_out, tol);
        // The fast path against the reference path (not only against the fixture).
        const edet::HeadOutputs& a = fast.forward(x.view());
        REQUIRE(a.class_out.size() == o.class_out.size());
        for (std::size_t l = 0; l < a.class_out.size(); ++l) {
            CAPTURE(l);
            const edet::Tensor<float> want_cls(o.class_out[l].shape(), o.class_out[l].data());
            const edet::Tensor<float> want_box(o.box_out[l].shape(), o.box_out[l].data());
            CHECK(compare_views(a.class_out[l], want_cls).rel() <= tol);
            CHECK(compare_views(a.box_out[l], want_box).rel() <= tol);
        }
    }
}

TEST_CASE("reference path: every BiFPN node, its combine and the extra levels equal the reference's" *
          doctest::test_suite("parity")) {
    Fixture f;
    for (const auto& g : all_fixtures())
        if (g.name == "tf_efficientdet_d0_s3_256x384") f = g;
    REQUIRE(!f.dir.empty());
    const auto nodes = edet::io::SafeTensorsFile::open(f.dir + "/nodes.safetensors");
    edet::EfficientDetConfig c = edet::efficientdet_config(f.variant());
    c.image_height = f.image_height();
    c.image_width = f.image_width();
    const auto net = edet::reference::EfficientDet::from_source(*edet::io::open_weights(f.weights()), c);
    const edet::Tensor<float> x = reference_input(f);
    std::map<std::string, double> errors;
    net.forward(x.view(), [&](const std::string& name, edet::TensorView<const float> t) {
        errors[name + ".out"] = compare_views(t, read_nchw_as_nhwc(*nodes, name + ".out")).rel();
    });
    // 2 extra levels + 3 cells x 8 nodes x (combine, out).
    CHECK(errors.size() == 2 + 3 * 8 * 2);
    std::size_t in_file = 0;
    for (const auto& t : nodes->tensors()) in_file += errors.count(t.name);
    CHECK(in_file == nodes->tensors().size());  // every tensor of the file was compared
    double worst = 0;
    for (const auto& kv : errors) {
        CAPTURE(kv.first);
        CHECK(kv.second <= reference_tolerance(f));
        worst = std::max(worst, kv.second);
    }
    MESSAGE("worst node error " << worst);
}

