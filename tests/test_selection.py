"""lotterylab.selection: best-of-k, committees, the bias-variance split and tail fits, against independent oracles."""
import numpy as np
import pytest
import torch

from lotterylab.errors import LotteryLabError
from lotterylab.selection import (
    TailFit,
    best_of_k,
    best_of_k_quantile,
    bias_variance,
    committee_losses,
    draw_groups,
    fit_tails,
    harmonic_combination,
    predict_best_of_k,
)


def test_draw_groups_are_distinct_reproducible_and_in_range():
    g = draw_groups(20, 5, 300, seed=3)
    assert g.shape == (300, 5) and g.min() >= 0 and g.max() < 20
    assert all(len(set(row)) == 5 for row in g.tolist())
    np.testing.assert_array_equal(g, draw_groups(20, 5, 300, seed=3))
    assert not np.array_equal(g, draw_groups(20, 5, 300, seed=4))
    counts = np.bincount(g.ravel(), minlength=20)
    assert counts.min() > 0.5 * counts.mean()          # every item is drawn about equally often


def test_best_of_k_and_harmonic_match_a_loop():
    rng = np.random.default_rng(0)
    losses = rng.lognormal(size=30)
    groups = draw_groups(30, 4, 50)
    best = best_of_k(losses, groups)
    harm = harmonic_combination(losses, groups)
    for row, b, h in zip(groups, best, harm):
        assert b == min(losses[i] for i in row)
        assert h == pytest.approx(1 / sum(1 / losses[i] for i in row))
        assert h <= b                                   # averaging independent errors beats the best member


def test_committee_is_least_squares_and_never_worse_than_its_best_member():
    gen = torch.Generator().manual_seed(0)
    x = torch.linspace(-1, 1, 40, dtype=torch.float64)
    y = x ** 2
    outputs = y + 0.3 * torch.randn(12, 40, generator=gen, dtype=torch.float64)
    losses = ((outputs - y) ** 2).mean(1).numpy()
    groups = draw_groups(12, 3, 20, seed=1)
    com = committee_losses(outputs, y, groups)
    assert np.all(com <= best_of_k(losses, groups) + 1e-12)
    for row, c in zip(groups, com):                     # oracle: numpy's least squares with an intercept
        A = np.column_stack([outputs[row].numpy().T, np.ones(40)])
        coef, *_ = np.linalg.lstsq(A, y.numpy(), rcond=None)
        assert c == pytest.approx(np.mean((A @ coef - y.numpy()) ** 2), rel=1e-9, abs=1e-15)


def test_bias_variance_is_exact_and_skips_diverged_rows():
    gen = torch.Generator().manual_seed(1)
    f = torch.randn(7, 25, generator=gen, dtype=torch.float64)
    y = torch.randn(25, generator=gen, dtype=torch.float64)
    bv = bias_variance(f, y)
    assert bv.loss == pytest.approx(bv.bias2 + bv.variance, rel=1e-12)
    assert bv.loss == pytest.approx(float(((f - y) ** 2).mean()))
    assert bv.variance == pytest.approx(float(f.var(dim=0, unbiased=False).mean()))
    with_nan = torch.cat([f, torch.full((1, 25), float("nan"), dtype=torch.float64)])
    assert bias_variance(with_nan, y) == bv


def test_best_of_k_quantile_matches_simulation_and_decreases():
    rng = np.random.default_rng(2)
    losses = rng.lognormal(sigma=2.0, size=4000)
    ks = [1, 3, 10, 30]
    q = best_of_k_quantile(losses, ks)
    assert np.all(np.diff(q) < 0)
    assert q[0] == pytest.approx(np.median(losses), rel=0.01)
    for k, value in zip(ks, q):                         # with replacement, as the formula assumes
        sim = np.median(rng.choice(losses, size=(20_000, k)).min(1))
        assert value == pytest.approx(sim, rel=0.1)
    assert np.isnan(best_of_k_quantile(losses, [10 ** 6])[0])     # beyond what 4,000 samples resolve


