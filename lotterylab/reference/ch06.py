"""Chapter 6's reference: lazy training as the width grows, at the ``full`` preset's sizes.

``TangentConfig.for_preset("full")`` with one width more per task: the 1-D regression (12 points, 1,000
full-batch GD steps) at widths 16 to 65,536, and MNIST odd/even (1,024 training and 1,000 test images,
1,000 full-batch GD steps) at widths 64 to 16,384 (the preset stops at 16,384 and 8,192). The kernels
are computed in closed form (memory ~ n x width), so time, not memory, sets the largest width: the widest
MNIST network takes about a quarter of an hour of one CPU thread. One network per width (seed 0, NTK
parameterisation), each trained with :func:`~lotterylab.lazy_training.compare_to_linearization` against
its linearisation. Stored per
width, as plain numbers (no kernels, no weights): the learning rate, the loss curve, the weight movement,
the distance to the linearisation (absolute and relative), the kernel change and, on MNIST, the test
accuracies of the network, its linearisation and the one-step solution. One results-cache file per
(task, width), so the run resumes; a file's key names only what decides its numbers (not the other widths).

Example:
    >>> config().mnist_widths, config().reg_widths[-1], SEEDS
    ((64, 256, 1024, 4096, 8192, 16384), 65536, [0])
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lotterylab.data import load_mnist_subset
from lotterylab.errors import LotteryLabError, check_positive_int
from lotterylab.lazy_training import TangentConfig, compare_to_linearization
from lotterylab.progress import check_progress, progress_bar
from lotterylab.reference import store
from lotterylab.reference.store import Manifest, load_manifest, load_stored, reference_dir
from lotterylab.results import cached, experiment_key
from lotterylab.tangent_tasks import LazyTask, parity_task, regression_task, sign_accuracy

__all__ = ["CHAPTER", "SEEDS", "TASKS", "TITLE", "LazyPoint", "LazyReference", "Verification", "config", "configs",
           "load", "run", "verify", "wall_seconds"]

CHAPTER = 6
TITLE = "Lazy training vs width (NTK parameterisation, full-batch GD): 1-D regression and MNIST odd/even"
SEEDS = [0]
TASKS = ("regression", "mnist")
VERSION = 1                    # bump when the code changes what a stored width holds
VERIFY_CPU_SECONDS = 60.0      # verify() re-runs only widths whose stored run took at most this much CPU time


def config() -> TangentConfig:
    """The ``full`` preset with one more width per task: time, not memory, is the limit on one CPU thread."""
    full = TangentConfig.for_preset("full")
    return dataclasses.replace(full, reg_widths=(*full.reg_widths, 65536), mnist_widths=(*full.mnist_widths, 16384))


def configs() -> list[TangentConfig]:
    return [config()]


@dataclass(frozen=True)
class LazyPoint:
    """One (task, width): what the chapter's Figure 2R and its sentences need, as plain numbers."""

    task: str
    width: int
    n_params: int
    lr: float                  # n / lambda_max(K)
    steps: list                # steps at which the training loss was recorded
    losses: list               # the network's training loss at those steps
    movement: float            # ||theta_T - theta_0|| / ||theta_0||
    distance: float            # RMS(trained - linearised) on the evaluation inputs
    rel_distance: float        # the same, divided by RMS(linearised - f0)
    kernel_change: float       # ||K_T - K_0||_F / ||K_0||_F
    acc: dict                  # MNIST: test accuracy of "net", "lin" (linearised) and "newton" (one step); else {}
    seconds: float             # wall time of the run
    cpu_seconds: float         # CPU time of the run (one thread: the time verify() needs)


