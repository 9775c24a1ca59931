"""The harmonic-mean ensemble is the optimal combination of two independent predictors; the synergy test reads it."""
import numpy as np
import pytest
import torch

from lotterylab import ensembling as E
from lotterylab.errors import LotteryLabError
from lotterylab.two_layer import Params, forward, init_params


def test_harmonic_ensemble_is_the_optimal_combination_of_independent_errors():
    assert np.allclose(E.harmonic_ensemble([2.0], [6.0], n=5), 1.5)
    # check the formula against real least squares on independent noise
    rng = np.random.default_rng(0)
    e1, e2 = rng.normal(0, 1, 200_000), rng.normal(0, 2, 200_000)
    l1, l2 = (e1 ** 2).mean(), (e2 ** 2).mean()
    w = l2 / (l1 + l2)                                   # best weight for independent errors
    assert ((w * e1 + (1 - w) * e2) ** 2).mean() == pytest.approx(E.harmonic_ensemble([l1], [l2], n=1)[0], rel=0.01)
    out = E.harmonic_ensemble([1.0, np.nan], n=100)
    assert np.all(out == 0.5)


def test_ensemble_ratio_reads_synergy():
    halves = np.full(10, 2.0)                            # two width-N/2 networks ensemble to 1.0
    assert E.ensemble_ratio(np.full(5, 1.0), halves) == pytest.approx(1.0)      # pure ensembling
    assert E.ensemble_ratio(np.full(5, 0.25), halves) == pytest.approx(0.25)    # synergy
    assert E.ensemble_ratio([0.5, np.nan, 0.5], halves) == pytest.approx(0.5)   # diverged seeds are skipped


def test_plot_ensembling_draws_both_histograms():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    rng = np.random.default_rng(1)
    assert E.plot_ensembling(rng.uniform(1e-4, 1e-3, 50), rng.uniform(1e-3, 1e-2, 50), 4, ax=ax) is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["N = 4", "2 + 2 (ensemble)"]
    plt.close(fig)


@pytest.mark.parametrize("call, arg", [
    (lambda: E.harmonic_ensemble([1.0], n=0), "n"),
    (lambda: E.harmonic_ensemble([1.0], seed=-1), "seed"),
    (lambda: E.harmonic_ensemble([np.nan], [1.0]), "losses_a"),
    (lambda: E.harmonic_ensemble([-1.0], [1.0]), "losses_a"),
    (lambda: E.harmonic_ensemble(["a"]), "losses"),
    (lambda: E.ensemble_ratio([np.inf], [1.0]), "diverged"),
    (lambda: E.ensemble_ratio([1.0], [1.0], n=-5), "n"),
    (lambda: E.plot_ensembling([1.0], [1.0], 1), "width"),
    (lambda: E.plot_ensembling([1.0], [np.nan], 4), "losses_a"),
    (lambda: E.fitted_ensemble(np.ones((2, 5)), np.ones((3, 5)), np.ones(5)), "outputs_a"),
    (lambda: E.fitted_ensemble(np.ones((2, 5)), np.ones((2, 5)), np.ones(4)), "y"),
    (lambda: E.fitted_ensemble(np.full((1, 5), np.nan), np.ones((1, 5)), np.ones(5)), "outputs_a"),
    (lambda: E.fitted_ensemble(np.ones((1, 5)), [["a"] * 5], np.ones(5)), "outputs_b"),
    (lambda: E.fitted_pairs("not params", torch.zeros(4, 1), torch.zeros(4)), "params"),
    (lambda: E.fitted_pairs(init_params([0, 1], 2), torch.zeros(4, 1), torch.zeros(4), n_pairs=0), "n_pairs"),
    (lambda: E.fitted_pairs(init_params([0, 1], 2), torch.zeros(4, 1), torch.zeros(4), seed=-1), "seed"),
    (lambda: E.fitted_pairs(init_params([0], 2), torch.zeros(4, 1), torch.zeros(4)), "params"),
    (lambda: E.fitted_pairs(init_params([0, 1], 2), torch.zeros(4, 1), torch.zeros(4), activation="gelu"),
     "activation"),
])
def test_ensembling_bad_input_names_the_argument(call, arg):
    with pytest.raises(LotteryLabError, match=arg):
        call()


