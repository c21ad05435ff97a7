// edet/kernels/depthwise_conv.hpp - depthwise KxK convolution, fused bias + activation.
//
// CONTRACT
//   input   NHWC contiguous, shape {n, in_h, in_w, c}
//   weights [k][k][c] (tap-major, channels innermost): pack_depthwise_weights() turns the
//           reference's [c][1][k][k] into this
//   bias    [c] or nullptr (no bias)
//   output  NHWC contiguous, shape {n, out_h, out_w, c}; must not alias input
//   padding zeros, amounts in `pad` (see padding.hpp); any odd or even k, any stride >= 1
//   rows    computes the output rows [row_begin, row_end) of the flattened n*out_h rows
//           (row_end < 0: all); callers split rows across threads
//   maths   out = act(bias + sum_{ky,kx} x * w), accumulated in float32 over taps in
//           (ky, kx) order starting from 0 (the reference's order), then + bias.
//           Taps that fall into the padding are skipped (the same as multiplying by 0).
//   fast    kernels::depthwise_conv vectorises over channels with xsimd. Every tap is one
//           fused multiply-add (acc = fma(x, w, acc)), which is what PyTorch's CPU depthwise
//           kernel does; relu/relu6 are applied in registers,
//           swish/sigmoid by kernels::apply_activation on each finished group of output
//           pixels (still in L1), so all kernels share one definition of those. Results
//           match ref:: to float rounding (bit for bit where the compiler also contracts
//           the reference to fma).
//   speed   one zmm fma per tap and 16 channels, so the ceiling is the FMA rate: on the
//           AVX-512 dev box (2.0 G zmm-fma/s measured) that is 28 GB/s for k3 s1, 10 GB/s for
//           k5 s1, 71/26 GB/s for k3/k5 s2 ((in + out) bytes / time). Measured on one core,
//           act none, shared noisy machine: 256x256x96 k3s2 14 GB/s, 128x128x144 k3s1 10-13,
//           64x64x240 k5s1 7-9, 32x32x480 k3s1 17 GB/s; swish adds 20-60%.
//   threads the value of an output element does not depend on the row range it was
//           computed in, so any split of the rows gives bit-identical output.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <type_traits>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "edet/core/error.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/kernels/conv_common.hpp"
#include "edet/kernels/padding.hpp"
#include "edet/tensor/aligned_buffer.hpp"
#include "edet/tensor/shape.hpp"

