// edet/edet.hpp - the one include for users of edet.
//
// edet runs EfficientDet (Tan, Pang, Le, CVPR 2020) on the CPU from C++ headers.
// Layers, bottom to top (a header includes only from its own layer or below):
//   core/     Error, instruction-set namespace, parallel loops
//   tensor/   Tensor<T>, Shape {n, h, w, c}, aligned storage, views (NHWC)
//   kernels/  depthwise, pointwise (GEMM), dense conv, pool, resize, activations, fusion
//   nn/       layer templates: ConvBnAct, MBConv, BiFPN node/layer, heads
//   models/   EfficientNet backbones, EfficientDet D0-D7, D7x, Lite0-4
//   io/       safetensors / .pth readers, images
//   detect/   anchors, decoding, NMS, labels, the Detector facade
#pragma once

#include "edet/core/arch.hpp"
#include "edet/core/error.hpp"
#include "edet/core/parallel.hpp"
#include "edet/tensor/tensor.hpp"
