"""Tickets in the tangent space as the essay defines them: a few *directions* of the tangent space.

A tangent-space ticket is a small set of the Jacobian's columns (parameters allowed to move) on which
the linearised problem ``f0 + J_S delta_S = y`` is still solved well. This module keeps the
``size`` best columns by a ranking and solves that restricted least-squares problem exactly:

* :func:`jacobian_matrix` forms ``J`` itself, ``(n * k, P)``, for networks small enough to hold it;
* :func:`column_scores` ranks parameters by ``|delta*|`` (the dense minimum-norm solution) or by the
  size of the first gradient ``|J^T (y - f0)|``;
* :func:`restricted_solves` gives the minimum-norm least-squares solution on the first ``size``
  columns of an ordering, for several nested sizes, with kernels accumulated in float64 (one pass
  over ``J``);
* :func:`restricted_solve_curve` runs the experiment on a network: accuracy against the kept
  fraction for both rankings and for random columns of the same size;
* :func:`pairwise_disagreement` measures how much solutions from different initialisations differ.

Example:
    >>> J = torch.eye(3, 5, dtype=torch.float64)            # 3 equations, 5 unknowns
    >>> f_train, f_test = restricted_solves(J, torch.zeros(3), torch.ones(3), J, torch.zeros(3),
    ...                                     torch.arange(5), [2, 5])[0]
    >>> f_train.tolist()                                     # columns 0 and 1 fit two equations
    [1.0, 1.0, 0.0]
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lotterylab.errors import LotteryLabError, check_fraction, check_positive_int
from lotterylab.plotting import PALETTE, get_ax
from lotterylab.seeding import make_generator
from lotterylab.tangent import Params, _check_ntk_args, _jacobian
from lotterylab.tangent_fit import _eig_gain

__all__ = ["RANKINGS", "RestrictedCurve", "column_scores", "jacobian_matrix", "pairwise_disagreement",
           "plot_restricted_curve", "restricted_solve_curve", "restricted_solves"]

RANKINGS = ("solution", "gradient", "random")   # |delta*|, |J^T (y - f0)|, random columns


def jacobian_matrix(model: nn.Module, x: torch.Tensor, *, params: Params | None = None,
                    chunk_size: int = 64) -> torch.Tensor:
    """The Jacobian ``J`` of the flattened outputs at ``params`` (default: current parameters), ``(n * k, P)``.

    Row ``i * k + c`` is the gradient of output ``c`` on input ``i``; the columns follow
    ``model.named_parameters()``, each parameter flattened (the order of
    ``torch.cat([p.flatten() for p in model.parameters()])``). It is built ``chunk_size`` inputs at a
    time with ``vmap(jacrev)`` on the parameters' device, in their dtype; ``J @ J.T`` is
    :func:`empirical_ntk` as one matrix. It takes ``n * k * P`` numbers: use it only where that fits.

    Example:
        >>> from lotterylab.models import TangentMLP
        >>> from lotterylab.tangent import empirical_ntk
        >>> net = TangentMLP(2, [8], 1, seed=0)
        >>> x = torch.randn(4, 2, generator=torch.Generator().manual_seed(1))
        >>> J = jacobian_matrix(net, x)
        >>> J.shape, bool(torch.allclose(J @ J.T, empirical_ntk(net, x), atol=1e-5))
        (torch.Size([4, 33]), True)
    """
    params0, names, _ = _check_ntk_args(model, x, None, params, None, None, chunk_size, 0)
    buffers = dict(model.named_buffers())
    blocks = [_jacobian(model, params0, names, buffers, xb, None) for xb in x.split(chunk_size)]
    return torch.cat(blocks).reshape(-1, blocks[0].shape[2])


def _check_system(J_train, f0_train, y_train, J_test=None, f0_test=None):
    for name, t in (("J_train", J_train), ("f0_train", f0_train), ("y_train", y_train)):
        if not isinstance(t, torch.Tensor):
            raise LotteryLabError(f"{name} must be a tensor, got {type(t).__name__}.")
    if J_train.dim() != 2 or f0_train.numel() != J_train.shape[0] or y_train.shape != f0_train.shape:
        raise LotteryLabError(f"J_train {tuple(J_train.shape)} must be (n, P) with f0_train and y_train of n "
                              f"outputs and the same shape, got {tuple(f0_train.shape)} and {tuple(y_train.shape)}.")
    if J_test is not None and (not isinstance(J_test, torch.Tensor) or not isinstance(f0_test, torch.Tensor)
                               or J_test.dim() != 2 or J_test.shape[1] != J_train.shape[1]
                               or f0_test.numel() != J_test.shape[0]):
        raise LotteryLabError(f"J_test must be (m, {J_train.shape[1]}) with f0_test of m outputs, got "
                              f"{getattr(J_test, 'shape', None)} and {getattr(f0_test, 'shape', None)}.")


def column_scores(J_train: torch.Tensor, f0_train: torch.Tensor, y_train: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-parameter scores: ``"solution"`` ``|delta*|`` and ``"gradient"`` ``|J^T (y - f0)|`` (float64).

    ``delta* = J^T K^+ (y - f0)`` with ``K = J J^T`` is the minimum-norm solution of the dense
    tangent problem (what :func:`~lotterylab.tangent_fit.solve_tangent` returns); ``J^T (y - f0)``
    is, up to a factor ``-n``, the first gradient of the squared loss.

    Example:
        >>> J = torch.tensor([[1.0, 2.0, 0.0]])
        >>> s = column_scores(J, torch.zeros(1), torch.ones(1))
        >>> s["solution"].tolist(), s["gradient"].tolist()
        ([0.2, 0.4, 0.0], [1.0, 2.0, 0.0])
    """
    _check_system(J_train, f0_train, y_train)
    J = J_train.double()
    r = (y_train - f0_train).reshape(-1).to(J)
    _, V, gain = _eig_gain(J @ J.T, 0.0)
    alpha = V @ (gain * (V.T @ r))                                               # K^+ (y - f0)
    return {"solution": (J.T @ alpha).abs(), "gradient": (J.T @ r).abs()}


