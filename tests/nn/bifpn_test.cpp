// Tests for edet/nn/bifpn.hpp: the node table, fusion nodes against a naive evaluation and
// against the unfused sequence at several thread counts.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "edet/nn/bifpn.hpp"
#include "nn_test_util.hpp"

using namespace edet;
using namespace edet::nn;

namespace {
// Plans a workspace for the node, then runs it for real into out.
void run_planned(const nn::FusionNode& node, const std::vector<Feature>& x, Tensor<float>& out) {
    Workspace ws;
    ws.begin_plan();
    node.run(ws, x, out.view());
    ws.finish_plan();
    ws.begin_execute();
    node.run(ws, x, out.view());
    ws.finish_execute();
}
}  // namespace

TEST_CASE("bifpn: the node table equals the reference's offsets (P3-P7 and P3-P8)") {
    // as effdet's bifpn_config lists them.
    const std::vector<std::vector<int>> p7 = {{3, 4}, {2, 5}, {1, 6}, {0, 7}, {1, 7, 8}, {2, 6, 9}, {3, 5, 10}, {4, 11}};
    const std::vector<int> p7_levels = {6, 5, 4, 3, 4, 5, 6, 7};
    const auto a = bifpn_nodes(3, 7);
    REQUIRE(a.size() == p7.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        CAPTURE(i);
        CHECK(a[i].inputs == p7[i]);
        CHECK(a[i].level == p7_levels[i]);
    }
    const std::vector<std::vector<int>> p8 = {{4, 5}, {3, 6}, {2, 7}, {1, 8}, {0, 9},
                                              {1, 9, 10}, {2, 8, 11}, {3, 7, 12}, {4, 6, 13}, {5, 14}};
    const auto b = bifpn_nodes(3, 8);
    REQUIRE(b.size() == p8.size());
    for (std::size_t i = 0; i < b.size(); ++i) CHECK(b[i].inputs == p8[i]);
}

namespace {
// Naive node: resample (identity/nearest/maxpool, no conv) -> fuse -> act -> dw -> pw -> BN.
struct NaiveNode {
    std::vector<float> edge;  // raw
    FusionRule rule;
    Activation act;
    std::vector<float> dw;      // [c][3][3]
    std::vector<float> pw, pwb;  // [c][c], [c]
    std::vector<float> g, b, m, v;
};
}  // namespace

