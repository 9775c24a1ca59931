"""Sweeps resume, validate and reuse the one results cache; medians and power-law fits are right."""
import dataclasses
import warnings

import numpy as np
import pytest
import torch

from lotterylab import scaling as S
from lotterylab.errors import LotteryLabError
from lotterylab.many_seed import FitConfig, ManyRun, make_data, train_many
from lotterylab.results import load_results, save_results
from lotterylab.two_layer import init_params

TINY = S.SweepConfig(activations=("silu", "relu"), widths=(1, 3), n_seeds=4,
                     fit=FitConfig(steps=40, decay_every=20, n_points=32))


def test_sweep_checkpoints_resumes_and_matches_train_many(tmp_path):
    first = S.run_sweep(TINY, tmp_path, device="cpu")
    assert sorted(first.recomputed) == sorted((a, n) for a in TINY.activations for n in TINY.widths)
    assert len(list(tmp_path.glob("*.pt"))) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = S.run_sweep(TINY, tmp_path, device="cpu")
    assert again.recomputed == []
    direct = train_many(range(4), 3, TINY.fit, activation="relu", device="cpu")
    torch.testing.assert_close(again.runs[("relu", 3)].losses, direct.losses)
    torch.testing.assert_close(first.runs[("silu", 1)].params.w, again.runs[("silu", 1)].params.w)
    assert all(r.losses.device.type == "cpu" for r in first.runs.values())


def test_interrupted_sweep_keeps_finished_pairs(tmp_path):
    S.run_sweep(dataclasses.replace(TINY, widths=(1,)), tmp_path, device="cpu")       # "interrupted" after width 1
    resumed = S.run_sweep(TINY, tmp_path, device="cpu")
    assert sorted(resumed.recomputed) == [("relu", 3), ("silu", 3)]


def test_stale_or_corrupt_cache_is_recomputed(tmp_path):
    S.run_sweep(TINY, tmp_path, device="cpu")
    (tmp_path / "x_2_silu_N3.pt").write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="unreadable"):
        assert S.run_sweep(TINY, tmp_path, device="cpu").recomputed == [("silu", 3)]
    longer = dataclasses.replace(TINY, fit=dataclasses.replace(TINY.fit, steps=41))
    with pytest.warns(UserWarning, match="different configuration"):
        assert len(S.run_sweep(longer, tmp_path, device="cpu").recomputed) == 4
    f64 = dataclasses.replace(longer, dtype=torch.float64)
    with pytest.warns(UserWarning, match="different configuration"):
        assert len(S.run_sweep(f64, tmp_path, device="cpu").recomputed) == 4


def test_wrong_shapes_in_cache_are_recomputed(tmp_path):
    S.run_sweep(TINY, tmp_path, device="cpu")
    path = tmp_path / "x_2_relu_N1.pt"
    key = S.sweep_key(TINY, "relu", 1, "cpu")
    run = load_results(path, key=key)
    save_results(path, dataclasses.replace(run, losses=run.losses[:2]), key=key)
    with pytest.warns(UserWarning, match="wrong shape"):
        assert S.run_sweep(TINY, tmp_path, device="cpu").recomputed == [("relu", 1)]


def test_sweep_key_holds_what_decides_the_numbers():
    k = S.sweep_key(TINY, "silu", 3, torch.device("cpu"))
    assert (k["version"], k["width"], k["activation"], k["seeds"], k["device"], k["dtype"]) == (
        S.VERSION, 3, "silu", [0, 1, 2, 3], "cpu", "torch.float32")
    assert k["config"]["fit"]["steps"] == 40 and k["config"]["target"] == "x^2"
    assert S.sweep_key(dataclasses.replace(TINY, widths=(1, 3, 5)), "silu", 3, "cpu") == k   # other widths: same file


def test_full_preset_code_path_at_tiny_size(tmp_path):
    """Chapter 7's `full` configuration (compiled, paper schedule shape) at tiny size, on the CPU."""
    fit = FitConfig.for_preset("full", steps=30, decay_every=10, n_points=16)
    cfg = S.SweepConfig.for_preset("full", activations=("silu",), widths=(2,), n_seeds=3, fit=fit)
    assert cfg.compile and (fit.lr, fit.decay) == (1e-2, 0.2)
    sweep = S.run_sweep(cfg, tmp_path, device="cpu")
    run = sweep.runs[("silu", 2)]
    eager = train_many(range(3), 2, fit, device="cpu")
    torch.testing.assert_close(run.losses, eager.losses, rtol=1e-4, atol=1e-6)
    assert S.run_sweep(cfg, tmp_path, device="cpu").recomputed == []


