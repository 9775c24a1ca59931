"""Scaling sweeps over width and activation: loss against width, and the power law it follows.

:func:`run_sweep` trains ``n_seeds`` networks per (activation, width) with
:func:`lotterylab.many_seed.train_many` and caches each pair in its own file
(:func:`lotterylab.results.cached`), so an interrupted sweep resumes and a stale, corrupt or
wrong-shape file is recomputed. The helpers read the results: medians that skip (and count) diverged
seeds, and a log-log power-law fit. Plot functions take and return a matplotlib ``Axes``.

Example:
    >>> fit = fit_power_law([1, 2, 4, 8], [1.0, 0.5, 0.25, 0.125])
    >>> round(fit.exponent, 6)
    -1.0
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError, check_choice, check_positive_int
from lotterylab.many_seed import TARGETS, FitConfig, ManyRun, input_dim, train_many
from lotterylab.plotting import PALETTE, get_ax
from lotterylab.presets import pick
from lotterylab.progress import check_progress, progress_bar
from lotterylab.results import cached, experiment_key
from lotterylab.two_layer import ACTIVATIONS, Params, check_dtype, forward

__all__ = [
    "ACTIVATION_COLORS",
    "VERSION",
    "PowerLaw",
    "Sweep",
    "SweepConfig",
    "finite_losses",
    "fit_power_law",
    "median_loss",
    "plot_fitted_functions",
    "plot_loss_histograms",
    "plot_scaling",
    "run_sweep",
    "sweep_key",
]

VERSION = 1   # bump when a code change alters the numbers a sweep computes
ACTIVATION_COLORS = {"silu": PALETTE["ticket"], "relu": PALETTE["reinit"], "leaky_relu": PALETTE["other"],
                     "tanh": PALETTE["dense"]}


@dataclass(frozen=True)
class SweepConfig:
    """One scaling sweep: every activation x every width, ``n_seeds`` networks each (seeds 0..n-1)."""

    activations: tuple[str, ...] = ("silu", "relu")
    widths: tuple[int, ...] = (1, 2, 3, 4, 10, 20, 30, 40, 50)
    n_seeds: int = 1000
    target: str = "x^2"
    fit: FitConfig = field(default_factory=FitConfig)
    dtype: torch.dtype = torch.float32
    compile: bool = False

    def __post_init__(self):
        for name in ("activations", "widths"):
            value = getattr(self, name)
            if isinstance(value, str) or not isinstance(value, Sequence) or not value:
                raise LotteryLabError(f"{name}={value!r} must be a non-empty tuple.")
            if len(set(value)) != len(value):
                raise LotteryLabError(f"{name}={value!r} must not repeat an entry.")
            object.__setattr__(self, name, tuple(value))
        for a in self.activations:
            check_choice("activation", a, ACTIVATIONS)
        for n in self.widths:
            check_positive_int("width", n)
        check_positive_int("n_seeds", self.n_seeds)
        check_choice("target", self.target, TARGETS)
        if not isinstance(self.fit, FitConfig):
            raise LotteryLabError(f"fit must be a FitConfig, not {type(self.fit).__name__}.")
        check_dtype(self.dtype)
        check_choice("compile", self.compile, (False, True))

    @classmethod
    def for_preset(cls, preset: str, **overrides) -> SweepConfig:
        """``full``: the paper (1,000 seeds, 50,000 steps, 1,000 points, compiled). ``quick``: 100 seeds,
        4,000 steps (x0.2 every 800), 256 points, same widths. ``overrides`` replace fields.

        Example:
            >>> SweepConfig.for_preset("quick", widths=(1, 2)).widths
            (1, 2)
        """
        base = pick(preset, quick=cls(n_seeds=100, fit=FitConfig.for_preset("quick")),
                    full=cls(fit=FitConfig.for_preset("full"), compile=True))
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise LotteryLabError(f"overrides {unknown} are not SweepConfig fields; choose from "
                                  f"{[f.name for f in dataclasses.fields(cls)]}.")
        return dataclasses.replace(base, **overrides)

    @property
    def seeds(self) -> list[int]:
        return list(range(self.n_seeds))


@dataclass
class Sweep:
    """Results of :func:`run_sweep`: ``runs[(activation, width)]`` is a :class:`ManyRun` (CPU tensors)."""

    config: SweepConfig
    runs: dict = field(default_factory=dict)
    recomputed: list = field(default_factory=list)

    def losses(self, activation: str, width: int) -> np.ndarray:
        if (activation, width) not in self.runs:
            raise LotteryLabError(f"(activation, width)={(activation, width)!r} is not in this sweep; "
                                  f"choose from {sorted(self.runs)}.")
        return self.runs[(activation, width)].losses.double().cpu().numpy()

    def medians(self, activation: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Widths, median loss over finite seeds, and the number of diverged seeds per width."""
        widths = np.array(self.config.widths)
        med, bad = zip(*(median_loss(self.losses(activation, n)) for n in widths))
        return widths, np.array(med), np.array(bad)

    def quantiles(self, activation: str, q: Sequence[float] = (0.1, 0.9)) -> np.ndarray:
        """(len(q), len(widths)) quantiles of the finite losses."""
        return np.array([[np.quantile(finite_losses(self.losses(activation, n)), qq) for n in self.config.widths]
                         for qq in q])

    @property
    def n_diverged(self) -> int:
        return sum(r.n_diverged for r in self.runs.values())


