// Tests for edet/io/image_checks.hpp (and its use in io::decode_image): the hostile files of
// issue 21 are each refused with an edet::Error naming the check, quickly and before the
// decoder allocates more than a little memory; every prefix of every good file is either
// refused or decodes to exactly the whole file's picture (nothing is padded); and the
// bounds the checks use hold as stated.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// Count stb_image's allocations in this translation unit's private copy of stb (the
// implementation is static, one per TU), so a test can show that a hostile header did not
// make the decoder allocate what it declared.
namespace stb_alloc {
inline std::size_t largest = 0;
inline void* track(std::size_t n) {
    largest = std::max(largest, n);
    return std::malloc(n);
}
inline void* retrack(void* p, std::size_t n) {
    largest = std::max(largest, n);
    return std::realloc(p, n);
}
}  // namespace stb_alloc
#define STBI_MALLOC(sz) stb_alloc::track(sz)
#define STBI_REALLOC(p, newsz) stb_alloc::retrack(p, newsz)
#define STBI_FREE(p) std::free(p)

#include "edet/io/image.hpp"
#include "edet/io/image_checks.hpp"
#include "test_util.hpp"

namespace {
using Bytes = std::vector<std::uint8_t>;

Bytes file(const std::string& name) { return edet::io::read_file_bytes(edet_test::test_data_dir() + "/images/" + name); }

// The message of the edet::Error decoding `bytes` throws ("" if it decodes), the seconds it
// took, and the largest block stb asked for meanwhile.
struct Outcome {
    std::string error;
    double seconds = 0;
    std::size_t stb_largest = 0;
};
Outcome decode(const Bytes& bytes) {
    Outcome out;
    stb_alloc::largest = 0;
    const auto t0 = std::chrono::steady_clock::now();
    try {
        edet::io::decode_image(bytes, "hostile");
    } catch (const edet::Error& e) {
        out.error = e.what();
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    out.stb_largest = stb_alloc::largest;
    return out;
}

// Refused, naming `check`, in well under a second (also under ASan), and stb allocated at
// most 1 MB (for most cases nothing: they are refused before stb runs).
void check_refused(const Bytes& bytes, const std::string& check) {
    const Outcome o = decode(bytes);
    INFO("expected check: ", check, "; got: '", o.error, "' after ", o.seconds, " s, stb's largest block ", o.stb_largest);
    CHECK(o.error.find(check) != std::string::npos);
    CHECK(o.error.find("hostile") != std::string::npos);
    CHECK(o.seconds < 0.5);
    CHECK(o.stb_largest <= (std::size_t{1} << 20));
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }
void put_le16(Bytes& b, std::size_t at, std::uint32_t v) {
    b[at] = std::uint8_t(v);
    b[at + 1] = std::uint8_t(v >> 8);
}
void put_le32(Bytes& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + std::size_t(i)] = std::uint8_t(v >> (8 * i));
}
void put_be16(Bytes& b, std::size_t at, std::uint32_t v) {
    b[at] = std::uint8_t(v >> 8);
    b[at + 1] = std::uint8_t(v);
}
void put_be32(Bytes& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + std::size_t(i)] = std::uint8_t(v >> (24 - 8 * i));
}
// Offset of the first JPEG marker FF `m` outside entropy-coded data (headers only).
std::size_t jpeg_marker(const Bytes& b, std::uint8_t m) {
    std::size_t pos = 2;
    while (pos + 4 <= b.size() && b[pos] == 0xFF) {
        if (b[pos + 1] == m) return pos;
        pos += 2 + ((std::size_t(b[pos + 2]) << 8) | b[pos + 3]);
    }
    FAIL("marker not found");
    return 0;
}
// A PNG chunk with its CRC left zero (stb and the checks do not read CRCs).
void png_chunk(Bytes& out, const char* type, const Bytes& body) {
    const std::size_t at = out.size();
    out.resize(at + 8);
    put_be32(out, at, std::uint32_t(body.size()));
    std::memcpy(out.data() + at + 4, type, 4);
    out.insert(out.end(), body.begin(), body.end());
    out.insert(out.end(), 4, 0);
}
Bytes png_file(std::uint32_t w, std::uint32_t h, int depth, int colour, const Bytes& idat) {
    Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    Bytes ihdr(13, 0);
    put_be32(ihdr, 0, w);
    put_be32(ihdr, 4, h);
    ihdr[8] = std::uint8_t(depth);
    ihdr[9] = std::uint8_t(colour);
    png_chunk(out, "IHDR", ihdr);
    png_chunk(out, "IDAT", idat);
    png_chunk(out, "IEND", {});
    return out;
}
Bytes zlib(const Bytes& raw) {
    int len = 0;
    unsigned char* z = stbi_zlib_compress(const_cast<unsigned char*>(raw.data()), int(raw.size()), &len, 8);
    REQUIRE(z);
    Bytes out(z, z + len);
    STBIW_FREE(z);
    return out;
}

