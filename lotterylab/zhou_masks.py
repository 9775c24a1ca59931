"""Zhou et al. (2019): heuristic supermasks read off a trained network, and their ablations.

Train a dense copy, pick the weights to keep from it (:func:`heuristic_mask`, e.g.
``large_final_same_sign``), then put the mask on the *untrained* weights, optionally changed by
:func:`mask_one_weights` (initial, random or re-initialised signs; initial, constant or re-initialised
magnitudes). The same function gives the starting weights of Zhou et al.'s *retraining* ablation:
the kept weights with re-initialised magnitudes but their initial signs.
:func:`train_frozen_pruned` is the "mask-0" ablation: the pruned weights stay frozen at their
initial values instead of being zeroed. :func:`plot_ablation_bars` draws one bar per variant.

Example:
    >>> w0 = {"w": torch.tensor([[1.0, -1.0, 1.0, -1.0]])}
    >>> w1 = {"w": torch.tensor([[2.0, 3.0, 0.5, -0.2]])}
    >>> mask = heuristic_mask(w0, w1, 0.5)          # large final |w| whose sign did not flip
    >>> mask["w"].tolist()
    [[True, False, True, False]]
    >>> mask_one_weights(w0, mask)["w"].abs().sum().item()   # the untrained weights under the mask
    2.0
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from lotterylab.errors import LotteryLabError, check_choice, check_fraction
from lotterylab.plotting import PALETTE, get_ax
from lotterylab.pruning import Mask
from lotterylab.training import TrainConfig, TrainResult, train

__all__ = [
    "CRITERIA",
    "MAGNITUDES",
    "SIGNS",
    "VERSION",
    "heuristic_mask",
    "mask_one_weights",
    "plot_ablation_bars",
    "train_frozen_pruned",
]

VERSION = 1  # of what this module computes: bump when a change here changes the numbers
CRITERIA = ("large_final", "large_final_same_sign", "large_init", "random")
MAGNITUDES = ("init", "constant", "reinit")
SIGNS = ("init", "random", "reinit")


def _check_state(name: str, state) -> None:
    if not isinstance(state, Mapping) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise LotteryLabError(f"{name} must be a dict name -> tensor (e.g. a state_dict), not {type(state).__name__}.")


def _check_names(init, final, names) -> list[str]:
    names = list(names) if names is not None else [n for n, t in init.items() if t.dim() >= 2]
    if not names:
        raise LotteryLabError("names is empty: init has no 2-D weight to mask; name the tensors to mask.")
    for n in names:
        if n not in init or n not in final:
            raise LotteryLabError(f"names has {n!r}, which is not in both init and final; allowed: "
                                  f"{[k for k in init if k in final]}.")
        if init[n].shape != final[n].shape:
            raise LotteryLabError(f"final[{n!r}] has shape {tuple(final[n].shape)} but init has "
                                  f"{tuple(init[n].shape)}.")
        for which, t in (("init", init[n]), ("final", final[n])):
            if not torch.isfinite(t).all():
                raise LotteryLabError(f"{which}[{n!r}] has NaN or infinite values; a mask cannot rank them.")
    return names


def heuristic_mask(init: Mapping[str, torch.Tensor], final: Mapping[str, torch.Tensor], density: float, *,
                   criterion: str = "large_final_same_sign", generator: torch.Generator | None = None,
                   names: Sequence[str] | None = None) -> Mask:
    """Keep the fraction ``density`` of each weight matrix by a Zhou et al. criterion.

    ``large_final``: largest ``|w_final|`` (the lottery-ticket mask). ``large_final_same_sign``: the
    same, restricted to weights whose sign did not change in training (the supermask criterion).
    ``large_init``: largest ``|w_init|``. ``random``: uniformly random (needs ``generator``).
    ``names`` defaults to every 2-D tensor in ``init``.

    >>> w0 = {"w": torch.tensor([[1.0, -1.0, 1.0, -1.0]])}
    >>> w1 = {"w": torch.tensor([[2.0, 3.0, 0.5, -0.2]])}
    >>> heuristic_mask(w0, w1, 0.5)["w"].tolist()
    [[True, False, True, False]]
    """
    density = check_fraction("density", density, low_inclusive=False, high=1.0, high_inclusive=True)
    check_choice("criterion", criterion, CRITERIA)
    _check_state("init", init)
    _check_state("final", final)
    if criterion == "random" and not isinstance(generator, torch.Generator):
        raise LotteryLabError("criterion='random' needs a generator= (a torch.Generator, for reproducibility).")
    out = {}
    for name in _check_names(init, final, names):
        w0, w1 = init[name].detach(), final[name].detach()
        if criterion == "large_final":
            score = w1.abs()
        elif criterion == "large_final_same_sign":
            score = torch.where(torch.sign(w0) == torch.sign(w1), w1.abs(), torch.full_like(w1, -1.0))
        elif criterion == "large_init":
            score = w0.abs()
        else:
            score = torch.rand(w0.shape, generator=generator).to(w0.device)
        k = max(1, round(density * score.numel()))
        idx = score.flatten().topk(k, sorted=False).indices
        keep = torch.zeros(score.numel(), dtype=torch.bool, device=score.device)
        out[name] = keep.index_fill_(0, idx, True).view_as(score)
    return Mask(out)


def _check_reinit(reinit, init, mask: Mask) -> None:
    if not isinstance(reinit, Mapping) or not all(isinstance(t, torch.Tensor) for t in reinit.values()):
        raise LotteryLabError("magnitudes='reinit' or signs='reinit' needs reinit= (a dict name -> tensor, "
                              f"e.g. the state_dict of a freshly initialised network), not {type(reinit).__name__}.")
    for name in mask:
        if name not in reinit or reinit[name].shape != init[name].shape:
            raise LotteryLabError(f"reinit must hold {name!r} with shape {tuple(init[name].shape)}; got "
                                  f"{tuple(reinit[name].shape) if name in reinit else 'nothing'}.")


def mask_one_weights(init: Mapping[str, torch.Tensor], mask: Mask, *, magnitudes: str = "init",
                     signs: str = "init", generator: torch.Generator | None = None,
                     reinit: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The weights a mask is applied to, with Zhou et al.'s "mask-1" variants.

    Kept weights get magnitude ``|w_init|`` (``magnitudes="init"``), the layer's initial standard
    deviation (``"constant"``) or ``|w_reinit|`` (``"reinit"``), and sign ``sign(w_init)``
    (``signs="init"``), a random sign (``"random"``, needs ``generator``) or ``sign(w_reinit)``
    (``"reinit"``). ``reinit`` (needed by either ``"reinit"``) holds a fresh draw of the same
    network, e.g. another seed's state_dict. Pruned weights are zero; tensors not in ``mask`` are
    copied from ``init``. ``mask`` is a :class:`~lotterylab.pruning.Mask` (a dict of 0/1 tensors is
    converted); every name in it must be a tensor of ``init`` of the same shape.

    >>> w = {"w": torch.tensor([[0.5, -2.0]])}
    >>> mask_one_weights(w, Mask({"w": torch.tensor([[True, True]])}), magnitudes="constant")["w"]
    tensor([[ 1.2500, -1.2500]])
    >>> fresh = {"w": torch.tensor([[-0.1, 0.3]])}
    >>> mask_one_weights(w, Mask({"w": torch.tensor([[True, True]])}), magnitudes="reinit", reinit=fresh)["w"]
    tensor([[ 0.1000, -0.3000]])
    """
    check_choice("magnitudes", magnitudes, MAGNITUDES)
    check_choice("signs", signs, SIGNS)
    _check_state("init", init)
    mask = mask if isinstance(mask, Mask) else Mask(mask)
    mask.check_matches(init)
    if signs == "random" and not isinstance(generator, torch.Generator):
        raise LotteryLabError("signs='random' needs a generator= (a torch.Generator, for reproducibility).")
    if "reinit" in (magnitudes, signs):
        _check_reinit(reinit, init, mask)
    out = {}
    for name, w in init.items():
        w = w.detach().clone()
        if name in mask:
            fresh = reinit[name].detach().to(w) if "reinit" in (magnitudes, signs) else None
            if magnitudes == "init":
                mag = w.abs()
            elif magnitudes == "constant":
                mag = torch.full_like(w, float(w.std(correction=0)))
            else:
                mag = fresh.abs()
            if signs == "init":
                sgn = torch.sign(w)
            elif signs == "random":
                sgn = torch.randint(0, 2, w.shape, generator=generator).to(w) * 2 - 1
            else:
                sgn = torch.sign(fresh)
            w = mag * sgn * mask[name].to(w.device)
        out[name] = w
    return out


