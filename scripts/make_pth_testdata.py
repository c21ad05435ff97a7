#!/usr/bin/python3
"""Writes the .pth test files under tests/data/pth/ and the fuzz seeds under
fuzz/corpus/fuzz_pth/ with Debian's PyTorch (torch 1.13, /usr/bin/python3).

Each state dict is saved twice: zip container (_use_new_zipfile_serialization=True) and
legacy pickle stream (False). The expected values are written independently of any
.pth reader: `<name>.expected.txt` lists `name dtype shape byte_offset byte_length` per
tensor (one line each, shape as comma-separated dims or "-" for a 0-d tensor) and
`<name>.expected.bin` holds every tensor's contiguous little-endian bytes at those offsets,
taken from numpy (bf16 through an int16 view). The C++ tests compare bit for bit.

Run from the repository root:  /usr/bin/python3 scripts/make_pth_testdata.py
"""
import collections
import json
import os
import struct
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "pth")
SEEDS = os.path.join(ROOT, "fuzz", "corpus", "fuzz_pth")
FIXTURE = os.path.join(ROOT, "..", "shared", "fixtures", "tf_efficientdet_lite0_s0",
                       "weights.safetensors")


def read_safetensors(path, names):
    """The named F32/I64 tensors of a safetensors file (parsed by hand, no library)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name in names:
            h = header[name]
            begin, end = h["data_offsets"]
            f.seek(base + begin)
            dt = {"F32": np.float32, "I64": np.int64}[h["dtype"]]
            arr = np.frombuffer(f.read(end - begin), dtype=dt).reshape(h["shape"])
            out[name] = torch.from_numpy(arr.copy())
        return out


def contiguous_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


DTYPE_NAME = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def write_expected(stem, sd):
    blob = bytearray()
    lines = []
    for name, t in sd.items():
        b = contiguous_bytes(t)
        shape = ",".join(str(d) for d in t.shape) if t.dim() else "-"
        lines.append(f"{name} {DTYPE_NAME[t.dtype]} {shape} {len(blob)} {len(b)}")
        blob += b
    with open(os.path.join(OUT, stem + ".expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(OUT, stem + ".expected.bin"), "wb") as f:
        f.write(bytes(blob))


def save_both(obj, directory, stem):
    torch.save(obj, os.path.join(directory, stem + ".zip.pth"), _use_new_zipfile_serialization=True)
    torch.save(obj, os.path.join(directory, stem + ".legacy.pth"), _use_new_zipfile_serialization=False)


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(SEEDS, exist_ok=True)
    names = ["backbone.conv_stem.weight", "backbone.bn1.weight", "backbone.bn1.bias",
             "backbone.bn1.running_mean", "backbone.bn1.running_var",
             "backbone.bn1.num_batches_tracked", "class_net.predict.conv_pw.bias"]
    fx = read_safetensors(FIXTURE, names)

    sd = collections.OrderedDict()
    for n in names:
        sd[n] = fx[n]
    # A Parameter (pickled through torch._utils._rebuild_parameter).
    sd["param.weight"] = torch.nn.Parameter(torch.randn(4, 5))
    # Half, bfloat16 and int64 tensors.
    sd["half"] = (torch.randn(3, 7) * 10).half()
    sd["bf16"] = (torch.randn(2, 3, 5) * 100).bfloat16()
    sd["long"] = torch.tensor([[-(2 ** 40), -1, 0], [1, 7, 2 ** 50]], dtype=torch.int64)
    # Non-contiguous: a transposed view saved with its whole storage.
    base = torch.randn(6, 8)
    sd["transposed"] = base.t()
    # Offset views sharing one storage with a contiguous tensor.
    shared = torch.randn(40)
    sd["shared.full"] = shared
    sd["shared.slice"] = shared[10:22].view(3, 4)
    sd["shared.strided"] = shared.view(5, 8)[1:4, ::3]
    # 0-d, 1-element and empty tensors.
    sd["scalar"] = torch.tensor(3.25)
    sd["empty"] = torch.zeros(0, 3)
    save_both(sd, OUT, "small")
    write_expected("small", sd)

    # A training checkpoint wrapping two state dicts plus plain values.
    plain = collections.OrderedDict([("w", torch.full((2, 2), 1.0)), ("b", torch.tensor([1.5]))])
    ema = collections.OrderedDict([("w", torch.full((2, 2), 2.0)), ("b", torch.tensor([2.5]))])
    wrapped = {"epoch": 7, "state_dict": plain, "state_dict_ema": ema, "version": 2,
               "note": "trained", "lr": 0.01, "flags": [True, False, None]}
    save_both(wrapped, OUT, "wrapped")
    write_expected("wrapped_plain", plain)
    write_expected("wrapped_ema", ema)
    save_both({"model": plain}, OUT, "model_key")

    # A real module state_dict: an OrderedDict carrying `_metadata` (pickled with BUILD),
    # batch-norm buffers and num_batches_tracked, as in the released checkpoints.
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4))
    with torch.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
    msd = net.state_dict()
    assert hasattr(msd, "_metadata")
    save_both(msd, OUT, "module")
    write_expected("module", msd)

    # Tiny seeds for the fuzzer (well under its 64 KiB max_len).
    tiny = collections.OrderedDict([("a", torch.arange(6, dtype=torch.float32).view(2, 3).t()),
                                    ("b", torch.tensor([1, 2], dtype=torch.int64)),
                                    ("c", torch.tensor([0.5, -2.0]).half())])
    save_both(tiny, SEEDS, "tiny")
    save_both({"state_dict": tiny, "epoch": 1}, SEEDS, "tiny_wrapped")
    print("wrote", OUT, "and", SEEDS, file=sys.stderr)


if __name__ == "__main__":
    main()
