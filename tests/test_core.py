"""Device, presets, seeding, results on disk, progress and the package's import hygiene."""
import subprocess
import sys

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from lotterylab import get_device, get_preset, seed_everything
from lotterylab.errors import LotteryLabError
from lotterylab.presets import pick
from lotterylab.progress import progress_bar


def test_import_has_no_side_effects():
    code = (
        "import sys, random, socket, matplotlib, torch\n"
        "def refuse(*a, **k): raise AssertionError('network access on import')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse\n"
        "rc = dict(matplotlib.rcParams); state = torch.get_rng_state().clone(); r = random.getstate()\n"
        "import importlib, pkgutil, lotterylab\n"
        "for m in pkgutil.iter_modules(lotterylab.__path__): importlib.import_module('lotterylab.' + m.name)\n"
        "assert dict(matplotlib.rcParams) == rc, 'rcParams changed'\n"
        "assert torch.equal(torch.get_rng_state(), state), 'torch seeded'\n"
        "assert random.getstate() == r, 'random seeded'\n"
        "bad = [m for m in ('ipywidgets', 'seaborn', 'mlxtend') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr


def test_device_default_and_override(monkeypatch):
    monkeypatch.delenv("LOTTERYLAB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda"          # CUDA is preferred whenever it is there
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device().type == "cpu"           # and the CPU is the fallback
    monkeypatch.setenv("LOTTERYLAB_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    assert get_device("cpu", verbose=False).type == "cpu"


def test_device_message_is_learner_friendly(capsys):
    get_device("cpu", verbose=True)
    out = capsys.readouterr().out
    assert "CPU" in out


@pytest.mark.parametrize("bad", ["tpu", "gpu", "cuda0x"])
def test_unknown_device(monkeypatch, bad):
    monkeypatch.setenv("LOTTERYLAB_DEVICE", bad)
    with pytest.raises(LotteryLabError, match="LOTTERYLAB_DEVICE=.*'cpu', 'cuda', 'mps'"):
        get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_unavailable_device():
    with pytest.raises(LotteryLabError, match="not available"):
        get_device("cuda")


def test_presets(monkeypatch):
    monkeypatch.delenv("LOTTERYLAB_PRESET", raising=False)
    assert get_preset() == ("full" if torch.cuda.is_available() else "quick")
    monkeypatch.setenv("LOTTERYLAB_PRESET", "full")
    assert get_preset() == "full"
    assert get_preset("quick") == "quick"
    assert pick("full", quick=1, full=2) == 2
    monkeypatch.setenv("LOTTERYLAB_PRESET", "huge")
    with pytest.raises(LotteryLabError, match="LOTTERYLAB_PRESET='huge'.*'quick', 'full'"):
        get_preset()
    with pytest.raises(LotteryLabError, match="preset='medium'"):
        get_preset("medium")


def test_seed_everything_reproduces():
    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    assert torch.equal(a, torch.randn(5))
    with pytest.raises(LotteryLabError, match="seed"):
        seed_everything("three")


def test_progress_modes():
    assert list(progress_bar(range(3), mode="off")) == [0, 1, 2]
    assert list(progress_bar(range(2), mode="text")) == [0, 1]
    with pytest.raises(LotteryLabError, match="mode='fancy'"):
        progress_bar(range(2), mode="fancy")


def test_plot_functions_take_and_return_axes():
    import matplotlib.pyplot as plt

    from lotterylab.plotting import plot_input_mask, plot_learning_curves, plot_vs_density

    records = [{"trial": t, "kind": k, "density": d, "acc": 0.9 + 0.01 * t}
               for t in (0, 1) for k, d in [("ticket", 1.0), ("ticket", 0.8), ("reinit", 0.8)]]
    fig, axes = plt.subplots(1, 3)
    assert plot_vs_density(records, "acc", ax=axes[0]) is axes[0]
    assert len(axes[0].get_lines()) == 2
    assert plot_input_mask(torch.ones(5, 784), ax=axes[1]) is axes[1]
    assert plot_learning_curves([{"steps": [1, 2], "test_acc": [0.1, 0.2]}], ["a"], ax=axes[2]) is axes[2]
    from lotterylab.plotting import caption

    assert caption(fig, "quick preset") is fig and fig.texts[-1].get_text() == "quick preset"
    plt.close(fig)


def test_generators_and_seeds_refuse_bad_seeds():
    import numpy as np

    from lotterylab.seeding import check_seeds, make_generator

    assert make_generator(np.int64(3)).initial_seed() == 3
    for bad in (-1, 1.5, "1", True):
        with pytest.raises(LotteryLabError, match="seed"):
            make_generator(bad)
    assert check_seeds(range(2)) == [0, 1] and check_seeds(np.arange(2)) == [0, 1]
    assert check_seeds(torch.arange(3)) == [0, 1, 2]
    for bad in (3, [], [0, 0], [-1], np.array([0.5]), torch.tensor([0.5]), "01"):
        with pytest.raises(LotteryLabError, match="seeds"):
            check_seeds(bad)


def test_progress_argument_must_be_a_bar():
    from lotterylab.progress import check_progress

    check_progress(progress_bar(total=1, mode="off"))
    with pytest.raises(LotteryLabError, match="progress='off'"):
        check_progress("off")


def test_plot_helpers():
    from lotterylab.plotting import PALETTE, density_axis, get_ax, run_label

    ax = get_ax()
    assert get_ax(ax) is ax
    density_axis(ax, 0.05)
    assert ax.xaxis_inverted() and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["100", "51.3", "21.1", "8.7"]
    assert run_label("full", torch.device("cpu"), "x").endswith("x, CPU")
    assert set(PALETTE) >= {"ticket", "reinit", "random", "dense"}
