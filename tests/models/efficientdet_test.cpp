// Tests for edet/models/efficientdet.hpp: names and parameter counts of every variant,
// binding errors, and parity of every fixture (raw head outputs, backbone and BiFPN
// features) against the reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>

#include "edet/models/efficientdet.hpp"
#include "model_test_util.hpp"

using edet::EfficientDet;
using edet::efficientdet_config;
using namespace edet_test;

TEST_CASE("efficientdet: parameter counts equal the reference's") {
    // The reference counts (sum of p.numel() over model.parameters()) quoted by the issue.
    const std::map<std::string, std::size_t> expected = {
        {"tf_efficientdet_d0", 3880067},    {"efficientdet_d0", 3877763},     {"tf_efficientdet_lite0", 3243470},
        {"tf_efficientdet_d1", 6625898},    {"tf_efficientdet_d7", 51871782}, {"tf_efficientdet_d7x", 77147166},
    };
    for (const auto& kv : expected) {
        CAPTURE(kv.first);
        CHECK(edet::parameter_count(efficientdet_config(kv.first)) == kv.second);
    }
}

TEST_CASE("efficientdet: every variant builds a name list with unique names") {
    for (const auto& v : edet::efficientdet_variants()) {
        CAPTURE(v);
        const auto params = EfficientDet::state_dict(efficientdet_config(v));
        std::vector<std::string> names;
        for (const auto& p : params) names.push_back(p.name);
        std::sort(names.begin(), names.end());
        CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
        CHECK(params.front().name == "backbone.conv_stem.weight");
        CHECK(params.back().name == "box_net.predict.conv_pw.bias");
        const auto cfg = efficientdet_config(v);
        // edge weights exist exactly for fast-normalized fusion
        const bool has_edge = std::any_of(params.begin(), params.end(), [](const edet::nn::ParamInfo& p) {
            return p.name.find("edge_weights") != std::string::npos;
        });
        CHECK(has_edge == (cfg.fusion == edet::FusionRule::fast_normalized));
    }
}

TEST_CASE("efficientdet: unknown variant names are refused, listing the valid ones") {
    try {
        (void)efficientdet_config("tf_efficientdet_d9");
        FAIL("no error");
    } catch (const edet::Error& e) {
        CHECK(std::string(e.what()).find("tf_efficientdet_d9") != std::string::npos);
        CHECK(std::string(e.what()).find("tf_efficientdet_lite3x") != std::string::npos);
    }
}

TEST_CASE("efficientdet: the expected names and shapes equal each fixture's manifest, in order" * doctest::test_suite("parity")) {
    const auto fixtures = all_fixtures();
    REQUIRE(!fixtures.empty());
    for (const auto& f : fixtures) {
        CAPTURE(f.name);
        auto cfg = efficientdet_config(f.variant());
        cfg.num_classes = static_cast<int>(f.manifest["config"]["num_classes"].as_int64());
        const auto params = EfficientDet::state_dict(cfg);
        const auto& tensors = f.manifest["tensors"].as_array();
        REQUIRE(params.size() == tensors.size());
        for (std::size_t i = 0; i < params.size(); ++i) {
            const std::string want = tensors[i][0].as_string();
            std::vector<std::int64_t> shape;
            for (const auto& d : tensors[i][1].as_array()) shape.push_back(d.as_int64());
            CAPTURE(i);
            REQUIRE(params[i].name == want);
            REQUIRE(edet::nn::shape_string(params[i].shape) == edet::nn::shape_string(shape));
        }
        CHECK(edet::parameter_count(cfg) == static_cast<std::size_t>(f.manifest["params"].as_int64()));
    }
}

