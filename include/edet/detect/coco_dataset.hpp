// edet/detect/coco_dataset.hpp - COCO ground truth and detection results, read and checked.
//
// The two inputs of a COCO bbox evaluation (detect/coco_eval.hpp), as pycocotools reads them:
//
//   annotations file (instances_val2017.json):
//     {"images":      [{"id": 397133, ...}, ...],
//      "categories":  [{"id": 18, "name": "dog", ...}, ...],
//      "annotations": [{"id": 1, "image_id": 397133, "category_id": 18,
//                       "bbox": [x, y, w, h], "area": 1035.7, "iscrowd": 0}, ...]}
//   results file (what edet-detect --json writes):
//     [{"image_id": 397133, "category_id": 18, "bbox": [x, y, w, h], "score": 0.87}, ...]
//
// Both files usually come from somewhere else, so every entry is checked and a bad one is an
// edet::Error naming the file, the entry ("annotations[12]") and why. Ids are integers
// (7 or 7.0, equal in Python too; not "7"); boxes four finite numbers with w, h >= 0;
// "area" finite and >= 0; "iscrowd" 0, 1, false or true; scores finite. An image's
// "file_name", when present, must be a string naming a file inside the image directory (no
// absolute path, no '..' component: the annotations may come from anyone). Members we do
// not use (segmentation, name) are not read.
//
// What pycocotools does with these entries, and we with it:
//   - a result is given area = w * h, iscrowd 0 and id = its position + 1 (COCO.loadRes);
//   - a result whose image_id is not among the images is an error (loadRes asserts);
//   - annotations and results whose category_id is not among the categories, and
//     annotations whose image_id is not among the images, take no part in the evaluation
//     (COCOeval._prepare selects by the image and category lists): they are kept here and
//     counted by the evaluation, not refused;
//   - two annotations with one id are an error: pycocotools indexes annotations by id, so
//     it would evaluate the second one twice and the first one never;
//   - duplicate image or category ids are harmless (pycocotools keeps them once).
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "edet/io/json.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

// A box as COCO writes it: top-left corner and size, in pixels.
struct CocoBox {
    double x = 0, y = 0, w = 0, h = 0;
};

struct CocoAnnotation {
    std::int64_t id = 0;
    std::int64_t image_id = 0;
    std::int64_t category_id = 0;
    CocoBox bbox;
    double area = 0;  // the file's "area" (a segment's area in COCO), decides the area range
    bool iscrowd = false;
};

struct CocoDataset {
    std::vector<std::int64_t> image_ids;     // file order, as listed
    std::vector<std::string> image_files;    // each image's "file_name" ("" when absent)
    std::vector<std::int64_t> category_ids;  // file order, as listed
    std::vector<CocoAnnotation> annotations;
};

struct CocoResult {
    std::int64_t image_id = 0;
    std::int64_t category_id = 0;
    CocoBox bbox;
    double score = 0;
};

// JSON files larger than this are refused before parsing (instances_train2017.json, the
// largest COCO file, is 450 MB); the parsed tree takes several times the file's size.
inline constexpr std::size_t kMaxCocoFileBytes = std::size_t{1} << 30;

namespace coco_detail {

inline std::string read_text_file(const std::string& path) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) fail("file", path, cat("cannot open for reading: ", std::strerror(errno)));
    std::string text;
    char chunk[1 << 16];
    for (;;) {
        const std::size_t got = std::fread(chunk, 1, sizeof chunk, f.get());
        if (got > 0) {
            if (text.size() + got > kMaxCocoFileBytes)
                fail("file", path, cat("larger than the limit of ", kMaxCocoFileBytes, " bytes"));
            text.append(chunk, got);
        }
        if (got < sizeof chunk) {
            if (std::ferror(f.get())) fail("file", path, "read error");
            break;
        }
    }
    return text;
}

// Reads members of one entry ("annotations[12]" of file `where`) with messages naming both.
class Entry {
public:
    Entry(const io::json::Value& v, std::string name, const std::string& where)
        : v_(v), name_(std::move(name)), where_(where) {
        if (!v.is_object()) error(cat("expected an object, got ", io::json::to_string(v.type())));
    }

