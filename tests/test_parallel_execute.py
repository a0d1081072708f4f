"""book/_ext/parallel_execute.py: stale notebooks execute concurrently and myst-nb reuses the results.

Tiny books are built with the project's own _config.yml and extensions (as in test_strict_config).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from jupyter_cache import get_cache

from tests.conftest import NOTEBOOK_HEADER, jupyter_book, tiny_book

ANSI = re.compile(r"\x1b\[[0-9;]*m")

# jupyter-cache keys a notebook on its code, so the two sleepers must differ (or they share an entry)
SLEEPER = (
    "```{{code-cell}} ipython3\nimport time\nstart = time.time()  # {name}\ntime.sleep(3)\n"
    "print('INTERVAL', start, time.time())\n```\n"
)


def make_book(tmp_path: Path, pages: dict[str, str]) -> Path:
    return tiny_book(tmp_path, {n: NOTEBOOK_HEADER + f"# {n}\n\n" + body for n, body in pages.items()})


def build(book: Path, *extra: str) -> tuple[int, str]:
    proc = subprocess.run(
        [jupyter_book(), "build", "-W", "-n", "--keep-going", *extra, str(book)],
        capture_output=True, text=True, timeout=600,
    )
    return proc.returncode, ANSI.sub("", proc.stdout + proc.stderr)


def myst_nb_executed(log: str, name: str) -> bool:
    return f"{name}.md: Executing notebook" in log


def cached_records(book: Path) -> dict[str, object]:
    cache = get_cache(str(book / "_build" / ".jupyter_cache"))
    return {Path(r.uri).stem: r for r in cache.list_cache_records()}


def intervals(book: Path, name: str) -> tuple[float, float]:
    """When the notebook's sleeping cell started and ended, from its cached outputs."""
    cache = get_cache(str(book / "_build" / ".jupyter_cache"))
    notebook = cache.get_cache_bundle(cached_records(book)[name].pk).nb
    text = "".join(out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", []))
    start, end = re.search(r"INTERVAL (\S+) (\S+)", text).groups()
    return float(start), float(end)


def test_stale_notebooks_execute_concurrently_and_myst_nb_uses_the_cache(tmp_path):
    book = make_book(tmp_path, {name: SLEEPER.format(name=name) for name in ("sleep_a", "sleep_b")})
    code, log = build(book, "--all")
    assert code == 0, log[-3000:]
    assert "parallel_execute: executing 2 notebooks, 2 at a time" in log, log[-3000:]
    assert "parallel_execute: executed sleep_a" in log and "parallel_execute: executed sleep_b" in log
    # myst-nb found both in the cache and executed neither again
    assert not myst_nb_executed(log, "sleep_a") and not myst_nb_executed(log, "sleep_b")
    assert log.count("Using cached notebook") == 2

    (a_start, a_end), (b_start, b_end) = intervals(book, "sleep_a"), intervals(book, "sleep_b")
    # the sleeping cells overlap in time: run one after the other, one would start after the other
    # ended (the overlap, not the span, is the evidence: a loaded machine can stretch both sleeps)
    assert a_start < b_end and b_start < a_end, "the two notebooks did not run at the same time"

    records = cached_records(book)
    assert set(records) == {"sleep_a", "sleep_b"}
    assert all(r.data["execution_seconds"] >= 3 for r in records.values())
    assert all(Path(r.uri).parent == book for r in records.values())

    # nothing changed: the next build executes nothing, in parallel or otherwise
    code, log = build(book)
    assert code == 0, log[-3000:]
    assert "parallel_execute: executing" not in log
    assert not myst_nb_executed(log, "sleep_a") and not myst_nb_executed(log, "sleep_b")


def test_a_failing_notebook_still_fails_the_strict_build(tmp_path):
    pages = {
        "raising": "```{code-cell} ipython3\n1 / 0\n```\n",
        "warning": "```{code-cell} ipython3\nimport warnings\nwarnings.warn('suspicious value')\n```\n",
        "fine": "```{code-cell} ipython3\nprint('fine')\n```\n",
    }
    book = make_book(tmp_path, pages)
    code, log = build(book, "--all")
    assert code != 0
    assert "parallel_execute: executing 3 notebooks" in log, log[-3000:]
    assert "parallel_execute: raising failed (CellExecutionError)" in log
    # myst-nb reports the failure in its own words, and the stderr output of the cached page
    assert "raising.md: Executing notebook failed: CellExecutionError" in log.replace("\n", " ") or \
        re.search(r"raising\.md.*Executing notebook failed: CellExecutionError", log)
    assert "stderr was found in the cell outputs" in log
    assert set(cached_records(book)) == {"warning", "fine"}