def test_medians_skip_and_count_diverged_seeds():
    assert S.median_loss([1.0, 3.0, np.nan, np.inf, 2.0]) == (2.0, 2)
    assert S.median_loss(torch.tensor([1.0, float("nan")])) == (1.0, 1)
    with pytest.raises(LotteryLabError, match="diverged"):
        S.median_loss([np.nan])
    sweep = S.Sweep(TINY)
    p = init_params(range(4), 1, device="cpu")   # any params will do; medians read only the losses
    for a in TINY.activations:
        for n in TINY.widths:
            losses = torch.tensor([1.0, 2.0, float("nan"), 3.0]) / n
            sweep.runs[(a, n)] = ManyRun([0, 1, 2, 3], a, "x^2", p, losses, 0.0, False)
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


def test_plots_return_axes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = S.run_sweep(TINY, tmp_path, device="cpu")
    fit = S.fit_power_law(*sweep.medians("silu")[:2])
    x, y = make_data("x^2", TINY.fit, device="cpu")
    p = sweep.runs[("silu", 3)].params
    fig, axs = plt.subplots(1, 3)
    assert S.plot_scaling(sweep, fits={"silu": fit}, mark_width=3, ax=axs[0]) is axs[0]
    assert S.plot_loss_histograms({"a": sweep.losses("silu", 1)}, ax=axs[1]) is axs[1]
    assert S.plot_fitted_functions(p, [0, 1], x, y, ax=axs[2]) is axs[2]
    plt.close(fig)


@pytest.mark.parametrize("kwargs, arg", [
    ({"widths": (0,)}, "width"), ({"activations": ("gelu",)}, "activation"), ({"n_seeds": 0}, "n_seeds"),
    ({"target": "x^9"}, "target"), ({"dtype": "int8"}, "dtype"), ({"dtype": "float32"}, "dtype"),
    ({"dtype": torch.float16}, "dtype"), ({"widths": ()}, "widths"), ({"widths": (2, 2)}, "widths"),
    ({"activations": "silu"}, "activations"), ({"fit": {"steps": 3}}, "fit"), ({"compile": "yes"}, "compile"),
])
def test_sweep_config_bad_input(kwargs, arg):
    with pytest.raises(LotteryLabError, match=arg):
        S.SweepConfig(**kwargs)


def _sweep():
    sweep = S.Sweep(TINY)
    p = train_many(range(4), 1, TINY.fit, device="cpu")
    for a in TINY.activations:
        for n in TINY.widths:
            sweep.runs[(a, n)] = p
    return sweep


@pytest.mark.parametrize("call, arg", [
    (lambda tmp: S.SweepConfig.for_preset("huge"), "preset"),
    (lambda tmp: S.SweepConfig.for_preset("quick", num_seeds=3), "num_seeds"),
    (lambda tmp: S.run_sweep({"widths": (1,)}, tmp), "config"),
    (lambda tmp: S.run_sweep(TINY, 3), "directory"),
    (lambda tmp: S.run_sweep(TINY, tmp, progress="off"), "progress"),
    (lambda tmp: S.run_sweep(TINY, tmp, device="tpu"), "tpu"),
    (lambda tmp: S.sweep_key("config", "silu", 2, "cpu"), "config"),
    (lambda tmp: S.median_loss("abc"), "losses"),
    (lambda tmp: S.finite_losses([object()]), "losses"),
    (lambda tmp: S.fit_power_law([1, 2], [1.0]), "same length"),
    (lambda tmp: S.fit_power_law([0, 2], [1.0, 2.0]), "widths"),
    (lambda tmp: S.fit_power_law([2, 2], [1.0, 2.0]), "fit range"),
    (lambda tmp: _sweep().losses("tanh", 1), "activation, width"),
    (lambda tmp: S.plot_scaling(_sweep(), ["tanh"]), "activations"),
    (lambda tmp: S.plot_scaling(_sweep(), mark_width=7), "mark_width"),
    (lambda tmp: S.plot_scaling("sweep"), "sweep"),
    (lambda tmp: S.plot_loss_histograms({}), "losses_by_label"),
    (lambda tmp: S.plot_loss_histograms({"a": [np.nan]}), "diverged"),
    (lambda tmp: S.plot_loss_histograms({"a": [1.0]}, bins=0), "bins"),
    (lambda tmp: S.plot_fitted_functions(_sweep().runs[("silu", 1)].params, [9], *make_data("x^2", TINY.fit)), "indices"),
    (lambda tmp: S.plot_fitted_functions("params", [0], *make_data("x^2", TINY.fit)), "params"),
])
def test_scaling_bad_input_names_the_argument(call, arg, tmp_path):
    with pytest.raises(LotteryLabError, match=arg):
        call(tmp_path)