const char* const kGoodFiles[] = {
    "rgb_8.png", "rgb_8_interlaced.png", "rgb_16.png", "rgba_8.png", "rgba_16_interlaced.png", "grey_8.png",
    "grey_16.png", "grey_alpha_8.png", "grey_alpha_16.png", "grey_2bit.png", "pal_8.png", "pal_4_interlaced.png",
    "rgb_24.bmp", "rgb_32.bmp", "pal_8.bmp", "pal_4.bmp", "grey_8.bmp", "rgb_24.tga", "rgb_24_rle.tga",
    "rgba_32.tga", "grey_8.tga", "grey_8_rle.tga", "pal_8.tga", "pal_8_rle.tga", "pal_anim.gif",
    "pal_interlaced.gif", "rgb_8.ppm", "rgb_16.ppm", "grey_8.pgm", "grey_16.pgm", "rgb_420.jpg", "rgb_444.jpg",
    "rgb_progressive.jpg", "rgb_cmyk.jpg", "grey.jpg", "grey_progressive.jpg"};
}  // namespace

TEST_CASE("image checks: a prefix of a good file is refused or decodes to the same picture") {
    // Pixel data ends at most 32 bytes before the end of these files (a TGA 2.0 footer is 26
    // bytes, a BMP's last row may lose its padding); any shorter prefix cuts pixels and must
    // be refused, never padded with zeros.
    for (const char* cname : kGoodFiles) {
        const std::string name = cname;
        const Bytes whole = file(name);
        const edet::io::Image want = edet::io::decode_image(whole, name);
        int refused = 0;
        for (std::size_t len = 1; len < whole.size(); ++len) {
            const Bytes prefix(whole.begin(), whole.begin() + std::ptrdiff_t(len));
            try {
                const edet::io::Image got = edet::io::decode_image(prefix, name);
                INFO(name, " prefix of ", len, " of ", whole.size(), " bytes decoded");
                CHECK(len + 32 >= whole.size());
                CHECK(got.width == want.width);
                CHECK(got.height == want.height);
                CHECK(got.rgb == want.rgb);
            } catch (const edet::Error&) {
                ++refused;
            }
        }
        INFO(name);
        CHECK(refused >= int(whole.size()) - 33);
    }
}

