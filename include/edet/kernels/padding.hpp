// edet/kernels/padding.hpp - convolution and pooling geometry.
//
// Two padding rules exist in the reference models:
//   TF 'same' (tf_* variants): total = max((ceil(in/s) - 1)*s + k - in, 0),
//       before = total/2, after = total - before (the extra pixel goes bottom/right);
//   symmetric (efficientdet_d0/d1): k/2 on each side (pools: 1).
// For stride 1 and odd k both give k/2 on each side.
#pragma once

#include <algorithm>

#include "edet/core/error.hpp"

EDET_NAMESPACE_BEGIN

enum class PaddingMode { tf_same, symmetric };

struct Padding2d {
    int top = 0, bottom = 0, left = 0, right = 0;
};

namespace kernels {

// Padding on one axis: {before, after}.
struct AxisPadding {
    int before = 0, after = 0;
};

inline AxisPadding axis_padding(int in, int kernel, int stride, PaddingMode mode) {
    if (in < 1 || kernel < 1 || stride < 1)
        fail("padding", "axis_padding", cat("in=", in, " kernel=", kernel, " stride=", stride, " must be >= 1"));
    if (mode == PaddingMode::symmetric) {
        const int p = ((stride - 1) + (kernel - 1)) / 2;  // timm get_padding
        return {p, p};
    }
    const int out = (in + stride - 1) / stride;
    const int total = std::max((out - 1) * stride + kernel - in, 0);
    return {total / 2, total - total / 2};
}

inline Padding2d conv_padding(int in_h, int in_w, int kernel, int stride, PaddingMode mode) {
    const AxisPadding y = axis_padding(in_h, kernel, stride, mode);
    const AxisPadding x = axis_padding(in_w, kernel, stride, mode);
    return {y.before, y.after, x.before, x.after};
}

// Output size of a convolution/pool along one axis.
inline int conv_output_size(int in, int kernel, int stride, int pad_before, int pad_after) {
    const int span = in + pad_before + pad_after - kernel;
    if (span < 0) fail("convolution geometry", "conv_output_size",
                       cat("kernel ", kernel, " larger than padded input ", in + pad_before + pad_after));
    return span / stride + 1;
}

}  // namespace kernels
EDET_NAMESPACE_END
