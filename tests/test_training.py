import dataclasses

import pytest
import torch

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


def test_rewound_network_continues_the_data_order(mnist):
    """Plain SGD (no optimiser state): 0 -> 40, then a fresh run from the step-40 weights to 90, ends
    exactly where one run 0 -> 90 ends, because steps 41..90 see the same batches (across an epoch)."""
    from lotterylab.models import lenet_300_100

    cfg = TrainConfig(steps=90, eval_every=90, batch_size=50, optimizer="sgd", momentum=0.0, lr=0.05)
    whole = lenet_300_100(seed=0)
    train(whole, mnist, cfg, seed=4)  # 70 batches per epoch: the run crosses into epoch 1
    first = train(lenet_300_100(seed=0), mnist, cfg, seed=4, snapshot_step=40)
    rewound = lenet_300_100(seed=0)
    rewound.load_state_dict(first.snapshot)
    train(rewound, mnist, cfg, seed=4, start_step=40)
    for (name, a), b in zip(whole.state_dict().items(), rewound.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
    restarted = lenet_300_100(seed=0)  # the old behaviour, replaying batches 1..50 instead, differs
    restarted.load_state_dict(first.snapshot)
    train(restarted, mnist, dataclasses.replace(cfg, steps=50), seed=4)
    assert not torch.allclose(whole.fc1.weight, restarted.fc1.weight, atol=1e-6)


def test_bad_train_arguments(mnist):
    from lotterylab.models import lenet_300_100

    net = lenet_300_100(seed=0)
    with pytest.raises(LotteryLabError, match="lr"):
        TrainConfig(lr=float("nan"))
    with pytest.raises(LotteryLabError, match="lr"):
        TrainConfig(lr=-1.0)
    with pytest.raises(LotteryLabError, match="momentum"):
        TrainConfig(momentum=1.5)
    with pytest.raises(LotteryLabError, match="start_step=-3"):
        train(net, mnist, TrainConfig(steps=10), seed=0, start_step=-3)
    with pytest.raises(LotteryLabError, match="start_step"):
        train(net, mnist, TrainConfig(steps=10), seed=0, start_step=10)
    with pytest.raises(LotteryLabError, match="snapshot_step"):
        train(net, mnist, TrainConfig(steps=10), seed=0, snapshot_step=11)
    with pytest.raises(LotteryLabError, match="batch_size"):
        train(net, mnist, TrainConfig(steps=10, batch_size=10_000), seed=0)
    with pytest.raises(LotteryLabError, match="seed"):
        train(net, mnist, TrainConfig(steps=10), seed=-1)


def test_bad_evaluate_and_batch_order_arguments(mnist):
    from lotterylab.models import lenet_300_100
    from lotterylab.training import batch_order, evaluate

    with pytest.raises(LotteryLabError, match="equal length"):
        evaluate(lenet_300_100(seed=0), mnist.X_val, mnist.y_val[:3])
    with pytest.raises(LotteryLabError, match="step"):
        batch_order(0, 0, n=10, batch_size=2)
    with pytest.raises(LotteryLabError, match="batch_size"):
        batch_order(0, 1, n=10, batch_size=11)
