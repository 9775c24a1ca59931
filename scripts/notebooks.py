"""Chapters as Jupyter notebooks for students (issue 14): convert, execute in the student install, stage.

    python scripts/notebooks.py convert [--out DIR] book/0*.md      # clean .ipynb files (make notebooks)
    python scripts/notebooks.py execute --out DIR book/0*.md       # run them in THIS Python's kernel
    python scripts/notebooks.py stage --cache DIR EXECUTED.ipynb... # hand the outputs to the book build

``convert`` needs jupytext only. ``execute`` runs each chapter's code cells, preceded by the student
notebook's set-up cell, with nbclient in the running environment (the student virtualenv in the
tests), and writes the executed notebooks (set-up cell removed: its code cells are then exactly the
chapter's). ``stage`` needs myst-nb and jupyter-cache (the book toolchain): it stores those outputs in
a jupyter-cache under the key the book build computes for each chapter, so the build reuses them
instead of executing every chapter a second time. The book build also loads this file as a Sphinx
extension (``setup``): the ``.ipynb`` offered for download on each page becomes the clean student
notebook with the build's outputs, its glue placeholders filled in with the glued values.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from myst_to_jupyter import Labels, convert_markdown, read_bibliography, read_labels

ROOT = Path(__file__).resolve().parents[1]
GLUE_PREFIX = "application/papermill.record/"
MYST_EXTENSIONS = ("colon_fence", "dollarmath", "amsmath", "deflist", "linkify", "substitution")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def book_settings(root: Path = ROOT) -> dict[str, str]:
    """The repository URL, branch and book URL from ``_config.yml`` (plain text read: no YAML needed)."""
    text = (root / "_config.yml").read_text(encoding="utf8")

    def key(section: str, name: str) -> str:
        block = re.search(rf"^{section}:\s*\n((?:[ \t]+.*\n?|\s*\n)*)", text, flags=re.MULTILINE)
        m = re.search(rf"^\s+{name}:\s*\"?([^\"#\n]*)\"?", block.group(1), flags=re.MULTILINE) if block else None
        return m.group(1).strip() if m else ""

    return {"repository": key("repository", "url"), "branch": key("repository", "branch") or "main",
            "book_url": key("html", "baseurl").rstrip("/")}


SETUP = '''\
# Set-up (added by `make notebooks`): run this cell first, in Jupyter on a laptop or on Colab.
# - On Colab it installs the course package and its runtime dependencies (Colab's own torch is kept).
# - Results of long experiments are saved as they go, and an interrupted cell resumes from them, in
#   the folder LOTTERYLAB_RESULTS (default: ./lotterylab-results). On Colab that is your Google Drive
#   (it survives the runtime), or /content/lotterylab-results if Drive is not mounted.
# - Numbers that depend on your run appear in the text as [name]; the hidden cell that computes one
#   prints "[name] = value" (expand hidden cells to see them).
# - LOTTERYLAB_PRESET=quick|full and LOTTERYLAB_DEVICE=cpu|cuda choose the size and the device.
import os
import subprocess
import sys

REPOSITORY, BRANCH = {repository!r}, {branch!r}  # from the book's _config.yml
ON_COLAB = "google.colab" in sys.modules
try:
    import lotterylab  # noqa: F401
except ImportError:
    if os.path.isdir(os.path.join("..", "lotterylab")):  # a checkout of the repository (e.g. on Binder)
        sys.path.insert(0, os.path.abspath(".."))
    elif ON_COLAB and REPOSITORY:  # a checkout, not a wheel: the chapters read the shipped reference/ runs
        checkout = "/content/lotterylab"
        if not os.path.isdir(checkout):
            subprocess.run(["git", "clone", "-q", "--depth", "1", "-b", BRANCH, REPOSITORY, checkout], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{{checkout}}[widgets]"], check=True)
        sys.path.insert(0, checkout)
    else:
        raise RuntimeError("Install the course package first: pip install -e 'REPOSITORY-FOLDER[notebook]'")
if ON_COLAB:
    if "LOTTERYLAB_RESULTS" not in os.environ:
        try:
            from google.colab import drive
            drive.mount("/content/drive")
            os.environ["LOTTERYLAB_RESULTS"] = "/content/drive/MyDrive/lotterylab-results"
        except Exception as exc:  # no Drive: results last as long as the runtime
            print(f"Google Drive not mounted ({{exc}}); results go to /content/lotterylab-results")
            os.environ["LOTTERYLAB_RESULTS"] = "/content/lotterylab-results"

import lotterylab
from lotterylab.results import results_dir

device = lotterylab.get_device()
print(f"device: {{device}}; preset: {{lotterylab.get_preset()}}; results: {{results_dir().resolve()}}")
if ON_COLAB and device.type == "cpu":
    print("Hint: Runtime > Change runtime type > GPU, then run the notebook again (the full preset wants a GPU).")
'''


def setup_cell(settings: dict[str, str]):
    import nbformat

    cell = nbformat.v4.new_code_cell(SETUP.format(**settings).rstrip())
    cell.metadata["tags"] = ["setup"]
    return cell


def glue_values(nb) -> dict[str, dict]:
    """name -> mime bundle (prefix removed) of every glue output in an executed notebook."""
    values = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            scrap = out.get("metadata", {}).get("scrapbook")
            if scrap and "data" in out:
                prefix = scrap.get("mime_prefix", "")
                values[scrap["name"]] = {k[len(prefix):]: v for k, v in out["data"].items() if k.startswith(prefix)}
    return values


def to_student(nb, *, here: str, labels: Labels, settings: dict[str, str], with_setup: bool = True,
               solutions: bool = True, values: dict[str, dict] | None = None):
    """The student notebook: Markdown converted, solution twins dropped, build-only cells folded away.

    ``solutions=False`` (the student edition of the book) leaves the exercises' solutions out entirely.
    ``values`` (name -> mime bundle) fills in glue placeholders, besides the glue outputs found in ``nb``.
    """
    import nbformat

    bib = read_bibliography(ROOT / "references.bib", f"{settings['book_url']}/book/bibliography.html"
                            if settings["book_url"] else "")
    values, state, cells = {**glue_values(nb), **(values or {})}, {}, []
    for cell in nb.cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(convert_markdown(cell.source, bib=bib, labels=labels,
                                                                         here=here, values=values, state=state,
                                                                         solutions=solutions)))
        elif cell.cell_type == "code" and {"remove-cell", "solution"} <= tags:
            continue  # a solution's twin: its code is in the <details> block
        elif cell.cell_type == "code":
            new = copy.deepcopy(cell)
            new.outputs = [o for o in new.get("outputs", [])
                           if not (o.get("data") and all(k.startswith(GLUE_PREFIX) for k in o["data"]))]
            new.metadata = {"tags": sorted(tags)} if tags else {}
            if tags & {"remove-cell", "remove-input", "hide-input", "hide-cell"}:
                new.metadata["jupyter"] = {"source_hidden": True}
            cells.append(new)
        else:
            cells.append(copy.deepcopy(cell))
    student = nbformat.v4.new_notebook(cells=([setup_cell(settings)] if with_setup else []) + cells)
    student.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    if "widgets" in nb.metadata:
        student.metadata["widgets"] = nb.metadata["widgets"]
    for i, c in enumerate(student.cells):
        c.id = f"cell-{i}"  # stable ids: the same chapter converts to the same notebook
    return student


def read_chapter(md: Path):
    import jupytext

    return jupytext.read(md, fmt="md:myst")


def convert(chapters: list[Path], out: Path | None = None) -> list[Path]:
    """Write the student notebook of each chapter (next to it, or into ``out``)."""
    import nbformat

    settings, labels, written = book_settings(), read_labels(chapters), []
    for md in chapters:
        nb = to_student(read_chapter(md), here=md.with_suffix(".ipynb").name, labels=labels, settings=settings)
        target = (out or md.parent) / md.with_suffix(".ipynb").name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        written.append(target)
    return written


def execute(chapters: list[Path], out: Path, timeout: int = 2400) -> dict[str, float]:
    """Run each chapter's code (set-up cell first) in this environment's kernel; write the executed notebooks.

    The kernel's working directory is the chapter's folder, as in the book build. Returns seconds per chapter.
    """
    import nbformat
    from nbclient import NotebookClient

    settings, times = book_settings(), {}
    out.mkdir(parents=True, exist_ok=True)
    # The kernel is this Python, whatever other "python3" kernels the machine has (JUPYTER_PATH goes first).
    spec = out / ".kernels" / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f",
                                                           "{connection_file}"], "display_name": "Python 3", "language": "python"}))
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(spec.parents[1]), os.environ.get("JUPYTER_PATH", "")])
    for md in chapters:
        nb = nbformat.read(md, as_version=4) if md.suffix == ".ipynb" else read_chapter(md)
        nb.cells.insert(0, setup_cell(settings))
        nb.metadata["kernelspec"] = KERNELSPEC
        t0 = time.time()
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(md.parent.resolve())}}).execute()
        times[md.stem] = round(time.time() - t0, 1)
        nb.cells.pop(0)
        nbformat.write(nb, out / f"{md.stem}.ipynb")
        print(f"{md.stem}: executed in {times[md.stem]:.0f} s", flush=True)
    (out / "times.json").write_text(json.dumps(times, indent=1))
    return times


def book_notebook(md: Path):
    """The chapter exactly as the book build reads it (myst-nb's reader): the cache key is computed on this."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    config = MdParserConfig(enable_extensions=set(MYST_EXTENSIONS))
    return read_myst_markdown_notebook(md.read_text(encoding="utf8"), config, add_source_map=True, path=md)


def stage(executed: list[Path], cache_path: Path, book: Path = ROOT / "book") -> list[str]:
    """Store the outputs of executed chapter notebooks in the jupyter-cache a book build will read.

    Fails if a notebook's code cells differ from its chapter's (the build would then execute it).
    """
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache, staged = get_cache(str(cache_path)), []
    times = json.loads((executed[0].parent / "times.json").read_text()) if (executed[0].parent / "times.json").exists() else {}
    for path in executed:
        md = book / f"{path.stem}.md"
        run, nb = nbformat.read(path, as_version=4), book_notebook(md)
        mine = [c for c in run.cells if c.cell_type == "code"]
        theirs = [c for c in nb.cells if c.cell_type == "code"]
        if [c.source for c in mine] != [c.source for c in theirs]:
            raise RuntimeError(f"{path.name}: code cells differ from {md}; the book would execute it again")
        for src, dst in zip(mine, theirs):
            dst.outputs, dst.execution_count = src.outputs, src.execution_count
        for key in ("widgets", "language_info"):
            if key in run.metadata:
                nb.metadata[key] = run.metadata[key]
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(md.resolve()), data={"execution_seconds": times.get(path.stem)}),
                                    check_validity=False, overwrite=True)
        cache.match_cache_notebook(book_notebook(md))  # raises KeyError if the build would not find it
        staged.append(md.stem)
    return staged


