"""The parameter tangent space: linearised networks, the empirical NTK, and the one-step solve.

Around its initial parameters ``theta0`` a network ``f(x; theta)`` is approximated by its
first-order Taylor expansion, the *linearised network*

    f_lin(x; theta) = f(x; theta0) + J(x) (theta - theta0),    J(x) = d f(x; theta0) / d theta.

Functions of that form make up the *parameter tangent space* at ``theta0``. Training the linearised
network with squared loss is linear least squares; its behaviour is governed by the *empirical
neural tangent kernel* ``K(x, x') = J(x) J(x')^T`` (Jacot et al. 2018).

* :func:`linearize` builds ``f_lin`` with ``torch.func`` (``functional_call`` + ``jvp``);
* :func:`empirical_ntk` computes ``K`` with ``vmap(jacrev)``, chunked over inputs;
* :func:`tangent_predict` gives the linearised network trained by full-batch gradient descent for
  ``steps`` steps, in closed form, or (``steps=None``) its limit: the minimum-norm least-squares
  solution, the "one Newton step";
* :func:`solve_tangent` returns that solution as a parameter change ``delta = J^T (K + ridge I)^-1 (y - f0)``;
* :class:`TangentMLP` is a fully connected ReLU network in standard or NTK parameterisation, and
  :func:`train_mse_gd` trains it by full-batch gradient descent on the squared loss;
* :func:`relative_movement` and :func:`function_distance` measure lazy training.

Example:
    >>> net = TangentMLP(2, [16], 1, seed=0)
    >>> x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    >>> f_lin = linearize(net)                  # around the current parameters
    >>> bool(torch.allclose(f_lin(x), net(x)))  # at theta0 the two agree
    True
    >>> empirical_ntk(net, x).shape
    torch.Size([5, 5])
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from lotterylab.errors import LotteryLabError, check_choice, check_positive_int

__all__ = [
    "REDUCTIONS",
    "empirical_ntk",
    "function_distance",
    "linearize",
    "params_of",
    "plot_fits_1d",
    "plot_loss_vs_steps",
    "plot_vs_width",
    "relative_movement",
    "solve_tangent",
    "tangent_predict",
    "train_mse_gd",
]

REDUCTIONS = ("full", "trace", "diagonal")
Params = Mapping[str, torch.Tensor]


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's parameters: a snapshot such as ``theta0``."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _check_params(model: nn.Module, params: Params, argname: str, *, partial: bool = False) -> None:
    expected = {name: p.shape for name, p in model.named_parameters()}
    if not isinstance(params, Mapping):
        raise LotteryLabError(f"{argname} must be a dict of parameter name -> tensor, got {type(params).__name__}.")
    unknown = sorted(set(params) - set(expected))
    missing = [] if partial else sorted(set(expected) - set(params))
    if unknown or missing:
        raise LotteryLabError(f"{argname} does not match the model's parameters: unknown {unknown}, "
                              f"missing {missing}; expected names {sorted(expected)}.")
    for name, t in params.items():
        if tuple(t.shape) != tuple(expected[name]):
            raise LotteryLabError(f"{argname}[{name!r}] has shape {tuple(t.shape)}, the model's parameter "
                                  f"has shape {tuple(expected[name])}.")


def _check_inputs(x: torch.Tensor, argname: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise LotteryLabError(f"{argname} must be a non-empty batch of inputs (first dimension > 0), got {shape}.")


def linearize(model: nn.Module, params0: Params | None = None) -> Callable[..., torch.Tensor]:
    """The linearised network ``f_lin(x) = f(x; theta0) + J(x) (theta - theta0)``.

    ``params0`` (default: a snapshot of the model's current parameters) is the expansion point; it is
    copied, so later training does not move it. The returned function has the model's call
    signature: ``f_lin(x)`` evaluates the expansion at the model's *current* parameters (so after
    training the model, ``f_lin(x)`` is the linearisation evaluated at the trained weights), and
    ``f_lin(x, params=theta)`` at any other parameter dict. It is differentiable in ``params``.

    Example:
        >>> net = TangentMLP(1, [4], 1, seed=0)
        >>> f_lin = linearize(net)
        >>> theta = {k: v + 0.01 for k, v in params_of(net).items()}
        >>> x = torch.linspace(-1, 1, 3)[:, None]
        >>> bool((f_lin(x, params=theta) - functional_call(net, theta, (x,))).abs().max() < 1e-3)
        True
    """
    if params0 is None:
        params0 = params_of(model)
    _check_params(model, params0, "params0")
    theta0 = {name: t.detach().clone() for name, t in params0.items()}
    buffers = dict(model.named_buffers())

    def f_lin(*args, params: Params | None = None, **kwargs) -> torch.Tensor:
        theta = dict(model.named_parameters()) if params is None else params
        _check_params(model, theta, "params")
        tangent = {name: theta[name] - theta0[name] for name in theta0}

        def f(p):
            return functional_call(model, ({**p, **buffers}), args, kwargs)

        out0, dout = jvp(f, (theta0,), (tangent,))
        return out0 + dout

    f_lin.params0 = theta0
    return f_lin


def _jacobian(model, params0, names, buffers, x, masks):
    """Per-example Jacobian of the flattened output w.r.t. ``names``: (n, k, P)."""
    frozen = {n: t for n, t in params0.items() if n not in names}
    wrt = {n: params0[n] for n in names}

    def f(p, xi):
        return functional_call(model, ({**frozen, **p, **buffers}), (xi.unsqueeze(0),)).reshape(-1)

    jac = vmap(jacrev(f), in_dims=(None, 0))(wrt, x)           # name -> (n, k, *shape)
    n, k = x.shape[0], next(iter(jac.values())).shape[1]
    parts = []
    for name in names:
        j = jac[name].reshape(n, k, -1)
        if masks is not None and name in masks:
            j = j * masks[name].reshape(1, 1, -1).to(j.dtype)
        parts.append(j)
    return torch.cat(parts, dim=2)


def _contract(ja, jb, reduction, scalar):
    if scalar:
        return ja[:, 0] @ jb[:, 0].T                              # (a, b)
    if reduction == "trace":
        return torch.einsum("akp,bkp->ab", ja, jb)
    if reduction == "diagonal":
        return torch.einsum("akp,bkp->abk", ja, jb)
    return torch.einsum("akp,bjp->abkj", ja, jb)


def empirical_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None, *,
                  params: Params | None = None, names: Sequence[str] | None = None,
                  masks: Mapping[str, torch.Tensor] | None = None, reduction: str = "full",
                  chunk_size: int = 64, max_cache_bytes: int = 2**31) -> torch.Tensor:
    """The empirical NTK ``K(x1, x2) = J(x1) J(x2)^T`` at ``params`` (default: current parameters).

    Shapes: with a scalar output per input, ``(n1, n2)``. With ``k`` outputs, ``reduction`` picks
    ``"full"`` ``(n1, n2, k, k)``, ``"trace"`` ``(n1, n2)`` (the sum over outputs of each output's
    kernel) or ``"diagonal"`` ``(n1, n2, k)`` (one kernel per output).

    ``names`` restricts the Jacobian to some parameters (e.g. one layer's share of the kernel);
    ``masks`` (name -> 0/1 tensor) zeroes the Jacobian columns of pruned weights: the tangent kernel
    of a masked network, in which only the kept weights may move. Jacobians are built
    ``chunk_size`` inputs at a time (``chunk_size * k * P`` floats each). If all of ``x2``'s
    Jacobians fit in ``max_cache_bytes`` they are kept and each chunk of ``x1`` is contracted
    against them in one matrix product; otherwise the kernel is built block by block, caching
    ``x2``'s chunks while they fit (``x2=None`` means ``x2 = x1``; then only the upper triangle
    of blocks is computed).

    Example:
        >>> net = TangentMLP(2, [8], 3, seed=0)
        >>> x = torch.randn(4, 2, generator=torch.Generator().manual_seed(1))
        >>> empirical_ntk(net, x, reduction="trace").shape, empirical_ntk(net, x).shape
        (torch.Size([4, 4]), torch.Size([4, 4, 3, 3]))
    """
    check_choice("reduction", reduction, REDUCTIONS)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise LotteryLabError(f"chunk_size={chunk_size!r} must be an integer >= 1.")
    _check_inputs(x1, "x1")
    if x2 is not None:
        _check_inputs(x2, "x2")
        if x2.shape[1:] != x1.shape[1:]:
            raise LotteryLabError(f"x1 and x2 must have the same input shape, got {tuple(x1.shape[1:])} "
                                  f"and {tuple(x2.shape[1:])}.")
    params0 = params_of(model) if params is None else {n: t.detach() for n, t in params.items()}
    _check_params(model, params0, "params")
    names = list(params0) if names is None else list(names)
    if not names or any(n not in params0 for n in names):
        raise LotteryLabError(f"names={names!r} must be a non-empty list of parameter names from {sorted(params0)}.")
    if masks is not None:
        _check_params(model, masks, "masks", partial=True)
    buffers = dict(model.named_buffers())
    symmetric = x2 is None
    xb = x1 if symmetric else x2
    blocks1, blocks2 = x1.split(chunk_size), xb.split(chunk_size)

    def jac(x):
        return _jacobian(model, params0, names, buffers, x, masks)

    # Fast path: all of x2's Jacobians fit in the cache. Build them once, then contract each chunk of
    # x1 against all of them in one large matrix product (few thin products are memory-bound).
    first = jac(blocks2[0])
    per_input = first[0].numel() * first.element_size()
    if per_input * xb.shape[0] <= max_cache_bytes:
        jb_all = torch.cat([first] + [jac(b) for b in blocks2[1:]])           # (n2, k, P)
        scalar = jb_all.shape[1] == 1
        if symmetric:
            return _contract(jb_all, jb_all, reduction, scalar)
        return torch.cat([_contract(jac(xa), jb_all, reduction, scalar) for xa in blocks1])

    # Memory-bounded path: blocks of (x1 chunk) x (x2 chunk); x2 chunks cached while they fit.
    cache: dict[int, torch.Tensor] = {0: first}
    cached_bytes = first.numel() * first.element_size()

    def jac_b(j):
        nonlocal cached_bytes
        if j in cache:
            return cache[j]
        jb = jac(blocks2[j])
        if cached_bytes + jb.numel() * jb.element_size() <= max_cache_bytes:
            cache[j] = jb
            cached_bytes += jb.numel() * jb.element_size()
        return jb

    out_blocks: dict[tuple[int, int], torch.Tensor] = {}
    for i, xa in enumerate(blocks1):
        ja = jac_b(i) if symmetric else jac(xa)
        scalar = ja.shape[1] == 1
        for j in range(i if symmetric else 0, len(blocks2)):
            jb = ja if (symmetric and j == i) else jac_b(j)
            out_blocks[i, j] = _contract(ja, jb, reduction, scalar)
    rows = []
    for i in range(len(blocks1)):
        row = []
        for j in range(len(blocks2)):
            if symmetric and j < i:
                block = out_blocks[j, i].transpose(0, 1)
                if block.dim() == 4:
                    block = block.transpose(2, 3)
                row.append(block)
            else:
                row.append(out_blocks[i, j])
        rows.append(torch.cat(row, dim=1))
    return torch.cat(rows, dim=0)


def _as_matrix(k: torch.Tensor, name: str) -> torch.Tensor:
    if k.dim() == 4:                                            # (n1, n2, c, c) -> (n1 c, n2 c)
        n1, n2, c, _ = k.shape
        return k.permute(0, 2, 1, 3).reshape(n1 * c, n2 * c)
    if k.dim() != 2:
        raise LotteryLabError(f"{name} must be a kernel of shape (n1, n2) or (n1, n2, k, k), got {tuple(k.shape)}.")
    return k


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
    (then ``f0``/``y`` are ``(n, k)``). Computed in float64. Returns ``(f_train, f_test)``
    (``f_test`` is ``None`` without ``k_test_train``).

    Example:
        >>> k = torch.tensor([[2.0, 1.0], [1.0, 2.0]])
        >>> f, _ = tangent_predict(k, torch.zeros(2), torch.tensor([1.0, -1.0]))
        >>> f.tolist()
        [1.0, -1.0]
    """
    if ridge < 0 or not math.isfinite(ridge):
        raise LotteryLabError(f"ridge={ridge!r} must be a finite number >= 0.")
    if steps is not None:
        check_positive_int("steps", steps, minimum=0)
        if lr is None or not lr > 0:
            raise LotteryLabError(f"lr={lr!r} must be a positive number when steps is given.")
    K = _as_matrix(k_train, "k_train").double()
    shape = f0_train.shape
    f0, y = f0_train.reshape(-1).double(), y_train.reshape(-1).double()
    if K.shape[0] != K.shape[1] or K.shape[0] != f0.numel() or y.numel() != f0.numel():
        raise LotteryLabError(f"k_train {tuple(k_train.shape)}, f0_train {tuple(f0_train.shape)} and y_train "
                              f"{tuple(y_train.shape)} do not fit together (need n outputs and an n x n kernel).")
    n = f0.numel()
    lam, V = torch.linalg.eigh((K + K.T) / 2)
    lam = lam.clamp_min(0.0)
    if steps is None:
        tol = lam.max() * n * torch.finfo(torch.float64).eps
        gain = torch.where(lam + ridge > tol, 1.0 / (lam + ridge), torch.zeros_like(lam))
    else:
        decay = (1.0 - lr * lam / n) ** steps
        small = lam * lr / n < 1e-12
        gain = torch.where(small, torch.full_like(lam, lr * steps / n), (1.0 - decay) / lam.where(~small, 1.0))
    alpha = V @ (gain * (V.T @ (y - f0)))                     # (K + ridge)^-1 (y - f0), or its GD version
    f_train = (f0 + K @ alpha).to(f0_train.dtype).reshape(shape)
    if k_test_train is None:
        return f_train, None
    if f0_test is None:
        raise LotteryLabError("f0_test is needed with k_test_train.")
    Kx = _as_matrix(k_test_train, "k_test_train").double()
    if Kx.shape[1] != n:
        raise LotteryLabError(f"k_test_train has {Kx.shape[1]} training columns, expected {n}.")
    f_test = (f0_test.reshape(-1).double() + Kx @ alpha).to(f0_test.dtype).reshape(f0_test.shape)
    return f_train, f_test


