// bench/pointwise_vs_eigen.cpp - edet's pointwise (1x1) conv GEMM against Eigen's GEMM on
// the pointwise shapes of EfficientDet-D0 at 512x512, one thread.
//
// For each shape (rows = h*w pixels, cin -> cout) it reports the median over >= 5 timed
// runs (each run repeats the call until >= 4 ms of thread CPU time have passed) and the best run, in GFLOP/s (2*rows*cin*cout
// flops), for
//   edet   kernels::pointwise_conv with bias, no activation (the entry point)
//   eigen  out = X * W^T (row-major maps of the same buffers) then out.rowwise() += bias
// and the fraction of the single-thread FMA peak, measured first by a plain FMA loop.
// Usage: pointwise_vs_eigen [--quick] [--tune]
//   --quick  3 runs per shape instead of 7 (still a median)
//   --tune   also times a few blocking variants of the edet kernel (row block, depth block)
// g++ 12 reports a false -Wmaybe-uninitialized inside its AVX-512 intrinsics as Eigen
// inlines them (GCC bug 105593); silence exactly that around Eigen.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "edet/core/arch.hpp"
#include "edet/kernels/pointwise_conv.hpp"

namespace {

// This thread's CPU time, not wall time: on a shared, overloaded machine the time the
// thread spends descheduled would otherwise dominate (caches are still shared, so
// numbers stay noisy).
double now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

struct Timing {
    double median = 0.0;  // seconds per call
    double best = 0.0;
};

// Median and best seconds per call of fn over `runs` runs of >= 4 ms each.
template <class Fn>
Timing time_call(Fn&& fn, int runs) {
    fn();  // warm up caches and pages
    std::vector<double> per_call;
    for (int r = 0; r < runs; ++r) {
        int reps = 0;
        const double t0 = now();
        double t = t0;
        do {
            fn();
            ++reps;
            t = now();
        } while (t - t0 < 0.004);
        per_call.push_back((t - t0) / reps);
    }
    return {median(per_call), *std::min_element(per_call.begin(), per_call.end())};
}

// Single-thread FMA peak: independent chains acc = fma(acc, m, c), enough to cover FMA
// latency (4) x 2 pipes with margin: 16 chains with 32 vector registers (AVX-512), 12 with
// 16 (AVX2: 16 accumulators + 2 constants would spill). Converges, no denormals.
// The best run, not the median: a ceiling (other processes only ever slow it down).
double fma_peak_gflops(int runs) {
    using B = xsimd::batch<float>;
    constexpr int kChains = B::size >= 16 ? 16 : 12;
    const long iters = 4'000'000;
    volatile float sink = 0.0f;
    auto body = [&] {
        B acc[kChains];
        for (int i = 0; i < kChains; ++i) acc[i] = B(static_cast<float>(i) * 0.01f);
        const B m(0.999f), c(0.001f);
        for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
            for (int i = 0; i < kChains; ++i) acc[i] = xsimd::fma(acc[i], m, c);
        }
        B s = acc[0];
        for (int i = 1; i < kChains; ++i) s += acc[i];
        sink = sink + xsimd::hadd(s);
    };
    const double sec = time_call(body, runs).best;
    return 2.0 * B::size * kChains * static_cast<double>(iters) / sec * 1e-9;
}

struct Shape {
    const char* where;
    int rows, cin, cout;
};

// EfficientDet-D0 (512x512): backbone B0 per stride, BiFPN per level, heads per level.
const Shape kShapes[] = {
    {"b0 s2 256^2", 65536, 32, 16},   {"b0 s2 256^2", 65536, 16, 96},   {"b0 s4 128^2", 16384, 96, 24},
    {"b0 s4 128^2", 16384, 24, 144},  {"b0 s4 128^2", 16384, 144, 24},  {"b0 s8 64^2", 4096, 144, 40},
    {"b0 s8 64^2", 4096, 40, 240},    {"b0 s8 64^2", 4096, 240, 40},    {"b0 s16 32^2", 1024, 240, 80},
    {"b0 s16 32^2", 1024, 80, 480},   {"b0 s16 32^2", 1024, 480, 80},   {"b0 s16 32^2", 1024, 480, 112},
    {"b0 s16 32^2", 1024, 112, 672},  {"b0 s16 32^2", 1024, 672, 112},  {"b0 s32 16^2", 256, 672, 192},
    {"b0 s32 16^2", 256, 192, 1152},  {"b0 s32 16^2", 256, 1152, 192},  {"b0 s32 16^2", 256, 1152, 320},
    {"fpn P3 64^2", 4096, 40, 64},    {"fpn P4 32^2", 1024, 112, 64},   {"fpn P5 16^2", 256, 320, 64},
    {"fpn P3 64^2", 4096, 64, 64},    {"fpn P4 32^2", 1024, 64, 64},    {"fpn P5 16^2", 256, 64, 64},
    {"fpn P6 8^2", 64, 64, 64},       {"fpn P7 4^2", 16, 64, 64},       {"cls P3 64^2", 4096, 64, 810},
    {"cls P4 32^2", 1024, 64, 810},   {"cls P5 16^2", 256, 64, 810},    {"cls P6 8^2", 64, 64, 810},
    {"cls P7 4^2", 16, 64, 810},      {"box P3 64^2", 4096, 64, 36},    {"box P4 32^2", 1024, 64, 36},
    {"box P5 16^2", 256, 64, 36},     {"box P6 8^2", 64, 64, 36},       {"box P7 4^2", 16, 64, 36},
};

}  // namespace

