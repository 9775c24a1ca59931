"""Benchmark: what masking costs in one IMP round (LeNet-300-100 on the MNIST subset).

Each variant trains a fresh LeNet-300-100 (seed 0, same init, same data order) with the LTH
paper's setting (Adam, lr 1.2e-3, batch 60) for ``--steps`` steps (default 1,200: one round
of the ``quick`` preset). Evaluation happens once, at the last step (``eval_every=steps``), so
the time is essentially the training step. Variants:

* ``unmasked``         ``lotterylab.training.train(..., mask=None)`` (fused Adam) - the baseline
* ``masked``           ``train(..., mask=mask)``: grads and weights masked with ``torch._foreach_mul_``
* ``naive masked``     a local copy of the loop, masking via ``Mask.mask_grads_`` / ``Mask.apply_``
                       (a Python dict walk and a bool->float multiply per tensor, every step)
* ``for-loop Adam``    the local loop, unmasked, with ``Adam(fused=False, foreach=False)``
* ``for-loop masked``  the same for-loop Adam, masked the ``train`` way (why fused matters)

The mask has ~21% density: 7 rounds of ``magnitude_prune`` (0.2 per round, 0.1 for ``fc3.weight``)
on the weights of the dense network trained once (that run doubles as the warm-up). Each variant
runs once more as warm-up, then ``--repeats`` times, interleaved (variant order reversed on every
other repeat to cancel drift); the table reports medians. A measurement, not a test: nothing is
asserted. Run it with ``make bench`` or ``.venv/bin/python benchmarks/bench_imp_masking.py
[--steps 1200] [--repeats 5] [--threads N] [--device cpu|cuda]``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from lotterylab.data import load_mnist_subset
from lotterylab.device import get_device
from lotterylab.models import lenet_300_100
from lotterylab.pruning import Mask, magnitude_prune
from lotterylab.seeding import make_generator
from lotterylab.training import TrainConfig, evaluate, train

SEED = 0


def local_train(model, data, config, *, seed, mask=None, fused=True, naive=False):
    """Mirror of ``train`` (same optimiser, data order and final evaluation) with other masking."""
    device = next(model.parameters()).device
    X, y = data.X_train.to(device), data.y_train.to(device)
    params = list(model.parameters())
    named = dict(model.named_parameters())
    masked_params = [named[n] for n in mask] if mask is not None else []
    masks = [mask[n].to(device=device, dtype=named[n].dtype) for n in mask] if mask is not None else []
    if mask is not None:
        mask.apply_(model)
    optimizer = torch.optim.Adam(params, lr=config.lr, fused=fused, foreach=None if fused else False)
    generator = make_generator(seed)
    n, bs = len(X), config.batch_size
    order, pos = torch.randperm(n, generator=generator).to(device), 0
    model.train()
    for step in range(1, config.steps + 1):
        if pos + bs > n:
            order, pos = torch.randperm(n, generator=generator).to(device), 0
        idx = order[pos:pos + bs]
        pos += bs
        loss = F.cross_entropy(model(X[idx]), y[idx])
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        if mask is not None:
            if naive:
                mask.mask_grads_(model)
            else:
                torch._foreach_mul_([p.grad for p in masked_params], masks)
        optimizer.step()
        if mask is not None:
            if naive:
                mask.apply_(model)
            else:
                with torch.no_grad():
                    torch._foreach_mul_(masked_params, masks)
    evaluate(model, data.X_val.to(device), data.y_val.to(device))
    evaluate(model, data.X_test.to(device), data.y_test.to(device))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1200, help="training steps per round")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per variant (after 1 warm-up)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: lotterylab.get_device())")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    data = load_mnist_subset(device=device)
    config = TrainConfig(steps=args.steps, eval_every=args.steps)

    dense = lenet_300_100(SEED, device=device)  # trained once: the source of the mask, and a warm-up
    train(dense, data, config, seed=SEED)
    mask = Mask.ones_like(dense)
    for _ in range(7):
        mask = magnitude_prune(dense, mask, 0.2, layer_fractions={"fc3.weight": 0.1})

    variants = {
        "unmasked": lambda m: train(m, data, config, seed=SEED),
        "masked": lambda m: train(m, data, config, seed=SEED, mask=mask),
        "naive masked": lambda m: local_train(m, data, config, seed=SEED, mask=mask, naive=True),
        "for-loop Adam": lambda m: local_train(m, data, config, seed=SEED, fused=False),
        "for-loop masked": lambda m: local_train(m, data, config, seed=SEED, mask=mask, fused=False),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for rep in range(args.repeats + 1):  # repeat 0 is the warm-up
        for name in names if rep % 2 == 0 else names[::-1]:
            model = lenet_300_100(SEED, device=device)
            sync()
            start = time.perf_counter()
            variants[name](model)
            sync()
            if rep > 0:
                times[name].append(time.perf_counter() - start)

    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{args.steps} steps/round, batch {config.batch_size}, {args.repeats} repeats (median)")
    print(f"mask: density {mask.density:.1%} (7 x magnitude_prune 0.2, fc3 0.1, on the trained dense net)")
    med = {name: statistics.median(t) for name, t in times.items()}
    base = med["unmasked"]
    print(f"{'variant':<16} {'s/round':>8} {'min':>8} {'ms/step':>8} {'vs unmasked':>12}")
    for name in names:
        print(f"{name:<16} {med[name]:8.3f} {min(times[name]):8.3f} {1e3 * med[name] / args.steps:8.3f} "
              f"{med[name] / base - 1:+12.1%}")
    print(f"masking overhead, for-loop Adam (masked / unmasked - 1): "
          f"{med['for-loop masked'] / med['for-loop Adam'] - 1:+.1%}")
    print(f"masking overhead, train() with fused Adam (masked / unmasked - 1): "
          f"{med['masked'] / base - 1:+.1%}  (goal: < 10%)")

if __name__ == "__main__":
    main()
