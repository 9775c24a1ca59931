"""Chapter 7 (scaling law from lottery ticket ensembling) in the built book, and its widget in a real browser.

The book is built once by the ``built_book`` fixture (``conftest.py``); these tests read the values the
executed notebook printed and glued into its HTML, and drive the width slider and the activation
dropdown in headless Chromium with every non-loopback request blocked.
"""
import re

import numpy as np
import pytest
from book_pages import glued

PAGE = ("book", "07_scaling_ensembling.html")
NUM = r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"
INT = r"(\d[\d,]*)"                                               # a glued integer, with thousands separators


def text_of(built_book):
    html = built_book.joinpath(*PAGE).read_text()
    return html, re.sub(r"\s+", " ", re.sub("<[^>]+>", "", html))   # glued values sit in inline spans


@pytest.mark.slow
def test_chapter7_executed_with_figures_and_the_quick_preset_it_printed(built_book):
    from lotterylab.scaling import SweepConfig

    html, text = text_of(built_book)
    assert "Traceback" not in html
    assert "preset: quick" in text
    quick = SweepConfig.for_preset("quick")
    seeds, steps, points = _label(text)                         # the label every figure caption carries
    (n_seeds,) = glued(rf"With {NUM} seeds per width", text)
    # the chapter's quick sweep: fewer seeds than the package's quick preset, the same schedule and data
    assert seeds == n_seeds and 10 <= seeds <= quick.n_seeds
    assert (steps, points) == (quick.fit.steps, quick.fit.n_points)
    m = re.search(rf"uses {INT} seeds per width, {INT} steps \(x0\.2 every {INT}\s*\) and {INT} points", text)
    assert m, "the quick preset's sizes were not rendered"
    q_seeds, q_steps, q_every, q_points = (int(g.replace(",", "")) for g in m.groups())
    assert (q_seeds, q_steps, q_every, q_points) == (seeds, quick.fit.steps, quick.fit.decay_every, quick.fit.n_points)
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= 8, images                             # figures 1, 1b, 2-7; the widget's panels live in its state
    for src in images:
        assert (built_book / "book" / src).resolve().exists(), src
    from lotterylab.reference import ch07

    reference = [(c.widths, c.activations) for c in ch07.sweep_configs()]
    panels = sum(len(w) for w, _ in reference) * len(reference[0][1])   # the widget shows the reference run
    state = html.split("application/vnd.jupyter.widget-state+json", 1)[1]
    assert state.count("image/png") >= panels                    # every panel drawn in advance
    (minutes,) = glued(rf"runs in about {NUM} minutes", text)
    assert minutes > 0  # the run's own measured time was glued (no time limit here: that is a benchmark's job)


def _label(text):
    m = re.search(r"caption names its run: quick preset, (\d+) seeds per width, ([\d,]+) Adam steps, (\d+) points", text)
    assert m, "the run label was not printed"
    return int(m.group(1)), int(m.group(2).replace(",", "")), int(m.group(3))


