// Tests for edet/io/pickle.hpp: the values a state_dict pickle uses, and every class of
// hostile pickle (forbidden globals and opcodes, REDUCE of anything else, truncation,
// lying lengths, deep nesting, memo abuse), each of which must throw edet::Error and run
// nothing.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "edet/io/pickle.hpp"

namespace pk = edet::io::pickle;

namespace {

// Builds pickle bytes: P() << "\x80\x02" << op('N') ...
struct P {
    std::string b;
    P& raw(const std::string& s) {
        b += s;
        return *this;
    }
    P& op(unsigned char c) {
        b += static_cast<char>(c);
        return *this;
    }
    P& u8(unsigned v) { return op(static_cast<unsigned char>(v)); }
    P& u32(std::uint32_t v) {
        for (int i = 0; i < 4; ++i) u8((v >> (8 * i)) & 0xff);
        return *this;
    }
    P& str(const std::string& s) {  // BINUNICODE
        op('X').u32(static_cast<std::uint32_t>(s.size()));
        return raw(s);
    }
    P& global(const std::string& module, const std::string& name) { return op('c').raw(module + "\n" + name + "\n"); }
    P& binint1(unsigned v) { return op('K').u8(v); }
};

P proto2() { return P().op(0x80).u8(2); }

// A persistent-id storage record followed by _rebuild_tensor_v2, leaving a tensor on the
// stack: ('storage', torch.FloatStorage, key, 'cpu', numel) offset, size, stride.
P& tensor(P& p, const std::string& key, unsigned numel, unsigned offset, std::vector<unsigned> size,
          std::vector<unsigned> stride) {
    p.global("torch._utils", "_rebuild_tensor_v2").op('(');
    p.op('(').str("storage").global("torch", "FloatStorage").str(key).str("cpu").binint1(numel).op('t').op('Q');
    p.binint1(offset).op('(');
    for (unsigned s : size) p.binint1(s);
    p.op('t').op('(');
    for (unsigned s : stride) p.binint1(s);
    p.op('t').op(0x89).global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
    return p;
}

struct Loaded {
    std::unique_ptr<pk::Unpickler> u;
    pk::ValueId top = 0;
};

Loaded load(const std::string& bytes) {
    Loaded l;
    l.u = std::make_unique<pk::Unpickler>(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), "test.pkl");
    l.top = l.u->load();
    return l;
}

