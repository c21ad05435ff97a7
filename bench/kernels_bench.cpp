// bench/kernels_bench.cpp - every convolution of EfficientDet-D0, one at a time, through
// edet's kernels (and, when built with them, oneDNN and XNNPACK on the same shapes).
//
//   kernels_bench [--threads 1,2] [--runs 5] [--filter pw|dw|stem|se[,...]] [--size 512]
//                 [--se] [--clock wall|cpu] [--no-dnnl] [--no-xnnpack] [--csv]
//
// The layer list is derived from the D0 config (the EfficientNet-B0 stage table), not typed in:
//   stem      backbone.conv_stem: 3x3 stride 2, 3 -> 32                                 1
//   backbone  per block: [conv_pw] conv_dw conv_pw(l) (16 blocks: 1 DS + 15 IR)  16 dw + 31 pw
//   fpn       P6 resample 1x1 320->64, 5 cell-0 edge resamples (40/112/320 -> 64),
//             8 nodes x 3 cells of dw3x3 + pw 64->64                         24 dw + 30 pw
//   heads     class and box: 5 levels x (3 repeats + predict) of dw3x3 + pw,
//             pw 64->64 in the repeats, 64->810 / 64->36 in predict          40 dw + 40 pw
//   total     1 stem + 80 dw + 101 pw = 182 layers
// The squeeze-excite 1x1 convs (2 per block, 32 in all) act on one pixel (a mat-vec, not a
// conv over the map); they are not among the 182 and are only run with --se (class "se").
//
// Each layer runs with the geometry of tf_efficientdet_d0 (TF-same padding on stride 2),
// random inputs and weights, bias where the model has one, and no activation (oneDNN and
// XNNPACK would otherwise compute different epilogues). Each implementation is warmed up
// once, then timed `runs` times, the implementations interleaved run by run so machine
// noise hits them alike; the median is reported. Threads: edet splits output rows with
// edet::parallel_for (pixels for pointwise, output rows for depthwise and the stem);
// oneDNN uses its OpenMP runtime with omp_set_num_threads; XNNPACK a pthreadpool.
// Every other implementation's output is compared with edet's (max |a-b| / max |b|) as a
// check that the same convolution is being timed.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <chrono>
#include <thread>
#include <unordered_map>
#include <vector>

#include "edet/core/arch.hpp"
#include "edet/core/error.hpp"
#include "edet/core/parallel.hpp"
#include "edet/kernels/dense_conv.hpp"
#include "edet/kernels/depthwise_conv.hpp"
#include "edet/kernels/padding.hpp"
#include "edet/kernels/pointwise_conv.hpp"
#include "machine_peak.hpp"

#if defined(EDET_HAVE_DNNL)
#include <oneapi/dnnl/dnnl.hpp>
#endif
#if defined(EDET_HAVE_XNNPACK)
#include <pthreadpool.h>
#include <xnnpack.h>
#endif

namespace {

using edet::cat;
using edet::fail;

// ---------------------------------------------------------------------------------------
// The layers

enum class LayerClass { stem, dw, pw, se };
constexpr LayerClass kClasses[] = {LayerClass::stem, LayerClass::dw, LayerClass::pw, LayerClass::se};

const char* to_string(LayerClass c) {
    switch (c) {
        case LayerClass::stem: return "stem";
        case LayerClass::dw: return "dw";
        case LayerClass::pw: return "pw";
        case LayerClass::se: return "se";
    }
    return "?";
}

struct ConvLayer {
    std::string name;  // the reference module name (+ "@P3" for head convs shared across levels)
    LayerClass cls = LayerClass::pw;
    int h = 1, w = 1;  // input size
    int cin = 1, cout = 1;
    int kernel = 1, stride = 1;
    bool bias = false;

