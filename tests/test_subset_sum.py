"""Subset sum and the strong-LTH pruning construction: valid answers, an independent oracle, clear errors."""
import dataclasses
import itertools

import numpy as np
import pytest
import torch

from lotterylab.errors import LotteryLabError
from lotterylab.strong_lth import (
    absorb_biases,
    check_target,
    plot_error_vs_width,
    plot_functions,
    prune_random_network,
    relu_forward,
)
from lotterylab.subset_sum import (
    all_approximable,
    best_subset_sums,
    brute_force_subset_sum,
    check_eps,
    coverage_error,
    fit_log_line,
    plot_samples_needed,
    samples_needed,
    solve_subset_sum,
)
from lotterylab.theory_experiments import TheoryConfig, construction_sweep


def _uniform(shape, seed):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1


@pytest.mark.parametrize("n", [1, 2, 5, 9, 14, 20])
def test_solver_returns_valid_subsets_within_eps(n):
    x = _uniform(n, seed=n)
    for z in torch.linspace(-1, 1, 21).tolist():
        s = solve_subset_sum(x, z, eps=0.05)
        assert len(set(s.indices)) == len(s.indices) and list(s.indices) == sorted(s.indices)
        assert all(0 <= i < n for i in s.indices)
        total = float(x[list(s.indices)].sum()) if s.indices else 0.0
        assert abs(total - s.total) < 1e-12
        assert abs(abs(total - z) - s.error) < 1e-12
        assert s.found == (abs(total - z) <= 0.05)
    # with 20 samples every target on the grid is found (a property of this seed, checked above too)
    if n == 20:
        assert all(solve_subset_sum(x, z, eps=0.01).found for z in np.linspace(-1, 1, 41))


def test_batched_solver_agrees_with_brute_force():
    for m in range(1, 13):
        items, targets = _uniform((6, m), seed=100 + m), _uniform(6, seed=200 + m)
        keep, err = best_subset_sums(items, targets)
        for q in range(6):
            _, best = brute_force_subset_sum(items[q], float(targets[q]))
            assert abs(float(err[q]) - best) < 1e-12
            assert abs(abs(float(items[q][keep[q]].sum() - targets[q])) - float(err[q])) < 1e-12


def test_single_item_mode_is_best_of_empty_or_one():
    items, targets = _uniform((5, 7), seed=3), _uniform(5, seed=4)
    keep, err = best_subset_sums(items, targets, max_size=1)
    assert (keep.sum(1) <= 1).all()
    for q in range(5):
        cands = [0.0] + items[q].tolist()
        assert abs(min(abs(c - float(targets[q])) for c in cands) - float(err[q])) < 1e-12


def test_coverage_matches_enumeration_and_shrinks_with_n():
    err = coverage_error(10, n_trials=3, n_grid=501, seed=7, device="cpu")
    assert (err[:, 1:] <= err[:, :-1] + 1e-15).all()
    grid = np.linspace(-1, 1, 501)
    for t in range(3):
        x = (torch.rand(10, generator=torch.Generator().manual_seed(7 + t), dtype=torch.float64) * 2 - 1).numpy()
        for n in (3, 10):
            sums = np.array([sum(c) for r in range(n + 1) for c in itertools.combinations(x[:n], r)])
            worst = np.abs(grid[:, None] - sums[None, :]).min(1).max()
            assert abs(worst - float(err[t, n - 1])) < 1e-12
    assert all_approximable(18, 0.01, n_trials=4, n_grid=2001, device="cpu").all()
    assert not all_approximable(2, 0.01, n_trials=4, n_grid=2001, device="cpu").any()


def test_samples_needed_and_fit():
    needed = samples_needed(torch.tensor([[0.9, 0.4, 0.1, 0.02]]), [0.5, 0.05, 0.001])
    assert needed.tolist() == [[2, 4, -1]]
    slope, intercept = fit_log_line([2 ** -k for k in range(1, 6)], [2 * k + 3 for k in range(1, 6)])
    assert abs(slope - 2) < 1e-9 and abs(intercept - 3) < 1e-9


