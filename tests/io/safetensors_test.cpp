// Tests for edet/io/safetensors.hpp: the fixtures against their manifests, bit-exact
// round trips of every dtype, exact F16/BF16 widening, and one clear edet::Error for each
// kind of broken file.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>


#include "edet/io/json.hpp"
#include "edet/io/safetensors.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using edet::io::DType;
using edet::io::SafeTensorsEntry;
using edet::io::SafeTensorsFile;
namespace json = edet::io::json;

namespace {

std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "cannot open " << path);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

// A path in a scratch directory shared by this test binary's run, removed at exit.
std::string scratch(const std::string& name) {
    static const edet_test::TempDir dir;
    return dir / name;
}

// Builds a file image from a literal header and `data_bytes` bytes of data (0x11 each),
// exactly as given: no padding, no validation.
std::vector<std::uint8_t> image(const std::string& header, std::size_t data_bytes) {
    std::string s(8, '\0');
    const std::uint64_t n = header.size();
    for (std::size_t i = 0; i < 8; ++i) s[i] = static_cast<char>(n >> (8 * i));
    s += header;
    s.append(data_bytes, '\x11');
    return std::vector<std::uint8_t>(s.begin(), s.end());
}

// Expects from_bytes to throw an edet::Error whose message contains every fragment.
void expect_error(std::vector<std::uint8_t> bytes, std::initializer_list<const char*> fragments) {
    try {
        SafeTensorsFile::from_bytes(std::move(bytes), "bad.safetensors");
        FAIL("no edet::Error thrown; expected one mentioning " << *fragments.begin());
    } catch (const edet::Error& e) {
        const std::string msg = e.what();
        INFO("message: " << msg);
        CHECK(msg.find("bad.safetensors") != std::string::npos);
        for (const char* f : fragments) CHECK_MESSAGE(msg.find(f) != std::string::npos, "missing '" << std::string(f) << "'");
    }
}

std::uint64_t product(const std::vector<std::int64_t>& shape) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= static_cast<std::uint64_t>(d);
    return n;
}

}  // namespace

TEST_CASE("safetensors: every fixture's weights match its manifest" * doctest::test_suite("parity")) {
    int folders = 0;
    for (const auto& dir : fs::directory_iterator(edet_test::fixtures_dir())) {
        const fs::path weights = dir.path() / "weights.safetensors";
        if (!fs::exists(weights)) continue;
        ++folders;
        CAPTURE(dir.path().string());
        const json::Value manifest = json::parse(read_text((dir.path() / "manifest.json").string()), "manifest.json");
        const auto file = SafeTensorsFile::open(weights.string());
        const json::Array& list = manifest["tensors"].as_array();
        REQUIRE(file->tensors().size() == list.size());
        std::uint64_t params = 0;
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string& name = list[i][0].as_string();
            CAPTURE(name);
            std::vector<std::int64_t> shape;
            for (const auto& d : list[i][1].as_array()) shape.push_back(d.as_int64());
            // Header order is the state_dict order.
            CHECK(file->tensors()[i].name == name);
            const auto* info = file->find(name);
            REQUIRE(info != nullptr);
            CHECK(info->shape == shape);
            CHECK(edet::io::to_string(info->dtype) == list[i][2].as_string());
            // parity: manifest "params" counts nn.Parameters (torch's numel over
            // model.parameters()), i.e. the F32 tensors except the BN running statistics,
            // which are buffers like num_batches_tracked.
            const bool buffer = name.size() > 13 && (name.rfind(".running_mean") == name.size() - 13 ||
                                                     name.rfind(".running_var") == name.size() - 12);
            if (info->dtype == DType::f32 && !buffer) params += product(info->shape);
        }
        CHECK(params == static_cast<std::uint64_t>(manifest["params"].as_int64()));
        CHECK(file->metadata("model") == manifest["model"].as_string());
        CHECK(file->metadata("no such key").empty());

        // One tensor's values through read_f32, raw() and read_f32_into agree.
        const std::string stem = "backbone.conv_stem.weight";
        const auto v = file->read_f32(stem);
        REQUIRE(v.size() == 32u * 3 * 3 * 3);
        REQUIRE(file->raw_size(stem) == v.size() * 4);
        CHECK(std::memcmp(file->raw(stem), v.data(), v.size() * 4) == 0);
        std::vector<float> into(v.size());
        file->read_f32_into(stem, into.data(), into.size());
        CHECK(into == v);
        CHECK(file->is_aligned_f32(stem));
        // num_batches_tracked is I64 and reads as a float.
        const auto nbt = file->read_f32("backbone.bn1.num_batches_tracked");
        REQUIRE(nbt.size() == 1);
        CHECK(std::isfinite(nbt[0]));

        // The input is float32 NCHW of the configured image size.
        const auto input = SafeTensorsFile::open((dir.path() / "input.safetensors").string());
        const auto* in = input->find("input");
        REQUIRE(in != nullptr);
        CHECK(in->dtype == DType::f32);
        const auto& size = manifest["config"]["image_size"].as_array();
        const std::vector<std::int64_t> want{1, 3, size[0].as_int64(), size[1].as_int64()};
        CHECK(in->shape == want);
        if (dir.path().filename() == "tf_efficientdet_d0_s0")
            CHECK(in->shape == std::vector<std::int64_t>{1, 3, 512, 512});
    }
    CHECK(folders >= 4);
}

