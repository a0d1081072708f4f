"""Author-year bibliography: labels that match the in-text citations, a/b suffixes, folded sorting.

sphinxcontrib-bibtex's ``author_year`` reference style cites "Kaplan et al. [2020]" in the text, but
the list of references is labelled by the formatting style's label plugin (``alpha`` gives
``[KMH+20]``), so a reader cannot match the two by eye. This extension registers, through pybtex's
plugin mechanism:

``pybtex.style.labels`` ``lilbook_author_year``
    labels such as "Kaplan et al., 2020", "Ho and Salimans, 2022", "Ho et al., 2022a";
``pybtex.style.sorting`` ``lilbook_folded``
    sorting by authors, year and title with LaTeX decoded and accents folded ("Çiçek" sorts as
    "cicek", among the C's);
``pybtex.style.formatting`` ``lilbook``
    pybtex's ``unsrt`` templates with the two plugins above, the year printed with its a/b suffix,
    and an author list that ends in ``and others`` printed as "et al." (never as "others");
``sphinxcontrib.bibtex.style.referencing`` ``lilbook_author_year``
    sphinxcontrib-bibtex's author-year citations with the same suffixed year and the same
    "et al." handling, so the text reads "Ho et al. [2022a]" and the list "[Ho et al., 2022a]".

Same-author-same-year works are told apart over the *whole* bibliography database, not per list:
before sphinxcontrib-bibtex formats its lists (``env-updated``, which it also uses), the suffixes are
computed once from every entry of the bib files. Works whose in-text author text and year coincide
get a, b, ... in the order of the sorting style. A chapter's filtered list, the global list and the
in-text citations therefore all show the same "2022a".

Use ``bibtex_default_style: lilbook`` and ``bibtex_reference_style: lilbook_author_year``.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import hashlib
import pickle
import string
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import latexcodec  # noqa: F401  (registers the ulatex codec)
from typing import Iterable

import pybtex.plugin
from pybtex.database import Entry
import sphinxcontrib.bibtex.plugin
from pybtex.richtext import Tag, Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle
from pybtex.style.template import join as pybtex_join
from pybtex.style.template import node, sentence, tag, field
from sphinxcontrib.bibtex.style.referencing import PersonStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle
from sphinxcontrib.bibtex.style.referencing.basic_author_year import (
    BasicAuthorYearParentheticalReferenceStyle,
    BasicAuthorYearTextualReferenceStyle,
)
from sphinxcontrib.bibtex.style.referencing.extra_author import ExtraAuthorReferenceStyle
from sphinxcontrib.bibtex.style.referencing.extra_empty import ExtraEmptyReferenceStyle
from sphinxcontrib.bibtex.style.referencing.extra_label import ExtraLabelReferenceStyle
from sphinxcontrib.bibtex.style.referencing.extra_year import ExtraYearReferenceStyle
from sphinxcontrib.bibtex.style.template import join, join2, post_text, pre_text, reference

ET_AL = "et al."
#: key -> "a", "b", ... for works whose author text and year coincide (filled by ``compute_suffixes``)
SUFFIXES: dict[str, str] = {}


# ---------------------------------------------------------------------------------------------------
# plain-text helpers shared by labels, sorting and suffixes


@functools.lru_cache(maxsize=None)
def plain(latex: str) -> str:
    """A LaTeX field value as plain Unicode text ({\\c{C}}i{\\c{c}}ek -> Çiçek).

    latexcodec (a pybtex dependency) decodes the accents; pybtex's ``Text.from_latex`` would do the
    same but is about a thousand times slower, and the sorting key needs it for every name.
    """
    return codecs.decode(latex, "ulatex").replace("{", "").replace("}", "")


def fold(text: str) -> str:
    """Text for sorting: accents removed, case folded (Çiçek -> cicek)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def is_others(person) -> bool:
    """The person BibTeX makes of ``and others`` (a truncated author list)."""
    return str(person).strip().lower() == "others"


def surname(person) -> str:
    return plain(" ".join(person.prelast_names + person.last_names))


def name_holders(entry):
    """The author list, else the editor list (as sphinxcontrib-bibtex's citations use them)."""
    for role in ("author", "editor"):
        if entry.persons.get(role):
            return entry.persons[role]
    return []


def author_text(entry) -> str:
    """The author part of an in-text citation: "Kaplan et al.", "Ho and Salimans", "Vaswani"."""
    persons = name_holders(entry)
    if not persons:
        return plain(entry.fields.get("title", ""))
    real = [p for p in persons if not is_others(p)]
    truncated = len(real) < len(persons)
    if len(real) >= 3 or (truncated and real):
        return f"{surname(real[0])} {ET_AL}"
    if len(real) == 2:
        return f"{surname(real[0])} and {surname(real[1])}"
    return surname(real[0])


def year_of(entry) -> str:
    return entry.fields.get("year", "n.d.")


def sort_key(entry):
    persons = name_holders(entry)
    names = "   ".join(
        fold("  ".join((plain(" ".join(p.prelast_names + p.last_names)),
                        plain(" ".join(p.first_names + p.middle_names)))))
        for p in persons if not is_others(p)
    )
    return (names, year_of(entry), fold(plain(entry.fields.get("title", ""))), entry.key)


def compute_suffixes(entries: Iterable) -> dict[str, str]:
    """a, b, ... for entries that share the in-text author text and year, in sorting order."""
    groups = defaultdict(list)
    for entry in entries:
        groups[(author_text(entry), year_of(entry))].append(entry)
    suffixes = {}
    for group in groups.values():
        if len(group) > 1:
            for letter, entry in zip(string.ascii_lowercase, sorted(group, key=sort_key)):
                suffixes[entry.key] = letter
    return suffixes


def suffixed_year(entry) -> str:
    return year_of(entry) + SUFFIXES.get(entry.key, "")


# ---------------------------------------------------------------------------------------------------
# pybtex plugins: sorting, labels, formatting


class FoldedSortingStyle(BaseSortingStyle):
    """Authors, year, title: LaTeX decoded, accents folded, case folded."""

    def sorting_key(self, entry):
        return sort_key(entry)


class AuthorYearLabelStyle(BaseLabelStyle):
    """ "Kaplan et al., 2020", with the database-wide a/b suffix."""

    def format_labels(self, sorted_entries):
        sorted_entries = list(sorted_entries)
        # suffixes for collisions inside this list that the database-wide table does not know about
        # (only when the style is used outside the Sphinx build)
        local = compute_suffixes(sorted_entries)
        for entry in sorted_entries:
            suffix = SUFFIXES.get(entry.key, "" if SUFFIXES else local.get(entry.key, ""))
            yield f"{author_text(entry)}, {year_of(entry)}{suffix}"


@node
def names_et_al(children, context, role, **kwargs):
    """pybtex's ``names`` with a trailing ``others`` printed as "et al."."""
    assert not children
    persons = context["entry"].persons.get(role)
    if not persons:
        from pybtex.style.template import FieldIsMissing

        raise FieldIsMissing(role, context["entry"])
    style = context["style"]
    real = [p for p in persons if not is_others(p)]
    formatted = [style.format_name(p, style.abbreviate_names) for p in real]
    if len(real) < len(persons):
        sep = ", " if len(real) > 1 else " "
        return pybtex_join(sep=sep)[formatted + [ET_AL]].format_data(context)
    return pybtex_join(**kwargs)[formatted].format_data(context)


