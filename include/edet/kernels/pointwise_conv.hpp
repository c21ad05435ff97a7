// edet/kernels/pointwise_conv.hpp - 1x1 convolution as a GEMM, fused epilogue.
//
// CONTRACT
//   out[r][co] = act(bias[co] + sum_ci in[r][ci] * W[co][ci]) + residual[r][co]
//   for rows r in [0, rows): a row is one pixel (NHWC: rows = n*h*w).
//   input     rows x input_stride floats, the first `in_channels` of each row used
//   weights   packed once by pack_pointwise_weights() from the reference's [cout][cin]
//   epilogue  what follows the product (PointwiseEpilogue): bias [cout] or nullptr;
//             activation; residual rows x residual_stride or nullptr, added AFTER the
//             activation (MBConv skip); panel_max (below)
//   output    rows x output_stride; must not overlap input or residual (checked: throws)
//   strides   0 means "packed": in_channels / out_channels
//   alignment none required of input, output, residual or bias
//   Callers split rows across threads; the result does not depend on the split: every
//   output element is computed as acc = bias; acc = fma(in[r][ci], W[co][ci], acc) for
//   ci = 0, 1, ... in order, whatever tile, panel or row block it lands in.
//   parity: that is the order of the reference's oneDNN path (from the bias, FMA over cin)
//   up to the point where oneDNN splits cin into chunks; the
//   reference's BLAS path (small inputs, no FMA) and the chunked sums differ in rounding
//   only, so parity with the fixtures holds to tolerance, not bit for bit.
//   The kernel neither allocates nor starts threads (scratch is a few KB of stack).
//   panel_max (optional) [rows][pointwise_panel_count(cout)]: for each output row and each
//     run of pointwise_panel_columns() output channels (the last run shorter), the largest
//     final value of the row in those columns, NaN if any of them is NaN. Written while the
//     tile is in L1, so a consumer looking for large outputs (detect::top_k_logits on the
//     class head) reads these instead of the whole output.
//
// HOW IT WORKS (the classic GotoBLAS / BLIS structure, without packing the input)
//   The packed weights are panels of kPanelWidth output channels (kPanelVectors SIMD
//   vectors), each stored [cin][panel width], zero-padded: the K loop reads one panel
//   row per step with aligned loads. The last panel is only as wide as needed (a whole
//   number of vectors), so cout = 36 on AVX-512 is one 32-wide panel plus one 16-wide.
//
//       for each depth block k0 (kc <= kMaxDepthBlock channels, same for every row)
//         for each row block r0 (row_block() rows: that slice of the input stays in L2)
//           for each weight panel p (kc x panel width <= 64 KB: L1/L2 resident)
//             for each tile of kTileRows rows:  micro-kernel
//
//   micro-kernel: kTileRows x kPanelVectors accumulators live in registers; each k step
//   loads the panel's vectors once and broadcasts one input value per row, so it does
//   kTileRows * kPanelVectors FMAs per (kTileRows + kPanelVectors) loads.
//   Depth blocks after the first reload the partial sums from the output. After the last
//   one, relu / relu6 and then + residual happen in registers; for swish / sigmoid the tile
//   is stored and finish_tile() applies activation, then + residual, on the L1-hot tile
//   (exp's temporaries inside the K-loop function made g++ spill accumulators).
//   Operands of calls larger than kStreamingBytes come from memory, where latency,
//   not bandwidth, held the kernel back (7-9 GB/s of input): the next tile's input rows,
//   output and residual lines are prefetched a tile ahead (see run()).
//   Tails: rows use a micro-kernel instantiated for fewer rows (same arithmetic); a panel
//   wider than its valid columns goes through a small stack tile, so nothing past cout is
//   read or written in the caller's buffers.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

// g++ 12 warns (-Wmaybe-uninitialized) inside its own AVX-512 intrinsics once they are
// inlined (the _mm512_undefined_* idiom, GCC bug 105593). The warning is false; we silence
// exactly that one for this header (popped at the end).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <xsimd/xsimd.hpp>

#include "edet/core/error.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/tensor/aligned_buffer.hpp"

