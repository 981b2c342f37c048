#!/usr/bin/env python3
"""oracle_shards.py - resnet_shards against torchvision's ImageFolder and h5py.

    oracle_shards.py PATH/TO/resnet_shards WORKDIR
* ImageFolder tree (nested folders, upper-case extensions, a greyscale JPEG, a
  CMYK JPEG, a PNG named .JPEG, a corrupt .JPEG, a non-image file) plus a
  Tiny-ImageNet-style flat val folder: h5py reads the shards; records are
  torchvision.datasets.ImageFolder's samples in order, minus the reported
  skips; labels equal its targets; stored bytes equal the files; the CMYK
  file was converted to RGB (decodes like PIL's convert within JPEG error);
  /images is contiguous and uncompressed; attributes as in docs/SHARDS.md.
* verify --decode passes, then fails naming file and record after we break a
  record's bytes and another's label, and names the missing file of an
  incomplete set; info counts classes.
* A build removes the temporary files an interrupted build left (and only
  those), and refuses a folder another build holds.
* --max-side re-encodes large images; CIFAR-10 binaries round trip to
  /pixels exactly; a short batch file or a label >= 10 is refused naming the
  file (and record) before anything is written; synth is deterministic;
  usage mistakes exit with 2.
"""
import fcntl
import glob
import io
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
from PIL import Image
import torchvision

TOOL, WORK = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAILED:", what)


def tool(*args, expect=0):
    p = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True)
    check(p.returncode == expect,
          f"resnet_shards {' '.join(map(str, args))}: exit {p.returncode}, wanted {expect}\n"
          f"{p.stdout}\n{p.stderr}")
    return p.stdout + p.stderr


def picture(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // w), (y * 255 // h), np.full_like(x, seed * 37 % 256)], -1)
    return np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)


def attr(f, name):
    """String attributes are fixed-length: h5py gives bytes."""
    v = f.attrs[name]
    return v.decode() if isinstance(v, bytes) else v


def read_split(out, split):
    labels, keys, blobs = [], [], []
    files = sorted(glob.glob(f"{out}/{split}-*.h5"))
    for path in files:
        with h5py.File(path, "r") as f:
            check(attr(f, "format") == "resnet_dist.shard", f"{path}: format attribute")
            check(int(f.attrs["version"]) == 1, f"{path}: version")
            check(attr(f, "split") == split, f"{path}: split attribute")
            enc = attr(f, "encoding")
            labels += list(f["labels"][:])
            keys += [k.decode() for k in f["keys"][:]]
            if enc == "jpeg":
                images, off = f["images"], f["offsets"][:]
                check(images.chunks is None and images.compression is None,
                      f"{path}: /images is not contiguous")
                check(np.all(np.diff(off) >= 0) and off[0] == 0 and off[-1] == images.shape[0],
                      f"{path}: offsets")
                data = images[:]
                blobs += [bytes(data[off[i]:off[i + 1]]) for i in range(len(off) - 1)]
            else:
                blobs += list(f["pixels"][:])
    return files, np.array(labels), keys, blobs


# ---------------------------------------------------------------- ImageFolder
root = os.path.join(WORK, "imagenet")
classes = ["n01440764", "n01443537", "n02102040", "zebra"]
special = {}
for c, name in enumerate(classes):
    d = os.path.join(root, "train", name)
    os.makedirs(os.path.join(d, "sub"), exist_ok=True)
    for i in range(5 + c):
        ext = ".JPEG" if i % 2 else ".jpg"
        folder = os.path.join(d, "sub") if i == 4 else d
        Image.fromarray(picture(60 + 7 * i, 50 + 5 * c, c * 10 + i)).save(
            os.path.join(folder, f"{name}_{i}{ext}"), "JPEG", quality=90)
    open(os.path.join(d, "notes.txt"), "w").write("not an image")
