"""Chapter 7 (scaling law from lottery ticket ensembling) in the built book, and its widget in a real browser.

The book is built once by the ``built_book`` fixture (``conftest.py``); these tests read the values the
executed notebook printed and glued into its HTML, and drive the width slider and the activation
dropdown in headless Chromium with every non-loopback request blocked.
"""
import re

import pytest
from book_pages import glued

PAGE = ("book", "07_scaling_ensembling.html")
NUM = r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"


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
    assert (seeds, steps, points) == (quick.n_seeds, quick.fit.steps, quick.fit.n_points)
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= 7, images                             # figures 1-7; the widget's panels live in its state
    for src in images:
        assert (built_book / "book" / src).resolve().exists(), src
    state = html.split("application/vnd.jupyter.widget-state+json", 1)[1]
    assert state.count("image/png") >= len(quick.widths) * len(quick.activations)   # every panel drawn in advance
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
    exps = glued(rf"fitted exponent for SiLU is {NUM} for widths 2 to 10 and {NUM} for widths 10 to 50; "
                 rf"for ReLU it is {NUM} and {NUM}\.", text)
    assert all(-8 < e < 0 for e in exps), exps                  # the loss falls with width, at a plausible rate
    (n_diverged,) = glued(rf"{NUM} seeds diverged in this sweep", text)
    (n_seeds,) = glued(rf"With {NUM} seeds per width", text)
    assert n_seeds == SweepConfig.for_preset("quick").n_seeds and 0 <= n_diverged <= n_seeds * 18
    n_small, r_small, half, n_large, r_large, half_large = glued(
        rf"median loss at width {NUM} is {NUM} times that of the ensemble of two width-{NUM} networks, and at "
        rf"width {NUM} the ratio is {NUM} against two width-{NUM} networks", text)
    assert (half, half_large) == (n_small // 2, n_large // 2) and n_small < n_large
    assert r_small > 0 and r_large > 0


@pytest.mark.slow
def test_glued_tickets_symmetry_and_distillation_are_consistent(built_book):
    _, text = text_of(built_book)
    (sym,) = glued(rf"In this run {NUM}% of the neurons", text)
    assert 0 <= sym <= 100
    best_r2, median_r2 = glued(rf"is {NUM} in this run\), while the median pair reaches only {NUM}", text)
    assert -1 < median_r2 <= best_r2 <= 1
    (corr,) = glued(rf"between two tickets.{{0,8}} errors is {NUM}", text)
    assert 0 <= corr <= 1
    d_best, d_median, two_median, two_best = glued(
        rf"best MSE of {NUM} and a median of {NUM}, against a median of {NUM} \(best {NUM}\)", text)
    assert 0 <= d_best <= d_median and 0 <= two_best <= two_median
    (t_loss,) = glued(rf"The best one in this run reaches an MSE of {NUM}", text)
    assert t_loss == two_best                                   # the table's best network is the histogram's best


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
    dropdown.select_option("relu")
    page.wait_for_timeout(500)
    relu = offline_browser.visible_images(page)
    assert len(relu) == 1 and relu not in (first, wide), "changing the activation did not change the figure"

    handle.focus()
    page.keyboard.press("Home")
    page.wait_for_timeout(500)
    narrow_relu = offline_browser.visible_images(page)
    assert readout.inner_text() == "1"
    assert len(narrow_relu) == 1 and narrow_relu not in (first, wide, relu), "the slider does not drive the ReLU panels"
    page.screenshot(path=str(tmp_path / "chapter7_widget.png"), full_page=False)
    offline_browser.assert_clean()
