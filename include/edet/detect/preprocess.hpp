// edet/detect/preprocess.hpp - image -> network input, as effdet's evaluation loader does it.
//
//   Letterbox lb = letterbox(img, PreprocessOptions::for_variant("tf_efficientdet_d0"));
//   // lb.input: float {1, 512, 512, 3}, lb.scale: network pixels per image pixel
//
// The effdet eval transform (ResizePad + PrefetchLoader), step by step:
//   scale   = min(H / h, W / w)                          (double)
//   resized = (int(h * scale), int(w * scale))           (truncated)
//   resize the 8-bit RGB image with Pillow's BILINEAR    (bit-exact, see resize_bilinear_pillow)
//   paste at the top-left of an H x W canvas filled with round(255 * mean)
//   x = (u8 - float(255 * mean)) / float(255 * std)      (float32)
//
//   +------------------+-----+
//   | resized image    | fill|   H x W canvas, image at (0, 0)
//   +------------------+     |
//   | fill                   |
//   +------------------------+
//
// The automl (TensorFlow) variant normalises first, resizes with plain bilinear
// interpolation (half-pixel centres, no antialiasing) in float and pads with zeros; it is
// offered as PreprocessOptions::Mode::automl for checkpoints exported from automl.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/core/parallel.hpp"
#include "edet/detect/variants.hpp"
#include "edet/io/image.hpp"
#include "edet/tensor/tensor.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

// ---- Pillow's bilinear resampling, bit-exact -------------------------------------------
//
// Pillow (libImaging/Resample.c) resizes in two separable passes, horizontal then vertical,
// each rounded back to 8 bits. Along one axis, from `in` to `out` pixels:
//   scale   = in / out;  filter_scale = max(scale, 1);  support = 1 * filter_scale
//   output i reads inputs [first, first + count):
//     center = (i + 0.5) * scale
//     first  = max(int(center - support + 0.5), 0)
//     count  = min(int(center + support + 0.5), in) - first
//     w_j    = triangle((first + j - center + 0.5) / filter_scale), normalised to sum 1 (double)
//   weights become 22-bit fixed point (32 - 8 bits of pixel - 2 guard bits), rounded half away
//   from zero; a pixel is  clip8((2^21 + sum_j p_j * k_j) >> 22).
// A pass whose size does not change is skipped, as in Pillow.

inline constexpr int kPillowPrecisionBits = 32 - 8 - 2;

struct ResampleTaps {
    int in_size = 0;
    int out_size = 0;
    int max_taps = 0;               // coefficients stored per output
    std::vector<int> first;         // first input index per output
    std::vector<int> count;         // number of inputs per output
    std::vector<std::int32_t> coeffs;  // out_size * max_taps, fixed point
};

inline double triangle_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

inline ResampleTaps pillow_bilinear_taps(int in_size, int out_size) {
    if (in_size < 1 || out_size < 1)
        fail("resize", "detect::pillow_bilinear_taps", cat("sizes must be >= 1, got ", in_size, " -> ", out_size));
    ResampleTaps t;
    t.in_size = in_size;
    t.out_size = out_size;
    const double scale = static_cast<double>(in_size) / out_size;
    const double filter_scale = std::max(scale, 1.0);
    const double support = 1.0 * filter_scale;
    t.max_taps = static_cast<int>(std::ceil(support)) * 2 + 1;
    t.first.resize(static_cast<std::size_t>(out_size));
    t.count.resize(static_cast<std::size_t>(out_size));
    t.coeffs.assign(static_cast<std::size_t>(out_size) * static_cast<std::size_t>(t.max_taps), 0);
    std::vector<double> w(static_cast<std::size_t>(t.max_taps));
    const double inv_filter_scale = 1.0 / filter_scale;
    for (int i = 0; i < out_size; ++i) {
        const double center = (i + 0.5) * scale;
        const int first = std::max(static_cast<int>(center - support + 0.5), 0);
        const int count = std::min(static_cast<int>(center + support + 0.5), in_size) - first;
        double total = 0.0;
        for (int j = 0; j < count; ++j) {
            // parity: Pillow multiplies by the reciprocal of the filter scale.
            w[static_cast<std::size_t>(j)] = triangle_filter((j + first - center + 0.5) * inv_filter_scale);
            total += w[static_cast<std::size_t>(j)];
        }
        std::int32_t* k = &t.coeffs[static_cast<std::size_t>(i) * static_cast<std::size_t>(t.max_taps)];
        for (int j = 0; j < count; ++j) {
            const double v = total != 0.0 ? w[static_cast<std::size_t>(j)] / total : w[static_cast<std::size_t>(j)];
            const double fixed = v * static_cast<double>(1 << kPillowPrecisionBits);
            k[j] = static_cast<std::int32_t>(v < 0 ? fixed - 0.5 : fixed + 0.5);
        }
        t.first[static_cast<std::size_t>(i)] = first;
        t.count[static_cast<std::size_t>(i)] = count;
    }
    return t;
}

