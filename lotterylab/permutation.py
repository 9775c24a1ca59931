"""Permutation symmetry of hidden units, and weight matching (Ainsworth, Hayase & Srinivasa 2023).

Reorder the hidden units of one layer (the rows of its weight and bias) and the matching inputs of
the next layer (its columns), and the network computes exactly the same function: there are
``n!`` equivalent copies of every layer of ``n`` units. Two networks trained from *different*
initialisations are usually far apart on the straight line between them partly because their units
are listed in different orders. **Weight matching** undoes that: for each hidden layer, find the
permutation of network b's units that best matches network a's weights (a linear assignment
problem, solved exactly by ``scipy.optimize.linear_sum_assignment``), and repeat over the layers
until nothing changes (Ainsworth et al. 2023, "Git Re-Basin", Algorithm 1; Entezari et al. 2022
conjectured that, after such alignment, SGD solutions are linearly mode connected).

The layers are named by ``layers``: a chain of modules whose parameters are ``name.weight`` of
shape ``(out, in, ...)`` and optionally ``name.bias``, each feeding the next through elementwise
activations, max-pooling or a channel-major flatten (so LeNet-300-100 and the chapter's ConvNet both
work). Layers with BatchNorm, residual connections or attention need more bookkeeping than this.

Example:
    >>> from lotterylab.models import lenet_300_100
    >>> a = lenet_300_100(seed=0, in_features=6, hidden=(5, 4), num_classes=3).state_dict()
    >>> b = permute_hidden(a, random_permutations(a, seed=1))        # the same network, units shuffled
    >>> perms = weight_matching(a, b)
    >>> all(torch.equal(permute_hidden(b, perms)[n], a[n]) for n in a)  # recovered exactly
    True
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lotterylab.device import get_device
from lotterylab.errors import LotteryLabError, check_positive_int
from lotterylab.interpolation import N_ALPHAS, error_barrier, evaluate_path
from lotterylab.progress import check_progress, progress_bar
from lotterylab.results import cached, experiment_key
from lotterylab.seeding import make_generator
from lotterylab.training import TrainConfig, train

__all__ = ["VERSION", "ControlResult", "align", "chain_layers", "control_key", "different_init_control", "permute_hidden",
           "random_permutations", "weight_matching"]

VERSION = 1  # of different_init_control's results: bump when a change here changes the numbers


def _state(x, name: str) -> dict[str, torch.Tensor]:
    if isinstance(x, torch.nn.Module):
        return {k: v.detach() for k, v in x.state_dict().items()}
    if isinstance(x, Mapping) and x and all(isinstance(v, torch.Tensor) for v in x.values()):
        return dict(x)
    raise LotteryLabError(f"{name} must be a model or a non-empty state dict (name -> tensor), "
                          f"got {type(x).__name__}.")


def chain_layers(state, layers: Sequence[str] | None = None) -> list[str]:
    """The checked chain of layer names: ``layers``, or every ``name`` with a ``name.weight`` of 2+ dims.

    Each layer's input size must be a multiple of the previous layer's output size (a flatten of
    ``r`` positions per channel gives ``r`` inputs per unit).

    Example:
        >>> from lotterylab.models import lenet_300_100
        >>> chain_layers(lenet_300_100(seed=0))
        ['fc1', 'fc2', 'fc3']
    """
    state = _state(state, "state")
    if layers is None:
        layers = [n[:-len(".weight")] for n, t in state.items() if n.endswith(".weight") and t.dim() >= 2]
    if isinstance(layers, str) or not isinstance(layers, Sequence) or len(layers) < 2:
        raise LotteryLabError(f"layers must name at least two layers in order, e.g. ['fc1', 'fc2', 'fc3']; "
                              f"got {layers!r}.")
    layers = list(layers)
    for name in layers:
        w = state.get(f"{name}.weight")
        if w is None or w.dim() < 2:
            raise LotteryLabError(f"layers: {name!r} has no '{name}.weight' of 2+ dims in the state dict; "
                                  f"weights there: {[n for n in state if n.endswith('.weight')]}.")
    for prev, name in itertools.pairwise(layers):
        units, fan_in = state[f"{prev}.weight"].shape[0], state[f"{name}.weight"].shape[1]
        if fan_in % units:
            raise LotteryLabError(f"layers: {name!r} takes {fan_in} inputs, not a multiple of the {units} "
                                  f"units of {prev!r}; is the chain in forward order?")
    return layers


def _check_perms(perms, state: Mapping[str, torch.Tensor], layers: list[str]) -> list[torch.Tensor]:
    sizes = [state[f"{n}.weight"].shape[0] for n in layers[:-1]]
    if not isinstance(perms, Sequence) or len(perms) != len(sizes):
        raise LotteryLabError(f"perms must be a list of {len(sizes)} permutations, one per hidden layer "
                              f"{layers[:-1]}; got {type(perms).__name__} of length {len(perms) if isinstance(perms, Sequence) else '?'}.")
    out = []
    for name, size, p in zip(layers, sizes, perms):
        p = torch.as_tensor(p)
        if p.dim() != 1 or p.is_floating_point() or not torch.equal(torch.sort(p).values.cpu(), torch.arange(size)):
            raise LotteryLabError(f"perms: the entry for {name!r} must be a permutation of range({size}).")
        out.append(p.long())
    return out


def permute_hidden(state, perms: Sequence, layers: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """A new state dict whose hidden unit ``i`` of layer ``l`` is the old unit ``perms[l][i]``.

    The rows of ``layers[l].weight`` and ``layers[l].bias`` and the matching inputs of
    ``layers[l + 1].weight`` are reordered, so the network computes the same function (up to the
    order of floating-point sums). Other entries are copied unchanged.

    Example:
        >>> s = {"h.weight": torch.tensor([[1.0], [2.0]]), "o.weight": torch.tensor([[10.0, 20.0]])}
        >>> permute_hidden(s, [torch.tensor([1, 0])])["o.weight"]
        tensor([[20., 10.]])
    """
    state = _state(state, "state")
    layers = chain_layers(state, layers)
    perms = _check_perms(perms, state, layers)
    out = {n: t.clone() for n, t in state.items()}
    for name, nxt, p in zip(layers, layers[1:], perms):
        p = p.to(state[f"{name}.weight"].device)
        out[f"{name}.weight"] = out[f"{name}.weight"][p]
        if f"{name}.bias" in out:
            out[f"{name}.bias"] = out[f"{name}.bias"][p]
        w = out[f"{nxt}.weight"]
        blocks = w.reshape(w.shape[0], len(p), -1, *w.shape[2:])          # (out, units, r, *kernel)
        out[f"{nxt}.weight"] = blocks[:, p].reshape(w.shape)
    return out


def random_permutations(state, layers: Sequence[str] | None = None, *, seed: int) -> list[torch.Tensor]:
    """One uniformly random permutation per hidden layer of ``layers``, drawn from ``seed``.

    Example:
        >>> s = {"h.weight": torch.zeros(3, 2), "o.weight": torch.zeros(1, 3)}
        >>> sorted(random_permutations(s, seed=0)[0].tolist())
        [0, 1, 2]
    """
    state = _state(state, "state")
    layers = chain_layers(state, layers)
    check_positive_int("seed", seed, minimum=0)
    g = make_generator(seed)
    return [torch.randperm(state[f"{n}.weight"].shape[0], generator=g) for n in layers[:-1]]


def _matrix(state, name: str, perm_in: torch.Tensor | None) -> torch.Tensor:
    """``name``'s weight as (out, units_in, rest) in float64 on the CPU, inputs reordered by ``perm_in``."""
    w = state[f"{name}.weight"].detach().double().cpu()
    units = len(perm_in) if perm_in is not None else w.shape[1]
    w = w.reshape(w.shape[0], units, -1)
    return w if perm_in is None else w[:, perm_in]


