// edet/models/efficientdet.hpp - the EfficientDet network, all 17 reference variants.
//
//   auto net = edet::EfficientDet::load("tf_efficientdet_d0.safetensors");  // variant from metadata
//   const edet::HeadOutputs& o = net.forward(image_nhwc);                   // {n, 512, 512, 3}
//   o.class_out[l]  // {n, h_l, w_l, 9 * num_classes} raw logits, level l = 0 (P3) ..
//   o.box_out[l]    // {n, h_l, w_l, 9 * 4} raw box regressions (ty, tx, th, tw)
//
//   image -> EfficientNet backbone -> P3 P4 P5 -> BiFPN (+P6 P7 [P8]) x repeats
//         -> class head / box head per level (shared convs, per-level BN)
//
// Compile-time variants use the same runtime class: EfficientDetD<3>::spec is the table
// row (a static constexpr literal), EfficientDetD<3>::load(path) builds the model from it.
//
// Memory: activations live in one arena planned from tensor lifetimes for the input shape
// (nn::Workspace); after the first forward of a shape no forward allocates. arena_bytes()
// reports the plan's peak. forward() is not thread-safe on one instance (it writes the
// arena); use one instance per thread. Its kernels use edet::parallel_for internally.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/tensor_source.hpp"
#include "edet/io/weights.hpp"
#include "edet/models/architecture.hpp"
#include "edet/models/config.hpp"
#include "edet/models/efficientnet.hpp"
#include "edet/nn/bifpn.hpp"
#include "edet/nn/binder.hpp"
#include "edet/nn/head.hpp"
#include "edet/nn/workspace.hpp"
#include "edet/reference/efficientdet.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN

// Views into the model's arena, valid until the next forward (or the model's destruction).
struct HeadOutputs {
    std::vector<TensorView<const float>> class_out;  // per level, {n, h_l, w_l, num_anchors*num_classes}
    std::vector<TensorView<const float>> box_out;    // per level, {n, h_l, w_l, num_anchors*4}
    std::vector<TensorView<const float>> backbone;   // P3..P5 backbone features
    std::vector<TensorView<const float>> fpn;        // BiFPN outputs P3..P7 (P8)
    // Per level {n, h_l, w_l, ceil(num_anchors*num_classes / class_max_columns)}: the largest
    // of each run of class_max_columns logits of a pixel (NaN if any is NaN), written by the
    // class head's last conv while its output is in cache. detect::postprocess scans these
    // and reads only the runs that can hold a top-k logit, instead of all of class_out.
    std::vector<TensorView<const float>> class_max;
    int class_max_columns = 0;
};

// Which forward an EfficientDet runs: the fast path (nn/ and kernels/: packed weights, BN
// folded, fused row bands, threads), or the reference path (reference/: the paper's
// operations one by one in plain loops, slow, one thread) to read or to check against.
enum class ForwardPath { fast, reference };

inline const char* to_string(ForwardPath p) { return p == ForwardPath::fast ? "fast" : "reference"; }

inline ForwardPath parse_forward_path(const std::string& s) {
    if (s == "fast") return ForwardPath::fast;
    if (s == "reference") return ForwardPath::reference;
    fail(cat("forward path '", s, "'"), "parse_forward_path", "must be fast or reference");
}

// One stage of the forward: its multiply-adds (counted when the input shape is planned)
// and, when stage timing is on, its wall time in the last forward.
struct StageTiming {
    std::string name;  // "stem", "blocks.0" .. "blocks.6", "bifpn", "class_net", "box_net"
    double macs = 0;   // multiply-adds of the convolutions (SE 1x1 convs included)
    double ms = 0;     // wall time of the last forward; 0 when timing is off
};

