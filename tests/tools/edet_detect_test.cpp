// edet-detect: COCO results JSON that parses back and agrees with edet-dump, drawn
// images, per-file failures, --shard, usage errors; the --json file checked before any
// work, equal to coco_results_json of the images that succeeded, never half-written.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <thread>
#include <string>
#include <vector>

#include "edet/detect/detector.hpp"
#include "edet/detect/results_json.hpp"
#include "edet/io/image.hpp"
#include "edet/io/json.hpp"
#include "edet/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "test_util.hpp"
#include "tools/tool_runner.hpp"

namespace {

namespace json = edet::io::json;

std::string lite0_weights() { return edet_test::fixtures_dir() + "/tf_efficientdet_lite0_s0/weights.safetensors"; }
std::string example(const std::string& name) { return std::string(EDET_SOURCE_DIR) + "/examples/data/" + name; }

json::Value read_json(const std::string& path) {
    const std::vector<std::uint8_t> bytes = edet::io::read_file_bytes(path);
    return json::parse(std::string(bytes.begin(), bytes.end()), path);
}

// The file names that appear in a COCO results array.
std::vector<std::string> file_names(const json::Value& results) {
    std::vector<std::string> names;
    for (const json::Value& r : results.as_array()) {
        const std::string& f = r["file_name"].as_string();
        if (names.empty() || names.back() != f) names.push_back(f);
    }
    return names;
}

std::string read_bytes(const std::string& path) {
    const std::vector<std::uint8_t> bytes = edet::io::read_file_bytes(path);
    return std::string(bytes.begin(), bytes.end());
}

void write_bytes(const std::string& path, const std::string& text) {
    edet::io::write_file_bytes(path, std::vector<std::uint8_t>(text.begin(), text.end()));
}

// Names in `dir` containing ".tmp." (a temporary --json file left behind).
std::vector<std::string> temp_files(const std::string& dir) {
    std::vector<std::string> found;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp.") != std::string::npos) found.push_back(e.path().string());
    return found;
}

}  // namespace

TEST_CASE("edet-detect: COCO JSON parses back, equals edet-dump's detections; drawn PNG" * doctest::test_suite("parity")) {
    const std::string detect = edet_test::tool_path("edet-detect");
    const std::string dump = edet_test::tool_path("edet-dump");
    if (detect.empty() || dump.empty()) return;
    edet_test::TempDir tmp;
    const std::string image = example("astronaut.png");
    const std::string json_path = tmp / "results.json", draw_dir = tmp / "drawn";
    const edet_test::RunResult run =
        edet_test::run_tool({detect, "--weights", lite0_weights(), "--variant", "tf_efficientdet_lite0", "--score", "0",
                             "--json", json_path, "--draw", draw_dir, image},
                            tmp);
    CAPTURE(run.err);
    REQUIRE(run.exit_code == 0);
    CHECK(edet_test::contains(run.out, "astronaut.png"));

    // COCO results: [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...].
    const json::Value results = read_json(json_path);
    REQUIRE(results.is_array());
    REQUIRE(results.size() == 100);  // --score 0 keeps all 100 rows, as the reference

    // edet-dump --image --detections runs the same preprocessing and post-processing; the
    // JSON is its rows as x, y, width, height (rows with a score of 0 never occur here).
    const std::string dumped = tmp / "dump.safetensors";
    REQUIRE(edet_test::run_tool({dump, "--weights", lite0_weights(), "--image", image, "--output", dumped, "--detections"}, tmp)
                .exit_code == 0);
    const std::vector<float> rows = edet::io::SafeTensorsFile::open(dumped)->read_f32("detections");
    REQUIRE(rows.size() == 600);
    const edet::io::Image img = edet::io::read_image(image);
    double max_err = 0;
    for (std::size_t i = 0; i < results.size(); ++i) {
        CAPTURE(i);
        const json::Value& r = results[i];
        CHECK(r["image_id"].is_int64());
        CHECK(r["image_id"].as_int64() == 0);  // not a numeric file name: its position
        CHECK(r["file_name"].as_string() == image);
        const json::Value& box = r["bbox"];
        REQUIRE(box.size() == 4);
        const double x = box[0].as_number(), y = box[1].as_number(), w = box[2].as_number(), h = box[3].as_number();
        CHECK(w >= 0);
        CHECK(h >= 0);
        CHECK(x >= 0);
        CHECK(y >= 0);
        CHECK(x + w <= img.width + 1e-3);
        CHECK(y + h <= img.height + 1e-3);
        const float* d = &rows[i * 6];
        CHECK(r["category_id"].as_int64() == static_cast<std::int64_t>(d[5]));
        // The JSON holds floats in shortest form; width/height are differences of floats.
        max_err = std::max({max_err, std::fabs(r["score"].as_number() - d[4]), std::fabs(x - d[0]), std::fabs(y - d[1]),
                            std::fabs(x + w - d[2]), std::fabs(y + h - d[3])});
    }
    MESSAGE("max |JSON - edet-dump| " << max_err);
    CHECK(max_err <= 1e-3);

    const std::string drawn = draw_dir + "/astronaut.png";
    REQUIRE(std::filesystem::exists(drawn));
    const edet::io::Image out = edet::io::read_image(drawn);
    CHECK(out.width == img.width);
    CHECK(out.height == img.height);
    CHECK(out.rgb != img.rgb);  // boxes were drawn
}

