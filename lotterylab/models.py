"""The course's networks, in one place.

- :class:`LeNet300100`: Frankle & Carbin's fully connected net (chapters 1, 3, 5);
- :class:`ConvNet`: a Conv-4-style net without BatchNorm (chapter 2's ``full`` preset);
- :class:`TangentMLP`: a ReLU MLP in NTK or standard parameterisation (chapter 6).

Each constructor function draws its weights from an explicit ``seed`` (same seed, same weights)
and never touches the global random state.

Example:
    >>> net = lenet_300_100(seed=0)
    >>> [tuple(p.shape) for n, p in net.named_parameters() if n.endswith("weight")]
    [(300, 784), (100, 300), (10, 100)]
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lotterylab.errors import LotteryLabError, check_choice, check_positive_float, check_positive_int
from lotterylab.seeding import make_generator

__all__ = [
    "PARAMETERIZATIONS",
    "ConvNet",
    "LeNet300100",
    "TangentMLP",
    "conv_net",
    "glorot_normal_init_",
    "lenet_300_100",
    "prunable_names",
]

PARAMETERIZATIONS = ("ntk", "standard")


class LeNet300100(nn.Module):
    """784-300-100-10 fully connected ReLU network (LeCun et al. 1998; the LTH paper's LeNet)."""

    def __init__(self, in_features: int = 784, hidden: tuple[int, int] = (300, 100),
                 num_classes: int = 10) -> None:
        super().__init__()
        h1, h2 = hidden
        self.fc1 = nn.Linear(in_features, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.fc3 = nn.Linear(h2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.fc1(x.flatten(1)))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


@torch.no_grad()
def glorot_normal_init_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Gaussian Glorot weights and zero biases for every Linear layer, drawn from ``generator``."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            fan_out, fan_in = module.weight.shape
            std = (2.0 / (fan_in + fan_out)) ** 0.5
            module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
            module.bias.zero_()
    return model


def lenet_300_100(seed: int, device: torch.device | str | None = None, **kwargs) -> LeNet300100:
    """A LeNet-300-100 with Gaussian Glorot init drawn from ``seed`` (same seed, same weights)."""
    model = glorot_normal_init_(LeNet300100(**kwargs), make_generator(seed))
    return model.to(device) if device is not None else model


def prunable_names(model: nn.Module) -> list[str]:
    """Names of the weights pruning acts on: every parameter with 2+ dims (not biases)."""
    return [name for name, p in model.named_parameters() if p.dim() >= 2]


class ConvNet(nn.Module):
    """A Conv-4-style network for 28x28 digits: 2x(conv, conv, pool), then 256-256-10 (no BatchNorm).

    Without BatchNorm, interpolated weights need no re-estimated statistics, so the barrier measured
    along the line is the network's own (with BatchNorm it must be recomputed at every ``alpha``).
    """

    def __init__(self, channels: tuple[int, int] = (32, 64), hidden: int = 256, num_classes: int = 10) -> None:
        super().__init__()
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c1, 3, padding=1)
        self.conv3 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv4 = nn.Conv2d(c2, c2, 3, padding=1)
        self.fc1 = nn.Linear(c2 * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 1, 28, 28)
        x = F.max_pool2d(torch.relu(self.conv2(torch.relu(self.conv1(x)))), 2)
        x = F.max_pool2d(torch.relu(self.conv4(torch.relu(self.conv3(x)))), 2)
        x = torch.relu(self.fc1(x.flatten(1)))
        return self.fc3(torch.relu(self.fc2(x)))


def conv_net(seed: int, device: torch.device | str | None = None, **kwargs) -> ConvNet:
    """A :class:`ConvNet` with Gaussian Glorot weights and zero biases drawn from ``seed``.

    Example:
        >>> net = conv_net(seed=0, channels=(2, 2), hidden=8)
        >>> net(torch.zeros(3, 784)).shape
        torch.Size([3, 10])
    """
    model = ConvNet(**kwargs)
    generator = make_generator(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                receptive = module.weight[0, 0].numel()
                fan_in, fan_out = module.in_channels * receptive, module.out_channels * receptive
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator)
                                    * (2.0 / (fan_in + fan_out)) ** 0.5)
                module.bias.zero_()
    glorot_normal_init_(model, generator)
    return model.to(device) if device is not None else model


class TangentMLP(nn.Module):
    """Fully connected ReLU network in NTK or standard parameterisation (same function at init).

    Layer ``l`` computes ``a = s * W h + bias_std * b`` with ``W``, ``b`` drawn from N(0, 1) in the NTK
    parameterisation (``s = weight_std / sqrt(fan_in)``), and ``a = W h + b`` with
    ``W ~ N(0, weight_std^2 / fan_in)``, ``b ~ N(0, bias_std^2)`` in the standard one. The
    distribution of the function at initialisation is the same; the gradients, and hence training,
    are not. Hidden layers use ``weight_std = sqrt(2)`` (ReLU), the output layer ``1``.

    Example:
        >>> a = TangentMLP(3, [8], 2, parameterization="ntk", seed=0)
        >>> b = TangentMLP(3, [8], 2, parameterization="standard", seed=0)
        >>> x = torch.ones(1, 3)
        >>> bool(torch.allclose(a(x), b(x), atol=1e-6))
        True
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int = 1, *,
                 parameterization: str = "ntk", bias_std: float = 0.1, seed: int = 0) -> None:

        super().__init__()
        check_choice("parameterization", parameterization, PARAMETERIZATIONS)
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) or not hidden:
            raise LotteryLabError(f"hidden={hidden!r} must be a non-empty list of integer widths, e.g. [256].")
        sizes = [check_positive_int("in_features", in_features)]
        sizes += [check_positive_int(f"hidden[{i}]", h) for i, h in enumerate(hidden)]  # 2.7 is refused, not cut to 2
        sizes += [check_positive_int("out_features", out_features)]
        self.parameterization = parameterization
        self.bias_std = check_positive_float("bias_std", bias_std, allow_zero=True)
        g = make_generator(seed)
        self.layers = nn.ModuleList()
        self.scales: list[float] = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            layer = nn.Linear(fan_in, fan_out)
            w_std = (1.0 if i == len(sizes) - 2 else math.sqrt(2.0)) / math.sqrt(fan_in)
            with torch.no_grad():
                w, b = torch.randn(fan_out, fan_in, generator=g), torch.randn(fan_out, generator=g)
                if parameterization == "ntk":
                    layer.weight.copy_(w), layer.bias.copy_(b)
                    self.scales.append(w_std)
                else:
                    layer.weight.copy_(w * w_std), layer.bias.copy_(b * self.bias_std)
                    self.scales.append(1.0)
            self.layers.append(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for i, (layer, s) in enumerate(zip(self.layers, self.scales)):
            if self.parameterization == "ntk":
                h = s * (h @ layer.weight.T) + self.bias_std * layer.bias
            else:
                h = layer(h)
            if i < len(self.layers) - 1:
                h = torch.relu(h)
        return h