TEST_CASE("bifpn: a fusion node equals a naive evaluation (fast normalized and sum, up and down)") {
    for (FusionRule rule : {FusionRule::fast_normalized, FusionRule::sum}) {
        for (PaddingMode pad : {PaddingMode::tf_same, PaddingMode::symmetric}) {
            CAPTURE(static_cast<int>(rule));
            CAPTURE(static_cast<int>(pad));
            const int c = 5, th = 7, tw = 6;
            edet_test::Random r(11);
            FusionNodeSpec s;
            s.prefix = "node";
            s.inputs = {0, 1, 2};
            s.input_channels = {c, c, c};
            s.channels = c;
            s.fusion.rule = rule;
            s.redundant_bias = true;
            s.activation = Activation::swish;
            s.padding = pad;
            edet_test::ParamStore store(r);
            nn::FusionNode node(s, store.binder_listing_then_load([&](Binder& b) { nn::FusionNode tmp(s, b); }));
            // inputs: same size, larger (pooled), smaller (upsampled)
            std::vector<Tensor<float>> in;
            in.emplace_back(Shape{2, th, tw, c});
            in.emplace_back(Shape{2, 13, 11, c});
            in.emplace_back(Shape{2, 4, 3, c});
            std::vector<Feature> x;
            for (auto& t : in) {
                for (std::size_t i = 0; i < t.numel(); ++i) t.data()[i] = r.uniform(-2.0f, 2.0f);
                Feature f;
                f.view = t.view();
                f.keep = true;
                x.push_back(f);
            }
            Tensor<float> out(Shape{2, th, tw, c});
            run_planned(node, x, out);
            // naive
            auto P = [&](const std::string& n) { return store.values(n); };
            const int ph = (13 + 1) / 2, pw_ = (11 + 1) / 2;
            REQUIRE(ph == th);
            REQUIRE(pw_ == tw);
            std::vector<double> fused(static_cast<std::size_t>(2 * th * tw * c));
            std::vector<double> wts(3, 1.0);
            double denom = 1.0;
            if (rule == FusionRule::fast_normalized) {
                const auto e = P("node.combine.edge_weights");
                denom = 1e-4;
                for (int i = 0; i < 3; ++i) {
                    wts[static_cast<std::size_t>(i)] = std::max(0.0f, e[static_cast<std::size_t>(i)]);
                    denom += wts[static_cast<std::size_t>(i)];
                }
            }
            for (int n = 0; n < 2; ++n)
                for (int y = 0; y < th; ++y)
                    for (int xx = 0; xx < tw; ++xx)
                        for (int ch = 0; ch < c; ++ch) {
                            const double a = in[0].at(n, y, xx, ch);
                            // max pool 3x3 s2: tf_same pads 13 -> total max((7-1)*2+3-13,0)=2 -> 1/1; 11 -> 1/1; symmetric 1
                            double mx = -INFINITY;
                            for (int ky = 0; ky < 3; ++ky)
                                for (int kx = 0; kx < 3; ++kx) {
                                    const int iy = y * 2 + ky - 1, ix = xx * 2 + kx - 1;
                                    if (iy >= 0 && iy < 13 && ix >= 0 && ix < 11) mx = std::max(mx, double(in[1].at(n, iy, ix, ch)));
                                }
                            // nearest 4x3 -> 7x6
                            const int sy = std::min(int(std::floor(y * (4.0f / 7.0f))), 3);
                            const int sx = std::min(int(std::floor(xx * (3.0f / 6.0f))), 2);
                            const double u = in[2].at(n, sy, sx, ch);
                            double f = (a * wts[0] + mx * wts[1] + u * wts[2]) / denom;
                            f = f / (1.0 + std::exp(-f));
                            fused[((static_cast<std::size_t>(n) * th + y) * tw + xx) * c + ch] = f;
                        }
            const auto dw = P("node.after_combine.conv.conv_dw.weight");
            const auto pw = P("node.after_combine.conv.conv_pw.weight");
            const auto pb = P("node.after_combine.conv.conv_pw.bias");
            const auto g = P("node.after_combine.conv.bn.weight"), bb = P("node.after_combine.conv.bn.bias");
            const auto mean = P("node.after_combine.conv.bn.running_mean"), var = P("node.after_combine.conv.bn.running_var");
            double max_err = 0, max_ref = 0;
            for (int n = 0; n < 2; ++n)
                for (int y = 0; y < th; ++y)
                    for (int xx = 0; xx < tw; ++xx) {
                        std::vector<double> d(static_cast<std::size_t>(c), 0.0);
                        for (int ch = 0; ch < c; ++ch)
                            for (int ky = 0; ky < 3; ++ky)
                                for (int kx = 0; kx < 3; ++kx) {
                                    const int iy = y + ky - 1, ix = xx + kx - 1;
                                    if (iy < 0 || iy >= th || ix < 0 || ix >= tw) continue;
                                    d[static_cast<std::size_t>(ch)] += fused[((static_cast<std::size_t>(n) * th + iy) * tw + ix) * c + ch] *
                                                                       dw[static_cast<std::size_t>(ch * 9 + ky * 3 + kx)];
                                }
                        for (int co = 0; co < c; ++co) {
                            double acc = pb[static_cast<std::size_t>(co)];
                            for (int ci = 0; ci < c; ++ci) acc += d[static_cast<std::size_t>(ci)] * pw[static_cast<std::size_t>(co * c + ci)];
                            const std::size_t k = static_cast<std::size_t>(co);
                            const double want = (acc - mean[k]) / std::sqrt(double(var[k]) + 1e-3) * g[k] + bb[k];
                            max_err = std::max(max_err, std::fabs(want - out.at(n, y, xx, co)));
                            max_ref = std::max(max_ref, std::fabs(want));
                        }
                    }
            CAPTURE(max_err);
            CAPTURE(max_ref);
            CHECK(max_err <= 1e-5 * std::max(1.0, max_ref));
        }
    }
}

