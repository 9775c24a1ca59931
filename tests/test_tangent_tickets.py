"""The restricted tangent solve and the Jacobian, checked against independent oracles:
one backward pass per output, torch.linalg.lstsq on the kept columns, and the dense kernel solve."""
import matplotlib
import pytest
import torch

from lotterylab.errors import LotteryLabError
from lotterylab.models import TangentMLP
from lotterylab.tangent import empirical_ntk
from lotterylab.tangent_fit import solve_tangent, tangent_predict
from lotterylab.tangent_tickets import (
    RANKINGS,
    RestrictedCurve,
    column_scores,
    jacobian_matrix,
    pairwise_disagreement,
    plot_restricted_curve,
    restricted_solve_curve,
    restricted_solves,
)

matplotlib.use("Agg")


def _x(n, d=3, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def _system(n=6, m=5, width=8, seed=0):
    net = TangentMLP(3, [width], 1, seed=seed)
    x, x_te = _x(n, seed=1), _x(m, seed=2)
    y = torch.sign(x[:, :1])
    return net, x, y, x_te


def test_jacobian_matrix_matches_one_backward_pass_per_output():
    net = TangentMLP(3, [5], 2, seed=0)
    x = _x(4)
    out = net(x)
    rows = []
    for i in range(4):
        for c in range(2):
            grads = torch.autograd.grad(out[i, c], list(net.parameters()), retain_graph=True)
            rows.append(torch.cat([g.reshape(-1) for g in grads]))
    J = jacobian_matrix(net, x, chunk_size=3)                 # chunks of 3 and 1 inputs
    assert J.shape == (8, sum(p.numel() for p in net.parameters()))
    assert torch.allclose(J, torch.stack(rows), atol=1e-6)


def test_jacobian_matrix_rejects_bad_chunk_size():
    with pytest.raises(LotteryLabError, match="chunk_size"):
        jacobian_matrix(TangentMLP(3, [5], 1), _x(2), chunk_size=0)


def test_restricted_solve_at_all_columns_equals_the_dense_kernel_solve():
    net, x, y, x_te = _system()
    J, J_te = jacobian_matrix(net, x).double(), jacobian_matrix(net, x_te).double()
    f0, f0_te = net(x).detach(), net(x_te).detach()
    order = torch.randperm(J.shape[1], generator=torch.Generator().manual_seed(0))
    (f_tr, f_te), = restricted_solves(J, f0, y, J_te, f0_te, order, [J.shape[1]], block=7)
    dense_tr, dense_te = tangent_predict(empirical_ntk(net, x), f0, y, empirical_ntk(net, x_te, x), f0_te)
    assert torch.allclose(f_tr, dense_tr, atol=1e-4) and torch.allclose(f_te, dense_te, atol=1e-4)


@pytest.mark.parametrize("size", [2, 4, 6, 15, 40])            # fewer, as many and more columns than equations
def test_restricted_solve_matches_lstsq_on_the_kept_columns(size):
    net, x, y, x_te = _system()
    J, J_te = jacobian_matrix(net, x).double(), jacobian_matrix(net, x_te).double()
    f0, f0_te = net(x).detach().double(), net(x_te).detach().double()
    order = torch.randperm(J.shape[1], generator=torch.Generator().manual_seed(3))
    cols = order[:size]
    delta = torch.linalg.lstsq(J[:, cols], (y.double() - f0), driver="gelsd").solution   # min-norm least squares
    fits = restricted_solves(J, f0, y.double(), J_te, f0_te, order, [1, size] if size > 1 else [1])
    f_tr, f_te = fits[-1]
    assert torch.allclose(f_tr, f0 + J[:, cols] @ delta, atol=1e-8)
    assert torch.allclose(f_te, f0_te + J_te[:, cols] @ delta, atol=1e-8)


def test_column_scores_solution_is_solve_tangent_and_gradient_is_jt_residual():
    net, x, y, _ = _system()
    J = jacobian_matrix(net, x)
    f0 = net(x).detach()
    scores = column_scores(J, f0, y)
    delta = solve_tangent(net, x, y)
    flat = torch.cat([delta[n].reshape(-1) for n, _ in net.named_parameters()]).double()
    assert torch.allclose(scores["solution"], flat.abs(), atol=1e-5)
    assert torch.allclose(scores["gradient"], (J.double().T @ (y - f0).double().flatten()).abs(), atol=1e-8)


def test_column_scores_rejects_mismatched_targets():
    with pytest.raises(LotteryLabError, match="y_train"):
        column_scores(torch.ones(3, 4), torch.zeros(3), torch.zeros(2))


@pytest.mark.parametrize("kwargs, match", [
    ({"sizes": [3, 2]}, "sizes"), ({"sizes": [0]}, "sizes"), ({"sizes": [99]}, "sizes"),
    ({"order": torch.tensor([0, 0, 1])}, "order"), ({"order": torch.tensor([0.0, 1.0])}, "order"),
    ({"J_test": torch.ones(2, 3)}, "J_test")])
def test_restricted_solves_rejects_bad_input(kwargs, match):
    args = {"J_train": torch.ones(2, 4), "f0_train": torch.zeros(2), "y_train": torch.ones(2), "J_test": torch.ones(2, 4),
                "f0_test": torch.zeros(2), "order": torch.arange(4), "sizes": [2]}
    args.update(kwargs)
    with pytest.raises(LotteryLabError, match=match):
        restricted_solves(**args)


def test_restricted_solve_curve_ends_at_the_dense_solution_and_is_seeded():
    net, x, y, x_te = _system(n=8, m=10)
    y_te = torch.sign(x_te[:, :1])
    curve = restricted_solve_curve(net, x, y, x_te, y_te, [0.05, 0.3, 1.0], n_random=2, seed=4)
    again = restricted_solve_curve(net, x, y, x_te, y_te, [0.05, 0.3, 1.0], n_random=2, seed=4)
    assert curve == again
    assert curve.sizes[-1] == curve.n_params and curve.n_train == 8 and len(curve.random_accuracy) == 2
    _, dense_te = tangent_predict(empirical_ntk(net, x), net(x).detach(), y, empirical_ntk(net, x_te, x),
                                  net(x_te).detach())
    dense_acc = float((dense_te.sign() == y_te).double().mean())
    for name in RANKINGS:
        assert curve.accuracy[name][-1] == pytest.approx(dense_acc)
        assert curve.train_loss[name][-1] < 1e-6                # every column: the training set is fitted


@pytest.mark.parametrize("kwargs, match", [({"fractions": [0.5, 0.2]}, "fractions"), ({"fractions": [0.0]}, "fractions"),
                                           ({"n_random": 0}, "n_random"), ({"y": torch.ones(3)}, "y")])
def test_restricted_solve_curve_rejects_bad_input(kwargs, match):
    net, x, y, x_te = _system()
    args = {"model": net, "x": x, "y": y, "x_test": x_te, "y_test": torch.sign(x_te[:, :1]), "fractions": [0.5, 1.0]}
    args.update(kwargs)
    with pytest.raises(LotteryLabError, match=match):
        restricted_solve_curve(**args)


def test_pairwise_disagreement_counts_label_flips_over_pairs():
    outs = torch.tensor([[1.0, 1.0, -1.0, 1.0], [1.0, -1.0, -1.0, 1.0]])
    assert pairwise_disagreement(outs) == pytest.approx(0.25)
    multi = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]]])
    assert pairwise_disagreement(multi) == pytest.approx(0.5)
    with pytest.raises(LotteryLabError, match="outputs"):
        pairwise_disagreement(torch.ones(1, 3))


def test_plot_restricted_curve_draws_each_ranking_and_rejects_bad_metric():
    c = RestrictedCurve([0.1, 1.0], [1, 10], 10, 4, {k: [0.6, 0.9] for k in RANKINGS},
                        {k: [0.2, 0.0] for k in RANKINGS}, [[0.5, 0.9], [0.7, 0.9]])
    ax = plot_restricted_curve(c)
    assert len(ax.get_lines()) == 4 and ax.get_xlabel().startswith("kept parameters")
    assert plot_restricted_curve(c, metric="train_loss").get_ylabel() == "training loss"
    with pytest.raises(LotteryLabError, match="metric"):
        plot_restricted_curve(c, metric="loss")
