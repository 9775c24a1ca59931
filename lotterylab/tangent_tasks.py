"""Chapter 6's two tasks, defined once for the chapter and its reference run.

* :func:`regression_task`: a wiggly 1-D curve, ``y = sin(pi x) + x / 2`` at ``n_points`` evenly spaced
  inputs in [-1, 1], evaluated on a 201-point grid; networks with ``bias_std=1``;
* :func:`parity_task`: MNIST odd (+1) or even (-1), the first ``n_train`` training and ``n_test`` test
  images of a split; networks with the default ``bias_std``;
* :func:`sign_accuracy`: the fraction of outputs whose sign is the target's (the predicted class).

Each task builds its one-hidden-layer :class:`~lotterylab.models.TangentMLP` (NTK parameterisation) with
:meth:`LazyTask.model`, on the task's device.

Example:
    >>> task = regression_task(4)
    >>> task.x.shape, task.y.shape, task.x_eval.shape, task.y_eval is None
    (torch.Size([4, 1]), torch.Size([4, 1]), torch.Size([201, 1]), True)
    >>> sum(p.numel() for p in task.model(8).parameters())   # hidden: 8 weights, 8 biases; output: 8 + 1
    25
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lotterylab.errors import LotteryLabError, check_positive_int
from lotterylab.models import TangentMLP

__all__ = ["LazyTask", "parity_task", "regression_task", "sign_accuracy"]


@dataclass(frozen=True)
class LazyTask:
    """Training inputs and targets, evaluation inputs (and targets), and the networks' bias scale."""

    name: str
    x: torch.Tensor                  # (n, d) training inputs
    y: torch.Tensor                  # (n, 1) targets
    x_eval: torch.Tensor             # (m, d) evaluation inputs
    y_eval: torch.Tensor | None      # (m, 1) evaluation targets, or None (regression: a plotting grid)
    bias_std: float                  # TangentMLP's bias factor for this task

    def model(self, width: int, *, seed: int = 0) -> TangentMLP:
        """A fresh one-hidden-layer network of ``width`` units (NTK parameterisation) on the task's device."""
        check_positive_int("width", width)
        return TangentMLP(self.x.shape[1], [width], 1, bias_std=self.bias_std, seed=seed).to(self.x.device)


def regression_task(n_points: int, *, device: torch.device | str | None = None) -> LazyTask:
    """The 1-D regression: ``n_points`` inputs in [-1, 1], targets ``sin(pi x) + x / 2``, a 201-point grid.

    ``device=None`` keeps the tensors on the CPU.
    """
    check_positive_int("n_points", n_points, minimum=2)
    x = torch.linspace(-1, 1, n_points, device=device)[:, None]
    y = torch.sin(math.pi * x) + 0.5 * x
    x_grid = torch.linspace(-1, 1, 201, device=device)[:, None]
    return LazyTask("regression", x, y, x_grid, None, bias_std=1.0)


def parity_task(data, n_train: int, n_test: int) -> LazyTask:
    """MNIST odd (+1) vs even (-1) on the first ``n_train`` training and ``n_test`` test images of ``data``.

    ``data`` is a split such as :func:`lotterylab.data.load_mnist_subset`'s; the tensors stay on its device.

    Example:
        >>> from lotterylab.data import load_mnist_subset
        >>> task = parity_task(load_mnist_subset(), 8, 4)
        >>> task.x.shape, sorted(set(task.y.flatten().tolist())) == [-1.0, 1.0]
        (torch.Size([8, 784]), True)
    """
    for name in ("X_train", "y_train", "X_test", "y_test"):
        if not isinstance(getattr(data, name, None), torch.Tensor):
            raise LotteryLabError(f"data must be a split with tensors X_train, y_train, X_test, y_test "
                                  f"(e.g. load_mnist_subset()); it has no tensor {name}.")
    for name, n, have in (("n_train", n_train, len(data.y_train)), ("n_test", n_test, len(data.y_test))):
        check_positive_int(name, n)
        if n > have:
            raise LotteryLabError(f"{name}={n} is more than the {have} images the split has.")
    y_tr = (2.0 * (data.y_train[:n_train] % 2) - 1)[:, None]      # odd +1, even -1
    y_te = (2.0 * (data.y_test[:n_test] % 2) - 1)[:, None]
    return LazyTask("mnist", data.X_train[:n_train], y_tr, data.X_test[:n_test], y_te, bias_std=0.1)


def sign_accuracy(f: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of outputs ``f`` whose sign equals the target ``y`` (+1 / -1), as a Python float.

    Example:
        >>> sign_accuracy(torch.tensor([[0.3], [-2.0], [0.1]]), torch.tensor([[1.0], [-1.0], [-1.0]]))
        0.6666666865348816
    """
    if not isinstance(f, torch.Tensor) or not isinstance(y, torch.Tensor) or f.shape != y.shape or f.numel() == 0:
        raise LotteryLabError(f"f and y must be non-empty tensors of the same shape, got "
                              f"{getattr(f, 'shape', type(f).__name__)} and {getattr(y, 'shape', type(y).__name__)}.")
    return float((torch.sign(f) == y).float().mean())
