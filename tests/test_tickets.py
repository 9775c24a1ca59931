import dataclasses
import warnings

import pytest
import torch

from lotterylab.errors import LotteryLabError
from lotterylab.models import lenet_300_100
from lotterylab.tickets import IMPConfig, run_imp, run_imp_trials
from lotterylab.training import TrainConfig

TINY = IMPConfig(rounds=2, train=TrainConfig(steps=40, eval_every=20))


@pytest.fixture(scope="module")
def imp_run(mnist):
    return run_imp(lenet_300_100, mnist, TINY, seed=0)


def test_records_levels_kinds_and_densities(imp_run):
    kinds = [(r["level"], r["kind"]) for r in imp_run.records]
    assert kinds == [(0, "ticket"), (1, "ticket"), (1, "reinit"), (1, "random"),
                     (2, "ticket"), (2, "reinit"), (2, "random")]
    by_level = {(r["level"], r["kind"]): r["density"] for r in imp_run.records}
    for level in (1, 2):
        assert by_level[(level, "ticket")] == by_level[(level, "reinit")] == by_level[(level, "random")]
    assert by_level[(2, "ticket")] < by_level[(1, "ticket")] < 1.0


def test_masks_only_shrink_and_trained_pruned_weights_are_zero(imp_run):
    for a, b in zip(imp_run.masks, imp_run.masks[1:]):
        assert all(not bool((b[n] & ~a[n]).any()) for n in a)
    for mask, state in zip(imp_run.masks, imp_run.trained_states):
        for n, m in mask.items():
            assert bool((state[n][~m] == 0).all())


def test_reset_to_init_is_bit_for_bit(imp_run):
    init = lenet_300_100(seed=0).state_dict()
    assert all(torch.equal(init[k], imp_run.reset_state[k]) for k in init)


def test_rewinding_restores_stored_step_k_state_bit_for_bit(mnist):
    from lotterylab.training import train

    cfg = dataclasses.replace(TINY, rounds=1, rewind_step=10, controls=())
    run = run_imp(lenet_300_100, mnist, cfg, seed=0)
    # independently: train the same dense net for 10 steps and compare
    net = lenet_300_100(seed=0)
    snap = train(net, mnist, cfg.train, seed=0, snapshot_step=10).snapshot
    assert all(torch.equal(snap[k], run.reset_state[k]) for k in snap)
    assert not torch.equal(run.reset_state["fc1.weight"], lenet_300_100(seed=0).fc1.weight.detach())


def test_same_seed_same_numbers(mnist, imp_run):
    again = run_imp(lenet_300_100, mnist, TINY, seed=0)
    assert again.records == imp_run.records


def test_checkpoint_resumes_and_detects_stale(mnist, tmp_path, imp_run):
    ckpt = tmp_path / "imp.pt"
    short = dataclasses.replace(TINY, rounds=1)
    run_imp(lenet_300_100, mnist, short, seed=0, checkpoint=ckpt)
    assert ckpt.exists()
    # a different config is detected as stale: recomputed (with a warning), not reused
    with pytest.warns(UserWarning, match="different configuration"):
        full = run_imp(lenet_300_100, mnist, TINY, seed=0, checkpoint=ckpt)
    assert full.records == imp_run.records
    # the finished run resumes without retraining anything
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = run_imp(lenet_300_100, mnist, TINY, seed=0, checkpoint=ckpt)
    assert again.records == full.records
    # a corrupted file is detected and recomputed
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="unreadable"):
        run_imp(lenet_300_100, mnist, dataclasses.replace(TINY, rounds=0), seed=0, checkpoint=ckpt)


