"""Figure, table and section numbers without unpickling every page more often than needed.

Two costs of Sphinx 7.4 that grow with the size of the pages, not with what changed:

- every build, even one that reads no page, renumbers the sections and figures by unpickling every
  page's doctree (``TocTreeCollector.assign_section_numbers`` / ``assign_figure_numbers``, about a
  quarter of a no-op build here). The numbers depend only on the pages, so when no page was read or
  removed in this build the numbers stored in the environment are kept;
- the standard domain resolves each ``{numref}`` by unpickling the target page's whole doctree
  (``env.get_doctree``) once per reference: the book's hundred-odd figure and table references took
  about a third of the time spent writing the pages. The lookup only reads the target node (ids,
  type, number, caption), and the pickled doctrees do not change while pages are written, so each
  target page is unpickled once per build and shared by those lookups. Every other caller of
  ``get_doctree`` (the page being written, which post-transforms modify) still gets its own copy.
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.domains.std import StandardDomain
from sphinx.environment.collectors.toctree import TocTreeCollector

_DOCTREES: dict[str, object] = {}
_PAGES_CHANGED = {"count": 0}  # pages read or removed by the build that is running


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


def _shared_doctrees(original):
    def resolve(self, env, *args, **kwargs):
        return original(self, _SharedDoctrees(env), *args, **kwargs)

    return resolve


def _start(_app) -> None:
    _PAGES_CHANGED["count"] = 0
    _DOCTREES.clear()


def _count_read(_app, _env, docnames) -> None:
    _PAGES_CHANGED["count"] += len(docnames)


def _count_removed(_app, _env, _docname) -> None:
    _PAGES_CHANGED["count"] += 1


def _clear(*_args) -> None:
    _DOCTREES.clear()


def setup(app: Sphinx) -> dict:
    _wrap(TocTreeCollector, "assign_section_numbers", _numbers_if_pages_changed)
    _wrap(TocTreeCollector, "assign_figure_numbers", _numbers_if_pages_changed)
    _wrap(StandardDomain, "_resolve_numref_xref", _shared_doctrees)
    app.connect("builder-inited", _start)
    # last, so the count is of the pages that will really be read
    app.connect("env-before-read-docs", _count_read, priority=900)
    app.connect("env-purge-doc", _count_removed)
    # the doctrees are final once every page is read; nothing is kept between builds
    app.connect("env-updated", _clear)
    app.connect("build-finished", _clear)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