def _offer_notebook(app, pagename, templatename, context, doctree):
    """Sphinx hook, before the theme's buttons: every executed page offers its ``.ipynb`` for download."""
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if "kernelspec" in app.env.metadata.get(pagename, {}) and executed.exists():
        context["ipynb_source"] = f"{pagename}.ipynb"


def _with_outputs(app, nb):
    """``nb`` with its outputs. myst-nb writes a page served from its execution cache to jupyter_execute
    without outputs, so those are merged back in from the cache."""
    if any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
        return nb
    from jupyter_cache import get_cache

    path = getattr(app.config, "nb_execution_cache_path", "") or str(Path(app.outdir).parent / ".jupyter_cache")
    try:
        return get_cache(path).merge_match_into_notebook(nb)[1]
    except KeyError:
        return nb


def _write_student_download(app, pagename, templatename, context, doctree):
    """Sphinx hook, after the theme's: that ``.ipynb`` is the student notebook with the build's outputs.

    Launch buttons are pointed at ``book/NN_name.ipynb`` in the repository (``make notebooks``; README).
    """
    import nbformat

    if not context.get("ipynb_source"):
        return
    for group in context.get("header_buttons", []):  # Colab/Binder open the committed notebook, not the .md
        if isinstance(group, dict) and group.get("label") == "launch-buttons":
            for button in group.get("buttons", []):
                if str(button.get("url", "")).endswith(f"{pagename}.md"):
                    button["url"] = button["url"][:-3] + ".ipynb"
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    target = Path(app.outdir) / "_sources" / context["ipynb_source"]
    chapters = sorted((ROOT / "book").glob("[0-9]*.md"))
    glued = executed.with_suffix(".glue.json")  # myst-nb moves the glue outputs out of the notebook, into this
    values = {name: {k.removeprefix(GLUE_PREFIX): v for k, v in out.get("data", {}).items()}
              for name, out in (json.loads(glued.read_text()) if glued.exists() else {}).items()}
    options = app.config.html_theme_options or {}
    settings = dict(book_settings(), repository=options.get("repository_url") or "",
                    branch=options.get("repository_branch") or "main")
    student = to_student(_with_outputs(app, nbformat.read(executed, as_version=4)), here=target.name,
                         labels=read_labels(chapters),
                         settings=settings, solutions=not getattr(app.config, "hide_solutions", False),
                         values=values)
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student, target)


