"""book/_ext/template_cache.py: the theme's templates are compiled once and reused by later builds."""

from __future__ import annotations

import subprocess

from tests.conftest import jupyter_book, tiny_book


def build(book) -> None:
    proc = subprocess.run([jupyter_book(), "build", "-W", str(book)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_compiled_templates_are_kept_and_reused(tmp_path):
    book = tiny_book(tmp_path, {"a": "# A\n\nFirst text.\n"})
    build(book)
    folder = book / "_build" / ".doctrees" / "jinja-bytecode"
    compiled = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert len(compiled) > 10  # the layout and the theme's many small templates

    (book / "a.md").write_text("# A\n\nSecond text.\n")
    build(book)
    assert "Second text." in (book / "_build" / "html" / "a.html").read_text(encoding="utf-8")
    # the same compiled templates, none written again: they were loaded, not compiled
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == compiled
