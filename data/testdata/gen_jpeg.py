#!/usr/bin/python3
"""Make the JPEG decoding fixtures that data/jpeg_test.go checks against.

Run from the repository root with Debian's python3-pil (libjpeg-turbo):
    /usr/bin/python3 data/testdata/gen_jpeg.py
For each chroma subsampling (4:4:4, 4:2:2, 4:2:0) it writes a small JPEG
with odd sizes and saturated colour edges (where chroma upsampling matters
most) and PIL's decoding of it, convert('RGB') / 255, as float32 (1,3,H,W)
.npy: the values the authors' loader and ToTensor produce.
"""
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jpeg")
os.makedirs(OUT, exist_ok=True)

h, w = 29, 37
yy, xx = np.mgrid[0:h, 0:w]
img = np.zeros((h, w, 3), np.uint8)
img[..., 0] = np.where((xx // 5) % 2 == 0, 220, 20)  # red/cyan stripes
img[..., 2] = np.where((yy // 4) % 2 == 0, 230, 10)  # blue bands
img[..., 1] = (xx * 255 // (w - 1)).astype(np.uint8)  # green ramp
src = Image.fromarray(img)
for name, sub in [("444", 0), ("422", 1), ("420", 2)]:
    path = os.path.join(OUT, f"stripes_{name}.jpg")
    src.save(path, quality=90, subsampling=sub)
    dec = np.asarray(Image.open(path).convert("RGB")).astype(np.float32) / 255
    np.save(os.path.join(OUT, f"stripes_{name}.npy"), dec.transpose(2, 0, 1)[None].astype(np.float32))
