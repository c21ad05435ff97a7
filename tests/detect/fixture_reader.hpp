// tests/detect/fixture_reader.hpp - fixture tensors for the detect tests.
//
// Reads F32 tensors by name from ../shared/fixtures/*.safetensors (io::SafeTensorsFile)
// and converts the reference's NCHW maps to NHWC.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/safetensors.hpp"

namespace edet_test {

struct FixtureTensor {
    std::vector<std::int64_t> shape;
    std::vector<float> values;
};

// A fixture file read through the library's validating safetensors reader.
class FixtureFile {
public:
    explicit FixtureFile(const std::string& path) : file_(edet::io::SafeTensorsFile::open(path)) {}

    FixtureTensor read(const std::string& name) const {
        const edet::io::TensorInfo* info = file_->find(name);
        if (!info) edet::fail("tensor '" + name + "'", file_->path(), "not found");
        if (info->dtype != edet::io::DType::f32) edet::fail("tensor '" + name + "'", file_->path(), "not F32");
        return FixtureTensor{info->shape, file_->read_f32(name)};
    }

private:
    std::unique_ptr<edet::io::SafeTensorsFile> file_;
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

// The four shared fixtures and the variant each was made with.
struct FixtureCase {
    const char* folder;
    const char* variant;
};
inline const FixtureCase kFixtures[] = {
    {"efficientdet_d0_s0", "efficientdet_d0"},
    {"tf_efficientdet_d0_s0", "tf_efficientdet_d0"},
    {"tf_efficientdet_d0_s3_256x384", "tf_efficientdet_d0"},
    {"tf_efficientdet_lite0_s0", "tf_efficientdet_lite0"},
};

}  // namespace edet_test
