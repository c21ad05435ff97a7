// edet/nn/bifpn.hpp - the BiFPN: FusionNode, BiFpnLayer (one cell), BiFpn (extra levels +
// repeated cells).
//
// One cell for levels P3..P7 (node ids: 0..4 are the cell's inputs P3..P7, 5.. its nodes):
//
//   P7 (4) ------------------------------------------> [12 P7out] (4, 11)
//     |                                                   ^
//     v                                                   |
//   P6 (3) --------> [5 P6'] (3, 4) ---------------> [11 P6out] (3, 5, 10)
//                        |                                ^
//                        v                                |
//   P5 (2) --------> [6 P5'] (2, 5) ---------------> [10 P5out] (2, 6, 9)
//                        |                                ^
//                        v                                |
//   P4 (1) --------> [7 P4'] (1, 6) ---------------> [ 9 P4out] (1, 7, 8)
//                        |                                ^
//                        v                                |
//   P3 (0) --------> [8 P3out] (0, 7) -------------------+
//
// top-down nodes read (this level's latest, the level above's latest); bottom-up nodes read
// (every node of this level, the level below's latest). The cell outputs the last
// num_levels nodes, P3out..P7out. bifpn_nodes() generates this table for any level range
// (P3..P8 for d7x); the tests check it against the reference's offsets.
//
// A node (effdet Fnode) is combine then after_combine:
//   out = BN(pw(dw(act( fuse_i( resample_i(x_i) ) ))))
//   fuse, fast normalized: sum_i w_i * x_i / (eps + sum_j w_j), w = relu(edge_weights)
//   fuse, sum:             sum_i x_i
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "edet/core/parallel.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/kernels/fusion.hpp"
#include "edet/nn/fused_node.hpp"
#include "edet/nn/layer_specs.hpp"
#include "edet/nn/resample.hpp"
#include "edet/nn/separable_conv.hpp"
#include "edet/nn/workspace.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

// A feature map living in a Workspace buffer.
struct Feature {
    TensorView<float> view;
    Workspace::Handle handle = -1;
    bool keep = false;  // never released by the BiFPN (backbone taps the caller reads)
};





class FusionNode {
public:
    FusionNode() = default;
    FusionNode(const FusionNodeSpec& s, Binder& b) : spec_(s) {
        const int count = static_cast<int>(s.inputs.size());
        if (count < 1 || count > 16 || s.input_channels.size() != s.inputs.size())
            fail(cat("node '", s.prefix, "'"), "FusionNode", "bad input list");
        if (s.fusion.has_edge_weights()) edge_weights_ = b.take(s.prefix + ".combine.edge_weights", {count});
        for (std::size_t i = 0; i < s.inputs.size(); ++i) {
            ResampleSpec r;
            r.prefix = cat(s.prefix, ".combine.resample.", s.inputs[i]);
            r.in_channels = s.input_channels[i];
            r.out_channels = s.channels;
            r.conv_bias = s.redundant_bias;
            r.bn_eps = s.bn_eps;
            r.padding = s.padding;
            resample_.emplace_back(r, b);
        }
        SeparableConvSpec c;
        c.prefix = s.prefix + ".after_combine.conv";
        c.in_channels = c.out_channels = s.channels;
        c.kernel = 3;
        c.pw_bias = s.redundant_bias;
        c.bn = true;
        c.bn_eps = s.bn_eps;
        c.activation = Activation::none;
        c.padding = s.padding;
        c.role = GemmRole::bifpn_node;
        conv_ = SeparableConv(c, b);
    }

    const FusionNodeSpec& spec() const { return spec_; }

    // Sees a node's combine output, act(fuse(resampled inputs)), when asked for.
    using CombineObserver = std::function<void(TensorView<const float> combined)>;

