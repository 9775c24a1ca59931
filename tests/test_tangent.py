"""Tangent-space tools checked against independent oracles: an analytic linear model, finite
differences, an explicit Jacobian built from one backward pass per output, and a plain solve."""
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from lotterylab.errors import LotteryLabError
from lotterylab.models import TangentMLP
from lotterylab.tangent import (
    empirical_ntk,
    function_distance,
    linearize,
    params_of,
    relative_movement,
    solve_tangent,
    tangent_predict,
    train_mse_gd,
)


def _x(n, d=3, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _shift(params, scale, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {k: v + scale * torch.randn(v.shape, generator=g) for k, v in params.items()}


def explicit_jacobian(model, x):
    """(n * k, P) Jacobian from one backward pass per (input, output): independent of torch.func."""
    params = list(model.parameters())
    out = model(x)
    rows = []
    for i in range(out.shape[0]):
        for c in range(out.shape[1]):
            grads = torch.autograd.grad(out[i, c], params, retain_graph=True)
            rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows).double()


class RandomFeatures(nn.Module):
    """Linear in its parameters: f(x) = w . tanh(A x) + b with A fixed (a buffer)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("A", _x(16, 3, seed=5))
        self.w = nn.Parameter(torch.randn(2, 16, generator=torch.Generator().manual_seed(6)))
        self.b = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return torch.tanh(x @ self.A.T) @ self.w.T + self.b


def test_linearize_is_exact_for_a_model_linear_in_its_parameters():
    net = RandomFeatures()
    f_lin = linearize(net)
    theta = _shift(params_of(net), 3.0)
    x = _x(7)
    assert torch.allclose(f_lin(x, params=theta), functional_call(net, theta, (x,)), atol=1e-5)


def test_linearize_matches_first_order_taylor_error_is_quadratic():
    torch.manual_seed(0)                                      # smooth (tanh): ReLU kinks spoil O(h^2)
    net = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2)).double()
    f_lin = linearize(net)
    x = _x(9).double()
    direction = _shift({k: torch.zeros_like(v) for k, v in params_of(net).items()}, 1.0)
    errors = []
    for h in (1e-2, 5e-3, 2.5e-3):
        theta = {k: v + h * direction[k] for k, v in params_of(net).items()}
        errors.append(float((f_lin(x, params=theta) - functional_call(net, theta, (x,))).abs().max()))
    # halving h divides an O(h^2) remainder by ~4 (an O(h) error, i.e. a wrong slope, only by 2)
    for big, small in zip(errors, errors[1:]):
        assert 3.0 < big / small < 5.0, errors
    # and the linear part itself is right: the first-order term equals a central finite difference
    h = 1e-4
    plus = functional_call(net, {k: v + h * direction[k] for k, v in params_of(net).items()}, (x,))
    minus = functional_call(net, {k: v - h * direction[k] for k, v in params_of(net).items()}, (x,))
    theta1 = {k: v + direction[k] for k, v in params_of(net).items()}
    assert torch.allclose(f_lin(x, params=theta1) - net(x), (plus - minus) / (2 * h), atol=1e-6)


def test_linearize_tracks_the_models_current_parameters_and_keeps_theta0():
    net = TangentMLP(3, [16], 1, seed=0)
    x = _x(4)
    f_lin = linearize(net)
    before = f_lin(x).detach().clone()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1)
    assert not torch.allclose(f_lin(x), before)
    assert torch.allclose(f_lin(x, params=f_lin.params0), before)


def test_linearize_is_differentiable_in_params():
    net = TangentMLP(3, [8], 1, seed=0)
    f_lin = linearize(net)
    theta = {k: v.clone().requires_grad_(True) for k, v in params_of(net).items()}
    f_lin(_x(5), params=theta).sum().backward()
    J = explicit_jacobian(net, _x(5))
    grad = torch.cat([theta[k].grad.reshape(-1) for k in theta]).double()
    assert torch.allclose(grad, J.sum(0), atol=1e-5)


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_ntk_equals_explicit_jacobian_product_and_is_symmetric_psd(parameterization):
    net = TangentMLP(3, [12, 10], 1, parameterization=parameterization, seed=1)
    x = _x(6)
    K = empirical_ntk(net, x).double()
    J = explicit_jacobian(net, x)
    assert K.shape == (6, 6)
    assert torch.allclose(K, J @ J.T, rtol=1e-4, atol=1e-5)
    assert torch.allclose(K, K.T, atol=1e-5)
    assert torch.linalg.eigvalsh(K).min() > -1e-6 * K.diagonal().max()


def test_ntk_multi_output_reductions_match_explicit_jacobian():
    net = TangentMLP(3, [10], 3, seed=2)
    x1, x2 = _x(4), _x(5, seed=3)
    J1, J2 = explicit_jacobian(net, x1).reshape(4, 3, -1), explicit_jacobian(net, x2).reshape(5, 3, -1)
    full = torch.einsum("akp,bjp->abkj", J1, J2)
    assert torch.allclose(empirical_ntk(net, x1, x2).double(), full, atol=1e-5)
    assert torch.allclose(empirical_ntk(net, x1, x2, reduction="trace").double(),
                          torch.einsum("abkk->ab", full), atol=1e-5)
    assert torch.allclose(empirical_ntk(net, x1, x2, reduction="diagonal").double(),
                          torch.einsum("abkk->abk", full), atol=1e-5)


@pytest.mark.parametrize("reduction", ["full", "trace"])
def test_chunked_equals_unchunked(reduction):
    net = TangentMLP(3, [20], 2, seed=0)
    x, x2 = _x(11), _x(7, seed=9)
    whole = empirical_ntk(net, x, reduction=reduction, chunk_size=100)
    for chunk in (1, 3, 4):
        assert torch.allclose(empirical_ntk(net, x, reduction=reduction, chunk_size=chunk), whole, atol=1e-5)
        assert torch.allclose(empirical_ntk(net, x, x2, reduction=reduction, chunk_size=chunk),
                              empirical_ntk(net, x, x2, reduction=reduction, chunk_size=100), atol=1e-5)
    # the memory-bounded block path (no room to keep Jacobians, or room for only some) gives the same
    for cache in (0, 3 * 2 * 101 * 4 * 2):
        assert torch.allclose(empirical_ntk(net, x, reduction=reduction, chunk_size=3, max_cache_bytes=cache),
                              whole, atol=1e-5)
        assert torch.allclose(empirical_ntk(net, x, x2, reduction=reduction, chunk_size=3, max_cache_bytes=cache),
                              empirical_ntk(net, x, x2, reduction=reduction, chunk_size=100), atol=1e-5)


def test_ntk_names_and_masks_select_jacobian_columns():
    net = TangentMLP(3, [10], 1, seed=0)
    x = _x(5)
    J = explicit_jacobian(net, x)
    sizes = [p.numel() for p in net.parameters()]
    names = [n for n, _ in net.named_parameters()]
    cols = dict(zip(names, torch.arange(sum(sizes)).split(sizes)))
    first = cols["layers.0.weight"]
    K_first = empirical_ntk(net, x, names=["layers.0.weight"]).double()
    assert torch.allclose(K_first, J[:, first] @ J[:, first].T, atol=1e-5)
    mask = (torch.arange(30).reshape(10, 3) % 2).float()
    keep = torch.ones(J.shape[1], dtype=torch.double)
    keep[first] = mask.reshape(-1).double()
    K_mask = empirical_ntk(net, x, masks={"layers.0.weight": mask}).double()
    assert torch.allclose(K_mask, (J * keep) @ J.T, atol=1e-5)


def test_solver_interpolates_and_agrees_with_kernel_regression():
    net = TangentMLP(2, [64], 1, seed=0)
    x, xt = _x(10, 2), _x(6, 2, seed=4)
    y = torch.sign(x[:, :1])
    delta = solve_tangent(net, x, y, chunk_size=4)
    theta = {k: v + delta[k] for k, v in params_of(net).items()}
    f_lin = linearize(net)
    assert torch.allclose(f_lin(x, params=theta), y, atol=1e-3)
    # the same solution in function space: f0 + K(x', X) K^-1 (y - f0)
    f_train, f_test = tangent_predict(empirical_ntk(net, x), net(x).detach(), y,
                                      empirical_ntk(net, xt, x), net(xt).detach())
    assert torch.allclose(f_train, y, atol=1e-4)
    assert torch.allclose(f_test, f_lin(xt, params=theta).detach(), atol=1e-3)
    # minimum norm: delta lies in the row space of J, so any other solution is longer
    J = explicit_jacobian(net, x)
    d = torch.cat([delta[k].reshape(-1) for k in delta]).double()
    assert torch.allclose(J.T @ torch.linalg.lstsq(J.T, d[:, None]).solution[:, 0], d, atol=1e-4)


def test_tangent_predict_gd_trajectory_matches_training_the_linear_model():
    net = RandomFeatures()
    x, y = _x(8), _x(8, 2, seed=3)
    f0 = net(x).detach()
    K = empirical_ntk(net, x)
    lr, steps = 0.5, 40
    losses = train_mse_gd(net, x, y, lr=lr, steps=steps)       # the model is linear: GD is exact
    f_gd, _ = tangent_predict(K, f0, y, lr=lr, steps=steps)
    assert losses == []
    assert torch.allclose(f_gd, net(x).detach(), atol=1e-4)
    f_inf, _ = tangent_predict(K, f0, y)
    f_long, _ = tangent_predict(K, f0, y, lr=lr, steps=10**7)
    assert torch.allclose(f_inf, f_long, atol=1e-4)
    f_ridge, _ = tangent_predict(K, f0, y, ridge=1e6)
    assert torch.allclose(f_ridge, f0, atol=1e-3)            # a huge ridge hardly moves


def test_train_mse_gd_respects_masks():
    net = TangentMLP(2, [8], 1, seed=0)
    mask = torch.zeros(8, 2)
    mask[:4] = 1
    w0 = net.layers[0].weight.detach().clone()
    losses = train_mse_gd(net, _x(6, 2), torch.ones(6, 1), lr=0.5, steps=20, masks={"layers.0.weight": mask},
                          record_every=10)
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert torch.equal(net.layers[0].weight[4:], w0[4:])
    assert not torch.equal(net.layers[0].weight[:4], w0[:4])


def test_parameterizations_share_the_function_but_not_the_kernel_scale():
    x = _x(5, 20)
    k = {}
    for p in ("ntk", "standard"):
        net = TangentMLP(20, [256], 1, parameterization=p, seed=3)
        k[p] = empirical_ntk(net, x).diagonal().mean()
        out = net(x)
        if p == "ntk":
            ntk_out = out
    assert torch.allclose(out, ntk_out, atol=1e-5)
    assert k["standard"] > 10 * k["ntk"]                        # the standard kernel grows with width


def test_movement_and_distance():
    a = {"w": torch.tensor([3.0, 4.0]), "b": torch.tensor([0.0])}
    z = {"w": torch.tensor([0.0, 4.0]), "b": torch.tensor([0.0])}
    assert math.isclose(relative_movement(a, z), 0.75)
    assert math.isclose(relative_movement(a, z, names=["w"]), 0.75)
    f0, fa, fb = torch.zeros(4), torch.ones(4), torch.full((4,), 2.0)
    assert math.isclose(function_distance(fa, fb), 1.0)
    assert math.isclose(function_distance(fa, fb, relative_to=f0), 0.5)


def test_bad_input_raises_clear_errors():
    net = TangentMLP(3, [8], 1, seed=0)
    p0 = params_of(net)
    with pytest.raises(LotteryLabError, match="shape"):
        linearize(net, {**p0, "layers.0.weight": torch.zeros(2, 2)})
    with pytest.raises(LotteryLabError, match="missing"):
        linearize(net, {k: v for k, v in p0.items() if k != "layers.0.bias"})
    with pytest.raises(LotteryLabError, match="unknown"):
        linearize(net)(_x(2), params={**p0, "extra": torch.zeros(1)})
    with pytest.raises(LotteryLabError, match="x1"):
        empirical_ntk(net, torch.zeros(0, 3))
    with pytest.raises(LotteryLabError, match="chunk_size"):
        empirical_ntk(net, _x(2), chunk_size=0)
    with pytest.raises(LotteryLabError, match="reduction"):
        empirical_ntk(net, _x(2), reduction="mean")
    with pytest.raises(LotteryLabError, match="same input shape"):
        empirical_ntk(net, _x(2), torch.zeros(2, 4))
    with pytest.raises(LotteryLabError, match="names"):
        empirical_ntk(net, _x(2), names=["nope"])
    with pytest.raises(LotteryLabError, match="x"):
        solve_tangent(net, torch.zeros(0, 3), torch.zeros(0, 1))
    with pytest.raises(LotteryLabError, match="y has shape"):
        solve_tangent(net, _x(2), torch.zeros(3, 1))
    with pytest.raises(LotteryLabError, match="lr"):
        tangent_predict(torch.eye(2), torch.zeros(2), torch.ones(2), steps=3)
    with pytest.raises(LotteryLabError, match="do not fit"):
        tangent_predict(torch.eye(3), torch.zeros(2), torch.ones(2))
    with pytest.raises(LotteryLabError, match="parameterization"):
        TangentMLP(3, [8], 1, parameterization="mup")
    with pytest.raises(LotteryLabError, match="f_a and f_b"):
        function_distance(torch.zeros(2), torch.zeros(3))
