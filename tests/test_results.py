"""The one results cache: complete keys, safe loading, and every kind of bad file recomputed."""
import functools
import pickle
import warnings

import numpy as np
import pytest
import torch

from lotterylab.data import load_mnist_subset
from lotterylab.errors import LotteryLabError
from lotterylab.models import lenet_300_100
from lotterylab.pruning import Mask
from lotterylab.results import cached, experiment_key, fingerprint, load_results, model_name, save_results
from lotterylab.training import TrainConfig


def test_roundtrip_with_own_classes_numpy_and_tensors(tmp_path):
    payload = {"mask": Mask({"w": torch.tensor([1, 0, 1])}), "config": TrainConfig(steps=7),
               "arr": np.arange(3.0), "scalar": np.float64(2.5), "t": torch.ones(2)}
    key = experiment_key(1, config=TrainConfig(), seeds=range(3))
    calls = []
    cached(tmp_path / "a.pt", key, lambda: calls.append(1) or payload)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean hit warns about nothing
        out = cached(tmp_path / "a.pt", key, lambda: calls.append(1) or payload)
    assert calls == [1]
    assert out["config"] == TrainConfig(steps=7) and out["mask"].density == pytest.approx(2 / 3)
    assert np.array_equal(out["arr"], payload["arr"]) and torch.equal(out["t"], payload["t"])


def test_stale_key_is_recomputed(tmp_path):
    path = tmp_path / "r.pt"
    save_results(path, {"x": 1}, key={"a": 1})
    with pytest.warns(UserWarning, match="different configuration"):
        assert cached(path, {"a": 2}, lambda: {"x": 2}) == {"x": 2}
    assert load_results(path, key={"a": 2}) == {"x": 2}


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "not_a_dict"])
def test_corrupt_file_is_recomputed(tmp_path, damage):
    path = tmp_path / "r.pt"
    save_results(path, {"x": 1}, key={"a": 1})
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:50])
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff" * 100)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        torch.save([1, 2, 3], path)
    with pytest.warns(UserWarning, match="unreadable"):
        assert cached(path, {"a": 1}, lambda: {"x": 2}) == {"x": 2}


def test_wrong_shape_is_recomputed(tmp_path):
    path = tmp_path / "r.pt"
    save_results(path, {"losses": [1.0, 2.0]}, key={"a": 1})
    def has_three(p):
        return len(p["losses"]) == 3
    with pytest.warns(UserWarning, match="wrong shape"):
        assert cached(path, {"a": 1}, lambda: {"losses": [1.0, 2.0, 3.0]}, validate=has_three)["losses"][-1] == 3.0


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_a_file_that_would_run_code_is_refused(tmp_path, capsys):
    path = tmp_path / "r.pt"
    save_results(path, {"x": 1}, key={"a": 1})
    stored = torch.load(path, weights_only=True)
    stored["payload"] = pickle.dumps(_Evil())
    torch.save(stored, path)
    with pytest.warns(UserWarning, match="unreadable"):
        assert cached(path, {"a": 1}, lambda: "recomputed") == "recomputed"
    assert "code ran" not in capsys.readouterr().out


def test_key_holds_everything_that_decides_the_numbers():
    data = load_mnist_subset()
    base = {"config": TrainConfig(), "data": data, "model": lenet_300_100, "seeds": [0, 1], "device": "cpu",
            "dtype": torch.float32}
    key = experiment_key(3, **base)
    assert set(key) >= {"version", "config", "data", "model", "seeds", "device", "dtype"}
    assert key == experiment_key(3, **base)
    changed = [experiment_key(4, **base),
               experiment_key(3, **{**base, "config": TrainConfig(steps=5)}),
               experiment_key(3, **{**base, "data": load_mnist_subset(n_val=400)}),
               experiment_key(3, **{**base, "model": functools.partial(lenet_300_100, hidden=(30, 10))}),
               experiment_key(3, **{**base, "seeds": np.arange(3)}),
               experiment_key(3, **{**base, "device": "meta"}),
               experiment_key(3, **{**base, "dtype": torch.float64})]
    assert all(c != key for c in changed)
    assert experiment_key(1, seeds=torch.arange(2))["seeds"] == [0, 1]  # numpy and torch integer ranges


def test_fingerprint_sees_a_changed_split():
    a, b = load_mnist_subset(), load_mnist_subset(n_val=400)
    assert fingerprint(a) == fingerprint(load_mnist_subset()) and fingerprint(a) != fingerprint(b)


def test_model_name_refuses_lambdas_and_locals():
    assert model_name(lenet_300_100) == "lotterylab.models.lenet_300_100"
    with pytest.raises(LotteryLabError, match="lambda"):
        model_name(lambda seed: lenet_300_100(seed))
    def local(seed):
        return lenet_300_100(seed)
    with pytest.raises(LotteryLabError, match="model_fn"):
        model_name(local)


def test_bad_arguments():
    with pytest.raises(LotteryLabError, match="dtype"):
        experiment_key(1, dtype="float32")
    with pytest.raises(LotteryLabError, match="key"):
        cached("x.pt", [1], lambda: 1)
    with pytest.raises(LotteryLabError, match="compute"):
        cached("x.pt", {}, 3)


def test_nested_dataclasses_in_a_key_round_trip(tmp_path):
    key = experiment_key(1, config={"train": TrainConfig(steps=3), "dtype": torch.float64, "widths": (1, 2)})
    cached(tmp_path / "n.pt", key, lambda: 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cached(tmp_path / "n.pt", key, lambda: 2) == 1
