"""Selection against averaging: best-of-k, committees of k networks, the bias-variance split, tail fits.

Two mechanisms can make "more tickets" help. **Selection** keeps the best of k draws, so the tail of
the distribution of ticket quality decides the returns. **Averaging** combines k draws, which (for
independent errors of finite variance) divides the error by k whatever the tail. This module measures
both on many trained networks of :mod:`lotterylab.many_seed`:

* :func:`draw_groups` draws groups of k distinct seeds; :func:`best_of_k`, :func:`harmonic_combination`
  and :func:`committee_losses` score each group by selection, by the harmonic-mean rule of
  independent errors, and by the least-squares combination of the members' outputs.
* :func:`bias_variance` splits the mean loss over seeds into the error of the seed-averaged function
  and the variance across seeds.
* :func:`best_of_k_quantile` gives the exact quantile of the best of k i.i.d. draws from an empirical
  distribution; :func:`fit_tails` fits a power-law (long) and a log-normal (short) lower tail, and
  :func:`predict_best_of_k` says what each predicts.

Example:
    >>> losses = np.array([4.0, 1.0, 2.0, 8.0])
    >>> best_of_k(losses, np.array([[0, 3], [1, 2]])).tolist()
    [4.0, 1.0]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lotterylab.errors import LotteryLabError, check_fraction, check_positive_int

__all__ = [
    "BiasVariance",
    "TailFit",
    "best_of_k",
    "best_of_k_quantile",
    "bias_variance",
    "committee_losses",
    "draw_groups",
    "fit_tails",
    "harmonic_combination",
    "predict_best_of_k",
]


def _losses(losses, name: str = "losses") -> np.ndarray:
    """A 1-D float64 array of non-negative losses (inf allowed for a diverged seed; NaN becomes inf)."""
    try:
        a = np.asarray(losses.detach().cpu() if isinstance(losses, torch.Tensor) else losses, dtype=float)
    except (TypeError, ValueError):
        raise LotteryLabError(f"{name} must be numbers (a sequence, array or tensor).") from None
    if a.ndim != 1 or a.size == 0:
        raise LotteryLabError(f"{name} must be a non-empty 1-D array of losses; got shape {a.shape}.")
    a = np.where(np.isnan(a), np.inf, a)
    if (a < 0).any():
        raise LotteryLabError(f"{name} must be losses >= 0.")
    return a


def _groups(groups, n_items: int) -> np.ndarray:
    g = np.asarray(groups)
    if g.ndim != 2 or g.size == 0 or not np.issubdtype(g.dtype, np.integer):
        raise LotteryLabError(f"groups must be a non-empty (n_groups, k) integer array; got shape {g.shape}.")
    if g.min() < 0 or g.max() >= n_items:
        raise LotteryLabError(f"groups must index 0..{n_items - 1}; found {g.min()}..{g.max()}.")
    return g


def draw_groups(n_items: int, k: int, n_groups: int, *, seed: int = 0) -> np.ndarray:
    """``(n_groups, k)`` indices: each row ``k`` distinct items out of ``n_items``, drawn from ``seed``.

    Example:
        >>> g = draw_groups(10, 3, 5)
        >>> g.shape, all(len(set(row)) == 3 for row in g.tolist())
        ((5, 3), True)
    """
    check_positive_int("n_items", n_items)
    check_positive_int("k", k)
    check_positive_int("n_groups", n_groups)
    check_positive_int("seed", seed, minimum=0)
    if k > n_items:
        raise LotteryLabError(f"k={k} must be at most n_items={n_items} (groups of distinct items).")
    keys = np.random.default_rng(seed).random((n_groups, n_items))
    return np.argsort(keys, axis=1)[:, :k]


def best_of_k(losses, groups) -> np.ndarray:
    """Selection: the lowest loss in each group (a diverged member, NaN or inf, is never the best
    unless the whole group diverged).

    Example:
        >>> best_of_k([3.0, float("nan"), 1.0], [[0, 1], [1, 2]]).tolist()
        [3.0, 1.0]
    """
    a = _losses(losses)
    return a[_groups(groups, a.size)].min(axis=1)


def harmonic_combination(losses, groups) -> np.ndarray:
    """Averaging with independent errors: ``(sum_i 1 / L_i)^-1`` per group, the loss of the best
    weighted average of k predictors whose errors are uncorrelated (chapter 7's lemma for k members).

    Example:
        >>> harmonic_combination([2.0, 2.0, 1.0], [[0, 1], [0, 2]]).tolist()
        [1.0, 0.6666666666666666]
    """
    a = _losses(losses)
    with np.errstate(divide="ignore"):
        return 1.0 / (1.0 / a[_groups(groups, a.size)]).sum(axis=1)


def committee_losses(outputs, y, groups) -> np.ndarray:
    """The MSE of the least-squares combination ``c + sum_i a_i f_i(x)`` of each group's outputs.

    ``outputs``: ``(n_seeds, n_points)`` predictions of every network on the points ``x`` where
    ``y`` (``(n_points,)``) is known. The weights are fitted on those points (an oracle committee:
    it can only do better than any member, so it bounds what averaging can give). Rows with a
    non-finite output must not appear in ``groups``. Computed in float64 on the outputs' device.

    Example:
        >>> f = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
        >>> committee_losses(f, torch.tensor([1.0, 3.0, 5.0]), [[0, 1]]).round(12).tolist()
        [0.0]
    """
    if not isinstance(outputs, torch.Tensor) or outputs.dim() != 2:
        raise LotteryLabError(f"outputs must be a (n_seeds, n_points) tensor; got {getattr(outputs, 'shape', outputs)!r}.")
    if not isinstance(y, torch.Tensor) or y.shape != outputs.shape[1:]:
        raise LotteryLabError(f"y must be a tensor of shape ({outputs.shape[1]},); got {getattr(y, 'shape', y)!r}.")
    g = torch.as_tensor(_groups(groups, outputs.shape[0]), device=outputs.device)
    f, t = outputs.double(), y.to(outputs.device).double()
    if not torch.isfinite(f[g.unique()]).all():
        raise LotteryLabError("groups include a network with non-finite outputs; drop diverged seeds first.")
    design = torch.cat([f[g].transpose(1, 2), torch.ones(*g.shape[:1], f.shape[1], 1, dtype=f.dtype,
                                                         device=f.device)], dim=2)    # (G, D, k + 1)
    target = t.expand(g.shape[0], -1)[..., None]                                     # (G, D, 1)
    coef = torch.linalg.lstsq(design, target, driver="gelsd" if f.device.type == "cpu" else None).solution
    return ((design @ coef - target) ** 2).mean(dim=(1, 2)).cpu().numpy()


@dataclass(frozen=True)
class BiasVariance:
    """Mean loss over seeds = ``bias2`` (error of the seed-averaged function) + ``variance`` (spread
    of the seeds' functions around it), all averaged over the points."""

    loss: float
    bias2: float
    variance: float
    n_seeds: int


def bias_variance(outputs, y) -> BiasVariance:
    """Split the mean MSE of ``outputs`` ``(n_seeds, n_points)`` against ``y`` ``(n_points,)``.

    Only finite rows are used (``n_seeds`` counts them); the split is exact: loss = bias2 + variance.

    Example:
        >>> bv = bias_variance(torch.tensor([[0.0, 2.0], [2.0, 2.0]]), torch.tensor([1.0, 1.0]))
        >>> bv.loss, bv.bias2, bv.variance
        (1.0, 0.5, 0.5)
    """
    if not isinstance(outputs, torch.Tensor) or outputs.dim() != 2:
        raise LotteryLabError(f"outputs must be a (n_seeds, n_points) tensor; got {getattr(outputs, 'shape', outputs)!r}.")
    if not isinstance(y, torch.Tensor) or y.shape != outputs.shape[1:]:
        raise LotteryLabError(f"y must be a tensor of shape ({outputs.shape[1]},); got {getattr(y, 'shape', y)!r}.")
    f = outputs.double()[torch.isfinite(outputs).all(dim=1)]
    if len(f) == 0:
        raise LotteryLabError("outputs has no finite row: every seed diverged.")
    t = y.to(f.device).double()
    mean = f.mean(dim=0)
    return BiasVariance(loss=float(((f - t) ** 2).mean()), bias2=float(((mean - t) ** 2).mean()),
                        variance=float(((f - mean) ** 2).mean()), n_seeds=len(f))


def _best_of_k_level(k, q: float) -> np.ndarray:
    ks = np.asarray(k, dtype=float)
    if ks.size == 0 or not np.all(np.isfinite(ks) & (ks >= 1)):
        raise LotteryLabError(f"ks={k!r} must be numbers >= 1.")
    return -np.expm1(np.log1p(-q) / ks)      # P(one draw is below the q-quantile of the best of k)


def best_of_k_quantile(losses, ks, q: float = 0.5) -> np.ndarray:
    """The ``q``-quantile of the best of k i.i.d. draws from the empirical distribution of ``losses``.

    The best of k is below ``l`` with probability ``1 - (1 - F(l))^k``, so its quantile is the
    empirical quantile at level ``p = 1 - (1 - q)^(1/k)``. Where ``p < 1/n`` (k beyond what n
    samples can resolve) the answer is NaN rather than the sample minimum.

    Example:
        >>> best_of_k_quantile(np.arange(1.0, 101.0), [1, 2, 1000]).tolist()
        [50.0, 30.0, nan]
    """
    a = np.sort(_losses(losses))
    q = check_fraction("q", q, low_inclusive=False)
    p = _best_of_k_level(ks, q)
    out = np.quantile(a, p, method="inverted_cdf")
    return np.where(p < 1.0 / a.size, np.nan, out)


@dataclass(frozen=True)
class TailFit:
    """Two fits of the lower tail of a loss distribution (its ``n_tail`` smallest of ``n`` losses).

    power (long-tailed): ``F(l) = scale * l**exponent``, so the best of k falls like ``k**(-1/exponent)``;
    log-normal (short-tailed in log loss): ``log10 L ~ Normal(log_mean, log_std)``, so the best of k
    gains only ~``sqrt(2 ln k)`` standard deviations of log loss.
    """

    exponent: float
    scale: float
    log_mean: float
    log_std: float
    n_tail: int
    n: int


def fit_tails(losses, tail_fraction: float = 0.2) -> TailFit:
    """Fit both tails by least squares on the empirical CDF of the smallest ``tail_fraction`` of the
    finite, positive ``losses``: ``log F`` against ``log l`` (power) and the normal score
    ``Phi^-1(F)`` against ``log10 l`` (log-normal), with ``F_i = (i - 0.5) / n``.

    Example:
        >>> u = (np.arange(2000) + 0.5) / 2000
        >>> fit = fit_tails(u ** 2, tail_fraction=0.5)          # F(l) = l ** 0.5
        >>> round(fit.exponent, 2), round(fit.scale, 2)
        (0.5, 1.0)
    """
    a = _losses(losses)
    tail_fraction = check_fraction("tail_fraction", tail_fraction, low_inclusive=False, high_inclusive=True)
    a = np.sort(a[np.isfinite(a) & (a > 0)])
    m = round(tail_fraction * a.size)
    if m < 5:
        raise LotteryLabError(f"tail_fraction={tail_fraction} keeps {m} losses; at least 5 finite positive "
                              f"losses are needed in the tail.")
    cdf = (np.arange(1, m + 1) - 0.5) / a.size
    tail = a[:m]
    if np.unique(tail).size < 2:
        raise LotteryLabError("losses has fewer than two distinct values in its lower tail; cannot fit it.")
    slope, icpt = np.polyfit(np.log(tail), np.log(cdf), 1)
    z = torch.special.ndtri(torch.as_tensor(cdf, dtype=torch.float64)).numpy()
    s, mu = np.polyfit(z, np.log10(tail), 1)
    return TailFit(exponent=float(slope), scale=float(np.exp(icpt)), log_mean=float(mu), log_std=float(s),
                   n_tail=m, n=int(a.size))


def predict_best_of_k(fit: TailFit, ks, q: float = 0.5) -> dict[str, np.ndarray]:
    """The ``q``-quantile of the best of k predicted by each fitted tail: ``{"power": ..., "lognormal": ...}``.

    Example:
        >>> fit = TailFit(exponent=1.0, scale=1.0, log_mean=0.0, log_std=1.0, n_tail=10, n=50)
        >>> [round(float(v), 4) for v in predict_best_of_k(fit, [1, 10])["power"]]
        [0.5, 0.067]
    """
    if not isinstance(fit, TailFit):
        raise LotteryLabError(f"fit must be a TailFit (see fit_tails), not {type(fit).__name__}.")
    q = check_fraction("q", q, low_inclusive=False)
    p = _best_of_k_level(ks, q)
    z = torch.special.ndtri(torch.as_tensor(p, dtype=torch.float64)).numpy()
    return {"power": (p / fit.scale) ** (1.0 / fit.exponent), "lognormal": 10.0 ** (fit.log_mean + fit.log_std * z)}

