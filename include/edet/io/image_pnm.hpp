// edet/io/image_pnm.hpp - binary PGM (P5) and PPM (P6) images, read by edet itself.
//
//   io::PnmHeader h = io::parse_pnm_header(bytes, size, "photo.ppm");  // throws on bad files
//   io::decode_pnm_rgb(bytes, h, rgb);                                  // w*h*3 bytes out
//
// Why not stb_image: stb 2.30 reads 16-bit samples (maxval > 255) in host byte order
// (PNM is big-endian, so 0x1234 came out as 0x34 on x86) and ignores maxval below 255, and
// stb 2.27 read past its buffer converting 16-bit PGM. The format is a text header and raw
// samples, so reading it here is shorter than working around stb.
//
// Header grammar (netpbm): magic, width, height, maxval as decimal numbers separated by
// whitespace, '#' comments to the end of a line anywhere between them, then exactly one
// whitespace byte and the samples: width*height*channels samples, 1 byte each when
// maxval < 256, else 2 bytes big-endian. Samples are scaled to 0..255 as
// round(v * 255 / maxval); a sample above maxval is refused as corrupt. Bytes after the
// samples (netpbm allows several images in one file) are ignored: we read the first.
// ASCII variants (P1-P3) and bitmaps (P4) are not supported.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "edet/core/error.hpp"

EDET_NAMESPACE_BEGIN
namespace io {

struct PnmHeader {
    int width = 0;
    int height = 0;
    int channels = 0;           // 1 (P5 grey) or 3 (P6 RGB)
    std::uint32_t maxval = 0;   // 1..65535
    std::size_t data_offset = 0;  // first sample byte
    int sample_bytes() const noexcept { return maxval > 255 ? 2 : 1; }
    // Bytes of samples the header promises.
    std::uint64_t data_bytes() const noexcept {
        return std::uint64_t(width) * std::uint64_t(height) * std::uint64_t(channels) *
               std::uint64_t(sample_bytes());
    }
};

inline bool is_pnm(const std::uint8_t* p, std::size_t n) noexcept {
    return n >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6');
}

// Parses and checks the header: numbers well formed, maxval in 1..65535, width and height
// at least 1 and at most max_side, and every sample present in the file (a truncated file
// is refused, never padded). Throws edet::Error naming the check.
inline PnmHeader parse_pnm_header(const std::uint8_t* p, std::size_t n, const std::string& name,
                                  std::uint32_t max_side) {
    if (!is_pnm(p, n)) fail("image", name, "PNM header: not a binary PGM (P5) or PPM (P6) file");
    std::size_t pos = 2;
    auto is_space = [](std::uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
    // Reads one decimal number after whitespace and comments; at most 9 digits (no overflow).
    auto number = [&](const char* field) -> std::uint32_t {
        for (;;) {
            while (pos < n && is_space(p[pos])) ++pos;
            if (pos < n && p[pos] == '#') {
                while (pos < n && p[pos] != '\n' && p[pos] != '\r') ++pos;
                continue;
            }
            break;
        }
        if (pos >= n) fail("image", name, cat("PNM header: the file ends before the ", field));
        if (p[pos] < '0' || p[pos] > '9')
            fail("image", name, cat("PNM header: the ", field, " is not a decimal number (byte ", int(p[pos]), " at offset ", pos, ")"));
        std::uint32_t v = 0;
        int digits = 0;
        while (pos < n && p[pos] >= '0' && p[pos] <= '9') {
            if (++digits > 9) fail("image", name, cat("PNM header: the ", field, " has more than 9 digits"));
            v = v * 10 + std::uint32_t(p[pos] - '0');
            ++pos;
        }
        return v;
    };
    PnmHeader h;
    h.channels = p[1] == '5' ? 1 : 3;
    const std::uint32_t w = number("width");
    const std::uint32_t ht = number("height");
    h.maxval = number("maxval");
    if (w < 1 || ht < 1 || w > max_side || ht > max_side)
        fail("image", name, cat("PNM header: declared size ", w, "x", ht, " is outside the limits (each side 1 to ", max_side, ")"));
    h.width = int(w);
    h.height = int(ht);
    if (h.maxval < 1 || h.maxval > 65535)
        fail("image", name, cat("PNM header: maxval ", h.maxval, " is outside 1..65535"));
    if (pos >= n || !is_space(p[pos]))
        fail("image", name, "PNM header: no whitespace byte between maxval and the samples");
    h.data_offset = pos + 1;
    const std::uint64_t have = n - h.data_offset;
    if (have < h.data_bytes())
        fail("image", name, cat("truncated PNM: ", w, "x", ht, "x", h.channels, " samples of ", h.sample_bytes(),
                                " byte(s) need ", h.data_bytes(), " bytes, the file has ", have));
    return h;
}

// Writes width*height*3 bytes of 8-bit RGB to `rgb` from a header parse_pnm_header accepted
// on the same bytes. Grey is replicated to R, G and B.
inline void decode_pnm_rgb(const std::uint8_t* p, const PnmHeader& h, std::uint8_t* rgb, const std::string& name) {
    const std::uint8_t* s = p + h.data_offset;
    const std::size_t pixels = std::size_t(h.width) * std::size_t(h.height);
    const std::size_t samples = pixels * std::size_t(h.channels);
    const std::uint32_t maxval = h.maxval;
    const bool wide = h.sample_bytes() == 2;
    auto scaled = [&](std::size_t i) -> std::uint8_t {
        const std::uint32_t v = wide ? (std::uint32_t(s[2 * i]) << 8 | s[2 * i + 1]) : s[i];
        if (v > maxval) fail("image", name, cat("PNM samples: sample ", i, " is ", v, ", above maxval ", maxval));
        return static_cast<std::uint8_t>((v * 255u + maxval / 2) / maxval);
    };
    if (h.channels == 3) {
        for (std::size_t i = 0; i < samples; ++i) rgb[i] = scaled(i);
    } else {
        for (std::size_t i = 0; i < pixels; ++i) {
            const std::uint8_t g = scaled(i);
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g;
        }
    }
}

}  // namespace io
EDET_NAMESPACE_END
