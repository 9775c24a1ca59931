"""The stability-and-rewinding chapter, as built: executed, with figures, preset captions and glued numbers.

The numbers in the chapter's prose are glued from the run; these tests read them back from the HTML and
check them against the tables the same run printed (and the quick preset's configuration), so a sentence
that drifted from its numbers fails.
"""
import re

import pytest

from lotterylab.residual_sign import ResidualSignConfig
from lotterylab.stability import StabilityConfig

PAGE = ("book", "02_stability_rewinding.html")
QUICK = StabilityConfig.for_preset("quick")
NUM = r"(-?\d+\.\d\d)"


def text_of(built_book):
    page = (built_book.joinpath(*PAGE)).read_text()
    text = re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", page))
    return page, re.sub(r" ([,.;)])", r"\1", text)  # a glued value's span leaves a space before punctuation


def printed_barriers(text):
    """``{(kind, k): barrier in points}`` from the table the instability cell printed."""
    rows = re.findall(r"\b(dense|ticket|random) +(\d+) \| +" + NUM + r" \|", text)
    return {(kind, int(k)): float(b) for kind, k, b in rows}


@pytest.mark.slow
def test_chapter_executed_with_figures_and_preset(built_book):
    page, text = text_of(built_book)
    assert "Traceback" not in page
    assert "preset: quick" in page
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert len(images) >= 3, images  # figures 1, 3, 4 (figure 2's panels live in the widget state)
    for src in images:
        assert (built_book / "book" / src).resolve().exists(), src
    # the run labels drawn into the captions are printed too, computed from the configs the chapter used
    assert f"figure label: quick preset, {QUICK.model}, {QUICK.train.steps:,} steps, seed 0, " in text
    rcfg = ResidualSignConfig.for_preset("quick")
    assert f"figure label: quick preset, {rcfg.n_seeds} seeds per curve, {rcfg.steps} full-batch Adam steps, CPU" \
        in text
    assert text.count("What to see.") >= 4


@pytest.mark.slow
def test_glued_barriers_match_the_printed_table(built_book):
    _, text = text_of(built_book)
    table = printed_barriers(text)
    assert set(table) == {(kind, k) for kind in QUICK.kinds for k in QUICK.rewind_steps}, sorted(table)
    m = re.search(r"only " + NUM + r" percentage points worse .*? dense network, " + NUM + r" for the IMP "
                  r"ticket and " + NUM + r" for the random mask", text)
    assert m, "barriers at k = 0 not rendered"
    assert [float(v) for v in m.groups()] == [table[(kind, 0)] for kind in ("dense", "ticket", "random")]
    m = re.search(r"The barriers at .{1,20}? = 0, (\d+) and (\d+) are: dense " + " → ".join([NUM] * 3)
                  + r" points, ticket " + " → ".join([NUM] * 3) + ", random " + " → ".join([NUM] * 3), text)
    assert m, "barriers against k not rendered"
    ks = (0, int(m.group(1)), int(m.group(2)))
    assert ks == (QUICK.rewind_steps[0], QUICK.rewind_steps[1], QUICK.rewind_steps[-1])
    glued = [float(v) for v in m.groups()[2:]]
    assert glued == [table[(kind, k)] for kind in ("dense", "ticket", "random") for k in ks]
    m = re.search(r"the barrier is never above " + NUM + " percentage points in this run", text)
    assert m and float(m.group(1)) == max(table.values())


@pytest.mark.slow
def test_verdicts_follow_the_numbers(built_book):
    _, text = text_of(built_book)
    table = printed_barriers(text)
    at_init = [table[(kind, 0)] for kind in QUICK.kinds]
    if max(at_init) < 1.995:
        assert "By the 2-point rule, all three are stable at initialisation" in text
    elif max(at_init) > 2.005:
        assert "By the 2-point rule, not all three are stable at initialisation" in text
    if max(table.values()) < 1.995:
        assert "In short, every barrier in this run is below the 2-point line" in text
    elif max(table.values()) > 2.005:
        assert "In short, the barrier reaches the 2-point line for" in text


@pytest.mark.slow
def test_residual_statistics_are_glued_from_the_printed_run(built_book):
    _, text = text_of(built_book)
    printed = re.search(r"minus on x vs plus on -x: KS = (\d\.\d{3}), permutation p = (\d\.\d{3})", text)
    glued = re.search(r"KS = (\d\.\d{3}) with permutation p = (\d\.\d\d) over (\d+) seeds each", text)
    assert printed and glued
    assert glued.group(1) == printed.group(1)
    assert float(glued.group(2)) == pytest.approx(float(printed.group(2)), abs=0.005 + 1e-9)
    assert int(glued.group(3)) == ResidualSignConfig.for_preset("quick").n_seeds
    medians = re.findall(r"x [-+] relu\(Mx\+b\) on -?x: median loss (\d\.\d{4})", text)
    glued_medians = re.search(r"median losses (\d\.\d{4}) and (\d\.\d{4})\)", text)
    assert len(medians) == 3 and glued_medians and list(glued_medians.groups()) == medians[:2]
    assert "loss curves identical at every step: True" in text


@pytest.mark.slow
def test_widget_has_one_panel_per_rewind_step(built_book):
    page, _ = text_of(built_book)
    assert "application/vnd.jupyter.widget-state+json" in page
    state = page.split("application/vnd.jupyter.widget-state+json", 1)[1]
    assert state.count("image/png") >= len(QUICK.rewind_steps)
    assert "rewind step k" in state
