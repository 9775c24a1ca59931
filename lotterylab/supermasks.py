"""Edge-popup and biprop: learn a mask for a network whose weights are never trained.

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
Zhou et al.'s heuristic masks are in :mod:`lotterylab.zhou_masks`; the multi-prize analyses
(quantisation, mask overlap, the multigraph) in :mod:`lotterylab.multi_prize`.

Example:
    >>> net = supermask_lenet(width=1, density=0.3, weight_seed=0, score_seed=0)
    >>> [round(d, 3) for d in net.layer_densities()]
    [0.3, 0.3, 0.3]
    >>> net(torch.zeros(2, 784)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from lotterylab.errors import LotteryLabError, check_choice, check_fraction, check_positive_float, check_positive_int
from lotterylab.progress import progress_bar
from lotterylab.seeding import make_generator

__all__ = ["INITS", "METHODS", "VERSION", "ScoreTrainConfig", "ScoreTrainResult", "SupermaskLinear", "SupermaskMLP",
           "evaluate_copies", "init_weights", "lenet_widths", "supermask_lenet", "train_supermask"]

VERSION = 1  # of what this module computes: bump when a change here changes the numbers
INITS = ("signed_constant", "kaiming_normal", "kaiming_uniform")
METHODS = ("edge_popup", "biprop")


def _check_density(density) -> float:
    return check_fraction("density", density, low_inclusive=False, high=1.0, high_inclusive=True)


def lenet_widths(width: float = 1.0, *, in_features: int = 784, n_classes: int = 10) -> tuple[int, ...]:
    """Layer sizes of a LeNet-300-100 whose hidden layers are ``width`` times wider (``width >= 1``).

    >>> lenet_widths(2)
    (784, 600, 200, 10)
    """
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not (math.isfinite(width) and width >= 1):
        raise LotteryLabError(f"width={width!r} must be a number >= 1 (the width multiplier).")
    check_positive_int("in_features", in_features)
    check_positive_int("n_classes", n_classes, minimum=2)
    return (in_features, round(300 * width), round(100 * width), n_classes)


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
    if not (isinstance(shape, (tuple, list)) and len(shape) == 2 and all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)):
        raise LotteryLabError(f"shape={shape!r} must be a pair of integers >= 1 (out_features, in_features).")
    if not isinstance(generator, torch.Generator):
        raise LotteryLabError(f"generator={generator!r} must be a torch.Generator (see make_generator).")
    shape = tuple(shape)
    std = math.sqrt(2.0 / (shape[1] * (density if scale_by_density else 1.0)))
    if init == "signed_constant":
        return (torch.randint(0, 2, shape, generator=generator).float() * 2 - 1) * std
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

    Example:
        >>> layer = SupermaskLinear(4, 3, density=0.5, weight_generator=make_generator(0),
        ...                         score_generator=make_generator(1), copies=2)
        >>> layer(torch.ones(2, 5, 4)).shape, int(layer.mask()[0].sum())
        (torch.Size([2, 5, 3]), 6)
    """

    def __init__(self, in_features: int, out_features: int, *, density: float, init: str = "signed_constant",
                 method: str = "edge_popup", weight_generator: torch.Generator, score_generator: torch.Generator,
                 copies: int = 1, scale_by_density: bool = False) -> None:
        super().__init__()
        self.density = _check_density(density)
        self.method = check_choice("method", method, METHODS)
        check_positive_int("copies", copies)
        if not isinstance(score_generator, torch.Generator):
            raise LotteryLabError(f"score_generator={score_generator!r} must be a torch.Generator.")
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

    Example:
        >>> SupermaskMLP((6, 4, 2), copies=3)(torch.zeros(5, 6)).shape
        torch.Size([3, 5, 2])
    """

    def __init__(self, widths: Sequence[int], *, density: float = 0.5, init: str = "signed_constant",
                 method: str = "edge_popup", weight_seed: int = 0, score_seed: int = 0, copies: int = 1,
                 scale_by_density: bool = False) -> None:
        super().__init__()
        if not isinstance(widths, Sequence) or len(widths) < 2 or not all(
                isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
            raise LotteryLabError(f"widths={widths!r} must be at least two integers >= 1 (input, ..., output).")
        check_positive_int("weight_seed", weight_seed, minimum=0)
        check_positive_int("score_seed", score_seed, minimum=0)
        wg, sg = make_generator(weight_seed), make_generator(score_seed)
        self.copies = check_positive_int("copies", copies)
        self.layers = nn.ModuleList(
            SupermaskLinear(a, b, density=density, init=init, method=method, weight_generator=wg,
                            score_generator=sg, copies=copies, scale_by_density=scale_by_density)
            for a, b in itertools.pairwise(widths))

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
        """The weights each layer uses, ``(copies, out, in)`` per layer (no gradient)."""
        return [layer.effective_weight() for layer in self.layers]


def supermask_lenet(width: float = 1.0, **kwargs) -> SupermaskMLP:
    """A :class:`SupermaskMLP` shaped like LeNet-300-100 with hidden layers ``width`` times wider.

    >>> [tuple(layer.weight.shape) for layer in supermask_lenet(1).layers]
    [(300, 784), (100, 300), (10, 100)]
    """
    return SupermaskMLP(lenet_widths(width), **kwargs)


@dataclass(frozen=True)
class ScoreTrainConfig:
    """How to train scores (defaults: the edge-popup paper's SGD recipe, shortened).

    >>> ScoreTrainConfig(epochs=2).batch_size
    128
    """

    epochs: int = 10             # passes over the training data
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4   # on the scores, as in the reference code
    cosine: bool = True          # cosine learning-rate decay to zero over all steps

    def __post_init__(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_positive_float("lr", self.lr)
        check_fraction("momentum", self.momentum)
        check_positive_float("weight_decay", self.weight_decay, allow_zero=True)
        if not isinstance(self.cosine, bool):
            raise LotteryLabError(f"cosine={self.cosine!r} must be True or False.")


@dataclass
class ScoreTrainResult:
    """What :func:`train_supermask` measured: per epoch, one accuracy per copy."""

    epochs: list[int] = field(default_factory=list)
    val_acc: list[list[float]] = field(default_factory=list)    # (epochs, copies)
    test_acc: list[list[float]] = field(default_factory=list)   # (epochs, copies)

    @property
    def final_test_acc(self) -> list[float]:  # one accuracy per copy, after the last epoch
        return self.test_acc[-1]


def _check_model(model) -> None:
    if not isinstance(model, SupermaskMLP):
        raise LotteryLabError(f"model must be a SupermaskMLP (see supermask_lenet), not {type(model).__name__}.")


def _check_xy(model: SupermaskMLP, X, y, name: str) -> None:
    if not (isinstance(X, torch.Tensor) and isinstance(y, torch.Tensor)) or X.dim() < 2 or y.dim() != 1 \
            or len(X) != len(y) or len(X) == 0:
        raise LotteryLabError(f"{name} must be a non-empty float tensor (n, features) and labels of shape (n,); "
                              f"got {getattr(X, 'shape', X)!r} and {getattr(y, 'shape', y)!r}.")
    features = model.layers[0].weight.shape[1]
    if X[0].numel() != features:
        raise LotteryLabError(f"{name} has {X[0].numel()} features per example; the model expects {features}.")


@torch.no_grad()
def evaluate_copies(model: SupermaskMLP, X: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Accuracy of each copy of ``model`` on ``(X, y)`` (moved to the model's device).

    >>> evaluate_copies(SupermaskMLP((4, 2), copies=2), torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))
    [1.0, 1.0]
    """
    _check_model(model)
    _check_xy(model, X, y, "X, y")
    device = model.layers[0].weight.device
    was = model.training
    model.eval()
    logits = model(X.to(device))
    logits = logits.unsqueeze(0) if logits.dim() == 2 else logits
    model.train(was)
    return [float(a) for a in (logits.argmax(-1) == y.to(device)).float().mean(1)]


def _check_training_inputs(model, data, config, seed) -> None:
    _check_model(model)
    if not isinstance(config, ScoreTrainConfig):
        raise LotteryLabError(f"config must be a ScoreTrainConfig, not {type(config).__name__}.")
    check_positive_int("seed", seed, minimum=0)
    if not all(hasattr(data, f"{a}_{b}") for a in "Xy" for b in ("train", "val", "test")):
        raise LotteryLabError(f"data must be a lotterylab.data.Split, not {type(data).__name__}.")
    for part in ("train", "val", "test"):
        _check_xy(model, getattr(data, f"X_{part}"), getattr(data, f"y_{part}"), f"data.X_{part}, data.y_{part}")
    if config.batch_size > len(data.X_train):
        raise LotteryLabError(f"config.batch_size={config.batch_size} is larger than the {len(data.X_train)} "
                              "training examples: an epoch would take no step. Use a smaller batch_size.")


def train_supermask(model: SupermaskMLP, data, config: ScoreTrainConfig = ScoreTrainConfig(), *, seed: int,
                    progress=None) -> ScoreTrainResult:
    """Train the scores of ``model`` (the weights never change) on ``data``; ``seed`` fixes the data order.

    Runs on the model's device. All copies see the same batches; their losses are summed, so each
    copy's scores get exactly the gradient a separate run would. Evaluates every copy after every
    epoch. ``progress``: a tqdm bar to update once per epoch, or None for a bar of its own.

    >>> from lotterylab.data import load_mnist_subset
    >>> result = train_supermask(SupermaskMLP((784, 10)), load_mnist_subset(), ScoreTrainConfig(epochs=1), seed=0)
    >>> result.epochs, len(result.final_test_acc)
    ([1], 1)
    """
    _check_training_inputs(model, data, config, seed)
    device = model.layers[0].weight.device
    X, y = data.X_train.to(device), data.y_train.to(device)
    Xv, yv, Xt, yt = (t.to(device) for t in (data.X_val, data.y_val, data.X_test, data.y_test))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    n, bs = len(X), config.batch_size
    steps_per_epoch = n // bs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps_per_epoch * config.epochs) if config.cosine else None
    gen = make_generator(seed)
    bar = progress if progress is not None else progress_bar(total=config.epochs, desc="score training")
    out = ScoreTrainResult()
    model.train()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(n, generator=gen).to(device)  # one copy per epoch
        for i in range(steps_per_epoch):
            idx = order[i * bs:(i + 1) * bs]
            logits = model(X[idx])
            logits = logits.unsqueeze(0) if logits.dim() == 2 else logits   # (copies, batch, classes)
            loss = F.cross_entropy(logits.flatten(0, 1), y[idx].repeat(logits.shape[0]), reduction="sum") / bs
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
        out.epochs.append(epoch)
        out.val_acc.append(evaluate_copies(model, Xv, yv))
        out.test_acc.append(evaluate_copies(model, Xt, yt))
        bar.update(1)
    if progress is None:
        bar.close()
    return out
