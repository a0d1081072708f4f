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

    # an edit that leaves the citations alone (it moves them two lines down): the entries the page lost
    # when it was read again come back
    (book / "a.md").write_text(pages["a"].replace("# A\n", "# A\n\nA new first paragraph.\n")
                               .replace("Attention.", "Attention, again."))
    log = build(book)
    assert "unchanged by the pages read again, formatted entries reused" in log
    assert len(reference_list(book, "a")) == 1, "the re-read page lost its reference list"
    assert len(reference_list(book, "b")) == 1
    assert "Attention, again." in (book / "_build" / "html" / "a.html").read_text(encoding="utf-8")
    assert references_html(book, "a") == fresh

    # a new citation on the page: everything is formatted again, and the page lists both papers
    (book / "a.md").write_text(
        pages["a"].replace("Attention.", "Attention, again. Denoising too {cite:p}`ho2020denoising`.")
    )
    log = build(book)
    assert "formatted entries reused" not in log
    assert len(reference_list(book, "a")) == 2
    assert len(reference_list(book, "b")) == 1
    html = (book / "_build" / "html" / "a.html").read_text(encoding="utf-8")
    assert "Attention is all you need" in html and "Denoising diffusion probabilistic models" in html
    assert references_html(book, "a") != fresh


def test_a_fresh_build_of_an_edited_page_formats_it_as_the_reused_entries(tmp_path):
    """The entries put back after a text edit are exactly what a build from scratch writes."""
    pages = {
        "a": PAGE.format(title="A", sentence="Attention.", key="vaswani2017attention"),
        "b": PAGE.format(title="B", sentence="Denoising.", key="ho2020denoising"),
    }
    (tmp_path / "kept").mkdir()
    (tmp_path / "scratch").mkdir()
    book = tiny_book(tmp_path / "kept", pages)
    build(book)
    (book / "a.md").write_text(pages["a"].replace("Attention.", "Attention, again."))
    assert "formatted entries reused" in build(book)
    edited = {**pages, "a": pages["a"].replace("Attention.", "Attention, again.")}
    scratch = tiny_book(tmp_path / "scratch", edited)
    build(scratch)
    for page in ("a", "b"):
        assert references_html(book, page) == references_html(scratch, page)
