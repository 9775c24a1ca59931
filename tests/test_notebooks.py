"""Student notebooks (issue 14): clean conversion, the glue shim, the student install, the download.

Fast tests check the conversion and the shim. Slow ones (``-m slow``; ``make test-notebooks``) run every
chapter in the student install and check what the book build does with that run.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from notebook_fixtures import CHAPTERS, ROOT, SELECTED, book_env, stage_for_build

sys.path.insert(0, str(ROOT / "scripts"))
import notebooks
from myst_to_jupyter import Bibliography, Labels, convert_markdown, read_bibliography, read_labels

from lotterylab.errors import LotteryLabError
from lotterylab.glue import GLUE_PREFIX, book_build, glue

RAW = re.compile(r"\{(glue|exercise|solution|prf:|cite|ref)")
SETTINGS = {"repository": "", "branch": "main", "book_url": ""}


def _student(md: Path, **kwargs):
    return notebooks.to_student(notebooks.read_chapter(md), here=md.with_suffix(".ipynb").name,
                                labels=read_labels(CHAPTERS), settings=SETTINGS, **kwargs)


@pytest.mark.parametrize("md", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_no_raw_markup_survives_conversion(md):
    nb = _student(md)
    nbformat.validate(nb)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert not RAW.findall(text), sorted(set(RAW.findall(text)))
    assert not re.search(r"^\s*(`{3,}|:{3,})\{", text, flags=re.MULTILINE), "a directive fence survived"
    source = md.read_text()
    assert text.count("<details>") == source.count("{solution}"), "every solution is a collapsed block"
    assert len(re.findall(r"^### .*Exercise \d+", text, flags=re.MULTILINE)) == source.count("{exercise}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].metadata["tags"] == ["setup"], "the first cell sets the notebook up"
    assert not any("solution" in c.metadata.get("tags", []) for c in code), "solution twins are dropped"
    assert not any("myst_nb" in c.source for c in code), "plain Jupyter has no myst_nb"
    hidden = [c for c in code if "remove-cell" in c.metadata.get("tags", [])]
    assert all(c.metadata["jupyter"]["source_hidden"] for c in hidden)


def test_conversion_of_each_kind_of_markup():
    bib = Bibliography({"a2020": ("Ann and Bob", "2020", "https://x/a"), "c2021": ("Cat et al.", "2021", "")})
    labels = Labels({"chapter-x": ("Chapter 2: X", "02_x.ipynb", ""), "ex-a": ("Exercise 1: A", "01_y.ipynb", "ex-a")})
    md = ("````{exercise} Try\n:label: ex-a\n\nDo {cite:t}`a2020`.\n````\n\n````{solution} ex-a\n:class: dropdown\n\n"
          "```python\nprint({1})\n```\n````\n\n```{prf:theorem} Big\n:label: thm-big\n\nTrue $x$.\n```\n\n"
          "See {ref}`chapter-x`, {ref}`here <ex-a>`, {cite:p}`a2020,c2021`; {glue:text}`acc:.1f` and {glue:md}`w`.\n"
          "(target)=\n% a comment\n")
    out = convert_markdown(md, bib=bib, labels=labels, here="01_y.ipynb",
                           values={"acc": {"text/plain": "0.987"}, "w": {"text/markdown": "*works*"}})
    assert '### <a id="ex-a"></a>Exercise 1: Try' in out
    assert "Do [Ann and Bob (2020)](https://x/a)." in out
    assert "<details>\n<summary><b>Solution to Exercise 1: Try</b>" in out and "print({1})" in out
    assert '> <a id="thm-big"></a>**Theorem (Big).**' in out and "> True $x$." in out
    assert "See [Chapter 2: X](02_x.ipynb), [here](#ex-a), ([Ann and Bob, 2020](https://x/a); Cat et al., 2021)" in out
    assert "; 1.0 and *works*." in out
    assert '<a id="target"></a>' in out and "a comment" not in out
    assert "Solution" not in convert_markdown(md, bib=bib, labels=labels, solutions=False)
    assert "**[acc]**" in convert_markdown("{glue:text}`acc:.2f`", bib=bib, labels=labels)


def test_bibliography_and_labels_come_from_the_repository():
    bib = read_bibliography(ROOT / "references.bib")
    assert bib.entries["frankle2019lottery"][:2] == ("Frankle and Carbin", "2019")
    assert bib.entries["ramanujan2020hidden"][0] == "Ramanujan et al."
    labels = read_labels(CHAPTERS)
    assert labels.targets["chapter-original-lth"][1] == "01_original_lth.ipynb"
    assert labels.targets["ex-scaling-target"][0].startswith("Exercise 1: ")


def test_book_settings_and_launch_buttons_follow_the_repository_url():
    settings = notebooks.book_settings()
    assert set(settings) == {"repository", "branch", "book_url"} and settings["branch"]

    class Config:
        html_theme_options = {"repository_url": "", "launch_buttons": {"colab_url": "https://colab.research.google.com"}}

    notebooks._launch_buttons(None, Config)
    assert not any(Config.html_theme_options["launch_buttons"].values()), "no repository, no launch buttons"
    Config.html_theme_options = {"repository_url": "https://github.com/o/r", "launch_buttons": {"colab_url": ""}}
    notebooks._launch_buttons(None, Config)
    assert Config.html_theme_options["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert Config.html_theme_options["launch_buttons"]["binderhub_url"] == "https://mybinder.org"


def test_book_extension_registers_its_hooks():
    from lotterylab import book_notebooks

    class App:
        events = []

        def connect(self, event, hook, priority=500):
            self.events.append((event, priority))

    assert book_notebooks.setup(App())["parallel_read_safe"]
    assert ("html-page-context", 499) in App.events and ("html-page-context", 900) in App.events


def test_glue_emits_exactly_what_myst_nb_emits(monkeypatch):
    """In a book build the shim's display output equals myst_nb.glue's, for numbers, text and Markdown."""
    import IPython.display
    from IPython.display import Markdown
    from myst_nb.ext import glue as myst_glue

    calls = {"mine": [], "myst": []}
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: calls["mine"].append((a, k)))
    monkeypatch.setattr(myst_glue, "ipy_display", lambda *a, **k: calls["myst"].append((a, k)))
    monkeypatch.setenv("LOTTERYLAB_GLUE", "on")
    for value, display in [(0.123456789, False), (7, False), ("words", True), (Markdown("*md*"), False)]:
        glue("name", value, display=display)
        myst_glue.glue("name", value, display=display)
    assert calls["mine"] == calls["myst"] and len(calls["mine"]) == 4
    assert GLUE_PREFIX == myst_glue.GLUE_PREFIX


def test_glue_prints_outside_a_book_build(monkeypatch, capsys):
    monkeypatch.setenv("LOTTERYLAB_GLUE", "off")
    from IPython.display import Markdown

    glue("acc", 0.123456, display=False)
    glue("words", Markdown("a  *sentence*\nover lines"), display=False)
    assert capsys.readouterr().out == "[acc] = 0.1235\n[words] = a *sentence* over lines\n"
    monkeypatch.delenv("LOTTERYLAB_GLUE")
    assert book_build() is False  # not in a kernel


def test_glue_bad_input(monkeypatch):
    with pytest.raises(LotteryLabError, match="name"):
        glue(3, 1.0)
    monkeypatch.setenv("LOTTERYLAB_GLUE", "sometimes")
    with pytest.raises(LotteryLabError, match="LOTTERYLAB_GLUE"):
        glue("x", 1.0)


def test_scripts_folder_bad_checkout(monkeypatch, tmp_path):
    from lotterylab import book_notebooks

    monkeypatch.setattr(book_notebooks, "__file__", str(tmp_path / "lotterylab" / "book_notebooks.py"))
    with pytest.raises(LotteryLabError, match="scripts/notebooks.py"):
        book_notebooks.scripts_folder()


@pytest.mark.parametrize("md", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_student_run_has_the_book_code_cells(md):
    """The premise of reusing the student run in the book build: same code cells, as myst-nb reads them."""
    mine = [c.source for c in notebooks.read_chapter(md).cells if c.cell_type == "code"]
    theirs = [c.source for c in notebooks.book_notebook(md).cells if c.cell_type == "code"]
    assert mine == theirs


def test_execute_and_stage_round_trip(tmp_path):
    """A tiny chapter runs in a real kernel; its outputs land in a jupyter-cache under the build's key."""
    book = tmp_path / "book"
    book.mkdir()
    md = book / "01_tiny.md"
    md.write_text((ROOT / "book" / "01_original_lth.md").read_text().split("---", 2)[1].join(["---", "---\n"]) +
                  "# Tiny\n\n```{code-cell} ipython3\nfrom lotterylab.glue import glue\nx = 6 * 7\n```\n\n"
                  "```{code-cell} ipython3\n:tags: [remove-cell]\nglue('x', x, display=False)\n```\n")
    env = dict(book_env(tmp_path / "results"), LOTTERYLAB_GLUE="on")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "notebooks.py"), "execute", "--out",
                           str(tmp_path / "run"), str(md)], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "times.json").read_text())["01_tiny"] > 0
    assert notebooks.stage([tmp_path / "run" / "01_tiny.ipynb"], tmp_path / "cache", book=book) == ["01_tiny"]
    from jupyter_cache import get_cache

    _, merged = get_cache(str(tmp_path / "cache")).merge_match_into_notebook(notebooks.book_notebook(md))
    assert notebooks.glue_values(merged) == {"x": {"text/plain": "42"}}


