// tools/model_flags.hpp - the flags that describe a model, spelled and parsed the same way
// in every tool (and as ../shared/oracle/make_fixture spells them).
//
//   --variant NAME          published variant the model was trained from
//   --size HxW              network input size (a custom model trained at another size)
//   --num-classes N         class count (default: read from the class head)
//   --num-scales K          anchor scales per octave (default 3)
//   --aspect-ratios LIST    "1.0,2.0,0.5" or x/y pairs "1.0x1.0,1.4x0.7,0.7x1.4"
//   --anchor-scale F        anchor size in strides (default: the variant's, 3 to 5)
//   --max N                 detections kept per image, 1..5000 (default 100)
//   --labels FILE|LIST      class names: a text file (one a line), a COCO annotation JSON
//                           (categories sorted by id), or a comma-separated list
//   --ema                   a training checkpoint's EMA weights (state_dict_ema)
//   --key NAME              a training checkpoint's entry NAME (default state_dict)
//   --precision P           fp32 (default), bf16 or bf16-emulated: how the network computes
//                           (not part of the model, but every tool that runs it takes it here)
//
// A tool calls ModelFlags::parse for each argument it does not know itself; a bad value is
// a FlagError (the tool prints it with its usage and exits 2).
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "edet/detect/anchors.hpp"
#include "edet/detect/label_map.hpp"
#include "edet/detect/model_description.hpp"
#include "edet/detect/variants.hpp"
#include "edet/kernels/bf16.hpp"

namespace edet_tools {

struct FlagError {
    std::string message;
};

struct ModelFlags {
    edet::detect::ModelDescription description;
    std::string key;  // training checkpoint entry; "state_dict_ema" for --ema
    edet::Precision precision = edet::Precision::fp32;  // --precision

    static const char* usage() {
        return "  --variant NAME     published variant the model was trained from, e.g. tf_efficientdet_d0,\n"
               "                     tf_efficientdet_lite2, tf_efficientdet_d3_ap (default: the file's metadata)\n"
               "  --size HxW         network input size, e.g. 384x640 (default: the variant's)\n"
               "  --num-classes N    class count (default: read from the weights)\n"
               "  --num-scales K     anchor scales per octave (default 3)\n"
               "  --aspect-ratios L  anchor aspect ratios, 1.0,2.0,0.5 or x/y pairs 1.0x1.0,1.4x0.7,0.7x1.4\n"
               "  --anchor-scale F   anchor size in strides (default: the variant's)\n"
               "  --max N            detections kept per image, 1..5000 (default 100)\n"
               "  --labels L         class names: a text file (one a line), a COCO annotation JSON\n"
               "                     (categories sorted by id) or a list a,b,c\n"
               "  --ema              a training checkpoint's EMA weights (state_dict_ema)\n"
               "  --key NAME         a training checkpoint's entry NAME (default: state_dict)\n"
               "  --precision P      fp32 (default, exact), bf16 (bf16 GEMM inputs, float32 sums; needs\n"
               "                     AVX512_BF16) or bf16-emulated (the same results on any CPU, slower)\n";
    }

    // Consumes `arg` (taking its value through `value()`) when it is one of the flags above.
    template <class Value>
    bool parse(const std::string& arg, Value&& value) {
        edet::detect::ModelDescription& d = description;
        try {
            if (arg == "--variant") {
                d.variant = value();
                edet::detect::variant_info(d.variant);  // throws, listing the known names
            } else if (arg == "--size") {
                const auto hw = edet::detect::ModelDescription::parse_size(value(), "--size");
                d.image_height = hw[0];
                d.image_width = hw[1];
            } else if (arg == "--num-classes") {
                d.num_classes = edet::detect::ModelDescription::parse_int(value(), 1, 100000, arg, "command line");
            } else if (arg == "--num-scales") {
                d.num_scales = edet::detect::ModelDescription::parse_int(value(), 1, 16, arg, "command line");
            } else if (arg == "--aspect-ratios") {
                d.aspect_ratios = edet::detect::parse_aspect_ratios(value());
            } else if (arg == "--anchor-scale") {
                const std::string v = value();
                char* end = nullptr;
                errno = 0;
                const double f = std::strtod(v.c_str(), &end);
                if (v.empty() || *end != '\0' || errno != 0 || !std::isfinite(f) || !(f > 0) || f > 1000)
                    throw FlagError{"--anchor-scale needs a number in (0, 1000], got '" + v + "'"};
                d.anchor_scale = f;
            } else if (arg == "--max") {
                d.max_detections = edet::detect::ModelDescription::parse_int(value(), 1, edet::detect::kMaxDetectionsPerImage,
                                                                             arg, "command line");
            } else if (arg == "--labels") {
                const std::string v = value();
                std::error_code ec;
                if (std::filesystem::is_regular_file(v, ec))
                    d.labels = edet::detect::LabelMap::from_file(v);
                else if (v.find(',') != std::string::npos)
                    d.labels = edet::detect::LabelMap::from_list(v);
                else
                    throw FlagError{"--labels '" + v + "': no such file (give a label file or a list a,b,c)"};
            } else if (arg == "--ema") {
                key = "state_dict_ema";
            } else if (arg == "--precision") {
                const std::string v = value();
                if (v != "fp32" && v != "bf16" && v != "bf16-emulated")
                    throw FlagError{"--precision must be fp32, bf16 or bf16-emulated, got '" + v + "'"};
                precision = edet::parse_precision(v);
            } else if (arg == "--key") {
                key = value();
                if (key.empty()) throw FlagError{"--key needs a non-empty entry name"};
            } else {
                return false;
            }
        } catch (const edet::Error& e) {
            throw FlagError{arg + ": " + e.what()};
        }
        return true;
    }
};

}  // namespace edet_tools
