"""book/_ext/gc_freeze.py: a build leaves what it holds in the collector's permanent generation, and
the build's result does not change."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import tiny_book

# jupyter-book's own command line, with a report of the frozen objects as the process ends
RUN = """
import atexit, gc, sys
atexit.register(lambda: print("frozen objects:", gc.get_freeze_count()))
from jupyter_book.cli.main import main
sys.argv = ["jupyter-book", "build", "-W", sys.argv[1]]
main()
"""


def build(book) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-c", RUN, str(book)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return int(proc.stdout.rsplit("frozen objects:", 1)[1]), proc.stdout


def test_a_build_freezes_what_it_holds_and_a_no_op_writes_nothing(tmp_path):
    book = tiny_book(tmp_path, {"a": "# A\n\nSome text.\n"})
    frozen, _ = build(book)
    assert frozen > 10_000  # the environment, the doctrees, the extensions' data
    html = (book / "_build" / "html" / "a.html").read_text(encoding="utf-8")
    assert "Some text." in html
    frozen, log = build(book)
    assert frozen > 10_000
    assert "0 added, 0 changed, 0 removed" in log
    assert (book / "_build" / "html" / "a.html").read_text(encoding="utf-8") == html
