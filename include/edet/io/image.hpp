// edet/io/image.hpp - 8-bit RGB images: decode (stb_image), encode (stb_image_write).
//
//   edet::io::Image img = edet::io::read_image("dog.jpg");   // any of the formats below
//   img.at(x, y)[0] = 255;                                      // red channel of (x, y)
//   edet::io::write_image("out.png", img);                      // .png or .jpg by name
//
// Formats read: JPEG (baseline and progressive), PNG (8/16-bit, palette, alpha), BMP, TGA,
// GIF (the first frame) and PNM (PPM/PGM). Grey becomes RGB by replication and alpha is
// dropped without compositing, which is what Pillow's convert("RGB") does too.
//
// Safety: the header of a file is read first (stbi_info_from_memory) and sizes above
// kMaxImageSide per side or kMaxImagePixels in total are refused before any pixel memory
// is allocated; truncated or corrupt files, empty files and non-images throw edet::Error
// naming the file and stb's reason.
//
// The stb implementations are compiled here, static (STB_IMAGE_STATIC), so each
// translation unit including this header has its own private copy: two libraries that
// embed stb cannot collide at link time. Only this header may define them; a program that
// also needs stb itself should include this header rather than stb_image.h.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "edet/core/error.hpp"

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-function"
#pragma clang diagnostic ignored "-Wunused-parameter"
#pragma clang diagnostic ignored "-Wsign-compare"
#pragma clang diagnostic ignored "-Wmissing-field-initializers"
#pragma clang diagnostic ignored "-Wimplicit-fallthrough"
#pragma clang diagnostic ignored "-Wdouble-promotion"
#pragma clang diagnostic ignored "-Wcast-qual"
#pragma clang diagnostic ignored "-Wcomma"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wcast-function-type"
#pragma GCC diagnostic ignored "-Wpedantic"
#endif

#if !defined(EDET_STB_IMAGE_DEFINED)
#define EDET_STB_IMAGE_DEFINED
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO       // we read files ourselves, so sizes are checked first
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_ONLY_GIF
#define STBI_ONLY_PNM
#include <stb_image.h>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>
#endif

#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

EDET_NAMESPACE_BEGIN
namespace io {

// Largest image accepted: 16384 pixels per side and 256 MP (16k x 16k) in total.
inline constexpr int kMaxImageSide = 16384;
inline constexpr std::int64_t kMaxImagePixels = std::int64_t{256} << 20;
// Largest image file read into memory.
inline constexpr std::int64_t kMaxImageFileBytes = std::int64_t{1} << 30;

// An 8-bit RGB image, rows top to bottom, pixels left to right, 3 bytes (R, G, B) each.
struct Image {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> rgb;  // width * height * 3 bytes

