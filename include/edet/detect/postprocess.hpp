// edet/detect/postprocess.hpp - head outputs -> detections: top-k, decode, NMS / soft-NMS.
//
//   PostprocessOptions opt;                      // effdet defaults: top-5000, IoU 0.5, 100 rows
//   std::vector<DetectionRow> rows =
//       postprocess(class_out, box_out, anchors, 90, /*image=*/0, opt);
//
// The pipeline, as effdet's _post_process + generate_detections do it:
//
//   class_out[l] {n, h, w, A*C} ─┐ flatten [level, y, x, a, c]
//                                ├─ top-k of raw logits (5000) ─ anchor = idx / C, class = idx % C
//   box_out[l]   {n, h, w, A*4} ─┘                           │
//                                   decode (float32, no FMA) ┤ score = sigmoid(logit)
//                                   clip to the image (optional image info, network pixels)
//                                   NMS: per class (hard), all classes (agnostic) or gaussian soft
//                                   keep max_detections, scale back by img_scale (image info)
//
// Rows are (x1, y1, x2, y2, score, class_id) with class_id = class index + 1 (the COCO id).
// Ties: the reference leaves the order of equal scores unspecified; here a lower top-k rank
// (and for equal logits a lower flat index) comes first, so results are deterministic.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/core/parallel.hpp"
#include "edet/kernels/activation.hpp"  // FloatBatch, the SIMD width of the build
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