d = os.path.join(root, "train", classes[1])
Image.fromarray(picture(64, 48, 99)).convert("L").save(os.path.join(d, "grey.JPEG"), "JPEG")
Image.fromarray(picture(64, 48, 98)).convert("CMYK").save(os.path.join(d, "cmyk.JPEG"), "JPEG",
                                                          quality=95)
Image.fromarray(picture(64, 48, 97)).save(os.path.join(d, "png_inside.JPEG"), "PNG")
open(os.path.join(d, "corrupt.JPEG"), "wb").write(b"\xff\xd8\xff\xe0" + bytes(range(200)))
special = {"cmyk": os.path.join(d, "cmyk.JPEG"), "png": os.path.join(d, "png_inside.JPEG"),
           "corrupt": os.path.join(d, "corrupt.JPEG")}
vdir = os.path.join(root, "val", "images")
os.makedirs(vdir)
with open(os.path.join(root, "val", "val_annotations.txt"), "w") as ann:
    for i in range(9):
        Image.fromarray(picture(64, 64, 500 + i)).save(os.path.join(vdir, f"val_{i}.JPEG"), "JPEG")
        ann.write(f"val_{i}.JPEG\t{classes[(i * 3) % 4]}\t0\t0\t10\t10\n")

out = os.path.join(WORK, "shards")
log = tool("build", "--from", "imagefolder", "--input", root, "--output", out, "--shards", 3)
check(os.path.exists(f"{out}/train-00002-of-00003.h5"), "train-00002-of-00003.h5 missing")
check(os.path.exists(f"{out}/val-00000-of-00001.h5"), "val-00000-of-00001.h5 missing")
for what in ("cmyk", "png", "corrupt"):
    check(special[what] in log, f"the build report does not name {special[what]}")
check("CMYK converted to RGB" in log and "skipped: PNG" in log, "report categories")

ref = torchvision.datasets.ImageFolder(os.path.join(root, "train"))
skipped = {special["png"], special["corrupt"]}
expect = [(p, t) for p, t in ref.samples if p not in skipped]
files, labels, keys, blobs = read_split(out, "train")
check(len(files) == 3, f"{len(files)} train shards")
check(list(labels) == [t for _, t in expect], "train labels differ from ImageFolder's targets")
check(keys == [os.path.relpath(p, os.path.join(root, "train")) for p, _ in expect],
      "keys are not the paths under train/")
for (path, _), blob in zip(expect, blobs):
    if path == special["cmyk"]:
        ours = np.asarray(Image.open(io.BytesIO(blob)))
        pil = np.asarray(Image.open(path).convert("RGB")).astype(int)
        check(ours.ndim == 3 and np.abs(ours - pil).mean() < 4, "CMYK conversion")  # q95 4:4:4
    else:
        check(blob == open(path, "rb").read(), f"{path}: stored bytes differ")
with h5py.File(files[0], "r") as f:
    check([c.decode() for c in f["classes"][:]] == ref.classes, "/classes != ImageFolder.classes")
    check(int(f.attrs["num_classes"]) == 4, "num_classes")
sizes = [os.path.getsize(p) for p in files]
check(max(sizes) < 2.5 * min(sizes), f"shards not balanced by bytes: {sizes}")
_, vlabels, vkeys, _ = read_split(out, "val")
check(vkeys == [f"val_{i}.JPEG" for i in range(9)], f"val keys {vkeys}")
check(list(vlabels) == [(i * 3) % 4 for i in range(9)], f"val labels {list(vlabels)}")

tool("verify", out, "--decode")
info = tool("info", out)
check(f"{len(expect)} records" in info and "zebra" in info, "info output:\n" + info)

# break record 2's bytes and record 4's label in a copy: verify names both
bad = os.path.join(WORK, "bad")
shutil.copytree(out, bad)
with h5py.File(f"{bad}/train-00000-of-00003.h5", "r+") as f:
    off = f["offsets"][:]
    f["images"][off[2]:off[3]] = 0
    f["labels"][4] = 17