    // Computes the node into `out` ({n, th, tw, channels}), reading features x. While the
    // workspace executes, `combine_observer` (if set) is shown the node's combine output,
    // computed for it alone, unfused, into a heap buffer (so the workspace plan is the same
    // with or without it); `out` does not change.
    void run(Workspace& ws, const std::vector<Feature>& x, TensorView<float> out,
             const CombineObserver* combine_observer = nullptr) const {
        const int th = out.h(), tw = out.w();
        std::vector<const float*> srcs;
        std::vector<Workspace::Handle> temps;
        for (std::size_t i = 0; i < spec_.inputs.size(); ++i) {
            const std::size_t off = static_cast<std::size_t>(spec_.inputs[i]);
            if (off >= x.size()) fail(cat("node '", spec_.prefix, "'"), "FusionNode", cat("input offset ", off, " not computed yet"));
            TensorView<const float> in = x[off].view;
            const Resample& r = resample_[i];
            const Shape rs = r.plan(in.shape(), th, tw);
            if (rs != out.shape()) fail(cat("node '", spec_.prefix, "'"), "FusionNode", "resampled input does not match the node size");
            if (r.is_noop(in.shape(), th, tw)) {
                srcs.push_back(in.data());
                continue;
            }
            Workspace::Handle h;
            TensorView<float> t = ws.tensor(rs, &h);
            if (ws.planning()) ws.add_macs(r.macs(in.shape()));
            const std::size_t sf = r.scratch_floats(in.shape(), th, tw);
            const Workspace::Handle sh = sf ? ws.acquire(sf) : -1;
            if (ws.executing()) r.forward(in, t, sf ? ws.data(sh) : nullptr);
            if (sh >= 0) ws.release(sh);
            srcs.push_back(t.data());
            temps.push_back(h);
        }
        if (combine_observer && *combine_observer && ws.executing()) (*combine_observer)(combined(srcs, out.shape()).view());
        const Workspace::Handle dh = ws.acquire(conv_.scratch_floats(out.shape()));  // the depthwise output
        if (ws.planning()) ws.add_macs(conv_.macs(out.shape()));
        if (ws.executing()) combine_and_convolve(node_combine(srcs), conv_, out, ws.data(dh));
        ws.release(dh);
        for (auto h : temps) ws.release(h);
    }

private:
    NodeCombine node_combine(const std::vector<const float*>& srcs) const {
        NodeCombine c;
        c.inputs = &srcs;
        c.edge_weights = edge_weights_.empty() ? nullptr : edge_weights_.data();
        c.rule = spec_.fusion.rule;
        c.activation = spec_.activation;
        return c;
    }

    // The combine output alone, act(fuse(srcs)): what the oracle records as effdet's combine
    // output, because effdet applies the node's activation in place on that tensor.
    Tensor<float> combined(const std::vector<const float*>& srcs, const Shape& shape) const {
        Tensor<float> t(shape);
        kernels::FuseArgs a;
        a.inputs = srcs.data();
        a.count = static_cast<int>(srcs.size());
        a.weights = edge_weights_.empty() ? nullptr : edge_weights_.data();
        a.rule = spec_.fusion.rule;
        a.output = t.view().data();
        a.elements = shape.numel();
        kernels::fuse(a);
        kernels::apply_activation(t.view().data(), shape.numel(), spec_.activation);
        return t;
    }

    FusionNodeSpec spec_;
    std::vector<float> edge_weights_;
    std::vector<Resample> resample_;
    SeparableConv conv_;
};

// Level sizes (h, w) indexed by level 0..max_level.
using LevelSizes = std::vector<std::pair<int, int>>;


// Sees each BiFPN output as it is computed, under the reference's module name
// ("fpn.resample.3", "fpn.cell.0.fnode.5"), and each node's combine output before it
// ("fpn.cell.0.fnode.5.combine": the resampled inputs fused, then the node's activation,
// as the oracle's "<node>.combine.out" holds it (effdet activates its combine output in
// place); computed only for the observer): edet-dump --nodes and the node tests compare every
// node with the reference's own. Called only while executing (not planning), with a
// view into the arena that is valid during the call only.
using NodeObserver = std::function<void(const std::string& name, TensorView<const float> out)>;

// One BiFPN cell ("fpn.cell.{r}").
class BiFpnLayer {
public:
    BiFpnLayer() = default;
    BiFpnLayer(const BiFpnSpec& s, int cell, Binder& b) : spec_(s), table_(bifpn_nodes(s.min_level, s.max_level)) {
        for (std::size_t n = 0; n < table_.size(); ++n) {
            const FusionNodeSpec f = fusion_node_spec(s, cell, static_cast<int>(n));
            names_.push_back(f.prefix);
            nodes_.emplace_back(f, b);
        }
    }

