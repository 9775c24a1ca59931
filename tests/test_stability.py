"""Interpolation, error barrier, instability analysis and the residual-sign experiment."""
import dataclasses

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from lotterylab import stability
from lotterylab.data import Split
from lotterylab.errors import LotteryLabError
from lotterylab.interpolation import check_alphas, error_barrier, evaluate_path, interpolate, plot_path
from lotterylab.models import ConvNet, LeNet300100, conv_net, lenet_300_100
from lotterylab.pruning import Mask, random_mask_like
from lotterylab.residual_sign import (
    ResidualSignConfig,
    forward,
    init_params,
    ks_permutation_test,
    ks_statistic,
    make_task,
    mirror_params,
    plot_ecdf,
    plot_qq,
    train_residual,
)
from lotterylab.results import experiment_key, save_results
from lotterylab.stability import (
    InstabilityResult,
    StabilityConfig,
    StabilityRun,
    instability,
    plot_barriers,
    run_instability,
)
from lotterylab.training import TrainConfig, evaluate

torch.set_num_threads(1)


def small_net(seed):
    torch.manual_seed(seed)
    return LeNet300100(in_features=20, hidden=(16, 12), num_classes=3)


@pytest.fixture
def pair():
    return small_net(0), small_net(1)


@pytest.fixture
def toy_data():
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(120, 20, generator=g), torch.randint(0, 3, (120,), generator=g)
    return X, y


# --- interpolation ---------------------------------------------------------------------------------
def test_interpolation_endpoints_are_exact_and_midpoint_is_the_average(pair):
    a, b = pair
    sa, sb = a.state_dict(), b.state_dict()
    for name in sa:
        assert torch.equal(interpolate(a, b, 0.0)[name], sa[name])
        assert torch.equal(interpolate(sa, sb, 1.0)[name], sb[name])
        torch.testing.assert_close(interpolate(a, b, 0.5)[name], (sa[name] + sb[name]) / 2)
    assert interpolate(a, b, 0.0)["fc1.weight"] is not sa["fc1.weight"]  # a copy, not a view


def test_integer_buffers_are_copied_not_interpolated():
    a = {"w": torch.zeros(2), "n": torch.tensor(3)}
    b = {"w": torch.ones(2), "n": torch.tensor(9)}
    out = interpolate(a, b, 0.5)
    assert out["n"].item() == 3 and out["n"].dtype == torch.int64


def test_path_endpoints_match_the_endpoint_networks(pair, toy_data):
    a, b = pair
    X, y = toy_data
    path = evaluate_path(small_net(5), a, b, X, y, alphas=torch.linspace(0, 1, 7), chunk=3)
    for i, net in ((0, a), (-1, b)):
        loss, acc = evaluate(net, X, y)
        assert path["error"][i] == pytest.approx(1 - acc, abs=1e-12)
        assert path["loss"][i] == pytest.approx(loss, rel=1e-5)
    # an interior point agrees with a network built from the interpolated state
    mid = small_net(9)
    mid.load_state_dict(interpolate(a, b, path["alphas"][3]))
    loss, acc = evaluate(mid, X, y)
    assert path["error"][3] == pytest.approx(1 - acc, abs=1e-12)
    assert path["loss"][3] == pytest.approx(loss, rel=1e-5)


def test_model_weights_are_not_used_or_changed(pair, toy_data):
    a, b = pair
    X, y = toy_data
    host = small_net(7)
    before = {k: v.clone() for k, v in host.state_dict().items()}
    p1 = evaluate_path(host, a, b, X, y, alphas=[0.0, 0.3, 1.0])
    p2 = evaluate_path(small_net(8), a, b, X, y, alphas=[0.0, 0.3, 1.0])
    assert p1 == p2
    assert all(torch.equal(before[k], v) for k, v in host.state_dict().items())


def test_barrier_of_identical_networks_is_zero(pair, toy_data):
    a, _ = pair
    X, y = toy_data
    path = evaluate_path(a, a, a, X, y)
    assert len(path["alphas"]) == 30
    assert error_barrier(path["alphas"], path["error"]) == 0.0


def test_error_barrier_definition():
    assert error_barrier([0.0, 0.5, 1.0], [0.1, 0.4, 0.2]) == pytest.approx(0.25)
    assert error_barrier([0.0, 0.5, 1.0], [0.2, 0.1, 0.2]) == pytest.approx(0.0)  # max includes the ends
    with pytest.raises(LotteryLabError, match="endpoints 0 and 1"):
        error_barrier([0.0, 0.5], [0.1, 0.2])
    with pytest.raises(LotteryLabError, match="same length"):
        error_barrier([0.0, 1.0], [0.1])


