// bench/machine_peak.hpp - what this machine can do, measured in the same run as a benchmark.
//
// A benchmark number means little without the ceiling it is measured against, and on a
// shared or virtual machine the ceiling of the day differs from the data sheet. So every
// edet benchmark measures two ceilings itself, right before (and optionally after) it runs:
//
//   compute    fma_peak_gflops(threads): each thread runs kAccumulators independent chains
//              acc = fma(acc, m, c) on xsimd::batch<float> (the widest vector the build's
//              flags allow), enough chains to hide the FMA latency on both FMA pipes of
//              current x86 cores. FLOPs = 2 per lane per FMA. Converges to c/(1-m), so no
//              overflow or denormals.
//   bandwidth  triad_gbs(threads, bytes): STREAM's triad a[i] = b[i] + s*c[i] over three
//              float arrays; bytes counted as STREAM does (3 arrays x 4 bytes per element,
//              write-allocate traffic not counted); best of `reps` passes. With arrays well
//              above the last-level cache this is DRAM bandwidth; with small arrays it is
//              the bandwidth of the cache they fit in.
//
// Threads are started through edet::parallel_for (one chunk per thread), the same
// machinery the library uses, and pages are first touched by the thread that later uses
// them.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edet/core/parallel.hpp"
// xsimd through activation.hpp, which includes it inside EDET_SIMD_WARNINGS_BEGIN/END (g++ 12
// warns falsely inside its AVX-512 intrinsics at -O1, the sanitizer build).
#include "edet/kernels/activation.hpp"
#include "edet/tensor/aligned_buffer.hpp"