def solve_tangent(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, params0: Params | None = None,
                  ridge: float = 0.0, chunk_size: int = 64) -> dict[str, torch.Tensor]:
    """The minimum-norm parameter change that fits ``y`` in the tangent space: one Newton step.

    Returns ``delta = J^T (K + ridge I)^-1 (y - f(x; theta0))`` as a dict like ``params0``, so that
    ``linearize(model, params0)(x, params=theta0 + delta)`` equals ``y`` (for ``ridge=0`` and an
    invertible ``K``). Among all ``delta`` that fit, it has the smallest norm. ``J^T`` is applied with
    one ``vjp``; ``J`` itself is never stored.

    Example:
        >>> net = TangentMLP(1, [32], 1, seed=0)
        >>> x, y = torch.linspace(-1, 1, 4)[:, None], torch.tensor([[0.0], [1.0], [0.0], [1.0]])
        >>> delta = solve_tangent(net, x, y)
        >>> theta = {k: v + delta[k] for k, v in params_of(net).items()}
        >>> bool((linearize(net)(x, params=theta) - y).abs().max() < 1e-3)
        True
    """
    _check_inputs(x, "x")
    params0 = params_of(model) if params0 is None else {n: t.detach() for n, t in params0.items()}
    _check_params(model, params0, "params0")
    buffers = dict(model.named_buffers())

    def f(p):
        return functional_call(model, ({**p, **buffers}), (x,))

    f0, pullback = vjp(f, params0)
    if y.shape != f0.shape:
        raise LotteryLabError(f"y has shape {tuple(y.shape)}, the model's outputs on x have shape {tuple(f0.shape)}.")
    K = empirical_ntk(model, x, params=params0, chunk_size=chunk_size)
    Kmat = _as_matrix(K, "K").double()
    rhs = (y - f0).detach().reshape(-1).double()
    alpha = torch.linalg.lstsq(Kmat + ridge * torch.eye(len(rhs), dtype=torch.float64), rhs[:, None],
                               driver="gelsd").solution[:, 0]
    (delta,) = pullback(alpha.to(f0.dtype).reshape(f0.shape))
    return {name: d.detach() for name, d in delta.items()}


