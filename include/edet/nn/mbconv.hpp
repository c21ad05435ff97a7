// edet/nn/mbconv.hpp - SqueezeExcite and MBConv, the EfficientNet blocks.
//
//   depthwise-separable block (expand ratio 1, stage 0):
//     x -> dw kxk -> BN+act -> [SE] -> pw 1x1 -> BN -> (+ x if stride 1 and cin == cout)
//   inverted residual block:
//     x -> pw 1x1 expand -> BN+act -> dw kxk (stride) -> BN+act -> [SE] -> pw 1x1 project
//       -> BN -> (+ x if stride 1 and cin == cout)
//   SE (B-series; none in Lite):  s = mean_hw(x); g = sigmoid(W_e swish(W_r s + b_r) + b_e);
//     x *= g.
// No activation follows the last BN. Names follow timm (conv_dw, bn1, se.conv_reduce, ...).
//
// Expand and depthwise run fused, by row bands (nn/row_window.hpp): the expanded tensor
// (mid_channels wide, up to 6x the block's input; 25 MB in D0's blocks.1.0) never exists
// whole. Each thread takes a band of output rows and walks it in chunks; for a chunk it
// expands just the input rows the depthwise window reads into a small per-thread window
// buffer (kRowWindowBytes, L2-sized), keeping the rows the previous chunk already
// expanded, then runs the depthwise conv on the window.
// Only the depthwise output is written to memory, because SE needs all of it before
// the projection; its SE pool is summed chunk by chunk during the same pass (PoolSlots),
// so the tensor is read back once, by the projection. Without SE (Lite) the chunk's
// depthwise rows are projected at once, while they are still in L2. Every value is
// computed by the same kernels with the same arithmetic as the unfused expand ->
// depthwise, so results are bit-identical (and independent of the thread count); the
// rows on a band boundary are expanded by both threads. Small maps with SE split over
// threads are expanded whole instead (MBConv::expands_whole).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "edet/core/parallel.hpp"
#include "edet/kernels/pool.hpp"
#include "edet/kernels/squeeze_excite.hpp"
#include "edet/nn/binder.hpp"
#include "edet/nn/conv.hpp"
#include "edet/nn/layer_specs.hpp"
#include "edet/nn/row_window.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {


class SqueezeExcite {
public:
    SqueezeExcite() = default;
    SqueezeExcite(const SqueezeExciteSpec& s, Binder& b) : spec_(s) {
        if (s.channels < 1 || s.reduced < 1)
            fail(cat("layer '", s.prefix, "'"), "SqueezeExcite", cat("channels ", s.channels, " reduced ", s.reduced));
        reduce_w_ = b.take(s.prefix + ".conv_reduce.weight", {s.reduced, s.channels, 1, 1});
        reduce_b_ = b.take(s.prefix + ".conv_reduce.bias", {s.reduced});
        expand_w_ = b.take(s.prefix + ".conv_expand.weight", {s.channels, s.reduced, 1, 1});
        expand_b_ = b.take(s.prefix + ".conv_expand.bias", {s.channels});
    }

    std::size_t scratch_floats(const Shape& in) const {
        return static_cast<std::size_t>(in.n) * spec_.channels + spec_.channels + spec_.reduced;
    }

    // gate[b][ch] for every image b of x (contiguous {n, h, w, channels}): the factors
    // forward() multiplies x by. gate has n * channels floats; scratch >= channels + reduced.
    // means: x's channel means [n][channels] when the caller pooled them already (MBConv,
    // during its depthwise pass), bit-identical to what pooling x here would give.
    void gates(TensorView<const float> x, float* gate, float* scratch, const float* means = nullptr) const {
        if (x.c() != spec_.channels)
            fail(cat("layer '", spec_.prefix, "'"), "SqueezeExcite::gates", cat("input has ", x.c(), " channels, expected ", spec_.channels));
        kernels::SqueezeExciteArgs a;
        a.input = x.data();
        a.shape = x.shape();
        a.reduced = spec_.reduced;
        a.reduce_weights = reduce_w_.data();
        a.reduce_bias = reduce_b_.data();
        a.expand_weights = expand_w_.data();
        a.expand_bias = expand_b_.data();
        a.activation = spec_.activation;
        a.gate = gate;
        a.scratch = scratch;
        const Shape s = x.shape();
        std::vector<float> pooled;
        if (!means) {
            pooled.resize(static_cast<std::size_t>(s.n) * s.c);
            for (int b = 0; b < s.n; ++b)
                pool_means(x.data() + static_cast<std::size_t>(b) * s.h * s.w * s.c, static_cast<std::size_t>(s.h) * s.w,
                           static_cast<std::size_t>(s.c), pooled.data() + static_cast<std::size_t>(b) * s.c);
            means = pooled.data();
        }
        a.pooled = means;
        kernels::squeeze_excite_gate(a);
    }

