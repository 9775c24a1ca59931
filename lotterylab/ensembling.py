"""Ensembling or synergy? Compare a width-N network with the ensemble of two width-N/2 networks.

Two predictors with independent zero-mean errors of mean squares l1 and l2, combined with the best
weights, have loss (1/l1 + 1/l2)^-1: half their harmonic mean. If a width-N network were no more than
two width-N/2 networks side by side, its loss would be distributed like that combination of two losses
drawn from the width-N/2 histogram. :func:`harmonic_ensemble` draws that distribution,
:func:`ensemble_ratio` compares medians, and :func:`plot_ensembling` draws both histograms.

Example:
    >>> float(harmonic_ensemble([2.0], [2.0], n=1)[0])
    1.0
"""
from __future__ import annotations

import numpy as np

from lotterylab.errors import LotteryLabError, check_positive_int
from lotterylab.plotting import PALETTE
from lotterylab.scaling import finite_losses, median_loss, plot_loss_histograms

__all__ = ["ensemble_ratio", "harmonic_ensemble", "plot_ensembling"]


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


def plot_ensembling(losses_n, losses_half, width: int, *, ax=None, seed: int = 0):
    """Histogram of width-N losses against the harmonic-mean ensemble of two width-N/2 networks."""
    check_positive_int("width", width, minimum=2)
    ens = harmonic_ensemble(losses_half, n=max(2000, len(finite_losses(losses_half)) * 10), seed=seed)
    ax = plot_loss_histograms({f"N = {width}": losses_n, f"{width // 2} + {width // 2} (ensemble)": ens}, ax=ax,
                              colors=[PALETTE["ticket"], PALETTE["other"]], density=True)
    ax.set_title(f"N = {width}", fontsize="small")
    return ax
