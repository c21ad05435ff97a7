// Tests for edet/nn/precision_table.hpp and the bf16 path it switches on: the table's
// rules, the Binder resolving the precision at load, PointwiseConvBn in bf16 equal to
// kernels::pointwise_conv_bf16 on the same folded weights (epilogue included), the SE-gated
// projection through input_scale, and whole MBConv blocks in bf16: independent of the
// thread count, hardware bf16 equal to bf16-emulated bit for bit, close to float32.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "edet/nn/conv.hpp"
#include "edet/nn/fused_mbconv.hpp"
#include "edet/nn/mbconv.hpp"
#include "edet/nn/precision_table.hpp"
#include "nn/nn_test_util.hpp"

using namespace edet;
using namespace edet_test;

namespace {

const nn::GemmRole kEveryPrecisionTestRole[] = {nn::GemmRole::other,         nn::GemmRole::block_expand,
                                                nn::GemmRole::block_project, nn::GemmRole::block_project_gated,
                                                nn::GemmRole::bifpn_node,    nn::GemmRole::resample,
                                                nn::GemmRole::head_repeat,   nn::GemmRole::head_predict};

std::vector<float> precision_test_copy(const Tensor<float>& t) { return std::vector<float>(t.data(), t.data() + t.numel()); }

bool precision_test_same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// max |a - b| / max |b|.
double precision_test_rel_error(const std::vector<float>& a, const std::vector<float>& b) {
    double diff = 0, ref = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
        ref = std::max(ref, std::fabs(double(b[i])));
    }
    return ref > 0 ? diff / ref : diff;
}

nn::ConvSpec precision_test_pointwise_spec(int cin, int cout, Activation act, nn::GemmRole role) {
    nn::ConvSpec s;
    s.conv = "pw";
    s.bn = "pw_bn";
    s.in_channels = cin;
    s.out_channels = cout;
    s.bias = true;
    s.activation = act;
    s.role = role;
    return s;
}

}  // namespace

TEST_CASE("precision table: fp32 everywhere unless asked; 'other' and the roles turned off stay fp32") {
    for (nn::GemmRole role : kEveryPrecisionTestRole) {
        CAPTURE(nn::to_string(role));
        CHECK(nn::layer_precision(Precision::fp32, role) == Precision::fp32);
        CHECK(nn::layer_precision(Precision::fp32, role, nn::kAllBf16Roles) == Precision::fp32);
        const bool on = nn::runs_in_bf16(role);
        CHECK(nn::layer_precision(Precision::bf16, role) == (on ? Precision::bf16 : Precision::fp32));
        CHECK(nn::layer_precision(Precision::bf16_emulated, role) == (on ? Precision::bf16_emulated : Precision::fp32));
        CHECK(nn::layer_precision(Precision::bf16_emulated, role, nn::kAllBf16Roles) ==
              (role == nn::GemmRole::other ? Precision::fp32 : Precision::bf16_emulated));
    }
    CHECK_FALSE(nn::runs_in_bf16(nn::GemmRole::other));
    // The measured choice (see kBf16Roles): the backbone's blocks in float32, BiFPN and heads in bf16.
    CHECK_FALSE(nn::runs_in_bf16(nn::GemmRole::block_expand));
    CHECK_FALSE(nn::runs_in_bf16(nn::GemmRole::block_project_gated));
    CHECK(nn::runs_in_bf16(nn::GemmRole::head_predict));
    CHECK(nn::runs_in_bf16(nn::GemmRole::bifpn_node));
}

TEST_CASE("precision: the Binder resolves it at load; bf16 without AVX512_BF16 is a clear error") {
    MemorySource empty;
    CHECK(nn::Binder(&empty).precision() == Precision::fp32);
    CHECK(nn::Binder(&empty, Precision::bf16_emulated).precision() == Precision::bf16_emulated);
    CHECK(nn::Binder(&empty, Precision::bf16_emulated).layer_precision(nn::GemmRole::block_expand) == Precision::fp32);
    CHECK(nn::Binder(&empty, Precision::bf16_emulated, nn::kAllBf16Roles).layer_precision(nn::GemmRole::block_expand) ==
          Precision::bf16_emulated);
    if (cpu_has_avx512_bf16()) {
        CHECK(nn::Binder(&empty, Precision::bf16).precision() == Precision::bf16);
        // CPUID cannot be faked: the refusal is only reachable on a CPU without the feature.
        MESSAGE("this CPU has AVX512_BF16: the load-time refusal of bf16 is not reachable here");
    } else {
        try {
            nn::Binder b(&empty, Precision::bf16);
            FAIL("bf16 accepted on a CPU without AVX512_BF16");
        } catch (const Error& e) {
            const std::string m = e.what();
            CHECK(m.find("AVX512_BF16") != std::string::npos);
            CHECK(m.find("bf16-emulated") != std::string::npos);
        }
    }
}

