"""The built bibliography: who cites each work, labels a reader can match, nothing internal shown.

The "cited in" lists are checked against an independent scan of the ``{cite}`` roles in the sources
and against the citation links in the built chapters; labels against the in-text citations.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import bibtexparser
import pytest
from bs4 import BeautifulSoup
from docutils.nodes import make_id

from tests.conftest import BOOK, ROOT
from tests.test_bibliography import BIB, book_sources, cited_keys
from tests.test_book import chapter_files

ANCHOR_KEY = re.compile(r"^cited-in-(.+)$")


def fold(text: str) -> str:
    return "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).casefold()


def page_of(source: Path) -> str:
    """The HTML page built from a source file, relative to the site root."""
    rel = source.relative_to(ROOT / "notebooks") if source.is_relative_to(ROOT / "notebooks") else None
    return f"notebooks/{rel.with_suffix('.html')}" if rel else source.relative_to(BOOK).with_suffix(".html").as_posix()


@pytest.fixture(scope="module")
def library():
    return bibtexparser.parse_file(str(BIB))


@pytest.fixture(scope="module")
def citing_pages() -> dict[str, set[str]]:
    """key -> the pages whose sources cite it (scanned from the {cite} roles, not from the build)."""
    pages = defaultdict(set)
    for source in book_sources():
        for key in cited_keys(source.read_text(encoding="utf-8")):
            pages[key].add(page_of(source))
    return pages


@pytest.fixture(scope="module")
def soup_of(built_html):
    cache = {}

    def load(page: str) -> BeautifulSoup:
        if page not in cache:
            cache[page] = BeautifulSoup((built_html / page).read_text(encoding="utf-8"), "html.parser")
        return cache[page]

    return load


@pytest.fixture(scope="module")
def entries(soup_of, library):
    """The global bibliography's entries: [(citation id, key, label, entry element)] in page order."""
    by_anchor = {make_id(f"cited-in-{e.key}"): e.key for e in library.entries}
    found = []
    for div in soup_of("bibliography.html").select("div.citation"):
        cited_in = div.select_one("p.cited-in")
        key = by_anchor.get(cited_in["id"]) if cited_in is not None else None
        label = div.select_one("span.label").get_text().strip("[]")
        found.append((div["id"], key, label, div))
    return found


def entry_text(div) -> str:
    """An entry's text without its label and its cited-in paragraph."""
    return " ".join(p.get_text(" ") for p in div.find_all("p") if "cited-in" not in p.get("class", []))


def test_every_entry_says_who_cites_it(entries, citing_pages):
    assert len(entries) == len({key for _, key, _, _ in entries}) > 300
    wrong = {}
    for _, key, _, div in entries:
        assert key is not None, f"entry without a cited-in list: {div.get_text()[:120]}"
        linked = {urlsplit(a["href"]).path for a in div.select("p.cited-in a")}
        if linked != citing_pages.get(key, set()):
            wrong[key] = (sorted(linked), sorted(citing_pages.get(key, set())))
    assert wrong == {}


def test_cited_in_links_land_on_sections_that_cite_the_entry(entries, soup_of):
    bad = []
    for cid, key, _, div in entries:
        for a in div.select("p.cited-in a"):
            parts = urlsplit(a["href"])
            page = soup_of(parts.path)
            scope = page
            if parts.fragment:
                target = page.find(id=parts.fragment)
                if target is None:
                    bad.append(f"{key}: {a['href']} has no such anchor")
                    continue
                scope = target if target.name == "section" else target.find_parent("section")
            cites = scope.select(f'span.bibtex-citation a[href$="bibliography.html#{cid}"]')
            if not cites:
                bad.append(f"{key}: {a['href']} does not cite it")
    assert bad == []


def test_section_links_name_numbered_sections(entries):
    texts = [a.get_text() for _, _, _, div in entries for a in div.select("p.cited-in a")]
    sections = [t for t in texts if t.startswith("§")]
    assert sections and all(re.match(r"§ \d+(\.\d+)+ \S", t) for t in sections), sections[:5]
    chapters = [t for t in texts if not t.startswith("§")]
    assert all(re.match(r"\d+ \S", t) for t in chapters), chapters[:5]


def test_labels_are_author_year_and_match_the_citations_in_the_text(entries, soup_of):
    labels = {cid: label for cid, _, label, _ in entries}
    assert len(set(labels.values())) == len(labels), "two entries share a label"
    assert all(re.fullmatch(r".+, (\d{4}[a-z]?|n\.d\.)", label) for label in labels.values())
    mismatches = []
    for page in ["intro.html"] + [f"{c}.html" for c in chapter_files()]:
        for a in soup_of(page).select("span.bibtex-citation a[href*='bibliography.html#']"):
            cid, text = urlsplit(a["href"]).fragment, " ".join(a.get_text().split())
            # parenthetical citations link "Author, year"; textual ones link only the year
            if not (labels[cid] == text or labels[cid].endswith(", " + text)):
                mismatches.append((page, text, labels[cid]))
    assert mismatches == []


