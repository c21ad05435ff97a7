// tools/edet-bench.cpp - end-to-end latency of one EfficientDet variant: the network and the
// post-processing timed separately, peak memory, arena size.
//
//   edet-bench --variant NAME [--size HxW] [--batch N] [--threads N] [--runs R]
//              [--warmup W] [--weights W.safetensors|.pth] [--seed S] [--json]
//
// Without --weights the network gets random weights of the right shapes: an in-memory
// TensorSource built from EfficientDet::state_dict(config) (every reference name and shape),
// filled so activations stay O(1) through the whole depth, like a trained network:
// conv weights uniform with variance 1/fan_in, batch norms the identity (gamma 1, beta 0,
// mean 0, var 1), fusion edge weights 1, biases 0 except the class head's predict bias,
// which is the usual prior log(0.01/0.99) so post-processing sees realistic scores.
// Timing never depends on weight values (no data-dependent paths), except post-processing,
// whose NMS cost depends on how many candidates overlap.
//
// The input is a fixed pseudo-random NHWC batch in [-2, 2) (already "normalised").
// Each run: forward (timed as "network"), then detect::postprocess for every image of the
// batch (timed as "post-processing"). The first `warmup` runs (default 1: plans the arena)
// are not timed. Reported: median, min, max of each; peak RSS (VmHWM); the arena's planned
// peak; per stage (stem, blocks.0..6, bifpn, class_net, box_net: EfficientDet's stage
// timing) the MACs, median ms, GFLOP/s and % of the FMA peak measured after the runs at
// the same thread count, with the DRAM and L2 triad bandwidth and the fork-join cost of
// that moment (bench/machine_peak.hpp; --no-peak skips them); --json prints the same as
// one JSON line. Exit status: 0 done, 2 usage errors, 1 anything else (unknown variant,
// unreadable weights, ...), always with an edet::Error message on stderr.
//
// Thread waiting: edet-bench measures what a program linking edet gets, so it leaves
// OpenMP's wait policy to the environment. libgomp's default (OMP_WAIT_POLICY unset) lets a
// worker spin ~300k iterations after each parallel region before it sleeps; a forward runs
// a few hundred short regions, so on an idle machine the workers stay awake for the whole
// forward. OMP_WAIT_POLICY=passive makes every region wake sleeping workers: on the 2-vCPU
// VM of 2026-12-03 (idle) that made D0 at 2 threads 135 ms instead of 84 ms (1 thread:
// 122 ms), because waking a halted vCPU costs tens of microseconds. On a machine loaded by
// other jobs it is the other way round (2026-11-25: spinning cost 3-5x at 2 threads): export
// OMP_WAIT_POLICY=passive there. The policy in effect is printed ("wait_policy" in --json).
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "edet/core/arch.hpp"
#include "edet/core/error.hpp"
#include "edet/core/parallel.hpp"
#include "../bench/machine_peak.hpp"

#include "edet/detect/anchors.hpp"
#include "edet/detect/model_description.hpp"
#include "edet/detect/postprocess.hpp"
#include "edet/io/tensor_source.hpp"
#include "edet/io/weights.hpp"
#include "edet/models/efficientdet.hpp"
#include "edet/tensor/tensor.hpp"
#include "model_flags.hpp"

