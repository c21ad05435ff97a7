// The fast layers against the reference layers, one at a time: every MBConv block, every
// BiFPN node of a cell and both heads of real checkpoints (the shared fixtures), built by
// module name (models/mbconv_block.hpp, bifpn_node.hpp, head_model.hpp: the classes the
// network runs), on seeded random inputs of odd sizes and a batch of 2, at 1 and 2
// threads. The fast layers fold BN, pack weights and fuse by row bands; the reference
// reads the checkpoint's tensors as stored, so agreement here checks all of that.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "edet/core/parallel.hpp"
#include "edet/models/architecture.hpp"
#include "edet/models/bifpn_node.hpp"
#include "edet/models/head_model.hpp"
#include "edet/models/mbconv_block.hpp"
#include "edet/reference/efficientdet.hpp"
#include "models/model_test_util.hpp"

using namespace edet_test;

namespace {

edet::Tensor<float> layers_random(edet::Shape s, Random& rng) {
    const std::vector<float> v = rng.vector(s.numel(), -2.0f, 2.0f);
    return edet::Tensor<float>(s, v.data());
}

double layers_error(const edet::Tensor<float>& got, const edet::Tensor<float>& want) {
    REQUIRE(got.shape() == want.shape());
    const ErrorStats e = compare(got.data(), want.data(), want.shape().numel());
    CHECK(e.finite);
    return e.rel();
}

// The fixtures with distinct layer kinds: TF padding + SE + fast fusion (D0), symmetric
// padding + BN eps 1e-5 (efficientdet_d0), ReLU6 without SE + sum fusion (Lite0).
std::vector<Fixture> layer_fixtures() {
    std::vector<Fixture> out;
    for (const auto& f : all_fixtures())
        if (f.name == "tf_efficientdet_d0_s0" || f.name == "efficientdet_d0_s0" || f.name == "tf_efficientdet_lite0_s0")
            out.push_back(f);
    return out;
}

}  // namespace

TEST_CASE("fast layers vs reference layers: every MBConv block, every node of a cell, both heads" *
          doctest::test_suite("parity")) {
    const auto fixtures = layer_fixtures();
    REQUIRE(fixtures.size() == 3);
    for (const auto& f : fixtures) {
        CAPTURE(f.name);
        const auto weights = edet::io::open_weights(f.weights());
        edet::EfficientDetConfig c = edet::efficientdet_config(f.variant());
        c.num_classes = edet::checkpoint_num_classes(*weights, c);
        const auto params = edet::reference::Params::from_source(*weights);
        Random rng(7);
        for (int threads : {1, 2}) {
            CAPTURE(threads);
            edet::ThreadCountScope scope(threads);
            double worst_block = 0, worst_node = 0, worst_head = 0;
            // Blocks: odd-sized maps (stride-2 blocks then pad unevenly), batch 2; the first
            // block of stages 0-2 also on a larger map, where the fast block fuses expand and
            // depthwise by row bands instead of expanding the whole image.
            const auto stages = edet::efficientnet_blocks(c.backbone, c.backbone_bn_eps);
            for (const auto& stage : stages)
                for (const auto& spec : stage) {
                    CAPTURE(spec.prefix);
                    const auto block = edet::MBConvBlockModel::from_source(*weights, spec.prefix, c);
                    for (const auto& hw : {std::pair<int, int>{13, 18}, std::pair<int, int>{41, 57}}) {
                        if (hw.first == 41 && (&spec != &stage.front() || &stage > &stages[2])) continue;
                        const edet::Tensor<float> x = layers_random(edet::Shape{2, hw.first, hw.second, spec.in_channels}, rng);
                        worst_block = std::max(worst_block, layers_error(block.forward(x.view()),
                                                                         edet::reference::mbconv(spec, params, x.view())));
                    }
                }
            // Cell 0's nodes (its inputs include the backbone's widths) and a later cell's, at
            // the level sizes of a 96x160 image.
            const edet::nn::BiFpnSpec fpn = edet::bifpn_spec(c);
            const auto sizes = edet::feature_sizes(96, 160, c.max_level);
            for (int cell : {0, c.fpn_repeats - 1}) {
                const auto table = edet::nn::bifpn_nodes(c.min_level, c.max_level);
                std::vector<edet::Tensor<float>> x;  // the cell's feature list: inputs, then nodes
                for (int i = 0; i < c.num_levels(); ++i) {
                    const auto& hw = sizes[static_cast<std::size_t>(c.min_level + i)];
                    const int ch = cell == 0 && i < 3 ? fpn.backbone_channels[static_cast<std::size_t>(i)] : c.fpn_channels;
                    x.push_back(layers_random(edet::Shape{2, hw.first, hw.second, ch}, rng));
                }
                for (std::size_t j = 0; j < table.size(); ++j) {
                    const edet::nn::FusionNodeSpec spec = edet::nn::fusion_node_spec(fpn, cell, static_cast<int>(j));
                    CAPTURE(spec.prefix);
                    const auto node = edet::BiFpnNodeModel::from_source(*weights, spec.prefix, c);
                    std::vector<edet::TensorView<const float>> inputs;
                    for (int off : spec.inputs) inputs.push_back(x[static_cast<std::size_t>(off)].view());
                    const auto& hw = sizes[static_cast<std::size_t>(table[j].level)];
                    edet::reference::NodeResult want = edet::reference::fusion_node(spec, params, x, hw.first, hw.second);
                    worst_node = std::max(worst_node, layers_error(node.forward(inputs), want.out));
                    x.push_back(std::move(want.out));
                }
            }
            // Heads on random levels of the same sizes.
            std::vector<edet::Tensor<float>> levels;
            std::vector<edet::TensorView<const float>> views;
            for (int l = c.min_level; l <= c.max_level; ++l) {
                const auto& hw = sizes[static_cast<std::size_t>(l)];
                levels.push_back(layers_random(edet::Shape{2, hw.first, hw.second, c.fpn_channels}, rng));
                views.push_back(levels.back().view());
            }
            for (const auto kind : {edet::HeadKind::class_net, edet::HeadKind::box_net}) {
                const edet::nn::HeadNetSpec spec = edet::head_spec(c, kind);
                CAPTURE(spec.prefix);
                const auto got = edet::HeadModel::from_source(*weights, spec.prefix, c).forward(views);
                const auto want = edet::reference::head(spec, params, levels);
                REQUIRE(got.size() == want.size());
                for (std::size_t l = 0; l < got.size(); ++l) worst_head = std::max(worst_head, layers_error(got[l], want[l]));
            }
            MESSAGE(f.name << " at " << threads << " threads: blocks " << worst_block << ", nodes " << worst_node << ", heads "
                           << worst_head);
            CHECK(worst_block <= 1e-4);
            CHECK(worst_node <= 1e-4);
            CHECK(worst_head <= 1e-4);
        }
    }
}
