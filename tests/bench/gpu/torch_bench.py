#!/usr/bin/env python3
"""torch_bench.py - PyTorch's side of the GPU training benchmark.

The reference configuration of issue 6: torchvision's resnet50 (or the CIFAR
ResNet-20 of tests/model/cifar_resnet.py), channels_last, autocast bf16 (or
fp16 with a GradScaler, or fp32 with / without TF32), SGD momentum 0.9 and
weight decay 5e-5, cross-entropy with label smoothing 0.1,
cudnn.benchmark on, optionally torch.compile.  One random batch lives on the
device for the whole run, as in bench_cuda_step.c.  `warmup` untimed steps
(cudnn.benchmark's search, compilation), then `steps` timed steps.

Prints one JSON line: impl, arch, batch, image, precision, compile, steps,
images_per_s, step_ms, peak_mem_bytes (device memory in use, total - free,
beyond what the CUDA context held before the model: comparable with
bench_cuda_step's) and peak_alloc_bytes (torch.cuda.max_memory_allocated).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn


def build_model(arch, classes):
    if arch == "resnet20":
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "model"))
        from cifar_resnet import CifarResNet
        return CifarResNet(20, classes, "A")
    import torchvision
    return getattr(torchvision.models, arch)(num_classes=classes)


def device_used():
    free_b, total_b = torch.cuda.mem_get_info()
    return total_b - free_b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", default="resnet50")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--image", type=int, default=224)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--precision", default="bf16", choices=["bf16", "fp16", "fp32", "fp32-strict"])
    ap.add_argument("--compile", type=int, default=0)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=10)
    a = ap.parse_args()

    torch.backends.cudnn.benchmark = True
    tf32 = a.precision != "fp32-strict"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    dev = torch.device("cuda")
    torch.cuda.init()
    torch.empty(1, device=dev)
    base = device_used()

    model = build_model(a.arch, a.classes).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-5)
    crit = nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(a.batch, 3, a.image, a.image, device=dev).to(memory_format=torch.channels_last)
    y = torch.randint(0, a.classes, (a.batch,), device=dev)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)
    scaler_cls = getattr(torch.amp, "GradScaler", None)  # torch >= 2.3; older: torch.cuda.amp
    scaler = (scaler_cls("cuda", enabled=a.precision == "fp16") if scaler_cls else
              torch.cuda.amp.GradScaler(enabled=a.precision == "fp16"))
    net = torch.compile(model) if a.compile else model

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=amp_dtype or torch.float32,
                            enabled=amp_dtype is not None):
            loss = crit(net(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    model.train()
    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    peak = device_used()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    torch.cuda.synchronize()
    sec = time.perf_counter() - t0
    peak = max(peak, device_used())
    print(json.dumps({
        "impl": "torch-compile" if a.compile else "torch-eager", "arch": a.arch,
        "batch": a.batch, "image": a.image, "precision": a.precision, "compile": a.compile,
        "steps": a.steps, "images_per_s": round(a.batch * a.steps / sec, 2),
        "step_ms": round(1000 * sec / a.steps, 3), "peak_mem_bytes": peak - base,
        "peak_alloc_bytes": torch.cuda.max_memory_allocated(),
        "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
        "device": torch.cuda.get_device_name()}))


if __name__ == "__main__":
    main()
