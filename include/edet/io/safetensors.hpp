// edet/io/safetensors.hpp - read and write safetensors files (the fixtures' and
// Hugging Face's tensor container).
//
// Format (little-endian throughout):
//   [u64 N][N bytes of JSON header][data section]
//   header = { "__metadata__": {"key": "value", ...},            (optional, strings only)
//              "<name>": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]},
//              ... }
//   offsets are relative to the start of the data section; the header may be padded with
//   spaces so the data starts 8-byte aligned.
//
//   auto f = edet::io::SafeTensorsFile::open("weights.safetensors");  // validates everything
//   for (const auto& t : f->tensors()) std::cout << t.name << t.shape_str();
//   std::vector<float> w = f->read_f32("backbone.conv_stem.weight");  // F16/BF16/I64 converted
//
// The whole file is read into memory once (a D7 checkpoint is ~200 MB); every tensor read
// afterwards is a bounds-checked copy out of that buffer, so a validated file can never
// make a read go out of bounds.
//
// Validation at open (each failure is an edet::Error naming the file, and the tensor
// where there is one): file size >= 8; header length <= file size - 8 and <= 100 MB;
// strict JSON; every entry an object with exactly dtype, shape, data_offsets; dtype one
// of F32, F16, BF16, I64 (others name the tensor and dtype); shape of non-negative
// integers whose byte size does not overflow; data_offsets two integers, begin <= end <=
// data size, end - begin == numel * dtype size; no two tensors overlapping; __metadata__
// a string -> string map.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/json.hpp"
#include "edet/io/tensor_source.hpp"

EDET_NAMESPACE_BEGIN
namespace io {

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "edet's safetensors reader assumes a little-endian host");
#endif

// Largest header we accept (the safetensors reference uses the same bound).
inline constexpr std::uint64_t safetensors_max_header_bytes = 100u * 1000u * 1000u;

