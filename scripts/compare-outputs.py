#!/usr/bin/env python3
"""Compare two output files in the fixtures' layout (edet-dump's or the oracle's
outputs.safetensors / nodes.safetensors).

    scripts/compare-outputs.py GOT.safetensors REF.safetensors [--tolerance T] [--iou 0.9]

For every float tensor both files hold: max |got - ref| / max |ref| (the parity measure of
the fixtures). If both hold `detections` {n, rows, 6} (x1 y1 x2 y2 score class, rows of
zeros past the last): the share of REF's detections that GOT matches with a detection of
the same class at IoU >= --iou (each GOT detection used once, best IoU first), per image
and overall. Exit status 1 if a tensor's error exceeds --tolerance (when given).
Needs numpy only (reads safetensors itself).
"""
import argparse
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, v in header.items():
        if name == "__metadata__" or v["dtype"] not in DTYPES:
            continue
        begin, end = v["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + begin:8 + n + end], dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
    return out


def iou(a, b):
    # Boxes clipped to the image can have no area (random-weight models make many); two
    # such boxes count as the same when their corners agree to 0.01 px.
    if (a[2] - a[0]) * (a[3] - a[1]) <= 0 or (b[2] - b[0]) * (b[3] - b[1]) <= 0:
        return 1.0 if max(abs(float(a[k]) - float(b[k])) for k in range(4)) <= 0.01 else 0.0
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matched_share(got, ref, threshold):
    """Share of ref's detections (score > 0) matched by a got detection of the same class."""
    ref = [r for r in ref if r[4] > 0]
    got = [g for g in got if g[4] > 0]
    used = [False] * len(got)
    matched = 0
    for r in ref:
        best, best_j = 0.0, -1
        for j, g in enumerate(got):
            if used[j] or g[5] != r[5]:
                continue
            o = iou(r, g)
            if o > best:
                best, best_j = o, j
        if best_j >= 0 and best >= threshold:
            used[best_j] = True
            matched += 1
    return matched, len(ref)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("got")
    p.add_argument("ref")
    p.add_argument("--tolerance", type=float, default=None)
    p.add_argument("--iou", type=float, default=0.9)
    p.add_argument("--quiet", action="store_true", help="print only the worst tensor and the detection share")
    a = p.parse_args()
    got, ref = read_safetensors(a.got), read_safetensors(a.ref)
    worst_name, worst, status = "", 0.0, 0
    for name in sorted(set(got) & set(ref)):
        if name.startswith("detections") or got[name].dtype.kind != "f":
            continue
        g, r = got[name].astype(np.float64), ref[name].astype(np.float64)
        if g.shape != r.shape:
            print(f"{name}: shapes differ {g.shape} vs {r.shape}")
            status = 1
            continue
        err = float(np.max(np.abs(g - r))) / max(float(np.max(np.abs(r))), 1e-30)
        if err > worst:
            worst_name, worst = name, err
        if not a.quiet:
            print(f"{name:40s} {err:.3e}")
        if a.tolerance is not None and err > a.tolerance:
            status = 1
    missing = sorted(n for n in ref if n not in got and not n.startswith("detections") and ref[n].dtype.kind == "f")
    compared = len([n for n in set(got) & set(ref) if not n.startswith("detections") and got[n].dtype.kind == "f"])
    print(f"worst tensor: {worst_name} {worst:.3e} ({compared} tensors compared)")
    if missing:
        print(f"not in {a.got}: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    for key in ("detections", "detections_soft"):
        if key in got and key in ref:
            total_m = total_n = 0
            for i in range(ref[key].shape[0]):
                m, n = matched_share(got[key][i], ref[key][i], a.iou)
                total_m, total_n = total_m + m, total_n + n
            share = total_m / total_n if total_n else 1.0
            print(f"{key}: {total_m}/{total_n} reference detections matched (same class, IoU >= {a.iou}): {share:.1%}")
    return status


if __name__ == "__main__":
    sys.exit(main())
