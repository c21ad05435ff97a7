// edet/nn/row_window.hpp - per-thread row windows for layers that fuse a producer in
// front of a depthwise conv.
//
// nn::MBConv (expand -> depthwise) and nn::FusionNode (combine -> depthwise) never write
// the depthwise conv's input tensor whole: each thread walks its band of output rows in
// chunks and, for a chunk, computes only the input rows the conv reads into a small
// per-thread buffer, keeping the rows the previous chunk computed already. The window
// slides forward through a buffer twice its size and the kept rows are copied back to the
// front only when the next chunk would run past its end: with wide rows a chunk is a
// single output row, and a copy per row moved the K - S kept rows every time (2% of D0's
// time in memmove at 3x3 stride 1, twice the expand's own output).
//
//   const RowWindowGeometry g = RowWindowGeometry::plan(row_floats, K, S, kRowWindowBytes);
//   SlidingRowWindow win(thread_scratch(g.buffer_floats()), g.buffer_rows, row_floats);
//   for (oy = ...; oy += g.chunk) {                 // per image: win.restart() first
//       auto need = kernels::depthwise_input_rows(oy, oy1, in_h, K, S, pad_top);
//       const float* w = win.advance(need.first, need.second, [&](float* dst, int r0, int r1) {
//           /* compute input rows [r0, r1) into dst */ });
//       conv.rows(w, win.first(), win.rows(), image, out, oy, oy1);   // a DepthwiseConvBn
//   }
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <utility>

#include "edet/core/error.hpp"
#include "edet/tensor/aligned_buffer.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

// Bytes of one thread's window of computed rows: about half an L2 cache, at least the
// kernel's rows.
inline constexpr std::size_t kRowWindowBytes = 256 * 1024;

// A grow-only scratch buffer of the calling thread (the fused layers' windows). It lives as
// long as the thread (OpenMP keeps its workers), so it is allocated once per thread and size.
inline float* thread_scratch(std::size_t floats) {
    thread_local AlignedBuffer<float> buffer;
    if (buffer.size() < floats) buffer = AlignedBuffer<float>(floats);
    return buffer.data();
}

// How many output rows a chunk has, for a window of about `budget_bytes` of input rows.
struct RowWindowGeometry {
    int chunk = 1;        // output rows per chunk
    int window_rows = 1;  // input rows a chunk reads: (chunk - 1) * stride + kernel
    int buffer_rows = 2;  // the buffer the window slides through: twice the window
    std::size_t row_floats = 0;

    // min_chunk: at least this many output rows per chunk, whatever the budget.
    static RowWindowGeometry plan(std::size_t row_floats, int kernel, int stride, std::size_t budget_bytes, int min_chunk = 1) {
        RowWindowGeometry g;
        g.row_floats = row_floats;
        const int budget_rows = static_cast<int>(std::min<std::size_t>(1 << 20, budget_bytes / (row_floats * sizeof(float))));
        g.chunk = std::max({1, min_chunk, (budget_rows - kernel) / stride + 1});
        g.window_rows = (g.chunk - 1) * stride + kernel;
        g.buffer_rows = 2 * g.window_rows;
        return g;
    }
    std::size_t buffer_floats() const { return static_cast<std::size_t>(buffer_rows) * row_floats; }
};

// The rows [first(), first() + rows()) of one image, computed on demand into a buffer of
// buffer_rows rows of row_floats floats.
class SlidingRowWindow {
public:
    SlidingRowWindow(float* buffer, int buffer_rows, std::size_t row_floats)
        : buffer_(buffer), buffer_rows_(buffer_rows), row_floats_(row_floats) {}

    // Forgets every row (the next image).
    void restart() { lo_ = hi_ = base_ = 0; }

    // Makes rows [first, last) available, last - first <= buffer_rows, and returns the
    // address of row `first`. Rows already held from the previous call are kept; the
    // missing ones are computed by produce(float* dst, int row_begin, int row_end), which
    // writes rows [row_begin, row_end) contiguously at dst. `first` never decreases
    // between restarts.
    template <class Produce>
    float* advance(int first, int last, Produce&& produce) {
        if (last - first > buffer_rows_ || first < lo_)
            fail("row window", "SlidingRowWindow::advance",
                 cat("rows [", first, ", ", last, ") after [", lo_, ", ", hi_, ") in a buffer of ", buffer_rows_, " rows"));
        if (first >= lo_ && first < hi_) {  // keep the rows still needed
            base_ += first - lo_;
            if (base_ + (last - first) > buffer_rows_) {  // no room after them
                std::memmove(buffer_, row(base_), static_cast<std::size_t>(hi_ - first) * row_floats_ * sizeof(float));
                base_ = 0;
            }
        } else {
            hi_ = first;
            base_ = 0;
        }
        lo_ = first;
        float* window = row(base_);
        if (last > hi_) {
            produce(window + static_cast<std::size_t>(hi_ - lo_) * row_floats_, hi_, last);
            hi_ = last;
        }
        return window;
    }

    int first() const { return lo_; }
    int rows() const { return hi_ - lo_; }

private:
    float* row(int i) const { return buffer_ + static_cast<std::size_t>(i) * row_floats_; }

    float* buffer_;
    int buffer_rows_;
    std::size_t row_floats_;
    int lo_ = 0, hi_ = 0, base_ = 0;  // rows [lo_, hi_) held, row lo_ at buffer row base_
};

}  // namespace nn
EDET_NAMESPACE_END
