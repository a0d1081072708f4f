"""Every chapter's code runs in the live mode's Python (Pyodide, 32-bit WebAssembly) without an error.

Each chapter's code cells run in order in the Pyodide and package files the built site serves, under
Node (tests/live_node.mjs): the same interpreter as the reader's browser, minus the browser. This is
what catches code that works natively but not there (np.bincount refusing 64-bit indices was one).
tests/test_live.py runs one chapter in a real browser; benchmarks/live_times.py runs all of them.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import jupytext
import pytest

from tests.conftest import ROOT
from tests.test_book import chapter_files


@pytest.fixture(scope="module")
def served_pyodide(built_html):
    folder = built_html / "live" / "static" / "pyodide"
    assert (folder / "pyodide-lock.json").is_file(), "the build wrote no live mode"
    return folder


@pytest.mark.parametrize("chapter", chapter_files())
def test_chapter_runs_in_pyodide(served_pyodide, chapter, tmp_path):
    node = shutil.which("node")
    assert node, "Node.js is needed (it also installs the book's web assets)"
    notebook = jupytext.read(ROOT / f"{chapter}.md")
    cells = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    (tmp_path / "cells.json").write_text(json.dumps(cells))
    proc = subprocess.run(
        [node, str(ROOT / "tests" / "live_node.mjs"), str(served_pyodide), str(tmp_path / "cells.json")],
        capture_output=True, text=True, timeout=900,
    )
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    errors = [r for r in results if "error" in r]
    assert errors == [], errors
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(results) == len(cells)
    slow = sorted(((r["seconds"], r["cell"]) for r in results), reverse=True)[:3]
    print(f"\n{chapter} in Pyodide: {sum(r['seconds'] for r in results):.1f} s; slowest cells "
          + ", ".join(f"{i}: {t:.1f} s" for t, i in slow))
