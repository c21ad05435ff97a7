// Tests for edet/io/weights.hpp: format sniffing and open_weights dispatch.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>


#include "edet/io/weights.hpp"
#include "temp_dir.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using edet::io::WeightsFormat;

namespace {

std::string write_bytes(const std::string& name, const std::string& bytes) {
    static const edet_test::TempDir dir;  // removed with its files at exit
    const std::string path = dir / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

WeightsFormat sniff(const std::string& bytes) {
    return edet::io::sniff_weights_format(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

std::string error_of(const std::string& path) {
    try {
        edet::io::open_weights(path);
    } catch (const edet::Error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("weights: sniffing by content") {
    CHECK(sniff(std::string("\x10\0\0\0\0\0\0\0{", 9)) == WeightsFormat::safetensors);
    CHECK(sniff(std::string("\x10\0\0\0\0\0\0\0[", 9)) == WeightsFormat::unknown);         // not an object
    CHECK(sniff(std::string("\xff\xff\xff\xff\0\0\0\0{", 9)) == WeightsFormat::unknown);   // > 100 MB header
    CHECK(sniff(std::string("\x01\0\0\0\0\0\0\0{", 9)) == WeightsFormat::unknown);         // "{" alone cannot be a header
    CHECK(sniff(std::string("PK\x03\x04\x14\0\0\0\0", 9)) == WeightsFormat::pth_zip);
    CHECK(sniff(std::string("\x80\x02\x8a\x0al\xfc\x9c", 7)) == WeightsFormat::pth_legacy);
    CHECK(sniff(std::string("\x80\x01", 2)) == WeightsFormat::unknown);
    CHECK(sniff("") == WeightsFormat::unknown);
    CHECK(sniff("hello world") == WeightsFormat::unknown);
}

TEST_CASE("weights: open_weights reads every fixture as safetensors" * doctest::test_suite("parity")) {
    const std::string path = edet_test::fixtures_dir() + "/tf_efficientdet_lite0_s0/weights.safetensors";
    CHECK(edet::io::sniff_weights_format(path) == WeightsFormat::safetensors);
    const auto w = edet::io::open_weights(path);
    const auto direct = edet::io::SafeTensorsFile::open(path);
    REQUIRE(w->tensors().size() == direct->tensors().size());
    CHECK(w->path() == path);
    CHECK(w->metadata("model") == "tf_efficientdet_lite0");
    const std::string name = w->tensors().back().name;
    CHECK(w->read_f32(name) == direct->read_f32(name));
}

TEST_CASE("weights: unreadable or foreign files are clear edet::Errors") {
    CHECK(error_of("/nonexistent/w.safetensors").find("does not exist") != std::string::npos);
    CHECK(error_of(fs::temp_directory_path().string()).find("not a regular file") != std::string::npos);

    const std::string text = write_bytes("notes.bin", "these are not weights");
    const std::string msg = error_of(text);
    CHECK(msg.find(text) != std::string::npos);
    CHECK(msg.find("not a safetensors file") != std::string::npos);
    CHECK(msg.find(".pth support") != std::string::npos);

    // A damaged file named .safetensors gets the reader's precise message.
    const std::string cut = write_bytes("cut.safetensors", std::string("\x40\0\0", 3));
    CHECK(error_of(cut).find("too small (3 bytes)") != std::string::npos);
    const std::string empty = write_bytes("empty.safetensors", "");
    CHECK(error_of(empty).find("too small (0 bytes)") != std::string::npos);

    // A safetensors-looking file with a broken body goes to the safetensors reader.
    const std::string trunc = write_bytes("trunc.bin", std::string("\x40\0\0\0\0\0\0\0{\"a\":", 13));
    CHECK(error_of(trunc).find("larger than the file") != std::string::npos);

    // PyTorch containers: read by pth.hpp when present, otherwise refused with advice.
    const std::string zip = write_bytes("model.pth", std::string("PK\x03\x04garbage", 11));
    const std::string legacy = write_bytes("legacy.pth", std::string("\x80\x02garbage", 9));
#if EDET_HAS_PTH
    CHECK_THROWS_AS(edet::io::open_weights(zip), edet::Error);  // corrupt archive
    CHECK_THROWS_AS(edet::io::open_weights(legacy), edet::Error);
#else
    CHECK(error_of(zip).find("PyTorch zip checkpoint") != std::string::npos);
    CHECK(error_of(zip).find("no .pth reader") != std::string::npos);
    CHECK(error_of(legacy).find("legacy (pickle)") != std::string::npos);
#endif
}

TEST_CASE("weights: WeightsOptions::key picks a training checkpoint's entry" * doctest::test_suite("parity")) {
    const std::string dir = std::string(EDET_FIXTURES_DIR) + "/custom/tf_efficientdet_lite0_c3_s7_256x384/";
    edet::io::WeightsOptions ema;
    ema.key = "state_dict_ema";
    const auto plain = edet::io::open_weights(dir + "train_checkpoint.pth.tar");
    const auto averaged = edet::io::open_weights(dir + "train_checkpoint.pth.tar", ema);
    const auto ref = edet::io::open_weights(dir + "weights.safetensors");
    const std::string name = "class_net.predict.conv_pw.weight";
    CHECK(plain->read_f32(name) == ref->read_f32(name));
    CHECK(averaged->read_f32(name) != ref->read_f32(name));
    // A safetensors file has one set of weights: a key is an error, not ignored.
    try {
        edet::io::open_weights(dir + "weights.safetensors", ema);
        FAIL("no error");
    } catch (const edet::Error& e) {
        CHECK(std::string(e.what()).find("applies to .pth training checkpoints") != std::string::npos);
    }
}
