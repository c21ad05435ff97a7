// edet-detect - run EfficientDet on images and print, save or draw the detections.
//
//   edet-detect --weights tf_efficientdet_d0.safetensors street.jpg dogs/*.png
//   edet-detect --weights W --variant tf_efficientdet_d2_ap --json results.json --list val.txt
//   edet-detect --weights model_best.pth.tar --variant tf_efficientdet_lite0 --size 256x384
//       --num-scales 2 --aspect-ratios 1.0,2.0,0.5 --labels instances_val.json photo.jpg
//
// The whole evaluation loop in one command: every image a COCO annotation file lists, its
// detections (category ids as the file's), and pycocotools' mAP of them:
//   edet-detect --weights W --coco instances_val2017.json --images val2017/ --json results.json
// With --shard K/N each process writes its part (--json) and no mAP; merge the parts (one
// JSON array) and run edet-eval on them.
//
// The model flags (--variant, --size, --num-classes, --num-scales, --aspect-ratios,
// --anchor-scale, --max, --labels, --ema, --key) are every tool's: tools/model_flags.hpp.
// With --labels the table and drawings show the dataset's names and --json writes its
// category ids, so the results evaluate against the same annotations (edet-eval).
//
// Exit status: 0 every image processed; 2 nothing was run: a usage error, or an output
// (--json FILE, --draw DIR) that cannot be created; 1 an image (or the weights) failed: the
// other images are still processed and each failure is named on stderr, or the --json
// file could not be written (the run stops; an older FILE is left as it was).
//
// --json FILE is never lost and never half-written: before the weights are loaded a
// temporary FILE.tmp.<pid> is created beside FILE (so an unwritable place is refused at
// once, not after hours of images); each image's results are appended to it as the image
// completes; at the end it is closed into a valid array, fsync'd and renamed over FILE.
// On a write error (a full disk) it is removed and FILE is untouched. A run killed midway
// leaves FILE.tmp.<pid> holding every completed image (an array without its closing ']').
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "edet/detect/coco_dataset.hpp"
#include "edet/detect/coco_eval.hpp"
#include "edet/detect/detector.hpp"
#include "edet/detect/draw.hpp"
#include "edet/detect/labels.hpp"
#include "edet/detect/results_json.hpp"
#include "edet/io/checkpoint_cache.hpp"
#include "edet/io/checkpoints.hpp"
#include "edet/io/image.hpp"
#include "model_flags.hpp"

