"""Tangent-space tools checked against independent oracles: an analytic linear model, finite
differences, an explicit Jacobian built from one backward pass per output, and a plain solve."""
import dataclasses
import itertools
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from lotterylab.errors import LotteryLabError
from lotterylab.lazy_training import (
    TangentConfig,
    compare_to_linearization,
    plot_fits_1d,
    plot_loss_vs_steps,
    plot_vs_width,
)
from lotterylab.models import TangentMLP
from lotterylab.pruning import Mask, magnitude_prune
from lotterylab.tangent import check_inputs, check_params, empirical_ntk, kernel_matrix, linearize, params_of
from lotterylab.tangent_dynamics import linearize_during_training
from lotterylab.tangent_fit import (
    GDHistory,
    function_distance,
    relative_movement,
    solve_tangent,
    tangent_predict,
    train_mse_gd,
)
from lotterylab.tangent_tickets import restricted_solve_curve


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
    assert torch.allclose(f_lin(theta, x), functional_call(net, theta, (x,)), atol=1e-5)


def test_linearize_matches_first_order_taylor_error_is_quadratic():
    torch.manual_seed(0)                                      # smooth (tanh): ReLU kinks spoil O(h^2)
    net = nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2)).double()
    f_lin = linearize(net)
    x = _x(9).double()
    direction = _shift({k: torch.zeros_like(v) for k, v in params_of(net).items()}, 1.0)
    errors = []
    for h in (1e-2, 5e-3, 2.5e-3):
        theta = {k: v + h * direction[k] for k, v in params_of(net).items()}
        errors.append(float((f_lin(theta, x) - functional_call(net, theta, (x,))).abs().max()))
    # halving h divides an O(h^2) remainder by ~4 (an O(h) error, i.e. a wrong slope, only by 2)
    for big, small in itertools.pairwise(errors):
        assert 3.0 < big / small < 5.0, errors
    # and the linear part itself is right: the first-order term equals a central finite difference
    h = 1e-4
    plus = functional_call(net, {k: v + h * direction[k] for k, v in params_of(net).items()}, (x,))
    minus = functional_call(net, {k: v - h * direction[k] for k, v in params_of(net).items()}, (x,))
    theta1 = {k: v + direction[k] for k, v in params_of(net).items()}
    assert torch.allclose(f_lin(theta1, x) - net(x), (plus - minus) / (2 * h), atol=1e-6)


def test_linearize_is_pure_later_training_does_not_change_it():
    net = TangentMLP(3, [16], 1, seed=0)
    x = _x(4)
    theta0 = params_of(net)
    f_lin = linearize(net)
    theta = _shift(theta0, 0.05)
    before, at0 = f_lin(theta, x).detach().clone(), f_lin(theta0, x).detach().clone()
    with torch.no_grad():                                     # "train" the model afterwards
        for p in net.parameters():
            p.add_(0.1)
    assert torch.equal(f_lin(theta, x), before)               # same params in, same answer out
    assert torch.equal(f_lin(theta0, x), at0)
    assert torch.allclose(at0, functional_call(net, theta0, (x,)), atol=1e-6)
    assert all(torch.equal(f_lin.params0[k], theta0[k]) for k in theta0)
    # the linearisation at the trained weights is an explicit second call, not a hidden default
    assert torch.allclose(linearize(net)(params_of(net), x), net(x), atol=1e-6)


def test_linearize_is_differentiable_in_params():
    net = TangentMLP(3, [8], 1, seed=0)
    f_lin = linearize(net)
    theta = {k: v.clone().requires_grad_(True) for k, v in params_of(net).items()}
    f_lin(theta, _x(5)).sum().backward()
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


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_one_hidden_layer_closed_form_kernel_matches_explicit_jacobian(parameterization):
    net = TangentMLP(3, [9], 1, parameterization=parameterization, bias_std=0.7, seed=2)
    with torch.no_grad():
        net.layers[0].bias.add_(0.5)                          # some units off, some on
    x, x2 = _x(6), _x(4, seed=3)
    J, J2 = explicit_jacobian(net, x), explicit_jacobian(net, x2)
    names = [n for n, _ in net.named_parameters()]
    sizes = [p.numel() for p in net.parameters()]
    cols = dict(zip(names, torch.arange(sum(sizes)).split(sizes)))
    assert torch.allclose(empirical_ntk(net, x).double(), J @ J.T, rtol=1e-5, atol=1e-5)
    assert torch.allclose(empirical_ntk(net, x, x2).double(), J @ J2.T, rtol=1e-5, atol=1e-5)
    for name in names:                                        # each layer's share
        c = cols[name]
        assert torch.allclose(empirical_ntk(net, x, names=[name]).double(), J[:, c] @ J[:, c].T, atol=1e-5), name
    out_mask = (torch.arange(9) % 3 == 0).float()[None]        # a mask on the output layer factors too
    keep = torch.ones(J.shape[1], dtype=torch.double)
    keep[cols["layers.1.weight"]] = out_mask.reshape(-1).double()
    assert torch.allclose(empirical_ntk(net, x, masks={"layers.1.weight": out_mask}).double(), (J * keep) @ J.T,
                          atol=1e-5)
    # a first-layer mask (all ones here) takes the generic Jacobian path: the same kernel
    params = params_of(net)
    generic = empirical_ntk(net, x, x2, masks={"layers.0.weight": torch.ones(9, 3)}, params=params)
    assert torch.allclose(generic, empirical_ntk(net, x, x2), atol=1e-5)


