// edet/io/pth.hpp - PyTorch checkpoints (.pth) read without Python.
//
//   auto w = edet::io::PthFile::open("tf_efficientdet_d0_34-f153e0cf.pth");
//   for (const auto& t : w->tensors()) std::printf("%s %s\n", t.name.c_str(), t.shape_str().c_str());
//   std::vector<float> stem = w->read_f32("backbone.conv_stem.weight");
//
// Both containers torch.save writes are understood:
//   zip (torch >= 1.6 default; starts with "PK\3\4"): stored entries <archive>/data.pkl
//     (the pickled object) and <archive>/data/<key> (one per storage, raw little-endian).
//   legacy (starts with "\x80\x02"): five pickles back to back - the magic number
//     0x1950a86a20f9469cfc6c, the protocol version 1001, sys info (must say little-endian),
//     the object, the list of storage keys - then each storage in that order as an int64
//     element count followed by its bytes.
// The object is read with pickle.hpp's restricted interpreter: nothing is imported or run.
//
// Tensors may be views: a storage offset and any (non-negative) strides are honoured,
// several tensors may share one storage, and read_f32 / read_raw return the tensor's own
// elements in row-major order. Dtypes: float32, float16, bfloat16, int64.
//
// Wrapped checkpoints. Training scripts often save {'state_dict': ..., 'state_dict_ema':
// ..., 'epoch': ...} instead of a bare state_dict. PthOptions::key chooses the entry:
//   ""      (default) the top-level dict itself when every value is a tensor; otherwise the
//           first present of 'state_dict', 'model', 'state_dict_ema', 'model_ema'.
//           The plain weights come before the EMA ones because that is what the reference
//           loader (timm/effdet load_checkpoint, use_ema=False) picks by default, so a
//           wrapped checkpoint gives the same network here as in effdet. The released
//           effdet files are bare state_dicts, where the question does not arise.
//   "name"  exactly that entry (e.g. "state_dict_ema"); an error lists the entries present
//           if it is missing.
// chosen_key() reports which entry was used ("" for a bare state_dict).
// A training checkpoint's other entries (epoch, arch, optimizer, args as an
// argparse.Namespace, metric, ...) are read as inert values and ignored (pickle.hpp).
// Names saved from a DistributedDataParallel / DataParallel wrapper start with "module.";
// that prefix is stripped from every name that has it, as timm's load_checkpoint does
// (clean_state_dict), so such a file binds like the bare model's.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/pickle.hpp"
#include "edet/io/tensor_source.hpp"
#include "edet/io/zip.hpp"