def _small_target(seed=0, hidden=4):
    g = torch.Generator().manual_seed(seed)
    u = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64) * 2 - 1
    return absorb_biases([(u(hidden, 1), u(hidden)), (u(1, hidden), u(1))])


def test_absorb_biases_computes_the_biased_network():
    g = torch.Generator().manual_seed(1)
    w1, b1, w2, b2 = (torch.randn(s, generator=g, dtype=torch.float64) for s in [(5, 2), (5,), (3, 5), (3,)])
    x = torch.randn(10, 2, generator=g, dtype=torch.float64)
    expected = torch.relu(x @ w1.T + b1) @ w2.T + b2
    got = relu_forward(absorb_biases([(w1, b1), (w2, b2)]), torch.cat([x, torch.ones(10, 1, dtype=torch.float64)], 1))
    assert torch.allclose(got, expected)


def test_construction_is_a_subnetwork_of_the_random_network():
    target = _small_target()
    net = prune_random_network(target, 16, seed=5)
    assert len(net.random) == 2 * len(target)
    for w, m, p in zip(net.random, net.masks, net.pruned):
        assert set(m.unique().tolist()) <= {0.0, 1.0}
        kept = m.bool()
        assert torch.equal(p[kept], w[kept])          # every kept weight is the random weight, untouched
        assert (p[~kept] == 0).all()
    # the same seed draws the same random network whatever the width factor's pruning does
    again = prune_random_network(target, 16, seed=5)
    assert all(torch.equal(a, b) for a, b in zip(net.random, again.random))
    module = net.to_module()
    x = torch.rand(7, 2, dtype=torch.float64)
    assert torch.allclose(module(x), net(x))


def test_construction_error_falls_as_width_grows():
    target = _small_target(hidden=4)
    x = torch.linspace(-1, 1, 201, dtype=torch.float64)[:, None]
    X = torch.cat([x, torch.ones_like(x)], 1)
    y = relu_forward(target, X)
    med = []
    for n in (4, 12, 24, 36):
        errs = [float((prune_random_network(target, n, seed=s)(X) - y).abs().max()) for s in range(4)]
        med.append(np.median(errs))
    assert med[-1] < med[0] / 100, med
    assert all(b < a for a, b in itertools.pairwise(med)), med
    # and the per-weight subset-sum errors bound it: every weight within 1e-3 at width 36 for most seeds
    assert med[-1] < 1e-2


def test_single_product_scheme_is_much_worse_than_subset_sums():
    target = _small_target(hidden=4)
    x = torch.linspace(-1, 1, 101, dtype=torch.float64)[:, None]
    X = torch.cat([x, torch.ones_like(x)], 1)
    y = relu_forward(target, X)
    sub = np.median([float((prune_random_network(target, 32, seed=s)(X) - y).abs().max()) for s in range(3)])
    one = np.median([float((prune_random_network(target, 32, seed=s, method="single")(X) - y).abs().max())
                     for s in range(3)])
    assert sub * 10 < one, (sub, one)


_T = None  # filled lazily: a small valid target


def _t():
    global _T
    if _T is None:
        _T = _small_target()
    return _T


