// edet/nn/fused_separable.hpp - depthwise_pointwise: a depthwise conv and the pointwise
// conv after it (a SeparableConv, a head repeat) as one pass over row chunks.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "edet/core/error.hpp"
#include "edet/kernels/pointwise_conv.hpp"
#include "edet/nn/conv.hpp"
#include "edet/nn/row_bands.hpp"
#include "edet/nn/row_window.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

// out = pw(dw(in)) with pw's epilogue `e` (pw.epilogue() plus, optionally, a residual or
// panel maxima laid out like out), by chunks of rows: one parallel region instead of
// two, each chunk's depthwise rows (about kRowWindowBytes) projected while they are still
// in L2. `mid` holds dw's whole output (dw.plan(in).numel() floats). The same kernels on
// the same values as dw.forward then pw.forward, so the results are bit-identical to them.
inline void depthwise_pointwise(const DepthwiseConvBn& dw, const PointwiseConvBn& pw, TensorView<const float> in,
                                TensorView<float> out, float* mid, const kernels::PointwiseEpilogue& e) {
    const Shape is = in.shape();
    const Shape ms = dw.plan(is);
    check_same_shape(out.shape(), pw.plan(ms), "output", "depthwise_pointwise");
    if (!in.is_contiguous() || !out.is_contiguous())
        fail(cat("layers '", dw.spec().conv, "', '", pw.spec().conv, "'"), "depthwise_pointwise", "views must be contiguous");
    const Shape image{1, is.h, is.w, is.c};
    const std::size_t in_image_floats = static_cast<std::size_t>(is.h) * is.w * is.c;
    const std::size_t mid_row_floats = static_cast<std::size_t>(ms.w) * ms.c;
    const int cout = pw.spec().out_channels;
    const int chunk = static_cast<int>(std::max<std::size_t>(1, kRowWindowBytes / (mid_row_floats * sizeof(float))));
    const std::int64_t k2 = static_cast<std::int64_t>(dw.spec().kernel) * dw.spec().kernel;
    const std::int64_t work_per_row = (k2 + static_cast<std::int64_t>(cout)) * static_cast<std::int64_t>(mid_row_floats);
    parallel_row_bands(ms.n, ms.h, grain_for(work_per_row), [&](int b, int y_begin, int y_end) {
        for (int oy = y_begin; oy < y_end; oy += chunk) {
            const int oy1 = std::min(oy + chunk, y_end);
            dw.rows(in.data() + static_cast<std::size_t>(b) * in_image_floats, 0, is.h, image,
                    mid + static_cast<std::size_t>(b) * ms.h * mid_row_floats, oy, oy1);
            const std::size_t p0 = (static_cast<std::size_t>(b) * ms.h + static_cast<std::size_t>(oy)) * ms.w;
            pw.rows(mid + p0 * ms.c, static_cast<std::size_t>(oy1 - oy) * ms.w, out.data() + p0 * static_cast<std::size_t>(cout),
                    kernels::epilogue_from_row(e, p0, cout));
        }
    });
}

// The same with pw's own epilogue.
inline void depthwise_pointwise(const DepthwiseConvBn& dw, const PointwiseConvBn& pw, TensorView<const float> in,
                                TensorView<float> out, float* mid) {
    depthwise_pointwise(dw, pw, in, out, mid, pw.epilogue());
}

}  // namespace nn
EDET_NAMESPACE_END
