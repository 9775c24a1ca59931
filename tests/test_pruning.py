import math

import pytest
import torch
from torch import nn

from lotterylab.errors import LotteryLabError
from lotterylab.models import lenet_300_100
from lotterylab.pruning import Mask, magnitude_prune, random_mask_like


@pytest.fixture
def net():
    return lenet_300_100(seed=0)


def test_mask_statistics_and_ones_like(net):
    mask = Mask.ones_like(net)
    assert list(mask) == ["fc1.weight", "fc2.weight", "fc3.weight"]
    assert mask.num_total == 784 * 300 + 300 * 100 + 100 * 10
    assert mask.density == 1.0 and mask.sparsity == 0.0


def test_mask_rejects_unknown_names_wrong_shapes_and_non_binary(net):
    with pytest.raises(LotteryLabError, match="not a parameter"):
        Mask({"fc9.weight": torch.ones(3, 3)}, net)
    with pytest.raises(LotteryLabError, match="shape"):
        Mask({"fc1.weight": torch.ones(3, 3)}, net)
    with pytest.raises(LotteryLabError, match="only 0 and 1"):
        Mask({"fc1.weight": torch.full((300, 784), 0.5)})
    with pytest.raises(LotteryLabError, match="no prunable weights"):
        Mask.ones_like(nn.Sequential())


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5, 0.9])
def test_layerwise_prunes_exact_count_of_remaining(net, fraction):
    mask = Mask.ones_like(net)
    for _ in range(3):
        before = {n: int(m.sum()) for n, m in mask.items()}
        new = magnitude_prune(net, mask, fraction, layer_fractions={"fc3.weight": fraction / 2})
        for n in mask:
            f = fraction / 2 if n == "fc3.weight" else fraction
            assert int(new[n].sum()) == before[n] - math.ceil(f * before[n])
        # masks only shrink
        for n in mask:
            assert not bool((new[n] & ~mask[n]).any())
        mask = new


def test_lenet_schedule_reaches_paper_densities(net):
    mask = Mask.ones_like(net)
    densities = []
    for _ in range(15):
        mask = magnitude_prune(net, mask, 0.2, layer_fractions={"fc3.weight": 0.1})
        densities.append(mask.density)
    assert round(densities[2] * 100, 1) == 51.3
    assert round(densities[6] * 100, 1) == 21.1
    assert round(densities[14] * 100, 1) == 3.6


@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_kept_weights_at_least_as_large_as_pruned(net, scope):
    mask = magnitude_prune(net, Mask.ones_like(net), 0.6, scope=scope)
    weights = dict(net.named_parameters())
    groups = [[n] for n in mask] if scope == "layerwise" else [list(mask)]
    for names in groups:
        kept = torch.cat([weights[n].detach().abs()[mask[n]] for n in names])
        pruned = torch.cat([weights[n].detach().abs()[~mask[n]] for n in names])
        assert kept.min() >= pruned.max()


def test_global_prunes_exact_total_and_respects_ignore(net):
    mask = Mask.ones_like(net)
    new = magnitude_prune(net, mask, 0.5, scope="global", ignore=["fc3.weight"])
    assert bool(new["fc3.weight"].all())
    pruned = mask.num_kept - new.num_kept
    assert pruned == math.ceil(0.5 * (mask.num_kept - mask["fc3.weight"].numel()))


def test_ties_still_prune_exact_count():
    weights = {"w": torch.ones(10, 10)}
    mask = magnitude_prune(weights, Mask.ones_like(weights), 0.37)
    assert mask.num_kept == 100 - 37


def test_pruning_does_not_modify_inputs(net):
    mask = Mask.ones_like(net)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    magnitude_prune(net, mask, 0.5)
    assert mask.density == 1.0
    assert all(torch.equal(before[n], p) for n, p in net.named_parameters())


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "a lot"])
def test_bad_fraction(net, bad):
    with pytest.raises(LotteryLabError, match=r"fraction=.*\[0, 1\)"):
        magnitude_prune(net, Mask.ones_like(net), bad)


def test_bad_scope_and_layer_names(net):
    with pytest.raises(LotteryLabError, match="scope='blockwise'.*'layerwise', 'global'"):
        magnitude_prune(net, Mask.ones_like(net), 0.2, scope="blockwise")
    with pytest.raises(LotteryLabError, match="not in the mask"):
        magnitude_prune(net, Mask.ones_like(net), 0.2, ignore=["fc7.weight"])
    with pytest.raises(LotteryLabError, match="empty"):
        magnitude_prune({}, Mask({"w": torch.ones(2)}), 0.2)


def test_random_mask_keeps_per_layer_counts(net):
    mask = magnitude_prune(net, Mask.ones_like(net), 0.7, layer_fractions={"fc3.weight": 0.35})
    rnd = random_mask_like(mask, torch.Generator().manual_seed(1))
    assert {n: int(m.sum()) for n, m in rnd.items()} == {n: int(m.sum()) for n, m in mask.items()}
    assert not torch.equal(rnd["fc1.weight"], mask["fc1.weight"])
    again = random_mask_like(mask, torch.Generator().manual_seed(1))
    assert all(torch.equal(again[n], rnd[n]) for n in rnd)


def test_matches_torch_prune_l1_unstructured(net):
    """Independent oracle: torch.nn.utils.prune keeps the same weights (no ties in random init)."""
    import torch.nn.utils.prune as tprune

    mask = magnitude_prune(net, Mask.ones_like(net), 0.3)
    tprune.l1_unstructured(net.fc2, "weight", amount=math.ceil(0.3 * 30000))
    assert torch.equal(net.fc2.weight_mask.bool(), mask["fc2.weight"])


def test_nan_weights_are_refused_not_kept(net):
    state = {n: p.detach().clone() for n, p in net.named_parameters()}
    state["fc1.weight"][0, 0] = float("nan")
    with pytest.raises(LotteryLabError, match="NaN"):
        magnitude_prune(state, Mask.ones_like(net), 0.2)


def test_random_mask_like_needs_a_mask():
    with pytest.raises(LotteryLabError, match="mask"):
        random_mask_like({"w": torch.ones(3)})