log = tool("verify", bad, "--decode", expect=2)
check("train-00000-of-00003.h5: record 2" in log and "record 4" in log and "label 17" in log,
      "verify output:\n" + log)

# a set with a shard missing: verify names it
gap = os.path.join(WORK, "gap")
shutil.copytree(out, gap)
os.remove(f"{gap}/train-00001-of-00003.h5")
log = tool("verify", gap, expect=2)
check("shard set 'train' is incomplete: 2 of 3 files (missing train-00001-of-00003.h5)" in log,
      "verify output on an incomplete set:\n" + log)

tool("build", "--from", "imagefolder", "--input", root, "--output", out, expect=2)
# leftovers of an interrupted build go; other files stay
leftovers = [f"{out}/train-00001-of-00003.h5.tmp", f"{out}/val-00000-of-00001.h5.records.tmp"]
keep = [f"{out}/notes.h5.tmp", f"{out}/train-1.h5.records.tmp"]
for path in leftovers + keep:
    open(path, "wb").write(b"x" * 100)
log = tool("build", "--from", "imagefolder", "--input", root, "--output", out, "--overwrite")
check(not any(os.path.exists(p) for p in leftovers), "leftover temporary files not removed")
check(all(f"removed {p}" in log for p in leftovers), "removed leftovers not reported:\n" + log)
check(all(os.path.exists(p) for p in keep), "files not of our naming were removed")
for path in keep:
    os.remove(path)
# another build holds the folder
held = os.open(out, os.O_RDONLY)
fcntl.flock(held, fcntl.LOCK_EX)
log = tool("build", "--from", "imagefolder", "--input", root, "--output", out, "--overwrite",
           expect=2)
check("another resnet_shards is writing into this folder" in log, "lock message:\n" + log)
os.close(held)
tool("build", "--from", "imagefolder", "--output", out, expect=2)
tool("build", "--from", "folders", "--input", root, "--output", out, expect=2)
tool("verify", os.path.join(WORK, "nothing-here"), expect=2)

# ILSVRC2012 layout: flat val folder + LOC_val_solution.csv (header, stem ids)
flat = os.path.join(WORK, "ilsvrc")
shutil.copytree(os.path.join(root, "train"), os.path.join(flat, "train"))
os.makedirs(os.path.join(flat, "val"))
with open(os.path.join(WORK, "LOC_val_solution.csv"), "w") as csv:
    csv.write("ImageId,PredictionString\n")
    for i in range(5):
        name = f"ILSVRC2012_val_{i + 1:08d}"
        Image.fromarray(picture(40, 30, 700 + i)).save(os.path.join(flat, "val", name + ".JPEG"))
        csv.write(f"{name},{classes[(i + 1) % 4]} 1 2 30 20 {classes[(i + 1) % 4]} 3 4 5 6\n")
Image.fromarray(picture(40, 30, 799)).save(os.path.join(flat, "val", "unlabelled.JPEG"))
log = tool("build", "--from", "imagefolder", "--input", flat, "--output",
           os.path.join(WORK, "ilsvrc_shards"), "--val-labels",
           os.path.join(WORK, "LOC_val_solution.csv"))
_, vlabels, vkeys, _ = read_split(os.path.join(WORK, "ilsvrc_shards"), "val")
check(list(vlabels) == [(i + 1) % 4 for i in range(5)], f"ILSVRC val labels {list(vlabels)}")
check("unlabelled.JPEG has no label" in log, "an unlabelled val file is not reported")

small = os.path.join(WORK, "small")
tool("build", "--from", "imagefolder", "--input", root, "--output", small, "--max-side", 40,
     "--quality", 90)
_, _, _, blobs = read_split(small, "train")
check(all(max(Image.open(io.BytesIO(b)).size) <= 40 for b in blobs), "--max-side not applied")

