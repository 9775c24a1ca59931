"""Chapter 4's experiments: their sizes per preset, and the construction swept over width factors.

:class:`TheoryConfig` sizes the subset-sum measurement and the construction (validated on
construction, ``for_preset(preset, **overrides)``); :func:`construction_sweep` prunes several random
networks per width factor into one target with :func:`lotterylab.strong_lth.prune_random_network`
and records the worst errors and solve times.

Example:
    >>> cfg = TheoryConfig.for_preset("full", widths=(4, 8), n_construction_trials=1)
    >>> target = [torch.tensor([[0.5]], dtype=torch.float64)]
    >>> construction_sweep(target, torch.ones(2, 1, dtype=torch.float64), cfg.widths,
    ...                    cfg.n_construction_trials).errors.shape
    (1, 2)
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lotterylab.errors import LotteryLabError, check_choice, check_positive_int
from lotterylab.presets import pick
from lotterylab.strong_lth import METHODS, PrunedNetwork, check_target, prune_random_network, relu_forward
from lotterylab.subset_sum import MAX_COVERAGE_N, MAX_ITEMS

__all__ = ["ConstructionSweep", "TheoryConfig", "construction_sweep"]


def _ints(cfg, name: str, *, maximum: int | None = None) -> None:
    values = getattr(cfg, name)
    values = tuple(values) if isinstance(values, (list, tuple)) else values
    if not isinstance(values, tuple) or len(values) < 2:
        raise LotteryLabError(f"{name}={values!r} must be a tuple of at least two integers >= 1.")
    for v in values:
        check_positive_int(f"{name} entry", v)
    if list(values) != sorted(set(values)) or (maximum is not None and values[-1] > maximum):
        limit = f", at most {maximum}" if maximum is not None else ""
        raise LotteryLabError(f"{name}={values!r} must be increasing, without repeats{limit}.")
    object.__setattr__(cfg, name, values)


@dataclass(frozen=True)
class TheoryConfig:
    """Sizes of the strong-LTH theory chapter's experiments (validated on construction).

    Example:
        >>> TheoryConfig.for_preset("quick").n_coverage_trials
        8
        >>> TheoryConfig.for_preset("full", n_coverage_trials=2).n_coverage_trials
        2
    """

    n_coverage_trials: int = 8            # independent sample sets per point in the subset-sum experiment
    coverage_n_max: int = 22              # largest number of U[-1, 1] samples tried (2^n sums kept)
    n_grid: int = 100_001                 # targets on an even grid of [-1, 1]
    eps_bits: tuple[int, ...] = tuple(range(1, 14))   # eps = 2^-b
    single_n_max: int = 1_000             # "one lucky sample": samples tried
    single_bits: tuple[int, ...] = tuple(range(1, 7))  # must be a subset of eps_bits
    target_hidden: int = 8                # target network 1 -> hidden -> hidden -> 1 (plus bias units)
    target_steps: int = 3_000             # Adam steps to train the target directly
    widths: tuple[int, ...] = (4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48)
    single_widths: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512)
    n_construction_trials: int = 8       # random networks per width factor

    def __post_init__(self) -> None:
        for name in ("n_coverage_trials", "single_n_max", "target_hidden", "target_steps", "n_construction_trials"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("n_grid", self.n_grid, minimum=2)
        check_positive_int("coverage_n_max", self.coverage_n_max)
        if self.coverage_n_max > MAX_COVERAGE_N:
            raise LotteryLabError(f"coverage_n_max={self.coverage_n_max} must be at most {MAX_COVERAGE_N}.")
        _ints(self, "eps_bits", maximum=52)
        _ints(self, "single_bits", maximum=52)
        _ints(self, "widths", maximum=MAX_ITEMS)
        _ints(self, "single_widths")
        if not set(self.single_bits) <= set(self.eps_bits):
            raise LotteryLabError(f"single_bits={self.single_bits} must be a subset of eps_bits={self.eps_bits}.")

    @classmethod
    def for_preset(cls, preset: str, **overrides) -> TheoryConfig:
        """The preset's sizes, with any field replaced by ``overrides``."""
        base = pick(preset, quick={}, full={
            "n_coverage_trials": 32, "coverage_n_max": 24, "n_grid": 400_001, "eps_bits": tuple(range(1, 16)),
            "single_n_max": 4_000, "single_bits": tuple(range(1, 9)), "target_hidden": 16, "target_steps": 10_000,
            "single_widths": (4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048), "n_construction_trials": 16})
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise LotteryLabError(f"overrides {unknown} are not TheoryConfig fields; allowed: {fields}.")
        return cls(**{**base, **overrides})


@dataclass(frozen=True)
class ConstructionSweep:
    """Worst errors ``(n_trials, len(widths))`` of the pruned networks, fastest solve per width, the networks."""

    widths: tuple[int, ...]
    errors: np.ndarray
    seconds: np.ndarray
    nets: dict[tuple[int, int], PrunedNetwork]


def construction_sweep(target: Sequence[torch.Tensor], x: torch.Tensor, widths: Sequence[int], n_trials: int, *,
                       method: str = "subset") -> ConstructionSweep:
    """Prune ``n_trials`` random networks (seeds ``1000 t + width``) per width into ``target``.

    Records the worst error ``max |pruned(x) - target(x)|`` over the inputs ``x`` and the fastest
    solve time per width. ``nets[(t, width)]`` keeps every pruned network.

    Example:
        >>> target = [torch.tensor([[0.5]], dtype=torch.float64)]
        >>> sweep = construction_sweep(target, torch.ones(3, 1, dtype=torch.float64), (8, 16), 2)
        >>> sweep.errors.shape
        (2, 2)
    """
    target = check_target(target)
    widths = tuple(widths) if isinstance(widths, Sequence) else ()
    if not widths:
        raise LotteryLabError(f"widths={widths!r} must hold at least one width factor.")
    for w in widths:
        check_positive_int("widths entry", w)
    check_positive_int("n_trials", n_trials)
    check_choice("method", method, METHODS)
    y = relu_forward(target, x)
    errs = np.zeros((n_trials, len(widths)))
    seconds = np.full(len(widths), np.inf)
    nets = {}
    for c, width in enumerate(widths):
        for t in range(n_trials):
            t0 = time.perf_counter()
            pruned = prune_random_network(target, width, seed=1000 * t + width, method=method)
            seconds[c] = min(seconds[c], time.perf_counter() - t0)
            errs[t, c] = float((pruned(x) - y).abs().max())
            nets[(t, width)] = pruned
    return ConstructionSweep(widths=widths, errors=errs, seconds=seconds, nets=nets)
