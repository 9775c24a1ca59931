"""The multi-prize lottery ticket hypothesis's analyses: quantisation, mask overlap, the multigraph.

* :func:`quantize_weights` rounds weights to ``bits`` bits per weight (the third prize: a binary
  ticket survives it unchanged, a trained network does not).
* :func:`mask_overlap`, :func:`overlap_matrix` and :func:`chance_overlap`: how much several tickets in
  one random network share, against what independent random masks would share.
* :func:`multigraph_masks` and :func:`multigraph_weight`: the "masking is training" intuition pump, a
  random multigraph whose masks alone express any network to a precision set by the number of edges.

The tickets themselves are trained with :mod:`lotterylab.supermasks` (``method="biprop"``).

Example:
    >>> a = Mask({"w": torch.tensor([1, 1, 0, 0])})
    >>> b = Mask({"w": torch.tensor([1, 0, 1, 0])})
    >>> mask_overlap(a, b), chance_overlap(0.5)
    (0.5, 0.5)
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from lotterylab.errors import LotteryLabError, check_fraction, check_positive_float, check_positive_int
from lotterylab.plotting import get_ax
from lotterylab.pruning import Mask

__all__ = [
    "VERSION",
    "chance_overlap",
    "mask_overlap",
    "multigraph_masks",
    "multigraph_weight",
    "overlap_matrix",
    "plot_overlap_matrix",
    "quantize_weights",
]

VERSION = 1  # of what this module computes: bump when a change here changes the numbers


def _check_weights(name: str, w) -> None:
    if not isinstance(w, torch.Tensor) or not w.is_floating_point():
        raise LotteryLabError(f"{name} must be a floating-point tensor, not {type(w).__name__} "
                              f"{getattr(w, 'dtype', '')}.")
    if not torch.isfinite(w).all():
        raise LotteryLabError(f"{name} has NaN or infinite values.")


def _as_mask(name: str, m) -> Mask:
    """A :class:`Mask` as it is, a single 0/1 tensor as a one-entry Mask (validated either way)."""
    if isinstance(m, Mask):
        return m
    if isinstance(m, torch.Tensor):
        try:
            return Mask({"": m})
        except LotteryLabError as exc:
            raise LotteryLabError(f"{name}: {exc}") from None
    raise LotteryLabError(f"{name} must be a Mask or a 0/1 tensor, not {type(m).__name__}.")


def mask_overlap(a: Mask | torch.Tensor, b: Mask | torch.Tensor) -> float:
    """Fraction of the weights kept by ``a`` that ``b`` also keeps (equal densities: symmetric).

    ``a`` and ``b`` are two :class:`~lotterylab.pruning.Mask` over the same tensors (the overlap is
    over all of them together) or two 0/1 tensors of the same shape.

    >>> mask_overlap(torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 0]))
    0.5
    """
    a, b = _as_mask("a", a), _as_mask("b", b)
    if list(a) != list(b) or any(a[n].shape != b[n].shape for n in a):
        raise LotteryLabError(f"b must mask the same tensors with the same shapes as a; got "
                              f"{ {n: tuple(t.shape) for n, t in b.items()} } and "
                              f"{ {n: tuple(t.shape) for n, t in a.items()} }.")
    kept = a.num_kept
    if kept == 0:
        raise LotteryLabError("a keeps no weight, so the fraction of its kept weights that b keeps is undefined.")
    shared = sum(int((a[n] & b[n].to(a[n].device)).sum()) for n in a)
    return shared / kept


def overlap_matrix(masks: Sequence[Mask | torch.Tensor]) -> np.ndarray:
    """Pairwise :func:`mask_overlap` of several masks: entry ``(i, j)`` is the fraction of ``masks[i]``'s
    kept weights that ``masks[j]`` keeps (1 on the diagonal).

    >>> overlap_matrix([torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 0])]).tolist()
    [[1.0, 0.5], [0.5, 1.0]]
    """
    masks = list(masks)
    if len(masks) < 2:
        raise LotteryLabError(f"masks must hold at least two masks to compare, got {len(masks)}.")
    n = len(masks)
    return np.array([[mask_overlap(masks[i], masks[j]) for j in range(n)] for i in range(n)])


def chance_overlap(density: float) -> float:
    """Expected :func:`mask_overlap` of two independent random masks of the same ``density``: the density itself.

    >>> chance_overlap(0.3)
    0.3
    """
    return check_fraction("density", density, low_inclusive=False, high=1.0, high_inclusive=True)


def quantize_weights(w: torch.Tensor, bits: int, *, candidates: int = 32) -> torch.Tensor:
    """Round ``w`` to ``bits`` bits per weight, choosing the scale that minimises the squared error.

    ``bits == 1``: ``sign(w) * mean|w|`` over the nonzero entries (the least-squares gain, biprop's
    rule). ``bits >= 2``: a symmetric uniform grid ``step * {-L, ..., L}`` with ``L = 2**(bits-1) - 1``,
    whose clipping value ``L * step`` is the best of ``candidates`` fractions of ``max|w|``. Zeros stay
    zero; a tensor that is already on such a grid (e.g. ``+-gain``) is returned unchanged.

    >>> quantize_weights(torch.tensor([0.1, -0.4, 0.0]), 1)
    tensor([ 0.2500, -0.2500,  0.0000])
    >>> quantize_weights(torch.tensor([0.3, -0.3, 0.0]), 4)
    tensor([ 0.3000, -0.3000,  0.0000])
    """
    _check_weights("w", w)
    check_positive_int("bits", bits)
    check_positive_int("candidates", candidates)
    nz = w != 0
    if not nz.any():
        return w.clone()
    if bits == 1:
        return torch.sign(w) * w.abs()[nz].mean()
    levels = 2 ** (bits - 1) - 1
    clips = w.abs().max() * torch.arange(candidates, 0, -1, device=w.device, dtype=w.dtype) / candidates
    steps = (clips / levels).view(-1, *[1] * w.dim())                      # (candidates, 1, ...)
    q = torch.clamp(torch.round(w / steps), -levels, levels) * steps       # batched over candidates
    best = int((q - w).square().flatten(1).sum(1).argmin())
    return q[best]


def multigraph_masks(weight: torch.Tensor, bits: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The masks that make a random "multigraph" layer compute (a rounding of) ``weight``.

    The multigraph has ``2 * bits`` parallel edges per connection, with fixed weights
    ``+scale * 2**-j`` and ``-scale * 2**-j`` for ``j = 0 .. bits - 1``. Returns ``(edge_weights,
    masks)`` of shapes ``(2 * bits,)`` and ``(2 * bits, *weight.shape)``; summing the kept edges
    (:func:`multigraph_weight`) gives ``weight`` rounded to a multiple of ``scale * 2**(1 - bits)``
    and clipped to ``+-scale * (2 - 2**(1 - bits))``. No weight is trained: the mask carries it all.

    >>> ew, m = multigraph_masks(torch.tensor([0.6, -1.3]), bits=2, scale=1.0)
    >>> multigraph_weight(ew, m)
    tensor([ 0.5000, -1.5000])
    """
    _check_weights("weight", weight)
    check_positive_int("bits", bits)
    scale = check_positive_float("scale", scale)
    step = scale * 2.0 ** (1 - bits)
    top = 2 ** bits - 1
    q = torch.clamp(torch.round(weight.abs() / step), 0, top).long()        # integer in [0, 2^bits - 1]
    powers = 2 ** torch.arange(bits - 1, -1, -1, device=weight.device)     # edge j carries 2^(bits-1-j) steps
    digits = (q.unsqueeze(0) // powers.view(-1, *[1] * weight.dim())) % 2  # (bits, *shape) binary digits
    pos, neg = weight >= 0, weight < 0
    masks = torch.cat([digits.bool() & pos, digits.bool() & neg])
    mags = scale * 2.0 ** -torch.arange(bits, dtype=weight.dtype, device=weight.device)
    return torch.cat([mags, -mags]), masks


def multigraph_weight(edge_weights: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Sum of the kept parallel edges: the effective weight of a masked multigraph layer.

    ``edge_weights`` has shape ``(edges,)``; ``masks`` is 0/1 of shape ``(edges, *weight_shape)``.

    >>> multigraph_weight(torch.tensor([1.0, 0.5]), torch.tensor([[True, False], [True, True]]))
    tensor([1.5000, 0.5000])
    """
    _check_weights("edge_weights", edge_weights)
    if edge_weights.dim() != 1:
        raise LotteryLabError(f"edge_weights must be 1-D (one weight per parallel edge), got shape "
                              f"{tuple(edge_weights.shape)}.")
    if not isinstance(masks, torch.Tensor) or masks.dim() < 1 or masks.shape[0] != len(edge_weights):
        raise LotteryLabError(f"masks must be a tensor of shape ({len(edge_weights)}, ...), one mask per edge; "
                              f"got {getattr(masks, 'shape', type(masks).__name__)}.")
    if masks.dtype != torch.bool and not bool(((masks == 0) | (masks == 1)).all()):
        raise LotteryLabError("masks must contain only 0 and 1 (allowed values: 0, 1).")
    return torch.einsum("e,e...->...", edge_weights, masks.to(device=edge_weights.device, dtype=edge_weights.dtype))


def plot_overlap_matrix(overlap: np.ndarray, *, ax=None, labels: Sequence[str] | None = None,
                        chance: float | None = None):
    """Heatmap of pairwise mask overlaps (fraction of kept weights shared), annotated.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> plot_overlap_matrix([[1.0, 0.5], [0.5, 1.0]], chance=0.5).get_title()
    'mask overlap (shared kept weights); chance = 0.50'
    """
    import matplotlib.pyplot as plt

    overlap = np.asarray(overlap, dtype=float)
    if overlap.ndim != 2 or overlap.shape[0] != overlap.shape[1] or not np.all((overlap >= 0) & (overlap <= 1)):
        raise LotteryLabError(f"overlap must be a square matrix of fractions in [0, 1]; got shape {overlap.shape}.")
    labels = list(labels) if labels is not None else [f"ticket {i}" for i in range(overlap.shape[0])]
    if len(labels) != overlap.shape[0]:
        raise LotteryLabError(f"labels has {len(labels)} entries but overlap has {overlap.shape[0]} rows.")
    if chance is not None:
        chance = check_fraction("chance", chance, high_inclusive=True)
    ax = get_ax(ax)
    im = ax.imshow(overlap, vmin=0, vmax=1, cmap="viridis")
    for i in range(overlap.shape[0]):
        for j in range(overlap.shape[1]):
            ax.text(j, i, f"{overlap[i, j]:.3f}", ha="center", va="center",
                    color="w" if overlap[i, j] < 0.6 else "k", fontsize="small")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels)
    ax.grid(False)
    title = "mask overlap (shared kept weights)"
    if chance is not None:
        title += f"; chance = {chance:.2f}"
    ax.set_title(title)
    plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax
