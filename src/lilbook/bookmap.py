"""How the chapters connect: shared glossary terms, shared citations and cross-chapter links.

The book's map page (``book/map.md``, through ``book/_ext/chapter_map.py``) is computed from the
chapters' MyST sources at build time with these functions:

- :func:`scan_chapter` reads what one chapter uses: glossary terms (``{term}``), citation keys
  (``{cite:...}``), the labels it defines (``(label)=``) and the labels it links to (``{ref}``,
  ``{numref}``);
- :func:`connections` turns the scans into one record per pair of chapters;
- :func:`most_shared` ranks the terms or papers used by the most chapters;
- :func:`draw_map` draws the chapters on a circle, joined by what they share.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import combinations

__all__ = ["ChapterScan", "Connection", "connections", "draw_map", "most_shared", "scan_chapter"]

_TERM = re.compile(r"\{term\}`([^`]*)`")
_CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]*)`")
_REF = re.compile(r"\{(?:ref|numref)\}`([^`]*)`")
_LABEL = re.compile(r"^\(([\w-]+)\)=\s*$", re.M)


def _target(text: str) -> str:
    """The target of a role's text: ``shown <target>`` or just ``target``."""
    m = re.search(r"<([^<>]+)>\s*$", text)
    return (m.group(1) if m else text).strip()


@dataclass(frozen=True)
class ChapterScan:
    """What one chapter uses and defines."""

    terms: frozenset[str]  # glossary terms, lower case
    cites: frozenset[str]  # citation keys
    labels: frozenset[str]  # labels defined here
    refs: frozenset[str]  # labels linked to (any chapter)


def scan_chapter(text: str) -> ChapterScan:
    """Scan one chapter's MyST source (a string)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be the chapter's source as a string; got {type(text).__name__}")
    cites = {key.strip() for group in _CITE.findall(text) for key in group.split(",") if key.strip()}
    return ChapterScan(
        terms=frozenset(_target(t).lower() for t in _TERM.findall(text)),
        cites=frozenset(cites),
        labels=frozenset(_LABEL.findall(text)),
        refs=frozenset(_target(r) for r in _REF.findall(text)),
    )


@dataclass
class Connection:
    """What two chapters share, and how often their text links one to the other."""

    terms: set[str] = field(default_factory=set)
    cites: set[str] = field(default_factory=set)
    links: int = 0  # links between the two, both directions
    section_links: int = 0  # of which to a section rather than to the chapter's top

    @property
    def strength(self) -> int:
        return len(self.terms) + len(self.cites) + self.links


def connections(scans: Mapping[str, ChapterScan]) -> dict[tuple[str, str], Connection]:
    """One :class:`Connection` per unordered pair of chapters (keys sorted), for every pair.

    A link counts for a pair when one chapter links to a label the other defines; it is a section
    link unless the label is the other chapter's own name (its top).
    """
    if not isinstance(scans, Mapping) or not all(isinstance(s, ChapterScan) for s in scans.values()):
        raise TypeError("scans must map chapter names to ChapterScan objects")
    owner = {label: slug for slug, scan in scans.items() for label in scan.labels}
    result = {}
    for a, b in combinations(sorted(scans), 2):
        conn = Connection(terms=set(scans[a].terms & scans[b].terms), cites=set(scans[a].cites & scans[b].cites))
        for src, dst in ((a, b), (b, a)):
            for label in scans[src].refs:
                if owner.get(label) == dst:
                    conn.links += 1
                    conn.section_links += label != dst
        result[(a, b)] = conn
    return result


def most_shared(scans: Mapping[str, ChapterScan], kind: str, top: int = 15) -> list[tuple[str, list[str]]]:
    """The ``top`` terms (``kind="terms"``) or citation keys (``kind="cites"``) used by the most
    chapters, each with the sorted list of chapters using it; ties in alphabetical order. Only
    items used by at least two chapters are listed."""
    if kind not in ("terms", "cites"):
        raise ValueError(f"kind must be 'terms' or 'cites'; got {kind!r}")
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ValueError(f"top must be a positive integer; got {top!r}")
    users: dict[str, list[str]] = {}
    for slug in sorted(scans):
        for item in getattr(scans[slug], kind):
            users.setdefault(item, []).append(slug)
    shared = [(item, chapters) for item, chapters in users.items() if len(chapters) >= 2]
    shared.sort(key=lambda pair: (-len(pair[1]), pair[0]))
    return shared[:top]


def draw_map(conns: Mapping[tuple[str, str], Connection], names: Mapping[str, str], ax) -> None:
    """Draw the chapters on a circle (in the order of ``names``: slug → short name), each pair
    joined by a line as wide as what the two share; solid where the text links them, dotted where
    they only share terms or papers."""
    slugs = list(names)
    if len(slugs) < 2:
        raise ValueError("names must list at least two chapters")
    angle = {s: math.pi / 2 - 2 * math.pi * i / len(slugs) for i, s in enumerate(slugs)}
    pos = {s: (math.cos(a), math.sin(a)) for s, a in angle.items()}
    widest = max((c.strength for c in conns.values()), default=1) or 1
    for (a, b), conn in sorted(conns.items(), key=lambda kv: kv[1].strength):
        if conn.strength == 0 or a not in pos or b not in pos:
            continue
        (x1, y1), (x2, y2) = pos[a], pos[b]
        ax.plot([x1, x2], [y1, y2], color="tab:blue" if conn.links else "0.6",
                linestyle="-" if conn.links else ":", linewidth=0.5 + 5 * conn.strength / widest,
                alpha=0.35 + 0.5 * conn.strength / widest, zorder=1)
    for s, (x, y) in pos.items():
        ax.scatter([x], [y], s=120, color="tab:orange", zorder=2)
        ha = "left" if x > 0.2 else "right" if x < -0.2 else "center"
        ax.annotate(names[s], (x, y), xytext=(1.1 * x, 1.1 * y + (0.06 if abs(x) <= 0.2 else 0)),
                    ha=ha, va="center", fontsize=9, zorder=3)
    ax.set_xlim(-1.75, 1.75)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
