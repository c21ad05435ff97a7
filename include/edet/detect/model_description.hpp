// edet/detect/model_description.hpp - a model as its user trained it, described once: the
// published variant it started from and what training changed (input size, anchors, class
// count, detections kept, class names).
//
//   detect::ModelDescription d;                       // every field: "the variant's"
//   d.image_height = 384; d.image_width = 640;
//   d.num_scales = 2; d.aspect_ratios = detect::parse_aspect_ratios("1.0,2.0,0.5");
//   d.labels = detect::LabelMap::from_file("instances_val.json");
//   detect::ResolvedModel m = detect::resolve_model(d, *weights, "model_best.pth.tar");
//   m.config (network), m.anchors, m.labels, m.preprocess (mean/std/fill)
//
// resolve_model fills every unset field, first from the weights file's metadata (what
// edet-convert writes: to_metadata() below, so a converted custom model needs no flags),
// then from the variant's published row; the variant itself comes from the description,
// else the metadata's `variant` / `model`, else a release file name
// (tf_efficientdet_d0_34-f153e0cf.pth). Then it checks the description against the weights
// before any layer is built: the box head's predict conv must have anchors x 4 outputs and
// the class head's anchors x classes; a mismatch names the tensor, its shape and the shape
// the description implies. The class count is inferred from the class head (num_classes
// 0) or checked against it; labels must name exactly that many classes; with none given,
// 90 classes get COCO's names and ids, other counts "class k" with id k.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/detect/anchors.hpp"
#include "edet/detect/label_map.hpp"
#include "edet/detect/variants.hpp"
#include "edet/io/checkpoints.hpp"
#include "edet/io/json.hpp"
#include "edet/io/tensor_source.hpp"
#include "edet/models/config.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

// The most detections kept per image: the candidates NMS sees (max_detection_points of
// every published config) are 5000.
inline constexpr int kMaxDetectionsPerImage = 5000;

// The largest input side accepted (a multiple of 128 past the largest published, D7's 1536).
inline constexpr int kMaxInputSide = 4096;

struct ModelDescription {
    std::string variant;                              // published name; "" = from the file
    int image_height = 0, image_width = 0;            // network input; 0 = the variant's
    int num_classes = 0;                              // 0 = inferred from the class head
    int num_scales = 0;                               // anchor scales per octave; 0 = the variant's (3)
    std::vector<std::array<double, 2>> aspect_ratios;  // (x, y) pairs; empty = the variant's
    double anchor_scale = 0;                          // anchor size in strides; 0 = the variant's
    int max_detections = 0;                           // kept per image; 0 = the variant's (100)
    std::optional<LabelMap> labels;                   // none = from the file, else COCO / "class k"

    // The description as safetensors metadata (only the fields that are set): what
    // edet-convert stores so that the file describes itself.
    std::map<std::string, std::string> to_metadata() const {
        std::map<std::string, std::string> m;
        if (!variant.empty()) m["variant"] = variant;
        if (image_height > 0 && image_width > 0) m["image_size"] = cat(image_height, "x", image_width);
        if (num_classes > 0) m["num_classes"] = std::to_string(num_classes);
        if (num_scales > 0) m["num_scales"] = std::to_string(num_scales);
        if (!aspect_ratios.empty()) m["aspect_ratios"] = format_aspect_ratios(aspect_ratios);
        if (anchor_scale > 0) m["anchor_scale"] = format_double(anchor_scale);
        if (max_detections > 0) m["max_detections"] = std::to_string(max_detections);
        if (labels) {
            io::json::Array names, ids;
            for (int k = 0; k < labels->size(); ++k) {
                names.emplace_back(labels->name(k));
                ids.emplace_back(labels->category_id(k));
            }
            m["labels"] = io::json::dump(io::json::Value(std::move(names)));
            m["category_ids"] = io::json::dump(io::json::Value(std::move(ids)));
        }
        return m;
    }

