// edet/models/module_weights.hpp - the tensors of one module of a checkpoint (or of a few:
// the stem is "backbone.conv_stem" and "backbone.bn1"), as a TensorSource of its own.
//
// The per-module models (bifpn_node.hpp, mbconv_block.hpp, head_model.hpp) bind through
// this view of a whole network's checkpoint, so nn::Binder::finish()'s check that every
// tensor was used applies to the module alone: a module that leaves one of its own
// tensors unread is still an error, the rest of the network is not.
#pragma once

#include <string>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/tensor_source.hpp"

EDET_NAMESPACE_BEGIN

namespace detail {
class ModuleTensors final : public io::TensorSource {
public:
    ModuleTensors(const io::TensorSource& all, const std::string& module)
        : ModuleTensors(all, std::vector<std::string>{module}) {}

    // The tensors under any of `modules` ("backbone.bn1" takes "backbone.bn1.weight", ...,
    // not "backbone.bn10.weight"); each module must have at least one.
    ModuleTensors(const io::TensorSource& all, const std::vector<std::string>& modules) : all_(all) {
        for (const std::string& module : modules) {
            const std::string prefix = module + ".";
            const std::size_t before = infos_.size();
            for (const auto& t : all.tensors())
                if (t.name.compare(0, prefix.size(), prefix) == 0) infos_.push_back(t);
            if (infos_.size() == before)
                fail(cat("module '", module, "'"), all.path(), "no tensor of the checkpoint is under this name");
        }
    }
    const std::vector<io::TensorInfo>& tensors() const override { return infos_; }
    const io::TensorInfo* find(const std::string& name) const override {
        for (const auto& t : infos_)
            if (t.name == name) return &t;
        return nullptr;
    }
    std::vector<float> read_f32(const std::string& name) const override { return all_.read_f32(name); }
    std::string metadata(const std::string& key) const override { return all_.metadata(key); }
    const std::string& path() const override { return all_.path(); }

private:
    const io::TensorSource& all_;
    std::vector<io::TensorInfo> infos_;
};

// The variant a per-module model is built for: `variant`, else the file's __metadata__.model.
inline std::string module_variant(const io::TensorSource& weights, const std::string& variant) {
    const std::string name = variant.empty() ? weights.metadata("model") : variant;
    if (name.empty()) fail("variant", weights.path(), "not given and the file has no __metadata__.model");
    return name;
}
}  // namespace detail

EDET_NAMESPACE_END