EDET_NAMESPACE_BEGIN
namespace io {

struct PthOptions {
    std::string key;          // wrapped checkpoints: "" = automatic (see above)
    bool verify_crc = true;   // zip container: check every used entry's CRC-32
};

// IEEE half and bfloat16 to float, exactly (every value, subnormals, inf and NaN).
inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t{h & 0x8000u} << 16;
    std::uint32_t exp = (h >> 10) & 0x1fu;
    std::uint32_t mant = h & 0x3ffu;
    std::uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {  // subnormal: normalise
        exp = 113;
        while (!(mant & 0x400u)) {
            mant <<= 1;
            --exp;
        }
        bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}
inline float bf16_to_float(std::uint16_t b) {
    const std::uint32_t bits = std::uint32_t{b} << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

class PthFile : public TensorSource {
public:
    // Reads the whole file and parses it. Throws edet::Error naming the file on any problem.
    static std::unique_ptr<PthFile> open(const std::string& path, const PthOptions& options = {}) {
        std::FILE* f = std::fopen(path.c_str(), "rb");
        if (!f) fail("checkpoint", path, "cannot open file");
        // Size first, then one read into one allocation (growing a vector chunk by chunk
        // costs a page-fault pass per doubling, which dominates on some VMs).
        long size = -1;
        if (std::fseek(f, 0, SEEK_END) == 0) size = std::ftell(f);
        if (size < 0 || std::fseek(f, 0, SEEK_SET) != 0) {
            std::fclose(f);
            fail("checkpoint", path, "cannot determine the file size (not a regular file?)");
        }
        std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
        const std::size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f);
        const bool err = std::ferror(f) != 0 || got != bytes.size();
        std::fclose(f);
        if (err) fail("checkpoint", path, "read error");
        return from_bytes(std::move(bytes), path, options);
    }

    // Parses a checkpoint held in memory; `name` is used in messages and by path().
    static std::unique_ptr<PthFile> from_bytes(std::vector<unsigned char> bytes, std::string name = "<memory>",
                                               const PthOptions& options = {}) {
        std::unique_ptr<PthFile> p(new PthFile(std::move(bytes), std::move(name)));
        p->parse(options);
        return p;
    }
    static std::unique_ptr<PthFile> from_bytes(const void* data, std::size_t size, std::string name = "<memory>",
                                               const PthOptions& options = {}) {
        const auto* b = static_cast<const unsigned char*>(data);
        return from_bytes(std::vector<unsigned char>(b, b + size), std::move(name), options);
    }

    const std::vector<TensorInfo>& tensors() const override { return infos_; }
    const TensorInfo* find(const std::string& name) const override {
        auto it = index_.find(name);
        return it == index_.end() ? nullptr : &infos_[it->second];
    }
    const std::string& path() const override { return path_; }

    // "zip" or "legacy".
    const std::string& format() const { return format_; }
    // The wrapper entry the tensors came from; "" for a bare state_dict.
    const std::string& chosen_key() const { return chosen_key_; }

    // The tensor's elements in row-major order of its shape, in its stored dtype
    // (little-endian), numel() * dtype_size() bytes.
    std::vector<unsigned char> read_raw(const std::string& name) const {
        const Layout& l = layout(name);
        const TensorInfo& info = infos_[index_.at(name)];
        const std::size_t es = dtype_size(info.dtype);
        std::vector<unsigned char> out(info.numel() * es);
        gather(l, info, es, out.data());
        return out;
    }

    std::vector<float> read_f32(const std::string& name) const override {
        const TensorInfo& info = infos_[index_.at(checked(name))];
        const std::vector<unsigned char> raw = read_raw(name);
        std::vector<float> out(info.numel());
        const unsigned char* p = raw.data();
        for (std::size_t i = 0; i < out.size(); ++i) {
            switch (info.dtype) {
                case DType::f32: std::memcpy(&out[i], p + 4 * i, 4); break;
                case DType::f16: out[i] = half_to_float(static_cast<std::uint16_t>(p[2 * i] | p[2 * i + 1] << 8)); break;
                case DType::bf16: out[i] = bf16_to_float(static_cast<std::uint16_t>(p[2 * i] | p[2 * i + 1] << 8)); break;
                case DType::i64: {
                    std::int64_t v;
                    std::memcpy(&v, p + 8 * i, 8);
                    out[i] = static_cast<float>(v);
                    break;
                }
            }
        }
        return out;
    }

private:
    // Where a tensor's elements are: element (i0, i1, ...) is at
    // base + (offset + sum_k i_k * stride_k) * dtype_size, all checked in parse().
    struct Layout {
        const unsigned char* data = nullptr;  // the storage reference's first byte in bytes_
        std::int64_t offset = 0;
        std::vector<std::int64_t> stride;
    };

    PthFile(std::vector<unsigned char> bytes, std::string path) : bytes_(std::move(bytes)), path_(std::move(path)) {}
    PthFile(const PthFile&) = delete;  // layouts point into bytes_
    PthFile& operator=(const PthFile&) = delete;

    [[noreturn]] void bad(const std::string& why) const { fail("checkpoint", path_, why); }

    const std::string& checked(const std::string& name) const {
        if (!index_.count(name)) fail(cat("tensor '", name, "'"), path_, "not in this checkpoint");
        return name;
    }
    const Layout& layout(const std::string& name) const { return layouts_[index_.at(checked(name))]; }

    static void gather(const Layout& l, const TensorInfo& info, std::size_t es, unsigned char* out) {
        const std::size_t n = info.numel();
        if (n == 0) return;
        const std::size_t dims = info.shape.size();
        // Contiguous fast path.
        bool contiguous = true;
        std::int64_t expect = 1;
        for (std::size_t k = dims; k-- > 0;) {
            if (info.shape[k] != 1 && l.stride[k] != expect) contiguous = false;
            expect *= info.shape[k];
        }
        const unsigned char* src = l.data + static_cast<std::size_t>(l.offset) * es;
        if (contiguous) {
            std::memcpy(out, src, n * es);
            return;
        }
        // Odometer over all but the last dim; the last dim is copied element by element.
        std::vector<std::int64_t> idx(dims, 0);
        const std::int64_t inner = info.shape[dims - 1];
        const std::int64_t inner_stride = l.stride[dims - 1];
        std::size_t o = 0;
        for (;;) {
            std::int64_t off = 0;
            for (std::size_t k = 0; k + 1 < dims; ++k) off += idx[k] * l.stride[k];
            const unsigned char* row = src + static_cast<std::size_t>(off) * es;
            for (std::int64_t j = 0; j < inner; ++j, o += es)
                std::memcpy(out + o, row + static_cast<std::size_t>(j * inner_stride) * es, es);
            std::size_t k = dims - 1;
            for (;;) {
                if (k == 0) return;
                --k;
                if (++idx[k] < info.shape[k]) break;
                idx[k] = 0;
            }
        }
    }

    // --- parsing -------------------------------------------------------------------------
    void parse(const PthOptions& options) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
        bad("this reader supports little-endian hosts only");
#endif
        const unsigned char* d = bytes_.data();
        const std::size_t n = bytes_.size();
        if (ZipReader::looks_like_zip(d, n)) {
            format_ = "zip";
            parse_zip(options);
        } else if (n >= 2 && d[0] == 0x80 && d[1] == 0x02) {
            format_ = "legacy";
            parse_legacy();
        } else {
            bad("neither a zip-container nor a legacy PyTorch checkpoint (expected first bytes 'PK\\3\\4' or "
                "'\\x80\\x02')");
        }
        select(options.key);
    }

