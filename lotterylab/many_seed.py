"""Train thousands of tiny two-layer networks at once: the engine of the scaling-law chapter.

The networks are f(x) = sum_i v_i act(w_i . x + b_i) + c of width N, as in Liu and Tegmark's
"A neural scaling law from lottery ticket ensembling". :func:`train_many` trains S of them, one per
seed, as one tensor program over a seed dimension. Each replica starts exactly where a standalone
:func:`reference_net` built with the same seed starts, and follows ``torch.optim.Adam`` with the
paper's step schedule, so the batched run matches a plain loop over seeds (tested in float64).

Why it is fast on a CPU: gradients are written in closed form (no autograd in the hot loop), the
seed dimension is cut into chunks whose temporaries (~1 MB) stay in cache, and each chunk is trained
for all its steps before the next one starts. ``compile=True`` additionally fuses the chunk step with
``torch.compile`` and falls back to eager code (with a warning) where compilation is unavailable.

Example:
    >>> run = train_many(range(4), 2, FitConfig(steps=50, decay_every=20, n_points=64))
    >>> run.losses.shape, run.n_diverged
    (torch.Size([4]), 0)
"""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from lotterylab.errors import LotteryLabError, check_choice, check_positive_int
from lotterylab.presets import pick

__all__ = [
    "ACTIVATIONS",
    "DTYPES",
    "TARGETS",
    "FitConfig",
    "ManyRun",
    "Params",
    "forward",
    "init_params",
    "input_dim",
    "make_data",
    "params_of",
    "reference_net",
    "target_function",
    "train_many",
    "train_naive",
]

ACTIVATIONS = ("silu", "relu", "leaky_relu", "tanh")
LEAKY_SLOPE = 0.01
DTYPES = {"float32": torch.float32, "float64": torch.float64}

_UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "x^2": lambda x: x ** 2, "x^3": lambda x: x ** 3, "x^4": lambda x: x ** 4,
    "sin": torch.sin, "cos": torch.cos, "exp": torch.exp, "sin^2": lambda x: torch.sin(x) ** 2,
    "exp(x^2)": lambda x: torch.exp(x ** 2), "relu": torch.relu, "tanh": torch.tanh,
}
_PRODUCTS = {"x1*x2": 2, "x1*x2*x3": 3, "x1*x2*x3*x4": 4, "x1*x2*x3*x4*x5": 5}
TARGETS = tuple(_UNARY) + tuple(_PRODUCTS)


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
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise LotteryLabError(f"lr={self.lr!r} must be a positive finite number.")
        if not (math.isfinite(self.decay) and 0 < self.decay <= 1):
            raise LotteryLabError(f"decay={self.decay!r} must be a number in (0, 1].")
        lo, hi = self.interval
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise LotteryLabError(f"interval={self.interval!r} must be two finite numbers, low < high.")

    @classmethod
    def for_preset(cls, preset: str) -> FitConfig:
        """``full``: the paper (50,000 steps, x0.2 every 10,000, 1,000 points). ``quick``: 4,000 steps,
        x0.2 every 800, 256 points (a 2-core CPU in minutes)."""
        return pick(preset, quick=cls(steps=4000, decay_every=800, n_points=256), full=cls())

    def lr_at(self, step: int) -> float:
        """Learning rate used by update number ``step`` (0-based), like ``StepLR``."""
        return self.lr * self.decay ** (step // self.decay_every)


@dataclass
class Params:
    """Parameters of S networks of width N with d inputs: ``w`` (S, N, d), ``b`` (S, N), ``v`` (S, N), ``c`` (S,)."""

    w: torch.Tensor
    b: torch.Tensor
    v: torch.Tensor
    c: torch.Tensor

    @property
    def width(self) -> int:
        return self.w.shape[1]

    def to(self, *args, **kwargs) -> Params:
        return Params(*(t.to(*args, **kwargs) for t in (self.w, self.b, self.v, self.c)))

    def select(self, index) -> Params:
        """The networks at ``index`` along the seed dimension (a slice, a list or a bool mask)."""
        return Params(*(t[index] for t in (self.w, self.b, self.v, self.c)))

    def flat(self) -> torch.Tensor:
        """(S, N*d + 2N + 1): one row of all parameters per network (for PCA)."""
        return torch.cat([self.w.flatten(1), self.b, self.v, self.c[:, None]], dim=1)


@dataclass
class ManyRun:
    """What :func:`train_many` returns. ``losses`` holds the final training MSE per seed (NaN/inf
    where a seed diverged: use ``finite`` and ``n_diverged``, never average them in)."""

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


def input_dim(target: str) -> int:
    """Number of inputs of ``target`` (1, or k for the product x1*...*xk)."""
    check_choice("target", target, TARGETS)
    return _PRODUCTS.get(target, 1)


def target_function(target: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function to fit, mapping (D, d) inputs to (D,) outputs."""
    d = input_dim(target)
    if d > 1:
        return lambda x: x.prod(dim=1)
    f = _UNARY[target]
    return lambda x: f(x[:, 0])


def _dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    return DTYPES[check_choice("dtype", dtype, tuple(DTYPES))]


def make_data(target: str = "x^2", config: FitConfig = FitConfig(), *, dtype="float32",
              device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Training inputs (D, d) and targets (D,) for ``target`` (see :class:`FitConfig`)."""
    d, dt = input_dim(target), _dtype(dtype)
    lo, hi = config.interval
    if d == 1:
        x = torch.linspace(lo, hi, config.n_points, dtype=torch.float64)[:, None]
    else:
        g = torch.Generator().manual_seed(0)
        x = lo + (hi - lo) * torch.rand(config.n_points, d, generator=g, dtype=torch.float64)
    x, y = x.to(dtype=dt), target_function(target)(x).to(dtype=dt)
    if not torch.isfinite(y).all():
        raise LotteryLabError(f"target={target!r} is not finite in {dtype} on interval={config.interval}; "
                              f"choose a smaller interval or float64.")
    return x.to(device=device), y.to(device=device)


def _check_activation(activation: str) -> str:
    return check_choice("activation", activation, ACTIVATIONS)


def reference_net(seed: int, width: int, activation: str = "silu", *, in_dim: int = 1,
                  dtype="float32") -> nn.Sequential:
    """The standalone network a replica of :func:`train_many` equals at initialisation.

    ``torch.manual_seed(seed)``, then ``Linear(in_dim, width)``, the activation, ``Linear(width, 1)``
    with PyTorch's default initialisation (drawn in float32), then cast to ``dtype``.
    """
    check_positive_int("width", width)
    act = {"silu": nn.SiLU(), "relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(LEAKY_SLOPE),
           "tanh": nn.Tanh()}[_check_activation(activation)]
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(in_dim, width), act, nn.Linear(width, 1)).to(_dtype(dtype))


def params_of(nets: Iterable[nn.Sequential]) -> Params:
    """Stack standalone nets (as from :func:`reference_net`) into batched :class:`Params`."""
    nets = list(nets)
    return Params(torch.stack([n[0].weight.detach() for n in nets]), torch.stack([n[0].bias.detach() for n in nets]),
                  torch.stack([n[2].weight.detach()[0] for n in nets]), torch.stack([n[2].bias.detach()[0] for n in nets]))


def init_params(seeds: Iterable[int], width: int, *, in_dim: int = 1, dtype="float32", device=None) -> Params:
    """Initial parameters, replica s drawn exactly as ``reference_net(seed_s, ...)`` draws them.

    Uses one ``torch.Generator`` per seed (no global RNG state is touched); the draws are tiny.
    """
    check_positive_int("width", width)
    check_positive_int("in_dim", in_dim)
    seeds = _check_seeds(seeds)
    b1, b2 = 1 / math.sqrt(in_dim), 1 / math.sqrt(width)   # nn.Linear's kaiming_uniform(a=sqrt 5) bound = 1/sqrt(fan_in)
    ws, bs, vs, cs = [], [], [], []
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        ws.append(torch.empty(width, in_dim).uniform_(-b1, b1, generator=g))
        bs.append(torch.empty(width).uniform_(-b1, b1, generator=g))
        vs.append(torch.empty(width).uniform_(-b2, b2, generator=g))
        cs.append(torch.empty(1).uniform_(-b2, b2, generator=g))
    p = Params(torch.stack(ws), torch.stack(bs), torch.stack(vs), torch.cat(cs))
    return p.to(device=device, dtype=_dtype(dtype))


def _check_seeds(seeds) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise LotteryLabError("seeds must contain at least one seed; got none.")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise LotteryLabError(f"seeds must be non-negative integers; got {s!r}.")
    if len(set(seeds)) != len(seeds):
        raise LotteryLabError("seeds must be distinct.")
    return seeds


def _act(activation: str, z: torch.Tensor) -> torch.Tensor:
    if activation == "silu":
        return torch.nn.functional.silu(z)
    if activation == "relu":
        return torch.relu(z)
    if activation == "leaky_relu":
        return torch.nn.functional.leaky_relu(z, LEAKY_SLOPE)
    return torch.tanh(z)


def _preact(w, b, x):
    """(S, N, D) pre-activations; a broadcast product for one input, a matmul for several."""
    # in-place adds: the (S, N, D) result decides the loop order (an (S, 1, 1) operand first is 20x slower)
    if x.shape[1] == 1:
        return (w * x[:, 0]).add_(b[..., None])      # (S, N, 1) * (D,) + (S, N, 1)
    return torch.matmul(w, x.T).add_(b[..., None])


def forward(params: Params, x: torch.Tensor, activation: str = "silu") -> torch.Tensor:
    """Outputs (S, D) of all S networks on inputs ``x`` (D, d)."""
    a = _act(_check_activation(activation), _preact(params.w, params.b, x))
    return (params.v[..., None] * a).sum(1) + params.c[:, None]


def _loss_and_grads(activation, w, b, v, c, x, y):
    """Per-network MSE (S,) and its closed-form gradients, for a chunk of S networks."""
    z = _preact(w, b, x)                                  # (S, N, D)
    if activation == "silu":
        s = torch.sigmoid(z)
        a = z * s
        da = torch.addcmul(s, a, 1 - s)                    # s (1 + z (1 - s)) in two passes
    elif activation == "relu":
        a = torch.relu(z)
        da = (z > 0).to(z.dtype)
    elif activation == "leaky_relu":
        pos = z > 0
        a = torch.where(pos, z, LEAKY_SLOPE * z)
        da = torch.where(pos, 1.0, LEAKY_SLOPE).to(z.dtype)
    else:
        a = torch.tanh(z)
        da = 1 - a * a
    r = torch.bmm(v[:, None, :], a)[:, 0].sub_(y).add_(c[:, None])   # (S, D) residuals
    loss = (r * r).mean(1)
    g = r * (2.0 / y.shape[0])                             # dloss/df, (S, D)
    gv = (a * g[:, None, :]).sum(2)                        # (S, N)
    gz = (da * g[:, None, :]).mul_(v[..., None])          # (S, N, D)
    gb = gz.sum(2)
    gw = torch.matmul(gz, x[:, 0])[..., None] if x.shape[1] == 1 else torch.matmul(gz, x)
    return loss, (gw, gb, gv, g.sum(1))


def _adam(params, grads, m, s, lr, bc1, bc2_sqrt, beta1=0.9, beta2=0.999, eps=1e-8):
    """In-place Adam update, the same arithmetic as ``torch.optim.Adam`` (no weight decay)."""
    for p, g, m_, s_ in zip(params, grads, m, s):
        m_.lerp_(g, 1 - beta1)
        s_.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        p.sub_(lr / bc1 * m_ / (s_.sqrt() / bc2_sqrt + eps))


def _make_step(activation: str):
    def step(w, b, v, c, mw, mb, mv, mc, sw, sb, sv, sc, x, y, lr, bc1, bc2_sqrt):
        loss, grads = _loss_and_grads(activation, w, b, v, c, x, y)
        _adam((w, b, v, c), grads, (mw, mb, mv, mc), (sw, sb, sv, sc), lr, bc1, bc2_sqrt)
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


def _chunk_size(width: int, n_points: int, device: torch.device, chunk_elements: int | None) -> int:
    if chunk_elements is None:
        chunk_elements = 2 ** 18 if device.type == "cpu" else 2 ** 27   # ~1 MB of float32 temporaries on a CPU
    return max(1, chunk_elements // (width * n_points))


def train_many(seeds: Iterable[int], width: int, config: FitConfig = FitConfig(), *, activation: str = "silu",
               target: str = "x^2", dtype="float32", device=None, compile: bool = False,
               chunk_elements: int | None = None, progress=None) -> ManyRun:
    """Train one width-``width`` network per seed on ``target`` with full-batch Adam; all seeds at once.

    Returns a :class:`ManyRun` with the final parameters and the final training MSE per seed
    (evaluated after the last update). ``progress`` is an optional tqdm-like bar updated in seed-steps.
    """
    _check_activation(activation)
    check_positive_int("width", width)
    seeds = _check_seeds(seeds)
    device = torch.device(device) if device is not None else torch.device("cpu")
    x, y = make_data(target, config, dtype=dtype, device=device)
    p = init_params(seeds, width, in_dim=x.shape[1], dtype=dtype, device=device)
    step = _make_step(activation)
    compiled = False
    if compile:
        step, compiled = _compiled_step(activation), True
    chunk = _chunk_size(width, config.n_points, device, chunk_elements)
    n_chunks = -(-len(seeds) // chunk)
    chunk = -(-len(seeds) // n_chunks)                     # equal chunks: one compiled shape
    pad = n_chunks * chunk - len(seeds)                    # padding replicas (copies of the first), dropped below
    p = Params(*(torch.cat([t, t[:1].expand(pad, *t.shape[1:])]) for t in (p.w, p.b, p.v, p.c)))
    t0 = time.perf_counter()
    for lo in range(0, len(seeds), chunk):
        state = [t[lo:lo + chunk].clone() for t in (p.w, p.b, p.v, p.c)]
        moments = [torch.zeros_like(t) for t in state] + [torch.zeros_like(t) for t in state]
        k = 0
        while k < config.steps:
            hyper = (config.lr_at(k), 1 - 0.9 ** (k + 1), math.sqrt(1 - 0.999 ** (k + 1)))
            if compiled:   # tensors, so that the compiled step is not specialised to every value
                hyper = tuple(torch.tensor(h, dtype=x.dtype, device=device) for h in hyper)
            try:
                step(*state, *moments, x, y, *hyper)
            except Exception as exc:
                if not compiled:
                    raise
                warnings.warn(f"torch.compile is unavailable here ({type(exc).__name__}: {str(exc)[:200]}); "
                              f"training with eager code instead.", stacklevel=2)
                step, compiled = _make_step(activation), False
                state = [t[lo:lo + chunk].clone() for t in (p.w, p.b, p.v, p.c)]
                moments = [torch.zeros_like(t) for t in state] + [torch.zeros_like(t) for t in state]
                k = 0
                continue
            k += 1
        for full, part in zip((p.w, p.b, p.v, p.c), state):
            full[lo:lo + chunk] = part
        if progress is not None:
            progress.update(min(chunk, len(seeds) - lo) * config.steps)
    seconds = time.perf_counter() - t0
    p = p.select(slice(0, len(seeds)))
    with torch.no_grad():
        losses = ((forward(p, x, activation) - y) ** 2).mean(1)
    return ManyRun(seeds, activation, target, p.to("cpu"), losses.cpu(), seconds, compiled)


def train_naive(seeds: Iterable[int], width: int, config: FitConfig = FitConfig(), *, activation: str = "silu",
                target: str = "x^2", dtype="float32", device=None, steps: int | None = None) -> ManyRun:
    """The reference: one :func:`reference_net` and one ``torch.optim.Adam`` per seed, looped.

    ``steps`` (default ``config.steps``) lets a benchmark time a prefix of the schedule.
    """
    seeds = _check_seeds(seeds)
    steps = config.steps if steps is None else check_positive_int("steps", steps)
    x, y = make_data(target, config, dtype=dtype, device=device)
    nets, losses = [], []
    t0 = time.perf_counter()
    for s in seeds:
        net = reference_net(s, width, activation, in_dim=x.shape[1], dtype=dtype).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=config.lr)
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
    return ManyRun(seeds, activation, target, params_of(nets).to("cpu"), torch.stack(losses).cpu(), seconds, False)