def weight_matching(a, b, layers: Sequence[str] | None = None, *, max_iter: int = 100,
                    seed: int = 0) -> list[torch.Tensor]:
    """Permutations of ``b``'s hidden units that best match ``a``'s weights (Git Re-Basin, Alg. 1).

    Maximises ``sum_l <W_l^a, P_l W_l^b P_{l-1}^T>`` (biases included) by coordinate ascent: each
    step solves one hidden layer's linear assignment exactly with the others fixed, visiting the
    layers in a random order drawn from ``seed``, until a full sweep changes nothing or after
    ``max_iter`` sweeps. ``permute_hidden(b, result)`` is then b aligned to a.

    Example:
        >>> s = {"h.weight": torch.tensor([[1.0], [2.0]]), "o.weight": torch.tensor([[10.0, 20.0]])}
        >>> t = {"h.weight": torch.tensor([[2.0], [1.0]]), "o.weight": torch.tensor([[20.0, 10.0]])}
        >>> weight_matching(s, t)
        [tensor([1, 0])]
    """
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:  # pragma: no cover - scipy comes with the course's requirements
        raise LotteryLabError("weight_matching needs scipy (pip install scipy).") from None
    a, b = _state(a, "a"), _state(b, "b")
    layers = chain_layers(b, chain_layers(a, layers))
    if any(a[f"{n}.weight"].shape != b[f"{n}.weight"].shape for n in layers):
        raise LotteryLabError("a and b must have the same architecture: the weights of layers "
                              f"{layers} differ in shape.")
    check_positive_int("max_iter", max_iter)
    check_positive_int("seed", seed, minimum=0)
    perms = [torch.arange(a[f"{n}.weight"].shape[0]) for n in layers[:-1]]
    g = make_generator(seed)
    for _ in range(max_iter):
        changed = False
        for l in torch.randperm(len(perms), generator=g).tolist():
            name, nxt = layers[l], layers[l + 1]
            below = perms[l - 1] if l > 0 else None
            wa, wb = _matrix(a, name, None).flatten(1), _matrix(b, name, below).flatten(1)
            cost = wa @ wb.T                                                   # (units_a, units_b)
            if f"{name}.bias" in a and f"{name}.bias" in b:
                cost += torch.outer(a[f"{name}.bias"].double().cpu(), b[f"{name}.bias"].double().cpu())
            units = len(perms[l])
            na, nb = _matrix(a, nxt, torch.arange(units)), _matrix(b, nxt, torch.arange(units))
            if l + 1 < len(perms):                                             # the next layer's outputs
                nb = nb[perms[l + 1]]
            cost += torch.einsum("oir,ojr->ij", na, nb)
            _, cols = linear_sum_assignment(cost.numpy(), maximize=True)
            new = torch.as_tensor(cols, dtype=torch.long)
            old_score = cost[torch.arange(units), perms[l]].sum()
            if cost[torch.arange(units), new].sum() > old_score + 1e-12 * (1 + abs(float(old_score))):
                perms[l], changed = new, True
        if not changed:
            break
    return perms


