// edet/reference/ops.hpp - the operations EfficientDet is made of, written plainly: one
// loop nest per operation over NHWC float tensors, no SIMD, no threads, no fusion.
//
// This is the reference path's vocabulary (reference/mbconv.hpp, bifpn.hpp, head.hpp and
// efficientdet.hpp are written in it). The fast path (nn/, kernels/) computes the same
// functions with packed weights, folded batch norms and fused row bands; tests hold it to
// this path. Conventions, as in the checkpoints:
//   - conv weights are PyTorch's [out, in / groups, k, k] (OIHW), read as stored;
//   - batch norm is eval mode, kept as its four tensors (not folded);
//   - products are summed in double, so the reference's own rounding stays far below the
//     float32 differences between implementations it is used to judge.
// Geometry (padding, output sizes) is kernels/padding.hpp's: plain functions of the
// variant's padding rule, shared with the fast path.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/kernels/op_kinds.hpp"
#include "edet/kernels/padding.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN
namespace reference {

// A copy of a view (the reference passes tensors by value where a layer keeps its input,
// e.g. for the residual add).
inline Tensor<float> copy(TensorView<const float> x) {
    Tensor<float> t(x.shape());
    for (int n = 0; n < x.n(); ++n)
        for (int y = 0; y < x.h(); ++y)
            for (int xx = 0; xx < x.w(); ++xx)
                for (int c = 0; c < x.c(); ++c) t.at(n, y, xx, c) = x.at(n, y, xx, c);
    return t;
}

// Output shape of a k x k window with stride s under the variant's padding rule.
inline Shape window_output(const Shape& in, int kernel, int stride, PaddingMode mode, Padding2d* pad) {
    *pad = kernels::conv_padding(in.h, in.w, kernel, stride, mode);
    return Shape{in.n, kernels::conv_output_size(in.h, kernel, stride, pad->top, pad->bottom),
                 kernels::conv_output_size(in.w, kernel, stride, pad->left, pad->right), in.c};
}

// y[n, oy, ox, co] = bias[co] + sum_{ky, kx, ci} x[n, oy*s + ky - top, ox*s + kx - left, ci] * w[co, ci, ky, kx]
// (zero outside the image). A dense convolution: the stem.
inline Tensor<float> conv2d(TensorView<const float> x, const std::vector<float>& w, int out_channels, int kernel, int stride,
                            PaddingMode mode, const std::vector<float>* bias = nullptr) {
    const int cin = x.c(), k = kernel;
    if (w.size() != static_cast<std::size_t>(out_channels) * cin * k * k)
        fail("weights", "reference::conv2d", cat(w.size(), " values for ", out_channels, "x", cin, "x", k, "x", k));
    Padding2d pad;
    Shape os = window_output(x.shape(), k, stride, mode, &pad);
    os.c = out_channels;
    Tensor<float> y(os);
    for (int n = 0; n < os.n; ++n)
        for (int oy = 0; oy < os.h; ++oy)
            for (int ox = 0; ox < os.w; ++ox)
                for (int co = 0; co < out_channels; ++co) {
                    double sum = bias ? (*bias)[static_cast<std::size_t>(co)] : 0.0;
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) {
                            const int iy = oy * stride + ky - pad.top, ix = ox * stride + kx - pad.left;
                            if (iy < 0 || iy >= x.h() || ix < 0 || ix >= x.w()) continue;
                            for (int ci = 0; ci < cin; ++ci)
                                sum += static_cast<double>(x.at(n, iy, ix, ci)) *
                                       w[((static_cast<std::size_t>(co) * cin + ci) * k + ky) * k + kx];
                        }
                    y.at(n, oy, ox, co) = static_cast<float>(sum);
                }
    return y;
}

