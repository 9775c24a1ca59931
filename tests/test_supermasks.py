"""Edge-popup and biprop (lotterylab.supermasks): the properties the chapters' claims rest on."""
import matplotlib
import pytest
import torch

from lotterylab.data import Split
from lotterylab.errors import LotteryLabError
from lotterylab.seeding import make_generator
from lotterylab.supermasks import (
    ScoreTrainConfig,
    ScoreTrainResult,
    SupermaskLinear,
    SupermaskMLP,
    evaluate_copies,
    init_weights,
    lenet_widths,
    supermask_lenet,
    train_supermask,
)

matplotlib.use("Agg")

from lotterylab.plotting import plot_accuracy_vs


@pytest.fixture(scope="module")
def tiny(mnist):
    """256 training, 64 validation and 64 test images of the MNIST subset."""
    return Split(mnist.X_train[:256], mnist.y_train[:256], mnist.X_val[:64], mnist.y_val[:64],
                 mnist.X_test[:64], mnist.y_test[:64])


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


def test_tiny_end_to_end_edge_popup_beats_chance(mnist):
    torch.manual_seed(0)
    net = supermask_lenet(1, density=0.5, weight_seed=0, score_seed=0, copies=2)
    res = train_supermask(net, mnist, ScoreTrainConfig(epochs=2), seed=0)
    assert min(res.final_test_acc) > 0.6  # chance is 0.1


def test_train_supermask_returns_a_result_per_epoch_and_copy(tiny):
    net = supermask_lenet(1, density=0.5, copies=3)
    res = train_supermask(net, tiny, ScoreTrainConfig(epochs=2, batch_size=64), seed=0)
    assert isinstance(res, ScoreTrainResult)
    assert res.epochs == [1, 2]
    assert [len(a) for a in res.val_acc] == [3, 3] and [len(a) for a in res.test_acc] == [3, 3]
    assert res.final_test_acc == res.test_acc[-1] == evaluate_copies(net, tiny.X_test, tiny.y_test)


def test_train_supermask_updates_a_given_progress_bar(tiny):
    class Bar:
        n = 0

        def update(self, k):
            self.n += k

    bar = Bar()
    train_supermask(SupermaskMLP((784, 10)), tiny, ScoreTrainConfig(epochs=3, batch_size=128), seed=0, progress=bar)
    assert bar.n == 3


def test_train_supermask_same_seed_same_result_and_data_order_matters(tiny):
    cfg = ScoreTrainConfig(epochs=1, batch_size=32)
    runs = [train_supermask(SupermaskMLP((784, 20, 10), score_seed=1), tiny, cfg, seed=s).val_acc for s in (0, 0, 1)]
    assert runs[0] == runs[1]
    nets = [SupermaskMLP((784, 20, 10), score_seed=1) for _ in range(2)]
    for net, seed in zip(nets, (0, 1)):
        train_supermask(net, tiny, cfg, seed=seed)
    assert not torch.equal(nets[0].layers[0].scores, nets[1].layers[0].scores)


def test_evaluate_copies_matches_a_loop_over_copies():
    net = SupermaskMLP((12, 8, 3), copies=3, density=0.5, init="kaiming_normal", score_seed=2)
    X = torch.randn(50, 12, generator=make_generator(0))
    y = torch.randint(0, 3, (50,), generator=make_generator(1))
    logits = net(X)
    expected = [float((logits[c].argmax(1) == y).float().mean()) for c in range(3)]
    assert evaluate_copies(net, X, y) == expected


def test_full_preset_score_training_path_at_tiny_size(tiny):
    """Chapter 3's `full` configuration calls these with 50 epochs, 4 copies, widths up to x16, k up to 1.0,
    three inits (one scaled by 1/sqrt(k)); the same calls at tiny size (1 epoch, width x1, 256 images)."""
    full_scores = ScoreTrainConfig(epochs=50)
    cfg = ScoreTrainConfig(**{**full_scores.__dict__, "epochs": 1})
    for init, scaled, density in [("signed_constant", False, 0.5), ("kaiming_normal", False, 1.0),
                                  ("kaiming_normal", True, 0.01)]:
        net = supermask_lenet(1, density=density, init=init, scale_by_density=scaled, weight_seed=0,
                              score_seed=1, copies=4)
        res = train_supermask(net, tiny, cfg, seed=0)
        assert len(res.final_test_acc) == 4
        assert all(0.0 <= a <= 1.0 for a in res.final_test_acc)
        assert [round(d, 2) for d in net.layer_densities()] == [density] * 3


