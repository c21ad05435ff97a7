"""edet: EfficientDet object detection on CPU, from NumPy.

    import edet, numpy as np
    det = edet.Detector(model="tf_efficientdet_d0")            # or weights="d0.safetensors"
    dets = det.detect(image)          # image: (H, W, 3) uint8 RGB ndarray, or a path
    dets.boxes                        # (N, 6) float32: x1, y1, x2, y2, score, category id
    dets.labels                       # N class names

    net = edet.EfficientDet.load("d0.safetensors")
    class_outputs, box_outputs = net(x)   # x: (N, 3, H, W) float32, as effdet's model(x)

The GIL is released for every forward and detect: Python threads each with their own
Detector (or EfficientDet) run in parallel. One instance is not thread-safe.

What is copied: a uint8 image once into edet's image buffer (letterboxing reads it); net(x)
transposes NCHW into the network's NHWC input and each output map back into a new NCHW
array. Arrays that are not C-contiguous or have the wrong dtype are refused (ValueError),
never converted silently.

Errors: ValueError for bad values (shapes, dtypes, options, names), FileNotFoundError for
missing files, RuntimeError for anything else edet reports (e.g. a malformed weights file);
the message is edet's.
"""
import os as _os

from . import _edet

__version__ = _edet.__version__
compiled_arch = _edet.compiled_arch

__all__ = ["Detector", "Detections", "EfficientDet", "variants", "__version__"]


def variants():
    """The published variant names (checkpoint names), e.g. 'tf_efficientdet_d0'."""
    return list(_edet.variants())


def _path(p, what):
    p = _os.fspath(p)
    if not isinstance(p, str):
        p = _os.fsdecode(p)
    if not _os.path.exists(p):
        raise FileNotFoundError(f"{what} '{p}' does not exist")
    return p


def _weights_path(weights, model):
    if (weights is None) == (model is None):
        raise ValueError("give exactly one of weights= (a file) or model= (a published name, see edet.variants())")
    if weights is not None:
        return _path(weights, "weights file")
    return _edet.resolve_checkpoint(str(model))


def _check_precision(precision):
    if precision not in ("fp32", "bf16", "bf16-emulated"):
        raise ValueError(f"precision must be 'fp32', 'bf16' or 'bf16-emulated', got {precision!r}")


def _size(size):
    if size is None:
        return 0, 0
    if isinstance(size, str):
        parts = size.lower().split("x")
        if len(parts) == 1:
            parts = parts * 2
        if len(parts) != 2:
            raise ValueError(f"size '{size}' is not 'HxW'")
        try:
            return int(parts[0]), int(parts[1])
        except ValueError:
            raise ValueError(f"size '{size}' is not 'HxW'") from None
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def _aspect_ratios(ratios):
    if ratios is None:
        return ""
    if isinstance(ratios, str):
        return ratios
    items = []
    for r in ratios:
        if isinstance(r, (tuple, list)):
            x, y = r
            items.append(f"{float(x)!r}x{float(y)!r}")
        else:
            items.append(repr(float(r)))
    if not items:
        raise ValueError("aspect_ratios is empty")
    return ",".join(items)


def _image(image):
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        return _path(image, "image")
    return image


class Detections:
    """Detections of one image, best first.

    boxes:       (N, 6) float32 ndarray: x1, y1, x2, y2 (image pixels), score, category id
    labels:      list of N class names
    class_index: (N,) int32 ndarray, the head's class channel (0..num_classes-1)
    np.asarray(dets) is dets.boxes.
    """

    __slots__ = ("boxes", "labels", "class_index")

    def __init__(self, boxes, labels, class_index):
        self.boxes = boxes
        self.labels = labels
        self.class_index = class_index

    @property
    def scores(self):
        return self.boxes[:, 4]

    @property
    def class_ids(self):
        return self.boxes[:, 5].astype("int32")

    def __len__(self):
        return len(self.labels)

    def __iter__(self):
        for row, label in zip(self.boxes, self.labels):
            yield (float(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]), int(row[5]), label)

    def __array__(self, dtype=None, copy=None):
        return self.boxes if dtype is None else self.boxes.astype(dtype)

    def __repr__(self):
        lines = [f"Detections({len(self)})"]
        for i, (x1, y1, x2, y2, s, c, name) in enumerate(self):
            if i == 10:
                lines.append(f"  ... {len(self) - 10} more")
                break
            lines.append(f"  {name} ({c}) {s:.3f} at [{x1:.1f}, {y1:.1f}, {x2:.1f}, {y2:.1f}]")
        return "\n".join(lines)


