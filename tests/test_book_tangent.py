"""Checks on the built tangent-space chapter: values the executed notebook computed and glued (slow)."""
import re

import pytest
from book_pages import executed_page, text_of

PAGE = "book/06_tangent_space.html"


@pytest.mark.slow
def test_chapter_executed_with_figures_preset_and_glued_numbers(built_book):
    page = executed_page(built_book, PAGE, 6)  # figures 2-7 (figure 1's panels live in the widget state)
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
    moved = re.search(r"weights move by (\d+\.\d+) ?% of their initial norm at width 64 and (\d+\.\d+) ?% at width 1024",
                      text)
    assert moved, "weight movement not glued"
    assert 0 < float(moved.group(2)) < float(moved.group(1)) < 100
    acc = re.search(r"trained network reaches (\d+\.\d) ?% test accuracy, its linearisation (\d+\.\d) ?%", text)
    assert acc and 50 < float(acc.group(1)) <= 100 and abs(float(acc.group(1)) - float(acc.group(2))) < 10
    assert re.search(r"condition number, \d\.?\d*e\+\d+", text)
    assert re.search(r"before training it classifies \d+ ?% of the test images", text)
    # no fixed verdict: the ticket sentence is one of the two worded from the numbers
    assert re.search(r"Here the ticket (is not special|stands out): its one-step solution", text)
    # the restricted solve: the dense point and the smallest kept set, glued
    rs = re.search(r"With every column the restricted solve is the dense one-step solution, (\d+\.\d) ?% test", text)
    assert rs and 50 < float(rs.group(1)) <= 100
    assert re.search(r"fewer than the 256 equations, so the training loss stays at \d\.\de[-+]\d+", text)
    # seed spread of the one-step solution (Mingard et al.'s randomness is over theta0)
    spread = re.search(r"The (\d+) solutions reach between (\d+\.\d) ?% and (\d+\.\d) ?% test accuracy, yet two of "
                       r"them disagree on (\d+\.\d) ?%", text)
    assert spread and int(spread.group(1)) == 4
    assert float(spread.group(2)) <= float(spread.group(3)) and 0 < float(spread.group(4)) < 50
    # Fort et al.: Adam moves the weights far more than lazy gradient descent, measured
    adam = re.search(r"Adam moves this network.s weights by (\d+) ?% of their initial norm \(gradient descent in the NTK "
                     r"parameterisation: (\d+\.\d) ?%", text)
    assert adam and float(adam.group(1)) > 3 * float(adam.group(2))
    assert re.search(r"linearising later (brings|does not bring) the linear model", text)
    assert "Fort" in text and "Mingard" in text


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



def _has(sentence: str, text: str) -> bool:
    """``sentence`` is in ``text``, with any apostrophe accepted as typeset (Sphinx's smart quotes)."""
    return re.search(re.escape(sentence).replace("'", "."), text) is not None


@pytest.mark.slow
def test_reference_section_shows_the_stored_run_with_its_manifest(built_book):
    """Figure 2R is drawn from the shipped reference; its numbers and verdicts are worded from it, theory beside."""
    import numpy as np

    from lotterylab.reference import ch06

    text = re.sub(r" ([,.;:)%])", r"\1", text_of(executed_page(built_book, PAGE, 7)))  # a glued span leaves a space
    ref = ch06.load()
    mw, rw = ref.widths("mnist"), ref.widths("regression")
    # the figure's code, the manifest line it prints, and the table of the stored widths
    assert "Figure 2R. The reference run" in text and ref.manifest.describe() in text
    assert "make reference CH=6" in text and "reference/ch06/manifest.json" in text
    for w in mw:
        p = ref.points["mnist", w]
        assert f"{w:,} | {100 * p.movement:.3f}% | {100 * p.rel_distance:.2f}% |" in text, w
    assert _has(f"the 1-D regression at widths {rw[0]:,} to {rw[-1]:,}", text)
    first, last = ref.points["mnist", mw[0]], ref.points["mnist", mw[-1]]
    assert _has(f"On MNIST the weights move by {100 * first.movement:.2f}% of their initial norm at width {mw[0]:,} "
                f"and {100 * last.movement:.3f}% at width {mw[-1]:,}", text)
    assert _has(f"goes from {100 * first.rel_distance:.1f}% to {100 * last.rel_distance:.2f}%", text)
    # the verdict on the rate is worded from the fitted slope, with the theory's -1/2 beside it
    slope = float(np.polyfit(np.log(mw), np.log(ref.series("mnist", "movement")), 1)[0])
    how = "close to" if abs(slope + 0.5) <= 0.1 else "steeper than" if slope < -0.5 else "shallower than"
    assert _has(f"the slope of the movement is: MNIST {slope:.2f}, {how} the theory's -1/2", text)
    assert "an upper bound, not a rate" in text and "Lee et al." in text
    assert _has(f"At width {mw[-1]:,} the trained network reaches {100 * last.acc['net']:.1f}% test accuracy, its "
                f"linearisation {100 * last.acc['lin']:.1f}% and the one-step solution "
                f"{100 * last.acc['newton']:.1f}%", text)
    assert re.search(r"over all the reference.s widths, the three (agree to within|differ by up to)", text)