namespace {

std::string usage() {
    return std::string(
    "usage: edet-detect (--weights W | --model NAME) [options] IMAGE...\n"
    "\n"
    "Detects objects with an EfficientDet checkpoint and prints a table per image.\n"
    "\n"
    "  --weights W        weights file (.safetensors, .pth, or effdet's train.py checkpoint)\n"
    "  --model NAME       a published checkpoint by name (checkpoints.tsv), e.g. tf_efficientdet_d0:\n"
    "                     found in the cache ($EDET_HOME, else $XDG_CACHE_HOME/edet, else ~/.cache/edet),\n"
    "                     downloaded (curl/wget) and SHA-256 checked when missing\n"
    "  --offline          never download; say which URL to fetch and where to put it\n"
    "  --score S          minimum score to report, 0..1 (default 0.4; 0 with --coco)\n"
    "  --iou T            NMS IoU threshold (default 0.5)\n"
    "  --nms MODE         hard (per class, default), agnostic (across classes) or soft (gaussian)\n"
    "  --classes LIST     only these classes, names or category ids, comma separated (person,dog,18)\n"
    "  --json FILE        write all detections as COCO results JSON (written as images complete\n"
    "                     to FILE.tmp.<pid>, renamed to FILE at the end; checked before the first image)\n"
    "  --draw DIR         write each image with its boxes and labels into DIR\n"
    "  --list FILE        read image paths from FILE, one per line (blank lines and # comments skipped)\n"
    "  --shard K/N        process only images K, K+N, K+2N, ... (0 <= K < N) of the list\n"
    "  --coco ANN.json    detect every image a COCO annotation file lists (with --images DIR) and\n"
    "                     print the COCO mAP (pycocotools' summary; not with --shard: run edet-eval on\n"
    "                     the merged --json parts). Without --labels, a model whose class count is not\n"
    "                     90 takes the file's categories (sorted by id) as its labels\n"
    "  --images DIR       where --coco's file_names are\n"
    "  --threads N        worker threads, 1 to 4 x the cores or 64 if more (default: OMP_NUM_THREADS\n"
    "                     or all cores)\n"
    "  --quiet            no per-image table\n"
    "  -h, --help         this text\n"
    "Model flags (a custom or converted model; defaults: the file's metadata, then the variant's):\n") +
           edet_tools::ModelFlags::usage();
}

struct Args {
    std::string weights, model, json_path, draw_dir, coco, images_dir;
    edet_tools::ModelFlags flags;  // --variant --size ... --max --labels --ema --key
    bool offline = false;
    float score = -1.0f;  // unset: 0.4, or 0 with --coco (every detection, as effdet's validate.py)
    float iou = 0.5f;
    edet::detect::NmsMethod nms = edet::detect::NmsMethod::hard;
    std::vector<std::string> classes;  // names or category ids, looked up once the labels are known
    std::vector<std::string> images;
    int shard_k = 0, shard_n = 1;
    int threads = 0;
    bool quiet = false;
};

struct UsageError {
    std::string message;
};

float parse_float(const std::string& opt, const std::string& v, float lo, float hi) {
    char* end = nullptr;
    errno = 0;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno != 0 || !(d >= lo && d <= hi))
        throw UsageError{opt + " needs a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + v + "'"};
    return static_cast<float>(d);
}

int parse_int(const std::string& opt, const std::string& v, long lo, long hi) {
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || n < lo || n > hi)
        throw UsageError{opt + " needs an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + v + "'"};
    return static_cast<int>(n);
}

std::vector<std::string> read_list(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw UsageError{"cannot open --list file '" + path + "': " + std::strerror(errno)};
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
        std::size_t start = line.find_first_not_of(" \t");
        if (start == std::string::npos || line[start] == '#') continue;
        out.push_back(line.substr(start));
    }
    return out;
}

Args parse_args(int argc, char** argv) {
    Args a;
    std::vector<std::string> list_files;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw UsageError{arg + " needs a value"};
            return argv[++i];
        };
        if (arg == "-h" || arg == "--help") {
            std::fputs(usage().c_str(), stdout);
            std::exit(0);
        } else if (arg == "--weights") {
            a.weights = value();
        } else if (arg == "--model") {
            a.model = value();
        } else if (arg == "--offline") {
            a.offline = true;
        } else if (arg == "--score") {
            a.score = parse_float(arg, value(), 0.0f, 1.0f);
        } else if (arg == "--iou") {
            a.iou = parse_float(arg, value(), 0.0f, 1.0f);
        } else if (arg == "--nms") {
            const std::string m = value();
            if (m == "hard") a.nms = edet::detect::NmsMethod::hard;
            else if (m == "agnostic") a.nms = edet::detect::NmsMethod::agnostic;
            else if (m == "soft") a.nms = edet::detect::NmsMethod::soft;
            else throw UsageError{"--nms must be hard, agnostic or soft, got '" + m + "'"};
        } else if (arg == "--classes") {
            const std::string list = value();
            std::size_t start = 0;
            while (start <= list.size()) {
                std::size_t comma = list.find(',', start);
                if (comma == std::string::npos) comma = list.size();
                const std::string name = list.substr(start, comma - start);
                if (!name.empty()) a.classes.push_back(name);
                start = comma + 1;
            }
            if (a.classes.empty()) throw UsageError{"--classes is empty"};
        } else if (arg == "--json") {
            a.json_path = value();
        } else if (arg == "--draw") {
            a.draw_dir = value();
        } else if (arg == "--list") {
            list_files.push_back(value());
        } else if (arg == "--coco") {
            a.coco = value();
        } else if (arg == "--images") {
            a.images_dir = value();
        } else if (arg == "--shard") {
            const std::string s = value();
            const std::size_t slash = s.find('/');
            if (slash == std::string::npos) throw UsageError{"--shard needs K/N, got '" + s + "'"};
            a.shard_n = parse_int("--shard N", s.substr(slash + 1), 1, 1 << 20);
            a.shard_k = parse_int("--shard K", s.substr(0, slash), 0, a.shard_n - 1);
        } else if (arg == "--threads") {
            a.threads = parse_int(arg, value(), 1, edet::max_num_threads());
        } else if (arg == "--quiet") {
            a.quiet = true;
        } else if (arg.size() > 1 && arg[0] == '-' && arg != "-") {
            bool model_flag = false;
            try {
                model_flag = a.flags.parse(arg, value);
            } catch (const edet_tools::FlagError& e) {
                throw UsageError{e.message};
            }
            if (!model_flag) throw UsageError{"unknown option '" + arg + "'"};
        } else {
            a.images.push_back(arg);
        }
    }
    for (const std::string& f : list_files) {
        const std::vector<std::string> more = read_list(f);
        a.images.insert(a.images.end(), more.begin(), more.end());
    }
    if (a.weights.empty() == a.model.empty()) throw UsageError{"give exactly one of --weights or --model"};
    if (!a.model.empty() && !edet::io::find_checkpoint(a.model))
        throw UsageError{"unknown --model '" + a.model + "' (see checkpoints.tsv for the published names)"};
    if (!a.coco.empty() && a.images_dir.empty()) throw UsageError{"--coco needs --images DIR (where its file_names are)"};
    if (a.coco.empty() && !a.images_dir.empty()) throw UsageError{"--images goes with --coco ANNOTATIONS.json"};
    if (!a.coco.empty() && !a.images.empty()) throw UsageError{"--coco takes its images from the annotation file, not IMAGE or --list"};
    if (a.coco.empty() && a.images.empty()) throw UsageError{"no images given"};
    return a;
}