def test_solver_interpolates_and_agrees_with_kernel_regression():
    net = TangentMLP(2, [64], 1, seed=0)
    x, xt = _x(10, 2), _x(6, 2, seed=4)
    y = torch.sign(x[:, :1])
    delta = solve_tangent(net, x, y, chunk_size=4)
    theta = {k: v + delta[k] for k, v in params_of(net).items()}
    f_lin = linearize(net)
    assert torch.allclose(f_lin(theta, x), y, atol=1e-3)
    # the same solution in function space: f0 + K(x', X) K^-1 (y - f0)
    f_train, f_test = tangent_predict(empirical_ntk(net, x), net(x).detach(), y,
                                      empirical_ntk(net, xt, x), net(xt).detach())
    assert torch.allclose(f_train, y, atol=1e-4)
    assert torch.allclose(f_test, f_lin(theta, xt).detach(), atol=1e-3)
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
    history = train_mse_gd(net, x, y, lr=lr, steps=steps)      # the model is linear: GD is exact
    f_gd, _ = tangent_predict(K, f0, y, lr=lr, steps=steps)
    assert history == GDHistory(steps=[], losses=[])
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
    history = train_mse_gd(net, _x(6, 2), torch.ones(6, 1), lr=0.5, steps=20, masks=Mask({"layers.0.weight": mask}),
                           record_every=10)
    assert history.steps == [0, 10, 20] and history.losses[-1] < history.losses[0]
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


def test_solve_tangent_matches_the_previous_cpu_gelsd_solve():
    """The GPU-capable eigh solve gives the numbers of the old CPU-only lstsq(driver="gelsd") solve."""
    net = TangentMLP(2, [48], 1, seed=1)
    x, y = _x(12, 2, seed=2), torch.sign(_x(12, 1, seed=3))
    f0 = net(x).detach()
    K = empirical_ntk(net, x).double()
    for ridge in (0.0, 0.1):
        rhs = (y - f0).reshape(-1).double()
        alpha = torch.linalg.lstsq(K + ridge * torch.eye(12, dtype=torch.float64), rhs[:, None],
                                   driver="gelsd").solution[:, 0]
        J = explicit_jacobian(net, x)
        expected = J.T @ alpha                                      # delta = J^T (K + ridge I)^-1 (y - f0)
        delta = solve_tangent(net, x, y, ridge=ridge)
        got = torch.cat([delta[k].reshape(-1) for k, _ in net.named_parameters()]).double()
        assert torch.allclose(got, expected, rtol=1e-4, atol=1e-6), ridge


def test_empirical_ntk_accepts_a_mask_and_equals_the_dict_form():
    net = TangentMLP(3, [10], 1, seed=0)
    x = _x(5)
    mask = magnitude_prune(net, Mask.ones_like(net), 0.5)
    as_dict = {k: v.float() for k, v in mask.items()}
    assert torch.allclose(empirical_ntk(net, x, masks=mask), empirical_ntk(net, x, masks=as_dict))
    assert not torch.allclose(empirical_ntk(net, x, masks=mask), empirical_ntk(net, x))


def test_train_mse_gd_loss_is_the_mean_squared_error_and_refuses_a_flat_y():
    net = TangentMLP(2, [8], 1, seed=0)
    x, y = _x(6, 2), _x(6, 1, seed=4)
    expected = float(0.5 * (net(x).detach() - y).pow(2).mean())
    assert math.isclose(train_mse_gd(net, x, y, lr=0.1, steps=1, record_every=1).losses[0], expected, rel_tol=1e-6)
    w0 = params_of(net)
    with pytest.raises(LotteryLabError, match="y has shape"):
        train_mse_gd(net, x, y[:, 0], lr=0.1, steps=5)            # (n,) against outputs (n, 1)
    assert all(torch.equal(w0[k], p) for k, p in net.named_parameters())   # refused before any step


