"""Chapter 1's reference: IMP on LeNet-300-100 down to 3.6% of the weights, 5 trials, with both controls.

The ``full`` preset of :class:`~lotterylab.tickets.IMPConfig` (15 rounds of 20% / 10% for the output
layer, 5,000 Adam steps per round, reset to initialisation) on the MNIST subset, seeds 0-4. The trials
checkpoint every level in a work folder of the results cache (the trained weights are large); the
store keeps what the chapter and the check need: every record, every mask (bit-packed) and the
learning curves, a few MB in all.

Example:
    >>> config().rounds, SEEDS
    (15, [0, 1, 2, 3, 4])
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lotterylab.data import load_mnist_subset
from lotterylab.errors import LotteryLabError, check_positive_int
from lotterylab.models import lenet_300_100
from lotterylab.pruning import Mask
from lotterylab.reference import store
from lotterylab.reference.store import (
    Manifest,
    load_manifest,
    load_stored,
    reference_dir,
)
from lotterylab.results import experiment_key, load_results, results_dir, save_results
from lotterylab.tickets import VERSION, IMPConfig, run_imp_trials
from lotterylab.training import train

__all__ = ["CHAPTER", "SEEDS", "TITLE", "IMPReference", "SlimRun", "Verification", "config", "configs", "load",
           "run", "verify", "wall_seconds"]

CHAPTER = 1
TITLE = "IMP on LeNet-300-100 down to 3.6% density, 5 trials, ticket / random re-init / random pruning"
SEEDS = [0, 1, 2, 3, 4]


def config() -> IMPConfig:
    return IMPConfig.for_preset("full")


def configs() -> list[IMPConfig]:
    return [config()]


@dataclass
class SlimRun:
    """One trial as stored: records, bit-packed masks per level and layer, the ticket's learning curves."""

    seed: int
    records: list = field(default_factory=list)
    packed_masks: list = field(default_factory=list)      # per level: {name: (shape, np.uint8 bits)}
    histories: list = field(default_factory=list)
    seconds: float = 0.0

    def mask(self, level: int) -> Mask:
        return Mask({n: torch.from_numpy(np.unpackbits(bits)[: int(np.prod(shape))].reshape(shape).astype(bool))
                     for n, (shape, bits) in self.packed_masks[level].items()})


def _key(seed: int, device: str, data) -> dict:
    return experiment_key(VERSION, config=config(), data=data, model=lenet_300_100, seeds=[seed], device=device,
                          slim=1)


def run(directory=None, *, device=None, progress=None) -> list[SlimRun]:
    """Run (or resume) the five trials and write one slim file per trial into ``directory``."""
    directory = Path(directory) if directory is not None else reference_dir(CHAPTER)
    data = load_mnist_subset(seed=0, device=device)
    device = data.X_train.device
    work = results_dir() / "reference_ch01_work"
    slim = []
    for seed in SEEDS:
        path = directory / f"imp_seed{seed}.pt"
        stored = load_results(path, key=_key(seed, device.type, data)) if path.exists() else None
        if stored is None:
            t0 = time.time()
            full = run_imp_trials(lenet_300_100, data, config(), seeds=[seed], device=device, checkpoint_dir=work,
                                  progress=progress)[0]
            stored = SlimRun(seed, full.records,
                             [{n: (tuple(m.shape), np.packbits(m.cpu().numpy().astype(bool).ravel())) for n, m in
                               mask.items()} for mask in full.masks], full.histories, time.time() - t0)
            save_results(path, stored, key=_key(seed, device.type, data))
        slim.append(stored)
    return slim


def wall_seconds(runs: list[SlimRun]) -> float:
    return float(sum(r.seconds for r in runs))


@dataclass
class IMPReference:
    runs: list
    manifest: Manifest

    @property
    def records(self) -> list[dict]:
        return [r for run in self.runs for r in run.records]


def load(directory=None) -> IMPReference:
    """Load the stored trials without training; a missing, damaged or stale file raises."""
    directory = Path(directory) if directory is not None else reference_dir(CHAPTER)
    manifest = load_manifest(directory, chapter=CHAPTER)
    data, runs = load_mnist_subset(seed=0), []
    for seed in SEEDS:
        path, key = directory / f"imp_seed{seed}.pt", _key(seed, manifest.device, data)
        runs.append(load_stored(path, key, chapter=CHAPTER))
    return IMPReference(runs, manifest)


@dataclass
class Verification(store.Verification):
    """One retrained ticket of the reference: the stored and the recomputed early-stopping accuracy."""

    seed: int
    level: int
    stored: np.ndarray
    recomputed: np.ndarray


def verify(reference: IMPReference, *, seed: int = 0, device=None) -> Verification:
    """Retrain one ticket (a random trial and pruned level) from its stored mask and compare its
    early-stopping and final test accuracy with the stored record."""
    check_positive_int("seed", seed, minimum=0)
    if not isinstance(reference, IMPReference):
        raise LotteryLabError(f"reference must be an IMPReference (from load()), not {type(reference).__name__}.")
    rng = np.random.default_rng(seed)
    trial = reference.runs[rng.integers(len(reference.runs))]
    level = int(rng.integers(1, len(trial.packed_masks)))
    data = load_mnist_subset(seed=0, device=device or reference.manifest.device)
    model = lenet_300_100(trial.seed).to(data.X_train.device)
    mask = trial.mask(level).to(data.X_train.device)
    result = train(model, data, config().train, seed=trial.seed, mask=mask)
    record = next(r for r in trial.records if r["level"] == level and r["kind"] == "ticket")
    keys = ("early_stop_test_acc", "final_test_acc")
    return Verification(trial.seed, level, np.array([record[k] for k in keys]),
                        np.array([getattr(result, k) for k in keys]))
