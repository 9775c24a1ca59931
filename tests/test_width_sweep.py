"""lotterylab.width_sweep: tickets and dense baselines against width."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from lotterylab.errors import LotteryLabError
from lotterylab.models import lenet_300_100
from lotterylab.supermasks import ScoreTrainConfig, supermask_lenet, train_supermask
from lotterylab.training import TrainConfig, train
from lotterylab.width_sweep import WidthSweepConfig, piece_key, pieces, train_dense, train_ticket, width_sweep


@pytest.fixture
def small(mnist):
    """The first 640 training images (5 score steps an epoch), to keep these tests to seconds."""
    return dataclasses.replace(mnist, X_train=mnist.X_train[:640], y_train=mnist.y_train[:640])


TINY = WidthSweepConfig(widths=(1, 1.5), methods=("biprop", "edge_popup"), init="kaiming_normal", copies=2,
                        scores=ScoreTrainConfig(epochs=1), dense=TrainConfig(steps=10, eval_every=5))


def test_sweep_returns_one_piece_per_width_and_method(small):
    out = width_sweep(TINY, small, device="cpu", keep_weights=True)
    assert sorted(out) == ["biprop", "dense", "edge_popup"]
    assert all(len(out[k]) == len(TINY.widths) for k in out)
    for piece in out["biprop"] + out["edge_popup"]:
        assert len(piece["acc"]) == 2 and all(0 <= a <= 1 for a in piece["acc"]) and piece["seconds"] >= 0
        assert [tuple(w.shape) for w in piece["weights"]][-1] == (2, 10, piece["weights"][1].shape[1])
        assert all(m.dtype == torch.bool for m in piece["masks"])
    # biprop's weights take two values per layer and copy (and zero where pruned)
    assert torch.unique(out["biprop"][0]["weights"][0][0]).numel() == 3
    assert tuple(out["dense"][1]["state"]["fc1.weight"].shape) == (450, 784)      # width x1.5: 450 units
    lean = width_sweep(dataclasses.replace(TINY, widths=(1,), methods=("edge_popup",), dense=None), small,
                       device="cpu")
    assert sorted(lean) == ["edge_popup"] and sorted(lean["edge_popup"][0]) == ["acc", "seconds"]
    assert lean["edge_popup"][0]["acc"] == out["edge_popup"][0]["acc"]      # a piece does not depend on the others


def test_pieces_match_a_plain_loop(small):
    """The oracle: the chapter's hand-written ticket and dense runs, with the documented seeds."""
    cfg = dataclasses.replace(TINY, widths=(1,))
    net = supermask_lenet(1, density=cfg.density, init=cfg.init, method="biprop", weight_seed=0, score_seed=1,
                          copies=2)
    expected = train_supermask(net, small, cfg.scores, seed=0).final_test_acc
    assert train_ticket(cfg, "biprop", 1, small, device="cpu")["acc"] == expected
    model = lenet_300_100(seed=0, hidden=(300, 100))
    assert train_dense(cfg, 1, small, device="cpu")["acc"] == train(model, small, cfg.dense, seed=0).early_stop_test_acc


def test_pieces_and_keys():
    assert pieces(TINY) == [("biprop", 1), ("edge_popup", 1), ("dense", 1), ("biprop", 1.5), ("edge_popup", 1.5),
                            ("dense", 1.5)]
    dense_key = piece_key(TINY, "dense", 1, None, "cpu")
    # a dense piece does not depend on the score settings; a ticket piece does
    assert piece_key(dataclasses.replace(TINY, copies=3), "dense", 1, None, "cpu") == dense_key
    assert piece_key(dataclasses.replace(TINY, copies=3), "biprop", 1, None, "cpu") != \
        piece_key(TINY, "biprop", 1, None, "cpu")
    assert piece_key(TINY, "biprop", 2, None, "cpu")["width"] == 2


@pytest.mark.parametrize("kwargs, name", [
    ({"widths": ()}, "widths"), ({"widths": (1, 0.5)}, "widths"), ({"widths": [1, 2]}, "widths"),
    ({"methods": ("popup",)}, "methods"), ({"init": "xavier"}, "init"), ({"density": 0}, "density"),
    ({"copies": 0}, "copies"), ({"scores": 3}, "scores"), ({"dense": "adam"}, "dense"), ({"seed": -1}, "seed"),
])
def test_bad_config_is_refused_naming_the_argument(kwargs, name):
    with pytest.raises(LotteryLabError, match=name):
        WidthSweepConfig(**kwargs)


def test_bad_calls_are_refused(small):
    with pytest.raises(LotteryLabError, match="config"):
        width_sweep({"widths": (1,)}, small)
    with pytest.raises(LotteryLabError, match="method"):
        train_ticket(TINY, "dense", 1, small)
    with pytest.raises(LotteryLabError, match="width"):
        train_ticket(TINY, "biprop", 0.5, small)
    with pytest.raises(LotteryLabError, match="dense"):
        train_dense(dataclasses.replace(TINY, dense=None), 1, small)
    with pytest.raises(LotteryLabError, match="progress"):
        width_sweep(TINY, small, progress="bar")
    with pytest.raises(LotteryLabError, match="kind"):
        piece_key(TINY, "sgd", 1, None, "cpu")
    with pytest.raises(LotteryLabError, match="methods"):
        WidthSweepConfig(methods=(), dense=None)