# ---- slow: the student install, every chapter run in it, and the built book's downloads -------------

@pytest.mark.slow
def test_student_install_has_no_book_toolchain(student_python):
    code = ("import importlib.util as u; import lotterylab, ipywidgets, jupyterlab, torch, nbclient; "
            "print([m for m in ('myst_nb', 'jupyter_book', 'sphinx', 'jupyter_cache') if u.find_spec(m)])")
    proc = subprocess.run([str(student_python), "-c", code], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.slow
def test_every_notebook_runs_in_the_student_install(student_executed):
    times = json.loads((student_executed / "times.json").read_text())
    assert sorted(times) == [c.stem for c in SELECTED]
    for md in SELECTED:
        nb = nbformat.read(student_executed / f"{md.stem}.ipynb", as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert not [o for o in outputs if o.output_type == "error"], md.stem
        assert any("image/png" in o.get("data", {}) for o in outputs), f"{md.stem} drew no figure"
    print("seconds per notebook in the student install:", times)


def test_the_book_build_reused_the_student_run(built_book):
    """No chapter was executed twice: the cache holds only the staged student runs (conftest stages them)."""
    from jupyter_cache import get_cache

    records = get_cache(str(built_book.parent / ".jupyter_cache")).list_cache_records()
    assert sorted(Path(r.uri).stem for r in records) == [c.stem for c in CHAPTERS], "a chapter ran in the build"


@pytest.mark.parametrize("md", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_every_page_offers_its_executed_notebook(built_book, md):
    page = (built_book / "book" / f"{md.stem}.html").read_text()
    link = re.search(r'href="([./]*_sources/book/' + re.escape(md.stem) + r'\.ipynb)"', page)
    assert link, "the page does not link its .ipynb"
    nb = nbformat.read(built_book / "book" / link.group(1), as_version=4)
    nbformat.validate(nb)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert not RAW.findall(text) and "**[" not in text, "raw markup or an unfilled glue value"
    assert any("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "colab.research.google.com" not in page, "no repository URL is set, so no launch button"


def test_staging_refuses_a_changed_chapter(tmp_path):
    run = notebooks.read_chapter(CHAPTERS[0])
    run.cells = [c for c in run.cells if c.cell_type == "code"][:1]
    nbformat.write(run, tmp_path / CHAPTERS[0].with_suffix(".ipynb").name)
    with pytest.raises(RuntimeError, match="code cells differ"):
        stage_for_build(tmp_path, tmp_path / "out")


def test_download_hooks_write_the_student_notebook_with_glued_values(tmp_path):
    """The Sphinx hooks offer the page's .ipynb and write it as the student notebook, glue values filled in."""
    executed = tmp_path / "_build" / "jupyter_execute" / "book"
    executed.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Accuracy {glue:text}`acc:.1%`."),
                                         nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["remove-cell"]})])
    nbformat.write(nb, executed / "01_x.ipynb")
    (executed / "01_x.glue.json").write_text(json.dumps({"acc": {"output_type": "display_data", "data": {
        GLUE_PREFIX + "text/plain": "0.9876"}, "metadata": {"scrapbook": {"name": "acc", "mime_prefix": GLUE_PREFIX}}}}))

    class App:
        outdir = str(tmp_path / "_build" / "html")

        class env:
            metadata = {"book/01_x": {"kernelspec": {}}, "book/intro": {}}

        class config:
            hide_solutions = False
            html_theme_options = {"repository_url": "https://github.com/o/r", "repository_branch": "dev"}

    context, other = {}, {}
    notebooks._offer_notebook(App, "book/01_x", "page.html", context, None)
    notebooks._offer_notebook(App, "book/intro", "page.html", other, None)
    assert context == {"ipynb_source": "book/01_x.ipynb"} and other == {}
    context["header_buttons"] = [{"label": "launch-buttons", "buttons": [
        {"url": "https://colab.research.google.com/github/o/r/blob/dev/book/01_x.md"}]}]
    notebooks._write_student_download(App, "book/01_x", "page.html", context, None)
    assert context["header_buttons"][0]["buttons"][0]["url"].endswith("/blob/dev/book/01_x.ipynb")
    student = nbformat.read(tmp_path / "_build" / "html" / "_sources" / "book" / "01_x.ipynb", as_version=4)
    assert student.cells[1].source == "Accuracy 98.8%."
    assert student.cells[0].metadata["tags"] == ["setup"]
    assert "REPOSITORY, BRANCH = 'https://github.com/o/r', 'dev'" in student.cells[0].source
