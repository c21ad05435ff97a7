// edet/models/efficientnet.hpp - EfficientNet B0-B7 / Lite0-4 as the EfficientDet backbone
// (timm features_only, out_indices (2, 3, 4): the P3, P4, P5 taps).
//
//   image -> stem conv3x3/2 + BN + act -> stage 0 (DS blocks) -> stages 1..6 (MBConv)
//                                               stride:  2   4   8   16  16  32  32
//   taps:  P3 = end of stage 2 (stride 8), P4 = end of stage 4 (16), P5 = end of stage 6 (32)
// There is no conv_head. Block specs come from the backbone table (config.hpp, with the
// scaling rules it encodes) through models/architecture.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <iterator>
#include <string>
#include <vector>

#include "edet/models/architecture.hpp"
#include "edet/models/config.hpp"
#include "edet/nn/bifpn.hpp"
#include "edet/nn/conv.hpp"
#include "edet/nn/mbconv.hpp"
#include "edet/nn/workspace.hpp"

EDET_NAMESPACE_BEGIN

// The stem as the dense conv layer that runs it (conv "backbone.conv_stem", BN
// "backbone.bn1", then the activation); also what StemModel (mbconv_block.hpp) binds.
inline nn::ConvSpec stem_conv_spec(const StemSpec& st) {
    nn::ConvSpec stem;
    stem.conv = "backbone.conv_stem";
    stem.bn = "backbone.bn1";
    stem.in_channels = st.in_channels;
    stem.out_channels = st.out_channels;
    stem.kernel = st.kernel;
    stem.stride = st.stride;
    stem.bn_eps = st.bn_eps;
    stem.activation = st.activation;
    stem.padding = st.padding;
    return stem;
}

class EfficientNetBackbone {
public:

    EfficientNetBackbone() = default;
    EfficientNetBackbone(const BackboneSpec& bb, float bn_eps, nn::Binder& b) : spec_(bb) {
        stem_ = nn::DenseConvBn(stem_conv_spec(stem_spec(bb, bn_eps)), b);
        for (const auto& stage : efficientnet_blocks(bb, bn_eps)) {
            std::vector<nn::MBConv> blocks;
            for (const auto& m : stage) blocks.emplace_back(m, b);
            stages_.push_back(std::move(blocks));
        }
    }

    const BackboneSpec& spec() const { return spec_; }

    // Runs the backbone on `input` ({n, H, W, 3}); returns P3, P4, P5 (kept: never
    // released by the BiFPN, so callers can read them after the forward).
    // end_of_stage (optional) is called after the stem with -1 and after stage s with s
    // (EfficientDet's per-stage timing).
    template <class StageMark>
    std::vector<nn::Feature> run(nn::Workspace& ws, TensorView<const float> input, StageMark&& end_of_stage) const {
        std::vector<nn::Feature> taps;
        nn::Feature cur;
        cur.view = ws.tensor(stem_.plan(input.shape()), &cur.handle);
        if (ws.planning()) ws.add_macs(stem_.macs(input.shape()));
        if (ws.executing()) stem_.forward(input, cur.view);
        end_of_stage(-1);
        for (std::size_t s = 0; s < stages_.size(); ++s) {
            for (const auto& block : stages_[s]) {
                nn::Feature next;
                next.view = ws.tensor(block.plan(cur.view.shape()), &next.handle);
                if (ws.planning()) ws.add_macs(block.macs(cur.view.shape()));
                const nn::Workspace::Handle sh = ws.acquire(block.scratch_floats(cur.view.shape()));
                if (ws.executing()) block.forward(cur.view, next.view, ws.data(sh));
                ws.release(sh);
                if (!cur.keep) ws.release(cur.handle);
                cur = next;
            }
            if (std::find(std::begin(kBackboneTapStages), std::end(kBackboneTapStages), static_cast<int>(s)) != std::end(kBackboneTapStages)) {
                cur.keep = true;
                taps.push_back(cur);
            }
            end_of_stage(static_cast<int>(s));
        }
        return taps;
    }
    std::vector<nn::Feature> run(nn::Workspace& ws, TensorView<const float> input) const {
        return run(ws, input, [](int) {});
    }

    std::size_t num_stages() const { return stages_.size(); }

private:
    BackboneSpec spec_{};
    nn::DenseConvBn stem_;
    std::vector<std::vector<nn::MBConv>> stages_;
};

EDET_NAMESPACE_END
