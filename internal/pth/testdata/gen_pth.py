"""Writes the .pth fixtures of internal/pth and the safetensors files the Go
tests compare them with. Run from the repo root:

    /usr/bin/python3 internal/pth/testdata/gen_pth.py

Every file is small; the weights are seeded, so reruns give the same values.
"""

import collections
import json
import os
import pickle
import struct

import torch
import torch.nn as nn

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))


class Inner(nn.Module):
    """A nested child with a persistent and a non-persistent buffer."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 3)
        self.register_buffer("running", torch.arange(6, dtype=torch.float32).reshape(2, 3) / 7)
        self.register_buffer("scratch", torch.ones(5), persistent=False)  # not in state_dict
        self.register_buffer("absent", None)  # not in state_dict either
        self.shape = torch.Size([4, 3])  # a non-tensor attribute pickled by REDUCE


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.body = nn.Sequential(nn.LayerNorm(4), nn.LeakyReLU(0.2), Inner())
        self.temperature = nn.Parameter(torch.ones(2, 1, 1) * 1.5)
        self.bias_free = nn.Conv2d(4, 4, 1, bias=False)  # registers bias as None


def write_safetensors(path, tensors):
    """The safetensors format written by hand (F64), so no extra package is needed."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float64).contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def out(name):
    return os.path.join(HERE, name)


def main():
    torch.manual_seed(1)
    m = Tiny()
    sd = m.state_dict()
    write_safetensors(out("tiny.safetensors"), sd)

    torch.save(sd, out("state_dict.pth"))  # (a) plain OrderedDict
    torch.save({"epoch": 3, "model": sd, "optimizer_lr": 1e-4}, out("wrapped.pth"))  # (b)
    torch.save(m, out("module.pth"))  # (c) whole pickled module
    # The authors' trainer: whole modules under "BaryIR" and "Pots".
    pots = nn.ModuleList([nn.Sequential(nn.Linear(2, 1))])
    torch.save({"epoch": 7, "BaryIR": m, "Pots": pots}, out("trainer.pth"))
    write_safetensors(out("pots.safetensors"), pots.state_dict())
    # DataParallel prefixes every name with "module.".
    torch.save(collections.OrderedDict(("module." + k, v) for k, v in sd.items()), out("dataparallel.pth"))
    # The pre-1.6 legacy (non-zip) format.
    torch.save(sd, out("legacy.pth"), _use_new_zipfile_serialization=False)

    # dtypes and layouts: half/bfloat16 values exactly representable, a
    # transposed (strided) view, a slice with a storage offset sharing its
    # storage with another entry, and a 0-dim scalar.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 8 - 1
    layouts = collections.OrderedDict()
    layouts["f16"] = (torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4 - 0.5).half()
    layouts["bf16"] = (torch.arange(6, dtype=torch.float32).reshape(3, 2) / 2 - 1).bfloat16()
    layouts["f64"] = torch.linspace(-1, 1, 5, dtype=torch.float64) / 3
    layouts["base"] = base
    layouts["transposed"] = base.t()
    layouts["slice"] = base[1:3, 2:5]
    layouts["scalar"] = torch.tensor(2.5)
    layouts["steps"] = torch.tensor([3, -1, 7], dtype=torch.int64)
    assert not layouts["transposed"].is_contiguous() and layouts["slice"].storage_offset() == 8
    torch.save(layouts, out("layouts.pth"))
    write_safetensors(out("layouts.safetensors"), {k: v.to(torch.float64) for k, v in layouts.items()})

    # Failures: a truncated checkpoint and a checkpoint without tensors.
    with open(out("state_dict.pth"), "rb") as f:
        raw = f.read()
    with open(out("corrupt.pth"), "wb") as f:
        f.write(raw[: len(raw) // 2])
    torch.save({"epoch": 1, "note": "no weights here", "lr": [1e-4, 2e-4]}, out("no_tensors.pth"))
    with open(out("plain_pickle.pkl"), "wb") as f:  # a pickle, but not torch.save's
        pickle.dump({"weights": [1.0, 2.0]}, f, protocol=2)


if __name__ == "__main__":
    main()
