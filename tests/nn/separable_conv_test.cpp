// Tests for edet/nn/separable_conv.hpp: SeparableConv = dw -> pw -> BN -> act against a
// naive double-precision evaluation, and its pointwise epilogue.
#include <doctest/doctest.h>

#include "edet/nn/separable_conv.hpp"
#include "nn/nn_test_util.hpp"

using namespace edet;
using namespace edet_test;

TEST_CASE("separable_conv: SeparableConv = dw -> pw -> BN -> act; the pointwise half takes a residual epilogue") {
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
    kernels::PointwiseEpilogue with_residual = sep.pointwise().epilogue();
    with_residual.residual = x.data();
    sep.pointwise().forward(x.view(), res.view(), with_residual);
    NaiveMap w2 = naive_conv(naive_from(x.view()), store.values("sep.conv_pw.weight"), 6, 1, 1, 0, 0, 5, 7, false, store.values("sep.conv_pw.bias"));
    naive_bn(w2, store.source(), "sep.bn", 1e-3);
    naive_act(w2, Activation::swish);
    for (std::size_t i = 0; i < w2.v.size(); ++i) w2.v[i] += x.data()[i];
    e = naive_error(w2, res.view());
    CAPTURE(e.first);
    CHECK(e.first <= 1e-5 * std::max(1.0, e.second));
}