    Image() = default;
    // A width x height image filled with one colour.
    Image(int w, int h, std::uint8_t r = 0, std::uint8_t g = 0, std::uint8_t b = 0) {
        if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide ||
            std::int64_t{w} * h > kMaxImagePixels)
            fail(cat("image of ", w, "x", h), "io::Image",
                 cat("each side must be in [1, ", kMaxImageSide, "] and the area at most ",
                     kMaxImagePixels, " pixels"));
        width = w;
        height = h;
        rgb.resize(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
        for (std::size_t i = 0; i < rgb.size(); i += 3) {
            rgb[i] = r;
            rgb[i + 1] = g;
            rgb[i + 2] = b;
        }
    }
    bool empty() const noexcept { return rgb.empty(); }
    std::size_t row_bytes() const noexcept { return static_cast<std::size_t>(width) * 3; }
    // Pointer to the R byte of pixel (x, y); no bounds check.
    std::uint8_t* at(int x, int y) noexcept {
        return rgb.data() + static_cast<std::size_t>(y) * row_bytes() + static_cast<std::size_t>(x) * 3;
    }
    const std::uint8_t* at(int x, int y) const noexcept {
        return rgb.data() + static_cast<std::size_t>(y) * row_bytes() + static_cast<std::size_t>(x) * 3;
    }
};

namespace detail {

inline bool starts_with(const std::uint8_t* p, std::size_t n, const char* magic, std::size_t m) {
    return n >= m && std::memcmp(p, magic, m) == 0;
}

// stb_image decodes a JPEG that stops early by padding the missing data, which would hand
// back a silently damaged picture. A complete JPEG has an end-of-image marker (FF D9) after
// its last start-of-scan (FF DA); entropy-coded data cannot contain FF D9 (an FF byte there
// is stuffed as FF 00), so its absence means the file was cut.
inline bool jpeg_is_complete(const std::uint8_t* p, std::size_t n) {
    std::size_t last_sos = 0;
    bool have_sos = false;
    for (std::size_t i = 0; i + 1 < n; ++i)
        if (p[i] == 0xFF && p[i + 1] == 0xDA) {
            last_sos = i;
            have_sos = true;
        }
    if (!have_sos) return false;
    for (std::size_t i = last_sos + 2; i + 1 < n; ++i)
        if (p[i] == 0xFF && p[i + 1] == 0xD9) return true;
    return false;
}

struct StbFree {
    void operator()(stbi_uc* p) const noexcept { stbi_image_free(p); }
};

inline void append_bytes(void* context, void* data, int size) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(context);
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), bytes, bytes + size);
}

inline void check_image(const Image& img, const std::string& where) {
    if (img.width < 1 || img.height < 1 ||
        img.rgb.size() != static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height) * 3)
        fail("image", where,
             cat("inconsistent image: ", img.width, "x", img.height, " with ", img.rgb.size(),
                 " bytes (need width*height*3)"));
}

}  // namespace detail

// Decodes an image held in memory; `name` labels error messages (e.g. the file path).
inline Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name = "<memory>") {
    if (size == 0) fail("image", name, "the file is empty (0 bytes)");
    if (!data) fail("image", name, "null data pointer");
    if (size > static_cast<std::size_t>(kMaxImageFileBytes))
        fail("image", name, cat("the file has ", size, " bytes, more than the limit ", kMaxImageFileBytes));
    const int len = static_cast<int>(size);
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(data, len, &w, &h, &comp)) {
        // stb refuses some huge headers (PNG) as unreadable; name the size when we can.
        if (detail::starts_with(data, size, "\x89PNG\r\n\x1a\n", 8) && size >= 24) {
            auto be32 = [&](std::size_t at) {
                return (std::uint32_t{data[at]} << 24) | (std::uint32_t{data[at + 1]} << 16) |
                       (std::uint32_t{data[at + 2]} << 8) | std::uint32_t{data[at + 3]};
            };
            const std::uint32_t pw = be32(16), ph = be32(20);
            if (pw > std::uint32_t(kMaxImageSide) || ph > std::uint32_t(kMaxImageSide) ||
                std::uint64_t{pw} * ph > std::uint64_t(kMaxImagePixels))
                fail("image", name,
                     cat("declared size ", pw, "x", ph, " is outside the limits (at most ", kMaxImageSide,
                         " per side and ", kMaxImagePixels, " pixels)"));
        }
        const char* reason = stbi_failure_reason();
        fail("image", name,
             cat("not a readable JPEG, PNG, BMP, TGA, GIF or PNM image (",
                 reason ? reason : "unknown format", ")"));
    }
    if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide ||
        std::int64_t{w} * h > kMaxImagePixels)
        fail("image", name,
             cat("declared size ", w, "x", h, " is outside the limits (at most ", kMaxImageSide,
                 " per side and ", kMaxImagePixels, " pixels)"));
    const bool is_jpeg = detail::starts_with(data, size, "\xFF\xD8\xFF", 3);
    if (is_jpeg && !detail::jpeg_is_complete(data, size))
        fail("image", name, "truncated JPEG (no end-of-image marker after the last scan)");
    int dw = 0, dh = 0, dcomp = 0;
    std::unique_ptr<stbi_uc, detail::StbFree> pixels(stbi_load_from_memory(data, len, &dw, &dh, &dcomp, 3));
    if (!pixels) {
        const char* reason = stbi_failure_reason();
        fail("image", name, cat("cannot decode: ", reason ? reason : "unknown error"));
    }
    if (dw != w || dh != h)
        fail("image", name, cat("decoded size ", dw, "x", dh, " differs from the declared ", w, "x", h));
    Image img;
    img.width = w;
    img.height = h;
    img.rgb.assign(pixels.get(), pixels.get() + static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
    return img;
}