struct Box {
    float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

struct DetectionRow {
    Box box;            // x1, y1, x2, y2
    float score = 0;    // sigmoid of the logit (or the decayed soft-NMS score)
    int class_id = 0;   // 1-based (COCO category id for the 90-class models)
};

enum class NmsMethod {
    hard,      // per-class hard NMS (the reference)
    agnostic,  // hard NMS across all classes
    soft,      // effdet's gaussian soft-NMS over all classes (boxes offset per class)
};

struct PostprocessOptions {
    int max_detection_points = 5000;  // top-k candidates over anchors x classes
    int max_detections = 100;         // rows kept after NMS
    float iou_threshold = 0.5f;       // hard / agnostic NMS: drop if IoU > this
    float score_threshold = 0.0f;     // rows below are dropped at the end (0 keeps all)
    NmsMethod nms = NmsMethod::hard;
    float soft_sigma = 0.5f;          // soft-NMS: decay = exp(-iou^2 / sigma)
    float soft_min_score = 0.001f;    // soft-NMS: boxes at or below leave the loop
    // Class filters by 1-based id, applied before top-k (as if the model never predicted the
    // others): empty allow = all classes.
    std::vector<int> allow_classes;
    std::vector<int> deny_classes;
};

// effdet's optional per-image info: boxes are clipped to [0, image size / img_scale] in
// network pixels before NMS and multiplied by img_scale after it.
struct ImageInfo {
    float img_scale = 1.0f;    // image pixels per network pixel (1 / letterbox scale)
    float image_width = 0.0f;  // original image size
    float image_height = 0.0f;
};

// ---- small exact pieces ----------------------------------------------------------------

// a * b rounded to float on its own, so the compiler cannot fuse it into a later add (FMA
// contraction would change the last bit and the reference does not fuse).
inline float mul_unfused(float a, float b) {
    volatile float p = a * b;
    return p;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// Decodes one box from its anchor (y1, x1, y2, x2) and code (ty, tx, th, tw), in float32
// with separate multiplies and adds, as effdet's decode_box_outputs.
inline Box decode_box(const float* anchor, const float* code) {
    const float yca = (anchor[0] + anchor[2]) / 2.0f;
    const float xca = (anchor[1] + anchor[3]) / 2.0f;
    const float ha = anchor[2] - anchor[0];
    const float wa = anchor[3] - anchor[1];
    const float w = mul_unfused(std::exp(code[3]), wa);
    const float h = mul_unfused(std::exp(code[2]), ha);
    const float yc = mul_unfused(code[0], ha) + yca;
    const float xc = mul_unfused(code[1], wa) + xca;
    const float hw = w / 2.0f, hh = h / 2.0f;
    return Box{xc - hw, yc - hh, xc + hw, yc + hh};
}

inline float box_area(const Box& b) { return mul_unfused(b.x2 - b.x1, b.y2 - b.y1); }

// IoU = inter / ((area_a + area_b) - inter); 0 when the boxes do not overlap (also for
// zero-area boxes, where the formula would divide 0 by 0).
inline float box_iou(const Box& a, const Box& b, float area_a, float area_b) {
    const float w = std::max(0.0f, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
    const float h = std::max(0.0f, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
    const float inter = mul_unfused(w, h);
    if (!(inter > 0.0f)) return 0.0f;
    return inter / ((area_a + area_b) - inter);
}
inline float box_iou(const Box& a, const Box& b) { return box_iou(a, b, box_area(a), box_area(b)); }

// ---- NMS -------------------------------------------------------------------------------

// Hard NMS on one set of boxes (torchvision.ops.nms): visit boxes by descending score
// (stable: equal scores in input order); each kept box drops every later box with
// IoU > threshold. Returns the kept indices in visiting order.
inline std::vector<int> nms(const std::vector<Box>& boxes, const std::vector<float>& scores, float iou_threshold) {
    if (boxes.size() != scores.size())
        fail("nms", "detect::nms", cat(boxes.size(), " boxes but ", scores.size(), " scores"));
    std::vector<int> order(boxes.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return scores[static_cast<std::size_t>(a)] > scores[static_cast<std::size_t>(b)];
    });
    std::vector<float> area(boxes.size());
    for (std::size_t i = 0; i < boxes.size(); ++i) area[i] = box_area(boxes[i]);
    std::vector<char> dropped(boxes.size(), 0);
    std::vector<int> keep;
    for (std::size_t oi = 0; oi < order.size(); ++oi) {
        const auto i = static_cast<std::size_t>(order[oi]);
        if (dropped[i]) continue;
        keep.push_back(static_cast<int>(i));
        for (std::size_t oj = oi + 1; oj < order.size(); ++oj) {
            const auto j = static_cast<std::size_t>(order[oj]);
            if (!dropped[j] && box_iou(boxes[i], boxes[j], area[i], area[j]) > iou_threshold) dropped[j] = 1;
        }
    }
    return keep;
}

// Per-class hard NMS (torchvision batched_nms): boxes of different classes never suppress
// each other. Returns the kept indices sorted by descending score (stable).
inline std::vector<int> batched_nms(const std::vector<Box>& boxes, const std::vector<float>& scores,
                                    const std::vector<int>& classes, float iou_threshold) {
    if (boxes.size() != scores.size() || boxes.size() != classes.size())
        fail("batched nms", "detect::batched_nms",
             cat(boxes.size(), " boxes, ", scores.size(), " scores and ", classes.size(), " classes differ"));
    std::vector<int> ids(classes);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<char> kept(boxes.size(), 0);
    std::vector<Box> sub_boxes;
    std::vector<float> sub_scores;
    std::vector<int> sub_index;
    for (int id : ids) {
        sub_boxes.clear();
        sub_scores.clear();
        sub_index.clear();
        for (std::size_t i = 0; i < boxes.size(); ++i)
            if (classes[i] == id) {
                sub_boxes.push_back(boxes[i]);
                sub_scores.push_back(scores[i]);
                sub_index.push_back(static_cast<int>(i));
            }
        for (int k : nms(sub_boxes, sub_scores, iou_threshold))
            kept[static_cast<std::size_t>(sub_index[static_cast<std::size_t>(k)])] = 1;
    }
    std::vector<int> keep;
    for (std::size_t i = 0; i < boxes.size(); ++i)
        if (kept[i]) keep.push_back(static_cast<int>(i));
    std::stable_sort(keep.begin(), keep.end(), [&](int a, int b) {
        return scores[static_cast<std::size_t>(a)] > scores[static_cast<std::size_t>(b)];
    });
    return keep;
}

struct SoftNmsResult {
    std::vector<int> index;    // picked boxes, in pick order
    std::vector<float> score;  // their decayed scores at pick time
};

// effdet's gaussian soft-NMS (batched_soft_nms): all classes in one loop, each box shifted
// by class * (max coordinate + 1) so classes cannot overlap. Repeat until no box is left:
// pick the highest current score (first on ties), multiply every remaining score by
// exp(-iou(picked, box)^2 / sigma), then remove the picked box and every box whose score is
// <= min_score.
inline SoftNmsResult soft_nms(const std::vector<Box>& boxes, const std::vector<float>& scores,
                              const std::vector<int>& classes, float sigma = 0.5f, float min_score = 0.001f) {
    if (boxes.size() != scores.size() || boxes.size() != classes.size())
        fail("soft nms", "detect::soft_nms",
             cat(boxes.size(), " boxes, ", scores.size(), " scores and ", classes.size(), " classes differ"));
    if (!(sigma > 0.0f)) fail("soft nms", "detect::soft_nms", cat("sigma must be > 0, got ", sigma));
    SoftNmsResult out;
    if (boxes.empty()) return out;
    float max_coord = boxes[0].x1;
    for (const Box& b : boxes) max_coord = std::max({max_coord, b.x1, b.y1, b.x2, b.y2});
    // parity: the offset is class * (max + 1) in float32, added to every coordinate.
    std::vector<Box> shifted(boxes.size());
    std::vector<float> area(boxes.size());
    for (std::size_t i = 0; i < boxes.size(); ++i) {
        const float off = static_cast<float>(classes[i]) * (max_coord + 1.0f);
        shifted[i] = Box{boxes[i].x1 + off, boxes[i].y1 + off, boxes[i].x2 + off, boxes[i].y2 + off};
        area[i] = box_area(shifted[i]);
    }
    std::vector<int> live(boxes.size());
    std::iota(live.begin(), live.end(), 0);
    std::vector<float> live_score(scores);
    while (!live.empty()) {
        std::size_t top = 0;
        for (std::size_t k = 1; k < live.size(); ++k)
            if (live_score[k] > live_score[top]) top = k;
        const auto t = static_cast<std::size_t>(live[top]);
        out.index.push_back(live[top]);
        out.score.push_back(live_score[top]);
        std::size_t w = 0;
        for (std::size_t k = 0; k < live.size(); ++k) {
            const auto i = static_cast<std::size_t>(live[k]);
            const float iou = box_iou(shifted[t], shifted[i], area[t], area[i]);
            const float decay = std::exp(-mul_unfused(iou, iou) / sigma);
            const float s = mul_unfused(live_score[k], decay);
            if (k == top || !(s > min_score)) continue;
            live[w] = live[k];
            live_score[w] = s;
            ++w;
        }
        live.resize(w);
        live_score.resize(w);
    }
    return out;
}

// ---- top-k -----------------------------------------------------------------------------

struct Candidate {
    std::int64_t index = 0;  // flat index over [level, y, x, a, c]
    float logit = 0;
};

namespace detail {
inline void check_heads(const std::vector<TensorView<const float>>& class_out,
                        const std::vector<TensorView<const float>>& box_out, std::size_t num_anchor_values,
                        int num_classes, int image, int& anchors_per_cell) {
    const char* where = "detect::postprocess";
    if (class_out.empty() || class_out.size() != box_out.size())
        fail("head outputs", where, cat(class_out.size(), " class levels and ", box_out.size(), " box levels"));
    if (num_classes < 1) fail("head outputs", where, cat("num_classes must be >= 1, got ", num_classes));
    if (class_out[0].c() % num_classes != 0)
        fail("class output " + class_out[0].shape().str(), where,
             cat("channels are not a multiple of ", num_classes, " classes"));
    anchors_per_cell = class_out[0].c() / num_classes;
    std::size_t total = 0;
    for (std::size_t l = 0; l < class_out.size(); ++l) {
        const Shape& cs = class_out[l].shape();
        const Shape& bs = box_out[l].shape();
        if (cs.c != anchors_per_cell * num_classes || bs.c != anchors_per_cell * 4 || cs.n != bs.n || cs.h != bs.h ||
            cs.w != bs.w)
            fail(cat("head outputs of level ", l), where,
                 cat("class ", cs.str(), " and box ", bs.str(), " do not match ", anchors_per_cell, " anchors x ",
                     num_classes, " classes"));
        if (image < 0 || image >= cs.n) fail("image index", where, cat(image, " outside the batch of ", cs.n));
        total += static_cast<std::size_t>(cs.h) * static_cast<std::size_t>(cs.w) * static_cast<std::size_t>(anchors_per_cell);
    }
    if (total * 4 != num_anchor_values)
        fail("anchors", where,
             cat("the heads have ", total, " anchors but ", num_anchor_values / 4,
                 " anchor boxes were given (wrong image size or levels?)"));
}
}  // namespace detail

// Optional per-level run maxima of the class logits (HeadOutputs::class_max): max[l] is
// {n, h_l, w_l, ceil(C / columns)}, C = class_out[l].c(), entry j of a pixel the largest of
// its logits [j * columns, min(C, (j + 1) * columns)), NaN if any of them is NaN. With them,
// top_k_logits reads only the runs whose maximum reaches its threshold; the result is the
// same as without. Both views must be contiguous and match class_out's shapes (checked).
struct LogitMaxima {
    const std::vector<TensorView<const float>>* max = nullptr;
    int columns = 0;
};

namespace detail {
// The selection order: higher logit first, equal logits lower flat index first.
struct RanksBefore {
    bool operator()(const Candidate& a, const Candidate& b) const {
        return a.logit > b.logit || (a.logit == b.logit && a.index < b.index);
    }
};

// A contiguous run of one image's logits: flat indices [first, first + count) at p.
struct LogitSpan {
    const float* p = nullptr;
    std::int64_t first = 0;
    std::int64_t count = 0;
    std::size_t level = 0;
    std::int64_t level_first = 0;  // flat index of the level's first logit
};

inline std::vector<LogitSpan> logit_spans(const std::vector<TensorView<const float>>& class_out, int image) {
    std::vector<LogitSpan> spans;
    std::int64_t base = 0;
    for (std::size_t l = 0; l < class_out.size(); ++l) {
        const TensorView<const float>& v = class_out[l];
        const std::int64_t channels = v.c(), per_image = static_cast<std::int64_t>(v.h()) * v.w() * channels;
        if (per_image > 0 && v.is_contiguous()) {
            spans.push_back(LogitSpan{v.pixel(image, 0, 0), base, per_image, l, base});
        } else {
            for (int y = 0; y < v.h(); ++y)
                for (int x = 0; x < v.w(); ++x)
                    spans.push_back(LogitSpan{v.pixel(image, y, x), base + (static_cast<std::int64_t>(y) * v.w() + x) * channels,
                                              channels, l, base});
        }
        base += per_image;
    }
    return spans;
}

[[noreturn]] inline void fail_nan(const std::vector<TensorView<const float>>& class_out, const LogitSpan& s, std::int64_t i) {
    const TensorView<const float>& v = class_out[s.level];
    const std::int64_t off = s.first + i - s.level_first, pixel = off / v.c();
    fail("class logits", "detect::top_k_logits",
         cat("NaN at level ", s.level, ", y ", pixel / v.w(), ", x ", pixel % v.w(), ", channel ", off % v.c()));
}

// Appends every allowed logit > t, and the first max_ties (in flat-index order) equal to t,
// to out, in flat-index order, one range of a span at a time (ranges in increasing index
// order); throws on any NaN it is shown, allowed or not. Later logits equal to t cannot be
// among the max_ties best (equal logits rank by index), and capping them keeps a network
// whose logits are mostly one value (a dead head: all = the prior bias) cheap.
class Collector {
public:
    Collector(const std::vector<TensorView<const float>>& class_out, float t, std::int64_t max_ties, int num_classes,
              const std::vector<char>& allowed, std::vector<Candidate>& out)
        : class_out_(class_out), t_(t), max_ties_(max_ties), num_classes_(num_classes), allowed_(allowed),
          out_(out), n_(out.size()) {
        out_.resize(std::max(out_.capacity(), n_ + 32));  // out_.size() is the room to write in
    }
    // Writes every element of [i0, i1) >= t (or NaN) without branching on it, then checks
    // the few it wrote for NaN and the class mask.
    void visit(const LogitSpan& s, std::int64_t i0, std::int64_t i1) {
        if (n_ + static_cast<std::size_t>(i1 - i0) > out_.size()) out_.resize(std::max(2 * out_.size(), n_ + 32));
        const std::size_t first_new = n_;
        for (std::int64_t i = i0; i < i1; ++i) {
            const float x = s.p[i];
            out_[n_] = Candidate{s.first + i, x};
            n_ += static_cast<std::size_t>(!(x < t_));
        }
        std::size_t w = first_new;
        for (std::size_t r = first_new; r < n_; ++r) {
            if (std::isnan(out_[r].logit)) fail_nan(class_out_, s, out_[r].index - s.first);
            if (!allowed_.empty() && !allowed_[static_cast<std::size_t>(out_[r].index % num_classes_)]) continue;
            if (out_[r].logit == t_ && ++ties_ > max_ties_) continue;
            out_[w++] = out_[r];
        }
        n_ = w;
    }
    void finish() { out_.resize(n_); }

private:
    const std::vector<TensorView<const float>>& class_out_;
    float t_;
    std::int64_t max_ties_;
    int num_classes_;
    const std::vector<char>& allowed_;
    std::vector<Candidate>& out_;
    std::size_t n_;
    std::int64_t ties_ = 0;
};

// The Collector over every logit of `spans`. The test runs on blocks of 32 with xsimd
// compares (g++ did not vectorise the scalar form); only blocks holding a hit are visited.
inline void collect_at_least(const std::vector<TensorView<const float>>& class_out, const std::vector<LogitSpan>& spans,
                             float t, std::int64_t max_ties, int num_classes, const std::vector<char>& allowed,
                             std::vector<Candidate>& out) {
    constexpr std::int64_t kBlock = 32;
    Collector c(class_out, t, max_ties, num_classes, allowed, out);
    using B = kernels::FloatBatch;
    constexpr std::int64_t kLanes = static_cast<std::int64_t>(B::size);
    static_assert(kBlock % kLanes == 0, "a block is whole vectors");
    const B tv(t);
    for (const LogitSpan& s : spans) {
        std::int64_t i = 0;
        for (; i + kBlock <= s.count; i += kBlock) {
            const float* q = s.p + i;
            auto hit = !(B::load_unaligned(q) < tv);  // NaN counts as a hit
            for (std::int64_t j = kLanes; j < kBlock; j += kLanes) hit = hit | !(B::load_unaligned(q + j) < tv);
            if (xsimd::any(hit)) c.visit(s, i, i + kBlock);
        }
        c.visit(s, i, s.count);
    }
    c.finish();
}

// The same result from the run maxima (LogitMaxima, validated by the caller; one span per
// level, contiguous): a run is visited only when its maximum is >= t or NaN, so every
// logit >= t and every NaN is still seen, in index order. D0: 142K maxima instead of 4.4M
// logits (0.6 MB instead of 17.7 MB, most of it no longer in cache when post-processing runs).
inline void collect_at_least_from_maxima(const std::vector<TensorView<const float>>& class_out,
                                         const std::vector<LogitSpan>& spans, const LogitMaxima& maxima, int image,
                                         float t, std::int64_t max_ties, int num_classes,
                                         const std::vector<char>& allowed, std::vector<Candidate>& out) {
    Collector c(class_out, t, max_ties, num_classes, allowed, out);
    using B = kernels::FloatBatch;
    constexpr std::int64_t kLanes = static_cast<std::int64_t>(B::size);
    const B tv(t);
    const std::int64_t cols = maxima.columns;
    std::vector<std::int64_t> hits;  // [begin, end) logit ranges of the span, in order
    for (const LogitSpan& s : spans) {
        const TensorView<const float>& mx = (*maxima.max)[s.level];
        const std::int64_t channels = class_out[s.level].c(), runs = mx.c();
        const float* m = mx.pixel(image, 0, 0);
        const std::int64_t count = static_cast<std::int64_t>(mx.h()) * mx.w() * runs;
        // First the runs to read, then read them with the lines of the runs a few ahead
        // already requested: they are scattered over tens of MB and mostly not in cache,
        // so reading one run after the other waited on each miss in turn.
        hits.clear();
        auto hit = [&](std::int64_t r) {
            const std::int64_t pixel = r / runs, j = r % runs;
            const std::int64_t i0 = pixel * channels + j * cols;
            hits.push_back(i0);
            hits.push_back(std::min(pixel * channels + channels, i0 + cols));
        };
        std::int64_t r = 0;
        for (; r + kLanes <= count; r += kLanes) {
            if (!xsimd::any(!(B::load_unaligned(m + r) < tv))) continue;
            for (std::int64_t q = r; q < r + kLanes; ++q)
                if (!(m[q] < t)) hit(q);
        }
        for (; r < count; ++r)
            if (!(m[r] < t)) hit(r);
        constexpr std::size_t kAhead = 2 * 16;  // 16 runs
        for (std::size_t h = 0; h < hits.size(); h += 2) {
            if (h + kAhead < hits.size()) {
                const char* ahead = reinterpret_cast<const char*>(s.p + hits[h + kAhead]);
                const char* end = reinterpret_cast<const char*>(s.p + hits[h + kAhead + 1]);
                for (; ahead < end; ahead += 64) __builtin_prefetch(ahead);
                __builtin_prefetch(end - 1);
            }
            c.visit(s, hits[h], hits[h + 1]);
        }
    }
    c.finish();
}

// collect_at_least with the scan split over the edet threads (a pass over D0's 17.7 MB
// of logits is memory-bound, ~1.5 ms on one core): each thread scans a contiguous part of
// the flat index space into its own list; the lists are joined in index order and the
// ties cap applied again over the whole, so the result is exactly collect_at_least's.
// A NaN throws the error of the first NaN in index order, as the serial scan does.
inline void collect_at_least_parallel(const std::vector<TensorView<const float>>& class_out,
                                      const std::vector<LogitSpan>& spans, float t, std::int64_t max_ties, int num_classes,
                                      const std::vector<char>& allowed, std::vector<Candidate>& out) {
    std::int64_t total = 0;
    for (const auto& sp : spans) total += sp.count;
    const int parts = static_cast<int>(std::min<std::int64_t>(num_threads(), std::max<std::int64_t>(1, total >> 20)));
    if (parts <= 1) return collect_at_least(class_out, spans, t, max_ties, num_classes, allowed, out);
    std::vector<std::vector<Candidate>> found(static_cast<std::size_t>(parts));
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(parts));
    parallel_for(0, parts, 1, [&](std::int64_t p0, std::int64_t p1) {
        for (std::int64_t part = p0; part < p1; ++part) {
            const std::int64_t lo = total * part / parts, hi = total * (part + 1) / parts;
            std::vector<LogitSpan> mine;
            std::int64_t at = 0;
            for (const LogitSpan& sp : spans) {
                const std::int64_t b = std::max(lo, at), e = std::min(hi, at + sp.count);
                if (b < e) mine.push_back(LogitSpan{sp.p + (b - at), sp.first + (b - at), e - b, sp.level, sp.level_first});
                at += sp.count;
            }
            try {
                auto& f = found[static_cast<std::size_t>(part)];
                f.reserve(out.capacity() / static_cast<std::size_t>(parts) + 16);
                collect_at_least(class_out, mine, t, max_ties, num_classes, allowed, f);
            } catch (...) {
                errors[static_cast<std::size_t>(part)] = std::current_exception();
            }
        }
    });
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
    std::int64_t ties = 0;
    for (const auto& f : found)
        for (const Candidate& c : f) {
            if (c.logit == t && ++ties > max_ties) continue;
            out.push_back(c);
        }
}

// LogitMaxima must describe class_out exactly: a maxima tensor per level, contiguous like
// class_out[l], {n, h, w, ceil(C / columns)}.
inline void check_maxima(const std::vector<TensorView<const float>>& class_out, const LogitMaxima& m, int image) {
    const char* where = "detect::top_k_logits";
    if (!m.max || m.columns < 1) fail("class maxima", where, cat("no tensors or columns ", m.columns, " < 1"));
    if (m.max->size() != class_out.size())
        fail("class maxima", where, cat(m.max->size(), " levels for ", class_out.size(), " class outputs"));
    for (std::size_t l = 0; l < class_out.size(); ++l) {
        const Shape c = class_out[l].shape(), x = (*m.max)[l].shape();
        const Shape want{c.n, c.h, c.w, (c.c + m.columns - 1) / m.columns};
        if (x != want || !class_out[l].is_contiguous() || !(*m.max)[l].is_contiguous() || image >= c.n)
            fail(cat("class maxima of level ", l, " ", x.str()), where,
                 cat("expected contiguous ", want.str(), " for class output ", c.str(), " (", m.columns,
                     " logits per maximum)"));
    }
}

// A threshold t such that, very likely, at least `want` allowed logits are >= t: the
// want * S / total -th largest (at least the 16th) of a sample of S logits taken in blocks
// of 64 spread evenly over the flat index space. -inf when the input is small.
inline float sampled_threshold(const std::vector<LogitSpan>& spans, std::int64_t total, std::int64_t want, int num_classes,
                               const std::vector<char>& allowed) {
    constexpr std::int64_t kRun = 64;
    const float none = -std::numeric_limits<float>::infinity();
    if (total < 1 << 16 || want * 8 > total) return none;
    // About 64 samples above t: S = 64 * total / want, kept within [2^14, 2^16] (a cheap
    // sample and selection) and at most total / 8.
    const std::int64_t size = std::min(total / 8, std::clamp<std::int64_t>(64 * total / want, 1 << 14, 1 << 16));
    const std::int64_t runs = std::max<std::int64_t>(1, size / kRun);
    const std::int64_t step = total / runs;
    std::vector<float> sample;
    sample.reserve(static_cast<std::size_t>(runs * kRun));
    std::size_t si = 0;
    for (std::int64_t r = 0; r < runs; ++r) {
        const std::int64_t g = r * step;
        while (si + 1 < spans.size() && spans[si + 1].first <= g) ++si;
        const LogitSpan& s = spans[si];
        const std::int64_t i0 = g - s.first, i1 = std::min(s.count, i0 + kRun);
        for (std::int64_t i = i0; i < i1; ++i) {
            const float x = s.p[i];
            if (std::isnan(x)) continue;  // reported by the full scan
            if (!allowed.empty() && !allowed[static_cast<std::size_t>((s.first + i) % num_classes)]) continue;
            sample.push_back(x);
        }
    }
    // At least the 16th largest sample, so the estimate is not the sample's extreme (for
    // small k this keeps more than `want`, which is cheap).
    const auto rank = std::max<std::size_t>(16, static_cast<std::size_t>(std::ceil(
        static_cast<double>(want) * static_cast<double>(sample.size()) / static_cast<double>(total))));
    if (rank >= sample.size()) return none;
    std::nth_element(sample.begin(), sample.begin() + static_cast<std::ptrdiff_t>(rank), sample.end(), std::greater<float>());
    return sample[rank];
}
}  // namespace detail

// The k largest class logits of one image, descending (equal logits: lower index first).
// `allowed` (size num_classes, may be empty = all) masks classes out before the selection.
// Throws on a NaN logit anywhere.
//
// Speed (D0: 49104 anchors x 90 classes = 4.4M logits, k = 5000): a threshold t is
// estimated from a ~1% sample so that about 1.5 k logits are >= t; one vectorised pass
// keeps those (of the logits equal to t only the first k); the k best of them are selected
// and sorted. Every logit ranking before the k-th is kept whenever at least k were kept, so
// the result is exactly the full selection's;
// when fewer than k were kept (an unlucky sample), the threshold is lowered (3 k, 12 k,
// then everything) and the pass repeated. With `maxima` (the class head's run maxima) the
// pass reads the maxima and only the runs they point at, on the calling thread; without,
// it reads every logit, split over the edet threads.
inline std::vector<Candidate> top_k_logits(const std::vector<TensorView<const float>>& class_out, int image, int k,
                                           int num_classes, const std::vector<char>& allowed = {},
                                           const LogitMaxima* maxima = nullptr) {
    if (maxima) detail::check_maxima(class_out, *maxima, image);
    const std::vector<detail::LogitSpan> spans = detail::logit_spans(class_out, image);
    std::int64_t total = 0;
    for (const auto& s : spans) total += s.count;
    std::vector<Candidate> cand;
    if (k <= 0) {  // nothing to select; still refuse NaN
        detail::collect_at_least(class_out, spans, std::numeric_limits<float>::infinity(), 0, num_classes, allowed, cand);
        return {};
    }
    const std::int64_t kk = k;
    for (std::int64_t want : {kk + kk / 2, 3 * kk, 12 * kk, total}) {
        const float t = want >= total ? -std::numeric_limits<float>::infinity()
                                      : detail::sampled_threshold(spans, total, want, num_classes, allowed);
        cand.clear();
        cand.reserve(static_cast<std::size_t>(std::min(2 * want, total)) + 16);
        if (maxima)
            detail::collect_at_least_from_maxima(class_out, spans, *maxima, image, t, kk, num_classes, allowed, cand);
        else
            detail::collect_at_least_parallel(class_out, spans, t, kk, num_classes, allowed, cand);
        if (static_cast<std::int64_t>(cand.size()) >= kk || t == -std::numeric_limits<float>::infinity()) break;
    }
    if (static_cast<std::int64_t>(cand.size()) > kk) {
        std::nth_element(cand.begin(), cand.begin() + (kk - 1), cand.end(), detail::RanksBefore());
        cand.resize(static_cast<std::size_t>(kk));
    }
    std::sort(cand.begin(), cand.end(), detail::RanksBefore());
    return cand;
}

// ---- the whole post-process ------------------------------------------------------------

namespace detail {
// Hard NMS over boxes already in visiting order (scores non-increasing, ties in index
// order): box j is kept unless a kept box of its class (of any class when !per_class) has
// IoU > threshold with it; stops after max_keep kept. The kept prefix equals
// batched_nms / nms (whose stable sorts leave this order unchanged) cut to max_keep.
inline std::vector<int> greedy_nms_sorted(const std::vector<Box>& boxes, const std::vector<int>& classes,
                                          float iou_threshold, int max_keep, bool per_class) {
    std::vector<int> keep;
    std::vector<float> area(boxes.size());
    for (std::size_t i = 0; i < boxes.size(); ++i) area[i] = box_area(boxes[i]);
    for (std::size_t j = 0; j < boxes.size() && static_cast<int>(keep.size()) < max_keep; ++j) {
        bool dropped = false;
        for (int ki : keep) {
            const auto i = static_cast<std::size_t>(ki);
            if (per_class && classes[i] != classes[j]) continue;
            if (box_iou(boxes[i], boxes[j], area[i], area[j]) > iou_threshold) {
                dropped = true;
                break;
            }
        }
        if (!dropped) keep.push_back(static_cast<int>(j));
    }
    return keep;
}
}  // namespace detail


// Detections of image `image` of a batch. class_out[l]: {n, h_l, w_l, A*C}, box_out[l]:
// {n, h_l, w_l, A*4} (NHWC; channel a*C + c and a*4 + k with k = ty, tx, th, tw);
// anchors: generate_anchors() for the same input size and levels.
inline std::vector<DetectionRow> postprocess(const std::vector<TensorView<const float>>& class_out,
                                             const std::vector<TensorView<const float>>& box_out,
                                             const std::vector<float>& anchors, int num_classes, int image,
                                             const PostprocessOptions& opt, const ImageInfo* info = nullptr,
                                             const LogitMaxima* class_maxima = nullptr) {
    const char* where = "detect::postprocess";
    int anchors_per_cell = 0;
    detail::check_heads(class_out, box_out, anchors.size(), num_classes, image, anchors_per_cell);
    if (opt.max_detection_points < 1 || opt.max_detections < 0)
        fail("options", where,
             cat("max_detection_points must be >= 1 and max_detections >= 0, got ", opt.max_detection_points, " and ",
                 opt.max_detections));
    if (info && (!(info->img_scale > 0.0f) || !(info->image_width > 0.0f) || !(info->image_height > 0.0f)))
        fail("image info", where,
             cat("img_scale and image size must be > 0, got ", info->img_scale, " and ", info->image_width, "x",
                 info->image_height));
    std::vector<char> allowed;
    if (!opt.allow_classes.empty() || !opt.deny_classes.empty()) {
        allowed.assign(static_cast<std::size_t>(num_classes), opt.allow_classes.empty() ? 1 : 0);
        for (int id : opt.allow_classes)
            if (id >= 1 && id <= num_classes) allowed[static_cast<std::size_t>(id - 1)] = 1;
        for (int id : opt.deny_classes)
            if (id >= 1 && id <= num_classes) allowed[static_cast<std::size_t>(id - 1)] = 0;
    }
    const std::vector<Candidate> top =
        top_k_logits(class_out, image, opt.max_detection_points, num_classes, allowed, class_maxima);

    // Where each level's anchors start in the flat anchor list.
    std::vector<std::int64_t> level_first_logit, level_first_anchor;
    {
        std::int64_t logits = 0, anchors_so_far = 0;
        for (const auto& v : class_out) {
            level_first_logit.push_back(logits);
            level_first_anchor.push_back(anchors_so_far);
            logits += static_cast<std::int64_t>(v.h()) * v.w() * v.c();
            anchors_so_far += static_cast<std::int64_t>(v.h()) * v.w() * anchors_per_cell;
        }
    }
    const std::size_t n = top.size();
    std::vector<Box> boxes(n);
    std::vector<float> scores(n);
    std::vector<int> classes(n);
    for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t anchor = top[i].index / num_classes;
        classes[i] = static_cast<int>(top[i].index % num_classes);
        scores[i] = sigmoid(top[i].logit);
        std::size_t l = level_first_anchor.size() - 1;
        while (anchor < level_first_anchor[l]) --l;
        const std::int64_t local = anchor - level_first_anchor[l];  // (y * w + x) * A + a
        const TensorView<const float>& bv = box_out[l];
        const std::int64_t cell = local / anchors_per_cell;
        const int a = static_cast<int>(local % anchors_per_cell);
        const int y = static_cast<int>(cell / bv.w()), x = static_cast<int>(cell % bv.w());
        const float* code = bv.pixel(image, y, x) + a * 4;
        boxes[i] = decode_box(&anchors[static_cast<std::size_t>(anchor) * 4], code);
        if (std::isnan(boxes[i].x1) || std::isnan(boxes[i].y1) || std::isnan(boxes[i].x2) || std::isnan(boxes[i].y2))
            fail("box regression", where, cat("NaN box for anchor ", anchor, " (level ", l, ", y ", y, ", x ", x, ")"));
    }
    if (info) {
        // parity: effdet clamps to img_size / img_scale computed in float32.
        const float max_x = info->image_width / info->img_scale;
        const float max_y = info->image_height / info->img_scale;
        for (Box& b : boxes) {
            b.x1 = std::min(std::max(b.x1, 0.0f), max_x);
            b.y1 = std::min(std::max(b.y1, 0.0f), max_y);
            b.x2 = std::min(std::max(b.x2, 0.0f), max_x);
            b.y2 = std::min(std::max(b.y2, 0.0f), max_y);
        }
    }
    std::vector<int> keep;
    std::vector<float> kept_scores;
    // The candidates come in top-k order, so their scores are normally already descending;
    // then hard NMS can visit them once in that order and stop at max_detections kept
    // (detail::greedy_nms_sorted), which is what batched_nms / nms followed by the cut give.
    const bool sorted = std::is_sorted(scores.begin(), scores.end(), std::greater<float>());
    switch (opt.nms) {
        case NmsMethod::hard:
            keep = sorted ? detail::greedy_nms_sorted(boxes, classes, opt.iou_threshold, opt.max_detections, true)
                          : batched_nms(boxes, scores, classes, opt.iou_threshold);
            break;
        case NmsMethod::agnostic:
            keep = sorted ? detail::greedy_nms_sorted(boxes, classes, opt.iou_threshold, opt.max_detections, false)
                          : nms(boxes, scores, opt.iou_threshold);
            break;
        case NmsMethod::soft: {
            SoftNmsResult r = soft_nms(boxes, scores, classes, opt.soft_sigma, opt.soft_min_score);
            keep = std::move(r.index);
            kept_scores = std::move(r.score);
            break;
        }
    }
    const std::size_t count = std::min(keep.size(), static_cast<std::size_t>(opt.max_detections));
    std::vector<DetectionRow> rows;
    rows.reserve(count);
    for (std::size_t r = 0; r < count; ++r) {
        const auto i = static_cast<std::size_t>(keep[r]);
        DetectionRow row;
        row.box = boxes[i];
        row.score = kept_scores.empty() ? scores[i] : kept_scores[r];
        row.class_id = classes[i] + 1;
        if (info) {
            row.box.x1 *= info->img_scale;
            row.box.y1 *= info->img_scale;
            row.box.x2 *= info->img_scale;
            row.box.y2 *= info->img_scale;
        }
        if (row.score < opt.score_threshold) continue;
        rows.push_back(row);
    }
    return rows;
}

}  // namespace detect
EDET_NAMESPACE_END
