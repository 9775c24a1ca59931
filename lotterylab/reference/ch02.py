"""Chapter 2's reference: the instability analysis at the ``full`` preset, 3 seeds, and its positive control.

``StabilityConfig.for_preset("full")``: LeNet-300-100 on the MNIST subset, 1,000 Adam steps at lr 1e-2
(about eight times the paper's LeNet rate), rewind steps k in (0, 25, 100, 300), tickets from 12 IMP
rounds; for seeds 0, 1 and 2 the dense network, the ticket and a random mask are each trained twice from
``theta_k`` with two data orders and the error barrier between the copies is measured. The positive
control trains two *different* initialisations and measures their barrier before and after weight
matching. One results-cache file per seed and one for the control, so the run resumes.

Example:
    >>> config().rewind_steps, SEEDS
    ((0, 25, 100, 300), [0, 1, 2])
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lotterylab.data import load_mnist_subset
from lotterylab.errors import LotteryLabError, check_positive_int
from lotterylab.permutation import ControlResult, control_key, different_init_control
from lotterylab.reference import store
from lotterylab.reference.store import Manifest, load_manifest, load_stored, reference_dir
from lotterylab.stability import StabilityConfig, StabilityRun, instability_key, run_instability

__all__ = ["CHAPTER", "SEEDS", "TITLE", "StabilityReference", "Verification", "config", "configs", "load", "run",
           "verify"]

CHAPTER = 2
TITLE = "Instability analysis of LeNet-300-100 at Adam lr 1e-2: dense, ticket, random mask; 3 seeds; positive control"
SEEDS = [0, 1, 2]


def config() -> StabilityConfig:
    return StabilityConfig.for_preset("full")


def configs() -> list[StabilityConfig]:
    return [config()]


@dataclass
class StabilityReference:
    """One :class:`~lotterylab.stability.StabilityRun` per seed, the positive control, and the manifest
    (None for a result just computed by :func:`run`)."""

    config: StabilityConfig
    runs: list[StabilityRun]
    control: ControlResult
    manifest: Manifest | None = None

    def barriers(self, kind: str) -> dict[int, list[float]]:
        """``{k: [barrier of each seed]}`` for ``kind`` (fractions, not points)."""
        return {k: [run.record(kind, k)["barrier"] for run in self.runs] for k in self.config.rewind_steps}


def _control_args(cfg: StabilityConfig, seeds) -> dict:
    return {"init_seeds": (seeds[0], seeds[0] + 1), "data_seeds": tuple(seeds[0] + n for n in cfg.noise_seeds),
            "alphas": cfg.alphas}


def run(directory=None, *, seeds=None, device=None, progress=None) -> StabilityReference:
    """Run (or resume) every seed's analysis and the positive control, one file each in ``directory``
    (``stability_full_seed{s}.pt``, ``control_full.pt``). ``device=None``: :func:`get_device`."""
    if directory is not None and not isinstance(directory, (str, Path)):
        raise LotteryLabError(f"directory must be a folder path, got {type(directory).__name__}.")
    seeds = SEEDS if seeds is None else seeds
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (list, tuple)) or not seeds or len(set(seeds)) != len(seeds):
        raise LotteryLabError(f"seeds must be a non-empty sequence of distinct seeds, e.g. (0, 1, 2); got {seeds!r}.")
    seeds = [check_positive_int("seeds", s, minimum=0) for s in seeds]
    device = store.usable_device(device)
    directory = Path(directory) if directory is not None else reference_dir(CHAPTER)
    directory.mkdir(parents=True, exist_ok=True)
    cfg = config()
    data = load_mnist_subset(seed=0, device=device)
    runs = [run_instability(data, cfg, seed=s, device=device, checkpoint=directory / f"stability_full_seed{s}.pt",
                            progress=progress) for s in seeds]
    control = different_init_control(cfg.model_fn, data, cfg.train, **_control_args(cfg, seeds), device=device,
                                     checkpoint=directory / "control_full.pt", progress=progress)
    return StabilityReference(config=cfg, runs=runs, control=control)


def load(directory=None) -> StabilityReference:
    """Load the stored runs without training; a missing, damaged or stale file raises with the command."""
    directory = Path(directory) if directory is not None else reference_dir(CHAPTER)
    manifest = load_manifest(directory, chapter=CHAPTER)
    cfg, seeds = config(), list(manifest.seeds)
    data = load_mnist_subset(seed=0, device=manifest.device)
    device = data.X_train.device
    runs = [load_stored(directory / f"stability_full_seed{s}.pt", instability_key(cfg, data, seed=s, device=device),
                        chapter=CHAPTER) for s in seeds]
    control = load_stored(directory / "control_full.pt",
                          control_key(cfg.model_fn, data, cfg.train, **_control_args(cfg, seeds), device=device),
                          chapter=CHAPTER)
    return StabilityReference(config=cfg, runs=runs, control=control, manifest=manifest)


@dataclass
class Verification(store.Verification):
    """One re-run (seed, rewind step, kind) of the reference: both copies' final test accuracy and the
    highest error on the path between them, stored and recomputed (the barrier follows from these)."""

    seed: int
    rewind_step: int
    kind: str
    stored: np.ndarray
    recomputed: np.ndarray


def _checked(record: dict) -> np.ndarray:
    return np.array([*record["final_test_acc"], max(record["error"])], dtype=float)


def verify(reference: StabilityReference, *, seed: int = 0, device=None) -> Verification:
    """Re-run one random (seed, rewind step, kind) of the reference from its config and compare."""
    check_positive_int("seed", seed, minimum=0)
    if not isinstance(reference, StabilityReference):
        raise LotteryLabError(f"reference must be a StabilityReference (from load()), not {type(reference).__name__}.")
    rng = np.random.default_rng(seed)
    run_ = reference.runs[rng.integers(len(reference.runs))]
    record = run_.records[rng.integers(len(run_.records))]
    k, kind = record["rewind_step"], record["kind"]
    data = load_mnist_subset(seed=0, device=device or (reference.manifest.device if reference.manifest else None))
    one = dataclasses.replace(reference.config, rewind_steps=(k,), kinds=(kind,))
    again = run_instability(data, one, seed=run_.seed, progress=None).record(kind, k)
    return Verification(run_.seed, k, kind, _checked(record), _checked(again))