class LilbookStyle(UnsrtStyle):
    """pybtex's unsrt entry templates, author-year labels, folded sorting, suffixed years."""

    default_label_style = "lilbook_author_year"
    default_sorting_style = "lilbook_folded"

    def format_names(self, role, as_sentence=True):
        formatted = names_et_al(role, sep=", ", sep2=" and ", last_sep=", and ")
        return sentence[formatted] if as_sentence else formatted

    def format_entry(self, label, entry, bib_data=None):
        """Formatted once per entry and label: the same entry recurs in the chapter lists, the global
        list and the tooltips, and the formatted form is kept from one build to the next (FORMATTED)."""
        style = (type(self).__name__, type(self.name_style).__name__, self.abbreviate_names)
        key = memo_key(style, label, entry, SUFFIXES.get(entry.key))
        FORMATTED.used.add(key)
        if key in FORMATTED.memo:
            return pickle.loads(FORMATTED.memo[key])  # a fresh copy: callers may change what they get
        result = self._format_entry(label, entry, bib_data)
        FORMATTED.memo[key] = pickle.dumps(result)
        return result

    def _format_entry(self, label, entry, bib_data=None):
        suffix = SUFFIXES.get(entry.key)
        if suffix and "year" in entry.fields:
            # a fresh entry: the parsed one is shared with the cited lists and the pickled environment
            fields = [(name, value + suffix if name.lower() == "year" else value)
                      for name, value in entry.fields.items()]
            original, entry = entry, Entry(entry.type, fields=fields, persons=entry.persons)
            entry.key = original.key
        return super().format_entry(label, entry, bib_data=bib_data)


class FormattedMemo:
    """Formatted entries (pickled) by everything their formatting reads, saved next to the doctrees.

    Formatting every entry with pybtex is most of what rebuilding the bibliographies costs (a chapter
    re-read makes sphinxcontrib-bibtex format all of them again); an entry whose fields, persons,
    label and suffix are unchanged is formatted the same way, as long as this file, pybtex and the
    bibtex settings are the same (``fingerprint``).
    """

    def __init__(self):
        self.memo: dict[str, bytes] = {}
        self.used: set[str] = set()
        self.loaded: set[str] = set()

    @staticmethod
    def fingerprint(app) -> str:
        from importlib.metadata import version

        settings = sorted((c.name, repr(c.value)) for c in app.config if c.name.startswith("bibtex_"))
        text = repr((Path(__file__).read_bytes(), version("pybtex"), version("sphinxcontrib-bibtex"), settings))
        return hashlib.sha256(text.encode()).hexdigest()

    def load(self, app) -> None:
        path = Path(app.doctreedir) / MEMO_FILE
        self.memo, self.used = {}, set()
        with contextlib.suppress(Exception):  # no file, or an unreadable one: format everything
            stored = pickle.loads(path.read_bytes())
            if stored["fingerprint"] == self.fingerprint(app):
                self.memo = stored["entries"]
        self.loaded = set(self.memo)

    def save(self, app, exception) -> None:
        if exception is not None or not self.used or self.used == self.loaded:
            return
        entries = {k: v for k, v in self.memo.items() if k in self.used}  # drop entries nobody formats
        path = Path(app.doctreedir) / MEMO_FILE
        path.write_bytes(pickle.dumps({"fingerprint": self.fingerprint(app), "entries": entries}))


MEMO_FILE = "lilbook-formatted-references.pickle"
FORMATTED = FormattedMemo()


def memo_key(style: tuple, label, entry, suffix) -> str:
    persons = tuple((role, tuple(str(p) for p in people)) for role, people in entry.persons.items())
    return repr((style, label, entry.key, entry.type, tuple(entry.fields.items()), persons, suffix))


# ---------------------------------------------------------------------------------------------------
# sphinxcontrib-bibtex reference style: the same author text and suffixed year in the prose


@node
def year_suffixed(children, data):
    assert not children
    return Text(suffixed_year(data["entry"]))


@node
def author_or_editor_or_title_et_al(children, data, other=None, **kwargs):
    """sphinxcontrib-bibtex's author/editor/title fallback, with ``others`` read as "et al."."""
    assert not children
    entry = data["entry"]
    persons = name_holders(entry)
    if not persons:
        return tag("em")[field("title")].format_data(data)
    person_style = data["style"].person
    real = [p for p in persons if not is_others(p)]
    formatted = [person_style.style_plugin.format(p, person_style.abbreviate) for p in real]
    if len(real) < len(persons):
        et_al = Text(" ", Tag("em", ET_AL))
        if other is not None:  # short form: first author et al.
            return join[formatted[0], et_al].format_data(data)
        return join[join(sep=", ")[formatted], et_al].format_data(data)
    return join(other=other, **kwargs)[formatted].format_data(data)


