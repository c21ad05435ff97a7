// edet/io/pickle.hpp - a minimal, safe interpreter for the pickles inside PyTorch
// checkpoints. It executes nothing and imports nothing.
//
// Python's pickle format is a small stack machine whose GLOBAL + REDUCE opcodes call any
// importable function, which is why loading an untrusted .pth with Python can run code.
// This interpreter accepts only the opcodes a state_dict uses (protocols 2-5: containers,
// numbers, strings, memo, persistent ids) and only these globals:
//
//   collections.OrderedDict          -> an (ordered) dict; BUILD on it (the `_metadata`
//                                       attribute of module state_dicts) is accepted and ignored
//   torch._utils._rebuild_tensor_v2  -> a tensor record (storage, offset, size, stride)
//   torch._utils._rebuild_parameter  -> the tensor it wraps
//   torch.{Float,Half,BFloat16,Long}Storage -> storage types of persistent ids
//
// Training checkpoints (effdet's train.py, timm's CheckpointSaver) also pickle objects next
// to the weights: `args` is an argparse.Namespace, saved as NEWOBJ(class, ()) + BUILD(its
// attribute dict). Such an object becomes an inert placeholder (Kind::object, its class
// name in `text`): the class is named, never imported; NEWOBJ's arguments and BUILD's state
// are read as plain values and dropped; nothing is created or run. A placeholder is only
// good for being skipped: pth.hpp refuses one where a tensor is expected.
//
// Refused before anything happens: a REDUCE (a call) of anything but the functions above;
// any global of a module that can reach the system or the interpreter (builtins, os,
// subprocess, sys, ..., kRefusedModules), even as a NEWOBJ class; INST/OBJ and the other
// opcodes a state_dict does not use. A persistent id ('storage', type, key, location,
// numel[, view]) becomes a storage record; the container (pth.hpp) later maps its key to
// bytes. Tensors come only from _rebuild_tensor_v2 over such storages.
//
// Values live in one arena owned by the Unpickler and refer to each other by index, so
// a hostile pickle cannot build reference cycles that leak, and nothing here recurses.
// Declared lengths are checked against the bytes left before any allocation; nesting
// depth, memo size and value count are bounded (Limits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "edet/core/error.hpp"
#include "edet/io/tensor_source.hpp"

