"""The harmonic-mean ensemble is the optimal combination of two independent predictors; the synergy test reads it."""
import numpy as np
import pytest

from lotterylab import ensembling as E
from lotterylab.errors import LotteryLabError


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
])
def test_ensembling_bad_input_names_the_argument(call, arg):
    with pytest.raises(LotteryLabError, match=arg):
        call()
