// Tests for edet/nn/conv.hpp: ConvBnAct (dense, pointwise, depthwise; BN folded at bind)
// and SeparableConv against a naive double-precision evaluation, swept over geometry;
// depthwise_pointwise against the two convs run one after the other.
#include <doctest/doctest.h>

#include <cstring>

#include "edet/nn/conv.hpp"
#include "nn/nn_test_util.hpp"

using namespace edet;
using namespace edet_test;

TEST_CASE("conv: ConvBnAct equals conv -> BN -> act for every kind, padding and stride") {
    Random r(5);
    for (nn::ConvKind kind : {nn::ConvKind::dense, nn::ConvKind::depthwise, nn::ConvKind::pointwise})
        for (PaddingMode pad : {PaddingMode::tf_same, PaddingMode::symmetric})
            for (int k : {3, 5})
                for (int stride : {1, 2})
                    for (Activation act : {Activation::none, Activation::swish, Activation::relu6}) {
                        const bool pw = kind == nn::ConvKind::pointwise;
                        if (pw && (k != 3 || stride != 1)) continue;
                        const int kk = pw ? 1 : k, ss = pw ? 1 : stride;
                        const int cin = kind == nn::ConvKind::dense ? 3 : r.integer(1, 19);
                        const int cout = kind == nn::ConvKind::depthwise ? cin : r.integer(1, 21);
                        const Shape in{r.integer(1, 2), r.integer(1, 12), r.integer(1, 12), cin};
                        nn::ConvSpec s;
                        s.conv = "c";
                        s.bn = "bn";
                        s.kind = kind;
                        s.in_channels = cin;
                        s.out_channels = cout;
                        s.kernel = kk;
                        s.stride = ss;
                        s.bias = r.integer(0, 1) == 1;
                        s.bn_eps = 1e-3f;
                        s.activation = act;
                        s.padding = pad;
                        ParamStore store(r);
                        nn::ConvBnAct conv(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::ConvBnAct t(s, b); }));
                        const Tensor<float> x = random_tensor(r, in);
                        const Shape os = conv.plan(in);
                        Tensor<float> out(os);
                        conv.forward(x.view(), out.view());
                        const Padding2d p = conv.padding_for(in);
                        NaiveMap want = naive_conv(naive_from(x.view()), store.values("c.weight"), cout, kk, ss, p.top, p.left,
                                                   os.h, os.w, kind == nn::ConvKind::depthwise,
                                                   s.bias ? store.values("c.bias") : std::vector<float>{});
                        naive_bn(want, store.source(), "bn", 1e-3);
                        naive_act(want, act);
                        const auto e = naive_error(want, out.view());
                        INFO("kind ", static_cast<int>(kind), " pad ", static_cast<int>(pad), " k ", kk, " s ", ss, " act ",
                             to_string(act), " in ", in.str(), " cout ", cout, " max abs ", e.first, " max ref ", e.second);
                        CHECK(e.first <= 1e-5 * std::max(1.0, e.second));
                    }
}

TEST_CASE("conv: TF-same padding puts the odd pixel after; output sizes are ceil(in / stride)") {
    nn::ConvSpec s;
    s.conv = "c";
    s.kind = nn::ConvKind::depthwise;
    s.in_channels = s.out_channels = 4;
    s.kernel = 3;
    s.stride = 2;
    Random r(1);
    ParamStore store(r);
    nn::ConvBnAct conv(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::ConvBnAct t(s, b); }));
    const Padding2d p = conv.padding_for(Shape{1, 10, 11, 4});
    CHECK(p.top == 0);     // total = (5-1)*2 + 3 - 10 = 1 -> 0 before, 1 after
    CHECK(p.bottom == 1);
    CHECK(p.left == 1);    // total = (6-1)*2 + 3 - 11 = 2 -> 1, 1
    CHECK(p.right == 1);
    CHECK(conv.plan(Shape{1, 10, 11, 4}) == Shape{1, 5, 6, 4});
    CHECK_THROWS_AS(conv.plan(Shape{1, 10, 11, 5}), Error);  // channel mismatch
}

