"""Chapter 6's reference (lotterylab.reference.ch06): a tiny config end to end in a temporary store."""
import dataclasses

import pytest

from lotterylab.errors import LotteryLabError
from lotterylab.lazy_training import TangentConfig
from lotterylab.reference import MissingReference, StaleReference, ch06, run_reference

TINY = TangentConfig.for_preset("quick", reg_widths=(8, 32), reg_steps=20, mnist_widths=(16, 32), n_train=32,
                                n_test=40, mnist_steps=10, ticket_width=32)


@pytest.fixture
def tiny_store(tmp_path, monkeypatch):
    """An empty store and results folder under tmp_path, and ch06 sized by TINY."""
    monkeypatch.setenv("LOTTERYLAB_REFERENCE", str(tmp_path / "store"))
    monkeypatch.setenv("LOTTERYLAB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LOTTERYLAB_PROGRESS", "off")
    monkeypatch.setattr(ch06, "config", lambda: TINY)
    return tmp_path / "store" / "ch06"


def test_the_reference_config_is_the_full_preset_and_wider():
    full, cfg = TangentConfig.for_preset("full"), ch06.config()
    assert cfg == dataclasses.replace(full, reg_widths=cfg.reg_widths, mnist_widths=cfg.mnist_widths)
    assert cfg.mnist_widths[:len(full.mnist_widths)] == full.mnist_widths and cfg.mnist_widths[-1] > 8192
    assert cfg.reg_widths[:len(full.reg_widths)] == full.reg_widths
    assert ch06.configs() == [cfg]


def test_ch06_reference_runs_loads_verifies_and_goes_stale(tiny_store, monkeypatch):
    with pytest.raises(MissingReference, match="make reference CH=6"):
        ch06.load()
    manifest = run_reference(6, device="cpu")
    assert manifest.device == "cpu" and manifest.command == "make reference CH=6" and manifest.seeds == [0]
    assert sorted(manifest.files) == ["mnist_w16.pt", "mnist_w32.pt", "regression_w32.pt", "regression_w8.pt"]
    assert manifest.config["configs"][0]["mnist_widths"] == [16, 32]
    assert sum(p.stat().st_size for p in tiny_store.iterdir()) < 100_000      # scalars only: no kernels, no weights
    ref = ch06.load()
    assert ref.manifest == manifest and ref.config == TINY
    assert ref.widths("mnist") == [16, 32] and ref.widths("regression") == [8, 32]
    point = ref.points["mnist", 32]
    assert set(point.acc) == {"net", "lin", "newton"} and all(0 <= a <= 1 for a in point.acc.values())
    assert ref.points["regression", 8].acc == {} and ref.series("mnist", "acc_lin") == [
        ref.points["mnist", w].acc["lin"] for w in (16, 32)]
    assert 0 < point.movement < 1 and point.kernel_change > 0 and point.lr > 0 and len(point.losses) == len(point.steps)
    assert point.n_params == 784 * 32 + 32 + 32 + 1
    assert manifest.wall_seconds == pytest.approx(ch06.wall_seconds(ref))
    for seed in (0, 1, 2):
        check = ch06.verify(ref, seed=seed)
        assert (check.task, check.width) in ref.points and check.stored.shape == check.recomputed.shape
        assert check.max_rel_error == 0.0                              # the same code on the same machine: bit-exact
    # only widths whose stored run was cheap are drawn (the cheapest one if none is)
    only = {k: dataclasses.replace(p, cpu_seconds=1.0 if k == ("mnist", 16) else 1e6) for k, p in ref.points.items()}
    cheap = dataclasses.replace(ref, points=only)
    assert {(c.task, c.width) for c in (ch06.verify(cheap, seed=s) for s in range(3))} == {("mnist", 16)}
    # a finished store resumes without computing anything
    monkeypatch.setattr(ch06, "_measure", lambda *args: 1 / 0)
    assert ch06.run(tiny_store, device="cpu").points == ref.points
    # a file's key names only what decides its numbers: dropping a width leaves the others valid
    monkeypatch.setattr(ch06, "config", lambda: dataclasses.replace(TINY, mnist_widths=(32,)))
    assert ch06.load().widths("mnist") == [32]
    monkeypatch.setattr(ch06, "config", lambda: dataclasses.replace(TINY, mnist_steps=11))
    with pytest.raises(StaleReference, match="config.*make reference CH=6"):
        ch06.load()


def test_ch06_reference_bad_inputs(tmp_path):
    point = ch06.LazyPoint(task="mnist", width=16, n_params=1, lr=1.0, steps=[0], losses=[1.0], movement=0.1,
                           distance=0.1, rel_distance=0.1, kernel_change=0.1, acc={}, seconds=1.0, cpu_seconds=1.0)
    ref = ch06.LazyReference(config=TINY, points={("mnist", 16): point})
    with pytest.raises(LotteryLabError, match="seed"):
        ch06.verify(ref, seed=-1)
    with pytest.raises(LotteryLabError, match="reference must be a LazyReference"):
        ch06.verify(ref.points)
    with pytest.raises(LotteryLabError, match="device"):
        ch06.verify(ref, device="tpu")
    with pytest.raises(LotteryLabError, match="reference has no stored widths"):
        ch06.verify(dataclasses.replace(ref, points={}))
    with pytest.raises(LotteryLabError, match="directory"):
        ch06.run(3)
    with pytest.raises(LotteryLabError, match="device"):
        ch06.run(tmp_path / "x", device="tpu")
    with pytest.raises(LotteryLabError, match="progress"):
        ch06.run(tmp_path / "x", progress=3)
    assert not (tmp_path / "x").exists()   # nothing is created for a refused call
