// libFuzzer target: PthFile::from_bytes on arbitrary bytes (zip and legacy containers, the
// restricted unpickler, tensor views). Only edet::Error may escape the reader; anything
// else - a crash, a sanitizer report, another exception type, a leak - is a finding.
#include <cstddef>
#include <cstdint>

#include "edet/io/pth.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        auto f = edet::io::PthFile::from_bytes(data, size, "fuzz.pth");
        for (const auto& t : f->tensors()) {
            (void)f->read_f32(t.name);
        }
    } catch (const edet::Error&) {
    }
    try {  // the other wrapper choice and no CRC checks reach different code
        edet::io::PthOptions o;
        o.key = "state_dict";
        o.verify_crc = false;
        auto f = edet::io::PthFile::from_bytes(data, size, "fuzz.pth", o);
        for (const auto& t : f->tensors()) (void)f->read_raw(t.name);
    } catch (const edet::Error&) {
    }
    return 0;
}
