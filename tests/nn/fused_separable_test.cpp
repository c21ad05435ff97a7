// Tests for edet/nn/fused_separable.hpp: depthwise_pointwise against the two convs run one
// after the other.
#include <doctest/doctest.h>

#include <cstring>

#include "edet/nn/fused_separable.hpp"
#include "nn/nn_test_util.hpp"

using namespace edet;
using namespace edet_test;

// depthwise_pointwise runs the two convs by row chunks in one parallel region; it must give
// exactly the bits of dw.forward then pw.forward (residual and panel maxima included), at
// any thread count, for one-chunk maps, stride 2, batches, 1x1 maps and rows so wide
// (48 channels x 1500 pixels = 281 KB) that every chunk is a single row.
TEST_CASE("fused_separable: depthwise_pointwise equals depthwise then pointwise, bit for bit, at 1-3 threads") {
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
        d.in_channels = d.out_channels = c.in.c;
        d.kernel = c.k;
        d.stride = c.stride;
        d.activation = Activation::swish;
        nn::ConvSpec p;
        p.conv = "pw";
        p.bn = "bn";
        p.in_channels = c.in.c;
        p.out_channels = c.cout;
        p.activation = c.residual ? Activation::none : Activation::swish;
        ParamStore store(r);
        nn::Binder& b = store.binder_listing_then_load([&](nn::Binder& l) { nn::DepthwiseConvBn t1(d, l); nn::PointwiseConvBn t2(p, l); });
        const nn::DepthwiseConvBn dw(d, b);
        const nn::PointwiseConvBn pw(p, b);
        const Tensor<float> x = random_tensor(r, c.in);
        const Shape ms = dw.plan(c.in), os = pw.plan(ms);
        const Tensor<float> res = random_tensor(r, os);
        const Shape pm{os.n, os.h, os.w, kernels::pointwise_panel_count(c.cout)};
        Tensor<float> mid(ms), want(os), want_max(pm);
        dw.forward(x.view(), mid.view());
        kernels::PointwiseEpilogue want_e = pw.epilogue();
        want_e.residual = c.residual ? res.data() : nullptr;
        want_e.panel_max = c.panel_max ? want_max.data() : nullptr;
        pw.forward(mid.view(), want.view(), want_e);
        for (int threads : {1, 2, 3}) {
            CAPTURE(threads);
            Tensor<float> got(os), got_max(pm);
            std::vector<float> scratch(ms.numel());
            set_num_threads(threads);
            kernels::PointwiseEpilogue got_e = want_e;
            got_e.panel_max = c.panel_max ? got_max.data() : nullptr;
            nn::depthwise_pointwise(dw, pw, x.view(), got.view(), scratch.data(), got_e);
            set_num_threads(0);
            CHECK(std::memcmp(got.data(), want.data(), want.numel() * sizeof(float)) == 0);
            if (c.panel_max) CHECK(std::memcmp(got_max.data(), want_max.data(), want_max.numel() * sizeof(float)) == 0);
        }
    }
}
