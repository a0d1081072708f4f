"""A ``{run-time}`` role: how long a chapter took to execute, as recorded by myst-nb in this build.

``{run-time}`\\`notebooks/scaling-laws\\``` becomes e.g. "12 s": the ``runtime`` myst-nb keeps in its
execution data for that document (the same number the ``nb-exec-table`` on the execution-status
page shows; for a chapter served from the cache, the time of the run that filled the cache). A
chapter with no execution data shows "–".

The page using the role is marked the way myst-nb marks pages with an ``nb-exec-table``, so
myst-nb's own ``env-updated`` hook rewrites it whenever a chapter is executed again.

The status column of myst-nb's ``nb-exec-table`` is written as words ("ok", "failed"): its emoji
marks render as empty boxes where a reader's system has no emoji font.
"""

from __future__ import annotations

from docutils import nodes
from myst_nb.ext.execution_tables import METADATA_KEY
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxRole


class run_time(nodes.Inline, nodes.TextElement):
    """Placeholder for a chapter's execution time."""


class RunTimeRole(SphinxRole):
    def run(self):
        NbMetadataCollector.set_doc_data(self.env, self.env.docname, METADATA_KEY, True)
        return [run_time(self.rawtext, docname=self.text.strip())], []


def seconds(env, docname: str) -> str:
    data = NbMetadataCollector.get_doc_data(env).get(docname, {}).get("exec_data") or {}
    runtime = data.get("runtime")
    return "–" if runtime is None else f"{runtime:.0f} s"


class RunTimeTransform(SphinxPostTransform):
    default_priority = 8

    def run(self, **kwargs) -> None:
        for node in list(self.document.findall(run_time)):
            node.replace_self(nodes.Text(seconds(self.env, node["docname"])))


STATUS_WORDS = {"\u2705": "ok", "\u274c": "failed"}  # myst-nb's marks for succeeded / failed


class StatusWordsTransform(SphinxPostTransform):
    default_priority = 9  # after myst-nb's ExecutionStatsPostTransform (8) has built the table

    def run(self, **kwargs) -> None:
        for table in self.document.findall(nodes.table):
            for text in list(table.findall(nodes.Text)):
                word = STATUS_WORDS.get(text.astext().strip())
                if word:
                    text.parent.replace(text, nodes.Text(word))


def setup(app):
    app.add_node(run_time)
    app.add_role("run-time", RunTimeRole())
    app.add_post_transform(RunTimeTransform)
    app.add_post_transform(StatusWordsTransform)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