def test_tangent_mlp_refuses_fractional_widths():
    with pytest.raises(LotteryLabError, match=r"hidden\[0\]"):
        TangentMLP(3, [2.7], 1)
    with pytest.raises(LotteryLabError, match="hidden"):
        TangentMLP(3, 8, 1)
    with pytest.raises(LotteryLabError, match="bias_std"):
        TangentMLP(3, [8], 1, bias_std=float("nan"))


def test_compare_to_linearization_wide_network_is_lazy():
    x = torch.linspace(-1, 1, 8)[:, None]
    y = torch.sin(3 * x)
    runs = {w: compare_to_linearization(TangentMLP(1, [w], 1, bias_std=1.0, seed=0), x, y, x, steps=200)
            for w in (16, 2048)}
    assert runs[2048].movement < runs[16].movement
    assert runs[2048].rel_distance < runs[16].rel_distance
    r = runs[2048]
    assert r.history.steps[0] == 0 and r.history.losses[-1] < r.history.losses[0]
    assert r.trained.shape == r.linearized.shape == r.one_step.shape == (8, 1)
    assert torch.allclose(r.one_step, y, atol=1e-3)              # the one-step solution interpolates


def test_chapter6_full_config_code_path_at_tiny_size(mnist):
    """Chapter 6's full preset, shrunk: same config class, same calls (regression, MNIST, ticket)."""
    cfg = TangentConfig.for_preset("full", reg_widths=(8, 32), reg_points=6, reg_steps=5, mnist_widths=(8, 16),
                                   n_train=12, n_test=10, mnist_steps=5, ticket_width=16, chunk_size=4)
    assert cfg.prune_fraction == TangentConfig.for_preset("full").prune_fraction
    x_reg = torch.linspace(-1, 1, cfg.reg_points)[:, None]
    for w in cfg.reg_widths:
        r = compare_to_linearization(TangentMLP(1, [w], 1, bias_std=1.0), x_reg, torch.sin(x_reg), x_reg,
                                     steps=cfg.reg_steps, chunk_size=cfg.chunk_size)
        assert math.isfinite(r.movement) and math.isfinite(r.kernel_change)
    X_tr, X_te = mnist.X_train[:cfg.n_train], mnist.X_test[:cfg.n_test]
    y_tr = (2.0 * (mnist.y_train[:cfg.n_train] % 2) - 1)[:, None]
    nets = {}
    for w in cfg.mnist_widths:
        nets[w] = TangentMLP(784, [w], 1)
        r = compare_to_linearization(nets[w], X_tr, y_tr, X_te, steps=cfg.mnist_steps, chunk_size=cfg.chunk_size)
        assert r.trained.shape == (cfg.n_test, 1) and torch.isfinite(r.one_step).all()
    mask = magnitude_prune(nets[cfg.ticket_width], Mask.ones_like(nets[cfg.ticket_width]), cfg.prune_fraction)
    net = mask.apply_(TangentMLP(784, [cfg.ticket_width], 1))
    K = empirical_ntk(net, X_tr, masks=mask, chunk_size=cfg.chunk_size)
    lr = len(X_tr) / torch.linalg.eigvalsh(K.double()).max().item()
    train_mse_gd(net, X_tr, y_tr, lr=lr, steps=cfg.mnist_steps, masks=mask)
    assert all(bool((p[~mask[k]] == 0).all()) for k, p in net.named_parameters() if k in mask)
    # the restricted solve, the seed spread and the linearisations during Adam training, at tiny size
    y_te = (2.0 * (mnist.y_test[:cfg.n_test] % 2) - 1)[:, None]
    curve = restricted_solve_curve(TangentMLP(784, [8], 1), X_tr, y_tr, X_te, y_te, cfg.restricted_fractions,
                                   n_random=cfg.random_draws, chunk_size=cfg.chunk_size)
    assert curve.fractions[-1] == 1.0 and len(curve.random_accuracy) == cfg.random_draws
    assert cfg.n_inits >= 2 and cfg.adam_linearize_at == (0, 100, 500)
    run = linearize_during_training(TangentMLP(784, [8], 1, parameterization="standard"), X_tr, y_tr, X_te,
                                    linearize_at=(0, 2), steps=4)
    assert all(math.isfinite(lin.distance) for lin in run.linearized.values())