namespace {

using edet::cat;
using edet::fail;

// ---- small helpers ---------------------------------------------------------------------

double now_ms() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

// CPU time of the whole process (all threads), in ms. On a shared machine, wall time
// includes waiting for a core; at one thread CPU time is the steadier measure.
double cpu_ms() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

struct Stats {
    double median = 0, min = 0, max = 0;
};
Stats stats(std::vector<double> v) {
    Stats s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    s.median = v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
    s.min = v.front();
    s.max = v.back();
    return s;
}

// A field of /proc/self/status in kB (VmHWM, VmRSS), or -1 when unavailable.
long proc_status_kb(const char* field) {
    std::ifstream f("/proc/self/status");
    std::string line;
    const std::string key = std::string(field) + ":";
    while (std::getline(f, line))
        if (line.compare(0, key.size(), key) == 0) return std::strtol(line.c_str() + key.size(), nullptr, 10);
    return -1;
}

// Peak resident set size in kB: VmHWM, else getrusage's ru_maxrss (kB on Linux).
long peak_rss_kb() {
    const long hwm = proc_status_kb("VmHWM");
    if (hwm >= 0) return hwm;
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

std::string json_escape(const std::string& s) {
    std::string o;
    for (char ch : s) {
        if (ch == '"' || ch == '\\') o += '\\';
        if (static_cast<unsigned char>(ch) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", ch);
            o += buf;
        } else {
            o += ch;
        }
    }
    return o;
}

const char* wait_policy() {
    const char* p = std::getenv("OMP_WAIT_POLICY");
    return p ? p : "unset";
}

// ---- options -----------------------------------------------------------------------------

struct Options {
    edet_tools::ModelFlags model;  // --variant --size --num-classes --num-scales ... (model_flags.hpp)
    int batch = 1;
    int threads = 0;            // 0: edet's default (OMP_NUM_THREADS or the core count)
    int runs = 10;
    int warmup = 1;
    std::string weights;
    std::uint32_t seed = 0;
    bool json = false;
    bool peak = true;
};

void usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: edet-bench --variant NAME [model flags] [--batch N] [--threads N] [--runs R]\n"
                 "                  [--warmup W] [--weights FILE] [--seed S] [--no-peak] [--json]\n"
                 "Times the network and the post-processing of one EfficientDet variant separately\n"
                 "(median/min/max over R runs after W warm-up runs), and reports peak RSS and the\n"
                 "activation arena, and per stage MACs, ms, GFLOP/s and %% of the FMA peak measured\n"
                 "after the runs (--no-peak: skip the ~0.3 s ceiling measurements). Without --weights,\n"
                 "random weights of the right shapes are used (90 classes unless --num-classes).\n"
                 "Model flags:\n%s", edet_tools::ModelFlags::usage());
}

int parse_int(const std::string& s, const std::string& what, long lo, long hi) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno != 0 || v < lo || v > hi)
        fail(what, "edet-bench", cat("'", s, "' is not an integer in [", lo, ", ", hi, "]"));
    return static_cast<int>(v);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) fail(a, "edet-bench", "needs a value");
            return argv[++i];
        };
        bool model_flag = false;
        try {
            model_flag = o.model.parse(a, value);
        } catch (const edet_tools::FlagError& e) {
            throw std::invalid_argument("edet-bench: " + e.message);
        }
        if (model_flag) {
        } else if (a == "--batch") {
            o.batch = parse_int(value(), "--batch", 1, 4096);
        } else if (a == "--threads") {
            o.threads = parse_int(value(), "--threads", 1, edet::max_num_threads());  // as edet-detect, edet-dump
        } else if (a == "--runs") {
            o.runs = parse_int(value(), "--runs", 1, 1000000);
        } else if (a == "--warmup") {
            o.warmup = parse_int(value(), "--warmup", 0, 1000000);
        } else if (a == "--weights") {
            o.weights = value();
        } else if (a == "--seed") {
            o.seed = static_cast<std::uint32_t>(parse_int(value(), "--seed", 0, 2147483647));
        } else if (a == "--json") {
            o.json = true;
        } else if (a == "--no-peak") {
            o.peak = false;
        } else if (a == "--help" || a == "-h") {
            usage(stdout);
            std::exit(0);
        } else {
            fail(cat("option '", a, "'"), "edet-bench", "unknown (see --help)");
        }
    }
    if (o.model.description.variant.empty() && o.weights.empty())
        fail("--variant", "edet-bench", "required (or --weights whose metadata names the model)");
    return o;
}

// ---- random weights ------------------------------------------------------------------------

