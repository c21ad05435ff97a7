// edet/kernels/pointwise_conv_bf16.hpp - 1x1 convolution as a GEMM with bfloat16 inputs
// and float32 accumulation (precision bf16 / bf16-emulated; fp32 is pointwise_conv.hpp).
//
// CONTRACT
//   out[r][co] = act(bias[co] + sum_ci bf16(in[r][ci]) * bf16(W[co][ci])) + residual[r][co]
//   for rows r in [0, rows) (one pixel per row, NHWC), bf16(x) = to_bf16 (kernels/bf16.hpp:
//   round to nearest even, float32 denormals to zero). Arguments, strides, residual after
//   the activation and the overlap checks are those of pointwise_conv.hpp.
//   weights   packed once by pack_pointwise_weights_bf16() from the [cout][cin] floats
//   input_scale [cin] or nullptr: in[r][ci] is replaced by the float32 product
//             in[r][ci] * input_scale[ci] before it is rounded to bf16 (squeeze-excite's
//             channel gate in front of MBConv's projection, applied while the tile is
//             converted: the fp32 kernel scales its packed weights instead, which in bf16
//             would round the weights a second time)
//   panel_max (optional) [rows][ceil(cout / panel_max_columns)]: for each row and each run
//             of panel_max_columns output channels (the last run shorter), the largest
//             final value, NaN if any is NaN: pointwise_conv.hpp's panel_max when given
//             panel_max_columns = pointwise_panel_columns() (the class head's top-k reads it).
//             The reference does not write it (tests derive it from the output).
//   precision bf16: AVX512_BF16 (vdpbf16ps), throws edet::Error if the CPU lacks it;
//             bf16_emulated: the same arithmetic in ordinary vector code (any CPU);
//             fp32 is refused (use pointwise_conv).
//   The sum is the one VDPBF16PS computes (Intel SDM, "VDPBF16PS - Dot Product of BF16
//   Pairs Accumulated into Packed Single Precision"): input channels go in pairs
//   (2i, 2i+1), an odd cin padded with a +0 channel (in and W), and for each pair in order
//     acc = bias[co] (0 without bias)
//     acc = step(acc, x[2i+1], w[2i+1])      the odd channel first, as the SDM states
//     acc = step(acc, x[2i],   w[2i])
//   where step(a, x, w) is one fused multiply-add with a single RNE rounding, denormal
//   inputs (a, x, w) read as +-0 and a result that is tiny after rounding (|r| < 2^-126
//   once rounded to 24 bits with an unbounded exponent) written as +-0. MXCSR plays no part.
//   This model was checked against the instruction on AMD Zen 5: 2M random lanes with
//   wide exponents in a one-off probe (0 mismatches; even-first order, or the pair and
//   acc summed with one rounding, each mismatched ~8%), and in
//   tests/kernels/pointwise_conv_bf16_test.cpp on 197K single-instruction lanes, longer
//   chains, and the edge cases (tininess is after rounding: 2^-126 - 2^-152 gives 2^-126,
//   2^-126 - 0.75 * 2^-150 gives 0). All three
//   implementations below follow it, so their outputs are bit-identical (NaN payloads
//   aside), and, like the fp32 kernel, independent of how callers split the rows.
//   The hardware ignores MXCSR; the reference and the emulation use ordinary float32
//   arithmetic for the steps, so they match it with MXCSR rounding to nearest (the
//   default); FTZ/DAZ set by an application change nothing (inputs are never denormal
//   here, and x86 flushes tiny-after-rounding results as the model does: tested).
//   Epilogue: act is kernels::apply_activation (the library's vector activation, the one
//   the fp32 kernel fuses), then + residual, in float32, in all three implementations.
//   The kernel neither allocates nor starts threads (a 12 KB stack tile of bf16 inputs).
//
// HOW IT WORKS
//   Packed weights: panels of kPanelWidth = 32 output channels (the last one 16 wide when
//   16 suffice), each [pairs][panel width] 32-bit words, a word = (bf16 W[co][2i+1] << 16)
//   | bf16 W[co][2i]: one 64-byte row of a panel is the second operand of one vdpbf16ps.
//   For each tile of 12 rows and each depth block of up to 256 pairs, the tile's inputs
//   are converted to bf16 pairs into a stack buffer (VCVTNE2PS2BF16 on the hardware path,
//   to_bf16 otherwise); every panel then runs a micro-kernel over it: 12 x 2 zmm
//   accumulators, per pair two weight loads and 12 broadcasts of one input word, 24
//   vdpbf16ps (= 768 multiply-adds). Depth blocks after the first reload the partial
//   sums from the output (exact float32, so blocking changes nothing). Columns past cout
//   are masked (loads and stores), never touched in the caller's buffers. In the last
//   depth block the hardware tile applies relu / relu6 and the residual in registers;
//   swish and sigmoid (and everything in the emulation) are applied to the tile's rows by
//   finish_row after its last depth block, while they are in L1.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/kernels/bf16.hpp"
#include "edet/kernels/pointwise_conv.hpp"  // pointwise_detail::max_or_nan, the panel-maxima rule
#include "edet/tensor/aligned_buffer.hpp"

