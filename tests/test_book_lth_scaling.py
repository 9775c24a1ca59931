"""Chapter 8 (does the LTH suggest the scaling hypothesis?) in the built book, and its k slider offline.

Reads the numbers the executed notebook glued into its HTML (not the source), checks that they are
consistent with each other and with what the package guarantees, and moves the slider in headless
Chromium with every non-loopback request blocked.
"""
import re

import pytest
from book_pages import glued

PAGE = ("book", "08_lth_and_scaling.html")
NUM = r"(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)"


def text_of(built_book):
    html = built_book.joinpath(*PAGE).read_text()
    return html, re.sub(r"\s+", " ", re.sub("<[^>]+>", "", html))


@pytest.mark.slow
def test_chapter8_executed_with_quick_preset_figures_and_widget_panels(built_book):
    from lotterylab.scaling import SweepConfig

    html, text = text_of(built_book)
    assert "Traceback" not in html
    assert "preset: quick" in text
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= 6, images                              # figures 1-6
    for src in images:
        assert (built_book / "book" / src).resolve().exists(), src
    state = html.split("application/vnd.jupyter.widget-state+json", 1)[1]
    assert state.count("image/png") >= 5                         # one panel per k, drawn in advance
    label = re.search(r"caption names its run: quick preset, (\d+) seeds per width, ([\d,]+) Adam steps", text)
    assert label, "the run label was not printed"
    quick = SweepConfig.for_preset("quick")
    assert (int(label.group(1)), int(label.group(2).replace(",", ""))) == (quick.n_seeds, quick.fit.steps)
    (minutes,) = glued(rf"new experiments run in about {NUM} minutes", text)
    assert 0 < minutes <= 3


@pytest.mark.slow
def test_selection_committee_and_trained_numbers_are_consistent(built_book):
    _, text = text_of(built_book)
    k, sub, best, committee, harmonic, n, trained = glued(
        rf"{NUM} networks of width {NUM}, the best of the .{{0,8}}? ?reaches a median MSE of {NUM}, the "
        rf"least-squares committee of the same .{{0,8}}? ?networks {NUM}, and the harmonic rule {NUM}, while the "
        rf"width-{NUM} network trained as one reaches {NUM}", text)
    assert k * sub == n and k >= 2
    assert 0 < committee <= best and 0 < harmonic <= best and trained > 0
    sel_ratio, com_ratio = glued(rf"selection.s median loss is {NUM} times as large and the committee.s {NUM} times", text)
    assert sel_ratio == pytest.approx(best / trained, rel=0.06)
    assert com_ratio == pytest.approx(committee / trained, rel=0.06)


@pytest.mark.slow
def test_bias_variance_tail_and_existence_numbers(built_book):
    _, text = text_of(built_book)
    lo, hi = glued(rf"Between widths {NUM} and {NUM} the variance across seeds", text)
    assert lo < hi
    var_exp, bias_exp = glued(rf" {NUM}, and the bias.{{0,40}}? {NUM} \(averaging independent tickets", text)
    assert -6 < var_exp < 2 and -6 < bias_exp < 2
    (share,) = glued(rf"the variance is {NUM}% of the mean loss", text)
    assert 0 <= share <= 100
    err_power, err_logn = glued(rf"power-law tail misses the empirical curve by {NUM} decades on average and the "
                                rf"log-normal tail by {NUM}", text)
    assert err_power >= 0 and err_logn >= 0
    better = "long (power-law)" if err_power < err_logn else "short (log-normal)"
    assert f"here the {better} tail fits better" in text
    slope, decade_n = glued(rf" {NUM}: ten times lower costs {NUM} more numbers", text)
    assert slope > 0 and decade_n == pytest.approx(3.3219 / slope, rel=0.05)


@pytest.mark.slow
def test_popup_against_sgd_numbers_and_the_computed_verdict(built_book):
    _, text = text_of(built_book)
    popup, sgd = glued(rf"edge-popup.s mask reaches {NUM}% test accuracy; SGD on the same network reaches {NUM}%", text)
    assert 10 < popup <= 100 and 10 < sgd <= 100
    shared, chance, lift = glued(rf"{NUM}% are also among the largest after SGD, against {NUM}% for a random mask "
                                 rf"of the same size \(a lift of {NUM}\)", text)
    assert 0 <= shared <= 100 and chance == pytest.approx(50, abs=1) and lift == pytest.approx(shared / chance, rel=0.02)
    link2 = re.search(r"Link 2, reinforcement, (holds|fails) here", text)
    assert link2, "the computed verdict on link 2 is missing"
    assert "Link 1, existence" in text and "Link 3, scale" in text and "Open." in text


@pytest.mark.slow
def test_k_slider_switches_the_panel_offline(offline_browser, tmp_path):
    page = offline_browser.open("/".join(PAGE))
    first, last, label_first, label_last = offline_browser.press_slider_key(page, "End")
    assert len(first) == 1, first                                  # exactly one panel visible at a time
    assert label_first == "1" and label_last != "1"
    assert len(last) == 1 and last != first, "moving the k slider did not change the figure"
    page.screenshot(path=str(tmp_path / "chapter8_widget.png"), full_page=False)
    offline_browser.assert_clean()
