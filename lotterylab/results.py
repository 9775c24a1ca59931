"""One results cache: finished work on disk, keyed by everything that decides the numbers.

:func:`cached` returns a stored result when its file loads safely and its key matches, and
otherwise computes, saves and returns it. :func:`experiment_key` builds the key: the experiment's
config, a fingerprint of the data, the model's name, the seeds, the device type, the dtype and an
explicit ``version`` that an experiment bumps when its code changes what it computes (editing a plot
label does not throw away hours of results).

A stale file (another key), a corrupt file and a wrong-shape file (``validate`` says no) each give
a warning saying why, and are recomputed. Files load with ``torch.load(weights_only=True)``: only
tensors, plain containers, numpy arrays and lotterylab's own classes, so a shared results file
cannot run code.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.pt"
    >>> key = experiment_key(1, config={"lr": 0.1}, seeds=range(2))
    >>> cached(path, key, lambda: {"acc": [0.9, 0.8]})
    {'acc': [0.9, 0.8]}
    >>> cached(path, key, lambda: 1 / 0)   # loaded: compute is not called
    {'acc': [0.9, 0.8]}
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import hashlib
import importlib
import io
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lotterylab.errors import LotteryLabError

__all__ = [
    "ENV_RESULTS",
    "cached",
    "experiment_key",
    "fingerprint",
    "load_results",
    "model_name",
    "provenance",
    "read_key",
    "results_dir",
    "save_results",
]

ENV_RESULTS = "LOTTERYLAB_RESULTS"
_FORMAT = 2  # bump when the file layout below changes


def results_dir() -> Path:
    """Where chapters keep resumable results: ``$LOTTERYLAB_RESULTS`` or ``./lotterylab-results``."""
    return Path(os.environ.get(ENV_RESULTS, "lotterylab-results"))


def provenance() -> dict[str, str]:
    """Package version, torch version and the current UTC time (stored with every result)."""
    from lotterylab import __version__

    return {"lotterylab": __version__, "torch": str(torch.__version__),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def fingerprint(data: Any) -> str:
    """SHA-256 (16 hex digits) of every tensor in ``data``: a Split, a mapping, a tensor or a sequence.

    Example:
        >>> fingerprint(torch.zeros(3)) == fingerprint(torch.zeros(3)), fingerprint(torch.zeros(3)) == fingerprint(torch.ones(3))
        (True, False)
    """
    h = hashlib.sha256()

    def visit(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"{tuple(t.shape)}{t.dtype}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(x, np.ndarray):
            visit(torch.from_numpy(np.ascontiguousarray(x)))
        elif dataclasses.is_dataclass(x) and not isinstance(x, type):
            for f in dataclasses.fields(x):
                h.update(f.name.encode())
                visit(getattr(x, f.name))
        elif isinstance(x, Mapping):
            for k in sorted(x, key=str):
                h.update(str(k).encode())
                visit(x[k])
        elif isinstance(x, (list, tuple)):
            for item in x:
                visit(item)
        else:
            h.update(repr(x).encode())

    visit(data)
    return h.hexdigest()[:16]


def model_name(model_fn: Any) -> str:
    """A stable name for a model constructor: ``module.qualname`` (with a partial's arguments).

    Raises for a lambda or a local function, whose name cannot tell two models apart.

    Example:
        >>> from lotterylab.models import lenet_300_100
        >>> model_name(lenet_300_100)
        'lotterylab.models.lenet_300_100'
    """
    if isinstance(model_fn, functools.partial):
        args = ", ".join([repr(a) for a in model_fn.args] + [f"{k}={v!r}" for k, v in sorted(model_fn.keywords.items())])
        return f"{model_name(model_fn.func)}({args})"
    qualname = getattr(model_fn, "__qualname__", None)
    if qualname is None or "<lambda>" in qualname or "<locals>" in qualname:
        raise LotteryLabError(f"model_fn={model_fn!r} has no stable name for the results cache; pass a "
                              "module-level function or a functools.partial of one, not a lambda or a local function.")
    return f"{model_fn.__module__}.{qualname}"


def _plain(value: Any) -> Any:
    """Dataclasses (also nested in dicts, lists and tuples) as plain dicts, so a key loads safely."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, torch.dtype):
        return str(value)
    return value


def experiment_key(version: int | str, *, config: Any = None, data: Any = None, model: Any = None,
                   seeds: Any = None, device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                   **extra: Any) -> dict:
    """The cache key of one experiment: whatever decides its numbers, as a plain dict.

    ``version`` is the experiment's own version (bump it when its code changes the numbers);
    ``config`` a dataclass or dict; ``data`` anything :func:`fingerprint` takes; ``model`` a model
    constructor (see :func:`model_name`); ``seeds`` an iterable of integers (numpy and torch integers
    too). ``extra`` keyword arguments are stored as given.
    """
    key: dict[str, Any] = {"format": _FORMAT, "version": version}
    if config is not None:
        key["config"] = _plain(config)
    if data is not None:
        key["data"] = fingerprint(data)
    if model is not None:
        key["model"] = model if isinstance(model, str) else model_name(model)
    if seeds is not None:
        key["seeds"] = [int(s) for s in (seeds.tolist() if hasattr(seeds, "tolist") else seeds)]
    if device is not None:
        key["device"] = torch.device(device).type
    if dtype is not None:
        if not isinstance(dtype, torch.dtype):
            raise LotteryLabError(f"dtype={dtype!r} must be a torch.dtype, e.g. torch.float32.")
        key["dtype"] = str(dtype)
    key.update({k: _plain(v) for k, v in extra.items()})
    return key


def _own_types(payload: Any) -> set[type]:
    """The lotterylab classes inside ``payload`` (the only classes a safe load will accept)."""
    found: set[type] = set()
    seen: set[int] = set()

    def visit(x: Any) -> None:
        if id(x) in seen or isinstance(x, (torch.Tensor, np.ndarray, str, bytes, int, float, bool, type(None))):
            return
        seen.add(id(x))
        cls = type(x)
        if cls.__module__.startswith("lotterylab."):
            found.add(cls)
            visit(vars(x) if hasattr(x, "__dict__") else [getattr(x, s) for s in getattr(cls, "__slots__", ())])
        elif isinstance(x, Mapping):
            for k, v in x.items():
                visit(k)
                visit(v)
        elif isinstance(x, (list, tuple, set, frozenset)):
            for item in x:
                visit(item)

    visit(payload)
    return found


def _numpy_types() -> list:
    """The numpy pieces an array or scalar pickle names (numpy 2 moved them to ``numpy._core``)."""
    core = np._core if hasattr(np, "_core") else np.core
    return [np.ndarray, np.dtype, core.multiarray._reconstruct, core.multiarray.scalar] + [
        type(np.dtype(t)) for t in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                                    np.uint8, np.bool_, np.complex64, np.complex128)]


