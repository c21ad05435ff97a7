// edet/detect/label_map.hpp - what a network's class indices mean: a name and the
// dataset's category id for each.
//
//   detect::LabelMap coco = detect::LabelMap::coco();                 // the 90 COCO classes
//   detect::LabelMap mine = detect::LabelMap::from_file("labels.json"); // a COCO annotation file
//   mine.name(0); mine.category_id(0);                                  // "apple", 2
//
// Class index k (0-based, the k-th class channel of the head) maps to:
//   COCO checkpoints   name coco_label(k + 1), category id k + 1 (labels.hpp)
//   a text file        the k-th non-empty line (blank lines and '#' comments skipped),
//                      category id k + 1
//   a COCO JSON file   its `categories` sorted by id: the k-th one's name and id, which is
//                      how effdet's COCO parser numbers a custom dataset's classes (sorted
//                      cat ids -> labels 1..n), so results written with these ids evaluate
//                      against the same annotation file as they are
// A file is recognised by content: JSON when its first non-blank byte is '{'.
//
// Names must be non-empty and unique, ids positive and unique (edet::Error naming the file
// and the entry otherwise); a file is read whole, at most kMaxLabelFileBytes.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/detect/labels.hpp"
#include "edet/io/json.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

// COCO's instances_train2017.json is 448 MB; a label file bigger than this is not one.
inline constexpr std::size_t kMaxLabelFileBytes = std::size_t{1} << 30;

class LabelMap {
public:
    LabelMap() = default;

    // The 90 COCO classes of the published checkpoints (ids 1..90, unused ids included).
    static LabelMap coco() {
        LabelMap m;
        for (int id = 1; id <= kCocoNumClasses; ++id) m.add(coco_label(id), id, "coco");
        m.source_ = "COCO";
        return m;
    }

    // Names for classes 0..n-1, category ids 1..n.
    static LabelMap from_names(const std::vector<std::string>& names, const std::string& where = "labels") {
        LabelMap m;
        for (std::size_t i = 0; i < names.size(); ++i) m.add(names[i], static_cast<int>(i) + 1, where);
        m.source_ = where;
        return m;
    }

