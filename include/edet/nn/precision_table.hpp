// edet/nn/precision_table.hpp - which GEMMs of the network run in bfloat16 when a model is
// loaded with precision bf16 / bf16-emulated (kernels/bf16.hpp). fp32 runs everything in
// float32, whatever the table says.
//
// A bf16 GEMM (kernels/pointwise_conv_bf16.hpp) rounds its inputs and weights to bf16 (8
// significant bits) and accumulates in float32; the weights are packed once as bf16 when
// the model is loaded. Only 1x1 convolutions are GEMMs here; the other layers stay float32:
//   stem        a dense 3x3 conv with 3 input channels: 27 multiply-adds per output, too
//               short a reduction for vdpbf16ps pairs to pay for the conversion, and the
//               rounding of the raw image would be felt by every later layer
//   depthwise   one multiply-add per tap and channel, no reduction across channels to
//               pair up: bf16 would only add rounding
//   squeeze-excite  two mat-vecs per image (one pixel): negligible time
//   fusion, activations, resampling, post-processing: elementwise, memory bound
//
// Each role is chosen by measurement (the comment on kBf16Roles).
#pragma once

#include "edet/kernels/bf16.hpp"

EDET_NAMESPACE_BEGIN
namespace nn {

// What a 1x1 convolution is for, as far as precision is concerned.
enum class GemmRole {
    other,                // not in the table (a layer built on its own, e.g. in tests): float32
    block_expand,         // MBConv's expansion conv_pw (inverted residual blocks)
    block_project,        // MBConv's projection without squeeze-excite (Lite, and D-blocks' skip of SE)
    block_project_gated,  // MBConv's projection behind the squeeze-excite gate (input_scale)
    bifpn_node,           // a BiFPN node's separable conv, pointwise part
    resample,             // the 1x1 conv that changes a level's width before the BiFPN
    head_repeat,          // a head's repeated separable convs, pointwise part (shared, per-level BN)
    head_predict,         // a head's predict conv, pointwise part (class logits / box regressions)
};

inline const char* to_string(GemmRole r) {
    switch (r) {
        case GemmRole::other: return "other";
        case GemmRole::block_expand: return "block_expand";
        case GemmRole::block_project: return "block_project";
        case GemmRole::block_project_gated: return "block_project_gated";
        case GemmRole::bifpn_node: return "bifpn_node";
        case GemmRole::resample: return "resample";
        case GemmRole::head_repeat: return "head_repeat";
        case GemmRole::head_predict: return "head_predict";
    }
    return "?";
}

// Which roles run in bf16 when bf16 is asked for. The model uses kBf16Roles; a layer test
// can hand its Binder another set (kAllBf16Roles) to exercise a role the table turns off.
struct Bf16Roles {
    bool block_expand = false;
    bool block_project = false;
    bool block_project_gated = false;
    bool bifpn_node = false;
    bool resample = false;
    bool head_repeat = false;
    bool head_predict = false;

    constexpr bool runs_in_bf16(GemmRole role) const {
        switch (role) {
            case GemmRole::other: return false;
            case GemmRole::block_expand: return block_expand;
            case GemmRole::block_project: return block_project;
            case GemmRole::block_project_gated: return block_project_gated;
            case GemmRole::bifpn_node: return bifpn_node;
            case GemmRole::resample: return resample;
            case GemmRole::head_repeat: return head_repeat;
            case GemmRole::head_predict: return head_predict;
        }
        return false;
    }
};

// THE TABLE. Measured on this machine (AMD Zen 5, AVX512_BF16; edet-bench --threads 1 stage
// times, fp32 vs bf16 with every role on; accuracy with one group of roles at a time left in
// float32, worst max-relative error of the outputs vs the float32 path, and the share of the
// float32 detections kept, on the tf_efficientdet_d0 oracle photo case; random weights):
//   all roles bf16                          D0 40.2 -> 31.5 ms   error 1.4e-1, 30% detections kept
//   backbone blocks (expand + project) kept float32: error 2.4e-2, 97%
//   backbone blocks + BiFPN kept float32:   error 7.4e-3, 98%
// The backbone blocks' GEMMs gave ~7 of the ~9 ms D0 saves (blocks.0-6 30.2 -> 23.2 ms) but
// ~6x the error: a backbone perturbation is amplified by every later layer (the Lite0
// fixture, whose own float32 noise is 20x D0's, reached 0.76 with them on and matched 1% of
// the detections). They cost more accuracy than they gain, so they stay float32:
//   block_expand         off  (on: error 1.4e-1 -> off 1.1e-1 alone; 2.3 ms of D0's 30 in blocks)
//   block_project        off  (Lite's blocks: the Lite0 fixture 0.76 with the blocks on)
//   block_project_gated  off  (on: 1.4e-1 -> off 8.8e-2 alone; with block_project)
//   bifpn_node, resample on   (BiFPN 2.3 -> 1.9 ms, error 7.4e-3 -> 2.4e-2 with the heads)
//   head_repeat          on   (class + box nets 6.2 -> 4.9 ms with head_predict)
//   head_predict         on   (the class net's 810-wide predict conv is its largest GEMM)
// With trained weights the backbone may tolerate bf16 (these random networks are badly
// conditioned); turning a role on is one line here, to be measured again.
inline constexpr Bf16Roles kBf16Roles{false, false, false, true, true, true, true};

// Every role in bf16: for tests of the layers the table keeps in float32.
inline constexpr Bf16Roles kAllBf16Roles{true, true, true, true, true, true, true};

// True when `role` runs in bf16 in a model asked for bf16.
constexpr bool runs_in_bf16(GemmRole role) { return kBf16Roles.runs_in_bf16(role); }

// The precision a layer of `role` runs at when the model was asked for `asked`.
constexpr Precision layer_precision(Precision asked, GemmRole role, const Bf16Roles& roles = kBf16Roles) {
    return asked == Precision::fp32 || !roles.runs_in_bf16(role) ? Precision::fp32 : asked;
}

}  // namespace nn
EDET_NAMESPACE_END
