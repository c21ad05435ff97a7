// tests/nn/nn_test_util.hpp - an in-memory TensorSource and random parameters for layer tests.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edet/io/tensor_source.hpp"
#include "edet/kernels/activation.hpp"
#include "edet/nn/binder.hpp"
#include "edet/tensor/tensor.hpp"
#include "test_util.hpp"

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
    // Overwrites one element of a tensor (e.g. a NaN or an Inf where the loader must refuse it).
    void set(const std::string& name, std::size_t index, float value) {
        for (std::size_t i = 0; i < infos_.size(); ++i)
            if (infos_[i].name == name) values_[i].at(index) = value;
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

namespace edet_test {

// Random parameters for whatever a layer binds: build it once in listing mode to learn
// the names, fill them, then hand out a loading binder over those values.
class ParamStore {
public:
    explicit ParamStore(Random& r) : random_(r) {}
    template <class Build>
    edet::nn::Binder& binder_listing_then_load(Build&& build) {
        edet::nn::Binder lister(nullptr);
        build(lister);
        source_ = MemorySource::random_for(lister.params(), static_cast<std::uint64_t>(random_.integer(0, 1 << 30)));
        binder_ = std::make_unique<edet::nn::Binder>(&source_);
        return *binder_;
    }
    std::vector<float> values(const std::string& name) const { return source_.read_f32(name); }
    const MemorySource& source() const { return source_; }

private:
    Random& random_;
    MemorySource source_;
    std::unique_ptr<edet::nn::Binder> binder_;
};

}  // namespace edet_test

namespace edet_test {

// Naive NHWC convolution in double: w in the reference layout [cout][cin or 1][k][k];
// padding before = pad_top/left; output size given.
struct NaiveMap {
    int n = 0, h = 0, w = 0, c = 0;
    std::vector<double> v;
    double& at(int b, int y, int x, int ch) { return v[((static_cast<std::size_t>(b) * h + y) * w + x) * c + ch]; }
    double at(int b, int y, int x, int ch) const { return v[((static_cast<std::size_t>(b) * h + y) * w + x) * c + ch]; }
};

inline NaiveMap naive_from(const edet::TensorView<const float>& t) {
    NaiveMap m{t.n(), t.h(), t.w(), t.c(), {}};
    m.v.resize(t.numel());
    for (int b = 0; b < t.n(); ++b)
        for (int y = 0; y < t.h(); ++y)
            for (int x = 0; x < t.w(); ++x)
                for (int ch = 0; ch < t.c(); ++ch) m.at(b, y, x, ch) = t.at(b, y, x, ch);
    return m;
}

inline NaiveMap naive_conv(const NaiveMap& x, const std::vector<float>& w, int cout, int k, int stride, int pad_top,
                           int pad_left, int oh, int ow, bool depthwise, const std::vector<float>& bias = {}) {
    NaiveMap o{x.n, oh, ow, cout, {}};
    o.v.assign(static_cast<std::size_t>(x.n) * oh * ow * cout, 0.0);
    for (int b = 0; b < x.n; ++b)
        for (int y = 0; y < oh; ++y)
            for (int xx = 0; xx < ow; ++xx)
                for (int co = 0; co < cout; ++co) {
                    double acc = bias.empty() ? 0.0 : bias[static_cast<std::size_t>(co)];
                    for (int ky = 0; ky < k; ++ky)
                        for (int kx = 0; kx < k; ++kx) {
                            const int iy = y * stride + ky - pad_top, ix = xx * stride + kx - pad_left;
                            if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                            if (depthwise) {
                                acc += x.at(b, iy, ix, co) * w[(static_cast<std::size_t>(co) * k + ky) * k + kx];
                            } else {
                                for (int ci = 0; ci < x.c; ++ci)
                                    acc += x.at(b, iy, ix, ci) * w[((static_cast<std::size_t>(co) * x.c + ci) * k + ky) * k + kx];
                            }
                        }
                    o.at(b, y, xx, co) = acc;
                }
    return o;
}

// Eval batch norm from the stored tensors `prefix`.{weight,bias,running_mean,running_var}.
inline void naive_bn(NaiveMap& x, const edet::io::TensorSource& s, const std::string& prefix, double eps) {
    const auto g = s.read_f32(prefix + ".weight"), b = s.read_f32(prefix + ".bias");
    const auto m = s.read_f32(prefix + ".running_mean"), v = s.read_f32(prefix + ".running_var");
    for (std::size_t i = 0; i < x.v.size(); ++i) {
        const std::size_t c = i % static_cast<std::size_t>(x.c);
        x.v[i] = (x.v[i] - m[c]) / std::sqrt(static_cast<double>(v[c]) + eps) * g[c] + b[c];
    }
}

inline double naive_act(double x, edet::Activation a) {
    switch (a) {
        case edet::Activation::relu: return std::max(x, 0.0);
        case edet::Activation::relu6: return std::min(std::max(x, 0.0), 6.0);
        case edet::Activation::swish: return x / (1.0 + std::exp(-x));
        case edet::Activation::sigmoid: return 1.0 / (1.0 + std::exp(-x));
        default: return x;
    }
}
inline void naive_act(NaiveMap& x, edet::Activation a) {
    for (auto& v : x.v) v = naive_act(v, a);
}

// max |got - want| and max |want|.
inline std::pair<double, double> naive_error(const NaiveMap& want, edet::TensorView<const float> got) {
    REQUIRE(got.n() == want.n);
    REQUIRE(got.h() == want.h);
    REQUIRE(got.w() == want.w);
    REQUIRE(got.c() == want.c);
    double e = 0, r = 0;
    for (int b = 0; b < want.n; ++b)
        for (int y = 0; y < want.h; ++y)
            for (int x = 0; x < want.w; ++x)
                for (int c = 0; c < want.c; ++c) {
                    e = std::max(e, std::fabs(want.at(b, y, x, c) - got.at(b, y, x, c)));
                    r = std::max(r, std::fabs(want.at(b, y, x, c)));
                }
    return {e, r};
}

inline edet::Tensor<float> random_tensor(Random& r, edet::Shape s, float lo = -1.0f, float hi = 1.0f) {
    edet::Tensor<float> t(s);
    for (std::size_t i = 0; i < t.numel(); ++i) t.data()[i] = r.uniform(lo, hi);
    return t;
}

}  // namespace edet_test
