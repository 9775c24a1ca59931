"""The parameter tangent space: the linearised network and the empirical neural tangent kernel.

Around its initial parameters ``theta0`` a network ``f(x; theta)`` is approximated by its
first-order Taylor expansion, the *linearised network*

    f_lin(theta, x) = f(x; theta0) + J(x) (theta - theta0),    J(x) = d f(x; theta0) / d theta.

Functions of that form make up the *parameter tangent space* at ``theta0``. Training the linearised
network with squared loss is linear least squares; its behaviour is governed by the *empirical
neural tangent kernel* ``K(x, x') = J(x) J(x')^T`` (Jacot et al. 2018).

* :func:`linearize` builds ``f_lin(params, x)`` with ``torch.func`` (``functional_call`` + ``jvp``):
  a pure function of the parameters it is given, as in neural-tangents;
* :func:`empirical_ntk` computes ``K`` with ``vmap(jacrev)``, chunked over inputs;
* :func:`kernel_matrix` flattens a multi-output kernel into one matrix.

Fitting in the tangent space (the one-step solve, gradient descent in closed form) lives in
:mod:`lotterylab.tangent_fit`.

Example:
    >>> from lotterylab.models import TangentMLP
    >>> net = TangentMLP(2, [16], 1, seed=0)
    >>> x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    >>> theta0 = params_of(net)
    >>> f_lin = linearize(net, theta0)
    >>> bool(torch.allclose(f_lin(theta0, x), net(x)))   # at theta0 the two agree
    True
    >>> empirical_ntk(net, x).shape
    torch.Size([5, 5])
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vmap

from lotterylab.errors import LotteryLabError, check_choice, check_positive_int
from lotterylab.pruning import Mask

__all__ = [
    "REDUCTIONS",
    "Params",
    "check_inputs",
    "check_params",
    "empirical_ntk",
    "kernel_matrix",
    "linearize",
    "params_of",
]

REDUCTIONS = ("full", "trace", "diagonal")
Params = Mapping[str, torch.Tensor]


def params_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's parameters: a snapshot such as ``theta0``.

    Example:
        >>> sorted(params_of(nn.Linear(2, 1)))
        ['bias', 'weight']
    """
    if not isinstance(model, nn.Module):
        raise LotteryLabError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def check_params(model: nn.Module, params: Params, argname: str, *, partial: bool = False) -> None:
    """Raise unless ``params`` maps the model's parameter names (all, or some if ``partial``) to same-shape tensors.

    Example:
        >>> check_params(nn.Linear(2, 1), {"bias": torch.zeros(1)}, "params", partial=True)
    """
    expected = {name: p.shape for name, p in model.named_parameters()}
    if not isinstance(params, Mapping):
        raise LotteryLabError(f"{argname} must be a dict of parameter name -> tensor, got {type(params).__name__}.")
    unknown = sorted(set(params) - set(expected))
    missing = [] if partial else sorted(set(expected) - set(params))
    if unknown or missing:
        raise LotteryLabError(f"{argname} does not match the model's parameters: unknown {unknown}, "
                              f"missing {missing}; expected names {sorted(expected)}.")
    for name, t in params.items():
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != tuple(expected[name]):
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise LotteryLabError(f"{argname}[{name!r}] has shape {shape}, the model's parameter "
                                  f"has shape {tuple(expected[name])}.")


def check_inputs(x: torch.Tensor, argname: str, device: torch.device | None = None) -> None:
    """Raise unless ``x`` is a non-empty batch (on ``device``, when given).

    Example:
        >>> check_inputs(torch.zeros(0, 3), "x")
        Traceback (most recent call last):
        ...
        lotterylab.errors.LotteryLabError: x must be a non-empty batch of inputs (first dimension > 0), got (0, 3).
    """
    if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[0] == 0:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise LotteryLabError(f"{argname} must be a non-empty batch of inputs (first dimension > 0), got {shape}.")
    if device is not None and x.device != torch.device(device):
        raise LotteryLabError(f"{argname} is on {x.device} but the model's parameters are on {device}; "
                              f"move one of them (e.g. {argname}.to(device)).")


def _model_device(model: nn.Module) -> torch.device | None:
    p = next(model.parameters(), None)
    return None if p is None else p.device