EDET_NAMESPACE_BEGIN
namespace kernels {

namespace pointwise_detail {

using Batch = xsimd::batch<float>;
inline constexpr int kLanes = static_cast<int>(Batch::size);

// Register tile. AVX-512 has 32 vector registers: 12 x 2 accumulators + 2 weight
// vectors + 1 broadcast = 27. AVX2/SSE have 16: 6 x 2 + 2 + 1 = 15.
inline constexpr int kPanelVectors = 2;
inline constexpr int kTileRows = kLanes >= 16 ? 12 : 6;
inline constexpr int kPanelWidth = kPanelVectors * kLanes;
// Depth block: a kc x kPanelWidth panel of at most 64 KB (kc <= 512 on AVX-512, 1024 on
// AVX2), so only cin > 512 (B0's 672, 1152; larger models' 1536, 2304) is split. Measured
// with `pointwise_vs_eigen --tune` on the D0 shapes (AVX-512 Zen): kc 512 beat 128 by
// ~5-10% on cin 480..1152; the tile's input rows stream from L1/L2 either way.
inline constexpr int kMaxDepthBlock = 16384 / kPanelWidth;
// Row block: kRowBlock x kc input floats (<= 192 KB) stay in L2 while every panel passes.
inline constexpr int kRowBlock = kTileRows * 32;
// ...but a panel pass writes a strip of its output rows, and on wide outputs those rows
// lie on different 4 KB pages: the L2 streamer follows a few dozen pages, and beyond that
// every store misses to DRAM (the read-for-ownership is not prefetched). Measured on the
// class head's 4096 x 64 -> 810 (13 MB of output, AVX-512 Xeon, 1 thread): 384-row blocks
// 34 GFLOP/s, 96 rows 33, 48 rows 72, 24 rows 77. So a row block's output is kept to
// kRowBlockOutputBytes; narrow outputs (cout <= 85) keep the full kRowBlock.
inline constexpr std::size_t kRowBlockOutputBytes = 96 * 1024;
// Operands larger than this (half a Zen 5 L2) are taken to come from memory, not from a
// cache-sized chunk a fused caller has just written: for such an input the K loop
// prefetches the next tile's input rows (TileJob::prefetch_next); for such an output or
// residual, run() prefetches the next tile's lines of them in the current panel.
inline constexpr std::size_t kStreamingBytes = 512 * 1024;
inline int row_block(std::size_t output_stride) {
    const std::size_t fit = kRowBlockOutputBytes / (output_stride * sizeof(float));
    const std::size_t tiles = std::max<std::size_t>(1, fit / kTileRows);
    return static_cast<int>(std::min<std::size_t>(tiles * kTileRows, kRowBlock));
}

// Width in floats of panel `p` of a packed matrix with `cout` output channels.
inline int panel_width(int cout, int p) {
    const int full = cout / kPanelWidth;
    if (p < full) return kPanelWidth;
    const int rem = cout - full * kPanelWidth;
    return (rem + kLanes - 1) / kLanes * kLanes;
}
inline int panel_count(int cout) { return (cout + kPanelWidth - 1) / kPanelWidth; }
inline std::size_t packed_size(int cin, int cout) {
    const int full = cout / kPanelWidth;
    const std::size_t width_sum = static_cast<std::size_t>(full) * kPanelWidth +
                                  (full < panel_count(cout) ? static_cast<std::size_t>(panel_width(cout, full)) : 0);
    return static_cast<std::size_t>(cin) * width_sum;
}

// Depth block used for `cin`: the blocks are as equal as possible and depend only on cin,
// never on rows (so results do not depend on how callers split the rows).
inline int depth_block(int cin) {
    const int blocks = (cin + kMaxDepthBlock - 1) / kMaxDepthBlock;
    return (cin + blocks - 1) / blocks;
}

// What the micro-kernel does around its K loop.
struct TileJob {
    const float* init = nullptr;   // first depth block: bias of the panel's columns (nullptr: 0)
    bool first = true;             // start from init (else reload the partial sums from c)
    bool last = true;              // run the epilogue and store final values
    Activation activation = Activation::none;
    const float* residual = nullptr;  // last block only; same tile shape as c
    std::size_t residual_stride = 0;
    float* panel_max = nullptr;  // last block only: the tile's first row's entry; rows panel_max_stride apart
    std::size_t panel_max_stride = 0;
    // The K loop also asks for the next tile's input rows (the kTileRows rows after this
    // tile's, same columns), one cache line per row every 16 steps, a tile ahead of use.
    bool prefetch_next = false;
};

// Max of x[0..n), NaN if any element is NaN (vmaxps alone would drop a NaN operand), n >= 1.
inline float max_or_nan(const float* x, int n) {
    Batch m(-std::numeric_limits<float>::infinity());
    auto nan = m != m;
    int j = 0;
    for (; j + kLanes <= n; j += kLanes) {
        const Batch v = Batch::load_unaligned(x + j);
        nan = nan | (v != v);
        m = xsimd::max(m, v);
    }
    float r;
#if defined(__AVX512F__)
    if constexpr (kLanes == 16) {
        r = _mm512_reduce_max_ps(m);
    } else
#endif
    {
        alignas(64) float lanes[kLanes];
        m.store_aligned(lanes);
        r = lanes[0];
        for (int l = 1; l < kLanes; ++l) r = std::max(r, lanes[l]);
    }
    bool any_nan = xsimd::any(nan);
    for (; j < n; ++j) {
        any_nan = any_nan || std::isnan(x[j]);
        r = std::max(r, x[j]);
    }
    return any_nan ? std::numeric_limits<float>::quiet_NaN() : r;
}

// The activation + residual epilogue on a finished tile in memory (L1-hot). Kept out of
// the micro-kernel so exp's temporaries never compete with the accumulators for registers;
// the activation is a template argument so its vector code is inlined in the loop.
template <int NV, Activation A>
inline void finish_tile_with(int rows, float* c, std::size_t ldc, const TileJob& job) {
    for (int m = 0; m < rows; ++m) {
        for (int v = 0; v < NV; ++v) {
            Batch y = activate_batch(Batch::load_unaligned(c + m * ldc + v * kLanes), A);
            if (job.residual) y += Batch::load_unaligned(job.residual + m * job.residual_stride + v * kLanes);
            y.store_unaligned(c + m * ldc + v * kLanes);
        }
    }
}

template <int NV>
#if defined(__GNUC__)
__attribute__((noinline))
#endif
void finish_tile(int rows, float* c, std::size_t ldc, const TileJob& job) {
    switch (job.activation) {
        case Activation::none: return finish_tile_with<NV, Activation::none>(rows, c, ldc, job);
        case Activation::relu: return finish_tile_with<NV, Activation::relu>(rows, c, ldc, job);
        case Activation::relu6: return finish_tile_with<NV, Activation::relu6>(rows, c, ldc, job);
        case Activation::swish: return finish_tile_with<NV, Activation::swish>(rows, c, ldc, job);
        case Activation::sigmoid: return finish_tile_with<NV, Activation::sigmoid>(rows, c, ldc, job);
    }
}

// MR x NV-vector tile: c[m][0..NV*lanes) (+)= a[m][0..kc) . b[0..kc)[0..NV*lanes).
// b is a panel slice, row stride NV*lanes, 64-byte aligned rows of whole vectors.
// Input rows are addressed as base[m / 3] + (m % 3) * lda, so a 12-row tile needs four
// base pointers and one stride register (x86 scales an index by 4 or 8), not 12 pointers.
template <int MR, int NV>
inline void micro_kernel(const float* a, std::size_t lda, const float* b, int kc, float* c, std::size_t ldc,
                         const TileJob& job) {
    constexpr int W = NV * kLanes;
    constexpr int kBases = (MR + 2) / 3;
    Batch acc[MR][NV];
    if (job.first) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
            const Batch init = job.init ? Batch::load_unaligned(job.init + v * kLanes) : Batch(0.0f);
#pragma GCC unroll 16
            for (int m = 0; m < MR; ++m) acc[m][v] = init;
        }
    } else {
#pragma GCC unroll 16
        for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[m][v] = Batch::load_unaligned(c + m * ldc + v * kLanes);
    }
    const float* base[kBases];
#pragma GCC unroll 8
    for (int j = 0; j < kBases; ++j) base[j] = a + 3 * j * lda;
    const std::size_t next_tile = static_cast<std::size_t>(MR) * lda;
    for (int k = 0; k < kc; ++k) {
        if (job.prefetch_next && k % 16 == 0) {
#pragma GCC unroll 16
            for (int m = 0; m < MR; ++m) __builtin_prefetch(base[m / 3] + (m % 3) * lda + next_tile);
        }
        Batch w[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) w[v] = Batch::load_aligned(b + v * kLanes);
#pragma GCC unroll 16
        for (int m = 0; m < MR; ++m) {
            const Batch x(base[m / 3][(m % 3) * lda]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[m][v] = xsimd::fma(x, w[v], acc[m][v]);
        }
        b += W;
#pragma GCC unroll 8
        for (int j = 0; j < kBases; ++j) ++base[j];
    }
    // relu / relu6 (Lite) are two compares in registers; swish / sigmoid go to finish_tile.
    const bool clamp_here = job.last && (job.activation == Activation::relu || job.activation == Activation::relu6);
    if (clamp_here) {
#pragma GCC unroll 16
        for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[m][v] = activate_batch(acc[m][v], job.activation);
    }
    const bool fused_residual = job.last && job.residual && (job.activation == Activation::none || clamp_here);
    if (fused_residual) {
#pragma GCC unroll 16
        for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v)
                acc[m][v] += Batch::load_unaligned(job.residual + m * job.residual_stride + v * kLanes);
    }
#pragma GCC unroll 16
    for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[m][v].store_unaligned(c + m * ldc + v * kLanes);
    if (job.last && job.activation != Activation::none && !clamp_here) finish_tile<NV>(MR, c, ldc, job);
}

