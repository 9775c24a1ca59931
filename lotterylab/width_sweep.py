"""Tickets in random networks against width: edge-popup and biprop scores, next to dense training.

For every width multiplier of LeNet-300-100, :func:`width_sweep` trains the scores of ``copies``
tickets per method on the *same* frozen random weights (``weight_seed = seed``, ``score_seed =
seed + 1``; see :mod:`lotterylab.supermasks`) and, with ``config.dense`` set, a dense network of the
same shape with trained weights (Glorot init from ``seed``, Adam, early-stopping test accuracy, as in
chapter 1). One piece, a (method, width) or a dense width, is :func:`train_ticket` or
:func:`train_dense`; :func:`piece_key` is what decides a piece's numbers, so a store of one file per
piece resumes where it stopped.

Example:
    >>> from lotterylab.data import load_mnist_subset
    >>> cfg = WidthSweepConfig(widths=(1,), copies=2, scores=ScoreTrainConfig(epochs=1),
    ...                        dense=TrainConfig(steps=5, eval_every=5))
    >>> out = width_sweep(cfg, load_mnist_subset(), device="cpu")
    >>> sorted(out), len(out["edge_popup"][0]["acc"]), type(out["dense"][0]["acc"])
    (['dense', 'edge_popup'], 2, <class 'float'>)
"""
from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field

from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError, check_choice, check_fraction, check_positive_int
from lotterylab.models import lenet_300_100
from lotterylab.progress import check_progress, progress_bar
from lotterylab.results import experiment_key
from lotterylab.supermasks import INITS, METHODS, ScoreTrainConfig, lenet_widths, supermask_lenet, train_supermask
from lotterylab.training import TrainConfig, train

__all__ = ["VERSION", "WidthSweepConfig", "piece_key", "pieces", "train_dense", "train_ticket", "width_sweep"]

VERSION = 1  # of what this module computes: bump when a change here changes the numbers


@dataclass(frozen=True)
class WidthSweepConfig:
    """One width sweep (defaults: chapter 3's quick edge-popup sweep).

    >>> WidthSweepConfig(methods=("biprop",), init="kaiming_normal").widths
    (1, 2, 4)
    """

    widths: tuple = (1, 2, 4)                 # width multipliers of LeNet-300-100 (each >= 1)
    methods: tuple = ("edge_popup",)          # score methods, from supermasks.METHODS
    init: str = "signed_constant"             # distribution of the frozen random weights (supermasks.INITS)
    density: float = 0.5                      # fraction of each layer's weights a ticket keeps
    copies: int = 2                           # score seeds per (method, width), trained side by side
    scores: ScoreTrainConfig = field(default_factory=ScoreTrainConfig)   # SGD on the scores
    dense: TrainConfig | None = field(default_factory=TrainConfig)      # the dense baseline; None: none
    seed: int = 0                             # frozen weights, dense init and data order

    def __post_init__(self) -> None:
        if not isinstance(self.widths, tuple) or not self.widths or len(set(self.widths)) != len(self.widths):
            raise LotteryLabError(f"widths={self.widths!r} must be a non-empty tuple of distinct width multipliers.")
        for w in self.widths:
            if isinstance(w, bool) or not isinstance(w, numbers.Real) or not (math.isfinite(w) and w >= 1):
                raise LotteryLabError(f"widths={self.widths!r}: every width multiplier must be a number >= 1.")
        if not isinstance(self.methods, tuple) or len(set(self.methods)) != len(self.methods):
            raise LotteryLabError(f"methods={self.methods!r} must be a tuple of distinct methods from {METHODS}.")
        for m in self.methods:
            check_choice("methods", m, METHODS)
        check_choice("init", self.init, INITS)
        check_fraction("density", self.density, low_inclusive=False, high_inclusive=True)
        check_positive_int("copies", self.copies)
        if not isinstance(self.scores, ScoreTrainConfig):
            raise LotteryLabError(f"scores must be a ScoreTrainConfig, not {type(self.scores).__name__}.")
        if self.dense is not None and not isinstance(self.dense, TrainConfig):
            raise LotteryLabError(f"dense must be a TrainConfig or None, not {type(self.dense).__name__}.")
        check_positive_int("seed", self.seed, minimum=0)
        if not self.methods and self.dense is None:
            raise LotteryLabError("methods is empty and dense is None: the sweep would train nothing.")


def _check_config(config) -> None:
    if not isinstance(config, WidthSweepConfig):
        raise LotteryLabError(f"config must be a WidthSweepConfig, not {type(config).__name__}.")