def align(a, b, layers: Sequence[str] | None = None, *, max_iter: int = 100, seed: int = 0) -> dict[str, torch.Tensor]:
    """``b``'s state dict with its hidden units reordered to match ``a`` (:func:`weight_matching`).

    Example:
        >>> s = {"h.weight": torch.tensor([[1.0], [2.0]]), "o.weight": torch.tensor([[10.0, 20.0]])}
        >>> t = {"h.weight": torch.tensor([[2.0], [1.0]]), "o.weight": torch.tensor([[20.0, 10.0]])}
        >>> align(s, t)["h.weight"].flatten().tolist()
        [1.0, 2.0]
    """
    return permute_hidden(b, weight_matching(a, b, layers, max_iter=max_iter, seed=seed), layers)


@dataclass
class ControlResult:
    """Two networks from *different* initialisations: the barrier between them, before and after alignment."""

    init_seeds: tuple[int, int]             # the two initialisations
    data_seeds: tuple[int, int]             # the two data orders
    barrier: float                          # error barrier on the test set (a fraction, not points)
    aligned_barrier: float                  # the same after weight matching b's hidden units to a's
    alphas: list[float]
    error: list[float]                      # test error on the line, as trained
    aligned_error: list[float]              # test error on the line from a to the aligned b
    end_errors: tuple[float, float]         # test errors of a and b (alignment changes neither)


def _check_seed_pair(name: str, seeds) -> tuple[int, int]:
    if not isinstance(seeds, (tuple, list)) or len(seeds) != 2 or len(set(seeds)) != 2 or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise LotteryLabError(f"{name} must be two different non-negative ints, e.g. (0, 1); got {seeds!r}.")
    return tuple(seeds)


