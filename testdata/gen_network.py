"""Writes PyTorch reference fixtures for baryir's block and network parity tests.

    /usr/bin/python3 testdata/gen_network.py

Writes layers/testdata/blocks.safetensors (each block's input, parameters,
output and the gradients of sum(out * proj) with respect to the input and every
parameter) and testdata/network.safetensors (a small BaryNet and Restormer:
weights, input and outputs) and testdata/barynet_tiny.pth (the same BaryNet
pickled whole, as the authors' trainer saves it). All parameters are perturbed from their
initial values so that LayerNorm weights and attention temperatures matter.
"""
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "testdata", "torchref"))
import barynet as ref  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(0)


def write_safetensors(path, tensors, meta=None):
    """Writes tensors as float32 safetensors (and meta as its __metadata__), temp name then rename."""
    header, blobs, off = ({"__metadata__": meta} if meta else {}), [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().to(torch.float32)
        raw = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def perturb(module):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))


def block_case(out, prefix, module, x):
    perturb(module)
    x = x.clone().requires_grad_(True)
    y = module(x)
    proj = torch.randn_like(y)
    (y * proj).sum().backward()
    out[prefix + "/input"] = x
    out[prefix + "/output"] = y
    out[prefix + "/proj"] = proj
    out[prefix + "/grad/input"] = x.grad
    for name, p in module.named_parameters():
        out[prefix + "/param/" + name] = p
        out[prefix + "/grad/" + name] = p.grad


def blocks():
    out = {}
    x8 = torch.randn(2, 8, 6, 8)
    block_case(out, "conv3x3", torch.nn.Conv2d(8, 5, 3, padding=1, bias=True), x8)
    block_case(out, "conv_potential", torch.nn.Conv2d(8, 8, 4, stride=4, padding=1, groups=4), torch.randn(2, 8, 9, 9))
    block_case(out, "linear", torch.nn.Linear(7, 3), torch.randn(4, 7))
    block_case(out, "mdta", ref.Attention(8, 2), x8)
    block_case(out, "gdfn", ref.FeedForward(8, 2.66), x8)
    block_case(out, "block", ref.TransformerBlock(8, 2, 2.66), x8)
    block_case(out, "block_biasfree", ref.TransformerBlock(8, 4, 2.66, LayerNorm_type="BiasFree"), x8)
    block_case(out, "patch_embed", ref.OverlapPatchEmbed(3, 8), torch.randn(2, 3, 6, 8))
    block_case(out, "downsample", ref.Downsample(8), x8)
    block_case(out, "upsample", ref.Upsample(8), x8)
    write_safetensors(os.path.join(REPO, "layers", "testdata", "blocks.safetensors"), out)


def networks():
    out = {}
    x = torch.rand(2, 3, 16, 24)
    cfg = dict(dim=4, num_blocks=(1, 1, 1, 1), heads=(1, 2, 4, 8), num_refinement_blocks=1)
    bary = ref.BaryNet(bary_blocks=1, **cfg)
    rest = ref.Restormer(**cfg)
    for name, net in (("barynet", bary), ("restormer", rest)):
        perturb(net)
        net.eval()
        for k, v in net.state_dict().items():
            out[name + "/weights/" + k] = v
        with torch.no_grad():
            y = net(x)
        if name == "barynet":
            out_, s, b, r = y
            out[name + "/source"], out[name + "/bary"], out[name + "/residual"] = s, b, r
            y = out_
        out[name + "/output"] = y
    out["input"] = x
    # Gradients of every parameter of the BaryNet for a loss touching the
    # output and all three latents (so both decoder branches carry gradient).
    bary.zero_grad()
    y, s_, b_, r_ = bary(x)
    torch.manual_seed(5)
    projs = [torch.randn_like(t) for t in (y, s_, b_, r_)]
    sum((t * p).sum() for t, p in zip((y, s_, b_, r_), projs)).backward()
    for name, p in zip(("output", "source", "bary", "residual"), projs):
        out["barynet/proj/" + name] = p
    for k, p in bary.named_parameters():
        if p.grad is not None:
            out["barynet/grad/" + k] = p.grad
    # As the authors' trainer saves it: the whole module under "BaryIR".
    torch.save({"epoch": 1, "BaryIR": bary}, os.path.join(REPO, "testdata", "barynet_tiny.pth"))
    write_safetensors(os.path.join(REPO, "testdata", "network.safetensors"), out)
    return bary


