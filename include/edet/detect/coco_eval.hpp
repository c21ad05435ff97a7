// edet/detect/coco_eval.hpp - COCO bbox mAP, as pycocotools' COCOeval computes it.
//
//   CocoDataset gt = load_coco_dataset("instances_val2017.json");    // detect/coco_dataset.hpp
//   std::vector<CocoResult> dt = load_coco_results("results.json");
//   CocoEvaluation ev = evaluate_coco(gt, dt);
//   std::fputs(coco_summary(ev).c_str(), stdout);   // pycocotools' 12 lines
//   ev.stats[0];                                     // AP @[.50:.95], area all, 100 dets
//
// The numbers are pycocotools' (cocoapi 2.0, iouType "bbox", the default Params), bit for
// bit on every case tried: the same floating-point operations in the same order, down to
// numpy's pairwise summation in the means (so a value on a rounding tie prints as
// pycocotools prints it). tests/data/coco holds generated cases with pycocotools' answers;
// compare_random_cases.py beside them checks random ones. The computation, in
// pycocotools' terms:
//
//  evaluate (per category k, image i, area range a; the detections of (i, k) sorted by
//  score, highest first, ties in file order, and cut to the largest maxDets):
//   - IoU of a detection d with a ground truth box g: intersection / union, except for a
//     crowd g (iscrowd 1), where it is intersection / area(d): a detection inside a crowd
//     region overlaps it fully however small it is. Areas here are the boxes' w * h.
//   - g is ignored in range a when it is a crowd or its "area" field is outside a
//     (small: area <= 32^2, medium: 32^2 <= area <= 96^2, large: area >= 96^2; both bounds
//     inclusive, so an area of exactly 32^2 is small and medium).
//   - at each IoU threshold t (.50, .55, ..., .95) each detection in turn takes the ground
//     truth it overlaps most (IoU >= t; of equal IoUs the later box), not-ignored ones first:
//     a box already taken is skipped unless it is a crowd (a crowd region is never used
//     up), and once a not-ignored box is held an ignored one cannot replace it.
//     A detection matched to an ignored box is ignored; an unmatched detection whose own
//     area (w * h) is outside a is ignored.
//  accumulate (per t, k, a and maxDets m): every image's first m detections, concatenated
//   in image-id order and sorted by score (stable: ties keep that order); tp and fp are
//   running counts of the not-ignored matched / unmatched ones; recall = tp / (number of
//   not-ignored ground truths), precision = tp / (tp + fp + eps). Precision is made
//   non-increasing from the right, then read at the 101 recall thresholds 0, .01, ..., 1
//   (the first detection whose recall reaches each; 0 past the last). recall[t,k,a,m] is
//   the final recall. A (k, a) without a not-ignored ground truth gets -1 (no value).
//  summarize: each of the 12 numbers is the mean of the cells > -1 of a slice of precision
//   (AP) or recall (AR); -1 when there are none.
//
// Which maxDets each of the 12 numbers uses is fixed by pycocotools' summarize(), whatever
// the list: AP uses the entry equal to 100 (-1 when 100 is not in the list), AP50, AP75,
// APs/m/l, AR100 (printed with the third value) and ARs/m/l use the third smallest value,
// AR1 the smallest and AR10 the second; per_category_ap uses the largest. So the list needs
// at least three distinct values: we sort it as pycocotools does and refuse fewer than three
// (pycocotools fails on them) or repeated values.
//
// Deliberately the same as pycocotools, though odd:
//   - // parity: a detection matched to a ground truth whose id is 0 counts as unmatched
//     (pycocotools stores the matched id and tests it for non-zero): it is a false positive
//     that also used up the box. CocoEvaluation::annotation_id_zero says when this applies.
//   - results with a category not in the annotations' categories are left out, silently in
//     pycocotools; counted in CocoEvaluation::results_unknown_category.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "edet/detect/coco_dataset.hpp"
#include "edet/io/json.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

// numpy.linspace(.5, .95, 10) as pycocotools builds it (printed with repr, which
// round-trips): 0.9 is the double below 0.9, and 0.75 is exact, which summarize() relies on.
inline constexpr std::array<double, 10> kCocoIouThresholds{
    0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95};