EDET_SIMD_WARNINGS_BEGIN

EDET_NAMESPACE_BEGIN
namespace kernels {

namespace pointwise_bf16_detail {

inline constexpr int kPanelWidth = 32;      // output channels per panel: two zmm of float32 sums
inline constexpr int kVectorWidth = 16;     // panel widths are whole multiples of this
inline constexpr int kTileRows = 12;        // 12 x 2 accumulators + 2 weights + 1 broadcast of 32 zmm
inline constexpr int kMaxDepthPairs = 256;  // pairs per depth block: a 12-row tile is 12 KB

inline int pair_count(int cin) { return (cin + 1) / 2; }
inline int panel_count(int cout) { return (cout + kPanelWidth - 1) / kPanelWidth; }
inline int panel_width(int cout, int p) {
    const int full = cout / kPanelWidth;
    if (p < full) return kPanelWidth;
    const int rem = cout - full * kPanelWidth;
    return (rem + kVectorWidth - 1) / kVectorWidth * kVectorWidth;
}
// In 32-bit words (one bf16 pair each).
inline std::size_t packed_size(int cin, int cout) {
    std::size_t width_sum = 0;
    for (int p = 0; p < panel_count(cout); ++p) width_sum += static_cast<std::size_t>(panel_width(cout, p));
    return static_cast<std::size_t>(pair_count(cin)) * width_sum;
}
// Equal depth blocks of at most kMaxDepthPairs pairs; they depend on cin only.
inline int depth_block_pairs(int pairs) {
    const int blocks = (pairs + kMaxDepthPairs - 1) / kMaxDepthPairs;
    return (pairs + blocks - 1) / blocks;
}

inline std::uint32_t pair_word(bf16_t even, bf16_t odd) {
    return static_cast<std::uint32_t>(even) | (static_cast<std::uint32_t>(odd) << 16);
}

// --- the scalar model of one VDPBF16PS lane ----------------------------------------------

inline float denormal_to_zero(float x) { return std::fabs(x) < FLT_MIN ? std::copysign(0.0f, x) : x; }

// a + x * w rounded once, when the gradual-underflow result r is tiny (0 < |r| <= 2^-126):
// the same sum scaled by 2^64 is far from the denormal range, so it rounds to 24 bits as
// the hardware does with an unbounded exponent; below 2^-126 (2^-62 scaled) it is flushed.
// The scaling is exact: a tiny nonzero sum needs |x w| and |a| below ~2^-99 (the sum is a
// multiple of the smaller ulp of the two terms), so with x >= 2^-126, |w| < 2^27.
inline float tiny_sum(float a, float x, float w) {
    const float scaled = std::fma(x, w * 0x1p64f, a * 0x1p64f);
    return std::fabs(scaled) < 0x1p-62f ? std::copysign(0.0f, scaled) : scaled * 0x1p-64f;
}

// One multiply-add of VDPBF16PS: DAZ on the inputs, one RNE rounding, FTZ on the result.
inline float dot_step(float a, float x, float w) {
    a = denormal_to_zero(a);
    x = denormal_to_zero(x);
    w = denormal_to_zero(w);
    const float r = std::fma(x, w, a);
    return r != 0.0f && std::fabs(r) <= FLT_MIN ? tiny_sum(a, x, w) : r;
}

// One lane of VDPBF16PS: acc + x.w over one pair, the odd element first.
inline float dot_pair(float acc, std::uint32_t x_pair, std::uint32_t w_pair) {
    acc = dot_step(acc, bits_float(x_pair & 0xffff0000u), bits_float(w_pair & 0xffff0000u));
    return dot_step(acc, bits_float(x_pair << 16), bits_float(w_pair << 16));
}

// Panel maxima use the fp32 kernel's max_or_nan (pointwise_conv.hpp): the same NaN rule.
using pointwise_detail::max_or_nan;

// The epilogue every implementation shares: row[0..n) = act(row) + residual.
inline void finish_row(float* row, int n, Activation act, const float* residual) {
    if (act != Activation::none) apply_activation(row, static_cast<std::size_t>(n), act);
    if (residual)
        for (int j = 0; j < n; ++j) row[j] += residual[j];
}

}  // namespace pointwise_bf16_detail

// Weights in the kernel's layout (see HOW IT WORKS). Built once at load time.
struct PackedPointwiseWeightsBf16 {
    int in_channels = 0;
    int out_channels = 0;
    AlignedBuffer<std::uint32_t> data;  // bf16 pairs
};

inline PackedPointwiseWeightsBf16 pack_pointwise_weights_bf16(const float* w_out_in, int in_channels,
                                                              int out_channels) {
    if (!w_out_in) fail("pointwise weights", "pack_pointwise_weights_bf16", "null pointer");
    if (in_channels < 1 || out_channels < 1)
        fail("pointwise weights", "pack_pointwise_weights_bf16", cat("cin=", in_channels, " cout=", out_channels));
    namespace d = pointwise_bf16_detail;
    PackedPointwiseWeightsBf16 p;
    p.in_channels = in_channels;
    p.out_channels = out_channels;
    p.data = AlignedBuffer<std::uint32_t>(d::packed_size(in_channels, out_channels));
    p.data.zero();  // the padded columns and the odd cin's pad channel stay +0
    const int pairs = d::pair_count(in_channels);
    std::size_t offset = 0;
    for (int panel = 0; panel < d::panel_count(out_channels); ++panel) {
        const int width = d::panel_width(out_channels, panel);
        const int co0 = panel * d::kPanelWidth;
        const int valid = std::min(width, out_channels - co0);
        for (int i = 0; i < pairs; ++i) {
            for (int j = 0; j < valid; ++j) {
                const float* w = w_out_in + static_cast<std::size_t>(co0 + j) * in_channels;
                const bf16_t even = to_bf16(w[2 * i]);
                const bf16_t odd = 2 * i + 1 < in_channels ? to_bf16(w[2 * i + 1]) : bf16_t{0};
                p.data[offset + static_cast<std::size_t>(i) * width + j] = d::pair_word(even, odd);
            }
        }
        offset += static_cast<std::size_t>(pairs) * width;
    }
    return p;
}

struct PointwiseConvBf16Args {
    const float* input = nullptr;
    std::size_t input_stride = 0;  // 0: in_channels
    std::size_t rows = 0;
    const PackedPointwiseWeightsBf16* weights = nullptr;
    const float* bias = nullptr;
    const float* residual = nullptr;
    std::size_t residual_stride = 0;  // 0: out_channels
    float* output = nullptr;
    std::size_t output_stride = 0;  // 0: out_channels
    Activation activation = Activation::none;
    Precision precision = Precision::bf16;  // bf16 or bf16_emulated
    const float* input_scale = nullptr;     // [cin] or nullptr (see CONTRACT)
    float* panel_max = nullptr;             // optional row maxima per column run (see CONTRACT)
    int panel_max_columns = 0;              // width of those runs, >= 1 when panel_max is set
};

inline void validate(const PointwiseConvBf16Args& a) {
    const char* where = "pointwise_conv_bf16";
    if (!a.weights) fail("weights", where, "null packed weights");
    if (a.weights->in_channels < 1 || a.weights->out_channels < 1 ||
        a.weights->data.size() !=
            pointwise_bf16_detail::packed_size(a.weights->in_channels, a.weights->out_channels))
        fail("weights", where,
             cat("not packed by pack_pointwise_weights_bf16 (cin=", a.weights->in_channels,
                 " cout=", a.weights->out_channels, " size=", a.weights->data.size(), ")"));
    if (a.panel_max && a.panel_max_columns < 1)
        fail("panel_max_columns", where, cat(a.panel_max_columns, ": must be >= 1 with panel_max"));
    if (a.precision == Precision::fp32)
        fail("precision 'fp32'", where, "this is the bf16 kernel: run fp32 with kernels::pointwise_conv");
    if (a.rows == 0) return;
    if (!a.input || !a.output) fail("buffers", where, "input and output must not be null");
    const std::size_t cin = static_cast<std::size_t>(a.weights->in_channels);
    const std::size_t cout = static_cast<std::size_t>(a.weights->out_channels);
    if (a.input_stride && a.input_stride < cin) fail("input stride", where, cat(a.input_stride, " < cin ", cin));
    if (a.output_stride && a.output_stride < cout) fail("output stride", where, cat(a.output_stride, " < cout ", cout));
    if (a.residual_stride && a.residual_stride < cout)
        fail("residual stride", where, cat(a.residual_stride, " < cout ", cout));
    const std::size_t is = a.input_stride ? a.input_stride : cin;
    const std::size_t os = a.output_stride ? a.output_stride : cout;
    const std::size_t rs = a.residual_stride ? a.residual_stride : cout;
    const auto overlaps = [&](const float* b, std::size_t b_stride, std::size_t b_width) {
        const auto a0 = reinterpret_cast<std::uintptr_t>(a.output);
        const auto a1 = reinterpret_cast<std::uintptr_t>(a.output + (a.rows - 1) * os + cout);
        const auto b0 = reinterpret_cast<std::uintptr_t>(b);
        const auto b1 = reinterpret_cast<std::uintptr_t>(b + (a.rows - 1) * b_stride + b_width);
        return a0 < b1 && b0 < a1;
    };
    if (overlaps(a.input, is, cin)) fail("buffers", where, "output overlaps input");
    if (a.residual && overlaps(a.residual, rs, cout)) fail("buffers", where, "output overlaps residual");
}

namespace ref {

// The bit-exact scalar model (see CONTRACT), from the original [cout][cin] weights.
inline void pointwise_conv_bf16(const PointwiseConvBf16Args& a, const float* w_out_in) {
    validate(a);
    if (!w_out_in) fail("weights", "ref::pointwise_conv_bf16", "null pointer");
    namespace d = pointwise_bf16_detail;
    const int cin = a.weights->in_channels, cout = a.weights->out_channels;
    const std::size_t is = a.input_stride ? a.input_stride : cin;
    const std::size_t os = a.output_stride ? a.output_stride : cout;
    const std::size_t rs = a.residual_stride ? a.residual_stride : cout;
    const auto pair_at = [cin](const float* v, int i) {
        return d::pair_word(to_bf16(v[2 * i]), 2 * i + 1 < cin ? to_bf16(v[2 * i + 1]) : bf16_t{0});
    };
    std::vector<float> scaled(a.input_scale ? static_cast<std::size_t>(cin) : 0);
    for (std::size_t r = 0; r < a.rows; ++r) {
        const float* x = a.input + r * is;
        if (a.input_scale) {
            for (int ci = 0; ci < cin; ++ci) scaled[ci] = x[ci] * a.input_scale[ci];
            x = scaled.data();
        }
        float* y = a.output + r * os;
        for (int co = 0; co < cout; ++co) {
            const float* w = w_out_in + static_cast<std::size_t>(co) * cin;
            float acc = a.bias ? a.bias[co] : 0.0f;
            for (int i = 0; i < d::pair_count(cin); ++i) acc = d::dot_pair(acc, pair_at(x, i), pair_at(w, i));
            y[co] = acc;
        }
        d::finish_row(y, cout, a.activation, a.residual ? a.residual + r * rs : nullptr);
    }
}

}  // namespace ref

namespace pointwise_bf16_detail {

// Where a micro-kernel works: `m` rows of the converted tile (row stride kMaxDepthPairs
// words), `kp` pairs of one panel, `n` valid columns of a panel `width` wide.
struct TileArgs {
    const std::uint32_t* a = nullptr;
    const std::uint32_t* b = nullptr;  // the panel's words at the depth block's first pair
    int kp = 0;
    int width = 0;
    int n = 0;
    float* c = nullptr;
    std::size_t ldc = 0;
    const float* init = nullptr;  // first depth block: the bias of the panel's columns, or nullptr (0)
    bool first = true;            // else reload the partial sums from c
    // Last depth block, hardware tiles only: relu / relu6 (none: nothing) and then
    // + residual in registers, as finish_row would do them (same compares, same add).
    Activation clamp = Activation::none;
    const float* residual = nullptr;  // rows residual_stride apart, or nullptr
    std::size_t residual_stride = 0;
};

// --- emulation: the scalar model, vectorised across output columns (any CPU) -----------

using FBatch = xsimd::batch<float>;
using IBatch = xsimd::batch<std::int32_t>;
inline constexpr int kLanes = static_cast<int>(FBatch::size);

// x * w + a with one rounding: an FMA instruction where the build has one, else std::fma
// per lane (x * w alone is exact for bf16 operands, but not when it under- or overflows).
EDET_ALWAYS_INLINE FBatch exact_fma(FBatch x, FBatch w, FBatch a) {
#if defined(__FMA__) || defined(__AVX512F__)
    return fma_batch(x, w, a);
#else
    alignas(64) float xs[kLanes], ws[kLanes], as[kLanes];
    x.store_aligned(xs);
    w.store_aligned(ws);
    a.store_aligned(as);
    for (int l = 0; l < kLanes; ++l) as[l] = std::fma(xs[l], ws[l], as[l]);
    return FBatch::load_aligned(as);
#endif
}

// dot_step for a vector of columns; x, w and a are never denormal here (to_bf16 flushes,
// the bias is flushed on entry, each step flushes its result).
EDET_ALWAYS_INLINE FBatch dot_step_batch(FBatch a, FBatch x, FBatch w) {
    const FBatch r = exact_fma(x, w, a);
    const auto tiny = (xsimd::abs(r) <= FBatch(FLT_MIN)) & (r != FBatch(0.0f));
    if (!xsimd::any(tiny)) return r;
    alignas(64) float rs[kLanes], as[kLanes], xs[kLanes], ws[kLanes];
    r.store_aligned(rs);
    a.store_aligned(as);
    x.store_aligned(xs);
    w.store_aligned(ws);
    for (int l = 0; l < kLanes; ++l)
        if (rs[l] != 0.0f && std::fabs(rs[l]) <= FLT_MIN) rs[l] = tiny_sum(as[l], xs[l], ws[l]);
    return FBatch::load_aligned(rs);
}

inline void emulated_tile(int m, const TileArgs& t) {
    constexpr int kMaxVectors = kPanelWidth / kLanes;
    const int nv = t.width / kLanes;
    for (int row = 0; row < m; ++row) {
        alignas(64) float sums[kPanelWidth] = {};
        float* c = t.c + static_cast<std::size_t>(row) * t.ldc;
        if (t.first) {
            if (t.init)
                for (int j = 0; j < t.n; ++j) sums[j] = denormal_to_zero(t.init[j]);
        } else {
            for (int j = 0; j < t.n; ++j) sums[j] = c[j];
        }
        FBatch acc[kMaxVectors];
        for (int v = 0; v < nv; ++v) acc[v] = FBatch::load_aligned(sums + v * kLanes);
        const std::uint32_t* x = t.a + static_cast<std::size_t>(row) * kMaxDepthPairs;
        const IBatch high_half(static_cast<std::int32_t>(0xffff0000u));
        for (int i = 0; i < t.kp; ++i) {
            const FBatch x_odd(bits_float(x[i] & 0xffff0000u)), x_even(bits_float(x[i] << 16));
            const std::int32_t* w = reinterpret_cast<const std::int32_t*>(t.b + static_cast<std::size_t>(i) * t.width);
            for (int v = 0; v < nv; ++v) {
                const IBatch pair = IBatch::load_aligned(w + v * kLanes);
                acc[v] = dot_step_batch(acc[v], x_odd, xsimd::bitwise_cast<FBatch>(pair & high_half));
                acc[v] = dot_step_batch(acc[v], x_even, xsimd::bitwise_cast<FBatch>(pair << 16));
            }
        }
        for (int v = 0; v < nv; ++v) acc[v].store_aligned(sums + v * kLanes);
        for (int j = 0; j < t.n; ++j) c[j] = sums[j];
    }
}

// rows [0, m) of the tile buffer = bf16 pairs [p0, p0 + kp) of the m input rows.
// (x[ci] * scale[ci] when there is a scale.)
inline void convert_tile_scalar(const float* in, std::size_t is, const float* scale, int m, int cin, int p0, int kp,
                                std::uint32_t* tile) {
    for (int row = 0; row < m; ++row) {
        const float* x = in + static_cast<std::size_t>(row) * is;
        std::uint32_t* dst = tile + static_cast<std::size_t>(row) * kMaxDepthPairs;
        const auto value = [&](int ci) { return scale ? x[ci] * scale[ci] : x[ci]; };
        for (int i = 0; i < kp; ++i) {
            const int ci = 2 * (p0 + i);
            dst[i] = pair_word(to_bf16(value(ci)), ci + 1 < cin ? to_bf16(value(ci + 1)) : bf16_t{0});
        }
    }
}

#if EDET_HAVE_AVX512_BF16_KERNELS
// --- hardware: vdpbf16ps (compiled for AVX512_BF16 here only; see kernels/bf16.hpp) ------

inline __mmask16 column_mask(int n, int v) {
    const int valid = std::clamp(n - v * kVectorWidth, 0, kVectorWidth);
    return static_cast<__mmask16>((1u << valid) - 1u);
}

template <int MR, int NV>
EDET_TARGET_AVX512_BF16 void hardware_micro_kernel(const TileArgs& t) {
    __m512 acc[MR][NV];
    __mmask16 mask[NV];
#pragma GCC unroll 2
    for (int v = 0; v < NV; ++v) mask[v] = column_mask(t.n, v);
    if (t.first) {
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) {
            const __m512 init = t.init ? _mm512_maskz_loadu_ps(mask[v], t.init + v * kVectorWidth) : _mm512_setzero_ps();
#pragma GCC unroll 12
            for (int m = 0; m < MR; ++m) acc[m][v] = init;
        }
    } else {
#pragma GCC unroll 12
        for (int m = 0; m < MR; ++m)
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v)
                acc[m][v] = _mm512_maskz_loadu_ps(mask[v], t.c + m * t.ldc + v * kVectorWidth);
    }
    const std::uint32_t* b = t.b;
    const std::uint32_t* a = t.a;
    for (int i = 0; i < t.kp; ++i) {
        __m512i w[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) w[v] = _mm512_load_si512(static_cast<const void*>(b + v * kVectorWidth));
#pragma GCC unroll 12
        for (int m = 0; m < MR; ++m) {
            const __m512i x = _mm512_set1_epi32(static_cast<int>(a[m * kMaxDepthPairs + i]));
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v)
                acc[m][v] = _mm512_dpbf16_ps(acc[m][v], reinterpret_cast<__m512bh>(x), reinterpret_cast<__m512bh>(w[v]));
        }
        b += t.width;
    }
    if (t.clamp != Activation::none) {
        // select(x < 0, 0, x) and select(6 < y, 6, y), as activate_batch: NaN and -0 pass.
        const __m512 zero = _mm512_setzero_ps(), six = _mm512_set1_ps(6.0f);
#pragma GCC unroll 12
        for (int m = 0; m < MR; ++m)
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v) {
                acc[m][v] = _mm512_mask_mov_ps(acc[m][v], _mm512_cmp_ps_mask(acc[m][v], zero, _CMP_LT_OQ), zero);
                if (t.clamp == Activation::relu6)
                    acc[m][v] = _mm512_mask_mov_ps(acc[m][v], _mm512_cmp_ps_mask(six, acc[m][v], _CMP_LT_OQ), six);
            }
    }
    if (t.residual) {
#pragma GCC unroll 12
        for (int m = 0; m < MR; ++m)
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v)
                acc[m][v] = _mm512_add_ps(
                    acc[m][v], _mm512_maskz_loadu_ps(mask[v], t.residual + m * t.residual_stride + v * kVectorWidth));
    }