TEST_CASE("image checks: JPEG Huffman, quantisation, frame and scan headers") {
    const Bytes good = file("grey.jpg");
    REQUIRE(edet::io::decode_image(good).width == 23);
    SUBCASE("a DHT declaring 300 codes (stb 2.27 wrote past its tables: SIGSEGV)") {
        Bytes b = good;
        const std::size_t dht = jpeg_marker(b, 0xC4);
        b[dht + 5 + 15] = std::uint8_t(b[dht + 5 + 15] + 200);  // 16-bit code count
        b[dht + 5 + 14] = std::uint8_t(b[dht + 5 + 14] + 100);
        check_refused(b, "JPEG DHT: table declares");
    }
    SUBCASE("a DHT of class 2") {
        Bytes b = good;
        b[jpeg_marker(b, 0xC4) + 4] = 0x20;
        check_refused(b, "JPEG DHT: table class 2");
    }
    SUBCASE("a DHT whose values do not fit its segment") {
        Bytes b = good;
        const std::size_t dht = jpeg_marker(b, 0xC4);
        put_be16(b, dht + 2, 2 + 17 + 3);  // the counts promise more than 3 values
        check_refused(b, "JPEG DHT: segment too short for its");
    }
    SUBCASE("a DQT with precision 2") {
        Bytes b = good;
        b[jpeg_marker(b, 0xDB) + 4] = 0x20;
        check_refused(b, "JPEG DQT: precision 2");
    }
    SUBCASE("a segment running past the end of the file") {
        Bytes b = good;
        put_be16(b, jpeg_marker(b, 0xDB) + 2, 0xFFF0);
        check_refused(b, "JPEG segment: marker");
    }
    SUBCASE("a frame of 16384x16384 pixels in 683 bytes") {
        Bytes b = good;
        const std::size_t sof = jpeg_marker(b, 0xC0);
        put_be16(b, sof + 5, 16384);
        put_be16(b, sof + 7, 16384);
        check_refused(b, "JPEG size:");
    }
    SUBCASE("a frame with zero height (DNL) or sampling factor 0") {
        Bytes b = good;
        const std::size_t sof = jpeg_marker(b, 0xC0);
        put_be16(b, sof + 5, 0);
        check_refused(b, "JPEG SOF: declared size");
        b = good;
        b[sof + 11] = 0x01;  // component 0 sampling 0x1
        check_refused(b, "JPEG SOF: component 0 sampling");
    }
    SUBCASE("a frame whose length does not match its components") {
        Bytes b = good;
        b[jpeg_marker(b, 0xC0) + 9] = 3;  // 3 components in a segment sized for 1
        check_refused(b, "JPEG SOF: length");
    }
    SUBCASE("a scan naming a component the frame lacks") {
        Bytes b = good;
        b[jpeg_marker(b, 0xDA) + 5] = 0x77;
        check_refused(b, "JPEG SOS: component id 119 is not in the frame");
    }
    SUBCASE("a scan using a Huffman table no DHT defined") {
        Bytes b = good;
        b[jpeg_marker(b, 0xDA) + 6] = 0x33;
        check_refused(b, "JPEG SOS: component id");
    }
    SUBCASE("no end-of-image marker") {
        Bytes b = good;
        b.resize(b.size() - 2);
        check_refused(b, "truncated JPEG (no end-of-image marker after the last scan)");
    }
    SUBCASE("a scan cut short and closed with an end-of-image marker") {
        Bytes b = good;
        const std::size_t sof = jpeg_marker(b, 0xC0);
        put_be16(b, sof + 5, 64);  // 64x64: 64 blocks, at least 8 bytes of data
        put_be16(b, sof + 7, 64);
        const std::size_t sos = jpeg_marker(b, 0xDA);
        b.resize(sos + 2 + ((std::size_t(b[sos + 2]) << 8) | b[sos + 3]) + 5);
        b.insert(b.end(), {0xFF, 0xD9});
        check_refused(b, "JPEG scans: a scan codes 64 blocks of 8x8 in 5 bytes");
    }
    SUBCASE("lossless and arithmetic coding") {
        Bytes b = good;
        b[jpeg_marker(b, 0xC0) + 1] = 0xC3;
        check_refused(b, "JPEG SOF: coding process");
    }
}

TEST_CASE("image checks: JPEG budget is 512 pixels per byte") {
    // A baseline 8x8 block needs a DC code and an AC code, each at least one bit, so even a
    // flat grey picture costs more than the bound assumes (one bit a block).
    using edet::io::kJpegPixelsPerByte;
    static_assert(kJpegPixelsPerByte == 8 * 64, "one bit per 8x8 block");
    for (const std::string name : {"grey.jpg", "rgb_420.jpg", "rgb_progressive.jpg", "rgb_cmyk.jpg"}) {
        const Bytes b = file(name);
        const edet::io::Image img = edet::io::decode_image(b);
        INFO(name);
        CHECK(std::uint64_t(img.width) * std::uint64_t(img.height) <= kJpegPixelsPerByte * b.size());
    }
}

