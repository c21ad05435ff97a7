// edet/io/image_checks.hpp - what an image file must prove before a decoder touches it.
//
//   io::ImageFileFacts f = io::check_image_file(bytes, size, "dog.jpg");  // throws edet::Error
//
// stb_image (third_party/stb) is a good decoder for honest files, but on hostile ones it
// trusts the file: it allocates whatever size the header declares, pads missing data with
// zeros, and older releases wrote past their arrays (JPEG Huffman tables, 16-bit PGM). So
// before stb decodes anything, edet walks the file's structure itself (in time linear in the
// file size) and refuses, with an edet::Error whose reason (Error::why) starts with the name
// of the failed check:
//
//   every format   declared size: each side 1..kMaxImageSide, area <= kMaxImagePixels.
//   JPEG           "JPEG segment"  every marker segment lies inside the file;
//                  "JPEG DHT"      table class 0/1, id 0..3, at most 256 codes, all present;
//                  "JPEG DQT"      precision 8/16 bit, id 0..3, 64 or 128 bytes per table;
//                  "JPEG SOF"      one frame; length 8+3*components; components 1, 3 or 4;
//                                  8-bit; width, height > 0; sampling 1..4; table id 0..3;
//                  "JPEG SOS"      after the SOF; length 6+2*components; components exist,
//                                  each once; Huffman tables it uses were defined; spectral
//                                  selection valid (baseline 0..63, progressive DC or AC);
//                  "JPEG scans"    every component has a (DC) scan, and each such scan has at
//                                  least one bit of data per 8x8 block it codes (so missing
//                                  data is not invented);
//                  "JPEG size"     area <= kJpegPixelsPerByte * file size (that bit per block);
//                  "truncated JPEG (no end-of-image marker after the last scan)".
//                  The whole file is walked, progressive scans and the tables between them.
//   PNG            "PNG chunk"     chunk lengths inside the file, IHDR first, IEND present;
//                  "PNG IHDR"      valid bit depth / colour type / methods;
//                  "PNG size"      the inflated size the header implies (rows, filter bytes,
//                                  interlace passes) is at most kPngMaxRawBytes and at most
//                                  kDeflateMaxRatio times the IDAT bytes present.
//                  io/image.hpp then inflates IDAT into a buffer of exactly that size and
//                  refuses a stream that yields more or less ("PNG data") before stb runs,
//                  so a 1x1 PNG cannot make stb inflate gigabytes.
//   BMP            "BMP header"    known header size, 1 plane, bpp 1/4/8/16/24/32, no RLE;
//                  "truncated BMP" every row of pixel data present after the data offset.
//   TGA            "TGA header"    image/colour-map types stb reads, pixel sizes;
//                  "truncated TGA" uncompressed: every pixel present; RLE: the packets are
//                                  walked and must cover every pixel inside the file (a
//                                  packet of 1+bpp bytes gives at most 128 pixels).
//   GIF            "GIF block"     blocks and sub-blocks inside the file, trailer present;
//                  "GIF frame"     the first frame inside the logical screen, non-empty,
//                                  LZW code size 1..8, and its LZW data long enough to
//                                  give the frame's pixels (bound: lzw_max_pixels);
//                  "GIF screen"    the screen (the picture returned) no larger than that
//                                  bound either: stb allocates ~9 bytes per screen pixel and
//                                  fills what the first frame does not cover with background,
//                                  so a huge screen around a tiny frame is invented picture.
//   PNM            io/image_pnm.hpp: "PNM header" (numbers, maxval 1..65535, sizes),
//                  "truncated PNM" (every sample present), "PNM samples" (none above
//                  maxval, checked while decoding); edet decodes PNM itself, not stb.
//
// Formats are recognised the way stb recognises them (JPEG FF D8, PNG signature, "BM",
// "GIF87a"/"GIF89a", "P5"/"P6"; TGA by its header fields), and a file no check recognises is
// refused here, so stb only ever sees files these checks accepted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/image_pnm.hpp"

