"""The multi-prize analyses (lotterylab.multi_prize): quantisation, mask overlap, the multigraph."""
import matplotlib
import numpy as np
import pytest
import torch

from lotterylab.data import Split
from lotterylab.errors import LotteryLabError
from lotterylab.multi_prize import (
    chance_overlap,
    mask_overlap,
    multigraph_masks,
    multigraph_weight,
    overlap_matrix,
    plot_overlap_matrix,
    quantize_weights,
)
from lotterylab.pruning import Mask
from lotterylab.seeding import make_generator
from lotterylab.supermasks import ScoreTrainConfig, supermask_lenet, train_supermask

matplotlib.use("Agg")


def test_mask_overlap_and_chance():
    g = make_generator(0)
    a = torch.rand(200_000, generator=g) < 0.3
    b = torch.rand(200_000, generator=g) < 0.3
    assert abs(mask_overlap(a, b) - chance_overlap(0.3)) < 0.01
    assert mask_overlap(a, a) == 1.0


def test_quantize_weights():
    w = torch.tensor([0.3, -0.1, 0.0, 0.9])
    q1 = quantize_weights(w, 1)
    assert torch.allclose(q1[w != 0].abs(), torch.tensor(1.3 / 3)) and q1[2] == 0
    g = make_generator(0)
    x = torch.randn(5000, generator=g)
    errors = []
    for bits in (1, 2, 3, 4, 8):
        q = quantize_weights(x, bits)
        assert torch.unique(q).numel() <= max(2, 2 ** bits - 1)
        errors.append(float((q - x).square().mean()))
    assert errors == sorted(errors, reverse=True)  # more bits, smaller error
    binary = torch.tensor([0.2, -0.2, 0.0, 0.2])
    for bits in (1, 2, 4):
        assert torch.allclose(quantize_weights(binary, bits), binary)  # a biprop layer is unchanged


def test_multigraph_masks_realise_any_weight_to_precision():
    w = torch.rand(100, 80, generator=make_generator(0)) * 2.8 - 1.4  # within the 2-bit range +-1.5
    for bits in (2, 4, 8):
        ew, m = multigraph_masks(w, bits, scale=1.0)
        assert m.shape == (2 * bits, 100, 80) and m.dtype == torch.bool
        err = (multigraph_weight(ew, m) - w).abs().max()
        assert err <= 2.0 ** (1 - bits) / 2 + 1e-6  # half a step of the finest edge


def test_mask_overlap_of_masks_counts_all_layers_together():
    a = Mask({"x": torch.tensor([1, 1, 0, 0]), "y": torch.tensor([1, 1])})
    b = Mask({"x": torch.tensor([0, 1, 1, 0]), "y": torch.tensor([1, 0])})
    assert mask_overlap(a, b) == pytest.approx(2 / 4)
    layerwise = (mask_overlap(a["x"], b["x"]) * 2 + mask_overlap(a["y"], b["y"]) * 2) / 4
    assert mask_overlap(a, b) == pytest.approx(layerwise)


def test_overlap_matrix_matches_pairwise_overlaps():
    g = make_generator(0)
    masks = [torch.rand(100, generator=g) < 0.4 for _ in range(3)]
    m = overlap_matrix(masks)
    assert m.shape == (3, 3) and np.all(np.diag(m) == 1.0)
    assert m[0, 2] == mask_overlap(masks[0], masks[2])


@pytest.fixture(scope="module")
def tiny(mnist):
    return Split(mnist.X_train[:256], mnist.y_train[:256], mnist.X_val[:64], mnist.y_val[:64],
                 mnist.X_test[:64], mnist.y_test[:64])


