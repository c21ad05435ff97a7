// edet-convert: the torch-written checkpoints of tests/data/pth become safetensors whose
// tensors equal the reference dumps (<stem>.expected.{txt,bin}, written by torch) byte for
// byte, in file order; wrapped checkpoints, metadata, hash checks and exit codes.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "edet/io/image.hpp"
#include "edet/io/safetensors.hpp"
#include "edet/io/sha256.hpp"
#include "test_util.hpp"
#include "tools/tool_runner.hpp"

namespace {

std::string pth_dir() { return edet_test::test_data_dir() + "/pth/"; }

struct Expected {
    std::string name, dtype;
    std::vector<std::int64_t> shape;
    std::size_t offset = 0, length = 0;
};

// <stem>.expected.txt: one line per tensor, "name dtype d0,d1,.. offset length" ("-" = scalar).
std::vector<Expected> read_expected(const std::string& stem) {
    std::ifstream in(pth_dir() + stem + ".expected.txt");
    REQUIRE(in);
    std::vector<Expected> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        std::istringstream ss(line);
        Expected e;
        std::string shape;
        ss >> e.name >> e.dtype >> shape >> e.offset >> e.length;
        REQUIRE(ss);
        if (shape != "-") {
            std::istringstream dims(shape);
            for (std::string d; std::getline(dims, d, ',');) e.shape.push_back(std::stoll(d));
        }
        out.push_back(e);
    }
    return out;
}

// Every tensor of the converted file equals the expected one: name, order, dtype, shape, bytes.
void check_converted(const std::string& path, const std::string& stem) {
    const std::vector<Expected> want = read_expected(stem);
    const std::vector<std::uint8_t> blob = edet::io::read_file_bytes(pth_dir() + stem + ".expected.bin");
    const auto got = edet::io::SafeTensorsFile::open(path);
    REQUIRE(got->tensors().size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        const Expected& e = want[i];
        const edet::io::TensorInfo& t = got->tensors()[i];
        CAPTURE(e.name);
        CHECK(t.name == e.name);
        CHECK(std::string(edet::io::to_string(t.dtype)) == e.dtype);
        CHECK(t.shape == e.shape);
        REQUIRE(got->raw_size(t.name) == e.length);
        REQUIRE(e.offset + e.length <= blob.size());
        if (e.length > 0) CHECK(std::equal(blob.begin() + std::ptrdiff_t(e.offset), blob.begin() + std::ptrdiff_t(e.offset + e.length), got->raw(t.name)));
    }
}

}  // namespace

TEST_CASE("edet-convert: zip and legacy checkpoints convert to the reference tensors") {
    const std::string convert = edet_test::tool_path("edet-convert");
    if (convert.empty()) return;
    edet_test::TempDir tmp;
    struct Case {
        std::string file, stem, key, chosen_key;
    };
    const std::vector<Case> cases = {
        {"small", "small", "", ""},
        {"module", "module", "", ""},
        {"wrapped", "wrapped_plain", "", "state_dict"},
        {"wrapped", "wrapped_ema", "state_dict_ema", "state_dict_ema"},
        {"model_key", "wrapped_plain", "", "model"},
    };
    for (const Case& c : cases)
        for (const std::string fmt : {"zip", "legacy"}) {
            CAPTURE(c.file);
            CAPTURE(c.key);
            CAPTURE(fmt);
            const std::string in = pth_dir() + c.file + "." + fmt + ".pth";
            const std::string out = tmp / (c.stem + "." + fmt + ".safetensors");
            std::vector<std::string> argv{convert, in, out};
            if (!c.key.empty()) argv.insert(argv.end(), {"--key", c.key});
            const edet_test::RunResult r = edet_test::run_tool(argv, tmp);
            CAPTURE(r.err);
            REQUIRE(r.exit_code == 0);
            check_converted(out, c.stem);
            const auto f = edet::io::SafeTensorsFile::open(out);
            CHECK(f->metadata("source_format") == fmt);
            CHECK(f->metadata("source_file") == c.file + "." + fmt + ".pth");
            CHECK(f->metadata("source_sha256") == edet::io::sha256_file(in));
            CHECK(f->metadata("source_key") == c.chosen_key);
            CHECK(f->metadata("model").empty());  // not a release name
        }
}

TEST_CASE("edet-convert: --variant records the preprocessing; a release name must match its hash") {
    const std::string convert = edet_test::tool_path("edet-convert");
    if (convert.empty()) return;
    edet_test::TempDir tmp;
    const std::string in = pth_dir() + "small.zip.pth";
    const std::string out = tmp / "ap.safetensors";
    const edet_test::RunResult r = edet_test::run_tool({convert, in, out, "--variant", "tf_efficientdet_d0_ap"}, tmp);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    const auto f = edet::io::SafeTensorsFile::open(out);
    CHECK(f->metadata("model") == "tf_efficientdet_d0");
    CHECK(f->metadata("variant") == "tf_efficientdet_d0_ap");
    CHECK(f->metadata("mean") == "0.5,0.5,0.5");
    check_converted(out, "small");

    // The release file name says its SHA-256 starts with f153e0cf; this content does not.
    const std::string fake = tmp / "tf_efficientdet_d0_34-f153e0cf.pth";
    std::filesystem::copy_file(in, fake);
    const std::string fake_out = tmp / "fake.safetensors";
    const edet_test::RunResult bad = edet_test::run_tool({convert, fake, fake_out}, tmp);
    CHECK(bad.exit_code == 1);
    CHECK(edet_test::contains(bad.err, fake));
    CHECK(edet_test::contains(bad.err, "SHA-256"));
    CHECK(!std::filesystem::exists(fake_out));
}