    void parse_zip(const PthOptions& options) {
        ZipReader zip(bytes_.data(), bytes_.size(), path_);
        // The archive's top directory (torch names it after the file or "archive").
        const ZipEntry* pkl = nullptr;
        for (const ZipEntry& e : zip.entries()) {
            const std::size_t slash = e.name.find('/');
            if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
                if (pkl) bad(cat("two data.pkl entries: '", pkl->name, "' and '", e.name, "'"));
                pkl = &e;
            }
        }
        if (!pkl) bad("zip archive without <archive>/data.pkl: not a PyTorch checkpoint");
        const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);  // "<archive>/"
        if (const ZipEntry* bo = zip.find(prefix + "byteorder")) {
            if (zip.data(*bo, options.verify_crc) != "little") bad("checkpoint written big-endian");
        }
        const std::string_view pk = zip.data(*pkl, options.verify_crc);
        unpickler_ = std::make_unique<pickle::Unpickler>(reinterpret_cast<const unsigned char*>(pk.data()), pk.size(),
                                                         path_ + ":" + pkl->name);
        root_ = unpickler_->load();
        if (unpickler_->position() != pk.size()) bad("data.pkl has bytes after STOP");
        for (const pickle::StorageDecl& s : unpickler_->storages()) {
            const ZipEntry* e = zip.find(prefix + "data/" + s.key);
            if (!e) bad(cat("storage '", s.key, "' has no entry ", prefix, "data/", s.key));
            const std::uint64_t want = static_cast<std::uint64_t>(s.numel) * dtype_size(s.dtype);
            if (e->size != want)
                bad(cat("storage '", s.key, "' declares ", s.numel, " ", to_string(s.dtype), " elements (", want,
                        " bytes) but its entry has ", e->size, " bytes"));
            const std::string_view v = zip.data(*e, options.verify_crc);
            storage_base_.push_back(static_cast<std::size_t>(reinterpret_cast<const unsigned char*>(v.data()) -
                                                             bytes_.data()));
        }
    }

    void parse_legacy() {
        const unsigned char* d = bytes_.data();
        const std::size_t n = bytes_.size();
        std::size_t pos = 0;
        auto small = [&](const char* what) {
            auto u = std::make_unique<pickle::Unpickler>(d + pos, n - pos, cat(path_, " (", what, ")"));
            const pickle::ValueId v = u->load();
            pos += u->position();
            return std::make_pair(std::move(u), v);
        };
        {
            auto [u, v] = small("magic number");
            static const unsigned char magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
            const pickle::Value& m = u->value(v);
            if (m.kind != pickle::Kind::bigint || m.text.size() != 10 || std::memcmp(m.text.data(), magic, 10) != 0)
                bad("legacy stream without PyTorch's magic number: not a PyTorch checkpoint");
        }
        {
            auto [u, v] = small("protocol version");
            const pickle::Value& p = u->value(v);
            if (p.kind != pickle::Kind::integer || p.integer != 1001)
                bad(cat("legacy protocol version ", p.integer, " (1001 supported)"));
        }
        {
            auto [u, v] = small("sys info");
            const pickle::ValueId* le = u->dict_find(v, "little_endian");
            if (!le || u->value(*le).kind != pickle::Kind::boolean) bad("sys info without little_endian");
            if (u->value(*le).integer != 1) bad("checkpoint written big-endian");
        }
        unpickler_ = std::make_unique<pickle::Unpickler>(d + pos, n - pos, cat(path_, " (object)"));
        root_ = unpickler_->load();
        pos += unpickler_->position();
        auto [ku, kv] = small("storage keys");
        const pickle::Value& keys = ku->value(kv);
        if (keys.kind != pickle::Kind::list) bad("storage key list is not a list");
        std::unordered_map<std::string, std::size_t> by_key;
        for (std::size_t i = 0; i < unpickler_->storages().size(); ++i) by_key.emplace(unpickler_->storages()[i].key, i);
        storage_base_.assign(unpickler_->storages().size(), SIZE_MAX);
        for (pickle::ValueId k : keys.items) {
            const pickle::Value& key = ku->value(k);
            if (key.kind != pickle::Kind::string) bad("storage key is not a str");
            auto it = by_key.find(key.text);
            if (it == by_key.end()) bad(cat("storage '", key.text, "' is listed but never used"));
            if (storage_base_[it->second] != SIZE_MAX) bad(cat("storage '", key.text, "' listed twice"));
            const pickle::StorageDecl& s = unpickler_->storages()[it->second];
            if (n - pos < 8) bad(cat("truncated before storage '", key.text, "'"));
            std::int64_t count;
            std::memcpy(&count, d + pos, 8);
            pos += 8;
            if (count != s.numel)
                bad(cat("storage '", key.text, "' declares ", s.numel, " elements in the pickle but ", count,
                        " in the data"));
            const std::size_t es = dtype_size(s.dtype);
            if (static_cast<std::uint64_t>(count) > (n - pos) / es)
                bad(cat("truncated: storage '", key.text, "' needs ", count, " x ", es, " bytes, only ", n - pos,
                        " remain"));
            storage_base_[it->second] = pos;
            pos += static_cast<std::size_t>(count) * es;
        }
        for (std::size_t i = 0; i < storage_base_.size(); ++i)
            if (storage_base_[i] == SIZE_MAX) bad(cat("storage '", unpickler_->storages()[i].key, "' has no data"));
        if (pos != n) bad(cat(n - pos, " unexpected bytes after the last storage"));
    }

    // Picks the state dict (see the header comment) and records every tensor.
    void select(const std::string& key) {
        const pickle::Unpickler& u = *unpickler_;
        const pickle::Value& top = u.value(root_);
        if (top.kind != pickle::Kind::dict) bad(cat("the checkpoint holds ", pickle::kind_with_article(top.kind), ", not a dict"));
        auto all_tensors = [&](const pickle::Value& d) {
            for (std::size_t i = 1; i < d.items.size(); i += 2)
                if (u.value(d.items[i]).kind != pickle::Kind::tensor) return false;
            return true;
        };
        auto keys_present = [&] {
            std::string s;
            for (std::size_t i = 0; i < top.items.size(); i += 2) {
                const pickle::Value& k = u.value(top.items[i]);
                if (k.kind == pickle::Kind::string) s += (s.empty() ? "'" : ", '") + k.text + "'";
            }
            return s.empty() ? std::string("none") : s;
        };
        pickle::ValueId sd = root_;
        if (!key.empty()) {
            const pickle::ValueId* v = u.dict_find(root_, key);
            if (!v) bad(cat("no entry '", key, "' in the checkpoint (entries: ", keys_present(), ")"));
            sd = *v;
            chosen_key_ = key;
        } else if (!all_tensors(top)) {
            bool found = false;
            for (const char* k : {"state_dict", "model", "state_dict_ema", "model_ema"}) {
                if (const pickle::ValueId* v = u.dict_find(root_, k)) {
                    sd = *v;
                    chosen_key_ = k;
                    found = true;
                    break;
                }
            }
            if (!found)
                bad(cat("the checkpoint is neither a state_dict nor wraps one under 'state_dict', 'model', "
                        "'state_dict_ema' or 'model_ema' (entries: ", keys_present(), ")"));
        }
        const pickle::Value& dict = u.value(sd);
        const std::string from = chosen_key_.empty() ? std::string("state_dict") : "'" + chosen_key_ + "'";
        if (dict.kind != pickle::Kind::dict) bad(cat(from, " is ", pickle::kind_with_article(dict.kind), ", not a dict"));
        for (std::size_t i = 0; i + 1 < dict.items.size(); i += 2) {
            const pickle::Value& k = u.value(dict.items[i]);
            if (k.kind != pickle::Kind::string) bad(cat(from, " has a key of type ", pickle::kind_name(k.kind)));
            const pickle::Value& v = u.value(dict.items[i + 1]);
            if (v.kind != pickle::Kind::tensor)
                bad(cat("entry '", k.text, "' of ", from, " is ", pickle::kind_with_article(v.kind), ", not a tensor"));
            const pickle::TensorDecl& t = u.tensors()[static_cast<std::size_t>(v.integer)];
            const pickle::StorageDecl& s = u.storages()[t.ref.storage];
            TensorInfo info;
            info.name = k.text.compare(0, 7, "module.") == 0 ? k.text.substr(7) : k.text;
            info.dtype = s.dtype;
            info.shape = t.shape;
            Layout l;
            l.data = bytes_.data() + storage_base_[t.ref.storage] +
                     static_cast<std::size_t>(t.ref.offset) * dtype_size(s.dtype);
            l.offset = t.offset;
            l.stride = t.stride;
            if (!index_.emplace(info.name, infos_.size()).second)
                bad(cat("tensor '", info.name, "' appears twice", info.name != k.text ? " (once with a 'module.' prefix)" : ""));
            infos_.push_back(std::move(info));
            layouts_.push_back(std::move(l));
        }
    }

    std::vector<unsigned char> bytes_;
    std::string path_;
    std::string format_;
    std::string chosen_key_;
    std::unique_ptr<pickle::Unpickler> unpickler_;
    pickle::ValueId root_ = 0;
    std::vector<std::size_t> storage_base_;  // byte offset of each storage in bytes_
    std::vector<TensorInfo> infos_;
    std::vector<Layout> layouts_;
    std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace io
EDET_NAMESPACE_END
