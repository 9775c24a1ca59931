"""Reference runs: each chapter's headline experiment made once at paper-like scale and shipped.

``reference/chNN/`` holds results-cache files and a ``manifest.json`` (command, config, seeds, device,
torch, commit, wall time, date, file hashes). A chapter module (``lotterylab.reference.ch07``, ...) has
``run`` (train or resume), ``load`` (read only: missing, damaged or stale files raise with the command
that refreshes them) and ``verify`` (re-run a random sample). A quick book build only ever loads.

    python -m lotterylab.reference 7        # or: make reference CH=7

Example:
    >>> sorted(CHAPTERS)
    [1, 2, 3, 5, 6, 7]
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import time

from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError
from lotterylab.reference.store import (
    ENV_REFERENCE,
    Manifest,
    MissingReference,
    StaleReference,
    load_manifest,
    reference_dir,
    refresh_command,
    write_manifest,
)

__all__ = ["CHAPTERS", "ENV_REFERENCE", "Manifest", "MissingReference", "StaleReference", "chapter_module",
           "load_manifest", "reference_dir", "refresh_command", "run_reference", "write_manifest"]

CHAPTERS = {1: "lotterylab.reference.ch01", 2: "lotterylab.reference.ch02", 3: "lotterylab.reference.ch03",
            5: "lotterylab.reference.ch05", 6: "lotterylab.reference.ch06", 7: "lotterylab.reference.ch07"}


def chapter_module(chapter: int):
    """The module that makes, loads and verifies ``chapter``'s reference."""
    if chapter not in CHAPTERS:
        raise LotteryLabError(f"chapter={chapter!r} has no reference run; choose from {sorted(CHAPTERS)}.")
    return importlib.import_module(CHAPTERS[chapter])


def _plain_configs(module) -> tuple[dict, list]:
    configs = module.sweep_configs() if hasattr(module, "sweep_configs") else module.configs()
    plain = [json.loads(json.dumps(dataclasses.asdict(c), default=str)) for c in configs]
    seeds = getattr(module, "SEEDS", None) or sorted({s for c in configs for s in c.seeds})
    return {"configs": plain}, seeds


def run_reference(chapter: int, *, device=None, progress=None) -> Manifest:
    """Make (or resume) ``chapter``'s reference in its store folder and write its manifest.

    The manifest's wall time adds the seconds each finished piece recorded, so a resumed run
    reports the whole compute, not only the last session's.
    """
    module = chapter_module(chapter)
    device = get_device(device)
    directory = reference_dir(chapter)
    directory.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    result = module.run(directory, device=device, progress=progress)
    wall = module.wall_seconds(result) if hasattr(module, "wall_seconds") else time.time() - t0
    config, seeds = _plain_configs(module)
    return write_manifest(directory, chapter=chapter, title=module.TITLE, config=config, seeds=seeds,
                          device=device.type, wall_seconds=wall, command=f"make reference CH={chapter}")
