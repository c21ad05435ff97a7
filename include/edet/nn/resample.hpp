// edet/nn/resample.hpp - Resample (effdet ResampleFeatureMap): bring a feature map to the
// BiFPN width and to a target size.
//
//   x -> [conv 1x1 + BN, only when channels differ] -> max pool down | nearest up | as is
//
// Down (target smaller on both axes): max pool, stride s = (in - 1) / out + 1 (2 for every
// level pair of the formula s_{l+1} = floor((s_l - 1)/2) + 1), kernel s + 1, padding by the
// variant's rule with -inf. Up (target larger on an axis): nearest to the exact target size,
// src = min(floor(dst * (float)in / out), in - 1). The conv runs before the pool, as in the
// reference (an nn.Sequential of conv then downsample).
#pragma once

#include <cstring>
#include <string>

#include "edet/core/parallel.hpp"
#include "edet/kernels/pool.hpp"
#include "edet/kernels/resize.hpp"
#include "edet/nn/conv.hpp"
#include "edet/nn/layer_specs.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {


enum class ResampleOp { identity, downsample, upsample };

class Resample {
public:
    Resample() = default;
    Resample(const ResampleSpec& s, Binder& b) : spec_(s) {
        if (s.in_channels != s.out_channels) {
            ConvSpec c;
            c.conv = s.prefix + ".conv.conv";
            c.bn = s.prefix + ".conv.bn";
            c.in_channels = s.in_channels;
            c.out_channels = s.out_channels;
            c.bias = s.conv_bias;
            c.bn_eps = s.bn_eps;
            c.padding = s.padding;
            c.role = GemmRole::resample;
            conv_ = PointwiseConvBn(c, b);
            has_conv_ = true;
        }
    }

    bool has_conv() const { return has_conv_; }

    // What happens to an input of size in_h x in_w for a target of th x tw.
    static ResampleOp op_for(int in_h, int in_w, int th, int tw) {
        if (in_h > th && in_w > tw) return ResampleOp::downsample;
        if (in_h < th || in_w < tw) return ResampleOp::upsample;
        return ResampleOp::identity;
    }
    // True when forward() would only copy: callers use the input directly instead.
    bool is_noop(const Shape& in, int th, int tw) const {
        return !has_conv_ && op_for(in.h, in.w, th, tw) == ResampleOp::identity;
    }

    Shape plan(const Shape& in, int th, int tw) const {
        if (in.c != spec_.in_channels)
            fail(cat("layer '", spec_.prefix, "'"), "Resample", cat("input has ", in.c, " channels, expected ", spec_.in_channels));
        const ResampleOp op = op_for(in.h, in.w, th, tw);
        if (op == ResampleOp::identity && (in.h != th || in.w != tw))
            fail(cat("layer '", spec_.prefix, "'"), "Resample",
                 cat("cannot bring ", in.h, "x", in.w, " to ", th, "x", tw, " (the reference neither pools nor upsamples here)"));
        if (op == ResampleOp::downsample) {
            const Pool p = pool_geometry(in, th, tw);
            const int oh = kernels::conv_output_size(in.h, p.kernel, p.stride, p.pad.top, p.pad.bottom);
            const int ow = kernels::conv_output_size(in.w, p.kernel, p.stride, p.pad.left, p.pad.right);
            if (oh != th || ow != tw)
                fail(cat("layer '", spec_.prefix, "'"), "Resample",
                     cat("max pool of ", in.h, "x", in.w, " gives ", oh, "x", ow, ", not the target ", th, "x", tw));
        }
        return Shape{in.n, th, tw, spec_.out_channels};
    }

    // Multiply-adds of the 1x1 conv (pooling and upsampling are not counted).
    double macs(const Shape& in) const { return has_conv_ ? conv_.macs(in) : 0.0; }

    std::size_t scratch_floats(const Shape& in, int th, int tw) const {
        if (!has_conv_ || op_for(in.h, in.w, th, tw) == ResampleOp::identity) return 0;
        Shape c = in;
        c.c = spec_.out_channels;
        return c.numel();
    }

    void forward(TensorView<const float> in, TensorView<float> out, float* scratch) const {
        const Shape os = plan(in.shape(), out.h(), out.w());
        check_same_shape(out.shape(), os, "output", "Resample::forward");
        const ResampleOp op = op_for(in.h(), in.w(), os.h, os.w);
        if (op == ResampleOp::identity) {
            if (has_conv_) conv_.forward(in, out);
            else std::memcpy(out.data(), in.data(), in.numel() * sizeof(float));
            return;
        }
        TensorView<const float> src = in;
        if (has_conv_) {
            Shape c = in.shape();
            c.c = spec_.out_channels;
            TensorView<float> t(scratch, c);
            conv_.forward(in, t);
            src = t;
        }
        const std::int64_t rows = static_cast<std::int64_t>(os.n) * os.h;
        if (op == ResampleOp::downsample) {
            const Pool p = pool_geometry(src.shape(), os.h, os.w);
            parallel_for(0, rows, grain_for(static_cast<std::int64_t>(os.w) * os.c * 9), [&](std::int64_t r0, std::int64_t r1) {
                kernels::MaxPoolArgs a;
                a.input = src.data();
                a.input_shape = src.shape();
                a.output = out.data();
                a.output_shape = os;
                a.kernel = p.kernel;
                a.stride = p.stride;
                a.pad = p.pad;
                a.row_begin = static_cast<int>(r0);
                a.row_end = static_cast<int>(r1);
                kernels::max_pool(a);
            });
        } else {
            parallel_for(0, rows, grain_for(static_cast<std::int64_t>(os.w) * os.c), [&](std::int64_t r0, std::int64_t r1) {
                kernels::ResizeNearestArgs a;
                a.input = src.data();
                a.input_shape = src.shape();
                a.output = out.data();
                a.output_shape = os;
                a.row_begin = static_cast<int>(r0);
                a.row_end = static_cast<int>(r1);
                kernels::resize_nearest(a);
            });
        }
    }

private:
    struct Pool {
        int kernel, stride;
        Padding2d pad;
    };
    Pool pool_geometry(const Shape& in, int th, int tw) const {
        const int sh = (in.h - 1) / th + 1;
        const int sw = (in.w - 1) / tw + 1;
        if (sh != sw)
            fail(cat("layer '", spec_.prefix, "'"), "Resample",
                 cat("pooling ", in.h, "x", in.w, " to ", th, "x", tw, " needs unequal strides ", sh, " and ", sw));
        Pool p{sh + 1, sh, {}};
        p.pad = kernels::conv_padding(in.h, in.w, p.kernel, p.stride, spec_.padding);
        return p;
    }

    ResampleSpec spec_;
    bool has_conv_ = false;
    PointwiseConvBn conv_;
};

}  // namespace nn
EDET_NAMESPACE_END