// Output path for --draw: DIR/<stem>.png, or .jpg for JPEG inputs; a repeated stem gets
// the image's index appended.
std::string draw_path(const std::string& dir, const std::string& image, std::size_t index,
                      std::vector<std::string>& used) {
    const std::filesystem::path p(image);
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string out_ext = (ext == ".jpg" || ext == ".jpeg") ? ".jpg" : ".png";
    std::string stem = p.stem().string();
    if (stem.empty()) stem = "image";
    if (std::find(used.begin(), used.end(), stem) != used.end()) stem += "_" + std::to_string(index);
    used.push_back(stem);
    return (std::filesystem::path(dir) / (stem + out_ext)).string();
}

// The --json output: a temporary file beside the target, written as images complete and
// renamed over the target only when whole (see the top of this file).
class ResultsFile {
public:
    ResultsFile() = default;
    ResultsFile(const ResultsFile&) = delete;
    ResultsFile& operator=(const ResultsFile&) = delete;
    ~ResultsFile() { discard(); }

    // Creates the temporary file; "" on success, else why not.
    std::string open(const std::string& target) {
        target_ = target;
        std::error_code ec;
        if (std::filesystem::is_directory(target, ec)) return "it is a directory";
        // A symlink is written through (the file it names is replaced), as a plain write would.
        if (std::filesystem::is_symlink(target, ec)) {
            const std::filesystem::path real = std::filesystem::weakly_canonical(target, ec);
            if (ec) return "cannot resolve the symlink: " + ec.message();
            target_ = real.string();
        }
        tmp_ = target_ + ".tmp." + std::to_string(static_cast<long>(::getpid()));
        for (int attempt = 0; attempt < 2 && fd_ < 0; ++attempt) {
            fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (fd_ < 0 && errno == EEXIST && attempt == 0) ::unlink(tmp_.c_str());  // left by a dead run with our pid
            else if (fd_ < 0) return "cannot create " + tmp_ + ": " + std::strerror(errno);
        }
        return write(stream_.begin());
    }

    // Appends one image's entries; "" on success, else why not.
    std::string add(const edet::detect::ImageResults& r) { return write(stream_.add(r)); }

