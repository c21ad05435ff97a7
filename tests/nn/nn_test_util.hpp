// tests/nn/nn_test_util.hpp - an in-memory TensorSource and random parameters for layer tests.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "edet/io/tensor_source.hpp"
#include "edet/nn/binder.hpp"
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
