"""The built book reads as one knowledge base and shows the reader code, not plumbing.

Measured on the HTML of the strict build: what visible code cells contain, the glossary, the
general index, the chapter map, and the links between chapters (to sections, not only tops).
"""

from __future__ import annotations

import html
import re
from itertools import combinations

import pytest

from tests.conftest import ROOT
from tests.test_book import chapter_files

CELL = re.compile(
    r'<div class="cell( [^"]*)?docutils container">(.*?)'
    r'(?=<div class="cell( [^"]*)?docutils container">|<section|</section>|\Z)',
    re.S,
)


def visible_code(page: str) -> list[str]:
    """The source of each code cell a reader sees without opening anything."""
    cells = []
    for m in CELL.finditer(page):
        classes, body = m.group(1) or "", m.group(2)
        if "tag_hide-input" in classes:
            continue
        pre = re.search(r'<div class="cell_input[^>]*>.*?<pre>(.*?)</pre>', body, re.S)
        if pre:
            cells.append(html.unescape(re.sub(r"<[^>]+>", "", pre.group(1))))
    return cells


@pytest.mark.parametrize("chapter", chapter_files())
def test_visible_code_cells_hold_no_plumbing(built_html, chapter):
    cells = visible_code((built_html / f"{chapter}.html").read_text(encoding="utf-8"))
    assert cells, "the chapter shows some code"
    for src in cells:
        for plumbing in ("glue(", "getsource", "rcParams", "show_source(", "num."):
            assert plumbing not in src, f"{plumbing!r} in a visible cell: {src[:120]!r}"


@pytest.mark.parametrize("chapter", chapter_files())
def test_prose_numbers_are_pasted_not_left_as_roles(built_html, chapter):
    page = (built_html / f"{chapter}.html").read_text(encoding="utf-8")
    assert "{eval}" not in page and "{glue" not in page
    assert len(re.findall(r'class="pasted-text prose-number"', page)) >= 10


def test_glossary_defines_at_least_60_terms(built_html):
    page = (built_html / "glossary.html").read_text(encoding="utf-8")
    terms = re.findall(r'<dt id="term-[^"]*"', page)
    assert len(terms) >= 60, len(terms)


@pytest.mark.parametrize("chapter", chapter_files())
def test_each_chapter_links_at_least_8_glossary_terms(built_html, chapter):
    page = (built_html / f"{chapter}.html").read_text(encoding="utf-8")
    targets = set(re.findall(r'href="\.\./glossary\.html#(term-[^"]+)"', page))
    assert len(targets) >= 8, sorted(targets)


def test_general_index_has_at_least_150_entries(built_html):
    page = (built_html / "genindex.html").read_text(encoding="utf-8")
    entries = re.findall(r"<li>(?:<a href=|[^<]*<ul>)", page)
    assert len(entries) >= 150, len(entries)


def test_chapters_are_linked_pairwise_and_to_sections(built_html):
    """>= 40 of the 55 chapter pairs linked in the text; >= 40 links land on a section."""
    slugs = [c.split("/")[-1] for c in chapter_files()]
    linked, section_links = set(), 0
    for slug in slugs:
        page = (built_html / "notebooks" / f"{slug}.html").read_text(encoding="utf-8")
        article = page[page.index("<article"):page.index("</article>")]
        for other in slugs:
            if other == slug:
                continue
            hrefs = re.findall(rf'href="(?:\./)?{re.escape(other)}\.html(#[^"]*)?"', article)
            if hrefs:
                linked.add(frozenset((slug, other)))
            section_links += sum(1 for anchor in hrefs if anchor and anchor != f"#{other}")
    assert len(linked) >= 40, f"{len(linked)} of {len(list(combinations(slugs, 2)))} pairs linked"
    assert section_links >= 40, section_links


def test_map_page_draws_the_chapters_and_tables(built_html):
    page = (built_html / "map.html").read_text(encoding="utf-8")
    assert '<figure class="chapter-map"><svg' in page
    assert page.count("<tr") >= 20  # shared terms, shared papers, per-chapter connections
    assert "pairs of chapters" in page


def test_every_chapter_heading_has_a_label():
    for path in sorted((ROOT / "notebooks").glob("*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        in_code = False
        for i, line in enumerate(lines):
            if line.startswith("```"):
                in_code = not in_code
            if re.match(r"^#{2,3} ", line) and not in_code and line.strip() != "## References":
                prev = next(l for l in reversed(lines[:i]) if l.strip())
                assert re.match(r"^\([\w-]+\)=$", prev), f"{path.name}:{i + 1} {line}"