def test_tangent_config_is_validated_and_frozen():
    quick, full = TangentConfig.for_preset("quick"), TangentConfig.for_preset("full")
    assert max(full.mnist_widths) > max(quick.mnist_widths)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.n_train = 3
    assert TangentConfig(reg_widths=[16, 64]).reg_widths == (16, 64)


_NET = TangentMLP(3, [8], 1, seed=0)
_P0 = params_of(_NET)
_K = torch.eye(2)


@pytest.mark.parametrize("call, argname", [
    (lambda: params_of("net"), "model"),
    (lambda: check_params(_NET, [1, 2], "params"), "params"),
    (lambda: check_inputs(torch.zeros(0, 3), "x"), "x"),
    (lambda: check_inputs(torch.zeros(2, 3), "x", torch.device("meta")), "x is on"),
    (lambda: linearize(_NET, {**_P0, "layers.0.weight": torch.zeros(2, 2)}), "shape"),
    (lambda: linearize(_NET, {k: v for k, v in _P0.items() if k != "layers.0.bias"}), "missing"),
    (lambda: linearize(_NET)({**_P0, "extra": torch.zeros(1)}, _x(2)), "unknown"),
    (lambda: linearize(_NET)(_x(2)), "params must be a dict"),    # f_lin(x): the old, impure call
    (lambda: linearize(lambda x: x), "model"),
    (lambda: empirical_ntk(_NET, torch.zeros(0, 3)), "x1"),
    (lambda: empirical_ntk(_NET, _x(2), torch.zeros(0, 3)), "x2"),
    (lambda: empirical_ntk(_NET, _x(2), chunk_size=0), "chunk_size"),
    (lambda: empirical_ntk(_NET, _x(2), max_cache_bytes=-1), "max_cache_bytes"),
    (lambda: empirical_ntk(_NET, _x(2), reduction="mean"), "reduction"),
    (lambda: empirical_ntk(_NET, _x(2), torch.zeros(2, 4)), "same input shape"),
    (lambda: empirical_ntk(_NET, _x(2), names=["nope"]), "names"),
    (lambda: empirical_ntk(_NET, _x(2), masks={"layers.0.weight": torch.full((8, 3), 0.5)}), "mask"),
    (lambda: empirical_ntk(_NET, _x(2), masks={"nope": torch.ones(2)}), "mask names"),
    (lambda: empirical_ntk(_NET, _x(2), params={"layers.0.weight": torch.zeros(8, 3)}), "params"),
    (lambda: kernel_matrix(torch.zeros(2, 2, 2)), "k"),
    (lambda: tangent_predict(_K, torch.zeros(2), torch.ones(2), steps=3), "lr"),
    (lambda: tangent_predict(_K, torch.zeros(2), torch.ones(2), lr=float("nan"), steps=3), "lr"),
    (lambda: tangent_predict(_K, torch.zeros(2), torch.ones(2), lr=0.1, steps=-1), "steps"),
    (lambda: tangent_predict(_K, torch.zeros(2), torch.ones(2), ridge=-1.0), "ridge"),
    (lambda: tangent_predict(torch.eye(3), torch.zeros(2), torch.ones(2)), "do not fit"),
    (lambda: tangent_predict(_K, torch.zeros(2, 1), torch.ones(2)), "y_train"),
    (lambda: tangent_predict(_K, torch.zeros(2), torch.ones(2), torch.ones(3, 2)), "f0_test"),
    (lambda: tangent_predict(_K, torch.zeros(2), torch.ones(2), torch.ones(3, 2), torch.zeros(4)), "k_test_train"),
    (lambda: solve_tangent(_NET, torch.zeros(0, 3), torch.zeros(0, 1)), "x"),
    (lambda: solve_tangent(_NET, _x(2), torch.zeros(3, 1)), "y has shape"),
    (lambda: solve_tangent(_NET, _x(2), torch.zeros(2, 1), ridge=float("inf")), "ridge"),
    (lambda: solve_tangent(_NET, _x(2), torch.zeros(2, 1), params0={"x": torch.zeros(1)}), "params0"),
    (lambda: train_mse_gd(_NET, _x(2), torch.zeros(2), lr=0.1, steps=1), "y has shape"),
    (lambda: train_mse_gd(_NET, _x(2), torch.zeros(2, 1), lr=0.0, steps=1), "lr"),
    (lambda: train_mse_gd(_NET, _x(2), torch.zeros(2, 1), lr=0.1, steps=0), "steps"),
    (lambda: train_mse_gd(_NET, _x(2), torch.zeros(2, 1), lr=0.1, steps=1, record_every=-1), "record_every"),
    (lambda: train_mse_gd(_NET, _x(2), torch.zeros(2, 1), lr=0.1, steps=1, masks={"bad": torch.ones(1)}), "mask"),
    (lambda: relative_movement({"w": torch.ones(2)}, {"w": torch.zeros(2)}), "params_0"),
    (lambda: relative_movement({"w": torch.ones(2)}, {"w": torch.ones(3)}), "params_t"),
    (lambda: relative_movement({"w": torch.ones(2)}, {"w": torch.ones(2)}, names=["v"]), "names"),
    (lambda: function_distance(torch.zeros(2), torch.zeros(3)), "f_a and f_b"),
    (lambda: function_distance(torch.zeros(2), torch.ones(2), relative_to=torch.ones(2)), "relative_to"),
    (lambda: compare_to_linearization(_NET, _x(4), torch.zeros(4), _x(4), steps=2), "y has shape"),
    (lambda: compare_to_linearization(_NET, _x(4), torch.zeros(4, 1), torch.zeros(0, 3), steps=2), "x_eval"),
    (lambda: compare_to_linearization(_NET, _x(4), torch.zeros(4, 1), _x(4), steps=0), "steps"),
    (lambda: TangentConfig.for_preset("huge"), "preset"),
    (lambda: TangentConfig.for_preset("quick", n_trian=3), "n_trian"),
    (lambda: TangentConfig(reg_widths=(16, 2.5)), "reg_widths"),
    (lambda: TangentConfig(mnist_widths=(256, 64)), "mnist_widths"),
    (lambda: TangentConfig(ticket_width=100), "ticket_width"),
    (lambda: TangentConfig(prune_fraction=1.0), "prune_fraction"),
    (lambda: TangentConfig(n_train=1), "n_train"),
    (lambda: TangentConfig(restricted_fractions=(0.5, 0.1)), "restricted_fractions"),
    (lambda: TangentConfig(restricted_fractions=(0.5, 1.5)), "restricted_fractions"),
    (lambda: TangentConfig(n_inits=1), "n_inits"),
    (lambda: TangentConfig(adam_steps=100, adam_linearize_at=(0, 100)), "adam_linearize_at"),
    (lambda: TangentConfig(adam_width=0), "adam_width"),
    (lambda: plot_vs_width([1, 2], {"a": [1.0]}), "series"),
    (lambda: plot_loss_vs_steps([1, 2], {"a": [1.0, 2.0, 3.0]}), "curves"),
    (lambda: plot_fits_1d([0, 1], {"a": [0.0, 1.0]}, [0.5], [0.5, 0.6]), "y_train"),
    (lambda: TangentMLP(3, [8], 1, parameterization="mup"), "parameterization"),
])
def test_bad_input_raises_naming_the_argument(call, argname):
    with pytest.raises(LotteryLabError, match=argname):
        call()