    edet::Padding2d pad() const { return edet::kernels::conv_padding(h, w, kernel, stride, edet::PaddingMode::tf_same); }
    int out_h() const { const auto p = pad(); return edet::kernels::conv_output_size(h, kernel, stride, p.top, p.bottom); }
    int out_w() const { const auto p = pad(); return edet::kernels::conv_output_size(w, kernel, stride, p.left, p.right); }
    double out_pixels() const { return static_cast<double>(out_h()) * out_w(); }
    double flops() const {
        const double per_pixel = cls == LayerClass::dw ? 2.0 * cout * kernel * kernel : 2.0 * cout * cin * kernel * kernel;
        return per_pixel * out_pixels();
    }
    double weight_count() const {
        return (cls == LayerClass::dw ? 1.0 * cout * kernel * kernel : 1.0 * cout * cin * kernel * kernel) + (bias ? cout : 0);
    }
    // Bytes a layer must move at least: input + output + weights (+ bias), float32.
    double bytes() const { return 4.0 * (1.0 * h * w * cin + out_pixels() * cout + weight_count()); }
    std::string geometry() const {
        return cat(h, "x", w, " ", cin, "->", cout, " k", kernel, " s", stride);
    }
};

// EfficientNet-B0 stages: block type, kernel, stride, expand, out ch, repeats.
struct StageSpec {
    bool depthwise_separable;
    int kernel, stride, expand, out_channels, repeats;
};
constexpr StageSpec kB0Stages[] = {
    {true, 3, 1, 1, 16, 1},   {false, 3, 2, 6, 24, 2}, {false, 5, 2, 6, 40, 2},  {false, 3, 2, 6, 80, 3},
    {false, 5, 1, 6, 112, 3}, {false, 5, 2, 6, 192, 4}, {false, 3, 1, 6, 320, 1},
};
constexpr int kStemChannels = 32;
constexpr int kFpnChannels = 64;
constexpr int kFpnRepeats = 3;
constexpr int kHeadRepeats = 3;
constexpr int kAnchors = 9;
constexpr int kClassesOut = 90;

int make_divisible(double v) {  // timm's rule with divisor 8
    int c = std::max(8, static_cast<int>((v + 4) / 8) * 8);
    if (c < 0.9 * v) c += 8;
    return c;
}
int tf_same_out(int in, int stride) { return (in + stride - 1) / stride; }

std::vector<ConvLayer> d0_layers(int size, bool with_se) {
    std::vector<ConvLayer> L;
    auto add = [&](std::string name, LayerClass cls, int h, int w, int cin, int cout, int k, int s, bool bias) {
        ConvLayer l;
        l.name = std::move(name);
        l.cls = cls;
        l.h = h;
        l.w = w;
        l.cin = cin;
        l.cout = cout;
        l.kernel = k;
        l.stride = s;
        l.bias = bias;
        L.push_back(l);
    };
    // Stem
    add("backbone.conv_stem", LayerClass::stem, size, size, 3, kStemChannels, 3, 2, false);
    int hw = tf_same_out(size, 2);
    int in = kStemChannels;
    std::vector<int> tap_hw, tap_ch;  // the stride-8/16/32 features: P3, P4, P5
    for (int s = 0; s < 7; ++s) {
        const StageSpec& st = kB0Stages[s];
        for (int b = 0; b < st.repeats; ++b) {
            const std::string pre = cat("backbone.blocks.", s, ".", b, ".");
            const int stride = b == 0 ? st.stride : 1;
            const int out_hw = tf_same_out(hw, stride);
            if (st.depthwise_separable) {
                add(pre + "conv_dw", LayerClass::dw, hw, hw, in, in, st.kernel, stride, false);
                if (with_se) {
                    add(pre + "se.conv_reduce", LayerClass::se, 1, 1, in, kStemChannels / 4, 1, 1, true);
                    add(pre + "se.conv_expand", LayerClass::se, 1, 1, kStemChannels / 4, in, 1, 1, true);
                }
                add(pre + "conv_pw", LayerClass::pw, out_hw, out_hw, in, st.out_channels, 1, 1, false);
            } else {
                const int mid = make_divisible(in * st.expand);
                add(pre + "conv_pw", LayerClass::pw, hw, hw, in, mid, 1, 1, false);
                add(pre + "conv_dw", LayerClass::dw, hw, hw, mid, mid, st.kernel, stride, false);
                if (with_se) {
                    add(pre + "se.conv_reduce", LayerClass::se, 1, 1, mid, in / 4, 1, 1, true);
                    add(pre + "se.conv_expand", LayerClass::se, 1, 1, in / 4, mid, 1, 1, true);
                }
                add(pre + "conv_pwl", LayerClass::pw, out_hw, out_hw, mid, st.out_channels, 1, 1, false);
            }
            in = st.out_channels;
            hw = out_hw;
        }
        if (s == 2 || s == 4 || s == 6) {
            tap_hw.push_back(hw);
            tap_ch.push_back(in);
        }
    }
    // Level sizes P3..P7: s_{l+1} = floor((s_l - 1)/2) + 1 from the image size (P3 = /8).
    std::vector<int> level(5);
    level[0] = size;
    for (int i = 0; i < 3; ++i) level[0] = (level[0] - 1) / 2 + 1;
    for (int l = 1; l < 5; ++l) level[l] = (level[l - 1] - 1) / 2 + 1;
    // P6 = pool(BN(conv1x1(P5))): the conv runs at P5's size.
    add("fpn.resample.3.conv.conv", LayerClass::pw, tap_hw[2], tap_hw[2], tap_ch[2], kFpnChannels, 1, 1, true);
    // BiFPN nodes: output level and input offsets into [P3..P7, node0, ...] (effdet's bifpn_config).
    struct Node { int level; std::vector<int> inputs; };
    const Node nodes[] = {{3, {3, 4}}, {2, {2, 5}}, {1, {1, 6}}, {0, {0, 7}},
                          {1, {1, 7, 8}}, {2, {2, 6, 9}}, {3, {3, 5, 10}}, {4, {4, 11}}};
    for (int r = 0; r < kFpnRepeats; ++r) {
        for (int n = 0; n < 8; ++n) {
            const std::string pre = cat("fpn.cell.", r, ".fnode.", n, ".");
            if (r == 0)
                for (int off : nodes[n].inputs)
                    if (off <= 2)  // backbone P3/P4/P5: channel change by a 1x1 conv at the source size
                        add(pre + cat("combine.resample.", off, ".conv.conv"), LayerClass::pw, tap_hw[off], tap_hw[off],
                            tap_ch[off], kFpnChannels, 1, 1, true);
            const int s = level[nodes[n].level];
            add(pre + "after_combine.conv.conv_dw", LayerClass::dw, s, s, kFpnChannels, kFpnChannels, 3, 1, false);
            add(pre + "after_combine.conv.conv_pw", LayerClass::pw, s, s, kFpnChannels, kFpnChannels, 1, 1, true);
        }
    }
    // Heads: per level, each repeat then predict.
    for (const char* head : {"class_net", "box_net"}) {
        const int outs = std::string(head) == "class_net" ? kAnchors * kClassesOut : kAnchors * 4;
        for (int l = 0; l < 5; ++l) {
            const int s = level[l];
            const std::string at = cat("@P", l + 3);
            for (int i = 0; i < kHeadRepeats; ++i) {
                const std::string pre = cat(head, ".conv_rep.", i, ".");
                add(pre + "conv_dw" + at, LayerClass::dw, s, s, kFpnChannels, kFpnChannels, 3, 1, false);
                add(pre + "conv_pw" + at, LayerClass::pw, s, s, kFpnChannels, kFpnChannels, 1, 1, true);
            }
            add(cat(head, ".predict.conv_dw", at), LayerClass::dw, s, s, kFpnChannels, kFpnChannels, 3, 1, false);
            add(cat(head, ".predict.conv_pw", at), LayerClass::pw, s, s, kFpnChannels, outs, 1, 1, true);
        }
    }
    return L;
}

// ---------------------------------------------------------------------------------------
// Options

struct Options {
    std::vector<int> threads{1, 2};
    int runs = 5;
    int size = 512;
    std::vector<LayerClass> filter;  // empty: stem, dw, pw (and se with --se)
    bool with_se = false;
    bool csv = false;
    bool cpu_clock = false;  // --clock cpu: 1-thread points timed by the thread's CPU clock
    bool dnnl = true;
    bool xnnpack = true;
};

void usage() {
    std::printf(
        "usage: kernels_bench [--threads 1,2] [--runs N] [--filter pw|dw|stem|se[,..]] [--size S]\n"
        "                     [--se] [--clock wall|cpu] [--no-dnnl] [--no-xnnpack] [--csv]\n"
        "Times every convolution of EfficientDet-D0 at SxS (default 512) with edet's kernels\n"
        "and, when compiled in, oneDNN and XNNPACK, reporting medians against the measured\n"
        "machine peak. --se adds the squeeze-excite 1x1 convs (not among the 182 layers).\n"
        "--clock cpu times 1-thread points with the thread's CPU clock, which leaves out time spent\n"
        "waiting for a core on a loaded machine (multi-thread points always use wall time).\n");
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, sep))
        if (!item.empty()) out.push_back(item);
    return out;
}