std::string error_of(const std::string& bytes) {
    try {
        load(bytes);
    } catch (const edet::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("pickle: scalars, strings, containers, memo") {
    P p = proto2();
    p.op('}').op('q').u8(0).op('(');
    p.str("none").op('N');
    p.str("true").op(0x88);
    p.str("int1").binint1(200);
    p.str("int2").op('M').u8(0x34).u8(0x12);
    p.str("int4").op('J').u32(0xfffffffeu);       // -2
    p.str("long1").op(0x8a).u8(3).u8(0).u8(0).u8(0x80);  // -2^23
    p.str("float").op('G').raw(std::string("\x3f\xf8\0\0\0\0\0\0", 8));  // 1.5
    p.str("short").op(0x8c).u8(2).raw("hi");
    p.str("bytes").op('C').u8(3).raw("abc");
    p.str("tuple").binint1(1).binint1(2).op(0x86);
    p.str("list").op(']').op('q').u8(1).op('(').binint1(7).binint1(8).op('e');
    p.str("again").op('h').u8(1);  // the same list through the memo
    p.op('u').op('.');
    Loaded l = load(p.b);
    const pk::Unpickler& u = *l.u;
    CHECK(u.position() == p.b.size());
    CHECK(u.value(l.top).kind == pk::Kind::dict);
    auto get = [&](const char* k) -> const pk::Value& {
        const pk::ValueId* v = u.dict_find(l.top, k);
        REQUIRE(v);
        return u.value(*v);
    };
    CHECK(get("none").kind == pk::Kind::none);
    CHECK(get("true").kind == pk::Kind::boolean);
    CHECK(get("int1").integer == 200);
    CHECK(get("int2").integer == 0x1234);
    CHECK(get("int4").integer == -2);
    CHECK(get("long1").integer == -(1 << 23));
    CHECK(get("float").floating == 1.5);
    CHECK(get("short").text == "hi");
    CHECK(get("bytes").kind == pk::Kind::bytes);
    CHECK(get("tuple").items.size() == 2);
    CHECK(get("list").items.size() == 2);
    CHECK(u.dict_find(l.top, "list") != nullptr);
    CHECK(*u.dict_find(l.top, "list") == *u.dict_find(l.top, "again"));
    CHECK(u.dict_find(l.top, "absent") == nullptr);
}

TEST_CASE("pickle: a state_dict-shaped pickle gives storage and tensor records") {
    P p = proto2();
    p.global("collections", "OrderedDict").op(')').op('R').op('(');
    p.str("w");
    tensor(p, "0", 12, 2, {2, 3}, {1, 2});
    p.str("p").global("torch._utils", "_rebuild_parameter").op('(');
    tensor(p, "1", 4, 0, {4}, {1});
    p.op(0x88).global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
    p.op('u');
    p.op('}').str("_metadata").op('}').op('s').op('b');  // BUILD with the module metadata
    p.op('.');
    Loaded l = load(p.b);
    const pk::Unpickler& u = *l.u;
    REQUIRE(u.storages().size() == 2);
    CHECK(u.storages()[0].key == "0");
    CHECK(u.storages()[0].numel == 12);
    CHECK(u.storages()[0].dtype == edet::io::DType::f32);
    REQUIRE(u.tensors().size() == 2);
    CHECK(u.tensors()[0].offset == 2);
    CHECK(u.tensors()[0].shape == std::vector<std::int64_t>{2, 3});
    CHECK(u.tensors()[0].stride == std::vector<std::int64_t>{1, 2});
    const pk::ValueId* pv = u.dict_find(l.top, "p");
    REQUIRE(pv);
    CHECK(u.value(*pv).kind == pk::Kind::tensor);
}

TEST_CASE("pickle: forbidden globals are refused before anything runs") {
    // Modules that reach the system or the interpreter: refused at the GLOBAL itself.
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"os", "system"}, {"posix", "system"}, {"builtins", "eval"}, {"builtins", "exec"},
        {"__builtin__", "getattr"}, {"subprocess", "Popen"}, {"subprocess", "check_output"}, {"sys", "exit"},
        {"nt", "system"}, {"importlib", "import_module"}, {"os.path", "join"}, {"runpy", "run_path"},
        {"pickle", "loads"}, {"copyreg", "_reconstructor"}, {"functools", "partial"}, {"types", "CodeType"}};
    for (const auto& [m, n] : bad) {
        CAPTURE(m);
        CAPTURE(n);
        // The classic exploit: GLOBAL os.system, ('echo pwned',), REDUCE.
        P p = proto2();
        p.global(m, n).str("touch /tmp/edet_pickle_pwned").op(0x85).op('R').op('.');
        const std::string e = error_of(p.b);
        CHECK(e.find("refusing global '" + m + "." + n + "'") != std::string::npos);
        // The same through STACK_GLOBAL (protocol 4).
        P q = P().op(0x80).u8(4);
        q.op(0x8c).u8(static_cast<unsigned>(m.size())).raw(m).op(0x8c).u8(static_cast<unsigned>(n.size())).raw(n);
        q.op(0x93).op(')').op('R').op('.');
        CHECK(error_of(q.b).find("refusing global") != std::string::npos);
    }
    // Any other name is only a class reference (never imported); calling it is refused.
    const std::vector<std::pair<std::string, std::string>> calls = {
        {"torch", "load"}, {"torch._utils", "_rebuild_device_tensor_from_numpy"},
        {"numpy.core.multiarray", "_reconstruct"}, {"collections", "defaultdict"}, {"argparse", "Namespace"}};
    for (const auto& [m, n] : calls) {
        CAPTURE(m);
        CAPTURE(n);
        P p = proto2();
        p.global(m, n).str("touch /tmp/edet_pickle_pwned").op(0x85).op('R').op('.');
        CHECK(error_of(p.b).find("REDUCE of " + m + "." + n + " would call it; refusing") != std::string::npos);
    }
    // Unsupported storage types say so.
    P s = proto2();
    s.global("torch", "DoubleStorage").op('.');
    CHECK(error_of(s.b).find("not supported") != std::string::npos);
    std::FILE* f = std::fopen("/tmp/edet_pickle_pwned", "rb");
    CHECK(f == nullptr);
    if (f) std::fclose(f);
}

TEST_CASE("pickle: REDUCE of anything but the allowed functions is refused") {
    // A storage type is allowed as a name but cannot be called.
    P a = proto2();
    a.global("torch", "FloatStorage").op(')').op('R').op('.');
    CHECK(error_of(a.b).find("not allowed") != std::string::npos);
    // REDUCE of a string, a tuple, an int.
    for (const char* callable : {"str", "tuple", "int"}) {
        CAPTURE(callable);
        P p = proto2();
        if (std::string(callable) == "str") p.str("os.system");
        if (std::string(callable) == "tuple") p.op(')');
        if (std::string(callable) == "int") p.binint1(1);
        p.op(')').op('R').op('.');
        CHECK(error_of(p.b).find("REDUCE of a") != std::string::npos);
    }
    // OrderedDict with arguments, _rebuild_tensor_v2 with wrong arguments.
    P o = proto2();
    o.global("collections", "OrderedDict").binint1(1).op(0x85).op('R').op('.');
    CHECK_FALSE(error_of(o.b).empty());
    P t = proto2();
    t.global("torch._utils", "_rebuild_tensor_v2").binint1(1).binint1(2).binint1(3).binint1(4).op('(').op('t');
    t.op('.');
    CHECK_FALSE(error_of(t.b).empty());
    P r = proto2();
    r.global("torch._utils", "_rebuild_tensor_v2").op('(').binint1(1).binint1(0).op(')').op(')').op('t').op('R').op('.');
    CHECK(error_of(r.b).find("not a storage") != std::string::npos);
    // BUILD on something other than a dict.
    P b = proto2();
    b.op(']').op('}').op('b').op('.');
    CHECK(error_of(b.b).find("BUILD on a list") != std::string::npos);
}