class EfficientDet {
public:
    // Loads a weights file (.safetensors or .pth). variant "" = the file's
    // __metadata__.model; image size 0 = the variant's size.
    // path: ForwardPath::reference keeps the weights as stored too and runs the plain
    // reference layers (reference/efficientdet.hpp) instead of the fast ones.
    // precision: fp32 (the exact path), bf16 (the 1x1 convs nn/precision_table.hpp names
    // take bf16 inputs and weights, float32 sums; edet::Error at load on a CPU without
    // AVX512_BF16) or bf16_emulated (bit-identical to bf16, any CPU, slower). The
    // reference path is float32 only and refuses anything but fp32.
    static EfficientDet load(const std::string& weights_path, const std::string& variant = "", int image_height = 0,
                             int image_width = 0, ForwardPath path = ForwardPath::fast, Precision precision = Precision::fp32) {
        const auto source = io::open_weights(weights_path);
        return from_source(*source, variant, image_height, image_width, path, precision);
    }
    static EfficientDet load(const std::string& weights_path, const EfficientDetConfig& config,
                             ForwardPath path = ForwardPath::fast, Precision precision = Precision::fp32) {
        const auto source = io::open_weights(weights_path);
        return from_source(*source, config, path, precision);
    }

    static EfficientDet from_source(const io::TensorSource& weights, const std::string& variant = "", int image_height = 0,
                                    int image_width = 0, ForwardPath path = ForwardPath::fast,
                                    Precision precision = Precision::fp32) {
        std::string name = variant.empty() ? weights.metadata("model") : variant;
        if (name.empty())
            fail("variant", weights.path(), cat("not given and the file has no __metadata__.model; valid names: ", variant_list()));
        EfficientDetConfig c = efficientdet_config(name);
        if (image_height < 0 || image_width < 0)
            fail("image size", "EfficientDet", cat(image_height, "x", image_width, " is negative"));
        if (image_height > 0) c.image_height = image_height;
        if (image_width > 0) c.image_width = image_width;
        return from_source(weights, c, path, precision);
    }

    // The one construction path: a config (from a name or a compile-time table row) and weights.
    // num_classes is read from the class head's predict conv.
    // The fast path's binder checks the file either way (every tensor used, finite, sane
    // batch norms); the reference path then reads the same tensors as stored.
    static EfficientDet from_source(const io::TensorSource& weights, EfficientDetConfig config,
                                    ForwardPath path = ForwardPath::fast, Precision precision = Precision::fp32) {
        if (path == ForwardPath::reference && precision != Precision::fp32)
            fail(cat("precision '", to_string(precision), "'"), "EfficientDet",
                 "the reference path computes in float32 only; use precision fp32 with it (or the fast path for bf16)");
        config.num_classes = checkpoint_num_classes(weights, config);
        nn::Binder b(&weights, precision);  // resolves the precision: throws if this CPU cannot run it
        EfficientDet net(config, b);
        net.precision_ = b.precision();
        b.finish();
        if (path == ForwardPath::reference)
            net.reference_ = std::make_unique<reference::EfficientDet>(reference::EfficientDet::from_source(weights, config));
        return net;
    }

    // Every state_dict name and shape of a variant, in the reference's order (no weights built).
    static std::vector<nn::ParamInfo> state_dict(const EfficientDetConfig& config) {
        nn::Binder b(nullptr);
        EfficientDet net(config, b);
        return b.params();
    }

    EfficientDet(EfficientDet&&) = default;
    EfficientDet& operator=(EfficientDet&&) = default;
    EfficientDet(const EfficientDet&) = delete;
    EfficientDet& operator=(const EfficientDet&) = delete;

    const EfficientDetConfig& config() const { return config_; }
    int num_classes() const { return config_.num_classes; }
    ForwardPath forward_path() const { return reference_ ? ForwardPath::reference : ForwardPath::fast; }
    // The precision asked at load (nn/precision_table.hpp: which layers it applies to).
    Precision precision() const { return precision_; }

    // Changes the network's input size (level sizes, upsample targets); replans on the
    // next forward. Weights are unchanged.
    void set_image_size(int image_height, int image_width) {
        if (image_height < 1 || image_width < 1)
            fail("image size", "EfficientDet::set_image_size", cat(image_height, "x", image_width, " must be >= 1"));
        config_.image_height = image_height;
        config_.image_width = image_width;
        planned_ = Shape{0, 0, 0, 0};
    }