// Runs micro_kernel<m, NV> for a runtime row count 1 <= m <= MR.
template <int MR, int NV>
inline void tile_rows(int m, const float* a, std::size_t lda, const float* b, int kc, float* c, std::size_t ldc,
                      const TileJob& job) {
    if constexpr (MR > 1) {
        if (m < MR) return tile_rows<MR - 1, NV>(m, a, lda, b, kc, c, ldc, job);
    }
    micro_kernel<MR, NV>(a, lda, b, kc, c, ldc, job);
}

// Row copies for narrow panels (cout = 24, 36, 40, the class head's last panel): once
// per tile row, so they are inline vector code, not memmove calls (which were ~3.5% of
// D0's time). On AVX-512 the tail is one masked load / store (masked-off lanes are not
// accessed, so nothing past n is read or written); elsewhere a scalar loop.
// dst[0..n) = src[0..n), 0 < n.
EDET_ALWAYS_INLINE void copy_row_prefix(const float* src, float* dst, int n) {
    int j = 0;
    for (; j + kLanes <= n; j += kLanes) Batch::load_unaligned(src + j).store_unaligned(dst + j);
    if (j == n) return;
#if defined(__AVX512F__)
    if constexpr (kLanes == 16) {
        const __mmask16 k = static_cast<__mmask16>((1u << (n - j)) - 1u);
        _mm512_mask_storeu_ps(dst + j, k, _mm512_maskz_loadu_ps(k, src + j));
        return;
    }
#endif
    for (; j < n; ++j) dst[j] = src[j];
}
// dst[0..W) = src[0..n) followed by zeros; dst 64-byte aligned, 0 < n <= W, W whole vectors.
template <int W>
EDET_ALWAYS_INLINE void load_row_zero_padded(const float* src, int n, float* dst) {
    int j = 0;
    for (; j + kLanes <= n; j += kLanes) Batch::load_unaligned(src + j).store_aligned(dst + j);
    if (j < n) {
#if defined(__AVX512F__)
        if constexpr (kLanes == 16) {
            const __mmask16 k = static_cast<__mmask16>((1u << (n - j)) - 1u);
            _mm512_store_ps(dst + j, _mm512_maskz_loadu_ps(k, src + j));
        } else
#endif
        {
            for (int i = j; i < j + kLanes; ++i) dst[i] = i < n ? src[i] : 0.0f;
        }
        j += kLanes;
    }
    for (; j < W; j += kLanes) Batch(0.0f).store_aligned(dst + j);
}

