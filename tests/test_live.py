"""The live mode (book/_ext/live_mode.py): every chapter runs in the reader's browser, offline.

Unit tests of how the live site is assembled (hash checks, the package set, the lilbook wheel), checks
of the built site (links, lock, config), and one chapter run for real in JupyterLite in Chromium:
every cell, an explorer recomputing, and no request leaving 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from tests.conftest import BOOK
from tests.test_book import chapter_files

spec = importlib.util.spec_from_file_location("live_mode", BOOK / "_ext" / "live_mode.py")
live_mode = importlib.util.module_from_spec(spec)
spec.loader.exec_module(live_mode)

SLUG = "inference-optimization"  # its KV-cache explorer is the one the issue tried


# --- assembling -----------------------------------------------------------------------------------


LOCK = {
    "numpy": {"depends": []},
    "matplotlib": {"depends": ["numpy", "python_dateutil"]},
    "python-dateutil": {"depends": ["six"]},
    "six": {"depends": []},
    "pandas": {"depends": ["numpy"]},
}


def test_dependency_closure_follows_depends_with_normalised_names():
    assert live_mode.dependency_closure(LOCK, ["matplotlib"]) == {"matplotlib", "numpy", "python-dateutil", "six"}
    assert live_mode.dependency_closure(LOCK, []) == set()


def test_dependency_closure_refuses_a_package_the_lock_lacks():
    with pytest.raises(live_mode.LiveAssetError, match="'torch' is not in the Pyodide lock"):
        live_mode.dependency_closure(LOCK, ["numpy", "torch"])


def carrier(tmp_path: Path, files: dict[str, bytes]) -> Path:
    path = tmp_path / "carrier.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(live_mode.CARRIER_DIR + name, data)
    return path


def lock_for(files: dict[str, bytes]) -> dict:
    return {
        "info": {"version": "0.27.7"},
        "packages": {
            name.split("-")[0]: {"file_name": name, "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in files.items()
        },
    }


def test_package_files_are_taken_only_when_their_sha256_matches_the_lock(tmp_path):
    files = {"numpy-2.0.2-x.whl": b"numpy bytes", "six-1.16.0-y.whl": b"six bytes"}
    lock = lock_for(files)
    assert live_mode.verified_package_files(lock, carrier(tmp_path, files), ["numpy", "six"]) == files
    tampered = carrier(tmp_path, {**files, "six-1.16.0-y.whl": b"six bytes, altered"})
    with pytest.raises(live_mode.LiveAssetError, match=r"six-1\.16\.0-y\.whl: sha256 .* \(Pyodide 0\.27\.7 lock file\)"):
        live_mode.verified_package_files(lock, tampered, ["numpy", "six"])


def test_a_package_file_the_carrier_lacks_fails_the_build(tmp_path):
    files = {"numpy-2.0.2-x.whl": b"numpy bytes"}
    lock = lock_for({**files, "six-1.16.0-y.whl": b"six"})
    with pytest.raises(live_mode.LiveAssetError, match="does not carry six-1.16.0-y.whl"):
        live_mode.verified_package_files(lock, carrier(tmp_path, files), ["numpy", "six"])


def test_exactly_one_pin_is_the_carrier():
    pins = live_mode.pinned_wheels()
    name, version, digest = live_mode.carrier_pin(pins)
    assert name not in live_mode.EXTRA_PACKAGES and pins[name] == (version, digest)
    with pytest.raises(live_mode.LiveAssetError, match="exactly one carrier"):
        live_mode.carrier_pin({k: v for k, v in pins.items() if k != name})
    with pytest.raises(live_mode.LiveAssetError, match="exactly one carrier"):
        live_mode.carrier_pin({**pins, "another-carrier": ("1.0", "0" * 64)})


def test_the_pins_parse_and_a_malformed_pin_is_refused(tmp_path):
    pins = live_mode.pinned_wheels()
    assert set(pins) >= {"ipywidgets", "comm"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for _, digest in pins.values())
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[tool.lilbook.live]\nwheels = ["comm>=0.2"]\n')
    with pytest.raises(live_mode.LiveAssetError, match="not 'name==version"):
        live_mode.pinned_wheels(bad)


def test_the_lilbook_wheel_is_reproducible_and_its_record_is_right(tmp_path):
    package = tmp_path / "toy"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("X = 1\n")
    (package / "sub" / "mod.py").write_text("Y = 2\n")
    (package / "notes.txt").write_text("left out\n")
    name, first = live_mode.build_pure_wheel("toy", "1.0", package)
    _, second = live_mode.build_pure_wheel("toy", "1.0", package)
    assert name == "toy-1.0-py3-none-any.whl"
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        names = archive.namelist()
        assert "toy/__init__.py" in names and "toy/sub/mod.py" in names and "toy/notes.txt" not in names
        record = archive.read("toy-1.0.dist-info/RECORD").decode().splitlines()
        assert len(record) == len(names)
        for line in record:
            path, digest, size = line.split(",")
            if path.endswith("RECORD"):
                continue
            data = archive.read(path)
            assert int(size) == len(data)
            assert digest.startswith("sha256=")
            assert hashlib.sha256(data).digest() == base64.urlsafe_b64decode(digest[7:] + "=")


@pytest.mark.parametrize(
    "settings",
    [
        {"pyodideUrl": "https://cdn.jsdelivr.net/pyodide/v0.27.7/full/pyodide.js", "disablePyPIFallback": True},
        {"pyodideUrl": "./static/pyodide/pyodide.js", "disablePyPIFallback": False},
        {"pyodideUrl": "./static/pyodide/pyodide.js"},
    ],
)
def test_a_live_site_that_could_reach_another_host_fails_the_build(tmp_path, settings):
    (tmp_path / "static" / "pyodide").mkdir(parents=True)
    (tmp_path / "static" / "pyodide" / "pyodide.js").write_text("")
    config = {"jupyter-config-data": {"litePluginSettings": {live_mode.KERNEL_PLUGIN: settings}}}
    (tmp_path / "jupyter-lite.json").write_text(json.dumps(config))
    with pytest.raises(live_mode.LiveAssetError, match="never from PyPI"):
        live_mode.check_built_config(tmp_path)


def test_links_to_the_live_notebook_are_relative():
    assert live_mode.chapter_notebook("notebooks/agents") == "agents.ipynb"
    assert live_mode.chapter_notebook("intro") is None
    assert live_mode.live_url("notebooks/agents", "agents.ipynb") == "../live/lab/index.html?path=agents.ipynb"
    assert live_mode.live_url("intro", "x.ipynb") == "live/lab/index.html?path=x.ipynb"


# --- the built site -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_site(built_html) -> Path:
    site = built_html / live_mode.LIVE_DIR
    assert (site / "jupyter-lite.json").is_file(), "the build wrote no live mode (are .cache/live and node_modules/pyodide installed?)"
    return site


def test_every_chapter_page_links_to_its_live_notebook(built_html, live_site):
    for chapter in chapter_files():
        page = (built_html / chapter).with_suffix(".html")
        links = re.findall(r'class="lilbook-live-link" href="([^"]+)"', page.read_text(encoding="utf-8"))
        assert len(links) == 1, chapter
        target, _, query = links[0].partition("?path=")
        assert (page.parent / target).resolve() == (live_site / "lab" / "index.html").resolve()
        notebook = json.loads((live_site / "files" / query).read_text())
        assert notebook["metadata"]["kernelspec"]["name"] == live_mode.KERNELSPEC["name"]
        assert any(c["cell_type"] == "code" for c in notebook["cells"])


def test_every_chapter_page_states_what_the_live_mode_downloads(built_html, live_site):
    pyodide = live_site / "static" / "pyodide"
    lock = json.loads((pyodide / live_mode.LOCK).read_text())["packages"]
    files = [*live_mode.RUNTIME_FILES, *(entry["file_name"] for entry in lock.values())]
    megabytes = sum((pyodide / name).stat().st_size for name in files) / 1e6
    assert 30 < megabytes < 150
    for chapter in chapter_files():
        html = (built_html / chapter).with_suffix(".html").read_text(encoding="utf-8")
        sizes = re.findall(r'<span class="lilbook-live-size">([^<]*)</span>', html)
        assert sizes == [f"{megabytes:.0f}"], chapter


def test_every_explorer_is_marked_static_with_the_way_to_make_it_live(built_html):
    explorers = 0
    for chapter in chapter_files():
        html = (built_html / chapter).with_suffix(".html").read_text(encoding="utf-8")
        cells = re.split(r'<div class="cell ', html)[1:]
        with_widgets = [c for c in cells if "application/vnd.jupyter.widget-view+json" in c.split('<div class="cell ')[0]]
        explorers += len(with_widgets)
        assert html.count('class="lilbook-static-explorer"') == len(with_widgets), chapter
        assert html.count("lilbook-explorer") >= len(with_widgets), chapter
    assert explorers >= 11


def test_the_lite_build_leaves_the_books_pages_dated_as_built(live_site, built_html):
    """`jupyter lite build` dates every file under its output folder's parent to SOURCE_DATE_EPOCH;
    had that reached the book's pages, the next build would find all of them out of date."""
    epoch = int(live_mode.LITE_ENV["SOURCE_DATE_EPOCH"])
    # the pages a strict (--all) build writes from the sources, each time
    pages = [built_html / Path(source.relative_to(BOOK)).with_suffix(".html")
             for source in [*BOOK.glob("*.md"), *BOOK.glob("notebooks/*.md")] if source.name != "README.md"]
    assert len(pages) > 11 and all(page.is_file() for page in pages)
    dated = [str(p.relative_to(built_html)) for p in pages if p.stat().st_mtime <= epoch]
    assert dated == []