inline Image decode_image(const std::vector<std::uint8_t>& bytes, const std::string& name = "<memory>") {
    return decode_image(bytes.data(), bytes.size(), name);
}

// Reads a whole file into memory (at most kMaxImageFileBytes).
inline std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) fail("file", path, cat("cannot open for reading: ", std::strerror(errno)));
    std::vector<std::uint8_t> bytes;
    std::uint8_t chunk[1 << 16];
    for (;;) {
        const std::size_t got = std::fread(chunk, 1, sizeof chunk, f.get());
        if (got > 0) {
            if (bytes.size() + got > static_cast<std::size_t>(kMaxImageFileBytes))
                fail("file", path, cat("larger than the limit of ", kMaxImageFileBytes, " bytes"));
            bytes.insert(bytes.end(), chunk, chunk + got);
        }
        if (got < sizeof chunk) {
            if (std::ferror(f.get())) fail("file", path, "read error");
            break;
        }
    }
    return bytes;
}

// Loads an image file as RGB.
inline Image read_image(const std::string& path) {
    const std::vector<std::uint8_t> bytes = read_file_bytes(path);
    return decode_image(bytes.data(), bytes.size(), path);
}

// PNG bytes of an image.
inline std::vector<std::uint8_t> encode_png(const Image& img) {
    detail::check_image(img, "io::encode_png");
    std::vector<std::uint8_t> out;
    const int ok = stbi_write_png_to_func(&detail::append_bytes, &out, img.width, img.height, 3,
                                          img.rgb.data(), static_cast<int>(img.row_bytes()));
    if (!ok) fail("PNG encoding", "io::encode_png", cat("stb_image_write failed for ", img.width, "x", img.height));
    return out;
}

// JPEG bytes of an image, quality 1..100.
inline std::vector<std::uint8_t> encode_jpeg(const Image& img, int quality = 90) {
    detail::check_image(img, "io::encode_jpeg");
    if (quality < 1 || quality > 100) fail("JPEG quality", "io::encode_jpeg", cat(quality, " is outside [1, 100]"));
    std::vector<std::uint8_t> out;
    const int ok = stbi_write_jpg_to_func(&detail::append_bytes, &out, img.width, img.height, 3,
                                          img.rgb.data(), quality);
    if (!ok) fail("JPEG encoding", "io::encode_jpeg", cat("stb_image_write failed for ", img.width, "x", img.height));
    return out;
}

inline void write_file_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
    if (!f) fail("file", path, cat("cannot open for writing: ", std::strerror(errno)));
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f.get()) != bytes.size())
        fail("file", path, "write error");
    if (std::fclose(f.release()) != 0) fail("file", path, "write error on close");
}

// Writes PNG or JPEG, chosen by the extension (.png, .jpg, .jpeg; case-insensitive).
inline void write_image(const std::string& path, const Image& img, int jpeg_quality = 90) {
    std::string ext;
    const std::size_t dot = path.find_last_of('.');
    if (dot != std::string::npos)
        for (char ch : path.substr(dot + 1)) ext += static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    if (ext == "png")
        write_file_bytes(path, encode_png(img));
    else if (ext == "jpg" || ext == "jpeg")
        write_file_bytes(path, encode_jpeg(img, jpeg_quality));
    else
        fail("image", path, "unknown output format: the name must end in .png, .jpg or .jpeg");
}

}  // namespace io
EDET_NAMESPACE_END