// One tile of `m` rows of a panel with `n` valid columns (n <= NV*lanes). A panel wider
// than its valid columns goes through stack copies of the output, bias and residual.
// The job is taken by reference: passed by value (56 bytes, in memory), every call copied
// it with wide loads of the fields the caller had just stored one by one, a store-
// forwarding stall per tile (~5% of Lite3's time in perf).
template <int MR, int NV>
inline void tile(int m, int n, const float* a, std::size_t lda, const float* b, int kc, float* c, std::size_t ldc,
                 const TileJob& job_in) {
    constexpr int W = NV * kLanes;
    if (n == W) {
        tile_rows<MR, NV>(m, a, lda, b, kc, c, ldc, job_in);
        if (job_in.last && job_in.panel_max)
            for (int i = 0; i < m; ++i) job_in.panel_max[i * job_in.panel_max_stride] = max_or_nan(c + i * ldc, n);
        return;
    }
    TileJob job = job_in;
    alignas(64) float cbuf[MR * W];
    alignas(64) float rbuf[MR * W];
    alignas(64) float bias[W];
    if (!job.first)
        for (int i = 0; i < m; ++i) load_row_zero_padded<W>(c + i * ldc, n, cbuf + i * W);
    if (job.first && job.init) {
        load_row_zero_padded<W>(job.init, n, bias);
        job.init = bias;
    }
    if (job.last && job.residual) {
        for (int i = 0; i < m; ++i) load_row_zero_padded<W>(job.residual + i * job.residual_stride, n, rbuf + i * W);
        job.residual = rbuf;
        job.residual_stride = W;
    }
    tile_rows<MR, NV>(m, a, lda, b, kc, cbuf, W, job);
    for (int i = 0; i < m; ++i) copy_row_prefix(cbuf + i * W, c + i * ldc, n);
    if (job.last && job.panel_max)
        for (int i = 0; i < m; ++i) job.panel_max[i * job.panel_max_stride] = max_or_nan(cbuf + i * W, n);
}