TEST_CASE("image checks: PNG chunks, declared size and inflated size") {
    SUBCASE("a 1x1 PNG whose IDAT inflates to 4 MB (scaled down from the issue's 1.9 GB)") {
        const Bytes idat = zlib(Bytes(std::size_t{4} << 20, 0));
        const Bytes b = png_file(1, 1, 8, 2, idat);
        MESSAGE("1x1 PNG of ", b.size(), " bytes, IDAT inflating to 4 MB");
        check_refused(b, "PNG data: the IDAT stream does not inflate to the 4 bytes the header implies");
    }
    SUBCASE("IDAT inflating to less than the header implies") {
        check_refused(png_file(4, 4, 8, 2, zlib(Bytes(13, 0))), "PNG data: the IDAT stream inflates to 13 bytes, the header implies 52");
    }
    SUBCASE("16384x16384 declared with a tiny IDAT") {
        check_refused(png_file(16384, 16384, 8, 2, zlib(Bytes(100, 0))), "PNG size: 16384x16384 needs");
    }
    SUBCASE("raw size over the 1 GiB budget") {
        check_refused(png_file(16384, 16384, 16, 6, zlib(Bytes(100, 0))), "PNG size: 16384x16384 at 16 bits");
    }
    SUBCASE("bad IHDR fields") {
        check_refused(png_file(2, 2, 16, 3, zlib(Bytes(10, 0))), "PNG IHDR: bit depth 16 is invalid for colour type 3");
        check_refused(png_file(2, 2, 8, 5, zlib(Bytes(10, 0))), "PNG IHDR: colour type 5");
    }
    SUBCASE("a chunk running past the end, and no IEND") {
        Bytes b = file("rgb_8.png");
        put_be32(b, 33, 100000);  // IDAT length
        check_refused(b, "PNG chunk: 'IDAT' at offset 33 declares 100000 bytes, past the end");
        b = file("rgb_8.png");
        b.resize(b.size() - 12);
        check_refused(b, "truncated PNG (PNG chunk: no IEND chunk)");
    }
    SUBCASE("the deflate bound is 1032:1 and stb's own compressor stays within it") {
        const Bytes zeros(std::size_t{1} << 20, 0);
        const Bytes z = zlib(zeros);
        CHECK(zeros.size() <= edet::io::kDeflateMaxRatio * z.size());
        CHECK(edet::io::detail::png_raw_bytes(23, 17, 24, false) == 17 * (1 + 69));
        // Adam7 of 23x17: passes of 3x3, 3x3, 6x2, 6x5, 12x4, 11x9 and 23x8 pixels.
        CHECK(edet::io::detail::png_raw_bytes(23, 17, 24, true) ==
              3 * (1 + 9) + 3 * (1 + 9) + 2 * (1 + 18) + 5 * (1 + 18) + 4 * (1 + 36) + 9 * (1 + 33) + 8 * (1 + 69));
    }
}

TEST_CASE("image checks: BMP, TGA and PNM headers declaring 16384x16384") {
    SUBCASE("a 54-byte BMP") {
        Bytes b(54, 0);
        b[0] = 'B';
        b[1] = 'M';
        put_le32(b, 2, 54);
        put_le32(b, 10, 54);  // pixel data offset
        put_le32(b, 14, 40);  // info header size
        put_le32(b, 18, 16384);
        put_le32(b, 22, 16384);
        put_le16(b, 26, 1);
        put_le16(b, 28, 24);
        check_refused(b, "truncated BMP: 16384x16384 at 24 bpp needs");
    }
    SUBCASE("an 18-byte TGA") {
        Bytes b(18, 0);
        b[2] = 2;  // uncompressed true colour
        put_le16(b, 12, 16384);
        put_le16(b, 14, 16384);
        b[16] = 24;
        check_refused(b, "truncated TGA: 16384x16384 at 3 bytes per pixel");
    }
    SUBCASE("an RLE TGA with a few packets") {
        Bytes b(18, 0);
        b[2] = 10;  // RLE true colour
        put_le16(b, 12, 16384);
        put_le16(b, 14, 16384);
        b[16] = 24;
        for (int i = 0; i < 50; ++i) b.insert(b.end(), {0xFF, 1, 2, 3});  // 128 pixels each
        check_refused(b, "truncated TGA: RLE packets cover 6400 of 268435456 pixels");
    }
    SUBCASE("a 19-byte PPM") {
        check_refused(text("P6\n16384 16384\n255\n"), "truncated PNM: 16384x16384x3 samples");
    }
    SUBCASE("a BMP with RLE compression, which stb does not read") {
        check_refused(file("pal_rle8.bmp"), "BMP header: RLE compression is not supported");
    }
}