@pytest.mark.parametrize("call, words", [
    (lambda: solve_subset_sum([0.1, 0.2], 0.1, eps=0), "eps"),
    (lambda: solve_subset_sum([0.1, 0.2], 0.1, eps=-1e-3), "(0, 1]"),
    (lambda: solve_subset_sum([0.1, 0.2], 1.5, eps=0.1), "target"),
    (lambda: solve_subset_sum([0.1, 0.2], float("nan"), eps=0.1), "target"),
    (lambda: solve_subset_sum([], 0.1, eps=0.1), "samples"),
    (lambda: check_eps(True), "eps"),
    (lambda: best_subset_sums(torch.zeros(2, 49), torch.zeros(2)), "at most 48"),
    (lambda: best_subset_sums(torch.zeros(2, 3), torch.zeros(3)), "shape"),
    (lambda: best_subset_sums(torch.zeros(2, 3), torch.tensor([0.0, float("nan")])), "finite"),
    (lambda: best_subset_sums(torch.zeros(2, 3), torch.zeros(2), max_size=2), "max_size"),
    (lambda: best_subset_sums(torch.zeros(2, 3), torch.zeros(2), chunk_size=0), "chunk_size"),
    (lambda: brute_force_subset_sum(torch.zeros(23), 0.1), "at most 22"),
    (lambda: brute_force_subset_sum(torch.zeros(3), float("nan")), "target"),
    (lambda: coverage_error(0, 2), "n_max"),
    (lambda: coverage_error(30, 2), "n_max"),
    (lambda: coverage_error(5, 0), "n_trials"),
    (lambda: coverage_error(5, 2, n_grid=1), "n_grid"),
    (lambda: coverage_error(5, 2, seed=-1), "seed"),
    (lambda: all_approximable(5, 0.0, 2), "eps"),
    (lambda: all_approximable(0, 0.1, 2), "n_samples"),
    (lambda: samples_needed(torch.zeros(3), [0.1]), "errors"),
    (lambda: samples_needed(torch.zeros(2, 3), [0.1, 2.0]), "eps_values"),
    (lambda: fit_log_line([0.5], [3]), "length"),
    (lambda: fit_log_line([0.5, 0.5], [3, 4]), "eps_values"),
    (lambda: plot_samples_needed([0.5, 0.25], [[1, 2, 3]]), "needed"),
    (lambda: prune_random_network(_t(), 0), "width_factor"),
    (lambda: prune_random_network(_t(), 2.5), "width_factor"),
    (lambda: prune_random_network(_t(), 8, method="magic"), "method"),
    (lambda: prune_random_network(_t(), 8, seed=-1), "seed"),
    (lambda: prune_random_network([torch.tensor([[1.5]])], 8), "[-1, 1]"),
    (lambda: prune_random_network([torch.ones(2, 3), torch.ones(1, 4)], 8), "inputs"),
    (lambda: prune_random_network(_t(), 60), "width_factor"),
    (lambda: check_target([]), "target weights"),
    (lambda: relu_forward([torch.eye(2)], torch.zeros(3, 3)), "x must be a batch"),
    (lambda: relu_forward([], torch.zeros(3, 3)), "weights"),
    (lambda: absorb_biases([(torch.ones(2, 2), torch.ones(3))]), "layers[0]"),
    (lambda: absorb_biases([torch.ones(2, 2)]), "layers[0]"),
    (lambda: plot_error_vs_width([4, 8], {"subset": [[0.1, 0.2, 0.3]]}), "errors_by_method"),
    (lambda: plot_functions([0, 1], [0, 1], [0]), "pruned_y"),
    (lambda: construction_sweep(_t(), torch.ones(2, 2, dtype=torch.float64), (), 2), "widths"),
    (lambda: construction_sweep(_t(), torch.ones(2, 2, dtype=torch.float64), (8,), 0), "n_trials"),
    (lambda: construction_sweep(_t(), torch.ones(2, 2, dtype=torch.float64), (8,), 1, method="x"), "method"),
    (lambda: construction_sweep(_t(), torch.ones(2, 3, dtype=torch.float64), (8,), 1), "x must be a batch"),
    (lambda: TheoryConfig.for_preset("huge"), "preset"),
    (lambda: TheoryConfig.for_preset("quick", coverage_trials=3), "coverage_trials"),
    (lambda: TheoryConfig(coverage_n_max=30), "coverage_n_max"),
    (lambda: TheoryConfig(n_grid=1), "n_grid"),
    (lambda: TheoryConfig(widths=(4, 60)), "widths"),
    (lambda: TheoryConfig(widths=(8, 4)), "widths"),
    (lambda: TheoryConfig(single_bits=(1, 20)), "single_bits"),
    (lambda: TheoryConfig(target_steps=0), "target_steps"),
    (lambda: TheoryConfig(n_construction_trials=1.5), "n_construction_trials"),
])
def test_bad_input_names_the_argument(call, words):
    with pytest.raises(LotteryLabError) as info:
        call()
    assert words in str(info.value)


