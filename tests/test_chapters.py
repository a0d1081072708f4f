"""Every chapter keeps the parts of the contract in ../shared/CHAPTER.md that a machine can check."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from tests.conftest import ROOT

CHAPTERS = sorted((ROOT / "notebooks").glob("*.md"))
ORIGINALITY = ROOT.parent / "shared" / "tools" / "originality.py"


def code_of(nb) -> str:
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")


def prose_of(nb) -> str:
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")


@pytest.fixture(params=CHAPTERS, ids=[c.stem for c in CHAPTERS])
def chapter(request):
    path: Path = request.param
    return path, jupytext.read(path), path.read_text(encoding="utf-8")


def test_there_are_chapters():
    assert CHAPTERS


def test_is_a_python3_myst_notebook(chapter):
    path, nb, text = chapter
    assert text.startswith("---\n")
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["jupytext"]["text_representation"]["format_name"] == "myst"


def test_opens_with_its_label_title_and_the_original_post(chapter):
    path, nb, text = chapter
    prose = prose_of(nb)
    assert re.search(rf"^\({re.escape(path.stem)}\)=\s*\n#\s+\S", prose, flags=re.M), "label + title"
    first_cite = re.search(r"\{cite(?::[a-z]+)?\}`([^`]+)`", prose)
    assert first_cite and re.fullmatch(r"weng\d{4}\w+", first_cite.group(1).split(",")[0].strip()), (
        "the first citation should be the original post"
    )


def test_ends_with_try_it_and_references(chapter):
    path, nb, text = chapter
    headings = re.findall(r"^##\s+(.+)$", prose_of(nb), flags=re.M)
    assert headings[-1].strip() == "References"
    assert headings[-2].strip().lower().startswith("try it")
    tail = text[text.rindex("## References"):]
    assert re.search(r"```\{bibliography\}\s*\n:filter: docname in docnames\s*\n:list: bullet\s*\n```", tail)


def test_figures_are_labelled_with_the_slug_and_referenced(chapter):
    path, nb, text = chapter
    names = []
    for cell in nb.cells:
        figure = cell.metadata.get("mystnb", {}).get("figure") if cell.cell_type == "code" else None
        if figure:
            assert figure.get("caption"), f"figure without caption in {path.name}"
            names.append(figure.get("name", ""))
    assert len(names) >= 4, "a chapter has at least four figures"
    for name in names:
        assert name.startswith(f"fig-{path.stem}-"), name
        assert f"{{numref}}`{name}`" in text, f"{name} is never referenced"


def test_has_a_widget(chapter):
    path, nb, text = chapter
    assert "ipywidgets" in code_of(nb)


def test_code_is_seeded_offline_and_installs_nothing(chapter):
    path, nb, text = chapter
    code = code_of(nb)
    assert not re.search(r"np\.random\.(?!default_rng\b)\w+\(", code), "use np.random.default_rng(seed)"
    assert not re.search(r"default_rng\(\s*\)", code), "seed every generator"
    assert not re.search(r"^\s*import random\b", code, flags=re.M)
    for forbidden in ("pip install", "urlopen", "requests.", "urllib.request", "wget ", "curl ", "../shared"):
        assert forbidden not in code, forbidden


def test_code_lines_fit_the_page(chapter):
    """Code cells are formatted to 88 columns (black -l 88): the page shows that much in full."""
    path, nb, text = chapter
    long_lines = [line for line in code_of(nb).splitlines() if len(line) > 88]
    assert long_lines == []


def test_prose_numbers_are_computed_with_a_chapter_prefix(chapter):
    """Numbers in the prose are `{eval}`num.x`` set by a cell (`num.x = ...`), never typed or glued."""
    path, nb, text = chapter
    prose = prose_of(nb)
    assert "{glue" not in prose, "quote numbers with {eval}`num.name`, which JupyterLab renders too"
    used = set(re.findall(r"\{eval\}`num\.(\w+)`", prose))
    assert len(re.findall(r"\{eval\}`", prose)) == len(re.findall(r"\{eval\}`num\.\w+`", prose))
    set_ = set(re.findall(r"^num\.(\w+)\s*=", code_of(nb), flags=re.M))
    assert used, "numbers in prose come from the cells"
    assert used <= set_, f"used in the prose but never set: {sorted(used - set_)}"
    prefixes = {name.split("_")[0] for name in set_}
    assert len(prefixes) == 1, f"one prefix per chapter, got {prefixes}"


def tags_of(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


HIDDEN = {"remove-cell", "remove-input", "hide-input"}


def test_plumbing_is_out_of_sight(chapter):
    """The convention of the README's "Adding a chapter": what a visible cell shows is the idea."""
    path, nb, text = chapter
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert "hide-input" in tags_of(code_cells[0]), "the import cell is collapsed (hide-input)"
    assert 'plt.style.use("lilbook.book")' in code_cells[0].source, "the book's one style"
    for cell in code_cells:
        visible = not (tags_of(cell) & HIDDEN)
        src = cell.source
        assert "rcParams" not in src, "figures take their style from lilbook/book.mplstyle"
        assert "getsource" not in src, "show a function with lilbook.display.show_source"
        assert "glue(" not in src, "quote numbers with num.name = ... and {eval}`num.name`"
        if re.search(r"^num\.\w+\s*=", src, flags=re.M):
            assert "remove-cell" in tags_of(cell), "cells that set prose numbers are removed"
            assert all(isinstance(stmt, ast.Assign) for stmt in ast.parse(src).body), (
                "a prose-number cell only sets numbers (and names used to format them)"
            )
        if "show_source(" in src and visible is False:
            continue
        if "show_source(" in src:
            raise AssertionError(f"a show_source cell is tagged remove-input: {src[:80]!r}")


def test_no_empty_code_cells(chapter):
    """JupyterLab never runs an empty cell, so Run All would leave it without a number."""
    path, nb, text = chapter
    assert all(c.source.strip() for c in nb.cells if c.cell_type == "code")


def test_is_written_as_jupytext_writes_it(chapter):
    """JupyterLab saves a chapter through jupytext: a file in another layout (a caption wrapped by
    hand, say) is rewritten on the first autosave, and the reader's clone shows a change they never
    made. So every chapter is exactly what jupytext writes for it."""
    path, nb, text = chapter
    assert jupytext.writes(nb, fmt="md:myst") == text, f"run jupytext --to md:myst on {path.name}"


def test_kernelspec_matches_the_kernel(chapter):
    """JupyterLab's kernel calls itself "Python 3 (ipykernel)"; the same name in the header keeps
    a chapter that was only opened from being marked as modified (and rewritten by autosave)."""
    path, nb, text = chapter
    assert nb.metadata["kernelspec"] == {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }


def test_links_to_other_chapters(chapter):
    path, nb, text = chapter
    others = [c.stem for c in CHAPTERS if c != path]
    linked = {o for o in others if re.search(rf"\{{(doc|ref)\}}`[^`]*{re.escape(o)}[^`]*`", text)}
    assert len(linked) >= min(2, len(others)), f"links to {sorted(linked)} of {others}"


@pytest.mark.skipif(not ORIGINALITY.exists(), reason="../shared is not beside this clone (CI has it)")
def test_chapters_pass_the_originality_check():
    proc = subprocess.run([sys.executable, str(ORIGINALITY), str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