def test_interrupted_run_resumes_from_last_finished_level(mnist, tmp_path, monkeypatch, imp_run):
    from lotterylab import tickets

    ckpt = tmp_path / "imp.pt"
    calls = {"n": 0}
    real_train = tickets.train

    def flaky_train(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # dense + level-1 (3 runs) done; die in level 2
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    monkeypatch.setattr(tickets, "train", flaky_train)
    with pytest.raises(KeyboardInterrupt):
        run_imp(lenet_300_100, mnist, TINY, seed=0, checkpoint=ckpt)
    calls["n"] = -100
    resumed = run_imp(lenet_300_100, mnist, TINY, seed=0, checkpoint=ckpt)
    assert calls["n"] == -100 + 3  # only level 2 (ticket + 2 controls) was trained again
    assert resumed.records == imp_run.records


def test_bad_imp_config():
    with pytest.raises(LotteryLabError, match="prune_fraction"):
        IMPConfig(prune_fraction=1.0)
    with pytest.raises(LotteryLabError, match="controls='shuffle'"):
        IMPConfig(controls=("shuffle",))
    with pytest.raises(LotteryLabError, match="rewind_step"):
        IMPConfig(rewind_step=5000, train=TrainConfig(steps=100))
    with pytest.raises(LotteryLabError, match="preset='medium'"):
        IMPConfig.for_preset("medium")
    with pytest.raises(LotteryLabError, match="seeds"):
        run_imp_trials(lenet_300_100, None, TINY, seeds=[])


def test_presets_follow_the_paper_schedule():
    assert IMPConfig.for_preset("quick").rounds == 7
    assert IMPConfig.for_preset("full").rounds == 15


def test_summarize_groups_trials():
    from lotterylab.tickets import summarize

    recs = [{"level": 1, "kind": k, "density": 0.8, "acc": a} for k, a in
            [("reinit", 0.5), ("ticket", 0.9), ("ticket", 0.7), ("random", 0.1)]]
    rows = summarize(recs, "acc")
    assert [r["kind"] for r in rows] == ["ticket", "reinit", "random"]
    assert rows[0]["n"] == 2 and abs(rows[0]["mean"] - 0.8) < 1e-12 and rows[0]["max"] == 0.9


def test_compare_to_init_is_invariant_to_relu_rescaling(imp_run):
    from lotterylab.tickets import compare_to_init

    mask, trained = imp_run.masks[1], imp_run.trained_states[1]
    base = compare_to_init(imp_run.reset_state, trained, mask)
    assert all(0.5 < s["sign_agreement"] <= 1.0 for s in base.values())
    # rescale hidden unit 3 of layer 1 by c > 0: the function is unchanged, and so are the signs
    net, scaled_net = lenet_300_100(seed=0), lenet_300_100(seed=0)
    net.load_state_dict(trained)
    scaled = {k: v.clone() for k, v in trained.items()}
    c = 7.0
    scaled["fc1.weight"][3] *= c
    scaled["fc1.bias"][3] *= c
    scaled["fc2.weight"][:, 3] /= c
    scaled_net.load_state_dict(scaled)
    x = torch.randn(16, 784)
    assert torch.allclose(net(x), scaled_net(x), atol=1e-4)
    after = compare_to_init(imp_run.reset_state, scaled, mask)
    assert after["fc1.weight"]["sign_agreement"] == base["fc1.weight"]["sign_agreement"]
    assert after["fc1.weight"]["relative_movement"] != base["fc1.weight"]["relative_movement"]


def test_bad_imp_arguments(mnist):
    import numpy as np

    with pytest.raises(LotteryLabError, match="layer_fractions"):
        IMPConfig(layer_fractions=("fc3.weight", 0.1))
    with pytest.raises(LotteryLabError, match="layer_fractions"):
        IMPConfig(layer_fractions=(("fc3.weight", 1.5),))
    typo = IMPConfig(rounds=1, layer_fractions=(("fc3.weigth", 0.1),), train=TrainConfig(steps=10))
    with pytest.raises(LotteryLabError, match="fc3.weigth"):  # raised before any training
        run_imp(lenet_300_100, mnist, typo, seed=0)
    with pytest.raises(LotteryLabError, match="ignore"):
        IMPConfig(ignore="fc1.weight")
    with pytest.raises(LotteryLabError, match="train"):
        IMPConfig(train={"steps": 10})
    with pytest.raises(LotteryLabError, match="progress"):
        run_imp(lenet_300_100, mnist, TINY, seed=0, progress="off")
    with pytest.raises(LotteryLabError, match="seed"):
        run_imp(lenet_300_100, mnist, TINY, seed=-1)
    with pytest.raises(LotteryLabError, match="config"):
        run_imp(lenet_300_100, mnist, {"rounds": 1}, seed=0)
    with pytest.raises(LotteryLabError, match="lambda"):
        run_imp(lambda s: lenet_300_100(s), mnist, TINY, seed=0, checkpoint="unused.pt")
    with pytest.raises(LotteryLabError, match="seeds"):
        run_imp_trials(lenet_300_100, mnist, TINY, seeds=[1.5])
    with pytest.raises(LotteryLabError, match="distinct"):
        run_imp_trials(lenet_300_100, mnist, TINY, seeds=np.array([1, 1]))


def test_full_preset_path_at_tiny_size(mnist, tmp_path):
    """The `full` IMP configuration (15 rounds at 5,000 steps on a GPU) runs the same code at tiny size."""
    cfg = IMPConfig.for_preset("full", rounds=2, train=TrainConfig(steps=20, eval_every=10))
    assert IMPConfig.for_preset("full").train.steps == 5000 and cfg.layer_fractions == IMPConfig().layer_fractions
    run = run_imp_trials(lenet_300_100, mnist, cfg, seeds=range(2), checkpoint_dir=tmp_path)
    assert [len(r.masks) for r in run] == [3, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imp_seed0.pt", "imp_seed1.pt"]


def test_summarize_and_plot_name_a_missing_metric():
    from lotterylab.plotting import plot_vs_density
    from lotterylab.tickets import summarize

    recs = [{"level": 0, "kind": "ticket", "density": 1.0, "acc": 0.9}]
    with pytest.raises(LotteryLabError, match="metric='accuracy'"):
        summarize(recs, "accuracy")
    with pytest.raises(LotteryLabError, match="metric='accuracy'"):
        plot_vs_density(recs, "accuracy")


def _keeps_records():
    rows = [(0, "ticket", 1.0, 0.95, 400), (1, "ticket", 0.5, 0.949, 300), (2, "ticket", 0.2, 0.945, 380),
            (3, "ticket", 0.1, 0.90, 500), (4, "ticket", 0.05, 0.96, 200),
            (1, "reinit", 0.5, 0.93, 450), (2, "reinit", 0.2, 0.96, 300)]
    return [{"trial": 0, "level": lv, "kind": k, "density": d, "acc": a, "step": s} for lv, k, d, a, s in rows]


def test_keeps_dense_stops_at_the_first_level_that_falls_short():
    from lotterylab.tickets import keeps_dense

    recs = _keeps_records()
    assert keeps_dense(recs, "ticket", "acc", tolerance=0.01) == 0.2     # 0.1 falls short; 0.05 recovers, not counted
    assert keeps_dense(recs, "ticket", "acc", tolerance=0.0) == 1.0
    assert keeps_dense(recs, "reinit", "acc", tolerance=0.01) == 1.0     # falls short at the first pruned level
    assert keeps_dense(recs, "ticket", "step", tolerance=0, lower_is_better=True) == 0.2    # 500 > 400 at 0.1
    assert keeps_dense(recs, "ticket", "step", tolerance=100, lower_is_better=True) == 0.05


@pytest.mark.parametrize("kwargs, match", [({"kind": "random"}, "kind='random' has no pruned level"),
                                           ({"kind": "ticket", "tolerance": -1}, "tolerance=-1"),
                                           ({"kind": "ticket", "tolerance": float("nan")}, "tolerance=nan"),
                                           ({"kind": "ticket", "metric": "nope"}, "metric='nope'")])
def test_keeps_dense_refuses_bad_input(kwargs, match):
    from lotterylab.tickets import keeps_dense

    kwargs = {"metric": "acc", **kwargs}
    with pytest.raises(LotteryLabError, match=match):
        keeps_dense(_keeps_records(), **kwargs)
    with pytest.raises(LotteryLabError, match="no level-0"):
        keeps_dense([r for r in _keeps_records() if r["level"] > 0], "ticket", "acc")