def sweep_key(config: SweepConfig, activation: str, width: int, device) -> dict:
    """The cache key of one (activation, width) of a sweep: what decides its numbers, not the other widths.

    Example:
        >>> sweep_key(SweepConfig(n_seeds=2), "silu", 3, "cpu")["width"]
        3
    """
    if not isinstance(config, SweepConfig):
        raise LotteryLabError(f"config must be a SweepConfig, not {type(config).__name__}.")
    fit = dataclasses.asdict(config.fit)   # plain values: the key is read back before any class is allowed
    return experiment_key(VERSION, config={"target": config.target, "fit": fit, "compile": config.compile},
                          seeds=config.seeds, device=device, dtype=config.dtype, activation=activation, width=width)


def _is_run(payload, n_seeds: int, width: int, in_dim: int) -> bool:
    if not isinstance(payload, ManyRun) or not isinstance(payload.params, Params):
        return False
    p = payload.params
    return (tuple(payload.losses.shape) == (n_seeds,)
            and tuple(p.w.shape) == (n_seeds, width, in_dim) and tuple(p.b.shape) == tuple(p.v.shape) == (n_seeds, width)
            and tuple(p.c.shape) == (n_seeds,))


def run_sweep(config: SweepConfig, directory: str | Path, *, device=None, progress=None) -> Sweep:
    """Train (or load) every (activation, width) of ``config``; one cached file per pair.

    A file is reused only if its key (:func:`sweep_key`: config, seeds, device type, dtype, ``VERSION``)
    matches and its arrays have the right shapes; anything else is recomputed and overwritten.
    ``device`` None means :func:`lotterylab.get_device`. ``progress``: a tqdm-like bar (counted in
    seed-steps) or None for a bar of its own. The returned runs hold CPU tensors, trained now or loaded.

    Example:
        >>> import tempfile
        >>> cfg = SweepConfig(activations=("relu",), widths=(2,), n_seeds=3, fit=FitConfig(steps=5))
        >>> run_sweep(cfg, tempfile.mkdtemp(), device="cpu").recomputed
        [('relu', 2)]
    """
    if not isinstance(config, SweepConfig):
        raise LotteryLabError(f"config must be a SweepConfig, not {type(config).__name__}.")
    if not isinstance(directory, (str, Path)):
        raise LotteryLabError(f"directory must be a path, not {type(directory).__name__}.")
    check_progress(progress)
    device, directory = get_device(device), Path(directory)
    in_dim = input_dim(config.target)
    bar = progress if progress is not None else progress_bar(
        total=config.n_seeds * config.fit.steps * len(config.widths) * len(config.activations),
        desc="sweep (seed-steps)", unit_scale=True)
    sweep = Sweep(config)
    try:
        for act in config.activations:
            for width in config.widths:
                def compute(act=act, width=width):
                    sweep.recomputed.append((act, width))
                    return train_many(config.seeds, width, config.fit, activation=act, target=config.target,
                                      dtype=config.dtype, device=device, compile=config.compile, progress=bar).to("cpu")

                path = directory / f"{re.sub(r'[^A-Za-z0-9]+', '_', config.target).strip('_')}_{act}_N{width}.pt"
                run = cached(path, sweep_key(config, act, width, device), compute,
                             validate=lambda r, w=width: _is_run(r, config.n_seeds, w, in_dim))
                if sweep.recomputed[-1:] != [(act, width)]:
                    bar.update(config.n_seeds * config.fit.steps)
                sweep.runs[(act, width)] = run
    finally:
        if progress is None:
            bar.close()
    return sweep


