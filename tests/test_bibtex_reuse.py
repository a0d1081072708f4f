"""book/_ext/bibtex_reuse.py and bib_style.py's memo: a no-op build reuses the formatted references, an
edited page keeps its own, formatted exactly as by a build from scratch."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import jupyter_book, tiny_book

PAGE = """# {title}

{sentence} {{cite:p}}`{key}`.

## References

```{{bibliography}}
:filter: docname in docnames
```
"""


def build(book) -> str:
    proc = subprocess.run([jupyter_book(), "build", str(book)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def references_html(book, page: str) -> str:
    html = (book / "_build" / "html" / f"{page}.html").read_text(encoding="utf-8")
    return html[html.index('<section id="references">') :].split("</section>")[0]


def reference_list(book, page: str) -> list[str]:
    """The entries of the page's own reference list (not the tooltips of its citations)."""
    html = (book / "_build" / "html" / f"{page}.html").read_text(encoding="utf-8")
    section = html[html.index('<section id="references">') :]
    return re.findall(r'<div class="citation" id="[^"]+" role="doc-biblioentry">', section) or re.findall(
        r"<li id=\"id\d+\"><p>", section
    )


def test_no_op_reuses_and_an_edited_page_keeps_its_references(tmp_path):
    pages = {
        "a": PAGE.format(title="A", sentence="Attention.", key="vaswani2017attention"),
        "b": PAGE.format(title="B", sentence="Denoising.", key="ho2020denoising"),
    }
    book = tiny_book(tmp_path, pages)
    build(book)
    assert len(reference_list(book, "a")) == 1 and len(reference_list(book, "b")) == 1
    fresh = references_html(book, "a")
    assert (book / "_build" / ".doctrees" / "lilbook-formatted-references.pickle").is_file()

    assert "formatted entries reused" in build(book)  # nothing changed

    (book / "a.md").write_text(pages["a"].replace("Attention.", "Attention, again."))
    log = build(book)
    assert "formatted entries reused" not in log
    assert len(reference_list(book, "a")) == 1, "the re-read page lost its reference list"
    assert len(reference_list(book, "b")) == 1
    assert "Attention is all you need" in (book / "_build" / "html" / "a.html").read_text(encoding="utf-8")
    assert references_html(book, "a") == fresh  # the remembered formatting is the fresh one
