"""Execute the book's stale notebooks in background processes, one kernel per core, while Sphinx reads.

In ``execute_notebooks: cache`` mode myst-nb executes a notebook when it parses the page, so a cold
build runs the chapters one after another, and nothing else happens while a kernel runs. This
extension runs at ``env-before-read-docs``, after ``fresh_outputs`` has dropped the cache entries of
chapters whose package code changed: it reads each page about to be read exactly as myst-nb will
(same reader, kernel aliases and notebook-level configuration), keeps those whose code cells have no
entry in the jupyter-cache and submits them to a process pool (each worker runs
``jupyter_cache.executors.utils.single_nb_execution``, the function myst-nb itself calls, with the
same timeout, ``allow_errors`` and working directory), longest first. It then reorders the pages to
read: the other pages first, then the stale ones in the order they are expected to finish (from the
times of their last run). Sphinx reads the other pages while the kernels run; when it comes to a
stale page (``source-read``), it waits for that notebook and stores it with ``cache_notebook_bundle``
exactly as myst-nb does, ``execution_seconds`` included, so myst-nb finds it in the cache and
executes nothing. A single stale notebook (an edited chapter) goes the same way, so the pages
around it are read while it runs.

Outputs are not judged here: a cell writing to stderr is cached like any other output and myst-nb
turns it into a warning when it renders the page (``nb_output_stderr: warn``). A notebook whose
execution fails is *not* cached; myst-nb executes it again while reading and reports the failure in
its usual words ("Executing notebook failed: ..."), so a failing cell fails the strict build exactly
as before (at the price of running that notebook twice).

Every asynchronous kernel client of the build (the workers', and myst-nb's when it executes a page
itself) polls its sockets in one-second slices (``bound_missed_wakeups``): pyzmq's asyncio poll can
miss a reply's wake-up and notice it only at the cell's 120 s timeout.

Config values (in ``_config.yml`` under ``sphinx.config``):

``parallel_execute_workers``
    number of notebooks executed at once; 0 (the default) means one per available core. With 1 the
    extension does nothing and myst-nb executes as usual, one page after another.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext, suppress
from pathlib import Path, PurePosixPath

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

logger = logging.getLogger(__name__)

TIMES_NAME = "parallel-execute-times.json"

# On Linux the workers are forked from the Sphinx process, which has imported everything a worker
# needs: a spawned worker first re-imports jupyter-book's command line, this module with Sphinx, and
# jupyter-cache with SQLAlchemy (1.3 s before its kernel started, on this machine). Forking is safe
# here because the Sphinx process runs no other thread when the pool starts (the workers are forked
# before the pool's own manager thread exists) and a worker touches nothing it inherited but the
# imported modules: no database handle, no logger; it ends with os._exit, so no inherited atexit
# handler or finaliser runs in it. Elsewhere (macOS, Windows) the workers are spawned.
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"


def available_cores() -> int:
    with suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# How long one wait on a kernel socket may last before the socket is asked again.
POLL_SLICE = 1.0


async def _sliced_get_msg(self, timeout: float | None = None) -> dict:
    """``AsyncZMQSocketChannel.get_msg``, waiting at most ``POLL_SLICE`` seconds per socket poll.

    pyzmq's asyncio poll can miss the wake-up of a message that has already arrived (the socket's
    file descriptor is edge-triggered): the poll then ends only at its timeout, where a last check
    finds the message. nbclient waits for each cell's reply with the whole execution timeout, so a
    missed wake-up cost exactly that: 120 s of an idle kernel while the cell had finished in a
    second (2 of 92 runs of one chapter on this machine; two chapters of eleven in some builds). Every new poll first checks the socket
    for a waiting message, so asking again each second bounds a missed wake-up to one second; the
    overall timeout and the messages received are unchanged.
    """
    from queue import Empty

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = POLL_SLICE if deadline is None else max(0.0, deadline - time.monotonic())
        if await self.socket.poll(int(min(POLL_SLICE, remaining) * 1000)):
            return await self._recv()
        if deadline is not None and time.monotonic() >= deadline:
            raise Empty


def bound_missed_wakeups() -> None:
    """Use :func:`_sliced_get_msg` for every asynchronous kernel client in this process."""
    from jupyter_client.channels import AsyncZMQSocketChannel

    if AsyncZMQSocketChannel.get_msg is not _sliced_get_msg:
        AsyncZMQSocketChannel.get_msg = _sliced_get_msg


def execute_one(nb_json: str, cwd: str | None, timeout: int | None, allow_errors: bool) -> dict:
    """Execute one notebook (in a worker process) the way myst-nb's cache client does."""
    import nbformat

    bound_missed_wakeups()  # a spawned worker (a forked one has it from the Sphinx process)
    from jupyter_cache.executors.utils import single_nb_execution

    notebook = nbformat.reads(nb_json, as_version=nbformat.NO_CONVERT)
    with tempfile.TemporaryDirectory() if cwd is None else nullcontext(cwd) as folder:
        result = single_nb_execution(
            notebook,
            cwd=os.path.abspath(folder),
            allow_errors=allow_errors,
            timeout=timeout,
            meta_override=True,
        )
    return {
        "nb": nbformat.writes(result.nb) if result.err is None else None,
        "seconds": result.time,
        "error": type(result.err).__name__ if result.err is not None else None,
    }