    // Closes the array, flushes it to the disk and renames it over the target.
    std::string commit() {
        std::string why = write(stream_.end() + "\n");
        if (why.empty() && ::fsync(fd_) != 0) why = std::string("fsync: ") + std::strerror(errno);
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0 && why.empty()) why = std::string("close: ") + std::strerror(errno);
        if (why.empty() && ::rename(tmp_.c_str(), target_.c_str()) != 0)
            why = "cannot rename " + tmp_ + " to it: " + std::strerror(errno);
        if (!why.empty()) {
            ::unlink(tmp_.c_str());
            return why;
        }
        tmp_.clear();
        // The rename itself is durable once the directory is synced (best effort).
        const std::string dir = std::filesystem::path(target_).parent_path().string();
        const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            ::fsync(dfd);
            ::close(dfd);
        }
        return {};
    }

    // Removes the temporary file (the target is untouched).
    void discard() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        if (!tmp_.empty()) ::unlink(tmp_.c_str());
        tmp_.clear();
    }

private:
    std::string write(const std::string& text) {
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return "writing " + tmp_ + ": " + std::strerror(n < 0 ? errno : EIO);
            done += static_cast<std::size_t>(n);
        }
        return {};
    }

    std::string target_, tmp_;
    int fd_ = -1;
    edet::detect::CocoResultsStream stream_;
};