    const std::vector<BiFpnNodeSpec>& table() const { return table_; }

    // x: the cell's num_levels inputs (P3..); returns its num_levels outputs. Inputs and
    // intermediate nodes not marked keep are released.
    std::vector<Feature> run(Workspace& ws, std::vector<Feature> x, const LevelSizes& sizes,
                             const NodeObserver* observer = nullptr) const {
        const std::size_t levels = static_cast<std::size_t>(spec_.num_levels());
        if (x.size() != levels) fail("BiFPN cell", "BiFpnLayer::run", cat(x.size(), " inputs, expected ", levels));
        const int n = x[0].view.n();
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            const auto& hw = sizes.at(static_cast<std::size_t>(table_[i].level));
            Feature f;
            f.view = ws.tensor(Shape{n, hw.first, hw.second, spec_.channels}, &f.handle);
            if (observer && *observer) {
                const FusionNode::CombineObserver combine = [&](TensorView<const float> c) { (*observer)(names_[i] + ".combine", c); };
                nodes_[i].run(ws, x, f.view, &combine);
            } else {
                nodes_[i].run(ws, x, f.view);
            }
            if (observer && *observer && ws.executing()) (*observer)(names_[i], f.view);
            x.push_back(f);
        }
        for (std::size_t i = 0; i + levels < x.size(); ++i)
            if (!x[i].keep && x[i].handle >= 0) ws.release(x[i].handle);
        return std::vector<Feature>(x.end() - static_cast<std::ptrdiff_t>(levels), x.end());
    }

private:
    BiFpnSpec spec_;
    std::vector<BiFpnNodeSpec> table_;
    std::vector<std::string> names_;  // each node's module name, "fpn.cell.r.fnode.j"
    std::vector<FusionNode> nodes_;
};

// The BiFPN ("fpn"): extra levels from the last backbone level, then `repeats` cells.
//   P6 = maxpool(BN(conv1x1(P5)))  ("fpn.resample.3")
//   P7 = maxpool(P6), P8 = maxpool(P7)  (no weights)
class BiFpn {
public:
    BiFpn() = default;
    BiFpn(const BiFpnSpec& s, Binder& b) : spec_(s) {
        for (int level = static_cast<int>(s.backbone_channels.size()); level < s.num_levels(); ++level)
            extra_.emplace_back(extra_level_spec(s, level), b);
        for (int r = 0; r < s.repeats; ++r) cells_.emplace_back(s, r, b);
    }

    const BiFpnSpec& spec() const { return spec_; }

    // taps: the backbone features (marked keep); returns the P3.. outputs. `observer`, when
    // set, sees the extra levels and every node as they are computed.
    std::vector<Feature> run(Workspace& ws, std::vector<Feature> x, const LevelSizes& sizes,
                             const NodeObserver* observer = nullptr) const {
        for (std::size_t e = 0; e < extra_.size(); ++e) {
            const TensorView<float> in = x.back().view;
            const auto& hw = sizes.at(static_cast<std::size_t>(spec_.min_level) + x.size());
            Feature f;
            const Shape os = extra_[e].plan(in.shape(), hw.first, hw.second);
            f.view = ws.tensor(os, &f.handle);
            if (ws.planning()) ws.add_macs(extra_[e].macs(in.shape()));
            const std::size_t sf = extra_[e].scratch_floats(in.shape(), hw.first, hw.second);
            const Workspace::Handle sh = sf ? ws.acquire(sf) : -1;
            if (ws.executing()) extra_[e].forward(in, f.view, sf ? ws.data(sh) : nullptr);
            if (sh >= 0) ws.release(sh);
            if (observer && *observer && ws.executing())
                (*observer)(cat("fpn.resample.", spec_.backbone_channels.size() + e), f.view);
            x.push_back(f);
        }
        for (const auto& c : cells_) x = c.run(ws, std::move(x), sizes, observer);
        return x;
    }

private:
    BiFpnSpec spec_;
    std::vector<Resample> extra_;
    std::vector<BiFpnLayer> cells_;
};

}  // namespace nn
EDET_NAMESPACE_END
