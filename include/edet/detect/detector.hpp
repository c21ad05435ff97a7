// edet/detect/detector.hpp - the one-call detector: image in, labelled boxes out.
//
//   edet::Detector det = edet::Detector::load("tf_efficientdet_d0.safetensors", "tf_efficientdet_d0");
//   edet::io::Image img = edet::io::read_image("street.jpg");
//   edet::DetectOptions opt;
//   opt.score_threshold = 0.4f;
//   for (const edet::Detection& d : det.detect(img, opt))
//       std::printf("%s %.2f at %.0f,%.0f-%.0f,%.0f\n", d.label.c_str(), d.score,
//                   d.box.x1, d.box.y1, d.box.x2, d.box.y2);
//
// What detect() does, exactly as effdet's evaluation path:
//   letterbox (Pillow bilinear, variant's mean/std/fill) -> network -> top-5000 ->
//   decode -> clip to the image -> NMS -> 100 best -> scale back to image pixels.
//
// A custom model (other class count, anchors, input size, class names: what effdet's
// train.py leaves behind) is described once, detect/model_description.hpp:
//
//   detect::ModelDescription d;
//   d.variant = "tf_efficientdet_lite0"; d.image_height = 256; d.image_width = 384;
//   d.num_scales = 2; d.aspect_ratios = detect::parse_aspect_ratios("1.0,2.0,0.5");
//   d.labels = detect::LabelMap::from_file("instances_val.json");
//   edet::Detector det = edet::Detector::load("model_best.pth.tar", d);
//
// Unset fields come from the file's metadata (edet-convert stores the description), then
// the variant's published row. Detection::class_id is then the dataset's category id and
// Detection::label its name.
//
// The variant is a published checkpoint name (detect/variants.hpp, incl. the `_ap` ones);
// "" takes the weights file's __metadata__.model. A Detector is not thread-safe (the
// network owns one activation arena); use one per thread, or detect_batch(). Detectors in
// different threads are independent, DetectOptions::threads included: it applies to the
// calling thread's call only (core/parallel.hpp, ThreadCountScope).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/core/parallel.hpp"
#include "edet/detect/anchors.hpp"
#include "edet/detect/label_map.hpp"
#include "edet/detect/labels.hpp"
#include "edet/detect/model_description.hpp"
#include "edet/detect/postprocess.hpp"
#include "edet/detect/preprocess.hpp"
#include "edet/detect/variants.hpp"
#include "edet/io/image.hpp"
#include "edet/io/checkpoints.hpp"
#include "edet/io/weights.hpp"
#include "edet/models/efficientdet.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN

struct Detection {
    detect::Box box;      // x1, y1, x2, y2 in original-image pixels (network pixels for detect_tensor)
    float score = 0;      // 0..1
    int class_id = 0;     // category id: COCO's (1..90), or the dataset's from the model's labels
    std::string label;    // e.g. "dog"
    int class_index = 0;  // the head's class channel, 0..num_classes-1
};

// Options of one detect call. Every field is checked at the call (edet::Error naming the
// field and the value), with the ranges edet-detect's command line accepts:
//   score_threshold, iou_threshold  in [0, 1] (NaN refused)
//   max_detections                  in [0, kMaxDetections], or -1: the model's (100 unless described)
//   threads                         in [0, max_num_threads()] (core/parallel.hpp)
//   batch_size                      >= 1
//   allow_classes, deny_classes     class numbers 1..num_classes (class index + 1: COCO's ids for
//                                   the 90-class models; Detector::class_number maps names and
//                                   category ids to them)
struct DetectOptions {
    float score_threshold = 0.0f;   // drop detections below (0 = all 100, as the reference)
    int max_detections = -1;        // -1 = the model's (100 unless its description says)
    float iou_threshold = 0.5f;     // hard / agnostic NMS
    detect::NmsMethod nms = detect::NmsMethod::hard;
    std::vector<int> allow_classes;  // class numbers (index + 1); empty = all
    std::vector<int> deny_classes;
    // > 0: threads for this call only, in the calling thread (a ThreadCountScope, see
    // core/parallel.hpp): other threads' calls and the process default (set_num_threads)
    // are untouched, so Detectors in different threads can each use their own count.
    // 0 = the process default.
    int threads = 0;
    int batch_size = 1;              // images per network run in detect_batch
    bool clip_to_image = true;       // clip boxes to the image (effdet's image info)
};

// The largest max_detections accepted: the candidates NMS sees (max_detection_points of
// every published config) are 5000.
inline constexpr int kMaxDetections = detect::kMaxDetectionsPerImage;