    // x *= gate(x), in place; x contiguous {n, h, w, channels}. (MBConv folds the gate
    // into its projection instead; this is the layer on its own.)
    void forward(TensorView<float> x, float* scratch) const {
        float* gate = scratch;
        gates(x, gate, scratch + static_cast<std::size_t>(x.n()) * spec_.channels);
        const std::int64_t pixels = static_cast<std::int64_t>(x.shape().pixels());
        float* data = x.data();
        const Shape shape = x.shape();
        parallel_for(0, pixels, grain_for(spec_.channels), [&](std::int64_t p0, std::int64_t p1) {
            kernels::scale_channels(data, shape, gate, static_cast<std::size_t>(p0), static_cast<std::size_t>(p1));
        });
    }

private:
    // Channel means of one image (hw pixels of C floats), bit-identical to
    // kernels::global_average_pool: the cascade's first split (pixels [0, hw/2) and the
    // rest) is summed on two threads when there are two and the image is large (the pool
    // is a pass over a tensor of up to 8 MB in D0, and on one thread the other waited).
    static void pool_means(const float* x, std::size_t hw, std::size_t C, float* out) {
        if (num_threads() < 2 || hw <= kernels::detail::kCascadeLeaf || hw * C < (1u << 16)) {
            const int c = static_cast<int>(C);
            kernels::global_average_pool({x, Shape{1, static_cast<int>(hw), 1, c}, out});
            return;
        }
        const std::size_t half = hw / 2;
        std::vector<float> right(C);
        std::vector<float> scratch_left(kernels::pool_sum_scratch_floats(half, C));
        std::vector<float> scratch_right(kernels::pool_sum_scratch_floats(hw - half, C));
        parallel_for(0, 2, 1, [&](std::int64_t k0, std::int64_t k1) {
            for (std::int64_t k = k0; k < k1; ++k) {
                if (k == 0) kernels::pool_sums(x, half, C, out, scratch_left.data());
                else kernels::pool_sums(x + half * C, hw - half, C, right.data(), scratch_right.data());
            }
        });
        for (std::size_t ch = 0; ch < C; ++ch) out[ch] = out[ch] + right[ch];
        const float count = static_cast<float>(hw);
        for (std::size_t ch = 0; ch < C; ++ch) out[ch] /= count;
    }

    SqueezeExciteSpec spec_;
    std::vector<float> reduce_w_, reduce_b_, expand_w_, expand_b_;
};

// The squeeze-excite pool of an MBConv, summed during its depthwise pass while each chunk
// of output rows is still in L2, instead of in a pass over the finished tensor (up to 9 MB
// in D0, so that pass read it back from memory). The sums are bit-identical to
// SqueezeExcite's own pool: parallel_for gives each thread a range of the n*h output rows,
// and a thread's piece of an image is summed (kernels::CascadeSummer) only when it is a
// subtree of the pool's cascade: the whole image, or, for an even height, exactly the first
// or the second half of its rows, whose pixels are the cascade's first split (hw/2 and the
// rest). Any other piece (an odd height split across two threads, more than two threads
// on one image) leaves its image unpooled; means() then returns nullptr and SqueezeExcite
// pools the finished tensor as before.
class PoolSlots {
public:
    // Floats of memory for a depthwise output of shape d: whole-image sums, first halves
    // and second halves, [3][n][c].
    static std::size_t floats(const Shape& d) { return 3 * static_cast<std::size_t>(d.n) * static_cast<std::size_t>(d.c); }