def linearize(model: nn.Module, params0: Params | None = None) -> Callable[..., torch.Tensor]:
    """The linearised network ``f_lin(params, *inputs) = f(x; theta0) + J(x) (params - theta0)``.

    ``params0`` (default: a snapshot of the model's current parameters) is the expansion point. It
    and the model's buffers are copied, so ``f_lin`` is pure: its value depends only on the
    parameter dict and inputs it is called with, never on later changes to the model's weights
    (as ``neural_tangents.linearize``). ``f_lin`` is differentiable in ``params``;
    ``f_lin.params0`` is the expansion point.

    Example:
        >>> from lotterylab.models import TangentMLP
        >>> net = TangentMLP(1, [4], 1, seed=0)
        >>> f_lin = linearize(net)
        >>> theta = {k: v + 0.01 for k, v in params_of(net).items()}
        >>> x = torch.linspace(-1, 1, 3)[:, None]
        >>> bool((f_lin(theta, x) - functional_call(net, theta, (x,))).abs().max() < 1e-3)
        True
    """
    if not isinstance(model, nn.Module):
        raise LotteryLabError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if params0 is None:
        params0 = params_of(model)
    check_params(model, params0, "params0")
    live = dict(model.named_parameters())
    theta0 = {name: t.detach().to(live[name].device).clone() for name, t in params0.items()}
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}

    def f_lin(params: Params, *args, **kwargs) -> torch.Tensor:
        check_params(model, params, "params")
        tangent = {name: params[name] - theta0[name] for name in theta0}

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
        j = jac[name].reshape(n, k, -1)                          # (n, k, P_name)
        if masks is not None and name in masks:                  # masks already on j's device and dtype
            m = masks[name].reshape(-1)
            kept = m != 0                                        # pruned columns add nothing: drop them
            j = j[:, :, kept] * m[kept]
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


def _check_ntk_args(model, x1, x2, params, names, masks, chunk_size, max_cache_bytes):
    """Validate empirical_ntk's arguments; return (params0, names, masks on the parameters' device)."""
    if not isinstance(model, nn.Module):
        raise LotteryLabError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    check_positive_int("chunk_size", chunk_size)
    check_positive_int("max_cache_bytes", max_cache_bytes, minimum=0)
    if params is not None:
        check_params(model, params, "params")
    params0 = params_of(model) if params is None else {n: t.detach() for n, t in params.items()}
    device = next(iter(params0.values())).device if params0 else None
    check_inputs(x1, "x1", device)
    if x2 is not None:
        check_inputs(x2, "x2", device)
        if x2.shape[1:] != x1.shape[1:]:
            raise LotteryLabError(f"x1 and x2 must have the same input shape, got {tuple(x1.shape[1:])} "
                                  f"and {tuple(x2.shape[1:])}.")
    names = list(params0) if names is None else list(names)
    if not names or any(n not in params0 for n in names):
        raise LotteryLabError(f"names={names!r} must be a non-empty list of parameter names from {sorted(params0)}.")
    if masks is not None:
        masks = Mask(masks) if not isinstance(masks, Mask) else masks
        masks.check_matches(params0)
        masks = {n: m.to(device=params0[n].device, dtype=params0[n].dtype) for n, m in masks.items()}
    return params0, names, masks


def _one_hidden_layer_ntk(model, params0, names, masks, x1, x2):
    """``J J^T`` in closed form for a one-output, one-hidden-layer ``TangentMLP`` (else ``None``).

    With ``a = s1 W x + c b1``, ``f = s2 v relu(a) + c b2`` (``c`` the bias factor) and
    ``u = s2 v relu'(a)``, the gradients are ``df/dv = s2 relu(a)``, ``df/db2 = c``,
    ``df/dW = s1 u x^T`` and ``df/db1 = c u``, so each layer's share of the kernel is a product of
    small Gram matrices. A mask on the first layer does not factor this way (``None``).
    """
    from lotterylab.models import TangentMLP  # models does not import this module

    if type(model) is not TangentMLP or len(model.layers) != 2 or model.layers[1].out_features != 1:
        return None
    if masks is not None and set(masks) - {"layers.1.weight"}:
        return None
    s1, s2 = model.scales
    c = model.bias_std if model.parameterization == "ntk" else 1.0
    W, b1, v = params0["layers.0.weight"], params0["layers.0.bias"], params0["layers.1.weight"][0]

    def features(x):
        x = x.flatten(1)
        a = s1 * (x @ W.T) + c * b1
        return x, torch.relu(a), s2 * v * (a > 0).to(a.dtype)

    xa, ha, ua = features(x1)
    xb, hb, ub = (xa, ha, ua) if x2 is None else features(x2)
    K = torch.zeros(xa.shape[0], xb.shape[0], dtype=ha.dtype, device=ha.device)
    if "layers.1.weight" in names:
        m = masks["layers.1.weight"].reshape(-1) if masks is not None else 1.0
        K += s2 ** 2 * ((ha * m) @ hb.T)
    if "layers.1.bias" in names:
        K += c ** 2
    uu = ua @ ub.T
    if "layers.0.weight" in names:
        K += s1 ** 2 * (xa @ xb.T) * uu
    if "layers.0.bias" in names:
        K += c ** 2 * uu
    return K


