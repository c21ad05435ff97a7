// Tests for edet/nn/row_bands.hpp: every row of a batch is visited exactly once, in
// pieces that never cross an image, whatever the thread count and grain.
#include <doctest/doctest.h>

#include <atomic>
#include <vector>

#include "edet/nn/row_bands.hpp"

using namespace edet;

TEST_CASE("row_bands: for_each_image_piece cuts a row range at image boundaries, in order") {
    std::vector<std::vector<int>> pieces;
    nn::for_each_image_piece(3, 11, 4, [&](int b, int y0, int y1) { pieces.push_back({b, y0, y1}); });
    // rows 3..10 of images of 4 rows: image 0 row 3, image 1 rows 0-3, image 2 rows 0-2
    CHECK(pieces == std::vector<std::vector<int>>{{0, 3, 4}, {1, 0, 4}, {2, 0, 3}});
    pieces.clear();
    nn::for_each_image_piece(5, 5, 4, [&](int b, int y0, int y1) { pieces.push_back({b, y0, y1}); });
    CHECK(pieces.empty());
}

TEST_CASE("row_bands: parallel_row_bands visits each row once, with one state per band") {
    for (int threads : {1, 2, 3})
        for (int images : {1, 2, 5})
            for (int rows : {1, 7, 32})
                for (std::int64_t grain : {1, 3, 100}) {
                    CAPTURE(threads);
                    CAPTURE(images);
                    CAPTURE(rows);
                    CAPTURE(grain);
                    std::vector<std::atomic<int>> seen(static_cast<std::size_t>(images) * rows);
                    std::atomic<int> states{0}, bad{0};
                    set_num_threads(threads);
                    nn::parallel_row_bands(images, rows, grain, [&] { return ++states; },
                                           [&](int, int b, int y0, int y1) {
                                               if (b < 0 || b >= images || y0 < 0 || y0 >= y1 || y1 > rows) ++bad;
                                               for (int y = y0; y < y1; ++y) ++seen[static_cast<std::size_t>(b) * rows + y];
                                           });
                    set_num_threads(0);
                    CHECK(bad.load() == 0);
                    CHECK(states.load() >= 1);
                    CHECK(states.load() <= images * rows);
                    for (auto& s : seen) CHECK(s.load() == 1);
                }
}
