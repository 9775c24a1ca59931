"""The batched many-seed trainer equals a plain loop over seeds; sweeps resume and validate; the analyses are right."""
import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch

from lotterylab import ensembling as E
from lotterylab import scaling as S
from lotterylab.ensembling import FitConfig, Params, forward, make_data, train_many
from lotterylab.errors import LotteryLabError

SMALL = E.FitConfig(steps=120, decay_every=40, n_points=64)


@pytest.mark.parametrize("activation", E.ACTIVATIONS)
@pytest.mark.parametrize("target", ["x^2", "sin", "x1*x2*x3"])
def test_batched_training_matches_a_loop_of_nn_modules(activation, target):
    seeds = [0, 3, 11]
    fast = E.train_many(seeds, 3, SMALL, activation=activation, target=target, dtype="float64")
    slow = E.train_naive(seeds, 3, SMALL, activation=activation, target=target, dtype="float64")
    for name in "wbvc":
        torch.testing.assert_close(getattr(fast.params, name), getattr(slow.params, name), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(fast.losses, slow.losses, rtol=1e-6, atol=1e-9)
    assert fast.losses.dtype == torch.float64
    assert not torch.equal(fast.params.w[0], fast.params.w[1])  # seeds really differ


def test_chunking_does_not_change_the_result():
    a = E.train_many(range(7), 4, SMALL, dtype="float64", chunk_elements=64 * 4 * 2)   # chunks of 2 seeds
    b = E.train_many(range(7), 4, SMALL, dtype="float64", chunk_elements=10 ** 9)       # one chunk
    torch.testing.assert_close(a.losses, b.losses, rtol=1e-12, atol=0)


def test_init_is_the_reference_module_init():
    p = E.init_params([5, 9], 6, in_dim=2)
    for k, seed in enumerate([5, 9]):
        net = E.reference_net(seed, 6, in_dim=2)
        assert torch.equal(p.w[k], net[0].weight) and torch.equal(p.b[k], net[0].bias)
        assert torch.equal(p.v[k], net[2].weight[0]) and torch.equal(p.c[k:k + 1], net[2].bias.detach())


def test_forward_matches_the_module():
    p = E.init_params([1, 2], 5, dtype="float64")
    x, _ = E.make_data("x^2", SMALL, dtype="float64")
    out = E.forward(p, x, "tanh")
    for k, seed in enumerate([1, 2]):
        torch.testing.assert_close(out[k], E.reference_net(seed, 5, "tanh", dtype="float64")(x)[:, 0].detach())


def test_training_lowers_the_loss_and_float32_tracks_float64():
    cfg = E.FitConfig(steps=400, decay_every=200, n_points=100)
    f32 = E.train_many(range(4), 4, cfg)
    f64 = E.train_many(range(4), 4, cfg, dtype="float64")
    x, y = E.make_data("x^2", cfg, dtype="float64")
    init = ((E.forward(E.init_params(range(4), 4, dtype="float64"), x) - y) ** 2).mean(1)
    assert (f64.losses < init / 5).all()
    torch.testing.assert_close(f32.losses.double(), f64.losses, rtol=0.05, atol=1e-4)


def test_targets_and_data():
    x, y = E.make_data("x^2", E.FitConfig(n_points=5))
    assert x[:, 0].tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0] and y.tolist() == [4.0, 1.0, 0.0, 1.0, 4.0]
    x, y = E.make_data("x1*x2*x3*x4*x5", E.FitConfig(n_points=10), dtype="float64")
    assert x.shape == (10, 5) and torch.allclose(y, x.prod(1)) and (x.abs() <= 2).all()
    for t in E.TARGETS:
        _, y = E.make_data(t, E.FitConfig(n_points=9))
        assert y.shape == (9,) and torch.isfinite(y).all()
    assert E.input_dim("x1*x2") == 2 and E.input_dim("cos") == 1


def test_diverged_seeds_are_counted_not_hidden():
    run = E.train_many(range(3), 2, E.FitConfig(steps=30, lr=1e3, n_points=20, interval=(-9.0, 9.0)),
                       target="exp(x^2)")
    assert run.n_diverged == 3 and not run.finite.any()


def test_compile_falls_back_to_eager_when_unavailable(monkeypatch):
    def broken_compile(fn, **kwargs):
        def raises(*args, **kw):
            raise RuntimeError("no C++ compiler")
        return raises

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(E, "_COMPILED", {})
    with pytest.warns(UserWarning, match="eager"):
        run = E.train_many(range(3), 2, SMALL, compile=True, dtype="float64")
    ref = E.train_many(range(3), 2, SMALL, dtype="float64")
    assert not run.compiled
    torch.testing.assert_close(run.losses, ref.losses)


def test_lr_schedule_is_the_papers():
    cfg = E.FitConfig()
    assert (cfg.steps, cfg.lr, cfg.decay_every, cfg.decay) == (50_000, 1e-2, 10_000, 0.2)
    assert math.isclose(cfg.lr_at(9_999), 1e-2) and math.isclose(cfg.lr_at(10_000), 2e-3)
    assert math.isclose(cfg.lr_at(49_999), 1e-2 * 0.2 ** 4)
    assert E.FitConfig.for_preset("quick").steps < cfg.steps


