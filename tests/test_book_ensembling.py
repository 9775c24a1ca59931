"""Chapter 7 (scaling law from lottery ticket ensembling) in the built book, and its widget in a real browser.

The book is built once by the ``built_book`` fixture (``conftest.py``); these tests read its HTML and
drive the width slider and the activation dropdown in headless Chromium with every non-loopback
request blocked.
"""
import re

import pytest

PAGE = "book/07_scaling_ensembling.html"


@pytest.mark.slow
def test_chapter7_executed_with_figures_preset_and_glue(built_book):
    html = (built_book / PAGE).read_text()
    text = re.sub("<[^>]+>", "", html)
    assert "preset: quick" in text
    assert "quick preset: 100 seeds per width" in text          # the label every figure caption carries
    assert "Traceback" not in html
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= 7, images                             # figures 1-7; the widget's panels live in its state
    for src in images:
        assert (built_book / "book" / src).resolve().exists(), src
    state = html.split("application/vnd.jupyter.widget-state+json", 1)[1]
    assert state.count("image/png") >= 18                       # 9 widths x 2 activations, drawn in advance
    assert re.search(r"fitted exponent for SiLU is -?\d+\.\d\d", text)   # glued from the run


@pytest.mark.slow
def test_width_slider_and_activation_dropdown_change_the_figure_offline(offline_browser, tmp_path):
    page = offline_browser.open(PAGE)
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
