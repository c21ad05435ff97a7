// edet/nn/fused_mbconv.hpp - the fused passes nn::MBConv runs: expand + depthwise (+
// projection) by row bands, the depthwise pass that also pools for squeeze-excite, and the
// projection with the SE gate folded into its weights.
//
// Expand and depthwise run fused, by row bands (nn/row_window.hpp, nn/row_bands.hpp): the
// expanded tensor (mid_channels wide, up to 6x the block's input; 25 MB in D0's blocks.1.0)
// never exists whole. Each thread takes a band of output rows and walks it in chunks; for
// a chunk it expands just the input rows the depthwise window reads into a small
// per-thread window buffer (kRowWindowBytes, L2-sized), keeping the rows the previous
// chunk already expanded, then runs the depthwise conv on the window.
// Only the depthwise output is written to memory, because SE needs all of it before
// the projection; its SE pool is summed chunk by chunk during the same pass (PoolSlots),
// so the tensor is read back once, by the projection. Without SE (Lite) the chunk's
// depthwise rows are projected at once, while they are still in L2. Every value is
// computed by the same kernels with the same arithmetic as the unfused expand ->
// depthwise, so results are bit-identical (and independent of the thread count); the
// rows on a band boundary are expanded by both threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/kernels/depthwise_conv.hpp"
#include "edet/kernels/pointwise_conv.hpp"
#include "edet/kernels/pool.hpp"
#include "edet/nn/conv.hpp"
#include "edet/nn/row_bands.hpp"
#include "edet/nn/row_window.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

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

// Output rows per chunk of expand_depthwise at least, whatever the window budget. Each chunk
// expands its S * chunk new input rows of `width` pixels in one GEMM call; on narrow maps
// with wide rows (D0's 16x16x1152: 72 KB a row, so the budget gives one row a chunk) that
// is 16 or 32 pixels: one or two 12-row register tiles and a 4- or 8-row tail running at
// a fraction of the speed (micro_kernel<4, 2> took 12% of blocks.5.1). So take rows until
// the call is a whole number of tiles or at least 96 pixels.
inline int expand_min_chunk(int width, int stride) {
    const int tile = kernels::pointwise_tile_rows();
    int chunk = 1;
    while (chunk * stride * width < 8 * tile && (chunk * stride * width) % tile != 0) ++chunk;
    return chunk;
}

// dw = depthwise(expand(in)), fused by row bands. With `project` (blocks without SE) each
// chunk's depthwise rows are projected right away, still in L2: out = project(dw) with
// epilogue `e` (project's own plus the skip). With `pool`, each chunk's depthwise rows are
// also summed into the SE pool while they are in L2 (see PoolSlots).
inline void expand_depthwise(const PointwiseConvBn& expand, const DepthwiseConvBn& depthwise, TensorView<const float> in,
                             TensorView<float> dw, const PointwiseConvBn* project, TensorView<float> out,
                             const kernels::PointwiseEpilogue& e, PoolSlots* pool) {
    const Shape is = in.shape();
    const Shape d = dw.shape();
    const int mid = expand.spec().out_channels, K = depthwise.spec().kernel, S = depthwise.spec().stride;
    const Shape image{1, is.h, is.w, mid};
    const int pad_top = depthwise.padding_for(image).top;
    const std::size_t row_floats = static_cast<std::size_t>(is.w) * mid;
    const std::size_t in_row_floats = static_cast<std::size_t>(is.w) * is.c;
    const std::size_t out_image_floats = static_cast<std::size_t>(d.h) * d.w * mid;
    const RowWindowGeometry g = RowWindowGeometry::plan(row_floats, K, S, kRowWindowBytes, expand_min_chunk(is.w, S));
    const int out_c = project ? project->spec().out_channels : 0;
    const std::int64_t work_per_row = static_cast<std::int64_t>(S) * is.w * is.c * mid +
                                      static_cast<std::int64_t>(K) * K * d.w * mid +
                                      static_cast<std::int64_t>(d.w) * mid * out_c;
    const float* src = in.data();
    float* dst = dw.data();
    if (project) check_same_shape(out.shape(), project->plan(d), "output", "MBConv::forward");
    struct Band {
        SlidingRowWindow window;
        kernels::CascadeSummer summer;
    };
    parallel_row_bands(d.n, d.h, grain_for(work_per_row),
        [&] { return Band{SlidingRowWindow(thread_scratch(g.buffer_floats()), g.buffer_rows, row_floats), {}}; },
        [&](Band& band, int b, int y_begin, int y_end) {
            const float* image_in = src + static_cast<std::size_t>(b) * is.h * in_row_floats;
            float* image_out = dst + static_cast<std::size_t>(b) * out_image_floats;
            float* pool_slot = pool ? pool->begin(b, y_begin, y_end, band.summer) : nullptr;
            band.window.restart();
            for (int oy = y_begin; oy < y_end;) {
                const int oy1 = std::min(oy + g.chunk, y_end);
                const auto need = kernels::depthwise_input_rows(oy, oy1, is.h, K, S, pad_top);
                const float* rows = band.window.advance(need.first, need.second, [&](float* to, int row0, int row1) {
                    expand.rows(image_in + static_cast<std::size_t>(row0) * in_row_floats, static_cast<std::size_t>(row1 - row0) * is.w, to);
                });
                depthwise.rows(rows, band.window.first(), band.window.rows(), image, image_out, oy, oy1);
                if (pool_slot)
                    band.summer.add(image_out + static_cast<std::size_t>(oy) * d.w * mid, static_cast<std::size_t>(oy1 - oy) * d.w);
                if (project) {
                    const std::size_t p0 = (static_cast<std::size_t>(b) * d.h + oy) * d.w;
                    const std::size_t count = static_cast<std::size_t>(oy1 - oy) * d.w;
                    project->rows(dst + p0 * mid, count, out.data() + p0 * static_cast<std::size_t>(out_c),
                                  kernels::epilogue_from_row(e, p0, out_c));
                }
                oy = oy1;
            }
            if (pool_slot) pool->finish(pool_slot, band.summer);
        });
}

