// Tests for edet/nn/conv.hpp: PointwiseConvBn, DepthwiseConvBn and DenseConvBn (BN folded
// at bind by fold_batch_norm) against a naive double-precision evaluation, swept over
// geometry; the pointwise residual epilogue; fold_batch_norm itself.
#include <doctest/doctest.h>

#include <cstring>

#include "edet/nn/conv.hpp"
#include "nn/nn_test_util.hpp"

using namespace edet;
using namespace edet_test;

namespace {

enum class ConvTestKind { dense, pointwise, depthwise };

// Binds a Layer from `s` (listing, then loading from `store`) and runs it on x.
template <class Layer>
Tensor<float> conv_test_run(const nn::ConvSpec& s, ParamStore& store, const Tensor<float>& x, Padding2d* pad) {
    Layer conv(s, store.binder_listing_then_load([&](nn::Binder& b) { Layer t(s, b); }));
    Tensor<float> out(conv.plan(x.shape()));
    conv.forward(x.view(), out.view());
    *pad = conv.padding_for(x.shape());
    return out;
}

}  // namespace

TEST_CASE("conv: each conv kind equals conv -> BN -> act for every padding and stride") {
    Random r(5);
    for (ConvTestKind kind : {ConvTestKind::dense, ConvTestKind::depthwise, ConvTestKind::pointwise})
        for (PaddingMode pad : {PaddingMode::tf_same, PaddingMode::symmetric})
            for (int k : {3, 5})
                for (int stride : {1, 2})
                    for (Activation act : {Activation::none, Activation::swish, Activation::relu6}) {
                        const bool pw = kind == ConvTestKind::pointwise;
                        if (pw && (k != 3 || stride != 1)) continue;
                        const int kk = pw ? 1 : k, ss = pw ? 1 : stride;
                        const int cin = kind == ConvTestKind::dense ? 3 : r.integer(1, 19);
                        const int cout = kind == ConvTestKind::depthwise ? cin : r.integer(1, 21);
                        const Shape in{r.integer(1, 2), r.integer(1, 12), r.integer(1, 12), cin};
                        nn::ConvSpec s;
                        s.conv = "c";
                        s.bn = "bn";
                        s.in_channels = cin;
                        s.out_channels = cout;
                        s.kernel = kk;
                        s.stride = ss;
                        s.bias = r.integer(0, 1) == 1;
                        s.bn_eps = 1e-3f;
                        s.activation = act;
                        s.padding = pad;
                        ParamStore store(r);
                        const Tensor<float> x = random_tensor(r, in);
                        Padding2d p;
                        const Tensor<float> out = kind == ConvTestKind::dense ? conv_test_run<nn::DenseConvBn>(s, store, x, &p)
                                                  : kind == ConvTestKind::pointwise ? conv_test_run<nn::PointwiseConvBn>(s, store, x, &p)
                                                                                    : conv_test_run<nn::DepthwiseConvBn>(s, store, x, &p);
                        const Shape os = out.shape();
                        NaiveMap want = naive_conv(naive_from(x.view()), store.values("c.weight"), cout, kk, ss, p.top, p.left,
                                                   os.h, os.w, kind == ConvTestKind::depthwise,
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
    s.in_channels = s.out_channels = 4;
    s.kernel = 3;
    s.stride = 2;
    Random r(1);
    ParamStore store(r);
    nn::DepthwiseConvBn conv(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::DepthwiseConvBn t(s, b); }));
    const Padding2d p = conv.padding_for(Shape{1, 10, 11, 4});
    CHECK(p.top == 0);     // total = (5-1)*2 + 3 - 10 = 1 -> 0 before, 1 after
    CHECK(p.bottom == 1);
    CHECK(p.left == 1);    // total = (6-1)*2 + 3 - 11 = 2 -> 1, 1
    CHECK(p.right == 1);
    CHECK(conv.plan(Shape{1, 10, 11, 4}) == Shape{1, 5, 6, 4});
    CHECK_THROWS_AS(conv.plan(Shape{1, 10, 11, 5}), Error);  // channel mismatch
}

TEST_CASE("conv: results do not depend on the thread count") {
    Random r(4);
    nn::ConvSpec s;
    s.conv = "c";
    s.bn = "bn";
    s.in_channels = s.out_channels = 48;
    s.kernel = 5;
    s.stride = 2;
    s.activation = Activation::swish;
    ParamStore store(r);
    nn::DepthwiseConvBn conv(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::DepthwiseConvBn t(s, b); }));
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

TEST_CASE("conv: the pointwise residual epilogue is added after the activation") {
    Random r(9);
    const Shape in{2, 5, 7, 6};
    nn::ConvSpec s;
    s.conv = "pw";
    s.bn = "bn";
    s.in_channels = s.out_channels = 6;
    s.bias = true;
    s.activation = Activation::swish;
    ParamStore store(r);
    nn::PointwiseConvBn pw(s, store.binder_listing_then_load([&](nn::Binder& b) { nn::PointwiseConvBn t(s, b); }));
    const Tensor<float> x = random_tensor(r, in);
    Tensor<float> res(in);
    kernels::PointwiseEpilogue e = pw.epilogue();
    e.residual = x.data();
    pw.forward(x.view(), res.view(), e);
    NaiveMap want = naive_conv(naive_from(x.view()), store.values("pw.weight"), 6, 1, 1, 0, 0, 5, 7, false, store.values("pw.bias"));
    naive_bn(want, store.source(), "bn", 1e-3);
    naive_act(want, Activation::swish);
    for (std::size_t i = 0; i < want.v.size(); ++i) want.v[i] += x.data()[i];
    const auto err = naive_error(want, res.view());
    CAPTURE(err.first);
    CHECK(err.first <= 1e-5 * std::max(1.0, err.second));
}

TEST_CASE("conv: fold_batch_norm folds in double and keeps or drops the bias") {
    const std::vector<float> w{1.0f, -2.0f, 0.5f, 3.0f};  // 2 outputs x 2
    nn::BatchNormAffine bn;
    bn.scale = {0.1, 2.0};
    bn.shift = {0.25, -1.0};
    const nn::FoldedConv f = nn::fold_batch_norm(w, {1.0f, 2.0f}, bn, 2);
    CHECK(f.weights == std::vector<float>{static_cast<float>(1.0 * 0.1), static_cast<float>(-2.0 * 0.1), 1.0f, 6.0f});
    CHECK(f.bias == std::vector<float>{static_cast<float>(1.0 * 0.1 + 0.25), 3.0f});
    const nn::FoldedConv no_bias = nn::fold_batch_norm(w, {}, bn, 2);
    CHECK(no_bias.bias == std::vector<float>{0.25f, -1.0f});
    const nn::FoldedConv plain = nn::fold_batch_norm(w, {}, nn::BatchNormAffine{}, 2);
    CHECK(plain.weights == w);
    CHECK(plain.bias.empty());
}

TEST_CASE("conv: a pointwise conv must be 1x1 stride 1; a depthwise conv keeps its channels") {
    Random r(2);
    ParamStore store(r);
    nn::ConvSpec s;
    s.conv = "c";
    s.in_channels = 4;
    s.out_channels = 5;
    s.kernel = 3;
    nn::Binder listing(nullptr);
    CHECK_THROWS_AS(nn::PointwiseConvBn(s, listing), Error);
    CHECK_THROWS_AS(nn::DepthwiseConvBn(s, listing), Error);
}
