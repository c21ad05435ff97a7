// edet-eval - COCO bbox mAP of a results file, the numbers pycocotools' COCOeval prints.
//
//   edet-eval ANNOTATIONS.json RESULTS.json [--json OUT] [--max-dets 1,10,100]
//
// ANNOTATIONS is a COCO ground truth file (images, categories, annotations), RESULTS a COCO
// results array ({image_id, category_id, bbox [x, y, w, h], score}, what edet-detect --json
// writes). Prints pycocotools' 12-line summary; --json OUT also writes
//   {"stats": {"AP": .., "AP50": .., ..., "ARl": ..}, "per_category_AP": {"<id>": ..},
//    "max_dets": [..], "num_images": N}
// (-1: no ground truth for that number). The computation and its pycocotools quirks are
// described in include/edet/detect/coco_eval.hpp.
// Notes on stderr: results whose category is not in the annotations (left out, as
// pycocotools does), annotations of unlisted images or categories, an annotation id 0.
// Exit status: 0 ok, 1 edet::Error (unreadable or malformed input, a result on an unknown
// image, an unwritable OUT), 2 usage error.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "edet/detect/coco_dataset.hpp"
#include "edet/detect/coco_eval.hpp"
#include "edet/io/json.hpp"

namespace {

const char* kUsage =
    "usage: edet-eval ANNOTATIONS.json RESULTS.json [--json OUT] [--max-dets 1,10,100]\n"
    "  ANNOTATIONS  COCO ground truth (images, categories, annotations)\n"
    "  RESULTS      COCO results: [{image_id, category_id, bbox: [x, y, w, h], score}, ...]\n"
    "  --json OUT   also write the 12 numbers and the per-category AP as JSON to OUT\n"
    "  --max-dets   detections per image, at least 3 distinct values (pycocotools' default 1,10,100)\n";

[[noreturn]] void usage_error(const std::string& why) {
    std::fprintf(stderr, "edet-eval: %s\n%s", why.c_str(), kUsage);
    std::exit(2);
}

// "1,10,100" -> {1, 10, 100}; exits 2 on anything else.
std::vector<int> parse_max_dets(const std::string& text) {
    std::vector<int> out;
    std::size_t at = 0;
    for (;;) {
        const std::size_t comma = text.find(',', at);
        const std::string part = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        char* end = nullptr;
        errno = 0;
        const long v = part.empty() ? 0 : std::strtol(part.c_str(), &end, 10);
        if (part.empty() || *end != '\0' || errno != 0 || v < 1 || v > 1000000)
            usage_error("--max-dets needs positive integers separated by commas (e.g. 1,10,100), got '" + text + "'");
        out.push_back(static_cast<int>(v));
        if (comma == std::string::npos) break;
        at = comma + 1;
    }
    try {
        return edet::detect::coco_max_dets(out);
    } catch (const edet::Error& e) {
        usage_error(std::string("--max-dets: ") + e.why());
    }
}

void write_file(const std::string& path, const std::string& text) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
    if (!f) edet::fail("output file", path, edet::cat("cannot open for writing: ", std::strerror(errno)));
    if (std::fwrite(text.data(), 1, text.size(), f.get()) != text.size() || std::fflush(f.get()) != 0)
        edet::fail("output file", path, edet::cat("write failed: ", std::strerror(errno)));
    if (std::fclose(f.release()) != 0) edet::fail("output file", path, edet::cat("close failed: ", std::strerror(errno)));
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> files;
    std::string json_out;
    edet::detect::CocoEvalOptions opt;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(a + " needs a value");
            return argv[++i];
        };
        if (a == "--json") {
            json_out = value();
            if (json_out.empty()) usage_error("--json needs a file name");
        } else if (a == "--max-dets") {
            opt.max_dets = parse_max_dets(value());
        } else if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (a.size() > 1 && a[0] == '-') {
            usage_error("unknown option '" + a + "'");
        } else {
            files.push_back(a);
        }
    }
    if (files.size() != 2)
        usage_error(edet::cat("expected ANNOTATIONS.json and RESULTS.json, got ", files.size(), " file name(s)"));
    try {
        namespace detect = edet::detect;
        const detect::CocoDataset gt = detect::load_coco_dataset(files[0]);
        const std::vector<detect::CocoResult> dt = detect::load_coco_results(files[1]);
        opt.annotations_name = files[0];
        opt.results_name = files[1];
        const detect::CocoEvaluation ev = detect::evaluate_coco(gt, dt, opt);
        if (ev.results_unknown_category)
            std::fprintf(stderr, "edet-eval: note: %zu result(s) with a category_id not in %s left out (as pycocotools does)\n",
                         ev.results_unknown_category, files[0].c_str());
        if (ev.annotations_left_out)
            std::fprintf(stderr, "edet-eval: note: %zu annotation(s) of an image or category not listed in %s left out\n",
                         ev.annotations_left_out, files[0].c_str());
        if (ev.annotation_id_zero)
            std::fprintf(stderr, "edet-eval: warning: an annotation has id 0; like pycocotools, a detection matched to it "
                                 "counts as a false positive (renumber the annotations from 1)\n");
        std::fputs(detect::coco_summary(ev).c_str(), stdout);
        std::fflush(stdout);
        if (!json_out.empty()) write_file(json_out, edet::io::json::dump(detect::coco_evaluation_json(ev), 1) + "\n");
        return 0;
    } catch (const edet::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
