// edet/detect/draw.hpp - boxes and labels drawn onto an RGB image.
//
//   draw_box(img, box, {255, 0, 0});                  // a 2-pixel outline, clipped to the image
//   draw_text(img, 10, 10, "dog 0.87", {255,255,255}, {0,0,0});
//   draw_detections(img, rows_with_labels);            // colour per class, label above the box
//
// The text uses a small 5x7 bitmap font made for edet (lower-case letters, digits and a few
// signs; upper case is drawn as lower case, anything else as a hollow box), scaled by an
// integer factor. Nothing here allocates except the strings it is given.
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "edet/io/image.hpp"

EDET_NAMESPACE_BEGIN
namespace detect {

using Rgb = std::array<std::uint8_t, 3>;

namespace detail {

struct Glyph {
    char ch;
    const char* rows[7];  // 5 columns each, '#' = ink
};

// clang-format off
inline const Glyph* glyphs(std::size_t& count) {
    static const Glyph table[] = {
        {'a', {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"}},
        {'b', {"#....", "#....", "####.", "#...#", "#...#", "#...#", "####."}},
        {'c', {".....", ".....", ".####", "#....", "#....", "#....", ".####"}},
        {'d', {"....#", "....#", ".####", "#...#", "#...#", "#...#", ".####"}},
        {'e', {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."}},
        {'f', {"..##.", ".#...", "####.", ".#...", ".#...", ".#...", ".#..."}},
        {'g', {".....", ".####", "#...#", "#...#", ".####", "....#", ".###."}},
        {'h', {"#....", "#....", "####.", "#...#", "#...#", "#...#", "#...#"}},
        {'i', {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."}},
        {'j', {"...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##.."}},
        {'k', {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."}},
        {'l', {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."}},
        {'m', {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#.#.#", "#...#"}},
        {'n', {".....", ".....", "####.", "#...#", "#...#", "#...#", "#...#"}},
        {'o', {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."}},
        {'p', {".....", "####.", "#...#", "#...#", "####.", "#....", "#...."}},
        {'q', {".....", ".####", "#...#", "#...#", ".####", "....#", "....#"}},
        {'r', {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."}},
        {'s', {".....", ".....", ".####", "#....", ".###.", "....#", "####."}},
        {'t', {".#...", ".#...", "####.", ".#...", ".#...", ".#..#", "..##."}},
        {'u', {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"}},
        {'v', {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."}},
        {'w', {".....", ".....", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."}},
        {'x', {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"}},
        {'y', {".....", "#...#", "#...#", "#...#", ".####", "....#", ".###."}},
        {'z', {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"}},
        {'0', {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."}},
        {'1', {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."}},
        {'2', {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"}},
        {'3', {"####.", "....#", "....#", ".###.", "....#", "....#", "####."}},
        {'4', {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."}},
        {'5', {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."}},
        {'6', {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."}},
        {'7', {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."}},
        {'8', {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."}},
        {'9', {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."}},
        {' ', {".....", ".....", ".....", ".....", ".....", ".....", "....."}},
        {'.', {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."}},
        {',', {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."}},
        {':', {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."}},
        {'-', {".....", ".....", ".....", "#####", ".....", ".....", "....."}},
        {'_', {".....", ".....", ".....", ".....", ".....", ".....", "#####"}},
        {'%', {"##..#", "##..#", "...#.", "..#..", ".#...", "#..##", "#..##"}},
        {'/', {"....#", "....#", "...#.", "..#..", ".#...", "#....", "#...."}},
        {'(', {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."}},
        {')', {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."}},
        {'#', {".#.#.", ".#.#.", "#####", ".#.#.", "#####", ".#.#.", ".#.#."}},
        {'?', {".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."}},
    };
    count = sizeof table / sizeof table[0];
    return table;
}
// clang-format on

// The 7 rows of a character as 5-bit masks (bit 4 = leftmost column).
inline std::array<std::uint8_t, 7> glyph_bits(char ch) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::size_t n = 0;
    const Glyph* g = glyphs(n);
    std::array<std::uint8_t, 7> bits{};
    for (std::size_t i = 0; i < n; ++i)
        if (g[i].ch == c) {
            for (int r = 0; r < 7; ++r) {
                std::uint8_t m = 0;
                for (int col = 0; col < 5; ++col)
                    if (g[i].rows[r][col] == '#') m = static_cast<std::uint8_t>(m | (1u << (4 - col)));
                bits[static_cast<std::size_t>(r)] = m;
            }
            return bits;
        }
    return {0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F};  // unknown: a hollow box
}

inline void put(io::Image& img, int x, int y, const Rgb& c) {
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
    std::uint8_t* p = img.at(x, y);
    p[0] = c[0];
    p[1] = c[1];
    p[2] = c[2];
}

}  // namespace detail

// Fills [x0, x1) x [y0, y1), clipped to the image.
inline void fill_rect(io::Image& img, int x0, int y0, int x1, int y1, const Rgb& c) {
    x0 = std::max(x0, 0);
    y0 = std::max(y0, 0);
    x1 = std::min(x1, img.width);
    y1 = std::min(y1, img.height);
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) detail::put(img, x, y, c);
}

// Pixel extent of a string at a scale: 6 * scale per character (5 + 1 spacing), 7 * scale high.
inline int text_width(const std::string& s, int scale = 1) { return static_cast<int>(s.size()) * 6 * scale; }
inline int text_height(int scale = 1) { return 7 * scale; }

// Draws text with its top-left corner at (x, y); pixels outside the image are skipped.
inline void draw_text(io::Image& img, int x, int y, const std::string& s, const Rgb& ink, int scale = 1) {
    scale = std::max(scale, 1);
    for (std::size_t i = 0; i < s.size(); ++i) {
        const std::array<std::uint8_t, 7> bits = detail::glyph_bits(s[i]);
        const int gx = x + static_cast<int>(i) * 6 * scale;
        for (int r = 0; r < 7; ++r)
            for (int col = 0; col < 5; ++col)
                if (bits[static_cast<std::size_t>(r)] & (1u << (4 - col)))
                    fill_rect(img, gx + col * scale, y + r * scale, gx + (col + 1) * scale, y + (r + 1) * scale, ink);
    }
}

// Integer pixel rectangle of a float box: columns [x0, x1], rows [y0, y1] inclusive,
// rounded to the nearest pixel.
struct PixelRect {
    int x0, y0, x1, y1;
};
inline PixelRect pixel_rect(float x1, float y1, float x2, float y2) {
    auto r = [](float v) {
        if (std::isnan(v)) return -1000000000;
        return static_cast<int>(std::lround(std::min(std::max(static_cast<double>(v), -1e9), 1e9)));
    };
    PixelRect p{r(std::min(x1, x2)), r(std::min(y1, y2)), r(std::max(x1, x2)), r(std::max(y1, y2))};
    return p;
}

// Draws the outline of a rectangle `thickness` pixels wide, inward from its edges.
inline void draw_rect(io::Image& img, const PixelRect& r, const Rgb& c, int thickness = 2) {
    thickness = std::max(thickness, 1);
    const int t = std::min(thickness, std::max(1, std::min(r.x1 - r.x0 + 1, r.y1 - r.y0 + 1)));
    fill_rect(img, r.x0, r.y0, r.x1 + 1, r.y0 + t, c);          // top
    fill_rect(img, r.x0, r.y1 - t + 1, r.x1 + 1, r.y1 + 1, c);  // bottom
    fill_rect(img, r.x0, r.y0, r.x0 + t, r.y1 + 1, c);          // left
    fill_rect(img, r.x1 - t + 1, r.y0, r.x1 + 1, r.y1 + 1, c);  // right
}

// A distinct colour per class id.
inline Rgb class_color(int class_id) {
    static const Rgb palette[] = {{230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},
                                  {245, 130, 48}, {145, 30, 180}, {70, 240, 240}, {240, 50, 230},
                                  {210, 245, 60}, {250, 190, 212}, {0, 128, 128}, {220, 190, 255},
                                  {170, 110, 40}, {255, 250, 200}, {128, 0, 0},   {170, 255, 195}};
    const std::size_t n = sizeof palette / sizeof palette[0];
    return palette[static_cast<std::size_t>(class_id < 0 ? -class_id : class_id) % n];
}

struct DrawItem {
    float x1, y1, x2, y2;  // image pixels
    int class_id;
    std::string text;      // "" = no label
};

struct DrawOptions {
    int thickness = 2;
    int text_scale = 2;
    bool labels = true;
};

// Draws each item's box in its class colour with its text on a filled tag above the box
// (inside it when there is no room above).
inline void draw_detections(io::Image& img, const std::vector<DrawItem>& items, const DrawOptions& opt = {}) {
    for (const DrawItem& it : items) {
        const Rgb c = class_color(it.class_id);
        const PixelRect r = pixel_rect(it.x1, it.y1, it.x2, it.y2);
        draw_rect(img, r, c, opt.thickness);
        if (!opt.labels || it.text.empty()) continue;
        const int s = std::max(opt.text_scale, 1);
        const int tw = text_width(it.text, s) + 2 * s, th = text_height(s) + 2 * s;
        int ty = r.y0 - th;
        if (ty < 0) ty = std::max(r.y0, 0);
        const int tx = std::min(std::max(r.x0, 0), std::max(img.width - tw, 0));
        fill_rect(img, tx, ty, tx + tw, ty + th, c);
        const int luma = 299 * c[0] + 587 * c[1] + 114 * c[2];
        const Rgb ink = luma > 128000 ? Rgb{0, 0, 0} : Rgb{255, 255, 255};
        draw_text(img, tx + s, ty + s, it.text, ink, s);
    }
}

}  // namespace detect
EDET_NAMESPACE_END
