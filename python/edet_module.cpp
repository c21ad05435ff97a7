// python/edet_module.cpp - edet._edet, the compiled half of `import edet` (issue 19).
//
// One translation unit: the whole library is compiled here once, for the instruction set
// the build picked (-march=native by default). The Python half (python/edet/__init__.py)
// turns Python spellings (tuples, lists, PathLike, class names) into the plain values
// below; this file owns the arrays, the GIL and the error mapping.
//
// What is copied (and why):
//   - an HxWx3 uint8 image is copied once into io::Image's std::vector (letterboxing reads
//     io::Image); the copy is done with the GIL released;
//   - net(x): the NCHW float32 input is transposed into the network's NHWC arena input,
//     and each NHWC output is transposed into a fresh NCHW array (the network's outputs
//     live in its activation arena and are overwritten by the next call);
//   - detections are written straight into a new (N, 6) float32 array.
// The GIL is released for the whole forward / detect, copies included: two Python threads
// with their own Detector run in parallel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "edet/core/arch.hpp"
#include "edet/detect/detector.hpp"
#include "edet/io/checkpoint_cache.hpp"
#include "edet/io/image.hpp"
#include "edet/models/efficientdet.hpp"

#ifndef EDET_VERSION
#define EDET_VERSION "0.0.0"
#endif

namespace py = pybind11;

namespace {

// An edet::Error that is about the caller's values (sizes, options, names, shapes): the
// Python side sees ValueError. Anything else edet throws is RuntimeError, except a file
// that cannot be opened (FileNotFoundError).
struct ValueErrorFromEdet : std::runtime_error {
    using std::runtime_error::runtime_error;
};

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Runs f; an edet::Error it throws becomes a ValueError (for calls that only check values).
template <class F>
auto values(F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const edet::Error& e) {
        if (contains(e.what(), "cannot open") || contains(e.what(), "does not exist")) throw;
        throw ValueErrorFromEdet(e.what());
    }
}

bool is_value_error(const edet::Error& e) {
    const std::string& s = e.subject();
    for (const char* p : {"DetectOptions", "input", "image", "size", "aspect ratios", "variant", "checkpoint '", "label",
                          "class", "anchor", "num_", "max_detections", "threads"})
        if (s.compare(0, std::strlen(p), p) == 0) return true;
    return false;
}

edet::detect::NmsMethod nms_method(const std::string& name) {
    if (name == "hard") return edet::detect::NmsMethod::hard;
    if (name == "agnostic") return edet::detect::NmsMethod::agnostic;
    if (name == "soft") return edet::detect::NmsMethod::soft;
    throw py::value_error("nms must be 'hard', 'agnostic' or 'soft', not '" + name + "'");
}

// An (H, W, 3) uint8 C-contiguous array's bytes and size (checked with the GIL held).
struct ImageRef {
    py::array array;  // keeps the buffer alive
    std::string path;
    int height = 0, width = 0;
};

ImageRef image_ref(const py::object& obj) {
    ImageRef r;
    if (py::isinstance<py::str>(obj)) {
        r.path = obj.cast<std::string>();
        return r;
    }
    if (!py::isinstance<py::array>(obj))
        throw py::type_error("image must be an (H, W, 3) uint8 numpy array or a path, not " +
                             std::string(py::str(obj.get_type().attr("__name__"))));
    py::array a = obj.cast<py::array>();
    if (!a.dtype().is(py::dtype::of<std::uint8_t>()))
        throw py::value_error("image must have dtype uint8 (RGB, 0..255), not " + std::string(py::str(a.dtype())));
    if (a.ndim() != 3 || a.shape(2) != 3)
        throw py::value_error("image must have shape (H, W, 3) (RGB), not " + std::string(py::str(a.attr("shape"))));
    if (a.shape(0) < 1 || a.shape(1) < 1)
        throw py::value_error("image is empty: shape " + std::string(py::str(a.attr("shape"))));
    if (!(a.flags() & py::array::c_style))
        throw py::value_error("image must be C-contiguous (use numpy.ascontiguousarray(image))");
    if (a.shape(0) > 1 << 16 || a.shape(1) > 1 << 16)
        throw py::value_error("image side larger than 65536: shape " + std::string(py::str(a.attr("shape"))));
    r.height = static_cast<int>(a.shape(0));
    r.width = static_cast<int>(a.shape(1));
    r.array = std::move(a);
    return r;
}

// Called with the GIL released: the array is kept alive by `ref`.
edet::io::Image to_image(const ImageRef& ref) {
    if (!ref.path.empty()) return edet::io::read_image(ref.path);
    edet::io::Image img;
    img.width = ref.width;
    img.height = ref.height;
    img.rgb.resize(static_cast<std::size_t>(ref.width) * ref.height * 3);
    std::memcpy(img.rgb.data(), ref.array.data(), img.rgb.size());
    return img;
}

