"""Two executions of the same chapter give byte-identical outputs: text, HTML and PNG figures.

The chapter is executed twice, at the same time, the way the book build executes it
(book/_ext/parallel_execute.py's worker: jupyter-cache's single_nb_execution with the book's timeout,
in the notebook's folder). The only thing allowed to differ is the identity of ipywidgets models
(random UUIDs chosen by the kernel), which is replaced by the order in which the ids first appear.
"""

from __future__ import annotations

import json
import re
import sys
from concurrent.futures import ProcessPoolExecutor

import nbformat
import pytest
from myst_nb.core.read import read_myst_markdown_notebook
from myst_parser.config.main import MdParserConfig

from tests.conftest import BOOK, ROOT

# importable by name, so that worker processes can find parallel_execute.execute_one
sys.path.insert(0, str(BOOK / "_ext"))
import parallel_execute  # noqa: E402

MODEL_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


def executed(path) -> list[str]:
    notebook = read_myst_markdown_notebook(path.read_text(encoding="utf-8"), config=MdParserConfig())
    payload = nbformat.writes(notebook)
    with ProcessPoolExecutor(2) as pool:
        runs = [pool.submit(parallel_execute.execute_one, payload, str(path.parent), 120, False) for _ in range(2)]
        results = [run.result() for run in runs]
    for result in results:
        assert result["error"] is None, result
    return [result["nb"] for result in results]


def ids_in(value) -> list[str]:
    """Widget model ids mentioned in a JSON value, in a fixed order (dict keys sorted)."""
    return MODEL_ID.findall(json.dumps(value, sort_keys=True))


def normalised_outputs(nb_json: str) -> str:
    """Outputs and widget state, with each widget model id replaced by a name that depends only on
    where the model sits: first the models the outputs display, in document order, then the models
    those refer to, breadth first; models nothing refers to last, ordered by their content."""
    notebook = nbformat.reads(nb_json, as_version=4)
    outputs = [cell.get("outputs", []) for cell in notebook.cells if cell.cell_type == "code"]
    widgets = notebook.metadata.get("widgets", {})
    state = widgets.get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    names: dict[str, str] = {}
    queue = MODEL_ID.findall(json.dumps(outputs))  # document order
    while queue:
        model = queue.pop(0)
        if model not in names:
            names[model] = f"model-{len(names)}"
            queue.extend(ids_in(state.get(model, {})))
    for model in sorted(set(state) - set(names), key=lambda m: MODEL_ID.sub("?", json.dumps(state[m], sort_keys=True))):
        names[model] = f"model-{len(names)}"
    kept = {
        "outputs": outputs,
        "counts": [cell.get("execution_count") for cell in notebook.cells if cell.cell_type == "code"],
        "widgets": widgets,
    }
    text = MODEL_ID.sub(lambda m: names.get(m.group(0), "unknown-model"), json.dumps(kept))
    return json.dumps(json.loads(text), sort_keys=True)


@pytest.mark.parametrize("chapter", ["hallucination"])
def test_two_executions_give_identical_outputs(chapter):
    first, second = executed(ROOT / "notebooks" / f"{chapter}.md")
    a, b = normalised_outputs(first), normalised_outputs(second)
    assert '"image/png"' in a, "the chapter should have figures to compare"
    if a != b:  # show where
        at = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
        pytest.fail(f"outputs differ near: {a[max(0, at - 200):at + 200]!r}\n  vs {b[max(0, at - 200):at + 200]!r}")