EDET_NAMESPACE_BEGIN
namespace bench {

inline double now_seconds() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// CPU time of the calling thread in seconds: unlike wall time it leaves out time spent
// waiting for a core on a loaded machine. Only meaningful for work the calling thread
// does itself (one thread: parallel_for runs inline).
inline double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The clock a measurement uses: wall time, or (one thread only) the thread's CPU time.
inline double clock_seconds(bool thread_cpu) { return thread_cpu ? thread_cpu_seconds() : now_seconds(); }

// Median of a sample (the mean of the two middle values for an even count); 0 if empty.
inline double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// Runs body(thread) once on each of `threads` threads, concurrently.
template <class Body>
void on_each_thread(int threads, Body&& body) {
    const int saved = num_threads();
    set_num_threads(threads);
    parallel_for(0, threads, 1, [&](std::int64_t b, std::int64_t e) {
        for (std::int64_t t = b; t < e; ++t) body(static_cast<int>(t));
    });
    set_num_threads(saved);
}

namespace detail {

inline constexpr int kAccumulators = 12;  // 2 FMA pipes x latency 4-5, plus slack; fits 16 ymm

// `iterations` rounds of kAccumulators independent FMAs; returns a value the caller must
// use so the loop is not optimised away.
inline float fma_chains(std::int64_t iterations) {
    using B = xsimd::batch<float>;
    B acc[kAccumulators];
    for (int j = 0; j < kAccumulators; ++j) acc[j] = B(0.5f + 0.01f * static_cast<float>(j));
    const B m(0.999f), c(0.001f);
    for (std::int64_t i = 0; i < iterations; ++i) {
        for (int j = 0; j < kAccumulators; ++j) acc[j] = xsimd::fma(acc[j], m, c);
    }
    B sum = acc[0];
    for (int j = 1; j < kAccumulators; ++j) sum += acc[j];
    return xsimd::hadd(sum);
}

}  // namespace detail

// Peak single-precision FMA throughput of `threads` threads together, in GFLOP/s (best
// of `reps` timed rounds of about `seconds` each).
inline double fma_peak_gflops(int threads, double seconds = 0.05, int reps = 3, bool thread_cpu_clock = false) {
    using B = xsimd::batch<float>;
    threads = std::max(threads, 1);
    const bool cpu = thread_cpu_clock && threads == 1;
    // Calibrate the iteration count on one thread.
    std::int64_t iters = 1 << 16;
    volatile float sink = 0.0f;
    for (;;) {
        const double t0 = now_seconds();
        sink = sink + detail::fma_chains(iters);
        const double dt = now_seconds() - t0;
        if (dt > seconds / 4 || iters > (std::int64_t{1} << 40)) {
            iters = static_cast<std::int64_t>(static_cast<double>(iters) * seconds / std::max(dt, 1e-6));
            break;
        }
        iters *= 4;
    }
    iters = std::max<std::int64_t>(iters, 1024);
    double best = 0.0;
    std::vector<float> out(static_cast<std::size_t>(threads));
    for (int r = 0; r < reps; ++r) {
        const double t0 = clock_seconds(cpu);
        on_each_thread(threads, [&](int t) { out[static_cast<std::size_t>(t)] = detail::fma_chains(iters); });
        const double dt = clock_seconds(cpu) - t0;
        const double flops = 2.0 * static_cast<double>(B::size) * detail::kAccumulators *
                             static_cast<double>(iters) * threads;
        best = std::max(best, flops / dt * 1e-9);
        for (float v : out) sink = sink + v;
    }
    return best;
}

// Triad bandwidth of `threads` threads over three arrays of `bytes_per_array` bytes each,
// in GB/s (1e9 bytes/s), best of `reps` passes.
inline double triad_gbs(int threads, std::size_t bytes_per_array, int reps = 5, bool thread_cpu_clock = false) {
    using B = xsimd::batch<float>;
    threads = std::max(threads, 1);
    const bool cpu = thread_cpu_clock && threads == 1;
    const std::size_t lanes = B::size;
    std::size_t n = std::max<std::size_t>(bytes_per_array / sizeof(float), lanes * threads);
    n = n / (lanes * threads) * (lanes * threads);  // every thread's chunk is whole vectors
    AlignedBuffer<float> a(n), b(n), c(n);
    const std::size_t chunk = n / threads;
    on_each_thread(threads, [&](int t) {  // first touch by the owning thread
        for (std::size_t i = chunk * t; i < chunk * (t + 1); ++i) {
            a[i] = 0.0f;
            b[i] = 1.0f;
            c[i] = 2.0f;
        }
    });
    const float s = 0.5f;
    // Repeat small arrays so each timed pass lasts long enough for the clock.
    const int inner = static_cast<int>(std::max<std::size_t>(1, (std::size_t{32} << 20) / (3 * n * sizeof(float))));
    double best = 0.0;
    for (int r = 0; r < reps + 1; ++r) {
        const double t0 = clock_seconds(cpu);
        on_each_thread(threads, [&](int t) {
            const B sv(s);
            for (int k = 0; k < inner; ++k)
                for (std::size_t i = chunk * t; i < chunk * (t + 1); i += lanes) {
                    const B y = xsimd::fma(B::load_aligned(c.data() + i), sv, B::load_aligned(b.data() + i));
                    y.store_aligned(a.data() + i);
                }
        });
        const double dt = clock_seconds(cpu) - t0;
        if (r == 0) continue;  // warm-up pass
        best = std::max(best, 3.0 * sizeof(float) * static_cast<double>(n) * inner / dt * 1e-9);
    }
    volatile float sink = a[n / 2];
    (void)sink;
    return best;
}

// The ceilings a benchmark reports its numbers against, for one thread count.
struct MachinePeak {
    int threads = 1;
    double fma_gflops = 0.0;      // FMA loop, all `threads` together
    double dram_triad_gbs = 0.0;  // triad over 3 x 64 MiB
    double cache_triad_gbs = 0.0; // triad over 3 x 128 KiB per thread (L2-resident)
    double fork_join_us = 0.0;    // median cost of an empty parallel_for over `threads` chunks
};

// Median wall time of an (almost) empty edet::parallel_for over `threads` threads, in
// microseconds: the synchronisation cost every parallel layer pays. On an oversubscribed
// machine this grows to a scheduler time slice (milliseconds).
inline double fork_join_us(int threads, int reps = 200) {
    const int saved = num_threads();
    set_num_threads(threads);
    std::vector<double> t(static_cast<std::size_t>(reps));
    std::vector<int> touched(static_cast<std::size_t>(std::max(threads, 1)));
    for (int r = 0; r < reps; ++r) {
        const double t0 = now_seconds();
        parallel_for(0, threads, 1, [&](std::int64_t b, std::int64_t e) {
            for (std::int64_t i = b; i < e; ++i) touched[static_cast<std::size_t>(i)]++;
        });
        t[static_cast<std::size_t>(r)] = (now_seconds() - t0) * 1e6;
    }
    set_num_threads(saved);
    return median(t);
}

// The better of two measurements of the same ceilings (e.g. before and after a benchmark):
// on a shared machine the higher one is closer to what the hardware can do.
inline MachinePeak best_of(const MachinePeak& a, const MachinePeak& b) {
    MachinePeak p = a;
    p.fma_gflops = std::max(a.fma_gflops, b.fma_gflops);
    p.dram_triad_gbs = std::max(a.dram_triad_gbs, b.dram_triad_gbs);
    p.cache_triad_gbs = std::max(a.cache_triad_gbs, b.cache_triad_gbs);
    p.fork_join_us = std::min(a.fork_join_us, b.fork_join_us);
    return p;
}

// thread_cpu_clock: at one thread, time with the thread's CPU clock (see kernels_bench --clock).
inline MachinePeak measure_machine_peak(int threads, bool thread_cpu_clock = false) {
    MachinePeak p;
    p.threads = std::max(threads, 1);
    p.fma_gflops = fma_peak_gflops(p.threads, 0.05, 3, thread_cpu_clock);
    p.dram_triad_gbs = triad_gbs(p.threads, std::size_t{64} << 20, 5, thread_cpu_clock);
    p.cache_triad_gbs = triad_gbs(p.threads, (std::size_t{128} << 10) * static_cast<std::size_t>(p.threads), 5, thread_cpu_clock);
    p.fork_join_us = p.threads > 1 ? fork_join_us(p.threads) : 0.0;
    return p;
}

// The vector width the peak loop used, e.g. "16 x f32".
inline std::string simd_description() {
    return std::to_string(xsimd::batch<float>::size) + " x f32 (" + xsimd::batch<float>::arch_type::name() + ")";
}

}  // namespace bench
EDET_NAMESPACE_END
