"""Tickets inside a trained two-layer network: mirror neuron pairs, their errors, distillation, and PCA.

For y = x^2 Liu and Tegmark's "ticket" is a pair of neurons (w, b) and (-w, b): their sum is an even
function that fits a parabola on its own. :func:`pair_neurons` finds such pairs, :func:`ticket_analysis`
fits each pair to the target and measures how independent their errors are, :func:`distill_width2`
turns the best pair into a width-2 network, and :func:`canonical_width2` with :func:`pca` maps all
width-2 networks into a plane. Everything follows the device of the parameters it gets.

Example:
    >>> pair_neurons([0.5, 1.0, -0.5, -1.0], [0.1, 0.2, 0.1, 0.2])
    [(0, 2), (1, 3)]
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from lotterylab.errors import LotteryLabError, check_positive_int
from lotterylab.plotting import get_ax
from lotterylab.two_layer import Params, apply_activation, forward

__all__ = [
    "Distilled",
    "TicketAnalysis",
    "canonical_width2",
    "distill_width2",
    "mirror_fraction",
    "pair_neurons",
    "pca",
    "plot_neuron_scatter",
    "plot_pca",
    "plot_ticket_errors",
    "ticket_analysis",
]


@dataclass
class TicketAnalysis:
    """What :func:`ticket_analysis` finds in one network: neuron ``pairs`` (K), the ``r2`` of each pair's
    fit (K,), their ``errors`` y - fit (K, D), and the ``correlation`` (K, K) of those errors."""

    pairs: list[tuple[int, int]]
    r2: np.ndarray
    errors: np.ndarray
    correlation: np.ndarray


@dataclass
class Distilled:
    """A width-2 network from a wide one's best ticket (:func:`distill_width2`) and its training MSE."""

    params: Params
    loss: float
    pair: tuple[int, int]


def _one_input(name: str, w, b) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(w.cpu() if isinstance(w, torch.Tensor) else w, dtype=float)
    b = np.asarray(b.cpu() if isinstance(b, torch.Tensor) else b, dtype=float)
    if b.ndim != 1 or w.shape not in ((len(b),), (len(b), 1)):
        raise LotteryLabError(f"{name} needs w (N,) or (N, 1) and b (N,) of one one-input network; "
                              f"got w {w.shape} and b {b.shape}.")
    return w.reshape(-1), b


def pair_neurons(w, b) -> list[tuple[int, int]]:
    """Greedily pair neurons (w_i, b_i) with mirror partners (-w_j, b_j), closest pairs first.

    ``w`` (N,) or (N, 1) and ``b`` (N,) of ONE network. With N odd the leftover neuron is dropped.
    """
    w, b = _one_input("pair_neurons", w, b)
    n = len(w)
    if n < 2 or not np.all(np.isfinite(w) & np.isfinite(b)):
        raise LotteryLabError(f"pair_neurons needs at least two neurons with finite w and b; got {n}.")
    cost = np.abs(w[:, None] + w[None, :]) + np.abs(b[:, None] - b[None, :])
    cost[np.arange(n), np.arange(n)] = np.inf
    free, pairs = set(range(n)), []
    for flat in np.argsort(cost, axis=None, kind="stable"):
        i, j = divmod(int(flat), n)
        if i < j and i in free and j in free:
            pairs.append((i, j))
            free -= {i, j}
    return pairs


def mirror_fraction(w, b, v=None, *, tol: float = 0.1) -> float:
    """Fraction of one network's neurons whose :func:`pair_neurons` partner is a close mirror image.

    A pair (i, j) counts when |w_i + w_j| and |b_i - b_j| (and, with ``v``, |v_i - v_j|) are all below
    ``tol`` times the network's median |w|, |b| (and |v|). Each neuron of a counted pair counts once;
    an odd neuron left out by the pairing never counts.

    Example:
        >>> mirror_fraction([1.0, -1.02, 2.0, 0.5], [0.3, 0.3, 1.0, -1.0])
        0.5
    """
    w, b = _one_input("mirror_fraction", w, b)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol > 0:
        raise LotteryLabError(f"tol={tol!r} must be a positive number (a fraction of a typical weight).")
    columns = [(-w, w), (b, b)]                       # mirror: w_i ~ -w_j, b_i ~ b_j (and v_i ~ v_j)
    if v is not None:
        v = np.asarray(v.cpu() if isinstance(v, torch.Tensor) else v, dtype=float).reshape(-1)
        if v.shape != b.shape:
            raise LotteryLabError(f"v must have one output weight per neuron ({b.size}); got {v.size}.")
        columns.append((v, v))
    pairs = np.array(pair_neurons(w, b))
    close = np.ones(len(pairs), dtype=bool)
    for flipped, plain in columns:
        scale = max(float(np.median(np.abs(plain))), 1e-300)
        close &= np.abs(flipped[pairs[:, 0]] - plain[pairs[:, 1]]) < tol * scale
    return 2 * int(close.sum()) / len(w)


