// edet/reference/params.hpp - a network's weights as the checkpoint stores them, looked up
// by effdet module name: what the reference path reads.
//
//   reference::Params p = reference::Params::from_source(*io::open_weights(path));
//   const std::vector<float>& w = p.tensor("backbone.conv_stem.weight", {32, 3, 3, 3});
//   reference::BatchNorm bn = p.batch_norm("backbone.bn1", 32, 1e-3f);
//
// Unlike the fast path's nn::Binder, nothing is folded or packed: a conv weight stays
// [out, in, k, k] and a batch norm stays four tensors, so each reference layer reads like
// the module it mirrors. Every lookup checks the shape; the fast path's binder has already
// checked the file as a whole (every tensor used, finite, sane batch norms) when both are
// loaded through EfficientDet.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/tensor_source.hpp"
#include "edet/reference/ops.hpp"

EDET_NAMESPACE_BEGIN
namespace reference {

class Params {
public:
    // Reads every floating-point tensor of the source (integer ones, the batch norms'
    // num_batches_tracked, are not used at inference).
    static Params from_source(const io::TensorSource& source) {
        Params p;
        p.path_ = source.path();
        for (const auto& t : source.tensors()) {
            if (t.dtype == io::DType::i64) continue;
            p.tensors_[t.name] = Entry{t.shape, source.read_f32(t.name)};
        }
        return p;
    }

    // Tensor `name` with exactly `shape`; throws edet::Error naming it otherwise.
    const std::vector<float>& tensor(const std::string& name, const std::vector<std::int64_t>& shape) const {
        const auto it = tensors_.find(name);
        if (it == tensors_.end()) fail(cat("tensor '", name, "'"), path_, "missing (the reference path needs it)");
        if (it->second.shape != shape)
            fail(cat("tensor '", name, "'"), path_, cat("has shape ", shape_text(it->second.shape), ", expected ", shape_text(shape)));
        return it->second.values;
    }

    bool has(const std::string& name) const { return tensors_.count(name) != 0; }

    // The batch norm `prefix` (.weight = gamma, .bias = beta, .running_mean, .running_var).
    BatchNorm batch_norm(const std::string& prefix, int channels, float eps) const {
        const std::vector<std::int64_t> s{channels};
        BatchNorm bn;
        bn.gamma = tensor(prefix + ".weight", s);
        bn.beta = tensor(prefix + ".bias", s);
        bn.mean = tensor(prefix + ".running_mean", s);
        bn.var = tensor(prefix + ".running_var", s);
        bn.eps = eps;
        return bn;
    }

private:
    struct Entry {
        std::vector<std::int64_t> shape;
        std::vector<float> values;
    };

    static std::string shape_text(const std::vector<std::int64_t>& s) {
        std::string r = "[";
        for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
        return r + "]";
    }

    std::string path_;
    std::map<std::string, Entry> tensors_;
};

}  // namespace reference
EDET_NAMESPACE_END
