"""The stability-and-rewinding chapter, as built: executed, with figures, preset captions and glued numbers."""
import re

import pytest

PAGE = ("book", "02_stability_rewinding.html")


def text_of(built_book):
    page = (built_book.joinpath(*PAGE)).read_text()
    return page, re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", page))


@pytest.mark.slow
def test_chapter_executed_with_figures_and_preset(built_book):
    page, text = text_of(built_book)
    assert "Traceback" not in page
    assert "preset: quick" in page
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert len(images) >= 3, images  # figures 1, 3, 4 (figure 2's panels live in the widget state)
    for src in images:
        assert (built_book / "book" / src).resolve().exists(), src
    # the labels drawn into every figure's caption are printed too, so the preset is checkable as text
    assert re.search(r"quick preset: lenet, 1,000 steps", text)
    assert re.search(r"quick preset: 300 seeds per curve", text)
    assert text.count("What to see.") >= 4


@pytest.mark.slow
def test_barriers_and_residual_statistics_are_glued(built_book):
    _, text = text_of(built_book)
    m = re.search(r"only (-?\d+\.\d\d) percentage points worse .*? dense network, (-?\d+\.\d\d) for the IMP "
                  r"ticket and (-?\d+\.\d\d) for the random mask", text)
    assert m, "barriers at k = 0 not rendered"
    assert all(abs(float(v)) < 2.0 for v in m.groups())  # LeNet on MNIST is stable at init
    m = re.search(r"KS = (\d\.\d{3}) with permutation p = (\d\.\d\d)", text)
    assert m and 0 <= float(m.group(1)) <= 1 and 0 < float(m.group(2)) <= 1
    assert re.search(r"dense -?\d+\.\d\d → -?\d+\.\d\d → -?\d+\.\d\d points", text)
    assert "loss curves identical at every step: True" in text


@pytest.mark.slow
def test_widget_has_one_panel_per_rewind_step(built_book):
    page, _ = text_of(built_book)
    assert "application/vnd.jupyter.widget-state+json" in page
    state = page.split("application/vnd.jupyter.widget-state+json", 1)[1]
    assert state.count("image/png") >= 3  # quick: k = 0, 50, 200
    assert "rewind step k" in state
