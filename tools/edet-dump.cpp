// edet-dump - run the network and write its raw outputs (and optionally the post-processed
// detections) in the reference fixtures' naming and NCHW layout, so any checker can
// compare them with ../shared/fixtures or the oracle (../shared/oracle/make_fixture).
//
//   edet-dump --weights W.safetensors --input I.safetensors --output O.safetensors
//             [--variant NAME] [--threads N] [--features] [--detections] [--nodes] [--path fast|reference]
//   edet-dump --weights W.safetensors --image a.png [--image b.jpg ...] --output O.safetensors
//             [--variant NAME] [--detections]
//   edet-dump --weights model_best.pth.tar --variant tf_efficientdet_lite0 --num-scales 2
//             --aspect-ratios 1.0,2.0,0.5 --input I.safetensors --output O.safetensors
//
// The model flags (--variant, --size, --num-scales, --aspect-ratios, --anchor-scale, --max,
// --labels, --ema, --key; tools/model_flags.hpp) describe a custom model as in every tool.
//
// --input: the file holds `input`, float32 NCHW {n, 3, H, W}, already normalised; the
// network is set up for H x W. If the file also holds `scale` {n} and `img_size` {n, 2}
// (an oracle fixture made with --image), they are the image info of --detections.
//
// --image (repeatable, one batch): each image goes through the detector's preprocessing for
// the variant (detect/preprocess.hpp: Pillow-bilinear letterbox, the variant's mean, std and
// fill, `_ap` names included) at the variant's input size. The output then also holds what
// the oracle's input.safetensors holds: `input` (float32 NCHW), `scale` {n} (effdet's
// img_scale = original / resized) and `img_size` {n, 2} (width, height).
//
// Output tensors (float32): [input, scale, img_size] with --image; backbone.<i>, fpn.<l>
// with --features; with --nodes every BiFPN node's output under the reference oracle's
// names (make_fixture --nodes): fpn.resample.<i>.out (the extra levels P6, P7 (P8)),
// fpn.cell.<c>.fnode.<j>.out (after the node's separable conv + BN) and
// fpn.cell.<c>.fnode.<j>.combine.out (the fused inputs after the node's activation, as the
// oracle records them), NCHW; class_out.<l>, box_out.<l> always; with --detections also
//   detections      {n, 100, 6}  x1 y1 x2 y2 score class (1-based), rows of zeros past the
//                                last detection: top-5000, per-class hard NMS at IoU 0.5
//   detections_soft {n, 100, 6}  the same with effdet's gaussian soft-NMS
// (both are written: the soft pass costs little next to the network). Without image info
// the boxes are in network pixels, unclipped (the fixtures); with image info (--image, or
// scale + img_size in --input) they are clipped to the image before NMS and scaled to
// original-image pixels after it, as effdet does (detect/postprocess.hpp).
//
// --path reference runs the plain reference layers (reference/, slow, one thread) instead of
// the fast ones: the same outputs within float32 noise, from code written to be read.
//
// Exit status: 0 ok, 1 edet::Error (message on stderr, naming the file), 2 usage error.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edet/core/arch.hpp"
#include "edet/core/parallel.hpp"
#include "edet/detect/anchors.hpp"
#include "edet/detect/model_description.hpp"
#include "edet/detect/postprocess.hpp"
#include "edet/detect/preprocess.hpp"
#include "edet/detect/variants.hpp"
#include "edet/io/image.hpp"
#include "edet/io/safetensors.hpp"
#include "edet/io/weights.hpp"
#include "edet/models/efficientdet.hpp"
#include "model_flags.hpp"

