"""The student edition (`make book-student`): the same book, with no exercise solution in its HTML.

The edition is built from the execution cache of the main test build (the `built_book` fixture), so
no chapter runs a second time: the build gets an invalid ``LOTTERYLAB_DEVICE``, which makes any chapter
that did execute fail in its set-up cell instead of silently taking minutes.
"""

import html
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "assignments"))
# assignments/student_book.py is the script behind `make book-student`.
import student_book


def _toc_pages():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [ch["file"] for part in toc["parts"] for ch in part["chapters"]]


def _solution_phrases(source: str) -> list[str]:
    """From each {solution} block, its longest run of plain words on one line (no markup to render)."""
    phrases = []
    for body in re.findall(r"^(`{3,}|:{3,})\{solution\}[^\n]*\n(.*?)^\1\s*$", source, flags=re.DOTALL | re.MULTILINE):
        runs = [run.strip() for line in body[1].splitlines() if not line.startswith((":", "```", "    "))
                for run in re.findall(r"(?:[A-Za-z][A-Za-z,-]* ){5,}[A-Za-z][A-Za-z-]*", line)]
        if runs:
            phrases.append(max(runs, key=len))
    return phrases


def _text(page: Path) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())).split())


def test_solution_phrases_found():
    """The phrase extraction sees a phrase in (nearly) every solution of the chapters."""
    pages = [p for p in _toc_pages() if (ROOT / f"{p}.md").exists()]
    n_solutions = sum((ROOT / f"{p}.md").read_text().count("{solution}") for p in pages)
    n_phrases = sum(len(_solution_phrases((ROOT / f"{p}.md").read_text())) for p in pages)
    assert n_solutions >= 10 and n_phrases >= 0.8 * n_solutions


@pytest.mark.slow
def test_student_edition_has_no_solution_text(built_book, tmp_path):
    cache = built_book.parent / ".jupyter_cache"
    assert cache.is_dir(), "the main build's execution cache is where the student edition gets its outputs"
    env = dict(os.environ, LOTTERYLAB_DEVICE="none-the-student-edition-must-not-execute", LOTTERYLAB_PROGRESS="off",
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    proc = student_book.build(tmp_path, cache, env)
    assert proc.returncode == 0, f"student edition build failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    assert "Executing notebook" not in proc.stdout, "a chapter was executed again instead of read from the cache"
    student = tmp_path / "_build" / "html"
    checked = 0
    for page in _toc_pages():
        source = ROOT / f"{page}.md"
        phrases = _solution_phrases(source.read_text()) if source.exists() else []
        main_html, student_html = built_book / f"{page}.html", student / f"{page}.html"
        assert student_html.exists(), f"{page} missing from the student edition"
        main_text, student_text = _text(main_html), _text(student_html)
        for phrase in phrases:
            assert phrase in main_text, f"{page}: solution phrase not in the main book (check is broken): {phrase!r}"
            assert phrase not in student_text, f"{page}: solution text in the student edition: {phrase!r}"
            checked += 1
        raw = student_html.read_text()
        assert 'class="solution' not in raw and "solution dropdown" not in raw, f"{page}: a solution block remains"
        n_exercises = source.read_text().count("{exercise}") if source.exists() else 0
        assert raw.count('class="exercise admonition"') == n_exercises, f"{page}: every exercise stays"
        assert main_html.read_text().count('class="solution') == len(re.findall(r"\{solution\}", source.read_text())
                                                                     if source.exists() else []), page
    assert checked >= 10
    assert "(student edition)" in (student / "book" / "intro.html").read_text(), "the title says which edition"
