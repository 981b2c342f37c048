#!/usr/bin/python3
"""Oracle test: our CPU model against PyTorch on the same weights and batch.

For each case: oracle_dump (C) initialises our model, exports the weights,
runs forward/backward on a batch made here, and writes logits, loss, all
parameter gradients and the state after 3 SGD steps.  The same weights are
loaded into torchvision's resnetXX (or tests/model/cifar_resnet.py) with
load_state_dict(strict=True), which also proves the export is accepted.

Tolerances (fp32, both sides reduce in different orders):
  logits, loss           relative error of the whole tensor <= 1e-4
  gradients              per tensor ||ours - torch|| / ||torch|| <= 1e-3
  after 3 SGD steps      params: max |ours - torch| <= 1e-4 * (1 + max |torch|)
                         BN running stats: same; num_batches_tracked exact

Also: `resnet_dist --mode predict --init-from init.safetensors --input x.npy`
gives the logits of torchvision's model in eval mode (relative error <= 1e-4).

usage: oracle_torch.py ORACLE_DUMP_BINARY [RESNET_DIST_BINARY]
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import torchvision
except ImportError as e:  # pragma: no cover
    print("skipped: PyTorch/torchvision not importable with %s (%s)" % (sys.executable, e))
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cifar_resnet import CifarResNet  # noqa: E402

torch.set_num_threads(2)
DUMP = sys.argv[1]
RESNET_DIST = sys.argv[2] if len(sys.argv) > 2 else None
failures = 0


def read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = {"F32": np.float32, "I64": np.int64}[info["dtype"]]
        out[name] = np.frombuffer(data[a:b], dtype=dt).reshape(info["shape"])
    return out


def rel(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12)


def check(cond, what):
    global failures
    if not cond:
        failures += 1
    print("  %-4s %s" % ("ok" if cond else "FAIL", what))


def run_case(arch, classes, shortcut, n, h, lr, momentum, wd, nesterov, smoothing):
    print("%s classes=%d shortcut=%s batch=%d %dx%d lr=%g momentum=%g wd=%g nesterov=%d "
          "smoothing=%g" % (arch, classes, shortcut, n, h, h, lr, momentum, wd, nesterov,
                            smoothing))
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, 3, h, h)).astype(np.float32)
    y = rng.integers(0, classes, n)
    with tempfile.TemporaryDirectory() as d:
        np.save(os.path.join(d, "x.npy"), x)
        np.save(os.path.join(d, "y.npy"), y.astype(np.float32))
        subprocess.run([DUMP, arch, str(classes), shortcut, os.path.join(d, "x.npy"),
                        os.path.join(d, "y.npy"), d, str(lr), str(momentum), str(wd),
                        str(nesterov), str(smoothing)], check=True)
        init = read_safetensors(os.path.join(d, "init.safetensors"))
        grads = read_safetensors(os.path.join(d, "grads.safetensors"))
        after = read_safetensors(os.path.join(d, "after3.safetensors"))
        logits = np.load(os.path.join(d, "logits.npy"))
        loss = float(open(os.path.join(d, "loss.txt")).read())
        predicted = None
        if RESNET_DIST:
            subprocess.run([RESNET_DIST, "--device", "cpu", "--mode", "predict",
                            "--set", "model.arch=" + arch, "--set", "model.num_classes=%d" % classes,
                            "--set", "model.shortcut=" + shortcut,
                            "--init-from", os.path.join(d, "init.safetensors"),
                            "--input", os.path.join(d, "x.npy"),
                            "--output", os.path.join(d, "pred.npy")],
                           check=True, stdout=subprocess.DEVNULL)
            predicted = np.load(os.path.join(d, "pred.npy"))
    if arch in ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110"):
        model = CifarResNet(int(arch[6:]), classes, shortcut)
    else:
        model = getattr(torchvision.models, arch)(num_classes=classes)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.items()}, strict=True)
    check(True, "load_state_dict(strict=True) accepts our %d tensors" % len(init))
    if predicted is not None:
        model.eval()
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        e = rel(predicted, ref)
        check(e <= 1e-4, "--mode predict logits (eval-mode BN): relative error %.2e" % e)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=wd,
                          nesterov=bool(nesterov))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for step in range(3):
        opt.zero_grad()
        out = model(xt)
        l = F.cross_entropy(out, yt, label_smoothing=smoothing)
        l.backward()
        if step == 0:
            e = rel(logits, out.detach().numpy())
            check(e <= 1e-4, "logits: relative error %.2e" % e)
            e = abs(loss - l.item()) / max(abs(l.item()), 1e-12)
            check(e <= 1e-4, "loss %.6f vs %.6f: relative error %.2e" % (loss, l.item(), e))
            worst, worst_name = 0.0, ""
            for name, p in model.named_parameters():
                e = rel(grads[name], p.grad.numpy())
                if e > worst:
                    worst, worst_name = e, name
            check(worst <= 1e-3, "gradients of %d tensors: worst relative error %.2e (%s)" %
                  (len(grads), worst, worst_name))
        opt.step()
    state = model.state_dict()
    worst, worst_name = 0.0, ""
    for name, t in state.items():
        ref = t.numpy()
        if name.endswith("num_batches_tracked"):
            if int(after[name]) != int(ref):
                worst, worst_name = float("inf"), name
            continue
        e = np.max(np.abs(after[name].astype(np.float64) - ref)) / (1 + np.max(np.abs(ref)))
        if e > worst:
            worst, worst_name = e, name
    check(worst <= 1e-4, "parameters and buffers after 3 SGD steps: worst error %.2e (%s)" %
          (worst, worst_name))


CASES = [
    # arch, classes, shortcut, batch, side, lr, momentum, wd, nesterov, smoothing
    ("resnet50", 10, "A", 4, 64, 0.1, 0.9, 1e-4, 0, 0.0),
    ("resnet18", 7, "A", 4, 64, 0.05, 0.9, 5e-4, 1, 0.1),
    ("resnet20", 10, "A", 8, 32, 0.1, 0.9, 1e-4, 0, 0.1),
    ("resnet20", 10, "B", 8, 32, 0.1, 0.9, 1e-4, 1, 0.0),
]
only = os.environ.get("ORACLE_CASES")
for i, case in enumerate(CASES):
    if only is None or str(i) in only.split(","):
        run_case(*case)
print("%d failed checks" % failures)
sys.exit(1 if failures else 0)
