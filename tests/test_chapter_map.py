"""book/_ext/chapter_map.py: the map page is read again exactly when what the map shows changes."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import BOOK

sys.path.insert(0, str(BOOK / "_ext"))  # where Sphinx finds the book's extensions (page_store)
spec = importlib.util.spec_from_file_location("chapter_map", BOOK / "_ext" / "chapter_map.py")
chapter_map = importlib.util.module_from_spec(spec)
spec.loader.exec_module(chapter_map)

CHAPTER = """# {title}

Text about {{term}}`attention` {{cite:p}}`vaswani2017attention`.

```{{code-cell}} ipython3
x = 1
```
"""


def small_book(root: Path) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                   "- file: notebooks/one\n- file: notebooks/two\n- file: map\n")
    (root / "notebooks" / "one.md").write_text(CHAPTER.format(title="One"))
    (root / "notebooks" / "two.md").write_text(CHAPTER.format(title="Two"))
    (root / "glossary.md").write_text(textwrap.dedent("""\
        # Glossary

        ```{glossary}
        Attention
          Weights over positions.
        ```
        """))
    return root


def outdated(env, changed=()) -> list[str]:
    return chapter_map.outdated_maps(None, env, set(), set(changed), set())


def test_the_map_is_outdated_only_when_what_it_shows_changes(tmp_path):
    root = small_book(tmp_path)
    env = SimpleNamespace(srcdir=str(root), found_docs={"map", "intro", "notebooks/one", "notebooks/two"})
    env.__dict__[chapter_map.INPUTS] = {"map": chapter_map._current_digest(root)}
    assert outdated(env) == []

    one = root / "notebooks" / "one.md"
    # an edited code cell and a new sentence: the map shows the same
    one.write_text(CHAPTER.format(title="One").replace("x = 1", "x = 2  # edited") + "\nMore prose.\n")
    assert outdated(env) == []

    # a newly cited paper changes the map; a page Sphinx reads anyway is not listed twice
    one.write_text(CHAPTER.format(title="One") + "\nAnd {cite:p}`ho2020denoising`.\n")
    assert outdated(env) == ["map"]
    assert outdated(env, changed={"map"}) == []



def _retitle(root: Path) -> None:
    (root / "notebooks" / "one.md").write_text(CHAPTER.format(title="One, renamed"))


def _link(root: Path) -> None:
    (root / "notebooks" / "one.md").write_text(CHAPTER.format(title="One") + "\nSee {ref}`two`.\n")


def _respell(root: Path) -> None:
    glossary = root / "glossary.md"
    glossary.write_text(glossary.read_text().replace("Attention\n", "ATTENTION\n"))


def _reorder(root: Path) -> None:
    toc = root / "_toc.yml"
    toc.write_text(toc.read_text().replace("notebooks/one\n- file: notebooks/two",
                                           "notebooks/two\n- file: notebooks/one"))


@pytest.mark.parametrize("edit", [_retitle, _link, _respell, _reorder])
def test_titles_links_glossary_spellings_and_order_redraw_the_map(tmp_path, edit):
    root = small_book(tmp_path)
    env = SimpleNamespace(srcdir=str(root), found_docs={"map"})
    env.__dict__[chapter_map.INPUTS] = {"map": chapter_map._current_digest(root)}
    edit(root)
    assert outdated(env) == ["map"]


def test_a_page_without_a_recorded_map_is_left_to_sphinx(tmp_path):
    root = small_book(tmp_path)
    env = SimpleNamespace(srcdir=str(root), found_docs={"map"})
    assert outdated(env) == []
    env.__dict__[chapter_map.INPUTS] = {"gone": "0" * 64}  # a page no longer in the book
    assert outdated(env) == []