@pytest.mark.parametrize("call, arg", [
    (lambda: E.train_many(range(2), 0), "width"),
    (lambda: E.train_many(range(2), 2, activation="gelu"), "activation"),
    (lambda: E.train_many(range(2), 2, target="x^5"), "target"),
    (lambda: E.train_many(range(2), 2, dtype="float16"), "dtype"),
    (lambda: E.train_many([], 2), "seeds"),
    (lambda: E.train_many([1, 1], 2), "seeds"),
    (lambda: E.FitConfig(steps=0), "steps"),
    (lambda: E.FitConfig(lr=float("nan")), "lr"),
    (lambda: E.FitConfig(interval=(1.0, -1.0)), "interval"),
    (lambda: E.FitConfig.for_preset("huge"), "preset"),
    (lambda: E.make_data("exp(x^2)", E.FitConfig(n_points=8, interval=(-20.0, 20.0))), "not finite"),
])
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(LotteryLabError, match=arg):
        call()


# ------------------------------------------------------------------ sweeps and analyses (lotterylab.scaling)

TINY = S.SweepConfig(activations=("silu", "relu"), widths=(1, 3), n_seeds=4,
                     fit=FitConfig(steps=40, decay_every=20, n_points=32))


def test_sweep_checkpoints_resumes_and_matches_train_many(tmp_path):
    first = S.run_sweep(TINY, tmp_path)
    assert sorted(first.recomputed) == sorted((a, n) for a in TINY.activations for n in TINY.widths)
    assert len(list(tmp_path.glob("*.pt"))) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = S.run_sweep(TINY, tmp_path)
    assert again.recomputed == []
    direct = train_many(range(4), 3, TINY.fit, activation="relu")
    torch.testing.assert_close(again.runs[("relu", 3)].losses, direct.losses)
    torch.testing.assert_close(first.runs[("silu", 1)].params.w, again.runs[("silu", 1)].params.w)


def test_interrupted_sweep_keeps_finished_pairs(tmp_path):
    S.run_sweep(dataclasses.replace(TINY, widths=(1,)), tmp_path)       # "interrupted" after width 1
    resumed = S.run_sweep(TINY, tmp_path)
    assert sorted(resumed.recomputed) == [("relu", 3), ("silu", 3)]


def test_stale_or_corrupt_cache_is_recomputed(tmp_path):
    S.run_sweep(TINY, tmp_path)
    path = tmp_path / "x_2_silu_N3.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="unreadable"):
        sweep = S.run_sweep(TINY, tmp_path)
    assert sweep.recomputed == [("silu", 3)]
    longer = dataclasses.replace(TINY, fit=dataclasses.replace(TINY.fit, steps=41))
    with pytest.warns(UserWarning, match="different configuration"):
        assert len(S.run_sweep(longer, tmp_path).recomputed) == 4


def test_wrong_shapes_in_cache_are_recomputed(tmp_path):
    from lotterylab.results import load_results, save_results

    S.run_sweep(TINY, tmp_path)
    path = tmp_path / "x_2_relu_N1.pt"
    key = S._key(TINY, "relu", 1, torch.device("cpu"))
    payload = load_results(path, key=key)
    payload["losses"] = payload["losses"][:2]
    save_results(path, payload, key=key)
    with pytest.warns(UserWarning, match="wrong shape"):
        assert S.run_sweep(TINY, tmp_path).recomputed == [("relu", 1)]


def test_medians_skip_and_count_diverged_seeds():
    assert S.median_loss([1.0, 3.0, np.nan, np.inf, 2.0]) == (2.0, 2)
    with pytest.raises(LotteryLabError, match="diverged"):
        S.median_loss([np.nan])
    sweep = S.Sweep(TINY)
    for a in TINY.activations:
        for n in TINY.widths:
            losses = torch.tensor([1.0, 2.0, float("nan"), 3.0]) / n
            sweep.runs[(a, n)] = S.ManyRun([0, 1, 2, 3], a, "x^2", None, losses, 0.0, False)
    widths, med, bad = sweep.medians("silu")
    assert widths.tolist() == [1, 3] and np.allclose(med, [2.0, 2 / 3]) and bad.tolist() == [1, 1]
    assert sweep.n_diverged == 4


def test_power_law_fit():
    n = np.array([1, 2, 4, 8, 16, 32])
    fit = S.fit_power_law(n, 3.0 * n ** -1.5, lo=2, hi=16)
    assert fit.exponent == pytest.approx(-1.5) and fit.prefactor == pytest.approx(3.0)
    assert (fit.lo, fit.hi) == (2, 16) and fit(4) == pytest.approx(3.0 / 8)
    with pytest.raises(LotteryLabError, match="fit range"):
        S.fit_power_law(n, n ** -1.0, lo=100)