inline constexpr std::size_t kCocoRecallCount = 101;
// The largest precision table evaluate_coco allocates (doubles: 2 GiB), so 22,000 categories
// with three maxDets (LVIS has 1,203).
inline constexpr std::size_t kMaxCocoPrecisionCells = std::size_t(1) << 28;

// numpy.linspace(0, 1, 101): i * 0.01 (not i / 100: they differ at 35, 41, ...).
inline double coco_recall_threshold(std::size_t r) {
    return r + 1 == kCocoRecallCount ? 1.0 : static_cast<double>(r) * 0.01;
}

struct CocoAreaRange {
    const char* label;
    double lo, hi;  // inclusive, on the annotation's "area" (a detection's w * h)
};
inline constexpr std::array<CocoAreaRange, 4> kCocoAreaRanges{{
    {"all", 0.0, 1e10}, {"small", 0.0, 32.0 * 32.0}, {"medium", 32.0 * 32.0, 96.0 * 96.0}, {"large", 96.0 * 96.0, 1e10}}};

inline constexpr std::array<const char*, 12> kCocoStatNames{
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};

struct CocoEvalOptions {
    std::vector<int> max_dets{1, 10, 100};  // detections per image; sorted by evaluate_coco
    // Names of the two inputs in error messages (the files they came from).
    std::string annotations_name = "annotations";
    std::string results_name = "results";
};

struct CocoEvaluation {
    std::vector<int> max_dets;                 // sorted (M)
    std::vector<std::int64_t> category_ids;    // sorted, distinct (K)
    std::size_t num_images = 0;                // distinct image ids (I)

    // pycocotools' eval['precision'] [T][R][K][A][M] and eval['recall'] [T][K][A][M],
    // -1 where no ground truth counts. T = 10 IoU thresholds, R = 101 recall thresholds,
    // A = kCocoAreaRanges.
    std::vector<double> precision, recall;
    double precision_at(std::size_t t, std::size_t r, std::size_t k, std::size_t a, std::size_t m) const {
        return precision[(((t * kCocoRecallCount + r) * category_ids.size() + k) * kCocoAreaRanges.size() + a) * max_dets.size() + m];
    }
    double recall_at(std::size_t t, std::size_t k, std::size_t a, std::size_t m) const {
        return recall[((t * category_ids.size() + k) * kCocoAreaRanges.size() + a) * max_dets.size() + m];
    }

    std::array<double, 12> stats{};            // kCocoStatNames order
    std::vector<double> per_category_ap;       // per category_ids[k]: IoU .50:.95, area all, last maxDets; -1 without ground truth

    std::size_t results_unknown_category = 0;  // results left out: category not in the annotations
    std::size_t annotations_left_out = 0;      // annotations of an unlisted image or category
    bool annotation_id_zero = false;           // an evaluated annotation has id 0 (see the parity note)
};