    PoolSlots(float* memory, const Shape& d) : sums_(memory), d_(d), done_(3 * static_cast<std::size_t>(d.n), 0) {}

    // If output rows [y0, y1) of image b are a cascade subtree, resets `summer` for their
    // pixels and returns the slot finish() fills; else nullptr (feed nothing).
    float* begin(int b, int y0, int y1, kernels::CascadeSummer& summer) const {
        const std::size_t hw = static_cast<std::size_t>(d_.h) * d_.w;
        int part = -1;  // 0 whole image, 1 first half, 2 second half
        if (y0 == 0 && y1 == d_.h) part = 0;
        else if (d_.h % 2 == 0 && y0 == 0 && y1 == d_.h / 2) part = 1;
        else if (d_.h % 2 == 0 && y0 == d_.h / 2 && y1 == d_.h) part = 2;
        if (part < 0) return nullptr;
        summer.reset(part == 0 ? hw : part == 1 ? hw / 2 : hw - hw / 2, static_cast<std::size_t>(d_.c));
        return slot(part, b);
    }

    // Writes the finished sums into `slot` (from begin()). Each slot has one writer thread.
    void finish(float* slot, const kernels::CascadeSummer& summer) {
        summer.finish(slot);
        done_[static_cast<std::size_t>(slot - sums_) / static_cast<std::size_t>(d_.c)] = 1;
    }

    // After the parallel pass: the channel means [n][c] (in the first slots), or nullptr
    // if some image was not pooled.
    const float* means() {
        const std::size_t n = static_cast<std::size_t>(d_.n), C = static_cast<std::size_t>(d_.c);
        for (std::size_t b = 0; b < n; ++b)
            if (!done_[b] && !(done_[n + b] && done_[2 * n + b])) return nullptr;
        const float count = static_cast<float>(static_cast<std::size_t>(d_.h) * d_.w);
        for (int b = 0; b < d_.n; ++b) {
            float* mean = slot(0, b);
            if (!done_[static_cast<std::size_t>(b)]) {
                const float* left = slot(1, b);
                const float* right = slot(2, b);
                for (std::size_t ch = 0; ch < C; ++ch) mean[ch] = left[ch] + right[ch];
            }
            for (std::size_t ch = 0; ch < C; ++ch) mean[ch] /= count;
        }
        return sums_;
    }

private:
    float* slot(int part, int b) const {
        return sums_ + (static_cast<std::size_t>(part) * d_.n + static_cast<std::size_t>(b)) * static_cast<std::size_t>(d_.c);
    }

    float* sums_;
    Shape d_;
    std::vector<unsigned char> done_;
};


class MBConv {
public:
    MBConv() = default;
    MBConv(const MBConvSpec& s, Binder& b) : spec_(s) {
        const std::string& p = s.prefix;
        if (s.depthwise_separable) {
            depthwise_ = ConvBnAct(conv(p + ".conv_dw", p + ".bn1", ConvKind::depthwise, s.in_channels, s.in_channels, s.kernel, s.stride, s.activation), b);
            bind_se(b);
            project_ = ConvBnAct(conv(p + ".conv_pw", p + ".bn2", ConvKind::pointwise, s.in_channels, s.out_channels, 1, 1, Activation::none), b);
        } else {
            expand_ = ConvBnAct(conv(p + ".conv_pw", p + ".bn1", ConvKind::pointwise, s.in_channels, s.mid_channels, 1, 1, s.activation), b);
            depthwise_ = ConvBnAct(conv(p + ".conv_dw", p + ".bn2", ConvKind::depthwise, s.mid_channels, s.mid_channels, s.kernel, s.stride, s.activation), b);
            bind_se(b);
            project_ = ConvBnAct(conv(p + ".conv_pwl", p + ".bn3", ConvKind::pointwise, s.mid_channels, s.out_channels, 1, 1, Activation::none), b);
        }
    }

