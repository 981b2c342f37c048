"""cpu_torch_oracle.py - PyTorch's answers for test_cpu_torch.c.

Usage: cpu_torch_oracle.py DIR

DIR/manifest.txt has one case per line, "<kind> <name> <int or float args...>".
For each case the C test has written its inputs as raw little-endian float32
files DIR/<name>.<tensor>.f32 (uint8 for DIR/<name>.src.u8); this script
computes the same op with torch (CPU, float32, PyTorch's own kernels and
conventions) and writes DIR/<name>.<output>.f32 for the C side to compare.
Exit status 77 (skip) when torch cannot be imported.
"""
import os
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # the C test turns this into "skipped"
    print(f"skipped: cannot import torch/numpy: {e}")
    sys.exit(77)

torch.set_num_threads(1)
DIR = sys.argv[1]


def load(name, tensor, shape):
    a = np.fromfile(os.path.join(DIR, f"{name}.{tensor}.f32"), dtype=np.float32)
    assert a.size == int(np.prod(shape)), (name, tensor, a.size, shape)
    return torch.from_numpy(a.reshape(shape))


def save(name, tensor, t):
    t.detach().contiguous().numpy().astype(np.float32).tofile(
        os.path.join(DIR, f"{name}.{tensor}.f32"))


def case_conv(name, n, c, h, w, k, r, stride, pad):
    x = load(name, "x", (n, c, h, w)).requires_grad_()
    wt = load(name, "w", (k, c, r, r)).requires_grad_()
    y = F.conv2d(x, wt, stride=stride, padding=pad)
    dy = load(name, "dy", y.shape)
    y.backward(dy)
    save(name, "y", y)
    save(name, "dx", x.grad)
    save(name, "dw", wt.grad)


def case_bn(name, n, c, h, w, relu, residual):
    x = load(name, "x", (n, c, h, w)).requires_grad_()
    gamma = load(name, "gamma", (c,)).requires_grad_()
    beta = load(name, "beta", (c,)).requires_grad_()
    rm = load(name, "rm", (c,)).clone()
    rv = load(name, "rv", (c,)).clone()
    y = F.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=0.1, eps=1e-5)
    res = None
    if residual:
        res = load(name, "res", (n, c, h, w)).requires_grad_()
        y = y + res
    if relu:
        y = F.relu(y)
    y.backward(load(name, "dy", (n, c, h, w)))
    save(name, "y", y)
    save(name, "rm_new", rm)
    save(name, "rv_new", rv)
    save(name, "dx", x.grad)
    save(name, "dgamma", gamma.grad)
    save(name, "dbeta", beta.grad)
    if residual:
        save(name, "dres", res.grad)
    with torch.no_grad():  # eval mode with the updated running statistics
        y_eval = F.batch_norm(x, rm, rv, gamma, beta, training=False, eps=1e-5)
    save(name, "y_eval", y_eval)


def case_maxpool(name, n, c, h, w, r, stride, pad):
    x = load(name, "x", (n, c, h, w)).requires_grad_()
    y = F.max_pool2d(x, r, stride=stride, padding=pad)
    y.backward(load(name, "dy", y.shape))
    save(name, "y", y)
    save(name, "dx", x.grad)


def case_avgpool(name, n, c, h, w):
    x = load(name, "x", (n, c, h, w)).requires_grad_()
    y = F.adaptive_avg_pool2d(x, 1).flatten(1)
    y.backward(load(name, "dy", (n, c)))
    save(name, "y", y)
    save(name, "dx", x.grad)


def case_fc(name, n, i, o):
    x = load(name, "x", (n, i)).requires_grad_()
    wt = load(name, "w", (o, i)).requires_grad_()
    b = load(name, "b", (o,)).requires_grad_()
    y = F.linear(x, wt, b)
    y.backward(load(name, "dy", (n, o)))
    for t, v in (("y", y), ("dx", x.grad), ("dw", wt.grad), ("db", b.grad)):
        save(name, t, v)


def case_xent(name, n, k, eps):
    logits = load(name, "logits", (n, k)).requires_grad_()
    labels = load(name, "labels", (n,)).long()
    loss = F.cross_entropy(logits, labels, label_smoothing=eps, reduction="sum")
    loss.backward()
    top = logits.detach().topk(5, dim=1).indices
    top1 = (top[:, :1] == labels[:, None]).any(dim=1).sum()
    top5 = (top == labels[:, None]).any(dim=1).sum()
    save(name, "loss", loss.reshape(1))
    save(name, "dlogits", logits.grad)
    save(name, "correct", torch.tensor([float(top1), float(top5)]))


def case_sgd(name, n, split, nesterov, momentum, lr, wd0, wd1):
    """Two param groups; the second's update is halved (trust ratio 1/2 before the
    momentum, as in LARS): its grads and weight decay are halved."""
    p = torch.nn.Parameter(load(name, "p", (n,)).clone())
    a, b = torch.nn.Parameter(p.data[:split].clone()), torch.nn.Parameter(p.data[split:].clone())
    opt = torch.optim.SGD([{"params": [a], "weight_decay": wd0},
                           {"params": [b], "weight_decay": wd1 / 2}],
                          lr=lr, momentum=momentum, nesterov=bool(nesterov))
    for step in range(3):
        g = load(name, f"g{step}", (n,))
        a.grad, b.grad = g[:split].clone(), g[split:].clone() / 2
        opt.step()
    save(name, "p_new", torch.cat([a.data, b.data]))
    if momentum > 0:
        save(name, "buf_new", torch.cat([opt.state[a]["momentum_buffer"],
                                         opt.state[b]["momentum_buffer"]]))


def case_input(name, n, h, w):
    src = np.fromfile(os.path.join(DIR, f"{name}.src.u8"), dtype=np.uint8).reshape(n, h, w, 3)
    mean = load(name, "mean", (3,))
    std = load(name, "std", (3,))
    x = torch.from_numpy(src).permute(0, 3, 1, 2).float().div(255)  # ToTensor
    x = (x - mean[None, :, None, None]) / std[None, :, None, None]   # Normalize
    save(name, "x", x)


CASES = {"conv": case_conv, "bn": case_bn, "maxpool": case_maxpool, "avgpool": case_avgpool,
         "fc": case_fc, "xent": case_xent, "sgd": case_sgd, "input": case_input}


def number(s):
    return float(s) if "." in s or "e" in s else int(s)


def main():
    with open(os.path.join(DIR, "manifest.txt")) as f:
        for line in f:
            kind, name, *args = line.split()
            CASES[kind](name, *map(number, args))


if __name__ == "__main__":
    main()