def train_mse_gd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int,
                 masks: Mapping[str, torch.Tensor] | None = None, record_every: int = 0) -> list[float]:
    """Full-batch gradient descent on ``||f(x) - y||^2 / (2 n)`` (in place); returns the losses.

    ``masks`` (name -> 0/1) zero the gradients of pruned weights (plain GD has no momentum, so
    they stay at their initial values: apply the mask to the weights first for a pruned network).
    ``record_every=r > 0`` records the loss every ``r`` steps (and before the first step).

    Example:
        >>> net = TangentMLP(1, [64], 1, seed=0)
        >>> x, y = torch.linspace(-1, 1, 8)[:, None], torch.sin(3 * torch.linspace(-1, 1, 8))[:, None]
        >>> losses = train_mse_gd(net, x, y, lr=1.0, steps=200, record_every=100)
        >>> len(losses), losses[-1] < losses[0]
        (3, True)
    """
    _check_inputs(x, "x")
    check_positive_int("steps", steps)
    if not lr > 0:
        raise LotteryLabError(f"lr={lr!r} must be a positive number.")
    named = dict(model.named_parameters())
    if masks is not None:
        _check_params(model, masks, "masks", partial=True)
    n = y.numel()
    losses = []
    for step in range(steps + 1):
        out = model(x)
        loss = 0.5 * (out - y).pow(2).sum() / n
        if record_every and step % record_every == 0:
            losses.append(float(loss.detach()))
        if step == steps:
            break
        grads = torch.autograd.grad(loss, list(named.values()))
        with torch.no_grad():
            for (name, p), g in zip(named.items(), grads):
                if masks is not None and name in masks:
                    g = g * masks[name].to(g.dtype)
                p.sub_(lr * g)
    return losses


