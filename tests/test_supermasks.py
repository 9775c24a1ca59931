"""Supermasks, edge-popup and biprop: the properties the chapters' claims rest on."""
import pytest
import torch

from lotterylab.errors import LotteryLabError
from lotterylab.models import lenet_300_100
from lotterylab.pruning import Mask
from lotterylab.seeding import make_generator
from lotterylab.supermasks import (
    ScoreTrainConfig,
    SupermaskMLP,
    chance_overlap,
    heuristic_mask,
    init_weights,
    lenet_widths,
    mask_one_weights,
    mask_overlap,
    multigraph_masks,
    multigraph_weight,
    quantize_weights,
    supermask_lenet,
    train_frozen_pruned,
    train_supermask,
)
from lotterylab.training import TrainConfig


@pytest.mark.parametrize("density", [0.01, 0.1, 0.3, 0.5, 0.77, 1.0])
@pytest.mark.parametrize("method", ["edge_popup", "biprop"])
def test_exact_fraction_kept_per_layer_and_copy(density, method):
    net = SupermaskMLP((50, 40, 30, 10), density=density, method=method, copies=3, score_seed=1)
    for layer, m in zip(net.layers, net.masks()):
        n = m[0].numel()
        expected = max(1, round(density * n))
        assert m.flatten(1).sum(1).tolist() == [expected] * 3
        assert m.shape == layer.scores.shape


def test_mask_keeps_largest_abs_scores():
    net = SupermaskMLP((20, 10), density=0.25)
    layer = net.layers[0]
    m = layer.mask().bool()[0]
    s = layer.scores.detach().abs()[0]
    assert s[m].min() > s[~m].max()


@pytest.mark.parametrize("method", ["edge_popup", "biprop"])
def test_gradient_reaches_every_score(method):
    net = SupermaskMLP((30, 20, 10), density=0.3, method=method, init="kaiming_normal", copies=2)
    x = torch.randn(64, 30, generator=make_generator(0))
    y = torch.randint(0, 10, (64,), generator=make_generator(1))
    out = net(x)
    torch.nn.functional.cross_entropy(out.flatten(0, 1), y.repeat(2)).backward()
    for layer in net.layers:
        g = layer.scores.grad
        assert g is not None and (g != 0).float().mean() > 0.99  # pruned scores too (straight-through)


def test_copies_are_independent():
    """Copy i of a batched run gets exactly the gradient its own loss gives."""
    net = SupermaskMLP((30, 20, 10), density=0.5, copies=2, init="kaiming_normal")
    x = torch.randn(16, 30, generator=make_generator(0))
    net(x)[0].sum().backward()
    assert all(float(layer.scores.grad[1].abs().sum()) == 0.0 for layer in net.layers)


def test_frozen_weights_never_change_and_are_not_parameters(mnist):
    net = supermask_lenet(1, density=0.5, method="biprop", init="kaiming_normal")
    assert all("weight" not in name for name, _ in net.named_parameters())
    before = [layer.weight.clone() for layer in net.layers]
    scores0 = [layer.scores.detach().clone() for layer in net.layers]
    train_supermask(net, mnist, ScoreTrainConfig(epochs=1), seed=0)
    for layer, w, s in zip(net.layers, before, scores0):
        assert torch.equal(layer.weight, w)
        assert not torch.equal(layer.scores.detach(), s)  # the scores did train


@pytest.mark.parametrize("init", ["kaiming_normal", "kaiming_uniform", "signed_constant"])
def test_biprop_weights_take_two_values_per_layer(init):
    net = SupermaskMLP((40, 30, 10), density=0.4, method="biprop", init=init, copies=2)
    for layer, w_eff, m in zip(net.layers, net.effective_weights(), net.masks()):
        for c in range(2):
            kept = w_eff[c][m[c]]
            gain = layer.weight.abs()[m[c]].mean()
            mags = kept.abs().unique()
            assert mags.numel() == 1 and float(mags) == pytest.approx(float(gain), rel=1e-6)
            assert torch.unique(kept).numel() == 2
            assert torch.all(w_eff[c][~m[c]] == 0)
            assert torch.equal(torch.sign(kept), torch.sign(layer.weight[m[c]]))


