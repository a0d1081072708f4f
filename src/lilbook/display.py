"""Presentation helpers shared by the chapters.

- ``html_table``: tables are rendered as HTML because Markdown produced by a cell is not parsed as a
  table by myst-nb's default output renderer, while HTML reads as a table both in JupyterLab and in
  the book.
- ``show_source``: a function's source as the reader should see it, the body that is the idea,
  without its docstring and argument-checking preamble (which stay in the code and its tests).
- ``num``: the numbers a chapter quotes in its prose. A chapter sets ``num.name = f"{x:.2f}"`` in a
  cell and writes ``{eval}`num.name``` in its Markdown: JupyterLab (with jupyterlab-myst) evaluates
  the expression in the running kernel, and the book (``book/_ext/prose_numbers.py``) pastes the
  same text from the executed notebook, so both show the number the cell computed.
"""

from __future__ import annotations

import ast
import html
import inspect
import numbers
import textwrap
from collections.abc import Sequence

from IPython.display import HTML, Code

__all__ = ["ProseNumbers", "html_table", "num", "show_source", "source_for_reader"]


def html_table(header: Sequence[object], rows: Sequence[Sequence[object]]) -> HTML:
    """A table with one header row, as an object that Jupyter and the book display as HTML.

    Parameters
    ----------
    header : sequence
        Column titles (at least one); each is converted with ``str`` and HTML-escaped.
    rows : sequence of sequences
        The body, one sequence per row, each as long as ``header``; cells are converted with
        ``str`` and HTML-escaped, so text such as ``"a < b"`` shows as written.

    Raises
    ------
    TypeError
        If ``header`` or a row is a string or not a sequence.
    ValueError
        If ``header`` is empty or a row's length differs from the header's.
    """
    header = _cells(header, "header")
    if not header:
        raise ValueError("header must name at least one column; got an empty sequence")
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise TypeError(f"rows must be a sequence of rows; got {type(rows).__name__}")
    body = []
    for i, row in enumerate(rows):
        cells = _cells(row, f"rows[{i}]")
        if len(cells) != len(header):
            raise ValueError(f"rows[{i}] has {len(cells)} cells; every row needs {len(header)}, one per column")
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{c}</th>" for c in header)
    return HTML(f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def _cells(values: object, name: str) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of cells (a list or tuple); got {type(values).__name__}")
    return [html.escape(str(v)) for v in values]


# ---------------------------------------------------------------------------------------------
# Source as the reader should see it

_CHECK_MODULE = "lilbook._checks"
_CHECK_PREFIXES = ("_check", "_validate", "check_", "validate_")


def source_for_reader(obj: object) -> str:
    """The source of a function or method without its docstring and argument-checking preamble.

    The preamble is the run of statements at the top of the body (after the docstring) that only
    guard the input: an ``if`` whose body only raises, an ``assert``, or a statement whose calls
    are all argument checks (functions of ``lilbook._checks``, or helpers named ``_check*``,
    ``_validate*``, ``check_*`` or ``validate_*``). Everything from the first other statement on is
    kept, with its comments and blank lines; a one-line comment marks what was left out and says
    where the full source is.

    Raises
    ------
    TypeError
        If ``obj`` is not a function or method defined in Python source.
    """
    func = inspect.unwrap(obj) if callable(obj) else obj
    if not (inspect.isfunction(func) or inspect.ismethod(func)):
        raise TypeError(f"obj must be a Python function or method; got {type(obj).__name__}")
    func = getattr(func, "__func__", func)
    lines = textwrap.dedent(inspect.getsource(func)).splitlines()
    tree = ast.parse("\n".join(lines))
    node = tree.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):  # pragma: no cover - guarded above
        raise TypeError(f"obj must be a Python function or method; got {type(obj).__name__}")
    body = list(node.body)
    header_end = body[0].lineno - 1  # lines before the first statement: decorators and signature
    dropped: list[str] = []
    if _is_docstring(body[0]):
        dropped.append("docstring")
        last = body.pop(0)
    else:
        last = None
    checks = 0
    while body and _is_guard(body[0], func.__globals__):
        last = body.pop(0)
        checks += 1
    if checks:
        dropped.append("argument checks")
    if not body:  # the whole body is guards: show it all rather than an empty function
        return "\n".join(lines)
    core = _delegate(body, func)
    if core is not None:  # the public function checks its input and hands over to the idea
        return source_for_reader(core)
    start = body[0].lineno - 1 if last is None else last.end_lineno
    kept = lines[start:]
    while kept and not kept[0].strip():
        kept.pop(0)
    header = lines[:header_end]
    if dropped:
        indent = len(kept[0]) - len(kept[0].lstrip())
        where = inspect.getsourcefile(func) or ""
        where = "src/lilbook/" + where.rsplit("/lilbook/", 1)[-1] if "/lilbook/" in where else where
        note = " and ".join(dropped)
        header = [*header, " " * indent + f"# ({note} omitted here: see {where})"]
    return "\n".join([*header, *kept])


