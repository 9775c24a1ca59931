"""A binary network trained with a straight-through estimator (lotterylab.binary_connect)."""
import pytest
import torch
from torch import nn

from lotterylab.binary_connect import BinaryConnectLinear, binary_connect_lenet, binary_weights, train_binary_connect
from lotterylab.data import Split
from lotterylab.errors import LotteryLabError
from lotterylab.models import lenet_300_100
from lotterylab.training import TrainConfig, evaluate


def test_forward_uses_plus_minus_one_gain_per_layer():
    layer = BinaryConnectLinear(6, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -0.25, 0.0, 2.0, -1.0, 0.1]] * 4))
    w = layer.binary_weight()
    gain = layer.weight.abs().mean()
    assert torch.allclose(w.abs(), gain.expand_as(w))
    assert torch.equal(torch.sign(w[0]), torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0, 1.0]))  # sign(0) = +1
    x = torch.randn(3, 6)
    assert torch.allclose(layer(x), x @ w.T + layer.bias)


def test_straight_through_gradient_is_cut_where_the_latent_weight_is_outside_one():
    layer = BinaryConnectLinear(3, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -2.0, 0.3]]))
    x = torch.tensor([[1.0, 1.0, 1.0]])
    layer(x).sum().backward()
    gain = float(layer.weight.detach().abs().mean())
    assert torch.allclose(layer.weight.grad, torch.tensor([[gain, 0.0, gain]]))


def test_lenet_starts_from_the_dense_initial_weights_and_widens():
    net, dense = binary_connect_lenet(seed=3), lenet_300_100(seed=3)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), dense.state_dict().values()))
    assert list(net.state_dict()) == list(dense.state_dict())
    wide = binary_connect_lenet(seed=0, width=2)
    assert tuple(wide.fc1.weight.shape) == (600, 784) and tuple(wide.fc2.weight.shape) == (200, 600)
    assert {n: tuple(t.shape) for n, t in binary_weights(wide).items()} == {
        "fc1.weight": (600, 784), "fc2.weight": (200, 600), "fc3.weight": (10, 200)}


def test_training_learns_keeps_latent_weights_clipped_and_removes_its_hook(mnist):
    tiny = Split(mnist.X_train[:1200], mnist.y_train[:1200], mnist.X_val[:200], mnist.y_val[:200],
                 mnist.X_test[:300], mnist.y_test[:300])
    net = binary_connect_lenet(seed=0)
    with torch.no_grad():
        net.fc3.weight[0, 0] = -1.5  # outside [-1, 1]: no gradient reaches it, only the clipping moves it
    before = net.fc1.weight.detach().clone()
    result = train_binary_connect(net, tiny, TrainConfig(steps=200, eval_every=100), seed=0)
    assert result.steps == [100, 200]
    assert float(net.fc3.weight[0, 0]) == -1.0
    assert max(float(m.weight.abs().max()) for m in (net.fc1, net.fc2, net.fc3)) <= 1.0
    assert (torch.sign(net.fc1.weight) != torch.sign(before)).any()            # signs did flip
    assert evaluate(net, tiny.X_test, tiny.y_test)[1] > 0.5                    # chance is 0.1
    other = nn.Linear(1, 1)                                                     # the clip hook is gone
    opt = torch.optim.SGD(other.parameters(), lr=1.0)
    other.weight.grad, other.bias.grad = torch.tensor([[-5.0]]), torch.tensor([0.0])
    opt.step()
    assert float(other.weight.abs()) > 1.0


def test_same_seed_same_training(mnist):
    tiny = Split(mnist.X_train[:300], mnist.y_train[:300], mnist.X_val[:60], mnist.y_val[:60],
                 mnist.X_test[:60], mnist.y_test[:60])
    runs = []
    for _ in range(2):
        net = binary_connect_lenet(seed=1)
        train_binary_connect(net, tiny, TrainConfig(steps=10, eval_every=10), seed=2)
        runs.append(net.fc1.weight.detach().clone())
    assert torch.equal(*runs)


# ----- bad input ------------------------------------------------------------------------------

def test_bad_arguments_are_clear_errors(mnist):
    with pytest.raises(LotteryLabError, match="width"):
        binary_connect_lenet(seed=0, width=0.5)
    with pytest.raises(LotteryLabError, match="seed"):
        binary_connect_lenet(seed=-1)
    with pytest.raises(LotteryLabError, match="model"):
        binary_weights(lenet_300_100(seed=0))                  # a dense network has no binary layer
    with pytest.raises(LotteryLabError, match="model"):
        binary_weights("net")
    with pytest.raises(LotteryLabError, match="config"):
        train_binary_connect(binary_connect_lenet(seed=0), mnist, {"steps": 2}, seed=0)
    with pytest.raises(LotteryLabError, match="model"):
        train_binary_connect(lenet_300_100(seed=0), mnist, TrainConfig(steps=2), seed=0)
