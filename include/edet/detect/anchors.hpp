// edet/detect/anchors.hpp - the anchor boxes the box head regresses from.
//
// For each pyramid level l (P3..P7, or P8), each feature-map cell (y, x), each octave
// o in {0, 1/3, 2/3} and each aspect (ax, ay) in {(1, 1), (1.4, 0.7), (0.7, 1.4)}, in that
// order (the order the heads' outputs flatten in), one box (y1, x1, y2, x2):
//
//   feat_l   = ceil-halving of the image size l times: s -> (s - 1) / 2 + 1
//   stride   = (H / feat_h, W / feat_w)              real division, not 2^l: lite0 P7 = 106.67
//   centres  = numpy.arange(stride / 2, size, stride) per axis
//   half_x   = anchor_scale * stride_x * 2^o * ax / 2     (evaluated left to right)
//   box      = (cy - half_y, cx - half_x, cy + half_y, cx + half_x)
//
// Everything is computed in double and stored as float, as effdet does with numpy.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "edet/core/error.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

struct AnchorConfig {
    int image_height = 512;
    int image_width = 512;
    int min_level = 3;
    int max_level = 7;
    int num_scales = 3;
    double anchor_scale = 4.0;
    std::vector<std::array<double, 2>> aspects{{1.0, 1.0}, {1.4, 0.7}, {0.7, 1.4}};  // (x, y)

    int anchors_per_cell() const { return num_scales * static_cast<int>(aspects.size()); }
};

// Feature map size (h, w) of a pyramid level for an input size.
inline std::array<int, 2> level_size(int image_height, int image_width, int level) {
    int h = image_height, w = image_width;
    for (int l = 1; l <= level; ++l) {
        h = (h - 1) / 2 + 1;
        w = (w - 1) / 2 + 1;
    }
    return {h, w};
}

namespace detail {

// numpy.arange(start, stop, step) for doubles, element for element: numpy stores start
// and start + step, then fills element i >= 2 as start + i * delta with
// delta = (start + step) - start.
inline std::vector<double> numpy_arange(double start, double stop, double step) {
    const double span = std::ceil((stop - start) / step);
    const std::size_t n = span > 0 ? static_cast<std::size_t>(span) : 0;
    std::vector<double> v(n);
    if (n > 0) v[0] = start;
    if (n > 1) v[1] = start + step;
    const double delta = (start + step) - start;
    for (std::size_t i = 2; i < n; ++i) v[i] = start + static_cast<double>(i) * delta;
    return v;
}

}  // namespace detail

// All anchors, (y1, x1, y2, x2) per anchor, flattened [level, y, x, octave, aspect].
inline std::vector<float> generate_anchors(const AnchorConfig& cfg) {
    if (cfg.image_height < 1 || cfg.image_width < 1 || cfg.min_level < 0 || cfg.max_level < cfg.min_level ||
        cfg.max_level > 12 || cfg.num_scales < 1 || cfg.aspects.empty() || !(cfg.anchor_scale > 0))
        fail("anchor config", "detect::generate_anchors",
             cat("needs image size >= 1, 0 <= min_level <= max_level <= 12, scales >= 1, aspects, anchor_scale > 0; got ",
                 cfg.image_height, "x", cfg.image_width, ", levels ", cfg.min_level, "..", cfg.max_level, ", ",
                 cfg.num_scales, " scales, ", cfg.aspects.size(), " aspects, anchor_scale ", cfg.anchor_scale));
    std::vector<float> out;
    for (int level = cfg.min_level; level <= cfg.max_level; ++level) {
        const std::array<int, 2> feat = level_size(cfg.image_height, cfg.image_width, level);
        const double stride_y = static_cast<double>(cfg.image_height) / feat[0];
        const double stride_x = static_cast<double>(cfg.image_width) / feat[1];
        const std::vector<double> ys = detail::numpy_arange(stride_y / 2, cfg.image_height, stride_y);
        const std::vector<double> xs = detail::numpy_arange(stride_x / 2, cfg.image_width, stride_x);
        // Half extents per (octave, aspect), in the order the heads use.
        std::vector<std::array<double, 2>> half;  // (y, x)
        for (int o = 0; o < cfg.num_scales; ++o) {
            const double octave = static_cast<double>(o) / cfg.num_scales;
            const double base_x = cfg.anchor_scale * stride_x * std::pow(2.0, octave);
            const double base_y = cfg.anchor_scale * stride_y * std::pow(2.0, octave);
            for (const auto& a : cfg.aspects) half.push_back({base_y * a[1] / 2.0, base_x * a[0] / 2.0});
        }
        out.reserve(out.size() + ys.size() * xs.size() * half.size() * 4);
        for (double cy : ys)
            for (double cx : xs)
                for (const auto& hx : half) {
                    out.push_back(static_cast<float>(cy - hx[0]));
                    out.push_back(static_cast<float>(cx - hx[1]));
                    out.push_back(static_cast<float>(cy + hx[0]));
                    out.push_back(static_cast<float>(cx + hx[1]));
                }
    }
    return out;
}

// Anchor aspect ratios as effdet's configs spell them, e.g. "1.0,2.0,0.5" or
// "1.0x1.0,1.4x0.7,0.7x1.4": an `x` pair is (x, y) as given; a single ratio r is
// (sqrt(r), 1 / sqrt(r)), the box of area 1 with width / height r, computed as effdet's
// anchors.py does (numpy.sqrt, then 1.0 / that). Ratios must be finite and > 0, at most 64.
inline std::vector<std::array<double, 2>> parse_aspect_ratios(const std::string& text) {
    auto bad = [&](const std::string& why) -> void {
        fail(cat("aspect ratios '", text, "'"), "detect::parse_aspect_ratios",
             cat(why, " (write \"1.0,2.0,0.5\" or x/y pairs \"1.0x1.0,1.4x0.7,0.7x1.4\")"));
    };
    auto number = [&](const std::string& s) {
        std::size_t used = 0;
        double v = 0;
        try {
            v = std::stod(s, &used);
        } catch (const std::exception&) {
            used = 0;
        }
        if (s.empty() || used != s.size() || !std::isfinite(v) || !(v > 0)) bad(cat("'", s, "' is not a positive number"));
        return v;
    };
    std::vector<std::array<double, 2>> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        std::string item = text.substr(start, comma - start);
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        const std::size_t x = item.find('x');
        if (x != std::string::npos) {
            out.push_back({number(item.substr(0, x)), number(item.substr(x + 1))});
        } else {
            const double ax = std::sqrt(number(item));
            out.push_back({ax, 1.0 / ax});
        }
        if (out.size() > 64) bad("more than 64 ratios");
        start = comma + 1;
    }
    return out;
}

// The spelling parse_aspect_ratios reads back to the same pairs: "AxB" with each value in
// the shortest form that round-trips (for metadata and messages).
inline std::string format_aspect_ratios(const std::vector<std::array<double, 2>>& aspects) {
    auto shortest = [](double v) {
        char buf[32];
        for (int precision = 1; precision <= 17; ++precision) {
            std::snprintf(buf, sizeof buf, "%.*g", precision, v);
            if (std::strtod(buf, nullptr) == v) break;
        }
        return std::string(buf);
    };
    std::string s;
    for (const auto& a : aspects) s += (s.empty() ? "" : ",") + shortest(a[0]) + "x" + shortest(a[1]);
    return s;
}

}  // namespace detect
EDET_NAMESPACE_END