    const MBConvSpec& spec() const { return spec_; }

    Shape plan(const Shape& in) const { return project_.plan(depthwise_.plan(expanded(in))); }

    // Multiply-adds: expand, depthwise, SE (two 1x1 convs on one pixel per image), project.
    double macs(const Shape& in) const {
        const Shape e = expanded(in);
        const Shape d = depthwise_.plan(e);
        double m = depthwise_.macs(e) + project_.macs(d);
        if (!spec_.depthwise_separable) m += expand_.macs(in);
        if (spec_.se_reduced > 0) m += 2.0 * d.n * d.c * spec_.se_reduced;
        return m;
    }

    std::size_t scratch_floats(const Shape& in) const {
        const Shape e = expanded(in);
        const Shape d = depthwise_.plan(e);
        std::size_t n = round16(d.numel());
        if (spec_.se_reduced > 0) n += round16(se_floats(d));
        // The whole expanded image (expands_whole), planned whatever the thread count: it
        // may change between forwards.
        if (!spec_.depthwise_separable && fits_whole_expand(in)) n += e.numel();
        return n;
    }

    void forward(TensorView<const float> in, TensorView<float> out, float* scratch) const {
        const Shape e = expanded(in.shape());
        const Shape d = depthwise_.plan(e);
        TensorView<float> dw(scratch, d);
        float* rest = scratch + round16(d.numel());
        const float* skip = spec_.has_skip() ? in.data() : nullptr;
        const bool se = spec_.se_reduced > 0;
        const bool whole = expands_whole(in.shape(), num_threads());
        TensorView<float> expanded_image(rest + (se ? round16(se_floats(d)) : 0), e);  // used when `whole`
        if (whole) expand_.forward(in, expanded_image);
        if (!se) {
            if (spec_.depthwise_separable) {
                depthwise_pointwise(depthwise_, project_, in, out, dw.data(), skip);
            } else if (whole) {
                depthwise_pointwise(depthwise_, project_, expanded_image, out, dw.data(), skip);
            } else {
                expand_depthwise(in, dw, out, skip, nullptr);  // no SE (Lite): the projection joins the row loop
            }
            return;
        }
        PoolSlots pool(rest, d);
        if (spec_.depthwise_separable) depthwise_pooled(in, dw, pool);
        else if (whole) depthwise_pooled(expanded_image, dw, pool);
        else expand_depthwise(in, dw, TensorView<float>(), nullptr, &pool);
        gated_project(dw, out, skip, rest + round16(PoolSlots::floats(d)), pool.means());
    }

    // Expanded images up to this size may be expanded whole (expands_whole).
    static constexpr std::size_t kWholeExpandBytes = std::size_t(2) << 20;

    // True when the block expands its whole image first (split by rows over the threads),
    // then runs the depthwise conv (and without SE the projection) by row bands, instead
    // of the fused expand + depthwise bands. On a small map split over threads each band
    // also expands the K - S halo rows its neighbour expands; when those are a tenth of the
    // image or more (D0's blocks.5 and .6 and Lite0's blocks.4-6: 16 / 20 / 10 rows, k5 or
    // k3: 12.5-40% at 2 threads) repeating them costs more than writing the expanded image
    // once (at most kWholeExpandBytes, so it stays in the caches). Measured at 2 threads
    // (median of 8 interleaved runs): D0 blocks.5 3.94 -> 3.54 ms, blocks.6 1.14 -> 1.06;
    // Lite0 blocks.4 1.20 -> 1.08, blocks.5 1.54 -> 1.33, network 7.53 -> 7.12; but D0's
    // blocks.3 (32 rows, k3: 6%) 1.64 -> 1.68, hence the tenth. Bit-identical either way.
    bool expands_whole(const Shape& in, int threads) const {
        if (spec_.depthwise_separable || threads < 2 || !fits_whole_expand(in)) return false;
        const int halo_rows = (threads - 1) * std::max(0, spec_.kernel - spec_.stride);
        return 10 * halo_rows >= in.n * in.h;  // a batch: the bands run across its images
    }

private:
    static std::size_t round16(std::size_t n) { return (n + 15) / 16 * 16; }