int parse_int(const std::string& s, const char* what, int lo, int hi) {
    char* end = nullptr;
    const long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || v < lo || v > hi) fail(what, "kernels_bench", cat("'", s, "' is not an integer in [", lo, ", ", hi, "]"));
    return static_cast<int>(v);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) fail(a, "kernels_bench", "needs a value");
            return argv[++i];
        };
        if (a == "--threads") {
            o.threads.clear();
            for (const auto& t : split(value(), ',')) o.threads.push_back(parse_int(t, "--threads", 1, 1024));
            if (o.threads.empty()) fail("--threads", "kernels_bench", "empty list");
        } else if (a == "--runs") {
            o.runs = parse_int(value(), "--runs", 1, 100000);
        } else if (a == "--size") {
            o.size = parse_int(value(), "--size", 32, 4096);
        } else if (a == "--filter") {
            for (const auto& f : split(value(), ',')) {
                bool found = false;
                for (LayerClass c : kClasses)
                    if (f == to_string(c)) { o.filter.push_back(c); found = true; }
                if (!found) fail("--filter", "kernels_bench", cat("unknown class '", f, "' (pw, dw, stem, se)"));
                if (f == "se") o.with_se = true;
            }
        } else if (a == "--se") {
            o.with_se = true;
        } else if (a == "--clock") {
            const std::string v = value();
            if (v != "wall" && v != "cpu") fail("--clock", "kernels_bench", cat("'", v, "' is not wall or cpu"));
            o.cpu_clock = v == "cpu";
        } else if (a == "--csv") {
            o.csv = true;
        } else if (a == "--no-dnnl") {
            o.dnnl = false;
        } else if (a == "--no-xnnpack") {
            o.xnnpack = false;
        } else if (a == "--help" || a == "-h") {
            usage();
            std::exit(0);
        } else {
            fail(cat("option '", a, "'"), "kernels_bench", "unknown (see --help)");
        }
    }
    return o;
}

