"""Linearising *during* training (Fort et al. 2020): from which step on does the tangent space predict training?

:func:`linearize_during_training` trains a network with full-batch Adam on the squared loss, takes
snapshots of the parameters ``theta_k`` and the optimiser's state at the steps ``k`` in
``linearize_at``, and from each snapshot trains the network's linearisation at ``theta_k``,

    f_lin_k(theta, x) = f(x; theta_k) + J_k(x) (theta - theta_k),

with the same optimiser (its state carried over) for the remaining steps. If the tangent space at
``theta_k`` predicts training, the linearised model ends where the network ends. Each step of the
linearised model is one Jacobian-vector and one vector-Jacobian product (``torch.func``); ``J_k`` is
never formed.

Example:
    >>> from lotterylab.models import TangentMLP
    >>> x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    >>> run = linearize_during_training(TangentMLP(2, [64], 1), x, x[:, :1], x, linearize_at=(0, 5), steps=10)
    >>> sorted(run.linearized), run.linearized[5].steps[0]
    ([0, 5], 5)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, jvp, vjp

from lotterylab.errors import LotteryLabError, check_positive_float, check_positive_int
from lotterylab.tangent import check_inputs, linearize, params_of
from lotterylab.tangent_fit import function_distance, relative_movement

__all__ = ["AdamLinearizationRun", "LinearizedFrom", "linearize_during_training"]


@dataclass(frozen=True)
class LinearizedFrom:
    """The linearisation at ``theta_k`` trained from step ``k`` to the end."""

    k: int
    steps: list[int]             # recorded steps (counted from the start of the full run)
    train_loss: list[float]      # its training loss at those steps
    f_eval: torch.Tensor         # its outputs on the evaluation inputs at the end
    distance: float              # RMS(f_eval - network's) / RMS(network's - f0) on the evaluation inputs
    movement_at_k: float         # ||theta_k - theta_0|| / ||theta_0||


@dataclass(frozen=True)
class AdamLinearizationRun:
    """A network trained by full-batch Adam, and its linearisations at the snapshots."""

    lr: float
    steps: list[int]             # recorded steps of the network
    train_loss: list[float]      # the network's training loss at those steps
    f0_eval: torch.Tensor        # outputs on the evaluation inputs at initialisation
    f_eval: torch.Tensor         # outputs on the evaluation inputs after training
    movement: float              # ||theta_T - theta_0|| / ||theta_0||
    linearized: dict[int, LinearizedFrom]


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 0.5 * (out - y).pow(2).sum() / y.numel()


def _adam_state(opt: torch.optim.Adam, named: dict[str, torch.Tensor]) -> dict[str, dict]:
    return {n: {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in opt.state[p].items()}
            for n, p in named.items() if p in opt.state}


def _train_linearized(model, theta_k, state_k, x, y, lr, k, steps, record_every):
    """Adam on the linearisation at ``theta_k`` from step ``k`` to ``steps``; returns (delta, steps, losses)."""
    buffers = dict(model.named_buffers())

    def f(p):
        return functional_call(model, ({**p, **buffers}), (x,))

    f_k, pullback = vjp(f, theta_k)
    f_k = f_k.detach()
    delta = {n: torch.zeros_like(t) for n, t in theta_k.items()}
    opt = torch.optim.Adam(list(delta.values()), lr=lr)
    for n, d in delta.items():
        if n in state_k:
            opt.state[d] = {key: v.clone() if isinstance(v, torch.Tensor) else v for key, v in state_k[n].items()}
    recorded, losses = [], []
    for step in range(k, steps + 1):
        out = f_k + jvp(f, (theta_k,), (delta,))[1].detach()
        if record_every and (step - k) % record_every == 0 or step == steps:
            recorded.append(step)
            losses.append(_mse(out, y).detach())
        if step == steps:
            break
        (grads,) = pullback((out - y) / y.numel())
        for n, d in delta.items():
            d.grad = grads[n].detach()
        opt.step()
    return delta, recorded, torch.stack(losses).cpu().tolist()


def linearize_during_training(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_eval: torch.Tensor, *,
                              linearize_at: Sequence[int], steps: int, lr: float = 1e-3,
                              record_every: int | None = None) -> AdamLinearizationRun:
    """Train ``model`` (in place) by full-batch Adam on ``||f(x) - y||^2 / (2 n)``; linearise it at each ``k``.

    For every ``k`` in ``linearize_at`` (increasing, ``0 <= k < steps``) the linearisation at
    ``theta_k`` is trained by Adam with the network's optimiser state at step ``k`` for the remaining
    ``steps - k`` steps. ``record_every`` (default ``max(1, steps // 50)``) sets how often losses are
    recorded. Everything runs on the model's device.

    Example:
        >>> from lotterylab.models import TangentMLP
        >>> x = torch.ones(2, 1)
        >>> linearize_during_training(TangentMLP(1, [4], 1), x, torch.ones(2, 1), x, linearize_at=[3], steps=3)
        Traceback (most recent call last):
        ...
        lotterylab.errors.LotteryLabError: linearize_at=[3] must be increasing steps k with 0 <= k < steps=3.
    """
    check_positive_int("steps", steps)
    lr = check_positive_float("lr", lr)
    ks = list(linearize_at) if isinstance(linearize_at, (list, tuple, range)) else linearize_at
    if not isinstance(ks, list) or not ks or ks != sorted(set(ks)) or any(
            not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < steps for k in ks):
        raise LotteryLabError(f"linearize_at={linearize_at!r} must be increasing steps k with 0 <= k < steps={steps}.")
    record_every = max(1, steps // 50) if record_every is None else check_positive_int("record_every", record_every)
    if not isinstance(model, nn.Module):
        raise LotteryLabError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    named = dict(model.named_parameters())
    device = next(iter(named.values())).device
    check_inputs(x, "x", device)
    check_inputs(x_eval, "x_eval", device)
    f0_eval = model(x_eval).detach()
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (len(x), *f0_eval.shape[1:]) or y.device != device:
        raise LotteryLabError(f"y must be a tensor of the shape of model(x), ({len(x)}, "
                              f"{', '.join(map(str, f0_eval.shape[1:]))}), on {device}.")
    theta0 = params_of(model)
    opt = torch.optim.Adam(list(named.values()), lr=lr)
    snapshots, recorded, losses = {}, [], []
    for step in range(steps + 1):
        if step in ks:
            snapshots[step] = (params_of(model), _adam_state(opt, named))
        loss = _mse(model(x), y)
        if step % record_every == 0 or step == steps:
            recorded.append(step)
            losses.append(loss.detach())
        if step == steps:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    f_eval = model(x_eval).detach()
    linearized = {}
    for k, (theta_k, state_k) in snapshots.items():
        delta, rec_k, loss_k = _train_linearized(model, theta_k, state_k, x, y, lr, k, steps, record_every)
        f_lin = linearize(model, theta_k)({n: theta_k[n] + delta[n] for n in theta_k}, x_eval).detach()
        linearized[k] = LinearizedFrom(k=k, steps=rec_k, train_loss=loss_k, f_eval=f_lin,
                                       distance=function_distance(f_lin, f_eval, relative_to=f0_eval),
                                       movement_at_k=relative_movement(theta_k, theta0))
    return AdamLinearizationRun(lr=lr, steps=recorded, train_loss=torch.stack(losses).cpu().tolist(),
                                f0_eval=f0_eval, f_eval=f_eval, movement=relative_movement(params_of(model), theta0),
                                linearized=linearized)