TEST_CASE("conv: pointwise residual is added after the activation; SeparableConv = dw -> pw -> BN -> act") {
    Random r(9);
    const Shape in{2, 5, 7, 6};
    nn::SeparableConvSpec s;
    s.prefix = "sep";
    s.in_channels = 6;
    s.out_channels = 6;
    s.pw_bias = true;
    s.bn = true;
    s.activation = Activation::swish;
    ParamStore store(r);
    nn::SeparableConv sep(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::SeparableConv t(s, b); }));
    const Tensor<float> x = random_tensor(r, in);
    Tensor<float> out(sep.plan(in));
    std::vector<float> scratch(sep.scratch_floats(in));
    sep.forward(x.view(), out.view(), scratch.data());
    NaiveMap want = naive_conv(naive_from(x.view()), store.values("sep.conv_dw.weight"), 6, 3, 1, 1, 1, 5, 7, true);
    want = naive_conv(want, store.values("sep.conv_pw.weight"), 6, 1, 1, 0, 0, 5, 7, false, store.values("sep.conv_pw.bias"));
    naive_bn(want, store.source(), "sep.bn", 1e-3);
    naive_act(want, Activation::swish);
    auto e = naive_error(want, out.view());
    CAPTURE(e.first);
    CHECK(e.first <= 1e-5 * std::max(1.0, e.second));
    // residual: pointwise half alone, with x as residual
    Tensor<float> res(in);
    sep.pointwise().forward(x.view(), res.view(), x.data());
    NaiveMap w2 = naive_conv(naive_from(x.view()), store.values("sep.conv_pw.weight"), 6, 1, 1, 0, 0, 5, 7, false, store.values("sep.conv_pw.bias"));
    naive_bn(w2, store.source(), "sep.bn", 1e-3);
    naive_act(w2, Activation::swish);
    for (std::size_t i = 0; i < w2.v.size(); ++i) w2.v[i] += x.data()[i];
    e = naive_error(w2, res.view());
    CAPTURE(e.first);
    CHECK(e.first <= 1e-5 * std::max(1.0, e.second));
}

TEST_CASE("conv: results do not depend on the thread count") {
    Random r(4);
    nn::ConvSpec s;
    s.conv = "c";
    s.bn = "bn";
    s.kind = nn::ConvKind::depthwise;
    s.in_channels = s.out_channels = 48;
    s.kernel = 5;
    s.stride = 2;
    s.activation = Activation::swish;
    ParamStore store(r);
    nn::ConvBnAct conv(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::ConvBnAct t(s, b); }));
    const Shape in{2, 67, 45, 48};
    const Tensor<float> x = random_tensor(r, in);
    Tensor<float> a(conv.plan(in)), b(conv.plan(in));
    set_num_threads(1);
    conv.forward(x.view(), a.view());
    set_num_threads(3);
    conv.forward(x.view(), b.view());
    set_num_threads(0);
    CHECK(std::memcmp(a.data(), b.data(), a.numel() * sizeof(float)) == 0);
}

// depthwise_pointwise runs the two convs by row chunks in one parallel region; it must give
// exactly the bits of dw.forward then pw.forward (residual and panel maxima included), at
// any thread count, for one-chunk maps, stride 2, batches, 1x1 maps and rows so wide
// (48 channels x 1500 pixels = 281 KB) that every chunk is a single row.
TEST_CASE("conv: depthwise_pointwise equals depthwise then pointwise, bit for bit, at 1-3 threads") {
    Random r(31);
    struct Case { Shape in; int k, stride, cout; bool residual, panel_max; };
    const Case cases[] = {
        {Shape{1, 40, 40, 64}, 3, 1, 64, false, false},
        {Shape{2, 9, 11, 19}, 5, 2, 37, false, true},
        {Shape{1, 4, 1500, 48}, 3, 1, 48, true, false},
        {Shape{3, 1, 1, 16}, 3, 1, 16, true, true},
        {Shape{2, 17, 8, 24}, 3, 1, 810, false, true},
    };
    for (const Case& c : cases) {
        CAPTURE(c.in.str());
        nn::ConvSpec d;
        d.conv = "dw";
        d.kind = nn::ConvKind::depthwise;
        d.in_channels = d.out_channels = c.in.c;
        d.kernel = c.k;
        d.stride = c.stride;
        d.activation = Activation::swish;
        nn::ConvSpec p;
        p.conv = "pw";
        p.bn = "bn";
        p.kind = nn::ConvKind::pointwise;
        p.in_channels = c.in.c;
        p.out_channels = c.cout;
        p.activation = c.residual ? Activation::none : Activation::swish;
        ParamStore store(r);
        nn::Binder& b = store.binder_listing_then_load([&](nn::Binder& l) { nn::ConvBnAct t1(d, l), t2(p, l); });
        const nn::ConvBnAct dw(d, b), pw(p, b);
        const Tensor<float> x = random_tensor(r, c.in);
        const Shape ms = dw.plan(c.in), os = pw.plan(ms);
        const Tensor<float> res = random_tensor(r, os);
        const Shape pm{os.n, os.h, os.w, kernels::pointwise_panel_count(c.cout)};
        Tensor<float> mid(ms), want(os), want_max(pm);
        dw.forward(x.view(), mid.view());
        pw.forward(mid.view(), want.view(), c.residual ? res.data() : nullptr, c.panel_max ? want_max.data() : nullptr);
        for (int threads : {1, 2, 3}) {
            CAPTURE(threads);
            Tensor<float> got(os), got_max(pm);
            std::vector<float> scratch(ms.numel());
            set_num_threads(threads);
            nn::depthwise_pointwise(dw, pw, x.view(), got.view(), scratch.data(), c.residual ? res.data() : nullptr,
                                    c.panel_max ? got_max.data() : nullptr);
            set_num_threads(0);
            CHECK(std::memcmp(got.data(), want.data(), want.numel() * sizeof(float)) == 0);
            if (c.panel_max) CHECK(std::memcmp(got_max.data(), want_max.data(), want_max.numel() * sizeof(float)) == 0);
        }
    }
}
