// Tests for edet/nn/row_window.hpp: the sliding window computes each row of an image once,
// holds exactly the rows asked for, slides through its buffer (copying kept rows to the
// front when it runs out), and refuses requests it cannot serve.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/kernels/depthwise_conv.hpp"
#include "edet/nn/row_window.hpp"

using namespace edet;
using namespace edet::nn;

TEST_CASE("row window: a depthwise walk over an image computes every row once and sees the right rows") {
    struct Case { int h, kernel, stride, pad_top, chunk; std::size_t row_floats; };
    const Case cases[] = {
        {16, 3, 1, 1, 1, 5},  {16, 3, 1, 1, 4, 3}, {17, 5, 2, 1, 1, 7}, {17, 5, 2, 2, 3, 1},
        {1, 3, 1, 1, 1, 2},   {40, 3, 1, 1, 23, 4}, {9, 1, 1, 0, 2, 3},  {64, 5, 1, 2, 1, 16},
    };
    for (const Case& c : cases) {
        CAPTURE(c.h);
        CAPTURE(c.kernel);
        CAPTURE(c.stride);
        CAPTURE(c.chunk);
        const int out_h = (c.h + 2 * c.pad_top - c.kernel) / c.stride + 1;
        const int window_rows = (c.chunk - 1) * c.stride + c.kernel;
        std::vector<float> buffer(static_cast<std::size_t>(2 * window_rows) * c.row_floats);
        SlidingRowWindow win(buffer.data(), 2 * window_rows, c.row_floats);
        for (int image = 0; image < 2; ++image) {  // restart() forgets the first image's rows
            win.restart();
            std::vector<int> computed(static_cast<std::size_t>(c.h), 0);
            for (int oy = 0; oy < out_h; oy += c.chunk) {
                const int oy1 = std::min(oy + c.chunk, out_h);
                const auto need = kernels::depthwise_input_rows(oy, oy1, c.h, c.kernel, c.stride, c.pad_top);
                const float* rows = win.advance(need.first, need.second, [&](float* to, int r0, int r1) {
                    for (int y = r0; y < r1; ++y) {
                        ++computed[static_cast<std::size_t>(y)];
                        for (std::size_t i = 0; i < c.row_floats; ++i)
                            to[static_cast<std::size_t>(y - r0) * c.row_floats + i] = static_cast<float>(1000 * image + 10 * y) + static_cast<float>(i);
                    }
                });
                REQUIRE(win.first() == need.first);
                REQUIRE(win.rows() >= need.second - need.first);
                for (int y = need.first; y < need.second; ++y)
                    for (std::size_t i = 0; i < c.row_floats; ++i)
                        REQUIRE(rows[static_cast<std::size_t>(y - need.first) * c.row_floats + i] ==
                                static_cast<float>(1000 * image + 10 * y) + static_cast<float>(i));
            }
            for (int y = 0; y < c.h; ++y) {
                CAPTURE(y);
                CHECK(computed[static_cast<std::size_t>(y)] <= 1);
            }
        }
    }
}

TEST_CASE("row window: geometry of a chunk, and requests the buffer cannot serve are errors") {
    // 256 KB of 10 KB rows: 25 rows, 3x3 stride 1 -> 23 output rows per chunk.
    const RowWindowGeometry g = RowWindowGeometry::plan(2560, 3, 1, 256 * 1024);
    CHECK(g.chunk == 23);
    CHECK(g.window_rows == 25);
    CHECK(g.buffer_rows == 50);
    CHECK(g.buffer_floats() == 50u * 2560u);
    // Rows wider than the budget: one output row per chunk, the kernel's rows in the window.
    const RowWindowGeometry wide = RowWindowGeometry::plan(1 << 20, 5, 2, 256 * 1024);
    CHECK(wide.chunk == 1);
    CHECK(wide.window_rows == 5);
    CHECK(wide.buffer_rows == 10);
    // ...unless the caller asks for more (expand_depthwise: whole GEMM tiles per chunk).
    const RowWindowGeometry wider = RowWindowGeometry::plan(1 << 20, 5, 1, 256 * 1024, 3);
    CHECK(wider.chunk == 3);
    CHECK(wider.window_rows == 7);

    std::vector<float> buffer(8 * 2);
    SlidingRowWindow win(buffer.data(), 8, 2);
    auto fill = [](float* to, int r0, int r1) { for (int i = 0; i < 2 * (r1 - r0); ++i) to[i] = static_cast<float>(r0); };
    win.advance(4, 8, fill);
    try {
        win.advance(3, 6, fill);  // backwards
        FAIL("no edet::Error for a window moving backwards");
    } catch (const edet::Error& e) {
        CHECK(std::string(e.what()).find("SlidingRowWindow") != std::string::npos);
    }
    CHECK_THROWS_AS(win.advance(5, 14, fill), edet::Error);  // 9 rows in a buffer of 8
    win.restart();
    CHECK(win.advance(0, 8, fill)[0] == 0.0f);
}