# ----- bad input: every public name raises LotteryLabError naming the argument ----------------

def test_bad_layer_sizes_are_clear_errors():
    with pytest.raises(LotteryLabError, match="widths"):
        SupermaskMLP((10,))
    with pytest.raises(LotteryLabError, match="widths"):
        SupermaskMLP((10, 2.7))
    with pytest.raises(LotteryLabError, match="n_classes"):
        lenet_widths(1, n_classes=1)
    with pytest.raises(LotteryLabError, match="in_features"):
        lenet_widths(1, in_features=0)
    with pytest.raises(LotteryLabError, match="weight_seed"):
        SupermaskMLP((10, 5), weight_seed=-1)


def test_bad_init_weights_arguments_are_clear_errors():
    with pytest.raises(LotteryLabError, match="shape"):
        init_weights((3, 0), "kaiming_normal", make_generator(0))
    with pytest.raises(LotteryLabError, match="generator"):
        init_weights((3, 4), "kaiming_normal", 0)
    with pytest.raises(LotteryLabError, match="init"):
        init_weights((3, 4), "glorot", make_generator(0))


def test_bad_supermask_linear_arguments_are_clear_errors():
    g = make_generator(0)
    with pytest.raises(LotteryLabError, match="density"):
        SupermaskLinear(4, 3, density=0, weight_generator=g, score_generator=g)
    with pytest.raises(LotteryLabError, match="score_generator"):
        SupermaskLinear(4, 3, density=0.5, weight_generator=g, score_generator=None)


@pytest.mark.parametrize("field, value", [("epochs", 0), ("batch_size", 0), ("lr", float("nan")), ("lr", -0.1),
                                          ("momentum", 1.0), ("weight_decay", -1e-4), ("cosine", "yes")])
def test_bad_score_train_config_is_rejected_at_construction(field, value):
    with pytest.raises(LotteryLabError, match=field):
        ScoreTrainConfig(**{field: value})


def test_batch_larger_than_the_data_is_an_error_not_zero_steps(tiny):
    net = SupermaskMLP((784, 10))
    before = net.layers[0].scores.detach().clone()
    with pytest.raises(LotteryLabError, match="batch_size=512"):
        train_supermask(net, tiny, ScoreTrainConfig(epochs=1, batch_size=512), seed=0)
    assert torch.equal(net.layers[0].scores, before)


def test_bad_train_supermask_arguments_are_clear_errors(tiny):
    cfg = ScoreTrainConfig(epochs=1, batch_size=64)
    with pytest.raises(LotteryLabError, match="model"):
        train_supermask(torch.nn.Linear(784, 10), tiny, cfg, seed=0)
    with pytest.raises(LotteryLabError, match="seed"):
        train_supermask(SupermaskMLP((784, 10)), tiny, cfg, seed=-1)
    with pytest.raises(LotteryLabError, match="config"):
        train_supermask(SupermaskMLP((784, 10)), tiny, {"epochs": 1}, seed=0)
    with pytest.raises(LotteryLabError, match="data"):
        train_supermask(SupermaskMLP((784, 10)), (tiny.X_train, tiny.y_train), cfg, seed=0)
    with pytest.raises(LotteryLabError, match="features"):
        train_supermask(SupermaskMLP((100, 10)), tiny, cfg, seed=0)


def test_bad_evaluate_copies_arguments_are_clear_errors():
    net = SupermaskMLP((4, 2), copies=2)
    with pytest.raises(LotteryLabError, match="X, y"):
        evaluate_copies(net, torch.zeros(3, 4), torch.zeros(1, dtype=torch.long))  # would broadcast
    with pytest.raises(LotteryLabError, match="model"):
        evaluate_copies(torch.nn.Linear(4, 2), torch.zeros(3, 4), torch.zeros(3, dtype=torch.long))


def test_bad_plot_accuracy_vs_arguments_are_clear_errors():
    with pytest.raises(LotteryLabError, match="series"):
        plot_accuracy_vs([1, 2, 3], {"a": [50, 60]})
    with pytest.raises(LotteryLabError, match="series"):
        plot_accuracy_vs([1, 2], [50, 60])
