"""Shared fixtures: the repository layout and one strict build of the book per test session."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so a run fails only because the code changed,
# never because of a new random draw. LILBOOK_HYPOTHESIS=explore lets hypothesis search afresh.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("LILBOOK_HYPOTHESIS", "repeatable"))

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
HTML = BOOK / "_build" / "html"
# The front matter that makes a Markdown file a MyST notebook (for the tiny books tests build).
NOTEBOOK_HEADER = """\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---
"""
STRICT_BUILD = ["build", "-W", "-n", "--keep-going", "--all", str(BOOK)]


def jupyter_book() -> str:
    """The jupyter-book executable of the environment running the tests."""
    exe = Path(sys.executable).with_name("jupyter-book")
    return str(exe) if exe.exists() else "jupyter-book"


def run_strict_build() -> dict:
    proc = subprocess.run(
        [jupyter_book(), *STRICT_BUILD], cwd=ROOT, capture_output=True, text=True, timeout=1800
    )
    return {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}


@pytest.fixture(scope="session")
def strict_build(tmp_path_factory, worker_id) -> dict:
    """Build the book once with warnings as errors (shared by xdist workers through a lock file)."""
    if worker_id == "master":
        return run_strict_build()
    shared = tmp_path_factory.getbasetemp().parent
    result_file = shared / "strict-build.json"
    with open(shared / "strict-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if result_file.exists():
            return json.loads(result_file.read_text())
        result = run_strict_build()
        result_file.write_text(json.dumps(result))
        return result


@pytest.fixture(scope="session")
def built_html(strict_build) -> Path:
    """The HTML of a strict build that succeeded."""
    if strict_build["returncode"] != 0:
        pytest.fail(
            "the strict book build failed:\n"
            + (strict_build["stdout"][-4000:] + strict_build["stderr"][-4000:])
        )
    return HTML


@pytest.fixture(scope="session")
def worker_id(request) -> str:
    """xdist's worker id, or "master" when tests run in one process."""
    return os.environ.get("PYTEST_XDIST_WORKER", "master")


def tiny_book(tmp_path: Path, pages: dict[str, str]) -> Path:
    """A small book with this book's configuration, extensions and bibliography, an intro and
    the given pages (name -> full source), for tests that need a build of their own."""
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    shutil.copytree(BOOK / "_ext", book / "_ext")
    shutil.copy(ROOT / "references.bib", tmp_path / "references.bib")
    for shared in ("node_modules", "src"):
        os.symlink(ROOT / shared, tmp_path / shared)
    toc = "".join(f"- file: {name}\n" for name in pages)
    (book / "_toc.yml").write_text(f"format: jb-book\nroot: intro\nchapters:\n{toc}")
    (book / "intro.md").write_text("# Intro\n")
    for name, text in pages.items():
        (book / f"{name}.md").write_text(text)
    return book