TEST_CASE("precision: a bf16 PointwiseConvBn is pointwise_conv_bf16 on its folded weights, epilogue included") {
    Random r(71);
    for (int t = 0; t < 12; ++t) {
        const int cin = r.integer(1, 70), cout = r.integer(1, 90);
        const Activation act = t % 3 == 0 ? Activation::none : t % 3 == 1 ? Activation::swish : Activation::relu6;
        const nn::ConvSpec s = precision_test_pointwise_spec(cin, cout, act, nn::GemmRole::head_predict);
        ParamStore store(r);
        store.binder_listing_then_load([&](nn::Binder& b) { nn::PointwiseConvBn c(s, b); });
        nn::Binder fp32_binder(&store.source());
        nn::Binder bf16_binder(&store.source(), Precision::bf16_emulated);
        const nn::PointwiseConvBn fp32_layer(s, fp32_binder);
        const nn::PointwiseConvBn bf16_layer(s, bf16_binder);
        CHECK_FALSE(fp32_layer.runs_bf16());
        REQUIRE(bf16_layer.runs_bf16());
        CHECK(bf16_layer.precision() == Precision::bf16_emulated);
        CHECK(bf16_layer.packed().data.size() == 0);  // no float32 copy kept

        const Shape in{1, r.integer(1, 9), r.integer(1, 9), cin};
        const Tensor<float> x = random_tensor(r, in);
        Tensor<float> residual = random_tensor(r, Shape{in.n, in.h, in.w, cout});
        const std::size_t rows = in.pixels();
        const int panels = kernels::pointwise_panel_count(cout);
        // Expected: the kernel called directly on the same folded weights.
        nn::Binder bn_reader(&store.source());
        const nn::FoldedConv f = nn::fold_batch_norm(store.values("pw.weight"), store.values("pw.bias"),
                                                     bn_reader.take_batch_norm("pw_bn", cout, s.bn_eps), cout);
        const kernels::PackedPointwiseWeightsBf16 w = kernels::pack_pointwise_weights_bf16(f.weights.data(), cin, cout);
        Tensor<float> want(Shape{in.n, in.h, in.w, cout});
        std::vector<float> want_max(rows * static_cast<std::size_t>(panels));
        kernels::PointwiseConvBf16Args a;
        a.input = x.data();
        a.rows = rows;
        a.weights = &w;
        a.bias = f.bias.data();
        a.residual = residual.data();
        a.output = want.data();
        a.activation = act;
        a.precision = Precision::bf16_emulated;
        a.panel_max = want_max.data();
        a.panel_max_columns = kernels::pointwise_panel_columns();
        kernels::pointwise_conv_bf16(a);

        kernels::PointwiseEpilogue e = bf16_layer.epilogue();
        e.residual = residual.data();
        Tensor<float> got(Shape{in.n, in.h, in.w, cout});
        std::vector<float> got_max(want_max.size());
        e.panel_max = got_max.data();
        for (int threads : {1, 2}) {
            edet::set_num_threads(threads);
            bf16_layer.forward(x.view(), got.view(), e);
            edet::set_num_threads(0);
            CAPTURE(threads);
            CHECK(precision_test_same_bits(precision_test_copy(got), precision_test_copy(want)));
            CHECK(precision_test_same_bits(got_max, want_max));
        }
        // And close to the float32 layer (bf16 inputs and weights: 8 significant bits).
        Tensor<float> exact(Shape{in.n, in.h, in.w, cout});
        fp32_layer.forward(x.view(), exact.view());
        bf16_layer.forward(x.view(), got.view());
        CHECK(precision_test_rel_error(precision_test_copy(got), precision_test_copy(exact)) < 2e-2);
    }
}