    // Runs the network on a contiguous NHWC batch {n, image_height, image_width, 3}.
    const HeadOutputs& forward(TensorView<const float> input_nhwc) {
        const Shape s = input_nhwc.shape();
        if (s.c != 3 || s.h != config_.image_height || s.w != config_.image_width)
            fail(cat("input ", s.str()), "EfficientDet::forward",
                 cat(config_.name, " is set up for {n, ", config_.image_height, ", ", config_.image_width,
                     ", 3} (pass the size to load() or call set_image_size())"));
        if (!input_nhwc.is_contiguous()) fail(cat("input ", s.str()), "EfficientDet::forward", "must be contiguous");
        if (reference_) return run_reference(input_nhwc);
        if (s != planned_) {
            ws_.begin_plan();
            run(input_nhwc);
            ws_.finish_plan();
            planned_ = s;
        }
        ws_.begin_execute();
        run(input_nhwc);
        ws_.finish_execute();
        return outputs_;
    }

    const HeadOutputs& outputs() const { return outputs_; }

    // Sees every BiFPN node output as forward() computes it, under the reference's module
    // name (nn::NodeObserver: "fpn.resample.3", "fpn.cell.0.fnode.5", and the node's fused
    // inputs before its activation, "fpn.cell.0.fnode.5.combine"; NHWC views valid during
    // the call). An empty function turns it off. Outputs are unchanged.
    void set_node_observer(nn::NodeObserver observer) { node_observer_ = std::move(observer); }

    // Per-stage breakdown: with timing on, forward() reads a steady clock at the 11 stage
    // boundaries (nothing else changes). stages() has the names and MACs after the first
    // forward of an input shape; ms is filled only while timing is on.
    void set_stage_timing(bool on) { stage_timing_ = on; }
    const std::vector<StageTiming>& stages() const { return stages_; }

    // Planned peak activation bytes for the last planned input shape (0 before any forward).
    std::size_t arena_bytes() const { return ws_.peak_bytes(); }
    // What the activations would take without lifetime planning.
    std::size_t unplanned_bytes() const { return ws_.total_bytes(); }

    // Level sizes (h, w) for levels 0..max_level of the current image size.
    nn::LevelSizes level_sizes() const { return feature_sizes(config_.image_height, config_.image_width, config_.max_level); }

private:
    EfficientDet(const EfficientDetConfig& c, nn::Binder& b) : config_(c) {
        if (c.min_level != 3) fail("min_level", "EfficientDet", cat(c.min_level, "; only 3 is supported"));
        if (c.max_level < 5) fail("max_level", "EfficientDet", cat(c.max_level, " must be >= 5"));
        if (c.image_height < 1 || c.image_width < 1)
            fail("image size", "EfficientDet", cat(c.image_height, "x", c.image_width, " must be >= 1"));
        backbone_ = EfficientNetBackbone(c.backbone, c.backbone_bn_eps, b);
        fpn_ = nn::BiFpn(bifpn_spec(c), b);
        class_net_ = nn::HeadNet(head_spec(c, HeadKind::class_net), b);
        box_net_ = nn::HeadNet(head_spec(c, HeadKind::box_net), b);
    }

    // The reference path: the plain layers' tensors, viewed as the fast path's outputs.
    // No run maxima (class_max empty: detect::postprocess then scans every logit).
    const HeadOutputs& run_reference(TensorView<const float> input) {
        reference_outputs_ = reference_->forward(input, node_observer_);
        HeadOutputs o;
        for (const auto& t : reference_outputs_.backbone) o.backbone.push_back(t.view());
        for (const auto& t : reference_outputs_.fpn) o.fpn.push_back(t.view());
        for (const auto& t : reference_outputs_.class_out) o.class_out.push_back(t.view());
        for (const auto& t : reference_outputs_.box_out) o.box_out.push_back(t.view());
        outputs_ = std::move(o);
        return outputs_;
    }

    static std::string variant_list() {
        std::string names;
        for (const auto& n : efficientdet_variants()) names += (names.empty() ? "" : ", ") + n;
        return names;
    }

