"""Each chapter's core call at tiny size on CUDA (``make test-gpu``). Skipped on a machine without CUDA.

The CPU tests run the same code paths; this file catches what only a GPU shows: a tensor made on the
CPU that meets data on the GPU, a CPU-only solver, a host-to-device copy in a hot loop that breaks.
"""
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run `make test-gpu` on one)")

CUDA = torch.device("cuda")


@pytest.fixture(scope="module")
def mnist_cuda():
    from lotterylab.data import load_mnist_subset

    return load_mnist_subset().to(CUDA)


def _finite_on_cuda(*tensors):
    for t in tensors:
        assert t.device.type == "cuda", t.device
        assert torch.isfinite(t).all()


def test_ch1_imp_trial_on_cuda(mnist_cuda, tmp_path):
    from lotterylab.models import lenet_300_100
    from lotterylab.tickets import IMPConfig, run_imp
    from lotterylab.training import TrainConfig

    cfg = IMPConfig.for_preset("full", rounds=1, train=TrainConfig(steps=20, eval_every=10), rewind_step=5)
    run = run_imp(lenet_300_100, mnist_cuda, cfg, seed=0, checkpoint=tmp_path / "imp.pt")
    assert [r["level"] for r in run.records if r["kind"] == "ticket"] == [0, 1]
    assert all(0.0 <= r["final_test_acc"] <= 1.0 for r in run.records)
    again = run_imp(lenet_300_100, mnist_cuda, cfg, seed=0, checkpoint=tmp_path / "imp.pt")  # resumes, no training
    assert again.records == run.records


def test_ch1_masked_training_keeps_zeros_on_cuda(mnist_cuda):
    from lotterylab.models import lenet_300_100
    from lotterylab.pruning import Mask, magnitude_prune
    from lotterylab.training import TrainConfig, train

    net = lenet_300_100(seed=0, device=CUDA)
    mask = magnitude_prune(net, Mask.ones_like(net), 0.5)
    train(net, mnist_cuda, TrainConfig(steps=20, eval_every=20), seed=0, mask=mask)
    _finite_on_cuda(net.fc1.weight)
    assert bool((net.fc1.weight[~mask["fc1.weight"].to(CUDA)] == 0).all())


def test_ch2_instability_and_residual_sign_on_cuda():
    import math

    from lotterylab.data import Split
    from lotterylab.interpolation import error_barrier
    from lotterylab.models import conv_net
    from lotterylab.residual_sign import ResidualSignConfig, make_task, train_residual
    from lotterylab.stability import StabilityConfig, instability, run_instability
    from lotterylab.training import TrainConfig

    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(90, 784, generator=g), torch.randint(0, 10, (90,), generator=g)
    data = Split(X, y, X[:30], y[:30], X[:40], y[:40]).to(CUDA)
    tcfg = TrainConfig(steps=4, batch_size=30, eval_every=2, optimizer="sgd", lr=0.01)
    cfg = StabilityConfig.for_preset("full", train=tcfg, rewind_steps=(0, 2), imp_rounds=1, n_alphas=3,
                                      model="conv")  # the full preset is LeNet; keep the ConvNet on CUDA too
    run = run_instability(data, cfg, seed=0)
    assert len(run.records) == 6 and all(math.isfinite(v) for r in run.records for v in r["error"] + r["loss"])
    assert all(r["barrier"] == error_barrier(r["alphas"], r["error"]) for r in run.records)
    out = instability(conv_net, conv_net(seed=0).state_dict(), data, tcfg, seeds=(1, 2), alphas=[0.0, 0.5, 1.0])
    assert all(t.device.type == "cuda" and bool(torch.isfinite(t).all()) for s in out.states for t in s.values())
    rcfg = ResidualSignConfig(dim=4, depth=2, n_points=16, steps=5)
    x, t = make_task(rcfg, seed=0, device=CUDA)
    res = train_residual(rcfg, x, t, sign=-1, seeds=range(8))
    _finite_on_cuda(res.final_loss, res.curve)


