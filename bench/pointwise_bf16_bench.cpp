// bench/pointwise_bf16_bench.cpp - the 1x1 conv GEMM in float32 (kernels::pointwise_conv)
// against the bf16 kernel (kernels::pointwise_conv_bf16): AVX512_BF16 hardware and the
// emulation, on pointwise shapes of EfficientDet-D0 at 512x512, one thread.
//
//   pointwise_bf16_bench [--runs 7]
//
// Thread CPU time per call; the three implementations are interleaved run by run so that
// noise from other processes on the (shared) machine hits them alike; the median is
// reported (the emulation, ~10x slower, gets 3 runs). GFLOP/s counts 2 * rows * cin * cout.
// Each run also checks that hardware and emulation agree bit for bit, and reports the
// largest |bf16 - fp32| / max|fp32| of the shape (the price of bf16 inputs).
// Ceilings measured in the same run: the float32 FMA peak (machine_peak.hpp) and the
// vdpbf16ps peak (24 independent accumulator chains; 64 FLOP per instruction).
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "edet/kernels/bf16.hpp"
#include "edet/kernels/pointwise_conv.hpp"
#include "edet/kernels/pointwise_conv_bf16.hpp"
#include "machine_peak.hpp"

namespace {

double thread_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct Shape {
    const char* layer;
    int rows, cin, cout;
    edet::Activation act;
    bool residual;
};

// D0 at 512x512 (stride 2 -> 256x256, 4 -> 128x128, 8 -> 64x64, 16 -> 32x32, 32 -> 16x16).
const Shape kShapes[] = {
    {"block 0 project (256x256)", 65536, 32, 16, edet::Activation::none, false},
    {"stage 2 expand (128x128)", 16384, 24, 144, edet::Activation::swish, false},
    {"stage 2 project (128x128)", 16384, 144, 24, edet::Activation::none, true},
    {"BiFPN node pw (64x64)", 4096, 64, 64, edet::Activation::none, false},
    {"stage 5 project (32x32)", 1024, 672, 112, edet::Activation::none, true},
    {"stage 6 expand (16x16)", 256, 192, 1152, edet::Activation::swish, false},
    {"class predict P3 (64x64)", 4096, 64, 810, edet::Activation::none, false},
};

#if EDET_HAVE_AVX512_BF16_KERNELS
// GFLOP/s of back-to-back vdpbf16ps on 24 accumulators (enough to cover its latency on
// every pipe), best of 3 runs of `iterations` x 24 instructions. Only with AVX512_BF16.
EDET_TARGET_AVX512_BF16 __attribute__((noinline)) double dpbf16_peak_gflops(long iterations) {
    double best = 0.0;
    for (int rep = 0; rep < 3; ++rep) {
        __m512 acc[24];
        for (int j = 0; j < 24; ++j) acc[j] = _mm512_set1_ps(static_cast<float>(j));
        const __m512i a = _mm512_set1_epi32(0x3f803f80), b = _mm512_set1_epi32(0x00010001);
        const double t0 = thread_seconds();
        for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 24
            for (int j = 0; j < 24; ++j)
                acc[j] = _mm512_dpbf16_ps(acc[j], reinterpret_cast<__m512bh>(a), reinterpret_cast<__m512bh>(b));
        }
        const double t = thread_seconds() - t0;
        float sink[16];
        __m512 sum = acc[0];
        for (int j = 1; j < 24; ++j) sum = _mm512_add_ps(sum, acc[j]);
        _mm512_storeu_ps(sink, sum);
        if (sink[0] == 12345.0f) std::printf(" ");  // keeps the chains alive
        best = std::max(best, 64.0 * 24.0 * static_cast<double>(iterations) / t * 1e-9);
    }
    return best;
}
#endif

}  // namespace

int main(int argc, char** argv) {
    int runs = 7;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
        else {
            std::fprintf(stderr, "usage: %s [--runs N]\n", argv[0]);
            return 2;
        }
    }
    const bool hardware = edet::cpu_has_avx512_bf16();
    std::printf("build: %s; AVX512_BF16: %s; 1 thread; median of %d runs (emulated: %d)\n", EDET_ARCH_NAME,
                hardware ? "yes" : "no (hardware column skipped)", runs, std::min(runs, 3));
    std::printf("measured peaks, 1 thread: float32 FMA %.0f GFLOP/s", edet::bench::fma_peak_gflops(1, 0.05, 3, true));
