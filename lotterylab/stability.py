"""Linear mode connectivity and instability analysis (Frankle, Dziugaite, Roy & Carbin 2020).

Two networks are *linearly mode connected* when the error stays low on the straight line between
their parameters, ``theta(alpha) = (1 - alpha) theta_a + alpha theta_b``. The **error barrier** is the
highest error on that line minus the mean of the two endpoints' errors. The **instability analysis**
starts from one point ``theta_k`` (the initialisation, ``k = 0``, or the weights after ``k`` steps of
training), trains two copies with different data orders (different SGD noise) and measures the
barrier between the results. A barrier near zero means training from ``theta_k`` is *stable*:
the outcome is fixed, up to a flat valley, before the randomness of SGD has had its say.

Example:
    >>> a = {"w": torch.zeros(2)}
    >>> b = {"w": torch.ones(2)}
    >>> interpolate(a, b, 0.25)["w"]
    tensor([0.2500, 0.2500])
    >>> error_barrier([0.0, 0.5, 1.0], [0.10, 0.30, 0.12])
    0.19
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lotterylab.errors import LotteryLabError, check_choice, check_positive_int
from lotterylab.models import conv_net, lenet_300_100
from lotterylab.presets import pick
from lotterylab.progress import progress_bar
from lotterylab.pruning import Mask, random_mask_like
from lotterylab.results import load_results, save_results
from lotterylab.seeding import make_generator
from lotterylab.tickets import IMPConfig, run_imp
from lotterylab.training import TrainConfig, train

__all__ = [
    "KINDS",
    "MODELS",
    "StabilityConfig",
    "StabilityRun",
    "error_barrier",
    "evaluate_path",
    "instability",
    "interpolate",
    "plot_barriers",
    "plot_path",
    "run_instability",
]

KINDS = ("dense", "ticket", "random")
MODELS = ("lenet", "conv")
RANDOM_MASK_SEED_OFFSET = 7_919  # the random-pruning control of seed s uses seed s + offset


_MODEL_FNS: dict[str, Callable[..., nn.Module]] = {"lenet": lenet_300_100, "conv": conv_net}


# --------------------------------------------------------------------------------------------------
# Interpolation and the error barrier
# --------------------------------------------------------------------------------------------------
def _as_state(x, name: str) -> dict[str, torch.Tensor]:
    if isinstance(x, nn.Module):
        return {k: v.detach() for k, v in x.state_dict().items()}
    if isinstance(x, Mapping):
        return dict(x)
    raise LotteryLabError(f"{name} must be a model or a state dict (name -> tensor), got {type(x).__name__}.")


def _check_pair(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> None:
    if not a:
        raise LotteryLabError("the endpoints have no parameters (empty state dict).")
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


def _check_alphas(alphas) -> torch.Tensor:
    alphas = torch.as_tensor(alphas, dtype=torch.float64).flatten()
    if alphas.numel() == 0:
        raise LotteryLabError("alphas is empty; pass at least one interpolation weight, e.g. "
                              "torch.linspace(0, 1, 30).")
    if not bool(torch.isfinite(alphas).all()):
        raise LotteryLabError(f"alphas must be finite numbers; got {alphas.tolist()[:5]}.")
    return alphas


@torch.no_grad()
def interpolate(a, b, alpha: float, *, mask: Mask | None = None) -> dict[str, torch.Tensor]:
    """The state ``(1 - alpha) * a + alpha * b`` of two networks (models or state dicts).

    ``alpha = 0`` returns ``a``'s values and ``alpha = 1`` ``b``'s, exactly (``torch.lerp``). Integer
    buffers (e.g. BatchNorm's step counter) are copied from ``a``. With ``mask`` the pruned weights are
    exactly zero on the whole line. Mismatched names or shapes raise :class:`LotteryLabError`.

    Example:
        >>> a, b = {"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 4.0])}
        >>> interpolate(a, b, 0.5, mask=Mask({"w": torch.tensor([1, 0])}))["w"]
        tensor([2., 0.])
    """
    a, b = _as_state(a, "a"), _as_state(b, "b")
    _check_pair(a, b)
    _check_mask(mask, a)
    alpha = float(_check_alphas([alpha])[0])
    out = {}
    for name, ta in a.items():
        tb = b[name].to(ta.device)
        out[name] = torch.lerp(ta, tb, alpha) if ta.is_floating_point() else ta.clone()
        if mask is not None and name in mask:
            out[name] = out[name] * mask[name].to(device=ta.device, dtype=ta.dtype)
    return out


@torch.no_grad()
def evaluate_path(model: nn.Module, a, b, X: torch.Tensor, y: torch.Tensor, alphas=None, *,
                  mask: Mask | None = None, chunk: int = 10, batch_size: int = 10_000) -> dict[str, list[float]]:
    """Error and cross-entropy loss of ``model``'s architecture at ``theta(alpha)`` for every alpha.

    All alphas of a chunk are evaluated in one batched program (``torch.func.vmap`` over the stacked
    interpolated parameters) instead of loading 30 model copies; on a 2-core CPU this is about as fast as
    the loop (``benchmarks/bench_stability.py``: the work is the same 30 forward passes). ``model``
    only provides the architecture; its own weights are not used or changed. ``alphas`` defaults to 30
    evenly spaced values in [0, 1], as in Frankle et al. (2020). Returns ``{"alphas", "error", "loss"}``.

    Example:
        >>> net = nn.Linear(2, 2)
        >>> X, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
        >>> out = evaluate_path(net, net, net, X, y, alphas=[0.0, 1.0])
        >>> out["error"][0] == out["error"][1]
        True
    """
    from torch.func import functional_call, vmap

    alphas = _check_alphas(torch.linspace(0, 1, 30) if alphas is None else alphas)
    if len(X) == 0 or len(X) != len(y):
        raise LotteryLabError(f"X and y must be non-empty and of equal length; got {len(X)} and {len(y)}.")
    check_positive_int("chunk", chunk)
    a, b = _as_state(a, "a"), _as_state(b, "b")
    _check_pair(a, b)
    _check_mask(mask, a)
    expected = {n: tuple(t.shape) for n, t in model.state_dict().items()}
    if set(a) != set(expected):
        raise LotteryLabError(f"the endpoints' parameter names {sorted(a)} do not match the model's "
                              f"{sorted(expected)}.")
    wrong = [n for n in a if tuple(a[n].shape) != expected[n]]
    if wrong:
        raise LotteryLabError(f"the endpoints' shapes do not match the model's for {wrong}: e.g. "
                              f"{tuple(a[wrong[0]].shape)} vs {expected[wrong[0]]}.")
    device = next(model.parameters()).device
    a = {n: t.to(device) for n, t in a.items()}
    b = {n: t.to(device) for n, t in b.items()}
    floats = [n for n, t in a.items() if t.is_floating_point()]
    fixed = {n: t for n, t in a.items() if not t.is_floating_point()}
    masks = {n: mask[n].to(device=device, dtype=a[n].dtype) for n in mask} if mask is not None else {}
    X, y = X.to(device), y.to(device)
    was_training = model.training
    model.eval()

    def forward(params, xb):
        return functional_call(model, {**params, **fixed}, (xb,))

    errors, losses = [], []
    for start in range(0, len(alphas), chunk):
        w = alphas[start:start + chunk].to(device=device, dtype=a[floats[0]].dtype if floats else torch.float32)
        params = {}
        for n in floats:
            shape = (len(w),) + (1,) * a[n].dim()
            p = torch.lerp(a[n].unsqueeze(0), b[n].unsqueeze(0), w.view(shape))
            params[n] = p * masks[n] if n in masks else p
        loss = torch.zeros(len(w), device=device, dtype=torch.float64)
        wrong = torch.zeros(len(w), device=device, dtype=torch.float64)
        for i in range(0, len(X), batch_size):
            xb, yb = X[i:i + batch_size], y[i:i + batch_size]
            logits = vmap(forward, in_dims=(0, None))(params, xb)          # (alphas, batch, classes)
            loss += F.cross_entropy(logits.transpose(1, 2), yb.expand(len(w), -1), reduction="none").sum(1).double()
            wrong += (logits.argmax(-1) != yb).sum(1).double()
        errors += (wrong / len(X)).tolist()
        losses += (loss / len(X)).tolist()
    model.train(was_training)
    return {"alphas": alphas.tolist(), "error": errors, "loss": losses}


def error_barrier(alphas: Sequence[float], errors: Sequence[float]) -> float:
    """Frankle et al.'s barrier: ``max_alpha E(alpha) - (E(0) + E(1)) / 2``.

    ``alphas`` must include 0 and 1 (the endpoints). The barrier is 0 when the line is no worse than
    its ends, and can be slightly negative when every point on the line beats the endpoints' mean.

    Example:
        >>> error_barrier([0.0, 1.0], [0.05, 0.07])
        0.01
    """
    alphas = [float(a) for a in _check_alphas(alphas)]
    errors = [float(e) for e in errors]
    if len(errors) != len(alphas):
        raise LotteryLabError(f"alphas and errors must have the same length; got {len(alphas)} and {len(errors)}.")
    if 0.0 not in alphas or 1.0 not in alphas:
        raise LotteryLabError("alphas must include both endpoints 0 and 1 to define the barrier.")
    ends = (errors[alphas.index(0.0)] + errors[alphas.index(1.0)]) / 2
    return round(max(errors) - ends, 12)


# --------------------------------------------------------------------------------------------------
# Instability analysis
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StabilityConfig:
    """An instability experiment: which network, rewind points, IMP depth and SGD-noise seeds."""

    model: str = "lenet"                            # "lenet" (LeNet-300-100) or "conv" (ConvNet)
    train: TrainConfig = TrainConfig()              # how every copy is trained (to train.steps)
    rewind_steps: tuple[int, ...] = (0, 100)        # k: where the two copies start (0 = init)
    imp_rounds: int = 7                             # IMP rounds for the ticket (0.8**7 = 21% density)
    kinds: tuple[str, ...] = KINDS                  # networks analysed at every k
    num_alphas: int = 30                            # evenly spaced points on the line (paper: 30)
    noise_seeds: tuple[int, int] = (1, 2)           # data-order offsets of the two copies

    def __post_init__(self) -> None:
        check_choice("model", self.model, MODELS)
        for kind in self.kinds:
            check_choice("kinds", kind, KINDS)
        if not self.kinds:
            raise LotteryLabError(f"kinds must name at least one of {KINDS}.")
        if not self.rewind_steps:
            raise LotteryLabError("rewind_steps must name at least one step k, e.g. (0, 100).")
        for k in self.rewind_steps:
            if not isinstance(k, int) or not 0 <= k < self.train.steps:
                raise LotteryLabError(f"rewind step {k!r} must be an int in [0, train.steps="
                                      f"{self.train.steps}).")
        check_positive_int("imp_rounds", self.imp_rounds)
        check_positive_int("num_alphas", self.num_alphas, minimum=2)
        if len(self.noise_seeds) != 2 or self.noise_seeds[0] == self.noise_seeds[1]:
            raise LotteryLabError(f"noise_seeds must be two different ints; got {self.noise_seeds!r}.")

    @classmethod
    def for_preset(cls, preset: str, **overrides) -> StabilityConfig:
        """``quick``: LeNet, 1,000 Adam steps, k in (0, 50, 200), 7 IMP rounds (21% density).

        ``full``: the ConvNet, 6,000 SGD steps (lr 0.05, momentum 0.9), k in (0, 100, 500, 2000),
        10 IMP rounds (11% density): a GPU setting.
        """
        base = cls(
            model=pick(preset, quick="lenet", full="conv"),
            train=pick(preset, quick=TrainConfig(steps=1000, eval_every=250),
                       full=TrainConfig(steps=6000, lr=0.05, optimizer="sgd", eval_every=500)),
            rewind_steps=pick(preset, quick=(0, 50, 200), full=(0, 100, 500, 2000)),
            imp_rounds=pick(preset, quick=7, full=10))
        return dataclasses.replace(base, **overrides)

    @property
    def model_fn(self) -> Callable[..., nn.Module]:
        return _MODEL_FNS[self.model]

    @property
    def alphas(self) -> list[float]:
        return torch.linspace(0, 1, self.num_alphas, dtype=torch.float64).tolist()


@dataclass
class StabilityRun:
    """Results of :func:`run_instability`: one record per (rewind step, kind).

    Each record has ``kind, rewind_step, density, barrier, end_errors, alphas, error, loss,
    final_test_acc`` (the last: both copies' test accuracy at the end of training).
    """

    seed: int
    config: StabilityConfig
    records: list[dict] = field(default_factory=list)

    def record(self, kind: str, rewind_step: int) -> dict:
        for r in self.records:
            if r["kind"] == kind and r["rewind_step"] == rewind_step:
                return r
        raise LotteryLabError(f"no record for kind={kind!r}, rewind_step={rewind_step!r}; have "
                              f"{[(r['kind'], r['rewind_step']) for r in self.records]}.")

    def barrier_table(self) -> dict[str, dict[int, float]]:
        """``{kind: {k: barrier}}``."""
        table: dict[str, dict[int, float]] = {}
        for r in self.records:
            table.setdefault(r["kind"], {})[r["rewind_step"]] = r["barrier"]
        return table


def instability(model_fn: Callable[..., nn.Module], start_state: Mapping[str, torch.Tensor], data,
                config: TrainConfig, *, seeds: tuple[int, int], start_step: int = 0, mask: Mask | None = None,
                alphas=None, device: torch.device | str | None = None, progress=None) -> dict:
    """Train two copies of ``start_state`` with data-order seeds ``seeds`` and measure the barrier.

    Both copies start at ``start_state`` (the network at step ``start_step``), keep ``mask``, and train
    to ``config.steps``. Returns ``{"barrier", "alphas", "error", "loss", "end_errors",
    "final_test_acc", "states"}`` where the path is evaluated on the test set.

    Example:
        >>> from lotterylab.data import Split
        >>> X, y = torch.randn(30, 4), torch.randint(0, 3, (30,))
        >>> data = Split(X, y, X, y, X, y)
        >>> start = nn.Linear(4, 3).state_dict()
        >>> out = instability(lambda seed: nn.Linear(4, 3), start, data, TrainConfig(steps=5, batch_size=10),
        ...                   seeds=(1, 2), alphas=[0.0, 0.5, 1.0])
        >>> len(out["error"]), out["barrier"] >= -1
        (3, True)
    """
    if len(seeds) != 2 or seeds[0] == seeds[1]:
        raise LotteryLabError(f"seeds must be two different data-order seeds; got {seeds!r}.")
    device = torch.device(device) if device is not None else data.X_train.device
    data = data.to(device)
    alphas = _check_alphas(torch.linspace(0, 1, 30) if alphas is None else alphas).tolist()
    states, accs = [], []
    for s in seeds:
        model = model_fn(0).to(device)
        model.load_state_dict(start_state)
        if mask is not None:
            mask.to(device).apply_(model)
        result = train(model, data, config, seed=s, mask=None if mask is None else mask.to(device),
                       start_step=start_step, progress=progress)
        states.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        accs.append(result.final_test_acc)
    path = evaluate_path(model, states[0], states[1], data.X_test, data.y_test, alphas,
                         mask=None if mask is None else mask.to(device))
    return {"barrier": error_barrier(path["alphas"], path["error"]), "alphas": path["alphas"],
            "error": path["error"], "loss": path["loss"], "end_errors": (path["error"][0], path["error"][-1]),
            "final_test_acc": tuple(accs), "states": states}


def _key(config: StabilityConfig, seed: int, device: torch.device) -> dict:
    return {"config": dataclasses.asdict(config), "seed": seed, "device": device.type}


def run_instability(data, config: StabilityConfig, *, seed: int, device: torch.device | str | None = None,
                    checkpoint: str | Path | None = None, progress=None) -> StabilityRun:
    """The instability analysis for the dense network, an IMP ticket and a random-pruned control.

    For every rewind step ``k`` in ``config.rewind_steps``: ``theta_k`` comes from training the dense
    network (data order ``seed``) for ``k`` steps; the ticket is found by IMP with rewinding to ``k``
    (:func:`lotterylab.tickets.run_imp`, ``config.imp_rounds`` rounds); the random control keeps the
    ticket's per-layer counts at random positions. Each network is then trained twice from
    ``theta_k`` with data orders ``seed + noise_seeds[i]`` and the error barrier between the two is
    measured on the test set. With ``checkpoint`` every (k, kind) is saved as soon as it is done and
    an interrupted run resumes.
    """
    device = torch.device(device) if device is not None else data.X_train.device
    data = data.to(device)
    key = _key(config, seed, device)
    run = load_results(checkpoint, key=key) if checkpoint is not None else None
    run = run if run is not None else StabilityRun(seed=seed, config=config)
    done = {(r["rewind_step"], r["kind"]) for r in run.records}
    tcfg = config.train
    needs_ticket = any(kind in config.kinds for kind in ("ticket", "random"))
    per_k = (2 * tcfg.steps * len(config.kinds)
             + (tcfg.steps * (config.imp_rounds + 1) if needs_ticket else 0))
    own_bar = progress is None or isinstance(progress, str)
    bar = progress_bar(total=per_k * len(config.rewind_steps), desc=f"instability seed {seed}",
                       mode=progress) if own_bar else progress
    noise = tuple(seed + s for s in config.noise_seeds)
    for k in config.rewind_steps:
        todo = [kind for kind in config.kinds if (k, kind) not in done]
        if not todo:
            bar.update(per_k)
            continue
        ticket_mask = None
        if needs_ticket:
            imp = run_imp(config.model_fn, data, IMPConfig(rounds=config.imp_rounds, rewind_step=k, controls=(),
                                                           train=tcfg), seed=seed, device=device, progress=bar)
            start_state, ticket_mask = imp.reset_state, imp.masks[-1]
        else:
            model = config.model_fn(seed).to(device)
            if k:
                train(model, data, dataclasses.replace(tcfg, steps=k, eval_every=k), seed=seed)
            start_state = {n: t.detach().cpu().clone() for n, t in model.state_dict().items()}
        for kind in config.kinds:
            if (k, kind) in done:
                bar.update(2 * tcfg.steps)
                continue
            if kind == "dense":
                mask = None
            elif kind == "ticket":
                mask = ticket_mask
            else:
                mask = random_mask_like(ticket_mask, make_generator(seed + RANDOM_MASK_SEED_OFFSET + k))
            out = instability(config.model_fn, start_state, data, tcfg, seeds=noise, start_step=k, mask=mask,
                              alphas=config.alphas, device=device, progress=bar)
            run.records.append({"kind": kind, "rewind_step": k, "density": 1.0 if mask is None else mask.density,
                                **{n: v for n, v in out.items() if n != "states"}})
            if checkpoint is not None:
                save_results(checkpoint, run, key=key)
    if own_bar:
        bar.close()
    return run


# --------------------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------------------
KIND_COLORS = {"dense": "#2ca02c", "ticket": "#1f77b4", "random": "#7f7f7f"}


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
    import matplotlib.pyplot as plt

    check_choice("metric", metric, ("error", "loss"))
    ax = ax if ax is not None else plt.subplots(figsize=(6, 4))[1]
    for r in records:
        ax.plot(r["alphas"], [scale * v for v in r[metric]], marker=".", color=KIND_COLORS.get(r["kind"]),
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
    import matplotlib.pyplot as plt

    ax = ax if ax is not None else plt.subplots(figsize=(6, 4))[1]
    kinds = [k for k in KINDS if any(r["kind"] == k for r in records)]
    steps = sorted({r["rewind_step"] for r in records})
    positions = {k: i for i, k in enumerate(steps)}
    for kind in kinds:
        rs = sorted((r for r in records if r["kind"] == kind), key=lambda r: r["rewind_step"])
        ax.plot([positions[r["rewind_step"]] for r in rs], [100 * r["barrier"] for r in rs], marker="o",
                color=KIND_COLORS[kind], label=kind)
    ax.axhline(100 * threshold, ls="--", color="k", lw=1, label=f"stability threshold ({100 * threshold:.0f} pts)")
    ax.set_xticks(range(len(steps)), [str(s) for s in steps])
    ax.set_xlabel("rewind step k (where the two copies start)")
    ax.set_ylabel("error barrier (percentage points)")
    ax.legend(fontsize=8)
    return ax