struct Result {
    std::vector<float> rows;  // N x 6
    std::vector<std::string> labels;
    std::vector<int> class_index;
};

Result to_result(const std::vector<edet::Detection>& dets) {
    Result r;
    r.rows.reserve(dets.size() * 6);
    for (const edet::Detection& d : dets) {
        r.rows.insert(r.rows.end(), {d.box.x1, d.box.y1, d.box.x2, d.box.y2, d.score, static_cast<float>(d.class_id)});
        r.labels.push_back(d.label);
        r.class_index.push_back(d.class_index);
    }
    return r;
}

// A vector moved into a numpy array that owns it (no copy).
template <class T>
py::array_t<T> owned_array(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
    auto* heap = new std::vector<T>(std::move(v));
    py::capsule owner(heap, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    return py::array_t<T>(shape, heap->data(), owner);
}

py::tuple result_tuple(Result&& r) {
    const auto n = static_cast<py::ssize_t>(r.labels.size());
    return py::make_tuple(owned_array(std::move(r.rows), {n, 6}), py::cast(r.labels),
                          owned_array(std::move(r.class_index), {n}));
}

class PyDetector {
public:
    PyDetector(const std::string& weights, const std::string& variant, int height, int width,
               std::optional<std::string> labels_file, std::optional<std::vector<std::string>> label_names,
               int num_classes, int num_scales, const std::string& aspect_ratios, double anchor_scale,
               int max_detections, const std::string& key, int threads, const std::string& precision)
        : threads_(threads) {
        const edet::Precision p = edet::parse_precision(precision);
        edet::detect::ModelDescription d = values([&] {
            edet::detect::ModelDescription m;
            m.variant = variant;
            m.image_height = height;
            m.image_width = width;
            m.num_classes = num_classes;
            m.num_scales = num_scales;
            if (!aspect_ratios.empty()) m.aspect_ratios = edet::detect::parse_aspect_ratios(aspect_ratios);
            m.anchor_scale = anchor_scale;
            m.max_detections = max_detections;
            if (label_names) m.labels = edet::detect::LabelMap::from_names(*label_names);
            return m;
        });
        if (labels_file) d.labels = edet::detect::LabelMap::from_file(*labels_file);
        edet::io::WeightsOptions wo;
        wo.key = key;
        py::gil_scoped_release release;
        det_ = std::make_unique<edet::Detector>(edet::Detector::load(weights, d, wo, p));
    }

    py::tuple detect(const py::object& image, float score_threshold, int max_detections, float iou_threshold,
                     const std::string& nms, const std::vector<int>& classes, int threads) {
        const edet::DetectOptions opt = options(score_threshold, max_detections, iou_threshold, nms, classes, threads);
        const ImageRef ref = image_ref(image);
        Result r;
        {
            py::gil_scoped_release release;
            r = to_result(det_->detect(to_image(ref), opt));
        }
        return result_tuple(std::move(r));
    }

    // detect() plus the seconds spent inside with the GIL released (for the overhead bench).
    py::tuple detect_timed(const py::object& image, float score_threshold) {
        const edet::DetectOptions opt = options(score_threshold, -1, 0.5f, "hard", {}, -1);
        const ImageRef ref = image_ref(image);
        Result r;
        double seconds = 0;
        {
            py::gil_scoped_release release;
            const auto t0 = std::chrono::steady_clock::now();
            r = to_result(det_->detect(to_image(ref), opt));
            seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        }
        return py::make_tuple(result_tuple(std::move(r)), seconds);
    }

    py::list detect_batch(const py::list& images, float score_threshold, int max_detections, float iou_threshold,
                          const std::string& nms, const std::vector<int>& classes, int threads, int batch_size) {
        edet::DetectOptions opt = options(score_threshold, max_detections, iou_threshold, nms, classes, threads);
        opt.batch_size = batch_size;
        std::vector<ImageRef> refs;
        for (const py::handle& h : images) refs.push_back(image_ref(py::reinterpret_borrow<py::object>(h)));
        std::vector<Result> results;
        {
            py::gil_scoped_release release;
            std::vector<edet::io::Image> imgs;
            imgs.reserve(refs.size());
            for (const ImageRef& r : refs) imgs.push_back(to_image(r));
            for (const auto& dets : det_->detect_batch(imgs, opt)) results.push_back(to_result(dets));
        }
        py::list out;
        for (Result& r : results) out.append(result_tuple(std::move(r)));
        return out;
    }

    int class_number(const std::string& name_or_id) const { return det_->class_number(name_or_id); }
    std::string variant() const { return det_->variant().name; }
    int num_classes() const { return det_->num_classes(); }
    py::tuple input_size() const { return py::make_tuple(det_->input_height(), det_->input_width()); }
    std::string precision() const { return edet::to_string(det_->network().precision()); }
    std::vector<std::string> labels() const {
        std::vector<std::string> v;
        for (int k = 0; k < det_->num_classes(); ++k) v.push_back(det_->labels().name(k));
        return v;
    }
    std::vector<int> category_ids() const {
        std::vector<int> v;
        for (int k = 0; k < det_->num_classes(); ++k) v.push_back(det_->labels().category_id(k));
        return v;
    }

private:
    edet::DetectOptions options(float score_threshold, int max_detections, float iou_threshold, const std::string& nms,
                                const std::vector<int>& classes, int threads) const {
        edet::DetectOptions opt;
        opt.score_threshold = score_threshold;
        opt.max_detections = max_detections;
        opt.iou_threshold = iou_threshold;
        opt.nms = nms_method(nms);
        opt.allow_classes = classes;
        opt.threads = threads >= 0 ? threads : threads_;
        return opt;
    }

    int threads_ = 0;
    std::unique_ptr<edet::Detector> det_;
};

// An NHWC view transposed into a new NCHW array (built with the GIL released).
struct Nchw {
    std::vector<float> data;
    std::vector<py::ssize_t> shape;
};

Nchw to_nchw(edet::TensorView<const float> v) {
    const edet::Shape s = v.shape();
    Nchw o;
    o.shape = {s.n, s.c, s.h, s.w};
    o.data.resize(static_cast<std::size_t>(s.n) * s.c * s.h * s.w);
    float* dst = o.data.data();
    for (int n = 0; n < s.n; ++n)
        for (int c = 0; c < s.c; ++c)
            for (int y = 0; y < s.h; ++y)
                for (int x = 0; x < s.w; ++x) *dst++ = v.data()[v.offset(n, y, x, c)];
    return o;
}

py::list to_list(std::vector<Nchw>&& maps) {
    py::list l;
    for (Nchw& m : maps) l.append(owned_array(std::move(m.data), m.shape));
    return l;
}

class PyNetwork {
public:
    PyNetwork(const std::string& weights, const std::string& variant, int height, int width, const std::string& key,
              int threads, const std::string& path, const std::string& precision)
        : threads_(threads) {
        const edet::Precision p = edet::parse_precision(precision);
        edet::io::WeightsOptions wo;
        wo.key = key;
        const edet::ForwardPath forward_path = edet::parse_forward_path(path);
        py::gil_scoped_release release;
        const auto source = edet::io::open_weights(weights, wo);
        net_ = std::make_unique<edet::EfficientDet>(
            edet::EfficientDet::from_source(*source, variant, height, width, forward_path, p));
    }

    // (class_outputs, box_outputs) for an (N, 3, H, W) float32 C-contiguous array.
    py::tuple call(const py::array& x, int threads) {
        std::vector<Nchw> cls, box;
        run(x, threads, [&](const edet::HeadOutputs& o) {
            for (const auto& v : o.class_out) cls.push_back(to_nchw(v));
            for (const auto& v : o.box_out) box.push_back(to_nchw(v));
        });
        return py::make_tuple(to_list(std::move(cls)), to_list(std::move(box)));
    }

    // (backbone P3..P5, BiFPN P3..P7) feature maps, NCHW.
    py::tuple features(const py::array& x, int threads) {
        std::vector<Nchw> backbone, fpn;
        run(x, threads, [&](const edet::HeadOutputs& o) {
            for (const auto& v : o.backbone) backbone.push_back(to_nchw(v));
            for (const auto& v : o.fpn) fpn.push_back(to_nchw(v));
        });
        return py::make_tuple(to_list(std::move(backbone)), to_list(std::move(fpn)));
    }

    std::string name() const { return net_->config().name; }
    int num_classes() const { return net_->num_classes(); }
    py::tuple input_size() const { return py::make_tuple(net_->config().image_height, net_->config().image_width); }
    std::string precision() const { return edet::to_string(net_->precision()); }

private:
    template <class Collect>
    void run(const py::array& x, int threads, Collect&& collect) {
        if (!x.dtype().is(py::dtype::of<float>()))
            throw py::value_error("input must have dtype float32, not " + std::string(py::str(x.dtype())));
        if (x.ndim() != 4 || x.shape(1) != 3)
            throw py::value_error("input must have shape (N, 3, H, W), not " + std::string(py::str(x.attr("shape"))));
        if (!(x.flags() & py::array::c_style))
            throw py::value_error("input must be C-contiguous (use numpy.ascontiguousarray(x))");
        const int n = static_cast<int>(x.shape(0)), h = static_cast<int>(x.shape(2)), w = static_cast<int>(x.shape(3));
        const auto& c = net_->config();
        if (n < 1 || h != c.image_height || w != c.image_width)
            throw py::value_error("input shape " + std::string(py::str(x.attr("shape"))) + ": " + c.name +
                                  " is set up for (N >= 1, 3, " + std::to_string(c.image_height) + ", " +
                                  std::to_string(c.image_width) + ")");
        py::gil_scoped_release release;
        edet::ThreadCountScope scope(threads >= 0 ? threads : threads_);
        if (input_.empty() || input_.n() != n) input_ = edet::Tensor<float>(edet::Shape{n, h, w, 3});
        const float* src = static_cast<const float*>(x.data());
        float* dst = input_.view().data();
        const std::size_t plane = static_cast<std::size_t>(h) * w;
        for (int b = 0; b < n; ++b)
            for (std::size_t p = 0; p < plane; ++p)
                for (int ch = 0; ch < 3; ++ch)
                    dst[(static_cast<std::size_t>(b) * plane + p) * 3 + ch] = src[(static_cast<std::size_t>(b) * 3 + ch) * plane + p];
        collect(net_->forward(input_.view()));
    }

    int threads_ = 0;
    std::unique_ptr<edet::EfficientDet> net_;
    edet::Tensor<float> input_;
};

std::vector<std::string> variant_names() {
    std::vector<std::string> v;
    for (const auto& info : edet::detect::variants()) v.emplace_back(info.name);
    return v;
}

}  // namespace