// The node runs combine -> depthwise -> pointwise fused by row bands (a per-thread window
// of combined rows). Against the unfused sequence built from the same weights - fuse and
// activate the whole map, then SeparableConv::forward - it must give the same bits, at any
// thread count, for maps of one chunk and for rows so wide (64 channels x 1100 pixels =
// 275 KB) that every chunk is one row and the window slides through its buffer.
TEST_CASE("bifpn: a fusion node's row bands give the unfused sequence's bits at 1, 2 and 3 threads") {
    struct Case { int n, h, w, c; FusionRule rule; Activation act; };
    const Case cases[] = {
        {1, 40, 40, 64, FusionRule::fast_normalized, Activation::swish},
        {2, 9, 7, 19, FusionRule::fast_normalized, Activation::swish},
        {1, 5, 1100, 64, FusionRule::sum, Activation::relu6},
        {3, 1, 1, 8, FusionRule::fast_normalized, Activation::swish},
        {1, 2, 3, 17, FusionRule::sum, Activation::none},
    };
    edet_test::Random r(29);
    for (const Case& k : cases) {
        CAPTURE(k.h);
        CAPTURE(k.w);
        CAPTURE(k.c);
        FusionNodeSpec s;
        s.prefix = "node";
        s.inputs = {0, 1};
        s.input_channels = {k.c, k.c};
        s.channels = k.c;
        s.fusion.rule = k.rule;
        s.activation = k.act;
        edet_test::ParamStore store(r);
        nn::FusionNode node(s, store.binder_listing_then_load([&](Binder& b) { nn::FusionNode tmp(s, b); }));
        std::vector<Tensor<float>> in;
        std::vector<Feature> x;
        for (int i = 0; i < 2; ++i) {
            in.emplace_back(Shape{k.n, k.h, k.w, k.c});
            for (std::size_t e = 0; e < in.back().numel(); ++e) in.back().data()[e] = r.uniform(-3.0f, 3.0f);
        }
        for (auto& t : in) {
            Feature f;
            f.view = t.view();
            f.keep = true;
            x.push_back(f);
        }
        // The unfused sequence.
        const Shape shape{k.n, k.h, k.w, k.c};
        Tensor<float> fused(shape), want(shape);
        const std::vector<float> edge = k.rule == FusionRule::sum ? std::vector<float>() : store.values("node.combine.edge_weights");
        const float* srcs[2] = {in[0].data(), in[1].data()};
        kernels::FuseArgs a;
        a.inputs = srcs;
        a.count = 2;
        a.weights = edge.empty() ? nullptr : edge.data();
        a.rule = k.rule;
        a.output = fused.data();
        a.elements = fused.numel();
        kernels::fuse(a);
        kernels::apply_activation(fused.data(), fused.numel(), k.act);
        SeparableConvSpec cs;
        cs.prefix = "node.after_combine.conv";
        cs.in_channels = cs.out_channels = k.c;
        cs.pw_bias = true;
        Binder b2(&store.source());
        const SeparableConv conv(cs, b2);
        std::vector<float> dw(conv.scratch_floats(shape));
        conv.forward(fused.view(), want.view(), dw.data());
        for (int threads : {1, 2, 3}) {
            CAPTURE(threads);
            set_num_threads(threads);
            Tensor<float> out(shape);
            run_planned(node, x, out);
            set_num_threads(0);
            CHECK(std::memcmp(out.data(), want.data(), want.numel() * sizeof(float)) == 0);
        }
    }
}

// The node observer sees each node's combine output just before the node itself, named
// "<node>.combine"; computing it (outside the workspace) changes neither the node outputs
// nor the workspace plan.
TEST_CASE("bifpn: the observer sees every node's combine output; with or without it, same outputs and plan") {
    BiFpnSpec s;
    s.backbone_channels = {6, 10, 14};
    s.channels = 8;
    s.repeats = 2;
    s.fusion.rule = FusionRule::fast_normalized;
    edet_test::Random r(17);
    edet_test::ParamStore store(r);
    const nn::BiFpn fpn(s, store.binder_listing_then_load([&](Binder& b) { nn::BiFpn tmp(s, b); }));
    LevelSizes sizes;
    for (int level = 0; level <= s.max_level; ++level) sizes.emplace_back((64 + (1 << level) - 1) >> level, (48 + (1 << level) - 1) >> level);
    std::vector<Tensor<float>> taps;
    for (std::size_t i = 0; i < s.backbone_channels.size(); ++i) {
        const auto& hw = sizes[static_cast<std::size_t>(s.min_level) + i];
        taps.push_back(edet_test::random_tensor(r, Shape{1, hw.first, hw.second, s.backbone_channels[i]}));
    }
    // Runs the BiFPN (plan, then execute) and returns its outputs and the plan's peak.
    auto run = [&](const NodeObserver* observer, std::size_t* peak) {
        Workspace ws;
        std::vector<Tensor<float>> outs;
        for (int pass = 0; pass < 2; ++pass) {
            if (pass == 0) ws.begin_plan();
            else ws.begin_execute();
            std::vector<Feature> x;
            for (auto& t : taps) {
                Feature f;
                f.view = t.view();
                f.keep = true;
                x.push_back(f);
            }
            const std::vector<Feature> y = fpn.run(ws, x, sizes, observer);
            if (pass == 1)
                for (const Feature& f : y) outs.emplace_back(f.view.shape(), f.view.data());
            if (pass == 0) ws.finish_plan();
            else ws.finish_execute();
        }
        *peak = ws.peak_bytes();
        return outs;
    };
    std::vector<std::string> names;
    const NodeObserver observer = [&](const std::string& name, TensorView<const float> v) {
        names.push_back(name);
        CHECK(v.c() == s.channels);
    };
    std::size_t peak_with = 0, peak_without = 0;
    const std::vector<Tensor<float>> with = run(&observer, &peak_with);
    const std::vector<Tensor<float>> without = run(nullptr, &peak_without);
    CHECK(peak_with == peak_without);
    REQUIRE(with.size() == without.size());
    for (std::size_t i = 0; i < with.size(); ++i)
        CHECK(std::memcmp(with[i].data(), without[i].data(), with[i].numel() * sizeof(float)) == 0);
    std::vector<std::string> want = {"fpn.resample.3", "fpn.resample.4"};
    for (int c = 0; c < s.repeats; ++c)
        for (int j = 0; j < 8; ++j) {
            want.push_back(edet::cat("fpn.cell.", c, ".fnode.", j, ".combine"));
            want.push_back(edet::cat("fpn.cell.", c, ".fnode.", j));
        }
    CHECK(names == want);
}
