"""book/_ext/numbering_cache.py: numbers stay right when pages change, and a no-op keeps them."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import jupyter_book, tiny_book


def table(name: str, caption: str) -> str:
    return f"""```{{list-table}} {caption}
:name: {name}

* - a
  - b
```
"""


KEPT = "numbering_cache: the pages read leave every figure number as it was"


def build(book) -> str:
    proc = subprocess.run([jupyter_book(), "build", "-W", str(book)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def numref_texts(book, page: str) -> list[str]:
    html = (book / "_build" / "html" / f"{page}.html").read_text(encoding="utf-8")
    return re.findall(r'<span class="std std-numref">([^<]+)</span>', html)


def test_numbers_follow_an_edit_and_survive_a_no_op(tmp_path):
    a = "# A\n\nSee {numref}`tab-a1`.\n\n" + table("tab-a1", "First of A")
    b = "# B\n\nSee {numref}`tab-b1`.\n\n" + table("tab-b1", "First of B")
    book = tiny_book(tmp_path, {"a": a, "b": b})
    build(book)
    before = numref_texts(book, "a") + numref_texts(book, "b")
    assert len(before) == 2 and before[0] != before[1]

    build(book)  # nothing changed: the stored numbers are kept
    assert numref_texts(book, "a") + numref_texts(book, "b") == before

    # new text, no new table: the page is read again and its numbers are put back, not computed
    (book / "b.md").write_text(b.replace("See", "Some new text.\n\nSee"))
    assert KEPT in build(book)
    assert numref_texts(book, "a") + numref_texts(book, "b") == before
    assert "Some new text." in (book / "_build" / "html" / "b.html").read_text(encoding="utf-8")

    # a table inserted before tab-b1 renumbers it: the numbers are computed again, not kept
    (book / "b.md").write_text(b.replace("See", table("tab-b0", "New first of B") + "\nSee"))
    assert KEPT not in build(book)
    after = numref_texts(book, "b")
    number = lambda text: int(re.findall(r"\d+", text)[-1])  # noqa: E731
    assert number(after[0]) == number(before[1]) + 1
    # (a page citing tab-b1 from elsewhere keeps its old text until it is itself rewritten: Sphinx
    # rewrites only the pages whose own numbers changed, with or without this extension)