TEST_CASE("edet-detect: a missing image among several exits 1, the others are processed; --shard" *
          doctest::test_suite("parity")) {
    const std::string detect = edet_test::tool_path("edet-detect");
    if (detect.empty()) return;
    edet_test::TempDir tmp;
    const std::string a = example("astronaut.png"), b = tmp / "no_such_image.png", c = example("coffee.png");
    const std::string json_path = tmp / "results.json";
    const edet_test::RunResult run = edet_test::run_tool(
        {detect, "--weights", lite0_weights(), "--score", "0.2", "--quiet", "--json", json_path, a, b, c}, tmp);
    CAPTURE(run.err);
    CHECK(run.exit_code == 1);
    CHECK(edet_test::contains(run.err, "FAILED " + b));
    CHECK(edet_test::contains(run.err, "1 of 3 images failed"));
    CHECK(file_names(read_json(json_path)) == std::vector<std::string>{a, c});

    // --shard K/N takes images K, K+N, ...: 0/2 -> a, c; 1/2 -> b (missing) only.
    const std::string shard0 = tmp / "shard0.json";
    const edet_test::RunResult r0 = edet_test::run_tool(
        {detect, "--weights", lite0_weights(), "--score", "0.2", "--quiet", "--json", shard0, "--shard", "0/2", a, b, c}, tmp);
    CHECK(r0.exit_code == 0);
    CHECK(file_names(read_json(shard0)) == std::vector<std::string>{a, c});
    const std::string shard1 = tmp / "shard1.json";
    const edet_test::RunResult r1 = edet_test::run_tool(
        {detect, "--weights", lite0_weights(), "--quiet", "--json", shard1, "--shard", "1/2", a, b, c}, tmp);
    CHECK(r1.exit_code == 1);
    CHECK(read_json(shard1).size() == 0);
    // A list file is sharded the same way (blank lines and comments skipped).
    const std::string list = tmp / "list.txt";
    const std::string text = "# images\n" + a + "\n\n" + c + "\n";
    edet::io::write_file_bytes(list, std::vector<std::uint8_t>(text.begin(), text.end()));
    const std::string shard_list = tmp / "shard_list.json";
    const edet_test::RunResult rl = edet_test::run_tool(
        {detect, "--weights", lite0_weights(), "--score", "0.2", "--quiet", "--json", shard_list, "--list", list, "--shard", "1/2"},
        tmp);
    CHECK(rl.exit_code == 0);
    CHECK(file_names(read_json(shard_list)) == std::vector<std::string>{c});
}