@dataclass
class LazyReference:
    """Every (task, width) of the reference and the manifest (None for a result just computed by :func:`run`)."""

    config: TangentConfig
    points: dict               # (task, width) -> LazyPoint
    manifest: Manifest | None = None

    def widths(self, task: str) -> list[int]:
        return sorted(w for t, w in self.points if t == task)

    def series(self, task: str, field: str) -> list[float]:
        """``field`` of every width of ``task`` (``"acc_net"`` etc. for an accuracy), in width order."""
        if field.startswith("acc_"):
            return [self.points[task, w].acc[field[4:]] for w in self.widths(task)]
        return [getattr(self.points[task, w], field) for w in self.widths(task)]


def _widths(cfg: TangentConfig, task: str) -> tuple[int, ...]:
    return cfg.reg_widths if task == "regression" else cfg.mnist_widths


def _task(cfg: TangentConfig, task: str, data) -> LazyTask:
    return regression_task(cfg.reg_points, device=data.X_train.device) if task == "regression" \
        else parity_task(data, cfg.n_train, cfg.n_test)


def _steps(cfg: TangentConfig, task: str) -> int:
    return cfg.reg_steps if task == "regression" else cfg.mnist_steps


def _key(cfg: TangentConfig, lazy: LazyTask, width: int, device) -> dict:
    """What decides one width's numbers: the task's sizes and steps, its data, the model, seed and device."""
    sizes = {"reg_points": cfg.reg_points, "steps": cfg.reg_steps} if lazy.name == "regression" else \
        {"n_train": cfg.n_train, "n_test": cfg.n_test, "steps": cfg.mnist_steps}
    return experiment_key(VERSION, config={**sizes, "chunk_size": cfg.chunk_size},
                          data=[lazy.x, lazy.y, lazy.x_eval, lazy.y_eval], seeds=SEEDS, device=device,
                          dtype=lazy.x.dtype, model=f"lotterylab.models.TangentMLP(bias_std={lazy.bias_std})",
                          task=lazy.name, width=width)


def _path(directory: Path, task: str, width: int) -> Path:
    return Path(directory) / f"{task}_w{width}.pt"


def _measure(cfg: TangentConfig, lazy: LazyTask, width: int) -> dict:
    """Train one network against its linearisation (compare_to_linearization) and keep the scalars."""
    t0, c0 = time.time(), time.process_time()
    net = lazy.model(width, seed=SEEDS[0])
    r = compare_to_linearization(net, lazy.x, lazy.y, lazy.x_eval, steps=_steps(cfg, lazy.name),
                                 chunk_size=cfg.chunk_size)
    acc = {} if lazy.y_eval is None else {"net": sign_accuracy(r.trained, lazy.y_eval),
                                          "lin": sign_accuracy(r.linearized, lazy.y_eval),
                                          "newton": sign_accuracy(r.one_step, lazy.y_eval)}
    point = LazyPoint(task=lazy.name, width=width, n_params=sum(p.numel() for p in net.parameters()), lr=float(r.lr),
                      steps=list(r.history.steps), losses=[float(v) for v in r.history.losses],
                      movement=r.movement, distance=r.distance, rel_distance=r.rel_distance,
                      kernel_change=r.kernel_change, acc=acc, seconds=time.time() - t0,
                      cpu_seconds=time.process_time() - c0)
    return dataclasses.asdict(point)           # plain values: the file loads without any lotterylab class


def _is_point(payload) -> bool:
    return isinstance(payload, dict) and set(payload) == {f.name for f in dataclasses.fields(LazyPoint)}