#if EDET_HAVE_AVX512_BF16_KERNELS
    if (hardware) std::printf(", vdpbf16ps %.0f GFLOP/s", dpbf16_peak_gflops(2000000));
#endif
    std::printf("\n");
    std::printf("%-28s %6s %5s %5s | %8s %8s %8s | %6s %6s | %s\n", "layer", "rows", "cin", "cout", "fp32", "bf16",
                "emul", "bf16/", "emul/", "max |bf16-fp32|/max|fp32|");
    std::printf("%-28s %6s %5s %5s | %8s %8s %8s | %6s %6s |\n", "", "", "", "", "GFLOP/s", "GFLOP/s", "GFLOP/s",
                "fp32", "fp32");
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<double> ratios;
    for (const Shape& s : kShapes) {
        const std::size_t rows = static_cast<std::size_t>(s.rows);
        std::vector<float> x(rows * s.cin), w(static_cast<std::size_t>(s.cin) * s.cout), b(s.cout), res(rows * s.cout);
        for (auto* v : {&x, &w, &b, &res})
            for (float& f : *v) f = uniform(rng);
        for (float& f : w) f /= std::sqrt(static_cast<float>(s.cin));
        std::vector<float> out32(rows * s.cout), out16(rows * s.cout), outemu(rows * s.cout);
        const auto packed32 = edet::kernels::pack_pointwise_weights(w.data(), s.cin, s.cout);
        const auto packed16 = edet::kernels::pack_pointwise_weights_bf16(w.data(), s.cin, s.cout);
        edet::kernels::PointwiseConvArgs a32;
        a32.input = x.data();
        a32.rows = rows;
        a32.weights = &packed32;
        a32.epilogue.bias = b.data();
        a32.epilogue.residual = s.residual ? res.data() : nullptr;
        a32.output = out32.data();
        a32.epilogue.activation = s.act;
        edet::kernels::PointwiseConvBf16Args a16;
        a16.input = x.data();
        a16.rows = rows;
        a16.weights = &packed16;
        a16.bias = b.data();
        a16.residual = s.residual ? res.data() : nullptr;
        a16.output = out16.data();
        a16.activation = s.act;
        edet::kernels::PointwiseConvBf16Args aemu = a16;
        aemu.output = outemu.data();
        aemu.precision = edet::Precision::bf16_emulated;

        const auto time_one = [](auto&& f) {
            const double t0 = thread_seconds();
            f();
            return thread_seconds() - t0;
        };
        // Warm-up (pages, caches) once each.
        edet::kernels::pointwise_conv(a32);
        if (hardware) edet::kernels::pointwise_conv_bf16(a16);
        edet::kernels::pointwise_conv_bf16(aemu);
        std::vector<double> t32, t16, temu;
        bool identical = true;
        for (int r = 0; r < runs; ++r) {
            t32.push_back(time_one([&] { edet::kernels::pointwise_conv(a32); }));
            if (hardware) t16.push_back(time_one([&] { edet::kernels::pointwise_conv_bf16(a16); }));
            if (r < 3) temu.push_back(time_one([&] { edet::kernels::pointwise_conv_bf16(aemu); }));
            if (hardware) identical = identical && std::memcmp(out16.data(), outemu.data(), out16.size() * sizeof(float)) == 0;
        }
        double max_diff = 0.0, max_ref = 0.0;
        for (std::size_t i = 0; i < out32.size(); ++i) {
            max_diff = std::max(max_diff, static_cast<double>(std::fabs(outemu[i] - out32[i])));
            max_ref = std::max(max_ref, static_cast<double>(std::fabs(out32[i])));
        }
        const double gflop = 2e-9 * static_cast<double>(rows) * s.cin * s.cout;
        const double g32 = gflop / median_of(t32), gemu = gflop / median_of(temu);
        const double g16 = hardware ? gflop / median_of(t16) : 0.0;
        if (hardware) ratios.push_back(g16 / g32);
        std::printf("%-28s %6d %5d %5d | %8.1f %8.1f %8.1f | %6.2f %6.2f | %.2e%s\n", s.layer, s.rows, s.cin, s.cout,
                    g32, g16, gemu, g16 / g32, gemu / g32, max_diff / max_ref,
                    identical ? "" : "  HARDWARE != EMULATION");
        if (!identical) return 1;
    }
    if (!ratios.empty()) {
        double log_sum = 0.0;
        for (double r : ratios) log_sum += std::log(r);
        std::printf("geometric mean bf16 / fp32: %.2f\n", std::exp(log_sum / static_cast<double>(ratios.size())));
    }
    return 0;
}