#pragma GCC unroll 12
    for (int m = 0; m < MR; ++m)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(t.c + m * t.ldc + v * kVectorWidth, mask[v], acc[m][v]);
}

template <int MR, int NV>
inline void hardware_rows(int m, const TileArgs& t) {
    if constexpr (MR > 1) {
        if (m < MR) return hardware_rows<MR - 1, NV>(m, t);
    }
    hardware_micro_kernel<MR, NV>(t);
}

inline void hardware_tile(int m, const TileArgs& t) {
    if (t.width == 2 * kVectorWidth) hardware_rows<kTileRows, 2>(m, t);
    else hardware_rows<kTileRows, 1>(m, t);
}

// dst[0..n) = to_bf16(src[0..n) * scale[0..n)), as convert_to_bf16_avx512bf16 does without scale.
EDET_TARGET_AVX512_BF16 inline void convert_scaled_avx512bf16(const float* src, const float* scale, bf16_t* dst,
                                                              std::size_t n) {
    for (std::size_t i = 0; i < n; i += 32) {
        const std::size_t left = n - i < 32 ? n - i : 32;
        const __mmask16 lo = static_cast<__mmask16>(left >= 16 ? 0xffffu : (1u << left) - 1u);
        const __mmask16 hi = static_cast<__mmask16>(left >= 32 ? 0xffffu : left > 16 ? (1u << (left - 16)) - 1u : 0u);
        const __m512 x0 = _mm512_mul_ps(_mm512_maskz_loadu_ps(lo, src + i), _mm512_maskz_loadu_ps(lo, scale + i));
        const __m512 x1 =
            _mm512_mul_ps(_mm512_maskz_loadu_ps(hi, src + i + 16), _mm512_maskz_loadu_ps(hi, scale + i + 16));
        const __m512bh h = _mm512_cvtne2ps_pbh(x1, x0);
        const __mmask32 k = static_cast<__mmask32>(lo) | (static_cast<__mmask32>(hi) << 16);
        _mm512_mask_storeu_epi16(static_cast<void*>(dst + i), k, reinterpret_cast<__m512i>(h));
    }
}