def finite_losses(losses) -> np.ndarray:
    """The finite entries of ``losses`` as float64 (the seeds that did not diverge).

    Example:
        >>> finite_losses([1.0, float("nan"), 2.0]).tolist()
        [1.0, 2.0]
    """
    try:
        losses = np.asarray(losses.cpu() if isinstance(losses, torch.Tensor) else losses, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise LotteryLabError(f"losses must be numbers (a sequence, array or tensor); got {type(losses).__name__}.") from None
    return losses[np.isfinite(losses)]


def median_loss(losses) -> tuple[float, int]:
    """Median over the finite losses and the number of non-finite ones (never silently averaged in).

    Example:
        >>> median_loss([1.0, 3.0, float("inf"), 2.0])
        (2.0, 1)
    """
    good = finite_losses(losses)
    if good.size == 0:
        raise LotteryLabError("losses has no finite value: every seed diverged.")
    return float(np.median(good)), int(np.size(np.asarray(losses.cpu() if isinstance(losses, torch.Tensor) else losses))
                                       - good.size)


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
    n, v = np.asarray(widths, dtype=float).reshape(-1), np.asarray(values, dtype=float).reshape(-1)
    if n.shape != v.shape:
        raise LotteryLabError(f"widths and values must have the same length; got {n.size} and {v.size}.")
    if n.size == 0 or not np.all(np.isfinite(n) & (n > 0)):
        raise LotteryLabError(f"widths={widths!r} must be positive finite numbers.")
    lo = n.min() if lo is None else lo
    hi = n.max() if hi is None else hi
    sel = (n >= lo) & (n <= hi) & np.isfinite(v) & (v > 0)
    if sel.sum() < 2 or len(np.unique(n[sel])) < 2:
        raise LotteryLabError(f"fit range [{lo}, {hi}] holds fewer than two distinct widths with positive values.")
    slope, icpt = np.polyfit(np.log(n[sel]), np.log(v[sel]), 1)
    return PowerLaw(float(slope), float(np.exp(icpt)), float(lo), float(hi))


# ------------------------------------------------------------------------------------------------- plots

def _check_sweep(sweep, activations):
    if not isinstance(sweep, Sweep):
        raise LotteryLabError(f"sweep must be a Sweep (from run_sweep), not {type(sweep).__name__}.")
    activations = tuple(activations or sweep.config.activations)
    for act in activations:
        check_choice("activations", act, sweep.config.activations)
    return activations


def plot_scaling(sweep: Sweep, activations: Sequence[str] | None = None, *, fits: dict | None = None,
                 mark_width: int | None = None, refs: bool = True, ax=None):
    """Median loss vs width (log-log) with 10-90% bands, fitted power laws and N^-1, N^-4 guides."""
    activations = _check_sweep(sweep, activations)
    if mark_width is not None:
        check_choice("mark_width", mark_width, sweep.config.widths)
    ax = get_ax(ax)
    for act in activations:
        n, med, _ = sweep.medians(act)
        q = sweep.quantiles(act)
        color = ACTIVATION_COLORS.get(act)
        ax.plot(n, med, "o-", color=color, ms=4, label=f"{act} (median)")
        ax.fill_between(n, q[0], q[1], color=color, alpha=0.15)
        if fits and act in fits:
            f = fits[act]
            nn = np.geomspace(f.lo, f.hi, 20)
            ax.plot(nn, f(nn), "--", color=color, lw=1.2, label=f"{act} fit: $N^{{{f.exponent:.2f}}}$ on [{f.lo:g}, {f.hi:g}]")
        if mark_width is not None:
            ax.plot([mark_width], [med[list(n).index(mark_width)]], "o", ms=12, mfc="none", mec="k", mew=1.5)
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


def plot_loss_histograms(losses_by_label: Mapping, *, bins: int = 40, ax=None, colors=None, density: bool = False):
    """Histograms of log10(loss), one per entry (finite losses only; the count of diverged seeds in the label)."""
    if not isinstance(losses_by_label, Mapping) or not losses_by_label:
        raise LotteryLabError("losses_by_label must be a non-empty dict {label: losses}.")
    check_positive_int("bins", bins)
    finite = {k: finite_losses(v) for k, v in losses_by_label.items()}
    if not any(v.size for v in finite.values()):
        raise LotteryLabError("losses_by_label has no finite loss to draw: every seed diverged.")
    ax = get_ax(ax)
    lows = np.log10(np.concatenate([v for v in finite.values() if v.size]).clip(1e-30))
    edges = np.linspace(lows.min(), lows.max() + 1e-9, bins + 1)
    for k, (label, v) in enumerate(finite.items()):
        n_bad = np.size(np.asarray(losses_by_label[label])) - v.size
        extra = f" ({n_bad} diverged)" if n_bad else ""
        ax.hist(np.log10(v.clip(1e-30)), bins=edges, alpha=0.55, label=f"{label}{extra}",
                color=None if colors is None else colors[k], density=density)
    ax.set_xlabel("log10 MSE")
    ax.set_ylabel("density" if density else "networks")
    ax.legend(fontsize="x-small")
    return ax


def plot_fitted_functions(params: Params, indices: Sequence[int], x: torch.Tensor, y: torch.Tensor,
                          activation: str = "silu", *, ax=None):
    """The target and the functions of a few trained networks (``indices`` along the seeds) on one input."""
    if not isinstance(params, Params) or params.w.shape[2] != 1:
        raise LotteryLabError("params must be Params of one-input networks (w of shape (S, N, 1)).")
    indices = [int(i) for i in indices]
    if not indices or not all(0 <= i < params.w.shape[0] for i in indices):
        raise LotteryLabError(f"indices={indices!r} must be seed positions in [0, {params.w.shape[0]}).")
    small = params.select(indices).to(device=x.device, dtype=torch.float64)
    out = forward(small, x.double(), activation).cpu().numpy()
    ax = get_ax(ax)
    xs = x[:, 0].double().cpu().numpy()
    ax.plot(xs, y.double().cpu().numpy(), color="k", lw=3, alpha=0.3, label="target")
    for k, i in enumerate(indices):
        ax.plot(xs, out[k], lw=1, label=f"seed {i}")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend(fontsize="x-small", ncol=2)
    return ax
