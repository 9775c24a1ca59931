"""Chapter 5's reference: biprop and edge-popup tickets against width, next to trained dense networks.

LeNet-300-100 shapes at width x1, x2, x4 and x8 on the MNIST subset; frozen Kaiming-normal weights
(``weight_seed`` 0); 3 score seeds (``copies``) per (method, width) on the *same* weights, scores
trained for 30 epochs (SGD, lr 0.1, cosine), k = 0.5; the dense network of each width trained
with Adam for 5,000 steps (early-stopping test accuracy). One file per piece (accuracies only), so the
run resumes. :func:`verify` re-runs one random piece at width x1 (each under a minute at one CPU thread).

Example:
    >>> config().widths, config().methods, config().copies, config().scores.epochs
    ((1, 2, 4, 8), ('biprop', 'edge_popup'), 3, 30)
"""
from __future__ import annotations

from pathlib import Path

from lotterylab.reference.store import reference_dir
from lotterylab.reference.width_store import Verification, WidthReference, load_store, run_store, verify_store
from lotterylab.supermasks import ScoreTrainConfig
from lotterylab.training import TrainConfig
from lotterylab.width_sweep import WidthSweepConfig

__all__ = ["CHAPTER", "SEEDS", "TITLE", "Verification", "WidthReference", "config", "configs", "load", "run",
           "verify", "wall_seconds"]

CHAPTER = 5
TITLE = ("Biprop and edge-popup tickets (Kaiming-normal weights, k = 0.5, 3 score seeds, 30 epochs) and trained "
         "dense LeNet-300-100, widths x1-x8")
SEEDS = [0]          # the frozen weights, dense init and data order; score seeds are 1, 2, 3 (copies)
VERIFY_WIDTHS = (1,)


def config() -> WidthSweepConfig:
    return WidthSweepConfig(widths=(1, 2, 4, 8), methods=("biprop", "edge_popup"), init="kaiming_normal",
                            density=0.5, copies=3, scores=ScoreTrainConfig(epochs=30),
                            dense=TrainConfig(steps=5000, eval_every=100), seed=SEEDS[0])


def configs() -> list[WidthSweepConfig]:
    return [config()]


def run(directory=None, *, device=None, progress=None) -> WidthReference:
    """Train (or resume) every piece into ``directory`` (default: the store's ``reference/ch05``)."""
    return run_store(config(), reference_dir(CHAPTER) if directory is None else directory, device=device,
                     progress=progress)


def load(directory=None) -> WidthReference:
    """Load the stored pieces without training; a missing, damaged or stale file raises with the command."""
    return load_store(config(), Path(directory) if directory is not None else reference_dir(CHAPTER),
                      chapter=CHAPTER)


def verify(reference: WidthReference, *, seed: int = 0, device=None) -> Verification:
    """Re-run one (method or dense, width x1) piece drawn at random (``seed``) and compare its accuracies.

    Width x1 only: each such piece re-runs in under a minute at one CPU thread; the same machine gives the
    same bits.
    """
    return verify_store(reference, seed=seed, device=device, widths=VERIFY_WIDTHS)


def wall_seconds(reference: WidthReference) -> float:
    """Training seconds summed over every piece, whichever session made it."""
    return reference.seconds