class Detector:
    """Image in, labelled boxes out (edet::Detector): letterbox, network, NMS, as effdet.

    weights: a .safetensors / .pth / training checkpoint file; or model: a published name
    (edet.variants()) resolved through edet's checkpoint cache ($EDET_HOME, ~/.cache/edet),
    downloaded when missing; with $EDET_OFFLINE=1 a missing file is FileNotFoundError
    naming the URL and where to save it.
    variant: the published variant the weights are (default: the file's metadata).
    size: network input (h, w) or "HxW"; labels: a labels file (COCO json, one name a line)
    or a list of names; num_classes, num_scales, aspect_ratios ("1.0,2.0,0.5", [1.0, 2.0],
    or [(1.4, 0.7), ...]), anchor_scale, max_detections: what training changed (None = the
    file's metadata, then the variant's). ema: read 'state_dict_ema' of a training
    checkpoint (key= names another entry). threads: per-call thread count (None = all).
    precision: "fp32" (exact, default), "bf16" (the 1x1 convolutions take bf16 inputs and
    weights with float32 sums; needs a CPU with AVX512_BF16, else an error at load) or
    "bf16-emulated" (the same results on any CPU, slower).
    """

    def __init__(self, weights=None, model=None, variant=None, size=None, labels=None, threads=None,
                 num_classes=None, num_scales=None, aspect_ratios=None, anchor_scale=None,
                 max_detections=None, ema=False, key=None, precision="fp32"):
        path = _weights_path(weights, model)
        h, w = _size(size)
        labels_file, label_names = None, None
        if labels is not None:
            if isinstance(labels, (str, bytes)) or hasattr(labels, "__fspath__"):
                labels_file = _path(labels, "labels file")
            else:
                label_names = [str(n) for n in labels]
        if key is None:
            key = "state_dict_ema" if ema else ""
        _check_precision(precision)
        self._d = _edet._Detector(path, variant or "", h, w, labels_file, label_names, num_classes or 0,
                                  num_scales or 0, _aspect_ratios(aspect_ratios), float(anchor_scale or 0),
                                  max_detections or 0, key, threads or 0, precision)

    def _options(self, score_threshold, max_detections, iou_threshold, nms, classes):
        allow = []
        for c in classes or ():
            n = self._d.class_number(str(c))
            if n < 0:
                raise ValueError(f"class {c!r} is not one of the model's (a name or category id)")
            allow.append(n)
        return (float(score_threshold), -1 if max_detections is None else int(max_detections),
                float(iou_threshold), str(nms), allow)

    def detect(self, image, score_threshold=0.4, max_detections=None, iou_threshold=0.5, nms="hard",
               classes=None, threads=None):
        """Detections of one image: an (H, W, 3) uint8 C-contiguous RGB ndarray or a path.

        nms: "hard" (per class, the reference), "agnostic" or "soft"; classes: names or
        category ids to keep (None = all).
        """
        opt = self._options(score_threshold, max_detections, iou_threshold, nms, classes)
        return Detections(*self._d.detect(_image(image), *opt, -1 if threads is None else int(threads)))

    def detect_batch(self, images, score_threshold=0.4, max_detections=None, iou_threshold=0.5, nms="hard",
                     classes=None, threads=None, batch_size=1):
        """detect() for a list of images; batch_size images per network run."""
        opt = self._options(score_threshold, max_detections, iou_threshold, nms, classes)
        out = self._d.detect_batch([_image(i) for i in images], *opt, -1 if threads is None else int(threads),
                                   int(batch_size))
        return [Detections(*r) for r in out]

    def _detect_timed(self, image, score_threshold=0.4):
        """(Detections, seconds spent in C++ with the GIL released): for the overhead bench."""
        r, seconds = self._d.detect_timed(_image(image), float(score_threshold))
        return Detections(*r), seconds

    @property
    def variant(self):
        return self._d.variant

    @property
    def num_classes(self):
        return self._d.num_classes

    @property
    def input_size(self):
        """(height, width) of the network input."""
        return self._d.input_size

    @property
    def labels(self):
        """The class names, by class index."""
        return self._d.labels

    @property
    def category_ids(self):
        return self._d.category_ids

    @property
    def precision(self):
        """"fp32", "bf16" or "bf16-emulated", as loaded."""
        return self._d.precision

    def __repr__(self):
        h, w = self.input_size
        return f"edet.Detector(variant={self.variant!r}, input_size=({h}, {w}), num_classes={self.num_classes})"


class EfficientDet:
    """The network alone, as effdet's model(x): NCHW float32 in, per-level NCHW maps out."""

    def __init__(self, _net):
        self._net = _net

    @classmethod
    def load(cls, weights, variant=None, size=None, threads=None, ema=False, key=None, path="fast",
             precision="fp32"):
        """Builds the network from a weights file; variant None = the file's metadata.
        path "reference" runs the plain reference layers (slow, for checking) instead of
        the fast ones. precision: "fp32", "bf16" or "bf16-emulated" (see Detector); the
        reference path takes fp32 only."""
        h, w = _size(size)
        if key is None:
            key = "state_dict_ema" if ema else ""
        if path not in ("fast", "reference"):
            raise ValueError(f"path must be 'fast' or 'reference', got {path!r}")
        _check_precision(precision)
        return cls(_edet._Network(_path(weights, "weights file"), variant or "", h, w, key, threads or 0, path,
                                  precision))

    def __call__(self, x, threads=None):
        """(class_outputs, box_outputs) for x (N, 3, H, W) float32 C-contiguous: lists of
        NCHW float32 arrays, one per level (P3..P7), as effdet's model(x)."""
        return self._net(x, -1 if threads is None else int(threads))

    def features(self, x, threads=None):
        """(backbone, fpn): backbone P3..P5 and BiFPN P3..P7 feature maps, NCHW float32."""
        return self._net.features(x, -1 if threads is None else int(threads))

    @property
    def variant(self):
        return self._net.name

    @property
    def num_classes(self):
        return self._net.num_classes

    @property
    def input_size(self):
        return self._net.input_size

    @property
    def precision(self):
        """"fp32", "bf16" or "bf16-emulated", as loaded."""
        return self._net.precision
