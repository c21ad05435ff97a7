// libFuzzer target: any byte string given to io::decode_image is either rejected with
// edet::Error or decodes to an image of width*height*3 bytes within the size limits.
// Anything else (a crash, a sanitizer report, another exception type, a huge allocation
// caught by -rss_limit_mb / -malloc_limit_mb) is a bug.
#include <cstddef>
#include <cstdint>

#include "edet/io/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const edet::io::Image img = edet::io::decode_image(data, size, "fuzz");
        if (img.width < 1 || img.height < 1 || img.width > edet::io::kMaxImageSide ||
            img.height > edet::io::kMaxImageSide)
            __builtin_trap();
        if (img.rgb.size() != std::size_t(img.width) * std::size_t(img.height) * 3) __builtin_trap();
        // Touch the first and last bytes so ASan checks the span; the checks keep the
        // picture within a bounded multiple of the input size (kJpegPixelsPerByte etc.).
        volatile std::uint8_t sink = img.rgb.front();
        sink = static_cast<std::uint8_t>(sink + img.rgb.back());
        (void)sink;
    } catch (const edet::Error&) {
        // rejected cleanly
    }
    return 0;
}