namespace coco_detail {

// A product rounded to double on its own. With -march=native the compiler may fuse
// a * b + c into one FMA, rounding once; pycocotools' C code (compiled for x86-64's
// baseline) rounds the product first. A volatile keeps our IoU bit-identical to its.
inline double product(double a, double b) {
    volatile double p = a * b;
    return p;
}

// maskApi.c's bbIou for one pair.
inline double box_iou(const CocoBox& d, const CocoBox& g, bool crowd) {
    const double w = std::min(d.w + d.x, g.w + g.x) - std::max(d.x, g.x);
    if (w <= 0) return 0;
    const double h = std::min(d.h + d.y, g.h + g.y) - std::max(d.y, g.y);
    if (h <= 0) return 0;
    const double inter = product(w, h);
    const double da = product(d.w, d.h);
    const double uni = crowd ? da : (da + product(g.w, g.h)) - inter;
    return inter / uni;
}

constexpr std::size_t kT = kCocoIouThresholds.size();
constexpr std::size_t kA = kCocoAreaRanges.size();

// One image's detections of one category in one area range, best first (evaluateImg).
struct ImageEval {
    std::vector<double> scores;          // D
    std::vector<std::uint8_t> matched;   // [T][D]: matched to a ground truth with a non-zero id
    std::vector<std::uint8_t> ignored;   // [T][D]
    std::size_t counted_gt = 0;          // not-ignored ground truths
};

inline bool outside(double area, const CocoAreaRange& r) { return area < r.lo || area > r.hi; }

// evaluateImg for one (image, category) and every area range. `gts` in file order, `dts`
// sorted and cut to the largest maxDets.
inline void evaluate_image(const std::vector<const CocoAnnotation*>& gts, const std::vector<const CocoResult*>& dts,
                           std::array<ImageEval, kA>& out) {
    const std::size_t G = gts.size(), D = dts.size();
    std::vector<double> iou(D * G);  // [d][g], g in file order
    for (std::size_t d = 0; d < D; ++d)
        for (std::size_t g = 0; g < G; ++g) iou[d * G + g] = box_iou(dts[d]->bbox, gts[g]->bbox, gts[g]->iscrowd);

    std::vector<std::size_t> order(G);
    std::vector<std::uint8_t> gt_ignored(G), taken(G);
    std::vector<std::int64_t> match_id(D);
    for (std::size_t a = 0; a < kA; ++a) {
        const CocoAreaRange& range = kCocoAreaRanges[a];
        ImageEval& e = out[a];
        e.scores.resize(D);
        e.matched.assign(kT * D, 0);
        e.ignored.assign(kT * D, 0);
        e.counted_gt = 0;
        for (std::size_t d = 0; d < D; ++d) e.scores[d] = dts[d]->score;
        // Ground truths not ignored first, each group in file order.
        for (std::size_t g = 0; g < G; ++g) order[g] = g;
        const auto ignored_gt = [&](std::size_t g) { return gts[g]->iscrowd || outside(gts[g]->area, range); };
        std::stable_sort(order.begin(), order.end(),
                         [&](std::size_t x, std::size_t y) { return !ignored_gt(x) && ignored_gt(y); });
        for (std::size_t j = 0; j < G; ++j) {
            gt_ignored[j] = ignored_gt(order[j]);
            e.counted_gt += !gt_ignored[j];
        }
        for (std::size_t t = 0; t < kT; ++t) {
            std::fill(taken.begin(), taken.end(), 0);
            for (std::size_t d = 0; d < D; ++d) {
                double best = std::min(kCocoIouThresholds[t], 1 - 1e-10);
                std::ptrdiff_t m = -1;
                for (std::size_t j = 0; j < G; ++j) {
                    const CocoAnnotation& g = *gts[order[j]];
                    if (taken[j] && !g.iscrowd) continue;
                    if (m > -1 && !gt_ignored[static_cast<std::size_t>(m)] && gt_ignored[j]) break;
                    const double v = iou[d * G + order[j]];
                    if (v < best) continue;
                    best = v;
                    m = static_cast<std::ptrdiff_t>(j);
                }
                match_id[d] = 0;
                if (m == -1) continue;
                const std::size_t mj = static_cast<std::size_t>(m);
                e.ignored[t * D + d] = gt_ignored[mj];
                match_id[d] = gts[order[mj]]->id;
                taken[mj] = 1;
            }
            for (std::size_t d = 0; d < D; ++d) {
                // parity: pycocotools' dtMatches holds the gt id, 0 meaning "none".
                e.matched[t * D + d] = match_id[d] != 0;
                const CocoBox& b = dts[d]->bbox;
                if (match_id[d] == 0 && outside(b.w * b.h, range)) e.ignored[t * D + d] = 1;
            }
        }
    }
}

inline void stable_sort_by_score(std::vector<std::size_t>& idx, const std::vector<double>& score) {
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) { return score[x] > score[y]; });
}

