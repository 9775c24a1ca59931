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
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        from lotterylab.errors import LotteryLabError

        raise LotteryLabError(f"seed={seed!r} must be a non-negative integer.")
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def check_seeds(seeds) -> list[int]:
    """``seeds`` as a non-empty list of distinct non-negative ints (a list, range, numpy or torch integers).

    Example:
        >>> check_seeds(range(3)), check_seeds(np.arange(2)), check_seeds(torch.tensor([5]))
        ([0, 1, 2], [0, 1], [5])
    """
    from lotterylab.errors import LotteryLabError

    if isinstance(seeds, (torch.Tensor, np.ndarray)):
        if seeds.dtype.is_floating_point if isinstance(seeds, torch.Tensor) else not np.issubdtype(seeds.dtype, np.integer):
            raise LotteryLabError(f"seeds must be integers; got an array of dtype {seeds.dtype}.")
        seeds = seeds.reshape(-1).tolist()
    if isinstance(seeds, (int, str, bytes)) or not hasattr(seeds, "__iter__"):
        raise LotteryLabError(f"seeds={seeds!r} must be a sequence of integers, e.g. seeds=[0, 1] or range(5).")
    out = []
    for s in seeds:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)) or int(s) < 0:
            raise LotteryLabError(f"seeds must be non-negative integers; got {s!r}.")
        out.append(int(s))
    if not out:
        raise LotteryLabError("seeds must name at least one seed, e.g. seeds=[0, 1].")
    if len(set(out)) != len(out):
        raise LotteryLabError(f"seeds must be distinct; got {out}.")
    return out
