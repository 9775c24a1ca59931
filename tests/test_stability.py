"""Interpolation, error barrier, instability analysis and the residual-sign helpers."""
import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from lotterylab import stability
from lotterylab.data import Split
from lotterylab.errors import LotteryLabError
from lotterylab.models import ConvNet, LeNet300100, conv_net, lenet_300_100
from lotterylab.pruning import Mask, random_mask_like
from lotterylab.residual import (
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
from lotterylab.stability import (
    StabilityConfig,
    error_barrier,
    evaluate_path,
    instability,
    interpolate,
    plot_barriers,
    plot_path,
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


def test_config_validation():
    cfg = StabilityConfig.for_preset("quick")
    assert cfg.model == "lenet" and cfg.rewind_steps[0] == 0
    assert StabilityConfig.for_preset("full").model == "conv"
    assert cfg.alphas[0] == 0.0 and cfg.alphas[-1] == 1.0 and len(cfg.alphas) == 30
    with pytest.raises(LotteryLabError, match="model"):
        StabilityConfig(model="resnet")
    with pytest.raises(LotteryLabError, match="rewind step"):
        StabilityConfig(rewind_steps=(0, 5000))
    with pytest.raises(LotteryLabError, match="noise_seeds"):
        StabilityConfig(noise_seeds=(1, 1))
    with pytest.raises(LotteryLabError, match="kinds"):
        StabilityConfig(kinds=("dense", "winning"))
    with pytest.raises(LotteryLabError, match="preset"):
        StabilityConfig.for_preset("huge")


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
    assert out["end_errors"] == pytest.approx((1 - out["final_test_acc"][0], 1 - out["final_test_acc"][1]))
    for state in out["states"]:
        assert all(bool((state[n][~m] == 0).all()) for n, m in mask.items())
    assert not torch.equal(out["states"][0]["fc1.weight"], out["states"][1]["fc1.weight"])  # different SGD noise
    with pytest.raises(LotteryLabError, match="two different"):
        instability(lenet_300_100, start, data, cfg, seeds=(1, 1))


def test_full_preset_code_path_runs_tiny_and_resumes(tmp_path, monkeypatch):
    """The `full` preset's ConvNet path, at a tiny size on CPU; a checkpointed run resumes without training."""
    data = tiny_split()
    cfg = StabilityConfig.for_preset("full", train=TrainConfig(steps=4, batch_size=30, eval_every=2,
                                                                optimizer="sgd", lr=0.01),
                                     rewind_steps=(0, 2), imp_rounds=1, num_alphas=3)
    assert isinstance(cfg.model_fn(0), ConvNet)
    ckpt = tmp_path / "stab.pt"
    run = run_instability(data, cfg, seed=0, checkpoint=ckpt, progress="off")
    assert [(r["rewind_step"], r["kind"]) for r in run.records] == [
        (k, kind) for k in (0, 2) for kind in ("dense", "ticket", "random")]
    for k in (0, 2):
        ticket, random = run.record("ticket", k), run.record("random", k)
        assert run.record("dense", k)["density"] == 1.0
        assert ticket["density"] < 1.0 and random["density"] == pytest.approx(ticket["density"])
        assert len(ticket["error"]) == 3
        assert ticket["barrier"] == error_barrier(ticket["alphas"], ticket["error"])
    assert set(run.barrier_table()) == {"dense", "ticket", "random"}

    def boom(*args, **kwargs):
        raise AssertionError("a finished run must not train again")

    monkeypatch.setattr(stability, "train", boom)
    monkeypatch.setattr(stability, "run_imp", boom)
    again = run_instability(data, cfg, seed=0, checkpoint=ckpt, progress="off")
    assert again.records == run.records
    with pytest.raises(LotteryLabError, match="no record"):
        run.record("dense", 1)


def test_dense_only_run_uses_theta_k_from_k_training_steps():
    data = tiny_split()
    cfg = StabilityConfig(train=TrainConfig(steps=4, batch_size=30, eval_every=2), rewind_steps=(0, 2),
                          kinds=("dense",), num_alphas=2)
    run = run_instability(data, cfg, seed=0, progress="off")
    assert [r["kind"] for r in run.records] == ["dense", "dense"]
    assert run.record("dense", 0)["error"] != run.record("dense", 2)["error"]


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


# --- residual-sign experiment --------------------------------------------------------------------------
RCFG = ResidualSignConfig(dim=5, depth=3, num_points=40, steps=60, lr=2e-2, bias_init=0.1)


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
    zero_b = ResidualSignConfig(dim=5, depth=3, num_points=40, steps=20, bias_init=0.0)
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
    same = ks_permutation_test(torch.randn(200, generator=g), torch.randn(200, generator=g), num_permutations=500)
    shifted = ks_permutation_test(torch.randn(200, generator=g), torch.randn(200, generator=g) + 1.0,
                                  num_permutations=500)
    assert same[1] > 0.05 and shifted[1] == pytest.approx(1 / 501)
    assert 0 <= same[0] < shifted[0] <= 1
    assert ks_permutation_test([1.0, 2.0], [3.0, 4.0], num_permutations=50, seed=3) == \
        ks_permutation_test([1.0, 2.0], [3.0, 4.0], num_permutations=50, seed=3)


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


def test_residual_plots_return_axes():
    ax = plot_qq([1.0, 2.0, 3.0], [1.0, 2.5, 3.5], labels=("minus", "plus"))
    assert ax.get_ylabel() == "plus quantiles" and ax.get_xscale() == "log"
    ax = plot_ecdf({"a": [1.0, 2.0], "b": [2.0, 3.0]})
    assert len(ax.lines) == 2
