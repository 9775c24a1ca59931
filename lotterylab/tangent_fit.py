"""Fitting in the tangent space: the one-step solve, gradient descent in closed form, and lazy training.

* :func:`tangent_predict` gives the linearised network trained by full-batch gradient descent for
  ``steps`` steps, in closed form, or (``steps=None``) its limit: the minimum-norm least-squares
  solution, the "one Newton step";
* :func:`solve_tangent` returns that solution as a parameter change ``delta = J^T (K + ridge I)^-1 (y - f0)``;
* :func:`train_mse_gd` trains the network itself by full-batch gradient descent on the squared loss;
* :func:`relative_movement` and :func:`function_distance` measure lazy training.

Every solve is a symmetric eigendecomposition in float64 on the kernel's own device (CPU or GPU).

Example:
    >>> from lotterylab.models import TangentMLP
    >>> net = TangentMLP(1, [32], 1, seed=0)
    >>> x, y = torch.linspace(-1, 1, 4)[:, None], torch.tensor([[0.0], [1.0], [0.0], [1.0]])
    >>> f_train, _ = tangent_predict(empirical_ntk(net, x), net(x).detach(), y)
    >>> bool((f_train - y).abs().max() < 1e-4)
    True
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, vjp

from lotterylab.errors import LotteryLabError, check_positive_float, check_positive_int
from lotterylab.pruning import Mask
from lotterylab.tangent import Params, check_inputs, check_params, empirical_ntk, kernel_matrix, params_of

__all__ = [
    "GDHistory",
    "function_distance",
    "relative_movement",
    "solve_tangent",
    "tangent_predict",
    "train_mse_gd",
]

def _eig_gain(K: torch.Tensor, ridge: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eigendecomposition of the symmetric PSD ``K`` and the gain ``1 / (lam + ridge)`` (0 below round-off)."""
    lam, V = torch.linalg.eigh((K + K.T) / 2)
    lam = lam.clamp_min(0.0)
    tol = lam.max() * K.shape[0] * torch.finfo(K.dtype).eps
    gain = torch.where(lam + ridge > tol, 1.0 / (lam + ridge), torch.zeros_like(lam))
    return lam, V, gain


