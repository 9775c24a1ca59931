"""Pick the device a chapter runs on: an accelerator when present, else the CPU.

Set ``LOTTERYLAB_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) to override the choice.
Functions in lotterylab never move data behind your back: they follow their inputs' device.

Example:
    >>> import os
    >>> os.environ["LOTTERYLAB_DEVICE"] = "cpu"
    >>> get_device()
    device(type='cpu')
    >>> del os.environ["LOTTERYLAB_DEVICE"]
"""
from __future__ import annotations

import os

import torch

from lotterylab.errors import LotteryLabError

__all__ = ["ENV_DEVICE", "describe_device", "get_device"]

ENV_DEVICE = "LOTTERYLAB_DEVICE"
_KINDS = ("cpu", "cuda", "mps")

_NO_GPU_NOTE = (
    "No GPU found: running on the CPU. Every chapter is sized to run here with the 'quick' preset. "
    "On Colab choose Runtime > Change runtime type > GPU, then re-run; on a workstation install a "
    "CUDA build of torch."
)


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    return True


def get_device(name: str | None = None, *, verbose: bool = False) -> torch.device:
    """Return the device to use: ``name``, else ``$LOTTERYLAB_DEVICE``, else CUDA/MPS/CPU.

    Raises :class:`LotteryLabError` for an unknown device name or one that is not available.
    With ``verbose=True`` it prints one line saying what it chose (and how to get a GPU).
    """
    requested = name if name is not None else os.environ.get(ENV_DEVICE) or None
    if requested is not None:
        kind = str(requested).split(":")[0].strip().lower()
        if kind not in _KINDS:
            source = "name" if name is not None else ENV_DEVICE
            raise LotteryLabError(
                f"{source}={requested!r} is not a device lotterylab knows; choose one of "
                f"{', '.join(repr(k) for k in _KINDS)} (optionally with an index, e.g. 'cuda:1')."
            )
        if not _available(kind):
            raise LotteryLabError(
                f"device {requested!r} was requested but is not available on this machine; "
                f"use 'cpu' or unset {ENV_DEVICE}."
            )
        device = torch.device(str(requested).strip().lower())
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif _available("mps"):
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if verbose:
        print(describe_device(device))
    return device


def describe_device(device: torch.device) -> str:
    """A one-line, learner-friendly description of ``device``."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"Running on GPU: {torch.cuda.get_device_name(index)} ({device})."
    if device.type == "mps":
        return "Running on the Apple-silicon GPU (mps)."
    return _NO_GPU_NOTE if not torch.cuda.is_available() else "Running on the CPU (by request)."