# ---------------------------------------------------------------- CIFAR-10
cdir = os.path.join(WORK, "cifar")
os.makedirs(cdir)
rng = np.random.default_rng(3)
want = {}
for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
    n = 10000  # what every CIFAR-10 batch file holds
    lab = rng.integers(0, 10, n, dtype=np.uint8)
    chw = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    np.concatenate([lab[:, None], chw.reshape(n, -1)], 1).tofile(os.path.join(cdir, name))
    want[name] = (lab, chw.transpose(0, 2, 3, 1))
open(os.path.join(cdir, "batches.meta.txt"), "w").write(
    "\n".join(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]) + "\n\n")
cout = os.path.join(WORK, "cifar_shards")
tool("build", "--from", "cifar10", "--input", cdir, "--output", cout)
_, labels, keys, pixels = read_split(cout, "train")
wl = np.concatenate([want[f"data_batch_{i}.bin"][0] for i in range(1, 6)])
wp = np.concatenate([want[f"data_batch_{i}.bin"][1] for i in range(1, 6)])
check(np.array_equal(labels, wl) and np.array_equal(np.stack(pixels), wp), "CIFAR train")
check(keys[10012] == "data_batch_2.bin:12", f"CIFAR key {keys[10012]}")
_, labels, _, pixels = read_split(cout, "val")
check(np.array_equal(labels, want["test_batch.bin"][0]) and
      np.array_equal(np.stack(pixels), want["test_batch.bin"][1]), "CIFAR val")
with h5py.File(f"{cout}/train-00000-of-00001.h5", "r") as f:
    check(attr(f, "encoding") == "raw" and f["pixels"].shape == (50000, 32, 32, 3),
          "CIFAR schema")
    check(f["classes"][3].decode() == "cat", "CIFAR class names")
tool("verify", cout)

# a partial batch file, then a label out of range: refused, nothing written
def cifar_refused(name, data, needle):
    bad_dir = os.path.join(WORK, "cifar_bad")
    shutil.rmtree(bad_dir, ignore_errors=True)
    os.makedirs(bad_dir)
    for other in os.listdir(cdir):  # the good files by link: 180 MB need no copies
        os.symlink(os.path.join(cdir, other), os.path.join(bad_dir, other))
    os.remove(os.path.join(bad_dir, name))
    open(os.path.join(bad_dir, name), "wb").write(data)
    dest = os.path.join(WORK, "cifar_bad_shards")
    log = tool("build", "--from", "cifar10", "--input", bad_dir, "--output", dest, expect=2)
    check(f"{bad_dir}/{name}: {needle}" in log, f"CIFAR {name} message:\n{log}")
    check(not glob.glob(f"{dest}/*.h5*"), f"CIFAR {name}: shards written from bad input")

whole = open(os.path.join(cdir, "data_batch_3.bin"), "rb").read()
cifar_refused("data_batch_3.bin", whole[:9999 * 3073], "30726927 bytes, but a CIFAR-10 batch")
cifar_refused("data_batch_3.bin", b"", "0 bytes, but a CIFAR-10 batch")
test = bytearray(open(os.path.join(cdir, "test_batch.bin"), "rb").read())
test[17 * 3073] = 10
cifar_refused("test_batch.bin", bytes(test), "record 17 has label 10")

# ---------------------------------------------------------------- synth
for k in range(2):
    tool("synth", "--output", os.path.join(WORK, f"synth{k}"), "--classes", 3, "--train", 30,
         "--val", 10, "--seed", 5, "--threads", 1 + k)
a = read_split(os.path.join(WORK, "synth0"), "train")
b = read_split(os.path.join(WORK, "synth1"), "train")
check(a[2] == b[2] and a[3] == b[3] and np.array_equal(a[1], b[1]), "synth is not deterministic")
sizes = {Image.open(io.BytesIO(x)).size for x in a[3]}
check(len(sizes) > 5, f"synth sizes do not vary: {sizes}")
tool("verify", os.path.join(WORK, "synth0"), "--decode")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
