"""The built site in a real browser: every chapter page, offline.

Serves ``_build/html`` (built by ``make book``, first if it is missing) on
127.0.0.1 and opens every page in headless Chromium (Debian's ``chromium``
package, driven by Playwright with ``executable_path``; Playwright never
downloads a browser of its own here). Every request that is not to the local
server is blocked and reported, so the test proves that the site needs no
internet. On each page: no JavaScript errors, no failed requests, every plotly
figure rendered (its SVG is present), formulas typeset by the vendored MathJax;
on chapter 7: the colour dropdown and the projection buttons change the figure,
and the saved ipywidgets state renders as widgets.

The browser is looked up as ``$DNALIB_CHROMIUM``, ``chromium`` or
``chromium-browser`` on PATH. Without one the test is skipped, unless
``DNALIB_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which installs the package),
where a missing browser fails.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]


@pytest.fixture(scope="module")
def site():
    """Base URL of the built book served on 127.0.0.1 (builds it if needed)."""
    if not (HTML / "index.html").exists() or not list((HTML / "notebooks").glob("*.html")):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
        result = subprocess.run(["make", "-C", str(ROOT), "book"], capture_output=True, text=True,
                                env=env, timeout=3600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _pages() -> list[str]:
    pages = ["index.html", "book/setup.html", "book/instructors.html", "book/api.html"]
    pages += [f"notebooks/{nb.stem}.html" for nb in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    return pages


class PageProblems:
    """Everything that went wrong while one page loaded."""

    def __init__(self, page, base: str) -> None:
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.external: list[str] = []
        host = urlparse(base).netloc

        def route(r):
            if urlparse(r.request.url).netloc == host or r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                self.external.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.url} ({r.status})"))

    def report(self) -> str:
        return "\n".join(
            [f"external request (blocked; the site must serve it): {u}" for u in self.external]
            + [f"failed request: {u}" for u in self.failed if not self._external(u)]
            + [e for e in self.errors if "ERR_FAILED" not in e or not self.external])

    def _external(self, url: str) -> bool:
        return any(url.startswith(e) for e in self.external)


def _open(browser, base: str, path: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems = PageProblems(page, base)
    page.goto(f"{base}/{path}", wait_until="load", timeout=120_000)
    page.wait_for_load_state("networkidle", timeout=120_000)
    return page, problems


def _plotly_state(page) -> list[dict]:
    return page.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => ({
        svg: gd.querySelectorAll('svg.main-svg').length,
        traces: (gd.data || []).length,
        visible: (gd.data || []).map(t => t.visible === undefined ? true : t.visible),
        names: (gd.data || []).map(t => t.name),
        x0: (gd.data || []).length ? Array.from(gd.data[0].x || []).slice(0, 3) : [],
        type: (gd.data || []).length ? gd.data[0].type : null,
        canvas: gd.querySelectorAll('canvas').length,
        menus: ((gd.layout || {}).updatemenus || []).map(m => m.buttons.map(b => b.label)),
    }))""")


@pytest.mark.parametrize("path", _pages())
def test_page_loads_offline_without_errors(browser, site, path):
    page, problems = _open(browser, site, path)
    try:
        html = page.content()
        assert problems.report() == "", f"{path}:\n{problems.report()}"
        n_divs = page.locator("div.plotly-graph-div").count()
        if n_divs:
            state = _plotly_state(page)
            assert len(state) == n_divs, f"{path}: {n_divs} plotly divs, {len(state)} drawn"
            blank = [i for i, s in enumerate(state) if s["svg"] == 0 or s["traces"] == 0]
            assert not blank, f"{path}: plotly figures {blank} have no SVG or no data"
        if "math notranslate" in html:
            assert page.locator("mjx-container").count() > 0, f"{path}: MathJax did not typeset"
    finally:
        page.close()


def test_chapter_7_figures_respond_and_widgets_render(browser, site):
    pages = [p for p in _pages() if "07_" in p]
    assert pages, "chapter 7 is missing from the book"
    page, problems = _open(browser, site, pages[0])
    try:
        before = _plotly_state(page)
        # The first figure with a colour dropdown: choose another rank.
        idx = next(i for i, s in enumerate(before) if s["menus"] and len(s["menus"][0]) > 1
                   and s["menus"][0][0].startswith("colour by"))
        labels = before[idx]["menus"][0]
        gd = page.locator(".js-plotly-plot").nth(idx)
        gd.scroll_into_view_if_needed()
        gd.locator(".updatemenu-header-group").first.click()
        gd.locator(".updatemenu-dropdown-button", has_text=labels[1]).first.click()
        page.wait_for_timeout(500)
        after = _plotly_state(page)[idx]
        assert after["visible"] != before[idx]["visible"], "the colour dropdown did not restyle"
        shown = {n for n, v in zip(after["names"], after["visible"], strict=True) if v is True}
        legend = set(gd.locator(".legendtext").all_text_contents())
        assert shown and shown <= legend, f"legend {sorted(legend)[:5]} does not show {sorted(shown)[:5]}"

        # The figure with a projection menu: switch to another projection.
        jdx = next(i for i, s in enumerate(before) if len(s["menus"]) > 1)
        gd = page.locator(".js-plotly-plot").nth(jdx)
        gd.scroll_into_view_if_needed()
        second = before[jdx]["menus"][1][1]
        gd.locator(".updatemenu-header-group").nth(1).click()
        gd.locator(".updatemenu-dropdown-button", has_text=second).first.click()
        page.wait_for_timeout(500)
        assert _plotly_state(page)[jdx]["x0"] != before[jdx]["x0"], "the projection menu did nothing"

        # 3-D figures draw with WebGL.
        gl = [s for s in before if s["type"] == "scatter3d"]
        assert gl and all(s["canvas"] > 0 for s in gl), f"3-D figures without a canvas: {gl}"

        # Saved widget state: the explorer's controls are drawn by the widget manager,
        # with its last figure inside the Output widget.
        assert page.locator('script[type="application/vnd.jupyter.widget-state+json"]').count() == 1
        page.wait_for_selector(".widget-dropdown select", timeout=60_000)
        options = page.locator(".widget-dropdown select").first.locator("option").all_inner_texts()
        assert "TNF" in options, options
        inner = page.locator(".widget-output .js-plotly-plot, .jupyter-widgets-output-area .js-plotly-plot")
        assert inner.count() >= 1, "the explorer's saved figure did not render"
        assert problems.report() == "", problems.report()
    finally:
        page.close()