def _network(params: Params, index: int, x: torch.Tensor, y: torch.Tensor):
    """Network ``index``'s (w, b, v) in float64 on ``x``'s device, with x and y checked."""
    if not isinstance(params, Params) or params.w.shape[2] != 1:
        raise LotteryLabError("params must be Params of one-input networks (w of shape (S, N, 1)).")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < params.w.shape[0]:
        raise LotteryLabError(f"index={index!r} must be a seed position in [0, {params.w.shape[0]}).")
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.dim() == 2 and x.shape[1] == 1
            and y.shape == (x.shape[0],)):
        raise LotteryLabError("x must be a (D, 1) tensor and y a (D,) tensor (as from make_data).")
    return tuple(t[int(index)].to(device=x.device, dtype=torch.float64) for t in (params.w, params.b, params.v))


def _fit_line(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Residual of the least-squares fit y ~ alpha t + beta (float64)."""
    design = torch.stack([t, torch.ones_like(t)], 1)
    coef = torch.linalg.lstsq(design, y[:, None]).solution[:, 0]
    return y - design @ coef


def ticket_analysis(params: Params, index: int, x: torch.Tensor, y: torch.Tensor,
                    activation: str = "silu") -> TicketAnalysis:
    """Disentangle network ``index`` into its neuron-pair tickets.

    Each ticket t_k(x) = v_i a_i(x) + v_j a_j(x) is regressed on the target (y ~ alpha t_k + beta);
    returns a :class:`TicketAnalysis`. ``x`` (D, 1) and ``y`` (D,) are the training data.

    Example:
        >>> p = Params(torch.tensor([[[1.0], [-1.0]]]), torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(1))
        >>> x = torch.linspace(-1, 1, 9)[:, None]
        >>> ticket_analysis(p, 0, x, x[:, 0] ** 2).pairs
        [(0, 1)]
    """
    w, b, v = _network(params, index, x, y)
    a = apply_activation(activation, w * x.double()[:, 0] + b[:, None])     # (N, D)
    pairs = pair_neurons(w, b)
    yy = y.double()
    errors = torch.stack([_fit_line(v[i] * a[i] + v[j] * a[j], yy) for i, j in pairs])   # (K, D)
    r2 = 1 - (errors ** 2).sum(1) / ((yy - yy.mean()) ** 2).sum()
    unit = errors / errors.norm(dim=1, keepdim=True).clamp_min(1e-300)
    return TicketAnalysis(pairs, r2.cpu().numpy(), errors.cpu().numpy(), (unit @ unit.T).cpu().numpy())


def distill_width2(params: Params, index: int, x: torch.Tensor, y: torch.Tensor, activation: str = "silu") -> Distilled:
    """A width-2 network from network ``index``'s best ticket: its two neurons' (w, b) copied, the output
    layer (v1, v2, c) refitted by least squares. Returns a :class:`Distilled` (float64, on ``x``'s device).

    Example:
        >>> p = Params(torch.tensor([[[1.0], [-1.0]]]), torch.zeros(1, 2), torch.ones(1, 2), torch.zeros(1))
        >>> x = torch.linspace(-1, 1, 9)[:, None]
        >>> distill_width2(p, 0, x, x[:, 0] ** 2).params.w.shape
        torch.Size([1, 2, 1])
    """
    info = ticket_analysis(params, index, x, y, activation)
    i, j = info.pairs[int(np.argmax(info.r2))]
    w, b, _ = _network(params, index, x, y)
    w, b = w[[i, j]], b[[i, j]]
    a = apply_activation(activation, w * x.double()[:, 0] + b[:, None])      # (2, D)
    design = torch.cat([a.T, torch.ones(a.shape[1], 1, dtype=a.dtype, device=a.device)], 1)
    coef = torch.linalg.lstsq(design, y.double()[:, None]).solution[:, 0]
    small = Params(w[None], b[None], coef[None, :2], coef[2:3])
    loss = float(((forward(small, x.double(), activation) - y.double()) ** 2).mean())
    return Distilled(small, loss, (i, j))


def canonical_width2(params: Params) -> np.ndarray:
    """(S, 7) parameters of width-2, one-input networks with the two neurons ordered by w (w1 >= w2),
    so the permutation symmetry does not split one solution into two clusters.

    Example:
        >>> p = Params(torch.tensor([[[-1.0], [2.0]]]), torch.tensor([[3.0, 4.0]]), torch.ones(1, 2), torch.zeros(1))
        >>> canonical_width2(p).tolist()
        [[2.0, -1.0, 4.0, 3.0, 1.0, 1.0, 0.0]]
    """
    if not isinstance(params, Params) or params.w.shape[1:] != (2, 1):
        shape = tuple(params.w.shape) if isinstance(params, Params) else type(params).__name__
        raise LotteryLabError(f"canonical_width2 needs params of width-2 one-input networks; got w of shape {shape}.")
    order = torch.argsort(params.w[:, :, 0], dim=1, descending=True, stable=True)
    take = lambda t: torch.gather(t, 1, order)
    return torch.cat([take(params.w[:, :, 0]), take(params.b), take(params.v), params.c[:, None]], 1).double().cpu().numpy()


def pca(data, k: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores (S, k), components (k, P) and explained-variance ratios (k,) of the rows of ``data`` (S, P).

    Example:
        >>> pca([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]], k=1)[2].round(6).tolist()
        [1.0]
    """
    data = np.asarray(data, dtype=float)
    check_positive_int("k", k)
    if data.ndim != 2 or data.shape[0] < 2 or not np.isfinite(data).all():
        raise LotteryLabError(f"data must be a finite (S, P) array with S >= 2 rows; got shape {data.shape}.")
    if k > min(data.shape):
        raise LotteryLabError(f"k={k} must be at most min(S, P) = {min(data.shape)}.")
    centred = data - data.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T, vt[:k], (s ** 2 / max((s ** 2).sum(), 1e-300))[:k]


# ------------------------------------------------------------------------------------------------- plots

def plot_neuron_scatter(w, b, v=None, *, ax=None, title: str | None = None):
    """Each hidden neuron as a point (w_i, b_i), coloured by its output weight v_i; mirror axis w = 0."""
    w, b = _one_input("plot_neuron_scatter", w, b)
    if v is not None:
        v = np.asarray(v.cpu() if isinstance(v, torch.Tensor) else v, dtype=float).reshape(-1)
        if v.shape != b.shape:
            raise LotteryLabError(f"v must have one output weight per neuron ({b.size}); got {v.size}.")
    ax = get_ax(ax)
    sc = ax.scatter(w, b, c=v, s=8, cmap="coolwarm")
    ax.axvline(0, color="k", lw=0.6)
    if v is not None:
        ax.figure.colorbar(sc, ax=ax, label="output weight v")
    ax.set_xlabel("input weight w")
    ax.set_ylabel("bias b")
    if title:
        ax.set_title(title)
    return ax


def plot_pca(scores, losses, *, ax=None):
    """PCA scores (S, >= 2) coloured by log10 loss (S,)."""
    scores, losses = np.asarray(scores, dtype=float), np.asarray(losses, dtype=float).reshape(-1)
    if scores.ndim != 2 or scores.shape[1] < 2 or scores.shape[0] != losses.size:
        raise LotteryLabError(f"scores must be (S, >= 2) and losses (S,); got {scores.shape} and {losses.shape}.")
    ax = get_ax(ax)
    sc = ax.scatter(scores[:, 0], scores[:, 1], c=np.log10(np.clip(losses, 1e-30, None)), s=8, cmap="viridis")
    ax.figure.colorbar(sc, ax=ax, label="log10 MSE")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    return ax


def plot_ticket_errors(info: TicketAnalysis, x: torch.Tensor, *, ax=None, top: int = 6):
    """Error functions (target minus fit) of a network's best ``top`` tickets, labelled with their R^2."""
    if isinstance(info, Mapping) or not isinstance(info, TicketAnalysis):
        raise LotteryLabError(f"info must be a TicketAnalysis (from ticket_analysis), not {type(info).__name__}.")
    check_positive_int("top", top)
    xs = x[:, 0].double().cpu().numpy()
    if info.errors.shape[1] != xs.size:
        raise LotteryLabError(f"x has {xs.size} points but the tickets' errors have {info.errors.shape[1]}.")
    ax = get_ax(ax)
    for k in np.argsort(-info.r2)[:top]:
        ax.plot(xs, info.errors[k], lw=1, label=f"pair {info.pairs[k]}: $R^2$ = {info.r2[k]:.5f}")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("x")
    ax.set_ylabel("error of the ticket's fit")
    ax.legend(fontsize="xx-small")
    return ax