namespace {

std::string usage() {
    return std::string(
    "usage: edet-dump --weights W.safetensors (--input I.safetensors | --image FILE...) --output O.safetensors\n"
    "                 [model flags] [--threads N] [--features] [--nodes] [--detections] [--path P]\n"
    "  --weights     model state_dict (.safetensors or .pth)\n"
    "  --input       safetensors file with 'input', float32 NCHW {n, 3, H, W}, normalised\n"
    "                (optional 'scale' {n} and 'img_size' {n, 2}: image info for --detections)\n"
    "  --image       an image (PNG, JPEG, ...) instead of --input; repeat for a batch. Letterboxed\n"
    "                as the detector does for the variant; writes input, scale and img_size too\n"
    "  --output      safetensors file to write: class_out.<l>, box_out.<l> (NCHW float32)\n"
    "  --threads     worker threads (default: all)\n"
    "  --features    also write backbone.<i> and fpn.<l>\n"
    "  --nodes       also write every BiFPN node's output: fpn.resample.<i>.out, fpn.cell.<c>.fnode.<j>.out\n"
    "                and .combine.out (its fused inputs after the activation)\n"
    "  --detections  also write detections and detections_soft {n, 100, 6} (rows: --max)\n"
    "  --path        fast (default) or reference: the plain reference layers, slow, to check against\n"
    "Model flags (--size is taken from --input's tensor):\n") + edet_tools::ModelFlags::usage();
}

struct Options {
    std::string weights, input, output;
    edet_tools::ModelFlags flags;
    std::vector<std::string> images;
    int threads = 0;
    bool features = false;
    bool detections = false;
    bool nodes = false;
    edet::ForwardPath path = edet::ForwardPath::fast;
};

struct UsageError {
    std::string message;
};

Options parse_args(int argc, char** argv) {
    Options o;
    // Flags taking a value, by name: easy to extend with more.
    std::map<std::string, std::function<void(const std::string&)>> with_value = {
        {"--weights", [&](const std::string& v) { o.weights = v; }},
        {"--input", [&](const std::string& v) { o.input = v; }},
        {"--image", [&](const std::string& v) { o.images.push_back(v); }},
        {"--output", [&](const std::string& v) { o.output = v; }},
        {"--path",
         [&](const std::string& v) {
             if (v != "fast" && v != "reference") throw UsageError{"--path must be fast or reference, got '" + v + "'"};
             o.path = edet::parse_forward_path(v);
         }},
        {"--threads",
         [&](const std::string& v) {
             char* end = nullptr;
             const long n = std::strtol(v.c_str(), &end, 10);
             const int most = edet::max_num_threads();  // 4 x the cores, at least 64, as edet-detect
             if (v.empty() || *end || n < 1 || n > most)
                 throw UsageError{"--threads needs an integer in [1, " + std::to_string(most) + "], got '" + v + "'"};
             o.threads = static_cast<int>(n);
         }},
    };
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") throw UsageError{""};
        if (a == "--features") {
            o.features = true;
            continue;
        }
        if (a == "--detections") {
            o.detections = true;
            continue;
        }
        if (a == "--nodes") {
            o.nodes = true;
            continue;
        }
        auto it = with_value.find(a);
        if (it == with_value.end()) {
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) throw UsageError{a + " needs a value"};
                return argv[++i];
            };
            try {
                if (o.flags.parse(a, value)) continue;
            } catch (const edet_tools::FlagError& e) {
                throw UsageError{e.message};
            }
            throw UsageError{"unknown argument '" + a + "'"};
        }
        if (i + 1 >= argc) throw UsageError{a + " needs a value"};
        it->second(argv[++i]);
    }
    if (o.weights.empty()) throw UsageError{"--weights is required"};
    if (o.input.empty() && o.images.empty()) throw UsageError{"--input or --image is required"};
    if (!o.input.empty() && !o.images.empty()) throw UsageError{"--input and --image cannot be combined"};
    if (o.output.empty()) throw UsageError{"--output is required"};
    if (o.path == edet::ForwardPath::reference && o.flags.precision != edet::Precision::fp32)
        throw UsageError{"--path reference computes in float32 only; it cannot be combined with --precision " +
                         std::string(edet::to_string(o.flags.precision))};
    return o;
}

// NHWC view -> NCHW float32 data.
std::vector<float> to_nchw(edet::TensorView<const float> v) {
    const edet::Shape s = v.shape();
    std::vector<float> out(s.numel());
    for (int n = 0; n < s.n; ++n)
        for (int y = 0; y < s.h; ++y)
            for (int x = 0; x < s.w; ++x) {
                const float* p = v.pixel(n, y, x);
                for (int c = 0; c < s.c; ++c)
                    out[((static_cast<std::size_t>(n) * s.c + c) * s.h + y) * s.w + x] = p[c];
            }
    return out;
}

// The tensors to write, in order; each owns its data.
struct OutputFile {
    std::vector<std::string> names;
    std::vector<std::vector<float>> data;
    std::vector<std::vector<std::int64_t>> shapes;

