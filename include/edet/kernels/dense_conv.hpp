// edet/kernels/dense_conv.hpp - dense KxK convolution (the stem: 3x3 stride 2, 3 -> C).
//
// CONTRACT
//   input   NHWC contiguous {n, in_h, in_w, cin}
//   weights [k][k][cin][cout]: pack_dense_conv_weights() turns [cout][cin][k][k] into this
//   bias    [cout] or nullptr
//   output  NHWC contiguous {n, out_h, out_w, cout}, not aliasing input
//   padding zeros, amounts in `pad`; rows [row_begin, row_end) of the flattened n*out_h
//   maths   out = act(bias + sum_{ky,kx,ci} x * w), taps in (ky, kx, ci) order from 0.
//           Taps in the padding are skipped (the same as multiplying by 0).
//   fast    kernels::dense_conv vectorises over output channels with xsimd: each tap is
//           acc = fma(broadcast(x), w[cout block], acc), as PyTorch's stem does;
//           relu/relu6 in registers, swish/sigmoid by
//           kernels::apply_activation on the finished output row. Matches ref:: to float
//           rounding; any row split gives bit-identical output.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>

#include <xsimd/xsimd.hpp>

#include "edet/core/error.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/kernels/conv_common.hpp"
#include "edet/kernels/padding.hpp"
#include "edet/tensor/aligned_buffer.hpp"
#include "edet/tensor/shape.hpp"