@pytest.mark.slow
def test_glued_exponents_and_synergy_ratios_are_computed_numbers(built_book):
    from lotterylab.scaling import SweepConfig

    _, text = text_of(built_book)
    m = re.search(rf"In this run ([a-zA-Z ]+?)\s*: the fitted exponent for SiLU is {NUM} for widths 2 to 10 and {NUM} "
                  rf"for widths 10 to 50; for ReLU it is {NUM} and {NUM}\s*\.", text)
    assert m, "the exponent sentence was not rendered"
    words, exps = m.group(1), [float(g) for g in m.groups()[1:]]
    assert all(-8 < e < 0 for e in exps), exps                  # the loss falls with width, at a plausible rate
    flatter = [exps[0] < exps[1], exps[2] < exps[3]]            # small-width exponent steeper than large-width
    expected = ("both curves fall faster at small widths than at large ones" if all(flatter) else
                "neither curve is flatter at large widths than at small ones" if not any(flatter) else
                f"only the {'silu' if flatter[0] else 'relu'} curve falls faster at small widths than at large ones")
    assert words == expected, (words, exps)                     # the verdict follows the glued numbers
    (n_diverged,) = glued(rf"{NUM} seeds diverged in this sweep", text)
    (n_seeds,) = glued(rf"With {NUM} seeds per width", text)
    assert 10 <= n_seeds <= SweepConfig.for_preset("quick").n_seeds and 0 <= n_diverged <= n_seeds * 18
    n_small, r_small, half, n_large, r_large, half_large = glued(
        rf"median loss at width {NUM} is {NUM} times that of the ensemble of two width-{NUM} networks, and at "
        rf"width {NUM} the ratio is {NUM} against two width-{NUM} networks", text)
    assert (half, half_large) == (n_small // 2, n_large // 2) and n_small < n_large
    assert r_small > 0 and r_large > 0


@pytest.mark.slow
def test_fitted_combination_and_step_budget_sentences_follow_their_numbers(built_book):
    _, text = text_of(built_book)
    m = re.search(rf"pairs of actual width-{NUM} networks, the fitted combination.s median loss is {NUM} times the "
                  rf"harmonic rule.s prediction for the same pairs\s*, (above the rule|below the rule|within 10% of the "
                  rf"rule)[^;]*; the median correlation of the two halves. errors is {NUM}", text)
    assert m, "the fitted-combination sentence was not rendered"
    ratio, verdict, corr = float(m.group(2)), m.group(3), float(m.group(4))
    assert ratio > 0 and -1 <= corr <= 1
    assert verdict == ("above the rule" if ratio > 1.1 else "below the rule" if ratio < 0.9 else "within 10% of the rule"), \
        (ratio, verdict)                                        # (the glued ratio is rounded: borders are left to it)
    m = re.search(rf"On widths 10 to 50 the fitted exponent is {NUM} after {INT} steps and {NUM} after {INT}"
                  rf".{{0,120}}?: (more training [a-z -]+)", text)
    assert m, "the step-budget sentence was not rendered"
    e_lo, s_lo, e_hi, s_hi = float(m.group(1)), int(m.group(2).replace(",", "")), float(m.group(3)), \
        int(m.group(4).replace(",", ""))
    assert s_lo < s_hi and -8 < e_lo < 1 and -8 < e_hi < 1
    words = m.group(5)
    if e_hi < e_lo - 0.06:                                      # 0.01 of slack for the rounding of the glued values
        assert words.startswith("more training makes the large-width end steeper"), words
    elif e_lo - 0.04 < e_hi < e_lo + 0.04:
        assert words.startswith("more training does not make the large-width end steeper"), words
    elif e_hi > e_lo + 0.06:
        assert words.startswith("more training makes the large-width end flatter"), words
    again = re.search(rf"SiLU exponent on widths 10 to 50 is {NUM} after {INT} steps and {NUM} after {INT}", text)
    assert again and again.groups() == m.groups()[:4]           # the summary repeats the same measured numbers
    assert re.search(r"The paper.s own limits.{0,200}unbiased.{0,600}appendix C already reports", text)
    assert re.search(r"Empirical, and measured here at small scale: .+?(All four of these observations show up in this "
                     r"run\.|Not seen in this run: )", text)


@pytest.mark.slow
def test_glued_tickets_symmetry_and_distillation_are_consistent(built_book):
    _, text = text_of(built_book)
    m = re.search(rf"In this run (most of the neurons|a minority of the neurons)\s*, {NUM}\s*% of the width-", text)
    assert m, "the mirror-symmetry sentence was not rendered"
    sym = float(m.group(2))
    assert 0 <= sym <= 100 and (m.group(1) == "most of the neurons") == (sym > 50) or abs(sym - 50) < 1
    best_r2, median_r2 = glued(rf"best pair.s .{{0,20}}is {NUM} in this run, while the median pair reaches {NUM}", text)
    assert -1 < median_r2 <= best_r2 <= 1
    (corr,) = glued(rf"between two tickets.{{0,8}} errors is {NUM}", text)
    assert 0 <= corr <= 1
    d_best, d_median, two_median, two_best = glued(
        rf"best MSE of {NUM} and a median of {NUM}, against a median of {NUM} \(best {NUM}\)", text)
    assert 0 <= d_best <= d_median and 0 <= two_best <= two_median
    (t_loss,) = glued(rf"The best one reaches an MSE of {NUM}", text)
    assert t_loss == two_best                                   # the table's best network is the histogram's best
    m = re.search(r"In this run (all 5 lowest-loss networks|(?:only )?(\d) of the 5 lowest-loss networks) are symmetric pairs",
                  text)
    assert m, "the symmetric-ticket sentence was not rendered"
    top = 5 if m.group(1).startswith("all") else int(m.group(2))
    assert m.group(1).startswith("only") == (top <= 2)
    m = re.search(rf"(Most seeds do not find it|Most seeds find it)\s*: {NUM}\s*% of all {NUM} seeds end in a", text)
    assert m, "the share of symmetric width-2 networks was not rendered"
    share = float(m.group(2))
    assert 0 <= share <= 100 and (m.group(1) == "Most seeds find it") == (share >= 50) or abs(share - 50) < 1
    m = re.search(rf"Slide from N = 2 to 50 with SiLU\. In the reference run the 10-90% spread of the histogram goes from "
                  rf"{NUM} to {NUM} decades \((it narrows|it does not narrow)\)", text)
    assert m, "the widget's sentence was not rendered"
    assert (m.group(3) == "it narrows") == (float(m.group(2)) < float(m.group(1))) or m.group(1) == m.group(2)


@pytest.mark.slow
def test_reference_section_shows_the_paper_schedule_run_with_its_manifest(built_book):
    """Figure 1R/2R come from the shipped reference; exponents and verdicts follow its numbers, paper beside."""
    from lotterylab.reference import ch07
    from lotterylab.scaling import fit_power_law

    _, text = text_of(built_book)
    ref = ch07.load()
    assert "make reference CH=7" in text and "reference/ch07/manifest.json" in text
    tol = 0.3

    def versus(ours, paper):
        return "close to" if abs(ours - paper) <= tol else "steeper than" if ours < paper else "flatter than"

    widths, med, _ = ref.sweep.medians("silu")
    silu_large = fit_power_law(widths, med, 10, 50).exponent
    words = "(close to|steeper than|flatter than)"
    m = re.search(rf"our SiLU exponent on widths 10 to 50 is {NUM}\s*, {words} the paper.s .{{0,3}}-1", text)
    assert m, "the reference SiLU sentence was not rendered"
    assert float(m.group(1)) == round(silu_large, 2) and m.group(2) == versus(silu_large, -1.0)
    widths, med, _ = ref.sweep.medians("leaky_relu")
    local = {(a, b): float(np.log(med[list(widths).index(b)] / med[list(widths).index(a)]) / np.log(b / a))
             for a, b in ((10, 20), (40, 50))}
    m = re.search(rf"Our local exponent is {NUM} between widths 10 and 20 \({words} the paper.s .{{0,3}}-4.{{0,3}}\) "
                  rf"and {NUM} between 40 and 50 \({words} the paper.s .{{0,3}}-1.{{0,3}}\): the curve "
                  rf"(flattens|does not flatten)", text)
    assert m, "the reference LeakyReLU sentence was not rendered"
    first, last = local[10, 20], local[40, 50]
    assert (float(m.group(1)), float(m.group(3))) == (round(first, 2), round(last, 2))
    assert (m.group(2), m.group(4)) == (versus(first, -4.0), versus(last, -1.0))
    assert (m.group(5) == "flattens") == (last > first + tol)
    m = re.search(rf"the SiLU histogram.s 10-90% spread is {NUM} decades at .{{0,6}}N = 2.{{0,6}} and {NUM} at "
                  rf".{{0,30}}?, (one narrow peak|no such narrowing)", text)
    assert m, "Figure 2R's sentence was not rendered"
    sp_2, sp_hi = float(m.group(1)), float(m.group(2))
    assert 0 < sp_hi and (m.group(3) == "one narrow peak") == (sp_hi < sp_2 / 2)
    paper_mse, ours_mse = glued(rf"the paper.s ticket has an MSE of {NUM} and the best of our [\d,]+ width-2 SiLU "
                                rf"networks {NUM}", text)
    assert 0 < ours_mse and 1e-7 < paper_mse < 1e-4                # the paper's ticket fits the parabola closely
    assert ("its loss is lower" in text) == (ours_mse < paper_mse)


@pytest.mark.slow
def test_width_slider_and_activation_dropdown_change_the_figure_offline(offline_browser, tmp_path):
    page = offline_browser.open("/".join(PAGE))
    page.wait_for_selector(".widget-slider .noUi-handle", timeout=30_000)
    page.wait_for_selector(".widget-dropdown select", timeout=30_000)
    readout = page.locator(".widget-readout").first
    first = offline_browser.visible_images(page)
    assert len(first) == 1, first                               # exactly one panel visible at a time
    assert readout.inner_text() == "1"

    handle = page.locator(".widget-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press("End")
    page.wait_for_timeout(500)
    wide = offline_browser.visible_images(page)
    assert readout.inner_text() == "50"
    assert len(wide) == 1 and wide != first, "moving the width slider did not change the figure"

    dropdown = page.locator(".widget-dropdown select").first
    dropdown.select_option("leaky_relu")
    page.wait_for_timeout(500)
    relu = offline_browser.visible_images(page)
    assert len(relu) == 1 and relu not in (first, wide), "changing the activation did not change the figure"

    handle.focus()
    page.keyboard.press("Home")
    page.wait_for_timeout(500)
    narrow_relu = offline_browser.visible_images(page)
    assert readout.inner_text() == "1"
    assert len(narrow_relu) == 1 and narrow_relu not in (first, wide, relu), "the slider does not drive the LeakyReLU panels"
    page.screenshot(path=str(tmp_path / "chapter7_widget.png"), full_page=False)
    offline_browser.assert_clean()
