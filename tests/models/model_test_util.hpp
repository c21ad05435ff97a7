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

namespace edet_test {

// A TensorSource in memory: tensors by name, in insertion order.
class MemorySource : public edet::io::TensorSource {
public:
    void add(const std::string& name, std::vector<std::int64_t> shape, std::vector<float> values,
             edet::io::DType dtype = edet::io::DType::f32) {
        edet::io::TensorInfo t;
        t.name = name;
        t.dtype = dtype;
        t.shape = std::move(shape);
        infos_.push_back(t);
        values_.push_back(std::move(values));
    }
    void set_metadata(const std::string& key, const std::string& value) { meta_[key] = value; }
    const std::vector<edet::io::TensorInfo>& tensors() const override { return infos_; }
    const edet::io::TensorInfo* find(const std::string& name) const override {
        for (const auto& t : infos_)
            if (t.name == name) return &t;
        return nullptr;
    }
    std::vector<float> read_f32(const std::string& name) const override {
        for (std::size_t i = 0; i < infos_.size(); ++i)
            if (infos_[i].name == name) return values_[i];
        edet::fail("tensor '" + name + "'", path_, "missing");
    }
    std::string metadata(const std::string& key) const override {
        auto it = meta_.find(key);
        return it == meta_.end() ? std::string() : it->second;
    }
    const std::string& path() const override { return path_; }

    // Copies every tensor of another source; `drop`, `reshape` and `extra` mutate the copy.
    static MemorySource copy_of(const edet::io::TensorSource& src) {
        MemorySource m;
        for (const auto& t : src.tensors()) m.add(t.name, t.shape, src.read_f32(t.name), t.dtype);
        m.meta_["model"] = src.metadata("model");
        return m;
    }
    void drop(const std::string& name) {
        for (std::size_t i = 0; i < infos_.size(); ++i)
            if (infos_[i].name == name) {
                infos_.erase(infos_.begin() + static_cast<std::ptrdiff_t>(i));
                values_.erase(values_.begin() + static_cast<std::ptrdiff_t>(i));
                return;
            }
    }
    void reshape(const std::string& name, std::vector<std::int64_t> shape) {
        for (auto& t : infos_)
            if (t.name == name) t.shape = std::move(shape);
    }

    // Random weights for every name a config expects (running_var > 0).
    static MemorySource random_for(const std::vector<edet::nn::ParamInfo>& params, std::uint64_t seed) {
        Random r(seed);
        MemorySource m;
        for (const auto& p : params) {
            std::vector<float> v(p.numel());
            const bool var = p.name.size() > 12 && p.name.compare(p.name.size() - 12, 12, ".running_var") == 0;
            const bool gamma = p.name.find(".bn") != std::string::npos && p.name.size() > 7 &&
                               p.name.compare(p.name.size() - 7, 7, ".weight") == 0;
            for (auto& x : v) x = var ? r.uniform(0.5f, 1.5f) : gamma ? r.uniform(0.5f, 1.0f) : r.uniform(-0.2f, 0.2f);
            m.add(p.name, p.shape, std::move(v), p.dtype);
        }
        return m;
    }

private:
    std::vector<edet::io::TensorInfo> infos_;
    std::vector<std::vector<float>> values_;
    std::map<std::string, std::string> meta_;
    std::string path_ = "<memory>";
};

}  // namespace edet_test
