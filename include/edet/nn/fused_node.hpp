// edet/nn/fused_node.hpp - a BiFPN node's combine and its separable conv as one pass:
// combine_and_convolve (nn::FusionNode runs it).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/kernels/depthwise_conv.hpp"
#include "edet/kernels/fusion.hpp"
#include "edet/nn/conv.hpp"
#include "edet/nn/row_bands.hpp"
#include "edet/nn/row_window.hpp"
#include "edet/nn/separable_conv.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

// A node's combine: its inputs, already resampled to the node's shape, fused by `rule`
// with the raw edge weights (nullptr for a plain sum), then `activation`.
struct NodeCombine {
    const std::vector<const float*>* inputs = nullptr;
    const float* edge_weights = nullptr;
    FusionRule rule = FusionRule::sum;
    Activation activation = Activation::none;
};

// out = BN(pw(dw(act(fuse(inputs))))) (conv = the node's SeparableConv), fused by row bands
// (nn/row_window.hpp): each thread combines just the rows its depthwise chunk reads into
// its window, runs the depthwise conv on them into `dw` (out's shape, conv's input
// channels) and projects the chunk's rows while they are still in L2. The combined tensor
// is never written whole and the node is one parallel region, not three (combine,
// depthwise, pointwise: at 2 threads the BiFPN's 20x20 and smaller nodes used to take
// longer than on one thread). The same kernels do the same arithmetic on every value as
// the unfused sequence, so results are bit-identical; rows on a band boundary are combined
// by both threads.
inline void combine_and_convolve(const NodeCombine& combine, const SeparableConv& conv, TensorView<float> out, float* dw) {
    const Shape os = out.shape();
    const DepthwiseConvBn& depthwise = conv.depthwise();
    const PointwiseConvBn& pointwise = conv.pointwise();
    const int C = depthwise.spec().in_channels, K = depthwise.spec().kernel;
    const Shape image{1, os.h, os.w, C};
    const int pad_top = depthwise.padding_for(image).top;
    const std::size_t row_floats = static_cast<std::size_t>(os.w) * C;
    const std::size_t image_floats = static_cast<std::size_t>(os.h) * row_floats;
    const int out_c = os.c;
    const std::vector<const float*>& srcs = *combine.inputs;
    const int count = static_cast<int>(srcs.size());
    if (count < 1 || count > kernels::kMaxFusionInputs)
        fail("node inputs", "combine_and_convolve", cat(count, " outside [1, ", kernels::kMaxFusionInputs, "]"));
    const RowWindowGeometry g = RowWindowGeometry::plan(row_floats, K, 1, kRowWindowBytes);
    const std::int64_t work_per_row = static_cast<std::int64_t>(row_floats) * (count + K * K + static_cast<std::int64_t>(out_c));
    parallel_row_bands(os.n, os.h, grain_for(work_per_row),
        [&] { return SlidingRowWindow(thread_scratch(g.buffer_floats()), g.buffer_rows, row_floats); },
        [&](SlidingRowWindow& window, int b, int y_begin, int y_end) {
            const float* inputs[kernels::kMaxFusionInputs];
            window.restart();
            for (int oy = y_begin; oy < y_end;) {
                const int oy1 = std::min(oy + g.chunk, y_end);
                const auto need = kernels::depthwise_input_rows(oy, oy1, os.h, K, 1, pad_top);
                const float* rows = window.advance(need.first, need.second, [&](float* to, int row0, int row1) {
                    const std::size_t at = static_cast<std::size_t>(b) * image_floats + static_cast<std::size_t>(row0) * row_floats;
                    const std::size_t elements = static_cast<std::size_t>(row1 - row0) * row_floats;
                    for (int i = 0; i < count; ++i) inputs[i] = srcs[static_cast<std::size_t>(i)] + at;
                    kernels::FuseArgs a;
                    a.inputs = inputs;
                    a.count = count;
                    a.weights = combine.edge_weights;
                    a.rule = combine.rule;
                    a.output = to;
                    a.elements = elements;
                    kernels::fuse(a);
                    kernels::apply_activation(to, elements, combine.activation);
                });
                depthwise.rows(rows, window.first(), window.rows(), image, dw + static_cast<std::size_t>(b) * image_floats, oy, oy1);
                const std::size_t p0 = (static_cast<std::size_t>(b) * os.h + static_cast<std::size_t>(oy)) * os.w;
                pointwise.rows(dw + p0 * C, static_cast<std::size_t>(oy1 - oy) * os.w, out.data() + p0 * static_cast<std::size_t>(out_c));
                oy = oy1;
            }
        });
}

}  // namespace nn
EDET_NAMESPACE_END
