"""Zhou et al.'s heuristic supermasks and their ablations (lotterylab.zhou_masks)."""
import matplotlib
import pytest
import torch

from lotterylab.data import Split
from lotterylab.errors import LotteryLabError
from lotterylab.models import lenet_300_100
from lotterylab.pruning import Mask
from lotterylab.seeding import make_generator
from lotterylab.training import TrainConfig, train
from lotterylab.zhou_masks import CRITERIA, heuristic_mask, mask_one_weights, plot_ablation_bars, train_frozen_pruned

matplotlib.use("Agg")


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


def test_mask_one_weights_reinit_variants_take_magnitudes_or_signs_from_the_fresh_draw():
    g = make_generator(0)
    w = {"w": torch.randn(30, 20, generator=g), "b": torch.randn(30, generator=g)}
    fresh = {"w": torch.randn(30, 20, generator=g), "b": torch.randn(30, generator=g)}
    mask = Mask({"w": torch.rand(30, 20, generator=g) < 0.5})
    keep = mask["w"]
    zhou = mask_one_weights(w, mask, magnitudes="reinit", reinit=fresh)       # Zhou's sign experiment
    assert torch.equal(zhou["w"][keep].abs(), fresh["w"][keep].abs())
    assert torch.equal(torch.sign(zhou["w"][keep]), torch.sign(w["w"][keep]))
    assert torch.all(zhou["w"][~keep] == 0) and torch.equal(zhou["b"], w["b"])  # biases: the initial ones
    control = mask_one_weights(w, mask, magnitudes="reinit", signs="reinit", reinit=fresh)  # Frankle's control
    assert torch.equal(control["w"][keep], fresh["w"][keep])
    flipped = mask_one_weights(w, mask, signs="reinit", reinit=fresh)
    assert torch.equal(flipped["w"][keep].abs(), w["w"][keep].abs())
    assert torch.equal(torch.sign(flipped["w"][keep]), torch.sign(fresh["w"][keep]))


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


def test_criteria_rank_the_tensor_they_name():
    g = make_generator(0)
    w0 = {"w": torch.randn(40, 30, generator=g)}
    w1 = {"w": torch.randn(40, 30, generator=g)}
    for criterion, source in (("large_final", w1), ("large_init", w0)):
        m = heuristic_mask(w0, w1, 0.3, criterion=criterion)["w"]
        assert int(m.sum()) == 360
        assert source["w"].abs()[m].min() >= source["w"].abs()[~m].max()
    r = heuristic_mask(w0, w1, 0.3, criterion="random", generator=make_generator(1))["w"]
    assert int(r.sum()) == 360
    assert torch.equal(r, heuristic_mask(w0, w1, 0.3, criterion="random", generator=make_generator(1))["w"])


def test_mask_one_weights_accepts_a_dict_of_0_1_tensors_as_a_mask():
    w = {"w": torch.tensor([[0.5, -2.0, 1.0]])}
    as_dict = mask_one_weights(w, {"w": torch.tensor([[1.0, 0.0, 1.0]])})
    as_mask = mask_one_weights(w, Mask({"w": torch.tensor([[True, False, True]])}))
    assert torch.equal(as_dict["w"], as_mask["w"])


@pytest.fixture(scope="module")
def tiny(mnist):
    return Split(mnist.X_train[:256], mnist.y_train[:256], mnist.X_val[:64], mnist.y_val[:64],
                 mnist.X_test[:64], mnist.y_test[:64])


def test_full_preset_heuristic_and_mask0_paths_at_tiny_size(tiny):
    """Chapter 3's `full` path: a dense run of TrainConfig(steps=5000, eval_every=100), every criterion and
    mask-1 variant at every heuristic density, and both mask-0 ablations; here with 4 steps."""
    cfg = TrainConfig(steps=4, batch_size=60, eval_every=2)
    net = lenet_300_100(seed=0)
    init = {k: v.detach().clone() for k, v in net.state_dict().items()}
    train(net, tiny, cfg, seed=0)
    final = {k: v.detach().clone() for k, v in net.state_dict().items()}
    names = [n for n, t in init.items() if t.dim() == 2]
    for density in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7):
        for criterion in CRITERIA:
            mask = heuristic_mask(init, final, density, criterion=criterion, generator=make_generator(1), names=names)
            assert abs(mask.density - density) < 0.01
            for magnitudes in ("init", "constant"):
                for signs in ("init", "random"):
                    state = mask_one_weights(init, mask, magnitudes=magnitudes, signs=signs,
                                             generator=make_generator(2))
                    assert all(torch.all(state[n][~mask[n]] == 0) for n in names)
    mask = heuristic_mask(init, final, 0.2, criterion="large_final", names=names)
    for frozen in (False, True):
        model = lenet_300_100(seed=0)
        model.load_state_dict(init)
        result = train_frozen_pruned(model, mask, tiny, cfg, seed=0) if frozen else train(model, tiny, cfg, seed=0,
                                                                                          mask=mask)
        assert result.steps == [2, 4] and 0.0 <= result.early_stop_test_acc <= 1.0


