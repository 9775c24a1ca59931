"""Linear mode connectivity: the line between two networks and the error barrier on it.

Two networks are *linearly mode connected* when the error stays low on the straight line between
their parameters, ``theta(alpha) = (1 - alpha) theta_a + alpha theta_b``. The **error barrier**
(Frankle, Dziugaite, Roy & Carbin 2020) is the highest error on that line minus the mean of the
two endpoints' errors.

Example:
    >>> a = {"w": torch.zeros(2)}
    >>> b = {"w": torch.ones(2)}
    >>> interpolate(a, b, 0.25)["w"]
    tensor([0.2500, 0.2500])
    >>> error_barrier([0.0, 0.5, 1.0], [0.10, 0.30, 0.12])
    0.19
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lotterylab.errors import LotteryLabError, check_choice, check_positive_float, check_positive_int
from lotterylab.plotting import PALETTE, get_ax
from lotterylab.pruning import Mask

__all__ = ["N_ALPHAS", "check_alphas", "check_records", "error_barrier", "evaluate_path", "interpolate", "plot_barriers",
           "plot_path"]

N_ALPHAS = 30  # points on the line when none are given (Frankle et al. 2020 use 30)


def _as_state(x, name: str) -> dict[str, torch.Tensor]:
    if isinstance(x, nn.Module):
        return {k: v.detach() for k, v in x.state_dict().items()}
    if isinstance(x, Mapping) and all(isinstance(v, torch.Tensor) for v in x.values()):
        return dict(x)
    raise LotteryLabError(f"{name} must be a model or a state dict (name -> tensor), got {type(x).__name__}.")


def _check_pair(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> None:
    if not a:
        raise LotteryLabError("the endpoints a and b have no parameters (empty state dict).")
    if set(a) != set(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise LotteryLabError(f"the endpoints have different parameter names: only in a: {only_a}, "
                              f"only in b: {only_b}.")
    for name in a:
        if tuple(a[name].shape) != tuple(b[name].shape):
            raise LotteryLabError(f"parameter {name!r} has shape {tuple(a[name].shape)} in a but "
                                  f"{tuple(b[name].shape)} in b; both endpoints must be the same architecture.")


def _check_mask(mask: Mask | None, state: Mapping[str, torch.Tensor]) -> None:
    if mask is None:
        return
    if not isinstance(mask, Mask):
        raise LotteryLabError(f"mask must be a lotterylab.pruning.Mask or None, got {type(mask).__name__}.")
    mask.check_matches(state)


def check_alphas(alphas, name: str = "alphas") -> torch.Tensor:
    """``alphas`` as a 1-D float64 CPU tensor, or a :class:`LotteryLabError` naming ``name``.

    Raises for an empty, non-numeric, multi-dimensional or non-finite sequence of weights.

    Example:
        >>> check_alphas([0, 0.5, 1])
        tensor([0.0000, 0.5000, 1.0000], dtype=torch.float64)
    """
    try:
        values = torch.as_tensor(alphas, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise LotteryLabError(f"{name} must be a sequence of numbers, e.g. torch.linspace(0, 1, 30); "
                              f"got {alphas!r}.") from None
    if values.dim() != 1:
        raise LotteryLabError(f"{name} must be one-dimensional (a sequence of numbers); got shape "
                              f"{tuple(values.shape)}.")
    if values.numel() == 0:
        raise LotteryLabError(f"{name} is empty; pass at least one interpolation weight, e.g. "
                              "torch.linspace(0, 1, 30).")
    if not bool(torch.isfinite(values).all()):
        raise LotteryLabError(f"{name} must be finite numbers; got {values.tolist()[:5]}.")
    return values


def _check_alpha(alpha) -> float:
    """One interpolation weight: a real number or a 0-d tensor/array (not a list, not a bool)."""
    if hasattr(alpha, "ndim"):  # a tensor or numpy value: only a 0-d one is a single number
        if alpha.ndim != 0:
            raise LotteryLabError(f"alpha must be one number; got an array of shape {tuple(alpha.shape)} "
                                  "(use evaluate_path for several alphas).")
        alpha = alpha.item()
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise LotteryLabError(f"alpha must be one number, got {alpha!r} (use evaluate_path for several alphas).")
    if not math.isfinite(alpha):
        raise LotteryLabError(f"alpha must be a finite number, got {alpha!r}.")
    return float(alpha)


@torch.no_grad()
def interpolate(a, b, alpha: float, *, mask: Mask | None = None) -> dict[str, torch.Tensor]:
    """The state ``(1 - alpha) * a + alpha * b`` of two networks (models or state dicts).

    ``alpha = 0`` returns ``a``'s values and ``alpha = 1`` ``b``'s, exactly (``torch.lerp``). Integer
    buffers (e.g. BatchNorm's step counter) are copied from ``a``. With ``mask`` the pruned weights are
    exactly zero on the whole line. The result lives on ``a``'s device. Mismatched names or shapes,
    and an ``alpha`` that is not one finite number, raise :class:`LotteryLabError`.

    Example:
        >>> a, b = {"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 4.0])}
        >>> interpolate(a, b, 0.5, mask=Mask({"w": torch.tensor([1, 0])}))["w"]
        tensor([2., 0.])
    """
    alpha = _check_alpha(alpha)
    a, b = _as_state(a, "a"), _as_state(b, "b")
    _check_pair(a, b)
    _check_mask(mask, a)
    out = {}
    for name, ta in a.items():
        tb = b[name].to(ta.device)
        out[name] = torch.lerp(ta, tb, alpha) if ta.is_floating_point() else ta.clone()
        if mask is not None and name in mask:
            out[name] = out[name] * mask[name].to(device=ta.device, dtype=ta.dtype)
    return out


def _check_path_inputs(model, a, b, X, y, batch_size: int) -> None:
    if not isinstance(model, nn.Module) or next(model.parameters(), None) is None:
        raise LotteryLabError(f"model must be a torch.nn.Module with parameters, got {type(model).__name__}.")
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise LotteryLabError(f"X and y must be tensors; got {type(X).__name__} and {type(y).__name__}.")
    if len(X) == 0 or len(X) != len(y):
        raise LotteryLabError(f"X and y must be non-empty and of equal length; got {len(X)} and {len(y)}.")
    if y.dim() != 1 or y.is_floating_point() or y.is_complex():
        raise LotteryLabError(f"y must be a 1-D tensor of integer class labels; got dtype {y.dtype}, "
                              f"shape {tuple(y.shape)}.")
    check_positive_int("batch_size", batch_size)
    expected = {n: tuple(t.shape) for n, t in model.state_dict().items()}
    if set(a) != set(expected):
        raise LotteryLabError(f"the endpoints' parameter names {sorted(a)} do not match the model's "
                              f"{sorted(expected)}.")
    wrong = [n for n in a if tuple(a[n].shape) != expected[n]]
    if wrong:
        raise LotteryLabError(f"the endpoints' shapes do not match the model's for {wrong}: e.g. "
                              f"{tuple(a[wrong[0]].shape)} vs {expected[wrong[0]]}.")


@torch.no_grad()
def evaluate_path(model: nn.Module, a, b, X: torch.Tensor, y: torch.Tensor, alphas=None, *,
                  mask: Mask | None = None, chunk: int = 10, batch_size: int = 10_000) -> dict[str, list[float]]:
    """Error and cross-entropy loss of ``model``'s architecture at ``theta(alpha)`` for every alpha.

    All alphas of a chunk are evaluated in one batched program (``torch.func.vmap`` over the stacked
    interpolated parameters) instead of loading 30 model copies (``benchmarks/bench_stability.py``).
    ``model`` only provides the architecture and the device (its own weights are not used or
    changed); endpoints, mask and data are moved there. ``alphas`` defaults to 30 evenly spaced
    values in [0, 1], as in Frankle et al. (2020). Returns ``{"alphas", "error", "loss"}``.

    Example:
        >>> net = nn.Linear(2, 2)
        >>> X, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
        >>> out = evaluate_path(net, net, net, X, y, alphas=[0.0, 1.0])
        >>> out["error"][0] == out["error"][1]
        True
    """
    from torch.func import functional_call, vmap

    alphas = check_alphas(torch.linspace(0, 1, N_ALPHAS) if alphas is None else alphas)
    check_positive_int("chunk", chunk)
    a, b = _as_state(a, "a"), _as_state(b, "b")
    _check_pair(a, b)
    _check_mask(mask, a)
    _check_path_inputs(model, a, b, X, y, batch_size)
    device = next(model.parameters()).device
    a = {n: t.to(device) for n, t in a.items()}
    b = {n: t.to(device) for n, t in b.items()}
    floats = [n for n, t in a.items() if t.is_floating_point()]
    fixed = {n: t for n, t in a.items() if not t.is_floating_point()}
    masks = {n: mask[n].to(device=device, dtype=a[n].dtype) for n in mask} if mask is not None else {}
    X, y = X.to(device), y.to(device)
    dtype = a[floats[0]].dtype if floats else torch.float32
    was_training = model.training
    model.eval()

    def forward(params, xb):
        return functional_call(model, {**params, **fixed}, (xb,))

    errors, losses = [], []
    for start in range(0, len(alphas), chunk):
        w = alphas[start:start + chunk].to(device=device, dtype=dtype)        # (A,) this chunk's alphas
        params = {}
        for n in floats:
            p = torch.lerp(a[n].unsqueeze(0), b[n].unsqueeze(0), w.view((len(w),) + (1,) * a[n].dim()))
            params[n] = p * masks[n] if n in masks else p                      # (A, *shape)
        loss = torch.zeros(len(w), device=device, dtype=torch.float64)
        wrong = torch.zeros(len(w), device=device, dtype=torch.float64)
        for i in range(0, len(X), batch_size):
            xb, yb = X[i:i + batch_size], y[i:i + batch_size]
            logits = vmap(forward, in_dims=(0, None))(params, xb)          # (A, batch, classes)
            loss += F.cross_entropy(logits.transpose(1, 2), yb.expand(len(w), -1), reduction="none").sum(1).double()
            wrong += (logits.argmax(-1) != yb).sum(1).double()
        errors += (wrong / len(X)).tolist()
        losses += (loss / len(X)).tolist()
    model.train(was_training)
    return {"alphas": alphas.tolist(), "error": errors, "loss": losses}


def error_barrier(alphas: Sequence[float], errors: Sequence[float]) -> float:
    """Frankle et al.'s barrier: ``max_alpha E(alpha) - (E(0) + E(1)) / 2``.

    ``alphas`` must include 0 and 1 (the endpoints) and ``errors`` must be finite, one per alpha.
    The barrier is 0 when the line is no worse than its ends, and can be slightly negative when
    every point on the line beats the endpoints' mean.

    Example:
        >>> error_barrier([0.0, 1.0], [0.05, 0.07])
        0.01
    """
    alphas = check_alphas(alphas).tolist()
    try:
        values = torch.as_tensor(errors, dtype=torch.float64).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise LotteryLabError(f"errors must be a sequence of numbers, one per alpha; got {errors!r}.") from None
    if values.dim() != 1 or len(values) != len(alphas):
        raise LotteryLabError(f"alphas and errors must have the same length (one error per alpha); got "
                              f"{len(alphas)} alphas and errors of shape {tuple(values.shape)}.")
    if not bool(torch.isfinite(values).all()):
        bad = [i for i, v in enumerate(values.tolist()) if not math.isfinite(v)]
        raise LotteryLabError(f"errors must be finite; entries {bad[:5]} are NaN or infinite.")
    if 0.0 not in alphas or 1.0 not in alphas:
        raise LotteryLabError("alphas must include both endpoints 0 and 1 to define the barrier.")
    errors = values.tolist()
    ends = (errors[alphas.index(0.0)] + errors[alphas.index(1.0)]) / 2
    return round(max(errors) - ends, 12)


def check_records(records, keys: Sequence[str]) -> list:
    """``records`` as a list, raising unless it is a non-empty list of dicts that all hold ``keys``.

    Example:
        >>> check_records([{"kind": "dense"}], ("kind",))
        [{'kind': 'dense'}]
    """
    if isinstance(records, Mapping) or not isinstance(records, Sequence) or not records:
        raise LotteryLabError(f"records must be a non-empty list of records (dicts), e.g. run.records; "
                              f"got {type(records).__name__}.")
    for r in records:
        missing = [k for k in keys if not isinstance(r, Mapping) or k not in r]
        if missing:
            raise LotteryLabError(f"records: a record lacks {missing}; records come from run_instability.")
    return list(records)


def plot_path(records: Sequence[Mapping], *, ax=None, metric: str = "error", scale: float = 100.0,
              title: str | None = None):
    """Error (or loss) along the line between the two copies, one line per record; returns the Axes.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> rec = {"kind": "dense", "rewind_step": 0, "alphas": [0, 0.5, 1], "error": [0.1, 0.2, 0.1], "barrier": 0.1}
        >>> plot_path([rec]).get_xlabel()
        'interpolation weight $\\\\alpha$'
    """
    check_choice("metric", metric, ("error", "loss"))
    check_positive_float("scale", scale)
    records = check_records(records, ("kind", "rewind_step", "alphas", metric, "barrier"))
    ax = get_ax(ax, figsize=(6, 4))
    for r in records:
        ax.plot(r["alphas"], [scale * v for v in r[metric]], marker=".", color=PALETTE.get(r["kind"]),
                label=f"{r['kind']}, k={r['rewind_step']} (barrier {100 * r['barrier']:.2f} pts)")
    ax.set_xlabel(r"interpolation weight $\alpha$")
    ax.set_ylabel("test error (%)" if metric == "error" else "test loss")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_barriers(records: Sequence[Mapping], *, ax=None, threshold: float = 0.02):
    """Error barrier (percentage points) against rewind step k, one line per kind; returns the Axes.

    The dashed line is the 2-point threshold below which Frankle et al. call a network stable.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> recs = [{"kind": "dense", "rewind_step": k, "barrier": 0.01} for k in (0, 10)]
        >>> plot_barriers(recs).get_ylabel()
        'error barrier (percentage points)'
    """
    check_positive_float("threshold", threshold)
    records = check_records(records, ("kind", "rewind_step", "barrier"))
    ax = get_ax(ax, figsize=(6, 4))
    kinds = list(dict.fromkeys(r["kind"] for r in records))            # in order of first appearance
    positions = {k: i for i, k in enumerate(sorted({r["rewind_step"] for r in records}))}
    for kind in kinds:
        rs = sorted((r for r in records if r["kind"] == kind), key=lambda r: r["rewind_step"])
        ax.plot([positions[r["rewind_step"]] for r in rs], [100 * r["barrier"] for r in rs], marker="o",
                color=PALETTE.get(kind), label=kind)
    ax.axhline(100 * threshold, ls="--", color="k", lw=1, label=f"stability threshold ({100 * threshold:.0f} pts)")
    ax.set_xticks(range(len(positions)), [str(s) for s in positions])
    ax.set_xlabel("rewind step k (where the two copies start)")
    ax.set_ylabel("error barrier (percentage points)")
    ax.legend(fontsize=8)
    return ax
