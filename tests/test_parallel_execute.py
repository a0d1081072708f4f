"""book/_ext/parallel_execute.py: stale notebooks execute concurrently and myst-nb reuses the results.

Tiny books are built with the project's own _config.yml and extensions (as in test_strict_config).
"""

from __future__ import annotations

import asyncio
import importlib.util
import queue
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jupyter_cache import get_cache

from tests.conftest import BOOK, NOTEBOOK_HEADER, jupyter_book, tiny_book

ANSI = re.compile(r"\x1b\[[0-9;]*m")

spec = importlib.util.spec_from_file_location("parallel_execute", BOOK / "_ext" / "parallel_execute.py")
parallel_execute = importlib.util.module_from_spec(spec)
spec.loader.exec_module(parallel_execute)

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


def read_order(log: str) -> list[str]:
    return re.findall(r"reading sources\.\.\. \[\s*\d+%\] (\S+)", log)


def test_a_single_stale_notebook_runs_while_the_other_pages_are_read(tmp_path):
    """An edited chapter executes in the background; Sphinx reads the other pages first, then the
    chapter from the cache."""
    pages = {"a_notebook": SLEEPER.format(name="a"), "b_text": None, "c_text": None}
    book = make_book(tmp_path, {n: body for n, body in pages.items() if body})
    for name in ("b_text", "c_text"):
        (book / f"{name}.md").write_text(f"# {name}\n\nNo code here.\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                   "- file: a_notebook\n- file: b_text\n- file: c_text\n")
    code, log = build(book, "--all")
    assert code == 0, log[-3000:]
    assert "parallel_execute: executing 1 notebook, 1 at a time: a_notebook" in log, log[-3000:]
    assert not myst_nb_executed(log, "a_notebook")
    assert "Using cached notebook" in log
    # Sphinx's own order is alphabetical (a_notebook first); the notebook is read last
    order = read_order(log)
    assert order[-1] == "a_notebook" and set(order) == {"intro", "a_notebook", "b_text", "c_text"}
    assert log.index("executing 1 notebook") < log.index("reading sources")
    assert cached_records(book)["a_notebook"].data["execution_seconds"] >= 3

    # the notebook edited again: the same, in an incremental build
    notebook = book / "a_notebook.md"
    notebook.write_text(notebook.read_text().replace("time.sleep(3)", "time.sleep(3)  # edited"))
    (book / "b_text.md").write_text("# b_text\n\nStill no code.\n")
    code, log = build(book)
    assert code == 0, log[-3000:]
    assert "executing 1 notebook" in log and not myst_nb_executed(log, "a_notebook")
    assert read_order(log) == ["b_text", "a_notebook"]


def test_stale_pages_are_read_in_the_order_their_notebooks_should_end(tmp_path):
    order = parallel_execute.completion_order
    # submitted longest first to two workers: 10 s and 8 s start at once, the 3 s job follows the 8 s
    # one (ends at 11), the 2 s job follows the 10 s one (ends at 12)
    assert order([10.0, 8.0, 3.0, 2.0], 2) == [1, 0, 2, 3]
    assert order([1.0, 9.0, 1.0, 1.0], 2) == [0, 2, 3, 1]  # short ones end before the long one
    assert order([5.0, 5.0], 1) == [0, 1]
    assert order([], 2) == []
    assert order([1.0, 1.0, 1.0], 8) == [0, 1, 2]  # ties keep the submission order
    for bad_workers in (0, -1):
        with pytest.raises(ValueError, match="workers"):
            order([1.0], bad_workers)
    with pytest.raises(ValueError, match="estimates"):
        order([1.0, float("nan")], 2)
    with pytest.raises(ValueError, match="estimates"):
        order([-1.0], 2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1000), max_size=12), st.integers(1, 4))