inline void convert_tile_hardware(const float* in, std::size_t is, const float* scale, int m, int cin, int p0, int kp,
                                  std::uint32_t* tile) {
    const int c0 = 2 * p0;
    const int channels = std::min(2 * kp, cin - c0);
    for (int row = 0; row < m; ++row) {
        std::uint32_t* dst = tile + static_cast<std::size_t>(row) * kMaxDepthPairs;
        const float* src = in + static_cast<std::size_t>(row) * is + c0;
        if (scale)
            convert_scaled_avx512bf16(src, scale + c0, reinterpret_cast<bf16_t*>(dst), static_cast<std::size_t>(channels));
        else
            convert_to_bf16_avx512bf16(src, reinterpret_cast<bf16_t*>(dst), static_cast<std::size_t>(channels));
        if (channels % 2) dst[channels / 2] &= 0xffffu;  // the odd cin's pad channel: +0
    }
}
#endif

// Operands larger than this (half a Zen 5 L2) come from memory, not from a cache-sized
// chunk a fused caller has just written: run() then asks for the next tile's input and
// output lines while the current tile computes (the hardware prefetchers do not follow a
// dozen rows at once).
inline constexpr std::size_t kStreamingBytes = 512 * 1024;

// Asks for the cache lines of `rows` rows of `bytes` bytes from p, rows `stride` floats apart.
template <bool ForWrite>
EDET_ALWAYS_INLINE void prefetch_rows(const float* p, std::size_t rows, std::size_t stride, std::size_t bytes) {
    for (std::size_t m = 0; m < rows; ++m) {
        const auto begin = reinterpret_cast<std::uintptr_t>(p + m * stride);
        for (std::uintptr_t line = begin & ~std::uintptr_t(63); line < begin + bytes; line += 64)
            __builtin_prefetch(reinterpret_cast<const void*>(line), ForWrite ? 1 : 0);
    }
}

