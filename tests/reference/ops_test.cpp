// Tests for edet/reference/ops.hpp: each plain operation on cases small enough to work out
// by hand (the expected values below are written from the definitions, not computed by
// edet).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "edet/reference/ops.hpp"

namespace ref = edet::reference;
using edet::Shape;
using edet::Tensor;

namespace {
Tensor<float> ops_tensor(Shape s, std::vector<float> v) { return Tensor<float>(s, v.data()); }
}  // namespace

TEST_CASE("reference ops: 3x3 conv, TF same padding, stride 2 on a 4x4 image") {
    // TF same, in 4, k 3, s 2: out 2, total padding 1 -> 0 before, 1 after.
    std::vector<float> v(16);
    for (int i = 0; i < 16; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(i + 1);  // rows 1-4, 5-8, 9-12, 13-16
    const Tensor<float> x = ops_tensor(Shape{1, 4, 4, 1}, v);
    const std::vector<float> ones(9, 1.0f), bias{0.5f};
    const Tensor<float> y = ref::conv2d(x.view(), ones, 1, 3, 2, edet::PaddingMode::tf_same, &bias);
    REQUIRE(y.shape() == Shape{1, 2, 2, 1});
    CHECK(y.at(0, 0, 0, 0) == doctest::Approx(1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11 + 0.5));
    CHECK(y.at(0, 1, 1, 0) == doctest::Approx(11 + 12 + 15 + 16 + 0.5));  // the window's last row/column is padding
    // Symmetric padding (1 each side): the first window is centred on pixel (0, 0).
    const Tensor<float> z = ref::conv2d(x.view(), ones, 1, 3, 2, edet::PaddingMode::symmetric);
    CHECK(z.at(0, 0, 0, 0) == doctest::Approx(1 + 2 + 5 + 6));
}

TEST_CASE("reference ops: dense conv sums over input channels with OIHW weights") {
    const Tensor<float> x = ops_tensor(Shape{1, 1, 1, 2}, {2.0f, 3.0f});
    const std::vector<float> w{10.0f, 100.0f, -1.0f, 1.0f};  // [2 out][2 in][1][1]
    const Tensor<float> y = ref::conv2d(x.view(), w, 2, 1, 1, edet::PaddingMode::tf_same);
    CHECK(y.at(0, 0, 0, 0) == doctest::Approx(320.0));
    CHECK(y.at(0, 0, 0, 1) == doctest::Approx(1.0));
    const Tensor<float> p = ref::pointwise_conv2d(x.view(), w, 2);
    CHECK(p.at(0, 0, 0, 0) == y.at(0, 0, 0, 0));
    CHECK(p.at(0, 0, 0, 1) == y.at(0, 0, 0, 1));
}

TEST_CASE("reference ops: depthwise conv keeps channels apart") {
    // 3x3 image, 2 channels: channel 0 all 1, channel 1 all 2; kernel 3, stride 1, same.
    std::vector<float> v;
    for (int i = 0; i < 9; ++i) v.insert(v.end(), {1.0f, 2.0f});
    const Tensor<float> x = ops_tensor(Shape{1, 3, 3, 2}, v);
    std::vector<float> w(18, 1.0f);
    for (int i = 9; i < 18; ++i) w[static_cast<std::size_t>(i)] = 10.0f;  // channel 1's kernel
    const Tensor<float> y = ref::depthwise_conv2d(x.view(), w, 3, 1, edet::PaddingMode::tf_same);
    CHECK(y.at(0, 1, 1, 0) == doctest::Approx(9.0));    // 9 taps of 1
    CHECK(y.at(0, 1, 1, 1) == doctest::Approx(180.0));  // 9 taps of 2 * 10
    CHECK(y.at(0, 0, 0, 0) == doctest::Approx(4.0));    // corner: 4 taps inside
}

TEST_CASE("reference ops: batch norm, activations, residual add, SE pieces") {
    Tensor<float> x = ops_tensor(Shape{1, 1, 2, 1}, {3.0f, -1.0f});
    ref::BatchNorm bn{{2.0f}, {1.0f}, {1.0f}, {3.0f}, 1.0f};  // (x - 1) / 2 * 2 + 1 = x
    ref::batch_norm(x, bn);
    CHECK(x.at(0, 0, 0, 0) == doctest::Approx(3.0));
    CHECK(x.at(0, 0, 1, 0) == doctest::Approx(-1.0));
    CHECK(ref::activation(7.0f, edet::Activation::relu6) == 6.0f);
    CHECK(ref::activation(-7.0f, edet::Activation::relu6) == 0.0f);
    CHECK(ref::activation(1.0f, edet::Activation::swish) == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))));
    CHECK(ref::activation(0.0f, edet::Activation::sigmoid) == doctest::Approx(0.5));
    const Tensor<float> y = ops_tensor(Shape{1, 1, 2, 1}, {1.0f, 1.0f});
    ref::add(x, y.view());
    CHECK(x.at(0, 0, 0, 0) == doctest::Approx(4.0));
    const std::vector<float> means = ref::channel_means(x.view());
    CHECK(means[0] == doctest::Approx((4.0 + 0.0) / 2));
    ref::scale_channels(x, {0.5f});
    CHECK(x.at(0, 0, 0, 0) == doctest::Approx(2.0));
}

TEST_CASE("reference ops: max pool pads with -inf, nearest resize picks floor(d * in / out)") {
    const Tensor<float> x = ops_tensor(Shape{1, 2, 2, 1}, {-5.0f, -6.0f, -7.0f, -8.0f});
    // k 3, s 2 on 2x2, TF same: out 1, total padding 1 -> the window is rows/cols 0..2.
    const Tensor<float> y = ref::max_pool2d(x.view(), 3, 2, edet::PaddingMode::tf_same);
    REQUIRE(y.shape() == Shape{1, 1, 1, 1});
    CHECK(y.at(0, 0, 0, 0) == -5.0f);  // zero padding would give 0
    const Tensor<float> r = ref::resize_nearest(ops_tensor(Shape{1, 1, 3, 1}, {1.0f, 2.0f, 3.0f}).view(), 1, 5);
    // scale 3/5 = 0.6: d = 0..4 -> 0, 0, 1, 1, 2
    const float want[5] = {1, 1, 2, 2, 3};
    for (int i = 0; i < 5; ++i) CHECK(r.at(0, 0, i, 0) == want[i]);
}

TEST_CASE("reference ops: wrong weight sizes are refused") {
    const Tensor<float> x(Shape{1, 2, 2, 3});
    CHECK_THROWS_AS(ref::pointwise_conv2d(x.view(), std::vector<float>(5), 2), edet::Error);
    CHECK_THROWS_AS(ref::depthwise_conv2d(x.view(), std::vector<float>(9), 3, 1, edet::PaddingMode::tf_same), edet::Error);
    CHECK_THROWS_AS(ref::conv2d(x.view(), std::vector<float>(9), 1, 3, 1, edet::PaddingMode::tf_same), edet::Error);
}