    // Names with their category ids, class k = entry k (no sorting: the order is the model's).
    static LabelMap from_names_and_ids(const std::vector<std::string>& names, const std::vector<int>& ids,
                                       const std::string& where) {
        if (names.size() != ids.size())
            fail("labels", where, cat(names.size(), " names but ", ids.size(), " category ids"));
        LabelMap m;
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (ids[i] < 1) fail("labels", where, cat("class ", i, " has category id ", ids[i], " (ids are positive)"));
            m.add(names[i], ids[i], where);
        }
        m.source_ = where;
        return m;
    }

    // "apple,banana,cherry" (the oracle's --labels spelling).
    static LabelMap from_list(const std::string& comma_separated) {
        std::vector<std::string> names;
        std::size_t start = 0;
        while (start <= comma_separated.size()) {
            std::size_t comma = comma_separated.find(',', start);
            if (comma == std::string::npos) comma = comma_separated.size();
            names.push_back(trim(comma_separated.substr(start, comma - start)));
            start = comma + 1;
        }
        return from_names(names, "label list '" + comma_separated + "'");
    }

    // A text file (one name a line) or a COCO annotation JSON (see the header comment).
    static LabelMap from_text(const std::string& text, const std::string& where) {
        const std::size_t first = text.find_first_not_of(" \t\r\n");
        if (first != std::string::npos && text[first] == '{') return from_coco_json(text, where);
        std::vector<std::string> names;
        std::size_t start = 0;
        while (start < text.size()) {
            std::size_t nl = text.find('\n', start);
            if (nl == std::string::npos) nl = text.size();
            const std::string line = trim(text.substr(start, nl - start));
            if (!line.empty() && line[0] != '#') names.push_back(line);
            start = nl + 1;
        }
        if (names.empty()) fail("label file", where, "holds no names (one name a line; blank lines and # comments skipped)");
        return from_names(names, where);
    }

    static LabelMap from_file(const std::string& path) { return from_text(read_text(path), path); }

    // A COCO annotation file's `categories` ([{"id": 2, "name": "apple"}, ...]), sorted by id.
    static LabelMap from_coco_json(const std::string& text, const std::string& where) {
        const io::json::Value root = io::json::parse(text, where);
        if (!root.is_object()) fail("label file", where, "a COCO annotation file is a JSON object");
        const io::json::Value* cats = root.find("categories");
        if (!cats || !cats->is_array())
            fail("label file", where, "has no \"categories\" array (a COCO annotation file lists its classes there)");
        if (cats->size() == 0) fail("label file", where, "\"categories\" is empty");
        std::vector<std::pair<std::int64_t, std::string>> rows;
        for (std::size_t i = 0; i < cats->size(); ++i) {
            const io::json::Value& c = (*cats)[i];
            const io::json::Value* id = c.is_object() ? c.find("id") : nullptr;
            const io::json::Value* name = c.is_object() ? c.find("name") : nullptr;
            if (!id || !id->is_int64() || !name || !name->is_string())
                fail("label file", where, cat("categories[", i, "] needs an integer \"id\" and a string \"name\""));
            if (id->as_int64() < 1 || id->as_int64() > 0x7fffffff)
                fail("label file", where, cat("categories[", i, "] has id ", id->as_int64(), " (ids are positive 32-bit integers)"));
            rows.emplace_back(id->as_int64(), name->as_string());
        }
        std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        LabelMap m;
        for (const auto& [id, name] : rows) m.add(name, static_cast<int>(id), where);
        m.source_ = where;
        return m;
    }

    int size() const { return static_cast<int>(names_.size()); }
    bool empty() const { return names_.empty(); }
    // Where the map came from ("COCO", a file path, "label list '...'").
    const std::string& source() const { return source_; }
    const std::vector<std::string>& names() const { return names_; }
    const std::vector<int>& category_ids() const { return ids_; }

    // The name of class index k; "class <k+1>" outside the map (a network whose class count
    // has no names).
    std::string name(int class_index) const {
        if (class_index >= 0 && class_index < size()) return names_[static_cast<std::size_t>(class_index)];
        return "class " + std::to_string(class_index + 1);
    }
    // The dataset's category id of class index k; k + 1 outside the map.
    int category_id(int class_index) const {
        if (class_index >= 0 && class_index < size()) return ids_[static_cast<std::size_t>(class_index)];
        return class_index + 1;
    }

    // The class index of a name (case-insensitive; '_' and '-' match a space, so
    // "traffic_light" finds "traffic light") or of a category id written as digits; -1 when
    // the map has neither.
    int find(const std::string& name_or_id) const {
        const std::string s = trim(name_or_id);
        if (s.empty()) return -1;
        if (s.size() <= 10 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
            const long long id = std::stoll(s);
            for (std::size_t k = 0; k < ids_.size(); ++k)
                if (ids_[k] == id) return static_cast<int>(k);
            return -1;
        }
        const std::string key = fold(s);
        for (std::size_t k = 0; k < names_.size(); ++k)
            if (fold(names_[k]) == key) return static_cast<int>(k);
        return -1;
    }

    // edet::Error unless the map names exactly `num_classes` classes (the network's).
    void check_class_count(int num_classes, const std::string& where) const {
        if (size() != num_classes)
            fail("labels", where,
                 cat(source_, " names ", size(), " class", size() == 1 ? "" : "es", " but the network predicts ", num_classes,
                     " (its class head's output channels / anchors per location)"));
    }

private:
    void add(const std::string& raw, int id, const std::string& where) {
        const std::string name = trim(raw);
        if (name.empty()) fail("labels", where, cat("class ", names_.size(), " has an empty name"));
        if (name.find_first_of("\r\n\t") != std::string::npos)
            fail("labels", where, cat("class name '", name, "' holds a control character"));
        for (std::size_t k = 0; k < names_.size(); ++k) {
            if (fold(names_[k]) == fold(name))
                fail("labels", where, cat("class name '", name, "' appears twice (classes ", k, " and ", names_.size(), ")"));
            if (ids_[k] == id) fail("labels", where, cat("category id ", id, " appears twice"));
        }
        names_.push_back(name);
        ids_.push_back(id);
    }
    static std::string trim(const std::string& s) {
        const std::size_t b = s.find_first_not_of(" \t\r\n");
        if (b == std::string::npos) return {};
        const std::size_t e = s.find_last_not_of(" \t\r\n");
        return s.substr(b, e - b + 1);
    }
    static std::string fold(const std::string& s) {
        std::string out;
        for (char ch : s) out += (ch == '_' || ch == '-') ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return out;
    }
    static std::string read_text(const std::string& path) {
        std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
        if (!f) fail("label file", path, "cannot open for reading");
        std::string text;
        char chunk[1 << 16];
        for (;;) {
            const std::size_t got = std::fread(chunk, 1, sizeof chunk, f.get());
            if (text.size() + got > kMaxLabelFileBytes)
                fail("label file", path, cat("larger than ", kMaxLabelFileBytes, " bytes"));
            text.append(chunk, got);
            if (got < sizeof chunk) {
                if (std::ferror(f.get())) fail("label file", path, "read error");
                break;
            }
        }
        return text;
    }

    std::vector<std::string> names_;
    std::vector<int> ids_;
    std::string source_;
};

}  // namespace detect
EDET_NAMESPACE_END
