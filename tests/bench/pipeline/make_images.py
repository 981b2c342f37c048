#!/usr/bin/env python3
"""make_images.py OUT_DIR N - N ImageNet-like JPEGs (500x375 or 375x500,
about 110 KB: photo-like content with edges, texture and noise, quality 93,
4:2:0) for the pipeline benchmark; deterministic."""
import os
import sys

import numpy as np
from PIL import Image, ImageFilter

out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
for i in range(n):
    rng = np.random.default_rng(i)
    w, h = (500, 375) if i % 4 else (375, 500)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        f = rng.uniform(1, 12, 2)
        phase = rng.uniform(0, 6)
        img[..., c] = 128 + 70 * np.sin(2 * np.pi * (f[0] * x / w + f[1] * y / h) + phase)
    for _ in range(25):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, 90)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    texture = rng.normal(0, 1, (h, w, 3)).astype(np.float32)
    img += 36 * texture
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)
    im.save(os.path.join(out, f"img_{i:04d}.JPEG"), "JPEG", quality=93)
