"""The batched many-seed trainer equals a plain loop over seeds; the two-layer network equals nn.Module."""
import math

import numpy as np
import pytest
import torch

from lotterylab import many_seed as M
from lotterylab import two_layer as T
from lotterylab.errors import LotteryLabError
from lotterylab.many_seed import FitConfig, make_data, train_many, train_naive

SMALL = FitConfig(steps=120, decay_every=40, n_points=64)
F64 = {"dtype": torch.float64, "device": "cpu"}


@pytest.mark.parametrize("activation", T.ACTIVATIONS)
@pytest.mark.parametrize("target", ["x^2", "sin", "x1*x2*x3"])
def test_batched_training_matches_a_loop_of_nn_modules(activation, target):
    seeds = [0, 3, 11]
    fast = train_many(seeds, 3, SMALL, activation=activation, target=target, **F64)
    slow = train_naive(seeds, 3, SMALL, activation=activation, target=target, **F64)
    for name in "wbvc":
        torch.testing.assert_close(getattr(fast.params, name), getattr(slow.params, name), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(fast.losses, slow.losses, rtol=1e-6, atol=1e-9)
    assert fast.losses.dtype == torch.float64
    assert not torch.equal(fast.params.w[0], fast.params.w[1])  # seeds really differ


def test_chunking_does_not_change_the_result():
    a = train_many(range(7), 4, SMALL, chunk_elements=64 * 4 * 2, **F64)   # chunks of 2 seeds (+1 padding)
    b = train_many(range(7), 4, SMALL, chunk_elements=10 ** 9, **F64)       # one chunk
    torch.testing.assert_close(a.losses, b.losses, rtol=1e-12, atol=0)


@pytest.mark.parametrize("seeds", [[2, 0, 5], range(2, 5), np.arange(3), torch.arange(3), np.array([4, 1], dtype=np.int32)])
def test_seeds_as_lists_ranges_numpy_and_torch(seeds):
    run = train_many(seeds, 2, FitConfig(steps=3, n_points=8), device="cpu")
    assert run.seeds == [int(s) for s in seeds]
    ref = train_many([int(s) for s in seeds], 2, FitConfig(steps=3, n_points=8), device="cpu")
    torch.testing.assert_close(run.losses, ref.losses)


def test_schedule_is_the_papers_and_matches_step_lr():
    cfg = FitConfig()
    assert (cfg.steps, cfg.lr, cfg.decay_every, cfg.decay) == (50_000, 1e-2, 10_000, 0.2)
    assert math.isclose(cfg.lr_at(9_999), 1e-2) and math.isclose(cfg.lr_at(10_000), 2e-3)
    assert math.isclose(cfg.lr_at(49_999), 1e-2 * 0.2 ** 4)
    sched = cfg.schedule()
    assert sched.shape == (50_000, 3) and sched.dtype == np.float64
    assert np.allclose(sched[[0, 9_999, 10_000, 49_999], 0], [cfg.lr_at(k) for k in (0, 9_999, 10_000, 49_999)])
    assert math.isclose(sched[0, 1], 0.1) and math.isclose(sched[0, 2], math.sqrt(1 - 0.999))
    assert FitConfig.for_preset("quick").steps < cfg.steps


def test_for_preset_takes_overrides():
    cfg = FitConfig.for_preset("full", steps=30, decay_every=10, n_points=16)
    assert (cfg.steps, cfg.decay_every, cfg.n_points, cfg.lr) == (30, 10, 16, 1e-2)
    assert FitConfig(interval=[-1, 1]).interval == (-1.0, 1.0)   # normalised to a tuple of floats


def test_compiled_step_indexes_one_device_schedule_and_compiles_once(monkeypatch):
    """Every step of the compiled path gets views of ONE schedule tensor made once (no per-step copies), one graph."""
    from torch._dynamo.utils import counters

    storages, real = [], M._compiled_step

    def spy(activation):
        step = real(activation)

        def wrapped(*args):
            storages.append(args[-1])           # kept alive, so a fresh tensor could not reuse an address
            return step(*args)
        return wrapped

    monkeypatch.setattr(M, "_compiled_step", spy)
    counters.clear()
    cfg = FitConfig(steps=40, decay_every=10, n_points=32)
    run = train_many(range(5), 3, cfg, compile=True, chunk_elements=32 * 3 * 2, **F64)   # 3 chunks x 40 steps
    # The full preset and the chapter-7 reference run compiled; a silent fall-back to eager must show here.
    assert run.compiled, "torch.compile fell back to the eager step (is a C compiler installed?)"
    assert len(storages) == 3 * 40
    assert len({hyper.untyped_storage().data_ptr() for hyper in storages}) == 1
    assert counters["stats"]["unique_graphs"] <= 1 and not counters["recompiles"]
    torch.testing.assert_close(run.losses, train_many(range(5), 3, cfg, **F64).losses, rtol=1e-9, atol=1e-12)


def test_init_is_the_reference_module_init_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    p = T.init_params([5, 9], 6, in_dim=2, device="cpu")
    nets = [T.reference_net(seed, 6, in_dim=2) for seed in (5, 9)]
    torch.testing.assert_close(torch.rand(3), expected)    # neither reseeded the caller's RNG
    for k, net in enumerate(nets):
        assert torch.equal(p.w[k], net[0].weight) and torch.equal(p.b[k], net[0].bias)
        assert torch.equal(p.v[k], net[2].weight[0]) and torch.equal(p.c[k:k + 1], net[2].bias.detach())
    torch.testing.assert_close(T.params_of(nets).w, p.w)


def test_forward_and_closed_form_gradients_match_autograd():
    p = T.init_params([1, 2], 5, **F64)
    x, y = make_data("x^2", SMALL, **F64)
    out = T.forward(p, x, "tanh")
    for k, seed in enumerate([1, 2]):
        torch.testing.assert_close(out[k], T.reference_net(seed, 5, "tanh", dtype=torch.float64)(x)[:, 0].detach())
    for act in T.ACTIVATIONS:
        leaves = [t.clone().requires_grad_() for t in (p.w, p.b, p.v, p.c)]
        loss = ((T.forward(T.Params(*leaves), x, act) - y) ** 2).mean(1)
        loss.sum().backward()
        mine, grads = T.loss_and_grads(act, p.w, p.b, p.v, p.c, x, y)
        torch.testing.assert_close(mine, loss.detach())
        for leaf, g in zip(leaves, grads):
            torch.testing.assert_close(g, leaf.grad)


def test_training_lowers_the_loss_and_float32_tracks_float64():
    cfg = FitConfig(steps=400, decay_every=200, n_points=100)
    f32 = train_many(range(4), 4, cfg, device="cpu")
    f64 = train_many(range(4), 4, cfg, **F64)
    x, y = make_data("x^2", cfg, **F64)
    init = ((T.forward(T.init_params(range(4), 4, **F64), x) - y) ** 2).mean(1)
    assert (f64.losses < init / 5).all()
    torch.testing.assert_close(f32.losses.double(), f64.losses, rtol=0.05, atol=1e-4)
    assert f32.to("cpu").losses.device.type == "cpu" and f32.params.w.dtype == torch.float32


def test_targets_and_data():
    x, y = make_data("x^2", FitConfig(n_points=5), device="cpu")
    assert x[:, 0].tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0] and y.tolist() == [4.0, 1.0, 0.0, 1.0, 4.0]
    x, y = make_data("x1*x2*x3*x4*x5", FitConfig(n_points=10), **F64)
    assert x.shape == (10, 5) and torch.allclose(y, x.prod(1)) and (x.abs() <= 2).all()
    for t in M.TARGETS:
        _, y = make_data(t, FitConfig(n_points=9), device="cpu")
        assert y.shape == (9,) and torch.isfinite(y).all()
    assert M.input_dim("x1*x2") == 2 and M.input_dim("cos") == 1


