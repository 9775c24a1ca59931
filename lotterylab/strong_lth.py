"""The strong lottery ticket construction (Pensia et al. 2020): prune a random network into a target.

:func:`prune_random_network` takes a small bias-free ReLU target (a list of weight matrices with
entries in [-1, 1]), draws a random network twice as deep with ``width_factor`` intermediate neurons
per input coordinate and U[-1, 1] weights, and prunes it, one subset-sum problem
(:func:`lotterylab.subset_sum.best_subset_sums`) per target weight and sign, so that it approximates
the target. Biases fit in by :func:`absorb_biases` (a bias is a weight from a unit that is always 1).
Chapter 4's sweep over width factors and its sizes are in :mod:`lotterylab.theory_experiments`.

Example:
    >>> target = [torch.tensor([[0.5, -0.25]]), torch.tensor([[1.0]])]
    >>> net = prune_random_network(target, 40, seed=0)
    >>> x = torch.rand(100, 2, dtype=torch.float64) * 2 - 1
    >>> bool((net(x) - relu_forward(target, x)).abs().max() < 0.01)
    True
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lotterylab.errors import LotteryLabError, check_choice, check_positive_int
from lotterylab.plotting import PALETTE, get_ax
from lotterylab.subset_sum import MAX_ITEMS, best_subset_sums

__all__ = [
    "METHODS",
    "PrunedNetwork",
    "absorb_biases",
    "check_target",
    "plot_error_vs_width",
    "plot_functions",
    "prune_random_network",
    "relu_forward",
]

METHODS = ("subset", "single")


def check_target(weights) -> list[torch.Tensor]:
    """A target network's weight matrices as float64 tensors, or raise: chained shapes, entries in [-1, 1].

    Example:
        >>> [tuple(w.shape) for w in check_target([[[0.5, -0.5]], [[1.0]]])]
        [(1, 2), (1, 1)]
    """
    if isinstance(weights, torch.Tensor) or not isinstance(weights, Sequence) or not weights:
        raise LotteryLabError("target weights must be a non-empty list of matrices.")
    weights = [torch.as_tensor(w, dtype=torch.float64) for w in weights]
    for i, w in enumerate(weights):
        if w.dim() != 2:
            raise LotteryLabError(f"target weight {i} has shape {tuple(w.shape)}; allowed: a matrix (out, in).")
        if i and w.shape[1] != weights[i - 1].shape[0]:
            raise LotteryLabError(f"target weight {i} takes {w.shape[1]} inputs but layer {i - 1} "
                                  f"has {weights[i - 1].shape[0]} outputs.")
        if w.device != weights[0].device:
            raise LotteryLabError(f"target weight {i} is on {w.device}, layer 0 on {weights[0].device}.")
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
    if isinstance(weights, torch.Tensor) or not isinstance(weights, Sequence) or not weights:
        raise LotteryLabError("weights must be a non-empty list of (out, in) matrices.")
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != weights[0].shape[-1]:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise LotteryLabError(f"x must be a batch of shape (batch, {weights[0].shape[-1]}), got {got}.")
    if x.device != weights[0].device:
        raise LotteryLabError(f"x is on {x.device} but the weights are on {weights[0].device}; move x there.")
    h = x
    for i, w in enumerate(weights):
        h = h @ w.to(h.dtype).T
        if i < len(weights) - 1:
            h = torch.relu(h)
    return h


def absorb_biases(layers: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """Turn ``[(W_1, b_1), ...]`` into bias-free matrices acting on ``(x, 1)``.

    Each hidden layer gets one extra unit that always outputs 1 (``relu(1) = 1``), and each bias
    becomes the weight from that unit. The last layer has no extra unit. The matrices are float64,
    on the weights' device.

    Example:
        >>> layer1 = (torch.tensor([[2.0]]), torch.tensor([-1.0]))
        >>> layer2 = (torch.tensor([[1.0]]), torch.tensor([0.5]))
        >>> ws = absorb_biases([layer1, layer2])
        >>> relu_forward(ws, torch.tensor([[3.0, 1.0]])).tolist()   # relu(2*3 - 1) + 0.5
        [[5.5]]
    """
    if not isinstance(layers, Sequence) or not layers:
        raise LotteryLabError("layers must be a non-empty list of (weight, bias) pairs.")
    out = []
    for i, pair in enumerate(layers):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise LotteryLabError(f"layers[{i}] must be a (weight, bias) pair.")
        w, b = (torch.as_tensor(t, dtype=torch.float64) for t in pair)
        if w.dim() != 2 or b.shape != w.shape[:1] or b.device != w.device:
            raise LotteryLabError(f"layers[{i}]: weight {tuple(w.shape)} and bias {tuple(b.shape)} do not fit "
                                  f"(need (out, in) and (out,), on one device).")
        m = torch.cat([w, b[:, None]], 1)
        if i < len(layers) - 1:
            const = torch.zeros(1, m.shape[1], dtype=torch.float64, device=w.device)
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
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False, dtype=torch.float64, device=w.device)
            with torch.no_grad():
                lin.weight.copy_(w)
            mods.append(lin)
            if i < len(self.random) - 1:
                mods.append(torch.nn.ReLU())
        return torch.nn.Sequential(*mods)


def _prune_layer_pair(w, n, g, method, device):
    """One target layer ``w``: draw A (in*n, in), B (out, in*n) and choose their masks by subset sums."""
    d_out, d_in = w.shape
    a_full = (torch.rand(d_in * n, d_in, generator=g, dtype=torch.float64) * 2 - 1).to(device)
    b_full = (torch.rand(d_out, d_in * n, generator=g, dtype=torch.float64) * 2 - 1).to(device)
    a_mask = torch.zeros_like(a_full, dtype=torch.bool)
    b_mask = torch.zeros_like(b_full, dtype=torch.bool)
    err = torch.zeros(d_out, d_in, dtype=torch.float64, device=device)
    sizes = []
    for j in range(d_in):
        rows = torch.arange(j * n, (j + 1) * n, device=device)
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
    return a_full, b_full, a_mask.to(torch.float64), b_mask.to(torch.float64), err, sizes


def prune_random_network(target: Sequence[torch.Tensor], width_factor: int, *, seed: int = 0,
                         method: str = "subset", device: torch.device | str | None = None) -> PrunedNetwork:
    """Prune a random ReLU network twice as deep as ``target`` so that it approximates it.

    For each target layer ``W`` (out x in) the random network has a pair of layers: ``A`` of shape
    (in * width_factor, in) and ``B`` of shape (out, in * width_factor), entries U[-1, 1]. Block
    ``j`` of ``width_factor`` intermediate neurons is kept connected to input ``j`` only; a neuron
    with ``a > 0`` outputs ``a * relu(x_j)``, one with ``a < 0`` outputs ``|a| * relu(-x_j)``. Since
    ``w x = w relu(x) - w relu(-x)``, the weight ``W[i, j]`` is rebuilt by choosing, among the
    products ``B[i, k] * a_k`` of the block, a subset of the positive-``a`` neurons summing to about
    ``W[i, j]`` and a subset of the negative ones summing to about ``-W[i, j]``: two subset-sum
    problems per target weight. ``method="single"`` allows at most one product each (the scheme
    behind the polynomial bound). Nothing is trained: every kept weight is a random weight. The
    random weights are drawn on the CPU from ``seed`` (the same on every device) and the network
    is built on ``device`` (None: the target's device).

    Example:
        >>> net = prune_random_network([torch.tensor([[0.5]])], 24, seed=0)
        >>> len(net.random), net.kept <= net.size
        (2, True)
    """
    target = check_target(target)
    check_positive_int("width_factor", width_factor)
    check_positive_int("seed", seed, minimum=0)
    check_choice("method", method, METHODS)
    if method == "subset" and width_factor > MAX_ITEMS:
        raise LotteryLabError(f"width_factor={width_factor} is too large for method='subset'; "
                              f"allowed: 1..{MAX_ITEMS}.")
    device = target[0].device if device is None else torch.device(device)
    g = torch.Generator().manual_seed(seed)
    random, masks, errors, sizes = [], [], [], []
    for w in target:
        a, b, a_mask, b_mask, err, s = _prune_layer_pair(w.to(device), width_factor, g, method, device)
        random += [a, b]
        masks += [a_mask, b_mask]
        errors.append(err)
        sizes += s
    return PrunedNetwork(random=random, masks=masks, errors=errors, width_factor=width_factor,
                         method=method, problem_sizes=sizes)


def plot_error_vs_width(width_factors, errors_by_method: dict, *, ax=None, ylabel: str = "max |g(x) - f(x)|"):
    """Approximation error (log scale) against the width factor; one line per method, min-max shaded.

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> plot_error_vs_width([4, 8], {"subset": [[0.1, 0.01]]}).get_yscale()
        'log'
    """
    w = np.asarray(width_factors, dtype=float).ravel()
    errors_by_method = {m: np.asarray(e, dtype=float) for m, e in errors_by_method.items()}
    for method, errs in errors_by_method.items():
        if errs.ndim != 2 or errs.shape[1] != len(w) or errs.shape[0] == 0:
            raise LotteryLabError(f"errors_by_method[{method!r}] has shape {errs.shape}; expected "
                                  f"(n_trials, {len(w)}), one column per width factor.")
    ax = get_ax(ax)
    styles = {"subset": (PALETTE["ticket"], "o", "subset sum (Pensia-style)"),
              "single": (PALETTE["reinit"], "s", "one product per weight")}
    for method, errs in errors_by_method.items():                # errs: (trials, widths)
        color, marker, label = styles.get(method, (PALETTE["other"], "o", method))
        ax.plot(w, np.median(errs, 0), marker=marker, color=color, label=label, ms=4)
        ax.fill_between(w, errs.min(0), errs.max(0), color=color, alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("width factor n (random neurons per target input coordinate)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def plot_functions(x, target_y, pruned_y, *, ax=None, label: str = "pruned random network"):
    """The target's output and the pruned network's output against a 1-D input.

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> len(plot_functions([0, 1], [0, 1], [0, 1.1]).get_lines())
        2
    """
    x, target_y, pruned_y = (np.asarray(torch.as_tensor(v).detach().cpu(), dtype=float).ravel()
                             for v in (x, target_y, pruned_y))
    if not len(x) == len(target_y) == len(pruned_y) or len(x) == 0:
        raise LotteryLabError(f"x, target_y and pruned_y must have the same non-zero length, got "
                              f"{len(x)}, {len(target_y)} and {len(pruned_y)}.")
    ax = get_ax(ax)
    ax.plot(x, target_y, color="k", lw=2.5, alpha=0.5, label="target network")
    ax.plot(x, pruned_y, color=PALETTE["other"], lw=1.2, label=label)
    ax.set_xlabel("input x")
    ax.set_ylabel("output")
    ax.legend(fontsize="small")
    return ax