    bool fits_whole_expand(const Shape& in) const {
        return static_cast<std::size_t>(in.h) * in.w * spec_.mid_channels * sizeof(float) <= kWholeExpandBytes;
    }

    // Scratch after the depthwise output for SE: pool slots, SE scratch, the per-image
    // gated copies of the projection weights (+16 floats to align them).
    std::size_t se_floats(const Shape& d) const {
        return round16(PoolSlots::floats(d)) + se_.scratch_floats(d) + static_cast<std::size_t>(d.n) * round16(project_packed_floats()) + 16;
    }

    std::size_t project_packed_floats() const { return project_.packed_pointwise().data.size(); }

    // out = project(dw * gate) + skip, with the SE gate folded into a per-image copy of
    // the projection's packed weights (kernels::scale_packed_inputs) instead of a pass that
    // rewrites the whole depthwise output. Not bit-identical to scaling first: the products
    // (w * g) * x and w * (x * g) round differently (parity holds to tolerance).
    // means: dw's channel means if the depthwise pass pooled them, else nullptr.
    void gated_project(TensorView<const float> dw, TensorView<float> out, const float* skip, float* scratch,
                       const float* means) const {
        const Shape d = dw.shape();
        float* gate = scratch;
        float* se_scratch = gate + static_cast<std::size_t>(d.n) * d.c;
        // The kernel loads packed weights with aligned loads: align to 64 bytes (16 spare floats).
        float* packed = scratch + se_.scratch_floats(d);
        packed += (16 - (reinterpret_cast<std::uintptr_t>(packed) / sizeof(float)) % 16) % 16;
        se_.gates(dw, gate, se_scratch, means);
        const std::size_t pixels = static_cast<std::size_t>(d.h) * d.w;
        const std::size_t cin = static_cast<std::size_t>(d.c), cout = static_cast<std::size_t>(spec_.out_channels);
        const std::size_t packed_floats = round16(project_packed_floats());
        // The per-image weight copies, split by panels over the threads (serial, they were
        // ~1% of D0 at 2 threads with the other thread waiting).
        const int panels = kernels::pointwise_panel_count(spec_.out_channels);
        const std::int64_t copies = static_cast<std::int64_t>(d.n) * panels;
        parallel_for(0, copies, grain_for(static_cast<std::int64_t>(cin) * kernels::pointwise_panel_columns()),
                     [&](std::int64_t j0, std::int64_t j1) {
            for (std::int64_t j = j0; j < j1;) {
                const int b = static_cast<int>(j / panels);
                const int p0 = static_cast<int>(j % panels);
                const int p1 = static_cast<int>(std::min<std::int64_t>(j1 - static_cast<std::int64_t>(b) * panels, panels));
                kernels::scale_packed_inputs(project_.packed_pointwise(), gate + static_cast<std::size_t>(b) * cin,
                                             packed + static_cast<std::size_t>(b) * packed_floats, p0, p1);
                j = static_cast<std::int64_t>(b) * panels + p1;
            }
        });
        // Rows split over threads as ConvBnAct::forward does; a chunk may span images.
        const std::int64_t rows = static_cast<std::int64_t>(d.n) * static_cast<std::int64_t>(pixels);
        parallel_for(0, rows, grain_for(static_cast<std::int64_t>(cin * cout)), [&](std::int64_t r0, std::int64_t r1) {
            for (std::int64_t r = r0; r < r1;) {
                const std::int64_t b = r / static_cast<std::int64_t>(pixels);
                const std::int64_t e = std::min<std::int64_t>(r1, (b + 1) * static_cast<std::int64_t>(pixels));
                const std::size_t at = static_cast<std::size_t>(r);
                project_.pointwise_rows(dw.data() + at * cin, static_cast<std::size_t>(e - r), out.data() + at * cout,
                                        skip ? skip + at * cout : nullptr, packed + static_cast<std::size_t>(b) * packed_floats);
                r = e;
            }
        });
    }