void print_table(const std::string& path, const edet::io::Image& img, const std::vector<edet::Detection>& dets) {
    std::printf("%s (%dx%d): %zu detection%s\n", path.c_str(), img.width, img.height, dets.size(),
                dets.size() == 1 ? "" : "s");
    if (dets.empty()) return;
    std::printf("  %3s  %-16s %5s  %7s %7s %7s %7s\n", "#", "label", "score", "x1", "y1", "x2", "y2");
    for (std::size_t i = 0; i < dets.size(); ++i) {
        const edet::Detection& d = dets[i];
        std::printf("  %3zu  %-16s %5.3f  %7.1f %7.1f %7.1f %7.1f\n", i + 1, d.label.c_str(), static_cast<double>(d.score),
                    static_cast<double>(d.box.x1), static_cast<double>(d.box.y1), static_cast<double>(d.box.x2),
                    static_cast<double>(d.box.y2));
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (!edet::cpu_supports_compiled_arch()) {
        std::fprintf(stderr, "edet-detect: this build uses %s instructions, which this CPU lacks; rebuild with -DEDET_ARCH=...\n",
                     edet::compiled_arch());
        return 2;
    }
    Args args;
    try {
        args = parse_args(argc, argv);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "edet-detect: %s\n\n%s", e.message.c_str(), usage().c_str());
        return 2;
    }
    if (args.threads > 0) edet::set_num_threads(args.threads);
    // The outputs are checked before anything is loaded or run.
    ResultsFile json;
    if (!args.json_path.empty()) {
        const std::string why = json.open(args.json_path);
        if (!why.empty()) {
            std::fprintf(stderr, "edet-detect: cannot write --json '%s': %s (nothing was run)\n", args.json_path.c_str(),
                         why.c_str());
            return 2;
        }
    }
    if (!args.draw_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(args.draw_dir, ec);
        if (ec || !std::filesystem::is_directory(args.draw_dir)) {
            std::fprintf(stderr, "edet-detect: cannot create --draw directory '%s': %s (nothing was run)\n",
                         args.draw_dir.c_str(), ec ? ec.message().c_str() : "not a directory");
            return 2;
        }
    }

    // --coco: the annotation file's images (ids as the file's), read before the weights.
    edet::detect::CocoDataset coco;
    std::vector<std::int64_t> coco_ids;  // per entry of args.images
    if (!args.coco.empty()) {
        try {
            coco = edet::detect::load_coco_dataset(args.coco);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "edet-detect: --coco: %s\n", e.what());
            return 1;
        }
        for (std::size_t i = 0; i < coco.image_ids.size(); ++i) {
            if (coco.image_files[i].empty()) {
                std::fprintf(stderr, "edet-detect: --coco %s: images[%zu] (id %lld) has no file_name\n", args.coco.c_str(), i,
                             static_cast<long long>(coco.image_ids[i]));
                return 1;
            }
            args.images.push_back((std::filesystem::path(args.images_dir) / coco.image_files[i]).string());
            coco_ids.push_back(coco.image_ids[i]);
        }
        if (args.images.empty()) {
            std::fprintf(stderr, "edet-detect: --coco %s lists no images\n", args.coco.c_str());
            return 1;
        }
    }

    std::vector<std::string> images;
    std::vector<std::size_t> list_index;  // position in the full list (image_id fallback)
    for (std::size_t i = 0; i < args.images.size(); ++i)
        if (static_cast<int>(i % static_cast<std::size_t>(args.shard_n)) == args.shard_k) {
            images.push_back(args.images[i]);
            list_index.push_back(i);
        }

    std::unique_ptr<edet::Detector> det;
    try {
        edet::detect::ModelDescription description = args.flags.description;
        if (!args.model.empty()) {
            // By name: the cache, else a verified download (never a partial file).
            edet::io::FetchOptions fetch;
            if (args.offline) fetch.allow_download = false;
            args.weights = edet::io::resolve_checkpoint(args.model, fetch);
            if (description.variant.empty()) description.variant = edet::io::find_checkpoint(args.model)->variant;
        }
        // Without --variant: the file's metadata, else a release file name
        // (tf_efficientdet_d0_34-f153e0cf.pth) names it (detect::resolve_model).
        edet::io::WeightsOptions weights;
        weights.key = args.flags.key;
        det = std::make_unique<edet::Detector>(edet::Detector::load(args.weights, description, weights, args.flags.precision));
        // --coco without --labels: a COCO-91 model keeps COCO's ids (they are val2017's); any
        // other takes the annotation file's categories, sorted by id, as effdet numbers them.
        if (!args.coco.empty() && !description.labels && det->num_classes() != edet::detect::kCocoNumClasses) {
            description.labels = edet::detect::LabelMap::from_file(args.coco);
            det = std::make_unique<edet::Detector>(edet::Detector::load(args.weights, description, weights, args.flags.precision));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "edet-detect: cannot load the weights: %s\n", e.what());
        return 1;
    }
    if (!args.quiet)
        std::printf("# %s (%dx%d input, %d classes%s%s, %s build)\n", det->variant().name, det->input_width(),
                    det->input_height(), det->num_classes(), det->labels().empty() ? "" : ", labels ",
                    det->labels().source().c_str(), edet::compiled_arch());

    edet::DetectOptions opt;
    opt.score_threshold = args.score >= 0 ? args.score : (args.coco.empty() ? 0.4f : 0.0f);
    opt.iou_threshold = args.iou;
    opt.nms = args.nms;
    for (const std::string& name : args.classes) {
        const int k = det->class_number(name);
        if (k < 0) {
            std::fprintf(stderr, "edet-detect: unknown class '%s' in --classes: the model's classes are %s\n", name.c_str(),
                         det->labels().empty() ? edet::cat("class 1 .. class ", det->num_classes()).c_str()
                                               : edet::cat(det->labels().source(), "'s names or category ids").c_str());
            return 2;
        }
        opt.allow_classes.push_back(k);
    }

    const bool progress = images.size() > 1;
    const bool tty = isatty(2) != 0;
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::string> failures, used_stems;
    std::vector<edet::detect::CocoResult> coco_results;
    for (std::size_t i = 0; i < images.size(); ++i) {
        const std::string& path = images[i];
        if (progress) {
            // [  12/5000   0%] 4.1 img/s, 20:15 left  path
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            const double rate = i > 0 && secs > 0 ? static_cast<double>(i) / secs : 0.0;
            char eta[32] = "";
            if (rate > 0) {
                const long left = static_cast<long>(static_cast<double>(images.size() - i) / rate);
                std::snprintf(eta, sizeof eta, ", %ld:%02ld left", left / 60, left % 60);
            }
            std::fprintf(stderr, tty ? "\r\033[K[%zu/%zu %3d%%] %.1f img/s%s  %s" : "[%zu/%zu %3d%%] %.1f img/s%s  %s\n", i + 1,
                         images.size(), static_cast<int>(100 * i / images.size()), rate, eta, path.c_str());
            std::fflush(stderr);
        }
        try {
            edet::io::Image img = edet::io::read_image(path);
            const std::vector<edet::Detection> dets = det->detect(img, opt);
            if (!args.quiet) print_table(path, img, dets);
            edet::detect::ImageResults r;
            r.file_name = path;
            r.image_id = !coco_ids.empty() ? coco_ids[list_index[i]] : edet::detect::numeric_image_id(path);
            if (r.image_id < 0) r.image_id = static_cast<std::int64_t>(list_index[i]);
            if (!args.coco.empty())
                for (const auto& d : dets)
                    coco_results.push_back({r.image_id, d.class_id,
                                            {d.box.x1, d.box.y1, d.box.x2 - d.box.x1, d.box.y2 - d.box.y1},
                                            static_cast<double>(d.score)});
            for (const auto& d : dets)
                r.boxes.push_back({d.box.x1, d.box.y1, d.box.x2, d.box.y2, d.score, d.class_id});
            // The detections are saved before drawing: an image whose drawing then fails is
            // named FAILED, but its results are not lost.
            if (!args.json_path.empty()) {
                const std::string why = json.add(r);
                if (!why.empty()) {
                    if (progress && tty) std::fputc('\n', stderr);
                    std::fprintf(stderr, "edet-detect: cannot write --json '%s': %s; stopped at image %zu of %zu, '%s' %s\n",
                                 args.json_path.c_str(), why.c_str(), i + 1, images.size(), args.json_path.c_str(),
                                 std::filesystem::exists(args.json_path) ? "left as it was" : "not created");
                    json.discard();
                    return 1;
                }
            }
            if (!args.draw_dir.empty()) {
                std::vector<edet::detect::DrawItem> items;
                for (const auto& d : dets) {
                    char text[64];
                    std::snprintf(text, sizeof text, "%s %.2f", d.label.c_str(), static_cast<double>(d.score));
                    items.push_back({d.box.x1, d.box.y1, d.box.x2, d.box.y2, d.class_index + 1, text});
                }
                edet::detect::DrawOptions dopt;
                dopt.text_scale = std::max(1, std::min(img.width, img.height) / 400 + 1);
                dopt.thickness = dopt.text_scale + 1;
                edet::detect::draw_detections(img, items, dopt);
                const std::string out = draw_path(args.draw_dir, path, i, used_stems);
                try {
                    edet::io::write_image(out, img);
                } catch (const std::exception& e) {
                    throw std::runtime_error(std::string("drawing into ") + out + ": " + e.what() +
                                             (args.json_path.empty() ? "" : " (its detections are in the --json file)"));
                }
            }
        } catch (const std::exception& e) {
            if (progress && tty) std::fputc('\n', stderr);
            std::fprintf(stderr, "edet-detect: FAILED %s: %s\n", path.c_str(), e.what());
            failures.push_back(path);
        }
    }
    if (progress && tty) std::fputc('\n', stderr);

    if (!args.json_path.empty()) {
        const std::string why = json.commit();
        if (!why.empty()) {
            std::fprintf(stderr, "edet-detect: cannot write --json '%s': %s; '%s' %s\n", args.json_path.c_str(), why.c_str(),
                         args.json_path.c_str(), std::filesystem::exists(args.json_path) ? "left as it was" : "not created");
            return 1;
        }
    }
    if (!args.coco.empty() && args.shard_n == 1) {
        // The mAP of what was detected (failed images count as images without detections).
        try {
            edet::detect::CocoEvalOptions eo;
            eo.annotations_name = args.coco;
            eo.results_name = "edet-detect";
            const edet::detect::CocoEvaluation ev = edet::detect::evaluate_coco(coco, coco_results, eo);
            std::printf("# COCO bbox mAP of %zu image%s against %s%s:\n%s", images.size(), images.size() == 1 ? "" : "s",
                        args.coco.c_str(), failures.empty() ? "" : " (failed images count as empty)",
                        edet::detect::coco_summary(ev).c_str());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "edet-detect: COCO evaluation: %s\n", e.what());
            return 1;
        }
    } else if (!args.coco.empty()) {
        std::fprintf(stderr, "edet-detect: shard %d/%d done; merge the --json parts and run edet-eval %s on them for the mAP\n",
                     args.shard_k, args.shard_n, args.coco.c_str());
    }
    if (!failures.empty()) {
        std::fprintf(stderr, "edet-detect: %zu of %zu image%s failed:", failures.size(), images.size(),
                     images.size() == 1 ? "" : "s");
        for (const auto& f : failures) std::fprintf(stderr, " %s", f.c_str());
        std::fputc('\n', stderr);
        return 1;
    }
    return 0;
}
