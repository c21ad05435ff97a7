// edet/io/sha256.hpp - SHA-256 (FIPS 180-4) of bytes and of files.
//
// Used to check downloaded checkpoints against the hash prefix in their release name
// (tf_efficientdet_d0_34-f153e0cf.pth: the first 8 hex digits of the file's SHA-256) and
// to record the source hash when converting. Streaming: update() any number of times,
// then hex_digest(). Files are hashed in 1 MiB chunks, so memory stays flat.
//
//   io::Sha256 h; h.update(data, n); std::string hex = h.hex_digest();
//   std::string file_hex = io::sha256_file("w.pth");
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "edet/core/error.hpp"

EDET_NAMESPACE_BEGIN
namespace io {

class Sha256 {
public:
    Sha256() { reset(); }

    void reset() {
        static constexpr std::uint32_t init[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                                  0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
        for (int i = 0; i < 8; ++i) state_[i] = init[i];
        total_ = 0;
        buffered_ = 0;
        finished_ = false;
    }

    void update(const void* data, std::size_t size) {
        if (finished_) fail("sha256", "Sha256::update", "called after digest(); call reset() first");
        if (size == 0) return;  // (data may be null then)
        const auto* p = static_cast<const unsigned char*>(data);
        total_ += size;
        if (buffered_ > 0) {
            const std::size_t take = std::min(size, std::size_t{64} - buffered_);
            std::memcpy(block_ + buffered_, p, take);
            buffered_ += take;
            p += take;
            size -= take;
            if (buffered_ < 64) return;
            compress(block_);
            buffered_ = 0;
        }
        for (; size >= 64; p += 64, size -= 64) compress(p);
        if (size > 0) {
            std::memcpy(block_, p, size);
            buffered_ = size;
        }
    }

    // The 32-byte digest. Pads and finishes: further update() calls need reset().
    std::array<unsigned char, 32> digest() {
        if (!finished_) {
            const std::uint64_t bits = total_ * 8;
            const unsigned char one = 0x80;
            const std::uint64_t saved_total = total_;
            update(&one, 1);
            const unsigned char zero[64] = {};
            const std::size_t pad = (buffered_ <= 56) ? 56 - buffered_ : 120 - buffered_;
            update(zero, pad);
            unsigned char len[8];
            for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
            update(len, 8);
            total_ = saved_total;
            finished_ = true;
        }
        std::array<unsigned char, 32> out{};
        for (int i = 0; i < 8; ++i)
            for (int b = 0; b < 4; ++b) out[4 * i + b] = static_cast<unsigned char>(state_[i] >> (24 - 8 * b));
        return out;
    }

    // The digest as 64 lowercase hex digits.
    std::string hex_digest() {
        static constexpr char hexdigits[] = "0123456789abcdef";
        std::string s;
        for (unsigned char c : digest()) {
            s += hexdigits[c >> 4];
            s += hexdigits[c & 15];
        }
        return s;
    }

private:
    static std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

    void compress(const unsigned char* p) {
        static constexpr std::uint32_t k[64] = {
            0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
            0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
            0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
            0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
            0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
            0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
            0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
            0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
            0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
            0xc67178f2u};
        std::uint32_t w[64];
        for (int i = 0; i < 16; ++i)
            w[i] = (std::uint32_t{p[4 * i]} << 24) | (std::uint32_t{p[4 * i + 1]} << 16) |
                   (std::uint32_t{p[4 * i + 2]} << 8) | std::uint32_t{p[4 * i + 3]};
        for (int i = 16; i < 64; ++i) {
            const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        std::uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
        std::uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
        for (int i = 0; i < 64; ++i) {
            const std::uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
            const std::uint32_t ch = (e & f) ^ (~e & g);
            const std::uint32_t t1 = h + S1 + ch + k[i] + w[i];
            const std::uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
            const std::uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
            const std::uint32_t t2 = S0 + maj;
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        state_[0] += a;
        state_[1] += b;
        state_[2] += c;
        state_[3] += d;
        state_[4] += e;
        state_[5] += f;
        state_[6] += g;
        state_[7] += h;
    }

    std::uint32_t state_[8];
    unsigned char block_[64];
    std::uint64_t total_ = 0;
    std::size_t buffered_ = 0;
    bool finished_ = false;
};

// SHA-256 of a byte range, as 64 lowercase hex digits.
inline std::string sha256_hex(const void* data, std::size_t size) {
    Sha256 h;
    h.update(data, size);
    return h.hex_digest();
}

// SHA-256 of a whole file, as 64 lowercase hex digits. Throws edet::Error if it cannot be
// opened or read.
inline std::string sha256_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail("file", path, "cannot open for hashing");
    Sha256 h;
    std::vector<unsigned char> buf(std::size_t{1} << 20);
    for (;;) {
        const std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
        if (n > 0) h.update(buf.data(), n);
        if (n < buf.size()) break;
    }
    const bool bad = std::ferror(f) != 0;
    std::fclose(f);
    if (bad) fail("file", path, "read error while hashing");
    return h.hex_digest();
}

// True when `prefix` (any length up to 64 hex digits, case-insensitive) starts `full_hex`.
inline bool sha256_matches_prefix(const std::string& full_hex, const std::string& prefix) {
    if (prefix.empty() || prefix.size() > full_hex.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        char c = prefix[i];
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
        if (c != full_hex[i]) return false;
    }
    return true;
}

}  // namespace io
EDET_NAMESPACE_END
