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
    assert len(images) >= 4, images  # figures 1, 3, 4, 5 (figure 2's panels live in the widget state)
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
    m = re.search(r"The worst point on the line is " + NUM + r" percentage points worse .*? dense network, " + NUM
                  + r" for the IMP "
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
    m = re.search(r"Across the slider the barrier is never above " + NUM + " percentage points in this run", text)
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


def printed_control(text):
    """``{pair: barrier in points}`` from the table the positive-control cell printed."""
    rows = re.findall(r"(same init, two data orders|different inits, aligned|different inits) \| +" + NUM + r" \|", text)
    return {name: float(b) for name, b in rows}


@pytest.mark.slow
def test_positive_control_is_glued_and_worded_from_its_table(built_book):
    _, text = text_of(built_book)
    control = printed_control(text)
    assert set(control) == {"same init, two data orders", "different inits", "different inits, aligned"}, control
    same, diff, aligned = (control[k] for k in ("same init, two data orders", "different inits",
                                                 "different inits, aligned"))
    assert same == printed_barriers(text)[("dense", 0)]
    assert diff > same and diff >= 2.0          # the chapter's hidden assert, seen from the page
    m = re.search(r"from different initialisations it is " + NUM + r" percentage points", text)
    assert m and float(m.group(1)) == diff
    m = re.search(r"After weight matching the barrier is " + NUM + r" points \( ?(-?\d+) ?% of the way", text)
    assert m and float(m.group(1)) == aligned
    assert abs(int(m.group(2)) - 100 * (diff - aligned) / (diff - same)) <= 1.5  # rounded inputs
    if aligned < 1.995:
        assert "below the 2-point line: after alignment the two networks count as linearly connected" in text
    elif aligned > 2.005:
        assert "still above the 2-point line" in text or "still well above the 2-point line" in text
    m = re.search(r"took the barrier between two independently trained networks from " + NUM + " to " + NUM, text)
    assert m and (float(m.group(1)), float(m.group(2))) == (diff, aligned)
    assert "the shuffled network computes the same function: True" in text
    assert "matching recovers the order exactly: True" in text


@pytest.mark.slow
def test_residual_verdicts_follow_the_printed_statistics(built_book):
    _, text = text_of(built_book)
    same = re.search(r"minus on x vs plus on -x: KS = \d\.\d{3}, permutation p = (\d\.\d{3})", text)
    diff = re.search(r"minus on x vs plus on +x: KS = \d\.\d{3}, permutation p = (\d\.\d{4})", text)
    medians = [float(v) for v in re.findall(r"x [-+] relu\(Mx\+b\) on -?x: median loss (\d\.\d{4})", text)]
    assert same and diff and len(medians) == 3
    assert "the commenter who found the minus version better was right" not in text
    p_diff = float(diff.group(1))
    if p_diff < 0.0495 and medians[0] < medians[2]:
        assert "the minus version reached lower training losses than the plus version" in text
    elif p_diff < 0.0495 and medians[0] > medians[2]:
        assert "the plus version reached lower training losses than the minus version" in text
    elif p_diff > 0.0505:
        assert "minus and plus on the same inputs are not distinguishable at the 5% level" in text
    if float(same.group(1)) > 0.0505:
        assert "no evidence of any difference, as the symmetry argument predicts" in text
    elif float(same.group(1)) < 0.0495:
        assert "a difference at the 5% level, which the exact argument below says can only be chance" in text
    assert r"\mathrm{relu}(Ax + b) - x" in text  # the twist in the thread is told


@pytest.mark.slow
def test_the_commenter_layer_is_an_exercise_with_a_solution(built_book):
    page, _ = text_of(built_book)
    assert 'id="ex-commenter-layer"' in page
    assert page.count("alternating") >= 2  # the solution's argument and its code


@pytest.mark.slow
def test_reference_section_shows_the_stored_run_with_its_manifest(built_book):
    """Figure 3R is drawn from the shipped reference; its verdicts are worded from it, with the paper beside."""
    from lotterylab.reference import ch02

    _, text = text_of(built_book)
    ref = ch02.load()
    assert "Figure 3R" in text and "make reference CH=2" in text and "reference/ch02/manifest.json" in text
    dense_0 = 100 * sum(ref.barriers("dense")[0]) / len(ref.runs)
    if dense_0 >= 2:
        assert "dense network is unstable at initialisation" in text
    else:
        assert "Even at this learning rate the dense network is stable at initialisation" in text
    assert f"{dense_0:.1f} points on average" in text
    assert "Frankle" in text and "ResNet-20" in text                  # the paper's finding beside ours
