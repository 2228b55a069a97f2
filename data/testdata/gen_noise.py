#!/usr/bin/python3
"""Make the noise-statistics fixture that data/degrade_params_test.go checks.

Run from the repository root with Debian's python3-numpy:
    /usr/bin/python3 data/testdata/gen_noise.py
The authors' _add_gaussian_noise (utils/dataset_utils.py) on a uint8 image:
    noisy = np.clip(clean + np.random.randn(*shape) * sigma, 0, 255).astype(np.uint8)
For flat images at a few levels (where clipping and truncation matter most:
near 0 and 255) and the sigmas the tests use, it records the mean and
standard deviation of the output levels over many samples, as float32 rows
(sigma, level, mean, std) in noise/stats.npy.
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "noise")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(11)
rows = []
for sigma in (15, 60, 75):
    for level in (0, 20, 128, 240, 255):
        clean = np.full(1_000_000, level, np.uint8)
        noisy = np.clip(clean + rng.standard_normal(clean.shape) * sigma, 0, 255).astype(np.uint8)
        rows.append((sigma, level, noisy.mean(), noisy.std(ddof=1)))
np.save(os.path.join(OUT, "stats.npy"), np.array(rows, np.float32))