def _launch_buttons(app, config):
    """Colab and Binder buttons when ``repository: url`` is set in _config.yml; none (and no crash) without."""
    options = dict(config.html_theme_options or {})
    launch = dict(options.get("launch_buttons") or {})
    if options.get("repository_url"):
        launch.setdefault("colab_url", "https://colab.research.google.com")
        launch.setdefault("binderhub_url", "https://mybinder.org")
        launch["colab_url"] = launch["colab_url"] or "https://colab.research.google.com"
        launch["binderhub_url"] = launch["binderhub_url"] or "https://mybinder.org"
    else:  # the theme needs a repository to build launch links (it fails without one)
        launch.update(colab_url="", binderhub_url="", jupyterhub_url="")
    options["launch_buttons"] = launch
    config.html_theme_options = options


def setup(app):
    """Sphinx extension entry point (listed in _config.yml)."""
    app.connect("config-inited", _launch_buttons)
    app.connect("html-page-context", _offer_notebook, priority=499)
    app.connect("html-page-context", _write_student_download, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["convert", "execute", "stage"])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="output folder (convert: default next to the chapters)")
    parser.add_argument("--cache", type=Path, help="stage: the jupyter-cache folder of the book build")
    args = parser.parse_args(argv)
    if args.command == "convert":
        for path in convert(args.files, args.out):
            print(path)
    elif args.command == "execute":
        if not args.out:
            parser.error("execute needs --out")
        execute(args.files, args.out)
    else:
        if not args.cache:
            parser.error("stage needs --cache")
        print("staged:", ", ".join(stage(args.files, args.cache)))


if __name__ == "__main__":
    main()
