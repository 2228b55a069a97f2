"""Writes ops.safetensors: PyTorch reference values for the custom ops in layers/.

For each case NAME it stores NAME.<input> (float32 values of order 1), NAME.out,
NAME.proj (a fixed random tensor shaped as out) and NAME.grad.<input>, the
autograd gradients of sum(out * proj). Everything is computed in float64 from
the float32-rounded inputs and written as F32, so the Go float32 kernels are
compared against a reference whose own rounding is negligible. Written with
torch functions only (as Restormer writes its modules), so the reference does
not share code with the Go side. Run: /usr/bin/python3 gen_ops.py
"""
import json
import os
import struct

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
gen = torch.Generator().manual_seed(20240611)


def rand(*shape, scale=1.0, offset=0.0):
    x = torch.randn(*shape, generator=gen, dtype=torch.float32) * scale + offset
    return x.double().requires_grad_(True)


# Restormer's basicsr/models/archs/restormer_arch.py, on (b, hw, c) after to_3d.
def withbias_ln(x, weight, bias):
    b, c, h, w = x.shape
    x3 = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
    mu = x3.mean(-1, keepdim=True)
    sigma = x3.var(-1, keepdim=True, unbiased=False)
    y = (x3 - mu) / torch.sqrt(sigma + 1e-5) * weight + bias
    return y.reshape(b, h, w, c).permute(0, 3, 1, 2)


def biasfree_ln(x, weight):
    b, c, h, w = x.shape
    x3 = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
    sigma = x3.var(-1, keepdim=True, unbiased=False)
    y = x3 / torch.sqrt(sigma + 1e-5) * weight
    return y.reshape(b, h, w, c).permute(0, 3, 1, 2)


def gelu_gate(x):
    x1, x2 = x.chunk(2, dim=1)
    return F.gelu(x1) * x2


# Restormer's Attention.forward between qkv_dwconv and project_out.
def channel_attention(qkv, temperature, heads):
    b, c3, h, w = qkv.shape
    q, k, v = qkv.chunk(3, dim=1)
    q = q.reshape(b, heads, c3 // 3 // heads, h * w)
    k = k.reshape(b, heads, c3 // 3 // heads, h * w)
    v = v.reshape(b, heads, c3 // 3 // heads, h * w)
    q = F.normalize(q, dim=-1)
    k = F.normalize(k, dim=-1)
    attn = (q @ k.transpose(-2, -1)) * temperature
    attn = attn.softmax(dim=-1)
    out = attn @ v
    return out.reshape(b, c3 // 3, h, w)


tensors = {}


def case(name, fn, **inputs):
    out = fn(**inputs)
    proj = torch.randn(*out.shape, generator=gen, dtype=torch.float32).double()
    grads = torch.autograd.grad((out * proj).sum(), list(inputs.values()))
    for k, v in inputs.items():
        tensors[f"{name}.{k}"] = v.detach()
    tensors[f"{name}.out"] = out.detach()
    tensors[f"{name}.proj"] = proj
    for k, g in zip(inputs, grads):
        tensors[f"{name}.grad.{k}"] = g


case("ln_withbias", withbias_ln, x=rand(2, 8, 8, 8, offset=0.5),
     weight=rand(8, scale=0.5, offset=1), bias=rand(8, scale=0.5))
case("ln_biasfree", biasfree_ln, x=rand(2, 8, 12, 10, offset=0.5),
     weight=rand(8, scale=0.5, offset=1))
case("gelu_gate", gelu_gate, x=rand(2, 16, 8, 8, scale=1.5))
case("unshuffle", lambda x: F.pixel_unshuffle(x, 2), x=rand(2, 8, 8, 8))
case("shuffle", lambda x: F.pixel_shuffle(x, 2), x=rand(2, 32, 6, 5))
case("shuffle3", lambda x: F.pixel_shuffle(x, 3), x=rand(1, 18, 3, 4))
case("attn_h2", lambda qkv, temperature: channel_attention(qkv, temperature, 2),
     qkv=rand(2, 24, 8, 8), temperature=rand(2, 1, 1, scale=0.5, offset=1.5))
case("attn_h1", lambda qkv, temperature: channel_attention(qkv, temperature, 1),
     qkv=rand(2, 24, 12, 10), temperature=rand(1, 1, 1, scale=0.5, offset=1.5))
case("leaky", lambda x: F.leaky_relu(x, 0.2), x=rand(2, 8, 8, 8))

# F.interpolate(mode="bilinear") with a size: align_corners=False, scale in/out.
def bilinear(h, w):
    return lambda x: F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)


case("resize_up", bilinear(12, 20), x=rand(2, 3, 5, 8))
case("resize_down", bilinear(3, 5), x=rand(1, 2, 8, 16))
case("resize_mixed", bilinear(7, 4), x=rand(1, 2, 3, 9))
case("resize_same", bilinear(4, 6), x=rand(1, 2, 4, 6))


# PromptIR's PromptGenBlock.forward, with its parameters as inputs.
def prompt_gen(x, prompt_param, linear_weight, linear_bias, conv_weight):
    b, c, h, w = x.shape
    emb = x.mean(dim=(-2, -1))
    weights = F.softmax(F.linear(emb, linear_weight, linear_bias), dim=1)
    prompt = weights[:, :, None, None, None] * prompt_param.repeat(b, 1, 1, 1, 1)
    prompt = prompt.sum(dim=1)
    prompt = F.interpolate(prompt, (h, w), mode="bilinear")
    return F.conv2d(prompt, conv_weight, padding=1)


case("prompt_gen", prompt_gen, x=rand(2, 6, 6, 10), prompt_param=rand(1, 3, 4, 4, 4),
     linear_weight=rand(3, 6), linear_bias=rand(3), conv_weight=rand(4, 4, 3, 3, scale=0.3))

header, blobs, off = {}, [], 0
for name in sorted(tensors):
    t = tensors[name].to(torch.float32).contiguous()
    raw = struct.pack(f"<{t.numel()}f", *t.flatten().tolist())
    header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops.safetensors")
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
print(f"wrote {path}: {len(tensors)} tensors, {8 + len(h) + off} bytes")