def test_ch3_ch5_supermasks_on_cuda(mnist_cuda):
    from lotterylab.multi_prize import overlap_matrix, quantize_weights
    from lotterylab.pruning import Mask
    from lotterylab.supermasks import ScoreTrainConfig, evaluate_copies, supermask_lenet, train_supermask
    from lotterylab.zhou_masks import heuristic_mask

    for method in ("edge_popup", "biprop"):
        net = supermask_lenet(1, density=0.5, init="kaiming_normal", method=method, copies=2).to(CUDA)
        res = train_supermask(net, mnist_cuda, ScoreTrainConfig(epochs=1), seed=0)
        assert len(res.final_test_acc) == 2 and all(0.3 < a <= 1.0 for a in res.final_test_acc)
        assert res.final_test_acc == evaluate_copies(net, mnist_cuda.X_test, mnist_cuda.y_test)
        weights = net.effective_weights()
        _finite_on_cuda(*weights)
        _finite_on_cuda(quantize_weights(weights[0][0], 2))
        assert overlap_matrix([Mask({"l": net.masks()[0][c]}) for c in range(2)]).shape == (2, 2)
    m = heuristic_mask({"w": torch.randn(30, 20, device=CUDA)}, {"w": torch.randn(30, 20, device=CUDA)}, 0.3)
    assert m["w"].is_cuda


def test_ch4_strong_lth_on_cuda():
    from lotterylab.strong_lth import prune_random_network
    from lotterylab.subset_sum import coverage_error

    cover = coverage_error(8, 2, n_grid=101, device=CUDA)
    _finite_on_cuda(cover)
    target = [torch.tensor([[0.5, -0.25]], dtype=torch.float64, device=CUDA)]
    out = prune_random_network(target, 16)(torch.rand(8, 2, dtype=torch.float64).to(CUDA))
    _finite_on_cuda(out)


def test_ch6_tangent_space_on_cuda():
    from lotterylab.lazy_training import compare_to_linearization
    from lotterylab.models import TangentMLP
    from lotterylab.pruning import Mask, magnitude_prune
    from lotterylab.tangent import empirical_ntk, linearize, params_of
    from lotterylab.tangent_fit import solve_tangent

    net = TangentMLP(5, [64], 1, seed=0).to(CUDA)
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(0)).to(CUDA)
    y = torch.sign(x[:, :1])
    run = compare_to_linearization(net, x, y, x, steps=5, chunk_size=8)
    _finite_on_cuda(run.one_step, run.K)
    delta = solve_tangent(net, x, y)  # the float64 eigh solve, on the GPU
    theta = {k: v + delta[k] for k, v in params_of(net).items()}
    assert delta["layers.0.weight"].is_cuda and (linearize(net)(theta, x) - y).abs().max() < 1e-2
    mask = magnitude_prune(net, Mask.ones_like(net), 0.5).cpu()  # a CPU mask meets GPU parameters
    assert empirical_ntk(net, x, masks=mask).is_cuda


def test_ch7_many_seed_sweep_and_tickets_on_cuda(tmp_path):
    from lotterylab.many_seed import FitConfig, make_data, train_many, train_naive
    from lotterylab.scaling import SweepConfig, run_sweep
    from lotterylab.ticket_analysis import distill_width2, ticket_analysis

    fit = FitConfig.for_preset("full", steps=30, decay_every=10, n_points=64)
    for compile in (False, True):  # eager, and the compiled step indexing its on-device schedule
        run = train_many(range(5), 4, fit, device=CUDA, compile=compile, chunk_elements=64 * 4 * 2)
        _finite_on_cuda(run.losses, run.params.w, run.params.c)
    fast = train_many(range(5), 4, fit, dtype=torch.float64, device=CUDA)
    ref = train_naive(range(5), 4, fit, dtype=torch.float64, device=CUDA)
    torch.testing.assert_close(fast.losses, ref.losses, rtol=1e-6, atol=1e-9)
    sweep = run_sweep(SweepConfig.for_preset("full", widths=(2,), n_seeds=3, fit=fit), tmp_path, device=CUDA)
    assert sweep.runs[("silu", 2)].losses.device.type == "cpu" and sweep.runs[("relu", 2)].n_diverged == 0
    x, y = make_data("x^2", fit, dtype=torch.float64, device=CUDA)
    assert len(ticket_analysis(fast.params, 0, x, y).pairs) == 2
    _finite_on_cuda(distill_width2(fast.params, 0, x, y).params.w)


def test_ch8_selection_on_cuda():
    import numpy as np

    from lotterylab import selection

    g = torch.Generator().manual_seed(0)
    outputs, target = torch.randn(8, 64, generator=g).to(CUDA), torch.randn(64, generator=g).to(CUDA)
    losses = selection.committee_losses(outputs, target, selection.draw_groups(8, 3, 5))
    assert np.isfinite(np.asarray(losses)).all()
