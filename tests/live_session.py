"""Drive the book's live mode (JupyterLite in the browser) the way a reader does.

Used by ``tests/test_live.py`` (one chapter, in the test suite) and ``benchmarks/live_times.py`` (all
chapters, with timings). A static file server on 127.0.0.1 serves the built site, exactly as any static
host would; the reader's click on "Run this chapter in your browser" opens ``live/lab/index.html``.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.lab_session import NOTEBOOK_STATE

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
EXECUTED_CELLS = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell')]
  .map((c, i) => [i, (c.querySelector('.jp-InputArea-prompt') || {}).textContent || ''])
  .filter(([i, p]) => /\\[\\d+\\]/.test(p)).map(([i]) => i)"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm"}

    def log_message(self, *args):
        pass


class StaticSite:
    """The built site on http://127.0.0.1:<port>/ (a plain static server, like any host)."""

    def __init__(self, root: Path):
        handler = functools.partial(QuietHandler, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class LiveRun:
    """What a reader saw after opening a chapter in the live mode and running every cell."""

    notebook_seconds: float = 0.0  # page opened -> the chapter's cells are on screen
    first_cell_seconds: float = 0.0  # page opened -> the first code cell has run (Run All at once)
    run_all_seconds: float = 0.0  # page opened -> every cell has run
    code_cells: int = 0
    executed_cells: int = 0
    error_outputs: list[str] = field(default_factory=list)
    # (seconds, 1-based code cell) of each cell, from the moment its prompt showed a number: cells run
    # one after another, so a cell's time is the gap since the previous one finished (0.25 s polling)
    cell_seconds: list[tuple[float, int]] = field(default_factory=list)
    requests_elsewhere: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


def open_live(page, site_url: str, slug: str, run: LiveRun) -> float:
    """Open the chapter page, follow its live-mode link, and wait for the notebook; returns when
    (time.monotonic()) the live page was asked for."""
    origin = site_url.rstrip("/")
    page.on(
        "request",
        lambda r: None if r.url.startswith((origin + "/", "data:", "blob:", "about:"))
        else run.requests_elsewhere.append(r.url),
    )
    # errors of the live page only: the static chapter page's widget manager (html-manager 1.0.15)
    # throws "reading 'Queue'" (it calls MathJax 2's API; the book serves MathJax 3)
    page.on("pageerror", lambda e: run.console_errors.append(str(e)[:300]) if "/live/" in page.url else None)
    page.goto(f"{origin}/notebooks/{slug}.html")
    link = page.locator("a.lilbook-live-link").first
    href = link.get_attribute("href")
    start = time.monotonic()
    page.goto(page.url.rsplit("/", 1)[0] + "/" + href)
    page.wait_for_selector(f"{PANEL} .jp-Notebook .jp-CodeCell", timeout=120_000)
    run.notebook_seconds = time.monotonic() - start
    return start


def run_all_live(page, site_url: str, slug: str, timeout_s: float = 600) -> LiveRun:
    """Open a chapter in the live mode, Run All at once, and read what the page shows at the end."""
    run = LiveRun()
    start = open_live(page, site_url, slug, run)
    # the session must have its kernel (starting is enough) before Run All: jupyterlab-myst evaluates
    # a markdown cell's inline expressions when the cell runs and throws "Session has no kernel."
    # without one (seen when a loaded machine opened the notebook before the session got its kernel)
    page.wait_for_function(
        """(panel) => [...document.querySelectorAll(panel + ' .jp-Toolbar-kernelName')]
            .some((e) => e.textContent.trim() && e.textContent.trim() !== 'No Kernel')""",
        arg=PANEL,
        timeout=120_000,
    )
    # Run All as soon as the notebook shows (cells queue until the kernel is up); a click that comes
    # before the notebook is the current document does nothing, so repeat it until cells are queued
    for _ in range(30):
        if page.locator(".jp-Dialog").count():
            page.keyboard.press("Escape")
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click()
        time.sleep(0.5)
        state = page.evaluate(NOTEBOOK_STATE)
        if state and state["running"] + state["executed"] > 0:
            break
        page.keyboard.press("Escape")
        time.sleep(1)
    deadline = start + timeout_s
    finished: dict[int, float] = {}
    while True:
        state = page.evaluate(NOTEBOOK_STATE)
        now = time.monotonic()
        for index in page.evaluate(EXECUTED_CELLS):
            finished.setdefault(index, now)
        if state and not run.first_cell_seconds and state["executed"] >= 1:
            run.first_cell_seconds = time.monotonic() - start
        if state and state["running"] == 0 and state["executed"] == state["code"]:
            break
        if state and state["running"] == 0 and any("Traceback" in e for e in state["errors"]):
            break  # a cell raised: JupyterLab stops Run All there
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{slug}: Run All did not finish in {timeout_s} s "
                f"({state and {k: state[k] for k in ('code', 'executed', 'running')}}; errors {state and state['errors'][:3]})"
            )
        time.sleep(0.25)
    run.run_all_seconds = time.monotonic() - start
    previous = None
    for index, when in sorted(finished.items(), key=lambda item: item[1]):
        if previous is not None:
            run.cell_seconds.append((when - previous, index + 1))
        previous = when
    run.code_cells, run.executed_cells = state["code"], state["executed"]
    run.error_outputs = state["errors"]
    return run


def live_asset_bytes(site: Path) -> int:
    """Bytes of everything the live mode adds to the site."""
    return sum(f.stat().st_size for f in (site / "live").rglob("*") if f.is_file())