def _read_notebook(env: BuildEnvironment, docname: str):
    """The notebook myst-nb will build for a page, its reader format and its myst-nb config, or None."""
    from myst_nb.core.read import create_nb_reader
    from myst_nb.core.nb_to_tokens import nb_node_to_dict

    path = env.doc2path(docname)
    if not str(path).endswith((".md", ".ipynb")) or not Path(path).is_file():
        return None
    nb_config = env.mystnb_config
    text = Path(path).read_text(encoding="utf-8")
    reader = create_nb_reader(str(path), env.myst_config, nb_config, text)
    if reader is None:
        return None
    notebook = reader.read(text)
    # the same adjustments myst_nb.sphinx_.Parser.parse makes before executing
    kernel = notebook.metadata.get("kernelspec", {}).get("name", None)
    if kernel is not None and nb_config.kernel_rgx_aliases:
        for rgx, alias in nb_config.kernel_rgx_aliases.items():
            if re.fullmatch(rgx, kernel):
                notebook.metadata["kernelspec"]["name"] = alias
                break
    if nb_config.metadata_key in notebook.metadata:
        overrides = nb_node_to_dict(notebook.metadata[nb_config.metadata_key])
        overrides.pop("output_folder", None)
        with suppress(Exception):  # myst-nb warns about bad overrides when it parses the page
            nb_config = nb_config.copy(**overrides)
    return str(path), notebook, reader.read_fmt, nb_config


def _excluded(path: str, nb_config) -> bool:
    posix = PurePosixPath(Path(path).as_posix())
    return any(posix.match(pattern) for pattern in nb_config.execution_excludepatterns or ())


def completion_order(estimates: list[float], workers: int) -> list[int]:
    """The order in which jobs submitted in this order to ``workers`` processes are expected to end.

    Each job starts on the first worker to become free (how a process pool hands them out);
    ``estimates`` are their expected seconds. Ties keep the submission order.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if any(not (e >= 0) for e in estimates):
        raise ValueError("estimates must be non-negative numbers")
    free = [0.0] * min(workers, max(len(estimates), 1))
    finish = []
    for seconds in estimates:
        i = min(range(len(free)), key=lambda w: free[w])
        free[i] += seconds
        finish.append(free[i])
    return sorted(range(len(estimates)), key=lambda j: (finish[j], j))


# Lexers the pages' code cells and error outputs are highlighted with (ipython3 cells, myst-nb's
# ipythontb tracebacks, python blocks).
WARM_LEXERS = ("ipython3", "ipythontb", "python")


def _prepare_writing() -> None:
    """Once per build, while the Sphinx process would only wait for a kernel: the first-use costs of
    writing pages that every process pays (about half a second here). Pygments compiles a lexer's
    regular expressions when its class is first instantiated, and soupsieve compiles its CSS
    tokenizer when first imported (the theme selects parts of each page's table of contents with
    it). Doing either now changes no output, only when the work is done."""
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    for name in WARM_LEXERS:
        with suppress(ClassNotFound):
            get_lexer_by_name(name)
    with suppress(ImportError):
        import soupsieve

        soupsieve.compile("li.toctree-l1 > details")


class _Run:
    """The stale notebooks of one build: executing in a pool, stored in the cache page by page."""

    def __init__(self, cache, stale: list, workers: int, previous: dict, times_path: Path) -> None:
        import nbformat

        self.cache, self.previous, self.times_path = cache, previous, times_path
        self.total, self.failed, self.start = len(stale), [], time.perf_counter()
        self.prepared = False
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(START_METHOD))
        self.pending = {
            docname: (
                self.pool.submit(
                    execute_one,
                    nbformat.writes(notebook),
                    None if page_config.execution_in_temp else str(Path(path).parent),
                    page_config.execution_timeout,
                    page_config.execution_allow_errors,
                ),
                path,
                read_fmt,
            )
            for docname, path, notebook, read_fmt, page_config in stale
        }

    def collect(self, docname: str) -> None:
        """Wait for one page's notebook and cache it (or leave it to myst-nb if it failed)."""
        import nbformat
        from jupyter_cache.base import CacheBundleIn
        from jupyter_cache.cache.db import NbProjectRecord

        future, path, read_fmt = self.pending.pop(docname)
        if not future.done() and not self.prepared:
            self.prepared = True
            _prepare_writing()
        try:
            result = future.result()
        except Exception as exc:  # a broken worker: leave the page to myst-nb
            self.failed.append(docname)
            logger.info(f"parallel_execute: {docname} could not be executed here ({exc!r})")
            result = None
        if result is not None and result["error"] is not None:
            self.failed.append(docname)
            logger.info(
                f"parallel_execute: {docname} failed ({result['error']}); "
                "myst-nb executes it again and reports the error"
            )
        elif result is not None:
            cache = self.cache
            # what myst_nb.core.execute.cache.NotebookClientCache stores after a successful run
            stage = (cache.add_nb_to_project(path, read_data=read_fmt) if read_fmt is not None
                     else cache.add_nb_to_project(path))
            NbProjectRecord.remove_tracebacks([stage.pk], cache.db)
            cache.cache_notebook_bundle(
                CacheBundleIn(
                    nbformat.reads(result["nb"], as_version=nbformat.NO_CONVERT),
                    stage.uri,
                    data={"execution_seconds": result["seconds"]},
                ),
                check_validity=False,
                overwrite=True,
            )
            self.previous[path] = result["seconds"]
            logger.info(f"parallel_execute: executed {docname} in {result['seconds']:.2f} s")
        if not self.pending:
            self.close()

    def close(self) -> None:
        """Stop the pool (cancelling what no page asked for) and record the run times."""
        # every page collected: the workers are idle and leave by themselves (the interpreter joins
        # them at exit); otherwise wait, so no notebook runs on after the build stopped using it
        self.pool.shutdown(wait=bool(self.pending), cancel_futures=True)
        if self.pending:
            logger.info(f"parallel_execute: not read, not cached: {', '.join(sorted(self.pending))}")
            self.pending.clear()
        self.times_path.write_text(json.dumps(self.previous, indent=1, sort_keys=True))
        done = self.total - len(self.failed)
        logger.info(
            f"parallel_execute: {done} of {self.total} notebooks executed and cached "
            f"in {time.perf_counter() - self.start:.1f} s wall time"
        )
        if _RUN.get("run") is self:
            _RUN.pop("run")