def show_source(obj: object) -> Code:
    """Display :func:`source_for_reader` of ``obj`` as highlighted Python code."""
    return Code(source_for_reader(obj), language="python")


def _delegate(body: list[ast.stmt], func: object) -> object | None:
    """The function that ``body`` (what is left after the checks) hands the work to, if any.

    That is ``return helper(...)``, or ``result = helper(...)`` followed only by checks of the
    result and ``return result``, where ``helper`` is another function of the same module.
    """
    first = body[0]
    if isinstance(first, ast.Return) and len(body) == 1:
        call = first.value
    elif (
        isinstance(first, ast.Assign)
        and len(first.targets) == 1
        and isinstance(first.targets[0], ast.Name)
        and isinstance(body[-1], ast.Return)
        and isinstance(body[-1].value, ast.Name)
        and body[-1].value.id == first.targets[0].id
        and all(_is_guard(stmt, func.__globals__) for stmt in body[1:-1])
    ):
        call = first.value
    else:
        return None
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        return None
    target = func.__globals__.get(call.func.id)
    if inspect.isfunction(target) and target.__module__ == func.__module__ and target is not func:
        return target
    return None


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def _is_guard(stmt: ast.stmt, namespace: dict) -> bool:
    if isinstance(stmt, ast.Assert):
        return True
    if isinstance(stmt, ast.If):
        return all(isinstance(s, ast.Raise) or _is_guard(s, namespace) for s in stmt.body) and all(
            _is_guard(s, namespace) for s in stmt.orelse
        )
    if isinstance(stmt, ast.For):  # e.g. one check applied to several arguments
        return not stmt.orelse and all(_is_guard(s, namespace) for s in stmt.body)
    if isinstance(stmt, (ast.Expr, ast.Assign, ast.AnnAssign)) and stmt.value is not None:
        value = stmt.value
        if isinstance(value, (ast.GeneratorExp, ast.ListComp)):  # one check, several arguments
            value = value.elt
        tops = value.elts if isinstance(value, ast.Tuple) else [value]
        return all(
            isinstance(top, ast.Call)
            and (_is_check_call(top, namespace) or _on_checked(top, namespace))
            for top in tops
        )
    return False


def _on_checked(call: ast.Call, namespace: dict) -> bool:
    """A method called on the result of a check, as in ``finite_array(x, "x").copy()``."""
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Call)
        and _is_check_call(func.value, namespace)
    )


def _is_check_call(call: ast.Call, namespace: dict) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        name = func.id
        target = namespace.get(name)
    elif isinstance(func, ast.Attribute):
        name = func.attr
        owner = namespace.get(func.value.id) if isinstance(func.value, ast.Name) else None
        target = getattr(owner, name, None) if owner is not None else None
        if getattr(owner, "__name__", None) == _CHECK_MODULE:
            return True
    else:
        return False
    if getattr(target, "__module__", None) == _CHECK_MODULE:
        return True
    return name.startswith(_CHECK_PREFIXES)


# ---------------------------------------------------------------------------------------------
# Numbers quoted in the prose

try:  # myst-nb is there when the book is built or tested; a reader's kernel may not have it
    from myst_nb import glue as _glue
except ImportError:  # pragma: no cover - exercised only without the book tool chain
    _glue = None


class Quoted:
    """A piece of prose text computed by a cell; it displays as the text itself (no quotes)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quoted) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


class ProseNumbers:
    """The numbers (as formatted text) that a chapter quotes in its prose.

    Set one with ``num.name = f"{value:.3f}"`` (a string, formatted as the prose should show it,
    or an integer); read it in Markdown with ``{eval}`num.name```. Each assignment is also glued
    under the key ``"num.name"`` so that the book, which does not run a kernel while rendering,
    pastes the same text.
    """

    def __init__(self, expression: str = "num"):
        if not isinstance(expression, str) or not expression.isidentifier():
            raise ValueError(f"expression must be a Python identifier; got {expression!r}")
        object.__setattr__(self, "_expression", expression)
        object.__setattr__(self, "_values", {})

    def __setattr__(self, name: str, value: object) -> None:
        if name.startswith("_"):
            raise AttributeError(f"names starting with '_' are reserved; got {name!r}")
        text = _prose_text(value, name)
        self._values[name] = Quoted(text)
        if _glue is not None:
            _glue(f"{self._expression}.{name}", self._values[name], display=False)

    def __getattr__(self, name: str) -> Quoted:
        values = object.__getattribute__(self, "_values")
        if name not in values:
            raise AttributeError(
                f"{self._expression}.{name} has not been computed yet: run the cell that sets it"
            )
        return values[name]

    def __dir__(self) -> list[str]:
        return sorted(self._values)


def _prose_text(value: object, name: str) -> str:
    if isinstance(value, Quoted):
        return value.text
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"num.{name} must be non-empty text; got {value!r}")
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    raise TypeError(
        f"num.{name} must be text formatted for the prose (e.g. f\"{{x:.3f}}\") or an integer; "
        f"got {type(value).__name__} {value!r}"
    )


num = ProseNumbers("num")
