// Tests for EfficientDet's precision (nn/precision_table.hpp, kernels/bf16.hpp): whole
// networks of the shared fixtures in bf16-emulated against the reference's float32
// outputs, hardware bf16 equal to the emulation bit for bit, the class maxima the bf16
// predict conv writes, the reference path refusing bf16, precision() as loaded.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "edet/models/efficientdet.hpp"
#include "model_test_util.hpp"

using edet::EfficientDet;
using edet::Precision;
using namespace edet_test;

namespace {

// The worst max |bf16 - ref| / max |ref| of any output tensor measured on the shared
// fixtures (tf_efficientdet_d0_s0 1.3e-2, efficientdet_d0_s0 1.4e-2, tf_efficientdet_lite0_s0
// 3.1e-2, tf_efficientdet_d0_s3_256x384 2.0e-2), with about 2x margin: the GEMMs the
// table runs in bf16 round their inputs to 8 significant bits (2^-9 relative), and the
// random-weight networks amplify that by ~10x by the heads (their float32 error relative
// to float64, fp32_noise_max, is ~60x float32's rounding unit for D0 and ~1500x for Lite0).
constexpr double kBf16NetworkTolerance = 6e-2;

std::vector<Fixture> precision_test_fixtures() { return discover_fixtures({fixtures_dir()}); }

std::vector<float> precision_test_values(edet::TensorView<const float> v) { return std::vector<float>(v.data(), v.data() + v.numel()); }

}  // namespace

TEST_CASE("efficientdet precision: bf16-emulated networks stay within the bf16 tolerance of every shared fixture" *
          doctest::test_suite("parity")) {
    const auto fixtures = precision_test_fixtures();
    REQUIRE(!fixtures.empty());
    for (const auto& f : fixtures) {
        CAPTURE(f.name);
        const auto weights = edet::io::SafeTensorsFile::open(f.weights());
        EfficientDet net = EfficientDet::from_source(*weights, "", f.image_height(), f.image_width(),
                                                     edet::ForwardPath::fast, Precision::bf16_emulated);
        CHECK(net.precision() == Precision::bf16_emulated);
        const auto input_file = edet::io::SafeTensorsFile::open(f.input());
        const edet::Tensor<float> input = read_nchw_as_nhwc(*input_file, "input");
        const edet::HeadOutputs& out = net.forward(input.view());
        const auto ref = edet::io::SafeTensorsFile::open(f.outputs());
        double worst = 0;
        auto check_group = [&](const std::string& prefix, const std::vector<edet::TensorView<const float>>& views) {
            for (std::size_t i = 0; i < views.size(); ++i) {
                const std::string name = prefix + "." + std::to_string(i);
                const ErrorStats s = compare_views(views[i], read_nchw_as_nhwc(*ref, name));
                CAPTURE(name);
                CHECK(s.finite);
                CHECK(s.rel() <= kBf16NetworkTolerance);
                worst = std::max(worst, s.rel());
            }
        };
        check_group("backbone", out.backbone);
        check_group("fpn", out.fpn);
        check_group("class_out", out.class_out);
        check_group("box_out", out.box_out);
        MESSAGE(f.name << ": bf16-emulated worst max-rel error vs the reference " << worst);
        // The bf16 class predict conv writes the run maxima the post-processing scans.
        REQUIRE(out.class_max_columns > 0);
        for (std::size_t l = 0; l < out.class_out.size(); ++l) {
            const edet::TensorView<const float> c = out.class_out[l], m = out.class_max[l];
            const std::size_t pixels = c.shape().pixels(), width = static_cast<std::size_t>(c.c());
            const std::size_t runs = static_cast<std::size_t>(m.c()), cols = static_cast<std::size_t>(out.class_max_columns);
            bool same = true;
            for (std::size_t p = 0; p < pixels && same; ++p)
                for (std::size_t k = 0; k < runs; ++k) {
                    const float* row = c.data() + p * width;
                    const float want = *std::max_element(row + k * cols, row + std::min(width, (k + 1) * cols));
                    same = same && m.data()[p * runs + k] == want;
                }
            CAPTURE(l);
            CHECK(same);
        }
    }
}

TEST_CASE("efficientdet precision: hardware bf16 equals bf16-emulated bit for bit, any thread count" *
          doctest::test_suite("parity")) {
    if (!edet::cpu_has_avx512_bf16()) {
        MESSAGE("this CPU lacks AVX512_BF16: hardware bf16 not compared with the emulation");
        return;
    }
    for (const auto& f : precision_test_fixtures()) {
        if (f.image_height() * f.image_width() > 320 * 320) continue;  // the small ones keep this quick
        CAPTURE(f.name);
        const auto weights = edet::io::SafeTensorsFile::open(f.weights());
        const auto input_file = edet::io::SafeTensorsFile::open(f.input());
        const edet::Tensor<float> input = read_nchw_as_nhwc(*input_file, "input");
        auto heads = [&](Precision p, int threads) {
            EfficientDet net = EfficientDet::from_source(*weights, "", f.image_height(), f.image_width(),
                                                         edet::ForwardPath::fast, p);
            edet::set_num_threads(threads);
            const edet::HeadOutputs& out = net.forward(input.view());
            edet::set_num_threads(0);
            std::vector<float> all;
            for (const auto& v : out.class_out) {
                const auto x = precision_test_values(v);
                all.insert(all.end(), x.begin(), x.end());
            }
            for (const auto& v : out.box_out) {
                const auto x = precision_test_values(v);
                all.insert(all.end(), x.begin(), x.end());
            }
            return all;
        };
        const std::vector<float> emulated = heads(Precision::bf16_emulated, 1), hardware = heads(Precision::bf16, 2);
        REQUIRE(emulated.size() == hardware.size());
        CHECK(std::memcmp(emulated.data(), hardware.data(), emulated.size() * sizeof(float)) == 0);
    }
}

TEST_CASE("efficientdet precision: the reference path is float32 only; fp32 is the default") {
    const edet::EfficientDetConfig c = edet::efficientdet_config("tf_efficientdet_lite0");
    MemorySource src = MemorySource::random_for(EfficientDet::state_dict(c), 3);
    src.set_metadata("model", "tf_efficientdet_lite0");
    CHECK(EfficientDet::from_source(src).precision() == Precision::fp32);
    try {
        (void)EfficientDet::from_source(src, "", 0, 0, edet::ForwardPath::reference, Precision::bf16_emulated);
        FAIL("the reference path accepted bf16-emulated");
    } catch (const edet::Error& e) {
        const std::string m = e.what();
        CHECK(m.find("bf16-emulated") != std::string::npos);
        CHECK(m.find("reference path") != std::string::npos);
    }
}