// y[n, oy, ox, c] = sum_{ky, kx} x[n, oy*s + ky - top, ox*s + kx - left, c] * w[c, 0, ky, kx]:
// each channel convolved alone (groups = channels).
inline Tensor<float> depthwise_conv2d(TensorView<const float> x, const std::vector<float>& w, int kernel, int stride,
                                      PaddingMode mode) {
    const int C = x.c(), k = kernel;
    if (w.size() != static_cast<std::size_t>(C) * k * k)
        fail("weights", "reference::depthwise_conv2d", cat(w.size(), " values for ", C, "x1x", k, "x", k));
    Padding2d pad;
    const Shape os = window_output(x.shape(), k, stride, mode, &pad);
    Tensor<float> y(os);
    for (int n = 0; n < os.n; ++n)
        for (int oy = 0; oy < os.h; ++oy)
            for (int ox = 0; ox < os.w; ++ox)
                for (int c = 0; c < C; ++c) {
                    double sum = 0;
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) {
                            const int iy = oy * stride + ky - pad.top, ix = ox * stride + kx - pad.left;
                            if (iy < 0 || iy >= x.h() || ix < 0 || ix >= x.w()) continue;
                            sum += static_cast<double>(x.at(n, iy, ix, c)) * w[(static_cast<std::size_t>(c) * k + ky) * k + kx];
                        }
                    y.at(n, oy, ox, c) = static_cast<float>(sum);
                }
    return y;
}

// y[p, co] = bias[co] + sum_ci W[co, ci] * x[p, ci] at every pixel p: a 1x1 convolution,
// a matrix product over the channels.
inline Tensor<float> pointwise_conv2d(TensorView<const float> x, const std::vector<float>& w, int out_channels,
                                      const std::vector<float>* bias = nullptr) {
    const std::size_t cin = static_cast<std::size_t>(x.c()), cout = static_cast<std::size_t>(out_channels);
    if (w.size() != cin * cout) fail("weights", "reference::pointwise_conv2d", cat(w.size(), " values for ", cout, "x", cin));
    Shape os = x.shape();
    os.c = out_channels;
    Tensor<float> y(os);
    for (int n = 0; n < os.n; ++n)
        for (int py = 0; py < os.h; ++py)
            for (int px = 0; px < os.w; ++px) {
                const float* in = &x.at(n, py, px, 0);
                for (std::size_t co = 0; co < cout; ++co) {
                    double sum = bias ? (*bias)[co] : 0.0;
                    for (std::size_t ci = 0; ci < cin; ++ci) sum += static_cast<double>(w[co * cin + ci]) * in[ci];
                    y.at(n, py, px, static_cast<int>(co)) = static_cast<float>(sum);
                }
            }
    return y;
}

// An eval-mode batch norm's four per-channel tensors and its epsilon.
struct BatchNorm {
    std::vector<float> gamma, beta, mean, var;
    float eps = 1e-3f;
};

// x = (x - mean) / sqrt(var + eps) * gamma + beta, per channel, in place.
inline void batch_norm(Tensor<float>& x, const BatchNorm& bn) {
    if (bn.gamma.size() != static_cast<std::size_t>(x.shape().c))
        fail("batch norm", "reference::batch_norm", cat(bn.gamma.size(), " channels for a tensor of ", x.shape().str()));
    const std::size_t C = static_cast<std::size_t>(x.shape().c);
    float* v = x.data();
    for (std::size_t i = 0; i < x.shape().numel(); ++i) {
        const std::size_t c = i % C;
        v[i] = (v[i] - bn.mean[c]) / std::sqrt(bn.var[c] + bn.eps) * bn.gamma[c] + bn.beta[c];
    }
}

inline float activation(float v, Activation a) {
    switch (a) {
        case Activation::none: return v;
        case Activation::relu: return std::max(v, 0.0f);
        case Activation::relu6: return std::min(std::max(v, 0.0f), 6.0f);
        case Activation::swish: return v / (1.0f + std::exp(-v));  // x * sigmoid(x)
        case Activation::sigmoid: return 1.0f / (1.0f + std::exp(-v));
    }
    return v;
}

// x = act(x), element by element, in place.
inline void activate(Tensor<float>& x, Activation a) {
    float* v = x.data();
    for (std::size_t i = 0; i < x.shape().numel(); ++i) v[i] = activation(v[i], a);
}

