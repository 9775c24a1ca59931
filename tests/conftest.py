import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("LOTTERYLAB_PROGRESS", "off")  # no progress bars in test output


# The student install and every chapter run in it (issue 14). The book build reuses that run's outputs.
from notebook_fixtures import stage_for_build, student_executed, student_python  # noqa: F401

STUDENT_FIXTURES = {"student_python", "student_executed", "jupyterlab"}


def pytest_collection_modifyitems(config, items):
    """Every test that needs the built book, the student install or JupyterLab is slow: ``make test-fast``
    (``-m "not slow"``) skips them; ``make test`` runs them all."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if {"built_book", "offline_browser", "chromium_browser"} & names or STUDENT_FIXTURES & names:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _cpu_threads():
    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def mnist():
    from lotterylab.data import load_mnist_subset

    return load_mnist_subset()


@pytest.fixture(scope="session")
def built_book(tmp_path_factory, request):
    """The book built strictly into a fresh folder. Its chapters are not executed a second time: the
    outputs of the student run (every chapter executed in the student install, ``student_executed``)
    are staged into the build's execution cache first.

    For iterating on the book tests only: LOTTERYLAB_BUILT_BOOK=path/to/_build/html reuses a finished
    build instead of building (CI never sets it, so make test always builds from scratch).
    """
    if os.environ.get("LOTTERYLAB_BUILT_BOOK"):
        return Path(os.environ["LOTTERYLAB_BUILT_BOOK"])
    out = tmp_path_factory.mktemp("book")
    staged = stage_for_build(request.getfixturevalue("student_executed"), out)
    print(f"\nbook build: chapters {staged} reuse the student run's outputs")
    env = dict(os.environ, LOTTERYLAB_PRESET="quick", LOTTERYLAB_PROGRESS="off", LOTTERYLAB_DEVICE="cpu",
               LOTTERYLAB_RESULTS=str(out / "results"), MPLBACKEND="module://matplotlib_inline.backend_inline")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
                          env=env, capture_output=True, text=True, timeout=3000, check=False)
    html = out / "_build" / "html"
    if proc.returncode != 0:
        reports = "\n".join(p.read_text()[-3000:] for p in (html / "reports").glob("**/*.log")) if html.exists() else ""
        pytest.fail(f"book build failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}\n{reports}")
    return html


class OfflineBrowser:
    """Headless Chromium on the built book served from loopback; every other request is blocked.

    ``open(path)`` returns a Playwright page; ``assert_clean()`` checks that no request left
    127.0.0.1, no page error was raised and no response was 4xx/5xx since the last ``open``.
    """

    VISIBLE_PNG = """() => [...document.querySelectorAll('.widget-output img')]
                     .filter(i => i.offsetParent !== null).map(i => i.src)"""

    def __init__(self, browser, base):
        self.browser, self.base = browser, base
        self.external, self.page_errors, self.failed = [], [], []

    def open(self, path, viewport=(1280, 1000)):
        self.external.clear(), self.page_errors.clear(), self.failed.clear()
        context = self.browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith((self.base, "data:"))
                      else (self.external.append(route.request.url), route.abort()))
        page = context.new_page()
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("response", lambda r: self.failed.append((r.status, r.url)) if r.status >= 400 else None)
        page.goto(self.base + path)
        return page

    def visible_images(self, page):
        """``src`` of every widget-output image currently displayed (one per visible panel)."""
        return page.evaluate(self.VISIBLE_PNG)

    def press_slider_key(self, page, key="End", slider=0):
        """Focus the ``slider``-th widget slider and press ``key``.

        Returns ``(images_before, images_after, readout_before, readout_after)``.
        """
        page.wait_for_selector(".widget-slider .noUi-handle", timeout=30_000)
        readout = page.locator(".widget-readout").nth(slider)
        before, label_before = self.visible_images(page), readout.inner_text()
        handle = page.locator(".widget-slider .noUi-handle").nth(slider)
        handle.scroll_into_view_if_needed()
        handle.focus()
        page.keyboard.press(key)
        page.wait_for_timeout(500)
        return before, self.visible_images(page), label_before, readout.inner_text()

    def assert_clean(self):
        assert self.external == [], f"requests left loopback: {self.external}"
        assert self.page_errors == [], self.page_errors
        assert self.failed == [], self.failed


@pytest.fixture(scope="session")
def chromium_browser():
    """Headless Chromium (Debian's; ``make test`` installs it), one per session: Playwright's sync API
    allows one running instance, which the book's browser test and the JupyterLab test share."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("LOTTERYLAB_CHROMIUM", "/usr/bin/chromium")
    assert Path(chromium).exists(), f"the browser test needs Chromium at {chromium} (make test installs it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def offline_browser(built_book, chromium_browser):
    """An :class:`OfflineBrowser` on the built book."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built_book))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield OfflineBrowser(chromium_browser, f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
