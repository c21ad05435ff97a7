// Tests for edet/nn/mbconv.hpp: MBConv (DS and inverted residual, with and without SE,
// with and without skip) against a naive double-precision evaluation.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "edet/nn/mbconv.hpp"
#include "nn/nn_test_util.hpp"

using namespace edet;
using namespace edet_test;

namespace {
void naive_se(NaiveMap& x, const MemorySource& s, const std::string& p, int rd) {
    const auto rw = s.read_f32(p + ".conv_reduce.weight"), rb = s.read_f32(p + ".conv_reduce.bias");
    const auto ew = s.read_f32(p + ".conv_expand.weight"), eb = s.read_f32(p + ".conv_expand.bias");
    for (int b = 0; b < x.n; ++b) {
        std::vector<double> mean(static_cast<std::size_t>(x.c), 0.0), z(static_cast<std::size_t>(rd));
        for (int y = 0; y < x.h; ++y)
            for (int xx = 0; xx < x.w; ++xx)
                for (int c = 0; c < x.c; ++c) mean[static_cast<std::size_t>(c)] += x.at(b, y, xx, c) / (x.h * x.w);
        for (int j = 0; j < rd; ++j) {
            double a = rb[static_cast<std::size_t>(j)];
            for (int c = 0; c < x.c; ++c) a += rw[static_cast<std::size_t>(j * x.c + c)] * mean[static_cast<std::size_t>(c)];
            z[static_cast<std::size_t>(j)] = naive_act(a, Activation::swish);
        }
        for (int c = 0; c < x.c; ++c) {
            double a = eb[static_cast<std::size_t>(c)];
            for (int j = 0; j < rd; ++j) a += ew[static_cast<std::size_t>(c * rd + j)] * z[static_cast<std::size_t>(j)];
            const double g = naive_act(a, Activation::sigmoid);
            for (int y = 0; y < x.h; ++y)
                for (int xx = 0; xx < x.w; ++xx) x.at(b, y, xx, c) *= g;
        }
    }
}
}  // namespace

TEST_CASE("mbconv: blocks equal the naive composition (DS/IR, SE on/off, skip on/off)") {
    Random r(21);
    struct Case { bool ds; int cin, cout, k, stride, rd; PaddingMode pad; Activation act; };
    const Case cases[] = {
        {true, 8, 4, 3, 1, 2, PaddingMode::tf_same, Activation::swish},       // DS, SE, no skip
        {true, 6, 6, 3, 1, 0, PaddingMode::tf_same, Activation::relu6},       // DS, skip, Lite
        {false, 4, 6, 5, 2, 1, PaddingMode::tf_same, Activation::swish},      // IR stride 2
        {false, 6, 6, 3, 1, 2, PaddingMode::symmetric, Activation::swish},    // IR skip
        {false, 5, 7, 5, 2, 0, PaddingMode::symmetric, Activation::relu6},    // IR no SE
    };
    for (const Case& c : cases) {
        nn::MBConvSpec s;
        s.prefix = "blk";
        s.depthwise_separable = c.ds;
        s.in_channels = c.cin;
        s.out_channels = c.cout;
        s.mid_channels = c.ds ? c.cin : c.cin * 6;
        s.kernel = c.k;
        s.stride = c.stride;
        s.se_reduced = c.rd;
        s.activation = c.act;
        s.bn_eps = 1e-5f;
        s.padding = c.pad;
        ParamStore store(r);
        nn::MBConv blk(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::MBConv t(s, b); }));
        // Small maps fit one chunk of the fused expand -> depthwise loop; wide ones (rows of
        // 150..260 pixels) take several chunks per thread, so rows are kept between chunks.
        for (int wide = 0; wide < 2; ++wide) {
            const Shape in = wide ? Shape{2, r.integer(9, 14), r.integer(150, 260), c.cin}
                                  : Shape{2, r.integer(3, 11), r.integer(3, 11), c.cin};
            const Tensor<float> x = random_tensor(r, in);
            Tensor<float> out(blk.plan(in));
            std::vector<float> scratch(blk.scratch_floats(in));
            blk.forward(x.view(), out.view(), scratch.data());
            const auto& src = store.source();
            const Shape os = out.shape();
            const Padding2d p = kernels::conv_padding(in.h, in.w, c.k, c.stride, c.pad);
            NaiveMap t = naive_from(x.view());
            if (!c.ds) {
                t = naive_conv(t, src.read_f32("blk.conv_pw.weight"), s.mid_channels, 1, 1, 0, 0, in.h, in.w, false);
                naive_bn(t, src, "blk.bn1", 1e-5);
                naive_act(t, c.act);
            }
            t = naive_conv(t, src.read_f32("blk.conv_dw.weight"), s.mid_channels, c.k, c.stride, p.top, p.left, os.h, os.w, true);
            naive_bn(t, src, c.ds ? "blk.bn1" : "blk.bn2", 1e-5);
            naive_act(t, c.act);
            if (c.rd) naive_se(t, src, "blk.se", c.rd);
            t = naive_conv(t, src.read_f32(c.ds ? "blk.conv_pw.weight" : "blk.conv_pwl.weight"), c.cout, 1, 1, 0, 0, os.h, os.w, false);
            naive_bn(t, src, c.ds ? "blk.bn2" : "blk.bn3", 1e-5);
            if (s.has_skip())
                for (std::size_t i = 0; i < t.v.size(); ++i) t.v[i] += x.data()[i];
            const auto e = naive_error(t, out.view());
            INFO("wide ", wide, " ds ", c.ds, " cin ", c.cin, " cout ", c.cout, " k ", c.k, " s ", c.stride, " rd ", c.rd, " in ", in.str(),
                 " max abs ", e.first, " max ref ", e.second);
            CHECK(e.first <= 2e-5 * std::max(1.0, e.second));
        }
    }
}

