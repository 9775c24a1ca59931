"""The tiny two-layer network of the scaling chapter, batched over seeds, with its gradient in closed form.

f(x) = sum_i v_i act(w_i . x + b_i) + c, of width N with d inputs. :class:`Params` holds S such
networks at once (one per seed, along a leading dimension). :func:`init_params` draws replica s
exactly as a standalone :func:`reference_net` with seed s is drawn, :func:`forward` evaluates all S,
and :func:`loss_and_grads` gives each network's MSE and its gradient without autograd (the hot loop of
:func:`lotterylab.many_seed.train_many`).

Example:
    >>> p = init_params(range(3), 4, dtype=torch.float64, device="cpu")
    >>> x = torch.linspace(-2, 2, 5, dtype=torch.float64)[:, None]
    >>> forward(p, x).shape
    torch.Size([3, 5])
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError, check_choice, check_positive_int
from lotterylab.seeding import check_seeds

__all__ = [
    "ACTIVATIONS",
    "DTYPES",
    "LEAKY_SLOPE",
    "Params",
    "apply_activation",
    "check_dtype",
    "forward",
    "init_params",
    "loss_and_grads",
    "params_of",
    "reference_net",
]

ACTIVATIONS = ("silu", "relu", "leaky_relu", "tanh")
LEAKY_SLOPE = 0.01
DTYPES = (torch.float32, torch.float64)


def check_dtype(dtype) -> torch.dtype:
    """``dtype`` if it is torch.float32 or torch.float64, else a :class:`LotteryLabError` naming it.

    Example:
        >>> check_dtype(torch.float64)
        torch.float64
    """
    if not isinstance(dtype, torch.dtype):
        raise LotteryLabError(f"dtype={dtype!r} must be a torch.dtype, e.g. torch.float32 (not a string).")
    return check_choice("dtype", dtype, DTYPES)


@dataclass
class Params:
    """Parameters of S networks of width N with d inputs: ``w`` (S, N, d), ``b`` (S, N), ``v`` (S, N), ``c`` (S,)."""

    w: torch.Tensor
    b: torch.Tensor
    v: torch.Tensor
    c: torch.Tensor

    def __post_init__(self):
        s, n = self.w.shape[:2] if self.w.dim() == 3 else (None, None)
        shapes = (tuple(self.b.shape), tuple(self.v.shape), tuple(self.c.shape))
        if s is None or shapes != ((s, n), (s, n), (s,)):
            raise LotteryLabError(f"Params needs w (S, N, d), b and v (S, N), c (S,); got w {tuple(self.w.shape)}, "
                                  f"b, v, c {shapes}.")

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


def apply_activation(name: str, z: torch.Tensor) -> torch.Tensor:
    """The activation ``name`` (one of :data:`ACTIVATIONS`) applied to ``z``.

    Example:
        >>> apply_activation("relu", torch.tensor([-1.0, 2.0]))
        tensor([0., 2.])
    """
    check_choice("activation", name, ACTIVATIONS)
    if name == "silu":
        return torch.nn.functional.silu(z)
    if name == "relu":
        return torch.relu(z)
    if name == "leaky_relu":
        return torch.nn.functional.leaky_relu(z, LEAKY_SLOPE)
    return torch.tanh(z)


def reference_net(seed: int, width: int, activation: str = "silu", *, in_dim: int = 1,
                  dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """The standalone network a replica of :func:`init_params` equals at initialisation.

    ``Linear(in_dim, width)``, the activation, ``Linear(width, 1)`` with PyTorch's default
    initialisation drawn (in float32) after ``torch.manual_seed(seed)``, then cast to ``dtype``. The
    draw happens inside ``torch.random.fork_rng``: the caller's global RNG state is left as it was.

    Example:
        >>> reference_net(0, 3)
        Sequential(
          (0): Linear(in_features=1, out_features=3, bias=True)
          (1): SiLU()
          (2): Linear(in_features=3, out_features=1, bias=True)
        )
    """
    check_seeds([seed])
    check_positive_int("width", width)
    check_positive_int("in_dim", in_dim)
    check_choice("activation", activation, ACTIVATIONS)
    act = {"silu": nn.SiLU(), "relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(LEAKY_SLOPE), "tanh": nn.Tanh()}[activation]
    dtype = check_dtype(dtype)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(in_dim, width), act, nn.Linear(width, 1))
    return net.to(dtype)


def params_of(nets: Iterable[nn.Sequential]) -> Params:
    """Stack standalone nets (as from :func:`reference_net`) into batched :class:`Params`.

    Example:
        >>> params_of([reference_net(0, 3), reference_net(1, 3)]).w.shape
        torch.Size([2, 3, 1])
    """
    nets = list(nets)
    if not nets or not all(isinstance(n, nn.Sequential) and len(n) == 3 for n in nets):
        raise LotteryLabError("nets must be a non-empty list of Linear-activation-Linear nn.Sequential (see reference_net).")
    return Params(torch.stack([n[0].weight.detach() for n in nets]), torch.stack([n[0].bias.detach() for n in nets]),
                  torch.stack([n[2].weight.detach()[0] for n in nets]), torch.stack([n[2].bias.detach()[0] for n in nets]))


def init_params(seeds, width: int, *, in_dim: int = 1, dtype: torch.dtype = torch.float32, device=None) -> Params:
    """Initial parameters, replica s drawn exactly as ``reference_net(seeds[s], ...)`` draws them.

    One ``torch.Generator`` per seed (no global RNG state is touched); the draws are tiny and made on
    the CPU (so every device starts from the same weights), then moved to ``device`` (None:
    :func:`lotterylab.get_device`).

    Example:
        >>> init_params([0, 1], 5, in_dim=2).w.shape
        torch.Size([2, 5, 2])
    """
    seeds = check_seeds(seeds)
    check_positive_int("width", width)
    check_positive_int("in_dim", in_dim)
    dtype = check_dtype(dtype)
    b1, b2 = 1 / math.sqrt(in_dim), 1 / math.sqrt(width)   # nn.Linear's kaiming_uniform(a=sqrt 5) bound = 1/sqrt(fan_in)
    ws, bs, vs, cs = [], [], [], []
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        ws.append(torch.empty(width, in_dim).uniform_(-b1, b1, generator=g))
        bs.append(torch.empty(width).uniform_(-b1, b1, generator=g))
        vs.append(torch.empty(width).uniform_(-b2, b2, generator=g))
        cs.append(torch.empty(1).uniform_(-b2, b2, generator=g))
    p = Params(torch.stack(ws), torch.stack(bs), torch.stack(vs), torch.cat(cs))
    return p.to(device=get_device(device), dtype=dtype)


def _preact(w, b, x):
    """(S, N, D) pre-activations; a broadcast product for one input, a matmul for several."""
    # in-place adds: the (S, N, D) result decides the loop order (an (S, 1, 1) operand first is 20x slower)
    if x.shape[1] == 1:
        return (w * x[:, 0]).add_(b[..., None])      # (S, N, 1) * (D,) + (S, N, 1)
    return torch.matmul(w, x.T).add_(b[..., None])


def _check_inputs(params: Params, x: torch.Tensor) -> None:
    if not isinstance(params, Params):
        raise LotteryLabError(f"params must be a Params, not {type(params).__name__}.")
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != params.w.shape[2]:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise LotteryLabError(f"x must be a (D, {params.w.shape[2]}) tensor of inputs; got {shape}.")
    if x.device != params.w.device or x.dtype != params.w.dtype:
        raise LotteryLabError(f"x ({x.dtype}, {x.device}) and params ({params.w.dtype}, {params.w.device}) "
                              f"must share a dtype and a device.")


def forward(params: Params, x: torch.Tensor, activation: str = "silu") -> torch.Tensor:
    """Outputs (S, D) of all S networks on inputs ``x`` (D, d).

    Example:
        >>> forward(init_params([0], 2, device="cpu"), torch.zeros(3, 1)).shape
        torch.Size([1, 3])
    """
    check_choice("activation", activation, ACTIVATIONS)
    _check_inputs(params, x)
    a = apply_activation(activation, _preact(params.w, params.b, x))
    return (params.v[..., None] * a).sum(1) + params.c[:, None]


def _act_and_slope(name: str, z: torch.Tensor):
    if name == "silu":
        s = torch.sigmoid(z)
        a = z * s
        return a, torch.addcmul(s, a, 1 - s)               # s (1 + z (1 - s)) in two passes
    if name == "relu":
        return torch.relu(z), (z > 0).to(z.dtype)
    if name == "leaky_relu":
        pos = z > 0
        return torch.where(pos, z, LEAKY_SLOPE * z), torch.where(pos, 1.0, LEAKY_SLOPE).to(z.dtype)
    if name == "tanh":
        a = torch.tanh(z)
        return a, 1 - a * a
    raise LotteryLabError(f"activation={name!r} is not allowed; choose one of {', '.join(map(repr, ACTIVATIONS))}.")


def loss_and_grads(activation: str, w, b, v, c, x, y):
    """Per-network MSE (S,) and its closed-form gradients (gw, gb, gv, gc) for S networks.

    ``w`` (S, N, d), ``b`` and ``v`` (S, N), ``c`` (S,), inputs ``x`` (D, d), targets ``y`` (D,). Only the
    activation is checked: this is the hot loop (:func:`forward` checks the shapes).

    Example:
        >>> p = init_params([0], 3, dtype=torch.float64, device="cpu")
        >>> x = torch.linspace(-1, 1, 4, dtype=torch.float64)[:, None]
        >>> loss, grads = loss_and_grads("tanh", p.w, p.b, p.v, p.c, x, x[:, 0] ** 2)
        >>> [tuple(g.shape) for g in grads]
        [(1, 3, 1), (1, 3), (1, 3), (1,)]
    """
    z = _preact(w, b, x)                                  # (S, N, D)
    a, da = _act_and_slope(activation, z)
    r = torch.bmm(v[:, None, :], a)[:, 0].sub_(y).add_(c[:, None])   # (S, D) residuals
    loss = (r * r).mean(1)
    g = r * (2.0 / y.shape[0])                             # dloss/df, (S, D)
    gv = (a * g[:, None, :]).sum(2)                        # (S, N)
    gz = (da * g[:, None, :]).mul_(v[..., None])          # (S, N, D)
    gb = gz.sum(2)
    gw = torch.matmul(gz, x[:, 0])[..., None] if x.shape[1] == 1 else torch.matmul(gz, x)
    return loss, (gw, gb, gv, g.sum(1))