TEST_CASE("edet-detect: usage errors exit 2, unloadable weights exit 1") {
    const std::string detect = edet_test::tool_path("edet-detect");
    if (detect.empty()) return;
    edet_test::TempDir tmp;
    const std::string image = example("astronaut.png");
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{"--bogus", image}, "--bogus"},
        {{image}, "--weights"},  // --weights (or another source) is required
        {{"--weights", "w.safetensors"}, "no images given"},
        {{"--weights", "w", "--shard", "2/2", image}, "--shard K"},
        {{"--weights", "w", "--shard", "3", image}, "--shard needs K/N"},
        {{"--weights", "w", "--score", "1.5", image}, "--score"},
        {{"--weights", "w", "--score", "nan", image}, "--score"},
        {{"--weights", "w", "--iou", "-0.1", image}, "--iou"},
        {{"--weights", "w", "--iou", "nan", image}, "--iou"},
        {{"--weights", "w", "--max", "5001", image}, "--max: '5001' is not an integer in [1, 5000]"},
        {{"--weights", "w", "--num-scales", "0", image}, "--num-scales"},
        {{"--weights", "w", "--aspect-ratios", "1.0,x", image}, "--aspect-ratios"},
        {{"--weights", "w", "--size", "384x", image}, "--size"},
        {{"--weights", "w", "--labels", "no_such_file", image}, "--labels 'no_such_file': no such file"},
        {{"--weights", "w", "--threads", "0", image}, "--threads"},
        // The library's rule (edet::max_num_threads(): 4 x the cores, at least 64).
        {{"--weights", "w", "--threads", std::to_string(edet::max_num_threads() + 1), image},
         "--threads needs an integer in [1, " + std::to_string(edet::max_num_threads()) + "]"},
        {{"--weights", "w", "--variant", "tf_efficientdet_d9", image}, "'tf_efficientdet_d9': unknown"},
        {{"--weights", "w", "--nms", "fuzzy", image}, "--nms"},
    };
    for (const Case& c : cases) {
        std::vector<std::string> argv{detect};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        const edet_test::RunResult r = edet_test::run_tool(argv, tmp);
        CAPTURE(c.message);
        CAPTURE(r.err);
        CHECK(r.exit_code == 2);
        CHECK(edet_test::contains(r.err, c.message));
    }
    const std::string bad = tmp / "bad.safetensors";
    edet::io::write_file_bytes(bad, std::vector<std::uint8_t>(32, 0x11));
    const edet_test::RunResult r = edet_test::run_tool({detect, "--weights", bad, image}, tmp);
    CHECK(r.exit_code == 1);
    CHECK(edet_test::contains(r.err, bad));
}

TEST_CASE("edet-detect: --classes are the model's names or category ids, checked once it is loaded" *
          doctest::test_suite("parity")) {
    const std::string detect = edet_test::tool_path("edet-detect");
    if (detect.empty()) return;
    edet_test::TempDir tmp;
    const std::string image = example("astronaut.png");
    for (const char* bad : {"91", "unicorn"}) {
        const edet_test::RunResult r =
            edet_test::run_tool({detect, "--weights", lite0_weights(), "--classes", bad, "--quiet", image}, tmp);
        CAPTURE(r.err);
        CHECK(r.exit_code == 2);
        CHECK(edet_test::contains(r.err, std::string("unknown class '") + bad + "'"));
    }
    const std::string json = tmp / "person.json";
    const edet_test::RunResult ok = edet_test::run_tool(
        {detect, "--weights", lite0_weights(), "--classes", "person,18", "--score", "0", "--quiet", "--json", json, image}, tmp);
    CAPTURE(ok.err);
    REQUIRE(ok.exit_code == 0);
    const edet::io::json::Value results = edet::io::json::parse(edet_test::read_text(json), "results");
    for (const auto& e : results.as_array()) {
        const std::int64_t id = e["category_id"].as_int64();
        CHECK((id == 1 || id == 18));
    }
}