def test_chapter4_full_config_code_path_at_tiny_size():
    """Chapter 4's full preset, shrunk: the same config class and the same calls, in the chapter's order."""
    cfg = TheoryConfig.for_preset("full", n_coverage_trials=2, coverage_n_max=16, n_grid=201, eps_bits=(1, 2, 3, 4),
                                  single_n_max=30, single_bits=(1, 2), target_hidden=3, target_steps=5,
                                  widths=(4, 16), single_widths=(4, 32), n_construction_trials=2)
    assert cfg.eps_bits == (1, 2, 3, 4)
    cover = coverage_error(cfg.coverage_n_max, cfg.n_coverage_trials, n_grid=cfg.n_grid, device="cpu")
    eps = [2.0 ** -b for b in cfg.eps_bits]
    needed = samples_needed(cover, eps)
    single = coverage_error(cfg.single_n_max, cfg.n_coverage_trials, n_grid=cfg.n_grid, single=True, device="cpu")
    assert (needed > 0).all() and (samples_needed(single, [2.0 ** -b for b in cfg.single_bits]) > 0).all()
    slope, _ = fit_log_line(eps, needed.mean(0))
    assert 0 < slope < 5
    target = _small_target(hidden=cfg.target_hidden)
    x = torch.linspace(-1, 1, 21, dtype=torch.float64)[:, None]
    X = torch.cat([x, torch.ones_like(x)], 1)
    sub = construction_sweep(target, X, cfg.widths, cfg.n_construction_trials)
    one = construction_sweep(target, X, cfg.single_widths, cfg.n_construction_trials, method="single")
    assert sub.errors.shape == (2, 2) and one.errors.shape == (2, 2)
    assert np.median(sub.errors[:, -1]) < np.median(sub.errors[:, 0])
    assert (sub.seconds > 0).all() and sub.nets[(1, 16)].width_factor == 16


def test_sweep_matches_direct_calls_with_the_same_seeds():
    target = _small_target()
    x = torch.linspace(-1, 1, 11, dtype=torch.float64)[:, None]
    X = torch.cat([x, torch.ones_like(x)], 1)
    sweep = construction_sweep(target, X, (8, 12), 2)
    for t in range(2):
        for c, w in enumerate((8, 12)):
            direct = prune_random_network(target, w, seed=1000 * t + w)
            assert sweep.errors[t, c] == float((direct(X) - relu_forward(target, X)).abs().max())


def test_presets_differ_and_are_frozen():
    quick, full = TheoryConfig.for_preset("quick"), TheoryConfig.for_preset("full")
    assert full.n_coverage_trials > quick.n_coverage_trials and max(full.widths) >= max(quick.widths)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.n_coverage_trials = 1
    assert TheoryConfig(widths=[4, 8]).widths == (4, 8)           # lists become tuples (hashable, cache keys)


def test_operation_counts_follow_the_problem_sizes():
    target = _small_target()
    net = prune_random_network(target, 20, seed=2)
    assert len(net.problem_sizes) == sum(2 * w.shape[0] * w.shape[1] for w in target)
    assert sum(net.problem_sizes) == sum(w.shape[0] * w.shape[1] for w in target) * 20
    assert 0 < net.operations < net.brute_force_operations
    one = prune_random_network(target, 20, seed=2, method="single")
    assert one.operations == sum(m + 1 for m in one.problem_sizes)