def test_full_preset_multi_prize_path_at_tiny_size(tiny):
    """Chapter 5's `full` path: biprop and edge-popup tickets on Kaiming-normal weights (4 copies; 8 tickets
    on one network), their overlap across layers, and every quantisation level of their weights; here
    at width x1 for one epoch on 256 images."""
    cfg = ScoreTrainConfig(epochs=1)
    for method, copies in (("biprop", 8), ("edge_popup", 4)):
        net = supermask_lenet(1, density=0.5, init="kaiming_normal", method=method, weight_seed=0, score_seed=100,
                              copies=copies)
        res = train_supermask(net, tiny, cfg, seed=0)
        assert len(res.final_test_acc) == copies
        masks = [m.cpu() for m in net.masks()]
        tickets = [Mask({f"layer {i + 1}": m[t] for i, m in enumerate(masks)}) for t in range(copies)]
        overlap = overlap_matrix(tickets)
        assert overlap.shape == (copies, copies) and np.all((overlap > 0.3) & (overlap <= 1.0))
        weights = [w[0] for w in net.effective_weights()]
        for bits in (1, 2, 3, 4, 6, 8):
            q = [quantize_weights(w, bits) for w in weights]
            # finite, and pruned weights stay exactly zero
            assert all(torch.isfinite(t).all() and torch.all(t[w == 0] == 0) for t, w in zip(q, weights))
            if method == "biprop":  # already binary: every grid holds it
                assert all(torch.allclose(t, w, atol=1e-6) for t, w in zip(q, weights))


# ----- bad input: every public name raises LotteryLabError naming the argument ----------------

def test_bad_mask_overlap_arguments_are_clear_errors():
    with pytest.raises(LotteryLabError, match="b must mask the same"):
        mask_overlap(torch.tensor([1, 1, 0, 0]), torch.tensor([1]))  # would broadcast silently
    with pytest.raises(LotteryLabError, match="a:.*0 and 1"):
        mask_overlap(torch.tensor([0.5, 1.0]), torch.tensor([1, 0]))
    with pytest.raises(LotteryLabError, match="a keeps no weight"):
        mask_overlap(torch.tensor([0, 0]), torch.tensor([1, 0]))
    with pytest.raises(LotteryLabError, match="b must mask the same"):
        mask_overlap(Mask({"x": torch.ones(2)}), Mask({"y": torch.ones(2)}))
    with pytest.raises(LotteryLabError, match="a must be a Mask"):
        mask_overlap([1, 0], [1, 0])


def test_bad_overlap_matrix_and_chance_arguments_are_clear_errors():
    with pytest.raises(LotteryLabError, match="masks"):
        overlap_matrix([torch.tensor([1, 0])])
    with pytest.raises(LotteryLabError, match="density"):
        chance_overlap(1.5)


def test_bad_quantize_weights_arguments_are_clear_errors():
    with pytest.raises(LotteryLabError, match="bits"):
        quantize_weights(torch.ones(3), 0)
    with pytest.raises(LotteryLabError, match="candidates"):
        quantize_weights(torch.ones(3), 2, candidates=0)
    with pytest.raises(LotteryLabError, match="w has NaN"):
        quantize_weights(torch.tensor([1.0, float("nan")]), 2)
    with pytest.raises(LotteryLabError, match="w must be a floating-point"):
        quantize_weights(torch.tensor([1, 2]), 2)


def test_bad_multigraph_arguments_are_clear_errors():
    with pytest.raises(LotteryLabError, match="scale"):
        multigraph_masks(torch.ones(3), 2, scale=0.0)
    with pytest.raises(LotteryLabError, match="weight has NaN"):
        multigraph_masks(torch.tensor([float("nan")]), 2, scale=1.0)
    with pytest.raises(LotteryLabError, match="masks"):
        multigraph_weight(torch.ones(4), torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(LotteryLabError, match="edge_weights"):
        multigraph_weight(torch.ones(2, 2), torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(LotteryLabError, match="0 and 1"):
        multigraph_weight(torch.ones(2), torch.full((2, 3), 2.0))


def test_bad_plot_overlap_matrix_arguments_are_clear_errors():
    with pytest.raises(LotteryLabError, match="overlap"):
        plot_overlap_matrix(np.ones((2, 3)))
    with pytest.raises(LotteryLabError, match="labels"):
        plot_overlap_matrix(np.eye(2), labels=["a"])
    with pytest.raises(LotteryLabError, match="chance"):
        plot_overlap_matrix(np.eye(2), chance=2.0)
