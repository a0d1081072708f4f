"""Open the built chapters in headless Chromium, as a reader would, with no network but localhost.

Checks that the math is typeset by MathJax, every figure has loaded, the widgets render, and that the
browser asked no other host for anything. A screenshot of each chapter is left in
book/_build/screenshots/ for a person to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import BOOK
from tests.live_session import StaticSite
from tests.test_book import chapter_files

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Chromium is needed for the rendering test (scripts/test installs Debian's chromium)")
    return path


@pytest.fixture(scope="module")
def site(built_html):
    server = StaticSite(built_html)
    yield server.url
    server.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


PAGE_STATE = """() => {
  const article = document.querySelector('article') || document.body;
  const images = [...article.querySelectorAll('img')];
  return {
    mathSources: article.querySelectorAll('.math').length,
    typeset: article.querySelectorAll('mjx-container').length,
    mathErrors: article.querySelectorAll('mjx-merror, .MathJax_Error').length,
    rawDollars: [...article.querySelectorAll('.math')].filter(e => /\\$\\$|\\\\\\[|\\\\\\(/.test(e.textContent)).length,
    images: images.length,
    brokenImages: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
    widgetViews: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
    renderedWidgets: article.querySelectorAll('.jupyter-widgets, .widget-box, .widget-slider, .widget-output').length,
  };
}"""


@pytest.mark.parametrize("chapter", chapter_files())
def test_chapter_renders_offline(site, browser, chapter):
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    requested, failed = [], []
    page.on("request", lambda r: requested.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    page.goto(f"{site}/{chapter}.html", wait_until="networkidle")
    try:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000
        )
    except PlaywrightTimeout:
        pytest.fail(f"MathJax did not start on {chapter}; requests: {requested}, failed: {failed}")
    page.evaluate("() => MathJax.startup.promise")
    page.wait_for_function(
        "() => [...document.querySelectorAll('article img')].every(i => i.complete)", timeout=30000
    )
    # the widget manager draws the saved widget views after the page has loaded (about a second
    # later on a busy machine): give it time before counting, and count whatever is there then
    try:
        page.wait_for_function(
            "() => !document.querySelector('script[type=\"application/vnd.jupyter.widget-view+json\"]')"
            " || document.querySelector('article').querySelector("
            "'.jupyter-widgets, .widget-box, .widget-slider, .widget-output')",
            timeout=30000,
        )
    except PlaywrightTimeout:
        pass  # the assertion below reports the page's state
    state = page.evaluate(PAGE_STATE)
    shots = BOOK / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{Path(chapter).name}.png"), full_page=False)
    page.close()

    other_hosts = sorted({u for u in requested if urlsplit(u).hostname not in {"127.0.0.1"}
                          and not u.startswith(("data:", "blob:"))})
    assert other_hosts == []
    assert failed == []
    assert state["mathSources"] > 0 and state["typeset"] >= state["mathSources"], state
    assert state["mathErrors"] == 0 and state["rawDollars"] == 0, state
    assert state["images"] > 0 and state["brokenImages"] == [], state
    if state["widgetViews"]:
        assert state["renderedWidgets"] > 0, state