def test_chapter6_tasks_are_the_chapter_definitions(mnist):
    """lotterylab.tangent_tasks holds the chapter's two tasks (shared with its reference run), written out here."""
    from lotterylab.tangent_tasks import parity_task, regression_task, sign_accuracy

    reg = regression_task(12)
    x = torch.linspace(-1, 1, 12)[:, None]
    assert torch.equal(reg.x, x) and torch.equal(reg.y, torch.sin(math.pi * x) + 0.5 * x)
    assert torch.equal(reg.x_eval, torch.linspace(-1, 1, 201)[:, None]) and reg.y_eval is None
    net = reg.model(16, seed=3)
    same = TangentMLP(1, [16], 1, bias_std=1.0, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), same.parameters()))
    task = parity_task(mnist, 50, 40)
    assert torch.equal(task.x, mnist.X_train[:50]) and torch.equal(task.x_eval, mnist.X_test[:40])
    assert torch.equal(task.y.flatten() > 0, mnist.y_train[:50] % 2 == 1) and task.y.shape == (50, 1)
    assert torch.equal(task.y_eval.flatten() > 0, mnist.y_test[:40] % 2 == 1) and task.y_eval.shape == (40, 1)
    net = task.model(8)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), TangentMLP(784, [8], 1, seed=0).parameters()))
    assert sign_accuracy(task.y_eval, task.y_eval) == 1.0 and sign_accuracy(-task.y_eval, task.y_eval) == 0.0
    for call, argname in [(lambda: regression_task(1), "n_points"), (lambda: parity_task(mnist, 0, 4), "n_train"),
                          (lambda: parity_task(mnist, 4, 10**6), "n_test"), (lambda: parity_task(x, 4, 4), "data"),
                          (lambda: reg.model(0), "width"), (lambda: sign_accuracy(x, x[:3]), "f and y")]:
        with pytest.raises(LotteryLabError, match=argname):
            call()