TEST_CASE("edet-detect: a custom model from its train.py checkpoint, with the dataset's names and ids" *
          doctest::test_suite("parity")) {
    const std::string detect = edet_test::tool_path("edet-detect");
    const std::string convert = edet_test::tool_path("edet-convert");
    if (detect.empty() || convert.empty()) return;
    edet_test::TempDir tmp;
    const std::string dir = edet_test::fixtures_dir() + "/custom/tf_efficientdet_lite0_c3_s7_256x384/";
    const std::vector<std::string> model = {"--variant", "tf_efficientdet_lite0", "--size", "256x384", "--num-scales", "2",
                                            "--aspect-ratios", "1.0,2.0,0.5", "--anchor-scale", "3", "--labels",
                                            dir + "labels.json"};
    std::vector<std::string> argv = {detect, "--weights", dir + "train_checkpoint.pth.tar", "--score", "0.2", "--json",
                                     tmp / "a.json", dir + "coffee.png"};
    argv.insert(argv.end(), model.begin(), model.end());
    const edet_test::RunResult a = edet_test::run_tool(argv, tmp);
    CAPTURE(a.err);
    REQUIRE(a.exit_code == 0);
    CHECK(edet_test::contains(a.out, "3 classes"));
    const edet::io::json::Value ra = edet::io::json::parse(edet_test::read_text(tmp / "a.json"), "a.json");
    REQUIRE(ra.size() > 0);
    for (const auto& e : ra.as_array()) {
        const std::int64_t id = e["category_id"].as_int64();
        CHECK((id == 2 || id == 6 || id == 8));  // labels.json's ids, not 1..3
    }
    CHECK((edet_test::contains(a.out, "apple") || edet_test::contains(a.out, "banana") || edet_test::contains(a.out, "cherry")));
    // Converted once with the same flags, the model needs none: the same results.
    std::vector<std::string> conv = {convert, dir + "train_checkpoint.pth.tar", tmp / "c3.safetensors"};
    conv.insert(conv.end(), model.begin(), model.end());
    REQUIRE(edet_test::run_tool(conv, tmp).exit_code == 0);
    const edet_test::RunResult b = edet_test::run_tool(
        {detect, "--weights", tmp / "c3.safetensors", "--score", "0.2", "--json", tmp / "b.json", dir + "coffee.png"}, tmp);
    REQUIRE(b.exit_code == 0);
    CHECK(edet_test::read_text(tmp / "b.json") == edet_test::read_text(tmp / "a.json"));
    // Without the anchors the weights do not fit: the tensor and both shapes are named.
    const edet_test::RunResult c = edet_test::run_tool(
        {detect, "--weights", dir + "train_checkpoint.pth.tar", "--variant", "tf_efficientdet_lite0", dir + "coffee.png"}, tmp);
    CHECK(c.exit_code == 1);
    CHECK(edet_test::contains(c.err, "box_net.predict.conv_pw.weight"));
    CHECK(edet_test::contains(c.err, "[24, 64, 1, 1]"));
}

