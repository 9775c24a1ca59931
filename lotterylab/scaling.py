"""Scaling sweeps over width and activation, and the analyses of Liu and Tegmark's lottery-ticket story.

:func:`run_sweep` trains ``n_seeds`` networks per (activation, width) with
:func:`lotterylab.ensembling.train_many` and checkpoints each pair under a directory with its key and
provenance (:mod:`lotterylab.results`), so an interrupted sweep resumes and a stale or corrupted file
is recomputed. The helpers below read the results: medians that skip (and count) diverged seeds, a
log-log power-law fit, the harmonic-mean ensemble, symmetric-neuron pairs ("tickets") and their
errors, distilling a width-2 network from a wide one, PCA of small networks. Plot functions take and
return a matplotlib ``Axes``.

Example:
    >>> import numpy as np
    >>> fit = fit_power_law([1, 2, 4, 8], [1.0, 0.5, 0.25, 0.125])
    >>> round(fit.exponent, 6)
    -1.0
    >>> float(harmonic_ensemble(np.array([2.0]), np.array([2.0]), n=1)[0])
    1.0
"""
from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lotterylab.ensembling import (
    ACTIVATIONS,
    TARGETS,
    FitConfig,
    ManyRun,
    Params,
    _act,
    forward,
    train_many,
)
from lotterylab.errors import LotteryLabError, check_choice, check_positive_int
from lotterylab.presets import pick
from lotterylab.results import load_results, save_results

__all__ = [
    "PowerLaw",
    "Sweep",
    "SweepConfig",
    "canonical_width2",
    "distill_width2",
    "fit_power_law",
    "harmonic_ensemble",
    "median_loss",
    "pair_neurons",
    "pca",
    "plot_ensembling",
    "plot_fitted_functions",
    "plot_loss_histograms",
    "plot_neuron_scatter",
    "plot_pca",
    "plot_scaling",
    "plot_ticket_errors",
    "run_sweep",
    "ticket_analysis",
]

COLORS = {"silu": "#1f77b4", "relu": "#d62728", "leaky_relu": "#ff7f0e", "tanh": "#2ca02c"}


@dataclass(frozen=True)
class SweepConfig:
    """One scaling sweep: every activation x every width, ``n_seeds`` networks each (seeds 0..n-1)."""

    activations: tuple[str, ...] = ("silu", "relu")
    widths: tuple[int, ...] = (1, 2, 3, 4, 10, 20, 30, 40, 50)
    n_seeds: int = 1000
    target: str = "x^2"
    fit: FitConfig = field(default_factory=FitConfig)
    dtype: str = "float32"
    compile: bool = False

    def __post_init__(self):
        if not self.activations or not self.widths:
            raise LotteryLabError("activations and widths must be non-empty.")
        for a in self.activations:
            check_choice("activation", a, ACTIVATIONS)
        for n in self.widths:
            check_positive_int("width", n)
        check_positive_int("n_seeds", self.n_seeds)
        check_choice("target", self.target, TARGETS)
        check_choice("dtype", self.dtype, ("float32", "float64"))

    @classmethod
    def for_preset(cls, preset: str, **overrides) -> SweepConfig:
        """``full``: the paper (1,000 seeds, 50,000 steps, 1,000 points). ``quick``: 100 seeds,
        4,000 steps (x0.2 every 800), 256 points, same widths."""
        base = pick(preset, quick=cls(n_seeds=100, fit=FitConfig.for_preset("quick")),
                    full=cls(fit=FitConfig.for_preset("full"), compile=True))
        return dataclasses.replace(base, **overrides)

    @property
    def seeds(self) -> list[int]:
        return list(range(self.n_seeds))