TEST_CASE("mbconv: names follow timm, SE only when asked") {
    nn::MBConvSpec s;
    s.prefix = "backbone.blocks.1.0";
    s.in_channels = 16;
    s.out_channels = 24;
    s.mid_channels = 96;
    s.stride = 2;
    s.se_reduced = 4;
    nn::Binder lister(nullptr);
    nn::MBConv blk(s, lister);
    std::vector<std::string> names;
    for (const auto& p : lister.params()) names.push_back(p.name);
    const std::vector<std::string> want = {
        "backbone.blocks.1.0.conv_pw.weight",         "backbone.blocks.1.0.bn1.weight",
        "backbone.blocks.1.0.bn1.bias",               "backbone.blocks.1.0.bn1.running_mean",
        "backbone.blocks.1.0.bn1.running_var",        "backbone.blocks.1.0.bn1.num_batches_tracked",
        "backbone.blocks.1.0.conv_dw.weight",         "backbone.blocks.1.0.bn2.weight",
        "backbone.blocks.1.0.bn2.bias",               "backbone.blocks.1.0.bn2.running_mean",
        "backbone.blocks.1.0.bn2.running_var",        "backbone.blocks.1.0.bn2.num_batches_tracked",
        "backbone.blocks.1.0.se.conv_reduce.weight",  "backbone.blocks.1.0.se.conv_reduce.bias",
        "backbone.blocks.1.0.se.conv_expand.weight",  "backbone.blocks.1.0.se.conv_expand.bias",
        "backbone.blocks.1.0.conv_pwl.weight",        "backbone.blocks.1.0.bn3.weight",
        "backbone.blocks.1.0.bn3.bias",               "backbone.blocks.1.0.bn3.running_mean",
        "backbone.blocks.1.0.bn3.running_var",        "backbone.blocks.1.0.bn3.num_batches_tracked"};
    CHECK(names == want);
    CHECK_FALSE(s.has_skip());
}