def train_frozen_pruned(model: nn.Module, mask: Mask, data, config: TrainConfig, *, seed: int,
                        progress=None) -> TrainResult:
    """Train only the kept weights; the pruned ones stay **frozen at their current (initial) values**.

    Zhou et al.'s "mask-0 = freeze at init" ablation (the lottery ticket zeroes them instead: use
    :func:`lotterylab.training.train` with ``mask``). Needs ``config.optimizer == "adam"`` (Adam
    moves a weight whose gradient has always been exactly zero by exactly zero). Runs on the
    model's device; ``progress`` is passed to :func:`~lotterylab.training.train`.

    >>> from lotterylab.data import load_mnist_subset
    >>> from lotterylab.models import lenet_300_100
    >>> net = lenet_300_100(seed=0)
    >>> mask = Mask.ones_like(net)
    >>> train_frozen_pruned(net, mask, load_mnist_subset(), TrainConfig(steps=2, eval_every=2), seed=0).steps
    [2]
    """
    if not isinstance(config, TrainConfig):
        raise LotteryLabError(f"config must be a TrainConfig, not {type(config).__name__}.")
    if config.optimizer != "adam":
        raise LotteryLabError(f"config.optimizer={config.optimizer!r}: train_frozen_pruned needs 'adam'.")
    if not isinstance(model, nn.Module):
        raise LotteryLabError(f"model must be a torch.nn.Module, not {type(model).__name__}.")
    mask = mask if isinstance(mask, Mask) else Mask(mask)
    mask.check_matches(model)
    named = dict(model.named_parameters())
    keep = {n: mask[n].to(device=named[n].device, dtype=named[n].dtype) for n in mask}  # made once
    hooks = [named[n].register_hook(lambda g, m=keep[n]: g * m) for n in mask]
    try:
        return train(model, data, config, seed=seed, progress=progress)
    finally:
        for h in hooks:
            h.remove()


