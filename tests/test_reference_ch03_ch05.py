"""Chapters 3 and 5's reference runs (lotterylab.reference.ch03 / ch05), end to end at a tiny size."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lotterylab.data import load_mnist_subset
from lotterylab.errors import LotteryLabError
from lotterylab.reference import StaleReference, ch03, ch05, run_reference, width_store
from lotterylab.supermasks import ScoreTrainConfig
from lotterylab.training import TrainConfig


def tiny(cfg):
    return dataclasses.replace(cfg, widths=(1, 1.5), copies=2, scores=ScoreTrainConfig(epochs=1),
                               dense=TrainConfig(steps=20, eval_every=10))


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("LOTTERYLAB_REFERENCE", str(tmp_path / "store"))
    monkeypatch.setenv("LOTTERYLAB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LOTTERYLAB_PROGRESS", "off")
    small = tiny(ch05.config())
    monkeypatch.setattr(ch05, "config", lambda: small)   # ch03's config follows ch05's
    full = load_mnist_subset(seed=0)
    few = dataclasses.replace(full, X_train=full.X_train[:640], y_train=full.y_train[:640])   # 5 steps an epoch
    monkeypatch.setattr(width_store, "load_mnist_subset", lambda seed, device: few.to(device))
    return tmp_path / "store"


def test_ch05_reference_runs_loads_verifies_and_goes_stale(store, monkeypatch):
    manifest = run_reference(5, device="cpu")
    assert manifest.device == "cpu" and manifest.seeds == [0] and manifest.command == "make reference CH=5"
    assert sorted(manifest.files) == ["biprop_w1.5.pt", "biprop_w1.pt", "dense_w1.5.pt", "dense_w1.pt",
                                      "edge_popup_w1.5.pt", "edge_popup_w1.pt"]
    assert manifest.config["configs"][0]["copies"] == 2 and manifest.wall_seconds > 0
    ref = ch05.load()
    assert ref.manifest == manifest
    assert [len(a) for a in ref.accuracies("biprop")] == [2, 2] and len(ref.means("dense")) == 2
    assert all(0 <= a <= 1 for a in ref.means("edge_popup") + ref.means("dense"))
    for seed in (0, 1, 2):
        check = ch05.verify(ref, seed=seed)
        assert check.width == 1 and check.kind in ("biprop", "edge_popup", "dense")
        assert isinstance(check.stored, np.ndarray) and check.stored.shape == check.recomputed.shape
        assert check.max_rel_error == 0.0                    # the same code on the same machine: the same bits
    with pytest.raises(LotteryLabError, match="reference must be a WidthReference"):
        ch05.verify(ref.runs)
    longer = dataclasses.replace(ch05.config(), scores=ScoreTrainConfig(epochs=2))
    monkeypatch.setattr(ch05, "config", lambda: longer)
    with pytest.raises(StaleReference, match="config.*make reference CH=5"):
        ch05.load()


def test_ch03_reference_reuses_ch05_dense_and_verifies(store, monkeypatch):
    run_reference(5, device="cpu")
    manifest = run_reference(3, device="cpu")
    assert sorted(manifest.files) == ["dense_w1.5.pt", "dense_w1.pt", "edge_popup_w1.5.pt", "edge_popup_w1.pt"]
    # the dense networks are chapter 5's, copied rather than retrained
    assert (store / "ch03" / "dense_w1.pt").read_bytes() == (store / "ch05" / "dense_w1.pt").read_bytes()
    ref = ch03.load()
    assert ref.config.init == "signed_constant" and ref.config.methods == ("edge_popup",)
    check = ch03.verify(ref, seed=5)
    assert check.kind in ("edge_popup", "dense") and check.max_rel_error == 0.0
    # another init is another experiment: the stored edge-popup files are stale
    monkeypatch.setattr(ch03, "config", lambda: dataclasses.replace(ch05.config(), methods=("edge_popup",)))
    with pytest.raises(StaleReference, match="config"):
        ch03.load()


def test_reference_configs_are_the_documented_ones():
    assert ch05.config().widths == ch03.config().widths == (1, 2, 4, 8)
    assert ch05.config().dense == ch03.config().dense and ch05.config().scores == ch03.config().scores
    assert ch03.VERIFY_WIDTHS == ch05.VERIFY_WIDTHS == (1,)
