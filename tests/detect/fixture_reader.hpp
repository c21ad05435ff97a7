// tests/detect/fixture_reader.hpp - a minimal safetensors reader for the detect tests.
//
// Reads F32 tensors by name from ../shared/fixtures/*.safetensors so the post-processing
// tests do not depend on the io layer's reader (being written in parallel). It scans the
// JSON header for "name":{"dtype":"F32","shape":[...],"data_offsets":[a,b]} and nothing
// else; it is test scaffolding, not a general parser.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/image.hpp"

namespace edet_test {

struct FixtureTensor {
    std::vector<std::int64_t> shape;
    std::vector<float> values;
};

class FixtureFile {
public:
    explicit FixtureFile(const std::string& path) : path_(path), bytes_(edet::io::read_file_bytes(path)) {
        if (bytes_.size() < 8) edet::fail("safetensors", path, "shorter than 8 bytes");
        std::uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | bytes_[static_cast<std::size_t>(i)];
        if (n > bytes_.size() - 8) edet::fail("safetensors", path, "header longer than the file");
        header_.assign(reinterpret_cast<const char*>(bytes_.data() + 8), static_cast<std::size_t>(n));
        data_start_ = 8 + static_cast<std::size_t>(n);
    }

    FixtureTensor read(const std::string& name) const {
        const std::string key = "\"" + name + "\"";
        std::size_t at = header_.find(key + ":");
        if (at == std::string::npos) edet::fail("tensor '" + name + "'", path_, "not found");
        const std::size_t end = header_.find('}', at);
        const std::string entry = header_.substr(at, end - at);
        if (entry.find("\"F32\"") == std::string::npos) edet::fail("tensor '" + name + "'", path_, "not F32");
        FixtureTensor t;
        t.shape = numbers(entry, "\"shape\"");
        const std::vector<std::int64_t> off = numbers(entry, "\"data_offsets\"");
        if (off.size() != 2 || off[1] < off[0] || data_start_ + static_cast<std::size_t>(off[1]) > bytes_.size())
            edet::fail("tensor '" + name + "'", path_, "bad data_offsets");
        const std::size_t count = static_cast<std::size_t>(off[1] - off[0]) / 4;
        t.values.resize(count);
        const std::uint8_t* p = bytes_.data() + data_start_ + static_cast<std::size_t>(off[0]);
        for (std::size_t i = 0; i < count; ++i) {
            std::uint32_t u = static_cast<std::uint32_t>(p[4 * i]) | (static_cast<std::uint32_t>(p[4 * i + 1]) << 8) |
                              (static_cast<std::uint32_t>(p[4 * i + 2]) << 16) |
                              (static_cast<std::uint32_t>(p[4 * i + 3]) << 24);
            float f;
            static_assert(sizeof f == sizeof u, "float is 32-bit");
            std::memcpy(&f, &u, 4);
            t.values[i] = f;
        }
        return t;
    }

private:
    std::vector<std::int64_t> numbers(const std::string& entry, const std::string& field) const {
        std::vector<std::int64_t> out;
        std::size_t at = entry.find(field);
        if (at == std::string::npos) edet::fail("field " + field, path_, "missing");
        at = entry.find('[', at);
        const std::size_t end = entry.find(']', at);
        const char* s = entry.c_str() + at + 1;
        const char* stop = entry.c_str() + end;
        while (s < stop) {
            char* next = nullptr;
            const long long v = std::strtoll(s, &next, 10);
            if (next == s) {
                ++s;
                continue;
            }
            out.push_back(v);
            s = next;
        }
        return out;
    }

    std::string path_;
    std::vector<std::uint8_t> bytes_;
    std::string header_;
    std::size_t data_start_ = 0;
};

// NCHW (n, c, h, w) -> NHWC values.
inline std::vector<float> nchw_to_nhwc(const FixtureTensor& t) {
    if (t.shape.size() != 4) edet::fail("tensor", "nchw_to_nhwc", "not 4-D");
    const auto n = static_cast<std::size_t>(t.shape[0]), c = static_cast<std::size_t>(t.shape[1]),
               h = static_cast<std::size_t>(t.shape[2]), w = static_cast<std::size_t>(t.shape[3]);
    std::vector<float> out(t.values.size());
    for (std::size_t b = 0; b < n; ++b)
        for (std::size_t ch = 0; ch < c; ++ch)
            for (std::size_t y = 0; y < h; ++y)
                for (std::size_t x = 0; x < w; ++x)
                    out[((b * h + y) * w + x) * c + ch] = t.values[((b * c + ch) * h + y) * w + x];
    return out;
}

}  // namespace edet_test
