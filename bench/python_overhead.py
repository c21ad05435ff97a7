#!/usr/bin/env python3
"""What calling edet from Python costs on top of the C++ call (issue 19).

Times Detector._detect_timed(image): the wall time of the Python call, and inside it the
seconds spent in C++ with the GIL released (image copy into io::Image + Detector::detect
+ building the result). The difference is the binding's overhead: argument checks, GIL
release/reacquire, wrapping the (N, 6) result into Detections. Also times the public
det.detect() against the same C++ median. Medians of --runs calls after a warm-up.

    PYTHONPATH=build/python /usr/bin/python3 bench/python_overhead.py \
        --weights ../shared/fixtures/tf_efficientdet_d0_s0/weights.safetensors
"""
import argparse
import os
import statistics
import time

import numpy as np

import edet


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=os.path.join(here, "..", "..", "shared", "fixtures", "tf_efficientdet_d0_s0",
                                                      "weights.safetensors"))
    ap.add_argument("--image", default=os.path.join(here, "..", "examples", "data", "astronaut.png"))
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--score", type=float, default=0.4)
    args = ap.parse_args()

    det = edet.Detector(weights=args.weights, threads=args.threads)
    try:
        from PIL import Image
        image = np.ascontiguousarray(np.asarray(Image.open(args.image).convert("RGB"), dtype=np.uint8))
    except ImportError:
        image = None
    print(f"edet {edet.__version__} ({edet.compiled_arch}), {det.variant} {det.input_size}, "
          f"threads {args.threads or 'all'}, {args.runs} runs")
    inputs = [("path", args.image)] + ([("ndarray " + "x".join(map(str, image.shape)), image)] if image is not None else [])
    for name, img in inputs:
        for _ in range(3):
            det.detect(img, score_threshold=args.score)
        wall, inner, public = [], [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            _, s = det._detect_timed(img, args.score)
            wall.append(time.perf_counter() - t)
            inner.append(s)
            t = time.perf_counter()
            det.detect(img, score_threshold=args.score)
            public.append(time.perf_counter() - t)
        over = statistics.median(w - i for w, i in zip(wall, inner))
        print(f"{name:>22}: C++ {statistics.median(inner) * 1e3:8.2f} ms  Python call {statistics.median(wall) * 1e3:8.2f} ms"
              f"  overhead (median of differences) {over * 1e3:.3f} ms;  det.detect() {statistics.median(public) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