namespace {

// Runs one fixture and compares every output tensor.
void check_fixture(const Fixture& f, bool also_batch2) {
    const auto weights = edet::io::SafeTensorsFile::open(f.weights());
    const auto t0 = std::chrono::steady_clock::now();
    EfficientDet net = EfficientDet::from_source(*weights, "", f.image_height(), f.image_width());
    const auto t1 = std::chrono::steady_clock::now();
    CHECK(net.config().name == f.variant());
    const auto input_file = edet::io::SafeTensorsFile::open(f.input());
    const edet::Tensor<float> input = read_nchw_as_nhwc(*input_file, "input");
    const edet::HeadOutputs& out = net.forward(input.view());
    const auto t2 = std::chrono::steady_clock::now();
    const auto ref = edet::io::SafeTensorsFile::open(f.outputs());
    const double tol = std::max(1e-4, 4.0 * f.noise_max());
    MESSAGE(f.name << ": load " << std::chrono::duration<double>(t1 - t0).count() << " s, forward "
                   << std::chrono::duration<double>(t2 - t1).count() << " s, arena " << net.arena_bytes() / 1e6
                   << " MB (unplanned " << net.unplanned_bytes() / 1e6 << " MB), tolerance " << tol);
    auto check_group = [&](const std::string& prefix, const std::vector<edet::TensorView<const float>>& views) {
        std::size_t count = 0;
        for (std::size_t i = 0; ref->find(prefix + "." + std::to_string(i)); ++i) ++count;
        REQUIRE(count == views.size());
        for (std::size_t i = 0; i < count; ++i) {
            const std::string name = prefix + "." + std::to_string(i);
            const edet::Tensor<float> want = read_nchw_as_nhwc(*ref, name);
            const ErrorStats s = compare_views(views[i], want);
            MESSAGE(f.name << " " << name << ": max abs " << s.max_abs << ", rel " << s.rel());
            CAPTURE(name);
            CAPTURE(s.max_abs);
            CAPTURE(s.rel());
            CHECK(s.finite);
            CHECK(s.rel() <= tol);
        }
    };
    check_group("backbone", out.backbone);
    check_group("fpn", out.fpn);
    check_group("class_out", out.class_out);
    check_group("box_out", out.box_out);
    if (!also_batch2) return;
    // Keep a copy of the batch-1 head outputs, then run the same image twice in one batch.
    std::vector<std::vector<float>> cls1, box1;
    for (const auto& v : out.class_out) cls1.emplace_back(v.data(), v.data() + v.numel());
    for (const auto& v : out.box_out) box1.emplace_back(v.data(), v.data() + v.numel());
    edet::Shape s2 = input.shape();
    s2.n = 2 * input.n();
    edet::Tensor<float> input2(s2);
    std::memcpy(input2.data(), input.data(), input.numel() * sizeof(float));
    std::memcpy(input2.data() + input.numel(), input.data(), input.numel() * sizeof(float));
    const edet::HeadOutputs& out2 = net.forward(input2.view());
    for (std::size_t l = 0; l < cls1.size(); ++l) {
        CAPTURE(l);
        const std::size_t nc = cls1[l].size(), nb = box1[l].size();
        REQUIRE(out2.class_out[l].numel() == 2 * nc);
        for (int b = 0; b < 2; ++b) {
            CHECK(std::memcmp(out2.class_out[l].data() + b * nc, cls1[l].data(), nc * sizeof(float)) == 0);
            CHECK(std::memcmp(out2.box_out[l].data() + b * nb, box1[l].data(), nb * sizeof(float)) == 0);
        }
    }
}

}  // namespace

TEST_CASE("efficientdet: parity with every reference fixture" * doctest::test_suite("parity")) {
    const auto fixtures = all_fixtures();
    REQUIRE(!fixtures.empty());
    bool batch2_done = false;
    for (const auto& f : fixtures) {
        CAPTURE(f.name);
        // The batch-2 check runs once, on the first fixture of at most 320x320 pixels.
        const bool batch2 = !batch2_done && f.image_height() * f.image_width() <= 320 * 320;
        batch2_done = batch2_done || batch2;
        check_fixture(f, batch2);
    }
    CHECK(batch2_done);
}

