"""The ``{chapter-map}`` directive: how the chapters connect, computed from their sources.

The directive reads the chapters' MyST sources (``notebooks/*.md``), scans their glossary terms,
citations and cross-links with :mod:`lilbook.bookmap`, and renders a figure (inline SVG) and
tables of the most-shared terms and papers. The page is read again whenever what the map is drawn
from changes: each build scans the chapters and the glossary (some 20 ms) and compares a digest of
the scans (titles, terms, citations, labels and links, in the table of contents' order) with the one
the page was last drawn from (``env-get-outdated``). An edit that changes none of these (a code
cell, a sentence) leaves the map alone; any that does redraws it, so the map is never stale.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

import page_store
from lilbook import bookmap


def _chapters(srcdir: Path) -> dict[str, tuple[str, str]]:
    """slug -> (title, source) for the chapters in the table of contents' order."""
    toc = (srcdir / "_toc.yml").read_text(encoding="utf-8")
    slugs = re.findall(r"file:\s*notebooks/([\w-]+)", toc)
    out = {}
    for slug in slugs:
        text = (srcdir / "notebooks" / f"{slug}.md").read_text(encoding="utf-8")
        title = re.search(r"^# (.+)$", text, flags=re.M).group(1).strip()
        out[slug] = (title, text)
    return out


def _glossary_terms(srcdir: Path) -> dict[str, str]:
    """lower-case term -> the term as the glossary spells it."""
    text = (srcdir / "glossary.md").read_text(encoding="utf-8")
    body = text[text.index("```{glossary}"):]
    terms = [ln.strip() for ln in body.splitlines()[1:]
             if ln.strip() and not ln.startswith((" ", ":", "`"))]
    return {t.lower(): t for t in terms}


INPUTS = "lilbook_chapter_map_inputs"  # environment attribute: page -> digest of what its map shows


def inputs_digest(chapters: dict[str, tuple[str, str]], scans: dict, glossary: dict[str, str]) -> str:
    """A digest of everything the map is drawn from (the same for the same scans, in any process)."""
    payload = (
        [(slug, title, *(sorted(getattr(scans[slug], f)) for f in ("terms", "cites", "labels", "refs")))
         for slug, (title, _) in chapters.items()],
        sorted(glossary.items()),
    )
    return hashlib.sha256(repr(payload).encode()).hexdigest()


def _current_digest(srcdir: Path) -> str:
    chapters = _chapters(srcdir)
    scans = {slug: bookmap.scan_chapter(text) for slug, (_, text) in chapters.items()}
    return inputs_digest(chapters, scans, _glossary_terms(srcdir))


def outdated_maps(app: Sphinx, env, added, changed, removed) -> list[str]:
    """Pages with a chapter map whose chapters changed what the map shows."""
    pages = page_store.store(env, INPUTS)
    candidates = [d for d in pages if d in env.found_docs and d not in added and d not in changed]
    if not candidates:
        return []
    digest = _current_digest(Path(env.srcdir))
    return [d for d in candidates if pages[d] != digest]


SHORT = {
    "scaling-laws": "Scaling laws", "transformer-family": "Transformer family",
    "inference-optimization": "Inference opt.", "why-we-think": "Why we think",
    "prompt-engineering": "Prompt eng.", "agents": "Agents", "reward-hacking": "Reward hacking",
    "hallucination": "Hallucination", "adversarial-attacks": "Adversarial attacks",
    "human-data": "Human data", "video-diffusion": "Video diffusion",
}


class ChapterMap(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        srcdir = Path(self.env.srcdir)
        chapters = _chapters(srcdir)
        for code in (bookmap.__file__, __file__):  # the map's own code: a change redraws it
            self.env.note_dependency(str(Path(code).resolve()))
        scans = {slug: bookmap.scan_chapter(text) for slug, (_, text) in chapters.items()}
        canonical = _glossary_terms(srcdir)
        # the chapters and the glossary: compared by content at each build (outdated_maps)
        page_store.store(self.env, INPUTS)[self.env.docname] = inputs_digest(chapters, scans, canonical)
        conns = bookmap.connections(scans)
        n_pairs = len(conns)
        linked = sum(1 for c in conns.values() if c.links)
        section_links = sum(c.section_links for c in conns.values())
        links = sum(c.links for c in conns.values())
        sharing = sum(1 for c in conns.values() if c.terms or c.cites)

        with plt.style.context("lilbook.book"):
            fig, ax = plt.subplots(figsize=(7.5, 6.2))
            bookmap.draw_map(conns, {s: SHORT.get(s, s) for s in chapters}, ax)
            buf = io.StringIO()
            fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
            plt.close(fig)
        svg = buf.getvalue()
        svg = svg[svg.index("<svg"):]  # drop the XML prologue for inline use
        figure = nodes.raw(
            "", f'<figure class="chapter-map">{svg}<figcaption>The eleven chapters on a circle. A '
            "line joins two chapters that share glossary terms or cited papers, wider the more they "
            "share; solid blue where the text of one links to the other, dotted grey where they "
            "only share terms or papers. Computed from the chapters' sources at build time."
            "</figcaption></figure>", format="html",
        )

        lines = [
            f"Of the {n_pairs} pairs of chapters, {linked} are linked in the text ({links} links, "
            f"{section_links} of them to a section rather than to a chapter's top), and {sharing} "
            "share at least one glossary term or cited paper.",
            "",
            "## The concepts most chapters share",
            "",
            "| term | used in |",
            "|---|---|",
        ]
        for term, users in bookmap.most_shared(scans, "terms", top=20):
            where = ", ".join(f"{{doc}}`{SHORT.get(u, u)} <notebooks/{u}>`" for u in users)
            lines.append(f"| {{term}}`{canonical.get(term, term)}` | {where} |")
        lines += ["", "## The papers most chapters cite", "", "| paper | cited in |", "|---|---|"]
        for key, users in bookmap.most_shared(scans, "cites", top=15):
            where = ", ".join(f"{{doc}}`{SHORT.get(u, u)} <notebooks/{u}>`" for u in users)
            lines.append(f"| {{cite:t}}`{key}` | {where} |")
        lines += ["", "## Each chapter's connections", "",
                  "| chapter | links to (section links) | shares terms or papers with |", "|---|---|---|"]
        for slug in chapters:
            out_links, shares = [], 0
            for (a, b), conn in conns.items():
                if slug not in (a, b):
                    continue
                other = b if a == slug else a
                own = sum(1 for label in scans[slug].refs if label in scans[other].labels)
                own_sec = sum(1 for label in scans[slug].refs if label in scans[other].labels and label != other)
                if own:
                    out_links.append(f"{SHORT.get(other, other)} {own} ({own_sec})")
                shares += bool(conn.terms or conn.cites)
            lines.append(f"| {{doc}}`{SHORT.get(slug, slug)} <notebooks/{slug}>` | "
                         f"{'; '.join(out_links) or '–'} | {shares} of {len(chapters) - 1} |")
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=self.env.docname), self.content_offset, container)
        return [figure, *container.children]


def setup(app: Sphinx) -> dict:
    app.add_directive("chapter-map", ChapterMap)
    app.connect("env-get-outdated", outdated_maps)
    page_store.keep_in_step(app, INPUTS)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