// accumulate for one category: fills precision and recall at k for every t, a, m.
inline void accumulate_category(const std::vector<std::array<ImageEval, kA>>& images, std::size_t k, CocoEvaluation& ev) {
    const std::size_t K = ev.category_ids.size(), M = ev.max_dets.size(), R = kCocoRecallCount;
    std::vector<double> scores;
    std::vector<std::uint8_t> matched, ignored;  // [T][N], concatenated
    std::vector<std::size_t> idx;
    std::vector<double> rc, pr;
    for (std::size_t a = 0; a < kA; ++a) {
        std::size_t counted_gt = 0;
        for (const auto& im : images) counted_gt += im[a].counted_gt;
        if (counted_gt == 0) continue;  // stays -1
        for (std::size_t m = 0; m < M; ++m) {
            const std::size_t cap = static_cast<std::size_t>(ev.max_dets[m]);
            std::size_t n = 0;
            for (const auto& im : images) n += std::min(cap, im[a].scores.size());
            scores.clear();
            matched.assign(kT * n, 0);
            ignored.assign(kT * n, 0);
            std::size_t at = 0;
            for (const auto& im : images) {
                const ImageEval& e = im[a];
                const std::size_t D = e.scores.size(), take = std::min(cap, D);
                scores.insert(scores.end(), e.scores.begin(), e.scores.begin() + static_cast<std::ptrdiff_t>(take));
                for (std::size_t t = 0; t < kT; ++t)
                    for (std::size_t d = 0; d < take; ++d) {
                        matched[t * n + at + d] = e.matched[t * D + d];
                        ignored[t * n + at + d] = e.ignored[t * D + d];
                    }
                at += take;
            }
            idx.resize(n);
            for (std::size_t i = 0; i < n; ++i) idx[i] = i;
            stable_sort_by_score(idx, scores);
            for (std::size_t t = 0; t < kT; ++t) {
                rc.resize(n);
                pr.resize(n);
                double tp = 0, fp = 0;
                for (std::size_t i = 0; i < n; ++i) {
                    const std::size_t j = t * n + idx[i];
                    if (!ignored[j]) (matched[j] ? tp : fp) += 1;
                    rc[i] = tp / static_cast<double>(counted_gt);
                    pr[i] = tp / (fp + tp + 2.220446049250313e-16);  // np.spacing(1)
                }
                ev.recall[((t * K + k) * kA + a) * M + m] = n ? rc[n - 1] : 0.0;
                for (std::size_t i = n; i-- > 1;)
                    if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
                std::size_t i = 0;  // searchsorted(rc, threshold, side='left'), thresholds increasing
                for (std::size_t r = 0; r < R; ++r) {
                    const double thr = coco_recall_threshold(r);
                    while (i < n && rc[i] < thr) ++i;
                    ev.precision[(((t * R + r) * K + k) * kA + a) * M + m] = i < n ? pr[i] : 0.0;
                }
            }
        }
    }
}

// numpy's float64 sum (np.add.reduce of a contiguous array, numpy 1.24): pairwise within
// blocks of 8192 elements (its buffer size), the blocks added in order to 0. Summed any
// other way the mean differs in the last bits, and a summary value on a rounding tie
// (0.7225) can then print differently (0.723 instead of pycocotools' 0.722).
inline double numpy_pairwise_sum(const double* a, std::size_t n) {
    if (n < 8) {
        double res = 0.;
        for (std::size_t i = 0; i < n; ++i) res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (std::size_t j = 0; j < 8; ++j) r[j] = a[j];
        std::size_t i = 8;
        for (; i < n - n % 8; i += 8)
            for (std::size_t j = 0; j < 8; ++j) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) res += a[i];
        return res;
    }
    std::size_t n2 = n / 2;
    n2 -= n2 % 8;
    return numpy_pairwise_sum(a, n2) + numpy_pairwise_sum(a + n2, n - n2);
}
inline double numpy_sum(const std::vector<double>& v) {
    constexpr std::size_t kBuffer = 8192;
    double acc = 0.;
    for (std::size_t at = 0; at < v.size(); at += kBuffer)
        acc += numpy_pairwise_sum(v.data() + at, std::min(kBuffer, v.size() - at));
    return acc;
}