class Detector {
public:
    // Loads weights (.safetensors or .pth) for a variant. image_height/width override the
    // variant's input size (0 = the variant's); anchors follow the size. precision: how the
    // network computes (EfficientDet::load; bf16 throws here on a CPU without AVX512_BF16).
    // It is a load argument, not a DetectOptions field, because the weights are packed for
    // it once, and not part of the ModelDescription, which describes what the file is.
    static Detector load(const std::string& weights_path, const std::string& variant = "", int image_height = 0,
                         int image_width = 0, Precision precision = Precision::fp32) {
        detect::ModelDescription d;
        d.variant = variant;
        d.image_height = image_height;
        d.image_width = image_width;
        return load(weights_path, d, {}, precision);
    }

    // Loads a model described by `description` (see the header comment); `weights` picks a
    // training checkpoint's entry (key "state_dict_ema" for the EMA weights).
    static Detector load(const std::string& weights_path, const detect::ModelDescription& description,
                         const io::WeightsOptions& weights = {}, Precision precision = Precision::fp32) {
        const auto source = io::open_weights(weights_path, weights);
        detect::ResolvedModel model = detect::resolve_model(description, *source, weights_path);
        EfficientDet net = EfficientDet::from_source(*source, model.config, ForwardPath::fast, precision);
        return Detector(std::move(model), std::move(net));
    }

    // Wraps an already built network; `variant` picks preprocessing, the network's config
    // the anchors; labels are COCO's for 90 classes, else "class k".
    static Detector from_network(EfficientDet net, const std::string& variant,
                                 std::optional<detect::LabelMap> labels = std::nullopt) {
        detect::ResolvedModel model;
        model.variant = &detect::variant_info(variant);
        model.config = net.config();
        model.anchors = detect::anchor_config(model.config);
        model.max_detections = model.config.max_detections;
        if (labels) {
            labels->check_class_count(net.num_classes(), "Detector::from_network");
            model.labels = *labels;
        } else if (net.num_classes() == detect::kCocoNumClasses) {
            model.labels = detect::LabelMap::coco();
        }
        model.description.variant = model.variant->name;
        return Detector(std::move(model), std::move(net));
    }

    const detect::VariantInfo& variant() const { return *model_.variant; }
    // Names and category ids of the classes.
    const detect::LabelMap& labels() const { return model_.labels; }
    // The description in effect (the file's metadata and the variant's row filled in).
    const detect::ModelDescription& description() const { return model_.description; }
    int num_classes() const { return net_->num_classes(); }
    // The class number (index + 1) DetectOptions::allow_classes takes for a class name or
    // category id (see LabelMap::find); -1 when the model has no such class.
    int class_number(const std::string& name_or_id) const {
        const int k = model_.labels.find(name_or_id);
        if (k >= 0) return k + 1;
        if (model_.labels.empty()) {  // unnamed classes: "class 3" or "3"
            std::string s = name_or_id;
            if (s.compare(0, 6, "class ") == 0) s = s.substr(6);
            char* end = nullptr;
            const long n = std::strtol(s.c_str(), &end, 10);
            if (!s.empty() && *end == '\0' && n >= 1 && n <= num_classes()) return static_cast<int>(n);
        }
        return -1;
    }
    EfficientDet& network() { return *net_; }
    const EfficientDet& network() const { return *net_; }
    // Preprocessing in use; change e.g. mode to automl here.
    detect::PreprocessOptions& preprocess_options() { return pre_; }
    const std::vector<float>& anchors() const { return anchors_; }
    int input_height() const { return net_->config().image_height; }
    int input_width() const { return net_->config().image_width; }

    std::vector<Detection> detect(const io::Image& image, const DetectOptions& opt = {}) {
        return std::move(run_images(&image, 1, opt, "Detector::detect").front());
    }

    std::vector<std::vector<Detection>> detect_batch(const std::vector<io::Image>& images, const DetectOptions& opt = {}) {
        return run_images(images.data(), images.size(), opt, "Detector::detect_batch");
    }

    // Runs an already normalised NHWC input {n, H, W, 3} (e.g. a fixture's input) and
    // post-processes without image info: boxes in network pixels, no clipping (the
    // fixtures' `detections`).
    std::vector<std::vector<Detection>> detect_tensor(TensorView<const float> input_nhwc, const DetectOptions& opt = {}) {
        validate(opt, "Detector::detect_tensor");
        ThreadCountScope threads(opt.threads);
        const HeadOutputs& out = net_->forward(input_nhwc);
        std::vector<std::vector<Detection>> all;
        for (int i = 0; i < input_nhwc.n(); ++i) all.push_back(postprocess(out, i, opt, nullptr));
        return all;
    }

private:
    Detector(detect::ResolvedModel model, EfficientDet net)
        : model_(std::move(model)), net_(std::make_unique<EfficientDet>(std::move(net))) {
        pre_ = detect::PreprocessOptions::for_variant(model_.variant->name);
        pre_.height = net_->config().image_height;
        pre_.width = net_->config().image_width;
        anchors_ = detect::generate_anchors(detect::anchor_config(net_->config()));
    }

