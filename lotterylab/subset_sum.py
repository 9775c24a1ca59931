"""Random subset sum (Lueker 1998): the engine of the strong lottery ticket theorems.

:func:`best_subset_sums` finds, exactly and batched over many problems, the subset of some numbers
whose sum is closest to a target (meet in the middle: ``2^(m/2)`` sums per half instead of
``2^m``). :func:`coverage_error` measures how well *every* target on a grid of [-1, 1] is
approximated by subset sums of ``n`` U[-1, 1] samples, for every ``n`` at once and for many trials
at once; :func:`samples_needed` turns that into "how many samples for precision eps" and
:func:`fit_log_line` fits ``n = slope * log2(1/eps) + intercept``. The pruning construction built on
it is in :mod:`lotterylab.strong_lth`.

Example:
    >>> items = torch.tensor([[0.5, -0.3, 0.9, 0.2]], dtype=torch.float64)
    >>> keep, err = best_subset_sums(items, torch.tensor([0.4], dtype=torch.float64))
    >>> keep.int().tolist(), round(float(err), 6)   # 0.5 - 0.3 + 0.2 = 0.4
    ([[1, 1, 0, 1]], 0.0)
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError, check_choice, check_positive_int
from lotterylab.plotting import PALETTE, get_ax

__all__ = [
    "MAX_COVERAGE_N",
    "MAX_ITEMS",
    "SubsetSum",
    "all_approximable",
    "best_subset_sums",
    "brute_force_subset_sum",
    "check_eps",
    "coverage_error",
    "fit_log_line",
    "plot_samples_needed",
    "samples_needed",
    "solve_subset_sum",
]

MAX_ITEMS = 48          # meet in the middle enumerates 2^(m/2) sums per half
MAX_COVERAGE_N = 24     # coverage_error keeps all 2^n sums of a trial in memory
MAX_BRUTE_FORCE = 22    # brute force enumerates all 2^m sums


def check_eps(eps, name: str = "eps") -> float:
    """``eps`` as a float if it is a number in (0, 1], else raise naming ``name``.

    Example:
        >>> check_eps(0.5)
        0.5
    """
    try:
        v = float(eps)
    except (TypeError, ValueError):
        raise LotteryLabError(f"{name}={eps!r} must be a number in (0, 1].") from None
    if isinstance(eps, bool) or not (math.isfinite(v) and 0 < v <= 1):
        raise LotteryLabError(f"{name}={eps!r} must be a number in (0, 1].")
    return v


def _bits(h: int, device) -> torch.Tensor:
    """All 2^h subsets of h items as a (2^h, h) 0/1 float64 matrix (row r = binary digits of r)."""
    r = torch.arange(2 ** h, device=device)
    return ((r[:, None] >> torch.arange(h, device=device)) & 1).to(torch.float64)


def _check_problems(items, targets, max_size, chunk_size) -> tuple[torch.Tensor, torch.Tensor]:
    items = torch.as_tensor(items, dtype=torch.float64)
    targets = torch.as_tensor(targets, dtype=torch.float64)
    if items.dim() != 2 or targets.shape != items.shape[:1]:
        raise LotteryLabError(f"items must have shape (problems, m) and targets (problems,); got "
                              f"{tuple(items.shape)} and {tuple(targets.shape)}.")
    if targets.device != items.device:
        raise LotteryLabError(f"targets is on {targets.device} but items on {items.device}; put them on one device.")
    if not (torch.isfinite(items).all() and torch.isfinite(targets).all()):
        raise LotteryLabError("items and targets must be finite numbers.")
    check_choice("max_size", max_size, (None, 1))
    check_positive_int("chunk_size", chunk_size)
    if max_size is None and items.shape[1] > MAX_ITEMS:
        raise LotteryLabError(f"items has m={items.shape[1]} items per problem; allowed: at most {MAX_ITEMS} "
                              f"(any number with max_size=1).")
    return items, targets


def best_subset_sums(items: torch.Tensor, targets: torch.Tensor, *, max_size: int | None = None,
                     chunk_size: int = 2 ** 22) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row ``q``, the subset of ``items[q]`` whose sum is closest to ``targets[q]``.

    Exact (meet in the middle): the sums of each half of the items are enumerated, one half is
    sorted, and for every sum of the other half a binary search finds its best partner. Cost per
    problem: about ``2^(m/2) * m/2`` operations for ``m`` items, instead of ``2^m`` by brute force.
    ``max_size=1`` restricts the choice to the empty set or a single item (the "one random
    product per weight" scheme). ``chunk_size`` bounds the sums held at once. Runs on ``items``'s
    device. Returns ``keep`` (bool, shape of ``items``) and the absolute errors.

    Example:
        >>> items = torch.tensor([[0.5, -0.3, 0.9, 0.2]], dtype=torch.float64)
        >>> keep, err = best_subset_sums(items, torch.tensor([0.4], dtype=torch.float64), max_size=1)
        >>> keep.int().tolist(), round(float(err), 6)   # best single item is 0.5
        ([[1, 0, 0, 0]], 0.1)
    """
    items, targets = _check_problems(items, targets, max_size, chunk_size)
    q, m = items.shape
    dev = items.device
    if max_size is not None:
        cand = torch.cat([torch.zeros(q, 1, dtype=torch.float64, device=dev), items], 1)
        err = (cand - targets[:, None]).abs()
        best = err.argmin(1)
        keep = torch.zeros(q, m + 1, dtype=torch.bool, device=dev)
        keep[torch.arange(q, device=dev), best] = True
        return keep[:, 1:], err[torch.arange(q, device=dev), best]
    h = m // 2
    bits_l, bits_r = _bits(h, dev), _bits(m - h, dev)
    keep = torch.zeros(q, m, dtype=torch.bool, device=dev)
    errors = torch.empty(q, dtype=torch.float64, device=dev)
    step = max(1, chunk_size // (2 ** (m - h)))
    for s in range(0, q, step):
        it, tg = items[s:s + step], targets[s:s + step]
        left = it[:, :h] @ bits_l.T                                # (Q, 2^h) sums of the left half
        right, order = (it[:, h:] @ bits_r.T).sort(dim=1)          # (Q, 2^(m-h)) sorted right sums
        need = (tg[:, None] - left).contiguous()                   # what the right half should add
        pos = torch.searchsorted(right, need)
        lo = (pos - 1).clamp(min=0)
        hi = pos.clamp(max=right.shape[1] - 1)
        err_lo = (right.gather(1, lo) - need).abs()
        err_hi = (right.gather(1, hi) - need).abs()
        use_hi = err_hi < err_lo
        err = torch.where(use_hi, err_hi, err_lo)                  # (Q, 2^h) best error per left subset
        partner = torch.where(use_hi, hi, lo)
        best_err, best_l = err.min(1)
        best_r = order.gather(1, partner.gather(1, best_l[:, None]))[:, 0]
        keep[s:s + step, :h] = bits_l[best_l].bool()
        keep[s:s + step, h:] = bits_r[best_r].bool()
        errors[s:s + step] = best_err
    return keep, errors


def _check_target_number(target, low: float = -math.inf, high: float = math.inf) -> float:
    try:
        z = float(target)
    except (TypeError, ValueError):
        z = math.nan
    if isinstance(target, bool) or not (math.isfinite(z) and low <= z <= high):
        allowed = "a finite number" if math.isinf(low) else f"a number in [{low:g}, {high:g}]"
        raise LotteryLabError(f"target={target!r} must be {allowed}.")
    return z


def brute_force_subset_sum(items: torch.Tensor, target: float) -> tuple[torch.Tensor, float]:
    """Reference: try all ``2^m`` subsets of a 1-D ``items`` (m <= 22). Returns ``keep`` and the error.

    Example:
        >>> keep, err = brute_force_subset_sum(torch.tensor([0.5, -0.3, 0.9, 0.2]), 0.4)
        >>> keep.int().tolist(), round(err, 6)
        ([1, 1, 0, 1], 0.0)
    """
    items = torch.as_tensor(items, dtype=torch.float64).flatten()
    if items.numel() > MAX_BRUTE_FORCE:
        raise LotteryLabError(f"items has {items.numel()} entries; brute force allows at most {MAX_BRUTE_FORCE}.")
    if not torch.isfinite(items).all():
        raise LotteryLabError("items must be finite numbers.")
    z = _check_target_number(target)
    bits = _bits(items.numel(), items.device)
    err = (bits @ items - z).abs()
    best = int(err.argmin())
    return bits[best].bool(), float(err[best])


@dataclass(frozen=True)
class SubsetSum:
    """A solved subset-sum problem: chosen ``indices`` (sorted, unique), their ``total`` and ``error``."""

    indices: tuple[int, ...]
    total: float
    error: float
    eps: float

    @property
    def found(self) -> bool:
        """Whether the best subset is within ``eps`` of the target."""
        return self.error <= self.eps


def solve_subset_sum(samples, target: float, eps: float) -> SubsetSum:
    """The subset of ``samples`` (1-D, at most 48 numbers) whose sum is closest to ``target``.

    ``target`` must lie in [-1, 1] and ``eps`` in (0, 1]; ``found`` says whether the error is at most eps.

    Example:
        >>> s = solve_subset_sum([0.5, -0.3, 0.9, 0.2], 0.4, eps=0.01)
        >>> s.indices, s.found
        ((0, 1, 3), True)
    """
    eps = check_eps(eps)
    z = _check_target_number(target, -1.0, 1.0)
    x = torch.as_tensor(samples, dtype=torch.float64).flatten()
    if x.numel() == 0:
        raise LotteryLabError("samples must hold at least one number.")
    keep, err = best_subset_sums(x[None], torch.tensor([z], dtype=torch.float64, device=x.device))
    idx = tuple(int(i) for i in torch.nonzero(keep[0]).flatten())
    return SubsetSum(indices=idx, total=float(x[list(idx)].sum()) if idx else 0.0, error=float(err[0]), eps=eps)


def coverage_error(n_max: int, n_trials: int, *, n_grid: int = 20_001, seed: int = 0,
                   single: bool = False, device: torch.device | str | None = None) -> torch.Tensor:
    """Worst error over a grid of targets in [-1, 1], for ``n = 1..n_max`` U[-1, 1] samples.

    Row ``t`` uses the samples of trial ``t`` (drawn on the CPU from ``seed + t``, so every device
    sees the same numbers); column ``n - 1`` uses its first ``n`` samples, so rows are
    non-increasing. Entry = ``max_z min_S |z - sum(S)|`` over the ``n_grid`` evenly spaced targets
    ``z``: the largest distance from a grid target to its nearest subset sum. ``single=True`` allows
    only the empty set and single samples (to compare with "pick one lucky number"). Batched over
    trials and targets, computed on ``device`` (None: :func:`lotterylab.get_device`) and returned there.

    Example:
        >>> err = coverage_error(8, n_trials=2, n_grid=201, device="cpu")
        >>> err.shape, bool((err[:, 1:] <= err[:, :-1]).all())
        (torch.Size([2, 8]), True)
    """
    check_positive_int("n_max", n_max)
    check_positive_int("n_trials", n_trials)
    check_positive_int("n_grid", n_grid, minimum=2)
    check_positive_int("seed", seed, minimum=0)
    if not single and n_max > MAX_COVERAGE_N:
        raise LotteryLabError(f"n_max={n_max} is too large; allowed: 1..{MAX_COVERAGE_N} (2^n sums are kept).")
    device = get_device() if device is None else torch.device(device)
    grid = torch.linspace(-1, 1, n_grid, dtype=torch.float64, device=device)
    out = torch.empty(n_trials, n_max, dtype=torch.float64, device=device)
    x = torch.stack([torch.rand(n_max, generator=torch.Generator().manual_seed(seed + t), dtype=torch.float64)
                     for t in range(n_trials)]).to(device) * 2 - 1                   # (T, n_max)
    per = max(1, 2 ** 24 // 2 ** n_max) if not single else n_trials             # trials per chunk (memory)
    for t0 in range(0, n_trials, per):
        xt = x[t0:t0 + per]
        sums = torch.zeros(len(xt), 1, dtype=torch.float64, device=device)       # (T, 2^n) sorted
        for n in range(n_max):
            new = xt[:, n:n + 1] if single else sums + xt[:, n:n + 1]
            sums = torch.cat([sums, new], 1).sort(dim=1).values
            pos = torch.searchsorted(sums, grid.expand(len(xt), -1).contiguous())
            lo = sums.gather(1, (pos - 1).clamp(min=0))
            hi = sums.gather(1, pos.clamp(max=sums.shape[1] - 1))
            near = torch.minimum((grid - lo).abs(), (hi - grid).abs())           # (T, grid)
            out[t0:t0 + per, n] = near.max(1).values
    return out


def all_approximable(n_samples: int, eps: float, n_trials: int, *, n_grid: int = 20_001, seed: int = 0,
                     device: torch.device | str | None = None) -> torch.Tensor:
    """For each trial, whether EVERY grid target in [-1, 1] is within ``eps`` of a subset sum of n samples.

    Example:
        >>> all_approximable(16, 0.01, n_trials=3, n_grid=401, device="cpu").tolist()
        [True, True, True]
    """
    eps = check_eps(eps)
    check_positive_int("n_samples", n_samples)
    return coverage_error(n_samples, n_trials, n_grid=n_grid, seed=seed, device=device)[:, n_samples - 1] <= eps


def samples_needed(errors: torch.Tensor, eps_values: Sequence[float]) -> np.ndarray:
    """From :func:`coverage_error`'s ``(n_trials, n_max)`` output: the smallest n reaching each eps.

    Returns an int array ``(n_trials, len(eps_values))``; ``-1`` where even ``n_max`` samples were not enough.

    Example:
        >>> samples_needed(torch.tensor([[0.5, 0.2, 0.05]]), [0.3, 0.1, 0.01]).tolist()
        [[2, 3, -1]]
    """
    err = torch.as_tensor(errors).detach().cpu().double().numpy()
    if err.ndim != 2 or err.size == 0 or not np.isfinite(err).all():
        raise LotteryLabError(f"errors must be a finite (n_trials, n_max) array from coverage_error, "
                              f"got shape {err.shape}.")
    eps = np.array([check_eps(e, "eps_values entry") for e in eps_values])
    if eps.size == 0:
        raise LotteryLabError("eps_values must hold at least one eps in (0, 1].")
    ok = err[:, :, None] <= eps[None, None, :]                                   # (T, n, E)
    first = ok.argmax(1) + 1
    return np.where(ok.any(1), first, -1)


def fit_log_line(eps_values: Sequence[float], n_values: Sequence[float]) -> tuple[float, float]:
    """Least-squares line ``n = slope * log2(1/eps) + intercept``; returns ``(slope, intercept)``.

    Example:
        >>> fit_log_line([0.5, 0.25, 0.125], [3, 4, 5])
        (1.0, 2.0)
    """
    x = np.log2(1 / np.array([check_eps(e, "eps_values entry") for e in eps_values]))
    y = np.asarray(n_values, dtype=float)
    if x.shape != y.shape or len(x) < 2:
        raise LotteryLabError(f"eps_values and n_values need the same length >= 2; got {len(x)} and {len(y)}.")
    if not np.isfinite(y).all() or len(set(x.tolist())) < 2:
        raise LotteryLabError("n_values must be finite and eps_values must hold at least two different values.")
    slope, intercept = np.polyfit(x, y, 1)
    return round(float(slope), 10), round(float(intercept), 10)


def plot_samples_needed(eps_values, needed, *, fit: tuple[float, float] | None = None, ax=None,
                        label: str = "subset sums", color: str = PALETTE["ticket"]):
    """Samples needed (each trial a dot, the mean a line) against log2(1/eps), with the fitted line.

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> ax = plot_samples_needed([0.5, 0.25], [[2, 3], [2, 4]], fit=(1.0, 1.0))
        >>> ax.get_xlabel()
        'log2(1 / eps)  (bits of precision)'
    """
    x = np.log2(1 / np.array([check_eps(e, "eps_values entry") for e in eps_values]))
    needed = np.asarray(needed, dtype=float)
    if needed.ndim != 2 or needed.shape[1] != len(x) or needed.shape[0] == 0:
        raise LotteryLabError(f"needed has shape {needed.shape}; expected (n_trials, {len(x)}) as from samples_needed.")
    ax = get_ax(ax)
    for t in range(needed.shape[0]):
        jitter = (t - needed.shape[0] / 2) * 0.01
        ax.plot(x + jitter, needed[t], "o", color=color, alpha=0.25, ms=3)
    ax.plot(x, needed.mean(0), "-o", color=color, label=f"{label} (mean of {needed.shape[0]} trials)", ms=4)
    if fit is not None:
        xs = np.linspace(x.min(), x.max(), 50)
        ax.plot(xs, fit[0] * xs + fit[1], "--", color="k", lw=1,
                label=f"fit: n = {fit[0]:.2f} log2(1/eps) + {fit[1]:.1f}")
    ax.set_xlabel("log2(1 / eps)  (bits of precision)")
    ax.set_ylabel("samples n needed")
    ax.legend(fontsize="small")
    return ax
