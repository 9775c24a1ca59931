"""Lazy training, measured: a network trained by gradient descent against its own linearisation.

Chapter 6's experiment in one call. :func:`compare_to_linearization` computes the empirical NTK at
initialisation, trains the network by full-batch gradient descent with learning rate
``n / lambda_max(K)``, and evaluates three predictors on held-out inputs: the trained network, its
linearisation trained the same way (in closed form) and the one-step tangent solution. It reports how
far the weights moved, how far the trained network is from its linearisation and how much the kernel
changed. :class:`TangentConfig` sizes the chapter's experiments, one per preset; the plots take an
optional ``ax`` and return it.

Example:
    >>> from lotterylab.models import TangentMLP
    >>> x = torch.linspace(-1, 1, 6)[:, None]
    >>> run = compare_to_linearization(TangentMLP(1, [256], 1, seed=0), x, torch.sin(3 * x), x, steps=50)
    >>> run.movement < 0.1, run.history.steps[:2]
    (True, [0, 1])
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lotterylab.errors import LotteryLabError, check_fraction, check_positive_int
from lotterylab.plotting import PALETTE, get_ax
from lotterylab.presets import pick
from lotterylab.tangent import check_inputs, empirical_ntk, params_of
from lotterylab.tangent_fit import GDHistory, function_distance, relative_movement, tangent_predict, train_mse_gd

__all__ = ["LazyRun", "TangentConfig", "compare_to_linearization", "plot_fits_1d", "plot_loss_vs_steps",
           "plot_vs_width"]

# Line colours of the chapter's fits, in order: at init, trained, linearised, one step, then others.
_SERIES_COLORS = [PALETTE[k] for k in ("ticket", "other", "dense", "reinit", "random", "extra")]


def _positive_ints(name: str, values) -> tuple[int, ...]:
    values = tuple(values) if isinstance(values, (list, tuple)) else values
    if not isinstance(values, tuple) or not values:
        raise LotteryLabError(f"{name}={values!r} must be a non-empty tuple of integers >= 1.")
    for v in values:
        check_positive_int(f"{name} entry", v)
    if list(values) != sorted(set(values)):
        raise LotteryLabError(f"{name}={values!r} must be increasing, without repeats.")
    return values


@dataclass(frozen=True)
class TangentConfig:
    """Sizes of chapter 6's experiments (validated on construction).

    Example:
        >>> TangentConfig.for_preset("full", n_train=64).n_train
        64
    """

    reg_widths: tuple[int, ...] = (16, 64, 256, 1024, 4096)   # 1-D regression: hidden widths
    reg_points: int = 12                                       # training points of the 1-D task
    reg_steps: int = 1000                                      # full-batch gradient-descent steps
    mnist_widths: tuple[int, ...] = (64, 256, 1024)            # MNIST parity task: hidden widths
    n_train: int = 256                                         # MNIST training images
    n_test: int = 500                                          # MNIST test images
    mnist_steps: int = 300                                     # gradient-descent steps on MNIST
    ticket_width: int = 256                                    # ticket and spread experiments (one of mnist_widths)
    prune_fraction: float = 0.8                                # ticket: prune 80% of each weight matrix
    chunk_size: int = 32                                       # inputs per Jacobian chunk in the NTK
    restricted_width: int = 64                                 # restricted tangent solve: width (J is held)
    restricted_fractions: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)   # kept fractions q
    random_draws: int = 3                                      # random column sets per fraction
    n_inits: int = 4                                           # initialisations of the one-step solve (spread)
    adam_width: int = 128                                      # linearising during Adam training: width
    adam_steps: int = 300                                      # full-batch Adam steps
    adam_linearize_at: tuple[int, ...] = (0, 20, 100)          # steps k at which the network is linearised

    def __post_init__(self) -> None:
        for name in ("reg_widths", "mnist_widths"):
            object.__setattr__(self, name, _positive_ints(name, getattr(self, name)))
        check_positive_int("reg_points", self.reg_points, minimum=2)
        check_positive_int("n_train", self.n_train, minimum=2)
        for name in ("reg_steps", "n_test", "mnist_steps", "ticket_width", "chunk_size"):
            check_positive_int(name, getattr(self, name))
        check_fraction("prune_fraction", self.prune_fraction, low_inclusive=False)
        for name in ("restricted_width", "random_draws", "adam_width", "adam_steps"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("n_inits", self.n_inits, minimum=2)
        q = tuple(check_fraction("restricted_fractions entry", v, low_inclusive=False, high_inclusive=True)
                  for v in self.restricted_fractions)
        if not q or list(q) != sorted(set(q)):
            raise LotteryLabError(f"restricted_fractions={self.restricted_fractions!r} must be increasing, in (0, 1].")
        object.__setattr__(self, "restricted_fractions", q)
        ks = tuple(self.adam_linearize_at)
        if not ks or list(ks) != sorted(set(ks)) or any(isinstance(k, bool) or not isinstance(k, int)
                                                         or not 0 <= k < self.adam_steps for k in ks):
            raise LotteryLabError(f"adam_linearize_at={self.adam_linearize_at!r} must be increasing steps in "
                                  f"[0, adam_steps={self.adam_steps}).")
        object.__setattr__(self, "adam_linearize_at", ks)
        if self.ticket_width not in self.mnist_widths:
            raise LotteryLabError(f"ticket_width={self.ticket_width} must be one of mnist_widths={self.mnist_widths} "
                                  "(the ticket is read off that trained network).")

    @classmethod
    def for_preset(cls, preset: str, **overrides) -> TangentConfig:
        """The preset's sizes, with any field replaced by ``overrides``."""
        base = pick(preset, quick={}, full={
            "reg_widths": (16, 64, 256, 1024, 4096, 16384), "mnist_widths": (64, 256, 1024, 4096, 8192),
            "n_train": 1024, "n_test": 1000, "mnist_steps": 1000, "ticket_width": 4096, "restricted_width": 256,
            "n_inits": 8, "adam_width": 1024, "adam_steps": 1500, "adam_linearize_at": (0, 100, 500)})
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise LotteryLabError(f"overrides {unknown} are not TangentConfig fields; allowed: "
                                  f"{[f.name for f in dataclasses.fields(cls)]}.")
        return cls(**{**base, **overrides})


