// edet/io/tensor_source.hpp - a named collection of tensors (a state_dict), whatever the
// file format. safetensors.hpp and pth.hpp implement it; the model binds its weights
// from it by reference name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edet/core/error.hpp"

EDET_NAMESPACE_BEGIN
namespace io {

enum class DType { f32, f16, bf16, i64 };

inline const char* to_string(DType d) {
    switch (d) {
        case DType::f32: return "F32";
        case DType::f16: return "F16";
        case DType::bf16: return "BF16";
        case DType::i64: return "I64";
    }
    return "?";
}

inline std::size_t dtype_size(DType d) {
    switch (d) {
        case DType::f32: return 4;
        case DType::f16: return 2;
        case DType::bf16: return 2;
        case DType::i64: return 8;
    }
    return 0;
}

struct TensorInfo {
    std::string name;
    DType dtype = DType::f32;
    std::vector<std::int64_t> shape;  // as stored (PyTorch order, e.g. [cout, cin, kh, kw])
    std::size_t numel() const {
        std::size_t n = 1;
        for (auto d : shape) n *= static_cast<std::size_t>(d);
        return n;
    }
    std::string shape_str() const {
        std::string s = "[";
        for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
        return s + "]";
    }
};

class TensorSource {
public:
    virtual ~TensorSource() = default;
    // Every tensor, in file order.
    virtual const std::vector<TensorInfo>& tensors() const = 0;
    // nullptr when absent.
    virtual const TensorInfo* find(const std::string& name) const = 0;
    // The tensor's values as float32 (F16/BF16 widened exactly, I64 converted), in
    // row-major order of its shape. Throws edet::Error naming the tensor if absent.
    virtual std::vector<float> read_f32(const std::string& name) const = 0;
    // A metadata entry (safetensors __metadata__), "" when absent.
    virtual std::string metadata(const std::string& key) const { (void)key; return {}; }
    // The file this came from, for messages.
    virtual const std::string& path() const = 0;
};

}  // namespace io
EDET_NAMESPACE_END