template <int MR, int NV>
inline void tile_any_width(int nv, int m, int n, const float* a, std::size_t lda, const float* b, int kc, float* c,
                           std::size_t ldc, const TileJob& job) {
    if constexpr (NV > 1) {
        if (nv < NV) return tile_any_width<MR, NV - 1>(nv, m, n, a, lda, b, kc, c, ldc, job);
    }
    tile<MR, NV>(m, n, a, lda, b, kc, c, ldc, job);
}

// Blocking parameters (a tuning knob for bench/pointwise_vs_eigen.cpp; the entry point
// uses the defaults above). depth_block must depend on cin only.
struct Blocking {
    int depth = 0;  // 0: depth_block(cin)
    int rows = 0;   // 0: row_block(output stride)
};

}  // namespace pointwise_detail

// Weights in the kernel's own layout. Built once at load time.
struct PackedPointwiseWeights {
    int in_channels = 0;
    int out_channels = 0;
    // Panels of pointwise_detail::kPanelWidth output channels (the last one narrower),
    // each [in_channels][panel width], zero-padded; see the comment at the top.
    AlignedBuffer<float> data;
};

inline PackedPointwiseWeights pack_pointwise_weights(const float* w_out_in, int in_channels, int out_channels) {
    if (!w_out_in) fail("pointwise weights", "pack_pointwise_weights", "null pointer");
    if (in_channels < 1 || out_channels < 1)
        fail("pointwise weights", "pack_pointwise_weights", cat("cin=", in_channels, " cout=", out_channels));
    namespace d = pointwise_detail;
    PackedPointwiseWeights p;
    p.in_channels = in_channels;
    p.out_channels = out_channels;
    p.data = AlignedBuffer<float>(d::packed_size(in_channels, out_channels));
    p.data.zero();
    std::size_t offset = 0;
    for (int panel = 0; panel < d::panel_count(out_channels); ++panel) {
        const int width = d::panel_width(out_channels, panel);
        const int co0 = panel * d::kPanelWidth;
        const int valid = std::min(width, out_channels - co0);
        for (int ci = 0; ci < in_channels; ++ci)
            for (int j = 0; j < valid; ++j)
                p.data[offset + static_cast<std::size_t>(ci) * width + j] =
                    w_out_in[static_cast<std::size_t>(co0 + j) * in_channels + ci];
        offset += static_cast<std::size_t>(in_channels) * width;
    }
    return p;
}

// out = the packed weights with input channel ci's row scaled by scale[ci], in the same
// layout (packed_size floats), for PointwiseConvArgs::packed. This is how a per-image
// channel gate in front of the conv (squeeze-excite before MBConv's projection) is applied:
// W (g . x) = (W diag(g)) x, cin * cout multiplies instead of one pass over the input.
// Panels [panel_begin, panel_end) only (end < 0: to the last), so callers can split the
// copy across threads (it is cin * cout floats each way: 0.9 MB for B0's 1152 -> 192).
inline void scale_packed_inputs(const PackedPointwiseWeights& w, const float* scale, float* out, int panel_begin = 0,
                                int panel_end = -1) {
    namespace d = pointwise_detail;
    if (!scale || !out) fail("buffers", "scale_packed_inputs", "scale and out must not be null");
    const int panels = d::panel_count(w.out_channels);
    if (panel_end < 0) panel_end = panels;
    if (panel_begin < 0 || panel_begin > panel_end || panel_end > panels)
        fail("panel range", "scale_packed_inputs", cat("[", panel_begin, ", ", panel_end, ") outside [0, ", panels, ")"));
    // Every panel before the last is kPanelWidth wide.
    std::size_t offset = static_cast<std::size_t>(panel_begin) * static_cast<std::size_t>(w.in_channels) * d::kPanelWidth;
    for (int panel = panel_begin; panel < panel_end; ++panel) {
        const std::size_t width = static_cast<std::size_t>(d::panel_width(w.out_channels, panel));
        for (int ci = 0; ci < w.in_channels; ++ci) {
            const float g = scale[ci];
            const float* src = w.data.data() + offset + static_cast<std::size_t>(ci) * width;
            float* dst = out + offset + static_cast<std::size_t>(ci) * width;
            for (std::size_t j = 0; j < width; ++j) dst[j] = src[j] * g;
        }
        offset += static_cast<std::size_t>(w.in_channels) * width;
    }
}