// np.mean(s[s > -1]), or -1 when no cell is > -1 (summarize's _summarize). `cells` in
// numpy's C order of the slice.
inline double mean_of_valid(std::vector<double>& cells) {
    cells.erase(std::remove_if(cells.begin(), cells.end(), [](double v) { return !(v > -1); }), cells.end());
    return cells.empty() ? -1.0 : numpy_sum(cells) / static_cast<double>(cells.size());
}

struct StatSpec {
    bool ap;
    double iou;          // < 0: all thresholds
    std::size_t area;    // index into kCocoAreaRanges
    int max_dets;        // the value summarize() asks for
};

// The 12 lines of pycocotools' _summarizeDets.
inline std::array<StatSpec, 12> stat_specs(const std::vector<int>& md) {
    return {{{true, -1, 0, 100},      {true, .5, 0, md[2]},    {true, .75, 0, md[2]},
             {true, -1, 1, md[2]},    {true, -1, 2, md[2]},    {true, -1, 3, md[2]},
             {false, -1, 0, md[0]},   {false, -1, 0, md[1]},   {false, -1, 0, md[2]},
             {false, -1, 1, md[2]},   {false, -1, 2, md[2]},   {false, -1, 3, md[2]}}};
}

inline double summarize_stat(const CocoEvaluation& ev, const StatSpec& s) {
    std::vector<double> cells;
    const std::size_t K = ev.category_ids.size(), M = ev.max_dets.size();
    // The slice precision[t, :, :, a, m] ([T', R, K]) or recall[t, :, a, m] ([T', K]), in C order.
    std::size_t m = 0;
    while (m < M && ev.max_dets[m] != s.max_dets) ++m;
    if (m == M) return -1.0;  // summarize() asks for a maxDets value not in the list
    for (std::size_t t = 0; t < kT; ++t) {
        if (s.iou >= 0 && kCocoIouThresholds[t] != s.iou) continue;  // exact, as np.where(iouThr == iouThrs)
        if (s.ap) {
            for (std::size_t r = 0; r < kCocoRecallCount; ++r)
                for (std::size_t k = 0; k < K; ++k) cells.push_back(ev.precision_at(t, r, k, s.area, m));
        } else {
            for (std::size_t k = 0; k < K; ++k) cells.push_back(ev.recall_at(t, k, s.area, m));
        }
    }
    return mean_of_valid(cells);
}

}  // namespace coco_detail

// Sorted copy of a maxDets list; edet::Error unless it has >= 3 distinct positive values.
inline std::vector<int> coco_max_dets(std::vector<int> md) {
    std::sort(md.begin(), md.end());
    if (md.size() < 3)
        fail("COCO maxDets", "", cat("need at least 3 values (pycocotools' summary reads the first three), got ", md.size()));
    for (std::size_t i = 0; i < md.size(); ++i) {
        if (md[i] <= 0) fail("COCO maxDets", "", cat("values must be positive, got ", md[i]));
        if (i && md[i] == md[i - 1]) fail("COCO maxDets", "", cat("value ", md[i], " is repeated"));
    }
    return md;
}

