"""Train and evaluate a (possibly masked) classifier on in-memory tensors.

Masked training keeps pruned weights *exactly* zero: their gradients are zeroed before each
optimiser step (so Adam's moments and SGD's momentum never build up there) and the mask is
re-applied after it. Forgetting this is a classic bug: momentum revives "pruned" weights.

Example:
    >>> from lotterylab.data import load_mnist_subset
    >>> from lotterylab.models import lenet_300_100
    >>> data = load_mnist_subset()
    >>> result = train(lenet_300_100(seed=0), data, TrainConfig(steps=100, eval_every=50), seed=0)
    >>> result.early_stop_step in (50, 100)
    True
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from lotterylab.errors import LotteryLabError, check_choice, check_fraction, check_positive_float, check_positive_int
from lotterylab.seeding import make_generator

__all__ = ["OPTIMIZERS", "TrainConfig", "TrainResult", "batch_order", "evaluate", "train"]

OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """How to train one network (defaults: the LTH paper's LeNet setting, with fewer steps)."""

    steps: int = 1200            # optimiser steps (the paper: 50,000 on full MNIST)
    batch_size: int = 60         # the paper's batch size for LeNet
    lr: float = 1.2e-3           # Adam learning rate from the paper
    optimizer: str = "adam"      # "adam" or "sgd" (with momentum)
    momentum: float = 0.9        # SGD only
    eval_every: int = 50         # evaluate validation loss/accuracy every this many steps

    def __post_init__(self) -> None:
        check_positive_int("steps", self.steps)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("eval_every", self.eval_every)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive_float("lr", self.lr)
        check_fraction("momentum", self.momentum)


@dataclass
class TrainResult:
    """What one training run measured. ``history`` has one entry per evaluation."""

    steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    snapshot: dict[str, torch.Tensor] | None = None   # state_dict at ``snapshot_step`` (for rewinding)

    @property
    def best_index(self) -> int:
        return min(range(len(self.val_loss)), key=self.val_loss.__getitem__)

    @property
    def early_stop_step(self) -> int:
        """The step with the lowest validation loss (the paper's early-stopping iteration)."""
        return self.steps[self.best_index]

    @property
    def early_stop_test_acc(self) -> float:
        """Test accuracy at the early-stopping step (what the paper reports)."""
        return self.test_acc[self.best_index]

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1]


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 10_000) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy of ``model`` on ``(X, y)``."""
    if len(X) == 0 or len(X) != len(y):
        raise LotteryLabError(f"X and y must be non-empty and of equal length; got {len(X)} and {len(y)}.")
    check_positive_int("batch_size", batch_size)
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(X), batch_size):
        logits = model(X[i:i + batch_size])
        loss += float(F.cross_entropy(logits, y[i:i + batch_size], reduction="sum"))
        correct += int((logits.argmax(1) == y[i:i + batch_size]).sum())
    model.train(was_training)
    return loss / len(X), correct / len(X)


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = list(model.parameters())
    fused = params[0].device.type in ("cpu", "cuda")  # fused Adam: ~10% masking overhead instead of ~80%
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, fused=fused)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)


def _epoch_seed(seed: int, epoch: int) -> int:
    return (int(seed) * 1_000_003 + epoch) % 2**63


def batch_order(seed: int, step: int, n: int, batch_size: int, device=None) -> torch.Tensor:
    """Indices of the batch used at optimiser ``step`` (1-based): the same for a rewound network.

    Epoch ``e`` shuffles the data with a permutation drawn from ``(seed, e)`` alone and drops the
    last partial batch, so the batch at step ``k + 1`` does not depend on where training started.

    Example:
        >>> batch_order(0, 3, n=10, batch_size=4).shape   # step 3 is the first batch of epoch 1
        torch.Size([4])
    """
    check_positive_int("step", step)
    check_positive_int("n", n)
    check_positive_int("batch_size", batch_size)
    per_epoch = n // batch_size
    if per_epoch == 0:
        raise LotteryLabError(f"batch_size={batch_size} is larger than the {n} training examples.")
    epoch, b = divmod(step - 1, per_epoch)
    order = torch.randperm(n, generator=make_generator(_epoch_seed(seed, epoch)))
    return order[b * batch_size:(b + 1) * batch_size].to(device)


def train(model: nn.Module, data, config: TrainConfig, *, seed: int, mask=None, start_step: int = 0,
          snapshot_step: int | None = None, progress=None) -> TrainResult:
    """Train ``model`` in place on ``data`` (a :class:`lotterylab.data.Split`) and return what was measured.

    ``seed`` fixes the data order (see :func:`batch_order`). With ``mask`` (a :class:`lotterylab.pruning.Mask`)
    the pruned weights stay exactly zero. Training runs from ``start_step`` to ``config.steps``: a
    network rewound to step k trains the remaining steps on the batches k+1, k+2, ... that the
    original run saw there. The state at ``snapshot_step`` is kept in ``result.snapshot``. Evaluations happen every
    ``config.eval_every`` steps and at the last step. ``progress`` is an optional tqdm bar to update.
    """
    if isinstance(start_step, bool) or not isinstance(start_step, int) or not 0 <= start_step < config.steps:
        raise LotteryLabError(f"start_step={start_step!r} must be an integer in [0, config.steps={config.steps}).")
    if snapshot_step is not None and not (isinstance(snapshot_step, int) and start_step <= snapshot_step <= config.steps):
        raise LotteryLabError(f"snapshot_step={snapshot_step!r} must be None or an integer in "
                              f"[start_step={start_step}, config.steps={config.steps}].")
    check_positive_int("seed", seed, minimum=0)
    device = next(model.parameters()).device
    X, y = data.X_train.to(device), data.y_train.to(device)
    if config.batch_size > len(X):
        raise LotteryLabError(f"config.batch_size={config.batch_size} is larger than the {len(X)} training examples.")
    masked_params, masks = [], []
    if mask is not None:
        mask.check_matches(model)
        named = dict(model.named_parameters())
        masked_params = [named[n] for n in mask]
        masks = [mask[n].to(device=device, dtype=named[n].dtype) for n in mask]  # float 0/1, made once
        with torch.no_grad():
            torch._foreach_mul_(masked_params, masks)
    optimizer = _make_optimizer(model, config)
    result = TrainResult()
    n, bs = len(X), config.batch_size
    per_epoch = n // bs
    order, epoch = None, -1
    if snapshot_step == start_step:
        result.snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.train()
    for step in range(start_step + 1, config.steps + 1):
        e, b = divmod(step - 1, per_epoch)
        if e != epoch:  # a new epoch: its own permutation, drawn from (seed, epoch) as in batch_order
            order, epoch = torch.randperm(n, generator=make_generator(_epoch_seed(seed, e))).to(device), e
        idx = order[b * bs:(b + 1) * bs]
        loss = F.cross_entropy(model(X[idx]), y[idx])
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        if masks:
            torch._foreach_mul_([p.grad for p in masked_params], masks)  # no optimiser state builds up
        optimizer.step()
        if masks:
            with torch.no_grad():
                torch._foreach_mul_(masked_params, masks)  # and pruned weights stay exactly zero
        if step == snapshot_step:
            result.snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if step % config.eval_every == 0 or step == config.steps:
            val_loss, val_acc = evaluate(model, data.X_val.to(device), data.y_val.to(device))
            _, test_acc = evaluate(model, data.X_test.to(device), data.y_test.to(device))
            result.steps.append(step)
            result.val_loss.append(val_loss)
            result.val_acc.append(val_acc)
            result.test_acc.append(test_acc)
        if progress is not None:
            progress.update(1)
    return result