def test_harmonic_ensemble_is_the_optimal_combination_of_independent_errors():
    assert np.allclose(S.harmonic_ensemble([2.0], [6.0], n=5), 1.5)
    # check the formula against real least squares on independent noise
    rng = np.random.default_rng(0)
    e1, e2 = rng.normal(0, 1, 200_000), rng.normal(0, 2, 200_000)
    l1, l2 = (e1 ** 2).mean(), (e2 ** 2).mean()
    w = l2 / (l1 + l2)                                   # best weight for independent errors
    assert ((w * e1 + (1 - w) * e2) ** 2).mean() == pytest.approx(S.harmonic_ensemble([l1], [l2], n=1)[0], rel=0.01)
    out = S.harmonic_ensemble([1.0, np.nan], n=100)
    assert np.all(out == 0.5)


def _symmetric_net(pairs, c=0.0):
    w, b, v = [], [], []
    for wi, bi, vi in pairs:
        w += [wi, -wi]
        b += [bi, bi]
        v += [vi, vi]
    t = lambda z: torch.tensor(z, dtype=torch.float64)
    return Params(t(w)[None, :, None], t(b)[None], t(v)[None], t([c]))


def test_pairs_and_tickets_of_a_symmetric_network():
    net = _symmetric_net([(0.3, -0.5, 2.0), (1.5, 0.4, 0.1), (0.7, 1.0, 0.5)])
    perm = [5, 0, 3, 1, 4, 2]
    shuffled = Params(net.w[:, perm], net.b[:, perm], net.v[:, perm], net.c)
    pairs = S.pair_neurons(shuffled.w[0], shuffled.b[0])
    assert sorted(tuple(sorted(perm[k] for k in p)) for p in pairs) == [(0, 1), (2, 3), (4, 5)]
    x, y = make_data("x^2", FitConfig(n_points=101), dtype="float64")
    info = S.ticket_analysis(shuffled, 0, x, y, "silu")
    assert info["r2"].shape == (3,) and np.all(info["r2"] > 0.9) and np.all(info["r2"] <= 1)
    assert np.allclose(np.diag(info["correlation"]), 1.0)
    small, loss = S.distill_width2(shuffled, 0, x, y, "silu")
    assert small.w.shape == (1, 2, 1)
    best = int(np.argmax(info["r2"]))
    assert loss == pytest.approx((info["errors"][best] ** 2).mean(), rel=1e-6)   # same fit, as a network
    assert float(((forward(small, x) - y) ** 2).mean()) == pytest.approx(loss)


def test_canonical_width2_removes_the_permutation():
    p = train_many(range(5), 2, FitConfig(steps=20, n_points=16)).params
    swapped = Params(p.w.flip(1), p.b.flip(1), p.v.flip(1), p.c)
    assert np.allclose(S.canonical_width2(p), S.canonical_width2(swapped))
    assert S.canonical_width2(p).shape == (5, 7)
    with pytest.raises(LotteryLabError, match="width-2"):
        S.canonical_width2(train_many(range(2), 3, FitConfig(steps=2, n_points=8)).params)


def test_pca_finds_the_main_direction():
    t = np.linspace(-1, 1, 50)
    data = np.stack([t, 2 * t, np.zeros_like(t)], 1) + 1e-6 * np.random.default_rng(0).normal(size=(50, 3))
    scores, comps, ratio = S.pca(data, k=2)
    assert scores.shape == (50, 2) and ratio[0] > 0.999
    assert abs(abs(comps[0] @ np.array([1, 2, 0]) / np.sqrt(5)) - 1) < 1e-6


def test_plots_return_axes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = S.run_sweep(TINY, tmp_path)
    fit = S.fit_power_law(*sweep.medians("silu")[:2])
    x, y = make_data("x^2", TINY.fit)
    p = sweep.runs[("silu", 3)].params
    fig, axs = plt.subplots(2, 4)
    assert S.plot_scaling(sweep, fits={"silu": fit}, mark_width=3, ax=axs[0, 0]) is axs[0, 0]
    assert S.plot_loss_histograms({"a": sweep.losses("silu", 1)}, ax=axs[0, 1]) is axs[0, 1]
    assert S.plot_fitted_functions(p, [0, 1], x, y, ax=axs[0, 2]) is axs[0, 2]
    assert S.plot_neuron_scatter(p.w[0], p.b[0], p.v[0], ax=axs[0, 3]) is axs[0, 3]
    assert S.plot_pca(np.zeros((4, 2)), np.ones(4), ax=axs[1, 0]) is axs[1, 0]
    assert S.plot_ensembling(sweep.losses("silu", 3), sweep.losses("silu", 1), 2, ax=axs[1, 1]) is axs[1, 1]
    assert S.plot_ticket_errors(S.ticket_analysis(p, 0, x, y), x, ax=axs[1, 2]) is axs[1, 2]
    plt.close(fig)


@pytest.mark.parametrize("kwargs, arg", [
    ({"widths": (0,)}, "width"), ({"activations": ("gelu",)}, "activation"), ({"n_seeds": 0}, "n_seeds"),
    ({"target": "x^9"}, "target"), ({"dtype": "int8"}, "dtype"), ({"widths": ()}, "widths"),
])
def test_sweep_config_bad_input(kwargs, arg):
    with pytest.raises(LotteryLabError, match=arg):
        S.SweepConfig(**kwargs)
