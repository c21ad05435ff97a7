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
    block_project,        // MBConv's projection without squeeze-excite (the Lite variants' blocks)
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

// THE TABLE, chosen by measurement on this repository's development machine (AMD Zen 5
// with AVX512_BF16, 2 cores shared with other work; edet-bench --threads 1, random weights;
// accuracy with edet-dump --precision bf16 on the 17 oracle photo cases, one per variant,
// random weights: worst max |bf16 - fp32| / max |fp32| of the head outputs, and the share
// of the fp32 detections bf16 keeps, same class at IoU >= 0.9):
//   every role bf16        D0 40.2 -> 31.5 ms (backbone blocks.0-6 30.2 -> 23.2 ms: ~80% of
//                          the saving; BiFPN 2.3 -> 1.9, heads 6.2 -> 4.9); head error
//                          1.3e-1..7.4e-1 on the D variants, 0.66..1.1 on Lite, detections
//                          kept 3-52% (D), 0% (Lite)
//   on tf_efficientdet_d0's case, leaving groups in float32: the block GEMMs -> 2.4e-2, 97%;
//                          only block_expand -> 1.1e-1, 41%; only the block projections
//                          -> 8.8e-2, 43%; the BiFPN's or the heads' roles -> 1.4e-1, 30%
//                          (no better than all bf16)
//   this table             D0 46.7 -> 43.5 ms (x0.93), Lite0 14.2 -> 14.4 (x1.01, noise),
//                          D3 at 384x384 74.6 -> 65.9 (x0.88: BiFPN 11.0 -> 7.5, heads
//                          14.8 -> 9.2); head error 1.6e-2..8.7e-2 (D), 3.3e-2..1.5e-1
//                          (Lite), detections kept 58-97% (D), 25-93% (Lite)
// A rounding in the backbone is amplified by every later layer (these random networks
// are badly conditioned: the Lite cases' own float32 noise is 10-200x D0's), so the
// blocks' GEMMs cost far more accuracy than their ~17% of the time: they stay float32.
//   block_expand         float32  (see above)
//   block_project        float32  (Lite's projections; the Lite0 fixture: 0.76 error with
//                                  the block roles on, 3.1e-2 off)
//   block_project_gated  float32  (see above; its bf16 path, the SE gate as input_scale, is
//                                  kept and tested for a table that turns it on)
//   bifpn_node, resample bf16     (BiFPN -17% on D0, -31% on D3)
//   head_repeat          bf16     (with head_predict: heads -24% on D0, -38% on D3)
//   head_predict         bf16     (the class head's predict conv, 810 wide, is its largest GEMM)
// Trained weights may well tolerate bf16 in the backbone; turning a role on is one field
// here, to be measured again (tests build layers with kAllBf16Roles).
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