bool selected(const Options& o, LayerClass c) {
    if (o.filter.empty()) return c != LayerClass::se || o.with_se;
    return std::find(o.filter.begin(), o.filter.end(), c) != o.filter.end();
}

// ---------------------------------------------------------------------------------------
// One layer's buffers and the runners

struct LayerData {
    std::vector<float> input;       // NHWC {1, h, w, cin}
    std::vector<float> weights;     // PyTorch layout [cout][cin or 1][k][k]
    std::vector<float> bias;        // [cout] or empty
    edet::kernels::PackedPointwiseWeights pw_packed;
    edet::AlignedBuffer<float> kxk_packed;  // dw [k][k][c] or dense [k][k][cin][cout]
    std::vector<float> out_edet, out_other;
};

LayerData make_data(const ConvLayer& l, std::mt19937& rng) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    LayerData d;
    d.input.resize(static_cast<std::size_t>(l.h) * l.w * l.cin);
    for (auto& v : d.input) v = u(rng);
    const int per_out = l.cls == LayerClass::dw ? l.kernel * l.kernel : l.cin * l.kernel * l.kernel;
    d.weights.resize(static_cast<std::size_t>(l.cout) * per_out);
    const float scale = 1.0f / std::sqrt(static_cast<float>(per_out));
    for (auto& v : d.weights) v = u(rng) * scale;
    if (l.bias) {
        d.bias.resize(static_cast<std::size_t>(l.cout));
        for (auto& v : d.bias) v = u(rng);
    }
    if (l.cls == LayerClass::pw || l.cls == LayerClass::se)
        d.pw_packed = edet::kernels::pack_pointwise_weights(d.weights.data(), l.cin, l.cout);
    else if (l.cls == LayerClass::dw)
        d.kxk_packed = edet::kernels::pack_depthwise_weights(d.weights.data(), l.cout, l.kernel);
    else
        d.kxk_packed = edet::kernels::pack_dense_conv_weights(d.weights.data(), l.cout, l.cin, l.kernel);
    const std::size_t out_n = static_cast<std::size_t>(l.out_h()) * l.out_w() * l.cout;
    d.out_edet.assign(out_n, 0.0f);
    d.out_other.assign(out_n, 0.0f);
    return d;
}

// Runs the layer once through edet's kernel entry points on edet::num_threads() threads.
void run_edet(const ConvLayer& l, LayerData& d) {
    namespace k = edet::kernels;
    const float* bias = d.bias.empty() ? nullptr : d.bias.data();
    if (l.cls == LayerClass::pw || l.cls == LayerClass::se) {
        const std::int64_t rows = static_cast<std::int64_t>(l.out_h()) * l.out_w();
        edet::parallel_for(0, rows, 16, [&](std::int64_t b, std::int64_t e) {
            k::PointwiseConvArgs a;
            a.input = d.input.data() + b * l.cin;
            a.rows = static_cast<std::size_t>(e - b);
            a.weights = &d.pw_packed;
            a.epilogue.bias = bias;
            a.output = d.out_edet.data() + b * l.cout;
            k::pointwise_conv(a);
        });
    } else if (l.cls == LayerClass::dw) {
        edet::parallel_for(0, l.out_h(), 1, [&](std::int64_t b, std::int64_t e) {
            k::DepthwiseConvArgs a;
            a.input = d.input.data();
            a.input_shape = edet::Shape{1, l.h, l.w, l.cin};
            a.weights = d.kxk_packed.data();
            a.bias = bias;
            a.output = d.out_edet.data();
            a.output_shape = edet::Shape{1, l.out_h(), l.out_w(), l.cout};
            a.kernel = l.kernel;
            a.stride = l.stride;
            a.pad = l.pad();
            a.row_begin = static_cast<int>(b);
            a.row_end = static_cast<int>(e);
            k::depthwise_conv(a);
        });
    } else {
        edet::parallel_for(0, l.out_h(), 1, [&](std::int64_t b, std::int64_t e) {
            k::DenseConvArgs a;
            a.input = d.input.data();
            a.input_shape = edet::Shape{1, l.h, l.w, l.cin};
            a.weights = d.kxk_packed.data();
            a.bias = bias;
            a.output = d.out_edet.data();
            a.output_shape = edet::Shape{1, l.out_h(), l.out_w(), l.cout};
            a.kernel = l.kernel;
            a.stride = l.stride;
            a.pad = l.pad();
            a.row_begin = static_cast<int>(b);
            a.row_end = static_cast<int>(e);
            k::dense_conv(a);
        });
    }
}

// max |a - b| / max |b|
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
    double num = 0.0, den = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double da = a[i], db = b[i];
        if (!std::isfinite(da)) return std::numeric_limits<double>::infinity();
        num = std::max(num, std::fabs(da - db));
        den = std::max(den, std::fabs(db));
    }
    return den > 0 ? num / den : num;
}