// Exact float32 value of an IEEE binary16 (F16) bit pattern: normals, subnormals, zeros,
// infinities and NaN (payload kept).
inline float f16_to_f32(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1Fu;
    std::uint32_t mant = h & 0x3FFu;
    std::uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);  // inf / NaN
    } else if (exp != 0) {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;  // +-0
    } else {
        // Subnormal: value = mant * 2^-24; normalise it into a float32 normal.
        std::uint32_t e = 127 - 15 + 1;
        while ((mant & 0x400u) == 0) {
            mant <<= 1;
            --e;
        }
        bits = sign | (e << 23) | ((mant & 0x3FFu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Exact float32 value of a bfloat16 bit pattern (the top half of a float32).
inline float bf16_to_f32(std::uint16_t b) {
    const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

namespace detail {

inline std::uint64_t load_u64_le(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

// Parses a safetensors dtype name; false when edet does not read it.
inline bool parse_dtype(std::string_view s, DType& out) {
    if (s == "F32") out = DType::f32;
    else if (s == "F16") out = DType::f16;
    else if (s == "BF16") out = DType::bf16;
    else if (s == "I64") out = DType::i64;
    else return false;
    return true;
}

inline bool is_known_unsupported_dtype(std::string_view s) {
    static const char* const names[] = {"F64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL",
                                        "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4",
                                        "C64", "C128"};
    for (const char* n : names)
        if (s == n) return true;
    return false;
}

// Reads a whole regular file; edet::Error naming the path otherwise.
inline std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) fail("file", path, "does not exist or cannot be accessed");
    if (!fs::is_regular_file(st)) fail("file", path, "is not a regular file");
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail("file", path, cat("cannot open: ", std::strerror(errno)));
    std::vector<std::uint8_t> bytes;
    const std::uintmax_t size = fs::file_size(path, ec);
    if (!ec && size > 0) bytes.reserve(static_cast<std::size_t>(size));
    std::uint8_t buf[1 << 16];
    for (;;) {
        const std::size_t got = std::fread(buf, 1, sizeof buf, f);
        bytes.insert(bytes.end(), buf, buf + got);
        if (got < sizeof buf) break;
    }
    const bool bad = std::ferror(f) != 0;
    std::fclose(f);
    if (bad) fail("file", path, "read error");
    return bytes;
}

}  // namespace detail

class SafeTensorsFile : public TensorSource {
public:
    // Reads and validates a file. Throws edet::Error (naming the path) on any problem.
    static std::unique_ptr<SafeTensorsFile> open(const std::string& path) {
        return from_bytes(detail::read_file_bytes(path), path);
    }
    // Validates an in-memory file; `name` stands for the path in messages.
    static std::unique_ptr<SafeTensorsFile> from_bytes(std::vector<std::uint8_t> bytes,
                                                       std::string name = "<memory>") {
        std::unique_ptr<SafeTensorsFile> f(new SafeTensorsFile(std::move(bytes), std::move(name)));
        f->parse();
        return f;
    }

    const std::vector<TensorInfo>& tensors() const override { return infos_; }

    const TensorInfo* find(const std::string& name) const override {
        const auto it = index_.find(name);
        return it == index_.end() ? nullptr : &infos_[it->second];
    }

    std::vector<float> read_f32(const std::string& name) const override {
        const TensorInfo& t = require(name);
        std::vector<float> out(t.numel());
        convert_to_f32(t, entry(name), out.data());
        return out;
    }

    // Like read_f32 but into caller memory of exactly `count` floats (e.g. an aligned
    // weight buffer). edet::Error when the tensor is absent or count != numel.
    void read_f32_into(const std::string& name, float* dst, std::size_t count) const {
        const TensorInfo& t = require(name);
        if (count != t.numel())
            fail(cat("tensor '", name, "'"), path_, cat("destination holds ", count, " floats, tensor has ", t.numel()));
        if (count) convert_to_f32(t, entry(name), dst);
    }

    // The tensor's bytes as stored (little-endian, row-major), for zero-copy F32 reads:
    // raw_size(name) bytes starting here. The pointer lives as long as this object.
    // Alignment: the data section is 8-byte aligned in memory when the header is padded to
    // 8 (as write_safetensors and the reference writers do) and offsets are multiples of
    // the element size; check is_aligned_f32() before reinterpreting as const float*.
    // edet::Error naming the tensor when absent.
    const std::uint8_t* raw(const std::string& name) const {
        require(name);
        return data_begin() + entry(name).begin;
    }
    std::size_t raw_size(const std::string& name) const {
        require(name);
        const Entry& e = entry(name);
        return static_cast<std::size_t>(e.end - e.begin);
    }
    // True when raw(name) may be read directly as const float* (F32 and 4-byte aligned).
    bool is_aligned_f32(const std::string& name) const {
        const TensorInfo& t = require(name);
        return t.dtype == DType::f32 && reinterpret_cast<std::uintptr_t>(raw(name)) % alignof(float) == 0;
    }

    std::string metadata(const std::string& key) const override {
        const auto it = metadata_.find(key);
        return it == metadata_.end() ? std::string() : it->second;
    }
    const std::map<std::string, std::string>& metadata_map() const { return metadata_; }

    const std::string& path() const override { return path_; }
    // Size of the JSON header in bytes (as stored, including padding).
    std::size_t header_size() const { return static_cast<std::size_t>(header_len_); }

private:
    struct Entry {
        std::uint64_t begin = 0, end = 0;  // within the data section
    };

    SafeTensorsFile(std::vector<std::uint8_t> bytes, std::string path)
        : bytes_(std::move(bytes)), path_(std::move(path)) {}

    const std::uint8_t* data_begin() const { return bytes_.data() + 8 + header_len_; }

    const TensorInfo& require(const std::string& name) const {
        const TensorInfo* t = find(name);
        if (!t) fail(cat("tensor '", name, "'"), path_, "not found in the file");
        return *t;
    }
    const Entry& entry(const std::string& name) const { return entries_[index_.at(name)]; }

    void convert_to_f32(const TensorInfo& t, const Entry& e, float* out) const {
        const std::uint8_t* p = data_begin() + e.begin;
        const std::size_t n = t.numel();
        switch (t.dtype) {
            case DType::f32:
                if (n) std::memcpy(out, p, n * 4);
                break;
            case DType::f16:
                for (std::size_t i = 0; i < n; ++i)
                    out[i] = f16_to_f32(static_cast<std::uint16_t>(p[2 * i] | (p[2 * i + 1] << 8)));
                break;
            case DType::bf16:
                for (std::size_t i = 0; i < n; ++i)
                    out[i] = bf16_to_f32(static_cast<std::uint16_t>(p[2 * i] | (p[2 * i + 1] << 8)));
                break;
            case DType::i64:
                for (std::size_t i = 0; i < n; ++i) {
                    std::int64_t v;
                    std::memcpy(&v, p + 8 * i, 8);
                    out[i] = static_cast<float>(v);  // nearest float (exact below 2^24)
                }
                break;
        }
    }

    [[noreturn]] void bad(const std::string& what, const std::string& why) const { fail(what, path_, why); }

    void parse() {
        const std::uint64_t size = bytes_.size();
        if (size < 8)
            bad("safetensors file", cat("too small (", size, " bytes): a safetensors file starts with an 8-byte header length"));
        header_len_ = detail::load_u64_le(bytes_.data());
        if (header_len_ > size - 8)
            bad("safetensors header", cat("header length ", header_len_, " is larger than the file (", size,
                                          " bytes) allows; truncated or not a safetensors file"));
        if (header_len_ > safetensors_max_header_bytes)
            bad("safetensors header", cat("header length ", header_len_, " exceeds the limit of ",
                                          safetensors_max_header_bytes, " bytes"));
        if (header_len_ == 0) bad("safetensors header", "header length is 0 (expected a JSON object)");
        const std::string_view text(reinterpret_cast<const char*>(bytes_.data() + 8),
                                    static_cast<std::size_t>(header_len_));
        const json::Value header = json::parse(text, path_ + " (safetensors header)");
        if (!header.is_object())
            bad("safetensors header", cat("expected a JSON object, got ", json::to_string(header.type())));
        const std::uint64_t data_size = size - 8 - header_len_;

        const json::Object& members = header.as_object();
        infos_.reserve(members.size());
        entries_.reserve(members.size());
        for (const auto& m : members) {
            if (m.first == "__metadata__") {
                parse_metadata(m.second);
                continue;
            }
            parse_entry(m.first, m.second, data_size);
        }
        check_overlaps();
    }

    void parse_metadata(const json::Value& v) {
        if (!v.is_object())
            bad("safetensors __metadata__", cat("expected an object of strings, got ", json::to_string(v.type())));
        for (const auto& kv : v.as_object()) {
            if (!kv.second.is_string())
                bad("safetensors __metadata__", cat("value of \"", kv.first, "\" is a ",
                                                    json::to_string(kv.second.type()), ", expected a string"));
            metadata_[kv.first] = kv.second.as_string();
        }
    }

    void parse_entry(const std::string& name, const json::Value& v, std::uint64_t data_size) {
        const std::string what = cat("tensor '", name, "'");
        if (name.empty()) bad("tensor ''", "empty tensor name");
        if (!v.is_object()) bad(what, cat("header entry is a ", json::to_string(v.type()), ", expected an object"));
        for (const auto& kv : v.as_object())
            if (kv.first != "dtype" && kv.first != "shape" && kv.first != "data_offsets")
                bad(what, cat("unexpected field \"", kv.first, "\" (expected dtype, shape, data_offsets)"));
        const json::Value* dtype_v = v.find("dtype");
        const json::Value* shape_v = v.find("shape");
        const json::Value* offsets_v = v.find("data_offsets");
        if (!dtype_v) bad(what, "missing \"dtype\"");
        if (!shape_v) bad(what, "missing \"shape\"");
        if (!offsets_v) bad(what, "missing \"data_offsets\"");

        TensorInfo info;
        info.name = name;
        if (!dtype_v->is_string()) bad(what, "\"dtype\" is not a string");
        const std::string& ds = dtype_v->as_string();
        if (!detail::parse_dtype(ds, info.dtype)) {
            if (detail::is_known_unsupported_dtype(ds))
                bad(what, cat("unsupported dtype ", ds, " (edet reads F32, F16, BF16, I64)"));
            bad(what, cat("unknown dtype ", json::quote(ds), " (edet reads F32, F16, BF16, I64)"));
        }

        if (!shape_v->is_array()) bad(what, "\"shape\" is not an array");
        bool zero = false;
        for (const auto& d : shape_v->as_array()) {
            if (!d.is_int64()) bad(what, cat("shape ", json::dump(*shape_v), " has a non-integer dimension"));
            const std::int64_t dim = d.as_int64();
            if (dim < 0) bad(what, cat("shape ", json::dump(*shape_v), " has a negative dimension"));
            info.shape.push_back(dim);
            zero = zero || dim == 0;
        }
        // An empty tensor needs 0 bytes whatever its other dimensions.
        std::uint64_t bytes = zero ? 0 : dtype_size(info.dtype);
        for (const std::int64_t dim : info.shape) {
            if (zero) break;
            if (bytes > UINT64_MAX / static_cast<std::uint64_t>(dim))
                bad(what, cat("shape ", info.shape_str(), " of dtype ", ds, " is too large (byte size overflows 64 bits)"));
            bytes *= static_cast<std::uint64_t>(dim);
        }

        if (!offsets_v->is_array() || offsets_v->size() != 2 || !(*offsets_v)[0].is_int64() ||
            !(*offsets_v)[1].is_int64())
            bad(what, cat("\"data_offsets\" ", json::dump(*offsets_v), " is not [begin, end] of two integers"));
        const std::int64_t b = (*offsets_v)[0].as_int64();
        const std::int64_t e = (*offsets_v)[1].as_int64();
        if (b < 0 || e < b)
            bad(what, cat("data_offsets [", b, ", ", e, "] are not 0 <= begin <= end"));
        Entry en{static_cast<std::uint64_t>(b), static_cast<std::uint64_t>(e)};
        if (en.end > data_size)
            bad(what, cat("data_offsets [", b, ", ", e, "] lie outside the data section (", data_size,
                          " bytes); file truncated?"));
        if (en.end - en.begin != bytes)
            bad(what, cat("data_offsets [", b, ", ", e, "] span ", en.end - en.begin, " bytes but shape ",
                          info.shape_str(), " of ", ds, " needs ", bytes));

        index_.emplace(name, infos_.size());  // keys are unique (the JSON parser rejects duplicates)
        infos_.push_back(std::move(info));
        entries_.push_back(en);
    }

    void check_overlaps() const {
        std::vector<std::size_t> order(entries_.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return entries_[a].begin != entries_[b].begin ? entries_[a].begin < entries_[b].begin
                                                          : entries_[a].end < entries_[b].end;
        });
        for (std::size_t k = 1; k < order.size(); ++k) {
            const Entry& prev = entries_[order[k - 1]];
            const Entry& cur = entries_[order[k]];
            if (cur.begin < prev.end)
                bad(cat("tensor '", infos_[order[k]].name, "'"),
                    cat("data_offsets [", cur.begin, ", ", cur.end, "] overlap tensor '", infos_[order[k - 1]].name,
                        "' at [", prev.begin, ", ", prev.end, "]"));
        }
    }

    std::vector<std::uint8_t> bytes_;
    std::string path_;
    std::uint64_t header_len_ = 0;
    std::vector<TensorInfo> infos_;  // header order
    std::vector<Entry> entries_;     // parallel to infos_
    std::unordered_map<std::string, std::size_t> index_;
    std::map<std::string, std::string> metadata_;
};

// ----------------------------------------------------------------------------------------
// Writer

// One tensor to write: `data` points at numel * dtype_size(dtype) bytes, little-endian,
// row-major in `shape` (may be null when numel is 0).
struct SafeTensorsEntry {
    std::string name;
    DType dtype = DType::f32;
    std::vector<std::int64_t> shape;
    const void* data = nullptr;
};

// The complete file image: header (padded with spaces so the data starts at a multiple
// of 8) followed by the tensors in the given order. edet::Error on an empty, duplicate or
// reserved name, a negative dimension or missing data.
inline std::vector<std::uint8_t> serialize_safetensors(const std::vector<SafeTensorsEntry>& tensors,
                                                       const std::map<std::string, std::string>& metadata = {}) {
    const char* where = "write_safetensors";
    std::vector<std::uint64_t> sizes;
    sizes.reserve(tensors.size());
    std::string header = "{";
    bool first = true;
    if (!metadata.empty()) {
        header += "\"__metadata__\":{";
        bool first_kv = true;
        for (const auto& kv : metadata) {
            if (!first_kv) header += ',';
            first_kv = false;
            json::append_quoted(header, kv.first);
            header += ':';
            json::append_quoted(header, kv.second);
        }
        header += '}';
        first = false;
    }
    std::unordered_map<std::string, int> seen;
    std::uint64_t offset = 0;
    for (const auto& t : tensors) {
        const std::string what = cat("tensor '", t.name, "'");
        if (t.name.empty()) fail("tensor ''", where, "empty name");
        if (t.name == "__metadata__") fail(what, where, "the name __metadata__ is reserved");
        if (!seen.emplace(t.name, 0).second) fail(what, where, "duplicate name");
        std::uint64_t bytes = dtype_size(t.dtype);
        for (auto d : t.shape) {
            if (d < 0) fail(what, where, cat("negative dimension ", d));
            if (d != 0 && bytes > UINT64_MAX / static_cast<std::uint64_t>(d)) fail(what, where, "size overflows");
            bytes *= static_cast<std::uint64_t>(d);
        }
        if (bytes > 0 && !t.data) fail(what, where, "data pointer is null");
        if (bytes > SIZE_MAX - offset) fail(what, where, "total size overflows");
        if (!first) header += ',';
        first = false;
        json::append_quoted(header, t.name);
        header += ":{\"dtype\":\"";
        header += to_string(t.dtype);
        header += "\",\"shape\":[";
        for (std::size_t i = 0; i < t.shape.size(); ++i) {
            if (i) header += ',';
            json::append_number(header, static_cast<std::int64_t>(t.shape[i]));
        }
        header += "],\"data_offsets\":[";
        json::append_number(header, static_cast<std::int64_t>(offset));
        header += ',';
        json::append_number(header, static_cast<std::int64_t>(offset + bytes));
        header += "]}";
        offset += bytes;
        sizes.push_back(bytes);
    }
    header += '}';
    while ((8 + header.size()) % 8 != 0) header += ' ';

    std::vector<std::uint8_t> out;
    out.reserve(8 + header.size() + static_cast<std::size_t>(offset));
    const std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    out.insert(out.end(), header.begin(), header.end());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        const auto* p = static_cast<const std::uint8_t*>(tensors[i].data);
        if (sizes[i]) out.insert(out.end(), p, p + sizes[i]);
    }
    return out;
}

// Writes `bytes` to `path` atomically: a temporary file in the same directory, then a
// rename over the target, so readers never see a half-written file.
inline void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    namespace fs = std::filesystem;
    std::random_device rd;
    const std::string tmp = path + ".tmp-" + std::to_string(rd()) + std::to_string(rd());
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail("file", path, cat("cannot create ", tmp, ": ", std::strerror(errno)));
    bool ok = bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    ok = (std::fflush(f) == 0) && ok;
    ok = (std::fclose(f) == 0) && ok;
    std::error_code ec;
    if (!ok) {
        fs::remove(tmp, ec);
        fail("file", path, cat("write failed: ", std::strerror(errno)));
    }
    fs::rename(tmp, path, ec);
    if (ec) {
        std::error_code ec2;
        fs::remove(tmp, ec2);
        fail("file", path, cat("cannot rename the temporary file into place: ", ec.message()));
    }
}

// Writes a safetensors file (see serialize_safetensors) atomically.
inline void write_safetensors(const std::string& path, const std::vector<SafeTensorsEntry>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    write_file_atomically(path, serialize_safetensors(tensors, metadata));
}

}  // namespace io
EDET_NAMESPACE_END
