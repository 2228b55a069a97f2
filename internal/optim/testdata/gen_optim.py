"""Writes internal/optim/testdata/optim.safetensors: PyTorch's RMSprop and Adam
trajectories for fixed gradients, the reference for optim_test.go.

    /usr/bin/python3 internal/optim/testdata/gen_optim.py
"""
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)
p0 = torch.randn(6, dtype=torch.float64)
grads = torch.randn(4, 6, dtype=torch.float64)
out = {"p0": p0, "grads": grads}
for name, make in (("rmsprop", lambda p: torch.optim.RMSprop([p], lr=0.01)),
                   ("adam", lambda p: torch.optim.Adam([p], lr=0.01))):
    p = torch.nn.Parameter(p0.clone())
    opt = make(p)
    traj = []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        traj.append(p.detach().clone())
    out[name] = torch.stack(traj)

header, blobs, off = {}, [], 0
for k in sorted(out):
    raw = out[k].contiguous().numpy().tobytes()
    header[k] = {"dtype": "F64", "shape": list(out[k].shape), "data_offsets": [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(os.path.join(HERE, "optim.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