    // Fills the unset fields from a file's metadata (see to_metadata); malformed entries
    // are errors naming the key.
    void fill_from_metadata(const io::TensorSource& w) {
        const std::string where = w.path();
        auto int_field = [&](const char* key, int lo, int hi) {
            const std::string v = w.metadata(key);
            if (v.empty()) return 0;
            return parse_int(v, lo, hi, cat("metadata '", key, "'"), where);
        };
        if (variant.empty()) variant = w.metadata("variant");
        if (image_height == 0 && image_width == 0 && !w.metadata("image_size").empty()) {
            const auto hw = parse_size(w.metadata("image_size"), where);
            image_height = hw[0];
            image_width = hw[1];
        }
        if (num_classes == 0) num_classes = int_field("num_classes", 1, 100000);
        if (num_scales == 0) num_scales = int_field("num_scales", 1, 16);
        if (max_detections == 0) max_detections = int_field("max_detections", 1, kMaxDetectionsPerImage);
        if (aspect_ratios.empty() && !w.metadata("aspect_ratios").empty())
            aspect_ratios = parse_aspect_ratios(w.metadata("aspect_ratios"));
        if (anchor_scale == 0 && !w.metadata("anchor_scale").empty()) {
            const std::string v = w.metadata("anchor_scale");
            char* end = nullptr;
            anchor_scale = std::strtod(v.c_str(), &end);
            if (end == v.c_str() || *end != '\0' || !std::isfinite(anchor_scale) || !(anchor_scale > 0))
                fail("metadata 'anchor_scale'", where, cat("'", v, "' is not a positive number"));
        }
        if (!labels && !w.metadata("labels").empty()) {
            const io::json::Value names = io::json::parse(w.metadata("labels"), where + " metadata 'labels'");
            const std::string ids_text = w.metadata("category_ids");
            const io::json::Value ids = ids_text.empty() ? io::json::Value() : io::json::parse(ids_text, where);
            if (!names.is_array()) fail("metadata 'labels'", where, "is not a JSON array of names");
            if (!ids_text.empty() && (!ids.is_array() || ids.size() != names.size()))
                fail("metadata 'category_ids'", where, "is not a JSON array as long as 'labels'");
            std::vector<std::string> n;
            std::vector<int> i;
            for (std::size_t k = 0; k < names.size(); ++k) {
                if (!names[k].is_string()) fail("metadata 'labels'", where, cat("entry ", k, " is not a string"));
                n.push_back(names[k].as_string());
                if (ids_text.empty()) {
                    i.push_back(static_cast<int>(k) + 1);
                } else {
                    if (!ids[k].is_int64() || ids[k].as_int64() < 1 || ids[k].as_int64() > 0x7fffffff)
                        fail("metadata 'category_ids'", where, cat("entry ", k, " is not a positive 32-bit integer"));
                    i.push_back(static_cast<int>(ids[k].as_int64()));
                }
            }
            labels = LabelMap::from_names_and_ids(n, i, where + " metadata");
        }
    }

    // "HxW" (or one number for a square), each side in [32, kMaxInputSide].
    static std::array<int, 2> parse_size(const std::string& text, const std::string& where = "--size") {
        const std::size_t x = text.find('x');
        const std::string h = x == std::string::npos ? text : text.substr(0, x);
        const std::string w = x == std::string::npos ? text : text.substr(x + 1);
        return {parse_int(h, 32, kMaxInputSide, cat("size '", text, "'"), where),
                parse_int(w, 32, kMaxInputSide, cat("size '", text, "'"), where)};
    }

    static int parse_int(const std::string& v, int lo, int hi, const std::string& what, const std::string& where) {
        char* end = nullptr;
        const long n = std::strtol(v.c_str(), &end, 10);
        if (v.empty() || end == v.c_str() || *end != '\0' || n < lo || n > hi)
            fail(what, where, cat("'", v, "' is not an integer in [", lo, ", ", hi, "]"));
        return static_cast<int>(n);
    }

private:
    static std::string format_double(double v) {
        char buf[32];
        for (int precision = 1; precision <= 17; ++precision) {
            std::snprintf(buf, sizeof buf, "%.*g", precision, v);
            if (std::strtod(buf, nullptr) == v) break;
        }
        return buf;
    }
};

// A description with every field decided, checked against the weights.
struct ResolvedModel {
    const VariantInfo* variant = nullptr;  // the published row: preprocessing, network name
    EfficientDetConfig config;             // the network to build (num_classes set)
    AnchorConfig anchors;                  // the anchors its heads regress from
    LabelMap labels;                       // names and category ids, one per class
    int max_detections = 100;
    ModelDescription description;          // the input, with the file's metadata filled in
};

// The anchor config of a network config (its size, levels, scales, ratios, anchor scale).
inline AnchorConfig anchor_config(const EfficientDetConfig& c) {
    AnchorConfig a;
    a.image_height = c.image_height;
    a.image_width = c.image_width;
    a.min_level = c.min_level;
    a.max_level = c.max_level;
    a.num_scales = c.num_scales;
    a.anchor_scale = c.anchor_scale;
    a.aspects.clear();
    for (const auto& r : c.aspect_ratios) a.aspects.push_back({r.first, r.second});
    return a;
}

