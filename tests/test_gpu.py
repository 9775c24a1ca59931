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
