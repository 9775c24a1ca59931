"""Every exercise solution's code is executed by the book build (issue 13).

A solution shows its code as a ```python block inside a ``{solution}`` directive (plain directives: the
student edition's ``hide_solutions`` cannot drop gated ones). Right after the directive, a hidden code
cell tagged ``solution`` whose first line is ``# solution: <label>`` runs the same lines, so the strict
build executes every solution and a broken one fails CI. This test checks the pairing and that the
two copies are identical, so the code a student reads is the code that ran.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.md"))
SOLUTION = re.compile(r"^(`{3,}|:{3,})\{solution\}\s+(\S+)[^\n]*\n(.*?)^\1\s*$", re.MULTILINE | re.DOTALL)
PYTHON = re.compile(r"^(`{3,})python\s*\n(.*?)^\1\s*$", re.MULTILINE | re.DOTALL)
TWIN = re.compile(r"^(`{3,})\{code-cell\}[^\n]*\n(.*?)^\1\s*$", re.MULTILINE | re.DOTALL)


def solutions(text: str) -> list[tuple[str, list[str], int]]:
    """(label, python blocks, end offset) of every solution directive in a chapter's text."""
    return [(m.group(2), [b.group(2).strip() for b in PYTHON.finditer(m.group(3))], m.end())
            for m in SOLUTION.finditer(text)]


def twins(text: str) -> dict[str, list[str]]:
    """label -> code of the hidden ``solution`` cells marked ``# solution: label``, in order."""
    out: dict[str, list[str]] = {}
    for m in TWIN.finditer(text):
        body = m.group(2)
        options = re.match(r"((?::[^\n]*\n)*)", body).group(1)
        if "solution" not in re.findall(r"[\w-]+", options.partition("tags:")[2].partition("\n")[0]):
            continue
        code = body[len(options):].lstrip("\n")
        first, _, rest = code.partition("\n")
        label = re.fullmatch(r"#\s*solution:\s*(\S+)\s*", first)
        assert label, f"a cell tagged 'solution' must start with '# solution: <label>', not {first!r}"
        assert "remove-cell" in options, f"the solution twin of {label.group(1)} must be tagged remove-cell"
        out.setdefault(label.group(1), []).append(rest.strip())
    return out


def test_the_parser_finds_solutions():
    text = ("````{solution} ex-a\n:class: dropdown\n\n```python\nprint(1)\n```\n````\n\n"
            "```{code-cell} ipython3\n:tags: [remove-cell, solution]\n# solution: ex-a\nprint(1)\n```\n")
    assert solutions(text)[0][:2] == ("ex-a", ["print(1)"])
    assert twins(text) == {"ex-a": ["print(1)"]}
    assert twins(text.replace("solution]", "other]")) == {}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_solution_code_block_is_executed(chapter):
    text = chapter.read_text()
    found = twins(text)
    for label, blocks, _ in solutions(text):
        assert found.get(label, []) == blocks, (
            f"{chapter.name}: the solution {label} shows {len(blocks)} python block(s); each needs a hidden "
            f"twin cell (tags remove-cell, solution; first line '# solution: {label}') with identical code")
    labels = {label for label, _, _ in solutions(text)}
    assert set(found) <= labels, f"{chapter.name}: solution cells {sorted(set(found) - labels)} name no solution"


def test_the_book_has_executed_solutions():
    n = sum(len(blocks) for c in CHAPTERS for _, blocks, _ in solutions(c.read_text()))
    assert n >= 10, f"only {n} solution code blocks found: has the solution syntax changed?"
