"""Numbers in the prose that read the same in the book and in JupyterLab.

A chapter writes ``{eval}`num.name``` in its Markdown and sets ``num.name = f"{x:.2f}"`` in a cell
(``lilbook.display.num``). In JupyterLab, jupyterlab-myst evaluates that expression in the running
kernel. The book renders pages from the executed notebook in the cache, with no kernel to ask, so
this extension gives ``{eval}`` the meaning the book needs: paste the text that the cell glued under
the same name (``num`` glues every value it is given under ``"num.<name>"``).

The text is pasted exactly as the cell formatted it. An expression that no cell glued is a build
warning (an error in the strict build), as an unknown ``{glue:text}`` key is.
"""

from __future__ import annotations

from docutils import nodes
from myst_nb.core.variables import RetrievalError
from myst_nb.ext.glue.utils import glue_warning, retrieve_glue_data
from myst_nb.ext.utils import RoleBase
from sphinx.application import Sphinx


class PasteEvaluatedText(RoleBase):
    """``{eval}`expr```: the text/plain that the notebook glued under the key ``expr``."""

    def run(self) -> tuple[list[nodes.Node], list[nodes.system_message]]:
        key = self.text.strip()
        try:
            result = retrieve_glue_data(self.document, key)
        except RetrievalError as exc:
            message = f"{{eval}}`{key}`: {exc} (set it in a cell with lilbook.display.num)"
            return [], [glue_warning(message, self.document, self.line)]
        text = result.data.get("text/plain")
        if text is None:
            return [], [glue_warning(f"{{eval}}`{key}`: no text/plain was glued", self.document, self.line)]
        node = nodes.inline(text, text, classes=["pasted-text", "prose-number"])
        self.set_source_info(node)
        return [node], []


def _register(app: Sphinx) -> None:
    # myst-nb registers its own `eval` role (which needs execution_mode "inline"); ours replaces it
    # once every extension has been set up
    app.add_role("eval", PasteEvaluatedText(), override=True)


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _register)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
