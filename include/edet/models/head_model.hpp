// edet/models/head_model.hpp - the class or box head of a published network, by effdet
// module name ("class_net", "box_net"), with its weights from a checkpoint, run on plain
// NHWC tensors.
//
//   edet::HeadModel head = edet::HeadModel::load("weights.safetensors", "class_net");
//   std::vector<edet::Tensor<float>> out = head.forward({p3.view(), p4.view(), p5.view(), p6.view(), p7.view()});
//   // out[l]: {n, h_l, w_l, head.num_anchors() * head.num_classes()} raw logits (box_net: * 4)
//
// This is the layer the network runs for its heads (nn::HeadNet: separable convs shared
// across levels, a BN per level, the predict conv), built from the same head_spec(), so
// its outputs are EfficientDet::forward's class_out / box_out bit for bit. As there, the
// class count is read from the checkpoint (class_net.predict.conv_pw.weight), not the
// variant's 90: a model trained on other classes loads as it is.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/tensor_source.hpp"
#include "edet/io/weights.hpp"
#include "edet/models/architecture.hpp"
#include "edet/models/config.hpp"
#include "edet/models/module_weights.hpp"
#include "edet/nn/bifpn.hpp"
#include "edet/nn/binder.hpp"
#include "edet/nn/head.hpp"
#include "edet/nn/workspace.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN

class HeadModel {
public:
    // `module`: "class_net" or "box_net"; variant "" = the file's __metadata__.model.
    static HeadModel load(const std::string& weights_path, const std::string& module, const std::string& variant = "") {
        const auto w = io::open_weights(weights_path);
        return from_source(*w, module, efficientdet_config(detail::module_variant(*w, variant)));
    }

    // The config's num_classes is replaced by the checkpoint's for "class_net" (box_net's
    // outputs do not depend on it).
    static HeadModel from_source(const io::TensorSource& weights, const std::string& module, EfficientDetConfig c) {
        if (module != "class_net" && module != "box_net")
            fail(cat("module '", module, "'"), "HeadModel", cat("not a head of ", c.name, ": the heads are class_net and box_net"));
        const HeadKind kind = module == "class_net" ? HeadKind::class_net : HeadKind::box_net;
        if (kind == HeadKind::class_net) c.num_classes = checkpoint_num_classes(weights, c);
        HeadModel m;
        m.num_anchors_ = c.num_anchors();
        m.num_classes_ = kind == HeadKind::class_net ? c.num_classes : 0;
        detail::ModuleTensors mine(weights, module);
        nn::Binder b(&mine);
        m.head_ = std::make_unique<nn::HeadNet>(head_spec(c, kind), b);
        b.finish();
        return m;
    }

    const nn::HeadNetSpec& spec() const { return head_->spec(); }
    const std::string& name() const { return spec().prefix; }
    int num_levels() const { return spec().num_levels; }  // P3..P7: 5 (P8 for D7x: 6)
    int in_channels() const { return spec().channels; }  // the BiFPN's width
    int out_channels() const { return spec().outputs; }  // per pixel: num_anchors() * (num_classes() or 4)
    int num_anchors() const { return num_anchors_; }
    int num_classes() const { return num_classes_; }      // 0 for box_net

    // The head on the BiFPN's outputs, one NHWC tensor {n, h_l, w_l, in_channels()} per
    // level from P3 up, all of one batch size; returns {n, h_l, w_l, out_channels()} per level.
    std::vector<Tensor<float>> forward(const std::vector<TensorView<const float>>& levels) const {
        if (static_cast<int>(levels.size()) != num_levels())
            fail(cat("head '", name(), "'"), "HeadModel::forward", cat(levels.size(), " levels given, it takes ", num_levels(), " (P3 up)"));
        std::vector<nn::Feature> x(levels.size());
        std::vector<Tensor<float>> out;
        out.reserve(levels.size());
        std::vector<TensorView<float>> out_views;
        for (std::size_t l = 0; l < levels.size(); ++l) {
            const TensorView<const float>& v = levels[l];
            if (v.c() != in_channels() || v.n() != levels[0].n() || !v.is_contiguous() || v.shape().numel() == 0)
                fail(cat("head '", name(), "' level ", l, " ", v.shape().str()), "HeadModel::forward",
                     cat("needs {", levels[0].n(), ", h, w, ", in_channels(), "} (NHWC, the batch of level 0), contiguous"));
            x[l].view = TensorView<float>(const_cast<float*>(v.data()), v.shape());  // read only
            out.emplace_back(Shape{v.n(), v.h(), v.w(), out_channels()});
            out_views.push_back(out.back().view());
        }
        nn::Workspace ws;
        ws.begin_plan();
        head_->run(ws, x, out_views);
        ws.finish_plan();
        ws.begin_execute();
        head_->run(ws, x, out_views);
        ws.finish_execute();
        return out;
    }

private:
    std::unique_ptr<nn::HeadNet> head_;
    int num_anchors_ = 0;
    int num_classes_ = 0;
};

EDET_NAMESPACE_END
