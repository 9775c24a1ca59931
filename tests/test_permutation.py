"""Permutation symmetry and weight matching, checked against permutations we applied ourselves."""
import itertools

import pytest
import torch

from lotterylab.errors import LotteryLabError
from lotterylab.models import conv_net, lenet_300_100
from lotterylab.permutation import align, chain_layers, permute_hidden, random_permutations, weight_matching

torch.set_num_threads(1)


def small_lenet(seed):
    return lenet_300_100(seed, in_features=12, hidden=(9, 7), num_classes=4)


def small_conv(seed):
    return conv_net(seed, channels=(3, 4), hidden=6)


@pytest.mark.parametrize("make", [small_lenet, small_conv])
def test_permuted_network_computes_the_same_function(make):
    net = make(0)
    state = net.state_dict()
    x = torch.randn(5, 784 if make is small_conv else 12, generator=torch.Generator().manual_seed(0))
    permuted = permute_hidden(state, random_permutations(state, seed=3))
    assert any(not torch.equal(permuted[n], state[n]) for n in state)  # the weights did move
    other = make(1)
    other.load_state_dict(permuted)
    torch.testing.assert_close(other(x), net(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("make", [small_lenet, small_conv])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weight_matching_recovers_a_permutation_we_applied(make, seed):
    a = make(seed).state_dict()
    q = random_permutations(a, seed=seed + 10)
    b = permute_hidden(a, q)
    perms = weight_matching(a, b, seed=seed)
    assert [p.tolist() for p in perms] == [torch.argsort(p).tolist() for p in q]  # the inverse, exactly
    aligned = align(a, b)
    assert all(torch.equal(aligned[n], a[n]) for n in a)


def test_weight_matching_beats_every_permutation_of_one_layer_by_brute_force():
    # one hidden layer of 4 units: the assignment must be the best of all 24 permutations
    g = torch.Generator().manual_seed(0)
    a = {"h.weight": torch.randn(4, 3, generator=g), "h.bias": torch.randn(4, generator=g),
         "o.weight": torch.randn(2, 4, generator=g)}
    b = {n: torch.randn(t.shape, generator=g) for n, t in a.items()}

    def score(perm):
        pb = permute_hidden(b, [torch.tensor(perm)])
        return sum(float((a[n] * pb[n]).sum()) for n in a)

    best = max(itertools.permutations(range(4)), key=score)
    assert weight_matching(a, b)[0].tolist() == list(best)


def test_alignment_does_not_lower_the_match_and_keeps_the_function():
    a, b = small_lenet(0), small_lenet(1)
    sa, sb = a.state_dict(), b.state_dict()
    aligned = align(sa, sb)
    before = sum(float((sa[n] * sb[n]).sum()) for n in sa)
    after = sum(float((sa[n] * aligned[n]).sum()) for n in sa)
    assert after > before
    x = torch.randn(6, 12, generator=torch.Generator().manual_seed(1))
    c = small_lenet(2)
    c.load_state_dict(aligned)
    torch.testing.assert_close(c(x), b(x), atol=1e-5, rtol=1e-5)


def test_chain_layers_defaults_and_refusals():
    state = small_lenet(0).state_dict()
    assert chain_layers(state) == ["fc1", "fc2", "fc3"]
    assert chain_layers(small_conv(0)) == ["conv1", "conv2", "conv3", "conv4", "fc1", "fc2", "fc3"]
    with pytest.raises(LotteryLabError, match="layers"):
        chain_layers(state, ["fc1"])
    with pytest.raises(LotteryLabError, match="layers"):
        chain_layers(state, ["fc1", "nope"])
    with pytest.raises(LotteryLabError, match="layers"):
        chain_layers(state, ["fc2", "fc1"])       # reversed: 12 inputs are not a multiple of 7 units
    with pytest.raises(LotteryLabError, match="state"):
        chain_layers({})


def test_bad_inputs_raise_naming_the_argument():
    state = small_lenet(0).state_dict()
    with pytest.raises(LotteryLabError, match="perms"):
        permute_hidden(state, [torch.arange(9)])                     # one permutation for two layers
    with pytest.raises(LotteryLabError, match="perms"):
        permute_hidden(state, [torch.zeros(9, dtype=torch.long), torch.arange(7)])   # not a permutation
    with pytest.raises(LotteryLabError, match="seed"):
        random_permutations(state, seed=-1)
    with pytest.raises(LotteryLabError, match="max_iter"):
        weight_matching(state, state, max_iter=0)
    with pytest.raises(LotteryLabError, match="same architecture"):
        weight_matching(state, lenet_300_100(0, in_features=12, hidden=(8, 7), num_classes=4).state_dict(),
                        layers=["fc1", "fc2", "fc3"])
    with pytest.raises(LotteryLabError, match="b must"):
        align(state, "not a state dict")


def test_permutations_follow_the_device_of_the_weights():
    state = small_lenet(0).state_dict()
    out = permute_hidden(state, random_permutations(state, seed=0))
    assert all(out[n].device == state[n].device and out[n].dtype == state[n].dtype for n in state)


# --- the positive control: different initialisations, before and after alignment ---------------------
from lotterylab.data import Split
from lotterylab.permutation import ControlResult, different_init_control
from lotterylab.training import TrainConfig


@pytest.fixture
def toy_split():
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(90, 12, generator=g), torch.randint(0, 4, (90,), generator=g)
    return Split(X[:60], y[:60], X[60:75], y[60:75], X[75:], y[75:])


def test_control_trains_two_inits_and_alignment_keeps_the_endpoints(toy_split):
    cfg = TrainConfig(steps=30, batch_size=20, lr=1e-2, eval_every=30)
    out = different_init_control(small_lenet, toy_split, cfg, alphas=[0.0, 0.25, 0.5, 0.75, 1.0])
    assert isinstance(out, ControlResult) and out.init_seeds == (0, 1) and out.data_seeds == (1, 2)
    assert out.error[0] == out.aligned_error[0] and out.error[-1] == out.aligned_error[-1]  # same functions
    assert out.end_errors == (out.error[0], out.error[-1])
    assert out.barrier == pytest.approx(max(out.error) - (out.error[0] + out.error[-1]) / 2)
    assert out.aligned_barrier == pytest.approx(max(out.aligned_error) - (out.error[0] + out.error[-1]) / 2)
    # the same seeds give the same numbers
    again = different_init_control(small_lenet, toy_split, cfg, alphas=[0.0, 0.25, 0.5, 0.75, 1.0])
    assert again.error == out.error and again.aligned_error == out.aligned_error


def test_aligning_a_network_with_itself_changes_nothing():
    state = small_lenet(0).state_dict()
    assert [p.tolist() for p in weight_matching(state, state)] == [list(range(9)), list(range(7))]
    assert all(torch.equal(align(state, state)[n], state[n]) for n in state)


def test_control_is_cached(toy_split, tmp_path, monkeypatch):
    cfg = TrainConfig(steps=8, batch_size=20, eval_every=8)
    path = tmp_path / "control.pt"
    first = different_init_control(small_lenet, toy_split, cfg, alphas=[0.0, 1.0], checkpoint=path)
    assert path.exists()

    def no_training(*args, **kwargs):
        raise AssertionError("a cached result must load without training")

    monkeypatch.setattr("lotterylab.permutation.train", no_training)
    second = different_init_control(small_lenet, toy_split, cfg, alphas=[0.0, 1.0], checkpoint=path)
    assert second.error == first.error and second.barrier == first.barrier
    with pytest.raises(AssertionError, match="cached"):  # another config is another key: it recomputes
        different_init_control(small_lenet, toy_split, TrainConfig(steps=9, batch_size=20), alphas=[0.0, 1.0],
                               checkpoint=path)


def test_control_bad_inputs(toy_split):
    cfg = TrainConfig(steps=2, batch_size=20)
    with pytest.raises(LotteryLabError, match="model_fn"):
        different_init_control("lenet", toy_split, cfg)
    with pytest.raises(LotteryLabError, match="data"):
        different_init_control(small_lenet, (1, 2), cfg)
    with pytest.raises(LotteryLabError, match="config"):
        different_init_control(small_lenet, toy_split, {"steps": 2})
    with pytest.raises(LotteryLabError, match="init_seeds"):
        different_init_control(small_lenet, toy_split, cfg, init_seeds=(3, 3))
    with pytest.raises(LotteryLabError, match="data_seeds"):
        different_init_control(small_lenet, toy_split, cfg, data_seeds=(1, -2))
    with pytest.raises(LotteryLabError, match="checkpoint"):
        different_init_control(small_lenet, toy_split, cfg, checkpoint=3)
    with pytest.raises(LotteryLabError, match="progress"):
        different_init_control(small_lenet, toy_split, cfg, progress="yes")