    // dw = depthwise(expand(in)), fused by row bands. With `out` non-empty (blocks without
    // SE) each chunk's depthwise rows are projected right away, still in L2:
    // out = project(dw) + skip. With `pool`, each chunk's depthwise rows are also summed
    // into the SE pool while they are in L2 (see PoolSlots).
    void expand_depthwise(TensorView<const float> in, TensorView<float> dw, TensorView<float> out, const float* skip,
                          PoolSlots* pool) const {
        const Shape is = in.shape();
        const Shape d = dw.shape();
        const int mid = spec_.mid_channels, K = spec_.kernel, S = spec_.stride;
        const Shape image{1, is.h, is.w, mid};
        const int pad_top = depthwise_.padding_for(image).top;
        const std::size_t row_floats = static_cast<std::size_t>(is.w) * mid;
        const std::size_t in_row_floats = static_cast<std::size_t>(is.w) * is.c;
        const std::size_t out_image_floats = static_cast<std::size_t>(d.h) * d.w * mid;
        const RowWindowGeometry g = RowWindowGeometry::plan(row_floats, K, S, kRowWindowBytes);
        const std::int64_t work_per_row = static_cast<std::int64_t>(S) * is.w * is.c * mid +
                                          static_cast<std::int64_t>(K) * K * d.w * mid +
                                          (out.data() ? static_cast<std::int64_t>(d.w) * mid * spec_.out_channels : 0);
        const float* src = in.data();
        float* dst = dw.data();
        float* project_out = out.data();  // nullptr: project later (SE first)
        const std::size_t out_c = static_cast<std::size_t>(spec_.out_channels);
        if (project_out) check_same_shape(out.shape(), project_.plan(d), "output", "MBConv::forward");
        parallel_for(0, static_cast<std::int64_t>(d.n) * d.h, grain_for(work_per_row), [&](std::int64_t r0, std::int64_t r1) {
            SlidingRowWindow window(thread_scratch(g.buffer_floats()), g.buffer_rows, row_floats);
            kernels::CascadeSummer summer;
            for (std::int64_t r = r0; r < r1;) {
                const int b = static_cast<int>(r / d.h);
                const int y_end = static_cast<int>(std::min<std::int64_t>(r1, static_cast<std::int64_t>(b + 1) * d.h) - static_cast<std::int64_t>(b) * d.h);
                const float* image_in = src + static_cast<std::size_t>(b) * is.h * in_row_floats;
                float* image_out = dst + static_cast<std::size_t>(b) * out_image_floats;
                const int y_begin = static_cast<int>(r - static_cast<std::int64_t>(b) * d.h);
                float* pool_slot = pool ? pool->begin(b, y_begin, y_end, summer) : nullptr;
                window.restart();
                for (int oy = y_begin; oy < y_end;) {
                    const int oy1 = std::min(oy + g.chunk, y_end);
                    const auto need = kernels::depthwise_input_rows(oy, oy1, is.h, K, S, pad_top);
                    const float* rows = window.advance(need.first, need.second, [&](float* to, int row0, int row1) {
                        expand_.pointwise_rows(image_in + static_cast<std::size_t>(row0) * in_row_floats,
                                               static_cast<std::size_t>(row1 - row0) * is.w, to);
                    });
                    depthwise_.depthwise_rows(rows, window.first(), window.rows(), image, image_out, oy, oy1);
                    if (pool_slot)
                        summer.add(image_out + static_cast<std::size_t>(oy) * d.w * mid, static_cast<std::size_t>(oy1 - oy) * d.w);
                    if (project_out) {
                        const std::size_t p0 = (static_cast<std::size_t>(b) * d.h + oy) * d.w;
                        const std::size_t count = static_cast<std::size_t>(oy1 - oy) * d.w;
                        project_.pointwise_rows(dst + p0 * mid, count, project_out + p0 * out_c, skip ? skip + p0 * out_c : nullptr);
                    }
                    oy = oy1;
                }
                if (pool_slot) pool->finish(pool_slot, summer);
                r = static_cast<std::int64_t>(b) * d.h + y_end;
            }
        });
    }

