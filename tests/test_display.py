"""lilbook.display: the HTML tables the chapters show."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lilbook.display import html_table


def cells_of(table_html: str, tag: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", table_html, flags=re.S)


def test_header_and_rows_in_order():
    table = html_table(["model", "params"], [["Gopher", "280B"], ["Chinchilla", 70]]).data
    assert cells_of(table, "th") == ["model", "params"]
    assert cells_of(table, "td") == ["Gopher", "280B", "Chinchilla", "70"]
    assert table.count("<tr>") == 3


def test_text_is_escaped():
    table = html_table(["a < b"], [["<script>x</script>"]]).data
    assert "<script>" not in table
    assert cells_of(table, "td") == ["&lt;script&gt;x&lt;/script&gt;"]


def test_empty_body_is_allowed():
    assert cells_of(html_table(["x"], []).data, "td") == []


@given(st.lists(st.lists(st.integers(), min_size=3, max_size=3), max_size=8))
def test_every_cell_appears_once_per_row(rows):
    table = html_table(["a", "b", "c"], rows).data
    assert cells_of(table, "td") == [str(v) for row in rows for v in row]


@pytest.mark.parametrize(
    ("header", "rows", "error", "match"),
    [
        ([], [], ValueError, "header"),
        ("abc", [], TypeError, "header"),
        (["a"], "x", TypeError, "rows"),
        (["a", "b"], [["1"]], ValueError, r"rows\[0\]"),
        (["a"], [["1"], "2"], TypeError, r"rows\[1\]"),
        (["a"], np.zeros((2, 1)), TypeError, "rows"),
    ],
)
def test_bad_input(header, rows, error, match):
    with pytest.raises(error, match=match):
        html_table(header, rows)


# ---------------------------------------------------------------------------------------------
# show_source / source_for_reader

import ast  # noqa: E402
import builtins  # noqa: E402
import textwrap  # noqa: E402
from pathlib import Path  # noqa: E402

import jupytext  # noqa: E402

from lilbook import _checks  # noqa: E402
from lilbook.display import ProseNumbers, Quoted, show_source, source_for_reader  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _check_sample(x, name):
    if x < 0:
        raise ValueError(name)
    return x


def guarded(values, scale=1.0):
    """Doc.

    More doc.
    """
    if not values:
        raise ValueError("values must not be empty")
    scale = _checks.positive_scalar(scale, "scale")
    for name in ("values",):
        _check_sample(len(values), name)
    # the idea starts here
    total = 0.0
    for v in values:
        total += v * scale
    return total


def delegating(values):
    """Checks, then hands over."""
    _checks.positive_int(len(values), "values")
    return guarded(values)


def delegating_then_checking(values):
    total = guarded(values)
    if total != total:
        raise ValueError("the total is NaN")
    return total


def unguarded(x):
    return x + 1


def test_source_for_reader_drops_docstring_and_checks_keeps_the_idea():
    text = source_for_reader(guarded)
    assert text.splitlines()[0] == "def guarded(values, scale=1.0):"
    assert "Doc." not in text and "raise" not in text and "positive_scalar" not in text
    assert "_check_sample" not in text
    assert "    # the idea starts here\n    total = 0.0" in text
    assert text.rstrip().endswith("return total")
    assert "(docstring and argument checks omitted here" in text
    ast.parse(text)  # what is shown is still valid Python


def test_source_for_reader_follows_a_function_that_only_checks_and_delegates():
    assert source_for_reader(delegating) == source_for_reader(guarded)
    assert source_for_reader(delegating_then_checking) == source_for_reader(guarded)


def test_source_for_reader_leaves_plain_functions_alone():
    assert source_for_reader(unguarded) == textwrap.dedent(
        """\
        def unguarded(x):
            return x + 1"""
    )


def test_show_source_is_highlighted_python():
    code = show_source(unguarded)
    assert "def unguarded" in code.data and code._repr_html_()


@pytest.mark.parametrize("bad", [1, "text", len, type])
def test_source_for_reader_rejects_what_is_not_a_python_function(bad):
    with pytest.raises(TypeError, match="obj must be a Python function"):
        source_for_reader(bad)


def _displayed_functions():
    """(chapter, expression, object) for every show_source call in the chapters."""
    found = []
    for path in sorted((ROOT / "notebooks").glob("*.md")):
        nb = jupytext.read(path)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        namespace: dict = {}
        exec(compile(code[0], str(path), "exec"), namespace)  # the chapter's import cell
        for src in code:
            for expr in re.findall(r"show_source\(([\w.]+)\)", src):
                found.append((path.stem, expr, eval(expr, namespace)))
    return found


DISPLAYED = _displayed_functions()
# functions whose point is to refuse some input: their raise statements are the idea
RAISING_IS_THE_IDEA = {"safe_eval": "a safe calculator exists to reject code that is not arithmetic"}


def _free_names(func_source: str) -> set[str]:
    """Names a shown function reads that nothing in it, its module or Python defines."""
    tree = ast.parse(func_source)
    bound, loaded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            bound.update(x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs])
            bound.update(x.arg for x in (a.vararg, a.kwarg) if x)
            if not isinstance(node, ast.Lambda):
                bound.add(node.name)
        elif isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, (ast.Store, ast.Del)) else loaded).add(node.id)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return loaded - bound


def test_chapters_display_some_sources():
    assert len(DISPLAYED) >= 30


@pytest.mark.parametrize(("chapter", "expr", "obj"), DISPLAYED, ids=[f"{c}:{e}" for c, e, _ in DISPLAYED])
def test_every_displayed_source_shows_the_idea_only(chapter, expr, obj):
    text = source_for_reader(obj)
    lines = text.splitlines()
    assert len(lines) < 40, f"{expr} shows {len(lines)} lines; split it so the idea fits a screen"
    if expr not in RAISING_IS_THE_IDEA:
        assert "raise " not in text, f"{expr} still shows argument checks"
    func = getattr(obj, "__func__", obj)
    known = set(func.__globals__) | set(dir(builtins))
    free = _free_names(textwrap.dedent(text)) - known
    assert not free, f"{expr} reads names that the shown code never defines: {sorted(free)}"


# ---------------------------------------------------------------------------------------------
# num: numbers quoted in the prose


def test_prose_numbers_keep_the_text_exactly_as_formatted():
    n = ProseNumbers("n")
    n.ratio = f"{0.5:.2f}"
    n.count = 12
    assert repr(n.ratio) == "0.50" and str(n.count) == "12"
    assert n.ratio == Quoted("0.50")
    assert sorted(dir(n)) == ["count", "ratio"]


def test_prose_numbers_glue_under_the_expression_the_prose_uses(monkeypatch):
    glued = {}
    monkeypatch.setattr(
        "lilbook.display._glue", lambda key, value, display: glued.update({key: (repr(value), display)})
    )
    n = ProseNumbers("num")
    n.acc = "0.831"
    assert glued == {"num.acc": ("0.831", False)}


@pytest.mark.parametrize("bad", [0.5, True, None, [1], b"x"])
def test_prose_numbers_refuse_unformatted_values(bad):
    with pytest.raises(TypeError, match=r"num\.x must be text formatted"):
        ProseNumbers().x = bad


@pytest.mark.parametrize("bad", ["", "   "])
def test_prose_numbers_refuse_empty_text(bad):
    with pytest.raises(ValueError, match="non-empty"):
        ProseNumbers().x = bad


def test_prose_numbers_say_which_value_is_missing():
    with pytest.raises(AttributeError, match="num.later has not been computed yet"):
        ProseNumbers("num").later


def test_prose_numbers_reserve_private_names_and_need_an_identifier():
    with pytest.raises(AttributeError, match="reserved"):
        ProseNumbers()._values = 1
    with pytest.raises(ValueError, match="identifier"):
        ProseNumbers("not valid")