TEST_CASE("safetensors: write -> read round trip is bit-exact for F32, F16, BF16, I64") {
    edet_test::Random rng(7);
    std::vector<float> f32 = rng.vector(2 * 3 * 5);
    f32[0] = -0.0f;
    f32[1] = std::numeric_limits<float>::denorm_min();
    f32[2] = std::numeric_limits<float>::infinity();
    std::vector<std::uint16_t> f16(17), bf16(9);
    for (std::size_t i = 0; i < f16.size(); ++i) f16[i] = static_cast<std::uint16_t>(rng.integer(0, 0xFFFF));
    for (std::size_t i = 0; i < bf16.size(); ++i) bf16[i] = static_cast<std::uint16_t>(rng.integer(0, 0xFFFF));
    const std::vector<std::int64_t> i64{0, -1, 7, 1 << 24, -(std::int64_t(1) << 40)};
    const std::vector<SafeTensorsEntry> entries{
        {"a.weight", DType::f32, {2, 3, 5}, f32.data()},
        {"half", DType::f16, {17}, f16.data()},
        {"brain", DType::bf16, {3, 3}, bf16.data()},
        {"count", DType::i64, {5}, i64.data()},
        {"scalar", DType::f32, {}, f32.data() + 5},
        {"empty", DType::f32, {0, 4}, nullptr},
        {"quote\"and\\slash \xc3\xa9", DType::f32, {1}, f32.data() + 6},
    };
    const std::string path = scratch("round_trip.safetensors");
    edet::io::write_safetensors(path, entries, {{"model", "test"}, {"note", "line\nbreak"}});
    const auto f = SafeTensorsFile::open(path);
    CHECK((8 + f->header_size()) % 8 == 0);
    REQUIRE(f->tensors().size() == entries.size());
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& t = f->tensors()[i];
        CAPTURE(entries[i].name);
        CHECK(t.name == entries[i].name);
        CHECK(t.dtype == entries[i].dtype);
        CHECK(t.shape == entries[i].shape);
        const std::size_t bytes = t.numel() * edet::io::dtype_size(t.dtype);
        REQUIRE(f->raw_size(t.name) == bytes);
        if (bytes) CHECK(std::memcmp(f->raw(t.name), entries[i].data, bytes) == 0);
    }
    CHECK(f->metadata("model") == "test");
    CHECK(f->metadata("note") == "line\nbreak");
    CHECK(f->read_f32("scalar") == std::vector<float>{f32[5]});
    CHECK(f->read_f32("empty").empty());
    const auto a = f->read_f32("a.weight");
    CHECK(std::memcmp(a.data(), f32.data(), f32.size() * 4) == 0);  // bit-exact, incl. -0
    CHECK(f->read_f32("count") == std::vector<float>{0.f, -1.f, 7.f, 16777216.f, -1099511627776.f});
    // No temporary files are left behind.
    int files = 0;
    for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
        files += e.path().filename().string().find("round_trip") == 0;
    CHECK(files == 1);
}