// The network a description names: its variant's network row with the description's
// input size, anchor scales, aspect ratios and anchor scale (each checked); the class count
// is the row's (90) unless num_classes is set. `where` names the source in errors.
inline EfficientDetConfig network_config(const ModelDescription& d, const std::string& where = "model description") {
    EfficientDetConfig c = efficientdet_config(variant_info(d.variant).network);
    if ((d.image_height > 0) != (d.image_width > 0))
        fail("image size", where, "give both height and width (HxW)");
    if (d.image_height > 0) {
        if (d.image_height < 32 || d.image_width < 32 || d.image_height > kMaxInputSide || d.image_width > kMaxInputSide)
            fail("image size", where,
                 cat(d.image_height, "x", d.image_width, " is outside [32, ", kMaxInputSide, "] per side"));
        c.image_height = d.image_height;
        c.image_width = d.image_width;
    }
    if (d.num_scales < 0 || d.num_scales > 16) fail("num_scales", where, cat(d.num_scales, " is outside [1, 16]"));
    if (d.num_scales > 0) c.num_scales = d.num_scales;
    if (!d.aspect_ratios.empty()) {
        c.aspect_ratios.clear();
        for (const auto& a : d.aspect_ratios) {
            if (!(std::isfinite(a[0]) && std::isfinite(a[1]) && a[0] > 0 && a[1] > 0))
                fail("aspect ratios", where, "every ratio must be finite and positive");
            c.aspect_ratios.emplace_back(a[0], a[1]);
        }
    }
    if (d.anchor_scale < 0 || !std::isfinite(d.anchor_scale) || d.anchor_scale > 1000)
        fail("anchor_scale", where, cat(d.anchor_scale, " is not in (0, 1000]"));
    if (d.anchor_scale > 0) c.anchor_scale = d.anchor_scale;
    if (d.num_classes > 0) c.num_classes = d.num_classes;
    return c;
}

// Decides every field (see the header comment) and checks the heads' predict convs.
inline ResolvedModel resolve_model(ModelDescription d, const io::TensorSource& weights, const std::string& weights_path) {
    d.fill_from_metadata(weights);
    std::string name = d.variant;
    if (name.empty()) name = weights.metadata("model");
    if (name.empty()) {
        const std::string file = weights_path.substr(weights_path.find_last_of('/') + 1);
        if (const io::CheckpointInfo* c = io::find_checkpoint(file)) name = c->variant;
    }
    if (name.empty())
        fail("variant", weights_path,
             "not given and the file does not name one (no __metadata__ variant or model, not a release file name); "
             "give the published variant the model was trained from, e.g. tf_efficientdet_d0");
    ResolvedModel r;
    r.variant = &variant_info(name);
    d.variant = r.variant->name;
    EfficientDetConfig c = network_config(d, weights_path);
    if (d.max_detections < 0 || d.max_detections > kMaxDetectionsPerImage)
        fail("max_detections", weights_path, cat(d.max_detections, " is outside [1, ", kMaxDetectionsPerImage, "]"));
    r.max_detections = d.max_detections > 0 ? d.max_detections : c.max_detections;
    c.max_detections = r.max_detections;

    // The heads' predict convs against the description, before anything is built.
    const int a = c.num_anchors();
    const std::string anchors_desc =
        cat(a, " anchors per location (", c.num_scales, " scales x ", c.aspect_ratios.size(), " aspect ratios)");
    const std::string box = "box_net.predict.conv_pw.weight", cls = "class_net.predict.conv_pw.weight";
    const io::TensorInfo* bi = weights.find(box);
    const io::TensorInfo* ci = weights.find(cls);
    if (!bi || !ci) fail(cat("tensor '", bi ? cls : box, "'"), weights_path, "missing: not EfficientDet head weights");
    if (bi->shape.size() != 4 || bi->shape[0] != 4 * a)
        fail(cat("tensor '", box, "'"), weights_path,
             cat("has shape ", bi->shape_str(), " but the description implies [", 4 * a, ", ", c.fpn_channels,
                 ", 1, 1]: ", anchors_desc, " x 4 box codes",
                 bi->shape.size() == 4 && bi->shape[0] % 4 == 0
                     ? cat("; the weights have ", bi->shape[0] / 4, " anchors per location (set num_scales / aspect ratios)")
                     : std::string()));
    if (ci->shape.size() != 4 || ci->shape[0] < a || ci->shape[0] % a != 0)
        fail(cat("tensor '", cls, "'"), weights_path,
             cat("has shape ", ci->shape_str(), " but the description implies [", a, " x num_classes, ", c.fpn_channels,
                 ", 1, 1] (", anchors_desc, ")"));
    const int inferred = static_cast<int>(ci->shape[0] / a);
    if (d.num_classes > 0 && d.num_classes != inferred)
        fail(cat("tensor '", cls, "'"), weights_path,
             cat("has shape ", ci->shape_str(), " but the description implies [", a * d.num_classes, ", ",
                 c.fpn_channels, ", 1, 1]: ", d.num_classes, " classes x ", anchors_desc, "; the weights hold ",
                 inferred, " classes"));
    c.num_classes = inferred;
    d.num_classes = inferred;

    if (d.labels) {
        d.labels->check_class_count(inferred, weights_path);
        r.labels = *d.labels;
    } else if (inferred == kCocoNumClasses) {
        r.labels = LabelMap::coco();
    }
    r.config = std::move(c);
    r.anchors = anchor_config(r.config);
    r.description = std::move(d);
    return r;
}

}  // namespace detect
EDET_NAMESPACE_END
