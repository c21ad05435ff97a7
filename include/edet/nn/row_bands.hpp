// edet/nn/row_bands.hpp - a batch's output rows split over the threads, cut at images.
//
// The fused layers (nn/fused_*.hpp) run one parallel region over all n * h output rows
// of a batch, so a small map with a batch still spreads over the threads; a thread's
// band of rows may then start in one image and end in the next. Each piece of one image
// is handled on its own (the image's input, window and pool differ):
//
//   parallel_row_bands(n, h, grain, [&](int b, int y_begin, int y_end) { ... });
//
// calls the body with image b's rows [y_begin, y_end), the pieces of a band in order on
// the band's thread. The split is parallel_for's, so it is the same for every layer with
// the same row count, grain and thread count. The rows may be any per-image items
// (MBConv's projection splits pixels, its gated weight copies panels).
#pragma once

#include <algorithm>
#include <cstdint>

#include "edet/core/parallel.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

// Calls piece(b, y_begin, y_end) for each image's part of the batch rows [r0, r1), images
// of `rows_per_image` rows, in order.
template <class Piece>
void for_each_image_piece(std::int64_t r0, std::int64_t r1, int rows_per_image, Piece&& piece) {
    const std::int64_t h = rows_per_image;
    for (std::int64_t r = r0; r < r1;) {
        const int b = static_cast<int>(r / h);
        const std::int64_t image_row0 = static_cast<std::int64_t>(b) * h;
        const int y_begin = static_cast<int>(r - image_row0);
        const int y_end = static_cast<int>(std::min<std::int64_t>(r1, image_row0 + h) - image_row0);
        piece(b, y_begin, y_end);
        r = image_row0 + y_end;
    }
}

// The n * rows_per_image rows of a batch over the threads (parallel_for with `grain`
// rows), each band cut into image pieces: piece(state, b, y_begin, y_end), where `state`
// is made by make_state() once per band on its thread (a row window, a pool summer: what
// the pieces of a band reuse).
template <class MakeState, class Piece>
void parallel_row_bands(int images, int rows_per_image, std::int64_t grain, MakeState&& make_state, Piece&& piece) {
    parallel_for(0, static_cast<std::int64_t>(images) * rows_per_image, grain, [&](std::int64_t r0, std::int64_t r1) {
        auto state = make_state();
        for_each_image_piece(r0, r1, rows_per_image, [&](int b, int y_begin, int y_end) { piece(state, b, y_begin, y_end); });
    });
}

// The same without per-band state: piece(b, y_begin, y_end).
template <class Piece>
void parallel_row_bands(int images, int rows_per_image, std::int64_t grain, Piece&& piece) {
    parallel_for(0, static_cast<std::int64_t>(images) * rows_per_image, grain,
                 [&](std::int64_t r0, std::int64_t r1) { for_each_image_piece(r0, r1, rows_per_image, piece); });
}

}  // namespace nn
EDET_NAMESPACE_END