// tile_fuses_epilogue: the tile applies TileArgs::clamp and ::residual (hardware tiles).
template <class Convert, class Tile>
void run(const PointwiseConvBf16Args& args, Convert convert, Tile tile, bool tile_fuses_epilogue) {
    const int cin = args.weights->in_channels, cout = args.weights->out_channels;
    const std::size_t is = args.input_stride ? args.input_stride : cin;
    const std::size_t os = args.output_stride ? args.output_stride : cout;
    const std::size_t rs = args.residual_stride ? args.residual_stride : cout;
    const int pairs = pair_count(cin);
    const int kp_max = depth_block_pairs(pairs);
    const int panels = panel_count(cout);
    // relu / relu6 / none and the residual go into the tile's registers; swish and sigmoid
    // (exp) stay in finish_row, which then also adds the residual after them.
    const bool fused = tile_fuses_epilogue && (args.activation == Activation::none ||
                                               args.activation == Activation::relu ||
                                               args.activation == Activation::relu6);
    const bool streaming_in = args.rows * is * sizeof(float) > kStreamingBytes;
    const bool streaming_out = args.rows * std::max(os, args.residual ? rs : 0) * sizeof(float) > kStreamingBytes;
    alignas(64) std::uint32_t converted[kTileRows * kMaxDepthPairs];
    for (std::size_t r = 0; r < args.rows; r += kTileRows) {
        const int m = static_cast<int>(std::min<std::size_t>(kTileRows, args.rows - r));
        const std::size_t next = r + kTileRows;
        const std::size_t next_m = next < args.rows ? std::min<std::size_t>(kTileRows, args.rows - next) : 0;
        if (streaming_out && next_m) {
            prefetch_rows<true>(args.output + next * os, next_m, os, cout * sizeof(float));
            if (args.residual) prefetch_rows<false>(args.residual + next * rs, next_m, rs, cout * sizeof(float));
        }
        for (int p0 = 0; p0 < pairs; p0 += kp_max) {
            const int kp = std::min(kp_max, pairs - p0);
            convert(args.input + r * is, is, args.input_scale, m, cin, p0, kp, converted);
            if (streaming_in && next_m)
                prefetch_rows<false>(args.input + next * is + 2 * p0, next_m, is,
                                     static_cast<std::size_t>(std::min(2 * kp, cin - 2 * p0)) * sizeof(float));
            std::size_t panel_offset = 0;
            for (int p = 0; p < panels; ++p) {
                TileArgs t;
                t.a = converted;
                t.width = panel_width(cout, p);
                t.b = args.weights->data.data() + panel_offset + static_cast<std::size_t>(p0) * t.width;
                t.kp = kp;
                t.n = std::min(t.width, cout - p * kPanelWidth);
                t.c = args.output + r * os + p * kPanelWidth;
                t.ldc = os;
                t.first = p0 == 0;
                t.init = args.bias ? args.bias + p * kPanelWidth : nullptr;
                if (fused && p0 + kp == pairs) {
                    t.clamp = args.activation;
                    t.residual = args.residual ? args.residual + r * rs + p * kPanelWidth : nullptr;
                    t.residual_stride = rs;
                }
                tile(m, t);
                panel_offset += static_cast<std::size_t>(pairs) * t.width;
            }
        }
        if (!fused)
            for (int row = 0; row < m; ++row)
                finish_row(args.output + (r + row) * os, cout, args.activation,
                           args.residual ? args.residual + (r + row) * rs : nullptr);
        if (args.panel_max) {
            // The tile's final rows are in L1.
            const int runs = (cout + args.panel_max_columns - 1) / args.panel_max_columns;
            for (int row = 0; row < m; ++row) {
                const float* y = args.output + (r + row) * os;
                float* maxima = args.panel_max + (r + row) * static_cast<std::size_t>(runs);
                for (int q = 0; q < runs; ++q) {
                    const int c0 = q * args.panel_max_columns;
                    maxima[q] = max_or_nan(y + c0, std::min(args.panel_max_columns, cout - c0));
                }
            }
        }
    }
}

}  // namespace pointwise_bf16_detail

// Entry point: precision bf16 runs vdpbf16ps (edet::Error on a CPU without AVX512_BF16),
// bf16_emulated the vector emulation; both give the reference's bits.
inline void pointwise_conv_bf16(const PointwiseConvBf16Args& a) {
    validate(a);
    namespace d = pointwise_bf16_detail;
    if (a.precision == Precision::bf16) {
        resolve_precision(Precision::bf16);
#if EDET_HAVE_AVX512_BF16_KERNELS
        if (a.rows) d::run(a, d::convert_tile_hardware, d::hardware_tile, true);
#endif
        return;
    }
    if (a.rows) d::run(a, d::convert_tile_scalar, d::emulated_tile, false);
}

}  // namespace kernels
EDET_NAMESPACE_END

EDET_SIMD_WARNINGS_END
