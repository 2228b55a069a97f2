#!/usr/bin/python3
"""Make the PSNR/SSIM fixtures that data/metrics_test.go checks against.

Run from the repository root with Debian's python3-skimage:
    /usr/bin/python3 data/testdata/gen_metrics.py
It writes data/testdata/metrics/case_*_{clean,test}.npy (float32, (1,3,H,W))
and data/testdata/metrics/metrics.json. The metric calls are the ones in the
authors' util/val_utils.py: both images clipped to [0,1], HWC float32,
peak_signal_noise_ratio(clean, test, data_range=1) and
structural_similarity(clean, test, channel_axis=2, data_range=1).
"""
import json
import os

import numpy as np
import skimage
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics")
rng = np.random.default_rng(20240526)


def photo_crop(h, w):
    img = skdata.chelsea()[100:100 + h, 150:150 + w].astype(np.float32) / 255
    return img.transpose(2, 0, 1)


def smooth(h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([0.5 + 0.4 * np.sin(xx / 5 + c) * np.cos(yy / 7) for c in range(3)])
    return base.astype(np.float32)


cases = []
clean = photo_crop(40, 48)
cases.append(("photo_noise25", clean, clean + rng.normal(0, 25 / 255, clean.shape).astype(np.float32)))
clean = photo_crop(33, 29)
cases.append(("photo_blurish_odd", clean, (0.5 * clean + 0.25 * np.roll(clean, 1, 1) + 0.25 * np.roll(clean, 1, 2)).astype(np.float32)))
clean = smooth(24, 31)
# values outside [0,1] check the clipping both sides get
cases.append(("smooth_outside_range", clean, (clean * 1.3 - 0.15 + rng.normal(0, 0.05, clean.shape)).astype(np.float32)))
clean = smooth(7, 9)
cases.append(("window_sized", clean, (clean + rng.uniform(-0.1, 0.1, clean.shape)).astype(np.float32)))
clean = rng.uniform(0, 1, (3, 16, 16)).astype(np.float32)
cases.append(("uniform_noise_pair", clean, rng.uniform(0, 1, clean.shape).astype(np.float32)))

os.makedirs(OUT, exist_ok=True)
results = {"skimage_version": skimage.__version__, "numpy_version": np.__version__, "cases": []}
for name, c, t in cases:
    c = c.astype(np.float32)
    t = t.astype(np.float32)
    np.save(os.path.join(OUT, f"case_{name}_clean.npy"), c[None])
    np.save(os.path.join(OUT, f"case_{name}_test.npy"), t[None])
    ch = np.clip(c, 0, 1).transpose(1, 2, 0)
    th = np.clip(t, 0, 1).transpose(1, 2, 0)
    results["cases"].append({
        "name": name,
        "psnr": float(peak_signal_noise_ratio(ch, th, data_range=1)),
        "ssim": float(structural_similarity(ch, th, channel_axis=2, data_range=1)),
        # the same images in float64, for reference: how far float32 evaluation moves the result
        "ssim_float64": float(structural_similarity(ch.astype(np.float64), th.astype(np.float64), channel_axis=2, data_range=1)),
    })
with open(os.path.join(OUT, "metrics.json"), "w") as f:
    json.dump(results, f, indent=1)
    f.write("\n")
print(json.dumps(results, indent=1))
