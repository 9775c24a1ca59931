import pytest

from lotterylab.errors import LotteryLabError
from lotterylab.models import lenet_300_100
from lotterylab.pruning import Mask, magnitude_prune
from lotterylab.training import TrainConfig, train


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_pruned_weights_stay_exactly_zero(mnist, optimizer):
    net = lenet_300_100(seed=0)
    mask = magnitude_prune(net, Mask.ones_like(net), 0.8)
    train(net, mnist, TrainConfig(steps=30, eval_every=10, optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 1e-3),
          seed=0, mask=mask)
    for name, p in net.named_parameters():
        if name in mask:
            assert bool((p[~mask[name]] == 0).all()), name
            assert bool((p[mask[name]] != 0).all()), name


def test_momentum_revives_weights_without_the_mask(mnist):
    """The pitfall the masked trainer avoids: zeroing weights once is not enough with Adam."""
    net = lenet_300_100(seed=0)
    mask = magnitude_prune(net, Mask.ones_like(net), 0.8)
    mask.apply_(net)
    train(net, mnist, TrainConfig(steps=10, eval_every=10), seed=0)  # no mask passed
    revived = (net.fc1.weight[~mask["fc1.weight"]] != 0).float().mean()
    assert revived > 0.5


def test_training_learns_and_is_reproducible(mnist):
    cfg = TrainConfig(steps=200, eval_every=100)
    a = train(lenet_300_100(seed=3), mnist, cfg, seed=5)
    b = train(lenet_300_100(seed=3), mnist, cfg, seed=5)
    assert a.test_acc == b.test_acc and a.val_loss == b.val_loss
    assert a.final_test_acc > 0.85
    assert a.steps == [100, 200]


def test_bad_train_config():
    with pytest.raises(LotteryLabError, match="optimizer='rmsprop'"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(LotteryLabError, match="steps=0"):
        TrainConfig(steps=0)