_RUN: dict[str, _Run] = {}  # the build's run, while it has notebooks in flight


def execute_stale(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    nb_config = getattr(env, "mystnb_config", None)
    if nb_config is None or nb_config.execution_mode != "cache" or not docnames:
        return
    workers = app.config.parallel_execute_workers or available_cores()
    if workers < 2:
        return
    from jupyter_cache import get_cache

    cache_path = nb_config.execution_cache_path or ".jupyter_cache"
    cache = get_cache(cache_path)
    stale = []
    for docname in docnames:
        read = _read_notebook(env, docname)
        if read is None:
            continue
        path, notebook, read_fmt, page_config = read
        if not any(cell.cell_type == "code" for cell in notebook.cells) or _excluded(path, page_config):
            continue
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            stale.append((docname, path, notebook, read_fmt, page_config))
    if not stale:
        return

    # longest first (seconds of the last run, else source size), so no long notebook starts last
    times_path = Path(cache.path) / TIMES_NAME
    previous = json.loads(times_path.read_text()) if times_path.exists() else {}
    stale.sort(key=lambda s: (-previous.get(s[1], 0.0), -Path(s[1]).stat().st_size))
    workers = min(workers, len(stale))
    logger.info(
        f"parallel_execute: executing {len(stale)} notebook{'s' * (len(stale) > 1)}, "
        f"{workers} at a time: " + ", ".join(s[0] for s in stale)
    )
    _RUN["run"] = _Run(cache, stale, workers, previous, times_path)

    # read every other page while the kernels run, then the stale ones as they are expected to end
    # (sizes stand in for times when some notebook has none; only their order matters)
    known = all(s[1] in previous for s in stale)
    estimates = [previous[s[1]] if known else float(Path(s[1]).stat().st_size) for s in stale]
    ending = [stale[i][0] for i in completion_order(estimates, workers)]
    docnames[:] = [d for d in docnames if d not in set(ending)] + ending


def collect_page(app: Sphinx, docname: str, _source: list[str]) -> None:
    run = _RUN.get("run")
    if run is not None and docname in run.pending:
        run.collect(docname)


def finish(*_args) -> None:
    run = _RUN.get("run")
    if run is not None:
        run.close()


# One kernel per core, so each kernel gets one BLAS/OpenMP thread: several multi-threaded kernels on
# two cores spin against each other (one CI run saw scaling-laws take 159 s instead of ~35 s). Set
# for the whole build, so kernels that myst-nb starts itself run the same way (the computed numbers
# were checked to be the same with one thread as with the default, timing figures aside).
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def setup(app: Sphinx) -> dict:
    for name, value in SINGLE_THREADED.items():
        os.environ.setdefault(name, value)
    # the kernels myst-nb runs in this process, and the workers forked from it
    bound_missed_wakeups()
    app.add_config_value("parallel_execute_workers", 0, "", [int])
    # after fresh_outputs (env-get-outdated) has dropped stale entries; before myst-nb reads the pages
    app.connect("env-before-read-docs", execute_stale)
    # a stale page is about to be parsed: its notebook must be in the cache by then
    app.connect("source-read", collect_page)
    # every page is read (or the build stopped): no notebook left in flight
    app.connect("env-updated", finish)
    app.connect("build-finished", finish)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
