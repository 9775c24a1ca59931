"""Do two masks pick the same weights? Overlap against chance, and magnitude masks of matching size.

Chapter 8 asks whether SGD *reinforces* the strong ticket that edge-popup finds in the same random
weights. :func:`magnitude_mask_like` keeps, in every layer, as many of the largest-magnitude weights
as a reference mask keeps; :func:`mask_overlap` measures how many kept weights two masks share,
against what two independent random masks of the same sizes would share.

Example:
    >>> a = Mask({"w": torch.tensor([1, 1, 0, 0])})
    >>> b = magnitude_mask_like({"w": torch.tensor([0.1, 5.0, 3.0, 0.2])}, a)
    >>> b["w"].tolist(), mask_overlap(a, b).shared
    ([False, True, True, False], 0.5)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from lotterylab.errors import LotteryLabError
from lotterylab.pruning import Mask

__all__ = ["Overlap", "magnitude_mask_like", "mask_overlap"]


def _as_mask(mask, name: str) -> Mask:
    if not isinstance(mask, Mask):
        raise LotteryLabError(f"{name} must be a lotterylab.pruning.Mask, not {type(mask).__name__}.")
    if len(mask) == 0:
        raise LotteryLabError(f"{name} must hold at least one layer.")
    return mask


def magnitude_mask_like(weights: Mapping[str, torch.Tensor], reference: Mask) -> Mask:
    """Per layer, keep the ``reference[name].sum()`` weights of ``weights[name]`` with the largest
    magnitude (ties broken by position, so the count is exact). Same names and shapes as ``reference``.

    Example:
        >>> ref = Mask({"w": torch.tensor([[1, 0], [0, 0]])})
        >>> magnitude_mask_like({"w": torch.tensor([[1.0, -4.0], [2.0, 3.0]])}, ref)["w"].tolist()
        [[False, True], [False, False]]
    """
    reference = _as_mask(reference, "reference")
    if not isinstance(weights, Mapping):
        raise LotteryLabError(f"weights must be a mapping name -> tensor, not {type(weights).__name__}.")
    out = {}
    for name, m in reference.items():
        if name not in weights:
            raise LotteryLabError(f"weights has no {name!r}; reference masks {sorted(reference)}.")
        w = torch.as_tensor(weights[name]).detach()
        if w.shape != m.shape:
            raise LotteryLabError(f"weights[{name!r}] has shape {tuple(w.shape)}, reference {tuple(m.shape)}.")
        if not torch.isfinite(w).all():
            raise LotteryLabError(f"weights[{name!r}] has non-finite values.")
        k = int(m.sum())
        keep = torch.zeros(w.numel(), dtype=torch.bool, device=w.device)
        order = torch.sort(w.abs().flatten(), descending=True, stable=True).indices
        keep[order[:k]] = True
        out[name] = keep.view_as(w)
    return Mask(out)


@dataclass(frozen=True)
class Overlap:
    """``shared``: fraction of ``a``'s kept weights that ``b`` keeps too; ``chance``: the same for a
    random ``b`` of the same per-layer sizes (its density, layer by layer, weighted by ``a``'s counts);
    ``lift = shared / chance`` (1: no more than chance)."""

    shared: float
    chance: float
    lift: float
    per_layer: dict


def mask_overlap(a: Mask, b: Mask) -> Overlap:
    """How much of mask ``a`` mask ``b`` also keeps, against chance (see :class:`Overlap`).

    Example:
        >>> a = Mask({"w": torch.tensor([1, 1, 0, 0])})
        >>> mask_overlap(a, Mask({"w": torch.tensor([1, 1, 0, 0])})).lift
        2.0
    """
    a, b = _as_mask(a, "a"), _as_mask(b, "b")
    if sorted(a) != sorted(b) or any(a[n].shape != b[n].shape for n in a):
        raise LotteryLabError(f"a and b must mask the same layers with the same shapes; got {sorted(a)} and {sorted(b)}.")
    kept = sum(int(a[n].sum()) for n in a)
    if kept == 0:
        raise LotteryLabError("a keeps no weight: the overlap is undefined.")
    per_layer, shared, chance = {}, 0.0, 0.0
    for n in a:
        both = int((a[n] & b[n].to(a[n].device)).sum())
        density_b = float(b[n].float().mean())
        per_layer[n] = both / max(1, int(a[n].sum()))
        shared += both
        chance += int(a[n].sum()) * density_b
    shared, chance = shared / kept, chance / kept
    return Overlap(shared=shared, chance=chance, lift=shared / chance if chance > 0 else float("nan"),
                   per_layer=per_layer)