EDET_NAMESPACE_BEGIN
namespace io {
namespace pickle {

using ValueId = std::size_t;

enum class Kind {
    none,
    boolean,
    integer,  // fits in int64: `integer`
    bigint,   // wider than 64 bits: little-endian two's complement bytes in `text`
    floating,
    string,   // str (UTF-8) or Python 2 str
    bytes,
    tuple,
    list,
    dict,     // dict or collections.OrderedDict; `items` holds key, value, key, value, ...
    global,   // an allowed global; `text` is "module.name"
    klass,    // a class the reader does not know, named but never imported; `text` is "module.name"
    object,   // an inert placeholder for an instance of a `klass` (NEWOBJ); `text` is the class name
    storage,  // a persistent-id storage; `integer` indexes Unpickler::storages()
    tensor,   // `integer` indexes Unpickler::tensors()
};

inline const char* kind_name(Kind k) {
    switch (k) {
        case Kind::none: return "None";
        case Kind::boolean: return "bool";
        case Kind::integer: return "int";
        case Kind::bigint: return "int";
        case Kind::floating: return "float";
        case Kind::string: return "str";
        case Kind::bytes: return "bytes";
        case Kind::tuple: return "tuple";
        case Kind::list: return "list";
        case Kind::dict: return "dict";
        case Kind::global: return "global";
        case Kind::klass: return "class";
        case Kind::object: return "object";
        case Kind::storage: return "storage";
        case Kind::tensor: return "tensor";
    }
    return "?";
}

// "a dict", "an int", "an object": kind_name with its article, for messages.
inline std::string kind_with_article(Kind k) {
    const std::string n = kind_name(k);
    return (n[0] == 'i' || n[0] == 'o' ? "an " : "a ") + n;
}

struct Value {
    Kind kind = Kind::none;
    std::int64_t integer = 0;  // int, bool (0/1), storage or tensor index
    double floating = 0.0;
    std::string text;             // str, bytes, bigint bytes, global name
    std::vector<ValueId> items;   // tuple / list elements; dict key, value pairs
    int depth = 0;                // container nesting depth (bounded by Limits::max_depth)
};

// A storage named by a persistent id: `numel` elements of `dtype` under `key`.
struct StorageDecl {
    std::string key;
    DType dtype = DType::f32;
    std::int64_t numel = 0;
};

// What a storage value refers to: a whole root storage or an element range of it (the
// legacy format's view_metadata).
struct StorageRef {
    std::size_t storage = 0;  // index into storages()
    std::int64_t offset = 0;  // elements
    std::int64_t numel = 0;   // elements visible through this reference
};

// torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...)
struct TensorDecl {
    StorageRef ref;
    std::int64_t offset = 0;  // elements, relative to ref
    std::vector<std::int64_t> shape, stride;
};

struct Limits {
    int max_depth = 64;                       // container nesting
    std::size_t max_memo = std::size_t{1} << 22;
    std::size_t max_values = std::size_t{1} << 24;
    std::size_t max_bigint_bytes = 64;
    std::size_t max_dims = 16;
};

class Unpickler {
public:
    // Interprets the pickle starting at `data` (which may be followed by other bytes, as
    // in the legacy .pth stream); `where` names the file for messages.
    Unpickler(const unsigned char* data, std::size_t size, std::string where, Limits limits = {})
        : data_(data), size_(size), where_(std::move(where)), limits_(limits) {}

    // Runs until STOP and returns the top value. position() is then just past STOP.
    ValueId load() {
        if (loaded_) bad("load() called twice");
        loaded_ = true;
        for (;;) {
            const std::size_t at = pos_;
            const unsigned char op = u8();
            if (op == '.') break;
            step(op, at);
        }
        if (!marks_.empty()) bad("STOP with an open MARK");
        if (stack_.size() != 1) bad(cat("STOP with ", stack_.size(), " values on the stack (expected 1)"));
        return stack_.back();
    }

    std::size_t position() const { return pos_; }
    const Value& value(ValueId id) const { return values_.at(id); }
    const std::vector<StorageDecl>& storages() const { return storages_; }
    const std::vector<TensorDecl>& tensors() const { return tensors_; }

    // Looks up a string key in a dict value; nullptr when absent.
    const ValueId* dict_find(ValueId dict, const std::string& key) const {
        const Value& d = values_.at(dict);
        if (d.kind != Kind::dict) return nullptr;
        for (std::size_t i = 0; i + 1 < d.items.size(); i += 2) {
            const Value& k = values_[d.items[i]];
            if (k.kind == Kind::string && k.text == key) return &d.items[i + 1];
        }
        return nullptr;
    }

private:
    [[noreturn]] void bad(const std::string& why) const {
        fail("pickle", where_, why);
    }
    [[noreturn]] void bad_at(std::size_t at, const std::string& why) const {
        fail("pickle", where_, cat("at byte ", at, ": ", why));
    }