// Another implementation of the same layer: prepared once per (layer, threads), then run.
struct Runner {
    virtual ~Runner() = default;
    virtual void run() = 0;
};

#if defined(EDET_HAVE_DNNL)
struct DnnlRunner : Runner {
    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    dnnl::stream strm{eng};
    dnnl::convolution_forward prim;
    dnnl::memory src, wei, bia, dst;
    bool has_bias = false;

    // Build after omp_set_num_threads: oneDNN picks its blocking for the current thread count.
    DnnlRunner(const ConvLayer& l, LayerData& d) {
        using tag = dnnl::memory::format_tag;
        using dt = dnnl::memory::data_type;
        const auto p = l.pad();
        const dnnl::memory::dims src_dims{1, l.cin, l.h, l.w}, dst_dims{1, l.cout, l.out_h(), l.out_w()};
        dnnl::memory::dims wei_dims;
        tag wei_tag;
        if (l.cls == LayerClass::dw) {
            wei_dims = {l.cout, 1, 1, l.kernel, l.kernel};  // groups, out/group, in/group, kh, kw
            wei_tag = tag::goihw;
        } else {
            wei_dims = {l.cout, l.cin, l.kernel, l.kernel};
            wei_tag = tag::oihw;
        }
        const dnnl::memory::desc src_md(src_dims, dt::f32, tag::nhwc), dst_md(dst_dims, dt::f32, tag::nhwc);
        const dnnl::memory::desc wei_any(wei_dims, dt::f32, tag::any), bias_md({l.cout}, dt::f32, tag::x);
        has_bias = !d.bias.empty();
        const dnnl::memory::dims strides{l.stride, l.stride}, pad_l{p.top, p.left}, pad_r{p.bottom, p.right};
        auto desc = has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                               dnnl::algorithm::convolution_direct, src_md, wei_any,
                                                               bias_md, dst_md, strides, pad_l, pad_r)
                             : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                               dnnl::algorithm::convolution_direct, src_md, wei_any,
                                                               dst_md, strides, pad_l, pad_r);
        dnnl::convolution_forward::primitive_desc pd(desc, eng);
        prim = dnnl::convolution_forward(pd);
        src = dnnl::memory(src_md, eng, d.input.data());
        dst = dnnl::memory(dst_md, eng, d.out_other.data());
        dnnl::memory user_w(dnnl::memory::desc(wei_dims, dt::f32, wei_tag), eng, d.weights.data());
        wei = dnnl::memory(pd.weights_desc(), eng);
        dnnl::reorder(user_w, wei).execute(strm, user_w, wei);  // packing, once, not timed
        if (has_bias) bia = dnnl::memory(bias_md, eng, d.bias.data());
        strm.wait();
    }
    void run() override {
        std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
        if (has_bias) args.insert({DNNL_ARG_BIAS, bia});
        prim.execute(strm, args);
        strm.wait();
    }
};
#endif

#if defined(EDET_HAVE_XNNPACK)
struct XnnRunner : Runner {
    xnn_operator_t op = nullptr;
    pthreadpool_t pool = nullptr;
    std::vector<float> ohwi;  // XNNPACK's kernel layout [cout][kh][kw][cin per group]

    XnnRunner(const ConvLayer& l, LayerData& d, int threads) {
        const auto p = l.pad();
        const bool dw = l.cls == LayerClass::dw;
        const int kk = l.kernel * l.kernel;
        if (dw) {
            ohwi = d.weights;  // [c][1][k][k] is already [c][k][k][1]
        } else {
            ohwi.resize(d.weights.size());
            for (int co = 0; co < l.cout; ++co)
                for (int ci = 0; ci < l.cin; ++ci)
                    for (int t = 0; t < kk; ++t)
                        ohwi[(static_cast<std::size_t>(co) * kk + t) * l.cin + ci] =
                            d.weights[(static_cast<std::size_t>(co) * l.cin + ci) * kk + t];
        }
        if (threads > 1) pool = pthreadpool_create(static_cast<std::size_t>(threads));
        const xnn_status st = xnn_create_convolution2d_nhwc_f32(
            static_cast<std::uint32_t>(p.top), static_cast<std::uint32_t>(p.right), static_cast<std::uint32_t>(p.bottom),
            static_cast<std::uint32_t>(p.left), static_cast<std::uint32_t>(l.kernel), static_cast<std::uint32_t>(l.kernel),
            static_cast<std::uint32_t>(l.stride), static_cast<std::uint32_t>(l.stride), 1, 1,
            static_cast<std::uint32_t>(dw ? l.cout : 1), dw ? 1 : static_cast<std::size_t>(l.cin),
            dw ? 1 : static_cast<std::size_t>(l.cout), static_cast<std::size_t>(l.cin), static_cast<std::size_t>(l.cout),
            ohwi.data(), d.bias.empty() ? nullptr : d.bias.data(), -std::numeric_limits<float>::infinity(),
            std::numeric_limits<float>::infinity(), 0, &op);
        if (st != xnn_status_success) fail("xnn_create_convolution2d_nhwc_f32", l.name, cat("status ", static_cast<int>(st)));
        const xnn_status s2 = xnn_setup_convolution2d_nhwc_f32(op, 1, static_cast<std::size_t>(l.h),
                                                               static_cast<std::size_t>(l.w), d.input.data(),
                                                               d.out_other.data(), pool);
        if (s2 != xnn_status_success) fail("xnn_setup_convolution2d_nhwc_f32", l.name, cat("status ", static_cast<int>(s2)));
    }
    ~XnnRunner() override {
        if (op) xnn_delete_operator(op);
        if (pool) pthreadpool_destroy(pool);
    }
    XnnRunner(const XnnRunner&) = delete;
    XnnRunner& operator=(const XnnRunner&) = delete;
    void run() override {
        const xnn_status st = xnn_run_operator(op, pool);
        if (st != xnn_status_success) fail("xnn_run_operator", "kernels_bench", cat("status ", static_cast<int>(st)));
    }
};
#endif

