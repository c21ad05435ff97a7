// edet/kernels/pool.hpp - max pooling and global average pooling.
//
// CONTRACT max_pool
//   input NHWC contiguous {n, in_h, in_w, c}; output {n, out_h, out_w, c}, not aliasing
//   any kernel >= 1, stride >= 1, padding 0 <= pad < kernel on each side (so every window
//   holds at least one real pixel); out = conv_output_size(in, kernel, stride, pads)
//   padding is -infinity, so a padded position never wins (TF 'same' and symmetric alike)
//   rows [row_begin, row_end) of the flattened n*out_h output rows (row_end < 0: all)
//   maths: m = -inf; for taps (ky, kx) in order: if (v > m) m = v. NaN inputs are skipped
//   as in this comparison; the fast version is bit-identical to ref::max_pool.
// CONTRACT global_average_pool
//   input {n, h, w, c} -> output [n][c] = (sum over h*w) / (h*w), then one true division.
//   The sum is a cascade (pairwise) sum in float32 over the pixels in row-major order:
//   runs of at most kCascadeLeaf pixels are summed in order from 0, and longer runs are
//   split in half (first half n/2 pixels) and the two halves' sums added.
//   parity: PyTorch's mean is a cascade sum too; a plain running sum over 256x256 pixels
//   of a real image drifts by up to ~2e-4 relative, which pushed the squeeze-excite gates
//   of tf_efficientdet_d0_ap on a photo past the parity tolerance. The fast version keeps
//   exactly this order per channel (vectorising across channels): bit-identical to ref.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <vector>

#include "edet/core/error.hpp"
#include "edet/kernels/activation.hpp"  // FloatBatch, xsimd
#include "edet/kernels/padding.hpp"
#include "edet/tensor/shape.hpp"

