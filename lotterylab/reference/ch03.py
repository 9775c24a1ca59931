"""Chapter 3's reference: edge-popup tickets against width, next to trained dense networks.

LeNet-300-100 shapes at width x1, x2, x4 and x8 on the MNIST subset; frozen signed Kaiming constant
weights (``weight_seed`` 0); 3 score seeds (``copies``) per width on the *same* weights, scores trained
for 30 epochs (SGD, lr 0.1, cosine), k = 0.5; the dense network of each width trained with Adam for
5,000 steps (early-stopping test accuracy; the same dense networks as chapter 5's reference, whose files
are copied when their keys match). One file per piece (accuracies only), so the run resumes.
:func:`verify` re-runs one random piece at width x1 (each under a minute at one CPU thread).

Example:
    >>> config().widths, config().methods, config().init, config().copies
    ((1, 2, 4, 8), ('edge_popup',), 'signed_constant', 3)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from lotterylab.reference import ch05
from lotterylab.reference.store import reference_dir
from lotterylab.reference.width_store import Verification, WidthReference, load_store, run_store, verify_store
from lotterylab.width_sweep import WidthSweepConfig

__all__ = ["CHAPTER", "SEEDS", "TITLE", "Verification", "WidthReference", "config", "configs", "load", "run",
           "verify", "wall_seconds"]

CHAPTER = 3
TITLE = ("Edge-popup tickets (signed Kaiming constant weights, k = 0.5, 3 score seeds, 30 epochs) and trained "
         "dense LeNet-300-100, widths x1-x8")
SEEDS = [0]          # the frozen weights, dense init and data order; score seeds are 1, 2, 3 (copies)
VERIFY_WIDTHS = (1,)


def config() -> WidthSweepConfig:
    """Chapter 5's sweep with edge-popup only, on signed Kaiming constant weights (the edge-popup paper's best)."""
    return dataclasses.replace(ch05.config(), methods=("edge_popup",), init="signed_constant")


def configs() -> list[WidthSweepConfig]:
    return [config()]


def run(directory=None, *, device=None, progress=None) -> WidthReference:
    """Train (or resume) every piece into ``directory`` (default: the store's ``reference/ch03``)."""
    return run_store(config(), reference_dir(CHAPTER) if directory is None else directory, device=device,
                     progress=progress, reuse=reference_dir(ch05.CHAPTER))


def load(directory=None) -> WidthReference:
    """Load the stored pieces without training; a missing, damaged or stale file raises with the command."""
    return load_store(config(), Path(directory) if directory is not None else reference_dir(CHAPTER),
                      chapter=CHAPTER)


def verify(reference: WidthReference, *, seed: int = 0, device=None) -> Verification:
    """Re-run one (edge-popup or dense, width x1) piece drawn at random (``seed``) and compare its accuracies.

    Width x1 only: each such piece re-runs in under a minute at one CPU thread; the same machine gives the
    same bits.
    """
    return verify_store(reference, seed=seed, device=device, widths=VERIFY_WIDTHS)


def wall_seconds(reference: WidthReference) -> float:
    """Training seconds summed over every piece, whichever session made it."""
    return reference.seconds
