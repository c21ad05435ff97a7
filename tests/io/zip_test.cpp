// Tests for edet/io/zip.hpp: CRC-32, stored entries of torch-written and hand-built
// archives, and every way a hostile archive can lie about offsets and sizes.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "edet/io/zip.hpp"
#include "test_util.hpp"

using edet::io::Crc32;
using edet::io::ZipReader;

namespace {

using Bytes = std::vector<unsigned char>;

void put16(Bytes& b, std::uint32_t v) {
    b.push_back(static_cast<unsigned char>(v));
    b.push_back(static_cast<unsigned char>(v >> 8));
}
void put32(Bytes& b, std::uint32_t v) {
    put16(b, v & 0xffff);
    put16(b, v >> 16);
}
void set32(Bytes& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<unsigned char>(v >> (8 * i));
}

// A stored zip with the given entries; `method` and `pad` (local extra-field bytes) let
// tests build compressed-looking and padded (torch-like) archives.
Bytes make_zip(const std::vector<std::pair<std::string, std::string>>& entries, std::uint16_t method = 0,
               std::uint16_t pad = 0) {
    Bytes out, cd;
    for (const auto& [name, data] : entries) {
        const std::uint32_t crc = Crc32::compute(data.data(), data.size());
        const auto local = static_cast<std::uint32_t>(out.size());
        put32(out, 0x04034b50u);
        put16(out, 20);
        put16(out, 0);
        put16(out, method);
        put32(out, 0);
        put32(out, crc);
        put32(out, static_cast<std::uint32_t>(data.size()));
        put32(out, static_cast<std::uint32_t>(data.size()));
        put16(out, static_cast<std::uint32_t>(name.size()));
        put16(out, pad);
        out.insert(out.end(), name.begin(), name.end());
        out.insert(out.end(), pad, 0);
        out.insert(out.end(), data.begin(), data.end());
        put32(cd, 0x02014b50u);
        put16(cd, 20);
        put16(cd, 20);
        put16(cd, 0);
        put16(cd, method);
        put32(cd, 0);
        put32(cd, crc);
        put32(cd, static_cast<std::uint32_t>(data.size()));
        put32(cd, static_cast<std::uint32_t>(data.size()));
        put16(cd, static_cast<std::uint32_t>(name.size()));
        put16(cd, 0);
        put16(cd, 0);
        put16(cd, 0);
        put16(cd, 0);
        put32(cd, 0);
        put32(cd, local);
        cd.insert(cd.end(), name.begin(), name.end());
    }
    const auto cd_offset = static_cast<std::uint32_t>(out.size());
    out.insert(out.end(), cd.begin(), cd.end());
    put32(out, 0x06054b50u);
    put16(out, 0);
    put16(out, 0);
    put16(out, static_cast<std::uint32_t>(entries.size()));
    put16(out, static_cast<std::uint32_t>(entries.size()));
    put32(out, static_cast<std::uint32_t>(cd.size()));
    put32(out, cd_offset);
    put16(out, 0);
    return out;
}

Bytes read_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE(f);
    Bytes b;
    unsigned char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) b.insert(b.end(), buf, buf + n);
    std::fclose(f);
    return b;
}

