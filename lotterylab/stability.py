"""Instability analysis (Frankle, Dziugaite, Roy & Carbin 2020): is training stable to SGD noise?

Start from one point ``theta_k`` (the initialisation, ``k = 0``, or the weights after ``k`` steps of
training), train two copies with different data orders (different SGD noise) and measure the error
barrier between the results (:mod:`lotterylab.interpolation`). A barrier near zero means training from
``theta_k`` is *stable*: the outcome is fixed, up to a flat valley, before the randomness of SGD has
had its say. :func:`run_instability` does this for the dense network, an IMP ticket and a random mask.

Example:
    >>> cfg = StabilityConfig.for_preset("quick", rewind_steps=(0, 200))
    >>> cfg.model, cfg.train.steps, len(cfg.alphas)
    ('lenet', 1000, 30)
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError, check_choice, check_positive_int
from lotterylab.interpolation import N_ALPHAS, check_alphas, error_barrier, evaluate_path, plot_barriers
from lotterylab.models import conv_net, lenet_300_100
from lotterylab.presets import pick
from lotterylab.progress import check_progress, progress_bar
from lotterylab.pruning import Mask, random_mask_like
from lotterylab.results import experiment_key, load_results, save_results
from lotterylab.seeding import make_generator
from lotterylab.tickets import IMPConfig, run_imp
from lotterylab.training import TrainConfig, train

__all__ = [
    "KINDS",
    "MODELS",
    "RANDOM_MASK_SEED_OFFSET",
    "VERSION",
    "InstabilityResult",
    "StabilityConfig",
    "StabilityRun",
    "instability",
    "instability_key",
    "plot_barriers",
    "run_instability",
]

VERSION = 1  # of run_instability's results: bump when a change to this module changes the numbers
KINDS = ("dense", "ticket", "random")
MODELS = ("lenet", "conv")
RANDOM_MASK_SEED_OFFSET = 7_919  # the random-pruning control of seed s at step k uses seed s + offset + k

_MODEL_FNS: dict[str, Callable[..., nn.Module]] = {"lenet": lenet_300_100, "conv": conv_net}


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class StabilityConfig:
    """An instability experiment: which network, rewind points, IMP depth and SGD-noise seeds."""

    model: str = "lenet"                            # "lenet" (LeNet-300-100) or "conv" (ConvNet)
    train: TrainConfig = field(default_factory=TrainConfig)  # how every copy is trained (to train.steps)
    rewind_steps: tuple[int, ...] = (0, 100)        # k: where the two copies start (0 = init)
    imp_rounds: int = 7                             # IMP rounds for the ticket (0.8**7 = 21% density)
    kinds: tuple[str, ...] = KINDS                  # networks analysed at every k
    n_alphas: int = N_ALPHAS                        # evenly spaced points on the line (paper: 30)
    noise_seeds: tuple[int, int] = (1, 2)           # data-order offsets of the two copies

    def __post_init__(self) -> None:
        check_choice("model", self.model, MODELS)
        if not isinstance(self.train, TrainConfig):
            raise LotteryLabError(f"train must be a TrainConfig, not {type(self.train).__name__}.")
        for name, example in (("rewind_steps", (0, 100)), ("kinds", KINDS), ("noise_seeds", (1, 2))):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or not value or len(set(value)) != len(value):
                raise LotteryLabError(f"{name} must be a tuple of distinct values, e.g. {example!r}; got {value!r}.")
            object.__setattr__(self, name, tuple(value))
        for kind in self.kinds:
            check_choice("kinds", kind, KINDS)
        for k in self.rewind_steps:
            if not _is_int(k) or not 0 <= k < self.train.steps:
                raise LotteryLabError(f"rewind_steps: step {k!r} must be an int in [0, train.steps={self.train.steps}).")
        check_positive_int("imp_rounds", self.imp_rounds)
        check_positive_int("n_alphas", self.n_alphas, minimum=2)
        if len(self.noise_seeds) != 2 or not all(_is_int(s) and s >= 0 for s in self.noise_seeds):
            raise LotteryLabError(f"noise_seeds must be two different non-negative ints; got {self.noise_seeds!r}.")

    @classmethod
    def for_preset(cls, preset: str, **overrides) -> StabilityConfig:
        """``quick``: LeNet, 1,000 Adam steps at the paper's lr 1.2e-3, k in (0, 50, 200), 7 IMP rounds (21%).

        ``full``: LeNet, 1,000 Adam steps at lr 1e-2 (a setting in which the dense network is unstable
        at initialisation on the MNIST subset), k in (0, 25, 100, 300), 12 IMP rounds (6.9% density):
        minutes on a 2-core CPU. ``overrides`` replace any field (``model="conv"`` for the ConvNet).
        """
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise LotteryLabError(f"overrides {unknown} are not fields of StabilityConfig; choose from "
                                  f"{[f.name for f in dataclasses.fields(cls)]}.")
        base = cls(
            model="lenet",
            train=pick(preset, quick=TrainConfig(steps=1000, eval_every=250),
                       full=TrainConfig(steps=1000, lr=1e-2, eval_every=250)),
            rewind_steps=pick(preset, quick=(0, 50, 200), full=(0, 25, 100, 300)),
            imp_rounds=pick(preset, quick=7, full=12))
        return dataclasses.replace(base, **overrides)

    @property
    def model_fn(self) -> Callable[..., nn.Module]:
        return _MODEL_FNS[self.model]

    @property
    def alphas(self) -> list[float]:
        return torch.linspace(0, 1, self.n_alphas, dtype=torch.float64).tolist()


@dataclass
class InstabilityResult:
    """What :func:`instability` measured: the barrier, the path on the test set and the two copies."""

    barrier: float                          # error barrier on the test set (a fraction, not points)
    alphas: list[float]                     # the interpolation weights
    error: list[float]                      # test error at each alpha
    loss: list[float]                       # test cross-entropy at each alpha
    end_errors: tuple[float, float]         # test error of the two copies (alpha = 0 and 1)
    final_test_acc: tuple[float, float]     # the two copies' test accuracy as measured by training
    states: list[dict[str, torch.Tensor]]   # the two trained copies' state dicts


@dataclass
class StabilityRun:
    """Results of :func:`run_instability`: one record per (rewind step, kind).

    Each record has ``kind, rewind_step, density, barrier, end_errors, alphas, error, loss,
    final_test_acc`` (the last: both copies' test accuracy at the end of training).
    """

    seed: int
    config: StabilityConfig
    records: list[dict] = field(default_factory=list)

    def record(self, kind: str, rewind_step: int) -> dict:
        """The record of ``kind`` started at ``rewind_step``; raises if there is none."""
        for r in self.records:
            if r["kind"] == kind and r["rewind_step"] == rewind_step:
                return r
        raise LotteryLabError(f"no record for kind={kind!r}, rewind_step={rewind_step!r}; have "
                              f"{[(r['kind'], r['rewind_step']) for r in self.records]}.")

    def barrier_table(self) -> dict[str, dict[int, float]]:
        """``{kind: {k: barrier}}``."""
        table: dict[str, dict[int, float]] = {}
        for r in self.records:
            table.setdefault(r["kind"], {})[r["rewind_step"]] = r["barrier"]
        return table


def _device_of(device, data) -> torch.device:
    """``device``, else the data's device; an unknown or unavailable device raises naming ``device``."""
    if device is None:
        return data.X_train.device
    try:
        return get_device(str(device))
    except LotteryLabError as exc:
        raise LotteryLabError(f"device={device!r} is not usable: {exc}") from None


def _check_data(data) -> None:
    if not all(isinstance(getattr(data, n, None), torch.Tensor) for n in ("X_train", "y_train", "X_val", "y_val",
                                                                           "X_test", "y_test")):
        raise LotteryLabError(f"data must be a lotterylab.data.Split, got {type(data).__name__}.")


def _check_instability_args(model_fn, start_state, config, seeds, start_step, mask, alphas) -> list[float]:
    if not callable(model_fn):
        raise LotteryLabError(f"model_fn must build a model from a seed, got {type(model_fn).__name__}.")
    if not isinstance(start_state, Mapping) or not start_state:
        raise LotteryLabError(f"start_state must be a non-empty state dict, got {type(start_state).__name__}.")
    if not isinstance(config, TrainConfig):
        raise LotteryLabError(f"config must be a TrainConfig, not {type(config).__name__}.")
    if not isinstance(seeds, (tuple, list)) or len(seeds) != 2 or len(set(seeds)) != 2 or not all(
            _is_int(s) and s >= 0 for s in seeds):
        raise LotteryLabError(f"seeds must be two different non-negative data-order seeds; got {seeds!r}.")
    if not _is_int(start_step) or not 0 <= start_step < config.steps:
        raise LotteryLabError(f"start_step={start_step!r} must be an int in [0, config.steps={config.steps}).")
    if mask is not None and not isinstance(mask, Mask):
        raise LotteryLabError(f"mask must be a lotterylab.pruning.Mask or None, got {type(mask).__name__}.")
    if mask is not None:
        mask.check_matches(start_state)
    alphas = check_alphas(torch.linspace(0, 1, N_ALPHAS) if alphas is None else alphas).tolist()
    if 0.0 not in alphas or 1.0 not in alphas:
        raise LotteryLabError("alphas must include both endpoints 0 and 1 to define the barrier.")
    return alphas


def instability(model_fn: Callable[..., nn.Module], start_state: Mapping[str, torch.Tensor], data,
                config: TrainConfig, *, seeds: tuple[int, int], start_step: int = 0, mask: Mask | None = None,
                alphas=None, device: torch.device | str | None = None, progress=None) -> InstabilityResult:
    """Train two copies of ``start_state`` with data-order seeds ``seeds`` and measure the barrier.

    Both copies start at ``start_state`` (the network at step ``start_step``), keep ``mask``, and train
    to ``config.steps`` on the batches ``start_step + 1, ...`` of their own data order. The path is
    evaluated on the test set at ``alphas`` (default: 30 points in [0, 1]; must include 0 and 1).
    ``device=None`` runs on the data's device.

    Example:
        >>> from lotterylab.data import Split
        >>> X, y = torch.randn(30, 4), torch.randint(0, 3, (30,))
        >>> data = Split(X, y, X, y, X, y)
        >>> start = nn.Linear(4, 3).state_dict()
        >>> out = instability(lambda seed: nn.Linear(4, 3), start, data, TrainConfig(steps=5, batch_size=10),
        ...                   seeds=(1, 2), alphas=[0.0, 0.5, 1.0])
        >>> len(out.error), out.barrier >= -1
        (3, True)
    """
    _check_data(data)
    alphas = _check_instability_args(model_fn, start_state, config, seeds, start_step, mask, alphas)
    check_progress(progress)
    device = _device_of(device, data)
    data = data.to(device)
    mask = None if mask is None else mask.to(device)
    bar = progress if progress is not None else progress_bar(total=2 * (config.steps - start_step),
                                                             desc="instability")
    states, accs = [], []
    for s in seeds:
        model = model_fn(0).to(device)
        model.load_state_dict(start_state)
        result = train(model, data, config, seed=s, mask=mask, start_step=start_step, progress=bar)
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        accs.append(result.final_test_acc)
    if progress is None:
        bar.close()
    path = evaluate_path(model, states[0], states[1], data.X_test, data.y_test, alphas, mask=mask)
    return InstabilityResult(barrier=error_barrier(path["alphas"], path["error"]), alphas=path["alphas"],
                             error=path["error"], loss=path["loss"], end_errors=(path["error"][0], path["error"][-1]),
                             final_test_acc=tuple(accs), states=states)


def _start_point(config: StabilityConfig, data, seed: int, k: int, device: torch.device, bar):
    """``theta_k`` (on the CPU) and, when a ticket or random mask is analysed, the IMP ticket's mask."""
    if any(kind in config.kinds for kind in ("ticket", "random")):
        imp = run_imp(config.model_fn, data, IMPConfig(rounds=config.imp_rounds, rewind_step=k, controls=(),
                                                       train=config.train), seed=seed, device=device, progress=bar)
        return imp.reset_state, imp.masks[-1]
    model = config.model_fn(seed).to(device)
    if k:  # the first k steps of the same data order that IMP's dense run uses: the same theta_k
        train(model, data, dataclasses.replace(config.train, steps=k, eval_every=k), seed=seed)
    return {n: t.detach().cpu().clone() for n, t in model.state_dict().items()}, None


def _steps_at(config: StabilityConfig, k: int, kind: str) -> int:
    """Optimiser steps spent at rewind step ``k`` on ``kind`` ("imp": finding the ticket, if one is needed)."""
    steps = config.train.steps
    if kind != "imp":
        return 2 * (steps - k)                                   # two copies from step k
    if all(other == "dense" for other in config.kinds):
        return 0
    return steps + config.imp_rounds * (steps - k)               # the dense run, then every round from k


def _mask_for(kind: str, ticket_mask: Mask | None, seed: int, k: int) -> Mask | None:
    """No mask for the dense network, the ticket's, or a random one with the ticket's per-layer counts."""
    if kind == "dense":
        return None
    if kind == "ticket":
        return ticket_mask
    return random_mask_like(ticket_mask, make_generator(seed + RANDOM_MASK_SEED_OFFSET + k))


def instability_key(config: StabilityConfig, data, *, seed: int, device: torch.device) -> dict:
    """The results-cache key of :func:`run_instability`'s checkpoint (what a stored run must match)."""
    return experiment_key(VERSION, config=config, data=data, model=config.model_fn, seeds=[seed], device=device,
                          dtype=data.X_train.dtype)


def run_instability(data, config: StabilityConfig, *, seed: int, device: torch.device | str | None = None,
                    checkpoint: str | Path | None = None, progress=None) -> StabilityRun:
    """The instability analysis for the dense network, an IMP ticket and a random-pruned control.

    For every rewind step ``k`` in ``config.rewind_steps``: ``theta_k`` comes from training the dense
    network (data order ``seed``) for ``k`` steps; the ticket is found by IMP with rewinding to ``k``
    (:func:`lotterylab.tickets.run_imp`, ``config.imp_rounds`` rounds); the random control keeps the
    ticket's per-layer counts at random positions. Each network is then trained twice from
    ``theta_k`` with data orders ``seed + noise_seeds[i]`` and the error barrier between the two is
    measured on the test set. ``device=None`` runs on the data's device. With ``checkpoint`` every
    (k, kind) is saved as soon as it is done and an interrupted run resumes; a file made with another
    config, data split, seed, device, dtype or ``VERSION`` is recomputed. ``progress`` is a tqdm-like
    bar to update, or None for a bar of its own.
    """
    _check_data(data)
    if not isinstance(config, StabilityConfig):
        raise LotteryLabError(f"config must be a StabilityConfig, not {type(config).__name__}.")
    check_positive_int("seed", seed, minimum=0)
    check_progress(progress)
    if checkpoint is not None and not isinstance(checkpoint, (str, Path)):
        raise LotteryLabError(f"checkpoint must be a file path or None, got {type(checkpoint).__name__}.")
    device = _device_of(device, data)
    data = data.to(device)
    key = instability_key(config, data, seed=seed, device=device)
    run = None if checkpoint is None else load_results(
        checkpoint, key=key, validate=lambda r: isinstance(r, StabilityRun) and r.seed == seed and r.config == config)
    run = run if run is not None else StabilityRun(seed=seed, config=config)
    done = {(r["rewind_step"], r["kind"]) for r in run.records}
    bar = progress if progress is not None else progress_bar(
        total=sum(_steps_at(config, k, kind) for k in config.rewind_steps for kind in ("imp",) + config.kinds),
        desc=f"instability seed {seed}")
    noise = tuple(seed + s for s in config.noise_seeds)
    for k in config.rewind_steps:
        if all((k, kind) in done for kind in config.kinds):
            bar.update(sum(_steps_at(config, k, kind) for kind in ("imp",) + config.kinds))
            continue
        start_state, ticket_mask = _start_point(config, data, seed, k, device, bar)
        for kind in config.kinds:
            if (k, kind) in done:
                bar.update(_steps_at(config, k, kind))
                continue
            mask = _mask_for(kind, ticket_mask, seed, k)
            out = instability(config.model_fn, start_state, data, config.train, seeds=noise, start_step=k,
                              mask=mask, alphas=config.alphas, device=device, progress=bar)
            run.records.append({"kind": kind, "rewind_step": k, "density": 1.0 if mask is None else mask.density,
                                **{f.name: getattr(out, f.name) for f in dataclasses.fields(out) if f.name != "states"}})
            if checkpoint is not None:
                save_results(checkpoint, run, key=key)
    if progress is None:
        bar.close()
    return run
