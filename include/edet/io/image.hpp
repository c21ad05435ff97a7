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
// Safety: before any decoder runs, io/image_checks.hpp walks the file's structure (JPEG
// segments and tables, PNG chunks and the exact inflated size, BMP/TGA/GIF/PNM data present
// for every declared pixel) and ties the declared size to the file's size, so a tiny file
// cannot make the decoder allocate gigabytes. Sizes above kMaxImageSide per side or
// kMaxImagePixels in total are refused before any pixel memory is allocated. Truncated or
// corrupt files, empty files and non-images throw edet::Error naming the file and the
// check (or stb's reason); a truncated file is never padded.
//
// Decoders: stb_image v2.30, vendored unmodified in third_party/stb (pinned; see
// third_party/README.md) for JPEG, PNG, BMP, TGA and GIF; PNM by edet (io/image_pnm.hpp).
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
#include <type_traits>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/image_checks.hpp"
#include "edet/io/image_pnm.hpp"

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
// The vendored v2.30 (third_party/stb/stb_image.h), never Debian's /usr/include/stb copy.
#include <stb/stb_image.h>

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

// The stb_image.h compiled above must be the vendored v2.30, not Debian's 2.27 found as
// /usr/include/stb/stb_image.h when third_party/ is missing from the include path. 2.28
// added the internal stbi__addints_valid(int, int) (the JPEG DC overflow check); if it is
// absent, the call below picks this catch-all template instead and the static_assert fires.
namespace edet_stb_version_check {
struct Missing {};
template <class... Args>
Missing stbi__addints_valid(Args...);
}  // namespace edet_stb_version_check
namespace edet_stb_version_probe {
// Unqualified lookup reaches the global namespace, where the using-directive adds the
// template beside stb's function; overload resolution prefers stb's non-template.
constexpr bool vendored_stb_image() {
    using namespace edet_stb_version_check;
    return !std::is_same<decltype(stbi__addints_valid(1, 2)), edet_stb_version_check::Missing>::value;
}
}  // namespace edet_stb_version_probe
static_assert(edet_stb_version_probe::vendored_stb_image(),
              "edet needs the vendored stb_image v2.30 (third_party/stb/stb_image.h): put edet's third_party "
              "directory on the include path before /usr/include (the edet::edet CMake target does)");

EDET_NAMESPACE_BEGIN
namespace io {

// kMaxImageSide, kMaxImagePixels and kMaxImageFileBytes: io/image_checks.hpp.

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

// PNG: inflates the IDAT data into a buffer of exactly the size IHDR implies (plus one byte
// to notice more) before stb inflates it again into a buffer it grows without limit. stb
// would otherwise inflate a 1x1 PNG's gigabytes of IDAT whole; here a stream giving more or
// less than the image needs is refused. Costs a second inflate of honest files.
inline void check_png_inflation(const std::uint8_t* data, const ImageFileFacts& facts, const std::string& name) {
    std::vector<char> compressed;
    for (const auto& span : facts.png_idat)
        compressed.insert(compressed.end(), data + span.first, data + span.first + span.second);
    std::vector<char> raw(static_cast<std::size_t>(facts.png_raw_bytes) + 1);
    const int clen = static_cast<int>(compressed.size()), rlen = static_cast<int>(raw.size());
    const int got = facts.png_cgbi ? stbi_zlib_decode_noheader_buffer(raw.data(), rlen, compressed.data(), clen)
                                   : stbi_zlib_decode_buffer(raw.data(), rlen, compressed.data(), clen);
    if (got < 0) {
        const char* reason = stbi_failure_reason();
        fail("image", name, cat("PNG data: the IDAT stream does not inflate to the ", facts.png_raw_bytes,
                                " bytes the header implies (", reason ? reason : "corrupt", ")"));
    }
    if (static_cast<std::uint64_t>(got) != facts.png_raw_bytes)
        fail("image", name, cat("PNG data: the IDAT stream inflates to ", got, got == rlen ? " or more" : "",
                                " bytes, the header implies ", facts.png_raw_bytes));
}

}  // namespace detail

// Decodes an image held in memory; `name` labels error messages (e.g. the file path).
inline Image decode_image(const std::uint8_t* data, std::size_t size, const std::string& name = "<memory>") {
    if (size == 0) fail("image", name, "the file is empty (0 bytes)");
    if (!data) fail("image", name, "null data pointer");
    if (size > static_cast<std::size_t>(kMaxImageFileBytes))
        fail("image", name, cat("the file has ", size, " bytes, more than the limit ", kMaxImageFileBytes));
    const ImageFileFacts facts = check_image_file(data, size, name);
    const int w = facts.width, h = facts.height;
    Image img;
    if (facts.format == ImageFormat::pnm) {
        img.width = w;
        img.height = h;
        img.rgb.resize(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
        decode_pnm_rgb(data, facts.pnm, img.rgb.data(), name);
        return img;
    }
    if (facts.format == ImageFormat::png) detail::check_png_inflation(data, facts, name);
    const int len = static_cast<int>(size);
    int iw = 0, ih = 0, icomp = 0;
    if (!stbi_info_from_memory(data, len, &iw, &ih, &icomp)) {
        const char* reason = stbi_failure_reason();
        fail("image", name, cat("not a readable ", format_name(facts.format), " image (", reason ? reason : "unknown reason", ")"));
    }
    if (iw != w || ih != h)
        fail("image", name, cat("stb reads the ", format_name(facts.format), " header as ", iw, "x", ih,
                                ", the checks as ", w, "x", h));
    int dw = 0, dh = 0, dcomp = 0;
    std::unique_ptr<stbi_uc, detail::StbFree> pixels(stbi_load_from_memory(data, len, &dw, &dh, &dcomp, 3));
    if (!pixels) {
        const char* reason = stbi_failure_reason();
        fail("image", name, cat("cannot decode: ", reason ? reason : "unknown error"));
    }
    if (dw != w || dh != h)
        fail("image", name, cat("decoded size ", dw, "x", dh, " differs from the declared ", w, "x", h));
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
