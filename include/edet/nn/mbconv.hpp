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
// MBConv::forward runs the block as fused passes (nn/fused_mbconv.hpp): the expanded
// tensor is never written whole, SE's pool is summed during the depthwise pass and its
// gate is folded into the projection's weights; forward() picks the pass for the block.
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
#include "edet/nn/fused_mbconv.hpp"
#include "edet/nn/fused_separable.hpp"
#include "edet/nn/layer_specs.hpp"

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

class MBConv {
public:
    MBConv() = default;
    MBConv(const MBConvSpec& s, Binder& b) : spec_(s) {
        const std::string& p = s.prefix;
        if (s.depthwise_separable) {
            depthwise_ = DepthwiseConvBn(conv(p + ".conv_dw", p + ".bn1", s.in_channels, s.in_channels, s.kernel, s.stride, s.activation), b);
            bind_se(b);
            project_ = PointwiseConvBn(conv(p + ".conv_pw", p + ".bn2", s.in_channels, s.out_channels, 1, 1, Activation::none, project_role()), b);
        } else {
            expand_ = PointwiseConvBn(conv(p + ".conv_pw", p + ".bn1", s.in_channels, s.mid_channels, 1, 1, s.activation, GemmRole::block_expand), b);
            depthwise_ = DepthwiseConvBn(conv(p + ".conv_dw", p + ".bn2", s.mid_channels, s.mid_channels, s.kernel, s.stride, s.activation), b);
            bind_se(b);
            project_ = PointwiseConvBn(conv(p + ".conv_pwl", p + ".bn3", s.mid_channels, s.out_channels, 1, 1, Activation::none, project_role()), b);
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
        const bool se = spec_.se_reduced > 0;
        const bool whole = expands_whole(in.shape(), num_threads());
        TensorView<float> expanded_image(rest + (se ? round16(se_floats(d)) : 0), e);  // used when `whole`
        // A small map split over threads is expanded whole first (expands_whole says why);
        // otherwise the expansion is fused into the depthwise pass.
        if (whole) expand_.forward(in, expanded_image);
        kernels::PointwiseEpilogue project_epilogue = project_.epilogue();
        if (spec_.has_skip()) project_epilogue.residual = in.data();
        if (!se) {
            // Nothing needs the whole depthwise output: each chunk of it is projected while
            // it is still in L2.
            if (spec_.depthwise_separable) {
                depthwise_pointwise(depthwise_, project_, in, out, dw.data(), project_epilogue);
            } else if (whole) {
                depthwise_pointwise(depthwise_, project_, expanded_image, out, dw.data(), project_epilogue);
            } else {
                expand_depthwise(expand_, depthwise_, in, dw, &project_, out, project_epilogue, nullptr);
            }
            return;
        }
        // SE's gate needs all of the depthwise output: pool it during the depthwise pass,
        // then project with the gate folded into the projection's weights.
        PoolSlots pool(rest, d);
        if (spec_.depthwise_separable) depthwise_pooled(depthwise_, in, dw, pool);
        else if (whole) depthwise_pooled(depthwise_, expanded_image, dw, pool);
        else expand_depthwise(expand_, depthwise_, in, dw, nullptr, TensorView<float>(), project_epilogue, &pool);
        float* gate = rest + round16(PoolSlots::floats(d));
        float* se_scratch = gate + static_cast<std::size_t>(d.n) * d.c;
        // The gated weights are loaded with aligned loads: align to 64 bytes (16 spare floats).
        float* gated = gate + se_.scratch_floats(d);
        gated += (16 - (reinterpret_cast<std::uintptr_t>(gated) / sizeof(float)) % 16) % 16;
        se_.gates(dw, gate, se_scratch, pool.means());
        gated_project(project_, dw, out, project_epilogue, gate, gated);
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

    // Scratch after the depthwise output for SE: pool slots, SE scratch (the gates first),
    // the per-image gated copies of the projection weights (+16 floats to align them).
    std::size_t se_floats(const Shape& d) const {
        return round16(PoolSlots::floats(d)) + se_.scratch_floats(d) + static_cast<std::size_t>(d.n) * gated_weights_stride(project_) + 16;
    }

    Shape expanded(const Shape& in) const {
        if (in.c != spec_.in_channels)
            fail(cat("block '", spec_.prefix, "'"), "MBConv", cat("input has ", in.c, " channels, expected ", spec_.in_channels));
        Shape e = in;
        e.c = spec_.depthwise_separable ? spec_.in_channels : spec_.mid_channels;
        return e;
    }

    // The projection reads the SE-gated depthwise output when the block has SE.
    GemmRole project_role() const { return spec_.se_reduced > 0 ? GemmRole::block_project_gated : GemmRole::block_project; }

    ConvSpec conv(std::string name, std::string bn, int cin, int cout, int k, int stride, Activation act,
                  GemmRole role = GemmRole::other) const {
        ConvSpec c;
        c.conv = std::move(name);
        c.bn = std::move(bn);
        c.in_channels = cin;
        c.out_channels = cout;
        c.kernel = k;
        c.stride = stride;
        c.bn_eps = spec_.bn_eps;
        c.activation = act;
        c.padding = spec_.padding;
        c.role = role;
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
    PointwiseConvBn expand_;  // IR only
    DepthwiseConvBn depthwise_;
    SqueezeExcite se_;
    PointwiseConvBn project_;
};

}  // namespace nn
EDET_NAMESPACE_END