    [[noreturn]] void error(const std::string& why) const { fail(name_, where_, why); }

    const io::json::Value& member(const char* key) const {
        const io::json::Value* m = v_.find(key);
        if (!m) error(cat("missing \"", key, "\""));
        return *m;
    }
    std::int64_t id(const char* key) const {
        const io::json::Value& m = member(key);
        if (m.is_int64()) return m.as_int64();
        // 7.0 is id 7 for pycocotools too (Python's 7.0 == 7 as a dict key).
        if (m.is_number() && std::abs(m.as_number()) <= 9007199254740992.0 && m.as_number() == std::floor(m.as_number()))
            return static_cast<std::int64_t>(m.as_number());
        error(cat("\"", key, "\" must be an integer, got ", describe(m)));
    }
    double finite(const char* key) const {
        const io::json::Value& m = member(key);
        if (!m.is_number()) error(cat("\"", key, "\" must be a number, got ", describe(m)));
        const double d = m.as_number();
        if (!std::isfinite(d)) error(cat("\"", key, "\" is not finite"));
        return d;
    }
    CocoBox box(const char* key) const {
        const io::json::Value& m = member(key);
        if (!m.is_array() || m.size() != 4)
            error(cat("\"", key, "\" must be [x, y, width, height], got ", describe(m)));
        double c[4];
        for (std::size_t i = 0; i < 4; ++i) {
            if (!m[i].is_number()) error(cat("\"", key, "\"[", i, "] must be a number, got ", describe(m[i])));
            c[i] = m[i].as_number();
            if (!std::isfinite(c[i])) error(cat("\"", key, "\"[", i, "] is not finite"));
        }
        const CocoBox b{c[0], c[1], c[2], c[3]};
        check_box(b, key);
        return b;
    }
    void check_box(const CocoBox& b, const char* key) const {
        if (!std::isfinite(b.x) || !std::isfinite(b.y) || !std::isfinite(b.w) || !std::isfinite(b.h))
            error(cat("\"", key, "\" has a non-finite coordinate"));
        if (b.w < 0 || b.h < 0) error(cat("\"", key, "\" has a negative size ", b.w, " x ", b.h));
    }
    bool flag(const char* key) const {
        const io::json::Value& m = member(key);
        if (m.is_bool()) return m.as_bool();
        if (m.is_int64() && (m.as_int64() == 0 || m.as_int64() == 1)) return m.as_int64() == 1;
        error(cat("\"", key, "\" must be 0, 1, false or true, got ", describe(m)));
    }

    static std::string describe(const io::json::Value& m) {
        if (m.is_number() || m.is_bool() || m.is_null()) return io::json::dump(m);
        if (m.is_string()) {
            const std::string& s = m.as_string();
            return s.size() <= 40 ? io::json::quote(s) : "a string";
        }
        return cat(m.is_array() ? "an array of " : "an object of ", m.size());
    }

private:
    const io::json::Value& v_;
    std::string name_;
    const std::string& where_;
};

inline const io::json::Array& array_member(const io::json::Value& root, const char* key, const std::string& where) {
    const io::json::Value* m = root.find(key);
    if (!m) fail("COCO annotations", where, cat("missing \"", key, "\""));
    if (!m->is_array()) fail("COCO annotations", where, cat("\"", key, "\" must be an array, got ", io::json::to_string(m->type())));
    return m->as_array();
}

}  // namespace coco_detail

// Checks the values an evaluation relies on (what the readers check, for data built in code).
inline void check_coco_annotation(const CocoAnnotation& a, const std::string& name, const std::string& where) {
    const io::json::Value none{io::json::Object{}};
    const coco_detail::Entry e(none, name, where);
    e.check_box(a.bbox, "bbox");
    if (!std::isfinite(a.area) || a.area < 0) e.error(cat("\"area\" ", a.area, " is not a finite number >= 0"));
}
inline void check_coco_result(const CocoResult& r, const std::string& name, const std::string& where) {
    const io::json::Value none{io::json::Object{}};
    const coco_detail::Entry e(none, name, where);
    e.check_box(r.bbox, "bbox");
    if (!std::isfinite(r.score)) e.error("\"score\" is not finite");
}

