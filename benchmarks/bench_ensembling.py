"""Benchmark: the batched many-seed trainer against the naive loop, on Liu and Tegmark's workload.

Configuration (both ways identical): fit y = x^2 on 1,000 grid points in [-2, 2] with full-batch Adam
(lr 1e-2), float32, S = 1,000 seeds per width, two-layer networks of width N.

* ``naive``    ``lotterylab.many_seed.train_naive``: one ``nn.Module`` + ``torch.optim.Adam`` (+ StepLR)
               per seed, looped. Far too slow to run for 1,000 seeds, so it is timed on
               ``--naive-seeds`` seeds x ``--naive-steps`` steps and **extrapolated** linearly per
               seed-step (each seed is an independent, identical amount of work; the output says so).
* ``eager``    ``train_many(..., compile=False)``: closed-form gradients, seeds chunked (~1 MB temporaries).
* ``compiled`` ``train_many(..., compile=True)``: the chunk step fused by ``torch.compile``. Compilation
               is done in a warm-up run and reported separately (it is paid once per width and activation).

All S = 1,000 seeds are timed for ``--steps`` steps. The ratio is naive time per seed-step over batched
time per seed-step. The last column compares the compiled SiLU throughput with the practical ceiling
measured on this kind of machine by a hand-written C loop (``shared/notes/perf.md``: 1.5 ms per step
at N = 2 and 31 ms at N = 50 for 1,000 seeds, one core): achieved / ceiling throughput.

A measurement, not a test. Run it alone (other processes on the machine distort it), e.g.
``flock /tmp/lotterylab-cpu.lock .venv/bin/python benchmarks/bench_ensembling.py`` (about 4 minutes).
Options: ``--widths 1 2 4 10 50 --activations silu relu --steps 100 --threads 1 --device cpu``.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from lotterylab.device import get_device
from lotterylab.many_seed import FitConfig, train_many, train_naive

C_CEILING_MS_PER_STEP = {("silu", 2): 1.5, ("silu", 50): 31.0}   # shared/notes/perf.md, 1,000 seeds, f32, one core


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", type=int, nargs="+", default=[1, 2, 4, 10, 50])
    ap.add_argument("--activations", nargs="+", default=["silu", "relu"])
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=100, help="timed batched steps (all seeds)")
    ap.add_argument("--naive-seeds", type=int, default=4)
    ap.add_argument("--naive-steps", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    os.environ.setdefault("LOTTERYLAB_PROGRESS", "off")   # the table is the output, not per-run bars
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    config = FitConfig(steps=args.steps, n_points=1000)
    seeds = range(args.seeds)
    print(f"device {device}, {args.threads} thread(s), float32, S={args.seeds} seeds, D=1000 points, "
          f"batched: {args.steps} steps x {args.seeds} seeds timed; naive: {args.naive_seeds} seeds x "
          f"{args.naive_steps} steps timed and extrapolated per seed-step to S={args.seeds}.")
    head = (f"{'act':>5} {'N':>3} | {'naive us/seed-step':>18} | {'eager ms/step':>13} {'x':>6} | "
            f"{'compiled ms/step':>16} {'x':>6} {'compile s':>9} | {'of C ceiling':>12}")
    print(head)
    print("-" * len(head))
    for act in args.activations:
        for n in args.widths:
            train_naive(range(1), n, config, activation=act, device=device, steps=20)          # warm-up
            naive = train_naive(range(args.naive_seeds), n, config, activation=act, device=device,
                                steps=args.naive_steps)
            naive_us = naive.seconds / (args.naive_seeds * args.naive_steps) * 1e6
            train_many(range(8), n, FitConfig(steps=5, n_points=1000), activation=act, device=device)
            eager = train_many(seeds, n, config, activation=act, device=device)
            t0 = time.perf_counter()
            warm = train_many(seeds, n, FitConfig(steps=3, n_points=1000), activation=act, device=device,
                              compile=True)
            compile_s = time.perf_counter() - t0
            comp = train_many(seeds, n, config, activation=act, device=device, compile=True) if warm.compiled else None
            eager_ms = eager.seconds / args.steps * 1e3
            row = f"{act:>5} {n:>3} | {naive_us:18.1f} | {eager_ms:13.2f} {naive_us * args.seeds / 1e3 / eager_ms:6.1f} | "
            if comp is None:
                row += f"{'(compile unavailable)':>34} | "
            else:
                comp_ms = comp.seconds / args.steps * 1e3
                ceiling = C_CEILING_MS_PER_STEP.get((act, n))
                frac = f"{ceiling / comp_ms:12.0%}" if ceiling and args.threads == 1 and device.type == "cpu" else f"{'-':>12}"
                row += f"{comp_ms:16.2f} {naive_us * args.seeds / 1e3 / comp_ms:6.1f} {compile_s:9.1f} | {frac}"
            print(row, flush=True)
    print("x = naive time / batched time for the same seed-steps (naive extrapolated from the timed subset).")
    print("'of C ceiling' = hand-written C loop time / compiled time (perf.md; SiLU at N = 2 and 50 only).")


if __name__ == "__main__":
    main()