def test_edge_popup_weights_are_masked_init():
    net = SupermaskMLP((40, 30), density=0.4, init="kaiming_normal")
    layer = net.layers[0]
    assert torch.equal(net.effective_weights()[0][0], layer.weight * layer.mask()[0].detach())


def test_inits_have_kaiming_scale_and_density_scaling():
    g = make_generator(0)
    for init in ("signed_constant", "kaiming_normal", "kaiming_uniform"):
        w = init_weights((400, 500), init, g)
        assert abs(float(w.std()) - (2 / 500) ** 0.5) < 0.02 * (2 / 500) ** 0.5
    w = init_weights((400, 500), "kaiming_normal", g, density=0.25, scale_by_density=True)
    assert abs(float(w.std()) - (2 / (500 * 0.25)) ** 0.5) < 0.03 * (2 / 125) ** 0.5


def test_same_seeds_same_network_and_scores_seed_changes_only_scores():
    a = SupermaskMLP((20, 10), weight_seed=3, score_seed=4)
    b = SupermaskMLP((20, 10), weight_seed=3, score_seed=4)
    c = SupermaskMLP((20, 10), weight_seed=3, score_seed=5)
    assert torch.equal(a.layers[0].scores, b.layers[0].scores)
    assert torch.equal(a.layers[0].weight, c.layers[0].weight)
    assert not torch.equal(a.layers[0].scores, c.layers[0].scores)


@pytest.mark.parametrize("density", [0, -0.1, 1.5, float("nan"), "half"])
def test_bad_density_is_a_clear_error(density):
    with pytest.raises(LotteryLabError, match=r"density.*\(0, 1\]"):
        SupermaskMLP((10, 5), density=density)


@pytest.mark.parametrize("width", [0.5, 0, -2, "wide"])
def test_bad_width_is_a_clear_error(width):
    with pytest.raises(LotteryLabError, match=r"width.*>= 1"):
        lenet_widths(width)
    with pytest.raises(LotteryLabError, match="width"):
        supermask_lenet(width)


def test_unknown_init_and_method_are_clear_errors():
    with pytest.raises(LotteryLabError, match=r"init='xavier'.*'signed_constant', 'kaiming_normal'"):
        SupermaskMLP((10, 5), init="xavier")
    with pytest.raises(LotteryLabError, match=r"method='prune_rate'.*'edge_popup', 'biprop'"):
        SupermaskMLP((10, 5), method="prune_rate")
    with pytest.raises(LotteryLabError, match="copies"):
        SupermaskMLP((10, 5), copies=0)


def test_width_multiplier_shapes():
    assert lenet_widths(1) == (784, 300, 100, 10)
    assert lenet_widths(1.5) == (784, 450, 150, 10)
    net = supermask_lenet(2)
    assert [tuple(layer.weight.shape) for layer in net.layers] == [(600, 784), (200, 600), (10, 200)]


def test_mask_overlap_and_chance():
    g = make_generator(0)
    a = torch.rand(200_000, generator=g) < 0.3
    b = torch.rand(200_000, generator=g) < 0.3
    assert abs(mask_overlap(a, b) - chance_overlap(0.3)) < 0.01
    assert mask_overlap(a, a) == 1.0


def test_heuristic_mask_same_sign_and_density():
    g = make_generator(0)
    w0 = {"w": torch.randn(50, 40, generator=g)}
    w1 = {"w": torch.randn(50, 40, generator=g)}
    m = heuristic_mask(w0, w1, 0.2)["w"]
    assert int(m.sum()) == 400
    assert torch.all(torch.sign(w0["w"][m]) == torch.sign(w1["w"][m]))
    with pytest.raises(LotteryLabError, match="criterion"):
        heuristic_mask(w0, w1, 0.2, criterion="biggest")


