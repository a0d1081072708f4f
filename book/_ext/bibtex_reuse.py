"""Do not re-format the whole bibliography when no citation, bibliography or bib file changed.

sphinxcontrib-bibtex formats every entry of every ``{bibliography}`` directive with pybtex at each
build's ``env-updated`` event, even when no page was re-read: with one full bibliography and a filtered
one per chapter that is some 650 entries, formatted twice (once more for the tooltips), and it was
most of the time a no-op build took. The result (the domain's ``citations``) is stored in the pickled
environment anyway; this extension fingerprints everything ``BibtexDomain.env_updated`` reads (the
bibliography directives, the citation references, the documents' order, the bib files and their
modification times, the ``bibtex_*`` settings and the package versions) and skips the formatting when
the fingerprint equals the one of the run that produced the stored citations. A page that is read
again loses its formatted entries (``BibtexDomain.clear_doc``) and puts back the same directives and
references when its citations did not change (an edited code cell, say): the fingerprint then
matches, and the list of formatted entries as it was before the first page was cleared, which is
what that run computed for these very inputs, is put back. Any change, and any run whose formatting
logged a warning, computes everything again exactly as before.

It also remembers the pybtex plugins it has looked up (``_remember_plugins``).
"""

from __future__ import annotations

import ast
import hashlib
from importlib.metadata import version
from pathlib import PurePath

from docutils import nodes

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

STAMP = "bibtex_reuse_fingerprint"
COUNT = "bibtex_reuse_citations"
BEFORE = "_lilbook_citations_before_clear"  # a domain attribute, set by the first clear_doc of a build
# Where a directive or a reference sits in its page (``BibliographyValue.line``, ``CitationRef.line``)
# only locates the warnings env_updated may log, and a run that logged one leaves no fingerprint: a
# line added above a citation (a comment in a code cell, say) changes no formatted entry.
LOCATION_FIELDS = frozenset({"line"})


def canonical(obj):
    """A value built from str, numbers and tuples only, equal for equal inputs whichever process made them.

    (Pickle bytes are not enough: they depend on which equal strings are the same object, which
    differs between a freshly read environment and an unpickled one.)
    """
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, nodes.Node):
        return ("node", obj.pformat())
    if isinstance(obj, ast.AST):
        return ("ast", ast.dump(obj))
    if isinstance(obj, PurePath):
        return ("path", str(obj))
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        fields = [f for f in obj._fields if f not in LOCATION_FIELDS]
        return (type(obj).__name__, tuple(canonical(getattr(obj, f)) for f in fields))
    if isinstance(obj, dict):
        return ("dict", tuple((canonical(k), canonical(v)) for k, v in obj.items()))
    if isinstance(obj, (list, tuple)):
        return ("seq", tuple(canonical(item) for item in obj))
    if isinstance(obj, (set, frozenset)):
        return ("set", tuple(sorted(repr(canonical(item)) for item in obj)))
    raise TypeError(f"bibtex_reuse cannot fingerprint a {type(obj).__name__}")


def fingerprint(domain) -> str:
    from sphinxcontrib.bibtex.domain import get_docnames

    env = domain.env
    settings = sorted((item.name, repr(item.value)) for item in env.config if item.name.startswith("bibtex_"))
    bibfiles = {str(path): info.mtime for path, info in domain.bibdata.bibfiles.items()}
    # Re-reading a page moves its bibliographies and citation references to the end of the domain's
    # containers. bibtex uses the references per document, in document order (a stable sort by
    # document), so that order is all the fingerprint keeps; the bibliographies are taken in the order
    # of a full read (by document), which a cold build uses.
    payload = (
        sorted(domain.bibliographies.items()),
        sorted(domain.citation_refs, key=lambda ref: ref.docname),
        list(get_docnames(env)),
        bibfiles,
        domain.bibdata.encoding,
        settings,
        version("sphinxcontrib-bibtex"),
        version("pybtex"),
    )
    return hashlib.sha256(repr(canonical(payload)).encode()).hexdigest()


def _remember_plugins() -> None:
    """pybtex looks a plugin up through the installed packages' entry points on every call, and
    sphinxcontrib-bibtex asks for the same plain-text backend once per citation it resolves (some
    500 scans of every installed package's metadata while the pages are written); a plugin found
    once is the same class for the rest of the process."""
    import functools

    import pybtex.plugin

    if not hasattr(pybtex.plugin.find_plugin, "cache_info"):
        pybtex.plugin.find_plugin = functools.lru_cache(maxsize=None)(pybtex.plugin.find_plugin)


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinxcontrib.bibtex")
    _remember_plugins()
    from sphinxcontrib.bibtex.domain import BibtexDomain

    original = BibtexDomain.env_updated
    if getattr(original, "bibtex_reuse", False):  # already wrapped (a second Sphinx app)
        return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
    original_clear = BibtexDomain.clear_doc

    def clear_doc(self, docname):
        # clear_doc replaces the list rather than changing it: keep the one the environment brought
        self.__dict__.setdefault(BEFORE, self.data["citations"])
        return original_clear(self, docname)

    def env_updated(self):
        before = self.__dict__.pop(BEFORE, None)
        try:
            key = fingerprint(self)
        except Exception as exc:  # an unexpected type: never guess, format as usual
            logger.info(f"bibtex_reuse: no fingerprint ({exc!r}), formatting every entry")
            return original(self)
        if key == self.data.get(STAMP):
            count = self.data.get(COUNT)
            if self.citations and len(self.citations) == count:
                logger.info("bibtex_reuse: citations and bibliographies unchanged, formatted entries reused")
                return []
            # pages were read again with the same citations: their entries were dropped, put the
            # whole list back as the run that stored this fingerprint left it
            if before and len(before) == count:
                self.data["citations"] = before
                logger.info(
                    "bibtex_reuse: citations and bibliographies unchanged by the pages read again, "
                    "formatted entries reused"
                )
                return []
        app_ = self.env.app
        warnings_before = app_._warncount
        result = original(self)
        # a run that warned must warn again next time, so it leaves no fingerprint to match
        self.data[STAMP] = key if app_._warncount == warnings_before else None
        self.data[COUNT] = len(self.citations)
        return result

    env_updated.bibtex_reuse = True
    BibtexDomain.env_updated = env_updated
    BibtexDomain.clear_doc = clear_doc
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
