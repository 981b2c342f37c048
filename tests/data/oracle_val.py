#!/usr/bin/env python3
"""oracle_val.py - our decode / resize / crop against PIL + torchvision.

Run by CTest with /usr/bin/python3 (Debian's torch, torchvision, PIL) as
    oracle_val.py PATH/TO/data_probe WORKDIR
Checks, on JPEGs generated here (4:2:0, 4:2:2, 4:4:4, greyscale, CMYK,
progressive, odd sizes, large images):
  * full decode == PIL Image.open(f).convert("RGB"), exactly;
  * resample == PIL Image.resize(size, BILINEAR, box), exactly;
  * validation crop == torchvision Resize(256) + CenterCrop(224):
      exactly when the image decodes at full scale (short side < 512);
      when DCT downscaling is used (short side >= 512): mean |diff| <= 1.5
      and 99th percentile |diff| <= 8 levels (the DCT scale replaces part of
      PIL's antialiasing filter);
  * training crop == PIL crop(box).resize((224, 224), BILINEAR) (+ mirror) for
    the box and flip our RandomResizedCrop chose: exactly at full scale, the
    same bounds as above when downscaled.
"""
import io
import os
import subprocess
import sys

import numpy as np
from PIL import Image
import torchvision.transforms as T

PROBE, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAILED:", what)


def probe(*args):
    out = subprocess.run([PROBE] + [str(a) for a in args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"data_probe {args}: {out.stdout} {out.stderr}")
    return out.stdout.split()


def picture(w, h, seed):
    """A photo-like RGB image: gradients, blobs, edges and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        fx, fy, ph = rng.uniform(1, 9, 2).tolist() + [rng.uniform(0, 6)]
        img[..., c] = 128 + 90 * np.sin(2 * np.pi * (fx * x / w + fy * y / h) + ph)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, min(w, h) / 3)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def save(name, arr, mode="RGB", **kw):
    path = os.path.join(WORK, name)
    im = Image.fromarray(arr)
    if mode != "RGB":
        im = im.convert(mode)
    im.save(path, "JPEG", **kw)
    return path


def load_rgb(path, w, h):
    return np.fromfile(path, np.uint8).reshape(h, w, 3)


def compare(ours, ref, exact, what):
    d = np.abs(ours.astype(np.int16) - ref.astype(np.int16))
    if exact:
        check(d.max() == 0, f"{what}: max |diff| {d.max()} (expected exact)")
    else:
        mean, p99 = d.mean(), np.percentile(d, 99)
        check(mean <= 1.5 and p99 <= 8, f"{what}: mean |diff| {mean:.2f}, p99 {p99}")
    return d


images = [
    save("rgb420.jpg", picture(500, 375, 1), quality=90),
    save("rgb420_tall.jpg", picture(375, 500, 2), quality=85),
    save("rgb444.jpg", picture(333, 500, 3), quality=95, subsampling=0),
    save("rgb422.jpg", picture(401, 299, 4), quality=90, subsampling=1),
    save("odd.jpg", picture(257, 311, 5), quality=75),
    save("gray.jpg", picture(480, 360, 6), mode="L", quality=90),
    save("cmyk.jpg", picture(320, 400, 7), mode="CMYK", quality=92),
    save("progressive.jpg", picture(500, 333, 8), quality=88, progressive=True),
    save("large.jpg", picture(1200, 900, 9), quality=90),
    save("huge.jpg", picture(2300, 1100, 10), quality=85),
    save("small.jpg", picture(200, 150, 11), quality=90),
]

# 1. decode equals PIL
for path in images:
    ref = np.asarray(Image.open(path).convert("RGB"))
    out = os.path.join(WORK, "dec.rgb")
    w, h = map(int, probe("decode", path, out))
    check((w, h) == (ref.shape[1], ref.shape[0]), f"{path}: size {w}x{h}")
    compare(load_rgb(out, w, h), ref, True, f"decode {os.path.basename(path)}")

# 2. resample equals PIL's resize with a box
rng = np.random.default_rng(0)
src = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
src_path = os.path.join(WORK, "src.rgb")
src.tofile(src_path)
cases = [((0, 0, 131, 97), (224, 224)), ((10, 7, 120, 90), (50, 37)), ((0, 0, 131, 97), (13, 11)),
         ((3.5, 2.25, 77.75, 60.5), (64, 64)), ((20, 20, 40, 40), (224, 224)),
         ((0, 0, 131, 97), (131, 97))]
for box, (ow, oh) in cases:
    ref = np.asarray(Image.fromarray(src).resize((ow, oh), Image.BILINEAR, box=box))
    out = os.path.join(WORK, "res.rgb")
    probe("resample", src_path, 131, 97, *box, ow, oh, out)
    compare(load_rgb(out, ow, oh), ref, True, f"resample box {box} -> {ow}x{oh}")

# 3. validation crop vs torchvision Resize(256) + CenterCrop(224)
val_tf = T.Compose([T.Resize(256), T.CenterCrop(224)])
worst = {}
for path in images:
    ref = np.asarray(val_tf(Image.open(path).convert("RGB")))
    out = os.path.join(WORK, "val.rgb")
    denom = int(probe("val", path, 256, 224, out)[0])
    d = compare(load_rgb(out, 224, 224), ref, denom == 1,
                f"val {os.path.basename(path)} (DCT scale 1/{denom})")
    worst[os.path.basename(path)] = (denom, int(d.max()), float(d.mean()))

# 4. training crop vs PIL crop + resize of the same box (+ flip)
for k, path in enumerate(images):
    for index in range(3):
        out = os.path.join(WORK, "train.rgb")
        x, y, w, h, flip, denom = map(int, probe("train", path, 224, 7, k * 10 + index, out))
        im = Image.open(path).convert("RGB").crop((x, y, x + w, y + h)).resize((224, 224),
                                                                               Image.BILINEAR)
        ref = np.asarray(im)[:, ::-1] if flip else np.asarray(im)
        compare(load_rgb(out, 224, 224), ref, denom == 1,
                f"train {os.path.basename(path)} box {(x, y, w, h)} flip {flip} 1/{denom}")

for name, (denom, mx, mean) in sorted(worst.items()):
    print(f"val {name:20s} scale 1/{denom}: max |diff| {mx:3d}, mean {mean:.3f}")
print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