// The ground truth of a parsed annotations file; `where` names it in errors.
inline CocoDataset read_coco_dataset(const io::json::Value& root, const std::string& where) {
    namespace d = coco_detail;
    if (!root.is_object())
        fail("COCO annotations", where, cat("expected an object with images, categories and annotations, got ",
                                            io::json::to_string(root.type())));
    CocoDataset ds;
    const io::json::Array& images = d::array_member(root, "images", where);
    const io::json::Array& categories = d::array_member(root, "categories", where);
    const io::json::Array& annotations = d::array_member(root, "annotations", where);
    ds.image_ids.reserve(images.size());
    ds.image_files.reserve(images.size());
    for (std::size_t i = 0; i < images.size(); ++i) {
        const d::Entry e(images[i], cat("images[", i, "]"), where);
        ds.image_ids.push_back(e.id("id"));
        std::string file;
        if (const io::json::Value* f = images[i].find("file_name")) {
            if (!f->is_string()) e.error(cat("\"file_name\" must be a string, got ", d::Entry::describe(*f)));
            file = f->as_string();
            const bool absolute = !file.empty() && file[0] == '/';
            bool dotdot = false;
            for (std::size_t a = 0; a <= file.size();) {
                std::size_t b = file.find('/', a);
                if (b == std::string::npos) b = file.size();
                dotdot = dotdot || file.compare(a, b - a, "..") == 0;
                a = b + 1;
            }
            if (file.empty() || absolute || dotdot || file.find('\0') != std::string::npos)
                e.error(cat("\"file_name\" ", d::Entry::describe(*f),
                            " must be a relative path inside the image directory (no leading '/', no '..')"));
        }
        ds.image_files.push_back(std::move(file));
    }
    ds.category_ids.reserve(categories.size());
    for (std::size_t i = 0; i < categories.size(); ++i)
        ds.category_ids.push_back(d::Entry(categories[i], cat("categories[", i, "]"), where).id("id"));
    ds.annotations.reserve(annotations.size());
    std::unordered_set<std::int64_t> ids;
    ids.reserve(annotations.size());
    for (std::size_t i = 0; i < annotations.size(); ++i) {
        const d::Entry e(annotations[i], cat("annotations[", i, "]"), where);
        CocoAnnotation a;
        a.id = e.id("id");
        a.image_id = e.id("image_id");
        a.category_id = e.id("category_id");
        a.bbox = e.box("bbox");
        a.area = e.finite("area");
        if (a.area < 0) e.error(cat("\"area\" ", a.area, " is negative"));
        a.iscrowd = e.flag("iscrowd");
        if (!ids.insert(a.id).second)
            e.error(cat("\"id\" ", a.id, " is used by an earlier annotation (pycocotools would evaluate one of them twice)"));
        ds.annotations.push_back(a);
    }
    return ds;
}

// The detections of a parsed results file (a JSON array; [] is allowed).
inline std::vector<CocoResult> read_coco_results(const io::json::Value& root, const std::string& where) {
    if (!root.is_array())
        fail("COCO results", where, cat("expected an array of {image_id, category_id, bbox, score}, got ",
                                        io::json::to_string(root.type())));
    const io::json::Array& entries = root.as_array();
    std::vector<CocoResult> out;
    out.reserve(entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const coco_detail::Entry e(entries[i], cat("results[", i, "]"), where);
        CocoResult r;
        r.image_id = e.id("image_id");
        r.category_id = e.id("category_id");
        r.bbox = e.box("bbox");
        r.score = e.finite("score");
        out.push_back(r);
    }
    return out;
}

inline CocoDataset load_coco_dataset(const std::string& path) {
    return read_coco_dataset(io::json::parse(coco_detail::read_text_file(path), path), path);
}

inline std::vector<CocoResult> load_coco_results(const std::string& path) {
    return read_coco_results(io::json::parse(coco_detail::read_text_file(path), path), path);
}

}  // namespace detect
EDET_NAMESPACE_END