def tangent_predict(k_train: torch.Tensor, f0_train: torch.Tensor, y_train: torch.Tensor,
                    k_test_train: torch.Tensor | None = None, f0_test: torch.Tensor | None = None, *,
                    lr: float | None = None, steps: int | None = None,
                    ridge: float = 0.0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Outputs of the linearised network trained on ``(X, y)``, on the training and test inputs.

    The loss is the mean squared error ``L = ||f(X) - y||^2 / (2 n)`` (n = number of training
    outputs). Full-batch gradient descent with learning rate ``lr`` on the *linearised* network moves
    the training residual ``r = f - y`` by ``r_{t+1} = (I - lr K / n) r_t`` exactly, so after ``steps``
    steps (``K = V diag(lam) V^T``)

        f_t(x') = f0(x') - K(x', X) V diag((1 - (1 - lr lam / n)^t) / lam) V^T (f0(X) - y).

    With ``steps=None`` this is the limit ``t -> infinity``: kernel regression
    ``f0(x') + K(x', X) (K + ridge I)^-1 (y - f0(X))``, the minimum-norm least-squares solution in the
    tangent space, reached in one Newton step. Kernels may be ``(n1, n2)`` or ``(n1, n2, k, k)``
    (then ``f0``/``y`` are ``(n, k)``); ``y_train`` must have ``f0_train``'s shape. Computed in
    float64 on the kernel's device. Returns ``(f_train, f_test)`` (``f_test`` is ``None`` without
    ``k_test_train``).

    Example:
        >>> k = torch.tensor([[2.0, 1.0], [1.0, 2.0]])
        >>> f, _ = tangent_predict(k, torch.zeros(2), torch.tensor([1.0, -1.0]))
        >>> f.tolist()
        [1.0, -1.0]
    """
    ridge = check_positive_float("ridge", ridge, allow_zero=True)
    if steps is not None:
        check_positive_int("steps", steps, minimum=0)
        if lr is None:
            raise LotteryLabError("lr=None: a learning rate (a finite number > 0) is needed when steps is given.")
        lr = check_positive_float("lr", lr)
    K = kernel_matrix(k_train, "k_train").double()
    for name, t in (("f0_train", f0_train), ("y_train", y_train)):
        if not isinstance(t, torch.Tensor) or t.device != K.device:
            where = t.device if isinstance(t, torch.Tensor) else type(t).__name__
            raise LotteryLabError(f"{name} must be a tensor on the kernel's device {K.device}, got {where}.")
    if y_train.shape != f0_train.shape:
        raise LotteryLabError(f"y_train has shape {tuple(y_train.shape)}, f0_train has shape "
                              f"{tuple(f0_train.shape)}; they must match (reshape y_train explicitly).")
    f0, y = f0_train.reshape(-1).double(), y_train.reshape(-1).double()
    if K.shape[0] != K.shape[1] or K.shape[0] != f0.numel():
        raise LotteryLabError(f"k_train {tuple(k_train.shape)}, f0_train {tuple(f0_train.shape)} and y_train "
                              f"{tuple(y_train.shape)} do not fit together (need n outputs and an n x n kernel).")
    n = f0.numel()
    lam, V, gain = _eig_gain(K, ridge)
    if steps is not None:
        decay = (1.0 - lr * lam / n) ** steps
        small = lam * lr / n < 1e-12
        gain = torch.where(small, torch.full_like(lam, lr * steps / n), (1.0 - decay) / lam.where(~small, 1.0))
    alpha = V @ (gain * (V.T @ (y - f0)))                     # (K + ridge)^-1 (y - f0), or its GD version
    f_train = (f0 + K @ alpha).to(f0_train.dtype).reshape(f0_train.shape)
    if k_test_train is None:
        return f_train, None
    if f0_test is None:
        raise LotteryLabError("f0_test is needed with k_test_train.")
    Kx = kernel_matrix(k_test_train, "k_test_train").double()
    if Kx.shape[1] != n or Kx.shape[0] != f0_test.numel() or Kx.device != K.device or f0_test.device != K.device:
        raise LotteryLabError(f"k_test_train {tuple(Kx.shape)} on {Kx.device} must have {n} training columns and "
                              f"one row per output of f0_test {tuple(f0_test.shape)}, both on k_train's device.")
    f_test = (f0_test.reshape(-1).double() + Kx @ alpha).to(f0_test.dtype).reshape(f0_test.shape)
    return f_train, f_test


def solve_tangent(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, params0: Params | None = None,
                  ridge: float = 0.0, chunk_size: int = 64) -> dict[str, torch.Tensor]:
    """The minimum-norm parameter change that fits ``y`` in the tangent space: one Newton step.

    Returns ``delta = J^T (K + ridge I)^-1 (y - f(x; theta0))`` as a dict like ``params0``, so that
    ``linearize(model, params0)(theta0 + delta, x)`` equals ``y`` (for ``ridge=0`` and an
    invertible ``K``). Among all ``delta`` that fit, it has the smallest norm. ``J^T`` is applied with
    one ``vjp``; ``J`` itself is never stored. The solve (float64 ``eigh``) runs on the model's device.

    Example:
        >>> from lotterylab.models import TangentMLP
        >>> from lotterylab.tangent import linearize
        >>> net = TangentMLP(1, [32], 1, seed=0)
        >>> x, y = torch.linspace(-1, 1, 4)[:, None], torch.tensor([[0.0], [1.0], [0.0], [1.0]])
        >>> delta = solve_tangent(net, x, y)
        >>> theta = {k: v + delta[k] for k, v in params_of(net).items()}
        >>> bool((linearize(net)(theta, x) - y).abs().max() < 1e-3)
        True
    """
    ridge = check_positive_float("ridge", ridge, allow_zero=True)
    check_positive_int("chunk_size", chunk_size)
    if params0 is not None:
        check_params(model, params0, "params0")
    params0 = params_of(model) if params0 is None else {n: t.detach() for n, t in params0.items()}
    device = next(iter(params0.values())).device
    check_inputs(x, "x", device)
    buffers = dict(model.named_buffers())

    def f(p):
        return functional_call(model, ({**p, **buffers}), (x,))

    f0, pullback = vjp(f, params0)
    if not isinstance(y, torch.Tensor) or y.shape != f0.shape or y.device != f0.device:
        got = (tuple(y.shape), str(y.device)) if isinstance(y, torch.Tensor) else type(y).__name__
        raise LotteryLabError(f"y has shape/device {got}, the model's outputs on x have shape "
                              f"{tuple(f0.shape)} on {f0.device}; they must match.")
    K = kernel_matrix(empirical_ntk(model, x, params=params0, chunk_size=chunk_size), "K").double()
    rhs = (y - f0).detach().reshape(-1).double()
    _, V, gain = _eig_gain(K, ridge)
    alpha = V @ (gain * (V.T @ rhs))                           # (K + ridge I)^-1 (y - f0), on K's device
    (delta,) = pullback(alpha.to(f0.dtype).reshape(f0.shape))
    return {name: d.detach() for name, d in delta.items()}


@dataclass(frozen=True)
class GDHistory:
    """What :func:`train_mse_gd` recorded: the loss at each step in ``steps`` (empty if not recording)."""

    steps: list[int]
    losses: list[float]


def _check_gd_args(model, x, lr, steps, masks, record_every):
    if not isinstance(model, nn.Module):
        raise LotteryLabError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    named = dict(model.named_parameters())
    device = next(iter(named.values())).device
    check_inputs(x, "x", device)
    check_positive_int("steps", steps)
    check_positive_float("lr", lr)
    check_positive_int("record_every", record_every, minimum=0)
    if masks is None:
        return named, {}
    masks = Mask(masks) if not isinstance(masks, Mask) else masks
    masks.check_matches(model)
    return named, {n: m.to(device=named[n].device, dtype=named[n].dtype) for n, m in masks.items()}


def train_mse_gd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int,
                 masks: Mask | Mapping[str, torch.Tensor] | None = None, record_every: int = 0) -> GDHistory:
    """Full-batch gradient descent on ``||f(x) - y||^2 / (2 n)`` (in place); returns the recorded losses.

    ``y`` must have exactly the shape of ``model(x)`` (a ``(n,)`` target against ``(n, 1)`` outputs
    would broadcast to an ``(n, n)`` loss, so it is refused). ``masks`` (a ``Mask`` or name -> 0/1)
    zero the gradients of pruned weights (plain GD has no momentum, so they stay at their initial
    values: apply the mask to the weights first for a pruned network). ``record_every=r > 0``
    records the loss every ``r`` steps (and before the first step).

    Example:
        >>> from lotterylab.models import TangentMLP
        >>> net = TangentMLP(1, [64], 1, seed=0)
        >>> x, y = torch.linspace(-1, 1, 8)[:, None], torch.sin(3 * torch.linspace(-1, 1, 8))[:, None]
        >>> h = train_mse_gd(net, x, y, lr=1.0, steps=200, record_every=100)
        >>> h.steps, h.losses[-1] < h.losses[0]
        ([0, 100, 200], True)
    """
    named, masks = _check_gd_args(model, x, lr, steps, masks, record_every)
    recorded, losses = [], []
    for step in range(steps + 1):
        out = model(x)
        if step == 0 and (not isinstance(y, torch.Tensor) or y.shape != out.shape or y.device != out.device):
            got = (tuple(y.shape), str(y.device)) if isinstance(y, torch.Tensor) else type(y).__name__
            raise LotteryLabError(f"y has shape/device {got} but model(x) has shape {tuple(out.shape)} on "
                                  f"{out.device}; pass y of exactly that shape (e.g. y[:, None]).")
        loss = 0.5 * (out - y).pow(2).sum() / y.numel()
        if record_every and step % record_every == 0:
            recorded.append(step)
            losses.append(loss.detach())                       # stays on the device until the end
        if step == steps:
            break
        grads = torch.autograd.grad(loss, list(named.values()))
        with torch.no_grad():
            for (name, p), g in zip(named.items(), grads):
                p.sub_(lr * (g * masks[name] if name in masks else g))
    return GDHistory(steps=recorded, losses=torch.stack(losses).cpu().tolist() if losses else [])


def _flat(params: Params, names) -> torch.Tensor:
    return torch.cat([params[n].detach().reshape(-1).double() for n in names])


def relative_movement(params_t: Params, params_0: Params, names: Sequence[str] | None = None) -> float:
    """``||theta_t - theta_0|| / ||theta_0||`` over ``names`` (default: all parameters).

    Example:
        >>> relative_movement({"w": torch.tensor([3.0, 4.0])}, {"w": torch.tensor([0.0, 5.0])})
        0.6324555320336759
    """
    if not isinstance(params_t, Mapping) or not isinstance(params_0, Mapping):
        raise LotteryLabError("params_t and params_0 must be dicts of parameter name -> tensor.")
    names = list(params_0) if names is None else list(names)
    if not names or any(n not in params_t or n not in params_0 for n in names):
        raise LotteryLabError(f"names={names!r} must be parameter names present in both dicts.")
    for n in names:
        if params_t[n].shape != params_0[n].shape:
            raise LotteryLabError(f"parameter {n!r} has shape {tuple(params_t[n].shape)} in params_t and "
                                  f"{tuple(params_0[n].shape)} in params_0.")
    t, z = _flat(params_t, names), _flat(params_0, names).to(params_t[names[0]].device)
    norm0 = torch.linalg.norm(z)
    if not norm0 > 0:
        raise LotteryLabError("params_0 has norm 0 over these names: the relative movement is undefined.")
    return float(torch.linalg.norm(t - z) / norm0)


def function_distance(f_a: torch.Tensor, f_b: torch.Tensor, *, relative_to: torch.Tensor | None = None) -> float:
    """Root-mean-square difference of two networks' outputs on the same inputs.

    With ``relative_to=f0`` (the outputs at initialisation) it is divided by the RMS of
    ``f_b - f0``: the distance as a fraction of how far training moved the function.

    Example:
        >>> round(function_distance(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])), 6)
        1.414214
    """
    if not isinstance(f_a, torch.Tensor) or not isinstance(f_b, torch.Tensor) or f_a.shape != f_b.shape \
            or f_a.numel() == 0:
        raise LotteryLabError("f_a and f_b must be non-empty tensors of the same shape, got "
                              f"{getattr(f_a, 'shape', type(f_a).__name__)} and {getattr(f_b, 'shape', type(f_b).__name__)}.")
    d = (f_a.detach().double() - f_b.detach().double()).pow(2).mean().sqrt()
    if relative_to is not None:
        if not isinstance(relative_to, torch.Tensor) or relative_to.shape != f_b.shape:
            raise LotteryLabError(f"relative_to must be a tensor of f_b's shape {tuple(f_b.shape)}.")
        moved = (f_b.detach().double() - relative_to.detach().double()).pow(2).mean().sqrt()
        if not moved > 0:
            raise LotteryLabError("relative_to equals f_b: the function did not move, so the relative distance "
                                  "is undefined.")
        d = d / moved
    return float(d)
