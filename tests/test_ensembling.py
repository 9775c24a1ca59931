"""The batched many-seed trainer equals a plain loop over seeds, and its sweeps resume and validate."""
import math

import pytest
import torch

from lotterylab import ensembling as E
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
])
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(LotteryLabError, match=arg):
        call()
