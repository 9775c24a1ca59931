"""Is the trained network the same network as the one it started from? Measures blind to ReLU rescaling.

Scaling a hidden unit's incoming weights and bias by c > 0 and its outgoing weights by 1/c leaves a
ReLU network's function unchanged, so raw distances between weights can mislead. Two comparisons that
this symmetry cannot fool:

- :func:`unit_cosines`: per hidden unit, the cosine between its kept incoming weights before and after
  training (a weight comparison, invariant to the unit's own rescaling);
- :func:`activation_correlations`: per unit, the correlation over inputs between its pre-activation in
  one network and in another (a functional comparison: what the unit computes, not how it is stored).

Example:
    >>> import torch
    >>> from lotterylab.pruning import Mask
    >>> w0 = {"fc.weight": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}
    >>> wT = {"fc.weight": torch.tensor([[3.0, 0.0], [1.0, 0.0]])}
    >>> unit_cosines(w0, wT, Mask({"fc.weight": torch.ones(2, 2)}))["fc.weight"].tolist()
    [1.0, 0.0]
"""
from __future__ import annotations

import torch
from torch import nn

from lotterylab.errors import LotteryLabError
from lotterylab.pruning import Mask

__all__ = ["activation_correlations", "unit_cosines"]


def unit_cosines(init_state: dict, trained_state: dict, mask: Mask) -> dict[str, torch.Tensor]:
    """Per layer of ``mask``, a (units,) tensor: cosine of each unit's kept incoming weights, init vs trained.

    A unit with no kept weight (or all-zero weights) gets NaN.
    """
    if not isinstance(mask, Mask):
        raise LotteryLabError(f"mask must be a lotterylab.pruning.Mask, not {type(mask).__name__}.")
    out = {}
    for name, m in mask.items():
        if name not in init_state or name not in trained_state:
            raise LotteryLabError(f"mask names {name!r}, which init_state or trained_state lacks; "
                                  f"they have {sorted(init_state)}.")
        w0, wT = init_state[name].float(), trained_state[name].float()
        if w0.shape != wT.shape or w0.shape != m.shape:
            raise LotteryLabError(f"init_state, trained_state and mask disagree on the shape of {name!r}.")
        keep = m.to(w0.device, torch.float32).flatten(1)
        a, b = (w0.flatten(1) * keep), (wT.to(w0.device).flatten(1) * keep)
        denom = a.norm(dim=1) * b.norm(dim=1)
        out[name] = torch.where(denom > 0, (a * b).sum(1) / denom.clamp_min(1e-30), torch.nan)
    return out


@torch.no_grad()
def activation_correlations(model_a: nn.Module, model_b: nn.Module, x: torch.Tensor,
                            layers: list[str]) -> dict[str, torch.Tensor]:
    """Per named ``nn.Linear`` layer, a (units,) tensor: each unit's correlation (over the rows of ``x``)
    between its pre-activation in ``model_a`` and in ``model_b``. A unit constant in either gets NaN.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> a = nn.Sequential(nn.Linear(3, 2)); b = nn.Sequential(nn.Linear(3, 2))
        >>> _ = b.load_state_dict(a.state_dict()); _ = b[0].weight.data.mul_(5.0)   # rescaled: same direction
        >>> activation_correlations(a, b, torch.randn(50, 3), ["0"])["0"].round(decimals=4).tolist()
        [1.0, 1.0]
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or len(x) < 2:
        raise LotteryLabError("x must be a tensor with at least 2 rows (the inputs to correlate over).")
    if isinstance(layers, str) or not layers:
        raise LotteryLabError(f"layers={layers!r} must be a non-empty list of Linear layer names.")
    acts = []
    for model in (model_a, model_b):
        modules = dict(model.named_modules())
        unknown = [n for n in layers if not isinstance(modules.get(n), nn.Linear)]
        if unknown:
            raise LotteryLabError(f"layers {unknown} are not Linear layers of the model; it has "
                                  f"{[n for n, m in modules.items() if isinstance(m, nn.Linear)]}.")
        seen: dict[str, torch.Tensor] = {}
        hooks = [modules[n].register_forward_hook(lambda _m, _i, out, n=n, seen=seen: seen.__setitem__(n, out.detach()))
                 for n in layers]
        try:
            model(x)
        finally:
            for h in hooks:
                h.remove()
        acts.append(seen)
    out = {}
    for n in layers:
        a, b = acts[0][n].double(), acts[1][n].double().to(acts[0][n].device)
        a, b = a - a.mean(0), b - b.mean(0)
        denom = a.norm(dim=0) * b.norm(dim=0)
        out[n] = torch.where(denom > 1e-12, (a * b).sum(0) / denom.clamp_min(1e-30), torch.nan).float()
    return out