def _flat(params: Params, names) -> torch.Tensor:
    return torch.cat([params[n].detach().reshape(-1).double() for n in names])


def relative_movement(params_t: Params, params_0: Params, names: Sequence[str] | None = None) -> float:
    """``||theta_t - theta_0|| / ||theta_0||`` over ``names`` (default: all parameters).

    Example:
        >>> relative_movement({"w": torch.tensor([3.0, 4.0])}, {"w": torch.tensor([0.0, 5.0])})
        0.6324555320336759
    """
    names = list(params_0) if names is None else list(names)
    if not names or any(n not in params_t or n not in params_0 for n in names):
        raise LotteryLabError(f"names={names!r} must be parameter names present in both dicts.")
    for n in names:
        if params_t[n].shape != params_0[n].shape:
            raise LotteryLabError(f"parameter {n!r} has shape {tuple(params_t[n].shape)} in params_t and "
                                  f"{tuple(params_0[n].shape)} in params_0.")
    t, z = _flat(params_t, names), _flat(params_0, names)
    return float(torch.linalg.norm(t - z) / torch.linalg.norm(z))


def function_distance(f_a: torch.Tensor, f_b: torch.Tensor, *, relative_to: torch.Tensor | None = None) -> float:
    """Root-mean-square difference of two networks' outputs on the same inputs.

    With ``relative_to=f0`` (the outputs at initialisation) it is divided by the RMS of
    ``f_b - f0``: the distance as a fraction of how far training moved the function.

    Example:
        >>> function_distance(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0]))
        1.4142135623730951
    """
    if f_a.shape != f_b.shape or f_a.numel() == 0:
        raise LotteryLabError(f"f_a and f_b must be non-empty and of the same shape, got {tuple(f_a.shape)} "
                              f"and {tuple(f_b.shape)}.")
    d = (f_a.detach().double() - f_b.detach().double()).pow(2).mean().sqrt()
    if relative_to is not None:
        d = d / (f_b.detach().double() - relative_to.detach().double()).pow(2).mean().sqrt()
    return float(d)


