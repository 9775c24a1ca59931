"""Built-page checks for the supermask and multi-prize chapters (they run with the whole-book build).

The glued numbers in the prose must be the numbers the chapter computed and printed in its outputs.
"""
import html as html_lib
import re

import pytest

CHAPTERS = {
    # page: (minimum number of figures, a sentence whose glued percentage must be rendered)
    "03_supermasks": (5, r"untrained LeNet-300-100 reaches \d+\.\d%"),
    "05_multi_prize": (3, r"binary ticket in an untrained LeNet-300-100 reaches \d+\.\d%"),
}


def _text(html: str) -> str:
    return html_lib.unescape(re.sub(r"\s+", " ", re.sub("<[^>]+>", "", html)))


def _page(built_book, page: str) -> str:
    return _text((built_book / "book" / f"{page}.html").read_text())


def _floats(s: str) -> list[float]:
    return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", s)]


@pytest.mark.slow
@pytest.mark.parametrize("page", CHAPTERS)
def test_chapter_built_with_figures_captions_and_glued_numbers(built_book, page):
    html = (built_book / "book" / f"{page}.html").read_text()
    n_figures, glued = CHAPTERS[page]
    assert "Traceback" not in html
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
def test_chapter_prints_the_preset_and_device_its_captions_name(built_book, page):
    """The book fixture runs the quick preset on the CPU; the chapter prints the run label it puts under
    every figure, computed from the preset and device it actually used."""
    text = _page(built_book, page)
    assert "preset: quick" in text
    assert "figures from: quick preset, MNIST subset (3,500 training images), CPU" in text


@pytest.mark.slow
def test_supermask_sentence_quotes_the_best_density_of_the_printed_table(built_book):
    text = _page(built_book, "03_supermasks")
    densities = _floats(re.search(r"density((?: \d+%)+) LT mask", text).group(1))
    row = _floats(re.search(r"supermask \(same sign\), init weights((?: \d+\.\d)+)", text).group(1))
    assert len(row) == len(densities) >= 2
    said = re.search(r"keeping (\d+) ?% of the untrained weights, chosen by the same-sign criterion, gives "
                     r"(\d+\.\d) ?% test accuracy", text)
    assert said, "the supermask sentence with its glued density and accuracy"
    density, acc = float(said.group(1)), float(said.group(2))
    assert acc == max(row)                               # the best density of the printed row ...
    assert row[densities.index(density)] == acc          # ... and the accuracy printed there


@pytest.mark.slow
def test_edge_popup_width_sentence_matches_the_printed_sweep(built_book):
    text = _page(built_book, "03_supermasks")
    rows = re.findall(r"width x(\d+) +edge-popup \(untrained weights\)((?: \d+\.\d%)+) +dense trained (\d+\.\d)%", text)
    assert len(rows) >= 2
    said = re.search(r"untrained LeNet-300-100 reaches (\d+\.\d) ?% after (\d+) epochs of score training, and "
                     r"(\d+\.\d) ?% at width x ?(\d+)", text)
    assert said
    first, last = _floats(rows[0][1]), _floats(rows[-1][1])
    assert abs(float(said.group(1)) - sum(first) / len(first)) <= 0.1 + 1e-9   # mean over score seeds
    assert abs(float(said.group(3)) - sum(last) / len(last)) <= 0.1 + 1e-9
    assert said.group(4) == rows[-1][0]


@pytest.mark.slow
def test_binary_ticket_sentences_match_the_printed_runs(built_book):
    text = _page(built_book, "05_multi_prize")
    rows = re.findall(r"width x(\d+) +biprop((?: \d+\.\d%)+) +edge-popup((?: \d+\.\d%)+) +dense trained (\d+\.\d)%",
                      text)
    assert len(rows) >= 2
    said = re.search(r"binary ticket in an untrained LeNet-300-100 reaches (\d+\.\d) ?%, and (\d+\.\d) ?% at width "
                     r"x ?(\d+)", text)
    assert said
    first, last = _floats(rows[0][1]), _floats(rows[-1][1])
    assert abs(float(said.group(1)) - sum(first) / len(first)) <= 0.1 + 1e-9
    assert abs(float(said.group(2)) - sum(last) / len(last)) <= 0.1 + 1e-9
    assert said.group(3) == rows[-1][0]
    accs = _floats(re.search(r"test accuracy of each ticket:((?: \d+\.\d%)+)", text).group(1))
    tickets = re.search(r"All (\d+) tickets work, between (\d+\.\d) ?% and (\d+\.\d) ?%", text)
    assert tickets
    assert int(tickets.group(1)) == len(accs) >= 2
    assert (float(tickets.group(2)), float(tickets.group(3))) == (min(accs), max(accs))
