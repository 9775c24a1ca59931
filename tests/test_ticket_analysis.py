"""Mirror pairs are found, tickets are fitted and distilled exactly, width-2 networks are canonicalised, PCA is right."""
import numpy as np
import pytest
import torch

from lotterylab import ticket_analysis as TA
from lotterylab.errors import LotteryLabError
from lotterylab.many_seed import FitConfig, make_data, train_many
from lotterylab.two_layer import Params, forward


def _symmetric_net(pairs, c=0.0):
    w, b, v = [], [], []
    for wi, bi, vi in pairs:
        w += [wi, -wi]
        b += [bi, bi]
        v += [vi, vi]
    t = lambda z: torch.tensor(z, dtype=torch.float64)
    return Params(t(w)[None, :, None], t(b)[None], t(v)[None], t([c]))


NET = _symmetric_net([(0.3, -0.5, 2.0), (1.5, 0.4, 0.1), (0.7, 1.0, 0.5)])
PERM = [5, 0, 3, 1, 4, 2]
SHUFFLED = Params(NET.w[:, PERM], NET.b[:, PERM], NET.v[:, PERM], NET.c)
X, Y = make_data("x^2", FitConfig(n_points=101), dtype=torch.float64, device="cpu")


def test_pairs_and_tickets_of_a_symmetric_network():
    pairs = TA.pair_neurons(SHUFFLED.w[0], SHUFFLED.b[0])
    assert sorted(tuple(sorted(PERM[k] for k in p)) for p in pairs) == [(0, 1), (2, 3), (4, 5)]
    info = TA.ticket_analysis(SHUFFLED, 0, X, Y, "silu")
    assert info.r2.shape == (3,) and np.all(info.r2 > 0.9) and np.all(info.r2 <= 1)
    assert np.allclose(np.diag(info.correlation), 1.0) and info.errors.shape == (3, 101)
    small = TA.distill_width2(SHUFFLED, 0, X, Y, "silu")
    assert small.params.w.shape == (1, 2, 1) and small.pair == info.pairs[int(np.argmax(info.r2))]
    best = int(np.argmax(info.r2))
    assert small.loss == pytest.approx((info.errors[best] ** 2).mean(), rel=1e-6)   # same fit, as a network
    assert float(((forward(small.params, X) - Y) ** 2).mean()) == pytest.approx(small.loss)


def test_mirror_fraction_counts_neurons_in_close_mirror_pairs():
    w, b, v = SHUFFLED.w[0], SHUFFLED.b[0], SHUFFLED.v[0]
    assert TA.mirror_fraction(w, b) == 1.0 and TA.mirror_fraction(w, b, v) == 1.0      # exact mirror pairs
    v_broken = v.clone()
    v_broken[PERM.index(0)] *= 3                                # one pair's output weights disagree
    assert TA.mirror_fraction(w, b) == 1.0 and TA.mirror_fraction(w, b, v_broken) == pytest.approx(4 / 6)
    rng = np.random.default_rng(0)
    noisy_w = w.numpy()[:, 0] * (1 + rng.uniform(-0.2, 0.2, 6))   # relative noise of up to 20%
    assert TA.mirror_fraction(noisy_w, b, tol=1.0) == 1.0
    assert TA.mirror_fraction(noisy_w, b, tol=1e-6) == 0.0
    assert TA.mirror_fraction([1.0, -1.0, 5.0], [0.2, 0.2, 3.0]) == pytest.approx(2 / 3)   # the odd neuron never counts


def test_canonical_width2_removes_the_permutation():
    p = train_many(range(5), 2, FitConfig(steps=20, n_points=16), device="cpu").params
    swapped = Params(p.w.flip(1), p.b.flip(1), p.v.flip(1), p.c)
    assert np.allclose(TA.canonical_width2(p), TA.canonical_width2(swapped))
    assert TA.canonical_width2(p).shape == (5, 7)


def test_pca_finds_the_main_direction():
    t = np.linspace(-1, 1, 50)
    data = np.stack([t, 2 * t, np.zeros_like(t)], 1) + 1e-6 * np.random.default_rng(0).normal(size=(50, 3))
    scores, comps, ratio = TA.pca(data, k=2)
    assert scores.shape == (50, 2) and ratio[0] > 0.999
    assert abs(abs(comps[0] @ np.array([1, 2, 0]) / np.sqrt(5)) - 1) < 1e-6


def test_plots_return_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 3)
    assert TA.plot_neuron_scatter(NET.w[0], NET.b[0], NET.v[0], ax=axs[0]) is axs[0]
    assert TA.plot_pca(np.zeros((4, 2)), np.ones(4), ax=axs[1]) is axs[1]
    assert TA.plot_ticket_errors(TA.ticket_analysis(NET, 0, X, Y), X, ax=axs[2], top=2) is axs[2]
    assert len(axs[2].get_lines()) == 3              # two tickets and the zero line
    plt.close(fig)


@pytest.mark.parametrize("call, arg", [
    (lambda: TA.pair_neurons([1.0, 2.0], [0.0]), "w"),
    (lambda: TA.pair_neurons([1.0], [0.0]), "two neurons"),
    (lambda: TA.pair_neurons([1.0, np.nan], [0.0, 0.0]), "finite"),
    (lambda: TA.ticket_analysis(NET, 3, X, Y), "index"),
    (lambda: TA.ticket_analysis(NET, True, X, Y), "index"),
    (lambda: TA.ticket_analysis(NET, 0, X, Y[:5]), "y"),
    (lambda: TA.ticket_analysis(NET, 0, X, Y, "gelu"), "activation"),
    (lambda: TA.ticket_analysis({"w": 1}, 0, X, Y), "params"),
    (lambda: TA.distill_width2(NET, -1, X, Y), "index"),
    (lambda: TA.canonical_width2(NET), "width-2"),
    (lambda: TA.pca(np.zeros((5, 3)), k=0), "k"),
    (lambda: TA.pca(np.zeros((5, 3)), k=4), "k"),
    (lambda: TA.pca(np.zeros(5)), "data"),
    (lambda: TA.pca([[np.nan, 1.0], [1.0, 2.0]]), "data"),
    (lambda: TA.plot_neuron_scatter([1.0, 2.0], [0.0, 0.0], [1.0]), "v"),
    (lambda: TA.plot_pca(np.zeros((4, 2)), np.ones(3)), "scores"),
    (lambda: TA.plot_ticket_errors({"r2": []}, X), "info"),
    (lambda: TA.plot_ticket_errors(TA.ticket_analysis(NET, 0, X, Y), X[:5]), "x"),
    (lambda: TA.plot_ticket_errors(TA.ticket_analysis(NET, 0, X, Y), X, top=0), "top"),
    (lambda: TA.mirror_fraction([1.0, -1.0], [0.0, 0.0], tol=0), "tol"),
    (lambda: TA.mirror_fraction([1.0, -1.0], [0.0, 0.0], tol=True), "tol"),
    (lambda: TA.mirror_fraction([1.0, -1.0], [0.0, 0.0], [1.0]), "v"),
    (lambda: TA.mirror_fraction([1.0, -1.0, 2.0], [0.0, 0.0]), "w"),
])
def test_ticket_analysis_bad_input_names_the_argument(call, arg):
    with pytest.raises(LotteryLabError, match=arg):
        call()
