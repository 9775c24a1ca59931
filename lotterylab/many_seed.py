"""Train thousands of tiny two-layer networks at once: the many-seed trainer of the scaling-law chapter.

:func:`train_many` trains S networks of :mod:`lotterylab.two_layer` (one per seed) as one tensor
program over a seed dimension, as in Liu and Tegmark's "A neural scaling law from lottery ticket
ensembling". Each replica starts where a standalone ``reference_net`` with its seed starts and follows
``torch.optim.Adam`` with the paper's step schedule, so it matches the plain loop of :func:`train_naive`
(tested in float64). It is fast because gradients are in closed form (no autograd), the seeds are cut
into chunks whose temporaries (~1 MB on a CPU) stay in cache, and the learning-rate and bias-correction
schedule is made once per call (on the device for the compiled step: no host-to-device copy per step).
``compile=True`` fuses the step with ``torch.compile``, falling back to eager code (with a warning).

Example:
    >>> run = train_many(range(4), 2, FitConfig(steps=50, decay_every=20, n_points=64), device="cpu")
    >>> run.losses.shape, run.n_diverged
    (torch.Size([4]), 0)
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError, check_choice, check_positive_float, check_positive_int
from lotterylab.presets import pick
from lotterylab.progress import check_progress, progress_bar
from lotterylab.seeding import check_seeds
from lotterylab.two_layer import (
    ACTIVATIONS,
    Params,
    check_dtype,
    forward,
    init_params,
    loss_and_grads,
    params_of,
    reference_net,
)

__all__ = [
    "TARGETS",
    "FitConfig",
    "ManyRun",
    "input_dim",
    "make_data",
    "target_function",
    "train_many",
    "train_naive",
]

_UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "x^2": lambda x: x ** 2, "x^3": lambda x: x ** 3, "x^4": lambda x: x ** 4,
    "sin": torch.sin, "cos": torch.cos, "exp": torch.exp, "sin^2": lambda x: torch.sin(x) ** 2,
    "exp(x^2)": lambda x: torch.exp(x ** 2), "relu": torch.relu, "tanh": torch.tanh,
}
_PRODUCTS = {"x1*x2": 2, "x1*x2*x3": 3, "x1*x2*x3*x4": 4, "x1*x2*x3*x4*x5": 5}
TARGETS = tuple(_UNARY) + tuple(_PRODUCTS)
BETAS = (0.9, 0.999)   # Adam's defaults, as in the paper


@dataclass(frozen=True)
class FitConfig:
    """Data and optimiser of one sweep (defaults: the paper's schedule).

    steps:       Adam steps (full batch).
    lr:          initial learning rate; multiplied by ``decay`` every ``decay_every`` steps.
    n_points:    training points; a uniform grid on ``interval`` for one input, uniform random
                 points in the cube ``interval^d`` (fixed data seed 0) for the product targets.
    """

    steps: int = 50_000
    lr: float = 1e-2
    decay_every: int = 10_000
    decay: float = 0.2
    n_points: int = 1000
    interval: tuple[float, float] = (-2.0, 2.0)

    def __post_init__(self):
        check_positive_int("steps", self.steps)
        check_positive_int("decay_every", self.decay_every)
        check_positive_int("n_points", self.n_points)
        check_positive_float("lr", self.lr)
        if isinstance(self.decay, bool) or not isinstance(self.decay, (int, float)) or not 0 < self.decay <= 1:
            raise LotteryLabError(f"decay={self.decay!r} must be a number in (0, 1].")
        try:
            lo, hi = (float(v) for v in self.interval)
        except (TypeError, ValueError):
            raise LotteryLabError(f"interval={self.interval!r} must be two numbers (low, high).") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise LotteryLabError(f"interval={self.interval!r} must be two finite numbers, low < high.")
        object.__setattr__(self, "interval", (lo, hi))

    @classmethod
    def for_preset(cls, preset: str, **overrides) -> FitConfig:
        """``full``: the paper (50,000 steps, x0.2 every 10,000, 1,000 points). ``quick``: 4,000 steps,
        x0.2 every 800, 256 points (a 2-core CPU in minutes). ``overrides`` replace fields.

        Example:
            >>> FitConfig.for_preset("full", steps=100).steps
            100
        """
        base = pick(preset, quick=cls(steps=4000, decay_every=800, n_points=256), full=cls())
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise LotteryLabError(f"overrides {unknown} are not FitConfig fields; choose from "
                                  f"{[f.name for f in dataclasses.fields(cls)]}.")
        return dataclasses.replace(base, **overrides)

    def lr_at(self, step: int) -> float:
        """Learning rate used by update number ``step`` (0-based), like ``StepLR``."""
        check_positive_int("step", step, minimum=0)
        return self.lr * self.decay ** (step // self.decay_every)

    def schedule(self, steps: int | None = None) -> np.ndarray:
        """(steps, 3) float64: per update, the learning rate and Adam's bias corrections 1 - b1^t, sqrt(1 - b2^t).

        Example:
            >>> FitConfig(lr=0.1, decay_every=2, decay=0.5).schedule(3)[:, 0].tolist()
            [0.1, 0.1, 0.05]
        """
        k = np.arange(self.steps if steps is None else check_positive_int("steps", steps))
        lr = self.lr * self.decay ** (k // self.decay_every)
        return np.stack([lr, 1 - BETAS[0] ** (k + 1.0), np.sqrt(1 - BETAS[1] ** (k + 1.0))], axis=1)


@dataclass
class ManyRun:
    """What :func:`train_many` returns, on the device it trained on. ``losses`` holds the final training
    MSE per seed (NaN/inf where a seed diverged: use ``finite`` and ``n_diverged``, never average them in)."""

    seeds: list[int]
    activation: str
    target: str
    params: Params
    losses: torch.Tensor
    seconds: float
    compiled: bool

    @property
    def finite(self) -> torch.Tensor:
        return torch.isfinite(self.losses)

    @property
    def n_diverged(self) -> int:
        return int((~self.finite).sum())

    def to(self, device) -> ManyRun:
        """The same run with its tensors on ``device`` (e.g. ``"cpu"`` before ``.numpy()``)."""
        return dataclasses.replace(self, params=self.params.to(device), losses=self.losses.to(device))


def input_dim(target: str) -> int:
    """Number of inputs of ``target`` (1, or k for the product x1*...*xk).

    Example:
        >>> input_dim("x^2"), input_dim("x1*x2*x3")
        (1, 3)
    """
    check_choice("target", target, TARGETS)
    return _PRODUCTS.get(target, 1)


def target_function(target: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function to fit, mapping (D, d) inputs to (D,) outputs.

    Example:
        >>> target_function("x^2")(torch.tensor([[3.0]]))
        tensor([9.])
    """
    if input_dim(target) > 1:
        return lambda x: x.prod(dim=1)
    f = _UNARY[target]
    return lambda x: f(x[:, 0])


def _check_config(config) -> FitConfig:
    if not isinstance(config, FitConfig):
        raise LotteryLabError(f"config must be a FitConfig, not {type(config).__name__}.")
    return config


def make_data(target: str = "x^2", config: FitConfig = FitConfig(), *, dtype: torch.dtype = torch.float32,
              device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Training inputs (D, d) and targets (D,) for ``target`` (see :class:`FitConfig`), on ``device``
    (None: :func:`lotterylab.get_device`). Computed in float64 on the CPU, then cast: the same on every device.

    Example:
        >>> x, y = make_data("x^2", FitConfig(n_points=3), device="cpu")
        >>> x[:, 0].tolist(), y.tolist()
        ([-2.0, 0.0, 2.0], [4.0, 0.0, 4.0])
    """
    d, config, dt = input_dim(target), _check_config(config), check_dtype(dtype)
    device = get_device(device)
    lo, hi = config.interval
    if d == 1:
        x = torch.linspace(lo, hi, config.n_points, dtype=torch.float64)[:, None]
    else:
        g = torch.Generator().manual_seed(0)
        x = lo + (hi - lo) * torch.rand(config.n_points, d, generator=g, dtype=torch.float64)
    x, y = x.to(dtype=dt), target_function(target)(x).to(dtype=dt)
    if not torch.isfinite(y).all():
        raise LotteryLabError(f"target={target!r} is not finite in {dt} on interval={config.interval}; "
                              f"choose a smaller interval or torch.float64.")
    return x.to(device=device), y.to(device=device)


def _adam(params, grads, m, s, lr, bc1, bc2_sqrt, eps=1e-8):
    """In-place Adam update, the same arithmetic as ``torch.optim.Adam`` (no weight decay)."""
    for p, g, m_, s_ in zip(params, grads, m, s):
        m_.lerp_(g, 1 - BETAS[0])
        s_.mul_(BETAS[1]).addcmul_(g, g, value=1 - BETAS[1])
        p.sub_(lr / bc1 * m_ / (s_.sqrt() / bc2_sqrt + eps))


def _make_step(activation: str):
    def step(w, b, v, c, mw, mb, mv, mc, sw, sb, sv, sc, x, y, hyper):
        """One Adam step; ``hyper`` is (lr, bc1, bc2_sqrt): Python floats, or a row of the device schedule."""
        loss, grads = loss_and_grads(activation, w, b, v, c, x, y)
        _adam((w, b, v, c), grads, (mw, mb, mv, mc), (sw, sb, sv, sc), hyper[0], hyper[1], hyper[2])
        return loss
    return step


_COMPILED: dict = {}


def _compiled_step(activation: str):
    if activation not in _COMPILED:
        # one specialisation per (width, chunk, dtype); the default limit of 8 would silently fall back to eager
        cfg = torch._dynamo.config
        for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit", "accumulated_cache_size_limit"):
            if hasattr(cfg, name):
                setattr(cfg, name, max(getattr(cfg, name), 512))
        _COMPILED[activation] = torch.compile(_make_step(activation), dynamic=False)
    return _COMPILED[activation]


def _chunk_size(n_seeds: int, width: int, n_points: int, device: torch.device, chunk_elements: int | None) -> int:
    """Seeds per chunk: as many as fit ``chunk_elements`` (S, N, D) temporaries, made equal (one compiled shape)."""
    if chunk_elements is None:
        chunk_elements = 2 ** 18 if device.type == "cpu" else 2 ** 27   # ~1 MB of float32 temporaries on a CPU
    chunk = max(1, check_positive_int("chunk_elements", chunk_elements) // (width * n_points))
    return -(-n_seeds // -(-n_seeds // chunk))


def _train_chunk(step, start: Params, x, y, hypers) -> list[torch.Tensor]:
    """Train the networks ``start`` for all steps; ``hypers`` yields each step's (lr, bc1, bc2_sqrt)."""
    state = [t.clone() for t in (start.w, start.b, start.v, start.c)]
    moments = [torch.zeros_like(t) for t in state] + [torch.zeros_like(t) for t in state]
    for hyper in hypers:
        step(*state, *moments, x, y, hyper)
    return state


def train_many(seeds, width: int, config: FitConfig = FitConfig(), *, activation: str = "silu",
               target: str = "x^2", dtype: torch.dtype = torch.float32, device=None, compile: bool = False,
               chunk_elements: int | None = None, progress=None) -> ManyRun:
    """Train one width-``width`` network per seed on ``target`` with full-batch Adam; all seeds at once.

    Returns a :class:`ManyRun` (on ``device``, None: :func:`lotterylab.get_device`) with the final
    parameters and the final training MSE per seed (evaluated after the last update). ``seeds`` is a
    list, range, numpy or torch integer array. ``progress``: a tqdm-like bar updated in seed-steps, or None
    for a bar of its own.

    Example:
        >>> train_many(np.arange(2), 3, FitConfig(steps=5), device="cpu").params.w.shape
        torch.Size([2, 3, 1])
    """
    seeds, config = check_seeds(seeds), _check_config(config)
    check_choice("activation", activation, ACTIVATIONS)
    check_positive_int("width", width)
    check_choice("compile", compile, (False, True))
    check_progress(progress)
    device = get_device(device)
    x, y = make_data(target, config, dtype=dtype, device=device)
    chunk = _chunk_size(len(seeds), width, config.n_points, device, chunk_elements)
    p = _init_padded(seeds, width, x, chunk)
    schedule = config.schedule()                                   # (steps, 3) float64, host
    eager_hypers = [tuple(row) for row in schedule.tolist()]       # Python floats: kernel arguments, no copies
    # (steps, 4): one copy per call; the zero pad keeps every row aligned, so the compiled step takes rows as they are
    device_schedule = torch.as_tensor(np.pad(schedule, ((0, 0), (0, 1))), dtype=x.dtype, device=device)
    step, compiled = (_compiled_step(activation), True) if compile else (_make_step(activation), False)
    bar = progress if progress is not None else progress_bar(total=len(seeds) * config.steps, unit_scale=True,
                                                              desc=f"{activation} N={width} (seed-steps)")
    t0 = time.perf_counter()
    try:
        for lo in range(0, len(seeds), chunk):
            start = p.select(slice(lo, lo + chunk))
            try:
                hypers = device_schedule if compiled else eager_hypers     # rows: views, no copies
                state = _train_chunk(step, start, x, y, hypers)
            except Exception as exc:
                if not compiled:
                    raise
                warnings.warn(f"torch.compile is unavailable here ({type(exc).__name__}: {str(exc)[:200]}); "
                              f"training with eager code instead.", stacklevel=2)
                step, compiled = _make_step(activation), False
                state = _train_chunk(step, start, x, y, eager_hypers)
            for full, part in zip((p.w, p.b, p.v, p.c), state):
                full[lo:lo + chunk] = part
            bar.update(min(chunk, len(seeds) - lo) * config.steps)
    finally:
        if progress is None:
            bar.close()
    seconds = time.perf_counter() - t0
    p = p.select(slice(0, len(seeds)))
    with torch.no_grad():
        losses = ((forward(p, x, activation) - y) ** 2).mean(1)
    return ManyRun(seeds, activation, target, p, losses, seconds, compiled)


def _init_padded(seeds: list[int], width: int, x: torch.Tensor, chunk: int) -> Params:
    """Initial parameters of ``seeds`` on ``x``'s device and dtype, padded with copies of the first seed
    to a whole number of chunks; callers drop the padding."""
    p = init_params(seeds, width, in_dim=x.shape[1], dtype=x.dtype, device=x.device)
    pad = -(-len(seeds) // chunk) * chunk - len(seeds)
    return Params(*(torch.cat([t, t[:1].expand(pad, *t.shape[1:])]) for t in (p.w, p.b, p.v, p.c)))


def train_naive(seeds, width: int, config: FitConfig = FitConfig(), *, activation: str = "silu",
                target: str = "x^2", dtype: torch.dtype = torch.float32, device=None,
                steps: int | None = None) -> ManyRun:
    """The reference: one :func:`~lotterylab.two_layer.reference_net` and one ``torch.optim.Adam`` per seed, looped.

    ``steps`` (default ``config.steps``) lets a benchmark time a prefix of the schedule. Same
    arguments and result as :func:`train_many`.

    Example:
        >>> train_naive([0], 2, FitConfig(steps=3), device="cpu").losses.shape
        torch.Size([1])
    """
    seeds, config = check_seeds(seeds), _check_config(config)
    check_choice("activation", activation, ACTIVATIONS)
    check_positive_int("width", width)
    steps = config.steps if steps is None else check_positive_int("steps", steps)
    device = get_device(device)
    x, y = make_data(target, config, dtype=dtype, device=device)
    nets, losses = [], []
    t0 = time.perf_counter()
    for s in seeds:
        net = reference_net(s, width, activation, in_dim=x.shape[1], dtype=x.dtype).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=config.lr, betas=BETAS)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=config.decay_every, gamma=config.decay)
        for _ in range(steps):
            opt.zero_grad()
            loss = ((net(x)[:, 0] - y) ** 2).mean()
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            losses.append(((net(x)[:, 0] - y) ** 2).mean())
        nets.append(net)
    seconds = time.perf_counter() - t0
    return ManyRun(seeds, activation, target, params_of(nets), torch.stack(losses), seconds, False)