TEST_CASE("squeeze-excite layer on its own: x *= gate(x), equal to the naive composition") {
    Random r(5);
    for (int iter = 0; iter < 6; ++iter) {
        nn::SqueezeExciteSpec s;
        s.prefix = "se";
        s.channels = r.integer(1, 40);
        s.reduced = r.integer(1, 8);
        ParamStore store(r);
        nn::SqueezeExcite se(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::SqueezeExcite t(s, b); }));
        const Shape in{r.integer(1, 2), r.integer(1, 9), r.integer(1, 9), s.channels};
        Tensor<float> x = random_tensor(r, in);
        NaiveMap want = naive_from(x.view());
        naive_se(want, store.source(), "se", s.reduced);
        std::vector<float> scratch(static_cast<std::size_t>(in.n) * s.channels + s.channels + s.reduced);
        se.forward(x.view(), scratch.data());
        const auto e = naive_error(want, x.view());
        INFO("c ", s.channels, " rd ", s.reduced, " in ", in.str(), " max abs ", e.first);
        CHECK(e.first <= 1e-5 * std::max(1.0, e.second));
    }
}

TEST_CASE("squeeze-excite gates: pooled on two threads, bit-identical to one thread and to the kernel's own pool") {
    // Large enough (hw * c >= 2^16) for the two-thread split of the cascade's first level;
    // odd sizes so the halves differ in length.
    Random r(11);
    nn::SqueezeExciteSpec s;
    s.prefix = "se";
    s.channels = 37;
    s.reduced = 5;
    ParamStore store(r);
    nn::SqueezeExcite se(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::SqueezeExcite t(s, b); }));
    const Shape in{2, 61, 47, s.channels};
    Tensor<float> x = random_tensor(r, in);
    const std::size_t gates = static_cast<std::size_t>(in.n) * s.channels;
    std::vector<float> scratch(s.channels + s.reduced);
    auto run = [&](int threads) {
        edet::set_num_threads(threads);
        std::vector<float> g(gates);
        se.gates(x.view(), g.data(), scratch.data());
        edet::set_num_threads(0);
        return g;
    };
    const std::vector<float> one = run(1), two = run(2);
    CHECK(std::memcmp(one.data(), two.data(), gates * sizeof(float)) == 0);
    // The kernel pooling by itself (no `pooled` given: kernels::global_average_pool) gives
    // the same gates.
    const std::vector<float> rw = store.values("se.conv_reduce.weight"), rb = store.values("se.conv_reduce.bias");
    const std::vector<float> ew = store.values("se.conv_expand.weight"), eb = store.values("se.conv_expand.bias");
    std::vector<float> own(gates);
    edet::kernels::SqueezeExciteArgs a;
    a.input = x.data();
    a.shape = in;
    a.reduced = s.reduced;
    a.reduce_weights = rw.data();
    a.reduce_bias = rb.data();
    a.expand_weights = ew.data();
    a.expand_bias = eb.data();
    a.activation = s.activation;
    a.gate = own.data();
    a.scratch = scratch.data();
    edet::kernels::squeeze_excite_gate(a);
    CHECK(std::memcmp(one.data(), own.data(), gates * sizeof(float)) == 0);
}

TEST_CASE("mbconv with SE: 1 and 2 threads give bit-identical outputs (pool fused or not, even and odd heights)") {
    Random r(13);
    for (int ds = 0; ds < 2; ++ds) {
        nn::MBConvSpec s;
        s.prefix = "blk";
        s.depthwise_separable = ds == 1;
        s.in_channels = 24;
        s.out_channels = 24;
        s.mid_channels = ds ? 24 : 144;
        s.kernel = 3;
        s.stride = 1;
        s.se_reduced = 6;
        ParamStore store(r);
        nn::MBConv blk(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::MBConv t(s, b); }));
        for (const Shape& in : {Shape{1, 40, 33, 24}, Shape{1, 41, 30, 24}, Shape{2, 17, 50, 24}, Shape{3, 20, 20, 24}}) {
            const Tensor<float> x = random_tensor(r, in);
            std::vector<float> scratch(blk.scratch_floats(in));
            auto run = [&](int threads) {
                Tensor<float> out(blk.plan(in));
                edet::set_num_threads(threads);
                blk.forward(x.view(), out.view(), scratch.data());
                edet::set_num_threads(0);
                return std::vector<float>(out.data(), out.data() + out.shape().numel());
            };
            const std::vector<float> one = run(1), two = run(2);
            INFO("ds ", ds, " in ", in.str());
            CHECK(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0);
        }
    }
}

