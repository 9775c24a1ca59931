"""Linearising during training: checked against a model that is linear in its parameters (where the
linearisation is exact, so it must follow the network step for step) and against plain Adam."""
import copy

import pytest
import torch
from torch import nn

from lotterylab.errors import LotteryLabError
from lotterylab.models import TangentMLP
from lotterylab.tangent_dynamics import linearize_during_training


def _x(n, d=3, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


class RandomFeatures(nn.Module):
    """Linear in its parameters: the linearisation at any point is the model itself."""

    def __init__(self):
        super().__init__()
        self.register_buffer("A", _x(16, 3, seed=5))
        self.w = nn.Parameter(torch.randn(1, 16, generator=torch.Generator().manual_seed(6)))
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.tanh(x @ self.A.T) @ self.w.T + self.b


def test_linearisation_of_a_linear_model_follows_the_network_exactly():
    x, x_te = _x(10), _x(7, seed=1)
    y = torch.sin(x[:, :1])
    run = linearize_during_training(RandomFeatures(), x, y, x_te, linearize_at=(0, 4, 9), steps=20, lr=0.05,
                                    record_every=5)
    for k, lin in run.linearized.items():                     # the carried-over Adam state makes it exact
        assert torch.allclose(lin.f_eval, run.f_eval, atol=1e-5), k
        assert lin.distance < 1e-4
        assert lin.train_loss[-1] == pytest.approx(run.train_loss[-1], rel=1e-4)
    assert run.linearized[4].steps == [4, 9, 14, 19, 20] and run.steps == [0, 5, 10, 15, 20]
    assert run.linearized[0].movement_at_k == 0.0 and run.linearized[9].movement_at_k > 0


def test_the_network_is_trained_by_plain_full_batch_adam():
    net = TangentMLP(3, [16], 1, parameterization="standard", seed=0)
    reference = copy.deepcopy(net)
    x = _x(12)
    y = torch.sign(x[:, :1])
    run = linearize_during_training(net, x, y, x, linearize_at=[0], steps=15, lr=1e-2)
    opt = torch.optim.Adam(reference.parameters(), lr=1e-2)
    for _ in range(15):
        opt.zero_grad()
        (0.5 * (reference(x) - y).pow(2).mean()).backward()
        opt.step()
    assert torch.allclose(net(x), reference(x), atol=1e-5)
    assert torch.allclose(run.f_eval, reference(x).detach(), atol=1e-5)
    assert run.movement > 0 and run.train_loss[-1] < run.train_loss[0]


def test_a_nonlinear_network_departs_from_its_linearisation_at_init_more_than_later():
    net = TangentMLP(3, [32], 1, parameterization="standard", seed=1)
    x = _x(32, seed=2)
    y = torch.sign(x[:, :1] * x[:, 1:2])                       # XOR-like: needs the features to change
    run = linearize_during_training(net, x, y, x, linearize_at=[0, 150], steps=200, lr=1e-2)
    assert run.linearized[150].distance < run.linearized[0].distance


@pytest.mark.parametrize("kwargs, match", [
    ({"linearize_at": [5]}, "linearize_at"), ({"linearize_at": [2, 1]}, "linearize_at"),
    ({"linearize_at": []}, "linearize_at"), ({"linearize_at": [1.5]}, "linearize_at"),
    ({"steps": 0}, "steps"), ({"lr": -1.0}, "lr"), ({"record_every": 0}, "record_every"),
    ({"y": torch.ones(4)}, "y")])
def test_linearize_during_training_rejects_bad_input(kwargs, match):
    args = {"model": TangentMLP(3, [4], 1), "x": _x(4), "y": torch.ones(4, 1), "x_eval": _x(2), "linearize_at": [0], "steps": 5}
    args.update(kwargs)
    with pytest.raises(LotteryLabError, match=match):
        linearize_during_training(**args)