    void add(std::string name, std::vector<float> values, std::vector<std::int64_t> shape) {
        names.push_back(std::move(name));
        data.push_back(std::move(values));
        shapes.push_back(std::move(shape));
    }
    void add_nchw(const std::string& prefix, const std::vector<edet::TensorView<const float>>& views) {
        for (std::size_t i = 0; i < views.size(); ++i) {
            const edet::Shape s = views[i].shape();
            add(prefix + "." + std::to_string(i), to_nchw(views[i]), {s.n, s.c, s.h, s.w});
        }
    }
    void write(const std::string& path, const std::map<std::string, std::string>& metadata) const {
        std::vector<edet::io::SafeTensorsEntry> entries;
        for (std::size_t i = 0; i < names.size(); ++i)
            entries.push_back(edet::io::SafeTensorsEntry{names[i], edet::io::DType::f32, shapes[i], data[i].data()});
        edet::io::write_safetensors(path, entries, metadata);
    }
};

// The network input and, when known, each image's info for post-processing.
struct Batch {
    edet::Tensor<float> input;                   // NHWC, normalised
    std::vector<edet::detect::ImageInfo> info;   // empty: no image info (the fixtures)
};

// Reads --input: `input` NCHW -> NHWC, plus `scale` and `img_size` if both are present.
Batch read_input_file(const std::string& path) {
    const auto file = edet::io::SafeTensorsFile::open(path);
    const edet::io::TensorInfo* info = file->find("input");
    if (!info) edet::fail("tensor 'input'", path, "missing");
    if (info->shape.size() != 4 || info->shape[1] != 3)
        edet::fail("tensor 'input'", path, "expected float32 NCHW {n, 3, H, W}, got " + info->shape_str());
    const int n = static_cast<int>(info->shape[0]), h = static_cast<int>(info->shape[2]), w = static_cast<int>(info->shape[3]);
    edet::check_shape(edet::Shape{n, h, w, 3}, "edet-dump input");
    const std::vector<float> nchw = file->read_f32("input");
    Batch b;
    b.input = edet::Tensor<float>(edet::Shape{n, h, w, 3});
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x)
                    b.input.at(i, y, x, c) = nchw[((static_cast<std::size_t>(i) * 3 + c) * h + y) * w + x];

    const edet::io::TensorInfo* scale = file->find("scale");
    const edet::io::TensorInfo* size = file->find("img_size");
    if (!scale && !size) return b;
    if (!scale || !size)
        edet::fail(scale ? "tensor 'img_size'" : "tensor 'scale'", path,
                   "missing: image info needs both 'scale' {n} and 'img_size' {n, 2}");
    if (scale->shape != std::vector<std::int64_t>{n})
        edet::fail("tensor 'scale'", path, edet::cat("expected shape [", n, "], got ", scale->shape_str()));
    if (size->shape != std::vector<std::int64_t>{n, 2})
        edet::fail("tensor 'img_size'", path, edet::cat("expected shape [", n, ", 2], got ", size->shape_str()));
    const std::vector<float> s = file->read_f32("scale"), wh = file->read_f32("img_size");
    for (int i = 0; i < n; ++i) {
        const auto k = static_cast<std::size_t>(i);
        b.info.push_back(edet::detect::ImageInfo{s[k], wh[2 * k], wh[2 * k + 1]});
    }
    return b;
}

// Letterboxes --image files for the variant into one batch; records the oracle's
// input / scale / img_size tensors in `out`.
Batch read_images(const std::vector<std::string>& paths, const edet::detect::PreprocessOptions& pre, OutputFile& out) {
    const int n = static_cast<int>(paths.size());
    Batch b;
    b.input = edet::Tensor<float>(edet::Shape{n, pre.height, pre.width, 3});
    std::vector<float> scale, img_size;
    for (int i = 0; i < n; ++i) {
        const edet::io::Image img = edet::io::read_image(paths[static_cast<std::size_t>(i)]);
        const edet::detect::LetterboxGeometry g = edet::detect::letterbox_into(img, pre, b.input.view().batch(i));
        // parity: effdet keeps img_scale and img_size as float32 tensors.
        const edet::detect::ImageInfo info{g.img_scale(), static_cast<float>(g.image_w), static_cast<float>(g.image_h)};
        b.info.push_back(info);
        scale.push_back(info.img_scale);
        img_size.push_back(info.image_width);
        img_size.push_back(info.image_height);
    }
    out.add("input", to_nchw(b.input.view()), {n, 3, pre.height, pre.width});
    out.add("scale", std::move(scale), {n});
    out.add("img_size", std::move(img_size), {n, 2});
    return b;
}

// Rows of `rows` into a zero-padded {max_rows, 6} block.
void put_rows(const std::vector<edet::detect::DetectionRow>& rows, int max_rows, float* dst) {
    for (std::size_t r = 0; r < rows.size() && r < static_cast<std::size_t>(max_rows); ++r) {
        const edet::detect::DetectionRow& d = rows[r];
        float* p = dst + r * 6;
        p[0] = d.box.x1;
        p[1] = d.box.y1;
        p[2] = d.box.x2;
        p[3] = d.box.y2;
        p[4] = d.score;
        p[5] = static_cast<float>(d.class_id);
    }
}

