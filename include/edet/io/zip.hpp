// edet/io/zip.hpp - a reader for zip archives whose entries are stored (not compressed),
// as PyTorch writes them (torch.save's default container since 1.6).
//
// The archive is a byte range already in memory; the reader never copies entry data, it
// returns pointers into that range. Only the central directory is trusted for sizes
// (PyTorch's writer puts the sizes there; local headers may use data descriptors) and
// every offset is checked against the range before use, so a corrupt or hostile archive
// gives an edet::Error and never an out-of-bounds read. ZIP64 records are understood
// (checkpoints above 4 GiB). Compressed or encrypted entries are refused.
//
//   io::ZipReader zip(bytes, size, "model.pth");
//   const io::ZipEntry* e = zip.find("archive/data.pkl");
//   std::string_view pkl = zip.data(*e);        // checks the entry's CRC-32 first
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "edet/core/error.hpp"

EDET_NAMESPACE_BEGIN
namespace io {

// CRC-32 (ISO-HDLC, the zip polynomial 0xEDB88320), slice-by-8 so that checking a
// few hundred MB of weights costs well under a second.
class Crc32 {
public:
    static std::uint32_t compute(const void* data, std::size_t size, std::uint32_t crc = 0) {
        const auto& t = tables();
        const auto* p = static_cast<const unsigned char*>(data);
        crc = ~crc;
        while (size >= 8) {
            const std::uint32_t lo = crc ^ (std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 |
                                            std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24);
            crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
                  t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
            p += 8;
            size -= 8;
        }
        while (size--) crc = t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        return ~crc;
    }

private:
    using Tables = std::array<std::array<std::uint32_t, 256>, 8>;
    static const Tables& tables() {
        static const Tables t = [] {
            Tables r{};
            for (std::uint32_t i = 0; i < 256; ++i) {
                std::uint32_t c = i;
                for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                r[0][i] = c;
            }
            for (std::uint32_t i = 0; i < 256; ++i)
                for (int s = 1; s < 8; ++s) r[s][i] = (r[s - 1][i] >> 8) ^ r[0][r[s - 1][i] & 0xff];
            return r;
        }();
        return t;
    }
};

struct ZipEntry {
    std::string name;
    std::uint64_t offset = 0;  // of the entry's data, from the start of the archive
    std::uint64_t size = 0;    // bytes (stored: compressed size == uncompressed size)
    std::uint32_t crc32 = 0;   // as recorded in the central directory
};

class ZipReader {
public:
    // Limits on what an archive may declare, checked before anything is allocated.
    static constexpr std::uint64_t max_entries = 1u << 20;

    ZipReader(const unsigned char* data, std::size_t size, std::string where)
        : data_(data), size_(size), where_(std::move(where)) {
        parse();
    }

    const std::vector<ZipEntry>& entries() const { return entries_; }

    // nullptr when absent.
    const ZipEntry* find(const std::string& name) const {
        auto it = index_.find(name);
        return it == index_.end() ? nullptr : &entries_[it->second];
    }

    // The entry's bytes (a view into the archive). With verify_crc the CRC-32 is checked
    // and a mismatch throws.
    std::string_view data(const ZipEntry& e, bool verify_crc = true) const {
        const char* p = reinterpret_cast<const char*>(data_) + e.offset;
        if (verify_crc) {
            const std::uint32_t got = Crc32::compute(p, static_cast<std::size_t>(e.size));
            if (got != e.crc32)
                fail(cat("zip entry '", e.name, "'"), where_,
                     cat("CRC-32 mismatch (recorded ", hex(e.crc32), ", computed ", hex(got),
                         "): the file is corrupt or truncated"));
        }
        return {p, static_cast<std::size_t>(e.size)};
    }

    // True when the bytes start like a zip archive (a local file header).
    static bool looks_like_zip(const unsigned char* data, std::size_t size) {
        return size >= 4 && data[0] == 'P' && data[1] == 'K' && data[2] == 3 && data[3] == 4;
    }

private:
    static std::string hex(std::uint32_t v) {
        static constexpr char d[] = "0123456789abcdef";
        std::string s = "0x";
        for (int i = 7; i >= 0; --i) s += d[(v >> (4 * i)) & 15];
        return s;
    }

    [[noreturn]] void bad(const std::string& why) const { fail("zip archive", where_, why); }

    void need(std::uint64_t offset, std::uint64_t length, const char* what) const {
        if (offset > size_ || length > size_ - offset)
            bad(cat(what, " at offset ", offset, " (", length, " bytes) lies outside the ", size_,
                    "-byte file: truncated or corrupt"));
    }
    std::uint16_t u16(std::uint64_t at) const {
        need(at, 2, "field");
        return static_cast<std::uint16_t>(data_[at] | data_[at + 1] << 8);
    }
    std::uint32_t u32(std::uint64_t at) const {
        need(at, 4, "field");
        return std::uint32_t{data_[at]} | std::uint32_t{data_[at + 1]} << 8 |
               std::uint32_t{data_[at + 2]} << 16 | std::uint32_t{data_[at + 3]} << 24;
    }
    std::uint64_t u64(std::uint64_t at) const { return std::uint64_t{u32(at)} | std::uint64_t{u32(at + 4)} << 32; }

    void parse() {
        if (size_ < 22) bad(cat("only ", size_, " bytes: too short for a zip archive"));
        // End of central directory: 22 bytes plus a comment of up to 65535 bytes.
        std::uint64_t eocd = size_;
        const std::uint64_t lowest = size_ >= 22 + 65535 ? size_ - 22 - 65535 : 0;
        for (std::uint64_t at = size_ - 22 + 1; at-- > lowest;) {
            if (u32(at) == 0x06054b50u) {
                eocd = at;
                break;
            }
        }
        if (eocd == size_) bad("no end-of-central-directory record: truncated or not a zip file");
        std::uint64_t count = u16(eocd + 10);
        std::uint64_t cd_size = u32(eocd + 12);
        std::uint64_t cd_offset = u32(eocd + 16);
        if (count == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu) {
            // ZIP64: a locator just before the EOCD points at the ZIP64 EOCD record.
            if (eocd < 20 || u32(eocd - 20) != 0x07064b50u) bad("ZIP64 fields without a ZIP64 locator");
            const std::uint64_t z = u64(eocd - 20 + 8);
            need(z, 56, "ZIP64 end-of-central-directory record");
            if (u32(z) != 0x06064b50u) bad("bad ZIP64 end-of-central-directory signature");
            count = u64(z + 32);
            cd_size = u64(z + 40);
            cd_offset = u64(z + 48);
        }
        need(cd_offset, cd_size, "central directory");
        if (count > max_entries) bad(cat("declares ", count, " entries (limit ", max_entries, ")"));
        if (count > cd_size / 46) bad(cat("declares ", count, " entries in a ", cd_size, "-byte central directory"));
        entries_.reserve(static_cast<std::size_t>(count));
        std::uint64_t at = cd_offset;
        const std::uint64_t cd_end = cd_offset + cd_size;
        for (std::uint64_t i = 0; i < count; ++i) {
            if (at + 46 > cd_end) bad("central directory overruns its declared size");
            if (u32(at) != 0x02014b50u) bad(cat("bad central directory signature for entry ", i));
            const std::uint16_t flags = u16(at + 8);
            const std::uint16_t method = u16(at + 10);
            ZipEntry e;
            e.crc32 = u32(at + 16);
            std::uint64_t csize = u32(at + 20);
            std::uint64_t usize = u32(at + 24);
            const std::uint16_t name_len = u16(at + 28);
            const std::uint16_t extra_len = u16(at + 30);
            const std::uint16_t comment_len = u16(at + 32);
            std::uint64_t local = u32(at + 42);
            const std::uint64_t var = std::uint64_t{name_len} + extra_len + comment_len;
            if (at + 46 + var > cd_end) bad(cat("central directory entry ", i, " overruns the directory"));
            e.name.assign(reinterpret_cast<const char*>(data_ + at + 46), name_len);
            // ZIP64 extended information: the 8-byte values of the fields saturated above.
            for (std::uint64_t x = at + 46 + name_len, xend = x + extra_len; x + 4 <= xend;) {
                const std::uint16_t id = u16(x), len = u16(x + 2);
                if (x + 4 + len > xend) bad(cat("entry '", e.name, "': extra field overruns"));
                if (id == 0x0001) {
                    std::uint64_t y = x + 4;
                    const std::uint64_t yend = y + len;
                    auto take = [&](std::uint64_t& field) {
                        if (y + 8 > yend) bad(cat("entry '", e.name, "': short ZIP64 extra field"));
                        field = u64(y);
                        y += 8;
                    };
                    if (usize == 0xffffffffu) take(usize);
                    if (csize == 0xffffffffu) take(csize);
                    if (local == 0xffffffffu) take(local);
                }
                x += 4 + len;
            }
            if (flags & 1u) bad(cat("entry '", e.name, "' is encrypted"));
            if (method != 0)
                bad(cat("entry '", e.name, "' is compressed (method ", method,
                        "); PyTorch checkpoints store entries uncompressed"));
            if (csize != usize) bad(cat("stored entry '", e.name, "' has compressed size ", csize, " != size ", usize));
            // Local header: 30 bytes, then its own name and extra field (PyTorch pads the
            // extra field so the data is 64-byte aligned), then the data.
            need(local, 30, cat("local header of '", e.name, "'").c_str());
            if (u32(local) != 0x04034b50u) bad(cat("bad local header signature for '", e.name, "'"));
            e.offset = local + 30 + u16(local + 26) + u16(local + 28);
            e.size = usize;
            need(e.offset, e.size, cat("data of entry '", e.name, "'").c_str());
            if (!index_.emplace(e.name, entries_.size()).second) bad(cat("entry '", e.name, "' appears twice"));
            entries_.push_back(std::move(e));
            at += 46 + var;
        }
    }

    const unsigned char* data_;
    std::size_t size_;
    std::string where_;
    std::vector<ZipEntry> entries_;
    std::unordered_map<std::string, std::size_t> index_;
};

}  // namespace io
EDET_NAMESPACE_END
