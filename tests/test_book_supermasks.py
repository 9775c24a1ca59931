"""Built-page checks for the supermask and multi-prize chapters (they run with the whole-book build)."""
import html as html_lib
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
def test_figure_captions_name_the_preset_and_device(built_book, page):
    """Captions are drawn into the figures, so check the code that draws them: every caption ends
    with RUN_LABEL, which names the preset and the device."""
    text = html_lib.unescape(_text((built_book / "book" / f"{page}.html").read_text()))
    assert 'RUN_LABEL = f"{preset} preset, MNIST subset (3,500 training images), {device.type.upper()}"' in text
    assert text.count("{RUN_LABEL}.\")") >= CHAPTERS[page][0]
