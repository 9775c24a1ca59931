"""The store behind chapters 3 and 5's reference runs: one width sweep, one results file per piece.

A piece is a (method, width) of score training or a dense width (:func:`lotterylab.width_sweep.pieces`);
its file ``{kind}_w{width}.pt`` holds only accuracies and seconds (no weights), under the key
:func:`~lotterylab.width_sweep.piece_key`, so a stopped run resumes and a changed config is refused
as stale. Chapter 3 re-uses chapter 5's dense files when their keys match (the same dense networks).

Example:
    >>> piece_file("edge_popup", 8), piece_file("dense", 1.5)
    ('edge_popup_w8.pt', 'dense_w1.5.pt')
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lotterylab.data import load_mnist_subset
from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError, check_positive_int
from lotterylab.progress import check_progress, progress_bar
from lotterylab.reference.store import Manifest, load_manifest, load_stored
from lotterylab.results import cached, read_key
from lotterylab.width_sweep import WidthSweepConfig, piece_key, pieces, train_dense, train_ticket

__all__ = ["Verification", "WidthReference", "load_store", "piece_file", "run_store", "verify_store"]


def piece_file(kind: str, width: float) -> str:
    return f"{kind}_w{width:g}.pt"


@dataclass
class WidthReference:
    """A loaded (or just computed) width-sweep reference: ``runs[(kind, width)]`` is a piece's dict."""

    config: WidthSweepConfig
    runs: dict
    manifest: Manifest | None = None

    def accuracies(self, kind: str) -> list:
        """Per width of the config: the copies' test accuracies (a method) or one accuracy (``"dense"``)."""
        return [self.runs[kind, w]["acc"] for w in self.config.widths]

    def means(self, kind: str) -> list[float]:
        """Per width: the mean test accuracy over the copies (a method) or the dense accuracy."""
        return [float(np.mean(a)) for a in self.accuracies(kind)]

    @property
    def seconds(self) -> float:
        """Compute seconds summed over every piece, whichever session made it."""
        return float(sum(r["seconds"] for r in self.runs.values()))


def _compute(config, kind, width, data, device):
    if kind == "dense":
        return train_dense(config, width, data, device=device)
    return train_ticket(config, kind, width, data, device=device)


def _valid(config, kind):
    def ok(piece) -> bool:
        acc = piece["acc"]
        return isinstance(piece["seconds"], float) and (
            isinstance(acc, float) if kind == "dense" else len(acc) == config.copies)
    return ok


def run_store(config: WidthSweepConfig, directory, *, device=None, progress=None, reuse=None) -> WidthReference:
    """Train (or load) every piece of ``config`` into ``directory``, narrow widths first.

    ``reuse``: another store folder; a piece file there with the same key is copied, not recomputed.
    ``progress``: a tqdm-like bar updated once per piece, or None for a bar of its own.
    """
    if not isinstance(directory, (str, Path)):
        raise LotteryLabError(f"directory must be a folder path, not {type(directory).__name__}.")
    check_progress(progress)
    try:
        device = get_device(None if device is None else str(device))
    except LotteryLabError as exc:
        raise LotteryLabError(f"device={device!r} is not usable: {exc}") from None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = load_mnist_subset(seed=0, device=device)
    todo = pieces(config)
    bar = progress if progress is not None else progress_bar(total=len(todo), desc="width-sweep reference (pieces)")
    runs = {}
    try:
        for kind, width in todo:
            path, key = directory / piece_file(kind, width), piece_key(config, kind, width, data, device)
            other = Path(reuse) / piece_file(kind, width) if reuse is not None else None
            if other is not None and read_key(path) != key and read_key(other) == key:
                shutil.copyfile(other, path)
            if hasattr(bar, "set_postfix_str"):
                bar.set_postfix_str(f"{kind} x{width:g}")
            runs[kind, width] = cached(path, key, lambda k=kind, w=width: _compute(config, k, w, data, device),
                                       validate=_valid(config, kind))
            bar.update(1)
    finally:
        if progress is None:
            bar.close()
    return WidthReference(config, runs)


def load_store(config: WidthSweepConfig, directory, *, chapter: int) -> WidthReference:
    """Load every piece without training; a missing, damaged or stale file raises with the command."""
    directory = Path(directory)
    manifest = load_manifest(directory, chapter=chapter)
    data = load_mnist_subset(seed=0, device=manifest.device)
    runs = {(kind, w): load_stored(directory / piece_file(kind, w),
                                   piece_key(config, kind, w, data, manifest.device), chapter=chapter)
            for kind, w in pieces(config)}
    return WidthReference(config, runs, manifest)


@dataclass
class Verification:
    """One re-run piece: its test accuracies (one per copy, or the dense one), stored and recomputed."""

    kind: str
    width: float
    stored: np.ndarray
    recomputed: np.ndarray

    @property
    def max_rel_error(self) -> float:
        return float(np.max(np.abs(self.recomputed - self.stored) / np.abs(self.stored)))


def verify_store(reference: WidthReference, *, seed: int = 0, device=None, widths=(1,)) -> Verification:
    """Re-run one piece drawn at random (``seed``) among those whose width is in ``widths``, and compare."""
    check_positive_int("seed", seed, minimum=0)
    if not isinstance(reference, WidthReference):
        raise LotteryLabError(f"reference must be a WidthReference (from load()), not {type(reference).__name__}.")
    candidates = [(k, w) for k, w in pieces(reference.config) if w in widths]
    if not candidates:
        raise LotteryLabError(f"widths={widths!r} holds none of the reference's widths {reference.config.widths}.")
    kind, width = candidates[np.random.default_rng(seed).integers(len(candidates))]
    device = device or (reference.manifest.device if reference.manifest is not None else None)
    data = load_mnist_subset(seed=0, device=get_device(None if device is None else str(device)))
    again = _compute(reference.config, kind, width, data, data.X_train.device)
    return Verification(kind, width, np.atleast_1d(np.asarray(reference.runs[kind, width]["acc"], dtype=float)),
                        np.atleast_1d(np.asarray(again["acc"], dtype=float)))
