"""A real browser drives real JupyterLab (issue 14): a chapter notebook runs with a live kernel, and a slider works.

JupyterLab and the kernel come from the student install (``make notebook-venv``); the server listens on
127.0.0.1 only and headless Chromium (Debian's, as in ``tests/test_book.py``) blocks every request that
leaves loopback. The chapter reads the results the student run saved (``LOTTERYLAB_RESULTS``), so its
experiments load from disk instead of training again, as they would for a student re-running a notebook.
"""
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest
from notebook_fixtures import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import notebooks
from myst_to_jupyter import read_labels

LAB_CHAPTER = "07_scaling_ensembling"  # a short chapter with a width slider
VISIBLE_PNG = """() => [...document.querySelectorAll('.widget-output img')]
                 .filter(i => i.offsetParent !== null).map(i => i.src)"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def jupyterlab(student_python, student_executed, tmp_path_factory):
    """JupyterLab of the student install on loopback, serving the student notebook of ``LAB_CHAPTER``."""
    folder = tmp_path_factory.mktemp("lab")
    chapters = sorted((ROOT / "book").glob("[0-9]*.md"))
    md = ROOT / "book" / f"{LAB_CHAPTER}.md"
    nb = notebooks.to_student(notebooks.read_chapter(md), here=f"{LAB_CHAPTER}.ipynb", labels=read_labels(chapters),
                              settings=notebooks.book_settings())
    nbformat.write(nb, folder / f"{LAB_CHAPTER}.ipynb")
    # Render every cell (JupyterLab 4 otherwise renders only the cells near the viewport).
    settings = folder / ".config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH")}
    env.update(PATH=f"{student_python.parent}:{env['PATH']}", LOTTERYLAB_PRESET="quick", LOTTERYLAB_DEVICE="cpu",
               LOTTERYLAB_PROGRESS="off", LOTTERYLAB_GLUE="off", JUPYTER_CONFIG_DIR=str(folder / ".config"),
               JUPYTER_RUNTIME_DIR=str(folder / ".runtime"), JUPYTER_DATA_DIR=str(folder / ".data"),
               LOTTERYLAB_RESULTS=str(student_executed.parent / "results"))
    log = open(folder / "server.log", "w")  # noqa: SIM115 (closed when the server stops)
    server = subprocess.Popen(
        [str(student_python.parent / "jupyter"), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", "--expose-app-in-browser", f"--ServerApp.root_dir={folder}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly"],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start:\n" + (folder / "server.log").read_text()[-3000:])
        yield base, token, folder
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_a_chapter_runs_in_jupyterlab_and_its_slider_responds(jupyterlab, chromium_browser, tmp_path):
    base, token, _ = jupyterlab
    external, errors = [], []
    # the session's Chromium (conftest.chromium_browser), in a context of its own
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith((base, "ws://127.0.0.1",
                                                                                              "data:", "blob:"))
                      else (external.append(route.request.url), route.abort()))
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/lab/tree/{LAB_CHAPTER}.ipynb?token={token}")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                               " && window.jupyterapp.shell.currentWidget.sessionContext", timeout=120_000)
        t0 = time.time()
        ok = page.evaluate("""async () => {
            const w = window.jupyterapp.shell.currentWidget;
            await w.context.ready; await w.sessionContext.ready;
            return await window.jupyterapp.commands.execute('notebook:run-all-cells'); }""")
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
                               " === 'idle'", timeout=600_000)
        run_seconds = time.time() - t0
        errors_in_cells, not_run = page.evaluate("""() => {
            const cells = window.jupyterapp.shell.currentWidget.content.model.cells, errs = [];
            let notRun = 0;
            for (let i = 0; i < cells.length; i++) {
                const c = cells.get(i);
                if (c.type !== 'code') continue;
                if (!c.executionCount) notRun++;
                for (let j = 0; j < c.outputs.length; j++) {
                    const o = c.outputs.get(j);
                    if (o.type === 'error') errs.push(JSON.stringify(o.toJSON()).slice(0, 500));
                }
            }
            return [errs, notRun]; }""")
        assert not_run == 0, f"{not_run} code cells did not run"
        assert ok is not False and errors_in_cells == [], errors_in_cells
        handle = page.locator(".widget-slider .noUi-handle").first
        handle.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        readout = page.locator(".widget-readout").first
        before, label_before = page.evaluate(VISIBLE_PNG), readout.inner_text()
        handle.focus()
        page.keyboard.press("End")
        page.wait_for_timeout(1000)
        after, label_after = page.evaluate(VISIBLE_PNG), readout.inner_text()
        page.screenshot(path=str(tmp_path / "jupyterlab_widget.png"))
    finally:
        context.close()
    print(f"\n{LAB_CHAPTER} ran in JupyterLab in {run_seconds:.0f} s; slider {label_before} -> {label_after}")
    assert before and after, "the widget shows no figure"
    assert label_before != label_after, "the slider did not move"
    assert before != after, "moving the slider did not change the figure"
    assert external == [], f"requests left loopback: {external}"
    assert errors == [], errors