inline std::uint8_t pillow_clip8(std::int32_t acc) {
    if (acc <= 0) return 0;
    const std::int32_t v = acc >> kPillowPrecisionBits;
    return static_cast<std::uint8_t>(v > 255 ? 255 : v);
}

// Resizes an interleaved 8-bit image (`channels` bytes per pixel, rows packed) to
// out_w x out_h exactly as Pillow's Image.resize(..., BILINEAR).
inline std::vector<std::uint8_t> resize_bilinear_pillow(const std::uint8_t* src, int width, int height, int channels,
                                                       int out_w, int out_h) {
    if (!src || width < 1 || height < 1 || channels < 1 || out_w < 1 || out_h < 1)
        fail("resize", "detect::resize_bilinear_pillow",
             cat("bad arguments: ", width, "x", height, "x", channels, " -> ", out_w, "x", out_h));
    const auto C = static_cast<std::size_t>(channels);
    std::vector<std::uint8_t> cur(src, src + static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * C);
    int cur_w = width;
    if (out_w != width) {  // horizontal pass
        const ResampleTaps t = pillow_bilinear_taps(width, out_w);
        std::vector<std::uint8_t> next(static_cast<std::size_t>(out_w) * static_cast<std::size_t>(height) * C);
        parallel_for(0, height, 16, [&](std::int64_t y0, std::int64_t y1) {
            for (std::int64_t y = y0; y < y1; ++y) {
                const std::uint8_t* row = cur.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(width) * C;
                std::uint8_t* out = next.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(out_w) * C;
                for (int x = 0; x < out_w; ++x) {
                    const std::int32_t* k = &t.coeffs[static_cast<std::size_t>(x) * static_cast<std::size_t>(t.max_taps)];
                    const std::uint8_t* p = row + static_cast<std::size_t>(t.first[static_cast<std::size_t>(x)]) * C;
                    const int n = t.count[static_cast<std::size_t>(x)];
                    for (std::size_t ch = 0; ch < C; ++ch) {
                        std::int32_t acc = std::int32_t{1} << (kPillowPrecisionBits - 1);
                        for (int j = 0; j < n; ++j) acc += static_cast<std::int32_t>(p[static_cast<std::size_t>(j) * C + ch]) * k[j];
                        out[static_cast<std::size_t>(x) * C + ch] = pillow_clip8(acc);
                    }
                }
            }
        });
        cur.swap(next);
        cur_w = out_w;
    }
    if (out_h != height) {  // vertical pass
        const ResampleTaps t = pillow_bilinear_taps(height, out_h);
        const std::size_t row_bytes = static_cast<std::size_t>(cur_w) * C;
        std::vector<std::uint8_t> next(static_cast<std::size_t>(out_h) * row_bytes);
        parallel_for(0, out_h, 16, [&](std::int64_t y0, std::int64_t y1) {
            for (std::int64_t y = y0; y < y1; ++y) {
                const std::int32_t* k = &t.coeffs[static_cast<std::size_t>(y) * static_cast<std::size_t>(t.max_taps)];
                const std::uint8_t* base = cur.data() + static_cast<std::size_t>(t.first[static_cast<std::size_t>(y)]) * row_bytes;
                const int n = t.count[static_cast<std::size_t>(y)];
                std::uint8_t* out = next.data() + static_cast<std::size_t>(y) * row_bytes;
                for (std::size_t i = 0; i < row_bytes; ++i) {
                    std::int32_t acc = std::int32_t{1} << (kPillowPrecisionBits - 1);
                    for (int j = 0; j < n; ++j) acc += static_cast<std::int32_t>(base[static_cast<std::size_t>(j) * row_bytes + i]) * k[j];
                    out[i] = pillow_clip8(acc);
                }
            }
        });
        cur.swap(next);
    }
    return cur;
}