EDET_NAMESPACE_BEGIN
namespace kernels {

struct DenseConvArgs {
    const float* input = nullptr;
    Shape input_shape{};
    const float* weights = nullptr;  // [k][k][cin][cout]
    const float* bias = nullptr;
    float* output = nullptr;
    Shape output_shape{};
    int kernel = 3;
    int stride = 2;
    Padding2d pad{};
    Activation activation = Activation::none;
    int row_begin = 0;
    int row_end = -1;
};

inline AlignedBuffer<float> pack_dense_conv_weights(const float* w_oikk, int cout, int cin, int kernel) {
    if (!w_oikk) fail("dense conv weights", "pack_dense_conv_weights", "null pointer");
    AlignedBuffer<float> p(static_cast<std::size_t>(kernel) * kernel * cin * cout);
    for (int co = 0; co < cout; ++co)
        for (int ci = 0; ci < cin; ++ci)
            for (int t = 0; t < kernel * kernel; ++t)
                p[(static_cast<std::size_t>(t) * cin + ci) * cout + co] =
                    w_oikk[(static_cast<std::size_t>(co) * cin + ci) * kernel * kernel + t];
    return p;
}

inline void validate(const DenseConvArgs& a) {
    const char* where = "dense_conv";
    if (!a.input || !a.weights || !a.output) fail("buffers", where, "input, weights and output must not be null");
    check_shape(a.input_shape, where);
    check_shape(a.output_shape, where);
    if (a.kernel < 1 || a.stride < 1) fail("geometry", where, cat("kernel ", a.kernel, " stride ", a.stride));
    if (a.pad.top < 0 || a.pad.bottom < 0 || a.pad.left < 0 || a.pad.right < 0)
        fail("padding", where, "negative padding");
    // Absurd values would overflow the int geometry below; no model comes near them.
    constexpr int kMaxGeometry = 1 << 16;
    if (a.kernel > kMaxGeometry || a.stride > kMaxGeometry || a.pad.top > kMaxGeometry ||
        a.pad.bottom > kMaxGeometry || a.pad.left > kMaxGeometry || a.pad.right > kMaxGeometry)
        fail("geometry", where, cat("kernel ", a.kernel, " stride ", a.stride, " or padding above ", kMaxGeometry));
    const int oh = conv_output_size(a.input_shape.h, a.kernel, a.stride, a.pad.top, a.pad.bottom);
    const int ow = conv_output_size(a.input_shape.w, a.kernel, a.stride, a.pad.left, a.pad.right);
    if (a.output_shape.n != a.input_shape.n || a.output_shape.h != oh || a.output_shape.w != ow)
        fail("output shape", where, cat("expected n=", a.input_shape.n, " h=", oh, " w=", ow, ", got ", a.output_shape.str()));
    const int rows = a.output_shape.n * a.output_shape.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    if (a.row_begin < 0 || a.row_begin > end || end > rows)
        fail("row range", where, cat("[", a.row_begin, ", ", end, ") outside [0, ", rows, ")"));
    const std::less<const float*> before;
    if (before(a.output, a.input + a.input_shape.numel()) && before(a.input, a.output + a.output_shape.numel()))
        fail("buffers", where, "output overlaps input");
}

namespace ref {

inline void dense_conv(const DenseConvArgs& a) {
    validate(a);
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int rows = os.n * os.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    for (int r = a.row_begin; r < end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        for (int ox = 0; ox < os.w; ++ox)
            for (int co = 0; co < os.c; ++co) {
                float acc = 0.0f;
                for (int ky = 0; ky < a.kernel; ++ky) {
                    const int iy = oy * a.stride + ky - a.pad.top;
                    if (iy < 0 || iy >= is.h) continue;
                    for (int kx = 0; kx < a.kernel; ++kx) {
                        const int ix = ox * a.stride + kx - a.pad.left;
                        if (ix < 0 || ix >= is.w) continue;
                        for (int ci = 0; ci < is.c; ++ci)
                            acc += a.input[((static_cast<std::size_t>(n) * is.h + iy) * is.w + ix) * is.c + ci] *
                                   a.weights[((static_cast<std::size_t>(ky) * a.kernel + kx) * is.c + ci) * os.c + co];
                    }
                }
                if (a.bias) acc += a.bias[co];
                a.output[((static_cast<std::size_t>(n) * os.h + oy) * os.w + ox) * os.c + co] = activate(acc, a.activation);
            }
    }
}

}  // namespace ref

namespace detail {
namespace dense {

// Shared with the other convolution kernel (conv_common.hpp).
using conv::vfloat;
using conv::kLanes;
using conv::Clamp;
using conv::clamp_for;
using conv::needs_row_activation;
using conv::clamp;
using conv::madd;
using conv::Interior;
using conv::interior_columns;

// Rows [row_begin, row_end), output channels vectorised (cout >= kLanes). KT/ST/CT > 0 fix
// kernel, stride and input channels at compile time (the stem: 3, 2, 3).
template <int KT, int ST, int CT>
void rows_simd(const DenseConvArgs& a, int row_begin, int row_end) {
    using std::ptrdiff_t;
    const int K = KT > 0 ? KT : a.kernel;
    const int S = ST > 0 ? ST : a.stride;
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int CI = CT > 0 ? CT : is.c;
    const int CO = os.c, H = is.h, W = is.w, OW = os.w;
    const ptrdiff_t in_row = static_cast<ptrdiff_t>(W) * CI;
    const ptrdiff_t tap = static_cast<ptrdiff_t>(CI) * CO;  // weight floats per (ky, kx)
    const ptrdiff_t SC = static_cast<ptrdiff_t>(S) * CI;    // input step between output columns
    const int pl = a.pad.left;
    const Interior mid = interior_columns(W, K, S, pl, OW);
    const Clamp cl = clamp_for(a.activation);
    const vfloat lo(cl.lo), hi(cl.hi);
    const bool has_bias = a.bias != nullptr;
    const bool use_clamp = a.activation == Activation::relu || a.activation == Activation::relu6;

    for (int r = row_begin; r < row_end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        const int iy0 = oy * S - a.pad.top;
        const int ky0 = std::max(0, -iy0), ky1 = std::min(K, H - iy0);
        const float* img = a.input + static_cast<ptrdiff_t>(n) * H * in_row;
        float* out = a.output + static_cast<ptrdiff_t>(r) * OW * CO;

        auto finish = [has_bias, use_clamp, lo, hi](vfloat acc, vfloat b) {
            if (has_bias) acc += b;
            return use_clamp ? clamp(acc, lo, hi) : acc;
        };
        auto bias_at = [&](int c) { return has_bias ? vfloat::load_unaligned(a.bias + c) : vfloat(0.0f); };
        // One output pixel, one register of channels from c (border columns: taps clipped).
        auto column = [&](int ox, int c) {
            const float* w = a.weights + c;
            const int ix0 = ox * S - pl;
            const int kx0 = std::max(0, -ix0), kx1 = std::min(K, W - ix0);
            vfloat acc(0.0f);
            for (int ky = ky0; ky < ky1; ++ky)
                for (int kx = kx0; kx < kx1; ++kx) {
                    const float* px = img + (iy0 + ky) * in_row + static_cast<ptrdiff_t>(ix0 + kx) * CI;
                    const float* wt = w + (ky * K + kx) * tap;
                    for (int ci = 0; ci < CI; ++ci)
                        acc = xsimd::fma(vfloat(px[ci]), vfloat::load_unaligned(wt + ci * CO), acc);
                }
            finish(acc, bias_at(c)).store_unaligned(out + static_cast<ptrdiff_t>(ox) * CO + c);
        };

        for (int c0 = 0; c0 < CO;) {
            // Two registers of channels at a time where they fit: 4 columns x 2 registers are
            // 8 independent FMA chains, enough to cover the FMA latency on both ports (4
            // chains, one register, left half the FMA rate unused: the stem ran at ~25% of
            // peak). The last single register overlaps the previous block (same values).
            const bool pair = c0 + 2 * kLanes <= CO;
            const int c = pair ? c0 : std::min(c0, CO - kLanes);
            const float* w = a.weights + c;
            int ox = 0;
            for (; ox < mid.lo; ++ox) {
                column(ox, c);
                if (pair) column(ox, c + kLanes);
            }
            if (pair) {
                const vfloat b0 = bias_at(c), b1 = bias_at(c + kLanes);
                for (; ox + 4 <= mid.hi; ox += 4) {
                    vfloat acc0(0.0f), acc1(0.0f), acc2(0.0f), acc3(0.0f);
                    vfloat acc4(0.0f), acc5(0.0f), acc6(0.0f), acc7(0.0f);
                    for (int ky = ky0; ky < ky1; ++ky) {
                        const float* src = img + (iy0 + ky) * in_row + static_cast<ptrdiff_t>(ox * S - pl) * CI;
                        for (int kx = 0; kx < K; ++kx) {
                            const float* px = src + kx * CI;
                            const float* wt = w + (ky * K + kx) * tap;
                            for (int ci = 0; ci < CI; ++ci) {
                                const vfloat w0 = vfloat::load_unaligned(wt + ci * CO);
                                const vfloat w1 = vfloat::load_unaligned(wt + ci * CO + kLanes);
                                const vfloat x0(px[ci]), x1(px[SC + ci]), x2(px[2 * SC + ci]), x3(px[3 * SC + ci]);
                                acc0 = xsimd::fma(x0, w0, acc0);
                                acc1 = xsimd::fma(x1, w0, acc1);
                                acc2 = xsimd::fma(x2, w0, acc2);
                                acc3 = xsimd::fma(x3, w0, acc3);
                                acc4 = xsimd::fma(x0, w1, acc4);
                                acc5 = xsimd::fma(x1, w1, acc5);
                                acc6 = xsimd::fma(x2, w1, acc6);
                                acc7 = xsimd::fma(x3, w1, acc7);
                            }
                        }
                    }
                    float* dst = out + static_cast<ptrdiff_t>(ox) * CO + c;
                    finish(acc0, b0).store_unaligned(dst);
                    finish(acc1, b0).store_unaligned(dst + CO);
                    finish(acc2, b0).store_unaligned(dst + 2 * CO);
                    finish(acc3, b0).store_unaligned(dst + 3 * CO);
                    finish(acc4, b1).store_unaligned(dst + kLanes);
                    finish(acc5, b1).store_unaligned(dst + CO + kLanes);
                    finish(acc6, b1).store_unaligned(dst + 2 * CO + kLanes);
                    finish(acc7, b1).store_unaligned(dst + 3 * CO + kLanes);
                }
            } else {
                const vfloat b = bias_at(c);
                for (; ox + 4 <= mid.hi; ox += 4) {  // interior: 4 columns share each weight load
                    vfloat acc0(0.0f), acc1(0.0f), acc2(0.0f), acc3(0.0f);
                    for (int ky = ky0; ky < ky1; ++ky) {
                        const float* src = img + (iy0 + ky) * in_row + static_cast<ptrdiff_t>(ox * S - pl) * CI;
                        for (int kx = 0; kx < K; ++kx) {
                            const float* px = src + kx * CI;
                            const float* wt = w + (ky * K + kx) * tap;
                            for (int ci = 0; ci < CI; ++ci) {
                                const vfloat wv = vfloat::load_unaligned(wt + ci * CO);
                                acc0 = xsimd::fma(vfloat(px[ci]), wv, acc0);
                                acc1 = xsimd::fma(vfloat(px[SC + ci]), wv, acc1);
                                acc2 = xsimd::fma(vfloat(px[2 * SC + ci]), wv, acc2);
                                acc3 = xsimd::fma(vfloat(px[3 * SC + ci]), wv, acc3);
                            }
                        }
                    }
                    float* dst = out + static_cast<ptrdiff_t>(ox) * CO + c;
                    finish(acc0, b).store_unaligned(dst);
                    finish(acc1, b).store_unaligned(dst + CO);
                    finish(acc2, b).store_unaligned(dst + 2 * CO);
                    finish(acc3, b).store_unaligned(dst + 3 * CO);
                }
            }
            for (; ox < OW; ++ox) {
                column(ox, c);
                if (pair) column(ox, c + kLanes);
            }
            c0 = c + (pair ? 2 : 1) * kLanes;
        }
        if (needs_row_activation(a.activation))
            kernels::apply_activation(out, static_cast<std::size_t>(OW) * CO, a.activation);
    }
}

// Fewer output channels than one register: scalar, same tap order.
inline void rows_scalar(const DenseConvArgs& a, int row_begin, int row_end) {
    using std::ptrdiff_t;
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int K = a.kernel, S = a.stride, CI = is.c, CO = os.c, H = is.h, W = is.w, OW = os.w;
    const Clamp cl = clamp_for(a.activation);
    for (int r = row_begin; r < row_end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        const int iy0 = oy * S - a.pad.top;
        const int ky0 = std::max(0, -iy0), ky1 = std::min(K, H - iy0);
        const float* img = a.input + static_cast<ptrdiff_t>(n) * H * W * CI;
        float* out = a.output + static_cast<ptrdiff_t>(r) * OW * CO;
        for (int ox = 0; ox < OW; ++ox) {
            const int ix0 = ox * S - a.pad.left;
            const int kx0 = std::max(0, -ix0), kx1 = std::min(K, W - ix0);
            for (int co = 0; co < CO; ++co) {
                float acc = 0.0f;
                for (int ky = ky0; ky < ky1; ++ky)
                    for (int kx = kx0; kx < kx1; ++kx)
                        for (int ci = 0; ci < CI; ++ci)
                            acc = madd(img[(static_cast<ptrdiff_t>(iy0 + ky) * W + ix0 + kx) * CI + ci],
                                       a.weights[((static_cast<ptrdiff_t>(ky) * K + kx) * CI + ci) * CO + co], acc);
                if (a.bias) acc += a.bias[co];
                out[static_cast<ptrdiff_t>(ox) * CO + co] = clamp(acc, cl);
            }
        }
        if (needs_row_activation(a.activation))
            kernels::apply_activation(out, static_cast<std::size_t>(OW) * CO, a.activation);
    }
}

}  // namespace dense
}  // namespace detail

// Entry point: validates, then runs the stem fast path (k3, s2, cin 3) or the generic one.
inline void dense_conv(const DenseConvArgs& a) {
    validate(a);
    const int rows = a.output_shape.n * a.output_shape.h;
    const int begin = a.row_begin, end = a.row_end < 0 ? rows : a.row_end;
    if (begin == end) return;
    namespace dn = detail::dense;
    if (a.output_shape.c < dn::kLanes) return dn::rows_scalar(a, begin, end);
    if (a.kernel == 3 && a.stride == 2 && a.input_shape.c == 3) return dn::rows_simd<3, 2, 3>(a, begin, end);
    dn::rows_simd<0, 0, 0>(a, begin, end);
}

}  // namespace kernels
EDET_NAMESPACE_END
