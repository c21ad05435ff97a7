// edet-summary - per-module table of an EfficientDet variant: op, output shape, parameters
// and multiply-accumulates, from the config alone (no weights needed).
//
//   edet-summary --variant tf_efficientdet_d0 [--size HxW] [--num-classes N] [--json]
//   edet-summary --variant tf_efficientdet_lite0 --size 256x384 --num-classes 3 --num-scales 2
//                --aspect-ratios 1.0,2.0,0.5        # a custom model (tools/model_flags.hpp)
//
// Every published name works, the _ap ones too (they run the dN network).
// Parameters are counted from the variant's state_dict listing (the same walk that binds
// weights), so the total equals the reference's sum(p.numel() for p in model.parameters()).
// MACs count convolutions (dense, depthwise, pointwise) and the SE 1x1 convs.
// Exit status: 0 ok, 1 edet::Error, 2 usage error.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "edet/core/arch.hpp"
#include "edet/models/efficientdet.hpp"
#include "edet/nn/precision_table.hpp"
#include "model_flags.hpp"

namespace {

std::string usage() {
    return std::string("usage: edet-summary --variant NAME [model flags] [--json]\n"
                       "\n"
                       "The network as a table (no weights needed). Model flags:\n") +
           edet_tools::ModelFlags::usage() +
           "  --json             machine-readable output\n"
           "(--labels, --ema, --key and --max are accepted for uniformity and change nothing here;\n"
           " --precision other than fp32 adds a line naming the 1x1 convs that would run in bf16;\n"
           " the class count defaults to 90)\n";
}

struct Row {
    std::string name, op;
    edet::Shape out{};
    std::size_t params = 0;
    double macs = 0;
};

std::string shape_str(const edet::Shape& s) { return edet::cat(s.n, "x", s.h, "x", s.w, "x", s.c); }

}  // namespace