@dataclass
class EtAlPersonStyle(PersonStyle):
    def author_or_editor_or_title(self, full: bool):
        return author_or_editor_or_title_et_al(
            sep=self.sep, sep2=self.sep2, last_sep=self.last_sep,
            other=None if full else self.other,
        )


@dataclass
class ParentheticalStyle(BasicAuthorYearParentheticalReferenceStyle):
    def inner(self, role_name: str):
        return join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
            pre_text,
            reference[
                join(sep=self.author_year_sep)[
                    self.person.author_or_editor_or_title(full="s" in role_name),
                    year_suffixed,
                ]
            ],
            post_text,
        ]


@dataclass
class TextualStyle(BasicAuthorYearTextualReferenceStyle):
    def inner(self, role_name: str):
        return join(sep=self.text_reference_sep)[
            self.person.author_or_editor_or_title(full="s" in role_name),
            join[
                self.bracket.left,
                join2(sep1=self.pre_text_sep, sep2=self.post_text_sep)[
                    pre_text, reference[year_suffixed], post_text,
                ],
                self.bracket.right,
            ],
        ]


@dataclass
class YearStyle(ExtraYearReferenceStyle):
    def inner(self, role_name: str):
        return reference[year_suffixed]


@dataclass
class LilbookAuthorYearReferenceStyle(AuthorYearReferenceStyle):
    """sphinxcontrib-bibtex's ``author_year`` with suffixed years and honest "et al."."""

    def __post_init__(self):
        self.person = EtAlPersonStyle(
            style=self.person.style, abbreviate=self.person.abbreviate, sep=self.person.sep,
            sep2=self.person.sep2, last_sep=self.person.last_sep, other=self.person.other,
        )
        self.styles.extend([
            ParentheticalStyle(
                bracket=self.bracket_parenthetical, person=self.person,
                author_year_sep=self.author_year_sep, pre_text_sep=self.pre_text_sep,
                post_text_sep=self.post_text_sep,
            ),
            TextualStyle(
                bracket=self.bracket_textual, person=self.person,
                text_reference_sep=self.text_reference_sep, pre_text_sep=self.pre_text_sep,
                post_text_sep=self.post_text_sep,
            ),
            ExtraAuthorReferenceStyle(bracket=self.bracket_author, person=self.person),
            ExtraLabelReferenceStyle(bracket=self.bracket_label),
            YearStyle(bracket=self.bracket_year),
            ExtraEmptyReferenceStyle(),
        ])
        # skip AuthorYearReferenceStyle.__post_init__ (it would add the stock styles again)
        super(AuthorYearReferenceStyle, self).__post_init__()


# ---------------------------------------------------------------------------------------------------
# Sphinx glue


def _compute_suffixes(app, env):
    SUFFIXES.clear()
    SUFFIXES.update(compute_suffixes(env.get_domain("cite").bibdata.data.entries.values()))
    return []


def register_plugins() -> None:
    # force=True: registering again in the same process (a second Sphinx run) replaces, not fails
    pybtex.plugin.register_plugin("pybtex.style.labels", "lilbook_author_year",
                                  AuthorYearLabelStyle, force=True)
    pybtex.plugin.register_plugin("pybtex.style.sorting", "lilbook_folded", FoldedSortingStyle,
                                  force=True)
    pybtex.plugin.register_plugin("pybtex.style.formatting", "lilbook", LilbookStyle, force=True)
    sphinxcontrib.bibtex.plugin.register_plugin(
        "sphinxcontrib.bibtex.style.referencing", "lilbook_author_year",
        LilbookAuthorYearReferenceStyle, force=True,
    )


def setup(app):
    register_plugins()
    # before sphinxcontrib-bibtex's own env-updated handler (priority 500) formats the lists
    app.connect("env-updated", _compute_suffixes, priority=400)
    app.connect("builder-inited", FORMATTED.load)
    app.connect("build-finished", FORMATTED.save)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
