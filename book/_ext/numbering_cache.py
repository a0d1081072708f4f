"""Figure, table and section numbers without unpickling every page more often than needed.

Three costs of Sphinx 7.4 that grow with the size of the pages, not with what changed:

- every build, even one that reads no page, renumbers the sections and figures by unpickling every
  page's doctree (``TocTreeCollector.assign_section_numbers`` / ``assign_figure_numbers``, about a
  quarter of a no-op build here). The numbers depend only on the pages, so when no page was read or
  removed in this build the numbers stored in the environment are kept;
- when pages were read, the figure numbers are computed again by unpickling every page (about a
  second here) although an edit rarely moves a figure. At ``doctree-read`` each page's *figure
  trace* is recorded: what ``assign_figure_numbers`` looks at, in its order (sections, toctree
  entries, numbered figures, tables and code blocks with their ids). When the traces of all pages,
  the section numbers and the ``numfig`` settings are those of the run that computed the stored
  numbers, the numbers of the pages read again (which Sphinx drops when it reads a page) are put
  back instead of computed; any difference computes them all as Sphinx does;
- the standard domain resolves each ``{numref}`` by unpickling the target page's whole doctree
  (``env.get_doctree``) once per reference: the book's hundred-odd figure and table references took
  about a third of the time spent writing the pages. The lookup only reads the target node (ids,
  type, number, caption), and the pickled doctrees do not change while pages are written, so each
  target page is unpickled once per build and shared by those lookups. Every other caller of
  ``get_doctree`` (the page being written, which post-transforms modify) still gets its own copy.
"""

from __future__ import annotations

import hashlib

import page_store
from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.domains.std import StandardDomain
from sphinx.environment.collectors.toctree import TocTreeCollector
from sphinx.util import logging

logger = logging.getLogger(__name__)

TRACES = "lilbook_figure_traces"  # environment attribute: docname -> hash of the page's figure trace
FIG_KEY = "lilbook_figure_key"  # environment attribute: the inputs of the stored figure numbers

_DOCTREES: dict[str, object] = {}
_PAGES_CHANGED = {"count": 0}  # pages read or removed by the build that is running
_DROPPED: dict[str, dict] = {}  # figure numbers of the pages Sphinx cleared in this build


class _SharedDoctrees:
    """The environment as the numref lookup sees it: ``get_doctree`` answered from _DOCTREES."""

    def __init__(self, env):
        self._env = env

    def get_doctree(self, docname: str):
        if docname not in _DOCTREES:
            _DOCTREES[docname] = self._env.get_doctree(docname)
        return _DOCTREES[docname]

    def __getattr__(self, name):
        return getattr(self._env, name)


def _wrap(cls, name: str, make) -> None:
    original = getattr(cls, name)
    if not getattr(original, "lilbook_wrapped", False):  # not wrapped yet (a second Sphinx app)
        wrapper = make(original)
        wrapper.lilbook_wrapped = True
        setattr(cls, name, wrapper)


def _numbers_if_pages_changed(original):
    def assign(self, env):
        return original(self, env) if _PAGES_CHANGED["count"] else []

    return assign


def _figure_type(env, node) -> str | None:
    """The figure type ``assign_figure_numbers`` gives the node (None: not numbered)."""
    for domain in env.domains.values():
        figtype = domain.get_enumerable_node_type(node)
        if domain.name == "std" and not domain.get_numfig_title(node):
            continue  # uncaptioned: not numbered
        if figtype:
            return figtype
    return None


def figure_trace(env, doctree) -> list[tuple]:
    """What ``TocTreeCollector.assign_figure_numbers`` reads of one page, in the order it walks it."""
    out: list[tuple] = []

    def walk(node) -> None:
        for sub in node.children:
            if isinstance(sub, nodes.section):
                out.append(("section", tuple(sub["ids"][:1])))
                walk(sub)
                out.append(("end",))
            elif isinstance(sub, addnodes.toctree):
                out.append(("toctree", tuple(ref for _title, ref in sub["entries"])))
            elif isinstance(sub, nodes.Element):
                figtype = _figure_type(env, sub)
                if figtype and sub["ids"]:
                    out.append((figtype, sub["ids"][0]))
                walk(sub)

    walk(doctree)
    return out


def _trace_digest(env, doctree) -> str:
    return hashlib.sha256(repr(figure_trace(env, doctree)).encode()).hexdigest()


def _record_trace(app, doctree) -> None:
    page_store.store(app.env, TRACES)[app.env.docname] = _trace_digest(app.env, doctree)


def _figure_inputs(env) -> str:
    """A digest of everything the figure numbers depend on."""
    traces = page_store.store(env, TRACES)
    for docname in env.all_docs:
        if docname not in traces:  # read by a build before this extension recorded traces
            traces[docname] = _trace_digest(env, env.get_doctree(docname))
    config = env.config
    payload = (
        sorted((d, traces[d]) for d in env.all_docs),
        sorted(env.toc_secnumbers.items()),
        config.numfig, config.numfig_secnum_depth, config.root_doc,
        sorted(env.domains["std"]._virtual_doc_names),
    )
    return hashlib.sha256(repr(payload).encode()).hexdigest()


def _keep_figure_numbers(original):
    def assign(self, env):
        if not _PAGES_CHANGED["count"]:
            return []
        key = _figure_inputs(env)
        if key == env.__dict__.get(FIG_KEY):
            for docname, numbers in _DROPPED.items():
                if numbers is not None:
                    env.toc_fignumbers[docname] = numbers
            logger.info("numbering_cache: the pages read leave every figure number as it was")
            return []
        result = original(self, env)
        env.__dict__[FIG_KEY] = key
        return result

    return assign


def _remember_dropped(_app, env, docname) -> None:
    """Keep a page's figure numbers before the toctree collector drops them (it runs after this)."""
    _DROPPED.setdefault(docname, env.toc_fignumbers.get(docname))


def _shared_doctrees(original):
    def resolve(self, env, *args, **kwargs):
        return original(self, _SharedDoctrees(env), *args, **kwargs)

    return resolve


def _start(_app) -> None:
    _PAGES_CHANGED["count"] = 0
    _DOCTREES.clear()
    _DROPPED.clear()


def _count_read(_app, _env, docnames) -> None:
    _PAGES_CHANGED["count"] += len(docnames)


def _count_removed(_app, _env, _docname) -> None:
    _PAGES_CHANGED["count"] += 1


def _clear(*_args) -> None:
    _DOCTREES.clear()


def setup(app: Sphinx) -> dict:
    _wrap(TocTreeCollector, "assign_section_numbers", _numbers_if_pages_changed)
    _wrap(TocTreeCollector, "assign_figure_numbers", _keep_figure_numbers)
    _wrap(StandardDomain, "_resolve_numref_xref", _shared_doctrees)
    app.connect("builder-inited", _start)
    # last, so the count is of the pages that will really be read
    app.connect("env-before-read-docs", _count_read, priority=900)
    app.connect("env-purge-doc", _count_removed)
    app.connect("env-purge-doc", _remember_dropped, priority=100)  # before TocTreeCollector.clear_doc
    page_store.keep_in_step(app, TRACES)
    # last: the doctree as it is pickled, after every other handler has changed it
    app.connect("doctree-read", _record_trace, priority=999)
    # the doctrees are final once every page is read; nothing is kept between builds
    app.connect("env-updated", _clear)
    app.connect("build-finished", _clear)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
