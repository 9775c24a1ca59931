"""Ensembling or synergy? Compare a width-N network with the ensemble of two width-N/2 networks.

Two predictors with independent zero-mean errors of mean squares l1 and l2, combined with the best
weights, have loss (1/l1 + 1/l2)^-1: half their harmonic mean. If a width-N network were no more than
two width-N/2 networks side by side, its loss would be distributed like that combination of two losses
drawn from the width-N/2 histogram. :func:`harmonic_ensemble` draws that distribution,
:func:`ensemble_ratio` compares medians, and :func:`plot_ensembling` draws both histograms.

The harmonic-mean rule *assumes* uncorrelated errors. :func:`fitted_ensemble` tests that assumption
directly: it fits the best combination a f_a + b f_b + c of two actual trained networks by least squares
on the training points (all pairs at once) and puts the lemma's prediction for the same pair beside it;
:func:`fitted_pairs` draws the pairs from one run's networks.

Example:
    >>> float(harmonic_ensemble([2.0], [2.0], n=1)[0])
    1.0
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lotterylab.errors import LotteryLabError, check_positive_int
from lotterylab.plotting import PALETTE
from lotterylab.scaling import finite_losses, median_loss, plot_loss_histograms
from lotterylab.two_layer import Params, forward

__all__ = ["FittedEnsemble", "ensemble_ratio", "fitted_ensemble", "fitted_pairs", "harmonic_ensemble",
           "plot_ensembling"]


def harmonic_ensemble(losses_a, losses_b=None, *, n: int = 10_000, seed: int = 0) -> np.ndarray:
    """Losses of ``n`` ensembles of two networks drawn at random (with replacement), one from each histogram.

    ``losses_b`` None draws both from ``losses_a``. Non-finite (diverged) losses are dropped first.

    Example:
        >>> harmonic_ensemble([2.0], [6.0], n=2).tolist()
        [1.5, 1.5]
    """
    check_positive_int("n", n)
    check_positive_int("seed", seed, minimum=0)
    a = finite_losses(losses_a)
    b = a if losses_b is None else finite_losses(losses_b)
    if a.size == 0 or b.size == 0:
        raise LotteryLabError("harmonic_ensemble needs finite losses in both losses_a and losses_b.")
    if (a < 0).any() or (b < 0).any():
        raise LotteryLabError("losses_a and losses_b must be mean squared errors (>= 0).")
    rng = np.random.default_rng(seed)
    la, lb = rng.choice(a, n), rng.choice(b, n)
    with np.errstate(divide="ignore"):
        return 1.0 / (1.0 / la + 1.0 / lb)


def ensemble_ratio(losses_n, losses_half, *, n: int = 20_000, seed: int = 0) -> float:
    """Median loss of the width-N networks over the median of two-width-N/2 ensembles.

    1 means pure ensembling, below 1 synergy (the wide network beats two halves), above 1 a wide
    network worse than two independently trained halves (usually: under-trained).

    Example:
        >>> ensemble_ratio([1.0, 1.0], [2.0, 2.0])
        1.0
    """
    return median_loss(losses_n)[0] / float(np.median(harmonic_ensemble(losses_half, n=n, seed=seed)))


def plot_ensembling(losses_n, losses_half, width: int, *, fitted=None, ax=None, seed: int = 0):
    """Histogram of width-N losses against the harmonic-mean ensemble of two width-N/2 networks, and
    (``fitted``: losses of :func:`fitted_ensemble`) the least-squares combination of actual pairs."""
    check_positive_int("width", width, minimum=2)
    ens = harmonic_ensemble(losses_half, n=max(2000, len(finite_losses(losses_half)) * 10), seed=seed)
    series = {f"N = {width}": losses_n, f"{width // 2} + {width // 2} (ensemble)": ens}
    colors = [PALETTE["ticket"], PALETTE["other"]]
    if fitted is not None:
        series[f"{width // 2} + {width // 2} (fitted)"] = fitted
        colors.append(PALETTE["dense"])
    ax = plot_loss_histograms(series, ax=ax, colors=colors, density=True)
    ax.set_title(f"N = {width}", fontsize="small")
    return ax


@dataclass
class FittedEnsemble:
    """What :func:`fitted_ensemble` finds for P pairs of networks (numpy, float64).

    losses:      (P,) training MSE of the least-squares combination a f_a + b f_b + c of each pair.
    coef:        (P, 3) the fitted (a, b, c).
    harmonic:    (P,) the lemma's prediction for the same pair, (1/L_a + 1/L_b)^-1: exact for the best
                 combination a f_a + (1 - a) f_b when the two errors are uncorrelated.
    correlation: (P,) <e_a, e_b> / (|e_a| |e_b|) of the two errors e = f - y over the points (the cross
                 term the lemma sets to zero; 1 means the same error, and then ensembling gains nothing).
    pairs:       (P, 2) the networks' indices, when drawn by :func:`fitted_pairs` (else None).
    """

    losses: np.ndarray
    coef: np.ndarray
    harmonic: np.ndarray
    correlation: np.ndarray
    pairs: np.ndarray | None = None

    def ratio(self) -> float:
        """Median fitted loss over median harmonic-rule loss: above 1, the errors are too correlated for the rule."""
        return float(np.median(self.losses) / np.median(self.harmonic))


def _rows(name: str, value) -> torch.Tensor:
    try:
        t = torch.as_tensor(value.detach().cpu() if isinstance(value, torch.Tensor) else np.asarray(value, dtype=float),
                            dtype=torch.float64)
    except (TypeError, ValueError):
        raise LotteryLabError(f"{name} must be numbers (an array or tensor); got {type(value).__name__}.") from None
    if not torch.isfinite(t).all():
        raise LotteryLabError(f"{name} must be finite (drop diverged networks first).")
    return t


def fitted_ensemble(outputs_a, outputs_b, y) -> FittedEnsemble:
    """Fit y ~ a f_a + b f_b + c by least squares for each of P pairs of predictors, all pairs at once.

    ``outputs_a`` and ``outputs_b`` (P, D): the two networks' outputs on the D training points, row k
    of each forming pair k; ``y`` (D,): the targets. Solved in float64 on the CPU (a batched QR-based
    ``lstsq``: the two columns are nearly equal when both networks fit well, which normal equations
    would square). Returns a :class:`FittedEnsemble`.

    Example:
        >>> y = np.array([0.0, 1.0, 4.0])
        >>> out = fitted_ensemble([[0.0, 1.0, 3.0]], [[0.0, 1.0, 5.0]], y)
        >>> round(float(out.losses[0]), 12), out.harmonic.round(3).tolist(), out.correlation.tolist()
        (0.0, [0.167], [-1.0])
    """
    fa, fb, yy = _rows("outputs_a", outputs_a), _rows("outputs_b", outputs_b), _rows("y", y)
    if fa.dim() != 2 or fa.shape != fb.shape or yy.shape != (fa.shape[1],) or fa.shape[1] < 3:
        raise LotteryLabError(f"outputs_a and outputs_b must be (P, D) with D >= 3 and y (D,); got "
                              f"{tuple(fa.shape)}, {tuple(fb.shape)} and {tuple(yy.shape)}.")
    design = torch.stack([fa, fb, torch.ones_like(fa)], dim=2)                # (P, D, 3)
    coef = torch.linalg.lstsq(design, yy.expand(fa.shape[0], -1)[..., None], driver="gelsd").solution
    residual = (design @ coef)[..., 0] - yy
    ea, eb = fa - yy, fb - yy
    la, lb = (ea ** 2).mean(1), (eb ** 2).mean(1)
    harmonic = torch.where(la + lb > 0, la * lb / (la + lb).clamp_min(1e-300), torch.zeros_like(la))
    corr = (ea * eb).sum(1) / (ea.norm(dim=1) * eb.norm(dim=1)).clamp_min(1e-300)
    return FittedEnsemble((residual ** 2).mean(1).numpy(), coef[..., 0].numpy(), harmonic.numpy(), corr.numpy())


def fitted_pairs(params: Params, x: torch.Tensor, y: torch.Tensor, activation: str = "silu", *,
                 n_pairs: int | None = None, seed: int = 0) -> FittedEnsemble:
    """:func:`fitted_ensemble` on pairs of distinct networks of one run (e.g. width-N/2 networks, seeds apart).

    ``params``: S trained networks (:class:`~lotterylab.two_layer.Params`); ``x`` (D, d), ``y`` (D,):
    the training data. Networks with a non-finite output (diverged) are left out. ``n_pairs`` None: the
    networks in a random order, cut into disjoint pairs (each network used once); an integer: that
    many pairs of two distinct networks drawn at random. ``pairs`` in the result holds the seed positions.

    Example:
        >>> from lotterylab.two_layer import init_params
        >>> x = torch.linspace(-2, 2, 16)[:, None]
        >>> fitted_pairs(init_params(range(6), 2), x, x[:, 0] ** 2).pairs.shape
        (3, 2)
    """
    if not isinstance(params, Params):
        raise LotteryLabError(f"params must be Params (trained networks), not {type(params).__name__}.")
    if n_pairs is not None:
        check_positive_int("n_pairs", n_pairs)
    check_positive_int("seed", seed, minimum=0)
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise LotteryLabError("x and y must be tensors (the training data, as from make_data).")
    p = params.to(device=x.device, dtype=torch.float64)
    with torch.no_grad():
        out = forward(p, x.double(), activation).cpu()                       # (S, D)
    ok = np.flatnonzero(torch.isfinite(out).all(1).numpy())
    if ok.size < 2:
        raise LotteryLabError(f"params holds {ok.size} network(s) with finite outputs; pairs need at least two.")
    rng = np.random.default_rng(seed)
    if n_pairs is None:
        order = rng.permutation(ok)
        pairs = order[: 2 * (ok.size // 2)].reshape(-1, 2)
    else:
        first = rng.integers(0, ok.size, n_pairs)
        second = (first + rng.integers(1, ok.size, n_pairs)) % ok.size        # never the same network twice
        pairs = np.stack([ok[first], ok[second]], 1)
    fit = fitted_ensemble(out[pairs[:, 0]], out[pairs[:, 1]], y.cpu())
    fit.pairs = pairs
    return fit