// COCOeval(gt, dt, 'bbox'): evaluate, accumulate, summarize. Every image and category of
// `gt` is evaluated. Errors: a result on an image not in `gt` (pycocotools asserts), a box
// with a negative or non-finite size, a non-finite score or area, a bad maxDets list.
inline CocoEvaluation evaluate_coco(const CocoDataset& gt, const std::vector<CocoResult>& dt,
                                    const CocoEvalOptions& opt = {}) {
    namespace d = coco_detail;
    CocoEvaluation ev;
    ev.max_dets = coco_max_dets(opt.max_dets);

    std::vector<std::int64_t> images = gt.image_ids;
    std::sort(images.begin(), images.end());
    images.erase(std::unique(images.begin(), images.end()), images.end());
    ev.category_ids = gt.category_ids;
    std::sort(ev.category_ids.begin(), ev.category_ids.end());
    ev.category_ids.erase(std::unique(ev.category_ids.begin(), ev.category_ids.end()), ev.category_ids.end());
    ev.num_images = images.size();
    const std::size_t I = images.size(), K = ev.category_ids.size(), M = ev.max_dets.size();
    // pycocotools' precision table holds T x R x K x A x M doubles, 97 KB per category with
    // three maxDets: an annotation file listing millions of categories (a few tens of MB of
    // JSON) or a long maxDets list would need terabytes. Refused before anything is allocated.
    const std::size_t cells_per_category_and_max_dets = d::kT * kCocoRecallCount * d::kA;
    const double table_cells = static_cast<double>(cells_per_category_and_max_dets) * static_cast<double>(K) * static_cast<double>(M);
    if (table_cells > static_cast<double>(kMaxCocoPrecisionCells))
        fail("categories", opt.annotations_name,
             cat(K, " categories x ", M, " maxDets values need a precision table of ", table_cells * 8.0 / (1u << 30),
                 " GiB (pycocotools' layout); at most ", kMaxCocoPrecisionCells, " cells (2 GiB) are allowed, ",
                 kMaxCocoPrecisionCells / (cells_per_category_and_max_dets * 3), " categories with three maxDets"));

    std::unordered_map<std::int64_t, std::size_t> image_index, category_index;
    for (std::size_t i = 0; i < I; ++i) image_index.emplace(images[i], i);
    for (std::size_t k = 0; k < K; ++k) category_index.emplace(ev.category_ids[k], k);
    constexpr std::size_t kNone = static_cast<std::size_t>(-1);
    const auto find = [](const std::unordered_map<std::int64_t, std::size_t>& map, std::int64_t id) {
        const auto it = map.find(id);
        return it == map.end() ? kNone : it->second;
    };

    // (category, image) of every evaluated entry; entries grouped by it, file order within.
    struct Keyed {
        std::size_t k, i, entry;
    };
    std::vector<Keyed> gt_keys, dt_keys;
    for (std::size_t n = 0; n < gt.annotations.size(); ++n) {
        const CocoAnnotation& a = gt.annotations[n];
        check_coco_annotation(a, cat("annotations[", n, "]"), opt.annotations_name);
        const std::size_t k = find(category_index, a.category_id), i = find(image_index, a.image_id);
        if (k == kNone || i == kNone) { ++ev.annotations_left_out; continue; }
        ev.annotation_id_zero = ev.annotation_id_zero || a.id == 0;
        gt_keys.push_back({k, i, n});
    }
    for (std::size_t n = 0; n < dt.size(); ++n) {
        const CocoResult& r = dt[n];
        check_coco_result(r, cat("results[", n, "]"), opt.results_name);
        const std::size_t i = find(image_index, r.image_id);
        if (i == kNone)
            fail(cat("results[", n, "]"), opt.results_name,
                 cat("image_id ", r.image_id, " is not an image of ", opt.annotations_name,
                     " (pycocotools: 'Results do not correspond to current coco set')"));
        const std::size_t k = find(category_index, r.category_id);
        if (k == kNone) { ++ev.results_unknown_category; continue; }
        dt_keys.push_back({k, i, n});
    }
    const auto by_key = [](const Keyed& x, const Keyed& y) { return x.k != y.k ? x.k < y.k : x.i < y.i; };
    std::stable_sort(gt_keys.begin(), gt_keys.end(), by_key);
    std::stable_sort(dt_keys.begin(), dt_keys.end(), by_key);

    ev.precision.assign(cells_per_category_and_max_dets * K * M, -1.0);
    ev.recall.assign(d::kT * K * d::kA * M, -1.0);
    const std::size_t max_det = static_cast<std::size_t>(ev.max_dets.back());
    std::vector<std::array<d::ImageEval, d::kA>> evaluated;  // images of category k with entries
    std::vector<const CocoAnnotation*> gts;
    std::vector<const CocoResult*> dts;
    std::vector<double> scores;
    std::vector<std::size_t> order;
    std::size_t gp = 0, dp = 0;
    for (std::size_t k = 0; k < K; ++k) {
        evaluated.clear();
        while ((gp < gt_keys.size() && gt_keys[gp].k == k) || (dp < dt_keys.size() && dt_keys[dp].k == k)) {
            // The next image of category k with ground truth or detections (images without
            // either are evaluateImg's None: they add nothing).
            std::size_t i = kNone;
            if (gp < gt_keys.size() && gt_keys[gp].k == k) i = gt_keys[gp].i;
            if (dp < dt_keys.size() && dt_keys[dp].k == k) i = std::min(i, dt_keys[dp].i);
            gts.clear();
            for (; gp < gt_keys.size() && gt_keys[gp].k == k && gt_keys[gp].i == i; ++gp)
                gts.push_back(&gt.annotations[gt_keys[gp].entry]);
            dts.clear();
            scores.clear();
            for (; dp < dt_keys.size() && dt_keys[dp].k == k && dt_keys[dp].i == i; ++dp) {
                dts.push_back(&dt[dt_keys[dp].entry]);
                scores.push_back(dts.back()->score);
            }
            order.resize(dts.size());
            for (std::size_t n = 0; n < order.size(); ++n) order[n] = n;
            d::stable_sort_by_score(order, scores);
            if (order.size() > max_det) order.resize(max_det);
            std::vector<const CocoResult*> sorted(order.size());
            for (std::size_t n = 0; n < order.size(); ++n) sorted[n] = dts[order[n]];
            evaluated.emplace_back();
            d::evaluate_image(gts, sorted, evaluated.back());
        }
        d::accumulate_category(evaluated, k, ev);
    }

    const std::array<d::StatSpec, 12> specs = d::stat_specs(ev.max_dets);
    for (std::size_t s = 0; s < specs.size(); ++s) ev.stats[s] = d::summarize_stat(ev, specs[s]);
    ev.per_category_ap.resize(K);
    std::vector<double> cells;
    for (std::size_t k = 0; k < K; ++k) {
        cells.clear();
        for (std::size_t t = 0; t < d::kT; ++t)
            for (std::size_t r = 0; r < kCocoRecallCount; ++r) cells.push_back(ev.precision_at(t, r, k, 0, M - 1));
        ev.per_category_ap[k] = d::mean_of_valid(cells);
    }
    return ev;
}

