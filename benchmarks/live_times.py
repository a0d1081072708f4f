"""Run every chapter in the book's live mode (in-browser Python) and print how long a reader waits.

Usage: .venv/bin/python benchmarks/live_times.py [slug ...]
Needs a built book (bash scripts/build) and Chromium. Each chapter gets a fresh browser (no cache),
served from 127.0.0.1 by a plain static server. Prints, per chapter: seconds from opening the live page
until the notebook shows, until the first code cell has run and until Run All has finished, the cells
run and the error outputs; then the size of the live mode's files.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.live_session import StaticSite, live_asset_bytes, run_all_live  # noqa: E402
from tests.test_browser import CHROMIUM_ARGS, chromium_path  # noqa: E402

SITE = ROOT / "book" / "_build" / "html"


def main(slugs: list[str]) -> None:
    if not (SITE / "live" / "jupyter-lite.json").is_file():
        sys.exit("no live mode in book/_build/html: build the book first (bash scripts/build)")
    slugs = slugs or sorted(p.stem for p in (ROOT / "notebooks").glob("*.md"))
    site = StaticSite(SITE)
    print(f"{'chapter':24s} {'notebook':>9s} {'1st cell':>9s} {'Run All':>8s} {'cells':>7s} {'errors':>6s} {'other hosts':>11s}")
    try:
        with sync_playwright() as p:
            for slug in slugs:
                browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                try:
                    run = run_all_live(page, site.url, slug)
                except TimeoutError as error:
                    print(f"{slug:24s} {error}", flush=True)
                    browser.close()
                    continue
                print(f"{slug:24s} {run.notebook_seconds:8.1f}s {run.first_cell_seconds:8.1f}s {run.run_all_seconds:7.1f}s "
                      f"{run.executed_cells:3d}/{run.code_cells:<3d} {len(run.error_outputs):6d} {len(run.requests_elsewhere):11d}", flush=True)
                slow = sorted(run.cell_seconds, reverse=True)[:3]
                print("    slowest cells: " + ", ".join(f"cell {i} {t:.1f}s" for t, i in slow), flush=True)
                for text in run.error_outputs[:3]:
                    print("    error output:", text.strip().splitlines()[-1][:160] if text.strip() else "(empty)")
                browser.close()
    finally:
        site.close()
    total = live_asset_bytes(SITE)
    pyodide = sum(f.stat().st_size for f in (SITE / "live" / "static" / "pyodide").iterdir())
    print(f"live mode files: {total / 1e6:.1f} MB ({pyodide / 1e6:.1f} MB of them Pyodide and its packages)")


if __name__ == "__main__":
    main(sys.argv[1:])
