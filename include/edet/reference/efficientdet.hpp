// edet/reference/efficientdet.hpp - the whole EfficientDet forward, plainly: the paper's
// figure 3 from left to right, on the reference layers.
//
//   edet::reference::EfficientDet ref = edet::reference::EfficientDet::load("weights.safetensors");
//   edet::reference::Outputs o = ref.forward(image_nhwc);   // {n, H, W, 3}, normalised
//   o.class_out[l], o.box_out[l]                            // NHWC, level l = 0 (P3) ..
//
//   image -> stem -> MBConv blocks, stage by stage     (reference/mbconv.hpp)
//         -> P3, P4, P5 = the ends of stages 2, 4, 6
//         -> BiFPN: P6, P7 from P5, then D cells        (reference/bifpn.hpp)
//         -> class head and box head on every level     (reference/head.hpp)
//
// The layer specs come from the same variant table and models/architecture.hpp as the fast
// network's (models/efficientdet.hpp); the arithmetic shares nothing with it but the
// padding geometry. It is slow (plain loops, one thread: about 2 s for D0 at 512x512)
// and exists to be read and to judge the fast path: EfficientDet::load(...,
// ForwardPath::reference) and `edet-dump --path reference` run it, and the tests hold the
// fast layers and the whole fast network to it.
#pragma once

#include <algorithm>
#include <iterator>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/tensor_source.hpp"
#include "edet/io/weights.hpp"
#include "edet/models/architecture.hpp"
#include "edet/models/config.hpp"
#include "edet/reference/bifpn.hpp"
#include "edet/reference/head.hpp"
#include "edet/reference/mbconv.hpp"
#include "edet/reference/params.hpp"

EDET_NAMESPACE_BEGIN
namespace reference {

struct Outputs {
    std::vector<Tensor<float>> backbone;   // P3, P4, P5 from the backbone
    std::vector<Tensor<float>> fpn;        // the BiFPN's P3..P7 (P8)
    std::vector<Tensor<float>> class_out;  // per level {n, h, w, num_anchors * num_classes}
    std::vector<Tensor<float>> box_out;    // per level {n, h, w, num_anchors * 4}
};

class EfficientDet {
public:
    // variant "" = the file's __metadata__.model.
    static EfficientDet load(const std::string& weights_path, const std::string& variant = "") {
        const auto w = io::open_weights(weights_path);
        const std::string name = variant.empty() ? w->metadata("model") : variant;
        if (name.empty()) fail("variant", weights_path, "not given and the file has no __metadata__.model");
        return from_source(*w, efficientdet_config(name));
    }

    // config: the variant's (image size as the input's); num_classes is read from the weights.
    static EfficientDet from_source(const io::TensorSource& weights, EfficientDetConfig config) {
        config.num_classes = checkpoint_num_classes(weights, config);
        EfficientDet net;
        net.config_ = std::move(config);
        net.params_ = Params::from_source(weights);
        return net;
    }

    const EfficientDetConfig& config() const { return config_; }
    const Params& params() const { return params_; }

    // image: {n, H, W, 3}, normalised as the variant expects; any H, W the backbone's
    // strides allow (the level sizes follow from them).
    Outputs forward(TensorView<const float> image, const NodeObserver& observe = {}) const {
        if (image.c() != 3) fail(cat("input ", image.shape().str()), "reference::EfficientDet::forward", "needs 3 channels");
        const EfficientDetConfig& c = config_;
        Outputs o;
        // Backbone: the stem, then every MBConv block; the ends of stages 2, 4, 6 feed the BiFPN.
        Tensor<float> x = stem(stem_spec(c.backbone, c.backbone_bn_eps), params_, image);
        const auto stages = efficientnet_blocks(c.backbone, c.backbone_bn_eps);
        for (std::size_t s = 0; s < stages.size(); ++s) {
            for (const nn::MBConvSpec& block : stages[s]) x = mbconv(block, params_, x.view());
            if (std::find(std::begin(kBackboneTapStages), std::end(kBackboneTapStages), static_cast<int>(s)) !=
                std::end(kBackboneTapStages))
                o.backbone.push_back(copy(x.view()));
        }
        // BiFPN on the three taps, at the level sizes of this input.
        const LevelSizes sizes = feature_sizes(image.h(), image.w(), c.max_level);
        for (std::size_t i = 0; i < o.backbone.size(); ++i)
            if (o.backbone[i].shape().h != sizes[static_cast<std::size_t>(c.min_level) + i].first ||
                o.backbone[i].shape().w != sizes[static_cast<std::size_t>(c.min_level) + i].second)
                fail("backbone feature size", "reference::EfficientDet::forward", "differs from the level size");
        std::vector<Tensor<float>> taps;
        for (const auto& t : o.backbone) taps.push_back(copy(t.view()));
        o.fpn = bifpn(bifpn_spec(c), params_, std::move(taps), sizes, observe);
        // Heads on every level.
        o.class_out = head(head_spec(c, HeadKind::class_net), params_, o.fpn);
        o.box_out = head(head_spec(c, HeadKind::box_net), params_, o.fpn);
        return o;
    }

private:
    EfficientDetConfig config_;
    Params params_;
};

}  // namespace reference
EDET_NAMESPACE_END