def test_completion_order_is_a_permutation_that_a_pool_would_follow(estimates, workers):
    order = parallel_execute.completion_order(estimates, workers)
    assert sorted(order) == list(range(len(estimates)))
    # simulate the pool independently: a worker takes the next job as soon as it is free
    free, ends = [0.0] * workers, []
    for seconds in estimates:
        w = free.index(min(free))
        free[w] += seconds
        ends.append(free[w])
    assert [ends[i] for i in order] == sorted(ends)
    if workers == 1:
        assert order == list(range(len(estimates)))


class _MissingWakeupSocket:
    """A kernel socket whose message has arrived but whose wake-up is lost: like pyzmq's asyncio
    poll when it misses an edge, a poll ends only at its timeout (then reports the message), and
    any poll started after the message arrived sees it at once."""

    def __init__(self, arrives_after: float | None) -> None:
        self.arrives_after, self.polls = arrives_after, []
        self.created = asyncio.get_event_loop().time()

    def arrived(self) -> bool:
        now = asyncio.get_event_loop().time()
        return self.arrives_after is not None and now - self.created >= self.arrives_after

    async def poll(self, timeout_ms: int | None) -> int:
        self.polls.append(timeout_ms)
        if self.arrived():
            return 1  # a new poll checks the socket first
        await asyncio.sleep((timeout_ms or 0) / 1000)  # the wake-up is lost: wait out the timeout
        return int(self.arrived())


class _Channel:
    def __init__(self, socket) -> None:
        self.socket = socket

    async def _recv(self) -> dict:
        return {"content": "reply"}


def _get_msg(arrives_after: float | None, timeout: float | None) -> tuple[object, list, float]:
    async def run():
        channel = _Channel(_MissingWakeupSocket(arrives_after))
        start = asyncio.get_event_loop().time()
        try:
            result = await parallel_execute._sliced_get_msg(channel, timeout)
        except Exception as exc:  # noqa: BLE001 - the test looks at which
            result = exc
        return result, channel.socket.polls, asyncio.get_event_loop().time() - start

    return asyncio.run(run())


def test_a_lost_wake_up_costs_one_poll_slice_not_the_whole_timeout(monkeypatch):
    monkeypatch.setattr(parallel_execute, "POLL_SLICE", 0.05)
    # the reply arrives after 0.12 s; the cell's timeout is 120 s
    result, polls, waited = _get_msg(arrives_after=0.12, timeout=120)
    assert result == {"content": "reply"}
    assert all(0 < p <= 50 for p in polls), polls  # never one long poll of 120 s
    assert waited < 5  # found at the next slice (the unsliced poll would have waited 120 s)


def test_the_timeout_and_an_endless_wait_are_kept(monkeypatch):
    monkeypatch.setattr(parallel_execute, "POLL_SLICE", 0.05)
    result, polls, waited = _get_msg(arrives_after=None, timeout=0.2)  # nothing ever arrives
    assert isinstance(result, queue.Empty)
    assert waited >= 0.2 and len(polls) >= 4 and sum(polls) <= 200
    result, polls, _ = _get_msg(arrives_after=0.0, timeout=0)  # a message already there, no wait
    assert result == {"content": "reply"} and polls == [0]
    result, polls, _ = _get_msg(arrives_after=None, timeout=0)
    assert isinstance(result, queue.Empty) and polls == [0]
    result, polls, _ = _get_msg(arrives_after=0.15, timeout=None)  # no timeout: wait until it comes
    assert result == {"content": "reply"} and all(p == 50 for p in polls)


def test_the_build_process_and_its_workers_use_the_sliced_poll():
    from jupyter_client.channels import AsyncZMQSocketChannel

    original = AsyncZMQSocketChannel.get_msg
    try:
        parallel_execute.bound_missed_wakeups()
        assert AsyncZMQSocketChannel.get_msg is parallel_execute._sliced_get_msg
        parallel_execute.bound_missed_wakeups()  # twice: still the one wrapper
        assert AsyncZMQSocketChannel.get_msg is parallel_execute._sliced_get_msg
    finally:
        AsyncZMQSocketChannel.get_msg = original
