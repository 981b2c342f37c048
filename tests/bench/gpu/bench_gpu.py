#!/usr/bin/env python3
"""bench_gpu.py - the GPU training benchmark of issue 6: ours and PyTorch on
the same GPU in the same run, side by side (a program, not a test).

Each measurement runs in its own process, one after the other:
  ours   resnet_dist --mode bench --json --device cuda (its last JSON line),
         or, when that mode gives no JSON, bench_cuda_step (the same
         measurement through the model API; the table says which one ran)
  torch  torch_bench.py, eager and torch.compile
Both sides keep one random batch on the device (no input pipeline), train
with SGD momentum and label smoothing 0.1 and report images/s over timed
steps after untimed warm-up steps, and peak device memory (total - free
beyond the CUDA context).

Configurations (issue 6): ResNet-50 224x224 bf16 at batch 256 and 128,
ResNet-50 fp32 (TF32) at 256, CIFAR ResNet-20 32x32 bf16 and fp32 at 512.

  bench_gpu.py --build BUILD_DIR [--out results.json] [--md table.md]
               [--steps 30] [--warmup 10] [--no-compile] [--only r50-bf16-256,...]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

# name, arch, batch, image, classes, precision, config file, torch.compile too
CONFIGS = [
    ("r50-bf16-256", "resnet50", 256, 224, 1000, "bf16", "imagenet_r50.ini", True),
    ("r50-bf16-128", "resnet50", 128, 224, 1000, "bf16", "imagenet_r50.ini", True),
    ("r50-fp32-256", "resnet50", 256, 224, 1000, "fp32", "imagenet_r50.ini", False),
    ("r20-bf16-512", "resnet20", 512, 32, 10, "bf16", "cifar10_r20.ini", True),
    ("r20-fp32-512", "resnet20", 512, 32, 10, "fp32", "cifar10_r20.ini", False),
]

IPS_KEYS = ("images_per_s", "img_per_s", "throughput_images_per_s")
MEM_KEYS = ("peak_mem_bytes", "peak_device_bytes", "peak_bytes")


def last_json(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    return None


def first_key(rec, keys):
    for k in keys:
        if rec and k in rec:
            return rec[k]
    return None


def run(cmd, timeout_s, log):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT)
        out, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        parts = [x.decode(errors="replace") if isinstance(x, bytes) else (x or "")
                 for x in (e.stdout, e.stderr)]
        out, rc = "".join(parts) + "\n(timed out)", 124
    log.write("$ %s\n(exit %d, %.1f s)\n%s\n" % (" ".join(cmd), rc, time.time() - t0, out[-4000:]))
    log.flush()
    return rc, out


def torch_python():
    """A Python that can import torch with CUDA: this one, else a venv under /opt."""
    cands = [sys.executable] + sorted(glob.glob("/opt/*/.venv/bin/python")) + ["python3"]
    for py in cands:
        try:
            r = subprocess.run([py, "-c", "import torch; assert torch.cuda.is_available()"],
                               capture_output=True, timeout=120)
            if r.returncode == 0:
                return py
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


def ours(build, cfg, a, log):
    name, arch, batch, image, classes, prec, ini, _ = cfg
    sets = ["model.arch=" + arch, "model.num_classes=%d" % classes, "train.batch_size=%d" % batch,
            "data.image_size=%d" % image, "train.precision=" + prec, "data.source=synthetic"]
    cmd = [os.path.join(build, "src", "resnet_dist"), "--mode", "bench", "--json", "--device",
           "cuda", "--config", os.path.join(ROOT, "configs", ini)]
    for s in sets:
        cmd += ["--set", s]
    rc, out = run(cmd, a.timeout, log)
    rec = last_json(out) if rc == 0 else None
    if first_key(rec, IPS_KEYS) is not None:
        rec["impl"] = "resnet_dist --mode bench"
        return rec
    cmd = [os.path.join(build, "tests", "bench", "gpu", "bench_cuda_step"), "--arch", arch,
           "--batch", str(batch), "--image", str(image), "--classes", str(classes),
           "--precision", prec, "--steps", str(a.steps), "--warmup", str(a.warmup)]
    rc, out = run(cmd, a.timeout, log)
    rec = last_json(out) if rc == 0 else None
    if rec:
        rec["impl"] = "bench_cuda_step"
    return rec


def theirs(py, cfg, compile_, a, log):
    name, arch, batch, image, classes, prec, _, _ = cfg
    cmd = [py, os.path.join(HERE, "torch_bench.py"), "--arch", arch, "--batch", str(batch),
           "--image", str(image), "--classes", str(classes), "--precision", prec,
           "--compile", str(int(compile_)), "--steps", str(a.steps), "--warmup", str(a.warmup)]
    rc, out = run(cmd, a.timeout * (2 if compile_ else 1), log)
    return last_json(out) if rc == 0 else None


def fmt_ips(rec):
    v = first_key(rec, IPS_KEYS)
    return "%.0f" % v if v is not None else "-"


def fmt_gib(rec):
    v = first_key(rec, MEM_KEYS)
    return "%.1f" % (v / 2**30) if v is not None else "-"


def ratio(a, b):
    x, y = first_key(a, IPS_KEYS), first_key(b, IPS_KEYS)
    return "%.2f" % (x / y) if x and y else "-"


def table(rows):
    head = ["config", "ours img/s", "torch eager", "torch compile", "ours/eager",
            "ours/compile", "ours GiB", "eager GiB", "compile GiB", "ours via"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, o, e, c in rows:
        lines.append("| " + " | ".join([
            name, fmt_ips(o), fmt_ips(e), fmt_ips(c), ratio(o, e), ratio(o, c), fmt_gib(o),
            fmt_gib(e), fmt_gib(c), (o or {}).get("impl", "failed")]) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--md", default=None)
    ap.add_argument("--log", default=None)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--timeout", type=int, default=240, help="seconds per measurement")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated config names")
    a = ap.parse_args()

    log = open(a.log or os.devnull, "w")
    py = torch_python()
    if not py:
        print("note: no Python with CUDA-enabled torch found; PyTorch columns stay empty")
    only = set(filter(None, a.only.split(",")))
    rows, records = [], []
    for cfg in CONFIGS:
        if only and cfg[0] not in only:
            continue
        o = ours(a.build, cfg, a, log)
        e = theirs(py, cfg, False, a, log) if py else None
        c = theirs(py, cfg, True, a, log) if py and cfg[7] and not a.no_compile else None
        rows.append((cfg[0], o, e, c))
        records.append({"config": cfg[0], "ours": o, "torch_eager": e, "torch_compile": c})
        print("%-14s ours %s  eager %s  compile %s img/s" % (cfg[0], fmt_ips(o), fmt_ips(e),
                                                             fmt_ips(c)), flush=True)
    t = table(rows)
    print(t)
    if a.md:
        with open(a.md, "w") as f:
            f.write(t + "\n")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(records, f, indent=1)
    return 0 if all(r[1] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
