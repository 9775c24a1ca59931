"""Finding lottery tickets: iterative magnitude pruning (IMP) with reset or rewinding, and its controls.

One IMP *trial* for one seed (Frankle & Carbin 2019, Algorithm 1 repeated):

1. initialise ``theta_0`` from the seed, train the dense network (level 0);
2. prune a fraction of the remaining weights with the smallest trained magnitude;
3. reset the survivors to ``theta_0`` (or, with ``rewind_step=k``, to ``theta_k``) and train again;
4. repeat 2-3 for ``rounds`` rounds.

At every level the same mask is also trained from a fresh random initialisation (``reinit``) and a
random mask with the same per-layer counts is trained from ``theta_0`` (``random``): the controls.

Example:
    >>> from lotterylab.data import load_mnist_subset
    >>> from lotterylab.models import lenet_300_100
    >>> cfg = IMPConfig(rounds=1, train=TrainConfig(steps=50, eval_every=25), controls=())
    >>> run = run_imp(lenet_300_100, load_mnist_subset(), cfg, seed=0)
    >>> [round(r["density"], 3) for r in run.records]
    [1.0, 0.8]
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from lotterylab.errors import LotteryLabError, check_choice, check_fraction, check_positive_int
from lotterylab.presets import pick
from lotterylab.progress import check_progress, progress_bar
from lotterylab.pruning import SCOPES, Mask, magnitude_prune, random_mask_like
from lotterylab.results import experiment_key, load_results, save_results
from lotterylab.seeding import check_seeds, make_generator
from lotterylab.training import TrainConfig, evaluate, train

__all__ = ["CONTROLS", "REINIT_SEED_OFFSET", "IMPConfig", "IMPRun", "keeps_dense", "run_imp", "run_imp_trials"]

CONTROLS = ("reinit", "random")
REINIT_SEED_OFFSET = 1_000_003  # the reinit control of seed s at level L uses seed s + offset * L


@dataclass(frozen=True)
class IMPConfig:
    """An IMP experiment. Defaults: the LTH paper's LeNet-300-100 schedule."""

    rounds: int = 7                        # pruning rounds (levels 1..rounds; level 0 is dense)
    prune_fraction: float = 0.2            # fraction of *remaining* weights pruned per round
    layer_fractions: tuple[tuple[str, float], ...] = (("fc3.weight", 0.1),)  # output layer at half rate
    scope: str = "layerwise"               # "layerwise" (the paper, for LeNet) or "global"
    ignore: tuple[str, ...] = ()           # weights never pruned
    rewind_step: int = 0                   # 0 = reset to init (2019); k > 0 = rewind to step k (2020)
    controls: tuple[str, ...] = CONTROLS   # which controls to train at every level >= 1
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check_positive_int("rounds", self.rounds, minimum=0)
        check_fraction("prune_fraction", self.prune_fraction)
        check_choice("scope", self.scope, SCOPES)
        for c in self.controls:
            check_choice("controls", c, CONTROLS)
        for item in self.layer_fractions:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
                raise LotteryLabError(f"layer_fractions must be a tuple of (weight name, fraction) pairs, e.g. "
                                      f"(('fc3.weight', 0.1),); got {item!r}.")
            check_fraction(f"layer_fractions[{item[0]!r}]", item[1])
        if isinstance(self.ignore, str) or not all(isinstance(n, str) for n in self.ignore):
            raise LotteryLabError(f"ignore must be a tuple of weight names, e.g. ('fc1.weight',); got {self.ignore!r}.")
        if not isinstance(self.train, TrainConfig):
            raise LotteryLabError(f"train must be a TrainConfig, not {type(self.train).__name__}.")
        if not 0 <= self.rewind_step < self.train.steps:
            raise LotteryLabError(f"rewind_step={self.rewind_step!r} must be in [0, train.steps="
                                  f"{self.train.steps}).")

    @classmethod
    def for_preset(cls, preset: str, **overrides) -> IMPConfig:
        """``quick``: 7 rounds (21.1% density), 1,200 steps; ``full``: 15 rounds (3.6%), 5,000 steps."""
        base = cls(rounds=pick(preset, quick=7, full=15),
                   train=TrainConfig(steps=pick(preset, quick=1200, full=5000)))
        return dataclasses.replace(base, **overrides)