def test_diverged_seeds_are_counted_not_hidden():
    run = train_many(range(3), 2, FitConfig(steps=30, lr=1e3, n_points=20, interval=(-9.0, 9.0)),
                     target="exp(x^2)", device="cpu")
    assert run.n_diverged == 3 and not run.finite.any()


def test_compile_falls_back_to_eager_when_unavailable(monkeypatch):
    def broken_compile(fn, **kwargs):
        def raises(*args, **kw):
            raise RuntimeError("no C++ compiler")
        return raises

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(M, "_COMPILED", {})
    with pytest.warns(UserWarning, match="eager"):
        run = train_many(range(3), 2, SMALL, compile=True, **F64)
    ref = train_many(range(3), 2, SMALL, **F64)
    assert not run.compiled
    torch.testing.assert_close(run.losses, ref.losses)


def test_progress_bar_is_updated_in_seed_steps():
    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    train_many(range(3), 2, FitConfig(steps=7, n_points=8), device="cpu", progress=bar)
    assert bar.n == 3 * 7


@pytest.mark.parametrize("call, arg", [
    (lambda: train_many(range(2), 0), "width"),
    (lambda: train_many(range(2), 2, activation="gelu"), "activation"),
    (lambda: train_many(range(2), 2, target="x^5"), "target"),
    (lambda: train_many(range(2), 2, dtype="float16"), "dtype"),
    (lambda: train_many(range(2), 2, dtype="float32"), "dtype"),          # strings are refused, by name
    (lambda: train_many(range(2), 2, dtype=torch.float16), "dtype"),
    (lambda: train_many([], 2), "seeds"),
    (lambda: train_many([1, 1], 2), "seeds"),
    (lambda: train_many([0.5], 2), "seeds"),
    (lambda: train_many(np.array([0.0, 1.0]), 2), "seeds"),
    (lambda: train_many(range(2), 2, {"steps": 3}), "config"),
    (lambda: train_many(range(2), 2, compile="yes"), "compile"),
    (lambda: train_many(range(2), 2, chunk_elements=0), "chunk_elements"),
    (lambda: train_many(range(2), 2, progress="text"), "progress"),
    (lambda: train_many(range(2), 2, device="tpu"), "tpu"),
    (lambda: train_naive(range(2), 2, steps=0), "steps"),
    (lambda: train_naive(range(2), 2, activation="elu"), "activation"),
    (lambda: FitConfig(steps=0), "steps"),
    (lambda: FitConfig(lr=float("nan")), "lr"),
    (lambda: FitConfig(decay=1.5), "decay"),
    (lambda: FitConfig(n_points=2.5), "n_points"),
    (lambda: FitConfig(interval=(1.0, -1.0)), "interval"),
    (lambda: FitConfig(interval=3.0), "interval"),
    (lambda: FitConfig.for_preset("huge"), "preset"),
    (lambda: FitConfig.for_preset("quick", iterations=5), "iterations"),
    (lambda: FitConfig().lr_at(-1), "step"),
    (lambda: FitConfig().schedule(0), "steps"),
    (lambda: make_data("exp(x^2)", FitConfig(n_points=8, interval=(-20.0, 20.0))), "not finite"),
    (lambda: make_data("x^2", FitConfig(), dtype=torch.int64), "dtype"),
    (lambda: M.input_dim("x^7"), "target"),
    (lambda: M.target_function("x^7"), "target"),
])
def test_many_seed_bad_input_names_the_argument(call, arg):
    with pytest.raises(LotteryLabError, match=arg):
        call()


