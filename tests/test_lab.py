"""A chapter in JupyterLab reads like the book: run it as a reader does and look at the page.

JupyterLab (with jupytext and jupyterlab-myst, from the project's environment) serves a temporary
copy of one chapter on 127.0.0.1; headless Chromium opens it as a notebook, runs all cells, reads
the rendered prose, moves one explorer's control, and waits past autosave. The chapter is the
KV-cache one (inference-optimization): its explorer is a calculator with dropdowns, and its prose
quotes 31 computed numbers. ``benchmarks/lab_times.py`` does the same for every chapter and prints
times.
"""

from __future__ import annotations

import time

import pytest

from tests.lab_session import AUTOSAVE_SECONDS, LabServer, change_dropdown, glued_prose_numbers, run_all, sha256
from tests.test_browser import CHROMIUM_ARGS, chromium_path

SLUG = "inference-optimization"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = LabServer([SLUG], tmp_path_factory.mktemp("lab"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def session(lab):
    """Open the chapter, Run All, then change the KV-cache explorer's batch from 512 to 8."""
    from playwright.sync_api import sync_playwright

    path = lab.workdir / "notebooks" / f"{SLUG}.md"
    digest = sha256(path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        run = run_all(page, lab.url, SLUG)
        widget = change_dropdown(page, "batch", "8")
        time.sleep(AUTOSAVE_SECONDS * 3 + 2)  # past several autosaves
        unchanged = sha256(path) == digest
        browser.close()
    print(f"\nJupyterLab, {SLUG}: opened in {run.open_seconds:.1f} s, Run All in {run.run_all_seconds:.1f} s")
    return run, widget, unchanged


def test_every_cell_runs_without_an_error(session):
    run, _, _ = session
    assert run.code_cells > 20
    assert run.executed_cells == run.code_cells
    assert run.error_outputs == []


def test_the_prose_shows_the_numbers_the_book_shows(session):
    run, _, _ = session
    expected = glued_prose_numbers(SLUG)
    assert len(expected) >= 20
    missing = {name: text for name, text in expected.items() if text not in run.prose}
    assert missing == {}
    assert run.expression_problems == []


def test_no_myst_markup_is_left_raw(session):
    run, _, _ = session
    assert run.raw_myst == []
    assert "Large Transformer Model Inference Optimization" in run.prose


def test_an_explorer_recomputes_when_its_control_changes(session):
    _, (before, after), _ = session
    assert "3,040.8 GB" in before, before[:500]  # PaLM-shape default: batch 512
    assert after != before and "3,040.8 GB" not in after, after[:500]


def test_opening_and_running_changes_nothing_on_disk(session):
    # JupyterLab sometimes marks the tab as modified once the kernel has started (we think because
    # it records the kernel's language_info, which jupytext leaves out of the .md; not verified),
    # so what is checked is the file itself, after Run All, a widget change and several autosaves
    _, _, unchanged = session
    assert unchanged, "Run All and autosave rewrote the chapter's .md"


def test_nothing_is_requested_from_another_host(session):
    run, _, _ = session
    assert run.requests_elsewhere == []