// What happens to each output row after the matrix product, in this order: + bias (the
// accumulators start from it), activation, + residual; then, optionally, the row's maxima
// per weight panel are recorded. Layers own bias and activation (nn::PointwiseConvBn::
// epilogue()) and callers add a residual or panel maxima to that, so one value carries
// everything a call does after the product through the layers that fuse pointwise convs.
struct PointwiseEpilogue {
    const float* bias = nullptr;  // [cout] or nullptr
    Activation activation = Activation::none;
    const float* residual = nullptr;  // rows x residual_stride, added after the activation
    std::size_t residual_stride = 0;  // 0: out_channels
    // Optional [rows][pointwise_panel_count(cout)] row maxima per panel (see CONTRACT).
    float* panel_max = nullptr;
};

struct PointwiseConvArgs {
    const float* input = nullptr;
    std::size_t input_stride = 0;  // 0: in_channels
    std::size_t rows = 0;
    const PackedPointwiseWeights* weights = nullptr;
    // Replaces weights->data (same layout and size, 64-byte aligned): per-call weights such
    // as scale_packed_inputs' output. nullptr: weights->data.
    const float* packed = nullptr;
    float* output = nullptr;
    std::size_t output_stride = 0;  // 0: out_channels
    PointwiseEpilogue epilogue;
};

// The column runs of PointwiseEpilogue::panel_max: panel p covers output channels
// [p * pointwise_panel_columns(), min(cout, (p + 1) * pointwise_panel_columns())).
inline int pointwise_panel_columns() { return pointwise_detail::kPanelWidth; }
// Rows (pixels) of the register tile; a call's rows past a multiple of it run a smaller tile.
inline constexpr int pointwise_tile_rows() { return pointwise_detail::kTileRows; }
inline int pointwise_panel_count(int cout) { return pointwise_detail::panel_count(cout); }

// The epilogue `e` of a call on rows [0, ...) of a conv with `out_channels` outputs, for
// the call on its rows from `row` on: its residual and panel maxima start `row` rows later.
inline PointwiseEpilogue epilogue_from_row(const PointwiseEpilogue& e, std::size_t row, int out_channels) {
    PointwiseEpilogue r = e;
    const std::size_t rs = e.residual_stride ? e.residual_stride : static_cast<std::size_t>(out_channels);
    if (e.residual) r.residual = e.residual + row * rs;
    if (e.panel_max) r.panel_max = e.panel_max + row * static_cast<std::size_t>(pointwise_panel_count(out_channels));
    return r;
}

namespace pointwise_detail {
// [begin, end) of a strided rows x width region, as integers (comparing unrelated
// pointers with < is unspecified; std::less gives a total order, the integers a range).
inline bool overlaps(const float* a, std::size_t a_stride, std::size_t a_width, const float* b, std::size_t b_stride,
                     std::size_t b_width, std::size_t rows) {
    const auto a0 = reinterpret_cast<std::uintptr_t>(a);
    const auto a1 = reinterpret_cast<std::uintptr_t>(a + (rows - 1) * a_stride + a_width);
    const auto b0 = reinterpret_cast<std::uintptr_t>(b);
    const auto b1 = reinterpret_cast<std::uintptr_t>(b + (rows - 1) * b_stride + b_width);
    return a0 < b1 && b0 < a1;
}
}  // namespace pointwise_detail