TEST_CASE("pickle: opcodes outside the state_dict subset are refused") {
    // INST, OBJ, EXT1, PERSID (text), INT (text), STRING (text),
    // GET (text), PUT (text), FLOAT (text), LONG (text), BYTEARRAY8, NEXT_BUFFER.
    for (int op : {0x69, 0x6f, 0x82, 0x50, 0x49, 0x53, 0x67, 0x70, 0x46, 0x4c, 0x96, 0x97, 0xff, 0x00}) {
        CAPTURE(op);
        P p = proto2();
        p.op(0x28).u8(static_cast<unsigned>(op)).raw("os\nsystem\n").op(0x2e);
        CHECK(error_of(p.b).find("is not allowed") != std::string::npos);
    }
    P v = P().op(0x80).u8(6);
    CHECK(error_of(v.b).find("protocol") != std::string::npos);
}

TEST_CASE("pickle: truncated streams and lying lengths") {
    P p = proto2();
    p.global("collections", "OrderedDict").op(')').op('R').op('(').str("w");
    tensor(p, "0", 12, 0, {3, 4}, {4, 1});
    p.op('u').op('.');
    CHECK(error_of(p.b).empty());
    for (std::size_t n = 0; n < p.b.size(); ++n) {
        CAPTURE(n);
        CHECK_FALSE(error_of(p.b.substr(0, n)).empty());
    }
    // Declared lengths far beyond the data are rejected before any allocation.
    CHECK(error_of(proto2().op('X').u32(0xffffffffu).raw("abc").b).find("truncated") != std::string::npos);
    CHECK(error_of(proto2().op(0x8d).raw(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8)).b).find("truncated") !=
          std::string::npos);
    CHECK(error_of(proto2().op(0x8e).raw(std::string(8, '\xff')).b).find("truncated") != std::string::npos);
    CHECK(error_of(proto2().op('B').u32(0x7fffffffu).b).find("truncated") != std::string::npos);
    CHECK(error_of(proto2().op(0x8b).u32(0x7fffffffu).b).find("bytes") != std::string::npos);
    CHECK(error_of(proto2().op('c').raw("os").b).find("unterminated") != std::string::npos);
    // A tensor whose size/stride/offset reach past its storage.
    P big = proto2();
    tensor(big, "0", 12, 1, {3, 4}, {4, 1});  // last element 12 of 12
    CHECK(error_of(big.op('.').b).find("reaches element 12") != std::string::npos);
    P bcast = proto2();
    tensor(bcast, "0", 4, 0, {100}, {0});  // a stride-0 broadcast of 100 from 4 elements
    CHECK(error_of(bcast.op('.').b).find("broadcast") != std::string::npos);
    // The same storage key declared with two sizes.
    P twice = proto2();
    tensor(twice, "0", 12, 0, {2}, {1});
    tensor(twice, "0", 13, 0, {2}, {1});
    CHECK(error_of(twice.op(0x86).op('.').b).find("declared twice") != std::string::npos);
}

TEST_CASE("pickle: stack, mark and memo misuse") {
    CHECK(error_of(proto2().op('.').b).find("0 values") != std::string::npos);
    CHECK(error_of(proto2().op('N').op('N').op('.').b).find("2 values") != std::string::npos);
    CHECK(error_of(proto2().op('a').op('.').b).find("underflow") != std::string::npos);
    CHECK(error_of(proto2().op('t').op('.').b).find("MARK") != std::string::npos);
    CHECK(error_of(proto2().op('(').op('N').op('.').b).find("MARK") != std::string::npos);
    CHECK(error_of(proto2().op('(').op('0').op('.').b).find("underflow") != std::string::npos);
    CHECK(error_of(proto2().op('h').u8(3).op('.').b).find("never stored") != std::string::npos);
    CHECK(error_of(proto2().op('q').u8(0).op('.').b).find("empty stack") != std::string::npos);
    CHECK(error_of(proto2().op('N').op('r').u32(0xffffffffu).op('.').b).find("memo index") != std::string::npos);
    CHECK(error_of(proto2().op('N').op('}').op('s').op('.').b).find("underflow") != std::string::npos);
    CHECK(error_of(proto2().binint1(1).binint1(2).op('a').op('.').b).find("APPEND on a int") != std::string::npos);
    CHECK(error_of(proto2().op('}').op(']').binint1(2).op('s').op('.').b).find("unhashable") != std::string::npos);
    // A list that contains itself (through the memo) is harmless: no recursion, no leak.
    Loaded l = load(proto2().op(']').op('q').u8(0).op('h').u8(0).op('a').op('.').b);
    CHECK(l.u->value(l.top).items.size() == 1);
    CHECK(l.u->value(l.top).items[0] == l.top);
}

