"""Supermasks: good subnetworks of networks whose weights are never trained.

Three ways to get a subnetwork of a random network without training its weights:

* **Heuristic supermasks** (Zhou et al. 2019): train a dense copy, pick the weights to keep from it
  (:func:`heuristic_mask`, e.g. ``large_final_same_sign``), then put the mask on the *untrained*
  weights, optionally changed by :func:`mask_one_weights` (initial signs or random signs, initial
  magnitudes or a constant one). :func:`train_frozen_pruned` is the "mask-0" ablation: the pruned
  weights stay frozen at their initial values instead of being zeroed.
* **Edge-popup** (Ramanujan et al. 2020): :class:`SupermaskMLP` with ``method="edge_popup"``. Weights
  are frozen buffers; every weight has a trainable score; each layer keeps exactly the fraction
  ``density`` of weights with the largest ``|score|`` and passes the gradient straight through the
  top-k step to *every* score, so a pruned edge can come back.
* **Biprop** (Diffenderfer & Kailkhura 2021): ``method="biprop"``: the same scores, but the kept
  weights are replaced by ``gain * sign(W)`` with ``gain`` the mean ``|W|`` of the kept weights, so
  each layer's effective weights take exactly two values, ``+gain`` and ``-gain`` (and 0 where pruned).

``density`` is always the fraction of weights **kept** (the reference code calls it ``prune_rate``,
which reads as the opposite). ``copies`` trains several independent score tensors on the *same*
frozen weights in one batched program (several tickets from one random network).

Example:
    >>> net = supermask_lenet(width=1, density=0.3, weight_seed=0, score_seed=0)
    >>> [round(d, 3) for d in net.layer_densities()]
    [0.3, 0.3, 0.3]
    >>> net(torch.zeros(2, 784)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lotterylab.errors import LotteryLabError, check_choice, check_fraction, check_positive_int
from lotterylab.pruning import Mask
from lotterylab.seeding import make_generator
from lotterylab.training import TrainConfig, TrainResult, train

__all__ = [
    "CRITERIA",
    "INITS",
    "MAGNITUDES",
    "METHODS",
    "SIGNS",
    "ScoreTrainConfig",
    "SupermaskLinear",
    "SupermaskMLP",
    "chance_overlap",
    "evaluate_copies",
    "heuristic_mask",
    "init_weights",
    "lenet_widths",
    "mask_one_weights",
    "mask_overlap",
    "multigraph_masks",
    "multigraph_weight",
    "plot_ablation_bars",
    "plot_accuracy_vs",
    "plot_overlap_matrix",
    "quantize_weights",
    "supermask_lenet",
    "train_frozen_pruned",
    "train_supermask",
]

INITS = ("signed_constant", "kaiming_normal", "kaiming_uniform")
METHODS = ("edge_popup", "biprop")
CRITERIA = ("large_final", "large_final_same_sign", "large_init", "random")
MAGNITUDES = ("init", "constant")
SIGNS = ("init", "random")


def _check_density(density) -> float:
    return check_fraction("density", density, low_inclusive=False, high=1.0, high_inclusive=True)


def lenet_widths(width: float = 1.0, *, in_features: int = 784, num_classes: int = 10) -> tuple[int, ...]:
    """Layer sizes of a LeNet-300-100 whose hidden layers are ``width`` times wider (``width >= 1``).

    >>> lenet_widths(2)
    (784, 600, 200, 10)
    """
    try:
        w = float(width)
    except (TypeError, ValueError):
        raise LotteryLabError(f"width={width!r} must be a number >= 1 (the width multiplier).") from None
    if not (math.isfinite(w) and w >= 1):
        raise LotteryLabError(f"width={width!r} must be a number >= 1 (the width multiplier).")
    return (in_features, round(300 * w), round(100 * w), num_classes)


def init_weights(shape: tuple[int, int], init: str, generator: torch.Generator, *,
                 density: float = 1.0, scale_by_density: bool = False) -> torch.Tensor:
    """Draw a frozen ``(out, in)`` weight matrix.

    ``signed_constant``: every weight is ``+-sigma`` with a random sign, ``sigma = sqrt(2 / fan_in)``
    (Ramanujan et al.'s signed Kaiming constant). ``kaiming_normal``: N(0, 2 / fan_in).
    ``kaiming_uniform``: U(-b, b) with the same variance. With ``scale_by_density`` the fan is
    multiplied by ``density`` (the paper's "scaled" init: the kept weights then have the variance
    a dense layer would have), i.e. the weights are divided by ``sqrt(density)``.

    >>> w = init_weights((3, 8), "signed_constant", make_generator(0))
    >>> sorted(set(w.abs().flatten().tolist())) == [0.5]
    True
    """
    check_choice("init", init, INITS)
    density = _check_density(density)
    fan_in = shape[1] * (density if scale_by_density else 1.0)
    std = math.sqrt(2.0 / fan_in)
    if init == "signed_constant":
        signs = torch.randint(0, 2, shape, generator=generator).float() * 2 - 1
        return signs * std
    if init == "kaiming_normal":
        return torch.randn(shape, generator=generator) * std
    return (torch.rand(shape, generator=generator) * 2 - 1) * std * math.sqrt(3.0)


class _TopKMask(torch.autograd.Function):
    """Forward: 1 for the ``k`` largest entries of each row of ``scores`` (shape ``(copies, n)``), else 0.
    Backward: the straight-through estimator (the incoming gradient, unchanged, to every score)."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, k: int) -> torch.Tensor:
        idx = scores.topk(k, dim=1, sorted=False).indices
        return torch.zeros_like(scores).scatter_(1, idx, 1.0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


class SupermaskLinear(nn.Module):
    """A bias-free linear layer with frozen random weights and trainable scores.

    ``weight`` is a buffer (never seen by an optimiser); ``scores`` has shape ``(copies, out, in)``
    (``copies`` independent masks on the same weights). The forward pass uses
    ``effective_weight()``: ``weight * mask`` (edge-popup) or ``gain * sign(weight) * mask`` (biprop),
    with ``mask`` keeping exactly ``round(density * out * in)`` weights per copy (at least one).
    """

    def __init__(self, in_features: int, out_features: int, *, density: float, init: str = "signed_constant",
                 method: str = "edge_popup", weight_generator: torch.Generator, score_generator: torch.Generator,
                 copies: int = 1, scale_by_density: bool = False) -> None:
        super().__init__()
        self.density = _check_density(density)
        self.method = check_choice("method", method, METHODS)
        check_positive_int("copies", copies)
        shape = (out_features, in_features)
        self.register_buffer("weight", init_weights(shape, init, weight_generator, density=self.density,
                                                    scale_by_density=scale_by_density))
        bound = 1.0 / math.sqrt(in_features)  # PyTorch's default Linear init, as the reference code uses
        self.scores = nn.Parameter((torch.rand((copies, *shape), generator=score_generator) * 2 - 1) * bound)
        self.k = max(1, round(self.density * out_features * in_features))

    def mask(self) -> torch.Tensor:
        """The current 0/1 mask, shape ``(copies, out, in)``, with a straight-through gradient to the scores."""
        flat = self.scores.abs().flatten(1)
        return _TopKMask.apply(flat, self.k).view_as(self.scores)

    def gain(self, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Biprop's per-copy gain: mean ``|W|`` over the kept weights, shape ``(copies, 1, 1)``."""
        m = (self.mask() if mask is None else mask).detach()
        return (m * self.weight.abs()).sum((1, 2), keepdim=True) / m.sum((1, 2), keepdim=True)

    def effective_weight(self) -> torch.Tensor:
        """The weights the forward pass uses, shape ``(copies, out, in)``."""
        m = self.mask()
        if self.method == "edge_popup":
            return self.weight * m
        # biprop: the values are gain * sign(W) * m; the score gradient is dL/dw_eff * W (as in the
        # reference code), which is what ``W * m`` would give, so we add that term with value zero.
        binary = (self.gain(m) * torch.sign(self.weight) * m).detach()
        return binary + self.weight * (m - m.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (copies, batch, in)
        return torch.bmm(x, self.effective_weight().transpose(1, 2))

    def extra_repr(self) -> str:
        c, o, i = self.scores.shape
        return f"in={i}, out={o}, copies={c}, density={self.density:g}, method={self.method}"


class SupermaskMLP(nn.Module):
    """A ReLU MLP of :class:`SupermaskLinear` layers (no biases, like the edge-popup reference).

    Input ``(batch, ...)`` gives logits ``(batch, classes)`` when ``copies == 1`` and
    ``(copies, batch, classes)`` otherwise. Weights come from ``weight_seed``, scores from
    ``score_seed``: the same ``weight_seed`` with different ``score_seed`` gives different tickets
    in the same random network.
    """

    def __init__(self, widths: Sequence[int], *, density: float = 0.5, init: str = "signed_constant",
                 method: str = "edge_popup", weight_seed: int = 0, score_seed: int = 0, copies: int = 1,
                 scale_by_density: bool = False) -> None:
        super().__init__()
        if len(widths) < 2:
            raise LotteryLabError(f"widths={widths!r} needs at least an input and an output size.")
        wg, sg = make_generator(weight_seed), make_generator(score_seed)
        self.copies = check_positive_int("copies", copies)
        self.layers = nn.ModuleList(
            SupermaskLinear(a, b, density=density, init=init, method=method, weight_generator=wg,
                            score_generator=sg, copies=copies, scale_by_density=scale_by_density)
            for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1).unsqueeze(0).expand(self.copies, -1, -1)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = torch.relu(h)
        return h[0] if self.copies == 1 else h

    @torch.no_grad()
    def masks(self) -> list[torch.Tensor]:
        """Boolean masks per layer, each ``(copies, out, in)``."""
        return [layer.mask().bool() for layer in self.layers]

    def layer_densities(self) -> list[float]:
        """Fraction of weights kept in each layer (copy 0)."""
        return [float(m[0].float().mean()) for m in self.masks()]

    @torch.no_grad()
    def effective_weights(self) -> list[torch.Tensor]:
        return [layer.effective_weight() for layer in self.layers]


def supermask_lenet(width: float = 1.0, **kwargs) -> SupermaskMLP:
    """A :class:`SupermaskMLP` shaped like LeNet-300-100 with hidden layers ``width`` times wider."""
    return SupermaskMLP(lenet_widths(width), **kwargs)


@dataclass(frozen=True)
class ScoreTrainConfig:
    """How to train scores (defaults: the edge-popup paper's SGD recipe, shortened)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4   # on the scores, as in the reference code
    cosine: bool = True          # cosine learning-rate decay to zero over all steps

    def __post_init__(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)


@torch.no_grad()
def evaluate_copies(model: SupermaskMLP, X: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Accuracy of each copy of ``model`` on ``(X, y)``."""
    was = model.training
    model.eval()
    logits = model(X)
    logits = logits.unsqueeze(0) if logits.dim() == 2 else logits
    model.train(was)
    return [float(a) for a in (logits.argmax(-1) == y).float().mean(1)]


def train_supermask(model: SupermaskMLP, data, config: ScoreTrainConfig = ScoreTrainConfig(), *, seed: int,
                    progress=None) -> dict:
    """Train the scores of ``model`` (the weights never change) on ``data``; ``seed`` fixes the data order.

    All copies see the same batches; their losses are summed, so each copy's scores get exactly
    the gradient a separate run would. Returns ``{"epochs", "val_acc", "test_acc"}`` with one list
    of per-copy accuracies per epoch (``test_acc[-1]`` is the final accuracy of every copy).
    """
    device = next(model.parameters()).device
    X, y = data.X_train.to(device), data.y_train.to(device)
    Xv, yv, Xt, yt = (t.to(device) for t in (data.X_val, data.y_val, data.X_test, data.y_test))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    n, bs = len(X), config.batch_size
    steps_per_epoch = n // bs
    total = steps_per_epoch * config.epochs
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, total) if config.cosine else None)
    gen = make_generator(seed)
    out = {"epochs": [], "val_acc": [], "test_acc": []}
    model.train()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(n, generator=gen).to(device)
        for i in range(steps_per_epoch):
            idx = order[i * bs:(i + 1) * bs]
            logits = model(X[idx])
            logits = logits.unsqueeze(0) if logits.dim() == 2 else logits
            loss = F.cross_entropy(logits.flatten(0, 1), y[idx].repeat(logits.shape[0]), reduction="sum") / bs
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
        out["epochs"].append(epoch)
        out["val_acc"].append(evaluate_copies(model, Xv, yv))
        out["test_acc"].append(evaluate_copies(model, Xt, yt))
        if progress is not None:
            progress.update(1)
    return out


def mask_overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fraction of the weights kept by ``a`` that ``b`` also keeps (equal densities: symmetric).

    >>> mask_overlap(torch.tensor([1, 1, 0, 0]), torch.tensor([1, 0, 1, 0]))
    0.5
    """
    a, b = a.bool(), b.bool()
    return float((a & b).sum()) / max(1, int(a.sum()))


def chance_overlap(density: float) -> float:
    """Expected :func:`mask_overlap` of two independent random masks of the same ``density``: the density itself."""
    return _check_density(density)


# ----- Zhou et al. 2019: heuristic supermasks and their ablations ---------------------------------

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
    density = _check_density(density)
    check_choice("criterion", criterion, CRITERIA)
    names = list(names) if names is not None else [n for n, t in init.items() if t.dim() >= 2]
    out = {}
    for name in names:
        w0, w1 = init[name].detach(), final[name].detach()
        if criterion == "large_final":
            score = w1.abs()
        elif criterion == "large_final_same_sign":
            score = torch.where(torch.sign(w0) == torch.sign(w1), w1.abs(), torch.full_like(w1, -1.0))
        elif criterion == "large_init":
            score = w0.abs()
        else:
            if generator is None:
                raise LotteryLabError("criterion='random' needs a generator= (for reproducibility).")
            score = torch.rand(w0.shape, generator=generator).to(w0.device)
        k = max(1, round(density * score.numel()))
        idx = score.flatten().topk(k, sorted=False).indices
        out[name] = torch.zeros(score.numel(), dtype=torch.bool, device=score.device).index_fill_(0, idx, True).view_as(score)
    return Mask(out)


def mask_one_weights(init: Mapping[str, torch.Tensor], mask: Mask, *, magnitudes: str = "init",
                     signs: str = "init", generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The untrained weights a supermask is applied to, with Zhou et al.'s "mask-1" variants.

    Kept weights get magnitude ``|w_init|`` (``magnitudes="init"``) or the layer's initial standard
    deviation (``"constant"``), and sign ``sign(w_init)`` (``signs="init"``) or a random sign
    (``"random"``, needs ``generator``). Pruned weights are zero. Tensors not in ``mask`` are copied.

    >>> w = {"w": torch.tensor([[0.5, -2.0]])}
    >>> mask_one_weights(w, Mask({"w": torch.tensor([[True, True]])}), magnitudes="constant")["w"]
    tensor([[ 1.2500, -1.2500]])
    """
    check_choice("magnitudes", magnitudes, MAGNITUDES)
    check_choice("signs", signs, SIGNS)
    if signs == "random" and generator is None:
        raise LotteryLabError("signs='random' needs a generator= (for reproducibility).")
    out = {}
    for name, w in init.items():
        w = w.detach().clone()
        if name in mask:
            mag = w.abs() if magnitudes == "init" else torch.full_like(w, float(w.std(correction=0)))
            sgn = torch.sign(w)
            if signs == "random":
                sgn = (torch.randint(0, 2, w.shape, generator=generator).to(w) * 2 - 1)
            w = mag * sgn * mask[name].to(w.device)
        out[name] = w
    return out


def train_frozen_pruned(model: nn.Module, mask: Mask, data, config: TrainConfig, *, seed: int) -> TrainResult:
    """Train only the kept weights; the pruned ones stay **frozen at their current (initial) values**.

    Zhou et al.'s "mask-0 = freeze at init" ablation (the lottery ticket zeroes them instead: use
    :func:`lotterylab.training.train` with ``mask``). Needs ``config.optimizer == "adam"`` (Adam
    moves a weight whose gradient has always been exactly zero by exactly zero).
    """
    if config.optimizer != "adam":
        raise LotteryLabError(f"config.optimizer={config.optimizer!r}: train_frozen_pruned needs 'adam'.")
    mask.check_matches(model)
    named = dict(model.named_parameters())
    keep = {n: mask[n].to(device=named[n].device, dtype=named[n].dtype) for n in mask}
    hooks = [named[n].register_hook(lambda g, m=keep[n]: g * m) for n in mask]
    try:
        return train(model, data, config, seed=seed)
    finally:
        for h in hooks:
            h.remove()


# ----- quantisation (the multi-prize hypothesis's third prize) -------------------------------------

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


# ----- the multigraph intuition pump --------------------------------------------------------------

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
    check_positive_int("bits", bits)
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
    """Sum of the kept parallel edges: the effective weight of a masked multigraph layer."""
    return torch.einsum("e,e...->...", edge_weights, masks.to(edge_weights.dtype))


# ----- plots --------------------------------------------------------------------------------------

def _ax(ax):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots(figsize=(6, 4))[1]


def plot_accuracy_vs(x: Sequence[float], series: Mapping[str, Sequence], *, ax=None, xlabel: str = "",
                     ylabel: str = "test accuracy (%)", logx: bool = False, chance: float | None = 10.0,
                     styles: Mapping[str, dict] | None = None, legend: str | None = "best"):
    """One line per entry of ``series`` (label -> values, or label -> list of per-seed values:
    mean line with min-max band) against ``x``; a dotted line at ``chance``. The x ticks are the
    values of ``x``; ``legend`` is its location (``None``: no legend)."""
    ax = _ax(ax)
    for label, vals in series.items():
        arr = [np.atleast_1d(np.asarray(v, dtype=float)) for v in vals]
        mean = np.array([a.mean() for a in arr])
        style = dict(marker="o", ms=4)
        style.update((styles or {}).get(label, {}))
        line, = ax.plot(x, mean, label=label, **style)
        if any(len(a) > 1 for a in arr):
            ax.fill_between(x, [a.min() for a in arr], [a.max() for a in arr], color=line.get_color(), alpha=0.2)
    if chance is not None:
        ax.axhline(chance, color="k", ls=":", lw=1, label="chance")
    if logx:
        ax.set_xscale("log")
    ax.set_xticks(list(x))
    ax.set_xticklabels([f"{v:g}" for v in x])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend is not None:
        ax.legend(fontsize="small", loc=legend)
    return ax


def plot_ablation_bars(labels: Sequence[str], values: Sequence[float], *, ax=None, chance: float | None = 10.0,
                       xlabel: str = "test accuracy (%)", colors: Sequence | None = None):
    """Horizontal bars, one per variant, with the value written at the end of each bar."""
    ax = _ax(ax)
    y = np.arange(len(labels))[::-1]
    bars = ax.barh(y, values, color=colors)
    for b, v in zip(bars, values):
        ax.text(b.get_width() + 0.5, b.get_y() + b.get_height() / 2, f"{v:.1f}", va="center", fontsize="small")
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    if chance is not None:
        ax.axvline(chance, color="k", ls=":", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_xlim(0, 105)
    return ax


def plot_overlap_matrix(overlap: np.ndarray, *, ax=None, labels: Sequence[str] | None = None,
                        chance: float | None = None):
    """Heatmap of pairwise mask overlaps (fraction of kept weights shared), annotated."""
    import matplotlib.pyplot as plt

    ax = _ax(ax)
    overlap = np.asarray(overlap, dtype=float)
    im = ax.imshow(overlap, vmin=0, vmax=1, cmap="viridis")
    for i in range(overlap.shape[0]):
        for j in range(overlap.shape[1]):
            ax.text(j, i, f"{overlap[i, j]:.3f}", ha="center", va="center",
                    color="w" if overlap[i, j] < 0.6 else "k", fontsize="small")
    labels = labels or [f"ticket {i}" for i in range(overlap.shape[0])]
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