    // Refuses options outside the ranges above (DetectOptions), naming field and value.
    void validate(const DetectOptions& opt, const char* where) const {
        if (!(opt.score_threshold >= 0.0f && opt.score_threshold <= 1.0f))
            fail("DetectOptions::score_threshold", where, cat(opt.score_threshold, " is not in [0, 1]"));
        if (!(opt.iou_threshold >= 0.0f && opt.iou_threshold <= 1.0f))
            fail("DetectOptions::iou_threshold", where, cat(opt.iou_threshold, " is not in [0, 1]"));
        if (opt.max_detections < -1 || opt.max_detections > kMaxDetections)
            fail("DetectOptions::max_detections", where,
                 cat(opt.max_detections, " is not in [0, ", kMaxDetections, "] (or -1: the model's)"));
        if (opt.threads < 0 || opt.threads > max_num_threads())
            fail("DetectOptions::threads", where,
                 cat(opt.threads, " is not in [0, ", max_num_threads(), "] (0 = the process default; the limit is ",
                     "max_num_threads(): 4 x the cores, at least 64)"));
        if (opt.batch_size < 1) fail("DetectOptions::batch_size", where, cat(opt.batch_size, " must be >= 1"));
        const int classes = net_->num_classes();
        for (const std::vector<int>* ids : {&opt.allow_classes, &opt.deny_classes})
            for (int id : *ids)
                if (id < 1 || id > classes)
                    fail(ids == &opt.allow_classes ? "DetectOptions::allow_classes" : "DetectOptions::deny_classes", where,
                         cat("class id ", id, " is not one the network predicts (1..", classes, ")"));
    }

    detect::PostprocessOptions post_options(const DetectOptions& opt) const {
        detect::PostprocessOptions p;
        p.max_detection_points = net_->config().max_detection_points;
        p.max_detections = opt.max_detections >= 0 ? opt.max_detections : std::min(model_.max_detections, kMaxDetections);
        p.iou_threshold = opt.iou_threshold;
        p.score_threshold = opt.score_threshold;
        p.nms = opt.nms;
        p.allow_classes = opt.allow_classes;
        p.deny_classes = opt.deny_classes;
        return p;
    }

    std::vector<Detection> postprocess(const HeadOutputs& out, int image, const DetectOptions& opt,
                                       const detect::ImageInfo* info) const {
        const detect::LogitMaxima maxima{&out.class_max, out.class_max_columns};
        const std::vector<detect::DetectionRow> rows =
            detect::postprocess(out.class_out, out.box_out, anchors_, net_->num_classes(), image, post_options(opt), info,
                                out.class_max.empty() ? nullptr : &maxima);
        std::vector<Detection> dets;
        dets.reserve(rows.size());
        for (const detect::DetectionRow& r : rows) {
            const int k = r.class_id - 1;  // postprocess numbers classes from 1
            dets.push_back(Detection{r.box, r.score, model_.labels.category_id(k), model_.labels.name(k), k});
        }
        return dets;
    }

    std::vector<std::vector<Detection>> run_images(const io::Image* images, std::size_t count, const DetectOptions& opt,
                                                   const char* where) {
        validate(opt, where);
        ThreadCountScope threads(opt.threads);
        std::vector<std::vector<Detection>> all;
        all.reserve(count);
        const int H = pre_.height, W = pre_.width;
        for (std::size_t first = 0; first < count; first += static_cast<std::size_t>(opt.batch_size)) {
            const int n = static_cast<int>(std::min(count - first, static_cast<std::size_t>(opt.batch_size)));
            if (batch_.empty() || batch_.n() != n) batch_ = Tensor<float>(Shape{n, H, W, 3});
            std::vector<detect::LetterboxGeometry> geo(static_cast<std::size_t>(n));
            for (int i = 0; i < n; ++i)
                geo[static_cast<std::size_t>(i)] =
                    detect::letterbox_into(images[first + static_cast<std::size_t>(i)], pre_, batch_.view().batch(i));
            const HeadOutputs& out = net_->forward(batch_.view());
            for (int i = 0; i < n; ++i) {
                const detect::LetterboxGeometry& g = geo[static_cast<std::size_t>(i)];
                detect::ImageInfo info{g.img_scale(), static_cast<float>(g.image_w), static_cast<float>(g.image_h)};
                if (opt.clip_to_image) {
                    all.push_back(postprocess(out, i, opt, &info));
                } else {
                    all.push_back(postprocess(out, i, opt, nullptr));
                    for (Detection& d : all.back()) {  // no clip, but back to image pixels
                        d.box.x1 *= info.img_scale;
                        d.box.y1 *= info.img_scale;
                        d.box.x2 *= info.img_scale;
                        d.box.y2 *= info.img_scale;
                    }
                }
            }
        }
        return all;
    }

    detect::ResolvedModel model_;
    std::unique_ptr<EfficientDet> net_;
    detect::PreprocessOptions pre_;
    std::vector<float> anchors_;
    Tensor<float> batch_;
};

EDET_NAMESPACE_END
