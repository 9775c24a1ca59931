"""Benchmark: evaluating the line between two networks, and training many residual networks at once.

1. **Interpolation path** (LeNet-300-100, the 1,000 test images of the MNIST subset, 30 values of alpha):
   ``naive`` builds one model per alpha (``interpolate`` + ``load_state_dict``) and evaluates it with
   ``lotterylab.training.evaluate``; ``batched`` is ``lotterylab.interpolation.evaluate_path`` (``vmap`` over
   the stacked interpolated weights, 10 alphas per chunk). Both give the same errors (checked).
2. **Residual-sign trainer** (300 seeds, 2 blocks of width 8, 128 points, 100 full-batch Adam steps):
   ``naive`` trains one network per seed in a Python loop (``train_residual`` with one seed, which is the
   same arithmetic as a hand-written single network); ``batched`` trains all seeds as one tensor program.
   The naive loop is timed on ``--naive-seeds`` seeds and extrapolated linearly per seed.
3. **Weight matching** (two LeNet-300-100 and two chapter-2 ConvNets from different seeds):
   ``lotterylab.permutation.weight_matching``, one exact linear assignment per hidden layer per sweep,
   sweeps repeated until no layer changes: the time it takes, to show the chapter can align live.

A measurement, not a test. Run it alone, e.g.
``flock /tmp/lotterylab-cpu.lock .venv/bin/python benchmarks/bench_stability.py`` (under a minute).
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from lotterylab.data import load_mnist_subset
from lotterylab.interpolation import evaluate_path, interpolate
from lotterylab.models import conv_net, lenet_300_100
from lotterylab.permutation import weight_matching
from lotterylab.residual_sign import ResidualSignConfig, make_task, train_residual
from lotterylab.training import evaluate


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--alphas", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=300)
    ap.add_argument("--naive-seeds", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"cpu, {args.threads} thread(s), float32; best of {args.repeats} repeats")

    data = load_mnist_subset(device="cpu")
    a, b, host = lenet_300_100(seed=0), lenet_300_100(seed=1), lenet_300_100(seed=2)
    alphas = torch.linspace(0, 1, args.alphas).tolist()

    def naive():
        errors = []
        for alpha in alphas:
            host.load_state_dict(interpolate(a, b, alpha))
            errors.append(1 - evaluate(host, data.X_test, data.y_test)[1])
        return errors

    def batched():
        return evaluate_path(host, a, b, data.X_test, data.y_test, alphas)["error"]

    assert max(abs(x - y) for x, y in zip(naive(), batched())) < 1e-9
    t_naive, t_batched = best_of(naive, args.repeats), best_of(batched, args.repeats)
    print(f"interpolation path, {args.alphas} alphas x 1,000 images: naive {1e3 * t_naive:7.1f} ms | "
          f"batched {1e3 * t_batched:7.1f} ms | ratio {t_naive / t_batched:5.1f}x")

    cfg = dataclasses.replace(ResidualSignConfig(), steps=100, n_seeds=args.seeds)
    x, t = make_task(cfg, seed=0, device="cpu")

    def loop():
        return torch.cat([train_residual(cfg, x, t, sign=-1, seeds=[s]).final_loss for s in range(args.naive_seeds)])

    def together():
        return train_residual(cfg, x, t, sign=-1, seeds=range(args.seeds)).final_loss

    torch.testing.assert_close(loop(), together()[:args.naive_seeds], rtol=1e-4, atol=1e-6)
    t_loop = best_of(loop, 1) * args.seeds / args.naive_seeds
    t_together = best_of(together, args.repeats)
    print(f"residual trainer, {args.seeds} seeds x {cfg.steps} steps: naive {t_loop:6.2f} s (extrapolated from "
          f"{args.naive_seeds} seeds) | batched {t_together:6.2f} s | ratio {t_loop / t_together:5.1f}x")

    for name, make in (("LeNet-300-100", lenet_300_100), ("ConvNet", conv_net)):
        sa, sb = make(seed=0).state_dict(), make(seed=1).state_dict()
        t_match = best_of(lambda: weight_matching(sa, sb), args.repeats)
        print(f"weight matching, two {name} from different seeds: {t_match:6.2f} s")


if __name__ == "__main__":
    main()