int main(int argc, char** argv) {
    bool quick = false, tune = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--quick")) quick = true;
        else if (!std::strcmp(argv[i], "--tune")) tune = true;
        else {
            std::fprintf(stderr, "usage: %s [--quick] [--tune]\n", argv[0]);
            return 2;
        }
    }
    if (!edet::cpu_supports_compiled_arch()) {
        std::fprintf(stderr, "this binary needs %s, which this CPU lacks\n", edet::compiled_arch());
        return 1;
    }
    Eigen::setNbThreads(1);
    const int runs = quick ? 3 : 7;
    namespace pw = edet::kernels::pointwise_detail;
    const double peak = fma_peak_gflops(runs);
    std::printf("edet pointwise_conv vs Eigen %d.%d.%d GEMM, 1 thread, build %s (%d lanes, tile %d x %d)\n",
                EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION, edet::compiled_arch(), pw::kLanes,
                pw::kTileRows, pw::kPanelWidth);
    std::printf("FMA peak (1 thread, measured): %.1f GFLOP/s; median of %d runs\n\n", peak, runs);
    std::printf("%-13s %6s %5s %5s | %8s %6s %8s | %8s %6s %8s | %6s\n", "shape", "rows", "cin", "cout", "edet",
                "%peak", "best", "eigen", "%peak", "best", "e/eig");
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    double sum_log_ratio = 0.0, sum_log_best = 0.0;
    int n = 0;
    for (const Shape& s : kShapes) {
        std::vector<float> x(static_cast<std::size_t>(s.rows) * s.cin), w(static_cast<std::size_t>(s.cout) * s.cin),
            b(s.cout), y(static_cast<std::size_t>(s.rows) * s.cout), ye(y.size());
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f - 0.5f;
        for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((i * 104729) % 1000) * 1e-4f - 0.05f;
        for (int i = 0; i < s.cout; ++i) b[i] = 0.01f * i;
        const auto packed = edet::kernels::pack_pointwise_weights(w.data(), s.cin, s.cout);
        edet::kernels::PointwiseConvArgs a;
        a.input = x.data();
        a.rows = static_cast<std::size_t>(s.rows);
        a.weights = &packed;
        a.epilogue.bias = b.data();
        a.output = y.data();
        const double gflop = 2.0 * s.rows * s.cin * s.cout * 1e-9;
        const Timing t_edet = time_call([&] { edet::kernels::pointwise_conv(a); }, runs);

        Eigen::Map<const RowMajor> X(x.data(), s.rows, s.cin);
        Eigen::Map<const RowMajor> W(w.data(), s.cout, s.cin);
        Eigen::Map<const Eigen::RowVectorXf> B(b.data(), s.cout);
        Eigen::Map<RowMajor> Y(ye.data(), s.rows, s.cout);
        const Timing t_eigen = time_call(
            [&] {
                Y.noalias() = X * W.transpose();
                Y.rowwise() += B;
            },
            runs);
        double max_diff = 0.0;
        for (std::size_t i = 0; i < y.size(); ++i) max_diff = std::max(max_diff, static_cast<double>(std::abs(y[i] - ye[i])));
        const double g_edet = gflop / t_edet.median, g_eigen = gflop / t_eigen.median;
        const double b_edet = gflop / t_edet.best, b_eigen = gflop / t_eigen.best;
        std::printf("%-13s %6d %5d %5d | %8.1f %5.0f%% %8.1f | %8.1f %5.0f%% %8.1f | %6.2f%s\n", s.where, s.rows, s.cin,
                    s.cout, g_edet, 100 * g_edet / peak, b_edet, g_eigen, 100 * g_eigen / peak, b_eigen,
                    g_edet / g_eigen, max_diff > 1e-3 ? "  MISMATCH" : "");
        sum_log_ratio += std::log(g_edet / g_eigen);
        sum_log_best += std::log(b_edet / b_eigen);
        ++n;
        if (tune) {
            for (int rows_block : {pw::kTileRows * 8, pw::kTileRows * 32, pw::kTileRows * 128}) {
                for (int depth : {64, 128, 256, 512}) {
                    pw::Blocking bl;
                    bl.rows = rows_block;
                    bl.depth = depth;
                    const Timing t = time_call([&] { pw::run(a, bl); }, runs);
                    std::printf("      tune rows_block %5d depth %4d: %8.1f GFLOP/s (best %.1f)\n", rows_block, depth,
                                gflop / t.median, gflop / t.best);
                }
            }
        }
    }
    std::printf("\ngeometric mean edet/eigen: %.2f of medians, %.2f of bests (timings are noisy: shared machine)\n",
                std::exp(sum_log_ratio / n), std::exp(sum_log_best / n));
    return 0;
}