EDET_NAMESPACE_BEGIN
namespace kernels {

struct MaxPoolArgs {
    const float* input = nullptr;
    Shape input_shape{};
    float* output = nullptr;
    Shape output_shape{};
    int kernel = 3;
    int stride = 2;
    Padding2d pad{};
    int row_begin = 0;
    int row_end = -1;
};

inline void validate(const MaxPoolArgs& a) {
    const char* where = "max_pool";
    if (!a.input || !a.output) fail("buffers", where, "input and output must not be null");
    check_shape(a.input_shape, where);
    check_shape(a.output_shape, where);
    if (a.kernel < 1 || a.stride < 1) fail("geometry", where, cat("kernel ", a.kernel, " stride ", a.stride, " must be >= 1"));
    const int pads[4] = {a.pad.top, a.pad.bottom, a.pad.left, a.pad.right};
    for (int p : pads)
        if (p < 0 || p >= a.kernel)
            fail("padding", where, cat("pad ", p, " outside [0, kernel ", a.kernel, ")"));
    const int oh = conv_output_size(a.input_shape.h, a.kernel, a.stride, a.pad.top, a.pad.bottom);
    const int ow = conv_output_size(a.input_shape.w, a.kernel, a.stride, a.pad.left, a.pad.right);
    const Shape expect{a.input_shape.n, oh, ow, a.input_shape.c};
    if (a.output_shape != expect) fail("output shape", where, cat("expected ", expect.str(), ", got ", a.output_shape.str()));
    const int rows = a.output_shape.n * a.output_shape.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    if (a.row_begin < 0 || a.row_begin > end || end > rows)
        fail("row range", where, cat("[", a.row_begin, ", ", end, ") outside [0, ", rows, ")"));
}

struct GlobalAveragePoolArgs {
    const float* input = nullptr;
    Shape input_shape{};
    float* output = nullptr;  // [n][c]
};

inline void validate(const GlobalAveragePoolArgs& a) {
    if (!a.input || !a.output) fail("buffers", "global_average_pool", "input and output must not be null");
    check_shape(a.input_shape, "global_average_pool");
}

namespace detail {

// Pixels summed in order before the cascade splits (see the global_average_pool contract).
inline constexpr std::size_t kCascadeLeaf = 16;

// Cascade sum of `count` values at first, first + stride, ...; `load` reads one value
// (a float or a SIMD batch of consecutive channels). Recursion depth is log2(count / 16).
template <class Acc, class Load>
Acc cascade_sum(const float* first, std::size_t count, std::size_t stride, const Load& load) {
    if (count <= kCascadeLeaf) {
        Acc sum(0.0f);
        for (std::size_t i = 0; i < count; ++i) sum += load(first + i * stride);
        return sum;
    }
    const std::size_t half = count / 2;
    const Acc left = cascade_sum<Acc>(first, half, stride, load);
    const Acc right = cascade_sum<Acc>(first + half * stride, count - half, stride, load);
    return left + right;
}

}  // namespace detail

namespace ref {

inline void max_pool(const MaxPoolArgs& a) {
    validate(a);
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int rows = os.n * os.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    for (int r = a.row_begin; r < end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        for (int ox = 0; ox < os.w; ++ox)
            for (int ch = 0; ch < is.c; ++ch) {
                float m = -std::numeric_limits<float>::infinity();
                for (int ky = 0; ky < a.kernel; ++ky) {
                    const int iy = oy * a.stride + ky - a.pad.top;
                    if (iy < 0 || iy >= is.h) continue;
                    for (int kx = 0; kx < a.kernel; ++kx) {
                        const int ix = ox * a.stride + kx - a.pad.left;
                        if (ix < 0 || ix >= is.w) continue;
                        const float v = a.input[((static_cast<std::size_t>(n) * is.h + iy) * is.w + ix) * is.c + ch];
                        if (v > m) m = v;
                    }
                }
                a.output[((static_cast<std::size_t>(n) * os.h + oy) * os.w + ox) * os.c + ch] = m;
            }
    }
}

inline void global_average_pool(const GlobalAveragePoolArgs& a) {
    validate(a);
    const Shape& s = a.input_shape;
    const std::size_t hw = static_cast<std::size_t>(s.h) * s.w;
    const std::size_t C = static_cast<std::size_t>(s.c);
    for (int n = 0; n < s.n; ++n)
        for (std::size_t ch = 0; ch < C; ++ch) {
            const float* first = a.input + static_cast<std::size_t>(n) * hw * C + ch;
            const float sum = detail::cascade_sum<float>(first, hw, C, [](const float* q) { return *q; });
            a.output[static_cast<std::size_t>(n) * C + ch] = sum / static_cast<float>(hw);
        }
}

}  // namespace ref

EDET_SIMD_WARNINGS_BEGIN

// The fast max pool: per output pixel, the window's valid taps are found once (so no
// per-tap bounds test) and the channels run in SIMD batches; a scalar loop does the
// channel tail with the same comparison.
inline void max_pool(const MaxPoolArgs& a) {
    validate(a);
    using B = FloatBatch;
    constexpr int W = static_cast<int>(kFloatLanes);
    const Shape& is = a.input_shape;
    const Shape& os = a.output_shape;
    const int C = is.c;
    const int vec_end = C - C % W;
    const std::size_t row_stride = static_cast<std::size_t>(is.w) * C;
    const float neg_inf = -std::numeric_limits<float>::infinity();
    const int rows = os.n * os.h;
    const int end = a.row_end < 0 ? rows : a.row_end;
    for (int r = a.row_begin; r < end; ++r) {
        const int n = r / os.h, oy = r % os.h;
        const int iy0 = oy * a.stride - a.pad.top;
        const int ky_begin = std::max(0, -iy0), ky_end = std::min(a.kernel, is.h - iy0);
        const float* image = a.input + static_cast<std::size_t>(n) * is.h * row_stride;
        float* out = a.output + (static_cast<std::size_t>(n) * os.h + oy) * os.w * C;
        for (int ox = 0; ox < os.w; ++ox, out += C) {
            const int ix0 = ox * a.stride - a.pad.left;
            const int kx_begin = std::max(0, -ix0), kx_end = std::min(a.kernel, is.w - ix0);
            const float* window = image + static_cast<std::size_t>(iy0 + ky_begin) * row_stride +
                                  static_cast<std::size_t>(ix0 + kx_begin) * C;
            const int taps_y = ky_end - ky_begin, taps_x = kx_end - kx_begin;
            int ch = 0;
            for (; ch < vec_end; ch += W) {
                B m(neg_inf);
                for (int ty = 0; ty < taps_y; ++ty) {
                    const float* p = window + static_cast<std::size_t>(ty) * row_stride + ch;
                    for (int tx = 0; tx < taps_x; ++tx, p += C) {
                        const B v = B::load_unaligned(p);
                        m = xsimd::select(v > m, v, m);
                    }
                }
                m.store_unaligned(out + ch);
            }
            for (; ch < C; ++ch) {
                float m = neg_inf;
                for (int ty = 0; ty < taps_y; ++ty) {
                    const float* p = window + static_cast<std::size_t>(ty) * row_stride + ch;
                    for (int tx = 0; tx < taps_x; ++tx, p += C)
                        if (*p > m) m = *p;
                }
                out[ch] = m;
            }
        }
    }
}

namespace detail {
// dst[0..C) = dst + src, lane by lane (the one addition of the cascade's leaves and nodes).
inline void add_row(float* dst, const float* src, std::size_t C) {
    using B = FloatBatch;
    constexpr std::size_t W = kFloatLanes;
    std::size_t ch = 0;
    for (; ch + W <= C; ch += W) (B::load_unaligned(dst + ch) + B::load_unaligned(src + ch)).store_unaligned(dst + ch);
    for (; ch < C; ++ch) dst[ch] = dst[ch] + src[ch];
}
}  // namespace detail

// Cascade sums of pixels [0, count) of `x` (count pixels of C contiguous floats each) for
// every channel at once: out[ch] = the contract's cascade sum of channel ch, bit for bit.
// A leaf adds its (<= kCascadeLeaf) pixels in order into an accumulator row (L1), so the
// input is read once, in memory order (a pass per block of channels, as this kernel did
// before, read a D0 blocks.0 tensor of 8 MB three times from DRAM, with strided lines).
// `scratch`: pool_sum_scratch_floats(count, C) floats, not aliasing x or out.
inline std::size_t pool_sum_scratch_floats(std::size_t count, std::size_t C) {
    std::size_t levels = 1;
    for (std::size_t n = count; n > detail::kCascadeLeaf; n -= n / 2) ++levels;
    return levels * C;
}
inline void pool_sums(const float* x, std::size_t count, std::size_t C, float* out, float* scratch) {
    if (count <= detail::kCascadeLeaf) {
        std::fill(out, out + C, 0.0f);
        for (std::size_t i = 0; i < count; ++i) detail::add_row(out, x + i * C, C);
        return;
    }
    const std::size_t half = count / 2;
    pool_sums(x, half, C, out, scratch);
    float* right = scratch;
    pool_sums(x + half * C, count - half, C, right, scratch + C);
    detail::add_row(out, right, C);
}

// pool_sums fed in pieces: the pixels arrive in order, in runs of any length (a producer's
// output rows while they are still in L1/L2, e.g. nn::MBConv's depthwise pass feeding its
// squeeze-excite pool), and finish() gives exactly pool_sums(x, count, C) of them. The
// cascade's tree is laid out once as its leaves in order, each with the number of merges
// its last pixel completes; a stack of partial sums (one row of C floats per open level)
// replays pool_sums' additions in the same order: leaf = 0 + p0 + p1 + ..., node = left
// + right.
class CascadeSummer {
public:
    CascadeSummer() = default;
    CascadeSummer(std::size_t count, std::size_t C) { reset(count, C); }