def plot_ablation_bars(labels: Sequence[str], values: Sequence[float], *, ax=None, chance: float | None = 10.0,
                       xlabel: str = "test accuracy (%)", colors: Sequence | None = None):
    """Horizontal bars, one per variant, with the value written at the end of each bar.

    ``colors``: one per bar (default: the course's ticket colour for all).

    >>> import matplotlib; matplotlib.use("Agg")
    >>> len(plot_ablation_bars(["a", "b"], [50.0, 90.0]).patches)
    2
    """
    labels, values = list(labels), [float(v) for v in values]
    if len(labels) != len(values):
        raise LotteryLabError(f"labels has {len(labels)} entries but values has {len(values)}.")
    if colors is not None and len(colors) != len(labels):
        raise LotteryLabError(f"colors has {len(colors)} entries but there are {len(labels)} bars.")
    ax = get_ax(ax)
    y = np.arange(len(labels))[::-1]
    bars = ax.barh(y, values, color=colors if colors is not None else PALETTE["ticket"])
    for b, v in zip(bars, values):
        ax.text(b.get_width() + 0.5, b.get_y() + b.get_height() / 2, f"{v:.1f}", va="center", fontsize="small")
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    if chance is not None:
        ax.axvline(chance, color=PALETTE["random"], ls=":", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, 105)
    return ax
