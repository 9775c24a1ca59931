"""Two sizes for every experiment: ``quick`` (a 2-core CPU in minutes) and ``full`` (paper scale).

The default is ``full`` on a GPU and ``quick`` elsewhere; set ``LOTTERYLAB_PRESET`` to override.
Each chapter's config dataclass has a ``for_preset(name)`` constructor built on :func:`pick`.

Example:
    >>> get_preset("quick")
    'quick'
    >>> pick("quick", quick=7, full=15)
    7
"""
from __future__ import annotations

import os
from typing import TypeVar

import torch

from lotterylab.errors import check_choice

__all__ = ["ENV_PRESET", "PRESETS", "get_preset", "pick"]

PRESETS = ("quick", "full")
ENV_PRESET = "LOTTERYLAB_PRESET"
T = TypeVar("T")


def get_preset(name: str | None = None) -> str:
    """Return ``name``, else ``$LOTTERYLAB_PRESET``, else ``full`` with CUDA and ``quick`` without."""
    if name is not None:
        return check_choice("preset", name, PRESETS)
    env = os.environ.get(ENV_PRESET)
    if env:
        return check_choice(ENV_PRESET, env.strip().lower(), PRESETS)
    return "full" if torch.cuda.is_available() else "quick"


def pick(preset: str, *, quick: T, full: T) -> T:
    """Choose between two values by preset name (validated)."""
    check_choice("preset", preset, PRESETS)
    return quick if preset == "quick" else full
