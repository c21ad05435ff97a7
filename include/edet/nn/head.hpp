// edet/nn/head.hpp - HeadNet, the class and box prediction heads.
//
//   for each level l:
//     x = P_l
//     repeat r: x = act(BN[r][l](pw_r(dw_r(x))))   convs shared across levels, BN not
//     out_l = pw_pred(dw_pred(x))                   predict pw always has a bias
//
// Names: {prefix}.conv_rep.{r}.{conv_dw,conv_pw}, {prefix}.bn_rep.{r}.{l}.bn,
// {prefix}.predict.{conv_dw,conv_pw}. Because each level has its own BN, the shared
// pointwise weights are folded once per (repeat, level) at bind time.
#pragma once

#include <string>
#include <vector>

#include "edet/nn/bifpn.hpp"
#include "edet/nn/conv.hpp"
#include "edet/nn/fused_separable.hpp"
#include "edet/nn/separable_conv.hpp"
#include "edet/nn/layer_specs.hpp"
#include "edet/nn/workspace.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {


class HeadNet {
public:
    HeadNet() = default;
    HeadNet(const HeadNetSpec& s, Binder& b) : spec_(s) {
        SeparableConvSpec rep;
        rep.in_channels = rep.out_channels = s.channels;
        rep.kernel = 3;
        rep.pw_bias = s.redundant_bias;
        rep.bn = false;
        rep.bn_eps = s.bn_eps;
        rep.activation = s.activation;
        rep.padding = s.padding;
        rep.role = GemmRole::head_repeat;
        std::vector<std::vector<float>> pw_w(static_cast<std::size_t>(s.repeats)), pw_b(static_cast<std::size_t>(s.repeats));
        for (int r = 0; r < s.repeats; ++r) {
            rep.prefix = cat(s.prefix, ".conv_rep.", r);
            dw_.emplace_back(SeparableConv::dw_spec(rep), b);
            const ConvSpec p = SeparableConv::pw_spec(rep);
            pw_w[static_cast<std::size_t>(r)] = b.take(p.conv + ".weight", {s.channels, s.channels, 1, 1});
            if (s.redundant_bias) pw_b[static_cast<std::size_t>(r)] = b.take(p.conv + ".bias", {s.channels});
        }
        std::vector<BatchNormAffine> bns;
        for (int r = 0; r < s.repeats; ++r)
            for (int l = 0; l < s.num_levels; ++l)
                bns.push_back(b.take_batch_norm(cat(s.prefix, ".bn_rep.", r, ".", l, ".bn"), s.channels, s.bn_eps));
        SeparableConvSpec pred = rep;
        pred.prefix = s.prefix + ".predict";
        pred.out_channels = s.outputs;
        pred.pw_bias = true;
        pred.activation = Activation::none;
        pred.role = GemmRole::head_predict;
        predict_ = SeparableConv(pred, b);
        if (b.listing()) return;
        for (int r = 0; r < s.repeats; ++r) {
            rep.prefix = cat(s.prefix, ".conv_rep.", r);
            ConvSpec p = SeparableConv::pw_spec(rep);
            p.bn = cat(s.prefix, ".bn_rep.", r, ".<level>.bn");
            for (int l = 0; l < s.num_levels; ++l)
                pw_.push_back(PointwiseConvBn::from_weights(p, pw_w[static_cast<std::size_t>(r)], pw_b[static_cast<std::size_t>(r)],
                                                      bns[static_cast<std::size_t>(r * s.num_levels + l)], b.layer_precision(p.role)));
        }
    }

    const HeadNetSpec& spec() const { return spec_; }

    // Runs every level; outputs[l] must be {n, h_l, w_l, outputs} views the caller owns.
    // panel_max (optional): per level, {n, h_l, w_l, kernels::pointwise_panel_count(outputs)}
    // views that receive the predict conv's row maxima per weight panel.
    void run(Workspace& ws, const std::vector<Feature>& x, const std::vector<TensorView<float>>& outputs,
             const std::vector<TensorView<float>>* panel_max = nullptr) const {
        if (static_cast<int>(x.size()) != spec_.num_levels || outputs.size() != x.size() ||
            (panel_max && panel_max->size() != x.size()))
            fail(cat("head '", spec_.prefix, "'"), "HeadNet::run", cat(x.size(), " levels, expected ", spec_.num_levels));
        for (std::size_t l = 0; l < x.size(); ++l) {
            const Shape s = x[l].view.shape();
            if (s.c != spec_.channels)
                fail(cat("head '", spec_.prefix, "'"), "HeadNet::run", cat("level ", l, " has ", s.c, " channels, expected ", spec_.channels));
            Workspace::Handle ha, hb, ht;
            TensorView<float> a = ws.tensor(s, &ha);
            TensorView<float> bb = ws.tensor(s, &hb);
            TensorView<float> t = ws.tensor(s, &ht);
            TensorView<const float> cur = x[l].view;
            for (int r = 0; r < spec_.repeats; ++r) {
                TensorView<float> dst = (r % 2 == 0) ? a : bb;
                const PointwiseConvBn& pw = pw_[static_cast<std::size_t>(r) * static_cast<std::size_t>(spec_.num_levels) + l];
                if (ws.planning()) ws.add_macs(dw_[static_cast<std::size_t>(r)].macs(cur.shape()) + pw.macs(cur.shape()));
                if (ws.executing()) depthwise_pointwise(dw_[static_cast<std::size_t>(r)], pw, cur, dst, t.data());
                cur = dst;
            }
            if (ws.planning()) ws.add_macs(predict_.macs(cur.shape()));
            kernels::PointwiseEpilogue predict_epilogue = predict_.pointwise().epilogue();
            if (panel_max) {
                const TensorView<float>& pm = (*panel_max)[l];
                const Shape want{s.n, s.h, s.w, kernels::pointwise_panel_count(spec_.outputs)};
                check_same_shape(pm.shape(), want, "panel maxima", "HeadNet::run");
                predict_epilogue.panel_max = pm.data();
            }
            if (ws.executing()) predict_.forward(cur, outputs[l], t.data(), predict_epilogue);
            ws.release(ht);
            ws.release(hb);
            ws.release(ha);
        }
    }

private:
    HeadNetSpec spec_;
    std::vector<DepthwiseConvBn> dw_;  // per repeat
    std::vector<PointwiseConvBn> pw_;  // per repeat and level, BN folded: [r * levels + l]
    SeparableConv predict_;
};

}  // namespace nn
EDET_NAMESPACE_END