def _blockwise(jac, blocks1, blocks2, first, symmetric, reduction, max_cache_bytes):
    """The kernel block by block, caching x2's Jacobian chunks while they fit in ``max_cache_bytes``."""
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
                row.append(block.transpose(2, 3) if block.dim() == 4 else block)
            else:
                row.append(out_blocks[i, j])
        rows.append(torch.cat(row, dim=1))
    return torch.cat(rows, dim=0)


def empirical_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None, *,
                  params: Params | None = None, names: Sequence[str] | None = None,
                  masks: Mask | Mapping[str, torch.Tensor] | None = None, reduction: str = "full",
                  chunk_size: int = 64, max_cache_bytes: int = 2**31) -> torch.Tensor:
    """The empirical NTK ``K(x1, x2) = J(x1) J(x2)^T`` at ``params`` (default: current parameters).

    Shapes: with a scalar output per input, ``(n1, n2)``. With ``k`` outputs, ``reduction`` picks
    ``"full"`` ``(n1, n2, k, k)``, ``"trace"`` ``(n1, n2)`` (the sum over outputs of each output's
    kernel) or ``"diagonal"`` ``(n1, n2, k)`` (one kernel per output).

    ``names`` restricts the Jacobian to some parameters (e.g. one layer's share of the kernel);
    ``masks`` (a :class:`~lotterylab.pruning.Mask`, or name -> 0/1 tensor, on any device) zeroes the
    Jacobian columns of pruned weights: the tangent kernel of a masked network, in which only the
    kept weights may move. Jacobians are built ``chunk_size`` inputs at a time. If all of ``x2``'s
    Jacobians fit in ``max_cache_bytes`` they are kept and each chunk of ``x1`` is contracted
    against them in one matrix product; otherwise the kernel is built block by block
    (``x2=None`` means ``x2 = x1``; then only the upper triangle of blocks is computed). The
    inputs must be on the parameters' device; the kernel is computed there. For a one-output,
    one-hidden-layer :class:`~lotterylab.models.TangentMLP` (no mask on its first layer) the kernel
    is computed in closed form from the layer's activations instead: the same numbers, with
    ``O(n1 n2 width)`` work rather than ``O(n1 n2 P)``.

    Example:
        >>> from lotterylab.models import TangentMLP
        >>> net = TangentMLP(2, [8], 3, seed=0)
        >>> x = torch.randn(4, 2, generator=torch.Generator().manual_seed(1))
        >>> empirical_ntk(net, x, reduction="trace").shape, empirical_ntk(net, x).shape
        (torch.Size([4, 4]), torch.Size([4, 4, 3, 3]))
    """
    check_choice("reduction", reduction, REDUCTIONS)
    params0, names, masks = _check_ntk_args(model, x1, x2, params, names, masks, chunk_size, max_cache_bytes)
    fast = _one_hidden_layer_ntk(model, params0, names, masks, x1, x2)
    if fast is not None:
        return fast
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
    return _blockwise(jac, blocks1, blocks2, first, symmetric, reduction, max_cache_bytes)


def kernel_matrix(k: torch.Tensor, name: str = "k") -> torch.Tensor:
    """A kernel as one matrix: ``(n1, n2)`` unchanged, ``(n1, n2, c, c)`` as ``(n1 c, n2 c)``.

    Example:
        >>> kernel_matrix(torch.zeros(2, 3, 4, 4)).shape
        torch.Size([8, 12])
    """
    if not isinstance(k, torch.Tensor):
        raise LotteryLabError(f"{name} must be a tensor, got {type(k).__name__}.")
    if k.dim() == 4:                                            # (n1, n2, c, c) -> (n1 c, n2 c)
        n1, n2, c, _ = k.shape
        return k.permute(0, 2, 1, 3).reshape(n1 * c, n2 * c)
    if k.dim() != 2:
        raise LotteryLabError(f"{name} must be a kernel of shape (n1, n2) or (n1, n2, k, k), got {tuple(k.shape)}.")
    return k
