// edet/nn/binder.hpp - binding layer weights to reference (state_dict) names.
//
// Layers take their tensors through a Binder, in the order of the reference module's
// state_dict. The same walk serves two purposes:
//   - loading: every name is read from an io::TensorSource, its shape checked, and at the
//     end finish() refuses names the source has that nobody took;
//   - listing: with no source, the walk just records (name, shape) - this is how
//     state_dict_names() lists a variant's parameters without building any weights.
// So the name list the tests compare against the reference manifest is produced by the
// very code that binds the weights.
//
// The walk also carries the model's precision (kernels/bf16.hpp): resolved once when the
// binder is made, so bf16 on a CPU without AVX512_BF16 fails at load with an edet::Error;
// the 1x1 convs read it to pack bf16 weights for the roles nn/precision_table.hpp names.
//
// Batch norm (eval) is folded into the preceding conv: alpha = gamma / sqrt(var + eps),
// beta = bias - mean * alpha, computed in double (parity: the reference computes them in
// float32 with FMA; folding differs from it only by rounding, within tolerance).
//
// Numbers are checked at the door: every float tensor bound must be finite (a NaN or Inf
// weight is refused naming the tensor and the first bad element), a batch norm's
// running_var must be >= 0 with var + eps > 0, and the folded scale and shift must fit in
// a float. (An +Inf class bias once gave 100 boxes of score 1.000 and zero height; a
// negative variance gives NaN everywhere downstream.)
#pragma once

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/tensor_source.hpp"
#include "edet/kernels/bf16.hpp"
#include "edet/nn/precision_table.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

// One state_dict entry as the model expects it.
struct ParamInfo {
    std::string name;
    std::vector<std::int64_t> shape;
    io::DType dtype = io::DType::f32;
    std::size_t numel() const {
        std::size_t n = 1;
        for (auto d : shape) n *= static_cast<std::size_t>(d);
        return n;
    }
};

inline std::string shape_string(const std::vector<std::int64_t>& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}

// Eval-mode batch norm reduced to a per-channel affine map y = x * scale + shift.
struct BatchNormAffine {
    std::vector<double> scale, shift;
};

class Binder {
public:
    // source == nullptr: listing mode (take() records names and returns empty vectors).
    // precision: checked with resolve_precision (throws when this CPU cannot run it);
    // roles: which 1x1 convs it applies to (the table, unless a test asks for others).
    explicit Binder(const io::TensorSource* source, Precision precision = Precision::fp32,
                    const Bf16Roles& roles = kBf16Roles)
        : source_(source), precision_(resolve_precision(precision)), roles_(roles) {}

    bool listing() const { return source_ == nullptr; }

    // The precision the model was asked to run at (the table decides per layer).
    Precision precision() const { return precision_; }
    // The precision a 1x1 conv of `role` runs at in this model.
    Precision layer_precision(GemmRole role) const { return nn::layer_precision(precision_, role, roles_); }

    // Reads tensor `name` as float32, checking that it exists with exactly `shape`.
    std::vector<float> take(const std::string& name, std::vector<std::int64_t> shape) {
        record(name, shape, io::DType::f32);
        if (listing()) return {};
        const io::TensorInfo* info = source_->find(name);
        if (!info) fail(cat("tensor '", name, "'"), source_->path(), cat("missing (expected shape ", shape_string(shape), ")"));
        if (info->shape != shape)
            fail(cat("tensor '", name, "'"), source_->path(),
                 cat("expected shape ", shape_string(shape), ", got ", info->shape_str()));
        std::vector<float> values = source_->read_f32(name);
        check_finite(name, values);
        return values;
    }

    // Batch norm `prefix`.{weight,bias,running_mean,running_var,num_batches_tracked};
    // num_batches_tracked (I64, unused at inference) must be present and is ignored.
    BatchNormAffine take_batch_norm(const std::string& prefix, int channels, float eps) {
        const std::vector<std::int64_t> s{channels};
        const auto gamma = take(prefix + ".weight", s);
        const auto beta = take(prefix + ".bias", s);
        const auto mean = take(prefix + ".running_mean", s);
        const auto var = take(prefix + ".running_var", s);
        const std::string nbt = prefix + ".num_batches_tracked";
        record(nbt, {}, io::DType::i64);
        BatchNormAffine bn;
        if (listing()) return bn;
        const io::TensorInfo* info = source_->find(nbt);
        if (!info) fail(cat("tensor '", nbt, "'"), source_->path(), "missing (expected shape [])");
        if (!(info->shape.empty() || (info->shape.size() == 1 && info->shape[0] == 1)))
            fail(cat("tensor '", nbt, "'"), source_->path(), cat("expected shape [], got ", info->shape_str()));
        bn.scale.resize(static_cast<std::size_t>(channels));
        bn.shift.resize(static_cast<std::size_t>(channels));
        for (std::size_t c = 0; c < bn.scale.size(); ++c) {
            const double v = static_cast<double>(var[c]), e = static_cast<double>(eps);
            if (!(v >= 0) || !(v + e > 0))
                fail(cat("tensor '", prefix, ".running_var'"), source_->path(),
                     cat("element ", c, " is ", var[c], " (eps ", eps, "): a batch norm variance must be >= 0 with var + eps > 0"));
            const double a = static_cast<double>(gamma[c]) / std::sqrt(v + e);
            bn.scale[c] = a;
            bn.shift[c] = static_cast<double>(beta[c]) - static_cast<double>(mean[c]) * a;
            if (!(std::fabs(a) <= FLT_MAX) || !(std::fabs(bn.shift[c]) <= FLT_MAX))
                fail(cat("batch norm '", prefix, "'"), source_->path(),
                     cat("channel ", c, " folds to scale ", a, ", shift ", bn.shift[c], " (var ", var[c], ", eps ", eps,
                         "), beyond float range"));
        }
        return bn;
    }

    // Every name the source holds must have been taken; throws naming the first that was not.
    void finish() const {
        if (listing()) return;
        for (const auto& t : source_->tensors())
            if (!seen_.count(t.name))
                fail(cat("tensor '", t.name, "'"), source_->path(),
                     cat("unexpected: the model has no such parameter (shape ", t.shape_str(), ")"));
    }

    const std::vector<ParamInfo>& params() const { return params_; }

private:
    void check_finite(const std::string& name, const std::vector<float>& values) const {
        for (std::size_t i = 0; i < values.size(); ++i)
            if (!std::isfinite(values[i]))
                fail(cat("tensor '", name, "'"), source_->path(),
                     cat("element ", i, " is ", values[i], "; weights must be finite"));
    }

    void record(const std::string& name, std::vector<std::int64_t> shape, io::DType dtype) {
        if (!seen_.insert(name).second) fail(cat("tensor '", name, "'"), "nn::Binder", "bound twice (internal error)");
        params_.push_back(ParamInfo{name, std::move(shape), dtype});
    }

    const io::TensorSource* source_;
    Precision precision_ = Precision::fp32;
    Bf16Roles roles_;
    std::vector<ParamInfo> params_;
    std::unordered_set<std::string> seen_;
};

}  // namespace nn
EDET_NAMESPACE_END
