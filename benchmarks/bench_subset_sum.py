"""Benchmark: exact subset sum by brute force against meet in the middle, and coverage naive vs batched.

* ``subset sum``  one problem of ``m`` U[-1, 1] numbers: :func:`brute_force_subset_sum` (all ``2^m``
                  subsets) against :func:`best_subset_sums` (meet in the middle, ``2^(m/2)`` per half).
* ``coverage``    the worst error over a grid of targets for ``n = 1..n_max`` samples, several trials:
                  a plain Python loop that enumerates every subset with ``itertools`` for each ``n`` and
                  each trial, against :func:`coverage_error` (sorted sums doubled per sample, binary
                  search, batched over trials). Both give the same numbers (checked).

Each variant runs ``--repeats`` times; the table reports the fastest run and the ratio. A measurement,
not a test: nothing is asserted except that the two ways agree.
Run: ``.venv/bin/python benchmarks/bench_subset_sum.py [--sizes 12 16 20] [--repeats 3]``.
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import torch

from lotterylab.subset_sum import best_subset_sums, brute_force_subset_sum, coverage_error


def fastest(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def naive_coverage(n_max, n_trials, grid, seed):
    out = np.zeros((n_trials, n_max))
    for t in range(n_trials):
        x = (torch.rand(n_max, generator=torch.Generator().manual_seed(seed + t), dtype=torch.float64) * 2 - 1).numpy()
        for n in range(1, n_max + 1):
            sums = np.array([sum(c) for r in range(n + 1) for c in itertools.combinations(x[:n], r)])
            sums.sort()
            pos = np.searchsorted(sums, grid).clip(1, len(sums) - 1)
            out[t, n - 1] = np.minimum(np.abs(grid - sums[pos - 1]), np.abs(sums[pos] - grid)).max()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 16, 18, 20])
    parser.add_argument("--n-max", type=int, default=14)
    parser.add_argument("--n-trials", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}")

    print(f"\n{'subset sum, m items':<22} | {'brute force 2^m':>15} | {'meet in middle':>14} | ratio")
    g = torch.Generator().manual_seed(0)
    for m in args.sizes:
        items = torch.rand(1, m, generator=g, dtype=torch.float64) * 2 - 1
        target = torch.tensor([0.3], dtype=torch.float64)
        t_bf, (_, e_bf) = fastest(lambda items=items: brute_force_subset_sum(items[0], 0.3), args.repeats)
        t_mm, (_, e_mm) = fastest(lambda items=items, target=target: best_subset_sums(items, target), args.repeats)
        assert abs(e_bf - float(e_mm[0])) < 1e-12
        print(f"{'m = ' + str(m):<22} | {t_bf * 1e3:12.2f} ms | {t_mm * 1e3:11.2f} ms | {t_bf / t_mm:7.1f}x")

    grid = np.linspace(-1, 1, 2001)
    t_naive, ref = fastest(lambda: naive_coverage(args.n_max, args.n_trials, grid, 0), 1)
    t_fast, got = fastest(lambda: coverage_error(args.n_max, args.n_trials, n_grid=2001, seed=0, device="cpu"),
                          args.repeats)
    assert np.allclose(ref, got.numpy(), atol=1e-12)
    print(f"\ncoverage, n = 1..{args.n_max}, {args.n_trials} trials, 2,001 targets: naive loop {t_naive:.2f} s, "
          f"batched {t_fast:.3f} s, ratio {t_naive / t_fast:.0f}x")


if __name__ == "__main__":
    main()
