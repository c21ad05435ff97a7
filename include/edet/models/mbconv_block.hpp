// edet/models/mbconv_block.hpp - one EfficientNet block of a published network (and its
// stem), by effdet module name, with its weights from a checkpoint, run on plain NHWC
// tensors.
//
//   edet::StemModel stem = edet::StemModel::load("weights.safetensors", "backbone.conv_stem");
//   edet::MBConvBlockModel block = edet::MBConvBlockModel::load("weights.safetensors", "backbone.blocks.3.1");
//   edet::Tensor<float> x = stem.forward(image.view());  // {n, H, W, 3} -> {n, H/2, W/2, stem channels}
//   edet::Tensor<float> y = block.forward(x_of_that_block.view());  // {n, h, w, block.in_channels()}
//
// These are the layers the backbone runs (nn::MBConv for a block, nn::DenseConvBn for the
// stem), not copies: their specs come from the same functions (efficientnet_blocks,
// stem_conv_spec), so a chain of them over every block gives the backbone's P3, P4, P5
// bit for bit. What this adds is the plumbing a user would otherwise write: the spec of
// the named module from the network config, binding only that module's tensors, and the
// block's scratch memory.
//
// The backbone's BN eps is the config's backbone_bn_eps (1e-3 for tf_* variants, 1e-5
// otherwise), not the BiFPN's bn_eps; both models take the config and use the right one.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/tensor_source.hpp"
#include "edet/io/weights.hpp"
#include "edet/models/architecture.hpp"
#include "edet/models/config.hpp"
#include "edet/models/efficientnet.hpp"
#include "edet/models/module_weights.hpp"
#include "edet/nn/binder.hpp"
#include "edet/nn/conv.hpp"
#include "edet/nn/mbconv.hpp"
#include "edet/tensor/aligned_buffer.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN

namespace detail {
// The spec of block "backbone.blocks.<stage>.<block>" of a config; an edet::Error that
// says which names exist for anything else.
inline nn::MBConvSpec efficientnet_block_spec(const EfficientDetConfig& c, const std::string& module) {
    const std::vector<std::vector<nn::MBConvSpec>> stages = efficientnet_blocks(c.backbone, c.backbone_bn_eps);
    const std::string kind = cat("not a backbone block of ", c.name);
    const std::string pattern = cat("backbone.blocks.<stage 0..", stages.size() - 1,
                                    ">.<block> (the stem is backbone.conv_stem: StemModel)");
    const std::string head = "backbone.blocks.";
    if (module.compare(0, head.size(), head) != 0) fail(cat("module '", module, "'"), "MBConvBlockModel", cat(kind, ": ", pattern));
    // Exactly two decimal numbers, as effdet writes them (no signs, spaces or leading zeros).
    const std::string rest = module.substr(head.size());
    const std::size_t dot = rest.find('.');
    auto number = [](const std::string& s) {
        if (s.empty() || s.size() > 6 || (s.size() > 1 && s[0] == '0')) return -1;
        int v = 0;
        for (char ch : s) {
            if (ch < '0' || ch > '9') return -1;
            v = v * 10 + (ch - '0');
        }
        return v;
    };
    const int stage = dot == std::string::npos ? -1 : number(rest.substr(0, dot));
    const int block = dot == std::string::npos ? -1 : number(rest.substr(dot + 1));
    if (stage < 0 || block < 0) fail(cat("module '", module, "'"), "MBConvBlockModel", cat(kind, ": ", pattern));
    if (stage >= static_cast<int>(stages.size()))
        fail(cat("module '", module, "'"), "MBConvBlockModel", cat(c.name, "'s backbone has stages 0..", stages.size() - 1));
    const auto& blocks = stages[static_cast<std::size_t>(stage)];
    if (block >= static_cast<int>(blocks.size()))
        fail(cat("module '", module, "'"), "MBConvBlockModel",
             cat(c.name, "'s stage ", stage, " has blocks 0..", blocks.size() - 1));
    return blocks[static_cast<std::size_t>(block)];
}

// An NHWC input a per-module model can run: `channels` wide, contiguous, not empty.
inline void check_module_input(TensorView<const float> x, int channels, const std::string& module, const char* where) {
    if (x.c() != channels || !x.is_contiguous() || x.shape().numel() == 0)
        fail(cat("input ", x.shape().str(), " of '", module, "'"), where,
             cat("needs {n, h, w, ", channels, "} (NHWC), contiguous, not empty"));
}
}  // namespace detail

