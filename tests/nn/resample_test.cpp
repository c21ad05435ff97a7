// Tests for edet/nn/resample.hpp: which op runs, nearest source rows for odd sizes, and
// max pooling with -inf padding.
#include <doctest/doctest.h>

#include <limits>

#include "edet/nn/resample.hpp"
#include "nn/nn_test_util.hpp"

using namespace edet;
using namespace edet_test;

TEST_CASE("resample: op selection follows the reference") {
    using nn::Resample;
    using nn::ResampleOp;
    CHECK(Resample::op_for(8, 8, 4, 4) == ResampleOp::downsample);
    CHECK(Resample::op_for(4, 4, 7, 7) == ResampleOp::upsample);
    CHECK(Resample::op_for(5, 5, 5, 5) == ResampleOp::identity);
    CHECK(Resample::op_for(2, 1, 1, 1) == ResampleOp::identity);  // not smaller on both axes
}

TEST_CASE("resample: nearest 4 -> 7 reads rows 0 0 1 1 2 2 3 (lite2's P7 -> P6)") {
    nn::ResampleSpec s;
    s.prefix = "r";
    s.in_channels = s.out_channels = 2;
    nn::Binder lister(nullptr);
    nn::Resample r(s, lister);
    CHECK_FALSE(r.has_conv());
    CHECK(lister.params().empty());
    Tensor<float> in(Shape{1, 4, 3, 2});
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 3; ++x)
            for (int c = 0; c < 2; ++c) in.at(0, y, x, c) = static_cast<float>(y * 10 + x);
    Tensor<float> out(r.plan(in.shape(), 7, 5));
    r.forward(in.view(), out.view(), nullptr);
    const int rows[7] = {0, 0, 1, 1, 2, 2, 3};
    const int cols[5] = {0, 0, 1, 1, 2};  // 3 -> 5 (lite0's P7)
    for (int y = 0; y < 7; ++y)
        for (int x = 0; x < 5; ++x) {
            CAPTURE(y);
            CAPTURE(x);
            CHECK(out.at(0, y, x, 1) == static_cast<float>(rows[y] * 10 + cols[x]));
        }
}

TEST_CASE("resample: conv + BN then max pool; padding never wins") {
    Random rnd(2);
    for (PaddingMode pad : {PaddingMode::tf_same, PaddingMode::symmetric}) {
        nn::ResampleSpec s;
        s.prefix = "fpn.resample.3";
        s.in_channels = 5;
        s.out_channels = 3;
        s.padding = pad;
        ParamStore store(rnd);
        nn::Resample r(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::Resample t(s, b); }));
        CHECK(r.has_conv());
        // all-negative conv output: a zero-padded pool would return 0 at the border
        Tensor<float> in = random_tensor(rnd, Shape{2, 5, 6, 5});
        const Shape os = r.plan(in.shape(), 3, 3);
        Tensor<float> out(os);
        std::vector<float> scratch(r.scratch_floats(in.shape(), 3, 3));
        r.forward(in.view(), out.view(), scratch.data());
        NaiveMap conv = naive_conv(naive_from(in.view()), store.values("fpn.resample.3.conv.conv.weight"), 3, 1, 1, 0, 0, 5, 6,
                                   false, store.values("fpn.resample.3.conv.conv.bias"));
        naive_bn(conv, store.source(), "fpn.resample.3.conv.bn", 1e-3);
        // 5 -> 3: tf_same total = (3-1)*2+3-5 = 2 -> 1/1; 6 -> 3: total 1 -> 0/1; symmetric 1/1
        const int top = 1, left = pad == PaddingMode::tf_same ? 0 : 1;
        NaiveMap want{2, 3, 3, 3, std::vector<double>(54)};
        for (int b = 0; b < 2; ++b)
            for (int y = 0; y < 3; ++y)
                for (int x = 0; x < 3; ++x)
                    for (int c = 0; c < 3; ++c) {
                        double m = -std::numeric_limits<double>::infinity();
                        for (int ky = 0; ky < 3; ++ky)
                            for (int kx = 0; kx < 3; ++kx) {
                                const int iy = 2 * y + ky - top, ix = 2 * x + kx - left;
                                if (iy >= 0 && iy < 5 && ix >= 0 && ix < 6) m = std::max(m, conv.at(b, iy, ix, c));
                            }
                        want.at(b, y, x, c) = m;
                    }
        const auto e = naive_error(want, out.view());
        CAPTURE(e.first);
        CHECK(e.first <= 1e-5 * std::max(1.0, e.second));
    }
}