def run(directory=None, *, device=None, progress=None) -> LazyReference:
    """Run (or resume) every (task, width), one file each in ``directory`` (``{task}_w{width}.pt``).

    The regression widths come first, then MNIST from the smallest width up, so a stopped run has the
    cheap part finished. ``device=None``: :func:`get_device`. ``progress``: a tqdm-like bar (counted in
    widths) or None for a bar of its own.
    """
    if directory is not None and not isinstance(directory, (str, Path)):
        raise LotteryLabError(f"directory must be a folder path, got {type(directory).__name__}.")
    check_progress(progress)
    device = store.usable_device(device)
    directory = Path(directory) if directory is not None else reference_dir(CHAPTER)
    directory.mkdir(parents=True, exist_ok=True)
    cfg = config()
    data = load_mnist_subset(seed=SEEDS[0], device=device)
    pieces = [(task, w) for task in TASKS for w in _widths(cfg, task)]
    bar = progress if progress is not None else progress_bar(total=len(pieces), desc="ch06 reference (widths)")
    points = {}
    try:
        for task in TASKS:
            lazy = _task(cfg, task, data)
            for width in _widths(cfg, task):
                if hasattr(bar, "set_postfix_str"):
                    bar.set_postfix_str(f"{task} width {width}")
                payload = cached(_path(directory, task, width), _key(cfg, lazy, width, device),
                                 lambda lazy=lazy, width=width: _measure(cfg, lazy, width), validate=_is_point)
                points[task, width] = LazyPoint(**payload)
                bar.update(1)
    finally:
        if progress is None:
            bar.close()
    return LazyReference(config=cfg, points=points)


def load(directory=None) -> LazyReference:
    """Load the stored widths without training; a missing, damaged or stale file raises with the command."""
    directory = Path(directory) if directory is not None else reference_dir(CHAPTER)
    manifest = load_manifest(directory, chapter=CHAPTER)
    cfg = config()
    data = load_mnist_subset(seed=SEEDS[0], device=manifest.device)
    points = {}
    for task in TASKS:
        lazy = _task(cfg, task, data)
        for width in _widths(cfg, task):
            payload = load_stored(_path(directory, task, width), _key(cfg, lazy, width, manifest.device),
                                  chapter=CHAPTER)
            points[task, width] = LazyPoint(**payload)
    return LazyReference(config=cfg, points=points, manifest=manifest)


@dataclass
class Verification(store.Verification):
    """One re-run (task, width) of the reference: its learning rate, final loss, movement, distances, kernel
    change (and MNIST accuracies), stored and recomputed."""

    task: str
    width: int
    stored: np.ndarray
    recomputed: np.ndarray


def _checked(point: LazyPoint) -> np.ndarray:
    return np.array([point.lr, point.losses[-1], point.movement, point.distance, point.rel_distance,
                     point.kernel_change, *(point.acc[k] for k in sorted(point.acc))], dtype=float)


def verify(reference: LazyReference, *, seed: int = 0, device=None) -> Verification:
    """Re-run one (task, width) of the reference, drawn at random (``seed``), from its config and compare.

    The draw is among the widths whose stored run took at most ``VERIFY_CPU_SECONDS`` (60 s) of CPU time,
    so a sample re-runs in about a minute on one CPU thread (the widest MNIST networks, minutes each, are
    never re-run; the cheapest width is the fallback if none qualifies). On the machine and thread count
    that made the reference the recomputed numbers are bit-for-bit the stored ones. ``device=None``: the
    manifest's device.
    """
    check_positive_int("seed", seed, minimum=0)
    if not isinstance(reference, LazyReference):
        raise LotteryLabError(f"reference must be a LazyReference (from load()), not {type(reference).__name__}.")
    if not reference.points:
        raise LotteryLabError("reference has no stored widths to re-run.")
    device = store.usable_device(str(device or (reference.manifest.device if reference.manifest else "cpu")))
    keys = sorted(reference.points)
    cheap = [k for k in keys if reference.points[k].cpu_seconds <= VERIFY_CPU_SECONDS] or \
        [min(keys, key=lambda k: reference.points[k].cpu_seconds)]
    task, width = cheap[np.random.default_rng(seed).integers(len(cheap))]
    data = load_mnist_subset(seed=SEEDS[0], device=device)
    again = LazyPoint(**_measure(reference.config, _task(reference.config, task, data), width))
    return Verification(task, width, _checked(reference.points[task, width]), _checked(again))


def wall_seconds(reference: LazyReference) -> float:
    """Seconds of every (task, width) summed, whichever session made it."""
    return float(sum(p.seconds for p in reference.points.values()))