def test_same_author_same_year_works_get_a_and_b_everywhere(entries, soup_of):
    by_key = {key: label for _, key, label, _ in entries}
    assert by_key["ho2022imagen"] == "Ho et al., 2022a"
    assert by_key["ho2022video"] == "Ho et al., 2022b"
    assert by_key["ho2022classifier"] == "Ho and Salimans, 2022"
    chapter = soup_of("notebooks/video-diffusion.html")
    in_text = {" ".join(s.get_text().split()) for s in chapter.select("span.bibtex-citation")}
    assert {"[Ho et al., 2022a]", "[Ho et al., 2022b]", "Ho et al. [2022b]"} <= in_text
    listed = [li.get_text(" ") for li in chapter.select("section#references li")]
    assert any("Video diffusion models" in t and "2022b." in t for t in listed)
    assert any("Imagen video" in t and "2022a." in t for t in listed)
    # the year inside a list entry carries the same suffix as the label
    for _, _, label, div in entries:
        suffix = re.search(r"(\d{4}[a-z]?)$", label).group(1)
        assert suffix in entry_text(div), label


def test_no_maintainer_notes_are_rendered(entries, library):
    text = " ".join(entry_text(div) for _, _, _, div in entries)
    notes = {e.key: str(e.fields_dict["annote"].value) for e in library.entries if "annote" in e.fields_dict}
    assert len(notes) > 10
    shown = {key: note for key, note in notes.items() if " ".join(note.split())[:40] in text}
    assert shown == {}
    for phrase in ("unverified", "stored web and code corpora", "reproduced in the tests"):
        assert phrase not in text


def test_notes_for_maintainers_use_annote_not_note(library):
    assert [e.key for e in library.entries if "note" in e.fields_dict] == []


def test_no_author_list_renders_others(entries, soup_of):
    for _, key, _, div in entries:
        assert not re.search(r"\bothers\b", entry_text(div).split(". ")[0]), key
    for page in [f"{c}.html" for c in chapter_files()]:
        for span in soup_of(page).select("span.bibtex-citation"):
            assert "others" not in span.get_text(), (page, span.get_text())
    wang = next(div for _, key, _, div in entries if key == "wang2023all")
    assert entry_text(wang).startswith("Ding Wang et al.")


def test_accented_names_sort_with_their_letter(entries):
    labels = [label for _, _, label, _ in entries]
    i = next(i for i, label in enumerate(labels) if label.startswith("Çiçek"))
    assert fold(labels[i - 1])[0] == "c" and fold(labels[i + 1])[0] == "c", labels[i - 1: i + 2]
    firsts = [fold(label)[0] for label in labels if fold(label)[0].isalpha()]
    assert firsts == sorted(firsts)


def test_figures_are_numbered_per_chapter(soup_of):
    for number, chapter in enumerate(chapter_files(), start=1):
        page = soup_of(f"{chapter}.html")
        captions = [" ".join(s.get_text().split()) for s in page.select("figcaption span.caption-number")]
        assert captions, chapter
        expected = [f"Fig. {number}.{k}" for k in range(1, len(captions) + 1)]
        assert captions == expected, (chapter, captions[:3])
        for ref in page.select("a span.std-numref"):
            assert re.fullmatch(r"Fig\. \d+\.\d+", ref.get_text().strip()), (chapter, ref.get_text())


def test_style_helpers_fold_and_disambiguate():
    sys.path.insert(0, str(BOOK / "_ext"))
    try:
        import bib_style
    finally:
        sys.path.pop(0)
    from pybtex.database import parse_file

    assert bib_style.fold(bib_style.plain(r"{\c{C}}i{\c{c}}ek")) == "cicek"
    data = parse_file(str(BIB))
    suffixes = bib_style.compute_suffixes(data.entries.values())
    assert (suffixes["ho2022imagen"], suffixes["ho2022video"]) == ("a", "b")
    assert "ho2022classifier" not in suffixes
    groups = defaultdict(list)
    for entry in data.entries.values():
        groups[(bib_style.author_text(entry), entry.fields["year"])].append(entry.key)
    for keys in groups.values():
        assert sorted(suffixes.get(k, "") for k in keys) == (
            [""] if len(keys) == 1 else list("abcdefghijklmnopqrstuvwxyz"[: len(keys)])
        )


def test_intro_shows_each_chapters_run_time_from_this_build(soup_of):
    status = {}
    for row in soup_of("execution-status.html").select("tbody tr"):
        cells = [td.get_text(strip=True) for td in row.select("td")]
        status[cells[0]] = float(cells[3])
    rows = soup_of("intro.html").select("table")[0].select("tbody tr")
    shown = {}
    for row in rows:
        link = row.select_one("a[href]")
        chapter = urlsplit(link["href"]).path.removesuffix(".html")
        shown[chapter] = row.select("td")[-1].get_text(strip=True)
    assert set(shown) == set(chapter_files())
    for chapter, text in shown.items():
        # the status page rounds to 0.1 s, the intro to whole seconds from the unrounded value
        assert text.endswith(" s") and abs(float(text[:-2]) - status[chapter]) <= 0.55, (
            chapter, text, status[chapter])