def save_results(path: str | Path, payload: Any, *, key: dict) -> None:
    """Atomically write ``payload`` with its ``key`` and provenance to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inner = io.BytesIO()
    torch.save(payload, inner)
    types = sorted(f"{c.__module__}:{c.__qualname__}" for c in _own_types(payload))
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"key": key, "provenance": provenance(), "types": types, "payload": inner.getvalue()}, tmp)
    os.replace(tmp, path)


def _resolve(name: str) -> type:
    module, _, qualname = name.partition(":")
    if not module.startswith("lotterylab."):
        raise LotteryLabError(f"refusing to load a class from outside lotterylab: {name!r}")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def load_results(path: str | Path, *, key: dict, validate: Callable[[Any], bool] | None = None) -> Any | None:
    """The payload stored at ``path`` if it exists, loads safely, matches ``key`` and passes ``validate``.

    Otherwise ``None`` (the caller recomputes); every case but a missing file warns, saying why.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored["key"] != key:
            warnings.warn(f"{path} was made with a different configuration; recomputing.", stacklevel=2)
            return None
        with torch.serialization.safe_globals(_numpy_types() + [_resolve(t) for t in stored["types"]]):
            payload = torch.load(io.BytesIO(stored["payload"]), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is treated as stale
        warnings.warn(f"{path} is unreadable ({type(exc).__name__}); recomputing.", stacklevel=2)
        return None
    try:
        ok = validate is None or bool(validate(payload))
    except Exception:  # noqa: BLE001 - a payload the validator cannot read has the wrong shape
        ok = False
    if not ok:
        warnings.warn(f"{path} holds results of the wrong shape; recomputing.", stacklevel=2)
        return None
    return payload


def read_key(path: str | Path) -> dict | None:
    """The key stored in the results file at ``path`` (None if it is missing or unreadable); nothing else is loaded.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "k.pt"
        >>> save_results(path, [1], key={"a": 1}); read_key(path), read_key(path.with_name("none.pt"))
        ({'a': 1}, None)
    """
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)["key"]
    except Exception:  # noqa: BLE001 - missing or damaged: the caller says which
        return None


def cached(path: str | Path, key: dict, compute: Callable[[], Any], *,
           validate: Callable[[Any], bool] | None = None) -> Any:
    """Load the result at ``path`` if its ``key`` matches (see :func:`load_results`), else compute and save it.

    ``key`` is usually made by :func:`experiment_key`. ``validate(payload) -> bool`` rejects a file
    whose contents have the wrong shape (for example fewer seeds than asked for).
    """
    if not isinstance(key, Mapping):
        raise LotteryLabError(f"key must be a dict (see experiment_key), not {type(key).__name__}.")
    if not callable(compute):
        raise LotteryLabError(f"compute must be a function of no arguments, not {type(compute).__name__}.")
    payload = load_results(path, key=dict(key), validate=validate)
    if payload is None:
        payload = compute()
        save_results(path, payload, key=dict(key))
    return payload