EDET_NAMESPACE_BEGIN
namespace kernels {

struct DepthwiseConvArgs {
    const float* input = nullptr;
    Shape input_shape{};
    const float* weights = nullptr;  // [kernel][kernel][c]
    const float* bias = nullptr;     // [c] or nullptr
    float* output = nullptr;
    Shape output_shape{};
    int kernel = 3;
    int stride = 1;
    Padding2d pad{};
    Activation activation = Activation::none;
    int row_begin = 0;   // flattened output row n*out_h + y
    int row_end = -1;    // -1: all rows
    // Row window (for a producer fused in front, nn::MBConv): when input_rows > 0, `input`
    // holds only the rows [input_row0, input_row0 + input_rows) of the image (input_shape.n
    // must be 1), and every row the requested output rows read must lie in that window.
    int input_row0 = 0;
    int input_rows = 0;  // 0: input holds the whole tensor
};

// The input rows [first, last) that output rows [row_begin, row_end) of one image read.
inline std::pair<int, int> depthwise_input_rows(int row_begin, int row_end, int in_h, int kernel, int stride, int pad_top) {
    const int first = std::max(0, row_begin * stride - pad_top);
    const int last = std::min(in_h, (row_end - 1) * stride - pad_top + kernel);
    return {first, std::max(first, last)};
}

// [c][1][k][k] (PyTorch) -> [k][k][c].
inline AlignedBuffer<float> pack_depthwise_weights(const float* w_c1kk, int channels, int kernel) {
    if (!w_c1kk) fail("depthwise weights", "pack_depthwise_weights", "null pointer");
    AlignedBuffer<float> packed(static_cast<std::size_t>(kernel) * kernel * channels);
    for (int ch = 0; ch < channels; ++ch)
        for (int t = 0; t < kernel * kernel; ++t)
            packed[static_cast<std::size_t>(t) * channels + ch] = w_c1kk[static_cast<std::size_t>(ch) * kernel * kernel + t];
    return packed;
}

// Throws edet::Error on null buffers or inconsistent shapes.
inline void validate(const DepthwiseConvArgs& a) {
    const char* where = "depthwise_conv";
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
    const Shape expect{a.input_shape.n, oh, ow, a.input_shape.c};
    if (a.output_shape != expect)
        fail("output shape", where, cat("expected ", expect.str(), " for input ", a.input_shape.str(), ", got ", a.output_shape.str()));
    const int rows = a.output_shape.n * a.output_shape.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    if (a.row_begin < 0 || a.row_begin > end || end > rows)
        fail("row range", where, cat("[", a.row_begin, ", ", end, ") outside [0, ", rows, ")"));
    std::size_t input_floats = a.input_shape.numel();
    if (a.input_rows > 0) {
        if (a.input_shape.n != 1) fail("row window", where, cat("needs one image, input is ", a.input_shape.str()));
        if (a.input_row0 < 0 || a.input_row0 + a.input_rows > a.input_shape.h)
            fail("row window", where, cat("rows [", a.input_row0, ", ", a.input_row0 + a.input_rows, ") outside [0, ", a.input_shape.h, ")"));
        if (a.row_begin < end) {
            const auto need = depthwise_input_rows(a.row_begin, end, a.input_shape.h, a.kernel, a.stride, a.pad.top);
            if (need.first < a.input_row0 || need.second > a.input_row0 + a.input_rows)
                fail("row window", where, cat("output rows [", a.row_begin, ", ", end, ") read input rows [", need.first, ", ", need.second,
                                              "), the window holds [", a.input_row0, ", ", a.input_row0 + a.input_rows, ")"));
        }
        input_floats = static_cast<std::size_t>(a.input_rows) * a.input_shape.w * a.input_shape.c;
    } else if (a.input_row0 != 0) {
        fail("row window", where, "input_row0 without input_rows");
    }
    const std::less<const float*> before;
    if (before(a.output, a.input + input_floats) && before(a.input, a.output + a.output_shape.numel()))
        fail("buffers", where, "output overlaps input");
}

namespace ref {

inline void depthwise_conv(const DepthwiseConvArgs& a) {
    validate(a);
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int c = is.c;
    const int rows = os.n * os.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    for (int r = a.row_begin; r < end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        for (int ox = 0; ox < os.w; ++ox) {
            for (int ch = 0; ch < c; ++ch) {
                float acc = 0.0f;
                for (int ky = 0; ky < a.kernel; ++ky) {
                    const int iy = oy * a.stride + ky - a.pad.top;
                    if (iy < 0 || iy >= is.h) continue;
                    for (int kx = 0; kx < a.kernel; ++kx) {
                        const int ix = ox * a.stride + kx - a.pad.left;
                        if (ix < 0 || ix >= is.w) continue;
                        const float x = a.input[((static_cast<std::size_t>(n) * is.h + static_cast<std::size_t>(iy - a.input_row0)) * is.w + ix) * c + ch];
                        const float w = a.weights[(static_cast<std::size_t>(ky) * a.kernel + kx) * c + ch];
                        acc += x * w;
                    }
                }
                if (a.bias) acc += a.bias[ch];
                a.output[((static_cast<std::size_t>(n) * os.h + oy) * os.w + ox) * c + ch] = activate(acc, a.activation);
            }
        }
    }
}

}  // namespace ref

namespace detail {
namespace dw {

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
// Interior output pixels computed together, so one weight load serves kBlock fmas.
inline constexpr int kBlock = 4;

// Calls f(std::integral_constant<int, 0>{}) ... f(<N - 1>{}): a loop unrolled at compile time.
template <class F, int... I>
inline void unroll_impl(F&& f, std::integer_sequence<int, I...>) {
    (f(std::integral_constant<int, I>{}), ...);
}
template <int N, class F>
inline void unroll(F&& f) {
    unroll_impl(f, std::make_integer_sequence<int, N>{});
}

// P interior output columns of one channel block, kernel K and stride S fixed: a sliding
// window, fully unrolled. For each tap row ky the K weights are loaded once and each of
// the (P-1)*S + K input columns once, then fed to every output column whose window covers
// it (g++ may fold the input loads back into the fmas as memory operands; the loop is
// FMA-bound either way). Each acc[j] still receives its taps in (ky, kx) order.
//   src: input at (first tap row inside the image, first column of output column 0,
//   channel c); w: weights of that tap row + c; rows: tap rows inside the image.
template <int K, int S, int P>
inline void window_block(const float* src, std::ptrdiff_t in_row, std::ptrdiff_t C, int rows, const float* w,
                         vfloat (&acc)[P]) {
    unroll<P>([&](auto j) { acc[decltype(j)::value] = vfloat(0.0f); });
    for (int ky = 0; ky < rows; ++ky) {
        const float* row = src + ky * in_row;
        const float* wk = w + ky * K * C;
        vfloat wv[K];
        unroll<K>([&](auto kx) { wv[decltype(kx)::value] = vfloat::load_unaligned(wk + decltype(kx)::value * C); });
        unroll<(P - 1) * S + K>([&](auto t) {
            constexpr int col = decltype(t)::value;
            const vfloat xv = vfloat::load_unaligned(row + col * C);
            unroll<P>([&](auto j) {
                constexpr int jj = decltype(j)::value;
                constexpr int kx = col - jj * S;
                if constexpr (kx >= 0 && kx < K) acc[jj] = xsimd::fma(xv, wv[kx], acc[jj]);
            });
        });
    }
}

// One output pixel whose taps are clipped to the image (border columns, leftovers), NB
// channel blocks from c at a time: NB independent FMA chains (one chain waits out the FMA
// latency on every tap: on a 16x16 map the 4 columns outside the unrolled windows took as
// long as the 12 inside). Out of line, so that rows_simd's window code is compiled as
// before (inlining this into it changed its register allocation and slowed it down).
struct ColumnTaps {
    const float* rows;     // input at the first tap row inside the image, column 0
    std::ptrdiff_t in_row, C;
    int taps_y;
    const float* weights;  // weights of that tap row
    std::ptrdiff_t KC;
    int ix0, kx0, kx1;     // input column of tap kx = 0; taps [kx0, kx1) inside
    const float* bias;
    bool clamp;
    vfloat lo, hi;
    float* out;            // the output pixel
};
template <int NB>
#if defined(__GNUC__)
__attribute__((noinline))
#endif
void column_blocks(const ColumnTaps& t, int c) {
    vfloat acc[NB];
    for (int i = 0; i < NB; ++i) acc[i] = vfloat(0.0f);
    for (int ky = 0; ky < t.taps_y; ++ky) {
        const float* src = t.rows + ky * t.in_row + c;
        const float* wk = t.weights + ky * t.KC + c;
        for (int kx = t.kx0; kx < t.kx1; ++kx) {
            const float* x = src + static_cast<std::ptrdiff_t>(t.ix0 + kx) * t.C;
            const float* w = wk + kx * t.C;
#pragma GCC unroll 4
            for (int i = 0; i < NB; ++i)
                acc[i] = xsimd::fma(vfloat::load_unaligned(x + i * kLanes), vfloat::load_unaligned(w + i * kLanes), acc[i]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NB; ++i) {
        vfloat v = acc[i];
        if (t.bias) v += vfloat::load_unaligned(t.bias + c + i * kLanes);
        if (t.clamp) v = clamp(v, t.lo, t.hi);
        v.store_unaligned(t.out + c + i * kLanes);
    }
}

// Rows [row_begin, row_end), channels vectorised; needs c >= kLanes. KT/ST > 0 fix the
// kernel and stride at compile time (the k3/k5, stride 1/2 fast paths); 0 reads them
// from the arguments (any k and stride).
template <int KT, int ST>
void rows_simd(const DepthwiseConvArgs& a, int row_begin, int row_end) {
    using std::ptrdiff_t;
    const int K = KT > 0 ? KT : a.kernel;
    const int S = ST > 0 ? ST : a.stride;
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int C = is.c, H = is.h, W = is.w, OW = os.w;
    const ptrdiff_t in_row = static_cast<ptrdiff_t>(W) * C;  // floats per input row
    const ptrdiff_t KC = static_cast<ptrdiff_t>(K) * C;      // floats per weight row (one ky)
    const ptrdiff_t SC = static_cast<ptrdiff_t>(S) * C;      // input step between output columns
    const int pl = a.pad.left;
    const Interior mid = interior_columns(W, K, S, pl, OW);
    const Clamp cl = clamp_for(a.activation);
    const vfloat lo(cl.lo), hi(cl.hi);
    const bool use_clamp = a.activation == Activation::relu || a.activation == Activation::relu6;

    const int row0 = a.input_row0;
    const int row_limit = a.input_rows > 0 ? row0 + a.input_rows : H;  // rows present: [row0, row_limit)
    for (int r = row_begin; r < row_end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        const int iy0 = oy * S - a.pad.top;  // input row of tap ky = 0
        const int ky0 = std::max(0, -iy0), ky1 = std::min(K, H - iy0);
        // Row iy of image n is at img + (iy - row0) * in_row (row0 > 0 only for a row window).
        const float* img = a.input + static_cast<ptrdiff_t>(n) * H * in_row;
        float* out = a.output + static_cast<ptrdiff_t>(r) * OW * C;

        // The channel blocks of one pixel are contiguous, so the pixel loop is outside the
        // channel loop: input and output are walked in memory order. The last block is
        // shifted left to end at C; the channels it shares with the previous block are
        // recomputed with the same arithmetic and rewritten.
        // Epilogue; captures by value so the flags stay in registers. Without bias and
        // with no clamp (the BiFPN/head depthwise convs) it is a plain store.
        auto finish = [bias = a.bias, use_clamp, lo, hi](vfloat acc, int c) {
            if (bias) acc += vfloat::load_unaligned(bias + c);
            return use_clamp ? clamp(acc, lo, hi) : acc;
        };
        // swish/sigmoid on pixels [ox, ox + count) just written (still in L1).
        auto activate_pixels = [&](int ox, int count) {
            if (needs_row_activation(a.activation))
                kernels::apply_activation(out + static_cast<ptrdiff_t>(ox) * C, static_cast<std::size_t>(count) * C,
                                          a.activation);
        };

        // One output column, taps clipped to the image (borders and leftovers).
        auto column = [&](int ox) {
            const int ix0 = ox * S - pl;
            ColumnTaps t;
            t.rows = img + (iy0 + ky0 - row0) * in_row;
            t.in_row = in_row;
            t.C = C;
            t.taps_y = ky1 - ky0;
            t.weights = a.weights + ky0 * KC;
            t.KC = KC;
            t.ix0 = ix0;
            t.kx0 = std::max(0, -ix0);
            t.kx1 = std::min(K, W - ix0);
            t.bias = a.bias;
            t.clamp = use_clamp;
            t.lo = lo;
            t.hi = hi;
            t.out = out + static_cast<ptrdiff_t>(ox) * C;
            int c0 = 0;
            for (; c0 + 4 * kLanes <= C; c0 += 4 * kLanes) column_blocks<4>(t, c0);
            for (; c0 + 2 * kLanes <= C; c0 += 2 * kLanes) column_blocks<2>(t, c0);
            for (; c0 < C; c0 += kLanes) column_blocks<1>(t, std::min(c0, C - kLanes));
            activate_pixels(ox, 1);
        };

        // Interior with fixed k and stride: sliding windows of 8, then 4 columns.
        auto window = [&](int ox, auto width) {
            constexpr int P = decltype(width)::value;
            const float* cols = img + static_cast<ptrdiff_t>(ox * S - pl) * C;  // column of tap kx = 0
            const float* src = cols + static_cast<ptrdiff_t>(iy0 + ky0 - row0) * in_row;  // first tap row inside
            float* dst = out + static_cast<ptrdiff_t>(ox) * C;
            // The input rows the next output row adds (iy0 + K ... + S - 1) come from memory:
            // ask for this block's part of them now so they are in cache one row ahead
            // (measured 2.1 -> 1.6 ms on 128x128x144 k3 s1, on a noisy shared machine).
            for (int extra = 0; extra < S; ++extra) {
                const int iy = iy0 + K + extra;
                if (iy < row0 || iy >= row_limit) continue;
                const char* ahead = reinterpret_cast<const char*>(cols + static_cast<ptrdiff_t>(iy - row0) * in_row);
                const ptrdiff_t bytes = static_cast<ptrdiff_t>(P) * S * C * static_cast<ptrdiff_t>(sizeof(float));
                for (ptrdiff_t b = 0; b < bytes; b += 64) __builtin_prefetch(ahead + b);
            }
            for (int c0 = 0; c0 < C; c0 += kLanes) {
                const int c = std::min(c0, C - kLanes);
                vfloat acc[P];
                window_block<(KT > 0 ? KT : 1), (ST > 0 ? ST : 1), P>(src + c, in_row, C, ky1 - ky0,
                                                                      a.weights + ky0 * KC + c, acc);
                unroll<P>([&](auto j) {
                    constexpr int jj = decltype(j)::value;
                    finish(acc[jj], c).store_unaligned(dst + jj * C + c);
                });
            }
            activate_pixels(ox, P);
        };

        int ox = 0;
        for (; ox < mid.lo; ++ox) column(ox);
        if constexpr (KT > 0 && ST > 0) {
            for (; ox + 8 <= mid.hi; ox += 8) window(ox, std::integral_constant<int, 8>{});
            for (; ox + 4 <= mid.hi; ox += 4) window(ox, std::integral_constant<int, 4>{});
        }
        // Interior, any k and stride: kBlock columns at once, no bounds checks; each weight
        // load serves kBlock fmas.
        for (; ox + kBlock <= mid.hi; ox += kBlock) {
            const float* src0 = img + static_cast<ptrdiff_t>(ox * S - pl) * C;
            float* dst = out + static_cast<ptrdiff_t>(ox) * C;
            for (int c0 = 0; c0 < C; c0 += kLanes) {
                const int c = std::min(c0, C - kLanes);
                vfloat acc0(0.0f), acc1(0.0f), acc2(0.0f), acc3(0.0f);
                for (int ky = ky0; ky < ky1; ++ky) {
                    const float* src = src0 + (iy0 + ky - row0) * in_row + c;
                    const float* wk = a.weights + ky * KC + c;
                    for (int kx = 0; kx < K; ++kx) {
                        const vfloat wv = vfloat::load_unaligned(wk + kx * C);
                        const float* s = src + kx * C;
                        acc0 = xsimd::fma(vfloat::load_unaligned(s), wv, acc0);
                        acc1 = xsimd::fma(vfloat::load_unaligned(s + SC), wv, acc1);
                        acc2 = xsimd::fma(vfloat::load_unaligned(s + 2 * SC), wv, acc2);
                        acc3 = xsimd::fma(vfloat::load_unaligned(s + 3 * SC), wv, acc3);
                    }
                }
                finish(acc0, c).store_unaligned(dst + c);
                finish(acc1, c).store_unaligned(dst + C + c);
                finish(acc2, c).store_unaligned(dst + 2 * C + c);
                finish(acc3, c).store_unaligned(dst + 3 * C + c);
            }
            activate_pixels(ox, kBlock);
        }
        for (; ox < OW; ++ox) column(ox);
    }
}

// Fewer channels than one register (e.g. c = 1 or 3 with AVX-512): scalar, same order.
inline void rows_scalar(const DepthwiseConvArgs& a, int row_begin, int row_end) {
    using std::ptrdiff_t;
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int K = a.kernel, S = a.stride, C = is.c, H = is.h, W = is.w, OW = os.w;
    const Clamp cl = clamp_for(a.activation);
    const int row0 = a.input_row0;
    for (int r = row_begin; r < row_end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        const int iy0 = oy * S - a.pad.top;
        const int ky0 = std::max(0, -iy0), ky1 = std::min(K, H - iy0);
        const float* img = a.input + static_cast<ptrdiff_t>(n) * H * W * C;
        float* out = a.output + static_cast<ptrdiff_t>(r) * OW * C;
        for (int ox = 0; ox < OW; ++ox) {
            const int ix0 = ox * S - a.pad.left;
            const int kx0 = std::max(0, -ix0), kx1 = std::min(K, W - ix0);
            for (int ch = 0; ch < C; ++ch) {
                float acc = 0.0f;
                for (int ky = ky0; ky < ky1; ++ky)
                    for (int kx = kx0; kx < kx1; ++kx)
                        acc = madd(img[(static_cast<ptrdiff_t>(iy0 + ky - row0) * W + ix0 + kx) * C + ch],
                                   a.weights[(static_cast<ptrdiff_t>(ky) * K + kx) * C + ch], acc);
                if (a.bias) acc += a.bias[ch];
                out[static_cast<ptrdiff_t>(ox) * C + ch] = clamp(acc, cl);
            }
        }
        if (needs_row_activation(a.activation))
            kernels::apply_activation(out, static_cast<std::size_t>(OW) * C, a.activation);
    }
}

}  // namespace dw
}  // namespace detail

// Entry point: validates, then runs the fast path for the geometry.
inline void depthwise_conv(const DepthwiseConvArgs& a) {
    validate(a);
    const int rows = a.output_shape.n * a.output_shape.h;
    const int begin = a.row_begin, end = a.row_end < 0 ? rows : a.row_end;
    if (begin == end) return;
    namespace dw = detail::dw;
    if (a.input_shape.c < dw::kLanes) return dw::rows_scalar(a, begin, end);
    if (a.kernel == 3 && a.stride == 1) return dw::rows_simd<3, 1>(a, begin, end);
    if (a.kernel == 3 && a.stride == 2) return dw::rows_simd<3, 2>(a, begin, end);
    if (a.kernel == 5 && a.stride == 1) return dw::rows_simd<5, 1>(a, begin, end);
    if (a.kernel == 5 && a.stride == 2) return dw::rows_simd<5, 2>(a, begin, end);
    dw::rows_simd<0, 0>(a, begin, end);
}

}  // namespace kernels
EDET_NAMESPACE_END
