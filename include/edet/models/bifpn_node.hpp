// edet/models/bifpn_node.hpp - one BiFPN node of a published network, by its module name,
// with its weights from a checkpoint, run on plain NHWC tensors.
//
//   edet::BiFpnNodeModel node = edet::BiFpnNodeModel::load("weights.safetensors", "fpn.cell.0.fnode.3");
//   // node.input_offsets(): {0, 7} (effdet's inputs_offsets), node.level(): 3
//   edet::Tensor<float> out = node.forward({p3.view(), node2_out.view()});
//
// This is the class the network runs for that node (nn::FusionNode: resample each input to
// the node's size, fuse with the learned edge weights, activation, separable conv + BN),
// not a copy: the same binding, the same kernels, the same bits as inside
// EfficientDet::forward. What this adds is the plumbing a user would otherwise write: the
// node's spec from the network config (which inputs, their channels, fusion rule, padding),
// binding only the tensors under the module's name, and the workspace's plan-then-execute.
//
// Inputs are given in the order of input_offsets(): offsets index effdet's list of the
// cell's features - for cell 0 the backbone's P3, P4, P5 then the extra levels P6, P7 (P8),
// for later cells the previous cell's outputs - followed by the cell's own node outputs in
// order. The first input is always at the node's own level and sets the output size.
#pragma once

#include <algorithm>
#include <cstdio>
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
#include "edet/nn/workspace.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN

class BiFpnNodeModel {
public:
    // `module`: "fpn.cell.<c>.fnode.<j>"; variant "" = the file's __metadata__.model.
    static BiFpnNodeModel load(const std::string& weights_path, const std::string& module, const std::string& variant = "") {
        const auto w = io::open_weights(weights_path);
        return from_source(*w, module, efficientdet_config(detail::module_variant(*w, variant)));
    }

    static BiFpnNodeModel from_source(const io::TensorSource& weights, const std::string& module,
                                      const EfficientDetConfig& c) {
        int cell = -1, node = -1;
        char tail = 0;
        if (std::sscanf(module.c_str(), "fpn.cell.%d.fnode.%d%c", &cell, &node, &tail) != 2 || cell < 0 ||
            cell >= c.fpn_repeats)
            fail(cat("module '", module, "'"), "BiFpnNodeModel",
                 cat("not a BiFPN node of ", c.name, ": fpn.cell.<0..", c.fpn_repeats - 1, ">.fnode.<j>"));
        const nn::BiFpnSpec fpn = bifpn_spec(c);
        const std::vector<nn::BiFpnNodeSpec> table = nn::bifpn_nodes(c.min_level, c.max_level);
        if (node < 0 || node >= static_cast<int>(table.size()))
            fail(cat("module '", module, "'"), "BiFpnNodeModel", cat(c.name, "'s cells have nodes 0..", table.size() - 1));
        const nn::FusionNodeSpec s = nn::fusion_node_spec(fpn, cell, node);
        detail::ModuleTensors mine(weights, module);
        nn::Binder b(&mine);
        BiFpnNodeModel m;
        m.node_ = std::make_unique<nn::FusionNode>(s, b);
        b.finish();
        m.level_ = table[static_cast<std::size_t>(node)].level;
        return m;
    }

    const std::vector<int>& input_offsets() const { return node_->spec().inputs; }
    const std::vector<int>& input_channels() const { return node_->spec().input_channels; }
    int level() const { return level_; }
    const std::string& name() const { return node_->spec().prefix; }

    // The node on its inputs (NHWC, in input_offsets() order, all of one batch size); the
    // output has the first input's size and the BiFPN's width.
    Tensor<float> forward(const std::vector<TensorView<const float>>& inputs) const {
        const auto& offs = input_offsets();
        if (inputs.size() != offs.size())
            fail(cat("node '", name(), "'"), "BiFpnNodeModel::forward", cat(inputs.size(), " inputs given, it takes ", offs.size()));
        for (std::size_t i = 0; i < inputs.size(); ++i)
            if (inputs[i].c() != input_channels()[i] || inputs[i].n() != inputs[0].n() || !inputs[i].is_contiguous())
                fail(cat("node '", name(), "' input ", i, " ", inputs[i].shape().str()), "BiFpnNodeModel::forward",
                     cat("needs ", input_channels()[i], " channels, batch ", inputs[0].n(), ", contiguous"));
        // The node reads x[offset]; only its own offsets are filled.
        std::vector<nn::Feature> x(static_cast<std::size_t>(*std::max_element(offs.begin(), offs.end()) + 1));
        for (std::size_t i = 0; i < offs.size(); ++i)
            x[static_cast<std::size_t>(offs[i])].view =
                TensorView<float>(const_cast<float*>(inputs[i].data()), inputs[i].shape());  // read only
        Tensor<float> out(Shape{inputs[0].n(), inputs[0].h(), inputs[0].w(), node_->spec().channels});
        nn::Workspace ws;
        ws.begin_plan();
        node_->run(ws, x, out.view());
        ws.finish_plan();
        ws.begin_execute();
        node_->run(ws, x, out.view());
        ws.finish_execute();
        return out;
    }

private:
    std::unique_ptr<nn::FusionNode> node_;
    int level_ = 0;
};

EDET_NAMESPACE_END