@dataclass
class IMPRun:
    """Everything one IMP trial produced.

    ``records`` has one dict per (level, kind) with keys ``trial, level, kind, density,
    early_stop_step, early_stop_test_acc, final_test_acc, init_test_acc``; ``kind`` is ``ticket``,
    ``reinit`` or ``random`` (level 0 is the dense network, recorded as ``ticket``).
    """

    seed: int
    config: IMPConfig
    records: list[dict] = field(default_factory=list)
    masks: list[Mask] = field(default_factory=list)                   # mask of each level
    reset_state: dict[str, torch.Tensor] = field(default_factory=dict)  # theta_0 or theta_k
    trained_states: list[dict[str, torch.Tensor]] = field(default_factory=list)  # ticket after training
    histories: list[dict[str, list]] = field(default_factory=list)    # ticket's learning curves


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _record(seed: int, level: int, kind: str, mask: Mask, result, init_acc: float) -> dict:
    return {"trial": seed, "level": level, "kind": kind, "density": mask.density,
            "early_stop_step": result.early_stop_step, "early_stop_test_acc": result.early_stop_test_acc,
            "final_test_acc": result.final_test_acc, "init_test_acc": init_acc}


VERSION = 2  # of run_imp's results: bump when a change to this module changes the numbers


def _key(config: IMPConfig, seed: int, device: torch.device, model_fn: Callable, data) -> dict:
    return experiment_key(VERSION, config=config, data=data, model=model_fn, seeds=[seed], device=device,
                          dtype=data.X_train.dtype)


def _check_names(config: IMPConfig, model: nn.Module) -> None:
    """Every name in ``layer_fractions`` and ``ignore`` must be a prunable weight of the model."""
    prunable = [n for n, p in model.named_parameters() if p.dim() >= 2]
    for field_name, names in (("layer_fractions", [n for n, _ in config.layer_fractions]), ("ignore", config.ignore)):
        unknown = sorted(set(names) - set(prunable))
        if unknown:
            raise LotteryLabError(f"IMPConfig.{field_name} names {unknown}, which the model does not have; "
                                  f"the prunable weights are {prunable}.")


def run_imp(model_fn: Callable[..., nn.Module], data, config: IMPConfig, *, seed: int,
            device: torch.device | str | None = None, checkpoint: str | Path | None = None,
            progress=None) -> IMPRun:
    """Run one IMP trial (with controls) and return an :class:`IMPRun`.

    ``model_fn(seed)`` must build a freshly initialised model from a seed (a named function, so the
    results cache can tell models apart). ``device=None`` runs on the data's device. With
    ``checkpoint`` the trial is saved after every level and an interrupted run resumes where it
    stopped (a checkpoint made with another config, data split, model, seed, device or ``VERSION``
    is recomputed). ``progress`` is a tqdm-like bar to update, or None for a bar of its own.
    """
    check_positive_int("seed", seed, minimum=0)
    check_progress(progress)
    if not isinstance(config, IMPConfig):
        raise LotteryLabError(f"config must be an IMPConfig, not {type(config).__name__}.")
    device = torch.device(device) if device is not None else data.X_train.device
    data = data.to(device)
    _check_names(config, model_fn(seed))
    key = _key(config, seed, device, model_fn, data)
    run = load_results(checkpoint, key=key) if checkpoint is not None else None
    run = run if run is not None else IMPRun(seed=seed, config=config)
    steps_per_level = config.train.steps * (1 + len(config.controls))
    bar = progress if progress is not None else progress_bar(
        total=config.train.steps + config.rounds * steps_per_level, desc=f"IMP seed {seed}")
    bar.update(config.train.steps * min(len(run.masks), 1) + steps_per_level * max(len(run.masks) - 1, 0))
    if not run.masks:  # level 0: the dense network, which also provides theta_k for rewinding
        _dense_level(run, model_fn, data, device, bar)
        _save(checkpoint, run, key)
    while len(run.masks) <= config.rounds:
        _pruned_level(run, model_fn, data, device, bar)
        _save(checkpoint, run, key)
    if progress is None:
        bar.close()
    return run


def _test_acc_at_init(model: nn.Module, mask: Mask, data) -> float:
    mask.apply_(model)
    return evaluate(model, data.X_test, data.y_test)[1]


