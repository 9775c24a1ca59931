"""The networks the chapters prune: LeNet-300-100 (Frankle & Carbin's fully connected net).

Example:
    >>> net = lenet_300_100(seed=0)
    >>> [tuple(p.shape) for n, p in net.named_parameters() if n.endswith("weight")]
    [(300, 784), (100, 300), (10, 100)]
"""
from __future__ import annotations

import torch
from torch import nn

from lotterylab.seeding import make_generator

__all__ = ["LeNet300100", "lenet_300_100", "prunable_names"]


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
