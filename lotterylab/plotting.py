"""Plots for the chapters. Every function takes an optional ``ax`` and returns the ``Axes`` it drew on.

Nothing here changes matplotlib's global style unless you call :func:`use_style`.

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> records = [{"trial": 0, "kind": "ticket", "density": d, "early_stop_test_acc": a}
    ...            for d, a in [(1.0, 0.95), (0.8, 0.96)]]
    >>> ax = plot_vs_density(records, "early_stop_test_acc")
    >>> ax.get_xlabel()
    'weights remaining (%)'
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from lotterylab.errors import LotteryLabError

__all__ = [
    "KIND_STYLE",
    "PALETTE",
    "caption",
    "density_axis",
    "get_ax",
    "plot_input_mask",
    "plot_learning_curves",
    "plot_vs_density",
    "run_label",
    "use_style",
]

# One palette for the whole course: a concept keeps its colour from chapter to chapter.
PALETTE = {
    "ticket": "#1f77b4",   # the winning ticket / the method under study
    "reinit": "#d62728",   # the same mask, re-initialised (the main control)
    "random": "#7f7f7f",   # a random mask, or chance
    "dense": "#2ca02c",    # the unpruned network
    "other": "#ff7f0e",    # a second method or series
    "extra": "#bcbd22",
}

KIND_STYLE = {
    "ticket": {"color": PALETTE["ticket"], "label": "winning ticket (reset to init)", "marker": "o"},
    "reinit": {"color": PALETTE["reinit"], "label": "same mask, random re-init", "marker": "s"},
    "random": {"color": PALETTE["random"], "label": "random pruning, same init", "marker": "^"},
    "dense": {"color": PALETTE["dense"], "label": "dense network", "marker": "D"},
}


def use_style() -> None:
    """Opt-in: the course's plot style (seaborn 'whitegrid', readable sizes)."""
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "axes.titlesize": "medium"})


def caption(fig, text: str, *, width: int = 110):
    """Write a caption under ``fig`` (wrapped to ``width`` characters) and return ``fig``.

    Chapters use it to name the preset and hardware that produced every figure.
    """
    import textwrap

    top = -0.01
    try:  # start below everything already drawn (tick labels, x labels), not on top of it
        bottom_inches = fig.get_tightbbox(fig.canvas.get_renderer()).y0
        top = min(top, bottom_inches / fig.get_figheight() - 0.01)
    except (AttributeError, TypeError, ValueError):  # a canvas without a renderer: keep the default spot
        pass
    fig.text(0.01, top, textwrap.fill(text, width), ha="left", va="top", fontsize=8.5, style="italic")
    return fig


def get_ax(ax=None, *, figsize: tuple[float, float] = (6, 4)):
    """``ax`` itself, or the axes of a new figure of ``figsize`` inches when ``ax`` is None.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> get_ax().figure.get_size_inches().tolist()
        [6.0, 4.0]
    """
    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


def density_axis(ax, min_density: float = 1.0, *, ticks: Sequence[float] = (100, 51.3, 21.1, 8.7, 3.6, 1.5, 0.6)):
    """Format ``ax``'s x axis as "weights remaining (%)": log scale, dense on the left, readable ticks.

    ``min_density`` (a fraction) is the sparsest point drawn; ticks below it are left out.
    """
    ax.set_xscale("log")
    if not ax.xaxis_inverted():
        ax.invert_xaxis()
    ax.set_xlabel("weights remaining (%)")
    shown = [t for t in ticks if t >= min_density * 100 * 0.99]
    ax.set_xticks(shown)
    ax.set_xticklabels([f"{t:g}" for t in shown])
    ax.minorticks_off()
    return ax


def run_label(preset: str, device, what: str = "MNIST subset (3,500 training images)") -> str:
    """The one-line provenance every caption carries: preset, what was run, device type.

    Example:
        >>> run_label("quick", "cpu")
        'quick preset, MNIST subset (3,500 training images), CPU'
    """
    import torch

    return f"{preset} preset, {what}, {torch.device(device).type.upper()}"


