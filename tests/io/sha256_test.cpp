// Tests for edet/io/sha256.hpp: FIPS 180-4 / NIST example vectors, streaming in odd
// chunks, files, prefix matching.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "edet/io/sha256.hpp"
#include "test_util.hpp"

using edet::io::Sha256;
using edet::io::sha256_hex;

TEST_CASE("sha256: NIST example vectors") {
    CHECK(sha256_hex("", 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc", 3) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const std::string m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK(sha256_hex(m448.data(), m448.size()) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const std::string m896 =
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    CHECK(sha256_hex(m896.data(), m896.size()) == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    const std::string million(1000000, 'a');
    CHECK(sha256_hex(million.data(), million.size()) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: lengths around the 55/56/64-byte padding boundaries, streamed in any chunking") {
    // Reference digests of 'a' * n computed with Python's hashlib.
    const std::vector<std::pair<std::size_t, const char*>> cases = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
    };
    for (const auto& [n, want] : cases) {
        const std::string s(n, 'a');
        for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{64}, n}) {
            CAPTURE(n);
            CAPTURE(chunk);
            Sha256 h;
            for (std::size_t i = 0; i < n; i += chunk) h.update(s.data() + i, std::min(chunk, n - i));
            CHECK(h.hex_digest() == want);
        }
    }
}

TEST_CASE("sha256: files, prefixes, misuse") {
    const std::string path = edet_test::test_data_dir() + "/pth/checkpoints.tsv";
    std::FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE(f);
    std::string bytes;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.append(buf, n);
    std::fclose(f);
    const std::string full = edet::io::sha256_file(path);
    CHECK(full == sha256_hex(bytes.data(), bytes.size()));
    CHECK(edet::io::sha256_matches_prefix(full, full.substr(0, 8)));
    std::string upper = full.substr(0, 8);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(edet::io::sha256_matches_prefix(full, upper));
    CHECK_FALSE(edet::io::sha256_matches_prefix(full, ""));
    CHECK_FALSE(edet::io::sha256_matches_prefix(full, full + "0"));
    std::string wrong = full.substr(0, 8);
    wrong[7] = wrong[7] == '0' ? '1' : '0';
    CHECK_FALSE(edet::io::sha256_matches_prefix(full, wrong));
    CHECK_THROWS_AS(edet::io::sha256_file("/nonexistent/file.pth"), edet::Error);
    Sha256 h;
    h.hex_digest();
    CHECK_THROWS_AS(h.update("x", 1), edet::Error);
    h.reset();
    h.update("abc", 3);
    CHECK(h.hex_digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