    // --- reading -------------------------------------------------------------------------
    void need(std::uint64_t n) const {
        if (n > size_ - pos_)
            bad(cat("truncated: needs ", n, " more bytes at byte ", pos_, " but only ", size_ - pos_, " remain"));
    }
    unsigned char u8() {
        need(1);
        return data_[pos_++];
    }
    std::uint64_t uint_le(int n) {
        need(static_cast<std::uint64_t>(n));
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i) v |= std::uint64_t{data_[pos_ + static_cast<std::size_t>(i)]} << (8 * i);
        pos_ += static_cast<std::size_t>(n);
        return v;
    }
    std::string take(std::uint64_t n) {
        need(n);  // checked before allocating: a huge declared length fails here
        std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    std::string line() {  // text argument of GLOBAL, up to '\n'
        const void* nl = size_ > pos_ ? std::memchr(data_ + pos_, '\n', size_ - pos_) : nullptr;
        if (!nl) bad(cat("truncated: unterminated text argument at byte ", pos_));
        const std::size_t n = static_cast<std::size_t>(static_cast<const unsigned char*>(nl) - (data_ + pos_));
        std::string s = take(n);
        ++pos_;
        return s;
    }

    // --- values --------------------------------------------------------------------------
    ValueId make(Value v) {
        if (values_.size() >= limits_.max_values) bad(cat("more than ", limits_.max_values, " values"));
        values_.push_back(std::move(v));
        return values_.size() - 1;
    }
    ValueId make_scalar(Kind k, std::int64_t i = 0) {
        Value v;
        v.kind = k;
        v.integer = i;
        return make(std::move(v));
    }
    ValueId make_text(Kind k, std::string s) {
        Value v;
        v.kind = k;
        v.text = std::move(s);
        return make(std::move(v));
    }
    void note_child(Value& parent, ValueId child) {
        const int d = values_[child].depth + 1;
        if (d > limits_.max_depth) bad(cat("containers nested deeper than ", limits_.max_depth, " levels"));
        if (d > parent.depth) parent.depth = d;
    }
    ValueId make_tuple(std::vector<ValueId> items) {
        Value v;
        v.kind = Kind::tuple;
        for (ValueId c : items) note_child(v, c);
        v.items = std::move(items);
        return make(std::move(v));
    }

    ValueId pop() {
        if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("stack underflow");
        const ValueId v = stack_.back();
        stack_.pop_back();
        return v;
    }
    ValueId& top() {
        if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) bad("stack underflow");
        return stack_.back();
    }
    std::vector<ValueId> pop_mark() {
        if (marks_.empty()) bad("no MARK to pop to");
        const std::size_t m = marks_.back();
        marks_.pop_back();
        std::vector<ValueId> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
        stack_.resize(m);
        return items;
    }
    void push(ValueId v) { stack_.push_back(v); }

    void memo_put(std::uint64_t index) {
        if (stack_.empty()) bad("memo put with an empty stack");
        if (index >= limits_.max_memo) bad(cat("memo index ", index, " exceeds the limit ", limits_.max_memo));
        memo_[static_cast<std::size_t>(index)] = stack_.back();
        if (memo_.size() > limits_.max_memo) bad(cat("more than ", limits_.max_memo, " memo entries"));
    }
    void memo_get(std::uint64_t index) {
        auto it = memo_.find(static_cast<std::size_t>(index));
        if (it == memo_.end()) bad(cat("memo index ", index, " was never stored"));
        push(it->second);
    }

    Value& container(ValueId id, Kind want, const char* op) {
        Value& v = values_[id];
        if (v.kind != want) bad(cat(op, " on a ", kind_name(v.kind), ", expected a ", kind_name(want)));
        return v;
    }
    void dict_set(ValueId dict, ValueId key, ValueId val) {
        Value& d = container(dict, Kind::dict, "SETITEM");
        const Value& k = values_[key];
        if (k.kind == Kind::list || k.kind == Kind::dict) bad(cat("unhashable dict key of type ", kind_name(k.kind)));
        note_child(d, key);
        note_child(d, val);
        if (k.kind == Kind::string) {
            auto& idx = dict_index_[dict];
            auto it = idx.find(k.text);
            if (it != idx.end()) {  // Python semantics: a repeated key overwrites
                d.items[it->second + 1] = val;
                return;
            }
            idx.emplace(k.text, d.items.size());
        }
        d.items.push_back(key);
        d.items.push_back(val);
    }
    void list_append(ValueId list, ValueId item) {
        Value& l = container(list, Kind::list, "APPEND");
        note_child(l, item);
        l.items.push_back(item);
    }

