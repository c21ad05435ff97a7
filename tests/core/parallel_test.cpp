// Tests for edet/core/parallel.hpp (split coverage, the per-thread count) and edet/core/arch.hpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
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

TEST_CASE("ThreadCountScope: a per-thread count, nested scopes restore, the process default untouched") {
    edet::set_num_threads(3);
    {
        edet::ThreadCountScope one(1);
        CHECK(edet::num_threads() == 1);
        {
            edet::ThreadCountScope two(2);
            CHECK(edet::num_threads() == 2);
            edet::ThreadCountScope none(0);  // no override: the enclosing one stays
            CHECK(edet::num_threads() == 2);
        }
        CHECK(edet::num_threads() == 1);
        std::thread([] { CHECK(edet::num_threads() == 3); }).join();  // another thread: the default
    }
    CHECK(edet::num_threads() == 3);
    edet::set_num_threads(0);
    CHECK(edet::detail::thread_setting().load() == 0);
}

TEST_CASE("ThreadCountScope: two threads with counts 1 and 2 each see only their own") {
    // Each thread repeatedly opens its scope and runs loops; every loop must see the
    // thread's own count and split into at most that many chunks. (With one process-wide
    // setting saved and restored by each call, the threads overwrite each other's count
    // and can leave the process default changed after both return.)
    const int before = edet::num_threads();
    std::atomic<int> wrong_count{0}, too_many_chunks{0};
    auto worker = [&](int mine) {
        for (int iter = 0; iter < 2000; ++iter) {
            edet::ThreadCountScope scope(mine);
            if (edet::num_threads() != mine) ++wrong_count;
            std::atomic<int> chunks{0};
            edet::parallel_for(0, 64, 1, [&](std::int64_t, std::int64_t) { ++chunks; });
            if (chunks.load() > mine) ++too_many_chunks;
            std::this_thread::yield();
            if (edet::num_threads() != mine) ++wrong_count;
        }
    };
    std::thread t1(worker, 1), t2(worker, 2);
    t1.join();
    t2.join();
    CHECK(wrong_count.load() == 0);
    CHECK(too_many_chunks.load() == 0);
    CHECK(edet::detail::thread_setting().load() == 0);
    CHECK(edet::num_threads() == before);
}

TEST_CASE("max_num_threads: 4 x the cores, at least 64") {
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    CHECK(edet::max_num_threads() == std::max(64, 4 * cores));
    CHECK(edet::max_num_threads() >= 64);
}

TEST_CASE("the build's instruction set is reported and supported here") {
    CHECK(std::string(edet::compiled_arch()).size() > 0);
    CHECK(edet::cpu_supports_compiled_arch());
}