int main(int argc, char** argv) {
    edet_tools::ModelFlags flags;
    bool json = false;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) throw edet_tools::FlagError{a + " needs a value"};
                return argv[++i];
            };
            if (a == "--json") {
                json = true;
            } else if (a == "--help" || a == "-h") {
                std::fputs(usage().c_str(), stdout);
                return 0;
            } else if (!flags.parse(a, value)) {
                throw edet_tools::FlagError{"unknown argument '" + a + "'"};
            }
        }
        if (flags.description.variant.empty()) throw edet_tools::FlagError{"--variant is required"};
    } catch (const edet_tools::FlagError& e) {
        std::fprintf(stderr, "edet-summary: %s\n%s", e.message.c_str(), usage().c_str());
        return 2;
    }
    try {
        using namespace edet;
        const detect::ModelDescription& d = flags.description;
        const EfficientDetConfig c = detect::network_config(d, "edet-summary");
        const auto params = EfficientDet::state_dict(c);
        auto count = [&](const std::vector<std::string>& prefixes) {
            std::size_t n = 0;
            for (const auto& p : params) {
                if (is_buffer_name(p.name)) continue;
                for (const auto& pre : prefixes)
                    if (p.name.compare(0, pre.size() + 1, pre + ".") == 0) n += p.numel();
            }
            return n;
        };
        const auto sizes = feature_sizes(c.image_height, c.image_width, c.max_level);
        std::vector<Row> rows;
        // Stem.
        const int h1 = sizes[1].first, w1 = sizes[1].second;
        rows.push_back({"backbone.conv_stem", "conv3x3/2+bn+act", Shape{1, h1, w1, c.backbone.stem_channels},
                        count({"backbone.conv_stem", "backbone.bn1"}), double(h1) * w1 * c.backbone.stem_channels * 27});
        int level = 1;
        for (const auto& stage : efficientnet_blocks(c.backbone, c.backbone_bn_eps))
            for (const auto& m : stage) {
                const auto in = sizes[static_cast<std::size_t>(level)];
                if (m.stride == 2) ++level;
                const auto out = sizes[static_cast<std::size_t>(level)];
                const double pin = double(in.first) * in.second, pout = double(out.first) * out.second;
                double macs = pout * m.mid_channels * m.kernel * m.kernel + pout * m.mid_channels * m.out_channels;
                if (!m.depthwise_separable) macs += pin * m.in_channels * m.mid_channels;
                macs += 2.0 * m.mid_channels * m.se_reduced;
                rows.push_back({m.prefix, cat(m.depthwise_separable ? "ds" : "mbconv", m.kernel, "x", m.kernel, "/", m.stride,
                                              m.se_reduced ? "+se" : "", m.has_skip() ? "+skip" : ""),
                                Shape{1, out.first, out.second, m.out_channels}, count({m.prefix}), macs});
            }
        // BiFPN extra levels.
        int in_ch = c.backbone.feature_channels(2);
        for (int l = 3; l < c.num_levels(); ++l) {
            const auto in = sizes[static_cast<std::size_t>(c.min_level + l - 1)];
            const auto out = sizes[static_cast<std::size_t>(c.min_level + l)];
            const bool conv = in_ch != c.fpn_channels;
            rows.push_back({cat("fpn.resample.", l), conv ? "conv1x1+bn+maxpool" : "maxpool",
                            Shape{1, out.first, out.second, c.fpn_channels}, count({cat("fpn.resample.", l)}),
                            conv ? double(in.first) * in.second * in_ch * c.fpn_channels : 0.0});
            in_ch = c.fpn_channels;
        }
        const auto nodes = nn::bifpn_nodes(c.min_level, c.max_level);
        for (int r = 0; r < c.fpn_repeats; ++r) {
            std::vector<int> chs, lv;
            for (int i = 0; i < c.num_levels(); ++i) {
                chs.push_back(r == 0 && i < 3 ? c.backbone.feature_channels(i) : c.fpn_channels);
                lv.push_back(c.min_level + i);
            }
            for (std::size_t n = 0; n < nodes.size(); ++n) {
                const auto out = sizes[static_cast<std::size_t>(nodes[n].level)];
                const double p = double(out.first) * out.second;
                double macs = p * c.fpn_channels * 9 + p * c.fpn_channels * c.fpn_channels;
                for (int off : nodes[n].inputs) {
                    const int ch = chs[static_cast<std::size_t>(off)];
                    if (ch != c.fpn_channels) {
                        const auto in = sizes[static_cast<std::size_t>(lv[static_cast<std::size_t>(off)])];
                        macs += double(in.first) * in.second * ch * c.fpn_channels;
                    }
                }
                const std::string name = cat("fpn.cell.", r, ".fnode.", n);
                rows.push_back({name, cat("node P", nodes[n].level, " ", nodes[n].inputs.size(), "-in ",
                                          c.fusion == FusionRule::sum ? "sum" : "fast-norm"),
                                Shape{1, out.first, out.second, c.fpn_channels}, count({name}), macs});
                chs.push_back(c.fpn_channels);
                lv.push_back(nodes[n].level);
            }
        }
        // Heads: one row each, MACs summed over levels, shape of P3.
        for (const std::string head : {"class_net", "box_net"}) {
            const int outs = c.num_anchors() * (head == "class_net" ? c.num_classes : 4);
            double macs = 0;
            for (int l = c.min_level; l <= c.max_level; ++l) {
                const double p = double(sizes[static_cast<std::size_t>(l)].first) * sizes[static_cast<std::size_t>(l)].second;
                macs += c.head_repeats * (p * c.fpn_channels * 9 + p * c.fpn_channels * c.fpn_channels);
                macs += p * c.fpn_channels * 9 + p * c.fpn_channels * outs;
            }
            const auto p3 = sizes[static_cast<std::size_t>(c.min_level)];
            rows.push_back({head, cat(c.head_repeats, "x sepconv + predict, ", c.num_levels(), " levels"),
                            Shape{1, p3.first, p3.second, outs}, count({head}), macs});
        }
        std::size_t total_params = 0;
        double total_macs = 0;
        for (const auto& r : rows) total_params += r.params, total_macs += r.macs;
        std::size_t all = parameter_count(c);
        if (all != total_params) fail("parameter total", "edet-summary", cat(total_params, " in rows vs ", all, " (internal error)"));
        if (json) {
            std::printf("{\"variant\":\"%s\",\"network\":\"%s\",\"image_size\":[%d,%d],\"num_classes\":%d,"
                        "\"num_anchors\":%d,\"params\":%zu,\"macs\":%.0f,\"layers\":[\n",
                        d.variant.c_str(), c.name.c_str(), c.image_height, c.image_width, c.num_classes, c.num_anchors(),
                        total_params, total_macs);
            for (std::size_t i = 0; i < rows.size(); ++i)
                std::printf("{\"name\":\"%s\",\"op\":\"%s\",\"shape\":[%d,%d,%d,%d],\"params\":%zu,\"macs\":%.0f}%s\n",
                            rows[i].name.c_str(), rows[i].op.c_str(), rows[i].out.n, rows[i].out.h, rows[i].out.w, rows[i].out.c,
                            rows[i].params, rows[i].macs, i + 1 < rows.size() ? "," : "");
            std::printf("]}\n");
        } else {
            std::printf("%s  %dx%d, %d classes, %d anchors per location  (built for %s)\n",
                        d.variant == c.name ? c.name.c_str() : cat(d.variant, " (network ", c.name, ")").c_str(),
                        c.image_height, c.image_width, c.num_classes, c.num_anchors(), compiled_arch());
            std::printf("%-34s %-36s %-16s %12s %14s\n", "module", "op", "output (NHWC)", "params", "MACs");
            for (const auto& r : rows)
                std::printf("%-34s %-36s %-16s %12zu %14.0f\n", r.name.c_str(), r.op.c_str(), shape_str(r.out).c_str(), r.params,
                            r.macs);
            std::printf("%-34s %-36s %-16s %12zu %14.0f\n", "total", "", "", total_params, total_macs);
            std::printf("GMACs %.3f\n", total_macs / 1e9);
            if (flags.precision != Precision::fp32) {
                // What a model loaded with this precision would do (nn/precision_table.hpp).
                std::string roles;
                for (nn::GemmRole r : {nn::GemmRole::block_expand, nn::GemmRole::block_project, nn::GemmRole::block_project_gated,
                                       nn::GemmRole::bifpn_node, nn::GemmRole::resample, nn::GemmRole::head_repeat,
                                       nn::GemmRole::head_predict})
                    if (nn::runs_in_bf16(r)) roles += (roles.empty() ? "" : ", ") + std::string(nn::to_string(r));
                std::printf("precision %s: 1x1 convs in bf16: %s; the rest in float32\n", to_string(flags.precision),
                            roles.empty() ? "none" : roles.c_str());
            }
        }
        return 0;
    } catch (const edet::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