    // The forward, written once for both workspace modes (plan, execute).
    void run(TensorView<const float> input) {
        const nn::LevelSizes sizes = level_sizes();
        using clock = std::chrono::steady_clock;
        const bool planning = ws_.planning(), timing = stage_timing_ && ws_.executing();
        if (planning) stages_.clear();
        std::size_t stage = 0;
        double macs0 = ws_.macs();
        clock::time_point t0 = timing ? clock::now() : clock::time_point();
        // name, or for a backbone stage (name null) "stem" / "blocks.<s>"; built only when planning.
        auto end_of = [&](const char* name, int s = 0) {
            if (planning) {
                stages_.push_back(StageTiming{name ? std::string(name) : s < 0 ? std::string("stem") : cat("blocks.", s),
                                              ws_.macs() - macs0, 0.0});
                macs0 = ws_.macs();
            } else if (timing && stage < stages_.size()) {
                const clock::time_point t1 = clock::now();
                stages_[stage].ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
                t0 = t1;
            }
            ++stage;
        };
        std::vector<nn::Feature> taps =
            backbone_.run(ws_, input, [&](int s) { end_of(nullptr, s); });
        for (std::size_t i = 0; i < taps.size(); ++i) {
            const auto& hw = sizes[static_cast<std::size_t>(config_.min_level) + i];
            if (taps[i].view.h() != hw.first || taps[i].view.w() != hw.second)
                fail("backbone feature size", "EfficientDet::forward", "differs from the level size (internal error)");
        }
        std::vector<nn::Feature> fpn = fpn_.run(ws_, taps, sizes, node_observer_ ? &node_observer_ : nullptr);
        end_of("bifpn");
        HeadOutputs o;
        std::vector<TensorView<float>> cls, box, cls_max;
        const int class_channels = config_.num_anchors() * config_.num_classes;
        for (const auto& f : fpn) {
            Shape s = f.view.shape();
            nn::Workspace::Handle h;
            s.c = class_channels;
            cls.push_back(ws_.tensor(s, &h));
            s.c = kernels::pointwise_panel_count(class_channels);
            cls_max.push_back(ws_.tensor(s, &h));
            s.c = config_.num_anchors() * 4;
            box.push_back(ws_.tensor(s, &h));
        }
        class_net_.run(ws_, fpn, cls, &cls_max);
        end_of("class_net");
        box_net_.run(ws_, fpn, box);
        end_of("box_net");
        for (const auto& t : taps) o.backbone.push_back(t.view);
        for (const auto& f : fpn) o.fpn.push_back(f.view);
        for (const auto& t : cls) o.class_out.push_back(t);
        for (const auto& t : box) o.box_out.push_back(t);
        for (const auto& t : cls_max) o.class_max.push_back(t);
        o.class_max_columns = kernels::pointwise_panel_columns();
        outputs_ = std::move(o);
    }

    EfficientDetConfig config_;
    EfficientNetBackbone backbone_;
    nn::BiFpn fpn_;
    nn::NodeObserver node_observer_;
    nn::HeadNet class_net_;
    nn::HeadNet box_net_;
    nn::Workspace ws_;
    Shape planned_{0, 0, 0, 0};
    HeadOutputs outputs_;
    std::unique_ptr<reference::EfficientDet> reference_;  // set for ForwardPath::reference
    reference::Outputs reference_outputs_;
    bool stage_timing_ = false;
    std::vector<StageTiming> stages_;
    Precision precision_ = Precision::fp32;
};

// Compile-time variant D<Phi> (phi 0..7 = tf_efficientdet_d0..d7): the table row as a
// static constexpr literal, passed to the same runtime class.
template <int Phi>
struct EfficientDetD {
    static_assert(Phi >= 0 && Phi <= 7, "EfficientDet D0..D7");
    static constexpr EfficientDetSpec spec = kEfficientDetVariants[static_cast<std::size_t>(Phi)];
    static EfficientDetConfig config() { return efficientdet_config(spec); }
    static EfficientDet load(const std::string& weights_path) { return EfficientDet::load(weights_path, config()); }
    static EfficientDet from_source(const io::TensorSource& weights) { return EfficientDet::from_source(weights, config()); }
};

// True for batch-norm buffers (running statistics), which are not parameters.
inline bool is_buffer_name(const std::string& name) {
    auto ends = [&](const char* suffix) {
        const std::string s(suffix);
        return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    return ends(".running_mean") || ends(".running_var") || ends(".num_batches_tracked");
}

// Parameter count of a variant, as the reference's sum(p.numel() for p in
// model.parameters()): batch-norm running statistics are buffers and do not count.
inline std::size_t parameter_count(const EfficientDetConfig& config) {
    std::size_t n = 0;
    for (const auto& p : EfficientDet::state_dict(config))
        if (!is_buffer_name(p.name)) n += p.numel();
    return n;
}

EDET_NAMESPACE_END