    // Starts a new sum of `count` pixels (>= 1) of C (>= 1) channels; keeps the buffers.
    void reset(std::size_t count, std::size_t C) {
        if (count < 1 || C < 1) fail("cascade sum", "CascadeSummer", cat("count ", count, " channels ", C, " must be >= 1"));
        if (count != count_ || C != C_) {
            count_ = count;
            C_ = C;
            leaves_.clear();
            plan(count);
            // pool_sums' scratch (a row per level) plus the leaf being summed.
            stack_.assign(pool_sum_scratch_floats(count, C) + C, 0.0f);
        }
        leaf_ = 0;
        in_leaf_ = 0;
        depth_ = 0;
        fed_ = 0;
    }

    std::size_t count() const { return count_; }
    std::size_t fed() const { return fed_; }

    // The next n pixels (n * C contiguous floats).
    void add(const float* pixels, std::size_t n) {
        if (n > count_ - fed_) fail("cascade sum", "CascadeSummer::add", cat(fed_ + n, " pixels fed, expected ", count_));
        while (n > 0) {
            float* slot = stack_.data() + depth_ * C_;
            if (in_leaf_ == 0) std::fill(slot, slot + C_, 0.0f);
            const Leaf& leaf = leaves_[leaf_];
            const std::size_t take = std::min<std::size_t>(n, leaf.size - in_leaf_);
            for (std::size_t i = 0; i < take; ++i) detail::add_row(slot, pixels + i * C_, C_);
            pixels += take * C_;
            n -= take;
            fed_ += take;
            in_leaf_ += take;
            if (in_leaf_ < leaf.size) continue;
            // The leaf is complete: push it, then close the nodes it completes.
            ++depth_;
            for (std::uint32_t m = 0; m < leaf.merges; ++m) {
                float* left = stack_.data() + (depth_ - 2) * C_;
                detail::add_row(left, left + C_, C_);
                --depth_;
            }
            ++leaf_;
            in_leaf_ = 0;
        }
    }