TEST_CASE("edet-detect: an unwritable --json or --draw is refused before the weights are read, exit 2") {
    const std::string detect = edet_test::tool_path("edet-detect");
    if (detect.empty()) return;
    edet_test::TempDir tmp;
    const std::string file = tmp / "a_file";
    write_bytes(file, "not a directory\n");
    // Root ignores permission bits, so the unwritable places are ones no user can write:
    // below a regular file, in a missing directory, a directory as the target, /proc.
    const std::vector<std::string> unwritable = {file + "/results.json", tmp / "missing_dir/results.json",
                                                 std::string(tmp / ""), "/proc/edet-results.json"};
    for (const std::string& target : unwritable) {
        CAPTURE(target);
        // The weights do not exist either: a run that looked at them first would say so (exit 1).
        const edet_test::RunResult r =
            edet_test::run_tool({detect, "--weights", tmp / "no_such.safetensors", "--json", target, example("astronaut.png")}, tmp);
        CAPTURE(r.err);
        CHECK(r.exit_code == 2);
        CHECK(edet_test::contains(r.err, "cannot write --json '" + target + "'"));
        CHECK(edet_test::contains(r.err, "nothing was run"));
        CHECK_FALSE(edet_test::contains(r.err, "weights"));
        CHECK(r.out.empty());
    }
    CHECK(temp_files(tmp.path().string()).empty());
    const edet_test::RunResult d =
        edet_test::run_tool({detect, "--weights", tmp / "no_such.safetensors", "--draw", file, example("astronaut.png")}, tmp);
    CAPTURE(d.err);
    CHECK(d.exit_code == 2);
    CHECK(edet_test::contains(d.err, "cannot create --draw directory"));
    CHECK(read_bytes(file) == "not a directory\n");
}

TEST_CASE("edet-detect: bad files amid a list are skipped; the JSON is coco_results_json of the others" *
          doctest::test_suite("parity")) {
    const std::string detect = edet_test::tool_path("edet-detect");
    if (detect.empty()) return;
    edet_test::TempDir tmp;
    const std::string a = example("astronaut.png"), c = example("coffee.png");
    const std::string png = read_bytes(c);
    const std::string garbage = tmp / "garbage.png", truncated = tmp / "truncated.png", empty = tmp / "empty.jpg",
                      missing = tmp / "missing.png";
    std::string noise(4096, '\0');
    std::mt19937 rng(7);
    for (char& ch : noise) ch = static_cast<char>(rng());
    write_bytes(garbage, noise);
    write_bytes(truncated, png.substr(0, png.size() / 2));
    write_bytes(empty, "");
    const std::string list = tmp / "list.txt";
    write_bytes(list, a + "\n" + garbage + "\n" + truncated + "\n" + missing + "\n" + empty + "\n" + c + "\n");
    const std::string json_path = tmp / "results.json";
    write_bytes(json_path, "previous results\n");  // replaced by the run
    const edet_test::RunResult run = edet_test::run_tool(
        {detect, "--weights", lite0_weights(), "--score", "0.2", "--quiet", "--json", json_path, "--list", list}, tmp);
    CAPTURE(run.err);
    CHECK(run.exit_code == 1);
    for (const std::string& bad : {garbage, truncated, missing, empty}) CHECK(edet_test::contains(run.err, "FAILED " + bad));
    CHECK(edet_test::contains(run.err, "4 of 6 images failed"));
    CHECK(temp_files(tmp.path().string()).empty());

    // The same bytes as coco_results_json over the detector's results for a and c, with
    // image ids from their positions in the list (0 and 5), as before results were streamed.
    edet::Detector det = edet::Detector::load(lite0_weights());
    edet::DetectOptions opt;
    opt.score_threshold = 0.2f;
    std::vector<edet::detect::ImageResults> expected;
    for (const auto& [path, id] : std::vector<std::pair<std::string, int>>{{a, 0}, {c, 5}}) {
        edet::detect::ImageResults r;
        r.file_name = path;
        r.image_id = id;
        for (const edet::Detection& d : det.detect(edet::io::read_image(path), opt))
            r.boxes.push_back({d.box.x1, d.box.y1, d.box.x2, d.box.y2, d.score, d.class_id});
        REQUIRE_FALSE(r.boxes.empty());
        expected.push_back(std::move(r));
    }
    const std::string text = read_bytes(json_path);
    CHECK(text == edet::detect::coco_results_json(expected) + "\n");
    const json::Value results = read_json(json_path);
    CHECK(file_names(results) == std::vector<std::string>{a, c});
    CHECK(results[0]["image_id"].as_int64() == 0);
    CHECK(results[results.size() - 1]["image_id"].as_int64() == 5);
}