def potentials():
    """The authors' potentials: two of them on (32, 8, 8) latents (64x64 patches)."""
    out = {}
    pots = ref.Potentials(num_potentials=2, channels=32, size=64)
    perturb(pots)
    z = torch.randn(3, 32, 8, 8, requires_grad=True)
    proj = torch.randn(3)
    vals = torch.stack([torch.cat([pots(z[i], k) for i in range(3)]).reshape(3) for k in range(2)])
    (vals[0] * proj).sum().backward()
    out["input"], out["output"], out["proj"], out["grad/input"] = z, vals, proj, z.grad
    for k, v in pots.state_dict().items():
        out["weights/" + k] = v
    for k, p in pots.named_parameters():
        if p.grad is not None:
            out["grad/" + k] = p.grad
    write_safetensors(os.path.join(REPO, "testdata", "potentials.safetensors"), out)


def authors_network_loss(bary, pots, degraded, clean, de_id, lam, sigma):
    """The loss of the network's step in trainer_bary.py's loop, written
    out: (1/B) sum_i w_i (c(s_i, b_i) + 0.05 (orth_i + contra_i) - f_i(b_i))
    + sigma L1. Returns it with L1 and (1/B) sum_i w_i f_i(b_i)."""
    src = lambda d: 0 if d < 3 else d - 2  # noise levels share one source
    restored, s, b, r = bary(degraded)
    l1 = torch.mean(torch.abs(restored - clean))
    B = restored.shape[0]
    flat = lambda t: F.normalize(t.reshape(-1), dim=0)
    gen, pot = 0.0, 0.0
    for i in range(B):
        cost = torch.mean(torch.abs(s[i] - b[i]) ** 2) ** 0.5
        orth = sum(torch.sum(flat(b[i]) * flat(r[j])) ** 2 for j in range(B))
        pos = sum(torch.exp(torch.sum(flat(r[i]) * flat(r[j])) / 0.07) for j in range(B) if de_id[j] == de_id[i])
        neg = sum(torch.exp(torch.sum(flat(r[i]) * flat(r[j])) / 0.07) for j in range(B) if de_id[j] != de_id[i])
        contra = -torch.log(pos / (pos + neg))
        f = pots(b[i], src(de_id[i])).squeeze()
        gen = gen + lam[src(de_id[i])] * (cost + 0.05 * (orth + contra) - f)
        pot = pot + lam[src(de_id[i])] * f
    return gen / B + sigma * l1, l1, pot / B


def trainer_loss(bary):
    """The authors' generator and potential losses (trainer_bary.py's loop,
    written out) for one batch, with the networks() BaryNet: the reference for
    the trainer's loss in the AuthorsTraining setup (with Sigma 1), and its
    gradients with respect to every network parameter."""
    out = {}
    torch.manual_seed(1)
    pots = ref.Potentials(num_potentials=3, channels=32, size=16)
    perturb(pots)
    degraded, clean = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16)
    de_id = [0, 3, 2, 4]                  # noise15, rain, noise50, haze
    lam = [0.5, 0.3, 0.2]                 # weights of sources denoise, derain, dehaze
    sigma = 1.0  # so the barycenter terms weigh as much as L1 in the gradients
    bary.zero_grad()
    total, l1, pot = authors_network_loss(bary, pots, degraded, clean, de_id, lam, sigma)
    total.backward()
    out["generator"] = total.detach().reshape(1)
    out["pot_term"] = pot.detach().reshape(1)
    out["l1"] = l1.detach().reshape(1)
    out["sigma"] = torch.tensor([sigma])
    for k, p in bary.named_parameters():
        if p.grad is not None:
            out["grad/" + k] = p.grad
    for k, v in pots.state_dict().items():
        out["pots/" + k] = v
    out["degraded"], out["clean"] = degraded, clean
    out["degradation"] = torch.tensor(de_id, dtype=torch.float32)
    out["weights"] = torch.tensor(lam)
    write_safetensors(os.path.join(REPO, "testdata", "trainer_loss.safetensors"), out)
    # The potentials as the authors' trainer saves them (beside "BaryIR").
    torch.save({"epoch": 1, "Pots": pots}, os.path.join(REPO, "testdata", "potentials_tiny.pth"))


if __name__ == "__main__":
    blocks()
    bary = networks()
    potentials()
    trainer_loss(bary)
