"""Checks barynet.py against the upstream PyTorch code it was written from:
same state_dict names, order and shapes, and the same outputs (float64,
exactly) once the upstream weights are loaded into ours.

    git -C <BaryIR clone> show HEAD:model_bary.py > /tmp/up/model_bary.py
    git -C <Restormer clone> show HEAD:basicsr/models/archs/restormer_arch.py > /tmp/up/restormer_arch.py
    /usr/bin/python3 testdata/torchref/check_upstream.py /tmp/up

The upstream files import einops and torchvision, which are not installed
here; a stand-in for the four einops patterns they use and a no-op
save_image are put on sys.path first. Last run: exact agreement (max
difference 0.0) for BaryNet WithBias/BiasFree, Restormer and Potentials.
"""

import os
import sys
import tempfile

import torch

EINOPS = '''
def rearrange(x, pattern, **kw):
    p = pattern.replace(" ", "")
    if p == "bchw->b(hw)c":
        b, c, h, w = x.shape
        return x.permute(0, 2, 3, 1).reshape(b, h * w, c)
    if p == "b(hw)c->bchw":
        b, n, c = x.shape
        return x.reshape(b, kw["h"], kw["w"], c).permute(0, 3, 1, 2)
    if p == "b(headc)hw->bheadc(hw)":
        b, c, h, w = x.shape
        return x.reshape(b, kw["head"], c // kw["head"], h * w)
    if p == "bheadc(hw)->b(headc)hw":
        b, hd, c, n = x.shape
        return x.reshape(b, hd * c, kw["h"], kw["w"])
    raise ValueError("pattern not covered: " + pattern)
'''


def shims():
    d = tempfile.mkdtemp()
    for path, text in [("einops/__init__.py", EINOPS), ("einops/layers/__init__.py", ""),
                       ("einops/layers/torch.py", "class Rearrange: pass\n"), ("torchvision/__init__.py", ""),
                       ("torchvision/utils.py", "def save_image(*a, **k): pass\n")]:
        os.makedirs(os.path.dirname(os.path.join(d, path)), exist_ok=True)
        with open(os.path.join(d, path), "w") as f:
            f.write(text)
    return d


def compare(up, ours, name, *inputs):
    su, so = up.state_dict(), ours.state_dict()
    assert list(su) == list(so), (name, "names differ", set(su) ^ set(so))
    for k in su:
        assert su[k].shape == so[k].shape, (name, k, su[k].shape, so[k].shape)
    with torch.no_grad():  # move every weight off its init (LN, temperature)
        for p in up.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ours.load_state_dict(up.state_dict())
    with torch.no_grad():
        a, b = up(*inputs), ours(*inputs)
    a = a if isinstance(a, (tuple, list)) else (a,)
    b = b if isinstance(b, (tuple, list)) else (b,)
    diff = max(float((u - v).abs().max()) for u, v in zip(a, b))
    print("%-20s %4d tensors, names/order/shapes equal, max output difference %g" % (name, len(su), diff))
    assert diff == 0.0


def main():
    sys.path.insert(0, sys.argv[1])
    sys.path.insert(0, shims())
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    import barynet
    import model_bary
    import restormer_arch

    x = torch.rand(1, 3, 16, 24, dtype=torch.float64)
    for ln in ["WithBias", "BiasFree"]:
        compare(model_bary.BaryNet(decoder=True, LayerNorm_type=ln).double(),
                barynet.BaryNet(bary_blocks=8, LayerNorm_type=ln).double(), "BaryNet " + ln, x)
    compare(restormer_arch.Restormer().double(), barynet.Restormer().double(), "Restormer", x)
    compare(model_bary.Potentials(3, 384, 128).double(), barynet.Potentials(3, 384, 128).double(), "Potentials",
            torch.randn(384, 16, 16, dtype=torch.float64), 1)


if __name__ == "__main__":
    main()