@pytest.mark.parametrize("position", [0, 1, 2])
def test_error_barrier_refuses_nan_anywhere(position):
    errors = [0.1, 0.4, 0.2]
    errors[position] = float("nan")
    with pytest.raises(LotteryLabError, match="errors must be finite"):
        error_barrier([0.0, 0.5, 1.0], errors)
    errors[position] = float("inf")
    with pytest.raises(LotteryLabError, match="errors"):
        error_barrier([0.0, 0.5, 1.0], errors)


def test_error_barrier_bad_input():
    with pytest.raises(LotteryLabError, match="same length"):
        error_barrier([0.0, 0.5, 1.0], [0.1, 0.2])       # shorter errors
    with pytest.raises(LotteryLabError, match="same length"):
        error_barrier([0.0, 1.0], [0.1, 0.2, 0.3])       # longer errors
    with pytest.raises(LotteryLabError, match="same length"):
        error_barrier([0.0, 1.0], [[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(LotteryLabError, match="errors must be a sequence"):
        error_barrier([0.0, 1.0], ["low", "high"])
    with pytest.raises(LotteryLabError, match="alphas must be finite"):
        error_barrier([0.0, float("nan"), 1.0], [0.1, 0.2, 0.3])
    with pytest.raises(LotteryLabError, match="alphas must be one-dimensional"):
        error_barrier([[0.0, 1.0]], [0.1, 0.2])


def test_check_alphas():
    assert check_alphas(range(2)).tolist() == [0.0, 1.0]
    assert check_alphas(np.linspace(0, 1, 3)).dtype == torch.float64
    with pytest.raises(LotteryLabError, match="alphas is empty"):
        check_alphas([])
    with pytest.raises(LotteryLabError, match="alphas must be a sequence"):
        check_alphas(["a"])
    with pytest.raises(LotteryLabError, match="alphas must be one-dimensional"):
        check_alphas(0.5)
    with pytest.raises(LotteryLabError, match="alphas must be finite"):
        check_alphas([0.0, float("inf")])


def test_masks_are_respected(pair, toy_data):
    a, b = pair
    X, y = toy_data
    mask = random_mask_like(Mask.ones_like(a), torch.Generator().manual_seed(0))
    mask = Mask({n: m & (torch.rand(m.shape, generator=torch.Generator().manual_seed(1)) < 0.5)
                 for n, m in mask.items()})
    for alpha in (0.0, 0.37, 1.0):
        out = interpolate(a, b, alpha, mask=mask)
        for n, m in mask.items():
            assert bool((out[n][~m] == 0).all())
            torch.testing.assert_close(out[n][m], torch.lerp(a.state_dict()[n], b.state_dict()[n], alpha)[m])
    path = evaluate_path(small_net(3), a, b, X, y, alphas=[0.37], mask=mask)
    masked = small_net(3)
    masked.load_state_dict(interpolate(a, b, 0.37, mask=mask))
    assert path["error"][0] == pytest.approx(1 - evaluate(masked, X, y)[1], abs=1e-12)
    unmasked = evaluate_path(small_net(3), a, b, X, y, alphas=[0.37])
    assert unmasked["loss"] != path["loss"]


# --- bad input ------------------------------------------------------------------------------------------
def test_mismatched_names_and_shapes_raise(pair, toy_data):
    a, b = pair
    X, y = toy_data
    sb = dict(b.state_dict())
    sb["extra"] = sb.pop("fc3.bias")
    with pytest.raises(LotteryLabError, match="different parameter names.*fc3.bias.*extra"):
        interpolate(a, sb, 0.5)
    other = LeNet300100(in_features=20, hidden=(16, 11), num_classes=3)
    with pytest.raises(LotteryLabError, match="'fc2.weight' has shape"):
        interpolate(a, other, 0.5)
    with pytest.raises(LotteryLabError, match="has shape"):
        evaluate_path(a, a, other, X, y)
    with pytest.raises(LotteryLabError, match="do not match the model"):
        evaluate_path(lenet_300_100(seed=0), a, b, X, y)
    with pytest.raises(LotteryLabError, match="mask for 'fc1.weight' has shape"):
        interpolate(a, b, 0.5, mask=Mask({"fc1.weight": torch.ones(3, 3)}))
    with pytest.raises(LotteryLabError, match="model or a state dict"):
        interpolate([1, 2], b, 0.5)


def test_empty_inputs_raise(pair, toy_data):
    a, b = pair
    X, y = toy_data
    with pytest.raises(LotteryLabError, match="alphas is empty"):
        evaluate_path(a, a, b, X, y, alphas=[])
    with pytest.raises(LotteryLabError, match="alphas is empty"):
        error_barrier([], [])
    with pytest.raises(LotteryLabError, match="non-empty"):
        evaluate_path(a, a, b, X[:0], y[:0])
    with pytest.raises(LotteryLabError, match="equal length"):
        evaluate_path(a, a, b, X, y[:5])
    with pytest.raises(LotteryLabError, match="no parameters"):
        interpolate({}, {}, 0.5)
    with pytest.raises(LotteryLabError, match="finite"):
        interpolate(a, b, float("nan"))


def test_interpolate_takes_exactly_one_alpha(pair):
    a, b = pair
    for alpha in ([0.2, 0.3], (0.5,), torch.tensor([0.2, 0.3]), np.array([0.5]), "0.5", None, True):
        with pytest.raises(LotteryLabError, match="alpha must be one number"):
            interpolate(a, b, alpha)
    sa, sb = a.state_dict(), b.state_dict()
    for alpha in (0.25, 1, torch.tensor(0.25), np.float64(0.25)):     # scalars of any kind are fine
        torch.testing.assert_close(interpolate(a, b, alpha)["fc1.bias"],
                                   torch.lerp(sa["fc1.bias"], sb["fc1.bias"], float(alpha)))
    with pytest.raises(LotteryLabError, match="mask must be a lotterylab"):
        interpolate(a, b, 0.5, mask={"fc1.weight": torch.ones(16, 20)})
    with pytest.raises(LotteryLabError, match="state dict"):
        interpolate({"w": [1.0, 2.0]}, {"w": [1.0, 2.0]}, 0.5)


def test_evaluate_path_bad_input(pair, toy_data):
    a, b = pair
    X, y = toy_data
    with pytest.raises(LotteryLabError, match="batch_size"):
        evaluate_path(a, a, b, X, y, batch_size=0)
    with pytest.raises(LotteryLabError, match="chunk"):
        evaluate_path(a, a, b, X, y, chunk=0)
    with pytest.raises(LotteryLabError, match="y must be a 1-D tensor of integer"):
        evaluate_path(a, a, b, X, y.float())
    with pytest.raises(LotteryLabError, match="X and y must be tensors"):
        evaluate_path(a, a, b, X.tolist(), y)
    with pytest.raises(LotteryLabError, match="model must be a torch.nn.Module"):
        evaluate_path(a.state_dict(), a, b, X, y)
    with pytest.raises(LotteryLabError, match="alphas must be finite"):
        evaluate_path(a, a, b, X, y, alphas=[0.0, float("nan")])


def test_config_validation():
    cfg = StabilityConfig.for_preset("quick")
    assert cfg.model == "lenet" and cfg.rewind_steps[0] == 0
    full = StabilityConfig.for_preset("full")
    assert full.model == "lenet" and full.train.lr > cfg.train.lr and full.imp_rounds > cfg.imp_rounds
    assert cfg.alphas[0] == 0.0 and cfg.alphas[-1] == 1.0 and len(cfg.alphas) == 30
    with pytest.raises(LotteryLabError, match="model"):
        StabilityConfig(model="resnet")
    with pytest.raises(LotteryLabError, match="rewind_steps"):
        StabilityConfig(rewind_steps=(0, 5000))
    with pytest.raises(LotteryLabError, match="noise_seeds"):
        StabilityConfig(noise_seeds=(1, 1))
    with pytest.raises(LotteryLabError, match="kinds"):
        StabilityConfig(kinds=("dense", "winning"))
    with pytest.raises(LotteryLabError, match="preset"):
        StabilityConfig.for_preset("huge")


@pytest.mark.parametrize("field, value", [
    ("train", {"steps": 100}), ("rewind_steps", 100), ("rewind_steps", ()), ("rewind_steps", (0, 0)),
    ("rewind_steps", (0, 2.0)), ("rewind_steps", (True,)), ("rewind_steps", (-1,)), ("kinds", ()),
    ("kinds", "dense"), ("kinds", ("dense", "dense")), ("imp_rounds", 0), ("imp_rounds", 1.5),
    ("n_alphas", 1), ("n_alphas", 30.0), ("noise_seeds", (1, 2, 3)), ("noise_seeds", (-1, 2)),
    ("noise_seeds", (1, 2.5)), ("model", "resnet"),
])
def test_stability_config_validates_every_field_at_construction(field, value):
    with pytest.raises(LotteryLabError, match=field):
        StabilityConfig(**{field: value})


def test_stability_config_overrides():
    cfg = StabilityConfig.for_preset("full", n_alphas=5, kinds=["dense"], rewind_steps=[0, 10], model="conv")
    assert cfg.model == "conv" and cfg.kinds == ("dense",) and cfg.rewind_steps == (0, 10)   # lists become tuples
    assert len(cfg.alphas) == 5 and hash(cfg) == hash(dataclasses.replace(cfg))
    with pytest.raises(LotteryLabError, match="num_alphas"):
        StabilityConfig.for_preset("quick", num_alphas=5)   # the old name is refused, not ignored
    with pytest.raises(LotteryLabError, match="rewind_steps"):
        StabilityConfig.for_preset("quick", rewind_steps=(0, 1000))   # quick trains 1,000 steps


# --- instability analysis --------------------------------------------------------------------------------
def tiny_split(n=90):
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g)
    return Split(X, y, X[:30], y[:30], X[:40], y[:40])


def test_instability_endpoints_are_the_two_trained_copies():
    data = tiny_split()
    cfg = TrainConfig(steps=6, batch_size=30, eval_every=3)
    start = lenet_300_100(seed=0).state_dict()
    mask = random_mask_like(Mask.ones_like(lenet_300_100(seed=0)), torch.Generator().manual_seed(0))
    out = instability(lenet_300_100, start, data, cfg, seeds=(1, 2), mask=mask, alphas=[0.0, 0.5, 1.0])
    assert isinstance(out, InstabilityResult)
    assert out.end_errors == pytest.approx((1 - out.final_test_acc[0], 1 - out.final_test_acc[1]))
    assert out.barrier == error_barrier(out.alphas, out.error)
    for state in out.states:
        assert all(bool((state[n][~m] == 0).all()) for n, m in mask.items())
    assert not torch.equal(out.states[0]["fc1.weight"], out.states[1]["fc1.weight"])  # different SGD noise


def boom(*args, **kwargs):
    raise AssertionError("training started before the bad input was noticed")


@pytest.mark.parametrize("change, match", [
    ({"seeds": (1, 1)}, "seeds"), ({"seeds": (1,)}, "seeds"), ({"seeds": (-1, 2)}, "seeds"),
    ({"start_step": 6}, "start_step"), ({"start_step": -3}, "start_step"),
    ({"mask": {"fc1.weight": torch.ones(300, 784)}}, "mask"),
    ({"mask": Mask({"fc1.weight": torch.ones(3, 3)})}, "mask for 'fc1.weight'"),
    ({"alphas": [0.0, 0.5]}, "alphas must include both endpoints"), ({"alphas": [[0.0, 1.0]]}, "alphas"),
    ({"config": {"steps": 6}}, "config"), ({"start_state": [1, 2]}, "start_state"),
    ({"model_fn": "lenet"}, "model_fn"), ({"data": (1, 2)}, "data"), ({"progress": "off"}, "progress"),
    ({"device": "gpu"}, "device"),
])
def test_instability_bad_input_raises_before_training(monkeypatch, change, match):
    monkeypatch.setattr(stability, "train", boom)
    args = {"model_fn": lenet_300_100, "start_state": lenet_300_100(seed=0).state_dict(), "data": tiny_split(),
            "config": TrainConfig(steps=6, batch_size=30, eval_every=3), "seeds": (1, 2), **change}
    with pytest.raises(LotteryLabError, match=match):
        instability(args.pop("model_fn"), args.pop("start_state"), args.pop("data"), args.pop("config"), **args)


@pytest.mark.parametrize("change, match", [
    ({"config": TrainConfig()}, "config must be a StabilityConfig"), ({"seed": -1}, "seed"),
    ({"seed": 0.5}, "seed"), ({"progress": "off"}, "progress"), ({"checkpoint": 3}, "checkpoint"),
    ({"device": "gpu"}, "device"), ({"data": {"X_train": torch.zeros(3)}}, "data"),
])
def test_run_instability_bad_input_raises_before_training(monkeypatch, change, match):
    monkeypatch.setattr(stability, "train", boom)
    monkeypatch.setattr(stability, "run_imp", boom)
    cfg = StabilityConfig(train=TrainConfig(steps=4, batch_size=30, eval_every=2), rewind_steps=(0,), n_alphas=2)
    args = {"data": tiny_split(), "config": cfg, "seed": 0, **change}
    with pytest.raises(LotteryLabError, match=match):
        run_instability(args.pop("data"), args.pop("config"), **args)


class CountingBar:
    """A tqdm-like bar that counts its updates."""

    n = 0

    def update(self, k=1):
        self.n += k


def test_full_preset_code_path_runs_tiny_and_resumes(tmp_path, monkeypatch):
    """The ConvNet path, at a tiny size on CPU; a checkpointed run resumes without training."""
    data = tiny_split()
    cfg = StabilityConfig.for_preset("full", train=TrainConfig(steps=4, batch_size=30, eval_every=2,
                                                                optimizer="sgd", lr=0.01),
                                     rewind_steps=(0, 2), imp_rounds=1, n_alphas=3, model="conv")
    assert isinstance(cfg.model_fn(0), ConvNet)
    ckpt = tmp_path / "stab.pt"
    bar = CountingBar()
    run = run_instability(data, cfg, seed=0, checkpoint=ckpt, progress=bar)
    # every optimiser step counted once: at k = 0, IMP (4 dense + 4 ticket steps), then 2 copies x 3 kinds x 4
    # steps; at k = 2, IMP (4 + 2 steps from k) and 2 copies x 3 kinds x 2 steps
    assert bar.n == (8 + 24) + (6 + 12)
    assert [(r["rewind_step"], r["kind"]) for r in run.records] == [
        (k, kind) for k in (0, 2) for kind in ("dense", "ticket", "random")]
    for k in (0, 2):
        ticket, random = run.record("ticket", k), run.record("random", k)
        assert run.record("dense", k)["density"] == 1.0
        assert ticket["density"] < 1.0 and random["density"] == pytest.approx(ticket["density"])
        assert len(ticket["error"]) == 3
        assert ticket["barrier"] == error_barrier(ticket["alphas"], ticket["error"])
    assert set(run.barrier_table()) == {"dense", "ticket", "random"}

    monkeypatch.setattr(stability, "train", boom)       # a finished run must not train again
    monkeypatch.setattr(stability, "run_imp", boom)
    resumed_bar = CountingBar()
    again = run_instability(data, cfg, seed=0, checkpoint=ckpt, progress=resumed_bar)
    assert again.records == run.records and resumed_bar.n == bar.n   # the finished work is counted as done
    with pytest.raises(LotteryLabError, match="no record"):
        run.record("dense", 1)


def test_an_interrupted_run_resumes_after_the_last_finished_kind(tmp_path, monkeypatch):
    data = tiny_split()
    cfg = StabilityConfig(train=TrainConfig(steps=4, batch_size=30, eval_every=2), rewind_steps=(0, 2),
                          kinds=("dense",), n_alphas=3)
    ckpt = tmp_path / "stab.pt"
    full = run_instability(data, cfg, seed=0)
    calls = []
    real_instability = stability.instability

    def stop_at_k2(*args, **kwargs):
        if kwargs["start_step"] == 2:
            raise KeyboardInterrupt
        calls.append(kwargs["start_step"])
        return real_instability(*args, **kwargs)

    monkeypatch.setattr(stability, "instability", stop_at_k2)
    with pytest.raises(KeyboardInterrupt):
        run_instability(data, cfg, seed=0, checkpoint=ckpt)
    assert calls == [0] and ckpt.exists()           # k = 0 was saved before the interruption
    calls.clear()
    monkeypatch.setattr(stability, "instability", lambda *a, **kw: calls.append(kw["start_step"]) or real_instability(*a, **kw))
    resumed = run_instability(data, cfg, seed=0, checkpoint=ckpt)
    assert calls == [2] and resumed.records == full.records


def test_checkpoint_key_holds_the_data_and_stale_or_wrong_files_are_recomputed(tmp_path):
    data = tiny_split()
    cfg = StabilityConfig(train=TrainConfig(steps=4, batch_size=30, eval_every=2), rewind_steps=(0,),
                          kinds=("dense",), n_alphas=2)
    ckpt = tmp_path / "stab.pt"
    first = run_instability(data, cfg, seed=0, checkpoint=ckpt)
    other = Split(data.X_train + 1, data.y_train, data.X_val, data.y_val, data.X_test, data.y_test)
    with pytest.warns(UserWarning, match="different configuration"):   # another data split: not reused
        run_instability(other, cfg, seed=0, checkpoint=ckpt)
    key = experiment_key(stability.VERSION, config=cfg, data=data, model=lenet_300_100, seeds=[0], device="cpu",
                         dtype=torch.float32)
    save_results(ckpt, {"not": "a StabilityRun"}, key=key)
    with pytest.warns(UserWarning, match="wrong shape"):
        again = run_instability(data, cfg, seed=0, checkpoint=ckpt)
    assert again.records == first.records
    ckpt.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        assert run_instability(data, cfg, seed=0, checkpoint=ckpt).records == first.records


def test_dense_only_run_uses_theta_k_from_k_training_steps():
    data = tiny_split()
    cfg = StabilityConfig(train=TrainConfig(steps=4, batch_size=30, eval_every=2), rewind_steps=(0, 2),
                          kinds=("dense",), n_alphas=2)
    run = run_instability(data, cfg, seed=0)
    assert [r["kind"] for r in run.records] == ["dense", "dense"]
    assert run.record("dense", 0)["error"] != run.record("dense", 2)["error"]


def test_theta_k_is_the_same_with_or_without_imp():
    """The dense-only path trains k steps of data order `seed`; IMP's dense run snapshots step k of the same
    order (rewinding continues the data order), so the dense records agree to the bit either way."""
    data = tiny_split()
    dense = StabilityConfig(train=TrainConfig(steps=5, batch_size=30, eval_every=5), rewind_steps=(0, 2, 4),
                            kinds=("dense",), n_alphas=3)
    both = dataclasses.replace(dense, kinds=("dense", "ticket"), imp_rounds=1)
    a, b = run_instability(data, dense, seed=3), run_instability(data, both, seed=3)
    for k in dense.rewind_steps:
        assert a.record("dense", k) == b.record("dense", k)
    assert a.record("dense", 0) != a.record("dense", 4)


def test_conv_net_is_seeded_and_glorot():
    a, b = conv_net(seed=3), conv_net(seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert float(a.conv1.bias.detach().abs().sum()) == 0.0
    assert a(torch.zeros(2, 784)).shape == (2, 10)


def test_plots_return_axes():
    rec = [{"kind": kind, "rewind_step": k, "alphas": [0.0, 0.5, 1.0], "error": [0.1, 0.12, 0.1],
            "loss": [0.3, 0.4, 0.3], "barrier": 0.02} for kind in ("dense", "ticket") for k in (0, 50)]
    ax = plot_path(rec, metric="loss", title="t")
    assert ax.get_ylabel() == "test loss" and len(ax.lines) == 4
    ax = plot_barriers(rec)
    assert len(ax.lines) == 3  # two kinds and the threshold
    with pytest.raises(LotteryLabError, match="metric"):
        plot_path(rec, metric="accuracy")
    assert [line.get_color() for line in plot_path(rec[:1]).lines] == ["#2ca02c"]   # the course palette


def test_plots_bad_input():
    rec = {"kind": "dense", "rewind_step": 0, "alphas": [0.0, 1.0], "error": [0.1, 0.1], "barrier": 0.0}
    with pytest.raises(LotteryLabError, match="records must be a non-empty list"):
        plot_path([])
    with pytest.raises(LotteryLabError, match="records must be a non-empty list"):
        plot_barriers(rec)                          # one record, not a list of them
    with pytest.raises(LotteryLabError, match=r"records: a record lacks \['loss'\]"):
        plot_path([rec], metric="loss")
    with pytest.raises(LotteryLabError, match="scale"):
        plot_path([rec], scale=0)
    with pytest.raises(LotteryLabError, match="threshold"):
        plot_barriers([rec], threshold=float("nan"))


def test_stability_run_record_and_table():
    run = StabilityRun(seed=0, config=StabilityConfig(), records=[{"kind": "dense", "rewind_step": 0, "barrier": 0.1}])
    assert run.barrier_table() == {"dense": {0: 0.1}}
    with pytest.raises(LotteryLabError, match="kind='ticket', rewind_step=0"):
        run.record("ticket", 0)


# --- residual-sign experiment --------------------------------------------------------------------------
RCFG = ResidualSignConfig(dim=5, depth=3, n_points=40, steps=60, lr=2e-2, bias_init=0.1)


def test_minus_on_x_mirrors_plus_on_minus_x_exactly():
    """Same seeds, mirrored init: the two trajectories are exact mirrors at every step (bitwise)."""
    x, t = make_task(RCFG, seed=0)
    p = init_params(RCFG, seeds=[0, 1, 2, 3])
    minus = train_residual(RCFG, x, t, sign=-1, params=p)
    plus = train_residual(RCFG, -x, t, sign=+1, params=mirror_params(p))
    assert torch.equal(minus.curve, plus.curve)
    assert torch.equal(minus.params["M"], -plus.params["M"]) and torch.equal(minus.params["w"], -plus.params["w"])
    assert torch.equal(minus.params["b"], plus.params["b"]) and torch.equal(minus.params["c"], plus.params["c"])
    assert float(minus.curve[-1].mean()) < float(minus.curve[0].mean())  # it does train


def test_flipping_the_bias_too_breaks_the_mirror_unless_the_bias_starts_at_zero():
    x, t = make_task(RCFG, seed=0)
    p = init_params(RCFG, seeds=[0, 1])
    minus = train_residual(RCFG, x, t, sign=-1, params=p)
    wrong = train_residual(RCFG, -x, t, sign=+1, params=mirror_params(p, flip_bias=True))
    assert not torch.allclose(minus.curve[0], wrong.curve[0])  # differs already before training
    zero_b = ResidualSignConfig(dim=5, depth=3, n_points=40, steps=20, bias_init=0.0)
    p0 = init_params(zero_b, seeds=[0, 1])
    a = train_residual(zero_b, x, t, sign=-1, params=p0)
    b = train_residual(zero_b, -x, t, sign=+1, params=mirror_params(p0, flip_bias=True))
    assert torch.equal(a.curve, b.curve)


def test_hidden_states_flip_sign_block_by_block():
    x, _ = make_task(RCFG, seed=1)
    p = init_params(RCFG, seeds=[5])
    assert torch.equal(forward(p, x, -1), forward(mirror_params(p), -x, +1))
    assert not torch.allclose(forward(p, x, -1), forward(p, x, +1))


def test_batched_training_equals_training_each_seed_alone():
    x, t = make_task(RCFG, seed=0)
    together = train_residual(RCFG, x, t, sign=-1, seeds=[4, 7, 9]).final_loss
    alone = torch.cat([train_residual(RCFG, x, t, sign=-1, seeds=[s]).final_loss for s in (4, 7, 9)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-6)


def test_ks_statistic_matches_a_brute_force_ecdf_difference():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(37, generator=g), torch.randn(23, generator=g) + 0.4
    a[:3] = b[:3]  # some ties across samples
    grid = torch.cat([a, b])
    brute = max(abs(float((a <= v).double().mean() - (b <= v).double().mean())) for v in grid)
    assert ks_statistic(a, b) == pytest.approx(brute)


def test_ks_permutation_test():
    g = torch.Generator().manual_seed(1)
    same = ks_permutation_test(torch.randn(200, generator=g), torch.randn(200, generator=g), n_permutations=500)
    shifted = ks_permutation_test(torch.randn(200, generator=g), torch.randn(200, generator=g) + 1.0,
                                  n_permutations=500)
    assert same[1] > 0.05 and shifted[1] == pytest.approx(1 / 501)
    assert 0 <= same[0] < shifted[0] <= 1
    assert ks_permutation_test([1.0, 2.0], [3.0, 4.0], n_permutations=50, seed=3) == \
        ks_permutation_test([1.0, 2.0], [3.0, 4.0], n_permutations=50, seed=3)


def test_residual_bad_input_raises():
    x, t = make_task(RCFG, seed=0)
    with pytest.raises(LotteryLabError, match="empty"):
        ks_statistic([], [1.0])
    with pytest.raises(LotteryLabError, match="NaN"):
        ks_permutation_test([float("nan")], [1.0])
    with pytest.raises(LotteryLabError, match="sign"):
        train_residual(RCFG, x, t, sign=2, seeds=[0])
    with pytest.raises(LotteryLabError, match="exactly one"):
        train_residual(RCFG, x, t, sign=1)
    with pytest.raises(LotteryLabError, match="non-empty"):
        train_residual(RCFG, x[:0], t[:0], sign=1, seeds=[0])
    with pytest.raises(LotteryLabError, match="shape"):
        forward(init_params(RCFG, seeds=[0]), x[:, :2], 1)
    with pytest.raises(LotteryLabError, match="at least one seed"):
        init_params(RCFG, seeds=[])
    with pytest.raises(LotteryLabError, match="lacks"):
        mirror_params({"M": torch.ones(1)})
    with pytest.raises(LotteryLabError, match="depth"):
        ResidualSignConfig(depth=0)


@pytest.mark.parametrize("field, value", [("dim", 0), ("n_points", 2.5), ("steps", -1), ("n_seeds", 0),
                                          ("lr", float("nan")), ("init_scale", 0.0), ("bias_init", float("inf")),
                                          ("bias_init", "0.1")])
def test_residual_config_validates_at_construction(field, value):
    with pytest.raises(LotteryLabError, match=field):
        ResidualSignConfig(**{field: value})


def test_residual_sign_more_bad_input():
    x, t = make_task(RCFG, seed=0, device="cpu")
    with pytest.raises(LotteryLabError, match="num_seeds"):
        ResidualSignConfig.for_preset("quick", num_seeds=10)        # the old name is refused
    assert ResidualSignConfig.for_preset("full", n_seeds=10).n_seeds == 10
    with pytest.raises(LotteryLabError, match="seed"):
        make_task(RCFG, seed=-1)
    with pytest.raises(LotteryLabError, match="config"):
        make_task({"dim": 3}, seed=0)
    with pytest.raises(LotteryLabError, match="device"):
        make_task(RCFG, seed=0, device="gpu")
    with pytest.raises(LotteryLabError, match="seeds must be non-negative integers"):
        init_params(RCFG, seeds=[0.5, 1.5])
    with pytest.raises(LotteryLabError, match="distinct"):
        init_params(RCFG, seeds=[1, 1])
    assert torch.equal(init_params(RCFG, seeds=np.arange(3))["M"], init_params(RCFG, seeds=[0, 1, 2])["M"])
    with pytest.raises(LotteryLabError, match="t of shape"):
        train_residual(RCFG, x, t[:, None], sign=1, seeds=[0])      # (n, 1) would broadcast to (n, n)
    with pytest.raises(LotteryLabError, match="config"):
        train_residual(None, x, t, sign=1, seeds=[0])
    with pytest.raises(LotteryLabError, match="sign"):
        train_residual(RCFG, x, t, sign=0, params=init_params(RCFG, seeds=[0]))
    with pytest.raises(LotteryLabError, match="do not fit x"):
        train_residual(RCFG, x[:, :4], t, sign=1, seeds=[0])
    with pytest.raises(LotteryLabError, match="inconsistent shapes"):
        mirror_params({**init_params(RCFG, seeds=[0, 1]), "c": torch.zeros(3)})
    with pytest.raises(LotteryLabError, match="n_permutations"):
        ks_permutation_test([1.0], [2.0], n_permutations=0)
    with pytest.raises(LotteryLabError, match="seed"):
        ks_permutation_test([1.0], [2.0], seed=-2)
    with pytest.raises(LotteryLabError, match="sample b must be a sequence of numbers"):
        ks_statistic([1.0], ["x"])
    with pytest.raises(LotteryLabError, match="labels"):
        plot_qq([1.0, 2.0], [1.0, 2.0], labels="ab")
    with pytest.raises(LotteryLabError, match="sample a is empty"):
        plot_qq([], [1.0])
    with pytest.raises(LotteryLabError, match="samples must be a non-empty dict"):
        plot_ecdf([1.0, 2.0])
    with pytest.raises(LotteryLabError, match="sample x contains NaN"):
        plot_ecdf({"x": [float("nan")]})


def test_residual_plots_return_axes():
    ax = plot_qq([1.0, 2.0, 3.0], [1.0, 2.5, 3.5], labels=("minus", "plus"))
    assert ax.get_ylabel() == "plus quantiles" and ax.get_xscale() == "log"
    ax = plot_ecdf({"a": [1.0, 2.0], "b": [2.0, 3.0]})
    assert len(ax.lines) == 2