std::string error_of(const Bytes& b) {
    try {
        ZipReader z(b.data(), b.size(), "test.zip");
        for (const auto& e : z.entries()) z.data(e);
    } catch (const edet::Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("zip: CRC-32 check value and chunking") {
    CHECK(Crc32::compute("123456789", 9) == 0xCBF43926u);
    CHECK(Crc32::compute("", 0) == 0u);
    const std::string s = "The quick brown fox jumps over the lazy dog";
    CHECK(Crc32::compute(s.data(), s.size()) == 0x414FA339u);
    for (std::size_t cut = 0; cut <= s.size(); ++cut) {
        CAPTURE(cut);
        CHECK(Crc32::compute(s.data() + cut, s.size() - cut, Crc32::compute(s.data(), cut)) == 0x414FA339u);
    }
}

TEST_CASE("zip: hand-built archive, plain and with torch-style padding") {
    for (std::uint16_t pad : {std::uint16_t{0}, std::uint16_t{37}}) {
        CAPTURE(pad);
        const Bytes b = make_zip({{"a/data.pkl", "hello"}, {"a/data/0", std::string(100, 'x')}, {"a/empty", ""}}, 0, pad);
        CHECK(ZipReader::looks_like_zip(b.data(), b.size()));
        ZipReader z(b.data(), b.size(), "t.zip");
        REQUIRE(z.entries().size() == 3);
        REQUIRE(z.find("a/data.pkl"));
        CHECK(z.data(*z.find("a/data.pkl")) == "hello");
        CHECK(z.data(*z.find("a/data/0")) == std::string(100, 'x'));
        CHECK(z.data(*z.find("a/empty")).empty());
        CHECK(z.find("a/missing") == nullptr);
    }
}

TEST_CASE("zip: reads the archive torch.save writes") {
    const Bytes b = read_file(edet_test::test_data_dir() + "/pth/small.zip.pth");
    ZipReader z(b.data(), b.size(), "small.zip.pth");
    REQUIRE(z.find("small.zip/data.pkl"));
    REQUIRE(z.find("small.zip/version"));
    CHECK(z.data(*z.find("small.zip/version")).substr(0, 1) == "3");
    const std::string_view pkl = z.data(*z.find("small.zip/data.pkl"));
    REQUIRE(pkl.size() > 2);
    CHECK(static_cast<unsigned char>(pkl[0]) == 0x80);
    CHECK(pkl.back() == '.');
    // torch aligns every entry's data to 64 bytes.
    for (const auto& e : z.entries()) CHECK(e.offset % 64 == 0);
}

TEST_CASE("zip: corrupt archives give edet::Error, never an out-of-bounds read") {
    const Bytes good = make_zip({{"a/data.pkl", "hello world"}, {"a/data/0", "0123456789abcdef"}});
    CHECK(error_of(good).empty());

    // Every truncation: the EOCD or the data goes missing.
    for (std::size_t n = 0; n < good.size(); ++n) {
        CAPTURE(n);
        const Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
        CHECK_FALSE(error_of(cut).empty());
    }
    // A flipped data byte fails the CRC.
    {
        Bytes b = good;
        b[30 + 10 + 2] ^= 1;  // inside "hello world"
        CHECK(error_of(b).find("CRC-32") != std::string::npos);
    }
    // Compressed entries are refused.
    CHECK(error_of(make_zip({{"a/x", "abc"}}, 8)).find("compressed") != std::string::npos);
    // Central-directory sizes and offsets that point outside the file.
    const std::size_t eocd = good.size() - 22;
    const std::size_t cd = good[eocd + 16] | good[eocd + 17] << 8;
    {
        Bytes b = good;
        set32(b, cd + 20, 0x7fffffffu);  // compressed size
        set32(b, cd + 24, 0x7fffffffu);  // size
        CHECK(error_of(b).find("outside") != std::string::npos);
    }
    {
        Bytes b = good;
        set32(b, cd + 42, 0x7ffffff0u);  // local header offset
        CHECK(error_of(b).find("outside") != std::string::npos);
    }
    {
        Bytes b = good;
        set32(b, eocd + 16, 0xfffffff0u);  // central directory offset (and no ZIP64 locator)
        CHECK_FALSE(error_of(b).empty());
    }
    {
        Bytes b = good;
        b[eocd + 10] = 0xfe;  // 65022 entries in a tiny directory
        b[eocd + 11] = 0xfd;
        CHECK(error_of(b).find("entries") != std::string::npos);
    }
    {
        Bytes b = good;
        set32(b, cd + 20, 3);  // compressed size != size
        CHECK_FALSE(error_of(b).empty());
    }
    // Duplicate names.
    CHECK(error_of(make_zip({{"a/x", "1"}, {"a/x", "2"}})).find("twice") != std::string::npos);
    // Not a zip at all.
    const Bytes text = {'h', 'e', 'l', 'l', 'o'};
    CHECK_FALSE(ZipReader::looks_like_zip(text.data(), text.size()));
    CHECK_FALSE(error_of(Bytes(100, 0)).empty());
}
