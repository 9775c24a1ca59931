"""Benchmark: one epoch of edge-popup score training against one epoch of dense training.

Same network shape (LeNet-300-100 widened by ``--widths``, no biases), same data (the MNIST subset's
3,500 training images), same batch size (128), same optimiser (SGD, momentum 0.9), same data order.
Variants, per width:

* ``dense``              a plain bias-free MLP whose weights are trained (the baseline)
* ``edge-popup``         :func:`lotterylab.supermasks.train_supermask`: frozen weights, trainable scores,
                         exact per-layer top-k with ``torch.topk`` and a straight-through gradient
* ``edge-popup (sort)``  the same, but the mask is built the reference code's way (a full sort of the
                         scores every step), to show what the top-k selection costs
* ``2 copies``           two score tensors on the same weights in one batched program (two tickets
                         at less than twice the cost of one), time per ticket

Each variant runs once as warm-up, then ``--repeats`` times, interleaved; the table reports the
median seconds per epoch and the ratio to dense. A measurement, not a test: nothing is asserted.
Run: ``.venv/bin/python benchmarks/bench_edge_popup.py [--widths 1 4] [--repeats 3] [--threads N]``.
"""
from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from lotterylab import supermasks
from lotterylab.data import load_mnist_subset
from lotterylab.device import get_device
from lotterylab.seeding import make_generator
from lotterylab.supermasks import ScoreTrainConfig, lenet_widths, supermask_lenet, train_supermask

SEED = 0
CONFIG = ScoreTrainConfig(epochs=1, batch_size=128, lr=0.1, momentum=0.9, weight_decay=1e-4, cosine=False)


def dense_epoch(width, data, device):
    sizes = lenet_widths(width)
    layers = [m for a, b in itertools.pairwise(sizes) for m in (nn.Linear(a, b, bias=False), nn.ReLU())][:-1]
    net = nn.Sequential(*layers).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=CONFIG.lr, momentum=CONFIG.momentum, weight_decay=CONFIG.weight_decay)
    X, y = data.X_train.to(device).flatten(1), data.y_train.to(device)
    order = torch.randperm(len(X), generator=make_generator(SEED)).to(device)
    bs = CONFIG.batch_size
    for i in range(len(X) // bs):
        idx = order[i * bs:(i + 1) * bs]
        loss = F.cross_entropy(net(X[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


class _SortMask(torch.autograd.Function):
    """The reference code's GetSubnet: sort every score, zero the lowest (1 - k) fraction."""

    @staticmethod
    def forward(ctx, scores, k):
        out = torch.zeros_like(scores)
        idx = scores.argsort(dim=1, descending=True)[:, :k]
        return out.scatter_(1, idx, 1.0)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def edge_popup_epoch(width, data, device, *, copies=1, sort=False):
    net = supermask_lenet(width, density=0.5, weight_seed=SEED, score_seed=SEED + 1, copies=copies).to(device)
    original = supermasks._TopKMask  # swapping the module's top-k for the reference sort (a benchmark only)
    if sort:
        supermasks._TopKMask = _SortMask
    try:
        train_supermask(net, data, CONFIG, seed=SEED)
    finally:
        supermasks._TopKMask = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=float, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    os.environ.setdefault("LOTTERYLAB_PROGRESS", "off")  # train_supermask's own bars would clutter the table
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    data = load_mnist_subset(seed=SEED, device=device)
    print(f"device {device}, {torch.get_num_threads()} threads, {len(data.X_train)} training images, "
          f"batch {CONFIG.batch_size}, k = 50% kept, median of {args.repeats}")
    print(f"{'width':>5} | {'variant':<28} | {'s/epoch':>8} | {'x dense':>7}")
    for width in args.widths:
        variants = {
            "dense (weights trained)": lambda w=width: dense_epoch(w, data, device),
            "edge-popup (topk)": lambda w=width: edge_popup_epoch(w, data, device),
            "edge-popup (full sort)": lambda w=width: edge_popup_epoch(w, data, device, sort=True),
            "edge-popup, 2 copies / copy": lambda w=width: edge_popup_epoch(w, data, device, copies=2),
        }
        times = {name: [] for name in variants}
        for rep in range(args.repeats + 1):
            order = list(variants) if rep % 2 == 0 else list(variants)[::-1]
            for name in order:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                variants[name]()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if rep > 0:  # rep 0 is the warm-up
                    times[name].append(time.perf_counter() - t)
        base = statistics.median(times["dense (weights trained)"])
        for name, ts in times.items():
            med = statistics.median(ts) / (2 if "2 copies" in name else 1)
            print(f"{width:>5g} | {name:<28} | {med:8.3f} | {med / base:7.2f}")


if __name__ == "__main__":
    main()
