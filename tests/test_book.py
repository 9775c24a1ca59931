"""The whole book builds strictly: every chapter executes, any cell error or Sphinx warning fails.

This is the slowest test (it runs every chapter with the quick preset on the CPU, a few minutes).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CDN = re.compile(r"(cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com|unpkg\.com)")


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, LOTTERYLAB_PRESET="quick", LOTTERYLAB_PROGRESS="off", LOTTERYLAB_DEVICE="cpu",
               LOTTERYLAB_RESULTS=str(out / "results"), MPLBACKEND="module://matplotlib_inline.backend_inline")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(ROOT), "--path-output", str(out), "-W", "-n", "--keep-going"],
                          env=env, capture_output=True, text=True, timeout=3000)
    html = out / "_build" / "html"
    if proc.returncode != 0:
        reports = "\n".join(p.read_text()[-3000:] for p in (html / "reports").glob("**/*.log")) if html.exists() else ""
        pytest.fail(f"book build failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}\n{reports}")
    return html


@pytest.mark.slow
def test_every_toc_page_is_built(built_book):
    toc = (ROOT / "_toc.yml").read_text()
    for name in re.findall(r"file:\s*(\S+)", toc) + re.findall(r"root:\s*(\S+)", toc):
        assert (built_book / f"{name}.html").exists(), name


@pytest.mark.slow
def test_chapter_executed_with_figures_and_preset(built_book):
    page = (built_book / "book" / "01_original_lth.html").read_text()
    assert "preset: quick" in page
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert len(images) >= 4, images  # figures 1, 2, 3, 5 (figure 4's panels live in the widget state)
    for src in images:
        assert (built_book / "book" / src).resolve().exists(), src
    assert "Traceback" not in page
    # glued numbers were computed and rendered into the prose
    assert re.search(r"tickets reach[^%]*\d+\.\d%", re.sub("<[^>]+>", "", page))


@pytest.mark.slow
def test_widgets_need_no_cdn(built_book):
    page = (built_book / "book" / "01_original_lth.html").read_text()
    assert "application/vnd.jupyter.widget-state+json" in page
    state = page.split("application/vnd.jupyter.widget-state+json", 1)[1]
    assert state.count("image/png") >= 8  # one precomputed panel per IMP level (quick: 8 levels)
    assert re.search(r'src="[./]*_static/embed-amd\.js(\?v=[0-9a-f]+)?"', page)
    assert re.search(r'src="[./]*_static/require\.js(\?v=[0-9a-f]+)?"', page)
    assert (built_book / "_static" / "embed-amd.js").exists()
    for html in built_book.glob("**/*.html"):
        assert not CDN.search(html.read_text()), f"{html} references a CDN"


@pytest.mark.slow
def test_widget_works_offline_in_a_real_browser(built_book, tmp_path):
    """Serve the built book on loopback, open chapter 1 in headless Chromium, move the slider.

    Every request that would leave 127.0.0.1 is blocked and recorded: the page must need none.
    """
    import functools
    import http.server
    import threading

    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("LOTTERYLAB_CHROMIUM", "/usr/bin/chromium")
    assert Path(chromium).exists(), f"the browser test needs Chromium at {chromium} (make test installs it)"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built_book))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    external, page_errors, failed = [], [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"])
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith((base, "data:"))
                          else (external.append(route.request.url), route.abort()))
            page = context.new_page()
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
            page.goto(base + "book/01_original_lth.html")
            page.wait_for_selector(".widget-slider .noUi-handle", timeout=30_000)
            visible_png = """() => [...document.querySelectorAll('.widget-output img')]
                                     .filter(i => i.offsetParent !== null).map(i => i.src)"""
            readout = page.locator(".widget-readout").first
            before, label_before = page.evaluate(visible_png), readout.inner_text()
            handle = page.locator(".widget-slider .noUi-handle").first
            handle.scroll_into_view_if_needed()
            handle.focus()
            page.keyboard.press("End")
            page.wait_for_timeout(500)
            after, label_after = page.evaluate(visible_png), readout.inner_text()
            page.screenshot(path=str(tmp_path / "chapter1_widget.png"))
            browser.close()
    finally:
        server.shutdown()
    assert len(before) == 1 and len(after) == 1, (before, after)  # exactly one panel visible at a time
    assert before != after, "moving the slider did not change the figure"
    assert (label_before, label_after) == ("100.0%", "21.1%")
    assert external == [], f"requests left loopback: {external}"
    assert page_errors == [], page_errors
    assert failed == [], failed