// 32-bit mix (a variant of the murmur3 finaliser): deterministic values without state.
std::uint32_t mix(std::uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}
std::uint32_t hash_name(const std::string& s, std::uint32_t seed) {
    std::uint32_t h = 2166136261u ^ seed;
    for (char ch : s) h = (h ^ static_cast<unsigned char>(ch)) * 16777619u;
    return mix(h);
}
bool ends_with(const std::string& s, const char* suffix) {
    const std::size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// A state_dict held in memory: every name and shape the variant expects, values made on
// demand from the name (so read_f32 is repeatable and nothing is stored twice).
class RandomWeights final : public edet::io::TensorSource {
public:
    RandomWeights(const edet::EfficientDetConfig& config, std::uint32_t seed) : seed_(seed), model_(config.name) {
        for (const auto& p : edet::EfficientDet::state_dict(config)) {
            edet::io::TensorInfo t;
            t.name = p.name;
            t.dtype = p.dtype;
            t.shape = p.shape;
            infos_.push_back(t);
        }
    }
    const std::vector<edet::io::TensorInfo>& tensors() const override { return infos_; }
    const edet::io::TensorInfo* find(const std::string& name) const override {
        for (const auto& t : infos_)
            if (t.name == name) return &t;
        return nullptr;
    }
    std::vector<float> read_f32(const std::string& name) const override {
        const edet::io::TensorInfo* t = find(name);
        if (!t) fail(cat("tensor '", name, "'"), path_, "not in the variant's state_dict");
        std::vector<float> v(t->numel(), 0.0f);
        if (t->dtype == edet::io::DType::i64) return v;  // num_batches_tracked
        if (t->shape.size() >= 2) {                       // a conv weight [cout, cin/groups, kh, kw]
            std::size_t fan_in = 1;
            for (std::size_t i = 1; i < t->shape.size(); ++i) fan_in *= static_cast<std::size_t>(t->shape[i]);
            const float bound = std::sqrt(3.0f / static_cast<float>(fan_in));  // variance 1/fan_in
            std::uint32_t h = hash_name(name, seed_);
            for (auto& x : v) {
                h = mix(h + 0x9e3779b9u);
                x = (static_cast<float>(h >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * bound;
            }
            return v;
        }
        float fill = 0.0f;  // conv and BN biases, running means
        if (ends_with(name, "running_var") || ends_with(name, "edge_weights")) fill = 1.0f;
        else if (ends_with(name, ".weight")) fill = 1.0f;  // BN gamma (the only rank-1 weights)
        else if (name == "class_net.predict.conv_pw.bias") fill = std::log(0.01f / 0.99f);
        std::fill(v.begin(), v.end(), fill);
        return v;
    }
    std::string metadata(const std::string& key) const override { return key == "model" ? model_ : std::string(); }
    const std::string& path() const override { return path_; }

private:
    std::uint32_t seed_;
    std::string model_;
    std::string path_ = "<random weights>";
    std::vector<edet::io::TensorInfo> infos_;
};

int run(const Options& opt) {
    if (opt.threads > 0) edet::set_num_threads(opt.threads);
    const int threads = edet::num_threads();
    const long rss_start_kb = proc_status_kb("VmRSS");

    // Build the model.
    const double t_load0 = now_ms();
    std::unique_ptr<edet::EfficientDet> net;
    std::string weights_desc;
    edet::detect::AnchorConfig ac;
    if (opt.weights.empty()) {
        // Random weights for the described network: resolved against their own heads.
        const edet::detect::ModelDescription& d = opt.model.description;
        const edet::EfficientDetConfig c = edet::detect::network_config(d, "edet-bench");
        RandomWeights w(c, opt.seed);
        const edet::detect::ResolvedModel r = edet::detect::resolve_model(d, w, "<random weights>");
        net = std::make_unique<edet::EfficientDet>(edet::EfficientDet::from_source(w, r.config, edet::ForwardPath::fast, opt.model.precision));
        ac = r.anchors;
        weights_desc = cat("random (seed ", opt.seed, ")");
    } else {
        edet::io::WeightsOptions wo;
        wo.key = opt.model.key;
        const auto source = edet::io::open_weights(opt.weights, wo);
        const edet::detect::ResolvedModel r = edet::detect::resolve_model(opt.model.description, *source, opt.weights);
        net = std::make_unique<edet::EfficientDet>(edet::EfficientDet::from_source(*source, r.config, edet::ForwardPath::fast, opt.model.precision));
        ac = r.anchors;
        weights_desc = opt.weights;
    }
    const double load_ms = now_ms() - t_load0;
    const long rss_loaded_kb = proc_status_kb("VmRSS");
    const edet::EfficientDetConfig& c = net->config();

    // Input batch and anchors.
    edet::Tensor<float> input(edet::Shape{opt.batch, c.image_height, c.image_width, 3});
    {
        std::uint32_t h = mix(opt.seed + 1u);
        float* p = input.data();
        for (std::size_t i = 0; i < input.numel(); ++i) {
            h = mix(h + 0x9e3779b9u);
            p[i] = static_cast<float>(h >> 8) * (1.0f / 16777216.0f) * 4.0f - 2.0f;
        }
    }
    const std::vector<float> anchors = edet::detect::generate_anchors(ac);
    edet::detect::PostprocessOptions popt;
    popt.max_detection_points = c.max_detection_points;
    popt.max_detections = c.max_detections;

    // Warm-up and timed runs.
    net->set_stage_timing(true);
    std::vector<std::vector<double>> stage_ms;
    std::vector<double> net_ms, post_ms, net_cpu, post_cpu;
    std::size_t detections = 0;
    double first_forward_ms = 0;  // the first forward: plans the arena, then runs
    for (int r = -opt.warmup; r < opt.runs; ++r) {
        const double c0 = cpu_ms();
        const double t0 = now_ms();
        const edet::HeadOutputs& out = net->forward(input.view());
        const double t1 = now_ms();
        const double c1 = cpu_ms();
        if (r == -opt.warmup) first_forward_ms = t1 - t0;
        detections = 0;
        const edet::detect::LogitMaxima maxima{&out.class_max, out.class_max_columns};
        for (int b = 0; b < opt.batch; ++b)
            detections += edet::detect::postprocess(out.class_out, out.box_out, anchors, net->num_classes(), b, popt,
                                                    nullptr, &maxima)
                              .size();
        const double t2 = now_ms();
        const double c2 = cpu_ms();
        if (r >= 0) {
            stage_ms.resize(net->stages().size());
            for (std::size_t s = 0; s < stage_ms.size(); ++s) stage_ms[s].push_back(net->stages()[s].ms);
            net_ms.push_back(t1 - t0);
            net_cpu.push_back(c1 - c0);
            post_cpu.push_back(c2 - c1);
            post_ms.push_back(t2 - t1);
        }
    }
    const Stats ns = stats(net_ms), ps = stats(post_ms), nc = stats(net_cpu), pc = stats(post_cpu);
    const long peak_kb = peak_rss_kb();
    const std::size_t arena = net->arena_bytes();
    // The ceilings at the same thread count, measured after the runs (the peak RSS above is
    // read before the triad's 3 x 64 MiB are allocated): the FMA peak the stages' % of peak
    // refers to, and the DRAM and L2 triad bandwidth and fork-join cost of the moment, so a
    // slow run on a shared host can be read next to the ceilings of its minute.
    const edet::bench::MachinePeak machine = opt.peak ? edet::bench::measure_machine_peak(threads) : edet::bench::MachinePeak{};
    const double peak_gflops = machine.fma_gflops;
    struct StageRow {
        std::string name;
        double macs, ms, gflops, pct;
    };
    std::vector<StageRow> stages;
    double total_macs = 0;
    for (std::size_t s = 0; s < net->stages().size(); ++s) {
        const double ms = s < stage_ms.size() ? stats(stage_ms[s]).median : 0.0;
        const double macs = net->stages()[s].macs;
        const double gflops = ms > 0 ? 2.0 * macs / (ms * 1e6) : 0.0;
        stages.push_back(StageRow{net->stages()[s].name, macs, ms, gflops, peak_gflops > 0 ? 100.0 * gflops / peak_gflops : 0.0});
        total_macs += macs;
    }
    const double net_gflops = ns.median > 0 ? 2.0 * total_macs / (ns.median * 1e6) : 0.0;

    if (opt.json) {
        std::printf(
            "{\"tool\":\"edet-bench\",\"variant\":\"%s\",\"arch\":\"%s\",\"size\":[%d,%d],\"batch\":%d,\"threads\":%d,\"wait_policy\":\"%s\",\"precision\":\"%s\","
            "\"runs\":%d,\"warmup\":%d,\"weights\":\"%s\",\"load_ms\":%.3f,\"first_forward_ms\":%.3f,"
            "\"net_ms\":{\"median\":%.4f,\"min\":%.4f,\"max\":%.4f},"
            "\"post_ms\":{\"median\":%.4f,\"min\":%.4f,\"max\":%.4f},\"net_cpu_ms\":{\"median\":%.4f,\"min\":%.4f},\"post_cpu_ms\":{\"median\":%.4f,\"min\":%.4f},"
            "\"images_per_s\":%.3f,\"detections\":%zu,\"peak_rss_kb\":%ld,\"rss_start_kb\":%ld,\"rss_loaded_kb\":%ld,"
            "\"arena_bytes\":%zu,\"unplanned_bytes\":%zu,\"macs\":%.0f,\"net_gflops\":%.3f,\"fma_peak_gflops\":%.3f,"
            "\"dram_triad_gbs\":%.2f,\"l2_triad_gbs\":%.2f,\"fork_join_us\":%.2f,\"stages\":[",
            json_escape(c.name).c_str(), edet::compiled_arch(), c.image_height, c.image_width, opt.batch, threads,
            json_escape(wait_policy()).c_str(), edet::to_string(net->precision()), opt.runs,
            opt.warmup, json_escape(weights_desc).c_str(), load_ms, first_forward_ms, ns.median, ns.min, ns.max, ps.median, ps.min, ps.max,
            nc.median, nc.min, pc.median, pc.min, opt.batch * 1000.0 / (ns.median + ps.median), detections, peak_kb, rss_start_kb, rss_loaded_kb, arena,
            net->unplanned_bytes(), total_macs, net_gflops, peak_gflops, machine.dram_triad_gbs, machine.cache_triad_gbs,
            machine.fork_join_us);
        for (std::size_t s = 0; s < stages.size(); ++s)
            std::printf("%s{\"name\":\"%s\",\"macs\":%.0f,\"ms\":%.4f,\"gflops\":%.3f,\"pct_peak\":%.2f}", s ? "," : "",
                        json_escape(stages[s].name).c_str(), stages[s].macs, stages[s].ms, stages[s].gflops, stages[s].pct);
        std::printf("],\"net_ms_runs\":[");
        for (std::size_t r = 0; r < net_ms.size(); ++r) std::printf("%s%.4f", r ? "," : "", net_ms[r]);
        std::printf("]}\n");
    } else {
        std::printf("edet-bench: %s %dx%d, batch %d, %d thread(s) (OMP_WAIT_POLICY=%s), built for %s, precision %s\n",
                    c.name.c_str(), c.image_height, c.image_width, opt.batch, threads, wait_policy(), edet::compiled_arch(),
                    edet::to_string(net->precision()));
        std::printf("weights:          %s (loaded in %.1f ms; first forward incl. planning %.1f ms; sum %.1f ms)\n",
                    weights_desc.c_str(), load_ms, first_forward_ms, load_ms + first_forward_ms);
        std::printf("runs:             %d timed after %d warm-up\n", opt.runs, opt.warmup);
        std::printf("network:          median %9.3f ms   min %9.3f   max %9.3f\n", ns.median, ns.min, ns.max);
        std::printf("network CPU time: median %9.3f ms   min %9.3f   (all threads; wall - CPU at 1 thread = waiting for a core)\n",
                    nc.median, nc.min);
        std::printf("post-processing:  median %9.3f ms   min %9.3f   max %9.3f   (%zu detections in the last run)\n",
                    ps.median, ps.min, ps.max, detections);
        std::printf("post CPU time:    median %9.3f ms   min %9.3f\n", pc.median, pc.min);
        std::printf("throughput:       %.2f images/s (medians)\n", opt.batch * 1000.0 / (ns.median + ps.median));
        std::printf("peak RSS:         %.1f MiB (VmHWM; %.1f MiB at start, %.1f MiB after loading)\n", peak_kb / 1024.0,
                    rss_start_kb / 1024.0, rss_loaded_kb / 1024.0);
        std::printf("arena:            %.2f MiB planned peak (%.2f MiB without lifetime planning)\n",
                    static_cast<double>(arena) / (1 << 20), static_cast<double>(net->unplanned_bytes()) / (1 << 20));
        std::printf("network rate:     %.2f GMAC per image, %.1f GFLOP/s", total_macs * 1e-9 / opt.batch, net_gflops);
        if (peak_gflops > 0) std::printf(" = %.1f%% of the FMA peak (%.1f GFLOP/s at %d thread(s))", 100.0 * net_gflops / peak_gflops, peak_gflops, threads);
        std::printf("\n");
        if (opt.peak)
            std::printf("machine now:      triad %.1f GB/s DRAM, %.1f GB/s L2; fork-join %.1f us (%d thread(s), after the runs)\n",
                        machine.dram_triad_gbs, machine.cache_triad_gbs, machine.fork_join_us, threads);
        std::printf("stages (median ms over the timed runs; MACs of the convolutions, whole batch):\n");
        std::printf("  %-10s %10s %9s %6s %9s %7s\n", "stage", "MMAC", "ms", "%time", "GFLOP/s", "%peak");
        double sum_ms = 0;
        for (const auto& s : stages) sum_ms += s.ms;
        for (const auto& s : stages)
            std::printf("  %-10s %10.1f %9.3f %5.1f%% %9.1f %6.1f%%\n", s.name.c_str(), s.macs * 1e-6, s.ms,
                        sum_ms > 0 ? 100.0 * s.ms / sum_ms : 0.0, s.gflops, s.pct);
    }
    return 0;
}


}  // namespace

int main(int argc, char** argv) {
    Options opt;
    try {
        opt = parse(argc, argv);
    } catch (const std::exception& e) {  // usage errors exit 2, as the other tools' do
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    }
    try {
        if (!edet::cpu_supports_compiled_arch()) {
            std::fprintf(stderr, "edet-bench: built for %s, which this CPU does not support\n", edet::compiled_arch());
            return 2;
        }
        return run(opt);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