EDET_NAMESPACE_BEGIN
namespace io {

// Largest image accepted: 16384 pixels per side and 256 MP (16k x 16k) in total.
inline constexpr int kMaxImageSide = 16384;
inline constexpr std::int64_t kMaxImagePixels = std::int64_t{256} << 20;
// Largest image file read into memory.
inline constexpr std::int64_t kMaxImageFileBytes = std::int64_t{1} << 30;

// Pixel budgets of the compressed formats, each from the format's best possible compression
// (so no honest file can exceed them):
// JPEG: every 8x8 block of every component is coded in some scan (baseline, or a
// progressive DC scan) with at least one bit (a Huffman code is at least 1 bit long) and a
// block covers at most 64 pixels (8x8 at full sampling; subsampled components cover more
// pixels but the MCU always has Hmax*Vmax full-size blocks), so a file of n bytes codes at
// most 64 * 8 * n = 512 n pixels.
inline constexpr std::uint64_t kJpegPixelsPerByte = 512;
// PNG: deflate's best ratio is 258 bytes per length/distance pair of at least 2 bits,
// i.e. 1032:1; IDAT holding c bytes inflates to at most 1032 c bytes.
inline constexpr std::uint64_t kDeflateMaxRatio = 1032;
// PNG: largest inflated image data (rows plus one filter byte each) accepted: 1 GiB, which
// is an 8-byte-per-pixel (RGBA16) image of 128 MP. stb holds sizes in int.
inline constexpr std::uint64_t kPngMaxRawBytes = std::uint64_t{1} << 30;

enum class ImageFormat { jpeg, png, bmp, tga, gif, pnm };

inline const char* format_name(ImageFormat f) noexcept {
    switch (f) {
        case ImageFormat::jpeg: return "JPEG";
        case ImageFormat::png: return "PNG";
        case ImageFormat::bmp: return "BMP";
        case ImageFormat::tga: return "TGA";
        case ImageFormat::gif: return "GIF";
        case ImageFormat::pnm: return "PNM";
    }
    return "?";
}

// What the checks learned, for the decoder that follows.
struct ImageFileFacts {
    ImageFormat format = ImageFormat::jpeg;
    int width = 0;   // of the picture returned (for GIF: the logical screen)
    int height = 0;
    // PNG only: the IDAT payloads in order, the exact inflated size the header implies, and
    // whether the file is Apple's CgBI variant (raw deflate without a zlib header).
    std::vector<std::pair<std::size_t, std::size_t>> png_idat;  // (offset, length)
    std::uint64_t png_raw_bytes = 0;
    bool png_cgbi = false;
    PnmHeader pnm;  // PNM only
};

namespace detail {

inline std::uint32_t be16(const std::uint8_t* p) { return std::uint32_t(p[0]) << 8 | p[1]; }
inline std::uint32_t be32(const std::uint8_t* p) {
    return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}
inline std::uint32_t le16(const std::uint8_t* p) { return std::uint32_t(p[1]) << 8 | p[0]; }
inline std::uint32_t le32(const std::uint8_t* p) {
    return std::uint32_t(p[3]) << 24 | std::uint32_t(p[2]) << 16 | std::uint32_t(p[1]) << 8 | p[0];
}

inline void check_declared_size(std::uint64_t w, std::uint64_t h, const char* format, const std::string& name) {
    if (w < 1 || h < 1 || w > std::uint64_t(kMaxImageSide) || h > std::uint64_t(kMaxImageSide) ||
        w * h > std::uint64_t(kMaxImagePixels))
        fail("image", name,
             cat(format, " declared size ", w, "x", h, " is outside the limits (at most ", kMaxImageSide,
                 " per side and ", kMaxImagePixels, " pixels)"));
}

// ---- JPEG -------------------------------------------------------------------------------

inline void check_jpeg(const std::uint8_t* p, std::size_t n, const std::string& name, ImageFileFacts& facts) {
    struct Component {
        int id = -1, h = 0, v = 0, tq = 0;
        bool has_scan = false;
    };
    Component comp[4];
    int ncomp = 0;
    bool have_sof = false, progressive = false, have_scan = false, have_eoi = false;
    bool dqt[4] = {}, dht[2][4] = {};
    auto where = [](std::size_t at) { return cat(" (segment at offset ", at, ")"); };
    std::size_t pos = 2;  // after SOI (FF D8)
    while (pos < n) {
        if (p[pos] != 0xFF)
            fail("image", name, cat("JPEG segment: expected a marker at offset ", pos, ", found byte ", int(p[pos])));
        while (pos < n && p[pos] == 0xFF) ++pos;  // fill bytes before a marker
        if (pos >= n) break;
        const std::size_t at = pos - 1;
        const int m = p[pos++];
        if (m == 0xD9) {  // EOI
            have_eoi = true;
            break;
        }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // TEM, stray RST: no length
        if (m == 0x00 || m == 0xD8)
            fail("image", name, cat("JPEG segment: unexpected marker ", m == 0 ? "FF 00" : "SOI", where(at)));
        if (pos + 2 > n) fail("image", name, cat("JPEG segment: the file ends inside a segment length", where(at)));
        const std::size_t len = be16(p + pos);
        if (len < 2 || pos + len > n)
            fail("image", name, cat("JPEG segment: marker FF ", m, " declares ", len, " bytes, ",
                                    len < 2 ? "less than its 2-byte length field" : "past the end of the file", where(at)));
        const std::uint8_t* s = p + pos + 2;  // segment body
        const std::size_t body = len - 2;
        pos += len;
        if (m == 0xC4) {  // DHT: one or more tables
            std::size_t i = 0;
            while (i < body) {
                const int tc = s[i] >> 4, th = s[i] & 15;
                if (tc > 1 || th > 3)
                    fail("image", name, cat("JPEG DHT: table class ", tc, " id ", th, " (class must be 0 or 1, id 0..3)", where(at)));
                if (i + 17 > body) fail("image", name, cat("JPEG DHT: segment too short for the 16 code counts", where(at)));
                std::size_t codes = 0;
                for (int k = 1; k <= 16; ++k) codes += s[i + std::size_t(k)];
                if (codes > 256)
                    fail("image", name, cat("JPEG DHT: table declares ", codes, " codes, more than 256", where(at)));
                if (i + 17 + codes > body)
                    fail("image", name, cat("JPEG DHT: segment too short for its ", codes, " code values", where(at)));
                dht[tc][th] = true;
                i += 17 + codes;
            }
        } else if (m == 0xDB) {  // DQT: one or more tables of 64 8-bit or 16-bit entries
            std::size_t i = 0;
            while (i < body) {
                const int pq = s[i] >> 4, tq = s[i] & 15;
                if (pq > 1 || tq > 3)
                    fail("image", name, cat("JPEG DQT: precision ", pq, " id ", tq, " (precision must be 0 or 1, id 0..3)", where(at)));
                const std::size_t size = pq ? 128 : 64;
                if (i + 1 + size > body)
                    fail("image", name, cat("JPEG DQT: segment of ", body, " bytes too short for a ", size, "-byte table", where(at)));
                dqt[tq] = true;
                i += 1 + size;
            }
        } else if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {  // SOFn
            if (m != 0xC0 && m != 0xC1 && m != 0xC2)
                fail("image", name, cat("JPEG SOF: coding process of marker FF ", m,
                                        " (lossless or arithmetic) is not supported, only baseline and progressive Huffman"));
            if (have_sof) fail("image", name, cat("JPEG SOF: more than one frame header", where(at)));
            have_sof = true;
            progressive = m == 0xC2;
            if (body < 6) fail("image", name, cat("JPEG SOF: segment of ", body, " bytes, too short", where(at)));
            ncomp = s[5];
            if (ncomp != 1 && ncomp != 3 && ncomp != 4)
                fail("image", name, cat("JPEG SOF: ", ncomp, " components (must be 1, 3 or 4)", where(at)));
            if (len != 8 + 3 * std::size_t(ncomp))
                fail("image", name, cat("JPEG SOF: length ", len, " does not match 8 + 3 * ", ncomp, " components", where(at)));
            if (s[0] != 8) fail("image", name, cat("JPEG SOF: ", int(s[0]), "-bit samples (only 8-bit is supported)"));
            const std::uint32_t h = be16(s + 1), w = be16(s + 3);
            if (w == 0 || h == 0) fail("image", name, cat("JPEG SOF: declared size ", w, "x", h, " has a zero side"));
            check_declared_size(w, h, "JPEG", name);
            if (std::uint64_t(w) * h > kJpegPixelsPerByte * n)
                fail("image", name, cat("JPEG size: ", w, "x", h, " pixels cannot be coded in a file of ", n,
                                        " bytes (at most ", kJpegPixelsPerByte, " pixels per byte: every 8x8 block needs a bit)"));
            facts.width = int(w);
            facts.height = int(h);
            for (int c = 0; c < ncomp; ++c) {
                const std::uint8_t* e = s + 6 + 3 * c;
                comp[c].id = e[0];
                comp[c].h = e[1] >> 4;
                comp[c].v = e[1] & 15;
                comp[c].tq = e[2];
                if (comp[c].h < 1 || comp[c].h > 4 || comp[c].v < 1 || comp[c].v > 4)
                    fail("image", name, cat("JPEG SOF: component ", c, " sampling ", comp[c].h, "x", comp[c].v, " outside 1..4"));
                if (comp[c].tq > 3) fail("image", name, cat("JPEG SOF: component ", c, " quantisation table ", comp[c].tq, " outside 0..3"));
                for (int d = 0; d < c; ++d)
                    if (comp[d].id == comp[c].id) fail("image", name, cat("JPEG SOF: component id ", comp[c].id, " appears twice"));
            }
        } else if (m == 0xDA) {  // SOS, then entropy-coded data up to the next marker
            if (!have_sof) fail("image", name, cat("JPEG SOS: scan before the frame header (SOF)", where(at)));
            const int ns = body >= 1 ? s[0] : 0;
            if (ns < 1 || ns > ncomp)
                fail("image", name, cat("JPEG SOS: ", ns, " components in a scan of a ", ncomp, "-component frame", where(at)));
            if (len != 6 + 2 * std::size_t(ns))
                fail("image", name, cat("JPEG SOS: length ", len, " does not match 6 + 2 * ", ns, " components", where(at)));
            const int ss = s[1 + 2 * ns], se = s[2 + 2 * ns], ah = s[3 + 2 * ns] >> 4, al = s[3 + 2 * ns] & 15;
            if (!progressive) {
                if (ss != 0 || ah != 0 || al != 0)
                    fail("image", name, cat("JPEG SOS: baseline scan with spectral selection ", ss, "..", se,
                                            " or approximation ", ah, "/", al, " (must be 0.., 0/0)"));
            } else if (ss > se || se > 63 || ah > 13 || al > 13 || (ss == 0 && se != 0) || (ss > 0 && ns != 1)) {
                fail("image", name, cat("JPEG SOS: progressive scan with spectral selection ", ss, "..", se,
                                        ", approximation ", ah, "/", al, " and ", ns, " components is invalid"));
            }
            bool used[4] = {};
            for (int k = 0; k < ns; ++k) {
                const int cs = s[1 + 2 * k], td = s[2 + 2 * k] >> 4, ta = s[2 + 2 * k] & 15;
                int c = 0;
                while (c < ncomp && comp[c].id != cs) ++c;
                if (c == ncomp) fail("image", name, cat("JPEG SOS: component id ", cs, " is not in the frame"));
                if (used[c]) fail("image", name, cat("JPEG SOS: component id ", cs, " twice in one scan"));
                used[c] = true;
                if (td > 3 || ta > 3) fail("image", name, cat("JPEG SOS: Huffman table ids ", td, "/", ta, " outside 0..3"));
                const bool needs_dc = ss == 0 && ah == 0, needs_ac = !progressive || se > 0;
                if ((needs_dc && !dht[0][td]) || (needs_ac && !dht[1][ta]))
                    fail("image", name, cat("JPEG SOS: component id ", cs, " uses a Huffman table no DHT defined"));
                if (!dqt[comp[c].tq])
                    fail("image", name, cat("JPEG SOS: component id ", cs, " uses quantisation table ", comp[c].tq, " no DQT defined"));
                if (ss == 0 && ah == 0) comp[c].has_scan = true;
            }
            have_scan = true;
            // 8x8 blocks this scan codes when it codes DC (baseline, or a progressive first DC
            // scan): each takes at least one bit (a Huffman code), so the scan's data must
            // have blocks/8 bytes. stb would pad missing data with zeros and invent the rest.
            std::uint64_t blocks = 0;
            if (ss == 0 && ah == 0) {
                int hmax = 1, vmax = 1;
                for (int c = 0; c < ncomp; ++c) {
                    hmax = comp[c].h > hmax ? comp[c].h : hmax;
                    vmax = comp[c].v > vmax ? comp[c].v : vmax;
                }
                const std::uint64_t fw = std::uint64_t(facts.width), fh = std::uint64_t(facts.height);
                for (int c = 0; c < ncomp; ++c) {
                    if (!used[c]) continue;
                    const std::uint64_t hc = std::uint64_t(comp[c].h), vc = std::uint64_t(comp[c].v);
                    if (ns == 1) {  // non-interleaved: the component's own blocks
                        const std::uint64_t cw = (fw * hc + std::uint64_t(hmax) - 1) / std::uint64_t(hmax);
                        const std::uint64_t chh = (fh * vc + std::uint64_t(vmax) - 1) / std::uint64_t(vmax);
                        blocks += ((cw + 7) / 8) * ((chh + 7) / 8);
                    } else {  // interleaved: h*v blocks in every MCU
                        const std::uint64_t mcux = (fw + 8 * std::uint64_t(hmax) - 1) / (8 * std::uint64_t(hmax));
                        const std::uint64_t mcuy = (fh + 8 * std::uint64_t(vmax) - 1) / (8 * std::uint64_t(vmax));
                        blocks += mcux * mcuy * hc * vc;
                    }
                }
            }
            const std::size_t data_start = pos;
            // Entropy-coded data: FF 00 is a stuffed FF byte and FF D0..D7 a restart marker;
            // any other FF xx (after fill FFs) is the next marker.
            for (;;) {
                const void* ff = pos < n ? std::memchr(p + pos, 0xFF, n - pos) : nullptr;
                if (!ff) {
                    pos = n;
                    break;
                }
                pos = std::size_t(static_cast<const std::uint8_t*>(ff) - p);
                std::size_t q = pos + 1;
                while (q < n && p[q] == 0xFF) ++q;
                if (q >= n) {
                    pos = n;
                    break;
                }
                if (p[q] == 0x00 || (p[q] >= 0xD0 && p[q] <= 0xD7)) {
                    pos = q + 1;
                    continue;
                }
                break;  // pos is at the FF of the next marker
            }
            const std::uint64_t data_bytes = pos - data_start;
            if (data_bytes * 8 < blocks)
                fail("image", name, cat("JPEG scans: a scan codes ", blocks, " blocks of 8x8 in ", data_bytes,
                                        " bytes of data (each block needs at least one bit; truncated?)", where(at)));
        } else if (m == 0xDD) {  // DRI
            if (len != 4) fail("image", name, cat("JPEG segment: DRI of length ", len, " (must be 4)", where(at)));
        }
        // APPn, COM and any other marker segment: skipped by its length.
    }
    if (!have_sof) fail("image", name, "JPEG SOF: no frame header");
    if (!have_scan || !have_eoi) fail("image", name, "truncated JPEG (no end-of-image marker after the last scan)");
    for (int c = 0; c < ncomp; ++c)
        if (!comp[c].has_scan)
            fail("image", name, cat("JPEG scans: component id ", comp[c].id, " has no ", progressive ? "DC " : "",
                                    "scan, so its pixels would be invented"));
}

// ---- PNG --------------------------------------------------------------------------------

// Bytes of filtered image data (each row prefixed by its filter byte) a w x h PNG with
// `bits` bits per pixel inflates to; Adam7 interlacing sums its seven passes.
inline std::uint64_t png_raw_bytes(std::uint64_t w, std::uint64_t h, std::uint64_t bits, bool interlaced) {
    auto image = [&](std::uint64_t pw, std::uint64_t ph) -> std::uint64_t {
        if (pw == 0 || ph == 0) return 0;
        return ph * (1 + (pw * bits + 7) / 8);
    };
    if (!interlaced) return image(w, h);
    static constexpr int kPass[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                        {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};  // x0 y0 dx dy
    std::uint64_t total = 0;
    for (const auto& ps : kPass) {
        const std::uint64_t x0 = std::uint64_t(ps[0]), y0 = std::uint64_t(ps[1]);
        const std::uint64_t pw = w > x0 ? (w - x0 + std::uint64_t(ps[2]) - 1) / std::uint64_t(ps[2]) : 0;
        const std::uint64_t ph = h > y0 ? (h - y0 + std::uint64_t(ps[3]) - 1) / std::uint64_t(ps[3]) : 0;
        total += image(pw, ph);
    }
    return total;
}

inline void check_png(const std::uint8_t* p, std::size_t n, const std::string& name, ImageFileFacts& facts) {
    std::size_t pos = 8;
    bool have_ihdr = false, have_iend = false;
    std::uint64_t idat_bytes = 0;
    std::uint32_t w = 0, h = 0;
    int depth = 0, colour = 0, interlace = 0;
    while (pos < n) {
        if (pos + 12 > n) fail("image", name, cat("PNG chunk: the file ends inside a chunk header at offset ", pos));
        const std::uint32_t len = be32(p + pos);
        const std::uint8_t* type = p + pos + 4;
        if (len > 0x7FFFFFFFu || std::uint64_t(len) + 12 > n - pos)
            fail("image", name, cat("PNG chunk: '", std::string(reinterpret_cast<const char*>(type), 4), "' at offset ", pos,
                                    " declares ", len, " bytes, past the end of the file"));
        const std::uint8_t* body = p + pos + 8;
        const bool is_ihdr = std::memcmp(type, "IHDR", 4) == 0;
        if (!have_ihdr && !is_ihdr && std::memcmp(type, "CgBI", 4) != 0)
            fail("image", name, "PNG chunk: the first chunk is not IHDR");
        if (is_ihdr) {
            if (have_ihdr) fail("image", name, "PNG chunk: two IHDR chunks");
            if (len != 13) fail("image", name, cat("PNG IHDR: length ", len, " (must be 13)"));
            have_ihdr = true;
            w = be32(body);
            h = be32(body + 4);
            depth = body[8];
            colour = body[9];
            interlace = body[12];
            check_declared_size(w, h, "PNG", name);
            bool ok_depth = false;
            switch (colour) {
                case 0: ok_depth = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16; break;
                case 3: ok_depth = depth == 1 || depth == 2 || depth == 4 || depth == 8; break;
                case 2: case 4: case 6: ok_depth = depth == 8 || depth == 16; break;
                default: fail("image", name, cat("PNG IHDR: colour type ", colour, " (must be 0, 2, 3, 4 or 6)"));
            }
            if (!ok_depth) fail("image", name, cat("PNG IHDR: bit depth ", depth, " is invalid for colour type ", colour));
            if (body[10] != 0 || body[11] != 0 || interlace > 1)
                fail("image", name, cat("PNG IHDR: compression ", int(body[10]), ", filter ", int(body[11]), ", interlace ",
                                        interlace, " (must be 0, 0, 0 or 1)"));
        } else if (std::memcmp(type, "CgBI", 4) == 0) {
            facts.png_cgbi = true;
        } else if (std::memcmp(type, "IDAT", 4) == 0) {
            idat_bytes += len;
            if (len) facts.png_idat.emplace_back(std::size_t(body - p), std::size_t(len));
        } else if (std::memcmp(type, "IEND", 4) == 0) {
            have_iend = true;
            break;
        }
        pos += std::size_t(len) + 12;
    }
    if (!have_ihdr) fail("image", name, "PNG chunk: no IHDR chunk");
    if (!have_iend) fail("image", name, "truncated PNG (PNG chunk: no IEND chunk)");
    if (idat_bytes == 0) fail("image", name, "PNG chunk: no image data (IDAT)");
    static constexpr int kChannels[7] = {1, 0, 3, 1, 2, 0, 4};
    const std::uint64_t raw = png_raw_bytes(w, h, std::uint64_t(depth) * std::uint64_t(kChannels[colour]), interlace == 1);
    if (raw > kPngMaxRawBytes)
        fail("image", name, cat("PNG size: ", w, "x", h, " at ", depth, " bits and colour type ", colour, " inflates to ", raw,
                                " bytes, more than the limit ", kPngMaxRawBytes));
    if (raw > kDeflateMaxRatio * idat_bytes)
        fail("image", name, cat("PNG size: ", w, "x", h, " needs ", raw, " bytes inflated from only ", idat_bytes,
                                " bytes of IDAT (deflate expands at most ", kDeflateMaxRatio, ":1)"));
    facts.width = int(w);
    facts.height = int(h);
    facts.png_raw_bytes = raw;
}

// ---- BMP --------------------------------------------------------------------------------

inline void check_bmp(const std::uint8_t* p, std::size_t n, const std::string& name, ImageFileFacts& facts) {
    if (n < 18) fail("image", name, "BMP header: the file ends inside the header");
    const std::uint32_t offset = le32(p + 10), hsz = le32(p + 14);
    if (hsz != 12 && hsz != 40 && hsz != 56 && hsz != 108 && hsz != 124)
        fail("image", name, cat("BMP header: info header of ", hsz, " bytes (must be 12, 40, 56, 108 or 124)"));
    if (n < 14 + hsz) fail("image", name, "BMP header: the file ends inside the info header");
    const std::uint8_t* ih = p + 14;
    std::uint64_t w = 0, h = 0;
    std::uint32_t planes = 0, bpp = 0, compression = 0;
    if (hsz == 12) {
        w = le16(ih + 4);
        h = le16(ih + 6);
        planes = le16(ih + 8);
        bpp = le16(ih + 10);
    } else {
        const auto sw = std::int32_t(le32(ih + 4)), sh = std::int32_t(le32(ih + 8));
        if (sw <= 0) fail("image", name, cat("BMP header: width ", sw, " (must be positive)"));
        w = std::uint64_t(sw);
        h = sh < 0 ? std::uint64_t(-std::int64_t(sh)) : std::uint64_t(sh);  // negative: top-down rows
        planes = le16(ih + 12);
        bpp = le16(ih + 14);
        compression = le32(ih + 16);
    }
    check_declared_size(w, h, "BMP", name);
    if (planes != 1) fail("image", name, cat("BMP header: ", planes, " planes (must be 1)"));
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        fail("image", name, cat("BMP header: ", bpp, " bits per pixel (must be 1, 4, 8, 16, 24 or 32)"));
    if (compression == 1 || compression == 2)
        fail("image", name, "BMP header: RLE compression is not supported");
    if (compression != 0 && !(compression == 3 && (bpp == 16 || bpp == 32)))
        fail("image", name, cat("BMP header: compression ", compression, " is not supported (only none, or bitfields at 16/32 bpp)"));
    if (offset < 14 + hsz) fail("image", name, cat("BMP header: pixel data offset ", offset, " inside the headers"));
    // Rows are padded to 4 bytes; the last row's padding may be missing.
    const std::uint64_t row = (w * bpp + 31) / 32 * 4;
    const std::uint64_t need = std::uint64_t(offset) + row * (h - 1) + (w * bpp + 7) / 8;
    if (need > n)
        fail("image", name, cat("truncated BMP: ", w, "x", h, " at ", bpp, " bpp needs ", need, " bytes, the file has ", n));
    facts.width = int(w);
    facts.height = int(h);
}

// ---- TGA --------------------------------------------------------------------------------

// The header fields stb_image accepts as TGA (stbi__tga_test): no magic number exists.
inline bool looks_like_tga(const std::uint8_t* p, std::size_t n) noexcept {
    if (n < 18) return false;
    const int cmap = p[1], type = p[2], bpp = p[16];
    if (cmap > 1) return false;
    if (cmap == 1) {
        if (type != 1 && type != 9) return false;
        const int entry = p[7];
        if (entry != 8 && entry != 15 && entry != 16 && entry != 24 && entry != 32) return false;
        if (bpp != 8 && bpp != 16) return false;
    } else if (type != 2 && type != 3 && type != 10 && type != 11) {
        return false;
    }
    if (le16(p + 12) < 1 || le16(p + 14) < 1) return false;
    return bpp == 8 || bpp == 15 || bpp == 16 || bpp == 24 || bpp == 32;
}

inline void check_tga(const std::uint8_t* p, std::size_t n, const std::string& name, ImageFileFacts& facts) {
    if (!looks_like_tga(p, n)) fail("image", name, "TGA header: image and colour-map types or pixel size not supported");
    const std::uint64_t w = le16(p + 12), h = le16(p + 14);
    check_declared_size(w, h, "TGA", name);
    const bool indexed = p[1] == 1, rle = p[2] >= 9;
    const std::uint64_t pixel_bytes = (std::uint64_t(p[16]) + 7) / 8;
    // Where stb starts reading pixels: after the id field and, for indexed images, after
    // skipping `first entry` bytes and reading `length` palette entries.
    std::uint64_t offset = 18 + std::uint64_t(p[0]);
    if (indexed) {
        const std::uint64_t first = le16(p + 3), length = le16(p + 5), entry_bytes = (std::uint64_t(p[7]) + 7) / 8;
        if (length == 0) fail("image", name, "TGA header: indexed image with an empty colour map");
        offset += first + length * entry_bytes;
    }
    if (offset > n) fail("image", name, cat("truncated TGA: the headers and colour map end at ", offset, ", past the file's ", n, " bytes"));
    const std::uint64_t pixels = w * h;
    if (!rle) {
        const std::uint64_t need = offset + pixels * pixel_bytes;
        if (need > n)
            fail("image", name, cat("truncated TGA: ", w, "x", h, " at ", pixel_bytes, " bytes per pixel needs ", need,
                                    " bytes, the file has ", n));
    } else {
        // Each packet: a header byte c, then one pixel repeated (c & 127) + 1 times (c >= 128)
        // or (c & 127) + 1 literal pixels. Walking them costs at most one step per packet.
        std::uint64_t pos = offset, covered = 0;
        while (covered < pixels) {
            if (pos >= n)
                fail("image", name, cat("truncated TGA: RLE packets cover ", covered, " of ", pixels, " pixels before the file ends"));
            const std::uint64_t c = p[pos++];
            const std::uint64_t count = (c & 127) + 1;
            pos += c & 128 ? pixel_bytes : count * pixel_bytes;
            if (pos > n)
                fail("image", name, cat("truncated TGA: an RLE packet runs past the end of the file (", covered, " of ", pixels,
                                        " pixels covered)"));
            covered += count;
        }
    }
    facts.width = int(w);
    facts.height = int(h);
}

// ---- GIF --------------------------------------------------------------------------------

// Most pixels `codes` LZW codes can produce. After a clear, the k-th code outputs a
// dictionary string of at most k bytes (each new entry is an older one plus a byte), and no
// string is longer than the 4096-entry dictionary of 12-bit codes allows; clear codes only
// shorten this. So the output is at most sum_{k=1..codes} min(k, 4096).
inline std::uint64_t lzw_max_pixels(std::uint64_t codes) {
    constexpr std::uint64_t kMaxString = 4096;
    if (codes <= kMaxString) return codes * (codes + 1) / 2;
    return kMaxString * (kMaxString + 1) / 2 + (codes - kMaxString) * kMaxString;
}

inline void check_gif(const std::uint8_t* p, std::size_t n, const std::string& name, ImageFileFacts& facts) {
    if (n < 13) fail("image", name, "GIF block: the file ends inside the screen descriptor");
    const std::uint64_t sw = le16(p + 6), sh = le16(p + 8);
    check_declared_size(sw, sh, "GIF", name);
    std::size_t pos = 13;
    if (p[10] & 0x80) pos += std::size_t(3) << ((p[10] & 7) + 1);  // global colour table
    // Sub-blocks: a length byte, that many bytes, until a zero length. Returns their payload.
    auto sub_blocks = [&](const char* what) -> std::uint64_t {
        std::uint64_t total = 0;
        for (;;) {
            if (pos >= n) fail("image", name, cat("GIF block: the file ends inside ", what, " (truncated)"));
            const std::size_t len = p[pos++];
            if (len == 0) return total;
            if (len > n - pos) fail("image", name, cat("GIF block: a sub-block of ", what, " runs past the end of the file (truncated)"));
            pos += len;
            total += len;
        }
    };
    bool have_frame = false, have_trailer = false;
    while (pos < n) {
        const std::uint8_t b = p[pos++];
        if (b == 0x3B) {
            have_trailer = true;
            break;
        }
        if (b == 0x21) {  // extension: label, sub-blocks
            if (pos >= n) break;
            ++pos;
            sub_blocks("an extension");
        } else if (b == 0x2C) {  // image descriptor
            if (n - pos < 10) fail("image", name, "GIF block: the file ends inside an image descriptor (truncated)");
            const std::uint64_t fx = le16(p + pos), fy = le16(p + pos + 2), fw = le16(p + pos + 4), fh = le16(p + pos + 6);
            const std::uint8_t flags = p[pos + 8];
            pos += 9;
            if (flags & 0x80) pos += std::size_t(3) << ((flags & 7) + 1);  // local colour table
            if (pos >= n) fail("image", name, "GIF block: the file ends before a frame's image data (truncated)");
            const int code_size = p[pos++];
            const std::uint64_t data = sub_blocks("a frame's image data");
            if (have_frame) continue;  // only the first frame is decoded
            have_frame = true;
            if (fw == 0 || fh == 0 || fx + fw > sw || fy + fh > sh)
                fail("image", name, cat("GIF frame: the first frame ", fw, "x", fh, " at (", fx, ", ", fy,
                                        ") is empty or outside the ", sw, "x", sh, " screen"));
            if (code_size < 1 || code_size > 8)
                fail("image", name, cat("GIF frame: LZW code size ", code_size, " outside 1..8"));
            // Codes are at least code_size + 1 bits wide.
            const std::uint64_t max_pixels = lzw_max_pixels(data * 8 / std::uint64_t(code_size + 1));
            if (fw * fh > max_pixels)
                fail("image", name, cat("GIF frame: ", data, " bytes of LZW data give at most ", max_pixels,
                                        " pixels, fewer than the first frame's ", fw, "x", fh, " (truncated?)"));
            if (sw * sh > max_pixels)
                fail("image", name, cat("GIF screen: the ", sw, "x", sh, " screen is larger than the ", max_pixels,
                                        " pixels the first frame's ", data, " bytes of LZW data can give"));
        } else {
            fail("image", name, cat("GIF block: unknown block type ", int(b), " at offset ", pos - 1));
        }
    }
    if (!have_frame) fail("image", name, "GIF block: no image in the file");
    if (!have_trailer) fail("image", name, "GIF block: no trailer (truncated)");
    facts.width = int(sw);
    facts.height = int(sh);
}

}  // namespace detail

// Recognises the format and runs its checks; throws edet::Error naming the failed check.
inline ImageFileFacts check_image_file(const std::uint8_t* p, std::size_t n, const std::string& name) {
    ImageFileFacts facts;
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8) {
        facts.format = ImageFormat::jpeg;
        detail::check_jpeg(p, n, name, facts);
    } else if (n >= 8 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
        facts.format = ImageFormat::png;
        detail::check_png(p, n, name, facts);
    } else if (n >= 2 && p[0] == 'B' && p[1] == 'M') {
        facts.format = ImageFormat::bmp;
        detail::check_bmp(p, n, name, facts);
    } else if (n >= 6 && (std::memcmp(p, "GIF87a", 6) == 0 || std::memcmp(p, "GIF89a", 6) == 0)) {
        facts.format = ImageFormat::gif;
        detail::check_gif(p, n, name, facts);
    } else if (is_pnm(p, n)) {
        facts.format = ImageFormat::pnm;
        facts.pnm = parse_pnm_header(p, n, name, std::uint32_t(kMaxImageSide));
        detail::check_declared_size(std::uint64_t(facts.pnm.width), std::uint64_t(facts.pnm.height), "PNM", name);
        facts.width = facts.pnm.width;
        facts.height = facts.pnm.height;
    } else if (detail::looks_like_tga(p, n)) {
        facts.format = ImageFormat::tga;
        detail::check_tga(p, n, name, facts);
    } else {
        fail("image", name, "not a readable JPEG, PNG, BMP, TGA, GIF or PNM image (unknown format)");
    }
    return facts;
}

}  // namespace io
EDET_NAMESPACE_END
