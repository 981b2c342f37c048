#!/usr/bin/env python3
"""bench_torchvision.py - the reference: torchvision + PIL on the same JPEGs.

    bench_torchvision.py [--threads 1,2] [--repeat 5] [--passes 2] FILE.jpg...
Per image: PIL open + convert("RGB") (decode), RandomResizedCrop(224),
RandomHorizontalFlip, ToTensor, Normalize(ImageNet mean/std) -- what a
PyTorch ImageNet DataLoader worker does.  The file bytes are read into
memory first, as in bench_pipeline.  T "threads" are T worker processes
(DataLoader's model; torch uses one intra-op thread each).  Prints median
images/s over `repeat` runs and the same per worker.
"""
import io
import multiprocessing as mp
import statistics
import sys
import time

import torch
import torchvision.transforms as T
from PIL import Image


def parse(argv):
    opts = {"threads": "1,2", "repeat": "5", "passes": "2"}
    i = 0
    while i < len(argv) and argv[i].startswith("--"):
        opts[argv[i][2:]] = argv[i + 1]
        i += 2
    threads = [int(t) for t in opts["threads"].split(",")]
    return threads, int(opts["repeat"]), int(opts["passes"]), argv[i:]


TF = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(),
                T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])


def work(args):
    blobs, passes = args
    torch.set_num_threads(1)
    n = 0
    for _ in range(passes):
        for b in blobs:
            TF(Image.open(io.BytesIO(b)).convert("RGB"))
            n += 1
    return n


def main():
    threads, repeat, passes, files = parse(sys.argv[1:])
    blobs = [open(f, "rb").read() for f in files]
    print(f"{len(blobs)} JPEGs, {sum(map(len, blobs)) / len(blobs) / 1024:.1f} KB on average")
    for t in threads:
        rates = []
        with mp.Pool(t) as pool:
            pool.map(work, [(blobs[:4], 1)] * t)  # warm up the workers
            for _ in range(repeat):
                t0 = time.perf_counter()
                n = sum(pool.map(work, [(blobs[k::t], passes) for k in range(t)]))
                rates.append(n / (time.perf_counter() - t0))
        med = statistics.median(rates)
        print(f"torchvision    threads {t}  {med:8.1f} img/s  {med / t:8.1f} img/s per thread"
              f"   (min {min(rates):.1f} max {max(rates):.1f})", flush=True)


if __name__ == "__main__":
    main()
