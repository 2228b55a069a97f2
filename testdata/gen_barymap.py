"""Writes the PyTorch reference for baryir's barycenter map parity test.

    /usr/bin/python3 testdata/gen_barymap.py

Writes testdata/barymap.safetensors, in float64: for each of the four map
architectures of the paper's Tab. XI (as baryir.MapArch documents them), two
units on a (2, 8, 3, 4) latent with 2 heads, feed-forward width
int(2.66 * 8) and, for the UNet-style map, 12-channel convolutions: the input, every parameter (perturbed from its initial value
so that norms and biases matter), the output, a projection proj and the
gradients of sum(out * proj) with respect to the input and every parameter.
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "testdata", "torchref"))
import barynet as ref  # noqa: E402

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64)
torch.manual_seed(20)

DIM, HEADS, UNITS = 8, 2, 2
HIDDEN = int(DIM * 2.66)


class MLPUnit(nn.Module):
    """x + fc2(GELU(fc1(x))) with 1x1 convolutions: an MLP on every pixel."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(x)))


class UNetUnit(nn.Module):
    """x + proj(norm2(relu(conv2(norm1(relu(conv1(x))))))): two
    conv-ReLU-norm blocks in feature space and a 1x1 output conv."""

    def __init__(self, dim, hidden, layer_norm_type):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, hidden, 3, padding=1)
        self.norm1 = ref.LayerNorm(hidden, layer_norm_type)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.norm2 = ref.LayerNorm(hidden, layer_norm_type)
        self.proj = nn.Conv2d(hidden, dim, 1)

    def forward(self, x):
        h = self.norm1(F.relu(self.conv1(x)))
        h = self.norm2(F.relu(self.conv2(h)))
        return x + self.proj(h)


class ViTAttention(nn.Module):
    """timm's ViT Attention (qkv_bias=True) on the pixels as tokens."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):  # (B, N, C)
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5
        x = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class ViTMlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class ViTBlock(nn.Module):
    """timm's pre-norm ViT Block (nn.LayerNorm eps 1e-5) on (B, C, H, W)."""

    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = ViTAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = ViTMlp(dim, hidden)

    def forward(self, x):
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        t = t + self.attn(self.norm1(t))
        t = t + self.mlp(self.norm2(t))
        return t.transpose(1, 2).reshape(b, c, h, w)


MAPS = {
    "transformer": lambda: ref.TransformerBlock(DIM, HEADS, 2.66),
    "mlp": lambda: MLPUnit(DIM, HIDDEN),
    "unet": lambda: UNetUnit(DIM, 12, "BiasFree"),
    "vit": lambda: ViTBlock(DIM, HEADS, HIDDEN),
}


def write_safetensors64(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        raw = tensors[name].detach().contiguous().to(torch.float64).numpy().tobytes()
        header[name] = {"dtype": "F64", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(raw)]}
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


def main():
    out = {}
    for arch, unit in MAPS.items():
        m = nn.Sequential(*[unit() for _ in range(UNITS)])
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.1 * torch.randn_like(p))
        x = torch.randn(2, DIM, 3, 4, requires_grad=True)
        y = m(x)
        proj = torch.randn_like(y)
        (y * proj).sum().backward()
        out[arch + "/input"], out[arch + "/output"], out[arch + "/proj"] = x, y, proj
        out[arch + "/grad/input"] = x.grad
        for name, p in m.named_parameters():
            out[arch + "/param/" + name] = p
            out[arch + "/grad/" + name] = p.grad
    write_safetensors64(os.path.join(REPO, "testdata", "barymap.safetensors"), out)


if __name__ == "__main__":
    main()