TEST_CASE("precision: the SE-gated bf16 projection scales the inputs by each image's gate (input_scale), no weight copies") {
    Random r(72);
    const int cin = 40, cout = 24;
    const nn::ConvSpec s = precision_test_pointwise_spec(cin, cout, Activation::none, nn::GemmRole::block_project_gated);
    ParamStore store(r);
    store.binder_listing_then_load([&](nn::Binder& b) { nn::PointwiseConvBn c(s, b); });
    nn::Binder binder(&store.source(), Precision::bf16_emulated, nn::kAllBf16Roles);
    const nn::PointwiseConvBn project(s, binder);
    REQUIRE(project.runs_bf16());
    CHECK(nn::gated_weights_stride(project) == 0);
    const Shape d{3, 7, 5, cin};
    const Tensor<float> dw = random_tensor(r, d);
    std::vector<float> gate(static_cast<std::size_t>(d.n) * cin);
    for (float& g : gate) g = r.uniform(0.0f, 1.0f);
    Tensor<float> got(Shape{d.n, d.h, d.w, cout});
    for (int threads : {1, 2}) {
        edet::set_num_threads(threads);
        nn::gated_project(project, dw.view(), got.view(), project.epilogue(), gate.data(), nullptr);
        edet::set_num_threads(0);
        const std::size_t pixels = static_cast<std::size_t>(d.h) * d.w;
        for (int b = 0; b < d.n; ++b) {
            std::vector<float> want(pixels * cout);
            project.gated_rows(dw.data() + b * pixels * cin, pixels, want.data(), project.epilogue(),
                               gate.data() + static_cast<std::size_t>(b) * cin);
            CAPTURE(threads);
            CAPTURE(b);
            CHECK(std::memcmp(want.data(), got.data() + b * pixels * cout, want.size() * sizeof(float)) == 0);
        }
    }
    // gated_rows is the bf16 layers' call; an fp32 layer refuses it.
    nn::Binder fp32_binder(&store.source());
    const nn::PointwiseConvBn fp32_project(s, fp32_binder);
    float out[24];
    CHECK_THROWS_AS(fp32_project.gated_rows(dw.data(), 1, out, fp32_project.epilogue(), gate.data()), Error);
}

TEST_CASE("precision: MBConv blocks with every GEMM in bf16: thread-independent, hardware = emulated, near float32") {
    Random r(73);
    for (int variant = 0; variant < 3; ++variant) {
        nn::MBConvSpec s;
        s.prefix = "blk";
        s.depthwise_separable = variant == 2;
        s.in_channels = 24;
        s.out_channels = 24;
        s.mid_channels = s.depthwise_separable ? 24 : 96;
        s.kernel = 3;
        s.se_reduced = variant == 1 ? 0 : 6;  // 1: no SE, a Lite block (relu6)
        s.activation = variant == 1 ? Activation::relu6 : Activation::swish;
        ParamStore store(r);
        store.binder_listing_then_load([&](nn::Binder& b) { nn::MBConv t(s, b); });
        auto build = [&](Precision p) {
            nn::Binder b(&store.source(), p, nn::kAllBf16Roles);
            return nn::MBConv(s, b);
        };
        const nn::MBConv exact = build(Precision::fp32), emulated = build(Precision::bf16_emulated);
        for (const Shape& in : {Shape{1, 20, 17, 24}, Shape{2, 9, 12, 24}}) {
            const Tensor<float> x = random_tensor(r, in);
            std::vector<float> scratch(std::max(exact.scratch_floats(in), emulated.scratch_floats(in)));
            auto run = [&](const nn::MBConv& blk, int threads) {
                Tensor<float> out(blk.plan(in));
                edet::set_num_threads(threads);
                blk.forward(x.view(), out.view(), scratch.data());
                edet::set_num_threads(0);
                return precision_test_copy(out);
            };
            INFO("variant ", variant, " in ", in.str());
            const std::vector<float> one = run(emulated, 1), two = run(emulated, 2);
            CHECK(precision_test_same_bits(one, two));
            // Two bf16 GEMMs per block, each input rounded to 8 bits: ~1e-2 of the output's range.
            CHECK(precision_test_rel_error(one, run(exact, 1)) < 3e-2);
            if (cpu_has_avx512_bf16()) {
                const nn::MBConv hardware = build(Precision::bf16);
                CHECK(precision_test_same_bits(run(hardware, 2), one));
            } else {
                MESSAGE("no AVX512_BF16: hardware bf16 not compared with the emulation");
            }
        }
    }
}
