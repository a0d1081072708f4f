"""Execute the book's stale notebooks concurrently, one kernel per core, before Sphinx reads them.

In ``execute_notebooks: cache`` mode myst-nb executes a notebook when it parses the page, so a cold
build runs the chapters one after another. This extension runs at ``env-before-read-docs``, after
``fresh_outputs`` has dropped the cache entries of chapters whose package code changed: it reads each
page about to be read exactly as myst-nb will (same reader, kernel aliases and notebook-level
configuration), keeps those whose code cells have no entry in the jupyter-cache, executes them in a
process pool (each worker runs ``jupyter_cache.executors.utils.single_nb_execution``, the function
myst-nb itself calls, with the same timeout, ``allow_errors`` and working directory) and stores each
executed notebook with ``cache_notebook_bundle`` exactly as myst-nb does, ``execution_seconds``
included. When Sphinx then reads the pages, myst-nb finds them in the cache and executes nothing.

Outputs are not judged here: a cell writing to stderr is cached like any other output and myst-nb
turns it into a warning when it renders the page (``nb_output_stderr: warn``). A notebook whose
execution fails is *not* cached; myst-nb executes it again while reading and reports the failure in
its usual words ("Executing notebook failed: ..."), so a failing cell fails the strict build exactly
as before (at the price of running that notebook twice).

Config values (in ``_config.yml`` under ``sphinx.config``):

``parallel_execute_workers``
    number of notebooks executed at once; 0 (the default) means one per available core. With 1, or
    with a single stale notebook, the extension does nothing and myst-nb executes as usual.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import nullcontext, suppress
from pathlib import Path, PurePosixPath

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

logger = logging.getLogger(__name__)

TIMES_NAME = "parallel-execute-times.json"


def available_cores() -> int:
    with suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def execute_one(nb_json: str, cwd: str | None, timeout: int | None, allow_errors: bool) -> dict:
    """Execute one notebook (in a worker process) the way myst-nb's cache client does."""
    import nbformat
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
    if len(stale) < 2:
        return  # nothing to overlap: myst-nb executes a lone notebook itself

    # longest first (seconds of the last run, else source size), so no long notebook starts last
    times_path = Path(cache.path) / TIMES_NAME
    previous = json.loads(times_path.read_text()) if times_path.exists() else {}
    stale.sort(key=lambda s: (-previous.get(s[1], 0.0), -Path(s[1]).stat().st_size))
    workers = min(workers, len(stale))
    logger.info(
        f"parallel_execute: executing {len(stale)} notebooks, {workers} at a time: "
        + ", ".join(s[0] for s in stale)
    )
    import nbformat
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.cache.db import NbProjectRecord

    start = time.perf_counter()
    failed = []
    # spawn, not fork: the Sphinx process holds open database handles and logging state
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {
            pool.submit(
                execute_one,
                nbformat.writes(notebook),
                None if page_config.execution_in_temp else str(Path(path).parent),
                page_config.execution_timeout,
                page_config.execution_allow_errors,
            ): (docname, path, read_fmt)
            for docname, path, notebook, read_fmt, page_config in stale
        }
        for future in as_completed(futures):
            docname, path, read_fmt = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # a broken worker: leave the page to myst-nb
                failed.append(docname)
                logger.info(f"parallel_execute: {docname} could not be executed here ({exc!r})")
                continue
            if result["error"] is not None:
                failed.append(docname)
                logger.info(
                    f"parallel_execute: {docname} failed ({result['error']}); "
                    "myst-nb executes it again and reports the error"
                )
                continue
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
            previous[path] = result["seconds"]
            logger.info(f"parallel_execute: executed {docname} in {result['seconds']:.2f} s")
    times_path.write_text(json.dumps(previous, indent=1, sort_keys=True))
    logger.info(
        f"parallel_execute: {len(stale) - len(failed)} of {len(stale)} notebooks executed and cached "
        f"in {time.perf_counter() - start:.1f} s wall time"
    )


# One kernel per core, so each kernel gets one BLAS/OpenMP thread: several multi-threaded kernels on
# two cores spin against each other (one CI run saw scaling-laws take 159 s instead of ~35 s). Set
# for the whole build, so kernels that myst-nb starts itself run the same way (the computed numbers
# were checked to be the same with one thread as with the default, timing figures aside).
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def setup(app: Sphinx) -> dict:
    for name, value in SINGLE_THREADED.items():
        os.environ.setdefault(name, value)
    app.add_config_value("parallel_execute_workers", 0, "", [int])
    # after fresh_outputs (env-get-outdated) has dropped stale entries; before myst-nb reads the pages
    app.connect("env-before-read-docs", execute_stale)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