    // dw = depthwise(in) for the depthwise-separable block with SE, by row chunks of about
    // kRowWindowBytes of output, each summed into the SE pool while it is in L2.
    void depthwise_pooled(TensorView<const float> in, TensorView<float> dw, PoolSlots& pool) const {
        const Shape is = in.shape();
        const Shape d = dw.shape();
        check_same_shape(d, depthwise_.plan(is), "output", "MBConv::forward");
        const Shape image{1, is.h, is.w, is.c};
        const std::size_t in_image_floats = static_cast<std::size_t>(is.h) * is.w * is.c;
        const std::size_t out_row_floats = static_cast<std::size_t>(d.w) * d.c;
        const int chunk = static_cast<int>(std::max<std::size_t>(1, kRowWindowBytes / (out_row_floats * sizeof(float))));
        const std::int64_t k2 = static_cast<std::int64_t>(spec_.kernel) * spec_.kernel;
        parallel_for(0, static_cast<std::int64_t>(d.n) * d.h, grain_for(k2 * static_cast<std::int64_t>(out_row_floats)),
                     [&](std::int64_t r0, std::int64_t r1) {
            kernels::CascadeSummer summer;
            for (std::int64_t r = r0; r < r1;) {
                const int b = static_cast<int>(r / d.h);
                const int y_begin = static_cast<int>(r - static_cast<std::int64_t>(b) * d.h);
                const int y_end = static_cast<int>(std::min<std::int64_t>(r1, static_cast<std::int64_t>(b + 1) * d.h) - static_cast<std::int64_t>(b) * d.h);
                const float* image_in = in.data() + static_cast<std::size_t>(b) * in_image_floats;
                float* image_out = dw.data() + static_cast<std::size_t>(b) * d.h * out_row_floats;
                float* pool_slot = pool.begin(b, y_begin, y_end, summer);
                for (int oy = y_begin; oy < y_end; oy += chunk) {
                    const int oy1 = std::min(oy + chunk, y_end);
                    depthwise_.depthwise_rows(image_in, 0, is.h, image, image_out, oy, oy1);
                    if (pool_slot)
                        summer.add(image_out + static_cast<std::size_t>(oy) * out_row_floats, static_cast<std::size_t>(oy1 - oy) * d.w);
                }
                if (pool_slot) pool.finish(pool_slot, summer);
                r = static_cast<std::int64_t>(b) * d.h + y_end;
            }
        });
    }

    Shape expanded(const Shape& in) const {
        if (in.c != spec_.in_channels)
            fail(cat("block '", spec_.prefix, "'"), "MBConv", cat("input has ", in.c, " channels, expected ", spec_.in_channels));
        Shape e = in;
        e.c = spec_.depthwise_separable ? spec_.in_channels : spec_.mid_channels;
        return e;
    }

    ConvSpec conv(std::string name, std::string bn, ConvKind kind, int cin, int cout, int k, int stride, Activation act) const {
        ConvSpec c;
        c.conv = std::move(name);
        c.bn = std::move(bn);
        c.kind = kind;
        c.in_channels = cin;
        c.out_channels = cout;
        c.kernel = k;
        c.stride = stride;
        c.bn_eps = spec_.bn_eps;
        c.activation = act;
        c.padding = spec_.padding;
        return c;
    }

    void bind_se(Binder& b) {
        if (spec_.se_reduced <= 0) return;
        SqueezeExciteSpec s;
        s.prefix = spec_.prefix + ".se";
        s.channels = spec_.depthwise_separable ? spec_.in_channels : spec_.mid_channels;
        s.reduced = spec_.se_reduced;
        s.activation = spec_.activation;
        se_ = SqueezeExcite(s, b);
    }

    MBConvSpec spec_;
    ConvBnAct expand_;     // IR only
    ConvBnAct depthwise_;
    SqueezeExcite se_;
    ConvBnAct project_;
};

}  // namespace nn
EDET_NAMESPACE_END