TEST_CASE("edet-detect: a --json write that fails (file size limit, as a full disk) leaves the old file, exit 1" *
          doctest::test_suite("parity")) {
    const std::string detect = edet_test::tool_path("edet-detect");
    if (detect.empty()) return;
    edet_test::TempDir tmp;
    const std::string json_path = tmp / "results.json";
    const std::string old = "[{\"image_id\":1,\"category_id\":1,\"bbox\":[0,0,1,1],\"score\":0.5}]\n";
    write_bytes(json_path, old);
    // --score 0 writes 100 entries (over 10 KB) per image: the first image's write passes
    // the 4 KB limit. (Root is not exempt from RLIMIT_FSIZE.)
    edet_test::RunLimits limits;
    limits.max_file_bytes = 4096;
    const std::vector<std::string> args = {detect, "--weights", lite0_weights(), "--score", "0", "--quiet", "--json", json_path,
                                           example("astronaut.png"), example("coffee.png")};
    const edet_test::RunResult r = edet_test::run_tool(args, tmp, limits);
    CAPTURE(r.err);
    CHECK(r.exit_code == 1);
    CHECK(edet_test::contains(r.err, "cannot write --json '" + json_path + "'"));
    CHECK(edet_test::contains(r.err, "stopped at image 1 of 2"));
    CHECK(edet_test::contains(r.err, "left as it was"));
    CHECK(read_bytes(json_path) == old);
    CHECK(temp_files(tmp.path().string()).empty());
    // Without the limit the same run replaces it.
    const edet_test::RunResult ok = edet_test::run_tool(args, tmp);
    CHECK(ok.exit_code == 0);
    CHECK(read_json(json_path).size() == 200);
    CHECK(temp_files(tmp.path().string()).empty());
    // A symlink target is written through: the link stays, the file it names is replaced.
    const std::string link = tmp / "link.json";
    std::filesystem::create_symlink(json_path, link);
    const edet_test::RunResult via_link = edet_test::run_tool(
        {detect, "--weights", lite0_weights(), "--score", "0", "--quiet", "--json", link, example("coffee.png")}, tmp);
    CHECK(via_link.exit_code == 0);
    CHECK(std::filesystem::is_symlink(link));
    CHECK(read_json(json_path).size() == 100);
    CHECK(temp_files(tmp.path().string()).empty());
}