def test_fit_tails_recovers_a_power_law_and_a_lognormal():
    u = (np.arange(5000) + 0.5) / 5000
    power = fit_tails(u ** (1 / 0.7), tail_fraction=0.3)                   # F(l) = l ** 0.7
    assert power.exponent == pytest.approx(0.7, rel=0.02) and power.scale == pytest.approx(1, rel=0.05)
    z = torch.special.ndtri(torch.as_tensor(u, dtype=torch.float64)).numpy()
    logn = fit_tails(10 ** (-3 + 0.5 * z), tail_fraction=0.3)               # log10 L ~ N(-3, 0.5)
    assert logn.log_mean == pytest.approx(-3, abs=0.02) and logn.log_std == pytest.approx(0.5, rel=0.02)
    pred = predict_best_of_k(logn, [1, 100])
    assert pred["lognormal"][0] == pytest.approx(1e-3, rel=0.05)
    assert pred["lognormal"][1] == pytest.approx(best_of_k_quantile(10 ** (-3 + 0.5 * z), [100])[0], rel=0.05)


def test_predict_power_tail_follows_k_to_the_minus_one_over_a():
    fit = TailFit(exponent=2.0, scale=1.0, log_mean=0.0, log_std=1.0, n_tail=10, n=100)
    p = predict_best_of_k(fit, [10, 1000])["power"]
    level = 1 - 0.5 ** (1 / np.array([10.0, 1000.0]))             # P(one draw beats the median best of k)
    np.testing.assert_allclose(p, level ** 0.5, rtol=1e-12)        # F(l) = l^2  =>  l = level^(1/2)
    assert p[1] / p[0] == pytest.approx(100 ** -0.5, rel=0.03)     # ~ k^(-1/a) for large k


@pytest.mark.parametrize("call, arg", [
    (lambda: draw_groups(5, 6, 2), "k"),
    (lambda: draw_groups(0, 1, 2), "n_items"),
    (lambda: draw_groups(5, 2, 0), "n_groups"),
    (lambda: draw_groups(5, 2, 3, seed=-1), "seed"),
    (lambda: best_of_k([1.0, -1.0], [[0, 1]]), "losses"),
    (lambda: best_of_k([[1.0]], [[0]]), "losses"),
    (lambda: best_of_k([1.0, 2.0], [[0, 2]]), "groups"),
    (lambda: best_of_k([1.0, 2.0], [0, 1]), "groups"),
    (lambda: harmonic_combination("abc", [[0]]), "losses"),
    (lambda: committee_losses(np.zeros((2, 3)), torch.zeros(3), [[0, 1]]), "outputs"),
    (lambda: committee_losses(torch.zeros(2, 3), torch.zeros(4), [[0, 1]]), "y"),
    (lambda: committee_losses(torch.tensor([[0.0, float("inf")], [1.0, 1.0]]), torch.zeros(2), [[0, 1]]), "groups"),
    (lambda: bias_variance(torch.zeros(3), torch.zeros(3)), "outputs"),
    (lambda: bias_variance(torch.zeros(2, 3), torch.zeros(2)), "y"),
    (lambda: bias_variance(torch.full((2, 3), float("nan")), torch.zeros(3)), "outputs"),
    (lambda: best_of_k_quantile([1.0, 2.0], [0.5]), "ks"),
    (lambda: best_of_k_quantile([1.0, 2.0], [2], q=1.0), "q"),
    (lambda: fit_tails(np.arange(1.0, 20.0), tail_fraction=0.1), "tail_fraction"),
    (lambda: fit_tails(np.ones(100), tail_fraction=0.5), "losses"),
    (lambda: fit_tails(np.arange(1.0, 100.0), tail_fraction=1.5), "tail_fraction"),
    (lambda: predict_best_of_k({"exponent": 1}, [1]), "fit"),
    (lambda: predict_best_of_k(TailFit(1.0, 1.0, 0.0, 1.0, 5, 10), [1], q=0), "q"),
])
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(LotteryLabError, match=arg):
        call()
