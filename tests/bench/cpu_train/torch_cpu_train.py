#!/usr/bin/python3
"""PyTorch CPU training throughput, the peer of `resnet_dist --mode bench`.

Same work as ours: one fixed synthetic batch, forward, cross-entropy,
backward, SGD step (momentum 0.9, weight decay 1e-4), fp32, train-mode BN,
N warm-up then M timed steps.  Prints one JSON line:
{"images_per_s": ..., "step_ms_p50": ...}.

usage: torch_cpu_train.py ARCH BATCH SIDE THREADS WARMUP STEPS
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "model"))
from cifar_resnet import CifarResNet  # noqa: E402

arch, batch, side, threads, warmup, steps = sys.argv[1], *map(int, sys.argv[2:7])
torch.set_num_threads(threads)
classes = 10 if arch in ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110") else 1000
model = (CifarResNet(int(arch[6:]), classes) if classes == 10
         else getattr(torchvision.models, arch)(num_classes=classes))
model.train()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
x = torch.randn(batch, 3, side, side)
y = torch.randint(0, classes, (batch,))
times = []
for i in range(warmup + steps):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    if i >= warmup:
        times.append(time.perf_counter() - t0)
times.sort()
p50 = times[len(times) // 2]
print(json.dumps({"images_per_s": batch / (sum(times) / len(times)), "step_ms_p50": 1e3 * p50,
                  "torch": torch.__version__}, separators=(",", ":")))