// ---------------------------------------------------------------------------------------
// Results

// Pause before a block of multi-threaded runs, longer than the spin-wait of libgomp
// (GOMP_SPINCOUNT 300k pauses) and pthreadpool, so the previous pool's workers sleep.
constexpr int kPoolPauseMs = 20;

constexpr int kEdet = 0, kDnnl = 1, kXnn = 2, kImpls = 3;
const char* const kImplNames[kImpls] = {"edet", "oneDNN", "XNNPACK"};

struct Result {
    const ConvLayer* layer = nullptr;
    int threads = 1;
    double ms[kImpls] = {0, 0, 0};       // median, 0 = not run
    double min_ms[kImpls] = {0, 0, 0};
    double check[kImpls] = {0, 0, 0};    // relative error vs edet
};

struct Sum {
    double flops = 0, bytes = 0, ms[kImpls] = {0, 0, 0};
    int layers = 0;
    bool complete[kImpls] = {true, true, true};
};

double percent_of_peak(LayerClass c, double gflops, double gbs, const edet::bench::MachinePeak& p) {
    return c == LayerClass::dw ? 100.0 * gbs / p.dram_triad_gbs : 100.0 * gflops / p.fma_gflops;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const Options opt = parse(argc, argv);
        if (!edet::cpu_supports_compiled_arch()) {
            std::fprintf(stderr, "kernels_bench: built for %s, which this CPU does not support\n", edet::compiled_arch());
            return 2;
        }
        bool use[kImpls] = {true, false, false};
#if defined(EDET_HAVE_DNNL)
        use[kDnnl] = opt.dnnl;
#endif
#if defined(EDET_HAVE_XNNPACK)
        use[kXnn] = opt.xnnpack;
        if (use[kXnn] && xnn_initialize(nullptr) != xnn_status_success) {
            std::fprintf(stderr, "kernels_bench: xnn_initialize failed; XNNPACK skipped\n");
            use[kXnn] = false;
        }
#endif
        const char* c = opt.csv ? "# " : "";
        std::printf("%skernels_bench: EfficientDet-D0 convolutions at %dx%d, edet built for %s, %d run(s) per point\n", c,
                    opt.size, opt.size, edet::compiled_arch(), opt.runs);
        std::printf("%sclock: %s\n", c, opt.cpu_clock ? "thread CPU time at 1 thread, wall time above" : "wall time");
        std::printf("%scomparisons: oneDNN %s, XNNPACK %s\n", c,
#if defined(EDET_HAVE_DNNL)
                    use[kDnnl] ? cat(dnnl::version()->major, ".", dnnl::version()->minor, ".", dnnl::version()->patch).c_str() : "off",
#else
                    "not compiled in",
#endif
#if defined(EDET_HAVE_XNNPACK)
                    use[kXnn] ? "on" : "off"
#else
                    "not compiled in"
#endif
        );

        // Machine ceilings for each thread count, measured before the layers and again after
        // them; percentages use the better of the two (the machine is shared).
        std::map<int, edet::bench::MachinePeak> peak;
        std::vector<int> peak_threads = opt.threads;
        const int cores = std::max(1, omp_get_num_procs());
        if (std::find(peak_threads.begin(), peak_threads.end(), cores) == peak_threads.end()) peak_threads.push_back(cores);
        auto print_peak = [&](const char* when, const edet::bench::MachinePeak& p) {
            std::printf("%speak %-6s %d thread(s): FMA %.1f GFLOP/s (%.1f per thread, %s), triad DRAM %.1f GB/s, triad L2 %.1f GB/s",
                        c, when, p.threads, p.fma_gflops, p.fma_gflops / p.threads, edet::bench::simd_description().c_str(),
                        p.dram_triad_gbs, p.cache_triad_gbs);
            if (p.threads > 1) std::printf(", fork-join %.1f us", p.fork_join_us);
            std::printf("\n");
        };
        for (int t : peak_threads) {
            peak[t] = edet::bench::measure_machine_peak(t, opt.cpu_clock);
            print_peak("before", peak[t]);
        }

        std::vector<ConvLayer> all = d0_layers(opt.size, opt.with_se || std::find(opt.filter.begin(), opt.filter.end(), LayerClass::se) != opt.filter.end());
        std::vector<const ConvLayer*> layers;
        int counts[4] = {0, 0, 0, 0};
        for (const auto& l : all) {
            counts[static_cast<int>(l.cls)]++;
            if (selected(opt, l.cls)) layers.push_back(&l);
        }
        std::printf("%slayers: %d stem + %d dw + %d pw = %d convolutions%s; running %zu\n", c, counts[0], counts[1], counts[2],
                    counts[0] + counts[1] + counts[2], opt.with_se ? cat(" (+", counts[3], " SE 1x1 convs)").c_str() : "",
                    layers.size());

        if (opt.csv) {
            std::printf("layer,class,geometry,threads,gflop,mbytes,edet_ms,edet_min_ms,gflops,gbs,pct_peak");
            for (int i = 1; i < kImpls; ++i)
                if (use[i]) std::printf(",%s_ms,%s_min_ms,edet_over_%s,%s_check", kImplNames[i], kImplNames[i], kImplNames[i], kImplNames[i]);
            std::printf("\n");
        } else {
            std::printf("\n%-52s %-5s %-24s %3s %9s %8s %8s %6s", "layer", "class", "geometry", "thr", "edet ms", "GFLOP/s",
                        "GB/s", "%peak");
            for (int i = 1; i < kImpls; ++i)
                if (use[i]) std::printf(" %9s %6s %8s", (std::string(kImplNames[i]) + " ms").c_str(), "ratio", "check");
            std::printf("\n");
        }

        std::mt19937 rng(12345);
        std::vector<Result> results;
        const int saved_omp = omp_get_max_threads();
        for (const ConvLayer* lp : layers) {
            const ConvLayer& l = *lp;
            LayerData d = make_data(l, rng);
            for (int t : opt.threads) {
                edet::set_num_threads(t);
                omp_set_num_threads(t);
                std::unique_ptr<Runner> other[kImpls];
#if defined(EDET_HAVE_DNNL)
                if (use[kDnnl]) other[kDnnl] = std::make_unique<DnnlRunner>(l, d);
#endif
#if defined(EDET_HAVE_XNNPACK)
                if (use[kXnn]) other[kXnn] = std::make_unique<XnnRunner>(l, d, t);
#endif
                Result r;
                r.layer = &l;
                r.threads = t;
                std::vector<double> times[kImpls];
                auto time_one = [&](int i, int run) {
                    const bool cpu = opt.cpu_clock && t == 1;
                    const double t0 = cpu ? edet::bench::thread_cpu_seconds() : edet::bench::now_seconds();
                    if (i == kEdet) run_edet(l, d);
                    else other[i]->run();
                    const double dt = (cpu ? edet::bench::thread_cpu_seconds() : edet::bench::now_seconds()) - t0;
                    if (run >= 0) times[i].push_back(dt * 1e3);
                    else if (i != kEdet) r.check[i] = relative_error(d.out_other, d.out_edet);
                };
                if (t == 1) {
                    // One thread: interleave run by run, so machine noise hits every
                    // implementation alike. Run -1 is the warm-up and the output check.
                    for (int run = -1; run < opt.runs; ++run)
                        for (int i = 0; i < kImpls; ++i)
                            if (use[i]) time_one(i, run);
                } else {
                    // Several threads: each implementation's runs in one block, after a pause.
                    // The thread pools (libgomp for edet and oneDNN, pthreadpool for XNNPACK)
                    // spin-wait for a while after each parallel call; interleaving them would
                    // time one pool's spinning workers fighting the other's for the cores.
                    for (int i = 0; i < kImpls; ++i) {
                        if (!use[i]) continue;
                        std::this_thread::sleep_for(std::chrono::milliseconds(kPoolPauseMs));
                        for (int run = -1; run < opt.runs; ++run) time_one(i, run);
                    }
                }
                for (int i = 0; i < kImpls; ++i)
                    if (use[i]) {
                        r.ms[i] = edet::bench::median(times[i]);
                        r.min_ms[i] = *std::min_element(times[i].begin(), times[i].end());
                    }
                results.push_back(r);

                const double gflops = l.flops() / (r.ms[kEdet] * 1e-3) * 1e-9;
                const double gbs = l.bytes() / (r.ms[kEdet] * 1e-3) * 1e-9;
                const double pct = percent_of_peak(l.cls, gflops, gbs, peak[t]);
                if (opt.csv) {
                    std::printf("%s,%s,%s,%d,%.6f,%.4f,%.5f,%.5f,%.3f,%.3f,%.2f", l.name.c_str(), to_string(l.cls),
                                l.geometry().c_str(), t, l.flops() * 1e-9, l.bytes() * 1e-6, r.ms[kEdet], r.min_ms[kEdet],
                                gflops, gbs, pct);
                    for (int i = 1; i < kImpls; ++i)
                        if (use[i]) std::printf(",%.5f,%.5f,%.4f,%.2e", r.ms[i], r.min_ms[i], r.ms[kEdet] / r.ms[i], r.check[i]);
                    std::printf("\n");
                } else {
                    std::printf("%-52s %-5s %-24s %3d %9.4f %8.2f %8.2f %5.1f%%", l.name.c_str(), to_string(l.cls),
                                l.geometry().c_str(), t, r.ms[kEdet], gflops, gbs, pct);
                    for (int i = 1; i < kImpls; ++i)
                        if (use[i]) std::printf(" %9.4f %6.2f %8.1e", r.ms[i], r.ms[kEdet] / r.ms[i], r.check[i]);
                    std::printf("\n");
                }
                std::fflush(stdout);
            }
        }
        edet::set_num_threads(0);
        omp_set_num_threads(saved_omp);
        for (int t : peak_threads) {
            const auto after = edet::bench::measure_machine_peak(t, opt.cpu_clock);
            print_peak("after", after);
            peak[t] = edet::bench::best_of(peak[t], after);
        }

        // Per-class sums and the total, per thread count.
        std::printf(opt.csv ? "#\n# sums: class,threads,layers,gflop,edet_ms,gflops,gbs,pct_peak" : "\n%-12s %3s %6s %8s %10s %8s %8s %6s",
                    "sum", "thr", "layers", "GFLOP", "edet ms", "GFLOP/s", "GB/s", "%peak");
        for (int i = 1; i < kImpls; ++i)
            if (use[i]) {
                if (opt.csv) std::printf(",%s_ms,edet_over_%s", kImplNames[i], kImplNames[i]);
                else std::printf(" %10s %6s", (std::string(kImplNames[i]) + " ms").c_str(), "ratio");
            }
        std::printf("\n");
        for (int t : opt.threads) {
            for (int k = 0; k <= 4; ++k) {  // 4 = total over the 182 (stem, dw, pw)
                Sum s;
                for (const Result& r : results) {
                    if (r.threads != t) continue;
                    if (k < 4 ? static_cast<int>(r.layer->cls) != k : r.layer->cls == LayerClass::se) continue;
                    s.flops += r.layer->flops();
                    s.bytes += r.layer->bytes();
                    s.layers++;
                    for (int i = 0; i < kImpls; ++i) s.ms[i] += r.ms[i];
                }
                if (s.layers == 0) continue;
                const char* name = k < 4 ? to_string(static_cast<LayerClass>(k)) : "total";
                const double gflops = s.flops / (s.ms[kEdet] * 1e-3) * 1e-9;
                const double gbs = s.bytes / (s.ms[kEdet] * 1e-3) * 1e-9;
                const LayerClass pc = k < 4 ? static_cast<LayerClass>(k) : LayerClass::pw;  // total: vs compute peak
                const double pct = percent_of_peak(pc, gflops, gbs, peak[t]);
                if (opt.csv) std::printf("# %s,%d,%d,%.4f,%.4f,%.3f,%.3f,%.2f", name, t, s.layers, s.flops * 1e-9, s.ms[kEdet], gflops, gbs, pct);
                else std::printf("%-12s %3d %6d %8.3f %10.3f %8.2f %8.2f %5.1f%%", name, t, s.layers, s.flops * 1e-9, s.ms[kEdet], gflops, gbs, pct);
                for (int i = 1; i < kImpls; ++i)
                    if (use[i]) {
                        if (opt.csv) std::printf(",%.4f,%.4f", s.ms[i], s.ms[kEdet] / s.ms[i]);
                        else std::printf(" %10.3f %6.2f", s.ms[i], s.ms[kEdet] / s.ms[i]);
                    }
                std::printf("\n");
            }
        }
        double worst[kImpls] = {0, 0, 0};
        for (const Result& r : results)
            for (int i = 1; i < kImpls; ++i) worst[i] = std::max(worst[i], r.check[i]);
        for (int i = 1; i < kImpls; ++i)
            if (use[i]) std::printf("%scheck: worst max|%s - edet| / max|edet| over all layers = %.2e\n", c, kImplNames[i], worst[i]);
        std::printf("%s%%peak: dw vs the DRAM triad (bytes in+out+weights), stem/pw/total vs the FMA peak (better of before/after;\n"
                    "%s  per-layer %%peak uses the 'before' ceilings); ratio = edet time / other time (< 1: edet faster)\n", c, c);
        std::printf("%snote: timings on a shared machine are noisy; compare implementations within one run\n", c);
#if defined(EDET_HAVE_XNNPACK)
        if (use[kXnn]) xnn_deinitialize();
#endif
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