    // --- globals and calls ---------------------------------------------------------------
    static bool storage_dtype(const std::string& name, DType& out) {
        if (name == "torch.FloatStorage") out = DType::f32;
        else if (name == "torch.HalfStorage") out = DType::f16;
        else if (name == "torch.BFloat16Storage") out = DType::bf16;
        else if (name == "torch.LongStorage") out = DType::i64;
        else return false;
        return true;
    }
    // Modules whose names have no business in a checkpoint: each can reach the system, the
    // interpreter or the pickle machinery itself. A file naming one is hostile or broken,
    // and is refused even where its class would only become a placeholder.
    static bool refused_module(const std::string& module) {
        static constexpr const char* kRefusedModules[] = {
            "builtins", "__builtin__", "os", "posix", "nt", "subprocess", "sys", "shutil", "socket",
            "importlib", "runpy", "pickle", "_pickle", "copyreg", "copy_reg", "code", "codeop", "ctypes",
            "pty", "webbrowser", "types", "functools", "operator", "io", "pathlib", "marshal", "signal",
            "multiprocessing", "threading", "asyncio", "inspect", "gc", "pdb", "timeit", "platform"};
        const std::string root = module.substr(0, module.find('.'));
        for (const char* m : kRefusedModules)
            if (root == m) return true;
        return false;
    }
    ValueId make_global(const std::string& module, const std::string& name, std::size_t at) {
        const std::string full = module + "." + name;
        DType unused;
        if (full == "collections.OrderedDict" || full == "torch._utils._rebuild_tensor_v2" ||
            full == "torch._utils._rebuild_parameter" || storage_dtype(full, unused))
            return make_text(Kind::global, full);
        if (module == "torch" && name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0)
            bad_at(at, cat("storage type ", full, " is not supported (float32, float16, bfloat16 and int64 are)"));
        if (module.empty() || name.empty() || refused_module(module))
            bad_at(at, cat("refusing global '", full,
                           "': a checkpoint may only call collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
                           "torch._utils._rebuild_parameter and name torch.*Storage types; nothing is imported or run"));
        // Any other class: named, never imported. Only NEWOBJ may use it (a placeholder).
        return make_text(Kind::klass, full);
    }
    // NEWOBJ / NEWOBJ_EX: cls.__new__(cls, *args) in Python. Here an OrderedDict becomes an
    // empty dict and any other class an inert placeholder; the arguments are dropped.
    ValueId new_object(ValueId cls, ValueId args_id, std::size_t at) {
        const Value& c = values_[cls];
        if (values_[args_id].kind != Kind::tuple)
            bad_at(at, cat("NEWOBJ arguments must be a tuple, got ", kind_name(values_[args_id].kind)));
        if (c.kind == Kind::global && c.text == "collections.OrderedDict") {
            Value d;
            d.kind = Kind::dict;
            return make(std::move(d));
        }
        if (c.kind != Kind::klass)
            bad_at(at, cat("NEWOBJ of a ", kind_name(c.kind), c.kind == Kind::global ? " (" + c.text + ")" : std::string(),
                           " is not allowed"));
        return make_text(Kind::object, c.text);
    }

    std::int64_t as_int(ValueId id, const char* what) const {
        const Value& v = values_[id];
        if (v.kind != Kind::integer && v.kind != Kind::boolean) bad(cat(what, " must be an int, got ", kind_name(v.kind)));
        return v.integer;
    }
    std::vector<std::int64_t> int_tuple(ValueId id, const char* what) const {
        const Value& v = values_[id];
        if (v.kind != Kind::tuple) bad(cat(what, " must be a tuple, got ", kind_name(v.kind)));
        if (v.items.size() > limits_.max_dims) bad(cat(what, " has ", v.items.size(), " dims (limit ", limits_.max_dims, ")"));
        std::vector<std::int64_t> out;
        for (ValueId c : v.items) {
            const std::int64_t x = as_int(c, what);
            if (x < 0) bad(cat(what, " holds a negative value ", x));
            out.push_back(x);
        }
        return out;
    }

