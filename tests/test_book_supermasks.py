"""Built-page checks for the supermask and multi-prize chapters (they run with the whole-book build)."""
import re

import pytest

CHAPTERS = {
    # page: (minimum number of figures, a sentence whose glued percentage must be rendered)
    "03_supermasks": (5, r"untrained LeNet-300-100 reaches \d+\.\d%"),
    "05_multi_prize": (3, r"binary ticket in an untrained LeNet-300-100 reaches \d+\.\d%"),
}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub("<[^>]+>", "", html))


@pytest.mark.slow
@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_built_with_figures_captions_and_glued_numbers(built_book, page):
    html = (built_book / "book" / f"{page}.html").read_text()
    n_figures, glued = CHAPTERS[page]
    assert "Traceback" not in html
    assert "preset: quick" in html
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', html)
    assert len(images) >= n_figures, images
    for src in images:
        assert (built_book / "book" / src).resolve().exists(), src
    text = _text(html)
    assert re.search(glued, text), glued
    assert text.count("What to see.") >= n_figures
    # every glue role was replaced by a number (an unresolved one would leave the role text behind)
    assert "{glue" not in text
    # exercises with dropdown solutions
    assert html.count("exercise") >= 3 and "dropdown" in html


@pytest.mark.slow
@pytest.mark.parametrize("page", CHAPTERS)
def test_figures_name_the_preset_and_device(built_book, page):
    """Captions are drawn into the figures; the code that draws them must name the preset and device."""
    html = (built_book / "book" / f"{page}.html").read_text()
    assert html.count("RUN_LABEL") >= CHAPTERS[page][0]  # every caption(...) call ends with RUN_LABEL
    assert "quick preset, MNIST subset" in _text(html) or "RUN_LABEL = f&quot;{preset} preset" in html \
        or 'RUN_LABEL = f"{preset} preset' in html
