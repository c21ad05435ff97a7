// libFuzzer target: the JSON inputs a user hands edet-eval, edet-detect --coco and --labels
// (COCO annotation files, COCO results files, label files). Any byte string is either
// refused with edet::Error or read; what is read evaluates (the input as annotations
// against itself as results when both parse). Anything else (a crash, a sanitizer report,
// another exception type, a hang) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edet/detect/coco_dataset.hpp"
#include "edet/detect/coco_eval.hpp"
#include "edet/detect/label_map.hpp"
#include "edet/io/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        (void)edet::detect::LabelMap::from_text(text, "fuzz-labels");
    } catch (const edet::Error&) {
    }
    edet::io::json::Value root;
    try {
        root = edet::io::json::parse(text, "fuzz");
    } catch (const edet::Error&) {
        return 0;
    }
    edet::detect::CocoDataset gt;
    bool have_gt = false;
    try {
        gt = edet::detect::read_coco_dataset(root, "fuzz-annotations");
        have_gt = true;
    } catch (const edet::Error&) {
    }
    std::vector<edet::detect::CocoResult> dt;
    try {
        dt = edet::detect::read_coco_results(root, "fuzz-results");
    } catch (const edet::Error&) {
    }
    if (have_gt && gt.annotations.size() <= 2000 && gt.image_ids.size() <= 2000) {
        // The annotations as their own detections: every result image is listed.
        for (const auto& a : gt.annotations) dt.push_back({a.image_id, a.category_id, a.bbox, 0.5});
        try {
            const edet::detect::CocoEvaluation ev = edet::detect::evaluate_coco(gt, dt);
            (void)edet::detect::coco_summary(ev);
        } catch (const edet::Error&) {
        }
    }
    return 0;
}