// dw = depthwise(in) for the depthwise-separable block with SE, by row chunks of about
// kRowWindowBytes of output, each summed into the SE pool while it is in L2.
inline void depthwise_pooled(const DepthwiseConvBn& depthwise, TensorView<const float> in, TensorView<float> dw, PoolSlots& pool) {
    const Shape is = in.shape();
    const Shape d = dw.shape();
    check_same_shape(d, depthwise.plan(is), "output", "MBConv::forward");
    const Shape image{1, is.h, is.w, is.c};
    const std::size_t in_image_floats = static_cast<std::size_t>(is.h) * is.w * is.c;
    const std::size_t out_row_floats = static_cast<std::size_t>(d.w) * d.c;
    const int chunk = static_cast<int>(std::max<std::size_t>(1, kRowWindowBytes / (out_row_floats * sizeof(float))));
    const std::int64_t k2 = static_cast<std::int64_t>(depthwise.spec().kernel) * depthwise.spec().kernel;
    parallel_row_bands(d.n, d.h, grain_for(k2 * static_cast<std::int64_t>(out_row_floats)),
        [] { return kernels::CascadeSummer(); },
        [&](kernels::CascadeSummer& summer, int b, int y_begin, int y_end) {
            const float* image_in = in.data() + static_cast<std::size_t>(b) * in_image_floats;
            float* image_out = dw.data() + static_cast<std::size_t>(b) * d.h * out_row_floats;
            float* pool_slot = pool.begin(b, y_begin, y_end, summer);
            for (int oy = y_begin; oy < y_end; oy += chunk) {
                const int oy1 = std::min(oy + chunk, y_end);
                depthwise.rows(image_in, 0, is.h, image, image_out, oy, oy1);
                if (pool_slot)
                    summer.add(image_out + static_cast<std::size_t>(oy) * out_row_floats, static_cast<std::size_t>(oy1 - oy) * d.w);
            }
            if (pool_slot) pool.finish(pool_slot, summer);
        });
}

// Floats between the per-image gated copies of project's packed weights (gated_project):
// a multiple of 16, so each copy stays 64-byte aligned after the first.
inline std::size_t gated_weights_stride(const PointwiseConvBn& project) {
    return (project.packed().data.size() + 15) / 16 * 16;
}

// out = project(dw * gate) with epilogue `e` (project's own plus the skip), the SE gate
// folded into a per-image copy of the projection's packed weights
// (kernels::scale_packed_inputs) instead of a pass that rewrites the whole depthwise
// output. Not bit-identical to scaling first: the products (w * g) * x and w * (x * g)
// round differently (parity holds to tolerance).
// gate: [n][dw channels]; gated: n * gated_weights_stride(project) floats, 64-byte aligned
// (the kernel loads packed weights with aligned loads).
// A bf16 projection takes the gate as the kernel's input_scale instead (gated_rows): no
// copies (gated_weights_stride is 0, `gated` unused), the same split of the pixels.
inline void gated_project(const PointwiseConvBn& project, TensorView<const float> dw, TensorView<float> out,
                          const kernels::PointwiseEpilogue& e, const float* gate, float* gated) {
    const Shape d = dw.shape();
    const int pixels = d.h * d.w;
    const std::size_t cin = static_cast<std::size_t>(d.c);
    const int cout = project.spec().out_channels;
    if (project.runs_bf16()) {
        parallel_row_bands(d.n, pixels, grain_for(static_cast<std::int64_t>(cin) * cout), [&](int b, int q0, int q1) {
            const std::size_t at = static_cast<std::size_t>(b) * static_cast<std::size_t>(pixels) + static_cast<std::size_t>(q0);
            project.gated_rows(dw.data() + at * cin, static_cast<std::size_t>(q1 - q0), out.data() + at * static_cast<std::size_t>(cout),
                               kernels::epilogue_from_row(e, at, cout), gate + static_cast<std::size_t>(b) * cin);
        });
        return;
    }
    const std::size_t stride = gated_weights_stride(project);
    // The per-image weight copies, split by panels over the threads (serial, they were
    // ~1% of D0 at 2 threads with the other thread waiting).
    const int panels = kernels::pointwise_panel_count(cout);
    parallel_row_bands(d.n, panels, grain_for(static_cast<std::int64_t>(cin) * kernels::pointwise_panel_columns()),
                       [&](int b, int p0, int p1) {
        kernels::scale_packed_inputs(project.packed(), gate + static_cast<std::size_t>(b) * cin,
                                     gated + static_cast<std::size_t>(b) * stride, p0, p1);
    });
    // Pixels split over threads as PointwiseConvBn::forward does; a band may span images.
    parallel_row_bands(d.n, pixels, grain_for(static_cast<std::int64_t>(cin) * cout), [&](int b, int q0, int q1) {
        const std::size_t at = static_cast<std::size_t>(b) * static_cast<std::size_t>(pixels) + static_cast<std::size_t>(q0);
        project.rows(dw.data() + at * cin, static_cast<std::size_t>(q1 - q0), out.data() + at * static_cast<std::size_t>(cout),
                     kernels::epilogue_from_row(e, at, cout), gated + static_cast<std::size_t>(b) * stride);
    });
}

}  // namespace nn
EDET_NAMESPACE_END