// Small maps split over threads are expanded whole (MBConv::expands_whole) instead of by
// fused row bands: the choice follows the halo rows a band repeats, and the outputs are
// bit-identical to the fused bands of one thread, with and without SE, at 2 and 3 threads.
TEST_CASE("mbconv: small maps at 2+ threads are expanded whole, bit-identical to the fused bands") {
    Random r(17);
    struct Case { int k, stride, rd; Shape in; bool whole_at_2; };
    const Case cases[] = {
        {5, 1, 4, Shape{1, 16, 16, 24}, true},    // D0 blocks.5: 4 halo rows of 16
        {3, 1, 0, Shape{1, 20, 20, 24}, true},    // Lite0 blocks.4: 2 of 20
        {3, 1, 4, Shape{1, 32, 32, 24}, false},   // D0 blocks.3: 2 of 32
        {5, 2, 0, Shape{1, 20, 17, 24}, true},    // stride 2: 3 of 20
        {3, 2, 4, Shape{1, 10, 9, 24}, true},     // 1 of 10: a tenth
        {3, 2, 4, Shape{1, 11, 9, 24}, false},    // 1 of 11
        {3, 1, 4, Shape{2, 16, 16, 24}, false},   // a batch: 2 of 32 rows
        {3, 1, 0, Shape{1, 1, 1, 24}, true},      // 1x1
    };
    for (const Case& c : cases) {
        nn::MBConvSpec s;
        s.prefix = "blk";
        s.in_channels = 24;
        s.out_channels = 24;
        s.mid_channels = 144;
        s.kernel = c.k;
        s.stride = c.stride;
        s.se_reduced = c.rd;
        s.activation = c.rd ? Activation::swish : Activation::relu6;
        ParamStore store(r);
        nn::MBConv blk(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::MBConv t(s, b); }));
        INFO("k ", c.k, " s ", c.stride, " se ", c.rd, " in ", c.in.str());
        CHECK_FALSE(blk.expands_whole(c.in, 1));
        CHECK(blk.expands_whole(c.in, 2) == c.whole_at_2);
        CHECK(blk.expands_whole(c.in, 3) == (c.whole_at_2 || 20 * (c.k - c.stride) >= c.in.n * c.in.h));
        const Tensor<float> x = random_tensor(r, c.in);
        std::vector<float> scratch(blk.scratch_floats(c.in));
        auto run = [&](int threads) {
            Tensor<float> out(blk.plan(c.in));
            edet::set_num_threads(threads);
            blk.forward(x.view(), out.view(), scratch.data());
            edet::set_num_threads(0);
            return std::vector<float>(out.data(), out.data() + out.shape().numel());
        };
        const std::vector<float> one = run(1);
        for (int threads : {2, 3}) {
            CAPTURE(threads);
            const std::vector<float> many = run(threads);
            CHECK(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)) == 0);
        }
    }
    // Too large to stay in the caches: never expanded whole.
    nn::MBConvSpec s;
    s.prefix = "blk";
    s.in_channels = 16;
    s.out_channels = 16;
    s.mid_channels = 1152;
    s.kernel = 5;
    ParamStore store(r);
    nn::MBConv blk(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::MBConv t(s, b); }));
    CHECK(blk.expands_whole(Shape{1, 16, 16, 16}, 2));
    CHECK_FALSE(blk.expands_whole(Shape{1, 24, 24, 16}, 2));  // 2.65 MB > kWholeExpandBytes
}