TEST_CASE("safetensors: F16 and BF16 widen exactly") {
    // F16 against an independent definition: (-1)^s * 2^(e-15) * (1 + m/1024), subnormals
    // 2^-14 * m/1024, via ldexp in double (exact for these values).
    for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
        const std::uint32_t s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        const float got = edet::io::f16_to_f32(static_cast<std::uint16_t>(h));
        CAPTURE(h);
        if (e == 31) {
            if (m == 0) CHECK((std::isinf(got) && std::signbit(got) == (s != 0)));
            else CHECK(std::isnan(got));
            continue;
        }
        const double mag = e == 0 ? std::ldexp(static_cast<double>(m), -24)
                                  : std::ldexp(1.0 + static_cast<double>(m) / 1024.0, static_cast<int>(e) - 15);
        const double want = s ? -mag : mag;
        REQUIRE(static_cast<double>(got) == want);
        REQUIRE(std::signbit(got) == (s != 0));
    }
    // BF16: the value of the float32 whose top 16 bits are b.
    for (std::uint32_t b = 0; b <= 0xFFFF; b += 37) {
        const float got = edet::io::bf16_to_f32(static_cast<std::uint16_t>(b));
        std::uint32_t bits;
        std::memcpy(&bits, &got, 4);
        REQUIRE(bits == (b << 16));
    }
    // read_f32 of an F16 tensor uses the same conversion (1.0, -2.0, 65504, 2^-24).
    const std::vector<std::uint16_t> h{0x3C00, 0xC000, 0x7BFF, 0x0001};
    const auto bytes = edet::io::serialize_safetensors({{"h", DType::f16, {4}, h.data()}});
    const auto f = SafeTensorsFile::from_bytes(bytes);
    CHECK(f->read_f32("h") == std::vector<float>{1.0f, -2.0f, 65504.0f, std::ldexp(1.0f, -24)});
}