// x += y (same shape), in place: the residual add.
inline void add(Tensor<float>& x, TensorView<const float> y) {
    if (x.shape() != y.shape()) fail(cat("tensors ", x.shape().str(), " and ", y.shape().str()), "reference::add", "differ in shape");
    for (int n = 0; n < y.n(); ++n)
        for (int yy = 0; yy < y.h(); ++yy)
            for (int xx = 0; xx < y.w(); ++xx)
                for (int c = 0; c < y.c(); ++c) x.at(n, yy, xx, c) += y.at(n, yy, xx, c);
}

// means[n][c] = average of x[n, :, :, c] over the image: the squeeze of squeeze-excite.
inline std::vector<float> channel_means(TensorView<const float> x) {
    std::vector<float> means(static_cast<std::size_t>(x.n()) * x.c());
    for (int n = 0; n < x.n(); ++n)
        for (int c = 0; c < x.c(); ++c) {
            double sum = 0;
            for (int y = 0; y < x.h(); ++y)
                for (int xx = 0; xx < x.w(); ++xx) sum += x.at(n, y, xx, c);
            means[static_cast<std::size_t>(n) * x.c() + c] = static_cast<float>(sum / (static_cast<double>(x.h()) * x.w()));
        }
    return means;
}

// x[n, :, :, c] *= scale[n][c], in place.
inline void scale_channels(Tensor<float>& x, const std::vector<float>& scale) {
    const Shape s = x.shape();
    for (int n = 0; n < s.n; ++n)
        for (int y = 0; y < s.h; ++y)
            for (int xx = 0; xx < s.w; ++xx)
                for (int c = 0; c < s.c; ++c) x.at(n, y, xx, c) *= scale[static_cast<std::size_t>(n) * s.c + c];
}

// y[n, oy, ox, c] = max over the k x k window of x, padding counting as -inf (a window
// always holds at least one real pixel).
inline Tensor<float> max_pool2d(TensorView<const float> x, int kernel, int stride, PaddingMode mode) {
    Padding2d pad;
    const Shape os = window_output(x.shape(), kernel, stride, mode, &pad);
    Tensor<float> y(os);
    for (int n = 0; n < os.n; ++n)
        for (int oy = 0; oy < os.h; ++oy)
            for (int ox = 0; ox < os.w; ++ox)
                for (int c = 0; c < os.c; ++c) {
                    float m = -std::numeric_limits<float>::infinity();
                    for (int ky = 0; ky < kernel; ++ky)
                        for (int kx = 0; kx < kernel; ++kx) {
                            const int iy = oy * stride + ky - pad.top, ix = ox * stride + kx - pad.left;
                            if (iy >= 0 && iy < x.h() && ix >= 0 && ix < x.w()) m = std::max(m, x.at(n, iy, ix, c));
                        }
                    y.at(n, oy, ox, c) = m;
                }
    return y;
}

// Nearest-neighbour resize to th x tw: y[n, oy, ox] = x[n, sy(oy), sx(ox)] with
// s(d) = min(floor(d * (in / out)), in - 1), the scale a float32 division (PyTorch's
// F.interpolate(mode='nearest', size=...)).
inline Tensor<float> resize_nearest(TensorView<const float> x, int th, int tw) {
    Tensor<float> y(Shape{x.n(), th, tw, x.c()});
    auto source = [](int d, int in, int out) {
        const float scale = static_cast<float>(in) / static_cast<float>(out);
        return std::min(static_cast<int>(std::floor(static_cast<float>(d) * scale)), in - 1);
    };
    for (int n = 0; n < x.n(); ++n)
        for (int oy = 0; oy < th; ++oy)
            for (int ox = 0; ox < tw; ++ox)
                for (int c = 0; c < x.c(); ++c) y.at(n, oy, ox, c) = x.at(n, source(oy, x.h(), th), source(ox, x.w(), tw), c);
    return y;
}

}  // namespace reference
EDET_NAMESPACE_END
