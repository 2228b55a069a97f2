#!/usr/bin/python3
"""Make the JPEG-quality fixtures that data/degrade_params_test.go checks.

Run from the repository root with Debian's python3-pil (libjpeg-turbo):
    /usr/bin/python3 data/testdata/gen_jpeg_quality.py
It saves the embedded test photo chelsea_0.png with PIL at qualities 10 and 75
(PIL's defaults otherwise: 4:2:0 chroma, standard tables) and stores
PIL's decoding, convert('RGB') / 255, as float32 (1,3,H,W) .npy: the input
the authors' JPEG tests (BSD500 at a given QF) would give.
"""
import io
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "jpeg")
src = Image.open(os.path.join(HERE, "..", "embedded", "test", "chelsea_0.png")).convert("RGB")
for q in (10, 75):
    buf = io.BytesIO()
    src.save(buf, format="JPEG", quality=q)
    buf.seek(0)
    dec = np.asarray(Image.open(buf).convert("RGB")).astype(np.float32) / 255
    np.save(os.path.join(OUT, f"quality{q}.npy"), dec.transpose(2, 0, 1)[None].astype(np.float32))
