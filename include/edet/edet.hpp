// edet/edet.hpp - the one include for users of edet.
//
// edet runs EfficientDet (Tan, Pang, Le, CVPR 2020) on the CPU from C++ headers. It
// reproduces effdet 0.4.1 (the PyTorch port whose checkpoints people download) to float32
// noise, and reads its .pth checkpoints or safetensors conversions of them directly.
//
// A tour in three steps.
//
// 1. Detect objects in a photo (preprocessing, network and post-processing as effdet's
//    evaluation path; boxes in the photo's pixels):
//
//      #include <edet/edet.hpp>
//
//      edet::Detector det = edet::Detector::load("tf_efficientdet_d0_34-f153e0cf.pth",
//                                                "tf_efficientdet_d0");
//      edet::io::Image img = edet::io::read_image("street.jpg");
//      edet::DetectOptions opt;
//      opt.score_threshold = 0.4f;
//      for (const edet::Detection& d : det.detect(img, opt))
//          std::printf("%s %.2f at %.0f,%.0f-%.0f,%.0f\n", d.label.c_str(), d.score,
//                      d.box.x1, d.box.y1, d.box.x2, d.box.y2);
//
// 2. Run the network alone on a normalised NHWC tensor and read the raw head outputs
//    (what tools/edet-dump writes; shapes are named: Shape{n, h, w, c}):
//
//      edet::EfficientDet net = edet::EfficientDet::load("weights.safetensors");  // variant from metadata
//      edet::Tensor<float> x(edet::Shape{1, net.config().image_height, net.config().image_width, 3});
//      const edet::HeadOutputs& out = net.forward(x.view());
//      // out.class_out[l]: {n, h_l, w_l, 9 * num_classes}, out.box_out[l]: {n, h_l, w_l, 9 * 4}
//
// 3. Take one BiFPN node of a real network apart: build it by its module name from a
//    checkpoint and run it on plain NHWC tensors (examples/fusion_node.cpp checks one
//    against the reference's own output):
//
//      edet::BiFpnNodeModel node = edet::BiFpnNodeModel::load("weights.safetensors", "fpn.cell.0.fnode.3");
//      edet::Tensor<float> out = node.forward({p3.view(), node2.view()});  // node.input_offsets(): {0, 7}
//
//    The backbone's stem and blocks and the heads come apart the same way, by name
//    (models/mbconv_block.hpp, models/head_model.hpp; examples/mbconv_block.cpp):
//
//      edet::MBConvBlockModel block = edet::MBConvBlockModel::load("weights.safetensors", "backbone.blocks.3.1");
//      edet::Tensor<float> y = block.forward(x.view());  // x: {n, h, w, block.in_channels()}
//      edet::HeadModel box = edet::HeadModel::load("weights.safetensors", "box_net");
//      std::vector<edet::Tensor<float>> boxes = box.forward({p3, p4, p5, p6, p7});  // per level {n, h, w, 36}
//
// 4. A model you trained with effdet's train.py (other classes, anchors, size, names),
//    described once (detect/model_description.hpp; edet-convert stores the description
//    in the file's metadata, so a converted model needs none):
//
//      edet::detect::ModelDescription d;
//      d.variant = "tf_efficientdet_lite0"; d.image_height = 256; d.image_width = 384;
//      d.num_scales = 2; d.aspect_ratios = edet::detect::parse_aspect_ratios("1.0,2.0,0.5");
//      d.labels = edet::detect::LabelMap::from_file("instances_val.json");
//      edet::Detector mine = edet::Detector::load("model_best.pth.tar", d);
//
// 5. Read the network plainly: reference/ writes every layer as the paper's operations one
//    per line (plain loops on tensors, weights as the checkpoint stores them), and the
//    whole network the same way; slow, one thread, held to the same tolerance as the fast
//    path, which is tested against it:
//
//      edet::EfficientDet ref = edet::EfficientDet::load("weights.safetensors", "", 0, 0,
//                                                        edet::ForwardPath::reference);
//      edet::Tensor<float> y = edet::reference::mbconv(spec, params, x.view());  // one block
//
// Errors a caller can cause (a missing file, a misshapen tensor, an unknown variant) throw
// edet::Error naming what, where and why.
//
// Layers, bottom to top (a header includes only from its own layer or below):
//   core/     Error, instruction-set namespace, parallel loops
//   tensor/   Tensor<T>, Shape {n, h, w, c}, aligned storage, views (NHWC)
//   kernels/  depthwise, pointwise (GEMM; a bfloat16 one for --precision bf16), dense conv,
//             pool, resize, activations, fusion
//   io/       safetensors / .pth readers, images, the published variants and their
//             download (weights are read by nn/ and models/, so io sits below them)
//   nn/       layer templates: conv + BN layers, MBConv, BiFPN node/layer, heads (the fast path);
//             layer_specs.hpp: what each layer is, as data
//   reference/ the same layers and the whole network written plainly (no SIMD); it includes
//             only data headers from above it (nn/layer_specs.hpp, models/config.hpp,
//             models/architecture.hpp), and EfficientDet offers it as ForwardPath::reference
//   models/   the variant table (config.hpp) and every layer's spec from it (architecture.hpp);
//             EfficientNet backbones, EfficientDet D0-D7, D7x, Lite0-4; the network's own
//             modules by effdet name: BiFPN nodes, stem and MBConv blocks, heads
//   detect/   anchors, decoding, NMS, labels, model descriptions, the Detector facade,
//             COCO mAP evaluation
//
// This header pulls in everything above, including xsimd and stb_image (static,
// inside io/image.hpp); a translation unit that needs only a part can include that
// layer's header instead and compiles faster.
#pragma once

#include "edet/core/arch.hpp"
#include "edet/core/error.hpp"
#include "edet/core/parallel.hpp"
#include "edet/tensor/tensor.hpp"

#include "edet/models/bifpn_node.hpp"
#include "edet/models/config.hpp"
#include "edet/models/efficientdet.hpp"
#include "edet/models/head_model.hpp"
#include "edet/models/mbconv_block.hpp"
#include "edet/reference/efficientdet.hpp"

#include "edet/io/checkpoint_cache.hpp"
#include "edet/io/checkpoints.hpp"
#include "edet/io/image.hpp"
#include "edet/io/safetensors.hpp"
#include "edet/io/weights.hpp"

#include "edet/detect/anchors.hpp"
#include "edet/detect/coco_dataset.hpp"
#include "edet/detect/coco_eval.hpp"
#include "edet/detect/detector.hpp"
#include "edet/detect/draw.hpp"
#include "edet/detect/label_map.hpp"
#include "edet/detect/labels.hpp"
#include "edet/detect/model_description.hpp"
#include "edet/detect/postprocess.hpp"
#include "edet/detect/preprocess.hpp"
#include "edet/detect/results_json.hpp"
#include "edet/detect/variants.hpp"