def pieces(config: WidthSweepConfig) -> list[tuple[str, float]]:
    """The sweep's pieces, ``(method or "dense", width)``, narrow widths first (a stopped run has the cheap part).

    >>> pieces(WidthSweepConfig(widths=(1, 2), dense=None))
    [('edge_popup', 1), ('edge_popup', 2)]
    """
    _check_config(config)
    kinds = list(config.methods) + (["dense"] if config.dense is not None else [])
    return [(kind, w) for w in sorted(config.widths) for kind in kinds]


def piece_key(config: WidthSweepConfig, kind: str, width: float, data, device) -> dict:
    """The results-cache key of one piece: only the settings that decide its numbers, the data and device type.

    A dense piece does not depend on the score settings, so its key leaves them out.

    >>> k = piece_key(WidthSweepConfig(), "dense", 2, None, "cpu")
    >>> k["width"], "scores" in k["config"]
    (2, False)
    """
    _check_config(config)
    check_choice("kind", kind, (*METHODS, "dense"))
    if kind == "dense":
        if config.dense is None:
            raise LotteryLabError("kind='dense' needs config.dense (a TrainConfig), not None.")
        settings = {"dense": config.dense}
        model = lenet_300_100
    else:
        settings = {"init": config.init, "density": config.density, "copies": config.copies, "scores": config.scores}
        model = supermask_lenet
    return experiment_key(VERSION, config=settings, data=data, model=model, seeds=[config.seed], device=device,
                          dtype=None if data is None else data.X_train.dtype, kind=kind, width=width)


def train_ticket(config: WidthSweepConfig, method: str, width: float, data, *, device=None,
                 keep_weights: bool = False) -> dict:
    """Train ``config.copies`` tickets of ``method`` at ``width``; ``{"acc": [per copy], "seconds": s}``.

    With ``keep_weights`` also ``"weights"`` and ``"masks"``: per layer, ``(copies, out, in)`` CPU tensors.
    """
    _check_config(config)
    check_choice("method", method, METHODS)
    lenet_widths(width)
    device = get_device(None if device is None else str(device))
    t0 = time.time()
    net = supermask_lenet(width, density=config.density, init=config.init, method=method,
                          weight_seed=config.seed, score_seed=config.seed + 1, copies=config.copies).to(device)
    result = train_supermask(net, data, config.scores, seed=config.seed, progress=progress_bar(mode="off"))
    out = {"acc": [float(a) for a in result.final_test_acc], "seconds": time.time() - t0}
    if keep_weights:
        out["weights"] = [w.cpu() for w in net.effective_weights()]
        out["masks"] = [m.cpu() for m in net.masks()]
    return out


def train_dense(config: WidthSweepConfig, width: float, data, *, device=None, keep_state: bool = False) -> dict:
    """Train the dense LeNet-300-100 of ``width``: ``{"acc": early-stopping test accuracy, "seconds": s}``.

    With ``keep_state`` also ``"state"``, the trained ``state_dict`` on the CPU.
    """
    _check_config(config)
    if config.dense is None:
        raise LotteryLabError("config.dense is None: there is no dense baseline to train.")
    hidden = lenet_widths(width)[1:3]
    device = get_device(None if device is None else str(device))
    t0 = time.time()
    model = lenet_300_100(seed=config.seed, hidden=hidden).to(device)
    result = train(model, data, config.dense, seed=config.seed)
    out = {"acc": float(result.early_stop_test_acc), "seconds": time.time() - t0}
    if keep_state:
        out["state"] = {k: v.cpu() for k, v in model.state_dict().items()}
    return out


def width_sweep(config: WidthSweepConfig, data, *, device=None, keep_weights: bool = False,
                progress=None) -> dict:
    """Every piece of ``config``: ``{method: [piece per width], "dense": [piece per width]}``.

    Lists follow ``config.widths``; a ticket piece is :func:`train_ticket`'s dict, a dense one
    :func:`train_dense`'s (``keep_weights`` keeps their weights, masks and dense state).
    ``progress``: a tqdm-like bar updated once per piece, or None for a bar of its own.
    """
    _check_config(config)
    check_progress(progress)
    device = get_device(None if device is None else str(device))
    todo = pieces(config)
    bar = progress if progress is not None else progress_bar(total=len(todo), desc="width sweep (pieces)")
    done = {}
    try:
        for kind, width in todo:
            if kind == "dense":
                done[kind, width] = train_dense(config, width, data, device=device, keep_state=keep_weights)
            else:
                done[kind, width] = train_ticket(config, kind, width, data, device=device, keep_weights=keep_weights)
            bar.update(1)
    finally:
        if progress is None:
            bar.close()
    kinds = list(config.methods) + (["dense"] if config.dense is not None else [])
    return {kind: [done[kind, w] for w in config.widths] for kind in kinds}
