// edet-convert - a PyTorch checkpoint (.pth, zip or legacy) to safetensors, without Python.
//
//   edet-convert IN.pth OUT.safetensors [--variant NAME] [model flags]
//   edet-convert model_best.pth.tar model.safetensors --variant tf_efficientdet_lite0
//       --size 256x384 --num-scales 2 --aspect-ratios 1.0,2.0,0.5 --labels instances_val.json
//
// Every tensor of the state_dict is written under its own name, in file order, in its
// stored dtype (F32, F16, BF16, I64) and row-major (views are materialised). __metadata__
// records:
//   source_sha256  SHA-256 of IN.pth          source_file  IN.pth's file name
//   source_format  "zip" or "legacy"          source_key   the wrapper entry used, if any
// and, when the variant is known (--variant, or IN's file name is a release name from
// checkpoints.tsv such as tf_efficientdet_d0_ap-d0cdbd0a.pth):
//   model    the network to build (what EfficientDet::load reads; "tf_efficientdet_d0")
//   variant  the checkpoint's name ("tf_efficientdet_d0_ap")
//   mean, std, fill   its preprocessing, comma-separated RGB
// and the model's description (detect/model_description.hpp; flags as in every tool,
// tools/model_flags.hpp): num_classes (read from the weights), and image_size,
// num_scales, aspect_ratios, anchor_scale, max_detections, labels + category_ids when
// given, so a converted custom model needs no flags anywhere. The description is checked
// against the weights first (a misfit names the tensor and the shapes; nothing written).
// When IN's name carries a hash prefix ("name-xxxxxxxx.pth", 8+ hex digits), the file's
// SHA-256 must start with it, else nothing is written.
//   --key NAME   the state_dict entry of a wrapped checkpoint (default: see io/pth.hpp:
//                'state_dict', then 'model', then the EMA entries); --ema = --key state_dict_ema
// Exit status: 0 ok, 1 edet::Error (message on stderr), 2 usage error.
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "edet/core/arch.hpp"
#include "edet/detect/model_description.hpp"
#include "edet/io/checkpoints.hpp"
#include "edet/io/pth.hpp"
#include "edet/io/safetensors.hpp"
#include "edet/io/sha256.hpp"
#include "model_flags.hpp"

namespace {

std::string usage() {
    return std::string("usage: edet-convert IN.pth OUT.safetensors [--variant NAME] [model flags]\n"
                       "  IN.pth     PyTorch checkpoint (zip or legacy format; a train.py checkpoint too);\n"
                       "             a release name (name-xxxxxxxx.pth) has its SHA-256 prefix checked\n"
                       "Model flags (stored in the output's metadata; --variant is needed unless IN has a\n"
                       "release name):\n") +
           edet_tools::ModelFlags::usage();
}

std::string base_name(const std::string& path) {
    const std::size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The hex digits after the last '-' of "<stem>-<hex>.pth", "" when the name has none.
std::string hash_prefix_of(const std::string& file) {
    std::string stem = file;
    const std::size_t dot = stem.rfind('.');
    if (dot != std::string::npos) stem.resize(dot);
    const std::size_t dash = stem.rfind('-');
    if (dash == std::string::npos) return {};
    const std::string h = stem.substr(dash + 1);
    if (h.size() < 8 || h.size() > 64 || h.find_first_not_of("0123456789abcdef") != std::string::npos) return {};
    return h;
}

template <class A>
std::string join3(const A& a) {
    std::ostringstream s;
    s << a[0] << "," << a[1] << "," << a[2];
    return s.str();
}

int run(int argc, char** argv) {
    std::vector<std::string> positional;
    edet_tools::ModelFlags flags;
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            auto value = [&]() -> std::string {
                if (i + 1 >= argc) throw edet_tools::FlagError{a + " needs a value"};
                return argv[++i];
            };
            if (a == "-h" || a == "--help") {
                std::fputs(usage().c_str(), stdout);
                return 0;
            }
            if (flags.parse(a, value)) continue;
            if (a.size() > 1 && a[0] == '-') throw edet_tools::FlagError{"unknown option '" + a + "'"};
            positional.push_back(a);
        }
    } catch (const edet_tools::FlagError& e) {
        std::fprintf(stderr, "edet-convert: %s\n%s", e.message.c_str(), usage().c_str());
        return 2;
    }
    if (flags.precision != edet::Precision::fp32)
        std::fprintf(stderr, "edet-convert: note: --precision is ignored (converting does not run the network; the "
                             "weights are stored as float32 and packed for a precision when a tool loads them)\n");
    edet::io::PthOptions options;
    options.key = flags.key;
    const std::string variant = flags.description.variant;
    if (positional.size() != 2) {
        std::fputs(usage().c_str(), stderr);
        return 2;
    }
    const std::string& in = positional[0];
    const std::string& out = positional[1];
    const std::string file = base_name(in);

