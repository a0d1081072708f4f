"""Open every chapter in JupyterLab, Run All, and print how long that took and what the page showed.

Usage: .venv/bin/python benchmarks/lab_times.py [slug ...]
Needs the lab extra (bash scripts/lab or scripts/test install it) and Chromium. One JupyterLab
server serves a temporary copy of the chapters; each chapter gets a fresh browser page and kernel.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.lab_session import LabServer, run_all, sha256  # noqa: E402
from tests.test_browser import CHROMIUM_ARGS, chromium_path  # noqa: E402


def main(slugs: list[str]) -> None:
    slugs = slugs or sorted(p.stem for p in (ROOT / "notebooks").glob("*.md"))
    with tempfile.TemporaryDirectory() as tmp:
        server = LabServer(slugs, Path(tmp))
        print(f"{'chapter':24s} {'open':>7s} {'Run All':>8s} {'cells':>6s} {'errors':>6s} {'raw MyST':>9s} {'file kept':>9s}")
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                for slug in slugs:
                    path = server.workdir / "notebooks" / f"{slug}.md"
                    digest = sha256(path)
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    run = run_all(page, server.url, slug)
                    # close the notebook and shut its kernel down before the next chapter
                    page.close()
                    time.sleep(1)
                    kept = "yes" if sha256(path) == digest else "NO"
                    print(f"{slug:24s} {run.open_seconds:6.1f}s {run.run_all_seconds:7.1f}s "
                          f"{run.executed_cells:3d}/{run.code_cells:<3d}{len(run.error_outputs):5d} "
                          f"{','.join(run.raw_myst) or '-':>9s} {kept:>9s}", flush=True)
                browser.close()
        finally:
            server.close()


if __name__ == "__main__":
    main(sys.argv[1:])
