"""Subset sum, the engine of the strong lottery ticket theorems, and the pruning construction built on it.

Two halves:

* **Random subset sum** (Lueker 1998). :func:`best_subset_sums` finds, exactly and batched over
  many problems, the subset of some numbers whose sum is closest to a target (meet in the middle:
  ``2^(m/2)`` sums per half instead of ``2^m``). :func:`coverage_error` measures how well *every*
  target on a grid of [-1, 1] is approximated by subset sums of ``n`` U[-1, 1] samples, for every
  ``n`` at once and for many trials at once; :func:`samples_needed` turns that into "how many
  samples for precision eps".
* **The construction** (Pensia et al. 2020). :func:`prune_random_network` takes a small bias-free
  ReLU target (a list of weight matrices with entries in [-1, 1]), draws a random network twice
  as deep with ``width_factor`` intermediate neurons per input coordinate and U[-1, 1] weights,
  and prunes it, one subset-sum problem per target weight and sign, so that it approximates the
  target. Biases fit in by :func:`absorb_biases` (a bias is a weight from a unit that is always 1).

Example:
    >>> import torch
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

from lotterylab.errors import LotteryLabError, check_choice, check_positive_int
from lotterylab.presets import pick

__all__ = [
    "PrunedNetwork",
    "SubsetSum",
    "TheoryConfig",
    "absorb_biases",
    "all_approximable",
    "best_subset_sums",
    "brute_force_subset_sum",
    "coverage_error",
    "fit_log_line",
    "plot_error_vs_width",
    "plot_functions",
    "plot_samples_needed",
    "prune_random_network",
    "relu_forward",
    "samples_needed",
    "solve_subset_sum",
]

MAX_ITEMS = 48          # meet in the middle enumerates 2^(m/2) sums per half
MAX_COVERAGE_N = 24     # coverage_error keeps all 2^n sums of a trial in memory


@dataclass(frozen=True)
class TheoryConfig:
    """Sizes of the strong-LTH theory chapter's experiments.

    Example:
        >>> TheoryConfig.for_preset("quick").coverage_trials
        8
    """

    coverage_trials: int = 8              # independent sample sets per point in the subset-sum experiment
    coverage_n_max: int = 22              # largest number of U[-1, 1] samples tried (2^n sums kept)
    coverage_grid: int = 100_001          # targets on an even grid of [-1, 1]
    eps_bits: tuple[int, ...] = tuple(range(1, 14))   # eps = 2^-b
    single_n_max: int = 1_000             # "one lucky sample": samples tried
    single_bits: tuple[int, ...] = tuple(range(1, 7))
    target_hidden: int = 8                # target network 1 -> hidden -> hidden -> 1 (plus bias units)
    train_steps: int = 3_000              # Adam steps to train the target directly
    widths: tuple[int, ...] = (4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48)
    single_widths: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)
    construction_trials: int = 8          # random networks per width factor

    @classmethod
    def for_preset(cls, preset: str) -> TheoryConfig:
        return pick(preset, quick=cls(), full=cls(
            coverage_trials=32, coverage_n_max=24, coverage_grid=400_001, eps_bits=tuple(range(1, 16)),
            single_n_max=4_000, single_bits=tuple(range(1, 9)), target_hidden=16, train_steps=10_000,
            single_widths=(4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048), construction_trials=16))


# ---------------------------------------------------------------------------------------------
# Subset sum
# ---------------------------------------------------------------------------------------------

def _check_eps(eps) -> float:
    try:
        v = float(eps)
    except (TypeError, ValueError):
        raise LotteryLabError(f"eps={eps!r} must be a number in (0, 1].") from None
    if not (math.isfinite(v) and 0 < v <= 1):
        raise LotteryLabError(f"eps={eps!r} must be a number in (0, 1].")
    return v


def _bits(h: int, device) -> torch.Tensor:
    """All 2^h subsets of h items as a (2^h, h) 0/1 float64 matrix (row r = binary digits of r)."""
    r = torch.arange(2 ** h, device=device)
    return ((r[:, None] >> torch.arange(h, device=device)) & 1).to(torch.float64)


def best_subset_sums(items: torch.Tensor, targets: torch.Tensor, *, max_size: int | None = None,
                     chunk: int = 2 ** 22) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row ``q``, the subset of ``items[q]`` whose sum is closest to ``targets[q]``.

    Exact (meet in the middle): the sums of each half of the items are enumerated, one half is
    sorted, and for every sum of the other half a binary search finds its best partner. Cost per
    problem: about ``2^(m/2) * m/2`` operations for ``m`` items, instead of ``2^m`` by brute force.
    ``max_size=1`` restricts the choice to the empty set or a single item (the "one random
    product per weight" scheme). Returns ``keep`` (bool, shape of ``items``) and the absolute errors.

    Example:
        >>> items = torch.tensor([[0.5, -0.3, 0.9, 0.2]], dtype=torch.float64)
        >>> keep, err = best_subset_sums(items, torch.tensor([0.4], dtype=torch.float64), max_size=1)
        >>> keep.int().tolist(), round(float(err), 6)   # best single item is 0.5
        ([[1, 0, 0, 0]], 0.1)
    """
    items = torch.as_tensor(items, dtype=torch.float64)
    targets = torch.as_tensor(targets, dtype=torch.float64, device=items.device)
    if items.dim() != 2 or targets.shape != items.shape[:1]:
        raise LotteryLabError(f"items must have shape (problems, m) and targets (problems,); got "
                              f"{tuple(items.shape)} and {tuple(targets.shape)}.")
    if not (torch.isfinite(items).all() and torch.isfinite(targets).all()):
        raise LotteryLabError("items and targets must be finite numbers.")
    q, m = items.shape
    check_choice("max_size", max_size, (None, 1))
    if max_size is None and m > MAX_ITEMS:
        raise LotteryLabError(f"items has m={m} items per problem; allowed: at most {MAX_ITEMS} "
                              f"(any number with max_size=1).")
    if max_size is not None:
        cand = torch.cat([torch.zeros(q, 1, dtype=torch.float64, device=items.device), items], 1)
        err = (cand - targets[:, None]).abs()
        best = err.argmin(1)
        keep = torch.zeros(q, m + 1, dtype=torch.bool, device=items.device)
        keep[torch.arange(q), best] = True
        return keep[:, 1:], err[torch.arange(q), best]
    h = m // 2
    bits_l, bits_r = _bits(h, items.device), _bits(m - h, items.device)
    keep = torch.zeros(q, m, dtype=torch.bool, device=items.device)
    errors = torch.empty(q, dtype=torch.float64, device=items.device)
    step = max(1, chunk // (2 ** (m - h)))
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


def brute_force_subset_sum(items: torch.Tensor, target: float) -> tuple[torch.Tensor, float]:
    """Reference: try all ``2^m`` subsets of a 1-D ``items`` (m <= 22). Returns ``keep`` and the error.

    Example:
        >>> keep, err = brute_force_subset_sum(torch.tensor([0.5, -0.3, 0.9, 0.2]), 0.4)
        >>> keep.int().tolist(), round(err, 6)
        ([1, 1, 0, 1], 0.0)
    """
    items = torch.as_tensor(items, dtype=torch.float64).flatten()
    if items.numel() > 22:
        raise LotteryLabError(f"items has {items.numel()} entries; brute force allows at most 22.")
    bits = _bits(items.numel(), items.device)
    err = (bits @ items - float(target)).abs()
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
    eps = _check_eps(eps)
    try:
        z = float(target)
    except (TypeError, ValueError):
        raise LotteryLabError(f"target={target!r} must be a number in [-1, 1].") from None
    if not (math.isfinite(z) and -1 <= z <= 1):
        raise LotteryLabError(f"target={target!r} must be a number in [-1, 1].")
    x = torch.as_tensor(samples, dtype=torch.float64).flatten()
    if x.numel() == 0:
        raise LotteryLabError("samples must hold at least one number.")
    keep, err = best_subset_sums(x[None], torch.tensor([z], dtype=torch.float64, device=x.device))
    idx = tuple(int(i) for i in torch.nonzero(keep[0]).flatten())
    return SubsetSum(indices=idx, total=float(x[list(idx)].sum()) if idx else 0.0, error=float(err[0]), eps=eps)


def coverage_error(n_max: int, trials: int, *, grid_size: int = 20_001, seed: int = 0,
                   single: bool = False, device: torch.device | str = "cpu") -> torch.Tensor:
    """Worst error over a grid of targets in [-1, 1], for ``n = 1..n_max`` U[-1, 1] samples.

    Row ``t`` uses the samples of trial ``t`` (drawn from ``seed + t``); column ``n - 1`` uses its
    first ``n`` samples, so rows are non-increasing. Entry = ``max_z min_S |z - sum(S)|`` over the
    ``grid_size`` evenly spaced targets ``z``: the largest distance from a grid target to its
    nearest subset sum. ``single=True`` allows only the empty set and single samples (to compare
    with "pick one lucky number"). Batched over trials and targets.

    Example:
        >>> err = coverage_error(8, trials=2, grid_size=201)
        >>> err.shape, bool((err[:, 1:] <= err[:, :-1]).all())
        (torch.Size([2, 8]), True)
    """
    check_positive_int("n_max", n_max)
    check_positive_int("trials", trials)
    check_positive_int("grid_size", grid_size, minimum=2)
    if not single and n_max > MAX_COVERAGE_N:
        raise LotteryLabError(f"n_max={n_max} is too large; allowed: 1..{MAX_COVERAGE_N} (2^n sums are kept).")
    grid = torch.linspace(-1, 1, grid_size, dtype=torch.float64, device=device)
    out = torch.empty(trials, n_max, dtype=torch.float64)
    x = torch.stack([torch.rand(n_max, generator=torch.Generator().manual_seed(seed + t), dtype=torch.float64)
                     for t in range(trials)]).to(device) * 2 - 1                       # (T, n_max)
    per = max(1, 2 ** 24 // 2 ** n_max) if not single else trials                # trials per chunk (memory)
    for t0 in range(0, trials, per):
        xt = x[t0:t0 + per]
        sums = torch.zeros(len(xt), 1, dtype=torch.float64, device=device)       # (T, 2^n) sorted
        for n in range(n_max):
            new = xt[:, n:n + 1] if single else sums + xt[:, n:n + 1]
            sums = torch.cat([sums, new], 1).sort(dim=1).values
            pos = torch.searchsorted(sums, grid.expand(len(xt), -1).contiguous())
            lo = sums.gather(1, (pos - 1).clamp(min=0))
            hi = sums.gather(1, pos.clamp(max=sums.shape[1] - 1))
            near = torch.minimum((grid - lo).abs(), (hi - grid).abs())           # (T, grid)
            out[t0:t0 + per, n] = near.max(1).values.cpu()
    return out


def all_approximable(n: int, eps: float, trials: int, *, grid_size: int = 20_001, seed: int = 0) -> torch.Tensor:
    """For each trial, whether EVERY grid target in [-1, 1] is within ``eps`` of a subset sum of n samples.

    Example:
        >>> all_approximable(16, 0.01, trials=3, grid_size=401).tolist()
        [True, True, True]
    """
    eps = _check_eps(eps)
    check_positive_int("n", n)
    return coverage_error(n, trials, grid_size=grid_size, seed=seed)[:, n - 1] <= eps


def samples_needed(errors: torch.Tensor, eps_values: Sequence[float]) -> np.ndarray:
    """From :func:`coverage_error`'s ``(trials, n_max)`` output: the smallest n reaching each eps.

    Returns an int array ``(trials, len(eps_values))``; ``-1`` where even ``n_max`` samples were not enough.

    Example:
        >>> samples_needed(torch.tensor([[0.5, 0.2, 0.05]]), [0.3, 0.1, 0.01]).tolist()
        [[2, 3, -1]]
    """
    eps = np.array([_check_eps(e) for e in eps_values])
    err = errors.cpu().numpy()
    ok = err[:, :, None] <= eps[None, None, :]                                   # (T, n, E)
    first = ok.argmax(1) + 1
    return np.where(ok.any(1), first, -1)


def fit_log_line(eps_values: Sequence[float], n_values: Sequence[float]) -> tuple[float, float]:
    """Least-squares line ``n = slope * log2(1/eps) + intercept``; returns ``(slope, intercept)``.

    Example:
        >>> fit_log_line([0.5, 0.25, 0.125], [3, 4, 5])
        (1.0, 2.0)
    """
    x = np.log2(1 / np.array([_check_eps(e) for e in eps_values]))
    y = np.asarray(n_values, dtype=float)
    if x.shape != y.shape or len(x) < 2:
        raise LotteryLabError(f"eps_values and n_values need the same length >= 2; got {len(x)} and {len(y)}.")
    slope, intercept = np.polyfit(x, y, 1)
    return round(float(slope), 10), round(float(intercept), 10)


# ---------------------------------------------------------------------------------------------
# The construction
# ---------------------------------------------------------------------------------------------

def _check_target(weights) -> list[torch.Tensor]:
    weights = [torch.as_tensor(w, dtype=torch.float64) for w in weights]
    if not weights:
        raise LotteryLabError("target weights must be a non-empty list of matrices.")
    for i, w in enumerate(weights):
        if w.dim() != 2:
            raise LotteryLabError(f"target weight {i} has shape {tuple(w.shape)}; allowed: a matrix (out, in).")
        if i and w.shape[1] != weights[i - 1].shape[0]:
            raise LotteryLabError(f"target weight {i} takes {w.shape[1]} inputs but layer {i - 1} "
                                  f"has {weights[i - 1].shape[0]} outputs.")
        if not torch.isfinite(w).all() or w.abs().max() > 1:
            raise LotteryLabError(f"target weight {i} has entries outside [-1, 1] (max |w| = "
                                  f"{float(w.abs().max()):.3g}); allowed: every entry in [-1, 1].")
    return weights


def relu_forward(weights: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """A bias-free ReLU network: ``W_L relu(... relu(W_1 x))`` on a batch ``x`` of shape (batch, in).

    Example:
        >>> relu_forward([torch.eye(2), torch.ones(1, 2)], torch.tensor([[1.0, -2.0]])).tolist()
        [[1.0]]
    """
    h = x
    for i, w in enumerate(weights):
        h = h @ w.to(h.dtype).T
        if i < len(weights) - 1:
            h = torch.relu(h)
    return h


def absorb_biases(layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """Turn ``[(W_1, b_1), ...]`` into bias-free matrices acting on ``(x, 1)``.

    Each hidden layer gets one extra unit that always outputs 1 (``relu(1) = 1``), and each bias
    becomes the weight from that unit. The last layer has no extra unit.

    Example:
        >>> layer1 = (torch.tensor([[2.0]]), torch.tensor([-1.0]))
        >>> layer2 = (torch.tensor([[1.0]]), torch.tensor([0.5]))
        >>> ws = absorb_biases([layer1, layer2])
        >>> relu_forward(ws, torch.tensor([[3.0, 1.0]])).tolist()   # relu(2*3 - 1) + 0.5
        [[5.5]]
    """
    out = []
    for i, (w, b) in enumerate(layers):
        w, b = torch.as_tensor(w, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
        m = torch.cat([w, b[:, None]], 1)
        if i < len(layers) - 1:
            const = torch.zeros(1, m.shape[1], dtype=torch.float64)
            const[0, -1] = 1.0
            m = torch.cat([m, const], 0)
        out.append(m)
    return out


@dataclass
class PrunedNetwork:
    """The random network, its masks and the pruned subnetwork (weights ``random * mask``).

    ``random[k]``/``masks[k]`` are the 2L layers (depth twice the target's); ``errors`` are the
    subset-sum errors per target weight (max of the two signs), one tensor per target layer;
    ``problem_sizes`` lists the number of candidate products ``m`` of every subset-sum problem solved.
    """

    random: list[torch.Tensor]
    masks: list[torch.Tensor]
    errors: list[torch.Tensor]
    width_factor: int
    method: str
    problem_sizes: list[int]

    @property
    def operations(self) -> int:
        """Sums enumerated plus comparisons made by the solver (meet in the middle, or m + 1 for "single")."""
        if self.method == "single":
            return int(sum(m + 1 for m in self.problem_sizes))
        return int(sum(2 ** (m // 2) + 2 ** (m - m // 2) + 2 ** (m // 2) * max(1, m - m // 2)
                       for m in self.problem_sizes))

    @property
    def brute_force_operations(self) -> int:
        """What trying every subset of every problem would cost: ``2^m`` sums of up to ``m`` terms each."""
        return int(sum(2 ** m * max(1, m) for m in self.problem_sizes))

    @property
    def pruned(self) -> list[torch.Tensor]:
        return [w * m for w, m in zip(self.random, self.masks)]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return relu_forward(self.pruned, x)

    @property
    def kept(self) -> int:
        return int(sum(int(m.sum()) for m in self.masks))

    @property
    def size(self) -> int:
        return int(sum(m.numel() for m in self.masks))

    def to_module(self) -> torch.nn.Sequential:
        """The pruned network as a bias-free ``torch.nn.Sequential`` of Linear and ReLU layers."""
        mods = []
        for i, w in enumerate(self.pruned):
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(w)
            mods.append(lin)
            if i < len(self.random) - 1:
                mods.append(torch.nn.ReLU())
        return torch.nn.Sequential(*mods)


def prune_random_network(target: Sequence[torch.Tensor], width_factor: int, *, seed: int = 0,
                         method: str = "subset") -> PrunedNetwork:
    """Prune a random ReLU network twice as deep as ``target`` so that it approximates it.

    For each target layer ``W`` (out x in) the random network has a pair of layers: ``A`` of shape
    (in * width_factor, in) and ``B`` of shape (out, in * width_factor), entries U[-1, 1]. Block
    ``j`` of ``width_factor`` intermediate neurons is kept connected to input ``j`` only; a neuron
    with ``a > 0`` outputs ``a * relu(x_j)``, one with ``a < 0`` outputs ``|a| * relu(-x_j)``. Since
    ``w x = w relu(x) - w relu(-x)``, the weight ``W[i, j]`` is rebuilt by choosing, among the
    products ``B[i, k] * a_k`` of the block, a subset of the positive-``a`` neurons summing to about
    ``W[i, j]`` and a subset of the negative ones summing to about ``-W[i, j]``: two subset-sum
    problems per target weight. ``method="single"`` allows at most one product each (the scheme
    behind the polynomial bound). Nothing is trained: every kept weight is a random weight.

    Example:
        >>> target = [torch.tensor([[0.5, -0.25]]), torch.tensor([[1.0]])]
        >>> net = prune_random_network(target, 40, seed=0)
        >>> x = torch.rand(100, 2, dtype=torch.float64) * 2 - 1
        >>> bool((net(x) - relu_forward(target, x)).abs().max() < 0.01)
        True
    """
    target = _check_target(target)
    check_positive_int("width_factor", width_factor)
    check_choice("method", method, ("subset", "single"))
    if method == "subset" and width_factor > MAX_ITEMS:
        raise LotteryLabError(f"width_factor={width_factor} is too large for method='subset'; "
                              f"allowed: 1..{MAX_ITEMS}.")
    g = torch.Generator().manual_seed(seed)
    random, masks, errors, sizes = [], [], [], []
    for w in target:
        d_out, d_in = w.shape
        n = width_factor
        a_full = torch.rand(d_in * n, d_in, generator=g, dtype=torch.float64) * 2 - 1
        b_full = torch.rand(d_out, d_in * n, generator=g, dtype=torch.float64) * 2 - 1
        a_mask = torch.zeros_like(a_full, dtype=torch.bool)
        b_mask = torch.zeros_like(b_full, dtype=torch.bool)
        err = torch.zeros(d_out, d_in, dtype=torch.float64)
        for j in range(d_in):
            rows = torch.arange(j * n, (j + 1) * n)
            a = a_full[rows, j]                                   # (n,) the block's first-layer weights
            for sign in (1.0, -1.0):
                sel = rows[(a * sign) > 0]                        # neurons seeing relu(sign * x_j)
                if len(sel) == 0:
                    err[:, j] = torch.maximum(err[:, j], w[:, j].abs())   # nothing to build it from
                    continue
                prods = b_full[:, sel] * a_full[sel, j].abs()     # (out, m) what each neuron contributes
                keep, e = best_subset_sums(prods, sign * w[:, j], max_size=None if method == "subset" else 1)
                sizes += [len(sel)] * d_out
                b_mask[:, sel] |= keep
                a_mask[sel, j] |= keep.any(0)
                err[:, j] = torch.maximum(err[:, j], e)
        random += [a_full, b_full]
        masks += [a_mask.to(torch.float64), b_mask.to(torch.float64)]
        errors.append(err)
    return PrunedNetwork(random=random, masks=masks, errors=errors, width_factor=width_factor,
                         method=method, problem_sizes=sizes)


# ---------------------------------------------------------------------------------------------
# Plots (take an optional Axes, return it)
# ---------------------------------------------------------------------------------------------

def _ax(ax):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots(figsize=(6, 4))[1]


def plot_samples_needed(eps_values, needed, *, fit: tuple[float, float] | None = None, ax=None,
                        label: str = "subset sums", color: str = "#1f77b4"):
    """Samples needed (each trial a dot, the mean a line) against log2(1/eps), with the fitted line."""
    ax = _ax(ax)
    x = np.log2(1 / np.asarray(eps_values, dtype=float))
    needed = np.asarray(needed, dtype=float)
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


def plot_error_vs_width(width_factors, errors_by_method: dict, *, ax=None, ylabel: str = "max |g(x) - f(x)|"):
    """Approximation error (log scale) against the width factor; one line per method, min-max shaded."""
    ax = _ax(ax)
    styles = {"subset": ("#1f77b4", "o", "subset sum (Pensia-style)"),
              "single": ("#d62728", "s", "one product per weight")}
    w = np.asarray(width_factors)
    for method, errs in errors_by_method.items():
        errs = np.asarray(errs, dtype=float)                      # (trials, widths)
        color, marker, label = styles.get(method, (None, "o", method))
        ax.plot(w, np.median(errs, 0), marker=marker, color=color, label=label, ms=4)
        ax.fill_between(w, errs.min(0), errs.max(0), color=color, alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("width factor n (random neurons per target input coordinate)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def plot_functions(x, target_y, pruned_y, *, ax=None, label: str = "pruned random network"):
    """The target's output and the pruned network's output against a 1-D input."""
    ax = _ax(ax)
    x = np.asarray(x).ravel()
    ax.plot(x, np.asarray(target_y).ravel(), color="k", lw=2.5, alpha=0.5, label="target network")
    ax.plot(x, np.asarray(pruned_y).ravel(), color="#ff7f0e", lw=1.2, label=label)
    ax.set_xlabel("input x")
    ax.set_ylabel("output")
    ax.legend(fontsize="small")
    return ax
