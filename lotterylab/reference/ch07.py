"""Chapter 7's reference: Liu & Tegmark's sweep at the paper's schedule (SiLU and LeakyReLU, x^2 on [-2, 2]).

50,000 full-batch Adam steps (lr 1e-2, x0.2 every 10,000) on 1,000 points, as the paper; 1,000 seeds
at every width N <= 5 and 200 seeds at N = 10..50 (the paper: 1,000 at N = 10..50). Each
(activation, width) is one results-cache file, so the run resumes where it stopped.

Example:
    >>> [(c.widths, c.n_seeds) for c in sweep_configs()]
    [((1, 2, 3, 4, 5), 1000), ((10, 20, 30, 40, 50), 200)]
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lotterylab.errors import LotteryLabError, check_positive_int
from lotterylab.many_seed import train_many
from lotterylab.progress import check_progress, progress_bar
from lotterylab.reference import store
from lotterylab.reference.store import (
    Manifest,
    load_manifest,
    load_stored,
    reference_dir,
)
from lotterylab.scaling import Sweep, SweepConfig, run_sweep, sweep_key

__all__ = ["CHAPTER", "TITLE", "ScalingReference", "Verification", "load", "run", "sweep_configs", "verify",
           "wall_seconds"]

CHAPTER = 7
TITLE = "Liu & Tegmark's scaling sweep at the paper's schedule"
ACTIVATIONS = ("silu", "leaky_relu")


def sweep_configs() -> list[SweepConfig]:
    """The two sweeps of the reference: small widths with 1,000 seeds, large widths with 200."""
    full = SweepConfig.for_preset("full", activations=ACTIVATIONS)
    return [dataclasses.replace(full, widths=(1, 2, 3, 4, 5), n_seeds=1000),
            dataclasses.replace(full, widths=(10, 20, 30, 40, 50), n_seeds=200)]


@dataclass
class ScalingReference:
    """The loaded reference: one :class:`~lotterylab.scaling.Sweep` over every width, and its manifest."""

    sweep: Sweep
    manifest: Manifest

    def n_seeds(self, width: int) -> int:
        return len(self.sweep.runs[(ACTIVATIONS[0], width)].seeds)


def _merged(configs: list[SweepConfig], runs: dict) -> Sweep:
    widths = tuple(w for c in configs for w in c.widths)
    merged = dataclasses.replace(configs[0], widths=widths, n_seeds=max(c.n_seeds for c in configs))
    return Sweep(merged, runs=runs)


def _path(directory: Path, config: SweepConfig, act: str, width: int) -> Path:
    return Path(directory) / f"x_2_{act}_N{width}.pt"


def run(directory=None, *, device=None, progress=None) -> Sweep:
    """Train (or resume) the whole reference into ``directory`` (default: the store's ``reference/ch07``)."""
    check_progress(progress)
    directory = Path(directory) if directory is not None else reference_dir(CHAPTER)
    configs = sweep_configs()
    total = sum(c.n_seeds * c.fit.steps * len(c.widths) * len(c.activations) for c in configs)
    bar = progress if progress is not None else progress_bar(total=total, desc="ch07 reference (seed-steps)",
                                                              unit_scale=True)
    runs = {}
    try:
        for config in configs:
            # small widths of both activations first, so a stopped run has the cheap half finished
            for width in config.widths:
                for act in config.activations:
                    one = dataclasses.replace(config, activations=(act,), widths=(width,))
                    runs.update(run_sweep(one, directory, device=device, progress=bar).runs)
    finally:
        if progress is None:
            bar.close()
    return _merged(configs, runs)


def load(directory=None) -> ScalingReference:
    """Load the stored reference without training anything; a missing, damaged or stale file raises."""
    directory = Path(directory) if directory is not None else reference_dir(CHAPTER)
    manifest = load_manifest(directory, chapter=CHAPTER)
    configs, runs = sweep_configs(), {}
    for config in configs:
        for act in config.activations:
            for width in config.widths:
                path, key = _path(directory, config, act, width), sweep_key(config, act, width, manifest.device)
                runs[(act, width)] = load_stored(path, key, chapter=CHAPTER)
    return ScalingReference(_merged(configs, runs), manifest)


@dataclass
class Verification(store.Verification):
    """A re-run sample of the reference: stored and recomputed final losses of the same seeds."""

    activation: str
    width: int
    seeds: list
    stored: np.ndarray
    recomputed: np.ndarray


def verify(reference: ScalingReference, *, n_seeds: int = 2, seed: int = 0, device=None) -> Verification:
    """Retrain ``n_seeds`` seeds of one (activation, width) drawn at random (``seed``) from the stored config.

    Compare ``.stored`` with ``.recomputed``; it must run on the manifest's kind of device.
    """
    check_positive_int("n_seeds", n_seeds)
    check_positive_int("seed", seed, minimum=0)
    if not isinstance(reference, ScalingReference):
        raise LotteryLabError(f"reference must be a ScalingReference (from load()), not {type(reference).__name__}.")
    rng = np.random.default_rng(seed)
    pairs = sorted(reference.sweep.runs)
    act, width = pairs[rng.integers(len(pairs))]
    stored_run = reference.sweep.runs[(act, width)]
    config = next(c for c in sweep_configs() if width in c.widths)
    picks = sorted(rng.choice(len(stored_run.seeds), size=min(n_seeds, len(stored_run.seeds)), replace=False))
    seeds = [stored_run.seeds[i] for i in picks]
    fresh = train_many(seeds, width, config.fit, activation=act, target=config.target, dtype=config.dtype,
                       device=device or reference.manifest.device, compile=config.compile, progress=None)
    return Verification(act, width, seeds, stored_run.losses.double().numpy()[picks],
                        fresh.losses.double().cpu().numpy())


def wall_seconds(sweep: Sweep) -> float:
    """Training seconds summed over every (activation, width) piece, whichever session made it."""
    return float(sum(r.seconds for r in sweep.runs.values()))
