"""The reference store: results made once at paper-like scale, kept in ``reference/chNN/`` with a manifest.

A chapter's reference is a folder of results-cache files (:mod:`lotterylab.results`) and a
``manifest.json`` that names the command, the config and seeds, the device, torch and commit, the
wall time, the date, and a SHA-256 of every file. :func:`load_manifest` refuses a missing folder, a
damaged manifest or a file whose hash differs, each with the command that remakes it; the chapter
modules refuse a file made with another config or code version (``StaleReference``).

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "a.pt").write_bytes(b"x")
    1
    >>> m = write_manifest(d, chapter=7, title="demo", config={"n": 1}, seeds=[0], device="cpu", wall_seconds=1.0)
    >>> load_manifest(d, chapter=7).files == m.files
    True
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError
from lotterylab.results import load_results, read_key

__all__ = [
    "ENV_REFERENCE",
    "Manifest",
    "MissingReference",
    "StaleReference",
    "Verification",
    "load_manifest",
    "reference_dir",
    "refresh_command",
    "usable_device",
    "write_manifest",
]

ENV_REFERENCE = "LOTTERYLAB_REFERENCE"
MANIFEST = "manifest.json"


class MissingReference(LotteryLabError):
    """A reference folder, manifest or file is missing or damaged."""


class StaleReference(LotteryLabError):
    """A reference file was made with another config or code version than the package now asks for."""


def refresh_command(chapter: int) -> str:
    """The command that (re)makes a chapter's reference.

    Example:
        >>> refresh_command(7)
        'make reference CH=7   (or: python -m lotterylab.reference 7)'
    """
    return f"make reference CH={chapter}   (or: python -m lotterylab.reference {chapter})"


def reference_dir(chapter: int) -> Path:
    """``$LOTTERYLAB_REFERENCE/chNN`` if set, else ``reference/chNN`` at the repository root."""
    if isinstance(chapter, bool) or not isinstance(chapter, int) or not 1 <= chapter <= 99:
        raise LotteryLabError(f"chapter={chapter!r} must be a chapter number (an int from 1 to 99).")
    root = os.environ.get(ENV_REFERENCE) or Path(__file__).resolve().parents[2] / "reference"
    return Path(root) / f"ch{chapter:02d}"


@dataclass(frozen=True)
class Manifest:
    """What made a reference: enough to rerun it and to check that its files are the ones it wrote."""

    chapter: int
    title: str
    command: str
    config: dict
    seeds: list
    device: str                      # device type the keys were made with: "cpu" or "cuda"
    device_name: str                 # e.g. "CPU: x86_64, 2 threads" or the GPU's name
    torch: str
    commit: str
    wall_seconds: float
    date: str
    files: dict = field(default_factory=dict)   # file name -> SHA-256

    def describe(self) -> str:
        """One line for a caption: command, device, torch, commit, wall time and where the manifest is."""
        return (f"reference run: `{self.command}` on {self.device_name}, torch {self.torch}, commit {self.commit}, "
                f"{self.wall_seconds / 60:.0f} min of compute, {self.date[:10]} "
                f"(manifest: reference/ch{self.chapter:02d}/{MANIFEST})")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parents[2],
                             capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _device_name(device: str) -> str:
    if device == "cuda" and torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    n = torch.get_num_threads()
    return f"CPU: {platform.machine()}, {n} thread{'' if n == 1 else 's'}"


def write_manifest(directory, *, chapter: int, title: str, config: dict, seeds, device: str,
                   wall_seconds: float, command: str | None = None) -> Manifest:
    """Hash every file in ``directory`` (but the manifest) and write ``manifest.json`` there."""
    directory = Path(directory)
    files = {p.name: _sha256(p) for p in sorted(directory.iterdir()) if p.is_file() and p.name != MANIFEST}
    manifest = Manifest(chapter=chapter, title=title, command=command or f"python -m lotterylab.reference {chapter}",
                        config=config, seeds=list(seeds), device=str(device), device_name=_device_name(str(device)),
                        torch=str(torch.__version__), commit=_commit(), wall_seconds=float(wall_seconds),
                        date=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), files=files)
    (directory / MANIFEST).write_text(json.dumps(dataclasses.asdict(manifest), indent=1) + "\n")
    return manifest


def load_manifest(directory, *, chapter: int) -> Manifest:
    """The manifest in ``directory``, after checking that every file it names is there with its hash."""
    directory, how = Path(directory), refresh_command(chapter)
    path = directory / MANIFEST
    if not path.exists():
        raise MissingReference(f"chapter {chapter} has no reference run: {path} is missing. Make it with: {how}")
    try:
        manifest = Manifest(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise MissingReference(f"{path} is damaged ({exc}). Remake the reference with: {how}") from None
    for name, digest in manifest.files.items():
        file = directory / name
        if not file.exists():
            raise MissingReference(f"{file}, named in {path}, is missing. Restore it (git checkout) or run: {how}")
        if _sha256(file) != digest:
            raise MissingReference(f"{file} differs from the file the reference run wrote (SHA-256 mismatch). "
                                   f"Restore it (git checkout) or run: {how}")
    return manifest


def load_stored(path, key: dict, *, chapter: int):
    """The payload of one reference file, refusing a missing or unreadable file (``MissingReference``) and
    one made with another key, naming the fields that differ (``StaleReference``); never recomputes."""
    stored, how = read_key(path), refresh_command(chapter)
    if stored is None:
        raise MissingReference(f"{path} is missing or unreadable; remake it with: {how}")
    if stored != key:
        changed = sorted(k for k in set(key) | set(stored) if key.get(k) != stored.get(k))
        raise StaleReference(f"{path} was made with another {', '.join(changed)} than the package now uses; "
                             f"refresh it with: {how}")
    return load_results(path, key=key)


def usable_device(device) -> torch.device:
    """:func:`~lotterylab.device.get_device` for a reference run, refusing an unusable device by name.

    Example:
        >>> usable_device("cpu").type
        'cpu'
    """
    try:
        return get_device(None if device is None else str(device))
    except LotteryLabError as exc:
        raise LotteryLabError(f"device={device!r} is not usable: {exc}") from None


class Verification:
    """Base of every chapter's re-run sample: a dataclass with ``stored`` and ``recomputed`` arrays of the
    same numbers, and the largest relative difference between them (an exact zero is compared absolutely).

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Check(Verification):
        ...     stored: np.ndarray
        ...     recomputed: np.ndarray
        >>> Check(np.array([2.0, 0.0]), np.array([2.5, 0.0])).max_rel_error
        0.25
    """

    stored: np.ndarray
    recomputed: np.ndarray

    @property
    def max_rel_error(self) -> float:
        scale = np.where(self.stored != 0, np.abs(self.stored), 1.0)
        return float(np.max(np.abs(self.recomputed - self.stored) / scale))