    const edet::io::CheckpointInfo* info = edet::io::find_checkpoint(variant.empty() ? file : variant);
    if (!variant.empty() && !info)
        edet::fail(edet::cat("variant '", variant, "'"), "edet-convert", "not a name from checkpoints.tsv");
    const std::map<std::string, std::string> described = flags.description.to_metadata();
    if (!info && !described.empty())
        edet::fail("model description", "edet-convert",
                   "describes a model but names no variant: give --variant (the published variant it was trained from)");

    const std::string sha = edet::io::sha256_file(in);
    const std::string want = hash_prefix_of(file);
    if (!want.empty() && !edet::io::sha256_matches_prefix(sha, want))
        edet::fail("checkpoint", in,
                   edet::cat("SHA-256 is ", sha, " but the file name says it starts with ", want,
                             ": the file is corrupt or truncated"));
    if (info && variant.empty() && !edet::io::sha256_matches_prefix(sha, info->sha256_prefix))
        edet::fail("checkpoint", in, edet::cat("named like the release ", info->file, " but its SHA-256 is ", sha));

    const auto pth = edet::io::PthFile::open(in, options);
    std::vector<std::vector<unsigned char>> data;
    std::vector<edet::io::SafeTensorsEntry> entries;
    data.reserve(pth->tensors().size());
    std::size_t bytes = 0;
    for (const edet::io::TensorInfo& t : pth->tensors()) {
        data.push_back(pth->read_raw(t.name));
        bytes += data.back().size();
        static const unsigned char no_data = 0;  // empty tensors still get a valid pointer
        entries.push_back({t.name, t.dtype, t.shape, data.back().empty() ? &no_data : data.back().data()});
    }
    std::map<std::string, std::string> meta = {
        {"source_sha256", sha}, {"source_file", file}, {"source_format", pth->format()}};
    if (!pth->chosen_key().empty()) meta["source_key"] = pth->chosen_key();
    if (info) {
        meta["model"] = info->network;
        meta["variant"] = info->variant;
        meta["mean"] = join3(info->mean);
        meta["std"] = join3(info->std);
        meta["fill"] = join3(info->fill);
        // The description, checked against the weights (class count read from them). A
        // file without EfficientDet heads (a backbone, a test file) only gets the variant's
        // rows above, unless something more was described.
        const bool has_heads =
            pth->find("class_net.predict.conv_pw.weight") && pth->find("box_net.predict.conv_pw.weight");
        const bool described_more = described.size() > (described.count("variant") ? 1u : 0u);
        if (has_heads || described_more) {
            edet::detect::ModelDescription d = flags.description;
            d.variant = info->variant;
            const edet::detect::ResolvedModel r = edet::detect::resolve_model(d, *pth, in);
            for (const auto& [k, v] : r.description.to_metadata()) meta[k] = v;
        }
    }
    edet::io::write_safetensors(out, entries, meta);
    std::fprintf(stderr, "edet-convert: %s (%s%s%s) -> %s: %zu tensors, %.1f MB%s%s\n", in.c_str(),
                 pth->format().c_str(), pth->chosen_key().empty() ? "" : ", key ",
                 pth->chosen_key().c_str(), out.c_str(), entries.size(), static_cast<double>(bytes) / 1e6,
                 info ? ", model " : "", info ? info->variant : "");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const edet::Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "edet-convert: %s\n", e.what());
        return 1;
    }
}
