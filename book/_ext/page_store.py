"""A dict kept on the Sphinx environment with one entry per page, in step with the pages.

``cited_in``, ``chapter_map`` and ``numbering_cache`` each remember something per page between
builds. They keep it in an attribute of the environment (pickled with it): :func:`store` returns that
dict, and :func:`keep_in_step` drops a page's entry when Sphinx purges the page (removed, or about to
be read again) and brings entries over from the environment of a parallel reader.

Not an extension itself: the extensions beside it import it (``book/_ext`` is on the import path
while Sphinx loads them).
"""

from __future__ import annotations

from sphinx.application import Sphinx


def store(env, attr: str) -> dict:
    """The environment's per-page dict named ``attr`` (created empty the first time)."""
    return env.__dict__.setdefault(attr, {})


def keep_in_step(app: Sphinx, attr: str) -> None:
    """Drop a purged page's entry from ``attr``; merge a parallel reader's entries into it."""

    def purge(_app, env, docname: str) -> None:
        env.__dict__.get(attr, {}).pop(docname, None)

    def merge(_app, env, docnames, other) -> None:
        theirs = other.__dict__.get(attr, {})
        store(env, attr).update({d: theirs[d] for d in docnames if d in theirs})

    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
