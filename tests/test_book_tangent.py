"""Checks on the built tangent-space chapter: values the executed notebook computed and glued (slow)."""
import re

import pytest
from book_pages import executed_page, text_of

PAGE = "book/06_tangent_space.html"


@pytest.mark.slow
def test_chapter_executed_with_figures_preset_and_glued_numbers(built_book):
    page = executed_page(built_book, PAGE, 4)  # figures 2-5 (figure 1's panels live in the widget state)
    text = text_of(page)
    # printed by the executed set-up cells: the preset, the config it chose, the caption label it built
    assert "preset: quick" in text
    assert "TangentConfig(reg_widths=(16, 64, 256, 1024, 4096)" in text
    assert "every figure's caption ends with: quick preset, seed 0, CPU" in text
    # the run's own time, preset and device, glued into the cost note
    cost = re.search(r"its code ran in (\d+) s \( ?quick ?preset, ?CPU ?\)", text)
    assert cost, "chapter time not glued"
    assert int(cost.group(1)) > 0
    # glued measurements: wider networks move their weights less (lazy training)
    moved = re.search(r"weights move by (\d+\.\d+) ?% of their initial norm at width 64 and (\d+\.\d+) ?% at width 2048",
                      text)
    assert moved, "weight movement not glued"
    assert 0 < float(moved.group(2)) < float(moved.group(1)) < 100
    acc = re.search(r"trained network reaches (\d+\.\d) ?% test accuracy, its linearisation (\d+\.\d) ?%", text)
    assert acc and 50 < float(acc.group(1)) <= 100 and abs(float(acc.group(1)) - float(acc.group(2))) < 10
    assert re.search(r"condition number, \d\.?\d*e\+\d+", text)
    assert re.search(r"before training it classifies \d+ ?% of the test images", text)


@pytest.mark.slow
def test_width_slider_panels_are_embedded(built_book):
    page = (built_book / PAGE).read_text()
    assert "application/vnd.jupyter.widget-state+json" in page
    state = page.split("application/vnd.jupyter.widget-state+json", 1)[1]
    assert state.count("image/png") >= 5  # one precomputed panel per regression width (quick: 5)
    assert "hidden width" in state


@pytest.mark.slow
def test_width_slider_changes_the_figure_offline(offline_browser, tmp_path):
    page = offline_browser.open(PAGE)
    before, after, label_before, label_after = offline_browser.press_slider_key(page, "End")
    page.screenshot(path=str(tmp_path / "tangent_widget.png"))
    assert len(before) == 1 and len(after) == 1, (before, after)
    assert before != after, "moving the width slider did not change the figure"
    assert (label_before, label_after) == ("16", "4096")
    offline_browser.assert_clean()