namespace {
// The edet::Error message of loading `src`, or "" when it loads.
std::string load_error(const edet::io::TensorSource& src, const std::string& variant = "") {
    try {
        (void)EfficientDet::from_source(src, variant);
    } catch (const edet::Error& e) {
        return e.what();
    }
    return "";
}
bool mentions(const std::string& message, const std::string& part) { return message.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("efficientdet: bad weight files are refused, naming the tensor" * doctest::test_suite("parity")) {
    const auto file = edet::io::SafeTensorsFile::open(fixtures_dir() + "/tf_efficientdet_lite0_s0/weights.safetensors");
    const MemorySource good = MemorySource::copy_of(*file);
    CHECK(load_error(good) == "");
    const std::string victim = "fpn.cell.1.fnode.4.after_combine.conv.conv_pw.weight";
    SUBCASE("missing tensor") {
        MemorySource m = MemorySource::copy_of(*file);
        m.drop(victim);
        const std::string e = load_error(m);
        CHECK(mentions(e, victim));
        CHECK(mentions(e, "missing"));
    }
    SUBCASE("missing num_batches_tracked") {
        MemorySource m = MemorySource::copy_of(*file);
        m.drop("backbone.bn1.num_batches_tracked");
        CHECK(mentions(load_error(m), "backbone.bn1.num_batches_tracked"));
    }
    SUBCASE("extra tensor") {
        MemorySource m = MemorySource::copy_of(*file);
        m.add("fpn.cell.0.fnode.0.combine.edge_weights", {2}, {1.0f, 1.0f});  // lite uses sum fusion: no weights
        const std::string e = load_error(m);
        CHECK(mentions(e, "fpn.cell.0.fnode.0.combine.edge_weights"));
        CHECK(mentions(e, "unexpected"));
    }
    SUBCASE("misshapen tensor") {
        MemorySource m = MemorySource::copy_of(*file);
        m.reshape(victim, {64, 32, 1, 1});
        const std::string e = load_error(m);
        CHECK(mentions(e, victim));
        CHECK(mentions(e, "[64, 64, 1, 1]"));
        CHECK(mentions(e, "[64, 32, 1, 1]"));
    }
    SUBCASE("weights of another variant: the first bad tensor is named") {
        // lite0 has no SE: the first expected name it lacks is the stage-0 block's SE.
        const std::string e = load_error(good, "tf_efficientdet_d0");
        CHECK(mentions(e, "backbone.blocks.0.0.se.conv_reduce.weight"));
        // lite1 has the same stage-0 but one more block in stage 1, and a wider BiFPN.
        CHECK(mentions(load_error(good, "tf_efficientdet_lite1"), "backbone.blocks.1.2.conv_pw.weight"));
    }
    SUBCASE("no variant anywhere") {
        MemorySource m = MemorySource::copy_of(*file);
        m.set_metadata("model", "");
        CHECK(mentions(load_error(m), "variant"));
        CHECK(load_error(m, "tf_efficientdet_lite0") == "");
    }
}

TEST_CASE("efficientdet: any class count, odd non-square sizes, batch 3; the arena is planned once") {
    auto cfg = efficientdet_config("tf_efficientdet_lite0");
    cfg.num_classes = 7;
    cfg.image_height = 97;
    cfg.image_width = 131;
    const auto params = EfficientDet::state_dict(cfg);
    MemorySource src = MemorySource::random_for(params, 7);
    EfficientDet net = EfficientDet::from_source(src, cfg);
    CHECK(net.num_classes() == 7);
    Random r(3);
    edet::Tensor<float> x(edet::Shape{3, 97, 131, 3});
    for (std::size_t i = 0; i < x.numel(); ++i) x.data()[i] = r.uniform(-1.0f, 1.0f);
    const edet::HeadOutputs& o = net.forward(x.view());
    const auto sizes = net.level_sizes();
    REQUIRE(o.class_out.size() == 5);
    for (std::size_t l = 0; l < 5; ++l) {
        CAPTURE(l);
        CHECK(o.class_out[l].shape() == edet::Shape{3, sizes[l + 3].first, sizes[l + 3].second, 9 * 7});
        CHECK(o.box_out[l].shape() == edet::Shape{3, sizes[l + 3].first, sizes[l + 3].second, 36});
        const ErrorStats s = compare(o.class_out[l].data(), o.class_out[l].data(), o.class_out[l].numel());
        CHECK(s.finite);
    }
    CHECK(sizes[3] == std::make_pair(13, 17));
    CHECK(sizes[7] == std::make_pair(1, 2));
    // The class head's run maxima (for post-processing) describe class_out exactly.
    REQUIRE(o.class_max.size() == 5);
    const int cols = o.class_max_columns;
    REQUIRE(cols >= 1);
    for (std::size_t l = 0; l < 5; ++l) {
        const edet::Shape cs = o.class_out[l].shape();
        const int runs = (cs.c + cols - 1) / cols;
        REQUIRE(o.class_max[l].shape() == edet::Shape{cs.n, cs.h, cs.w, runs});
        std::size_t mismatches = 0;
        for (std::size_t p = 0; p < static_cast<std::size_t>(cs.n) * cs.h * cs.w; ++p)
            for (int j = 0; j < runs; ++j) {
                float want = o.class_out[l].data()[p * cs.c + static_cast<std::size_t>(j * cols)];
                for (int ch = j * cols; ch < std::min(cs.c, (j + 1) * cols); ++ch)
                    want = std::max(want, o.class_out[l].data()[p * cs.c + static_cast<std::size_t>(ch)]);
                mismatches += o.class_max[l].data()[p * static_cast<std::size_t>(runs) + static_cast<std::size_t>(j)] != want;
            }
        CAPTURE(l);
        CHECK(mismatches == 0);
    }
    const float* first = o.class_out[0].data();
    const std::size_t arena = net.arena_bytes();
    CHECK(arena > 0);
    CHECK(arena < net.unplanned_bytes());
    net.forward(x.view());
    CHECK(net.outputs().class_out[0].data() == first);  // same plan, same arena
    CHECK(net.arena_bytes() == arena);
    // The thread count does not change a single bit.
    std::vector<float> many(o.box_out[0].data(), o.box_out[0].data() + o.box_out[0].numel());
    edet::set_num_threads(1);
    net.forward(x.view());
    edet::set_num_threads(0);
    CHECK(std::memcmp(net.outputs().box_out[0].data(), many.data(), many.size() * sizeof(float)) == 0);
    // A wrong input size is an error, not garbage.
    edet::Tensor<float> bad(edet::Shape{1, 96, 131, 3});
    CHECK_THROWS_AS(net.forward(bad.view()), edet::Error);
}

TEST_CASE("efficientdet: compile-time variants use the same runtime path") {
    static_assert(edet::EfficientDetD<3>::spec.fpn_channels == 160);
    static_assert(edet::EfficientDetD<3>::spec.image_size == 896);
    static_assert(edet::EfficientDetD<7>::spec.anchor_scale == 5.0);
    const auto a = edet::EfficientDetD<1>::config();
    const auto b = efficientdet_config("tf_efficientdet_d1");
    CHECK(a.name == b.name);
    CHECK(edet::parameter_count(a) == 6625898);
}