TEST_CASE("image checks: GIF screen, frame and blocks") {
    const Bytes good = file("pal_interlaced.gif");
    REQUIRE(edet::io::decode_image(good).width == 23);
    std::size_t image = 13 + (good[10] & 0x80 ? std::size_t(3) << ((good[10] & 7) + 1) : 0);
    while (good[image] == 0x21) {  // skip extensions to the image descriptor
        image += 2;
        while (good[image]) image += 1 + good[image];
        ++image;
    }
    REQUIRE(good[image] == 0x2C);
    SUBCASE("a 16384x16384 screen") {
        Bytes b = good;
        put_le16(b, 6, 16384);
        put_le16(b, 8, 16384);
        check_refused(b, "GIF screen: the 16384x16384 screen is larger than");
    }
    SUBCASE("a frame larger than its data can fill") {
        Bytes b = good;
        put_le16(b, 6, 2000);
        put_le16(b, 8, 2000);
        put_le16(b, image + 5, 2000);
        put_le16(b, image + 7, 2000);
        check_refused(b, "GIF frame: ");
    }
    SUBCASE("a frame outside the screen") {
        Bytes b = good;
        put_le16(b, image + 1, 5);  // x offset 5 + width 23 > 23
        check_refused(b, "GIF frame: the first frame 23x17 at (5, 0)");
    }
    SUBCASE("no trailer, a cut sub-block, an unknown block") {
        Bytes b = good;
        b.pop_back();
        check_refused(b, "GIF block: no trailer (truncated)");
        b = good;
        b.resize(image + 20);
        check_refused(b, "GIF block: a sub-block of a frame's image data runs past the end of the file");
        b = good;
        b[image] = 0x99;
        check_refused(b, "GIF block: unknown block type 153");
    }
    SUBCASE("the LZW bound") {
        using edet::io::detail::lzw_max_pixels;
        CHECK(lzw_max_pixels(1) == 1);
        CHECK(lzw_max_pixels(3) == 6);
        CHECK(lzw_max_pixels(4096) == 4096 * 4097 / 2);
        CHECK(lzw_max_pixels(5000) == 4096 * 4097 / 2 + 904 * 4096);
    }
}

TEST_CASE("image checks: PNM") {
    SUBCASE("16-bit PGM (stb 2.27 read past its buffer; 2.30 swaps the bytes) decodes big-endian") {
        Bytes b = text("P5\n3 1\n65535\n");
        b.insert(b.end(), {0x12, 0x34, 0xFF, 0xFF, 0x00, 0x80});
        const edet::io::Image img = edet::io::decode_image(b);
        REQUIRE(img.rgb.size() == 9u);
        CHECK(int(img.rgb[0]) == 18);   // 0x1234 * 255 / 65535 = 18.1
        CHECK(int(img.rgb[3]) == 255);  // 0xFFFF
        CHECK(int(img.rgb[6]) == 0);    // 0x0080 -> 0.5, rounds to 0
        b.pop_back();
        check_refused(b, "truncated PNM: 3x1x1 samples of 2 byte(s) need 6 bytes, the file has 5");
    }
    SUBCASE("maxval scales, a sample above maxval is refused") {
        Bytes b = text("P5 2 1 # comment\n15\n");
        b.insert(b.end(), {15, 7});
        const edet::io::Image img = edet::io::decode_image(b);
        CHECK(int(img.rgb[0]) == 255);
        CHECK(int(img.rgb[3]) == 119);  // 7 * 255 / 15
        b.back() = 16;
        check_refused(b, "PNM samples: sample 1 is 16, above maxval 15");
    }
    SUBCASE("header errors") {
        check_refused(text("P6\n4 4\n0\n"), "PNM header: maxval 0");
        check_refused(text("P6\n4 4\n65536\n"), "PNM header: maxval 65536");
        check_refused(text("P6\n4 x\n255\n"), "PNM header: the height is not a decimal number");
        check_refused(text("P6\n1234567890 4\n255\n"), "PNM header: the width has more than 9 digits");
        check_refused(text("P6\n4 4\n255"), "PNM header: no whitespace byte");
        check_refused(text("P5\n0 4\n255\n"), "PNM header: declared size 0x4");
    }
}