def _dense_level(run: IMPRun, model_fn: Callable, data, device: torch.device, bar) -> None:
    """Level 0: train the dense network; keep theta_0 (or theta_k when rewinding) for later levels."""
    k = run.config.rewind_step
    model = model_fn(run.seed).to(device)
    mask = Mask.ones_like(model)
    init_state = _state(model)
    init_acc = evaluate(model, data.X_test, data.y_test)[1]
    result = train(model, data, run.config.train, seed=run.seed, mask=mask, snapshot_step=k, progress=bar)
    run.reset_state = {n: t.cpu() for n, t in result.snapshot.items()} if k else init_state
    _finish_level(run, 0, mask, result, init_acc, model)


def _pruned_level(run: IMPRun, model_fn: Callable, data, device: torch.device, bar) -> None:
    """One IMP level: prune the last trained ticket, reset (or rewind), train it and its controls."""
    config, seed, level, k = run.config, run.seed, len(run.masks), run.config.rewind_step

    def model_from(state: dict) -> nn.Module:
        model = model_fn(seed).to(device)
        model.load_state_dict(state)
        return model

    mask = magnitude_prune(model_from(run.trained_states[-1]), run.masks[-1].to(device), config.prune_fraction,
                           scope=config.scope, layer_fractions=dict(config.layer_fractions), ignore=config.ignore)
    ticket = model_from(run.reset_state)
    init_acc = _test_acc_at_init(ticket, mask, data)
    result = train(ticket, data, config.train, seed=seed, mask=mask, start_step=k, progress=bar)
    control_records = []
    for kind in config.controls:
        if kind == "reinit":
            control_mask, control = mask, model_fn(seed + REINIT_SEED_OFFSET * level).to(device)
        else:
            control_mask = random_mask_like(mask.cpu(), make_generator(seed + REINIT_SEED_OFFSET * level)).to(device)
            control = model_from(run.reset_state)
        c_init = _test_acc_at_init(control, control_mask, data)
        c_result = train(control, data, config.train, seed=seed, mask=control_mask, start_step=k, progress=bar)
        control_records.append(_record(seed, level, kind, control_mask, c_result, c_init))
    _finish_level(run, level, mask, result, init_acc, ticket)
    run.records.extend(control_records)


def _finish_level(run: IMPRun, level: int, mask: Mask, result, init_acc: float, model: nn.Module) -> None:
    """Record the ticket (level 0: the dense network) of one level and keep its mask and weights."""
    run.records.append(_record(run.seed, level, "ticket", mask, result, init_acc))
    run.masks.append(mask.cpu())
    run.trained_states.append(_state(model))
    run.histories.append({"steps": result.steps, "val_loss": result.val_loss, "test_acc": result.test_acc})


def _save(checkpoint, run: IMPRun, key: dict) -> None:
    if checkpoint is not None:
        save_results(checkpoint, run, key=key)


def run_imp_trials(model_fn: Callable[..., nn.Module], data, config: IMPConfig, *, seeds: Sequence[int],
                   device: torch.device | str | None = None, checkpoint_dir: str | Path | None = None,
                   progress=None) -> list[IMPRun]:
    """Run :func:`run_imp` for each seed (one progress bar; one resumable checkpoint file per seed).

    ``seeds`` may be a list, a range, or a numpy or torch integer array.
    """
    seeds = check_seeds(seeds)
    check_progress(progress)
    if not isinstance(config, IMPConfig):
        raise LotteryLabError(f"config must be an IMPConfig, not {type(config).__name__}.")
    per_trial = config.train.steps * (1 + config.rounds * (1 + len(config.controls)))
    bar = progress if progress is not None else progress_bar(total=per_trial * len(seeds), desc="IMP trials")
    runs = []
    for seed in seeds:
        ckpt = Path(checkpoint_dir) / f"imp_seed{seed}.pt" if checkpoint_dir is not None else None
        runs.append(run_imp(model_fn, data, config, seed=seed, device=device, checkpoint=ckpt, progress=bar))
    if progress is None:
        bar.close()
    return runs


