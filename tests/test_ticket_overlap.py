"""lotterylab.ticket_overlap: magnitude masks of matching size, and overlap against chance."""
import pytest
import torch

from lotterylab.errors import LotteryLabError
from lotterylab.pruning import Mask
from lotterylab.ticket_overlap import magnitude_mask_like, mask_overlap


def _random_mask(shape, density, seed):
    g = torch.Generator().manual_seed(seed)
    flat = torch.zeros(int(torch.tensor(shape).prod()), dtype=torch.bool)
    flat[torch.randperm(flat.numel(), generator=g)[:round(density * flat.numel())]] = True
    return flat.view(shape)


def test_magnitude_mask_keeps_the_reference_counts_and_the_largest_weights():
    g = torch.Generator().manual_seed(0)
    w = {"a": torch.randn(30, 20, generator=g), "b": torch.randn(10, 30, generator=g)}
    ref = Mask({"a": _random_mask((30, 20), 0.3, 1), "b": _random_mask((10, 30), 0.7, 2)})
    m = magnitude_mask_like(w, ref)
    for n in w:
        assert int(m[n].sum()) == int(ref[n].sum())
        assert w[n].abs()[m[n]].min() >= w[n].abs()[~m[n]].max()    # every kept weight beats every dropped one


def test_overlap_of_independent_random_masks_is_near_chance_and_of_a_mask_with_itself_is_full():
    a = Mask({"w": _random_mask((200, 100), 0.4, 3)})
    b = Mask({"w": _random_mask((200, 100), 0.25, 4)})
    ov = mask_overlap(a, b)
    assert ov.chance == pytest.approx(0.25)
    assert ov.shared == pytest.approx(0.25, abs=0.02) and ov.lift == pytest.approx(1, abs=0.08)
    same = mask_overlap(a, a)
    assert same.shared == 1 and same.lift == pytest.approx(1 / 0.4)


@pytest.mark.parametrize("call, arg", [
    (lambda: magnitude_mask_like({"w": torch.ones(2)}, {"w": torch.ones(2)}), "reference"),
    (lambda: magnitude_mask_like([torch.ones(2)], Mask({"w": torch.ones(2)})), "weights"),
    (lambda: magnitude_mask_like({"v": torch.ones(2)}, Mask({"w": torch.ones(2)})), "weights"),
    (lambda: magnitude_mask_like({"w": torch.ones(3)}, Mask({"w": torch.ones(2)})), "weights"),
    (lambda: magnitude_mask_like({"w": torch.tensor([1.0, float("nan")])}, Mask({"w": torch.ones(2)})), "weights"),
    (lambda: mask_overlap(Mask({"w": torch.ones(2)}), {"w": torch.ones(2)}), "b"),
    (lambda: mask_overlap(Mask({}), Mask({"w": torch.ones(2)})), "a"),
    (lambda: mask_overlap(Mask({"w": torch.ones(2)}), Mask({"w": torch.ones(3)})), "a and b"),
    (lambda: mask_overlap(Mask({"w": torch.zeros(2)}), Mask({"w": torch.ones(2)})), "a keeps"),
])
def test_bad_input_names_the_argument(call, arg):
    with pytest.raises(LotteryLabError, match=arg):
        call()