inline void validate(const PointwiseConvArgs& a) {
    const char* where = "pointwise_conv";
    if (!a.weights) fail("weights", where, "null packed weights");
    if (a.weights->in_channels < 1 || a.weights->out_channels < 1 ||
        a.weights->data.size() != pointwise_detail::packed_size(a.weights->in_channels, a.weights->out_channels))
        fail("weights", where,
             cat("not packed by pack_pointwise_weights (cin=", a.weights->in_channels, " cout=",
                 a.weights->out_channels, " size=", a.weights->data.size(), ")"));
    if (a.packed && reinterpret_cast<std::uintptr_t>(a.packed) % 64 != 0)
        fail("packed weights", where, "must be 64-byte aligned");
    if (a.rows == 0) return;
    if (!a.input || !a.output) fail("buffers", where, "input and output must not be null");
    const std::size_t cin = static_cast<std::size_t>(a.weights->in_channels);
    const std::size_t cout = static_cast<std::size_t>(a.weights->out_channels);
    if (a.input_stride && a.input_stride < cin) fail("input stride", where, cat(a.input_stride, " < cin ", cin));
    if (a.output_stride && a.output_stride < cout) fail("output stride", where, cat(a.output_stride, " < cout ", cout));
    if (a.epilogue.residual_stride && a.epilogue.residual_stride < cout) fail("residual stride", where, cat(a.epilogue.residual_stride, " < cout ", cout));
    const std::size_t is = a.input_stride ? a.input_stride : cin;
    const std::size_t os = a.output_stride ? a.output_stride : cout;
    const std::size_t rs = a.epilogue.residual_stride ? a.epilogue.residual_stride : cout;
    if (pointwise_detail::overlaps(a.output, os, cout, a.input, is, cin, a.rows))
        fail("buffers", where, "output overlaps input");
    if (a.epilogue.residual && pointwise_detail::overlaps(a.output, os, cout, a.epilogue.residual, rs, cout, a.rows))
        fail("buffers", where, "output overlaps residual");
}

namespace ref {

// The reference reads the original [cout][cin] weights, independently of any packing. It
// does not write panel_max (tests derive it from the output).
inline void pointwise_conv(const PointwiseConvArgs& a, const float* w_out_in) {
    validate(a);
    if (!w_out_in) fail("weights", "ref::pointwise_conv", "null pointer");
    const int cin = a.weights->in_channels, cout = a.weights->out_channels;
    const std::size_t is = a.input_stride ? a.input_stride : cin;
    const std::size_t os = a.output_stride ? a.output_stride : cout;
    const std::size_t rs = a.epilogue.residual_stride ? a.epilogue.residual_stride : cout;
    for (std::size_t r = 0; r < a.rows; ++r) {
        for (int co = 0; co < cout; ++co) {
            float acc = a.epilogue.bias ? a.epilogue.bias[co] : 0.0f;
            for (int ci = 0; ci < cin; ++ci) acc += a.input[r * is + ci] * w_out_in[static_cast<std::size_t>(co) * cin + ci];
            float y = activate(acc, a.epilogue.activation);
            if (a.epilogue.residual) y += a.epilogue.residual[r * rs + co];
            a.output[r * os + co] = y;
        }
    }
}

}  // namespace ref

