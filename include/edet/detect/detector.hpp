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
// What detect() does, exactly as effdet's evaluation path (DESIGN.md section 3):
//   letterbox (Pillow bilinear, variant's mean/std/fill) -> network -> top-5000 ->
//   decode -> clip to the image -> NMS -> 100 best -> scale back to image pixels.
//
// The variant is a published checkpoint name (detect/variants.hpp, incl. the `_ap` ones);
// "" takes the weights file's __metadata__.model. A Detector is not thread-safe (the
// network owns one activation arena); use one per thread, or detect_batch(). Detectors in
// different threads are independent, DetectOptions::threads included: it applies to the
// calling thread's call only (core/parallel.hpp, ThreadCountScope).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/core/parallel.hpp"
#include "edet/detect/anchors.hpp"
#include "edet/detect/labels.hpp"
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
    detect::Box box;    // x1, y1, x2, y2 in original-image pixels (network pixels for detect_tensor)
    float score = 0;    // 0..1
    int class_id = 0;   // COCO category id (1..90)
    std::string label;  // e.g. "dog"
};

// Options of one detect call. Every field is checked at the call (edet::Error naming the
// field and the value), with the ranges edet-detect's command line accepts:
//   score_threshold, iou_threshold  in [0, 1] (NaN refused)
//   max_detections                  in [0, kMaxDetections]
//   threads                         in [0, max_num_threads()] (core/parallel.hpp)
//   batch_size                      >= 1
//   allow_classes, deny_classes     ids the network predicts, 1..num_classes (90 for COCO)
struct DetectOptions {
    float score_threshold = 0.0f;   // drop detections below (0 = all 100, as the reference)
    int max_detections = 100;
    float iou_threshold = 0.5f;     // hard / agnostic NMS
    detect::NmsMethod nms = detect::NmsMethod::hard;
    std::vector<int> allow_classes;  // COCO ids; empty = all
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
inline constexpr int kMaxDetections = 5000;

class Detector {
public:
    // Loads weights (.safetensors or .pth) for a variant. image_height/width override the
    // variant's input size (0 = the variant's); anchors follow the size.
    static Detector load(const std::string& weights_path, const std::string& variant = "", int image_height = 0,
                         int image_width = 0) {
        const auto source = io::open_weights(weights_path);
        // The variant: given, else the file's metadata (edet-convert writes `variant`, the
        // fixtures `model`), else a release file name such as tf_efficientdet_d0_34-f153e0cf.pth.
        std::string name = variant;
        if (name.empty()) name = source->metadata("variant");
        if (name.empty()) name = source->metadata("model");
        if (name.empty()) {
            const std::string file = weights_path.substr(weights_path.find_last_of('/') + 1);
            if (const io::CheckpointInfo* c = io::find_checkpoint(file)) name = c->variant;
        }
        if (name.empty())
            fail("variant", weights_path,
                 "not given and the file has no __metadata__.model; pass one of the names in detect/variants.hpp");
        const detect::VariantInfo& v = detect::variant_info(name);
        EfficientDet net = EfficientDet::from_source(*source, v.network, image_height, image_width);
        return Detector(v, std::move(net));
    }

    // Wraps an already built network; `variant` picks preprocessing and anchors.
    static Detector from_network(EfficientDet net, const std::string& variant) {
        return Detector(detect::variant_info(variant), std::move(net));
    }

    const detect::VariantInfo& variant() const { return *variant_; }
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
    Detector(const detect::VariantInfo& v, EfficientDet net)
        : variant_(&v), net_(std::make_unique<EfficientDet>(std::move(net))) {
        pre_ = detect::PreprocessOptions::for_variant(v.name);
        pre_.height = net_->config().image_height;
        pre_.width = net_->config().image_width;
        detect::AnchorConfig a;
        a.image_height = pre_.height;
        a.image_width = pre_.width;
        a.min_level = net_->config().min_level;
        a.max_level = net_->config().max_level;
        a.num_scales = net_->config().num_scales;
        a.anchor_scale = net_->config().anchor_scale;
        a.aspects.clear();
        for (const auto& r : net_->config().aspect_ratios) a.aspects.push_back({r.first, r.second});
        anchors_ = detect::generate_anchors(a);
    }

    // Refuses options outside the ranges above (DetectOptions), naming field and value.
    void validate(const DetectOptions& opt, const char* where) const {
        if (!(opt.score_threshold >= 0.0f && opt.score_threshold <= 1.0f))
            fail("DetectOptions::score_threshold", where, cat(opt.score_threshold, " is not in [0, 1]"));
        if (!(opt.iou_threshold >= 0.0f && opt.iou_threshold <= 1.0f))
            fail("DetectOptions::iou_threshold", where, cat(opt.iou_threshold, " is not in [0, 1]"));
        if (opt.max_detections < 0 || opt.max_detections > kMaxDetections)
            fail("DetectOptions::max_detections", where, cat(opt.max_detections, " is not in [0, ", kMaxDetections, "]"));
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
        p.max_detections = opt.max_detections;
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
        for (const detect::DetectionRow& r : rows) dets.push_back(Detection{r.box, r.score, r.class_id, detect::coco_label(r.class_id)});
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

    const detect::VariantInfo* variant_;
    std::unique_ptr<EfficientDet> net_;
    detect::PreprocessOptions pre_;
    std::vector<float> anchors_;
    Tensor<float> batch_;
};

EDET_NAMESPACE_END