// pycocotools' summarize() printout, 12 lines, e.g.
//  " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.372"
inline std::string coco_summary(const CocoEvaluation& ev) {
    const std::array<coco_detail::StatSpec, 12> specs = coco_detail::stat_specs(ev.max_dets);
    std::string out;
    for (std::size_t s = 0; s < specs.size(); ++s) {
        const coco_detail::StatSpec& sp = specs[s];
        char iou[16];
        if (sp.iou < 0) std::snprintf(iou, sizeof iou, "%0.2f:%0.2f", kCocoIouThresholds.front(), kCocoIouThresholds.back());
        else std::snprintf(iou, sizeof iou, "%0.2f", sp.iou);
        char line[160];
        std::snprintf(line, sizeof line, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                      sp.ap ? "Average Precision" : "Average Recall", sp.ap ? "(AP)" : "(AR)", iou,
                      kCocoAreaRanges[sp.area].label, sp.max_dets, ev.stats[s]);
        out += line;
    }
    return out;
}

// {"stats": {"AP": .., ..., "ARl": ..}, "per_category_AP": {"<id>": .., ...}}, the shape
// of ../shared/oracle/coco_eval's output (-1: no ground truth), plus "max_dets".
inline io::json::Value coco_evaluation_json(const CocoEvaluation& ev) {
    namespace json = io::json;
    json::Value stats{json::Object{}};
    for (std::size_t s = 0; s < kCocoStatNames.size(); ++s) stats.set(kCocoStatNames[s], ev.stats[s]);
    json::Value per_cat{json::Object{}};
    for (std::size_t k = 0; k < ev.category_ids.size(); ++k)
        per_cat.set(std::to_string(ev.category_ids[k]), ev.per_category_ap[k]);
    json::Value md{json::Array{}};
    for (int m : ev.max_dets) md.push_back(m);
    json::Value out{json::Object{}};
    out.set("stats", std::move(stats));
    out.set("per_category_AP", std::move(per_cat));
    out.set("max_dets", std::move(md));
    out.set("num_images", json::integer(static_cast<std::int64_t>(ev.num_images)));
    return out;
}

}  // namespace detect
EDET_NAMESPACE_END
