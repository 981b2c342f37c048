#!/usr/bin/env python3
"""oracle_rrc.py - our RandomResizedCrop boxes follow torchvision's distribution.

    oracle_rrc.py PATH/TO/data_probe WORKDIR
For several image shapes (ImageNet-like, portrait, extreme aspect where the
ten tries often fail and the central fallback is taken, small square),
draws N boxes from our sampler (Philox per-sample streams) and N from
torchvision.transforms.RandomResizedCrop.get_params (torch's generator,
fixed seed), and compares the distributions of area fraction, log aspect
ratio and box centre with the two-sample Kolmogorov-Smirnov statistic:
D must stay below the 0.1% critical value 1.95 * sqrt(2 / N).  The rate of
fallback crops must agree within 4 binomial standard errors (+0.002).
Both samplers are seeded, so the test is deterministic.
"""
import math
import subprocess
import sys

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

PROBE = sys.argv[1]
N = 20000
failures = []


def ks(a, b):
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def fallback_box(W, H, lo=3 / 4, hi=4 / 3):
    r = W / H
    if r < lo:
        w, h = W, int(round(W / lo))
    elif r > hi:
        h, w = H, int(round(H * hi))
    else:
        w, h = W, H
    return ((W - w) // 2, (H - h) // 2, w, h)


def features(boxes, W, H):
    x, y, w, h = boxes.T.astype(np.float64)
    return {"scale": w * h / (W * H), "log_ratio": np.log(w / h), "centre_x": (x + w / 2) / W,
            "centre_y": (y + h / 2) / H}


torch.manual_seed(0)
crit = 1.95 * math.sqrt(2.0 / N)
for W, H in [(500, 375), (375, 500), (400, 100), (64, 64)]:
    out = subprocess.run([PROBE, "rrc", str(W), str(H), str(N), "1"], capture_output=True,
                         text=True, check=True).stdout
    ours = np.array([list(map(int, l.split())) for l in out.splitlines()])
    img = Image.new("RGB", (W, H))
    ref = []
    for _ in range(N):
        i, j, h, w = T.RandomResizedCrop.get_params(img, (0.08, 1.0), (3 / 4, 4 / 3))
        ref.append((j, i, w, h))
    ref = np.array(ref)
    ok_bounds = np.all((ours[:, 2] > 0) & (ours[:, 3] > 0) & (ours[:, 0] >= 0) & (ours[:, 1] >= 0)
                       & (ours[:, 0] + ours[:, 2] <= W) & (ours[:, 1] + ours[:, 3] <= H))
    if not ok_bounds:
        failures.append(f"{W}x{H}: a box leaves the image")
    fo, fr = features(ours, W, H), features(ref, W, H)
    for name in fo:
        d = ks(fo[name], fr[name])
        status = "ok" if d < crit else "FAILED"
        print(f"{W}x{H} {name:10s} KS D = {d:.4f} (limit {crit:.4f}) {status}")
        if d >= crit:
            failures.append(f"{W}x{H} {name}: D {d:.4f}")
    fb = np.array(fallback_box(W, H))
    po, pr = np.mean(np.all(ours == fb, axis=1)), np.mean(np.all(ref == fb, axis=1))
    p = (po + pr) / 2
    tol = 4 * math.sqrt(max(p * (1 - p), 1e-9) * 2 / N) + 0.002
    status = "ok" if abs(po - pr) <= tol else "FAILED"
    print(f"{W}x{H} fallback rate {po:.4f} vs torchvision {pr:.4f} (tol {tol:.4f}) {status}")
    if abs(po - pr) > tol:
        failures.append(f"{W}x{H} fallback rate")
print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