    // out[0..C) = the cascade sums; every pixel must have been fed.
    void finish(float* out) const {
        if (fed_ != count_ || depth_ != 1) fail("cascade sum", "CascadeSummer::finish", cat(fed_, " of ", count_, " pixels fed"));
        std::copy(stack_.begin(), stack_.begin() + static_cast<std::ptrdiff_t>(C_), out);
    }

private:
    struct Leaf {
        std::uint32_t size;    // pixels, 1..kCascadeLeaf
        std::uint32_t merges;  // nodes closed after its last pixel
    };
    // pool_sums' recursion: a leaf when count <= kCascadeLeaf, else the two halves and the
    // merge of their sums after the right half's last leaf.
    void plan(std::size_t count) {
        if (count <= detail::kCascadeLeaf) {
            leaves_.push_back({static_cast<std::uint32_t>(count), 0});
            return;
        }
        const std::size_t half = count / 2;
        plan(half);
        plan(count - half);
        ++leaves_.back().merges;
    }

    std::size_t count_ = 0, C_ = 0;
    std::vector<Leaf> leaves_;
    std::vector<float> stack_;
    std::size_t leaf_ = 0, in_leaf_ = 0, depth_ = 0, fed_ = 0;
};

// The fast global average pool: pool_sums per image, then the division; each channel's
// sum is the reference's sum, bit for bit.
inline void global_average_pool(const GlobalAveragePoolArgs& a) {
    validate(a);
    using B = FloatBatch;
    constexpr std::size_t W = kFloatLanes;
    const Shape& s = a.input_shape;
    const std::size_t C = static_cast<std::size_t>(s.c);
    const std::size_t hw = static_cast<std::size_t>(s.h) * s.w;
    const float count = static_cast<float>(hw);
    std::vector<float> scratch(pool_sum_scratch_floats(hw, C));
    for (int n = 0; n < s.n; ++n) {
        float* out = a.output + static_cast<std::size_t>(n) * C;
        pool_sums(a.input + static_cast<std::size_t>(n) * hw * C, hw, C, out, scratch.data());
        std::size_t ch = 0;
        for (; ch + W <= C; ch += W) (B::load_unaligned(out + ch) / B(count)).store_unaligned(out + ch);
        for (; ch < C; ++ch) out[ch] /= count;
    }
}

EDET_SIMD_WARNINGS_END

}  // namespace kernels
EDET_NAMESPACE_END
