// edet-dump - run the network (no post-processing) and write its raw outputs in the
// reference fixtures' naming and NCHW layout, so any checker can compare them.
//
//   edet-dump --weights W.safetensors --input I.safetensors --output O.safetensors
//             [--variant NAME] [--threads N] [--features]
//
// The input file holds `input`, float32 NCHW {n, 3, H, W}, already normalised; the network
// is set up for H x W. The output holds class_out.<l> and box_out.<l> (and with
// --features backbone.<i> and fpn.<l>), float32 NCHW.
// Exit status: 0 ok, 1 edet::Error (message on stderr), 2 usage error.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "edet/core/arch.hpp"
#include "edet/core/parallel.hpp"
#include "edet/io/safetensors.hpp"
#include "edet/io/weights.hpp"
#include "edet/models/efficientdet.hpp"

namespace {

const char* kUsage =
    "usage: edet-dump --weights W.safetensors --input I.safetensors --output O.safetensors\n"
    "                 [--variant NAME] [--threads N] [--features]\n"
    "  --weights   model state_dict (.safetensors or .pth)\n"
    "  --input     safetensors file with 'input', float32 NCHW {n, 3, H, W}\n"
    "  --output    safetensors file to write: class_out.<l>, box_out.<l> (NCHW float32)\n"
    "  --variant   variant name (default: the weights' __metadata__.model)\n"
    "  --threads   worker threads (default: all)\n"
    "  --features  also write backbone.<i> and fpn.<l>\n";

struct Options {
    std::string weights, input, output, variant;
    int threads = 0;
    bool features = false;
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
        {"--output", [&](const std::string& v) { o.output = v; }},
        {"--variant", [&](const std::string& v) { o.variant = v; }},
        {"--threads",
         [&](const std::string& v) {
             char* end = nullptr;
             const long n = std::strtol(v.c_str(), &end, 10);
             if (v.empty() || *end || n < 1 || n > 1024) throw UsageError{"--threads needs an integer in [1, 1024], got '" + v + "'"};
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
        auto it = with_value.find(a);
        if (it == with_value.end()) throw UsageError{"unknown argument '" + a + "'"};
        if (i + 1 >= argc) throw UsageError{a + " needs a value"};
        it->second(argv[++i]);
    }
    if (o.weights.empty()) throw UsageError{"--weights is required"};
    if (o.input.empty()) throw UsageError{"--input is required"};
    if (o.output.empty()) throw UsageError{"--output is required"};
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

int run(const Options& o) {
    if (o.threads > 0) edet::set_num_threads(o.threads);
    const auto input_file = edet::io::SafeTensorsFile::open(o.input);
    const edet::io::TensorInfo* info = input_file->find("input");
    if (!info) edet::fail("tensor 'input'", o.input, "missing");
    if (info->shape.size() != 4 || info->shape[1] != 3)
        edet::fail("tensor 'input'", o.input, "expected float32 NCHW {n, 3, H, W}, got " + info->shape_str());
    const int n = static_cast<int>(info->shape[0]), h = static_cast<int>(info->shape[2]), w = static_cast<int>(info->shape[3]);
    edet::check_shape(edet::Shape{n, h, w, 3}, "edet-dump input");
    const std::vector<float> nchw = input_file->read_f32("input");
    edet::Tensor<float> input(edet::Shape{n, h, w, 3});
    for (int b = 0; b < n; ++b)
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x)
                    input.at(b, y, x, c) = nchw[((static_cast<std::size_t>(b) * 3 + c) * h + y) * w + x];

    const auto weights = edet::io::open_weights(o.weights);
    edet::EfficientDet net = edet::EfficientDet::from_source(*weights, o.variant, h, w);
    const edet::HeadOutputs& out = net.forward(input.view());

    std::vector<std::string> names;
    std::vector<std::vector<float>> data;
    std::vector<std::vector<std::int64_t>> shapes;
    auto add = [&](const std::string& prefix, const std::vector<edet::TensorView<const float>>& views) {
        for (std::size_t i = 0; i < views.size(); ++i) {
            const edet::Shape s = views[i].shape();
            names.push_back(prefix + "." + std::to_string(i));
            data.push_back(to_nchw(views[i]));
            shapes.push_back({s.n, s.c, s.h, s.w});
        }
    };
    if (o.features) {
        add("backbone", out.backbone);
        add("fpn", out.fpn);
    }
    add("class_out", out.class_out);
    add("box_out", out.box_out);
    std::vector<edet::io::SafeTensorsEntry> entries;
    for (std::size_t i = 0; i < names.size(); ++i)
        entries.push_back(edet::io::SafeTensorsEntry{names[i], edet::io::DType::f32, shapes[i], data[i].data()});
    edet::io::write_safetensors(o.output, entries, {{"model", net.config().name}, {"producer", "edet-dump"}});
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
        std::fputs(kUsage, e.message.empty() ? stdout : stderr);
        return e.message.empty() ? 0 : 2;
    }
    try {
        return run(o);
    } catch (const edet::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "edet-dump: %s\n", e.what());
        return 1;
    }
}