TEST_CASE("edet-detect: each image's results are in the temporary file as soon as the image completes" *
          doctest::test_suite("parity")) {
    const std::string detect = edet_test::tool_path("edet-detect");
    if (detect.empty()) return;
    edet_test::TempDir tmp;
    // The second image is a FIFO: the tool blocks opening it until this test opens the
    // other end, so the test looks at the temporary file while the run is midway.
    const std::string a = example("astronaut.png"), c = example("coffee.png"), fifo = tmp / "fifo.png";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const std::string json_path = tmp / "results.json";
    const edet_test::RunningTool t = edet_test::start_tool(
        {detect, "--weights", lite0_weights(), "--score", "0", "--quiet", "--json", json_path, a, fifo, c}, tmp);
    int fd = -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (fd < 0 && std::chrono::steady_clock::now() < deadline) {
        fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // ENXIO until the tool has it open for reading
        if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (fd >= 0) {
        const std::string partial = edet_test::read_text(json_path + ".tmp." + std::to_string(t.pid));
        CHECK_FALSE(std::filesystem::exists(json_path));  // not before the run completes
        json::Value so_far;
        bool parsed = false;
        try {  // (no REQUIRE or throw here: the tool waits on the FIFO until it is closed below)
            so_far = json::parse(partial + "]", "partial results");
            parsed = true;
        } catch (const std::exception& e) {
            MESSAGE("partial results: " << e.what());
        }
        CHECK(parsed);
        if (parsed) {
            CHECK(so_far.size() == 100);
            CHECK(file_names(so_far) == std::vector<std::string>{a});
        }
        CHECK(::write(fd, "not an image", 12) == 12);
        ::close(fd);
    } else {
        MESSAGE("the tool never opened the FIFO; the mid-run check did not run");
    }
    const edet_test::RunResult r = edet_test::wait_tool(t);
    CAPTURE(r.err);
    CHECK(fd >= 0);
    CHECK(r.exit_code == 1);
    CHECK(edet_test::contains(r.err, "FAILED " + fifo));
    CHECK(file_names(read_json(json_path)) == std::vector<std::string>{a, c});
    CHECK(temp_files(tmp.path().string()).empty());
}

TEST_CASE("edet-detect --coco --images: detect what an annotation file lists, print its mAP" * doctest::test_suite("parity")) {
    const std::string detect = edet_test::tool_path("edet-detect");
    const std::string eval = edet_test::tool_path("edet-eval");
    if (detect.empty() || eval.empty()) return;
    edet_test::TempDir tmp;
    const std::string dir = edet_test::fixtures_dir() + "/custom/tf_efficientdet_lite0_c3_s7_256x384/";
    // Ground truth: the reference's (effdet's) 8 best detections on coffee.png, image id 42,
    // the fixture's category ids 2, 6, 8 (tests/data/coco/custom_coffee_annotations.json).
    const std::string ann = edet_test::test_data_dir() + "/coco/custom_coffee_annotations.json";
    const std::string res = tmp / "res.json";
    // No --labels: the model has 3 classes, so the annotation file's categories name them.
    const edet_test::RunResult r = edet_test::run_tool(
        {detect, "--weights", dir + "train_checkpoint.pth.tar", "--variant", "tf_efficientdet_lite0", "--size", "256x384",
         "--num-scales", "2", "--aspect-ratios", "1.0,2.0,0.5", "--anchor-scale", "3", "--coco", ann, "--images", dir,
         "--json", res, "--quiet"},
        tmp);
    CAPTURE(r.err);
    REQUIRE(r.exit_code == 0);
    // edet's detections reproduce the reference's to ~0.02 px: every ground-truth box is found.
    CHECK(edet_test::contains(r.out, "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000"));
    const edet::io::json::Value results = edet::io::json::parse(edet_test::read_text(res), "res.json");
    REQUIRE(results.size() == 100);
    for (const auto& e : results.as_array()) {
        CHECK(e["image_id"].as_int64() == 42);
        const std::int64_t id = e["category_id"].as_int64();
        CHECK((id == 2 || id == 6 || id == 8));
    }
    // The printed summary is edet-eval's on the written results.
    const edet_test::RunResult ev = edet_test::run_tool({eval, ann, res}, tmp);
    REQUIRE(ev.exit_code == 0);
    CHECK(edet_test::contains(r.out, ev.out));
    // Sharded: no mAP, a pointer to edet-eval instead.
    const edet_test::RunResult s = edet_test::run_tool(
        {detect, "--weights", dir + "train_checkpoint.pth.tar", "--variant", "tf_efficientdet_lite0", "--size", "256x384",
         "--num-scales", "2", "--aspect-ratios", "1.0,2.0,0.5", "--anchor-scale", "3", "--coco", ann, "--images", dir,
         "--shard", "0/2", "--quiet"},
        tmp);
    CHECK(s.exit_code == 0);
    CHECK_FALSE(edet_test::contains(s.out, "Average Precision"));
    CHECK(edet_test::contains(s.err, "edet-eval"));
    // Usage: --coco needs --images, and takes no IMAGE arguments.
    CHECK(edet_test::run_tool({detect, "--weights", "w", "--coco", ann}, tmp).exit_code == 2);
    CHECK(edet_test::run_tool({detect, "--weights", "w", "--coco", ann, "--images", dir, "x.png"}, tmp).exit_code == 2);
}