def control_key(model_fn, data, config: TrainConfig, *, init_seeds, data_seeds, alphas, device) -> dict:
    """The results-cache key of :func:`different_init_control`'s checkpoint."""
    return experiment_key(VERSION, config=config, data=data, model=model_fn, seeds=[*init_seeds, *data_seeds],
                          device=device, dtype=data.X_train.dtype, alphas=list(alphas))


def different_init_control(model_fn: Callable[[int], torch.nn.Module], data, config: TrainConfig, *,
                           init_seeds: tuple[int, int] = (0, 1), data_seeds: tuple[int, int] = (1, 2),
                           alphas=None, device: torch.device | str | None = None,
                           checkpoint: str | Path | None = None, progress=None) -> ControlResult:
    """The positive control of linear mode connectivity: train ``model_fn(init_seeds[i])`` with data order
    ``data_seeds[i]`` and measure the error barrier, as trained and after :func:`align`.

    With the data orders of an instability analysis at ``k = 0`` (same ``data_seeds``), the only new
    difference is the initialisation. ``alphas`` defaults to 30 points in [0, 1]. ``device=None``: the
    data's device. With ``checkpoint`` the result is cached (:func:`lotterylab.results.cached`).

    Example:
        >>> from lotterylab.data import Split
        >>> from lotterylab.models import lenet_300_100
        >>> X, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
        >>> net = lambda seed: lenet_300_100(seed, in_features=6, hidden=(5, 4), num_classes=3)
        >>> out = different_init_control(net, Split(X, y, X, y, X, y), TrainConfig(steps=4, batch_size=20),
        ...                              alphas=[0.0, 0.5, 1.0])
        >>> out.init_seeds, len(out.aligned_error)
        ((0, 1), 3)
    """
    if not callable(model_fn):
        raise LotteryLabError(f"model_fn must build a model from a seed, got {type(model_fn).__name__}.")
    if not all(isinstance(getattr(data, n, None), torch.Tensor) for n in ("X_train", "y_train", "X_test", "y_test")):
        raise LotteryLabError(f"data must be a lotterylab.data.Split, got {type(data).__name__}.")
    if not isinstance(config, TrainConfig):
        raise LotteryLabError(f"config must be a TrainConfig, not {type(config).__name__}.")
    init_seeds, data_seeds = _check_seed_pair("init_seeds", init_seeds), _check_seed_pair("data_seeds", data_seeds)
    alphas = torch.linspace(0, 1, N_ALPHAS, dtype=torch.float64).tolist() if alphas is None else alphas
    check_progress(progress)
    device = data.X_train.device if device is None else get_device(str(device))
    data = data.to(device)

    def compute() -> ControlResult:
        bar = progress if progress is not None else progress_bar(total=2 * config.steps, desc="different inits")
        states = []
        for init, order in zip(init_seeds, data_seeds):
            model = model_fn(init).to(device)
            train(model, data, config, seed=order, progress=bar)
            states.append({n: t.detach().clone() for n, t in model.state_dict().items()})
        if progress is None:
            bar.close()
        raw = evaluate_path(model, states[0], states[1], data.X_test, data.y_test, alphas)
        aligned = evaluate_path(model, states[0], align(states[0], states[1]), data.X_test, data.y_test, alphas)
        return ControlResult(init_seeds=init_seeds, data_seeds=data_seeds,
                             barrier=error_barrier(raw["alphas"], raw["error"]),
                             aligned_barrier=error_barrier(aligned["alphas"], aligned["error"]),
                             alphas=raw["alphas"], error=raw["error"], aligned_error=aligned["error"],
                             end_errors=(raw["error"][0], raw["error"][-1]))

    if checkpoint is None:
        return compute()
    if not isinstance(checkpoint, (str, Path)):
        raise LotteryLabError(f"checkpoint must be a file path or None, got {type(checkpoint).__name__}.")
    key = control_key(model_fn, data, config, init_seeds=init_seeds, data_seeds=data_seeds, alphas=alphas,
                      device=device)
    return cached(checkpoint, key, compute, validate=lambda r: isinstance(r, ControlResult)
                  and r.init_seeds == init_seeds and r.data_seeds == data_seeds)