inline io::Image resize_bilinear_pillow(const io::Image& img, int out_w, int out_h) {
    io::Image out;
    out.width = out_w;
    out.height = out_h;
    out.rgb = resize_bilinear_pillow(img.rgb.data(), img.width, img.height, 3, out_w, out_h);
    return out;
}

// ---- letterbox -------------------------------------------------------------------------

struct PreprocessOptions {
    enum class Mode {
        effdet,  // Pillow bilinear on 8-bit pixels, fill colour, then normalise (the reference)
        automl,  // normalise, float bilinear (half-pixel centres), zero padding
    };
    int height = 512;  // network input size
    int width = 512;
    std::array<double, 3> mean{0.485, 0.456, 0.406};  // 0..1 scale, RGB
    std::array<double, 3> std{0.229, 0.224, 0.225};
    std::array<std::uint8_t, 3> fill{124, 116, 104};  // canvas colour (effdet mode)
    Mode mode = Mode::effdet;

    // The options a published variant was trained with (size from the variant table).
    static PreprocessOptions for_variant(const std::string& name) {
        const VariantInfo& v = variant_info(name);
        PreprocessOptions o;
        o.height = o.width = v.image_size;
        o.mean = v.mean;
        o.std = v.std;
        o.fill = v.fill;
        return o;
    }
};

// Geometry of a letterbox: how an image of image_w x image_h sits on the network canvas.
struct LetterboxGeometry {
    int image_w = 0, image_h = 0;      // original image
    int resized_w = 0, resized_h = 0;  // after scaling, pasted at (0, 0)
    double scale = 1.0;                // network pixels per image pixel
    // effdet's img_scale (image pixels per network pixel), as the float32 it uses.
    float img_scale() const { return static_cast<float>(1.0 / scale); }
};

inline LetterboxGeometry letterbox_geometry(int image_w, int image_h, int net_w, int net_h) {
    if (image_w < 1 || image_h < 1 || net_w < 1 || net_h < 1)
        fail("letterbox", "detect::letterbox_geometry",
             cat("sizes must be >= 1: image ", image_w, "x", image_h, ", network ", net_w, "x", net_h));
    LetterboxGeometry g;
    g.image_w = image_w;
    g.image_h = image_h;
    const double scale_h = static_cast<double>(net_h) / image_h;
    const double scale_w = static_cast<double>(net_w) / image_w;
    g.scale = std::min(scale_h, scale_w);
    // parity: Python's int() truncates; at least one pixel survives for extreme aspect ratios.
    g.resized_h = std::max(1, std::min(net_h, static_cast<int>(image_h * g.scale)));
    g.resized_w = std::max(1, std::min(net_w, static_cast<int>(image_w * g.scale)));
    return g;
}

namespace detail {

// TF2 tf.image.resize(bilinear): half-pixel centres, no antialiasing, float.
inline void resize_bilinear_float(const float* src, int w, int h, float* dst, int ow, int oh, std::size_t dst_row_stride) {
    const float sy = static_cast<float>(h) / static_cast<float>(oh);
    const float sx = static_cast<float>(w) / static_cast<float>(ow);
    for (int y = 0; y < oh; ++y) {
        const float fy = std::max(0.0f, (static_cast<float>(y) + 0.5f) * sy - 0.5f);
        const int y0 = std::min(static_cast<int>(fy), h - 1);
        const int y1 = std::min(y0 + 1, h - 1);
        const float ay = fy - static_cast<float>(y0);
        for (int x = 0; x < ow; ++x) {
            const float fx = std::max(0.0f, (static_cast<float>(x) + 0.5f) * sx - 0.5f);
            const int x0 = std::min(static_cast<int>(fx), w - 1);
            const int x1 = std::min(x0 + 1, w - 1);
            const float ax = fx - static_cast<float>(x0);
            for (int c = 0; c < 3; ++c) {
                auto px = [&](int yy, int xx) { return src[(static_cast<std::size_t>(yy) * static_cast<std::size_t>(w) + static_cast<std::size_t>(xx)) * 3 + static_cast<std::size_t>(c)]; };
                const float top = px(y0, x0) + (px(y0, x1) - px(y0, x0)) * ax;
                const float bot = px(y1, x0) + (px(y1, x1) - px(y1, x0)) * ax;
                dst[static_cast<std::size_t>(y) * dst_row_stride + static_cast<std::size_t>(x) * 3 + static_cast<std::size_t>(c)] = top + (bot - top) * ay;
            }
        }
    }
}

}  // namespace detail

