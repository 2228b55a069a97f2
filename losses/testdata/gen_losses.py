"""Writes losses.safetensors: inputs, values and autograd gradients of the
BaryIR losses, computed the way the authors' trainer_bary.py computes them
(per-sample loops with F.normalize), in float64.

Run: /usr/bin/python3 losses/testdata/gen_losses.py   (PyTorch 1.13, CPU)
"""
import json
import os
import struct

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(4)
torch.set_default_dtype(torch.float64)


def irc_ref(r, ids, tau):
    """trainer_bary.py's contrastive loss, one value per sample."""
    B = r.shape[0]
    out = []
    for i in range(B):
        zi = F.normalize(r[i].reshape(-1), dim=0)
        pos = neg = 0
        for j in range(B):
            zj = F.normalize(r[j].reshape(-1), dim=0)
            if ids[i] == ids[j]:
                pos = pos + torch.mean(torch.exp(torch.sum(zi * zj) / tau))
            else:
                neg = neg + torch.mean(torch.exp(torch.sum(zi * zj) / tau))
        out.append(-torch.log(pos / (pos + neg)))
    return torch.stack(out)


def bro_ref(b, r):
    """trainer_bary.py's common-specific orthogonality, one value per sample."""
    B = b.shape[0]
    out = []
    for i in range(B):
        zc = F.normalize(b[i].reshape(-1), dim=0)
        orth = 0
        for j in range(B):
            zs = F.normalize(r[j].reshape(-1), dim=0)
            orth = orth + torch.sum(zc * zs) ** 2
        out.append(orth)
    return torch.stack(out)


def correlated(shape, ids):
    """All residuals share a direction and those of one source share another,
    so negatives are close too and the losses are of order 1 even at tau 0.07
    (random vectors would leave exp(1/tau) of the pair j = i dominating)."""
    common = torch.randn(shape[1:])
    base = {k: 0.35 * torch.randn(shape[1:]) for k in sorted(set(ids))}
    return torch.stack([common + base[k] + 0.25 * torch.randn(shape[1:]) for k in ids])


T = {}


def put(name, t):
    T[name] = torch.as_tensor(t, dtype=torch.float64).detach().clone()


CASES = [
    # name, shape, ids, tau
    ("mixed", (5, 3, 4, 4), [0, 0, 1, 2, 2], 0.07),  # source 1 has one sample
    ("same", (3, 2, 3, 3), [3, 3, 3], 0.07),  # neg = 0 for every sample
    ("flat", (4, 6), [5, 1, 5, 0], 0.2),
    ("distinct", (3, 8), [0, 1, 2], 0.07),  # pos = the sample alone
]

for name, shape, ids, tau in CASES:
    B = shape[0]
    r = correlated(shape, ids).requires_grad_()
    b = torch.randn(shape).requires_grad_()
    proj = torch.randn(B)
    irc = irc_ref(r, ids, tau)
    (dr_irc,) = torch.autograd.grad((irc * proj).sum(), r)
    bro = bro_ref(b, r)
    db_bro, dr_bro = torch.autograd.grad((bro * proj).sum(), (b, r))
    for k, v in dict(r=r, b=b, ids=torch.tensor(ids, dtype=torch.float64), tau=torch.tensor([tau]),
                     proj=proj, irc=irc, irc_dr=dr_irc, bro=bro, bro_db=db_bro, bro_dr=dr_bro).items():
        put(f"{name}/{k}", v)

# L1 restoration loss.
out = torch.rand(2, 3, 4, 5).requires_grad_()
y = torch.rand(2, 3, 4, 5)
l1 = torch.mean(abs(out - y))
(dout,) = torch.autograd.grad(l1, out)
put("l1/out", out)
put("l1/y", y)
put("l1/value", l1.reshape(1))
put("l1/dout", dout)


def write(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].contiguous()
        raw = struct.pack("<%dd" % t.numel(), *t.reshape(-1).tolist())
        header[k] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "losses.safetensors"), T)
print("wrote", len(T), "tensors")
for name, *_ in CASES:
    print(name, "irc", T[f"{name}/irc"].tolist(), "bro", T[f"{name}/bro"].tolist())
