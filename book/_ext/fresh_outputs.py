"""Never publish outputs computed by older package code.

jupyter-cache keys an executed notebook on its code cells and kernelspec only, so when a chapter's
cells stay the same but the code they import from ``src/lilbook/`` changes, a cached build would show
stale outputs. This extension fingerprints, for every page, the package modules it imports (followed
through the package's own imports) and compares that with the fingerprint recorded at the previous
build. When they differ it drops the page's executed notebook from the cache and tells Sphinx to
re-read the page, so the chapter is executed again with the current code. Pages whose modules did not
change keep their cache.

Config values (in ``_config.yml`` under ``sphinx.config``):

``fresh_outputs_packages``
    mapping of an importable package name to its source directory, relative to the book folder.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging

logger = logging.getLogger(__name__)

STAMP_NAME = "fresh-outputs-fingerprints.json"
IMPORTS_NAME = "fresh-outputs-imports.json"  # each module file's sha256 and package imports


class PackageIndex:
    """The modules of one source package and the package-internal imports of each."""

    def __init__(self, name: str, root: Path, known: dict[str, dict] | None = None):
        """``known`` maps a module file's path to ``{"sha": ..., "imports": [...]}`` from an earlier
        build: a file whose bytes still have that sha256 is not parsed again (parsing every module
        was the largest cost of this extension in a build with nothing to do)."""
        if not root.is_dir():
            raise FileNotFoundError(f"fresh_outputs: package directory {root} does not exist")
        self.name, self.root = name, root
        self.files: dict[str, Path] = {}
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            self.files[".".join((name, *parts))] = path
        known = known or {}
        self.scanned: dict[str, dict] = {}  # what ``known`` holds for these files after this scan
        self.deps: dict[str, set[str]] = {}
        for module, path in self.files.items():
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            entry = known.get(str(path))
            if entry and entry.get("sha") == sha:
                imports = {m for m in entry["imports"] if m in self.files}
            else:
                imports = self._imports_of(module, path)
            self.deps[module] = imports
            self.scanned[str(path)] = {"sha": sha, "imports": sorted(imports)}

    def _imports_of(self, module: str, path: Path) -> set[str]:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
        return {self.resolve(name) for name in found if self.resolve(name)}

    def resolve(self, dotted: str) -> str | None:
        """The package module a dotted import name refers to (longest known prefix), or None."""
        parts = dotted.split(".")
        for end in range(len(parts), 0, -1):
            candidate = ".".join(parts[:end])
            if candidate in self.files:
                return candidate
        return None

    def closure(self, modules: set[str]) -> set[str]:
        """The modules plus every package module they import, directly or not (parents included)."""
        todo, seen = list(modules), set()
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            parent = module.rpartition(".")[0]
            if parent:  # importing a.b runs a/__init__.py first
                todo.append(parent)
            todo.extend(self.deps.get(module, ()))
        return seen

    def fingerprint(self, modules: set[str]) -> str:
        digest = hashlib.sha256()
        for module in sorted(self.closure(modules)):
            digest.update(module.encode() + b"\0" + self.files[module].read_bytes() + b"\0")
        return digest.hexdigest()


def imported_modules(source: str, package: PackageIndex) -> set[str]:
    """Package modules named in ``import``/``from`` statements of a page's source text."""
    # the names after "import": a parenthesised list (over several lines) or the rest of the line;
    # never more, or one statement would swallow the imports on the lines after it
    pattern = re.compile(
        rf"^\s*(?:from\s+({re.escape(package.name)}(?:\.\w+)*)\s+import\s+(\([^)]*\)|[^\n#]*)"
        rf"|import\s+({re.escape(package.name)}(?:\.\w+)*)\b)",
        re.MULTILINE,
    )
    modules: set[str] = set()
    for match in pattern.finditer(source):
        if match.group(3):
            modules.add(package.resolve(match.group(3)))
            continue
        base = match.group(1)
        modules.add(package.resolve(base))
        for name in re.split(r"[\s,()]+", match.group(2)):
            if name and name != "*":
                resolved = package.resolve(f"{base}.{name}")
                if resolved:
                    modules.add(resolved)
    return {m for m in modules if m}


def _cache_dir(app: Sphinx) -> Path:
    # myst-nb settles the cache location at builder-inited (default: next to the output folder)
    nb_config = getattr(app.env, "mystnb_config", None)
    configured = nb_config.execution_cache_path if nb_config else app.config.nb_execution_cache_path
    return Path(configured or Path(app.outdir).parent / ".jupyter_cache").resolve()


def _drop_cached(app: Sphinx, sources: list[Path]) -> int:
    cache_dir = _cache_dir(app)
    if not sources or not cache_dir.exists():
        return 0
    from jupyter_cache import get_cache

    cache = get_cache(str(cache_dir))
    wanted = {path.resolve() for path in sources}
    dropped = 0
    for record in cache.list_cache_records():
        if Path(record.uri).resolve() in wanted:
            cache.remove_cache(record.pk)
            dropped += 1
    return dropped


def outdated_pages(app: Sphinx, env: BuildEnvironment, added, changed, removed) -> list[str]:
    imports_path = _cache_dir(app) / IMPORTS_NAME
    known = json.loads(imports_path.read_text()) if imports_path.exists() else {}
    packages = [
        PackageIndex(name, (Path(app.confdir) / rel).resolve(), known)
        for name, rel in app.config.fresh_outputs_packages.items()
    ]
    stamp_path = _cache_dir(app) / STAMP_NAME
    previous = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    current: dict[str, str] = {}
    stale: list[str] = []
    stale_sources: list[Path] = []
    for docname in sorted(env.found_docs):
        source = Path(env.doc2path(docname)).resolve()
        text = source.read_text(encoding="utf-8")
        parts = []
        for package in packages:
            modules = imported_modules(text, package)
            if modules:
                parts.append(package.fingerprint(modules))
        if not parts:
            continue
        key = str(source)
        current[key] = hashlib.sha256("".join(parts).encode()).hexdigest()
        if previous.get(key) != current[key]:
            stale.append(docname)
            stale_sources.append(source)
    dropped = _drop_cached(app, stale_sources)
    if stale:
        logger.info(
            f"fresh_outputs: package code changed for {', '.join(stale)}; "
            f"dropped {dropped} cached execution(s), re-reading those pages"
        )
    stamp_path.parent.mkdir(parents=True, exist_ok=True)
    stamp_path.write_text(json.dumps({**previous, **current}, indent=1, sort_keys=True))
    scanned = {k: v for package in packages for k, v in package.scanned.items()}
    if scanned != known:
        imports_path.write_text(json.dumps(scanned, indent=1, sort_keys=True))
    return [d for d in stale if d not in added]


def setup(app: Sphinx) -> dict:
    app.add_config_value("fresh_outputs_packages", {"lilbook": "../src/lilbook"}, "env", [dict])
    app.connect("env-get-outdated", outdated_pages)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