def summarize(records: Sequence[dict], metric: str) -> list[dict]:
    """Mean, min and max of ``metric`` over trials for each (level, kind), sorted by level then kind.

    Example:
        >>> rows = summarize([{"level": 0, "kind": "ticket", "density": 1.0, "acc": a} for a in (0.9, 1.0)], "acc")
        >>> rows[0]["mean"], rows[0]["min"], rows[0]["n"]
        (0.95, 0.9, 2)
    """
    records = list(records)
    missing = [r for r in records if metric not in r]
    if missing:
        raise LotteryLabError(f"metric={metric!r} is not in every record; a record has {sorted(missing[0])}.")
    groups: dict[tuple[int, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["level"], r["kind"]), []).append(r)
    order = {k: i for i, k in enumerate(("ticket", *CONTROLS))}
    rows = []
    for (level, kind), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 9))):
        vals = [float(r[metric]) for r in rs]
        rows.append({"level": level, "kind": kind, "density": rs[0]["density"], "n": len(vals),
                     "mean": sum(vals) / len(vals), "min": min(vals), "max": max(vals)})
    return rows


def keeps_dense(records: Sequence[dict], kind: str, metric: str = "early_stop_test_acc", *,
                tolerance: float = 0.01, lower_is_better: bool = False) -> float:
    """The lowest density down to which ``kind``'s mean ``metric`` stays within ``tolerance`` of the dense
    network's mean at *every* level (1.0 when the first pruned level already falls short).

    With ``lower_is_better`` (an early-stopping step, say) "within" means at most ``tolerance`` above.

    Example:
        >>> recs = [{"level": l, "kind": "ticket", "density": d, "acc": a}
        ...         for l, d, a in [(0, 1.0, 0.95), (1, 0.5, 0.948), (2, 0.25, 0.93), (3, 0.1, 0.96)]]
        >>> keeps_dense(recs, "ticket", "acc", tolerance=0.01)
        0.5
    """
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise LotteryLabError(f"tolerance={tolerance!r} must be a finite number >= 0 (in the metric's units).")
    rows = summarize(records, metric)
    dense = [r["mean"] for r in rows if r["level"] == 0]
    if not dense:
        raise LotteryLabError("records have no level-0 (dense) row to compare with.")
    if not any(r["kind"] == kind for r in rows if r["level"] > 0):
        raise LotteryLabError(f"kind={kind!r} has no pruned level; kinds: {sorted({r['kind'] for r in rows})}.")
    lowest = 1.0
    for r in sorted((r for r in rows if r["kind"] == kind and r["level"] > 0), key=lambda r: -r["density"]):
        gap = (r["mean"] - dense[0]) if lower_is_better else (dense[0] - r["mean"])
        if gap > tolerance:
            break
        lowest = r["density"]
    return float(lowest)


@torch.no_grad()
def compare_to_init(init_state: dict[str, torch.Tensor], trained_state: dict[str, torch.Tensor],
                    mask: Mask) -> dict[str, dict[str, float]]:
    """How far each masked layer's kept weights moved in training, and how many kept their sign.

    Returns ``{name: {"relative_movement": ||w_T - w_0|| / ||w_0||, "sign_agreement": fraction of
    kept weights with sign(w_T) == sign(w_0), "kept": count}}`` over the kept weights only. Signs are
    unchanged by the ReLU rescaling symmetry (scaling a unit's input weights by c > 0 and its output
    weights by 1/c), so sign agreement is a fair comparison where raw magnitudes are not.

    Example:
        >>> w0 = {"w": torch.tensor([1.0, -2.0, 3.0])}
        >>> wT = {"w": torch.tensor([2.0, 2.0, 3.0])}
        >>> stats = compare_to_init(w0, wT, Mask({"w": torch.tensor([1, 1, 0])}))["w"]
        >>> stats["sign_agreement"], stats["kept"]
        (0.5, 2)
    """
    out = {}
    for name, m in mask.items():
        w0, wT = init_state[name][m.cpu()].float(), trained_state[name][m.cpu()].float()
        if tuple(init_state[name].shape) != tuple(trained_state[name].shape):
            raise LotteryLabError(f"init_state and trained_state disagree on the shape of {name!r}.")
        out[name] = {"relative_movement": float((wT - w0).norm() / w0.norm().clamp_min(1e-12)),
                     "sign_agreement": float((torch.sign(wT) == torch.sign(w0)).float().mean()),
                     "kept": int(m.sum())}
    return out