def _ax(ax):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots(figsize=(6, 4))[1]


def plot_vs_width(widths: Sequence[int], series: Mapping[str, Sequence[float]], *, ax=None,
                  reference_slope: float | None = -0.5, ylabel: str = ""):
    """Log-log plot of one or more quantities against width, with an optional ``width^slope`` guide.

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> ax = plot_vs_width([10, 100], {"movement": [0.1, 0.03]})
        >>> ax.get_xscale(), ax.get_xlabel()
        ('log', 'width')
    """
    ax = _ax(ax)
    widths = np.asarray(widths, dtype=float)
    for label, vals in series.items():
        ax.plot(widths, vals, "o-", label=label, ms=5)
    if reference_slope is not None and series:
        first = np.asarray(next(iter(series.values())), dtype=float)
        guide = first[0] * (widths / widths[0]) ** reference_slope
        ax.plot(widths, guide, "k:", lw=1, label=f"$\\propto$ width$^{{{reference_slope:g}}}$")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")
    return ax


def plot_loss_vs_steps(steps: Sequence[int], curves: Mapping[str, Sequence[float]], *,
                       one_step_loss: float | None = None, floor: float = 1e-13, ax=None):
    """Training loss against gradient-descent steps (log-log), with the one-step solution as a star.

    Losses below ``floor`` are cut off (a converged linear solve reaches round-off, ~1e-12).

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> ax = plot_loss_vs_steps([1, 10, 100], {"GD": [1.0, 0.5, 0.1]}, one_step_loss=1e-12)
        >>> ax.get_yscale(), len(ax.get_lines())
        ('log', 2)
    """
    ax = _ax(ax)
    top = 0.0
    for label, vals in curves.items():
        ax.plot(steps, vals, label=label)
        top = max(top, float(np.max(vals)))
    if one_step_loss is not None:
        ax.plot([1], [max(one_step_loss, floor)], "k*", ms=12, label="one Newton step (one linear solve)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(floor, 3 * top if top > 0 else 1.0)
    ax.set_xlabel("gradient-descent step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize="small", loc="lower center")
    return ax


def plot_fits_1d(x_grid, curves: Mapping[str, Sequence[float]], x_train, y_train, *, ax=None, title=None):
    """1-D regression: several fitted functions on a grid, with the training points."""
    ax = _ax(ax)
    styles = ["-", "--", ":", "-."]
    for i, (label, vals) in enumerate(curves.items()):
        ax.plot(np.asarray(x_grid).ravel(), np.asarray(vals).ravel(), styles[i % 4], label=label, lw=1.6)
    ax.plot(np.asarray(x_train).ravel(), np.asarray(y_train).ravel(), "ko", ms=4, label="training points")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return ax
