// edet/io/weights.hpp - open a checkpoint whatever its container, by its first bytes.
//
//   std::unique_ptr<edet::io::TensorSource> w = edet::io::open_weights(path);
//
// Formats, recognised by content (never by the file name):
//   safetensors          u64 little-endian header length (2 .. 100 MB) followed by '{'
//   PyTorch zip (.pth)   "PK\x03\x04" (torch.save since 1.6)
//   PyTorch legacy       "\x80" + pickle protocol 2..5 (torch.save before 1.6)
// The .pth reader lives in edet/io/pth.hpp (class io::PthFile); when that header is
// present it is picked up automatically below, otherwise a .pth file gets a clear
// edet::Error saying how to convert it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "edet/core/error.hpp"
#include "edet/io/safetensors.hpp"
#include "edet/io/tensor_source.hpp"

// ---- .pth hook: the PyTorch checkpoint reader, when built in ---------------------------
// (Define EDET_NO_PTH to leave it out; then .pth files are refused with advice.)
#if defined(__has_include) && !defined(EDET_NO_PTH)
#if __has_include("edet/io/pth.hpp")
#include "edet/io/pth.hpp"
#define EDET_HAS_PTH 1
#endif
#endif
#ifndef EDET_HAS_PTH
#define EDET_HAS_PTH 0
#endif
// -----------------------------------------------------------------------------------------

EDET_NAMESPACE_BEGIN
namespace io {

enum class WeightsFormat { safetensors, pth_zip, pth_legacy, unknown };

inline const char* to_string(WeightsFormat f) {
    switch (f) {
        case WeightsFormat::safetensors: return "safetensors";
        case WeightsFormat::pth_zip: return "PyTorch zip checkpoint";
        case WeightsFormat::pth_legacy: return "PyTorch legacy (pickle) checkpoint";
        case WeightsFormat::unknown: return "unknown";
    }
    return "?";
}

// The container of a file from its first `n` bytes (9 are enough).
inline WeightsFormat sniff_weights_format(const std::uint8_t* p, std::size_t n) {
    if (n >= 9 && p[8] == '{') {
        std::uint64_t len = 0;
        for (int i = 7; i >= 0; --i) len = (len << 8) | p[i];
        if (len >= 2 && len <= safetensors_max_header_bytes) return WeightsFormat::safetensors;
    }
    if (n >= 4 && p[0] == 'P' && p[1] == 'K' && p[2] == 0x03 && p[3] == 0x04) return WeightsFormat::pth_zip;
    if (n >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5) return WeightsFormat::pth_legacy;
    return WeightsFormat::unknown;
}

// The container of the file at `path` (edet::Error when it cannot be read).
inline WeightsFormat sniff_weights_format(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) fail("weights file", path, "does not exist or cannot be accessed");
    if (!fs::is_regular_file(st)) fail("weights file", path, "is not a regular file");
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail("weights file", path, "cannot open for reading");
    std::uint8_t head[16] = {};
    const std::size_t n = std::fread(head, 1, sizeof head, f);
    std::fclose(f);
    return sniff_weights_format(head, n);
}

// Which weights of a file to take.
struct WeightsOptions {
    // Training checkpoints (.pth holding {'state_dict': ..., 'state_dict_ema': ..., ...}):
    // the entry to read; "" = automatic (pth.hpp: 'state_dict', as effdet's loader), e.g.
    // "state_dict_ema" for the EMA weights. A safetensors file has one set of weights, so a
    // key given for one is an error rather than silently ignored.
    std::string key;
};

// Opens a checkpoint as a TensorSource: safetensors always; .pth (zip or legacy pickle)
// when edet/io/pth.hpp is available. Throws edet::Error naming the path otherwise.
inline std::unique_ptr<TensorSource> open_weights(const std::string& path, const WeightsOptions& options = {}) {
    const WeightsFormat format = sniff_weights_format(path);
    if (!options.key.empty() && format == WeightsFormat::safetensors)
        fail("weights file", path,
             cat("is a safetensors file, which holds one set of weights; the entry '", options.key,
                 "' (--key / --ema) applies to .pth training checkpoints"));
    switch (format) {
        case WeightsFormat::safetensors: return SafeTensorsFile::open(path);
        case WeightsFormat::pth_zip:
        case WeightsFormat::pth_legacy:
#if EDET_HAS_PTH
        {
            PthOptions pth;
            pth.key = options.key;
            return PthFile::open(path, pth);
        }
#else
            fail("weights file", path,
                 cat("is a ", to_string(format),
                     "; this build has no .pth reader (edet/io/pth.hpp). Convert it to safetensors with "
                     "edet-convert IN.pth OUT.safetensors, or in Python: "
                     "safetensors.torch.save_file(torch.load('IN.pth', map_location='cpu'), 'OUT.safetensors')"));
#endif
        case WeightsFormat::unknown: break;
    }
    // A damaged file named *.safetensors gets the safetensors reader's precise diagnosis.
    const std::string ext = ".safetensors";
    if (path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
        return SafeTensorsFile::open(path);
    fail("weights file", path,
         cat("not a safetensors file (no 8-byte header length followed by '{') and not a PyTorch checkpoint; "
             ".pth support: PyTorch zip (\"PK\\x03\\x04\") and legacy pickle (\"\\x80\\x02\") checkpoints ",
             EDET_HAS_PTH ? "are read, but this file starts with neither"
                          : "are read when edet/io/pth.hpp is available (not in this build)"));
}

}  // namespace io
EDET_NAMESPACE_END