// detections and detections_soft for every image of the batch.
void add_detections(const edet::EfficientDet& net, const edet::HeadOutputs& heads, const Batch& batch, int max_rows,
                    OutputFile& out) {
    const edet::EfficientDetConfig& c = net.config();
    const std::vector<float> anchors = edet::detect::generate_anchors(edet::detect::anchor_config(c));
    const int n = batch.input.n();  // max_rows: effdet's max_det_per_image, 100 (the fixtures' row count)
    edet::detect::PostprocessOptions opt;
    opt.max_detection_points = c.max_detection_points;
    opt.max_detections = max_rows;
    for (const auto method : {edet::detect::NmsMethod::hard, edet::detect::NmsMethod::soft}) {
        opt.nms = method;
        std::vector<float> rows(static_cast<std::size_t>(n) * max_rows * 6, 0.0f);
        for (int i = 0; i < n; ++i) {
            const edet::detect::ImageInfo* info = batch.info.empty() ? nullptr : &batch.info[static_cast<std::size_t>(i)];
            put_rows(edet::detect::postprocess(heads.class_out, heads.box_out, anchors, net.num_classes(), i, opt, info),
                     max_rows, rows.data() + static_cast<std::size_t>(i) * max_rows * 6);
        }
        out.add(method == edet::detect::NmsMethod::hard ? "detections" : "detections_soft", std::move(rows),
                {n, max_rows, 6});
    }
}

int run(const Options& o) {
    if (o.threads > 0) edet::set_num_threads(o.threads);
    edet::io::WeightsOptions wo;
    wo.key = o.flags.key;
    const auto weights = edet::io::open_weights(o.weights, wo);
    edet::detect::ModelDescription d = o.flags.description;
    OutputFile out;
    Batch batch;
    if (o.images.empty()) {
        // The network is set up for the input's size.
        batch = read_input_file(o.input);
        if (d.image_height > 0 && (d.image_height != batch.input.h() || d.image_width != batch.input.w()))
            edet::fail("--size", o.input,
                       edet::cat(d.image_height, "x", d.image_width, " but the input is ", batch.input.h(), "x", batch.input.w()));
        d.image_height = batch.input.h();
        d.image_width = batch.input.w();
    }
    // The variant (incl. _ap: its network and preprocessing), anchors and class count,
    // checked against the weights' heads.
    const edet::detect::ResolvedModel model = edet::detect::resolve_model(d, *weights, o.weights);
    const std::string name = model.variant->name;
    auto net = std::make_unique<edet::EfficientDet>(edet::EfficientDet::from_source(*weights, model.config, o.path, o.flags.precision));
    if (!o.images.empty()) {
        edet::detect::PreprocessOptions pre = edet::detect::PreprocessOptions::for_variant(name);
        pre.height = net->config().image_height;
        pre.width = net->config().image_width;
        batch = read_images(o.images, pre, out);
    }
    if (o.nodes)
        net->set_node_observer([&out](const std::string& name, edet::TensorView<const float> v) {
            const edet::Shape s = v.shape();
            out.add(name + ".out", to_nchw(v), {s.n, s.c, s.h, s.w});
        });
    const edet::HeadOutputs& heads = net->forward(batch.input.view());

    if (o.features) {
        out.add_nchw("backbone", heads.backbone);
        out.add_nchw("fpn", heads.fpn);
    }
    out.add_nchw("class_out", heads.class_out);
    out.add_nchw("box_out", heads.box_out);
    if (o.detections) add_detections(*net, heads, batch, model.max_detections, out);
    out.write(o.output, {{"model", name}, {"producer", "edet-dump"}});
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (!edet::cpu_supports_compiled_arch()) {
        std::fprintf(stderr, "edet-dump: built for %s, which this CPU does not support\n", edet::compiled_arch());
        return 1;
    }
    Options o;
    try {
        o = parse_args(argc, argv);
    } catch (const UsageError& e) {
        if (!e.message.empty()) std::fprintf(stderr, "edet-dump: %s\n", e.message.c_str());
        std::fputs(usage().c_str(), e.message.empty() ? stdout : stderr);
        return e.message.empty() ? 0 : 2;
    }
    try {
        return run(o);
    } catch (const edet::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());  // "edet: <where>: <what>: <why>"
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "edet-dump: %s\n", e.what());
        return 1;
    }
}
