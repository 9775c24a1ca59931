"""A binary network *trained* with a straight-through estimator: the fair baseline for binary tickets.

BinaryConnect (Courbariaux, Bengio and David, 2015) trains a network whose forward pass uses binary
weights. Each layer keeps real-valued *latent* weights; the forward pass uses their signs; the
backward pass treats the sign as the identity where ``|w| <= 1`` (the straight-through estimator),
so the latent weights accumulate small updates until a sign flips; after every optimiser step they
are clipped to ``[-1, 1]``. Here, as in biprop and XNOR-Net, each layer's binary weights are scaled
by one gain, the mean ``|w|`` of its latent weights, so a layer computes with ``+-gain`` only; biases
stay real-valued, as in BinaryConnect.

:func:`binary_connect_lenet` builds a LeNet-300-100 with such layers (same shapes, names and initial
weights as :func:`lotterylab.models.lenet_300_100`), :func:`train_binary_connect` trains it with
:func:`lotterylab.training.train` plus the clipping, and :func:`binary_weights` returns the weights
the forward pass uses.

Example:
    >>> net = binary_connect_lenet(seed=0)
    >>> torch.unique(binary_weights(net)["fc3.weight"].abs()).numel()   # one magnitude per layer
    1
"""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from lotterylab.errors import LotteryLabError, check_positive_int
from lotterylab.models import LeNet300100, lenet_300_100
from lotterylab.training import TrainConfig, TrainResult, train

__all__ = ["VERSION", "BinaryConnectLinear", "binary_connect_lenet", "binary_weights", "train_binary_connect"]

VERSION = 1  # of what this module computes: bump when a change here changes the numbers


class _SignSTE(torch.autograd.Function):
    """Forward: the sign (0 counts as +1). Backward: the gradient, unchanged where ``|w| <= 1``, else 0."""

    @staticmethod
    def forward(ctx, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(w)
        return torch.where(w >= 0, 1.0, -1.0).to(w.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= 1).to(grad.dtype)


class BinaryConnectLinear(nn.Linear):
    """A linear layer that computes with ``gain * sign(weight)``; ``weight`` holds the latent real weights.

    Example:
        >>> layer = BinaryConnectLinear(3, 2)
        >>> torch.unique(layer.binary_weight().abs()).numel()
        1
    """

    def binary_weight(self) -> torch.Tensor:
        """The weights the forward pass uses: ``+-gain``, ``gain = mean|weight|`` (straight-through gradient)."""
        gain = self.weight.detach().abs().mean()
        return gain * _SignSTE.apply(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.binary_weight(), self.bias)


def binary_connect_lenet(seed: int, *, width: float = 1.0, device=None) -> LeNet300100:
    """A LeNet-300-100 (hidden layers ``width`` times wider) whose layers are :class:`BinaryConnectLinear`.

    The latent weights start at :func:`~lotterylab.models.lenet_300_100`'s initial weights for ``seed``.

    >>> [type(m).__name__ for m in binary_connect_lenet(0).children()]
    ['BinaryConnectLinear', 'BinaryConnectLinear', 'BinaryConnectLinear']
    """
    check_positive_int("seed", seed, minimum=0)
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not (math.isfinite(width) and width >= 1):
        raise LotteryLabError(f"width={width!r} must be a number >= 1 (the width multiplier).")
    model = lenet_300_100(seed=seed, hidden=(round(300 * width), round(100 * width)))
    for name in ("fc1", "fc2", "fc3"):
        dense = getattr(model, name)
        layer = BinaryConnectLinear(dense.in_features, dense.out_features)
        layer.load_state_dict(dense.state_dict())
        setattr(model, name, layer)
    return model.to(device) if device is not None else model


def _binary_layers(model) -> list[BinaryConnectLinear]:
    if not isinstance(model, nn.Module):
        raise LotteryLabError(f"model must be a torch.nn.Module, not {type(model).__name__}.")
    layers = [m for m in model.modules() if isinstance(m, BinaryConnectLinear)]
    if not layers:
        raise LotteryLabError("model has no BinaryConnectLinear layer; build it with binary_connect_lenet.")
    return layers


@torch.no_grad()
def binary_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights each :class:`BinaryConnectLinear` of ``model`` computes with, by parameter name.

    >>> w = binary_weights(binary_connect_lenet(0))
    >>> list(w), torch.unique(w["fc2.weight"].abs()).numel()
    (['fc1.weight', 'fc2.weight', 'fc3.weight'], 1)
    """
    _binary_layers(model)
    return {f"{name}.weight": m.binary_weight() for name, m in model.named_modules()
            if isinstance(m, BinaryConnectLinear)}


def train_binary_connect(model: nn.Module, data, config: TrainConfig, *, seed: int, progress=None) -> TrainResult:
    """Train ``model`` (with :class:`BinaryConnectLinear` layers) as BinaryConnect does.

    :func:`lotterylab.training.train` does the steps (same data order, evaluations and early-stopping
    record as a dense network); after every optimiser step the latent weights are clipped to
    ``[-1, 1]``. Runs on the model's device.

    >>> from lotterylab.data import load_mnist_subset
    >>> net = binary_connect_lenet(0)
    >>> train_binary_connect(net, load_mnist_subset(), TrainConfig(steps=2, eval_every=2), seed=0).steps
    [2]
    >>> bool(net.fc1.weight.abs().max() <= 1)
    True
    """
    if not isinstance(config, TrainConfig):
        raise LotteryLabError(f"config must be a TrainConfig, not {type(config).__name__}.")
    latent = [m.weight for m in _binary_layers(model)]
    ids = {id(p) for p in latent}

    def clip(optimizer, args, kwargs) -> None:  # runs after every step of every optimiser: ours only
        if any(id(p) in ids for group in optimizer.param_groups for p in group["params"]):
            with torch.no_grad():
                for p in latent:
                    p.clamp_(-1.0, 1.0)

    handle = register_optimizer_step_post_hook(clip)
    try:
        return train(model, data, config, seed=seed, progress=progress)
    finally:
        handle.remove()