@dataclass
class Sweep:
    """Results of :func:`run_sweep`: ``runs[(activation, width)]`` is a :class:`ManyRun`."""

    config: SweepConfig
    runs: dict = field(default_factory=dict)
    recomputed: list = field(default_factory=list)

    def losses(self, activation: str, width: int) -> np.ndarray:
        return self.runs[(activation, width)].losses.double().numpy()

    def medians(self, activation: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Widths, median loss over finite seeds, and the number of diverged seeds per width."""
        widths = np.array(self.config.widths)
        med, bad = zip(*(median_loss(self.losses(activation, n)) for n in widths))
        return widths, np.array(med), np.array(bad)

    def quantiles(self, activation: str, q: Sequence[float] = (0.1, 0.9)) -> np.ndarray:
        """(len(q), len(widths)) quantiles of the finite losses."""
        return np.array([[np.quantile(_finite(self.losses(activation, n)), qq) for n in self.config.widths] for qq in q])

    @property
    def n_diverged(self) -> int:
        return sum(r.n_diverged for r in self.runs.values())


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def _key(config: SweepConfig, activation: str, width: int, device: torch.device) -> dict:
    return {"experiment": "ensembling-sweep", "activation": activation, "width": width, "seeds": config.seeds,
            "target": config.target, "fit": dataclasses.asdict(config.fit), "dtype": config.dtype,
            "compile": config.compile, "device": device.type}


def _valid(payload, n_seeds: int, width: int) -> bool:
    try:
        ok = payload["losses"].shape == (n_seeds,) and payload["w"].shape[:2] == (n_seeds, width)
        return ok and all(payload[k].shape == (n_seeds, width) for k in "bv") and payload["c"].shape == (n_seeds,)
    except (KeyError, TypeError, AttributeError):
        return False


def run_sweep(config: SweepConfig, directory: str | Path, *, device=None, progress=None) -> Sweep:
    """Train (or load) every (activation, width) of ``config``; one checkpoint file per pair.

    A file is reused only if its key (config, seeds, device, dtype) and the package's source hash
    match and its arrays have the right shapes; anything else is recomputed and overwritten.
    ``progress`` is an optional tqdm-like bar (counted in seed-steps).
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    directory = Path(directory)
    sweep = Sweep(config)
    for act in config.activations:
        for width in config.widths:
            path = directory / f"{_slug(config.target)}_{act}_N{width}.pt"
            key = _key(config, act, width, device)
            payload = load_results(path, key=key)
            if payload is not None and not _valid(payload, config.n_seeds, width):
                warnings.warn(f"{path} has arrays of the wrong shape; recomputing.", stacklevel=2)
                payload = None
            if payload is None:
                run = train_many(config.seeds, width, config.fit, activation=act, target=config.target,
                                 dtype=config.dtype, device=device, compile=config.compile, progress=progress)
                payload = {"losses": run.losses, "w": run.params.w, "b": run.params.b, "v": run.params.v,
                           "c": run.params.c, "seconds": run.seconds, "compiled": run.compiled}
                save_results(path, payload, key=key)
                sweep.recomputed.append((act, width))
            elif progress is not None:
                progress.update(config.n_seeds * config.fit.steps)
            params = Params(payload["w"], payload["b"], payload["v"], payload["c"])
            sweep.runs[(act, width)] = ManyRun(config.seeds, act, config.target, params, payload["losses"],
                                               payload["seconds"], payload["compiled"])
    return sweep


# ---------------------------------------------------------------------------------------------- analysis

def _finite(losses) -> np.ndarray:
    losses = np.asarray(losses, dtype=float)
    return losses[np.isfinite(losses)]


def median_loss(losses) -> tuple[float, int]:
    """Median over the finite losses and the number of non-finite ones (never silently averaged in)."""
    losses = np.asarray(losses, dtype=float)
    good = _finite(losses)
    if good.size == 0:
        raise LotteryLabError("losses has no finite value: every seed diverged.")
    return float(np.median(good)), int(losses.size - good.size)


@dataclass(frozen=True)
class PowerLaw:
    """loss ~ prefactor * N**exponent, fitted on widths in [lo, hi]."""

    exponent: float
    prefactor: float
    lo: float
    hi: float

    def __call__(self, n):
        return self.prefactor * np.asarray(n, dtype=float) ** self.exponent


def fit_power_law(widths, values, lo: float | None = None, hi: float | None = None) -> PowerLaw:
    """Least-squares line through (log N, log value) for lo <= N <= hi (default: all widths)."""
    n, v = np.asarray(widths, dtype=float), np.asarray(values, dtype=float)
    lo = n.min() if lo is None else lo
    hi = n.max() if hi is None else hi
    sel = (n >= lo) & (n <= hi) & np.isfinite(v) & (v > 0)
    if sel.sum() < 2:
        raise LotteryLabError(f"fit range [{lo}, {hi}] holds fewer than two positive values to fit.")
    slope, icpt = np.polyfit(np.log(n[sel]), np.log(v[sel]), 1)
    return PowerLaw(float(slope), float(np.exp(icpt)), float(lo), float(hi))


def harmonic_ensemble(losses_a, losses_b=None, *, n: int = 10_000, seed: int = 0) -> np.ndarray:
    """Losses of ``n`` ensembles of two networks drawn at random, one from each histogram.

    Two predictors with independent zero-mean errors of losses l1, l2, combined with the best
    weights, have loss (1/l1 + 1/l2)^-1: half their harmonic mean. Non-finite losses are dropped.
    """
    check_positive_int("n", n)
    a = _finite(losses_a)
    b = a if losses_b is None else _finite(losses_b)
    if a.size == 0 or b.size == 0:
        raise LotteryLabError("harmonic_ensemble needs finite losses in both histograms.")
    rng = np.random.default_rng(seed)
    la, lb = rng.choice(a, n), rng.choice(b, n)
    return 1.0 / (1.0 / la + 1.0 / lb)


def pair_neurons(w, b) -> list[tuple[int, int]]:
    """Greedily pair neurons (w_i, b_i) with mirror partners (-w_j, b_j), closest pairs first.

    ``w`` (N,) or (N, 1) and ``b`` (N,) of ONE network. With N odd the leftover neuron is dropped.
    """
    w, b = np.asarray(w, dtype=float).reshape(len(b), -1)[:, 0], np.asarray(b, dtype=float)
    n = len(w)
    cost = np.abs(w[:, None] + w[None, :]) + np.abs(b[:, None] - b[None, :])
    cost[np.arange(n), np.arange(n)] = np.inf
    free, pairs = set(range(n)), []
    for flat in np.argsort(cost, axis=None):
        i, j = divmod(int(flat), n)
        if i < j and i in free and j in free:
            pairs.append((i, j))
            free -= {i, j}
    return pairs


def ticket_analysis(params: Params, index: int, x: torch.Tensor, y: torch.Tensor, activation: str = "silu") -> dict:
    """Disentangle network ``index`` into its neuron-pair tickets.

    Each ticket t_k(x) = v_i a_i(x) + v_j a_j(x) is regressed on the target (y ~ alpha t_k + beta);
    returns ``pairs``, their ``r2``, the ``errors`` (y minus each ticket's fit, (K, D)) and the
    ``correlation`` matrix of those errors (normalised inner products).
    """
    w, b, v = (t[index].double() for t in (params.w, params.b, params.v))
    a = _act(activation, w[:, :1] * x.double()[:, 0] + b[:, None])           # (N, D)
    pairs = pair_neurons(w, b)
    yy = y.double()
    tickets = torch.stack([v[i] * a[i] + v[j] * a[j] for i, j in pairs])      # (K, D)
    errors, r2 = [], []
    for t in tickets:
        design = torch.stack([t, torch.ones_like(t)], 1)
        coef = torch.linalg.lstsq(design, yy[:, None]).solution[:, 0]
        e = yy - design @ coef
        errors.append(e)
        r2.append(float(1 - (e ** 2).sum() / ((yy - yy.mean()) ** 2).sum()))
    errors = torch.stack(errors)
    unit = errors / errors.norm(dim=1, keepdim=True).clamp_min(1e-300)
    return {"pairs": pairs, "r2": np.array(r2), "errors": errors.numpy(), "correlation": (unit @ unit.T).numpy()}


def distill_width2(params: Params, index: int, x: torch.Tensor, y: torch.Tensor, activation: str = "silu") -> tuple[Params, float]:
    """A width-2 network from network ``index``'s best ticket: its two neurons' (w, b) copied, the output
    layer (v1, v2, c) refitted by least squares. Returns the width-2 :class:`Params` and its MSE."""
    info = ticket_analysis(params, index, x, y, activation)
    i, j = info["pairs"][int(np.argmax(info["r2"]))]
    w = params.w[index, [i, j]].double()
    b = params.b[index, [i, j]].double()
    a = _act(activation, w[:, :1] * x.double()[:, 0] + b[:, None])           # (2, D)
    design = torch.cat([a.T, torch.ones(a.shape[1], 1, dtype=torch.float64)], 1)
    coef = torch.linalg.lstsq(design, y.double()[:, None]).solution[:, 0]
    small = Params(w[None], b[None], coef[None, :2], coef[2:3])
    loss = float(((forward(small, x.double(), activation) - y.double()) ** 2).mean())
    return small, loss


def canonical_width2(params: Params) -> np.ndarray:
    """(S, 7) parameters of width-2, one-input networks with the two neurons ordered by w (w1 >= w2),
    so the permutation symmetry does not split one solution into two clusters."""
    if params.w.shape[1:] != (2, 1):
        raise LotteryLabError(f"canonical_width2 needs width-2 one-input networks; got w of shape {tuple(params.w.shape)}.")
    order = torch.argsort(params.w[:, :, 0], dim=1, descending=True)
    take = lambda t: torch.gather(t, 1, order)
    return torch.cat([take(params.w[:, :, 0]), take(params.b), take(params.v), params.c[:, None]], 1).double().numpy()


def pca(data, k: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores (S, k), components (k, P) and explained-variance ratios (k,) of the rows of ``data``."""
    data = np.asarray(data, dtype=float)
    centred = data - data.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T, vt[:k], (s ** 2 / (s ** 2).sum())[:k]


# ------------------------------------------------------------------------------------------------- plots

def _ax(ax):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots(figsize=(6, 4))[1]


def plot_scaling(sweep: Sweep, activations: Sequence[str] | None = None, *, fits: dict | None = None,
                 mark_width: int | None = None, refs: bool = True, ax=None):
    """Median loss vs width (log-log) with 10-90% bands, fitted power laws and N^-1, N^-4 guides."""
    ax = _ax(ax)
    activations = activations or sweep.config.activations
    for act in activations:
        n, med, bad = sweep.medians(act)
        q = sweep.quantiles(act)
        color = COLORS.get(act)
        ax.plot(n, med, "o-", color=color, ms=4, label=f"{act} (median)")
        ax.fill_between(n, q[0], q[1], color=color, alpha=0.15)
        if fits and act in fits:
            f = fits[act]
            nn = np.geomspace(f.lo, f.hi, 20)
            ax.plot(nn, f(nn), "--", color=color, lw=1.2, label=f"{act} fit: $N^{{{f.exponent:.2f}}}$ on [{f.lo:g}, {f.hi:g}]")
        if mark_width is not None and mark_width in list(n):
            k = list(n).index(mark_width)
            ax.plot([mark_width], [med[k]], "o", ms=12, mfc="none", mec="k", mew=1.5)
    if refs:
        n_all = np.array(sweep.config.widths, dtype=float)
        anchor = sweep.medians(activations[0])[1][-1]
        for p, ls in [(-1, ":"), (-4, "-.")]:
            ax.plot(n_all, anchor * (n_all / n_all[-1]) ** p, ls, color="0.4", lw=1, label=f"$N^{{{p}}}$ (reference)")
    if mark_width is not None:
        ax.axvline(mark_width, color="k", lw=0.6, alpha=0.4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width N")
    ax.set_ylabel("MSE (median over seeds)")
    ax.legend(fontsize="x-small")
    return ax


def plot_loss_histograms(losses_by_label: dict, *, bins: int = 40, ax=None, colors=None, density: bool = False):
    """Histograms of log10(loss), one per entry (finite losses only; the count of diverged seeds in the label)."""
    ax = _ax(ax)
    finite = {k: _finite(v) for k, v in losses_by_label.items()}
    lows = np.log10(np.concatenate([v for v in finite.values() if v.size]).clip(1e-30))
    edges = np.linspace(lows.min(), lows.max() + 1e-9, bins + 1)
    for k, (label, v) in enumerate(finite.items()):
        n_bad = len(np.asarray(losses_by_label[label])) - v.size
        extra = f" ({n_bad} diverged)" if n_bad else ""
        ax.hist(np.log10(v.clip(1e-30)), bins=edges, alpha=0.55, label=f"{label}{extra}",
                color=None if colors is None else colors[k], density=density)
    ax.set_xlabel("log10 MSE")
    ax.set_ylabel("density" if density else "networks")
    ax.legend(fontsize="x-small")
    return ax


def plot_fitted_functions(params: Params, indices: Sequence[int], x: torch.Tensor, y: torch.Tensor,
                          activation: str = "silu", *, ax=None):
    """The target and the functions of a few trained networks on the training interval."""
    ax = _ax(ax)
    xs = x[:, 0].double().numpy()
    ax.plot(xs, y.double().numpy(), color="k", lw=3, alpha=0.3, label="target")
    out = forward(params.select(list(indices)).to(torch.float64), x.double(), activation).numpy()
    for k, i in enumerate(indices):
        ax.plot(xs, out[k], lw=1, label=f"seed {i}")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend(fontsize="x-small", ncol=2)
    return ax


def plot_neuron_scatter(w, b, v=None, *, ax=None, title: str | None = None):
    """Each hidden neuron as a point (w_i, b_i), coloured by its output weight v_i; mirror axis w = 0."""
    ax = _ax(ax)
    w = np.asarray(w, dtype=float).reshape(len(b), -1)[:, 0]
    sc = ax.scatter(w, np.asarray(b, dtype=float), c=None if v is None else np.asarray(v, dtype=float), s=8,
                    cmap="coolwarm")
    ax.axvline(0, color="k", lw=0.6)
    if v is not None:
        ax.figure.colorbar(sc, ax=ax, label="output weight v")
    ax.set_xlabel("input weight w")
    ax.set_ylabel("bias b")
    if title:
        ax.set_title(title)
    return ax


def plot_pca(scores, losses, *, ax=None):
    """PCA scores coloured by log10 loss."""
    ax = _ax(ax)
    sc = ax.scatter(scores[:, 0], scores[:, 1], c=np.log10(np.clip(losses, 1e-30, None)), s=8, cmap="viridis")
    ax.figure.colorbar(sc, ax=ax, label="log10 MSE")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    return ax


def plot_ensembling(losses_n, losses_half, width: int, *, ax=None, seed: int = 0):
    """Histogram of width-N losses against the harmonic-mean ensemble of two width-N/2 networks."""
    ens = harmonic_ensemble(losses_half, n=max(2000, len(_finite(losses_half)) * 10), seed=seed)
    ax = plot_loss_histograms({f"N = {width}": losses_n, f"{width // 2} + {width // 2} (ensemble)": ens}, ax=ax,
                              colors=["#1f77b4", "#ff7f0e"], density=True)
    ax.set_title(f"N = {width}", fontsize="small")
    return ax


def plot_ticket_errors(info: dict, x: torch.Tensor, *, ax=None, top: int = 6):
    """Error functions (target minus fit) of a network's best ``top`` tickets, labelled with their R^2."""
    ax = _ax(ax)
    xs = x[:, 0].double().numpy()
    for k in np.argsort(-info["r2"])[:top]:
        ax.plot(xs, info["errors"][k], lw=1, label=f"pair {info['pairs'][k]}: $R^2$ = {info['r2'][k]:.5f}")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("x")
    ax.set_ylabel("error of the ticket's fit")
    ax.legend(fontsize="xx-small")
    return ax