    ValueId rebuild_tensor(const std::vector<ValueId>& args) {
        if (args.size() < 4 || args.size() > 7)
            bad(cat("_rebuild_tensor_v2 takes 4 to 7 arguments, got ", args.size()));
        const Value& s = values_[args[0]];
        if (s.kind != Kind::storage) bad(cat("_rebuild_tensor_v2: first argument is a ", kind_name(s.kind), ", not a storage"));
        TensorDecl t;
        t.ref = storage_refs_[static_cast<std::size_t>(s.integer)];
        t.offset = as_int(args[1], "storage_offset");
        if (t.offset < 0) bad(cat("negative storage_offset ", t.offset));
        t.shape = int_tuple(args[2], "size");
        t.stride = int_tuple(args[3], "stride");
        if (t.shape.size() != t.stride.size())
            bad(cat("size has ", t.shape.size(), " dims but stride has ", t.stride.size()));
        // The highest element index touched must lie inside the storage reference.
        bool empty = false;
        std::uint64_t last = static_cast<std::uint64_t>(t.offset);
        for (std::size_t i = 0; i < t.shape.size(); ++i) {
            if (t.shape[i] == 0) empty = true;
            const std::uint64_t extent = static_cast<std::uint64_t>(t.shape[i] > 0 ? t.shape[i] - 1 : 0);
            const std::uint64_t stride = static_cast<std::uint64_t>(t.stride[i]);
            if (extent != 0 && stride > (std::uint64_t{1} << 62) / extent) bad("size x stride overflows");
            last += extent * stride;
            if (last > (std::uint64_t{1} << 62)) bad("tensor extent overflows");
        }
        std::uint64_t numel = 1;
        for (std::int64_t d : t.shape) {
            const auto ud = static_cast<std::uint64_t>(d);
            numel = (ud != 0 && numel > (std::uint64_t{1} << 62) / ud) ? (std::uint64_t{1} << 62) : numel * ud;
        }
        if (numel > static_cast<std::uint64_t>(t.ref.numel))
            bad(cat("tensor of ", numel, " elements in a storage of ", t.ref.numel,
                    " (broadcast views with stride 0 are not supported)"));
        if (!empty && last >= static_cast<std::uint64_t>(t.ref.numel))
            bad(cat("tensor reaches element ", last, " of a storage with ", t.ref.numel,
                    " elements (size/stride/offset do not fit the storage)"));
        tensors_.push_back(std::move(t));
        return make_scalar(Kind::tensor, static_cast<std::int64_t>(tensors_.size() - 1));
    }

    ValueId reduce(ValueId callable, ValueId args_id, std::size_t at) {
        const Value& f = values_[callable];
        if (f.kind == Kind::klass)
            bad_at(at, cat("REDUCE of ", f.text, " would call it; refusing (a checkpoint may only call "
                           "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch._utils._rebuild_parameter)"));
        if (f.kind != Kind::global) bad_at(at, cat("REDUCE of ", kind_with_article(f.kind), " is not allowed"));
        const Value& a = values_[args_id];
        if (a.kind != Kind::tuple) bad_at(at, cat("REDUCE arguments must be a tuple, got ", kind_name(a.kind)));
        const std::vector<ValueId> args = a.items;
        if (f.text == "collections.OrderedDict") {
            if (!args.empty()) bad_at(at, "OrderedDict() with arguments is not supported");
            Value d;
            d.kind = Kind::dict;
            return make(std::move(d));
        }
        if (f.text == "torch._utils._rebuild_tensor_v2") return rebuild_tensor(args);
        if (f.text == "torch._utils._rebuild_parameter") {
            if (args.size() < 1 || args.size() > 3 || values_[args[0]].kind != Kind::tensor)
                bad_at(at, "_rebuild_parameter expects (tensor, requires_grad, hooks)");
            return args[0];
        }
        bad_at(at, cat("REDUCE of ", f.text, " is not allowed (it is not a function)"));
    }

