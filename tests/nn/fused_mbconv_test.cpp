// Tests for edet/nn/fused_mbconv.hpp: PoolSlots against global_average_pool (the fused
// passes themselves are checked through nn::MBConv in mbconv_test.cpp: bit-identical at
// any thread count, and against the naive block).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "edet/nn/fused_mbconv.hpp"
#include "nn/nn_test_util.hpp"

using namespace edet;
using namespace edet_test;

TEST_CASE("PoolSlots: pieces that are cascade subtrees give global_average_pool's means bit for bit, others none") {
    Random r(12);
    for (int t = 0; t < 40; ++t) {
        const Shape d{r.integer(1, 3), r.integer(1, 12) * 2 - (t % 2), r.integer(1, 30), r.integer(1, 40)};
        const Tensor<float> x = random_tensor(r, d);
        std::vector<float> want(static_cast<std::size_t>(d.n) * d.c);
        edet::kernels::global_average_pool({x.data(), d, want.data()});
        const std::size_t image = static_cast<std::size_t>(d.h) * d.w * d.c;
        // Feeds rows [y0, y1) of image b in runs of `run_rows` rows, as MBConv's passes do.
        auto feed = [&](nn::PoolSlots& pool, int b, int y0, int y1, int run_rows) {
            edet::kernels::CascadeSummer summer;
            float* slot = pool.begin(b, y0, y1, summer);
            if (!slot) return false;
            for (int y = y0; y < y1; y += run_rows) {
                const int y_next = std::min(y1, y + run_rows);
                summer.add(x.data() + b * image + static_cast<std::size_t>(y) * d.w * d.c, static_cast<std::size_t>(y_next - y) * d.w);
            }
            pool.finish(slot, summer);
            return true;
        };
        INFO("shape ", d.str());
        std::vector<float> memory(nn::PoolSlots::floats(d));
        {  // every image whole (one thread)
            nn::PoolSlots pool(memory.data(), d);
            for (int b = 0; b < d.n; ++b) CHECK(feed(pool, b, 0, d.h, r.integer(1, 4)));
            const float* got = pool.means();
            REQUIRE(got != nullptr);
            CHECK(std::memcmp(got, want.data(), want.size() * sizeof(float)) == 0);
        }
        if (d.h % 2 == 0) {  // every image in halves (two threads on one image), second half first
            nn::PoolSlots pool(memory.data(), d);
            for (int b = 0; b < d.n; ++b) {
                CHECK(feed(pool, b, d.h / 2, d.h, r.integer(1, 4)));
                CHECK(feed(pool, b, 0, d.h / 2, r.integer(1, 4)));
            }
            const float* got = pool.means();
            REQUIRE(got != nullptr);
            CHECK(std::memcmp(got, want.data(), want.size() * sizeof(float)) == 0);
        }
        if (d.h >= 3) {  // a split that is not the cascade's: nothing pooled, no means
            nn::PoolSlots pool(memory.data(), d);
            const int cut = d.h % 2 == 0 ? d.h / 2 + 1 : d.h / 2;
            CHECK_FALSE(feed(pool, 0, 0, cut, 1));
            CHECK_FALSE(feed(pool, 0, cut, d.h, 1));
            for (int b = 1; b < d.n; ++b) CHECK(feed(pool, b, 0, d.h, 2));
            CHECK(pool.means() == nullptr);
        }
        {  // an image left out
            nn::PoolSlots pool(memory.data(), d);
            for (int b = 0; b + 1 < d.n; ++b) CHECK(feed(pool, b, 0, d.h, 3));
            CHECK(pool.means() == nullptr);
        }
    }
}

TEST_CASE("expand_min_chunk: a chunk's expand GEMM covers whole register tiles or at least 8 of them") {
    const int tile = edet::kernels::pointwise_tile_rows();
    for (int width : {1, 3, 7, 16, 20, 32, 64, 100, 256})
        for (int stride : {1, 2}) {
            const int chunk = nn::expand_min_chunk(width, stride);
            const int pixels = chunk * stride * width;
            INFO("width ", width, " stride ", stride, " chunk ", chunk);
            CHECK(chunk >= 1);
            CHECK((pixels % tile == 0 || pixels >= 8 * tile));
            if (chunk > 1) {  // and is the smallest such chunk
                const int fewer = (chunk - 1) * stride * width;
                CHECK_FALSE((fewer % tile == 0 || fewer >= 8 * tile));
            }
        }
    if (tile == 12) {  // AVX-512: D0's narrow maps
        CHECK(nn::expand_min_chunk(16, 1) == 3);  // 48 pixels, 4 tiles
        CHECK(nn::expand_min_chunk(32, 1) == 3);  // 96
        CHECK(nn::expand_min_chunk(32, 2) == 2);  // 128
        CHECK(nn::expand_min_chunk(256, 1) == 1);
    }
}