def test_the_live_site_loads_python_from_itself_and_never_from_pypi(live_site):
    live_mode.check_built_config(live_site)
    config = json.loads((live_site / "jupyter-lite.json").read_text())["jupyter-config-data"]
    assert config["litePluginSettings"][live_mode.KERNEL_PLUGIN]["pyodideUrl"] == "./static/pyodide/pyodide.js"


def test_every_package_file_matches_the_lock_and_the_official_ones_match_pyodides(live_site):
    """Served files match the served lock; an official file is served as it is (shared libraries) or,
    for a wheel, with its members byte for byte and nothing added but their compiled bytecode."""
    pyodide = live_site / "static" / "pyodide"
    served = json.loads((pyodide / live_mode.LOCK).read_text())["packages"]
    lock = json.loads((live_mode.PYODIDE_NPM / live_mode.LOCK).read_text())
    official = lock["packages"]
    assert {"numpy", "scipy", "matplotlib", "lilbook", "ipywidgets"} <= set(served)
    carrier_name, carrier_version, _ = live_mode.carrier_pin(live_mode.pinned_wheels())
    carrier = live_mode.wheel_file(carrier_name, carrier_version)
    originals = live_mode.verified_package_files(lock, carrier, [n for n in served if n in official])
    compiled_wheels = 0
    for name, entry in served.items():
        data = (pyodide / entry["file_name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        if name not in official:
            continue
        original = originals[official[name]["file_name"]]
        if not entry["file_name"].endswith(".whl"):
            assert data == original, name
            continue
        with zipfile.ZipFile(io.BytesIO(original)) as before, zipfile.ZipFile(io.BytesIO(data)) as after:
            old = {member: before.read(member) for member in before.namelist()}
            new = {member: after.read(member) for member in after.namelist()}
        assert {m: new[m] for m in old} == old, name
        added = set(new) - set(old)
        assert all(re.fullmatch(r"(.*/)?__pycache__/[^/]+\.cpython-3\d+\.pyc", m) for m in added), name
        sources = [m for m in old if m.endswith(".py")]
        assert len(added) >= 0.9 * len(sources), name  # (a file that is not Python 3 is left alone)
        compiled_wheels += bool(added)
    assert compiled_wheels >= 10
    for runtime in live_mode.RUNTIME_FILES:
        assert (pyodide / runtime).read_bytes() == (live_mode.PYODIDE_NPM / runtime).read_bytes()


def test_bytecode_is_used_without_the_sources_date(live_site):
    """Unchecked-hash pycs (PEP 552): a wheel keeps no file dates, so a date-checked pyc would be
    judged stale and the source compiled again in the browser."""
    pyodide = live_site / "static" / "pyodide"
    entry = json.loads((pyodide / live_mode.LOCK).read_text())["packages"]["lilbook"]
    with zipfile.ZipFile(pyodide / entry["file_name"]) as archive:
        pycs = [m for m in archive.namelist() if m.endswith(".pyc")]
        assert len(pycs) == len([m for m in archive.namelist() if m.endswith(".py")])
        for member in pycs:
            header = archive.read(member)[:16]
            assert int.from_bytes(header[4:8], "little") == 0b01, member  # hash-based, not checked


def test_the_browser_runs_the_lilbook_the_book_was_built_with(live_site):
    pyodide = live_site / "static" / "pyodide"
    entry = json.loads((pyodide / live_mode.LOCK).read_text())["packages"]["lilbook"]
    with zipfile.ZipFile(pyodide / entry["file_name"]) as archive:
        for source in sorted((live_mode.SRC / "lilbook").glob("*.py")):
            assert archive.read(f"lilbook/{source.name}") == source.read_bytes(), source.name


# --- in the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_session(built_html, live_site):
    from playwright.sync_api import sync_playwright

    from tests.lab_session import change_dropdown
    from tests.live_session import StaticSite, run_all_live
    from tests.test_browser import CHROMIUM_ARGS, chromium_path

    site = StaticSite(built_html)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            run = run_all_live(page, site.url, SLUG)
            widget = change_dropdown(page, "batch", "8")
            browser.close()
    finally:
        site.close()
    print(f"\nlive mode, {SLUG}: notebook {run.notebook_seconds:.1f} s, first cell {run.first_cell_seconds:.1f} s, "
          f"Run All {run.run_all_seconds:.1f} s")
    return run, widget


def test_a_chapter_runs_in_the_browser_without_an_error(live_session):
    run, _ = live_session
    assert run.code_cells > 20
    assert run.executed_cells == run.code_cells
    assert run.error_outputs == []
    assert run.console_errors == [], run.console_errors


def test_an_explorer_recomputes_in_the_browser(live_session):
    _, (before, after) = live_session
    assert "3,040.8 GB" in before, before[:500]
    assert after != before and "3,040.8 GB" not in after, after[:500]


def test_the_live_mode_asks_no_other_host_for_anything(live_session):
    run, _ = live_session
    assert run.requests_elsewhere == []


def test_the_font_list_is_unpacked_after_matplotlib_and_before_lilbook(live_site):
    """Pyodide installs a package after its dependencies: matplotlib's own stale fontlist.json must not
    overwrite the one the build prepared, and lilbook (imported by every chapter) must bring it."""
    packages = json.loads((live_site / "static" / "pyodide" / live_mode.LOCK).read_text())["packages"]
    assert packages[live_mode.FONT_CACHE_PACKAGE]["depends"] == ["matplotlib"]
    assert live_mode.FONT_CACHE_PACKAGE in packages["lilbook"]["depends"]
    with zipfile.ZipFile(live_site / "static" / "pyodide" / packages[live_mode.FONT_CACHE_PACKAGE]["file_name"]) as archive:
        font_list = json.loads(archive.read("matplotlib/fontlist.json"))
    assert font_list["ttflist"] and all(not f["fname"].startswith("/") for f in font_list["ttflist"])
