"""Seeds: one visible call per chapter, and explicit generators everywhere else.

Example:
    >>> seed_everything(0)
    >>> g = make_generator(1)
    >>> int(torch.randint(0, 100, (1,), generator=g))
    45
"""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["make_generator", "seed_everything"]


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) with ``seed``.

    With ``deterministic=True`` cuDNN picks deterministic kernels, so the same seed gives the
    same numbers on the same device. CPU and GPU results still differ from each other.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        from lotterylab.errors import LotteryLabError

        raise LotteryLabError(f"seed={seed!r} must be an integer.")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g