def plot_vs_density(records: Iterable[Mapping], metric: str, *, kinds: Sequence[str] | None = None,
                    ax=None, scale: float = 1.0, ylabel: str | None = None):
    """Mean of ``metric`` over trials vs density, one line per kind, with the min-max range shaded.

    ``records`` are dicts with ``trial``, ``kind``, ``density`` and ``metric`` (as from
    :class:`lotterylab.tickets.IMPRun`). The x axis is log-scaled and runs from dense (left) to sparse.
    Level 0 (dense) is drawn for every kind, since all three start from the same dense network.
    """
    records = list(records)
    missing = [r for r in records if metric not in r or "density" not in r or "kind" not in r]
    if missing:
        raise LotteryLabError(f"every record needs 'kind', 'density' and metric={metric!r}; one has {sorted(missing[0])}.")
    ax = get_ax(ax)
    kinds = list(kinds) if kinds is not None else [k for k in KIND_STYLE if any(r["kind"] == k for r in records)]
    dense = [r for r in records if r["density"] >= 1.0]
    for kind in kinds:
        by_density = defaultdict(list)
        for r in records:
            if r["kind"] == kind or (r in dense and kind != "ticket"):
                by_density[round(r["density"], 6)].append(r[metric] * scale)
        if not by_density:
            continue
        d = np.array(sorted(by_density, reverse=True))
        vals = [np.array(by_density[x]) for x in d]
        mean = np.array([v.mean() for v in vals])
        style = KIND_STYLE.get(kind, {"label": kind})
        ax.plot(d * 100, mean, marker=style.get("marker", "o"), color=style.get("color"), label=style["label"], ms=4)
        ax.fill_between(d * 100, [v.min() for v in vals], [v.max() for v in vals], color=style.get("color"), alpha=0.2)
    density_axis(ax, min((r["density"] for r in records), default=1.0))
    ax.set_ylabel(ylabel or metric)
    ax.legend(fontsize="small")
    return ax


def plot_input_mask(first_layer_mask, *, ax=None, image_shape=(28, 28), title: str | None = None,
                    relative: bool = True):
    """Per input pixel, the fraction of its outgoing first-layer weights that survive pruning.

    With ``relative=True`` (default) the fraction is divided by the layer's overall density, so
    1 means "an average pixel", above 1 a pixel the mask favours, below 1 one it prunes harder.
    """
    ax = get_ax(ax)
    m = np.asarray(first_layer_mask, dtype=float).mean(axis=0)   # (hidden, inputs) -> (inputs,)
    if relative:
        im = ax.imshow((m / m.mean()).reshape(image_shape), cmap="RdBu_r", vmin=0.4, vmax=1.6)
        label = "kept fraction / layer density"
    else:
        im = ax.imshow(m.reshape(image_shape), cmap="viridis", vmin=0, vmax=1)
        label = "fraction of weights kept"
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
    return ax


def plot_learning_curves(histories: Sequence[Mapping], labels: Sequence[str], *, metric: str = "test_acc",
                         ax=None, scale: float = 100.0):
    """One line per training run: ``metric`` against optimiser step."""
    ax = get_ax(ax)
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(histories)))
    for h, label, c in zip(histories, labels, colors):
        ax.plot(h["steps"], np.asarray(h[metric]) * scale, label=label, color=c)
    ax.set_xlabel("training step")
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    return ax


def plot_accuracy_vs(x: Sequence[float], series: Mapping[str, Sequence], *, ax=None, xlabel: str = "",
                     ylabel: str = "test accuracy (%)", logx: bool = False, chance: float | None = 10.0,
                     styles: Mapping[str, dict] | None = None, legend: str | None = "best"):
    """One line per entry of ``series`` (label -> values, or label -> list of per-seed values:
    mean line with min-max band) against ``x``; a dotted line at ``chance``. The x ticks are the
    values of ``x``; ``legend`` is its location (``None``: no legend).

    >>> import matplotlib; matplotlib.use("Agg")
    >>> plot_accuracy_vs([1, 2], {"a": [50, [60, 70]]}).get_ylabel()
    'test accuracy (%)'
    """
    x = list(x)
    if not isinstance(series, Mapping):
        raise LotteryLabError(f"series must be a dict label -> values, not {type(series).__name__}.")
    for label, vals in series.items():
        if len(vals) != len(x):
            raise LotteryLabError(f"series[{label!r}] has {len(vals)} values but x has {len(x)}.")
    ax = get_ax(ax)
    for label, vals in series.items():
        arr = [np.atleast_1d(np.asarray(v, dtype=float)) for v in vals]
        mean = np.array([a.mean() for a in arr])
        style = {"marker": "o", "ms": 4, **(styles or {}).get(label, {})}
        line, = ax.plot(x, mean, label=label, **style)
        if any(len(a) > 1 for a in arr):
            ax.fill_between(x, [a.min() for a in arr], [a.max() for a in arr], color=line.get_color(), alpha=0.2)
    if chance is not None:
        ax.axhline(chance, color=PALETTE["random"], ls=":", lw=1, label="chance")
    if logx:
        ax.set_xscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels([f"{v:g}" for v in x])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend is not None:
        ax.legend(fontsize="small", loc=legend)
    return ax