PYBIND11_MODULE(_edet, m) {
    if (!edet::cpu_supports_compiled_arch())
        throw py::import_error(std::string("edet was compiled for ") + edet::compiled_arch() +
                               " and this CPU lacks that instruction set; rebuild it on this machine "
                               "(pip install --no-build-isolation --no-index .)");
    m.doc() = "edet: EfficientDet on CPU (compiled part; use the `edet` package)";
    m.attr("__version__") = EDET_VERSION;
    m.attr("compiled_arch") = edet::compiled_arch();

    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const ValueErrorFromEdet& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        } catch (const edet::Error& e) {
            const std::string msg = e.what();
            if (contains(msg, "cannot open") || contains(msg, "does not exist") || contains(msg, "No such file") ||
                contains(msg, "not in the cache"))
                PyErr_SetString(PyExc_FileNotFoundError, msg.c_str());
            else if (is_value_error(e))
                PyErr_SetString(PyExc_ValueError, msg.c_str());
            else
                PyErr_SetString(PyExc_RuntimeError, msg.c_str());
        }
    });

    m.def("variants", &variant_names, "The published variant names (detect::variants()).");
    // The cached file of a published checkpoint, downloaded when missing ($EDET_OFFLINE=1:
    // FileNotFoundError saying where to put it); unknown names are ValueError.
    m.def("resolve_checkpoint", [](const std::string& name) {
        py::gil_scoped_release release;
        return edet::io::resolve_checkpoint(name);
    });

    py::class_<PyDetector>(m, "_Detector")
        .def(py::init<const std::string&, const std::string&, int, int, std::optional<std::string>,
                      std::optional<std::vector<std::string>>, int, int, const std::string&, double, int,
                      const std::string&, int, const std::string&>())
        .def("detect", &PyDetector::detect)
        .def("detect_timed", &PyDetector::detect_timed)
        .def("detect_batch", &PyDetector::detect_batch)
        .def("class_number", &PyDetector::class_number)
        .def_property_readonly("variant", &PyDetector::variant)
        .def_property_readonly("num_classes", &PyDetector::num_classes)
        .def_property_readonly("input_size", &PyDetector::input_size)
        .def_property_readonly("labels", &PyDetector::labels)
        .def_property_readonly("category_ids", &PyDetector::category_ids)
        .def_property_readonly("precision", &PyDetector::precision);

    py::class_<PyNetwork>(m, "_Network")
        .def(py::init<const std::string&, const std::string&, int, int, const std::string&, int, const std::string&,
                      const std::string&>())
        .def("__call__", &PyNetwork::call)
        .def("features", &PyNetwork::features)
        .def_property_readonly("name", &PyNetwork::name)
        .def_property_readonly("num_classes", &PyNetwork::num_classes)
        .def_property_readonly("input_size", &PyNetwork::input_size)
        .def_property_readonly("precision", &PyNetwork::precision);
}