TEST_CASE("pickle: deep nesting is bounded") {
    for (int depth : {10, 60, 65, 5000}) {
        CAPTURE(depth);
        P p = proto2();
        p.op(')');
        for (int i = 0; i < depth; ++i) p.op(0x85);  // ((((),),),)...
        p.op('.');
        const std::string e = error_of(p.b);
        if (depth <= 64) CHECK(e.empty());
        else CHECK(e.find("nested deeper") != std::string::npos);
        P q = proto2();
        for (int i = 0; i < depth; ++i) q.op('(');
        q.op('N');
        for (int i = 0; i < depth; ++i) q.op('l');  // [[[[None]]]]
        q.op('.');
        if (depth <= 63) CHECK(error_of(q.b).empty());
        else CHECK(error_of(q.b).find("nested deeper") != std::string::npos);
    }
}

TEST_CASE("pickle: objects of unknown classes (train.py's args) become inert placeholders") {
    // {'epoch': 3, 'args': argparse.Namespace(model='d0', lr=0.1)} as torch.save writes it:
    // GLOBAL, EMPTY_TUPLE, NEWOBJ, then BUILD with the attribute dict.
    P p = proto2();
    p.op('}').op('(').str("epoch").binint1(3).str("args").global("argparse", "Namespace").op(')').op(0x81);
    p.op('}').op('(').str("model").str("d0").str("lr").binint1(1).op('u').op('b').op('u').op('.');
    Loaded l = load(p.b);
    const pk::ValueId* args = l.u->dict_find(l.top, "args");
    REQUIRE(args != nullptr);
    CHECK(l.u->value(*args).kind == pk::Kind::object);
    CHECK(l.u->value(*args).text == "argparse.Namespace");
    CHECK(l.u->value(*l.u->dict_find(l.top, "epoch")).integer == 3);

    // NEWOBJ_EX (protocol 4) with keyword arguments, and an OrderedDict made by NEWOBJ.
    P q = P().op(0x80).u8(4);
    q.op('(').global("torch.cuda.amp.grad_scaler", "GradScaler").op(')').op('}').op(0x92);
    q.global("collections", "OrderedDict").op(')').op(0x81).op('l').op('.');
    Loaded m = load(q.b);
    const pk::Value& list = m.u->value(m.top);
    REQUIRE(list.items.size() == 2);
    CHECK(m.u->value(list.items[0]).kind == pk::Kind::object);
    CHECK(m.u->value(list.items[1]).kind == pk::Kind::dict);

    // What stays refused: NEWOBJ of a refused module's class, of an allowed function, with
    // arguments that are not a tuple; NEWOBJ_EX whose keywords are not a dict; calling a
    // placeholder or its class.
    P sys = proto2();
    sys.global("subprocess", "Popen").op(')').op(0x81).op('.');
    CHECK(error_of(sys.b).find("refusing global 'subprocess.Popen'") != std::string::npos);
    P fn = proto2();
    fn.global("torch._utils", "_rebuild_tensor_v2").op(')').op(0x81).op('.');
    CHECK(error_of(fn.b).find("NEWOBJ of a global (torch._utils._rebuild_tensor_v2) is not allowed") != std::string::npos);
    P list_args = proto2();
    list_args.global("argparse", "Namespace").op(']').op(0x81).op('.');
    CHECK(error_of(list_args.b).find("NEWOBJ arguments must be a tuple") != std::string::npos);
    P kw = P().op(0x80).u8(4);
    kw.global("argparse", "Namespace").op(')').op(')').op(0x92).op('.');
    CHECK(error_of(kw.b).find("keyword arguments must be a dict") != std::string::npos);
    P call = proto2();
    call.global("argparse", "Namespace").op(')').op(0x81).op(')').op('R').op('.');
    CHECK(error_of(call.b).find("REDUCE of an object") != std::string::npos);
    // BUILD still refuses lists and other non-dict, non-placeholder targets.
    P b = proto2();
    b.op(']').op('}').op('b').op('.');
    CHECK(error_of(b.b).find("BUILD on a list") != std::string::npos);
}