// The stem: conv 3x3 stride 2 ("backbone.conv_stem") + BN ("backbone.bn1") + activation.
class StemModel {
public:
    // `module`: "backbone.conv_stem"; variant "" = the file's __metadata__.model.
    static StemModel load(const std::string& weights_path, const std::string& module = "backbone.conv_stem",
                          const std::string& variant = "") {
        const auto w = io::open_weights(weights_path);
        return from_source(*w, module, efficientdet_config(detail::module_variant(*w, variant)));
    }

    static StemModel from_source(const io::TensorSource& weights, const std::string& module, const EfficientDetConfig& c) {
        if (module != "backbone.conv_stem")
            fail(cat("module '", module, "'"), "StemModel",
                 "the stem is 'backbone.conv_stem' (with its BN backbone.bn1); blocks are backbone.blocks.<s>.<i> (MBConvBlockModel)");
        StemModel m;
        m.spec_ = stem_spec(c.backbone, c.backbone_bn_eps);
        const nn::ConvSpec conv = stem_conv_spec(m.spec_);
        detail::ModuleTensors mine(weights, std::vector<std::string>{conv.conv, conv.bn});
        nn::Binder b(&mine);
        m.conv_ = std::make_unique<nn::DenseConvBn>(conv, b);
        b.finish();
        return m;
    }

    const StemSpec& spec() const { return spec_; }
    const std::string& name() const { return conv_->spec().conv; }
    int in_channels() const { return spec_.in_channels; }
    int out_channels() const { return spec_.out_channels; }
    int stride() const { return spec_.stride; }

    // The stem on a normalised image batch {n, H, W, 3}; the output is {n, ceil(H/2),
    // ceil(W/2), out_channels()} (TF 'same' padding; symmetric: floor((H - 1) / 2) + 1).
    Tensor<float> forward(TensorView<const float> image) const {
        detail::check_module_input(image, in_channels(), name(), "StemModel::forward");
        Tensor<float> out(conv_->plan(image.shape()));
        conv_->forward(image, out.view());
        return out;
    }

private:
    StemSpec spec_;
    std::unique_ptr<nn::DenseConvBn> conv_;
};

// One MBConv (or, in stage 0, depthwise-separable) block: "backbone.blocks.<stage>.<block>".
class MBConvBlockModel {
public:
    // variant "" = the file's __metadata__.model.
    static MBConvBlockModel load(const std::string& weights_path, const std::string& module, const std::string& variant = "") {
        const auto w = io::open_weights(weights_path);
        return from_source(*w, module, efficientdet_config(detail::module_variant(*w, variant)));
    }

    static MBConvBlockModel from_source(const io::TensorSource& weights, const std::string& module,
                                        const EfficientDetConfig& c) {
        const nn::MBConvSpec s = detail::efficientnet_block_spec(c, module);
        detail::ModuleTensors mine(weights, module);
        nn::Binder b(&mine);
        MBConvBlockModel m;
        m.block_ = std::make_unique<nn::MBConv>(s, b);
        b.finish();
        return m;
    }

    const nn::MBConvSpec& spec() const { return block_->spec(); }
    const std::string& name() const { return spec().prefix; }
    int in_channels() const { return spec().in_channels; }
    int out_channels() const { return spec().out_channels; }
    int stride() const { return spec().stride; }

    // The block on {n, h, w, in_channels()}; the output is {n, h', w', out_channels()}
    // with h', w' = h, w for stride 1 and the padding's halving for stride 2.
    Tensor<float> forward(TensorView<const float> x) const {
        detail::check_module_input(x, in_channels(), name(), "MBConvBlockModel::forward");
        Tensor<float> out(block_->plan(x.shape()));
        // 64-byte aligned, as the network's arena the block's scratch comes from inside EfficientDet.
        AlignedBuffer<float> scratch(std::max<std::size_t>(block_->scratch_floats(x.shape()), 1));
        block_->forward(x, out.view(), scratch.data());
        return out;
    }

private:
    std::unique_ptr<nn::MBConv> block_;
};

EDET_NAMESPACE_END