TEST_CASE("safetensors: broken files are clear edet::Errors") {
    const std::string ok_entry = R"("t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";

    SUBCASE("missing file") {
        try {
            SafeTensorsFile::open("/nonexistent/dir/w.safetensors");
            FAIL("no throw");
        } catch (const edet::Error& e) {
            CHECK(std::string(e.what()).find("/nonexistent/dir/w.safetensors") != std::string::npos);
            CHECK(std::string(e.what()).find("does not exist") != std::string::npos);
        }
    }
    SUBCASE("a directory") {
        CHECK_THROWS_WITH_AS(SafeTensorsFile::open(fs::temp_directory_path().string()),
                             doctest::Contains("not a regular file"), edet::Error);
    }
    SUBCASE("empty file") {
        const std::string path = scratch("empty.safetensors");
        std::ofstream(path).close();
        CHECK_THROWS_WITH_AS(SafeTensorsFile::open(path), doctest::Contains("too small (0 bytes)"), edet::Error);
    }
    SUBCASE("truncated length") { expect_error({1, 0, 0}, {"too small (3 bytes)"}); }
    SUBCASE("header length larger than the file") {
        auto b = image("{" + ok_entry + "}", 16);
        b.resize(20);  // header cut short
        expect_error(b, {"header length", "larger than the file"});
        expect_error({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, '{', '}'}, {"larger than the file"});
    }
    SUBCASE("header length zero") { expect_error(image("", 4), {"header length is 0"}); }
    SUBCASE("bad JSON") {
        expect_error(image("{\"t\":{\"dtype\":\"F32\",}", 16), {"JSON syntax", "at byte"});
        expect_error(image("[1,2]", 0), {"expected a JSON object, got array"});
        expect_error(image("{" + ok_entry + "," + ok_entry + "}", 16), {"duplicate key \"t\""});
    }
    SUBCASE("unknown or unsupported dtype") {
        expect_error(image(R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})", 16),
                     {"tensor 'w'", "unsupported dtype F64"});
        expect_error(image(R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,16]}})", 16),
                     {"tensor 'w'", "unknown dtype \"Q4\""});
        expect_error(image(R"({"w":{"dtype":3,"shape":[2],"data_offsets":[0,16]}})", 16), {"\"dtype\" is not a string"});
    }
    SUBCASE("missing or extra fields") {
        expect_error(image(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8), {"tensor 'w'", "missing \"dtype\""});
        expect_error(image(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", 8), {"missing \"shape\""});
        expect_error(image(R"({"w":{"dtype":"F32","shape":[2]}})", 8), {"missing \"data_offsets\""});
        expect_error(image(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8),
                     {"unexpected field \"x\""});
        expect_error(image(R"({"w":[1]})", 8), {"tensor 'w'", "expected an object"});
        expect_error(image(R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8), {"empty tensor name"});
    }
    SUBCASE("negative, fractional or huge shape") {
        expect_error(image(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), {"negative dimension"});
        expect_error(image(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8), {"non-integer dimension"});
        expect_error(image(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8),
                     {"tensor 'w'", "too large"});
        expect_error(image(R"({"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,8]}})", 8),
                     {"tensor 'w'", "span 8 bytes", "needs 4000000000000"});
        expect_error(image(R"({"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}})", 8),
                     {"non-integer dimension"});
    }
    SUBCASE("offsets outside the data, reversed or not matching the shape") {
        expect_error(image(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16),
                     {"tensor 'w'", "outside the data section (16 bytes)"});
        expect_error(image(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})", 16), {"0 <= begin <= end"});
        expect_error(image(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}})", 16),
                     {"tensor 'w'", "span 12 bytes", "needs 16"});
        expect_error(image(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0]}})", 16), {"not [begin, end]"});
        expect_error(image(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[-4,12]}})", 16), {"0 <= begin"});
    }
    SUBCASE("overlapping tensors") {
        expect_error(image(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16),
                     {"tensor 'b'", "overlap tensor 'a'"});
    }
    SUBCASE("truncated data") {
        const std::vector<float> v(64, 1.0f);
        auto b = edet::io::serialize_safetensors({{"w", DType::f32, {64}, v.data()}});
        b.resize(b.size() - 1);
        expect_error(b, {"tensor 'w'", "outside the data section", "truncated"});
    }
    SUBCASE("bad metadata") {
        expect_error(image(R"({"__metadata__":{"k":1}})", 0), {"__metadata__", "\"k\""});
        expect_error(image(R"({"__metadata__":[]})", 0), {"__metadata__"});
    }
    SUBCASE("unknown tensor name on read") {
        const std::vector<float> v(4, 1.0f);
        const auto f = SafeTensorsFile::from_bytes(edet::io::serialize_safetensors({{"w", DType::f32, {4}, v.data()}}),
                                                   "x.safetensors");
        CHECK(f->find("nope") == nullptr);
        CHECK_THROWS_WITH_AS(f->read_f32("nope"), doctest::Contains("tensor 'nope'"), edet::Error);
        CHECK_THROWS_WITH_AS(f->raw("nope"), doctest::Contains("not found"), edet::Error);
        std::vector<float> small(3);
        CHECK_THROWS_WITH_AS(f->read_f32_into("w", small.data(), small.size()),
                             doctest::Contains("destination holds 3 floats"), edet::Error);
    }
}