def _params_tuple():
    p = T.init_params([0], 2, device="cpu")
    return p.w, p.b, p.v, p.c


@pytest.mark.parametrize("call, arg", [
    (lambda: T.check_dtype("float64"), "dtype"),
    (lambda: T.apply_activation("gelu", torch.zeros(2)), "activation"),
    (lambda: T.init_params(range(2), 0), "width"),
    (lambda: T.init_params(range(2), 2, in_dim=0), "in_dim"),
    (lambda: T.init_params([-1], 2), "seeds"),
    (lambda: T.init_params([0], 2, dtype="float32"), "dtype"),
    (lambda: T.reference_net(-3, 2), "seeds"),
    (lambda: T.reference_net(0, 2, "gelu"), "activation"),
    (lambda: T.params_of([]), "nets"),
    (lambda: T.forward(T.init_params([0], 2, device="cpu"), torch.zeros(3, 2)), "x"),
    (lambda: T.forward(T.init_params([0], 2, device="cpu"), torch.zeros(3, 1, dtype=torch.float64)), "dtype"),
    (lambda: T.forward({"w": 1}, torch.zeros(3, 1)), "params"),
    (lambda: T.loss_and_grads("gelu", *_params_tuple(), torch.zeros(3, 1), torch.zeros(3)), "activation"),
    (lambda: T.Params(torch.zeros(2, 3, 1), torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2)), "Params"),
])
def test_two_layer_bad_input_names_the_argument(call, arg):
    with pytest.raises(LotteryLabError, match=arg):
        call()