# ----- bad input: every public name raises LotteryLabError naming the argument ----------------

def test_bad_heuristic_mask_arguments_are_clear_errors():
    w0 = {"w": torch.randn(5, 4, generator=make_generator(0))}
    w1 = {"w": torch.randn(5, 4, generator=make_generator(1))}
    with pytest.raises(LotteryLabError, match="density"):
        heuristic_mask(w0, w1, 0.0)
    with pytest.raises(LotteryLabError, match="names"):
        heuristic_mask(w0, w1, 0.5, names=["v"])  # a typo is not silently ignored
    with pytest.raises(LotteryLabError, match="final"):
        heuristic_mask(w0, {"w": torch.randn(4, 5)}, 0.5)
    with pytest.raises(LotteryLabError, match="final"):
        heuristic_mask(w0, {"w": torch.full((5, 4), float("nan"))}, 0.5)  # NaN is not "largest"
    with pytest.raises(LotteryLabError, match="generator"):
        heuristic_mask(w0, w1, 0.5, criterion="random")
    with pytest.raises(LotteryLabError, match="init"):
        heuristic_mask([1.0], w1, 0.5)


def test_bad_mask_one_weights_arguments_are_clear_errors():
    w = {"w": torch.randn(3, 2)}
    with pytest.raises(LotteryLabError, match="'v'"):
        mask_one_weights(w, Mask({"v": torch.ones(3, 2)}))  # a mask for a tensor init does not have
    with pytest.raises(LotteryLabError, match="shape"):
        mask_one_weights(w, Mask({"w": torch.ones(2, 3)}))
    with pytest.raises(LotteryLabError, match="0 and 1"):
        mask_one_weights(w, {"w": torch.full((3, 2), 0.5)})
    with pytest.raises(LotteryLabError, match="magnitudes"):
        mask_one_weights(w, Mask({"w": torch.ones(3, 2)}), magnitudes="trained")
    with pytest.raises(LotteryLabError, match="reinit"):
        mask_one_weights(w, Mask({"w": torch.ones(3, 2)}), magnitudes="reinit")        # no fresh draw given
    with pytest.raises(LotteryLabError, match="reinit"):
        mask_one_weights(w, Mask({"w": torch.ones(3, 2)}), signs="reinit", reinit={"w": torch.ones(2, 3)})
    with pytest.raises(LotteryLabError, match="reinit"):
        mask_one_weights(w, Mask({"w": torch.ones(3, 2)}), signs="reinit", reinit={"v": torch.ones(3, 2)})


def test_bad_train_frozen_pruned_arguments_fail_before_training(mnist):
    net = lenet_300_100(seed=0)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(LotteryLabError, match="optimizer"):
        train_frozen_pruned(net, Mask.ones_like(net), mnist, TrainConfig(steps=2, optimizer="sgd"), seed=0)
    with pytest.raises(LotteryLabError, match="mask"):
        train_frozen_pruned(net, Mask({"nope": torch.ones(2)}), mnist, TrainConfig(steps=2), seed=0)
    with pytest.raises(LotteryLabError, match="config"):
        train_frozen_pruned(net, Mask.ones_like(net), mnist, {"steps": 2}, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_bad_plot_ablation_bars_arguments_are_clear_errors():
    with pytest.raises(LotteryLabError, match="values"):
        plot_ablation_bars(["a", "b"], [1.0])
    with pytest.raises(LotteryLabError, match="colors"):
        plot_ablation_bars(["a", "b"], [1.0, 2.0], colors=["r"])
