"""Masks and magnitude pruning: the machinery of the original lottery ticket hypothesis.

A :class:`Mask` maps parameter names to 0/1 tensors of the same shape. Pruning functions are
pure: they take weights and a mask and return a *new* mask, pruning a fraction of the weights
that are still *remaining* (so 20% per round leaves 0.8**n after n rounds).

Example:
    >>> from lotterylab.models import lenet_300_100
    >>> net = lenet_300_100(seed=0)
    >>> mask = Mask.ones_like(net)
    >>> mask = magnitude_prune(net, mask, 0.2, layer_fractions={"fc3.weight": 0.1})
    >>> round(mask.density, 4)
    0.8004
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import nn

from lotterylab.errors import LotteryLabError, check_choice, check_fraction

__all__ = ["SCOPES", "Mask", "magnitude_prune", "random_mask_like"]

SCOPES = ("layerwise", "global")


def _named_weights(weights: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(weights, nn.Module):
        return dict(weights.named_parameters())
    return dict(weights)


class Mask(Mapping[str, torch.Tensor]):
    """A validated mapping ``parameter name -> 0/1 tensor`` (stored as ``bool``).

    Pass ``model`` (or a name -> tensor mapping) to check that every name exists there and every
    shape matches; non-binary values are always rejected.

    Example:
        >>> m = Mask({"w": torch.tensor([[1.0, 0.0], [1.0, 1.0]])})
        >>> m.density, m.sparsity
        (0.75, 0.25)
    """

    def __init__(self, tensors: Mapping[str, torch.Tensor],
                 model: nn.Module | Mapping[str, torch.Tensor] | None = None) -> None:
        if not isinstance(tensors, Mapping):
            raise LotteryLabError(f"tensors must be a mapping name -> 0/1 tensor, got {type(tensors).__name__}.")
        self._masks: dict[str, torch.Tensor] = {}
        for name, t in tensors.items():
            t = torch.as_tensor(t)
            if t.dtype != torch.bool:
                if not bool(((t == 0) | (t == 1)).all()):
                    bad = t[(t != 0) & (t != 1)].flatten()[:3].tolist()
                    raise LotteryLabError(
                        f"mask for {name!r} must contain only 0 and 1 (allowed values: 0, 1); found {bad}.")
                t = t != 0
            self._masks[name] = t
        if model is not None:
            self.check_matches(model)

    # Mapping protocol -------------------------------------------------------------------------
    def __getitem__(self, name: str) -> torch.Tensor:
        return self._masks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def __repr__(self) -> str:
        layers = ", ".join(f"{n}: {self.layer_density()[n]:.1%}" for n in self)
        return f"Mask(density={self.density:.2%}; {layers})"

    # Constructors ------------------------------------------------------------------------------
    @classmethod
    def ones_like(cls, model: nn.Module | Mapping[str, torch.Tensor],
                  names: Iterable[str] | None = None) -> Mask:
        """An all-ones mask over ``names`` (default: every parameter with 2+ dims, i.e. weights)."""
        weights = _named_weights(model)
        if names is None:
            names = [n for n, p in weights.items() if p.dim() >= 2]
        names = list(names)
        if not names:
            raise LotteryLabError("model has no prunable weights (no parameter with 2 or more dims); "
                                  "pass a model with Linear/Conv layers or name the tensors to prune.")
        unknown = [n for n in names if n not in weights]
        if unknown:
            raise LotteryLabError(f"names {unknown} are not parameters of the model; allowed: {list(weights)}.")
        return cls({n: torch.ones_like(weights[n], dtype=torch.bool) for n in names})

    # Checks and statistics ------------------------------------------------------------------------
    def check_matches(self, model: nn.Module | Mapping[str, torch.Tensor]) -> None:
        """Raise if a name is not a parameter of ``model`` or a shape differs."""
        weights = _named_weights(model)
        for name, m in self._masks.items():
            if name not in weights:
                raise LotteryLabError(
                    f"mask names {name!r}, which is not a parameter of the model; allowed names: {list(weights)}.")
            if tuple(m.shape) != tuple(weights[name].shape):
                raise LotteryLabError(
                    f"mask for {name!r} has shape {tuple(m.shape)} but the parameter has shape "
                    f"{tuple(weights[name].shape)}.")

    @property
    def num_kept(self) -> int:
        return int(sum(int(m.sum()) for m in self._masks.values()))

    @property
    def num_total(self) -> int:
        return int(sum(m.numel() for m in self._masks.values()))

    @property
    def density(self) -> float:
        """Fraction of masked weights that are kept (1.0 = dense)."""
        return self.num_kept / max(self.num_total, 1)

    @property
    def sparsity(self) -> float:
        """Fraction of masked weights that are pruned (1 - density)."""
        return 1.0 - self.density

    def layer_density(self) -> dict[str, float]:
        return {n: float(m.float().mean()) for n, m in self._masks.items()}

    # Use ---------------------------------------------------------------------------------------
    def to(self, device: torch.device | str) -> Mask:
        return Mask({n: m.to(device) for n, m in self._masks.items()})

    def cpu(self) -> Mask:
        return self.to("cpu")

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {n: m.clone() for n, m in self._masks.items()}

    @torch.no_grad()
    def apply_(self, model: nn.Module) -> nn.Module:
        """Zero the pruned weights of ``model`` in place (and return it)."""
        params = dict(model.named_parameters())
        for name, m in self._masks.items():
            p = params.get(name)
            if p is None or p.shape != m.shape:
                self.check_matches(model)  # raises with a clear message
            p.mul_(m.to(p.device))
        return model

    @torch.no_grad()
    def mask_grads_(self, model: nn.Module) -> None:
        """Zero the gradients of pruned weights in place, so no optimiser state builds up there."""
        params = dict(model.named_parameters())
        for name, m in self._masks.items():
            g = params[name].grad
            if g is not None:
                g.mul_(m.to(g.device))


def magnitude_prune(weights: nn.Module | Mapping[str, torch.Tensor], mask: Mask, fraction: float, *,
                    scope: str = "layerwise", layer_fractions: Mapping[str, float] | None = None,
                    ignore: Iterable[str] = ()) -> Mask:
    """Prune ``fraction`` of the *remaining* weights with the smallest magnitude; return a new mask.

    ``scope="layerwise"`` prunes ``ceil(fraction * remaining)`` in each layer separately (with
    per-layer overrides in ``layer_fractions``, e.g. the LTH paper's half rate for the output
    layer); ``scope="global"`` ranks all surviving weights together. Names in ``ignore`` keep
    their old mask. Ties are broken by position, so the pruned count is always exact.
    """
    fraction = check_fraction("fraction", fraction)
    check_choice("scope", scope, SCOPES)
    layer_fractions = dict(layer_fractions or {})
    for name, f in layer_fractions.items():
        check_fraction(f"layer_fractions[{name!r}]", f)
    if scope == "global" and layer_fractions:
        raise LotteryLabError("layer_fractions only applies to scope='layerwise'; with scope='global' "
                              "use ignore=... for layers to leave alone.")
    w = _named_weights(weights)
    if not w:
        raise LotteryLabError("weights is empty: the model has no parameters to prune.")
    if not isinstance(mask, Mask):
        raise LotteryLabError(f"mask must be a lotterylab Mask, got {type(mask).__name__}.")
    mask.check_matches(w)
    ignore = set(ignore)
    unknown = (ignore | set(layer_fractions)) - set(mask)
    if unknown:
        raise LotteryLabError(f"ignore/layer_fractions name {sorted(unknown)}, not in the mask; "
                              f"allowed names: {list(mask)}.")
    names = [n for n in mask if n not in ignore]
    bad = [n for n in names if not bool(torch.isfinite(w[n].detach()).all())]
    if bad:
        raise LotteryLabError(f"weights of {bad} contain NaN or infinite values; magnitude pruning cannot rank them "
                              "(did training diverge? lower the learning rate).")
    new = mask.state_dict()

    def prune_smallest(scores: torch.Tensor, keep: torch.Tensor, n_prune: int) -> torch.Tensor:
        # scores, keep: flat; returns new flat keep with the n_prune smallest surviving scores removed
        scores = torch.where(keep, scores, torch.full_like(scores, float("inf")))
        order = torch.argsort(scores, stable=True)[:n_prune]
        keep = keep.clone()
        keep[order] = False
        return keep

    if scope == "layerwise":
        for n in names:
            f = layer_fractions.get(n, fraction)
            keep = new[n].flatten()
            n_prune = math.ceil(f * int(keep.sum()))
            new[n] = prune_smallest(w[n].detach().abs().flatten().to(keep.device), keep, n_prune).view_as(new[n])
    else:
        keep = torch.cat([new[n].flatten() for n in names])
        scores = torch.cat([w[n].detach().abs().flatten().to(keep.device) for n in names])
        keep = prune_smallest(scores, keep, math.ceil(fraction * int(keep.sum())))
        for n, part in zip(names, torch.split(keep, [new[n].numel() for n in names])):
            new[n] = part.view_as(new[n])
    return Mask(new)


def random_mask_like(mask: Mask, generator: torch.Generator | None = None) -> Mask:
    """A random mask keeping exactly as many weights per layer as ``mask`` (the random-pruning control).

    Example:
        >>> m = Mask({"w": torch.tensor([1, 1, 0, 0])})
        >>> random_mask_like(m, torch.Generator().manual_seed(0))["w"].sum().item()
        2
    """
    if not isinstance(mask, Mask):
        raise LotteryLabError(f"mask must be a lotterylab Mask, got {type(mask).__name__}.")
    out = {}
    for name, m in mask.items():
        kept = int(m.sum())
        order = torch.randperm(m.numel(), generator=generator)
        flat = torch.zeros(m.numel(), dtype=torch.bool)
        flat[order[:kept]] = True
        out[name] = flat.view(m.shape).to(m.device)
    return Mask(out)
