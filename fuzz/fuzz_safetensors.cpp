// libFuzzer target: any byte string given to SafeTensorsFile::from_bytes is either
// rejected with edet::Error or yields a file whose every tensor reads within bounds.
// Anything else (a crash, a sanitizer report, another exception type) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "edet/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::vector<std::uint8_t> bytes(data, data + size);
    try {
        const auto file = edet::io::SafeTensorsFile::from_bytes(std::move(bytes), "fuzz");
        volatile float sink = 0.0f;
        for (const auto& t : file->tensors()) {
            const std::vector<float> v = file->read_f32(t.name);
            if (v.size() != t.numel()) __builtin_trap();
            const std::size_t bytes_expected = t.numel() * edet::io::dtype_size(t.dtype);
            if (file->raw_size(t.name) != bytes_expected) __builtin_trap();
            // Touch the first and last raw bytes so ASan checks the span.
            if (bytes_expected) sink = sink + file->raw(t.name)[0] + file->raw(t.name)[bytes_expected - 1];
            if (!v.empty()) sink = sink + v.front() + v.back();
            (void)file->find(t.name);
        }
        (void)file->metadata("model");
        // The writer accepts what the reader accepted and reproduces the same tensors.
        std::vector<edet::io::SafeTensorsEntry> entries;
        for (const auto& t : file->tensors()) entries.push_back({t.name, t.dtype, t.shape, file->raw(t.name)});
        const auto again = edet::io::SafeTensorsFile::from_bytes(
            edet::io::serialize_safetensors(entries, file->metadata_map()), "fuzz-rewrite");
        if (again->tensors().size() != file->tensors().size()) __builtin_trap();
        for (const auto& t : file->tensors()) {
            const std::size_t n = file->raw_size(t.name);
            if (again->raw_size(t.name) != n) __builtin_trap();
            if (n && std::memcmp(again->raw(t.name), file->raw(t.name), n) != 0) __builtin_trap();
        }
    } catch (const edet::Error&) {
        // rejected cleanly
    }
    return 0;
}
