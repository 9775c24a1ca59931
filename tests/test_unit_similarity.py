import pytest
import torch

from lotterylab.errors import LotteryLabError
from lotterylab.models import lenet_300_100
from lotterylab.pruning import Mask
from lotterylab.sparse_speed import time_sparse_matmul
from lotterylab.unit_similarity import activation_correlations, unit_cosines


def _rescaled(model, unit=3, c=7.0):
    """The same function: hidden unit `unit` of fc1 scaled up by c, its outgoing weights down by c."""
    other = lenet_300_100(seed=1)
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        other.fc1.weight[unit] *= c
        other.fc1.bias[unit] *= c
        other.fc2.weight[:, unit] /= c
    return other


def test_both_measures_are_blind_to_relu_rescaling():
    net = lenet_300_100(seed=0)
    other = _rescaled(net)
    x = torch.randn(64, 784, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(net(x), other(x), atol=1e-4)
    cos = unit_cosines(net.state_dict(), other.state_dict(), Mask.ones_like(net))
    assert torch.allclose(cos["fc1.weight"], torch.ones(300), atol=1e-6)
    corr = activation_correlations(net, other, x, ["fc1", "fc2"])
    assert torch.allclose(corr["fc1"], torch.ones(300), atol=1e-5) and torch.allclose(corr["fc2"], torch.ones(100), atol=1e-5)
    # the raw distance is fooled: unit 3 moved by 6x its norm
    assert (other.fc1.weight[3] - net.fc1.weight[3]).norm() > 5 * net.fc1.weight[3].norm()


def test_unrelated_networks_are_dissimilar_and_masks_count():
    a, b = lenet_300_100(seed=0), lenet_300_100(seed=1)
    x = torch.randn(256, 784, generator=torch.Generator().manual_seed(0))
    assert activation_correlations(a, b, x, ["fc1"])["fc1"].abs().median() < 0.2
    assert unit_cosines(a.state_dict(), b.state_dict(), Mask.ones_like(a))["fc1.weight"].abs().median() < 0.1
    mask = Mask.ones_like(a)
    mask["fc1.weight"][5] = 0
    assert torch.isnan(unit_cosines(a.state_dict(), b.state_dict(), mask)["fc1.weight"][5])


def test_bad_input():
    net = lenet_300_100(seed=0)
    with pytest.raises(LotteryLabError, match="mask"):
        unit_cosines(net.state_dict(), net.state_dict(), {"fc1.weight": torch.ones(300, 784)})
    with pytest.raises(LotteryLabError, match="layers"):
        activation_correlations(net, net, torch.randn(4, 784), ["fc9"])
    with pytest.raises(LotteryLabError, match="x must be"):
        activation_correlations(net, net, torch.randn(1, 784), ["fc1"])
    with pytest.raises(LotteryLabError, match="densities"):
        time_sparse_matmul(torch.randn(4, 4), [0.0])
    with pytest.raises(LotteryLabError, match="weight"):
        time_sparse_matmul(torch.randn(4), [0.5])


def test_sparse_timing_keeps_the_right_count_and_reports_ratios():
    rows = time_sparse_matmul(torch.randn(50, 40), [1.0, 0.5, 0.036], batch=16, repeats=3)
    assert [r.density for r in rows] == [1.0, 0.5, 0.036]
    assert all(r.dense_s > 0 and r.sparse_s > 0 and r.speedup == r.dense_s / r.sparse_s for r in rows)