def restricted_solves(J_train: torch.Tensor, f0_train: torch.Tensor, y_train: torch.Tensor, J_test: torch.Tensor,
                      f0_test: torch.Tensor, order: torch.Tensor, sizes: Sequence[int],
                      *, block: int = 8192) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Min-norm least squares on the first ``size`` columns of ``order``, for each of the increasing ``sizes``.

    Only the kept parameters move: ``delta_S = J_S^+ (y - f0)``, and the predictions are
    ``f0 + J_S delta_S = f0 + K_S(., X) K_S^+ (y - f0)`` with ``K_S = J_S J_S^T``. With fewer columns
    than equations the problem is solved in the least-squares sense. The kernels of the nested
    prefixes are accumulated in ``J``'s dtype, ``block`` columns at a time, so the whole sweep reads
    ``J`` once; the pseudo-inverse (float64 ``eigh``) drops eigenvalues below ``n * eps * lam_max``,
    ``eps`` that of ``J``'s dtype (the cut-off of ``numpy.linalg.pinv``). Returns one ``(f_train, f_test)`` pair per size, shaped like ``f0_train`` and ``f0_test``.

    Example:
        >>> J = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
        >>> (f, _), = restricted_solves(J, torch.zeros(2), torch.ones(2), J, torch.zeros(2), torch.tensor([1, 0]), [1])
        >>> f.tolist()
        [0.0, 1.0]
    """
    _check_system(J_train, f0_train, y_train, J_test, f0_test)
    n_params = J_train.shape[1]
    if not isinstance(order, torch.Tensor) or order.dim() != 1 or order.dtype not in (torch.int64, torch.int32):
        raise LotteryLabError(f"order must be a 1-D integer tensor of column indices, got {getattr(order, 'shape', order)}.")
    sizes = [check_positive_int("sizes entry", s) for s in sizes]
    if not sizes or sizes != sorted(set(sizes)) or sizes[-1] > len(order):
        raise LotteryLabError(f"sizes={sizes} must be increasing, without repeats, and at most len(order)={len(order)}.")
    prefix = order[:sizes[-1]]
    if prefix.min() < 0 or prefix.max() >= n_params or len(prefix.unique()) != len(prefix):
        raise LotteryLabError(f"order must hold distinct column indices in [0, {n_params}).")
    check_positive_int("block", block)
    n, dtype = J_train.shape[0], J_train.dtype
    K = torch.zeros(n, n, dtype=dtype, device=J_train.device)
    K_test = torch.zeros(J_test.shape[0], n, dtype=dtype, device=J_train.device)
    r = (y_train - f0_train).reshape(-1).double()
    out, done = [], 0
    for size in sizes:
        for start in range(done, size, block):
            cols = order[start:min(start + block, size)].to(J_train.device)
            a, b = J_train[:, cols], J_test[:, cols].to(dtype)
            K += a @ a.T
            K_test += b @ a.T
        done = size
        lam, V = torch.linalg.eigh(K.double())                  # K_S^+ with J's own round-off as the cut-off
        lam = lam.clamp_min(0.0)
        gain = torch.where(lam > lam.max() * n * torch.finfo(dtype).eps, 1.0 / lam, torch.zeros_like(lam))
        alpha = V @ (gain * (V.T @ r))
        out.append(((f0_train.reshape(-1).double() + K.double() @ alpha).to(f0_train.dtype).reshape(f0_train.shape),
                    (f0_test.reshape(-1).double() + K_test.double() @ alpha).to(f0_test.dtype).reshape(f0_test.shape)))
    return out


def pairwise_disagreement(outputs: torch.Tensor) -> float:
    """Mean fraction of inputs on which two runs' predicted classes differ, over all pairs of runs.

    ``outputs`` is ``(runs, m)`` (scalar outputs, the class is the sign) or ``(runs, m, k)`` (argmax).

    Example:
        >>> pairwise_disagreement(torch.tensor([[1.0, -1.0], [1.0, 1.0], [1.0, 1.0]]))
        0.3333333333333333
    """
    if not isinstance(outputs, torch.Tensor) or outputs.dim() not in (2, 3) or outputs.shape[0] < 2:
        raise LotteryLabError(f"outputs must be a (runs, m) or (runs, m, k) tensor with runs >= 2, "
                              f"got {getattr(outputs, 'shape', type(outputs).__name__)}.")
    labels = outputs.sign() if outputs.dim() == 2 else outputs.argmax(-1)
    pairs = list(itertools.combinations(range(outputs.shape[0]), 2))
    return float(np.mean([float((labels[i] != labels[j]).float().mean()) for i, j in pairs]))


@dataclass(frozen=True)
class RestrictedCurve:
    """Test accuracy and training loss of the restricted tangent solve against the kept fraction."""

    fractions: list[float]            # kept fraction of the parameters, increasing
    sizes: list[int]                  # kept parameters (columns of J)
    n_params: int                     # all parameters
    n_train: int                      # equations (training outputs)
    accuracy: dict[str, list[float]]  # ranking -> test accuracy per fraction ("random": mean over draws)
    train_loss: dict[str, list[float]]
    random_accuracy: list[list[float]]  # one list per random draw


def _accuracy(f: torch.Tensor, y: torch.Tensor) -> float:
    if f.dim() == 2 and f.shape[1] > 1:
        return float((f.argmax(1) == y.argmax(1)).double().mean())
    return float((f.sign() == y.sign()).double().mean())


def restricted_solve_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor,
                           y_test: torch.Tensor, fractions: Sequence[float], *, n_random: int = 1, seed: int = 0,
                           chunk_size: int = 64) -> RestrictedCurve:
    """The restricted tangent solve at the model's current parameters, for each kept fraction and ranking.

    Forms ``J`` on ``x`` and ``x_test`` (it must fit in memory), ranks the columns by ``|delta*|`` and by
    ``|J^T (y - f0)|``, draws ``n_random`` random orders (generators seeded ``seed, seed + 1, ...``) and
    solves the restricted problem at ``round(fraction * P)`` columns (at least 1). Accuracy is the sign
    agreement for one output (targets +-1), the argmax agreement for several.

    Example:
        >>> from lotterylab.models import TangentMLP
        >>> x = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
        >>> c = restricted_solve_curve(TangentMLP(2, [16], 1), x, x[:, :1].sign(), x, x[:, :1].sign(), [0.5, 1.0])
        >>> c.sizes, c.accuracy["solution"][-1]
        ([32, 65], 1.0)
    """
    fractions = [check_fraction("fractions entry", q, low_inclusive=False, high_inclusive=True) for q in fractions]
    if not fractions or fractions != sorted(set(fractions)):
        raise LotteryLabError(f"fractions={fractions} must be a non-empty increasing list in (0, 1].")
    check_positive_int("n_random", n_random)
    f0, f0_test = model(x).detach(), model(x_test).detach()
    if not isinstance(y, torch.Tensor) or y.shape != f0.shape or not isinstance(y_test, torch.Tensor) \
            or y_test.shape != f0_test.shape:
        raise LotteryLabError(f"y and y_test must have the shapes of model(x) {tuple(f0.shape)} and "
                              f"model(x_test) {tuple(f0_test.shape)}.")
    J, J_test = jacobian_matrix(model, x, chunk_size=chunk_size), jacobian_matrix(model, x_test, chunk_size=chunk_size)
    n_params = J.shape[1]
    sizes = sorted({max(1, round(q * n_params)) for q in fractions})
    if len(sizes) != len(fractions):
        raise LotteryLabError(f"fractions={fractions} give repeated column counts {sizes} for {n_params} parameters.")
    scores = column_scores(J, f0, y)
    orders = {name: torch.argsort(s, descending=True, stable=True) for name, s in scores.items()}
    orders.update({f"random{i}": torch.randperm(n_params, generator=make_generator(seed + i)).to(J.device)
                   for i in range(n_random)})
    acc, loss = {}, {}
    for name, order in orders.items():
        fits = restricted_solves(J, f0, y, J_test, f0_test, order, sizes)
        acc[name] = [_accuracy(ft, y_test) for _, ft in fits]
        loss[name] = [float(0.5 * (f - y).double().pow(2).mean()) for f, _ in fits]
    draws = [acc.pop(f"random{i}") for i in range(n_random)]
    losses = [loss.pop(f"random{i}") for i in range(n_random)]
    acc["random"] = [float(v) for v in np.mean(draws, axis=0)]
    loss["random"] = [float(v) for v in np.mean(losses, axis=0)]
    return RestrictedCurve(fractions=[s / n_params for s in sizes], sizes=sizes, n_params=n_params, n_train=len(f0),
                           accuracy=acc, train_loss=loss, random_accuracy=draws)


def plot_restricted_curve(curve: RestrictedCurve, *, metric: str = "accuracy", ax=None):
    """Test accuracy (%) or training loss against the kept fraction (%), one line per ranking.

    The random columns' band spans the draws; the dotted line marks as many columns as equations.

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> c = RestrictedCurve([0.5, 1.0], [1, 2], 2, 1, {k: [0.5, 1.0] for k in RANKINGS},
        ...                     {k: [0.1, 0.0] for k in RANKINGS}, [[0.5, 1.0]])
        >>> plot_restricted_curve(c).get_xscale()
        'log'
    """
    if metric not in ("accuracy", "train_loss"):
        raise LotteryLabError(f"metric={metric!r} must be one of ('accuracy', 'train_loss').")
    ax = get_ax(ax)
    q = 100 * np.asarray(curve.fractions)
    labels = {"solution": "top |delta*| (dense min-norm solution)", "gradient": "top |J^T (y - f0)| (first gradient)",
              "random": "random columns, same number"}
    colors = {"solution": PALETTE["ticket"], "gradient": PALETTE["other"], "random": PALETTE["random"]}
    scale = 100.0 if metric == "accuracy" else 1.0
    for name in RANKINGS:
        values = getattr(curve, metric)[name]
        ax.plot(q, scale * np.asarray(values), "o-", ms=4, color=colors[name], label=labels[name])
    if metric == "accuracy" and len(curve.random_accuracy) > 1:
        draws = 100 * np.asarray(curve.random_accuracy)
        ax.fill_between(q, draws.min(0), draws.max(0), color=colors["random"], alpha=0.2, lw=0)
    ax.axvline(100 * curve.n_train / curve.n_params, color="k", ls=":", lw=1, label="as many columns as equations")
    ax.set_xscale("log")
    if metric == "train_loss":
        ax.set_yscale("symlog", linthresh=1e-6)
    ax.set_xlabel("kept parameters q (% of all)")
    ax.set_ylabel("test accuracy (%)" if metric == "accuracy" else "training loss")
    ax.legend(fontsize="small")
    return ax