    ValueId persistent_load(ValueId pid_id, std::size_t at) {
        const Value& pid = values_[pid_id];
        if (pid.kind != Kind::tuple || pid.items.size() < 5 || pid.items.size() > 6)
            bad_at(at, "persistent id must be ('storage', type, key, location, numel[, view])");
        const Value& tag = values_[pid.items[0]];
        if (tag.kind != Kind::string || tag.text != "storage") bad_at(at, "persistent id is not a 'storage' record");
        const Value& type = values_[pid.items[1]];
        DType dt;
        if (type.kind != Kind::global || !storage_dtype(type.text, dt))
            bad_at(at, "persistent id names no storage type");
        const Value& key = values_[pid.items[2]];
        if (key.kind != Kind::string) bad_at(at, "storage key must be a str");
        const std::int64_t numel = as_int(pid.items[4], "storage numel");
        if (numel < 0) bad_at(at, cat("negative storage size ", numel));
        std::size_t index;
        auto it = storage_index_.find(key.text);
        if (it == storage_index_.end()) {
            index = storages_.size();
            storages_.push_back({key.text, dt, numel});
            storage_index_.emplace(key.text, index);
        } else {
            index = it->second;
            if (storages_[index].dtype != dt || storages_[index].numel != numel)
                bad_at(at, cat("storage '", key.text, "' declared twice with different type or size"));
        }
        StorageRef ref{index, 0, numel};
        if (pid.items.size() == 6 && values_[pid.items[5]].kind != Kind::none) {
            // Legacy view_metadata (view_key, offset, view_size): a slice of the root storage.
            const Value& view = values_[pid.items[5]];
            if (view.kind != Kind::tuple || view.items.size() != 3) bad_at(at, "bad storage view metadata");
            ref.offset = as_int(view.items[1], "view offset");
            ref.numel = as_int(view.items[2], "view size");
            if (ref.offset < 0 || ref.numel < 0 || ref.offset > numel || ref.numel > numel - ref.offset)
                bad_at(at, cat("storage view [", ref.offset, ", +", ref.numel, ") outside a storage of ", numel));
        }
        storage_refs_.push_back(ref);
        return make_scalar(Kind::storage, static_cast<std::int64_t>(storage_refs_.size() - 1));
    }

