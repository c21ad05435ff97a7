// edet/detect/results_json.hpp - detections as COCO "results" JSON.
//
// The format pycocotools' loadRes() reads: one array with an object per detection,
//   {"image_id": 397133, "category_id": 18, "bbox": [x, y, width, height], "score": 0.87}
// with boxes in original-image pixels. We add "file_name" (ignored by pycocotools) so a
// result can be traced to its file. image_id is the numeric file stem when there is one
// (COCO names files 000000397133.jpg), otherwise the image's position in the run.
#pragma once

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstdint>
#include <string>
#include <vector>

#include "edet/io/json.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

struct ResultBox {
    float x1, y1, x2, y2;
    float score;
    int category_id;
};

struct ImageResults {
    std::string file_name;
    std::int64_t image_id = -1;  // < 0: derive from the file name or the position
    std::vector<ResultBox> boxes;
};

// The numeric stem of a path ("val/000000397133.jpg" -> 397133), or -1.
inline std::int64_t numeric_image_id(const std::string& path) {
    const std::size_t slash = path.find_last_of("/\\");
    std::string stem = path.substr(slash == std::string::npos ? 0 : slash + 1);
    const std::size_t dot = stem.find('.');
    if (dot != std::string::npos) stem.resize(dot);
    if (stem.empty() || stem.size() > 18) return -1;
    std::int64_t v = 0;
    for (char ch : stem) {
        if (!std::isdigit(static_cast<unsigned char>(ch))) return -1;
        v = v * 10 + (ch - '0');
    }
    return v;
}

// The double closest to the shortest decimal that reads back as this float, so JSON shows
// 0.87 rather than 0.8700000047683716 (and still parses back to the same float).
inline double short_double(float f) {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf - 1, f);
    *r.ptr = '\0';
    return std::strtod(buf, nullptr);
}

// The entries of one image (its boxes, none for an image without detections); `position`
// is the image's index in the run, its image_id when it has neither one set nor a numeric
// file name.
inline std::vector<io::json::Value> coco_result_entries(const ImageResults& im, std::size_t position) {
    namespace json = io::json;
    std::int64_t id = im.image_id;
    if (id < 0) id = numeric_image_id(im.file_name);
    if (id < 0) id = static_cast<std::int64_t>(position);
    std::vector<json::Value> out;
    out.reserve(im.boxes.size());
    for (const ResultBox& b : im.boxes) {
        json::Value o{json::Object{}};
        o.set("image_id", json::integer(id));
        o.set("file_name", im.file_name);
        o.set("category_id", b.category_id);
        json::Value box{json::Array{}};
        box.push_back(short_double(b.x1));
        box.push_back(short_double(b.y1));
        box.push_back(short_double(b.x2 - b.x1));
        box.push_back(short_double(b.y2 - b.y1));
        o.set("bbox", std::move(box));
        o.set("score", short_double(b.score));
        out.push_back(std::move(o));
    }
    return out;
}

inline io::json::Value coco_results(const std::vector<ImageResults>& images) {
    io::json::Value out{io::json::Array{}};
    for (std::size_t i = 0; i < images.size(); ++i)
        for (io::json::Value& e : coco_result_entries(images[i], i)) out.push_back(std::move(e));
    return out;
}

inline std::string coco_results_json(const std::vector<ImageResults>& images, int indent = -1) {
    return io::json::dump(coco_results(images), indent);
}

// The compact coco_results_json() text produced one image at a time, for a caller that
// writes each image's results as soon as it has them (edet-detect --json): the pieces
//   begin() + add(image 0) + add(image 1) + ... + end()
// are byte for byte coco_results_json({image 0, image 1, ...}). Every prefix of them is
// the start of that array, so a file cut short holds every image completed before the cut.
class CocoResultsStream {
public:
    std::string begin() const { return "["; }

    // The text of the next image's entries, with the separating commas ("" for none).
    std::string add(const ImageResults& im) {
        std::string text;
        for (const io::json::Value& e : coco_result_entries(im, images_++)) {
            if (entries_++ > 0) text += ',';
            text += io::json::dump(e);
        }
        return text;
    }

    std::string end() const { return "]"; }

    std::size_t images() const { return images_; }
    std::size_t entries() const { return entries_; }

private:
    std::size_t images_ = 0, entries_ = 0;
};

}  // namespace detect
EDET_NAMESPACE_END
