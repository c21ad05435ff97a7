// edet/kernels/activation.hpp - activation functions, scalar reference and vectorised.
//
// CONTRACT (to be completed by the vectorised implementation)
//   apply_activation(data, count, act): in place over `count` contiguous floats.
//   activate(x, act) / ref::activate: the scalar definition every kernel epilogue uses.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "edet/core/arch.hpp"

EDET_NAMESPACE_BEGIN

enum class Activation { none, relu, relu6, swish, sigmoid };

inline const char* to_string(Activation a) {
    switch (a) {
        case Activation::none: return "none";
        case Activation::relu: return "relu";
        case Activation::relu6: return "relu6";
        case Activation::swish: return "swish";
        case Activation::sigmoid: return "sigmoid";
    }
    return "?";
}

namespace kernels {
namespace ref {

// The maths, in float32: swish(x) = x * sigmoid(x), sigmoid(x) = 1 / (1 + e^-x).
inline float activate(float x, Activation a) {
    switch (a) {
        case Activation::none: return x;
        case Activation::relu: return std::max(x, 0.0f);
        case Activation::relu6: return std::min(std::max(x, 0.0f), 6.0f);
        case Activation::swish: return x / (1.0f + std::exp(-x));
        case Activation::sigmoid: return 1.0f / (1.0f + std::exp(-x));
    }
    return x;
}

inline void apply_activation(float* data, std::size_t count, Activation a) {
    for (std::size_t i = 0; i < count; ++i) data[i] = activate(data[i], a);
}

}  // namespace ref

// Entry point (initially the reference; replaced by the xsimd version).
inline void apply_activation(float* data, std::size_t count, Activation a) {
    ref::apply_activation(data, count, a);
}

}  // namespace kernels
EDET_NAMESPACE_END
