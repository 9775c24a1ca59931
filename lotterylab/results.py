"""Results on disk that know where they came from, so a stale cache is never shown.

Every file stores a ``key`` (the experiment's config, seeds, device, dtype: whatever decides the
numbers) next to its ``provenance`` (package version and a hash of its source, torch version,
date). :func:`load_results` returns ``None`` (recompute) unless the key and the source hash match
and the file loads cleanly.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.pt"
    >>> save_results(path, {"acc": [0.9]}, key={"seed": 0})
    >>> load_results(path, key={"seed": 0})
    {'acc': [0.9]}
    >>> load_results(path, key={"seed": 1}) is None
    True
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

__all__ = ["provenance", "source_hash", "save_results", "load_results", "results_dir", "ENV_RESULTS"]

ENV_RESULTS = "LOTTERYLAB_RESULTS"


@lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 (first 16 hex digits) of the package's own ``.py`` files."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def provenance() -> dict[str, str]:
    """Package version, source hash, torch version and the current UTC time."""
    from lotterylab import __version__

    return {"lotterylab": __version__, "source_hash": source_hash(), "torch": torch.__version__,
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def results_dir() -> Path:
    """Where chapters keep resumable results: ``$LOTTERYLAB_RESULTS`` or ``./lotterylab-results``."""
    return Path(os.environ.get(ENV_RESULTS, "lotterylab-results"))


def save_results(path: str | Path, payload: Any, *, key: dict) -> None:
    """Atomically write ``payload`` with its ``key`` and provenance to ``path`` (``torch.save``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"key": key, "provenance": provenance(), "payload": payload}, tmp)
    os.replace(tmp, path)


def load_results(path: str | Path, *, key: dict, check_source: bool = True) -> Any | None:
    """Return the payload stored at ``path`` if it exists, loads, and matches ``key`` (else ``None``).

    A mismatch or a corrupted file gives a warning saying why, and ``None`` so the caller recomputes.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=False)
        stored_key, prov, payload = stored["key"], stored["provenance"], stored["payload"]
    except Exception as exc:  # noqa: BLE001 - any unreadable file is treated as stale
        warnings.warn(f"{path} is unreadable ({type(exc).__name__}); recomputing.", stacklevel=2)
        return None
    if stored_key != key:
        warnings.warn(f"{path} was made with a different configuration; recomputing.", stacklevel=2)
        return None
    if check_source and prov.get("source_hash") != source_hash():
        warnings.warn(f"{path} was made by another version of lotterylab "
                      f"({prov.get('source_hash')} != {source_hash()}); recomputing.", stacklevel=2)
        return None
    return payload
