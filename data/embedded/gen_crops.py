#!/usr/bin/python3
"""Regenerate the embedded photographs in data/embedded/{train,test}.

Run from the repository root on Debian with python3-skimage, python3-scipy,
python-matplotlib-data, libjxl-testdata and python3-pil installed:
    /usr/bin/python3 data/embedded/gen_crops.py
Each photo is downscaled (Lanczos) so its shorter side is SHORT pixels, which
also hides JPEG blocking and sensor noise, then square crops are taken at
positions drawn from a fixed seed. Sources and licenses: ATTRIBUTION.md.
Train and test crops come from different photographs.
"""
import bz2
import os

import numpy as np
from PIL import Image

SK = "/usr/lib/python3/dist-packages/skimage/data/"
WES = "/usr/share/libjxl-testdata/external/wesaturate/500px/"
OUT = os.path.dirname(os.path.abspath(__file__))
SHORT = 256


def face():
    raw = bz2.decompress(open("/usr/lib/python3/dist-packages/scipy/misc/face.dat", "rb").read())
    return Image.fromarray(np.frombuffer(raw, np.uint8).reshape(768, 1024, 3))


def load(path):
    return lambda: Image.open(path).convert("RGB")


# name, loader, crop size, number of crops
TRAIN = [
    ("astronaut", load(SK + "astronaut.png"), 128, 3),
    ("coffee", load(SK + "coffee.png"), 128, 3),
    ("rocket", load(SK + "rocket.jpg"), 128, 3),
    ("face", face, 128, 3),
    ("keong_macan", load(WES + "cvo9xd_keong_macan_srgb8.png"), 128, 3),
    ("riaphotographs", load(WES + "tmshre_riaphotographs_srgb8.png"), 128, 3),
    # grey textures: one crop each, stored as RGB with equal channels
    ("brick", load(SK + "brick.png"), 128, 1),
    ("grass", load(SK + "grass.png"), 128, 1),
    ("gravel", load(SK + "gravel.png"), 128, 1),
]
TEST = [
    ("chelsea", load(SK + "chelsea.png"), 160, 2),
    ("grace_hopper", load("/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"), 160, 2),
    ("bliznaca", load(WES + "u76c0g_bliznaca_srgb8.png"), 160, 2),
]


def make(split, items, seed):
    rng = np.random.default_rng(seed)
    d = os.path.join(OUT, split)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        if old.endswith(".png"):
            os.remove(os.path.join(d, old))
    for name, loader, size, count in items:
        im = loader()
        w, h = im.size
        s = SHORT / min(w, h)
        im = im.resize((round(w * s), round(h * s)), Image.LANCZOS)
        w, h = im.size
        for k in range(count):
            x = int(rng.integers(0, w - size + 1))
            y = int(rng.integers(0, h - size + 1))
            im.crop((x, y, x + size, y + size)).save(os.path.join(d, f"{name}_{k}.png"), optimize=True)


make("train", TRAIN, 1)
make("test", TEST, 2)