TEST_CASE("safetensors: the writer refuses what the reader would reject") {
    const float x = 1.0f;
    const std::string path = scratch("refused.safetensors");
    CHECK_THROWS_WITH_AS(edet::io::write_safetensors(path, {{"", DType::f32, {1}, &x}}),
                         doctest::Contains("empty name"), edet::Error);
    CHECK_THROWS_WITH_AS(edet::io::write_safetensors(path, {{"a", DType::f32, {1}, &x}, {"a", DType::f32, {1}, &x}}),
                         doctest::Contains("duplicate"), edet::Error);
    CHECK_THROWS_WITH_AS(edet::io::write_safetensors(path, {{"__metadata__", DType::f32, {1}, &x}}),
                         doctest::Contains("reserved"), edet::Error);
    CHECK_THROWS_WITH_AS(edet::io::write_safetensors(path, {{"a", DType::f32, {-1}, &x}}),
                         doctest::Contains("negative"), edet::Error);
    CHECK_THROWS_WITH_AS(edet::io::write_safetensors(path, {{"a", DType::f32, {2}, nullptr}}),
                         doctest::Contains("null"), edet::Error);
    CHECK_THROWS_WITH_AS(edet::io::write_safetensors("/nonexistent/dir/out.safetensors", {{"a", DType::f32, {1}, &x}}),
                         doctest::Contains("cannot create"), edet::Error);
    CHECK_FALSE(fs::exists(path));
}

TEST_CASE("safetensors: mutated files are rejected cleanly or read within bounds") {
    // A deterministic miniature of fuzz/fuzz_safetensors.cpp, so CI covers the property
    // without libFuzzer: flip, insert or delete bytes of valid files; each result must
    // either be an edet::Error or a file whose every tensor reads (ASan checks bounds).
    const std::vector<float> f(6, 1.5f);
    const std::vector<std::uint16_t> h{0x3C00, 0x7C00, 0x0001};
    const std::vector<std::int64_t> n{-5};
    const std::vector<std::vector<std::uint8_t>> seeds{
        edet::io::serialize_safetensors({{"a.weight", DType::f32, {2, 3}, f.data()},
                                         {"h", DType::f16, {3}, h.data()},
                                         {"n", DType::i64, {}, n.data()}},
                                        {{"model", "m"}}),
        edet::io::serialize_safetensors({{"e", DType::bf16, {0, 3}, nullptr}, {"b", DType::bf16, {3}, h.data()}}),
    };
    edet_test::Random rng(11);
    int accepted = 0, rejected = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        std::vector<std::uint8_t> b = rng.pick(seeds);
        const int edits = rng.integer(1, 4);
        for (int k = 0; k < edits && !b.empty(); ++k) {
            const auto pos = static_cast<std::size_t>(rng.integer(0, static_cast<int>(b.size()) - 1));
            const char tokens[] = "0123456789-,[]{}\":e. FIB";
            switch (rng.integer(0, 3)) {
                case 0: b[pos] = static_cast<std::uint8_t>(rng.integer(0, 255)); break;
                case 1: b[pos] = static_cast<std::uint8_t>(tokens[rng.integer(0, sizeof tokens - 2)]); break;
                case 2: b.erase(b.begin() + static_cast<std::ptrdiff_t>(pos)); break;
                case 3: b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<std::uint8_t>(rng.integer(0, 255))); break;
            }
        }
        CAPTURE(iter);
        try {
            const auto file = SafeTensorsFile::from_bytes(b, "mutated");
            for (const auto& t : file->tensors()) {
                REQUIRE(file->read_f32(t.name).size() == t.numel());
                REQUIRE(file->raw_size(t.name) == t.numel() * edet::io::dtype_size(t.dtype));
            }
            ++accepted;
        } catch (const edet::Error&) {
            ++rejected;
        }
    }
    MESSAGE("mutations accepted: " << accepted << ", rejected: " << rejected);
    CHECK(accepted > 0);
    CHECK(rejected > 0);
}