TEST_CASE("edet-convert: usage errors exit 2, unreadable input exits 1 naming it") {
    const std::string convert = edet_test::tool_path("edet-convert");
    if (convert.empty()) return;
    edet_test::TempDir tmp;
    const std::string out = tmp / "out.safetensors";
    CHECK(edet_test::run_tool({convert, "only_one.pth"}, tmp).exit_code == 2);
    const edet_test::RunResult unknown = edet_test::run_tool({convert, "a.pth", out, "--bogus"}, tmp);
    CHECK(unknown.exit_code == 2);
    CHECK(edet_test::contains(unknown.err, "--bogus"));
    CHECK(edet_test::run_tool({convert, "a.pth", out, "--key"}, tmp).exit_code == 2);

    const std::string missing = tmp / "missing.pth";
    const edet_test::RunResult r1 = edet_test::run_tool({convert, missing, out}, tmp);
    CHECK(r1.exit_code == 1);
    CHECK(edet_test::contains(r1.err, missing));
    const std::string junk = tmp / "junk.pth";
    edet::io::write_file_bytes(junk, std::vector<std::uint8_t>(100, 0x42));
    const edet_test::RunResult r2 = edet_test::run_tool({convert, junk, out}, tmp);
    CHECK(r2.exit_code == 1);
    CHECK(edet_test::contains(r2.err, junk));
    CHECK(!std::filesystem::exists(out));
}

TEST_CASE("edet-convert: a train.py checkpoint with its description; the output needs no flags" *
          doctest::test_suite("parity")) {
    const std::string convert = edet_test::tool_path("edet-convert");
    if (convert.empty()) return;
    edet_test::TempDir tmp;
    const std::string dir = edet_test::fixtures_dir() + "/custom/tf_efficientdet_lite0_c3_s7_256x384/";
    const std::string out = tmp / "c3.safetensors";
    const edet_test::RunResult r = edet_test::run_tool(
        {convert, dir + "train_checkpoint.pth.tar", out, "--variant", "tf_efficientdet_lite0", "--size", "256x384",
         "--num-scales", "2", "--aspect-ratios", "1.0,2.0,0.5", "--anchor-scale", "3", "--labels", dir + "labels.json"},
        tmp);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    const auto got = edet::io::SafeTensorsFile::open(out);
    const auto ref = edet::io::SafeTensorsFile::open(dir + "weights.safetensors");
    REQUIRE(got->tensors().size() == ref->tensors().size());
    for (const auto& t : ref->tensors()) {
        CAPTURE(t.name);
        REQUIRE(got->raw_size(t.name) == ref->raw_size(t.name));  // state_dict, bit for bit
        CHECK(std::memcmp(got->raw(t.name), ref->raw(t.name), ref->raw_size(t.name)) == 0);
    }
    CHECK(got->metadata("variant") == "tf_efficientdet_lite0");
    CHECK(got->metadata("num_classes") == "3");
    CHECK(got->metadata("num_scales") == "2");
    CHECK(got->metadata("image_size") == "256x384");
    CHECK(got->metadata("anchor_scale") == "3");
    CHECK(got->metadata("labels") == "[\"apple\",\"banana\",\"cherry\"]");
    CHECK(got->metadata("category_ids") == "[2,6,8]");
    CHECK(got->metadata("source_key") == "state_dict");
    // --ema takes the other weights.
    const std::string ema = tmp / "ema.safetensors";
    REQUIRE(edet_test::run_tool({convert, dir + "train_checkpoint.pth.tar", ema, "--variant", "tf_efficientdet_lite0",
                                 "--num-scales", "2", "--aspect-ratios", "1.0,2.0,0.5", "--ema"},
                                tmp)
                .exit_code == 0);
    const auto e = edet::io::SafeTensorsFile::open(ema);
    CHECK(e->metadata("source_key") == "state_dict_ema");
    CHECK(e->read_f32("class_net.predict.conv_pw.weight") != ref->read_f32("class_net.predict.conv_pw.weight"));
    // A description that does not fit: nothing written, the tensor and shapes named.
    const std::string bad = tmp / "bad.safetensors";
    const edet_test::RunResult misfit =
        edet_test::run_tool({convert, dir + "train_checkpoint.pth.tar", bad, "--variant", "tf_efficientdet_lite0"}, tmp);
    CHECK(misfit.exit_code == 1);
    CHECK(edet_test::contains(misfit.err, "box_net.predict.conv_pw.weight"));
    CHECK(edet_test::contains(misfit.err, "[24, 64, 1, 1]"));
    CHECK_FALSE(std::filesystem::exists(bad));
    // A description without a variant.
    const edet_test::RunResult unnamed =
        edet_test::run_tool({convert, dir + "train_checkpoint.pth.tar", bad, "--num-scales", "2"}, tmp);
    CHECK(unnamed.exit_code == 1);
    CHECK(edet_test::contains(unnamed.err, "give --variant"));
}