// Writes the letterboxed, normalised image into `out` (shape {1, H, W, 3}, any strides)
// and returns the geometry.
inline LetterboxGeometry letterbox_into(const io::Image& img, const PreprocessOptions& opt, TensorView<float> out) {
    if (img.empty() || img.rgb.size() != static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height) * 3)
        fail("image", "detect::letterbox", cat("empty or inconsistent image ", img.width, "x", img.height));
    if (out.n() != 1 || out.h() != opt.height || out.w() != opt.width || out.c() != 3)
        fail("letterbox output " + out.shape().str(), "detect::letterbox",
             cat("expected {n=1, h=", opt.height, ", w=", opt.width, ", c=3}"));
    for (int c = 0; c < 3; ++c)
        if (!(opt.std[static_cast<std::size_t>(c)] > 0.0))
            fail("normalisation", "detect::letterbox", cat("std[", c, "] = ", opt.std[static_cast<std::size_t>(c)], " must be > 0"));
    const LetterboxGeometry g = letterbox_geometry(img.width, img.height, opt.width, opt.height);
    std::array<float, 3> mean255{}, std255{};
    for (std::size_t c = 0; c < 3; ++c) {
        // parity: effdet's loader holds 255*mean and 255*std (computed in double) as float32.
        mean255[c] = static_cast<float>(255.0 * opt.mean[c]);
        std255[c] = static_cast<float>(255.0 * opt.std[c]);
    }
    if (opt.mode == PreprocessOptions::Mode::effdet) {
        const io::Image resized = (g.resized_w == img.width && g.resized_h == img.height)
                                      ? img
                                      : resize_bilinear_pillow(img, g.resized_w, g.resized_h);
        std::array<float, 3> fill_value{};
        for (std::size_t c = 0; c < 3; ++c)
            fill_value[c] = (static_cast<float>(opt.fill[c]) - mean255[c]) / std255[c];
        for (int y = 0; y < opt.height; ++y) {
            float* row = out.pixel(0, y, 0);
            for (int x = 0; x < opt.width; ++x) {
                float* px = row + static_cast<std::size_t>(x) * out.strides().w;
                if (y < g.resized_h && x < g.resized_w) {
                    const std::uint8_t* p = resized.at(x, y);
                    for (std::size_t c = 0; c < 3; ++c) px[c] = (static_cast<float>(p[c]) - mean255[c]) / std255[c];
                } else {
                    for (std::size_t c = 0; c < 3; ++c) px[c] = fill_value[c];
                }
            }
        }
    } else {
        std::vector<float> normalised(img.rgb.size());
        for (std::size_t i = 0; i < img.rgb.size(); ++i)
            normalised[i] = (static_cast<float>(img.rgb[i]) - mean255[i % 3]) / std255[i % 3];
        for (int y = 0; y < opt.height; ++y)
            for (int x = 0; x < opt.width; ++x)
                for (int c = 0; c < 3; ++c) out.at(0, y, x, c) = 0.0f;
        std::vector<float> resized(static_cast<std::size_t>(g.resized_w) * static_cast<std::size_t>(g.resized_h) * 3);
        detail::resize_bilinear_float(normalised.data(), img.width, img.height, resized.data(), g.resized_w,
                                      g.resized_h, static_cast<std::size_t>(g.resized_w) * 3);
        for (int y = 0; y < g.resized_h; ++y)
            for (int x = 0; x < g.resized_w; ++x)
                for (int c = 0; c < 3; ++c)
                    out.at(0, y, x, c) = resized[(static_cast<std::size_t>(y) * static_cast<std::size_t>(g.resized_w) +
                                                  static_cast<std::size_t>(x)) * 3 + static_cast<std::size_t>(c)];
    }
    return g;
}

struct Letterbox {
    Tensor<float> input;        // {1, H, W, 3}, normalised
    LetterboxGeometry geometry;
};

inline Letterbox letterbox(const io::Image& img, const PreprocessOptions& opt) {
    Letterbox lb;
    lb.input = Tensor<float>(Shape{1, opt.height, opt.width, 3});
    lb.geometry = letterbox_into(img, opt, lb.input.view());
    return lb;
}

}  // namespace detect
EDET_NAMESPACE_END
