// tests/models/model_test_util.hpp - fixture helpers shared by the model tests.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "edet/io/json.hpp"
#include "edet/io/safetensors.hpp"
#include "edet/nn/binder.hpp"
#include "edet/tensor/tensor.hpp"
#include "nn/nn_test_util.hpp"
#include "test_util.hpp"

namespace edet_test {

// A reference fixture folder (../shared/fixtures/<name> or tests/data/model/<name>).
struct Fixture {
    std::string dir;
    std::string name;
    edet::io::json::Value manifest;
    std::string variant() const { return manifest["model"].as_string(); }
    int image_height() const { return static_cast<int>(manifest["config"]["image_size"][0].as_int64()); }
    int image_width() const { return static_cast<int>(manifest["config"]["image_size"][1].as_int64()); }
    double noise_max() const { return manifest["fp32_noise_max"].as_number(); }
    std::string weights() const { return dir + "/weights.safetensors"; }
    std::string input() const { return dir + "/input.safetensors"; }
    std::string outputs() const { return dir + "/outputs.safetensors"; }
};

inline std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Every folder holding manifest.json + the three safetensors files, sorted by name.
inline std::vector<Fixture> discover_fixtures(const std::vector<std::string>& roots) {
    namespace fs = std::filesystem;
    std::vector<Fixture> out;
    for (const auto& root : roots) {
        std::error_code ec;
        if (!fs::is_directory(root, ec)) continue;
        std::vector<std::string> dirs;
        for (const auto& e : fs::directory_iterator(root, ec))
            if (e.is_directory() && fs::exists(e.path() / "manifest.json") && fs::exists(e.path() / "weights.safetensors") &&
                fs::exists(e.path() / "outputs.safetensors") && fs::exists(e.path() / "input.safetensors"))
                dirs.push_back(e.path().string());
        std::sort(dirs.begin(), dirs.end());
        for (const auto& d : dirs) {
            Fixture f;
            f.dir = d;
            f.name = fs::path(d).filename().string();
            f.manifest = edet::io::json::parse(read_text(d + "/manifest.json"), d + "/manifest.json");
            out.push_back(std::move(f));
        }
    }
    return out;
}

// The shared fixtures, tests/data/model, and any folders of fixtures listed (':'-separated)
// in the environment variable EDET_MODEL_FIXTURES (e.g. oracle runs of larger variants).
inline std::vector<Fixture> all_fixtures() {
    std::vector<std::string> roots{fixtures_dir(), test_data_dir() + "/model"};
    if (const char* extra = std::getenv("EDET_MODEL_FIXTURES")) {
        std::string s(extra);
        std::size_t b = 0;
        while (b <= s.size()) {
            const std::size_t e = std::min(s.find(':', b), s.size());
            if (e > b) roots.push_back(s.substr(b, e - b));
            b = e + 1;
        }
    }
    return discover_fixtures(roots);
}

// NCHW float32 tensor `name` of a safetensors file as an NHWC edet tensor.
inline edet::Tensor<float> read_nchw_as_nhwc(const edet::io::TensorSource& src, const std::string& name) {
    const auto* info = src.find(name);
    REQUIRE_MESSAGE(info != nullptr, "missing tensor " << name << " in " << src.path());
    REQUIRE(info->shape.size() == 4);
    const int n = static_cast<int>(info->shape[0]), c = static_cast<int>(info->shape[1]);
    const int h = static_cast<int>(info->shape[2]), w = static_cast<int>(info->shape[3]);
    const std::vector<float> v = src.read_f32(name);
    edet::Tensor<float> t(edet::Shape{n, h, w, c});
    for (int b = 0; b < n; ++b)
        for (int ch = 0; ch < c; ++ch)
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x)
                    t.at(b, y, x, ch) = v[((static_cast<std::size_t>(b) * c + ch) * h + y) * w + x];
    return t;
}

// Compares an NHWC view with an NHWC reference tensor (same shape required).
inline ErrorStats compare_views(edet::TensorView<const float> got, const edet::Tensor<float>& want) {
    REQUIRE(got.shape() == want.shape());
    REQUIRE(got.is_contiguous());
    return compare(got.data(), want.data(), want.numel());
}

}  // namespace edet_test
