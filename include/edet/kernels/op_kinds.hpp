// edet/kernels/op_kinds.hpp - the names of the kernel variants a network config chooses
// between: the activation after a conv, the BiFPN fusion rule. Plain enums with their
// spellings, no SIMD: models/config.hpp (pure data) names them without pulling in the
// kernels (xsimd) that implement them (kernels/activation.hpp, kernels/fusion.hpp).
#pragma once

#include "edet/core/arch.hpp"

EDET_NAMESPACE_BEGIN

// What follows a conv + BN: relu6 in the Lite networks, swish (x * sigmoid(x)) elsewhere;
// none for the heads' predict convs, sigmoid for squeeze-excite's gate.
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

// How a BiFPN node weighs its inputs (EfficientDet paper, section 3.3): fast normalized
// fusion w_i / (eps + sum_j w_j) with relu'd weights (D0-D5), softmax over the weights, or
// a plain sum (D6-D7x and the Lite networks: effdet's bifpn_sum).
enum class FusionRule { sum, softmax, fast_normalized };

inline const char* to_string(FusionRule r) {
    switch (r) {
        case FusionRule::sum: return "sum";
        case FusionRule::softmax: return "softmax";
        case FusionRule::fast_normalized: return "fast_normalized";
    }
    return "?";
}

EDET_NAMESPACE_END
