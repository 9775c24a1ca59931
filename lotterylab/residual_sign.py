"""The residual-sign puzzle: does ``x - relu(Mx + b)`` train differently from ``x + relu(Mx + b)``?

A network of residual blocks ``h <- h + s * relu(M h + b)`` (sign ``s = +1`` or ``-1``) followed by a
linear read-out ``y = w . h + c`` satisfies an exact identity. Write ``T(M, b, w, c) = (-M, b, -w, c)``.
Then the minus network with parameters ``theta`` on input ``x`` and the plus network with ``T theta``
on input ``-x`` have hidden states ``h`` and ``-h`` at every block and *the same output*. ``T`` is an
orthogonal sign flip, so gradients map through it too, and Adam (which acts coordinate by coordinate
and is odd in the gradient) keeps the correspondence at every step. Because ``M`` and ``w`` start from
distributions symmetric about 0, ``T theta_0`` is distributed like ``theta_0``: training the minus
network on ``x`` equals, *in distribution over seeds*, training the plus network on ``-x``. Note that
``b`` and ``c`` are *not* flipped, so their initial distribution need not be symmetric.

Everything here is batched: ``S`` seeds are ``S`` independent networks stored in tensors with a leading
seed dimension and trained as one tensor program.

Example:
    >>> cfg = ResidualSignConfig(dim=3, depth=2, n_points=16, steps=5)
    >>> x, t = make_task(cfg, seed=0)
    >>> params = init_params(cfg, seeds=[0, 1])
    >>> a = train_residual(cfg, x, t, sign=-1, params=params)
    >>> b = train_residual(cfg, -x, t, sign=+1, params=mirror_params(params))
    >>> torch.equal(a.final_loss, b.final_loss)
    True
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError, check_choice, check_positive_float, check_positive_int
from lotterylab.plotting import get_ax
from lotterylab.presets import pick
from lotterylab.seeding import check_seeds, make_generator

__all__ = [
    "ResidualResult",
    "ResidualSignConfig",
    "forward",
    "init_params",
    "ks_permutation_test",
    "ks_statistic",
    "make_task",
    "mirror_params",
    "plot_ecdf",
    "plot_qq",
    "train_residual",
]


@dataclass(frozen=True)
class ResidualSignConfig:
    """A family of small residual regressors trained full-batch with Adam."""

    dim: int = 8                # width d of x and of every block
    depth: int = 2              # number of residual blocks
    n_points: int = 128         # training points
    steps: int = 300            # full-batch Adam steps
    lr: float = 1e-2
    init_scale: float = 1.0     # M ~ N(0, init_scale**2 / d), w ~ N(0, 1 / d): symmetric about 0
    bias_init: float = 0.1      # b starts at this constant: deliberately *not* symmetric
    n_seeds: int = 300          # networks per sign (the sample size of each loss distribution)

    def __post_init__(self) -> None:
        for name in ("dim", "depth", "n_points", "steps", "n_seeds"):
            check_positive_int(name, getattr(self, name))
        check_positive_float("lr", self.lr)
        check_positive_float("init_scale", self.init_scale)
        if isinstance(self.bias_init, bool) or not isinstance(self.bias_init, (int, float)) \
                or not math.isfinite(self.bias_init):
            raise LotteryLabError(f"bias_init={self.bias_init!r} must be a finite number.")

    @classmethod
    def for_preset(cls, preset: str, **overrides) -> ResidualSignConfig:
        """``quick``: 300 seeds per sign, 300 steps; ``full``: 2,000 seeds, 2,000 steps. ``overrides`` replace fields."""
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(overrides) - set(fields))
        if unknown:
            raise LotteryLabError(f"overrides {unknown} are not fields of ResidualSignConfig; choose from {fields}.")
        base = cls(n_seeds=pick(preset, quick=300, full=2000), steps=pick(preset, quick=300, full=2000))
        return dataclasses.replace(base, **overrides)


@dataclass
class ResidualResult:
    """``final_loss``: (S,) training MSE per seed after training; ``curve``: (steps + 1, S) losses
    (the loss before each step, then the final one); ``params``: the trained batched parameters."""

    final_loss: torch.Tensor
    curve: torch.Tensor
    params: dict[str, torch.Tensor]


def _check_config(config) -> None:
    if not isinstance(config, ResidualSignConfig):
        raise LotteryLabError(f"config must be a ResidualSignConfig, not {type(config).__name__}.")


def make_task(config: ResidualSignConfig, *, seed: int, device: torch.device | str | None = None):
    """Inputs ``x`` (n, d) with **non-negative** entries (|N(0, 1)|) and a fixed nonlinear target ``t`` (n,).

    The inputs are deliberately asymmetric about 0, as pixel intensities or ReLU outputs are: that is
    the case where the sign of the residual branch could matter. ``device=None``: ``get_device()``.

    Example:
        >>> x, t = make_task(ResidualSignConfig(dim=4, n_points=10), seed=0, device="cpu")
        >>> tuple(x.shape), tuple(t.shape), bool((x >= 0).all())
        ((10, 4), (10,), True)
    """
    _check_config(config)
    check_positive_int("seed", seed, minimum=0)
    device = get_device(None if device is None else str(device))
    g = make_generator(seed)
    d, n = config.dim, config.n_points
    x = torch.randn(n, d, generator=g).abs()
    u, v = torch.randn(d, generator=g) / d ** 0.5, torch.randn(d, generator=g) / d ** 0.5
    t = torch.tanh(2 * (x - 0.8) @ u) + torch.relu(x @ v - 0.5)
    return x.to(device), t.to(device)


def init_params(config: ResidualSignConfig, *, seeds: Sequence[int],
                device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """Batched initial parameters, one network per seed (seed ``s`` always gives the same network).

    ``M``: (S, L, d, d), ``b``: (S, L, d), ``w``: (S, d), ``c``: (S,). ``seeds``: distinct non-negative
    integers (a list, range, numpy or torch integers). ``device=None``: ``get_device()``.

    Example:
        >>> {k: tuple(v.shape) for k, v in init_params(ResidualSignConfig(dim=3, depth=2), seeds=range(4),
        ...                                             device="cpu").items()}
        {'M': (4, 2, 3, 3), 'b': (4, 2, 3), 'w': (4, 3), 'c': (4,)}
    """
    _check_config(config)
    seeds = check_seeds(seeds)
    device = get_device(None if device is None else str(device))
    d, L = config.dim, config.depth
    Ms, ws = [], []
    for s in seeds:
        g = make_generator(int(s))
        Ms.append(torch.randn(L, d, d, generator=g) * config.init_scale / d ** 0.5)
        ws.append(torch.randn(d, generator=g) / d ** 0.5)
    S = len(seeds)
    params = {"M": torch.stack(Ms), "b": torch.full((S, L, d), float(config.bias_init)),
              "w": torch.stack(ws), "c": torch.zeros(S)}
    return {k: v.to(device) for k, v in params.items()}


def _check_params(params) -> None:
    """Batched parameters as from :func:`init_params`: M (S, L, d, d), b (S, L, d), w (S, d), c (S,)."""
    missing = {"M", "b", "w", "c"} - set(params) if isinstance(params, Mapping) else {"M", "b", "w", "c"}
    if missing:
        raise LotteryLabError(f"params lacks {sorted(missing)}; expected keys M, b, w, c (from init_params).")
    M = params["M"]
    if not all(isinstance(params[k], torch.Tensor) for k in "Mbwc") or M.dim() != 4:
        raise LotteryLabError("params must hold tensors with M of shape (S, L, d, d) (from init_params).")
    S, L, d = M.shape[0], M.shape[1], M.shape[-1]
    want = {"M": (S, L, d, d), "b": (S, L, d), "w": (S, d), "c": (S,)}
    wrong = {k: tuple(params[k].shape) for k in want if tuple(params[k].shape) != want[k]}
    if wrong:
        raise LotteryLabError(f"params have inconsistent shapes {wrong}; expected {want} (from init_params).")


def mirror_params(params: Mapping[str, torch.Tensor], *, flip_bias: bool = False) -> dict[str, torch.Tensor]:
    """The map ``T``: ``(M, b, w, c) -> (-M, b, -w, c)``. ``flip_bias=True`` also negates ``b`` (the
    tempting but *wrong* version of the map, kept to show that it fails).

    Example:
        >>> p = {"M": torch.ones(1, 1, 1, 1), "b": torch.ones(1, 1, 1), "w": torch.ones(1, 1), "c": torch.ones(1)}
        >>> {k: v.flatten().item() for k, v in mirror_params(p).items()}
        {'M': -1.0, 'b': 1.0, 'w': -1.0, 'c': 1.0}
    """
    _check_params(params)
    return {"M": -params["M"], "b": -params["b"] if flip_bias else params["b"].clone(),
            "w": -params["w"], "c": params["c"].clone()}


def forward(params: Mapping[str, torch.Tensor], x: torch.Tensor, sign: int) -> torch.Tensor:
    """Outputs (S, n) of all S networks on inputs ``x`` (n, d): blocks ``h + sign * relu(M h + b)``."""
    check_choice("sign", sign, (1, -1))
    _check_params(params)
    M, b = params["M"], params["b"]
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != M.shape[-1]:
        raise LotteryLabError(f"x must be a tensor of shape (n, {M.shape[-1]}); got {getattr(x, 'shape', x)!r}.")
    h = x.unsqueeze(0).expand(M.shape[0], -1, -1)
    for layer in range(M.shape[1]):
        z = torch.matmul(h, M[:, layer].transpose(1, 2)) + b[:, layer, None, :]
        h = h + torch.relu(z) if sign == 1 else h - torch.relu(z)
    return (h * params["w"][:, None, :]).sum(-1) + params["c"][:, None]


def train_residual(config: ResidualSignConfig, x: torch.Tensor, t: torch.Tensor, *, sign: int,
                   seeds: Sequence[int] | None = None, params: Mapping[str, torch.Tensor] | None = None
                   ) -> ResidualResult:
    """Train S residual networks at once (full-batch Adam on the mean squared error).

    Start from ``params`` (batched, e.g. from :func:`init_params`) or from ``init_params(config,
    seeds=seeds)``. The summed loss has independent per-seed terms and Adam is elementwise, so each
    network follows exactly the trajectory it would follow alone.
    """
    _check_config(config)
    check_choice("sign", sign, (1, -1))
    if (seeds is None) == (params is None):
        raise LotteryLabError("pass exactly one of seeds= or params=.")
    if not isinstance(x, torch.Tensor) or not isinstance(t, torch.Tensor) or not x.is_floating_point():
        raise LotteryLabError(f"x (float) and t must be tensors; got {type(x).__name__} and {type(t).__name__}.")
    if x.dim() != 2 or len(x) == 0 or tuple(t.shape) != (len(x),):
        raise LotteryLabError(f"x must be non-empty of shape (n, d) and t of shape (n,); got x {tuple(x.shape)} and "
                              f"t {tuple(t.shape)} (a target of shape (n, 1) would broadcast to a wrong loss).")
    if params is None:
        params = init_params(config, seeds=seeds, device=x.device)
    _check_params(params)
    if x.shape[1] != params["M"].shape[-1] or any(v.device != x.device for v in params.values()):
        raise LotteryLabError(f"params (width {params['M'].shape[-1]}, on {params['M'].device}) do not fit x "
                              f"(width {x.shape[1]}, on {x.device}).")
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    optimizer = torch.optim.Adam(list(leaves.values()), lr=config.lr)
    curve = []
    for _ in range(config.steps):
        loss = ((forward(leaves, x, sign) - t) ** 2).mean(1)      # (S,)
        curve.append(loss.detach())
        optimizer.zero_grad(set_to_none=False)
        loss.sum().backward()
        optimizer.step()
    with torch.no_grad():
        final = ((forward(leaves, x, sign) - t) ** 2).mean(1)
    curve.append(final)
    return ResidualResult(final_loss=final, curve=torch.stack(curve),
                          params={k: v.detach() for k, v in leaves.items()})


# --------------------------------------------------------------------------------------------------
# Two-sample comparison: Kolmogorov-Smirnov statistic with a permutation p-value
# --------------------------------------------------------------------------------------------------
def _ks_from_labels(sorted_values: torch.Tensor, labels: torch.Tensor, n_a: int, n_b: int) -> torch.Tensor:
    """KS statistics for a batch of labelings (P, n) of the pooled sorted sample (1 = group a)."""
    fa = torch.cumsum(labels, dim=-1) / n_a
    fb = torch.cumsum(1 - labels, dim=-1) / n_b
    last_of_tie = torch.ones_like(sorted_values, dtype=torch.bool)
    last_of_tie[:-1] = sorted_values[1:] != sorted_values[:-1]   # compare the ECDFs only after a tie group
    return ((fa - fb).abs() * last_of_tie).amax(dim=-1)


def ks_statistic(a, b) -> float:
    """The two-sample Kolmogorov-Smirnov statistic ``sup_x |F_a(x) - F_b(x)|``.

    Example:
        >>> ks_statistic([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), ks_statistic([0.0, 1.0], [5.0, 6.0])
        (0.0, 1.0)
    """
    a, b = _samples(a, "a"), _samples(b, "b")
    pooled = torch.cat([a, b])
    order = torch.argsort(pooled, stable=True)
    labels = torch.cat([torch.ones_like(a), torch.zeros_like(b)])[order]
    return float(_ks_from_labels(pooled[order], labels, len(a), len(b)))


def ks_permutation_test(a, b, *, n_permutations: int = 2000, seed: int = 0) -> tuple[float, float]:
    """KS statistic and its permutation p-value ``(1 + #{perm >= observed}) / (1 + P)``.

    All permutations are evaluated at once: random relabelings of the pooled sample as one (P, n) tensor.

    Example:
        >>> stat, p = ks_permutation_test([0.0, 1.0, 2.0, 3.0], [10.0, 11.0, 12.0, 13.0], n_permutations=200)
        >>> stat, p < 0.05
        (1.0, True)
    """
    check_positive_int("n_permutations", n_permutations)
    check_positive_int("seed", seed, minimum=0)
    a, b = _samples(a, "a"), _samples(b, "b")
    pooled = torch.cat([a, b])
    order = torch.argsort(pooled, stable=True)
    sorted_values = pooled[order]
    labels = torch.cat([torch.ones_like(a), torch.zeros_like(b)])
    observed = _ks_from_labels(sorted_values, labels[order], len(a), len(b))
    g = make_generator(seed)
    perms = torch.argsort(torch.rand(n_permutations, len(pooled), generator=g), dim=1)
    permuted = labels[perms][:, order]        # relabel, then read the labels in sorted-value order
    stats = _ks_from_labels(sorted_values, permuted, len(a), len(b))
    p = (1 + int((stats >= observed - 1e-12).sum())) / (1 + n_permutations)
    return float(observed), p


def _samples(x, name: str) -> torch.Tensor:
    try:
        t = torch.as_tensor(x, dtype=torch.float64).detach().cpu().flatten()
    except (TypeError, ValueError, RuntimeError):
        raise LotteryLabError(f"sample {name} must be a sequence of numbers; got {type(x).__name__}.") from None
    if t.numel() == 0:
        raise LotteryLabError(f"sample {name} is empty; pass at least one value.")
    if not bool(torch.isfinite(t).all()):
        raise LotteryLabError(f"sample {name} contains NaN or infinite values.")
    return t


# --------------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------------
def plot_qq(a, b, *, ax=None, labels: tuple[str, str] = ("a", "b"), log: bool = True, color: str = "C0",
            name: str | None = None):
    """Quantiles of sample ``a`` against those of ``b`` (on log axes by default); returns the Axes.

    Points on the diagonal mean the two distributions agree.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> plot_qq([1.0, 2.0, 3.0], [1.5, 2.0, 2.5], labels=("x", "y")).get_xlabel()
        'x quantiles'
    """
    a, b = _samples(a, "a"), _samples(b, "b")
    if isinstance(labels, str) or len(labels) != 2:
        raise LotteryLabError(f"labels must be two names (for a and b), e.g. ('minus', 'plus'); got {labels!r}.")
    ax = get_ax(ax, figsize=(4.5, 4.5))
    q = torch.linspace(0, 1, min(len(a), len(b)), dtype=torch.float64)
    qa, qb = torch.quantile(a, q).numpy(), torch.quantile(b, q).numpy()
    ax.plot(qa, qb, ".", color=color, ms=4, label=name)
    lo, hi = min(qa.min(), qb.min()), max(qa.max(), qb.max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    if log and lo > 0:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(f"{labels[0]} quantiles")
    ax.set_ylabel(f"{labels[1]} quantiles")
    return ax


def plot_ecdf(samples: Mapping[str, Sequence[float]], *, ax=None, log: bool = True):
    """Empirical CDFs of several samples (``{label: values}``) on one Axes; returns the Axes.

    Example:
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> plot_ecdf({"a": [1.0, 2.0], "b": [1.5, 3.0]}).get_ylabel()
        'fraction of seeds'
    """
    if not isinstance(samples, Mapping) or not samples:
        raise LotteryLabError(f"samples must be a non-empty dict {{label: values}}; got {type(samples).__name__}.")
    ax = get_ax(ax, figsize=(6, 4))
    for label, values in samples.items():
        v = torch.sort(_samples(values, label)).values.numpy()
        ax.step(v, (torch.arange(1, len(v) + 1) / len(v)).numpy(), where="post", label=label)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("final training loss (MSE)")
    ax.set_ylabel("fraction of seeds")
    ax.legend(fontsize=8)
    return ax
