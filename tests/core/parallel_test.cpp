// Tests for edet/core/parallel.hpp and edet/core/arch.hpp.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <vector>

#include "edet/core/arch.hpp"
#include "edet/core/parallel.hpp"

TEST_CASE("parallel_for covers every index exactly once, for any thread count") {
    for (int threads : {1, 2, 3, 8}) {
        edet::set_num_threads(threads);
        CHECK(edet::num_threads() == threads);
        for (std::int64_t n : {0, 1, 2, 7, 100, 1001}) {
            std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
            edet::parallel_for(0, n, 3, [&](std::int64_t b, std::int64_t e) {
                for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)]++;
            });
            for (auto& h : hits) REQUIRE(h.load() == 1);
        }
    }
    edet::set_num_threads(0);
    CHECK(edet::num_threads() >= 1);
}

TEST_CASE("the build's instruction set is reported and supported here") {
    CHECK(std::string(edet::compiled_arch()).size() > 0);
    CHECK(edet::cpu_supports_compiled_arch());
}
