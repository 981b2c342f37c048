"""bench_torch_convs.py - PyTorch CPU timings of a convolution shape and of
the batch norm + ReLU that follows it, for bench_cpu_ops (which prints them
next to its own).

Usage: bench_torch_convs.py THREADS REPS
stdin: one shape per line "name n c h w k r stride pad".  For each line read,
stdout gets "name conv_fwd_ms conv_bwd_ms bn_fwd_ms bn_bwd_ms" (conv bwd =
input and weight gradients of one autograd backward; bn = F.batch_norm in
training mode + ReLU, backward = input, weight and bias gradients), each the
best of REPS timed runs after one warm-up, flushed before the next line is
read (bench_cpu_ops interleaves its own timings with these).
"""
import sys
import time

import torch
import torch.nn.functional as F


def best_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times)


def fwd_bwd_ms(forward, grad, params, reps):
    """Best forward time and best (forward + backward) - forward time."""
    with torch.no_grad():
        fwd = best_ms(forward, reps)

    def both():
        for p in params:
            p.grad = None
        forward().backward(grad)

    return fwd, max(best_ms(both, reps) - fwd, 0.0)


def main():
    threads, reps = int(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(threads)
    for line in sys.stdin:
        name, *dims = line.split()
        n, c, h, w, k, r, stride, pad = map(int, dims)
        x = torch.randn(n, c, h, w, requires_grad=True)
        wt = torch.randn(k, c, r, r, requires_grad=True)
        conv = lambda: F.conv2d(x, wt, stride=stride, padding=pad)  # noqa: E731
        with torch.no_grad():
            y0 = conv()
        conv_f, conv_b = fwd_bwd_ms(conv, torch.randn_like(y0), [x, wt], reps)

        y = y0.clone().requires_grad_()
        gamma = torch.ones(k, requires_grad=True)
        beta = torch.zeros(k, requires_grad=True)
        bn = lambda: F.relu(F.batch_norm(y, None, None, gamma, beta, training=True))  # noqa: E731
        bn_f, bn_b = fwd_bwd_ms(bn, torch.randn_like(y0), [y, gamma, beta], reps)
        print(f"{name} {conv_f:.3f} {conv_b:.3f} {bn_f:.3f} {bn_b:.3f}", flush=True)


if __name__ == "__main__":
    main()