def test_fitted_ensemble_matches_numpy_lstsq_on_each_pair():
    rng = np.random.default_rng(0)
    x = np.linspace(-2, 2, 40)
    y = x ** 2
    fa = y + rng.normal(0, 0.1, (5, 40)) + 0.3                  # biased, noisy predictors
    fb = 0.8 * y + rng.normal(0, 0.2, (5, 40))
    out = E.fitted_ensemble(fa, fb, y)
    for k in range(5):                                          # the oracle: numpy's lstsq, one pair at a time
        design = np.column_stack([fa[k], fb[k], np.ones(40)])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        np.testing.assert_allclose(out.coef[k], coef, rtol=1e-9, atol=1e-12)
        assert out.losses[k] == pytest.approx(((design @ coef - y) ** 2).mean(), rel=1e-9)
        la, lb = ((fa[k] - y) ** 2).mean(), ((fb[k] - y) ** 2).mean()
        assert out.harmonic[k] == pytest.approx(la * lb / (la + lb), rel=1e-12)
        ea, eb = fa[k] - y, fb[k] - y
        assert out.correlation[k] == pytest.approx(ea @ eb / np.linalg.norm(ea) / np.linalg.norm(eb), rel=1e-12)
    assert out.pairs is None and out.ratio() == pytest.approx(np.median(out.losses) / np.median(out.harmonic))


def test_fitted_ensemble_reads_correlation_against_the_harmonic_rule():
    rng = np.random.default_rng(1)
    y = np.sin(np.linspace(0, 6, 4000))
    e1, e2 = rng.normal(0, 0.1, (2, 4000))
    independent = E.fitted_ensemble([y + e1], [y + e2], y)      # uncorrelated: the rule holds (to sampling error)
    assert abs(independent.correlation[0]) < 0.05
    assert independent.losses[0] == pytest.approx(independent.harmonic[0], rel=0.05)
    rho = 0.95                                                  # errors of equal size, correlation rho:
    shared = E.fitted_ensemble([y + e1], [y + rho * e1 + np.sqrt(1 - rho ** 2) * e2], y)
    assert shared.correlation[0] > 0.9                          # best loss l (1 + rho) / 2, not the rule's l / 2
    assert shared.losses[0] > 1.5 * shared.harmonic[0]          # correlated errors do not average out
    same = E.fitted_ensemble([y + e1], [y + e1], y)             # rank-deficient: still solved
    assert 0.95 * np.mean(e1 ** 2) < same.losses[0] <= np.mean(e1 ** 2)   # one network's error, less its mean


def test_fitted_pairs_draws_distinct_finite_networks_and_fits_their_outputs():
    x = torch.linspace(-2, 2, 32)[:, None]
    y = x[:, 0] ** 2
    p = init_params(range(7), 3)
    bad = Params(p.w.clone(), p.b.clone(), p.v.clone(), p.c.clone())
    bad.c[2] = float("nan")                                     # a diverged network is left out
    disjoint = E.fitted_pairs(bad, x, y)
    assert disjoint.pairs.shape == (3, 2) and 2 not in disjoint.pairs
    assert len(set(disjoint.pairs.ravel().tolist())) == 6      # each network used once
    drawn = E.fitted_pairs(bad, x, y, n_pairs=50, seed=3)
    assert drawn.pairs.shape == (50, 2) and (drawn.pairs[:, 0] != drawn.pairs[:, 1]).all() and 2 not in drawn.pairs
    out = forward(p.to(dtype=torch.float64), x.double())
    i, j = drawn.pairs[0]
    again = E.fitted_ensemble(out[[i]], out[[j]], y)
    assert drawn.losses[0] == pytest.approx(again.losses[0], rel=1e-9)
    np.testing.assert_array_equal(E.fitted_pairs(bad, x, y, n_pairs=50, seed=3).pairs, drawn.pairs)   # seeded


def test_plot_ensembling_draws_the_fitted_histogram_too():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    rng = np.random.default_rng(2)
    E.plot_ensembling(rng.uniform(1e-4, 1e-3, 50), rng.uniform(1e-3, 1e-2, 50), 4, fitted=rng.uniform(1e-4, 1e-2, 20),
                      ax=ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["N = 4", "2 + 2 (ensemble)", "2 + 2 (fitted)"]
    plt.close(fig)