def test_mask_one_weights_variants():
    g = make_generator(0)
    w = {"w": torch.randn(30, 20, generator=g), "b": torch.randn(30, generator=g)}
    mask = Mask({"w": torch.rand(30, 20, generator=g) < 0.5})
    keep = mask["w"]
    same = mask_one_weights(w, mask)
    assert torch.equal(same["w"][keep], w["w"][keep]) and torch.all(same["w"][~keep] == 0)
    assert torch.equal(same["b"], w["b"])
    const = mask_one_weights(w, mask, magnitudes="constant")
    assert const["w"][keep].abs().unique().numel() == 1
    assert torch.equal(torch.sign(const["w"][keep]), torch.sign(w["w"][keep]))
    rand = mask_one_weights(w, mask, signs="random", generator=make_generator(1))
    assert torch.equal(rand["w"][keep].abs(), w["w"][keep].abs())
    flipped = float((torch.sign(rand["w"][keep]) != torch.sign(w["w"][keep])).float().mean())
    assert 0.35 < flipped < 0.65
    with pytest.raises(LotteryLabError, match="generator"):
        mask_one_weights(w, mask, signs="random")


def test_train_frozen_pruned_keeps_pruned_at_init(mnist):
    net = lenet_300_100(seed=0)
    init = {k: v.clone() for k, v in net.state_dict().items()}
    mask = Mask({n: torch.rand(p.shape, generator=make_generator(1)) < 0.2
                 for n, p in net.named_parameters() if p.dim() == 2})
    train_frozen_pruned(net, mask, mnist, TrainConfig(steps=30, eval_every=30), seed=0)
    for name in mask:
        w = dict(net.named_parameters())[name].detach()
        assert torch.equal(w[~mask[name]], init[name][~mask[name]])
        assert not torch.equal(w[mask[name]], init[name][mask[name]])


def test_quantize_weights():
    w = torch.tensor([0.3, -0.1, 0.0, 0.9])
    q1 = quantize_weights(w, 1)
    assert torch.allclose(q1[w != 0].abs(), torch.tensor(1.3 / 3)) and q1[2] == 0
    g = make_generator(0)
    x = torch.randn(5000, generator=g)
    errors = []
    for bits in (1, 2, 3, 4, 8):
        q = quantize_weights(x, bits)
        assert torch.unique(q).numel() <= max(2, 2 ** bits - 1)
        errors.append(float((q - x).square().mean()))
    assert errors == sorted(errors, reverse=True)  # more bits, smaller error
    binary = torch.tensor([0.2, -0.2, 0.0, 0.2])
    for bits in (1, 2, 4):
        assert torch.allclose(quantize_weights(binary, bits), binary)  # a biprop layer is unchanged


def test_multigraph_masks_realise_any_weight_to_precision():
    w = torch.rand(100, 80, generator=make_generator(0)) * 2.8 - 1.4  # within the 2-bit range +-1.5
    for bits in (2, 4, 8):
        ew, m = multigraph_masks(w, bits, scale=1.0)
        assert m.shape == (2 * bits, 100, 80) and m.dtype == torch.bool
        err = (multigraph_weight(ew, m) - w).abs().max()
        assert err <= 2.0 ** (1 - bits) / 2 + 1e-6  # half a step of the finest edge


def test_tiny_end_to_end_edge_popup_beats_chance(mnist):
    torch.manual_seed(0)
    net = supermask_lenet(1, density=0.5, weight_seed=0, score_seed=0, copies=2)
    res = train_supermask(net, mnist, ScoreTrainConfig(epochs=2), seed=0)
    assert min(res["test_acc"][-1]) > 0.6  # chance is 0.1