    // --- the machine ---------------------------------------------------------------------
    void step(unsigned char op, std::size_t at) {
        switch (op) {
            case 0x80: {  // PROTO
                const unsigned v = u8();
                if (v < 2 || v > 5) bad_at(at, cat("pickle protocol ", v, " (2 to 5 supported)"));
                break;
            }
            case 0x95: uint_le(8); break;  // FRAME: framing only, the data follows inline
            case '(': marks_.push_back(stack_.size()); break;  // MARK
            case '0': pop(); break;                             // POP
            case '1': pop_mark(); break;                        // POP_MARK
            case '2': push(top()); break;                       // DUP
            case 'N': push(make_scalar(Kind::none)); break;
            case 0x88: push(make_scalar(Kind::boolean, 1)); break;  // NEWTRUE
            case 0x89: push(make_scalar(Kind::boolean, 0)); break;  // NEWFALSE
            case 'J': push(make_scalar(Kind::integer, static_cast<std::int32_t>(uint_le(4)))); break;  // BININT
            case 'K': push(make_scalar(Kind::integer, static_cast<std::int64_t>(uint_le(1)))); break;  // BININT1
            case 'M': push(make_scalar(Kind::integer, static_cast<std::int64_t>(uint_le(2)))); break;  // BININT2
            case 0x8a:    // LONG1
            case 0x8b: {  // LONG4
                const std::uint64_t n = op == 0x8a ? uint_le(1) : uint_le(4);
                if (n > limits_.max_bigint_bytes) bad_at(at, cat("integer of ", n, " bytes"));
                std::string b = take(n);
                if (n <= 8) {
                    std::uint64_t v = 0;
                    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{static_cast<unsigned char>(b[i])} << (8 * i);
                    if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) v |= ~std::uint64_t{0} << (8 * n);
                    std::int64_t s;
                    std::memcpy(&s, &v, sizeof s);
                    push(make_scalar(Kind::integer, s));
                } else {
                    push(make_text(Kind::bigint, std::move(b)));
                }
                break;
            }
            case 'G': {  // BINFLOAT, big-endian IEEE double
                need(8);
                std::uint64_t bits = 0;
                for (int i = 0; i < 8; ++i) bits = bits << 8 | data_[pos_ + static_cast<std::size_t>(i)];
                pos_ += 8;
                Value v;
                v.kind = Kind::floating;
                std::memcpy(&v.floating, &bits, sizeof bits);
                push(make(std::move(v)));
                break;
            }
            case 'X': push(make_text(Kind::string, take(uint_le(4)))); break;     // BINUNICODE
            case 0x8c: push(make_text(Kind::string, take(uint_le(1)))); break;    // SHORT_BINUNICODE
            case 0x8d: push(make_text(Kind::string, take(uint_le(8)))); break;    // BINUNICODE8
            case 'T': {                                                            // BINSTRING
                const std::uint64_t n = uint_le(4);
                if (n & 0x80000000u) bad_at(at, "negative BINSTRING length");
                push(make_text(Kind::string, take(n)));
                break;
            }
            case 'U': push(make_text(Kind::string, take(uint_le(1)))); break;     // SHORT_BINSTRING
            case 'B': push(make_text(Kind::bytes, take(uint_le(4)))); break;      // BINBYTES
            case 'C': push(make_text(Kind::bytes, take(uint_le(1)))); break;      // SHORT_BINBYTES
            case 0x8e: push(make_text(Kind::bytes, take(uint_le(8)))); break;     // BINBYTES8
            case ')': push(make_tuple({})); break;                                // EMPTY_TUPLE
            case 't': push(make_tuple(pop_mark())); break;                        // TUPLE
            case 0x85: {                                                          // TUPLE1
                const ValueId a = pop();
                push(make_tuple({a}));
                break;
            }
            case 0x86: {  // TUPLE2
                const ValueId b = pop(), a = pop();
                push(make_tuple({a, b}));
                break;
            }
            case 0x87: {  // TUPLE3
                const ValueId c = pop(), b = pop(), a = pop();
                push(make_tuple({a, b, c}));
                break;
            }
            case ']': {  // EMPTY_LIST
                Value v;
                v.kind = Kind::list;
                push(make(std::move(v)));
                break;
            }
            case 'l': {  // LIST
                const std::vector<ValueId> items = pop_mark();
                Value v;
                v.kind = Kind::list;
                const ValueId l = make(std::move(v));
                for (ValueId i : items) list_append(l, i);
                push(l);
                break;
            }
            case 'a': {  // APPEND
                const ValueId item = pop();
                list_append(top(), item);
                break;
            }
            case 'e': {  // APPENDS
                const std::vector<ValueId> items = pop_mark();
                const ValueId l = top();
                for (ValueId i : items) list_append(l, i);
                break;
            }
            case '}': {  // EMPTY_DICT
                Value v;
                v.kind = Kind::dict;
                push(make(std::move(v)));
                break;
            }
            case 'd': {  // DICT
                const std::vector<ValueId> items = pop_mark();
                if (items.size() % 2) bad_at(at, "DICT with an odd number of items");
                Value v;
                v.kind = Kind::dict;
                const ValueId d = make(std::move(v));
                for (std::size_t i = 0; i < items.size(); i += 2) dict_set(d, items[i], items[i + 1]);
                push(d);
                break;
            }
            case 's': {  // SETITEM
                const ValueId val = pop(), key = pop();
                dict_set(top(), key, val);
                break;
            }
            case 'u': {  // SETITEMS
                const std::vector<ValueId> items = pop_mark();
                if (items.size() % 2) bad_at(at, "SETITEMS with an odd number of items");
                const ValueId d = top();
                for (std::size_t i = 0; i < items.size(); i += 2) dict_set(d, items[i], items[i + 1]);
                break;
            }
            case 'c': {  // GLOBAL "module\nname\n"
                std::string module = line();
                std::string name = line();
                push(make_global(module, name, at));
                break;
            }
            case 0x93: {  // STACK_GLOBAL
                const ValueId name = pop(), module = pop();
                if (values_[module].kind != Kind::string || values_[name].kind != Kind::string)
                    bad_at(at, "STACK_GLOBAL needs two strings");
                push(make_global(values_[module].text, values_[name].text, at));
                break;
            }
            case 'R': {  // REDUCE
                const ValueId args = pop(), callable = pop();
                push(reduce(callable, args, at));
                break;
            }
            case 0x81: {  // NEWOBJ
                const ValueId args = pop(), cls = pop();
                push(new_object(cls, args, at));
                break;
            }
            case 0x92: {  // NEWOBJ_EX (protocol 4): cls, args, kwargs
                const ValueId kwargs = pop(), args = pop(), cls = pop();
                if (values_[kwargs].kind != Kind::dict)
                    bad_at(at, cat("NEWOBJ_EX keyword arguments must be a dict, got ", kind_name(values_[kwargs].kind)));
                push(new_object(cls, args, at));
                break;
            }
            case 'b': {  // BUILD: the state of an OrderedDict (state_dict._metadata) or a placeholder
                const ValueId state = pop();
                const Value& target = values_[top()];
                if (target.kind == Kind::object) break;  // argparse.Namespace's attributes etc.: dropped
                if (target.kind != Kind::dict) bad_at(at, cat("BUILD on a ", kind_name(target.kind), " is not allowed"));
                const Kind sk = values_[state].kind;
                if (sk != Kind::dict && sk != Kind::none && sk != Kind::tuple)
                    bad_at(at, cat("BUILD with a ", kind_name(sk), " state is not allowed"));
                break;  // attributes are ignored: the tensors are the dict's items
            }
            case 'Q': {  // BINPERSID
                const ValueId pid = pop();
                push(persistent_load(pid, at));
                break;
            }
            case 'q': memo_put(uint_le(1)); break;            // BINPUT
            case 'r': memo_put(uint_le(4)); break;            // LONG_BINPUT
            case 0x94: memo_put(memo_.size()); break;         // MEMOIZE
            case 'h': memo_get(uint_le(1)); break;            // BINGET
            case 'j': memo_get(uint_le(4)); break;            // LONG_BINGET
            default:
                bad_at(at, cat("opcode 0x", hex2(op), describe(op),
                               " is not allowed in a checkpoint (only state_dict opcodes are accepted)"));
        }
    }

    static std::string hex2(unsigned char c) {
        static constexpr char d[] = "0123456789abcdef";
        return std::string{d[c >> 4], d[c & 15]};
    }
    static std::string describe(unsigned char op) {
        if (op >= 0x20 && op < 0x7f) return cat(" ('", static_cast<char>(op), "')");
        return {};
    }

    const unsigned char* data_;
    std::size_t size_;
    std::string where_;
    Limits limits_;
    std::size_t pos_ = 0;
    bool loaded_ = false;
    std::vector<Value> values_;
    std::vector<ValueId> stack_;
    std::vector<std::size_t> marks_;
    std::unordered_map<std::size_t, ValueId> memo_;
    std::unordered_map<ValueId, std::unordered_map<std::string, std::size_t>> dict_index_;
    std::vector<StorageDecl> storages_;
    std::unordered_map<std::string, std::size_t> storage_index_;
    std::vector<StorageRef> storage_refs_;
    std::vector<TensorDecl> tensors_;
};

}  // namespace pickle
}  // namespace io
EDET_NAMESPACE_END