@dataclass(frozen=True)
class LazyRun:
    """One network trained by gradient descent, next to its linearisation (outputs on the evaluation inputs)."""

    lr: float                     # the learning rate used, n / lambda_max(K)
    history: GDHistory            # the network's training loss
    f0: torch.Tensor              # outputs at initialisation
    trained: torch.Tensor         # outputs of the trained network
    linearized: torch.Tensor      # outputs of the linearised network trained the same way
    one_step: torch.Tensor        # outputs of the one-step tangent solution
    movement: float               # ||theta_T - theta_0|| / ||theta_0||
    distance: float               # RMS(trained - linearised)
    rel_distance: float           # the same, divided by RMS(linearised - f0)
    kernel_change: float          # ||K_T - K_0||_F / ||K_0||_F
    K: torch.Tensor               # the empirical NTK at initialisation on the training inputs


def compare_to_linearization(net: nn.Module, x: torch.Tensor, y: torch.Tensor, x_eval: torch.Tensor, *,
                             steps: int, chunk_size: int = 64, record_every: int | None = None) -> LazyRun:
    """Train ``net`` (in place) by full-batch GD on ``(x, y)`` and compare it with its linearisation.

    The learning rate is ``n / lambda_max(K)``, half the largest stable step of the linear model.
    ``record_every`` (default ``max(1, steps // 50)``) sets how often the loss is recorded. Every
    tensor stays on ``net``'s device; ``y`` must have the shape of ``net(x)``.

    Example:
        >>> from lotterylab.models import TangentMLP
        >>> x = torch.linspace(-1, 1, 4)[:, None]
        >>> compare_to_linearization(TangentMLP(1, [8], 1), x, torch.zeros(4), x, steps=2)
        Traceback (most recent call last):
        ...
        lotterylab.errors.LotteryLabError: y has shape (4,) but net(x) has shape (4, 1); pass y of exactly that shape.
    """
    check_positive_int("steps", steps)
    device = next(net.parameters()).device
    check_inputs(x, "x", device)
    check_inputs(x_eval, "x_eval", device)
    record_every = max(1, steps // 50) if record_every is None else record_every
    theta0 = params_of(net)
    f0, f0_eval = net(x).detach(), net(x_eval).detach()
    if not isinstance(y, torch.Tensor) or y.shape != f0.shape:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise LotteryLabError(f"y has shape {got} but net(x) has shape {tuple(f0.shape)}; pass y of exactly that shape.")
    K = empirical_ntk(net, x, chunk_size=chunk_size)                        # (n, n)
    K_eval = empirical_ntk(net, x_eval, x, chunk_size=chunk_size)           # (m, n)
    lr = len(x) / torch.linalg.eigvalsh(K.double()).max().item()
    history = train_mse_gd(net, x, y, lr=lr, steps=steps, record_every=record_every)
    _, lin_eval = tangent_predict(K, f0, y, K_eval, f0_eval, lr=lr, steps=steps)
    _, one_step = tangent_predict(K, f0, y, K_eval, f0_eval)
    K_after = empirical_ntk(net, x, chunk_size=chunk_size)                  # the kernel after training
    trained = net(x_eval).detach()
    return LazyRun(lr=lr, history=history, f0=f0_eval, trained=trained, linearized=lin_eval, one_step=one_step,
                   movement=relative_movement(params_of(net), theta0),
                   distance=function_distance(trained, lin_eval),
                   rel_distance=function_distance(trained, lin_eval, relative_to=f0_eval),
                   kernel_change=float(torch.linalg.norm(K_after - K) / torch.linalg.norm(K)), K=K)


def _curve(name: str, values, n: int | None = None) -> np.ndarray:
    """``values`` (a list, array or tensor on any device) as a flat float array of length ``n``, or raise."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0 or (n is not None and arr.size != n):
        raise LotteryLabError(f"{name} has {arr.size} values; expected {n if n is not None else 'at least one'}.")
    return arr


def plot_vs_width(widths: Sequence[int], series: Mapping[str, Sequence[float]], *, ax=None,
                  reference_slope: float | None = -0.5, ylabel: str = ""):
    """Log-log plot of one or more quantities against width, with an optional ``width^slope`` guide.

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> ax = plot_vs_width([10, 100], {"movement": [0.1, 0.03]})
        >>> ax.get_xscale(), ax.get_xlabel()
        ('log', 'width')
    """
    widths = _curve("widths", widths)
    series = {label: _curve(f"series[{label!r}]", vals, len(widths)) for label, vals in series.items()}
    ax = get_ax(ax)
    for i, (label, vals) in enumerate(series.items()):
        ax.plot(widths, vals, "o-", label=label, ms=5, color=_SERIES_COLORS[i % len(_SERIES_COLORS)])
    if reference_slope is not None and series:
        first = next(iter(series.values()))
        guide = first[0] * (widths / widths[0]) ** reference_slope
        ax.plot(widths, guide, "k:", lw=1, label=f"$\\propto$ width$^{{{reference_slope:g}}}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def plot_loss_vs_steps(steps: Sequence[int], curves: Mapping[str, Sequence[float]], *,
                       one_step_loss: float | None = None, floor: float = 1e-13, ax=None):
    """Training loss against gradient-descent steps (log-log), with the one-step solution as a star.

    Losses below ``floor`` are cut off (a converged linear solve reaches round-off, ~1e-12).

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> ax = plot_loss_vs_steps([1, 10, 100], {"GD": [1.0, 0.5, 0.1]}, one_step_loss=1e-12)
        >>> ax.get_yscale(), len(ax.get_lines())
        ('log', 2)
    """
    steps = _curve("steps", steps)
    curves = {label: _curve(f"curves[{label!r}]", vals, len(steps)) for label, vals in curves.items()}
    ax = get_ax(ax)
    top = 0.0
    for i, (label, vals) in enumerate(curves.items()):
        ax.plot(steps, vals, label=label, color=_SERIES_COLORS[i % len(_SERIES_COLORS)])
        top = max(top, float(np.max(vals)))
    if one_step_loss is not None:
        ax.plot([1], [max(one_step_loss, floor)], "k*", ms=12, label="one Newton step (one linear solve)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(floor, 3 * top if top > 0 else 1.0)
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize="small", loc="lower center")
    return ax


def plot_fits_1d(x_grid, curves: Mapping[str, Sequence[float]], x_train, y_train, *, ax=None, title=None):
    """1-D regression: several fitted functions on a grid, with the training points (tensors on any device).

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> ax = plot_fits_1d([0, 1], {"fit": [0.0, 1.0]}, [0.5], [0.5])
        >>> len(ax.get_lines())
        2
    """
    x_grid, x_train = _curve("x_grid", x_grid), _curve("x_train", x_train)
    curves = {label: _curve(f"curves[{label!r}]", vals, len(x_grid)) for label, vals in curves.items()}
    y_train = _curve("y_train", y_train, len(x_train))
    ax = get_ax(ax)
    styles = ["-", "--", ":", "-."]
    for i, (label, vals) in enumerate(curves.items()):
        ax.plot(x_grid, vals, styles[i % 4], label=label, lw=1.6, color=_SERIES_COLORS[i % len(_SERIES_COLORS)])
    ax.plot(x_train, y_train, "ko", ms=4, label="training points")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return ax
