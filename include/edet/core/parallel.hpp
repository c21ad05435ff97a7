// edet/core/parallel.hpp - thread count and parallel loops, OpenMP optional.
//
// Kernels never start threads; their callers (layers, models) split work with
// parallel_for. Every output element is computed by exactly one iteration with the same
// arithmetic whatever the split, so results do not depend on the thread count.
// Built without -fopenmp everything runs serially and no unknown-pragma warning appears,
// because the pragmas are emitted through _Pragma only when _OPENMP is defined.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>

#include "edet/core/arch.hpp"

#if defined(_OPENMP)
#include <omp.h>
#define EDET_PRAGMA(x) _Pragma(#x)
#define EDET_OMP(x) EDET_PRAGMA(omp x)
#else
#define EDET_OMP(x)
#endif

EDET_NAMESPACE_BEGIN

// The thread count has two levels:
//   - the process default, set_num_threads(n): what tools set from --threads;
//   - a per-thread override, ThreadCountScope (what DetectOptions::threads uses): it
//     applies to parallel loops started *by the thread that holds it*, and is restored
//     when the scope ends. Two threads each holding their own scope (two Detectors in two
//     std::threads) do not see each other's count, and the process default is never
//     touched, so no call can leave another one slowed down after it returns.
// num_threads() is read by parallel_for in the thread that starts the loop, before the
// OpenMP region begins. A parallel_for started from inside another one's body (a worker
// thread) sees no override there; with OpenMP nesting off (the default) its region runs
// on one thread anyway. edet's own loops do not nest (counted: none of the 250 to 858
// parallel_for calls of a Lite0 / D0 detect and detect_batch starts inside a region).
// Results never depend on the count (the split-invariance above).
namespace detail {
inline std::atomic<int>& thread_setting() {
    static std::atomic<int> n{0};  // 0 = not set: use the OpenMP default
    return n;
}
inline int& thread_override() {
    thread_local int n = 0;  // 0 = none: the process default applies
    return n;
}
}  // namespace detail

// Sets the process default number of threads edet's parallel loops use (>= 1); 0 restores
// the default (OMP_NUM_THREADS or the core count). A ThreadCountScope overrides it.
inline void set_num_threads(int n) { detail::thread_setting().store(n < 0 ? 0 : n); }

// The number of threads the next parallel loop started by this thread will use: this
// thread's ThreadCountScope, else the process default, else OpenMP's.
inline int num_threads() {
    if (const int o = detail::thread_override(); o > 0) return o;
    const int n = detail::thread_setting().load();
    if (n > 0) return n;
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// The largest thread count edet's callers accept from users (DetectOptions::threads,
// the tools' --threads): 4 x the cores, at least 64. More threads than that only
// oversubscribe the machine; a typo such as 4000 would start thousands of threads.
inline int max_num_threads() {
    const unsigned cores = std::thread::hardware_concurrency();
    return std::max(64, 4 * static_cast<int>(std::min(cores, 1u << 20)));
}

// Overrides the thread count for loops started by the calling thread while in scope
// (n <= 0: no override, the scope does nothing); restores the previous override on exit,
// so scopes nest. Per thread: other threads and the process default are untouched.
class ThreadCountScope {
public:
    explicit ThreadCountScope(int n) : saved_(detail::thread_override()) {
        if (n > 0) detail::thread_override() = n;
    }
    ~ThreadCountScope() { detail::thread_override() = saved_; }
    ThreadCountScope(const ThreadCountScope&) = delete;
    ThreadCountScope& operator=(const ThreadCountScope&) = delete;

private:
    int saved_;
};

// Index of the calling thread inside a parallel region (0 outside one).
inline int thread_index() {
#if defined(_OPENMP)
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Calls body(begin_i, end_i) on disjoint chunks covering [begin, end), each at least
// `grain` long (except the last). Chunks are spread over num_threads() threads with a
// static schedule. Runs inline when there is one chunk or one thread, so small maps
// (the 8x8 and 4x4 levels) pay no thread start-up.
template <class Body>
void parallel_for(std::int64_t begin, std::int64_t end, std::int64_t grain, Body&& body) {
    const std::int64_t count = end - begin;
    if (count <= 0) return;
    grain = std::max<std::int64_t>(grain, 1);
    const int threads = num_threads();
    std::int64_t chunks = std::min<std::int64_t>((count + grain - 1) / grain, threads);
    if (chunks <= 1) {
        body(begin, end);
        return;
    }
#if defined(_OPENMP)
    EDET_OMP(parallel for schedule(static, 1) num_threads(static_cast<int>(chunks)))
    for (std::int64_t k = 0; k < chunks; ++k) {
        const std::int64_t b = begin + count * k / chunks;
        const std::int64_t e = begin + count * (k + 1) / chunks;
        body(b, e);
    }
#else
    body(begin, end);
#endif
}

EDET_NAMESPACE_END
