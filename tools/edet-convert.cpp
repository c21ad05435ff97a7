// edet-convert - a PyTorch checkpoint (.pth, zip or legacy) to safetensors, without Python.
//
//   edet-convert IN.pth OUT.safetensors [--key NAME] [--variant NAME]
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
// When IN's name carries a hash prefix ("name-xxxxxxxx.pth", 8+ hex digits), the file's
// SHA-256 must start with it, else nothing is written.
//   --key NAME   the state_dict entry of a wrapped checkpoint (default: see io/pth.hpp:
//                'state_dict', then 'model', then the EMA entries)
// Exit status: 0 ok, 1 edet::Error (message on stderr), 2 usage error.
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "edet/core/arch.hpp"
#include "edet/io/checkpoints.hpp"
#include "edet/io/pth.hpp"
#include "edet/io/safetensors.hpp"
#include "edet/io/sha256.hpp"

namespace {

const char* kUsage =
    "usage: edet-convert IN.pth OUT.safetensors [--key NAME] [--variant NAME]\n"
    "  IN.pth     PyTorch checkpoint (zip or legacy format); a release name\n"
    "             (name-xxxxxxxx.pth) has its SHA-256 prefix checked\n"
    "  --key      state_dict entry of a wrapped checkpoint (e.g. state_dict_ema)\n"
    "  --variant  checkpoint/variant name when IN's file name is not a release name\n";

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
    edet::io::PthOptions options;
    std::string variant;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (a == "--key" || a == "--variant") {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "edet-convert: %s needs a value\n%s", a.c_str(), kUsage);
                return 2;
            }
            (a == "--key" ? options.key : variant) = argv[++i];
        } else if (a.size() > 1 && a[0] == '-') {
            std::fprintf(stderr, "edet-convert: unknown option '%s'\n%s", a.c_str(), kUsage);
            return 2;
        } else {
            positional.push_back(a);
        }
    }
    if (positional.size() != 2) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    const std::string& in = positional[0];
    const std::string& out = positional[1];
    const std::string file = base_name(in);

    const edet::io::CheckpointInfo* info = edet::io::find_checkpoint(variant.empty() ? file : variant);
    if (!variant.empty() && !info)
        edet::fail(edet::cat("variant '", variant, "'"), "edet-convert", "not a name from checkpoints.tsv");

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