namespace pointwise_detail {

// Asks for the cache lines of `rows` rows of `bytes` bytes from p, rows `stride` floats
// apart; for_write: lines about to be stored to (their read-for-ownership starts now).
EDET_ALWAYS_INLINE void prefetch_rows(const float* p, int rows, std::size_t stride, std::size_t bytes, bool for_write) {
    for (int m = 0; m < rows; ++m) {
        const auto begin = reinterpret_cast<std::uintptr_t>(p + static_cast<std::size_t>(m) * stride);
        for (std::uintptr_t line = begin & ~std::uintptr_t(63); line < begin + bytes; line += 64) {
            if (for_write) __builtin_prefetch(reinterpret_cast<const void*>(line), 1);
            else __builtin_prefetch(reinterpret_cast<const void*>(line), 0);
        }
    }
}

inline void run(const PointwiseConvArgs& args, const Blocking& blocking) {
    const PointwiseEpilogue& e = args.epilogue;
    const int cin = args.weights->in_channels, cout = args.weights->out_channels;
    const std::size_t is = args.input_stride ? args.input_stride : cin;
    const std::size_t os = args.output_stride ? args.output_stride : cout;
    const std::size_t rs = e.residual_stride ? e.residual_stride : cout;
    const int kc_max = blocking.depth > 0 ? blocking.depth : depth_block(cin);
    const std::size_t mc = static_cast<std::size_t>(std::max(blocking.rows > 0 ? blocking.rows : row_block(os), kTileRows));
    const int panels = panel_count(cout);
    const float* packed = args.packed ? args.packed : args.weights->data.data();
    // Calls this large stream their operands from memory (see kStreamingBytes).
    const bool streaming_in = args.rows * is * sizeof(float) > kStreamingBytes;
    const bool streaming_out = args.rows * std::max(os, e.residual ? rs : 0) * sizeof(float) > kStreamingBytes;
    for (int k0 = 0; k0 < cin; k0 += kc_max) {
        const int kc = std::min(kc_max, cin - k0);
        for (std::size_t r0 = 0; r0 < args.rows; r0 += mc) {
            const std::size_t r1 = std::min(args.rows, r0 + mc);
            std::size_t panel_offset = 0;
            for (int p = 0; p < panels; ++p) {
                const int width = panel_width(cout, p);
                const int co0 = p * kPanelWidth;
                const int n = std::min(width, cout - co0);
                const float* b = packed + panel_offset + static_cast<std::size_t>(k0) * width;
                TileJob job;
                job.first = k0 == 0;
                job.last = k0 + kc == cin;
                job.init = e.bias ? e.bias + co0 : nullptr;
                job.activation = e.activation;
                for (std::size_t r = r0; r < r1; r += kTileRows) {
                    const int m = static_cast<int>(std::min<std::size_t>(kTileRows, r1 - r));
                    job.residual = job.last && e.residual ? e.residual + r * rs + co0 : nullptr;
                    job.residual_stride = rs;
                    job.panel_max = e.panel_max ? e.panel_max + r * static_cast<std::size_t>(panels) + p : nullptr;
                    job.panel_max_stride = static_cast<std::size_t>(panels);
                    job.prefetch_next = streaming_in && p == 0 && r + 2 * kTileRows <= args.rows;
                    // Each panel stores to (and reads the residual from) other cache lines
                    // of its rows, which a large call finds in memory: a missed store
                    // waits for its line. Ask for the next tile's lines of this panel now
                    // (2-3 of each per row, a tile ahead). Class head predict 36864 x 384 -> 810
                    // 164 -> 199 GFLOP/s, projection + residual 9216 x 1344 -> 224 151 -> 192.
                    if (streaming_out && r + kTileRows < r1) {
                        const std::size_t next = r + kTileRows;
                        const int next_m = static_cast<int>(std::min<std::size_t>(kTileRows, r1 - next));
                        const std::size_t bytes = static_cast<std::size_t>(n) * sizeof(float);
                        prefetch_rows(args.output + next * os + co0, next_m, os, bytes, true);
                        if (job.last && e.residual) prefetch_rows(e.residual + next * rs + co0, next_m, rs, bytes, false);
                    }
                    tile_any_width<kTileRows, kPanelVectors>(width / kLanes, m, n, args.input + r * is + k0, is, b, kc,
                                                             args.output + r * os + co0, os, job);
                }
                panel_offset += static_cast<std::size_t>(cin) * width;
            }
        }
    }
}

}  // namespace pointwise_detail

// Entry point: the register-blocked xsimd GEMM above, for every shape.
//
// Why no Eigen path: bench/pointwise_vs_eigen.cpp times this kernel against Eigen 3.4's
// GEMM (row-major maps, out = X * W^T, then + bias; 1 thread) on all 36 pointwise shapes of
// EfficientDet-D0 at 512x512. Thread CPU time, median of 7 runs, shared and overloaded
// 2-vCPU machine (so +-20% noise), measured FMA peak 219 GFLOP/s (AVX-512) / 98 (AVX2):
//   AVX-512 (12x32 tile): edet faster on 36/36 shapes, 1.2x-2.5x (geometric mean 1.56);
//     e.g. 1024x480->112: 187 vs 127 GFLOP/s; 256x1152->192: 197 vs 114;
//     65536x32->16: 108 vs 48; 4096x64->810: 111 vs 84; 16x64->36: 32 vs 26.
//   AVX2 (6x16 tile): edet faster or equal on 35/36 (geometric mean 1.19); the one loss,
//     64x64->64 at 0.95, is within the noise.
// So the dispatch rule is "always edet". It also keeps the split invariance promised in
// the contract, which an Eigen path would break (Eigen switches to GEMV or coefficient-
// wise products for small row counts, changing the summation order).
inline void pointwise_conv(const PointwiseConvArgs& a) {
    validate(a);
    if (a.rows == 0) return;
    pointwise_detail::run(a, pointwise_detail::Blocking{});
}

}  // namespace kernels
EDET_NAMESPACE_END

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
