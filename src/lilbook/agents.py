"""A language-model agent without a language model: tools, a ReAct loop and tree search.

Nothing here calls a language model. The "model" is a small scripted policy: explicit rules that
read the question and the observations so far and write the next thought and action, the way a
prompted LLM does in ReAct (Yao et al. 2022). What is real is everything around it:

* tools: ``calculator`` (safe arithmetic parsed with :mod:`ast`, never ``eval``) and ``lookup``
  (a table of facts, with close-match suggestions for a misspelt key);
* ``react``: the thought / action / observation loop that calls the tools and records a trace;
* ``ScriptedPolicy``: the stand-in for the model, with or without tools;
* the game of 24 as a planning problem: ``children`` (all next steps), ``value_24`` (a cheap,
  imperfect value heuristic standing in for the model's "sure / likely / impossible" judgement),
  ``tot_bfs`` (Tree-of-Thoughts breadth-first search keeping the ``breadth`` best states per
  step), ``oracle_value_24`` (a perfect value, for comparison), ``greedy_24`` (one path, best
  next step), ``sample_path_24`` (one random path, like a
  single sampled chain of thought), ``solvable_24`` (exhaustive ground truth) and ``verify_24``.
"""

from __future__ import annotations

import ast
import difflib
import functools
import itertools
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from lilbook._checks import int_in_range, positive_int

__all__ = [
    "FACTS",
    "ScriptedPolicy",
    "SearchResult",
    "Step",
    "Trace",
    "calculator",
    "children",
    "format_trace",
    "greedy_24",
    "lookup",
    "oracle_value_24",
    "react",
    "safe_eval",
    "sample_path_24",
    "solvable_24",
    "tot_bfs",
    "value_24",
    "verify_24",
]

# ------------------------------------------------------------------------------------------------
# Tools
# ------------------------------------------------------------------------------------------------

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
MAX_EXPRESSION_LENGTH = 200


def safe_eval(expression: str) -> Fraction:
    """Evaluate an arithmetic expression exactly, allowing only numbers, + - * / and parentheses.

    The string is parsed with :func:`ast.parse`; any other syntax (names, calls, powers,
    attributes, strings) raises ``ValueError`` before anything runs. Arithmetic is done in exact
    fractions, so ``8 / (3 - 8 / 3)`` is exactly 24.

    Raises
    ------
    TypeError
        If ``expression`` is not a string.
    ValueError
        If it is empty, longer than 200 characters, not valid arithmetic, or divides by zero.
    """
    if not isinstance(expression, str):
        raise TypeError(f"expression must be a string; got {type(expression).__name__}")
    if not expression.strip():
        raise ValueError("expression must not be empty")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ValueError(f"expression must be at most {MAX_EXPRESSION_LENGTH} characters; got {len(expression)}")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"expression is not valid arithmetic: {exc.msg}") from None
    return _eval_node(tree.body)


def _eval_node(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"only numbers are allowed in expression; got {value!r}")
        if isinstance(value, float) and not np.isfinite(value):
            raise ValueError(f"numbers in expression must be finite; got {value!r}")
        return Fraction(str(value)) if isinstance(value, float) else Fraction(value)
    if isinstance(node, (ast.BinOp, ast.UnaryOp)) and type(node.op) not in {**_BINARY, **_UNARY}:
        raise ValueError(f"only + - * / are allowed in expression; found the operator {type(node.op).__name__}")
    if isinstance(node, ast.BinOp):
        left, right = _eval_node(node.left), _eval_node(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise ValueError("expression divides by zero")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:  # not, ~ were rejected above
        return _UNARY[type(node.op)](_eval_node(node.operand))
    raise ValueError(f"only numbers, + - * / and parentheses are allowed in expression; found {type(node).__name__}")


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{float(value):.6g}"


def calculator(expression: str) -> str:
    """Calculator tool: the value of ``expression`` as text, or an error message the agent can read.

    Bad arithmetic does not raise: a tool reports failure as an observation, and the policy
    decides what to do next. A non-string argument still raises ``TypeError``.
    """
    if not isinstance(expression, str):
        raise TypeError(f"expression must be a string; got {type(expression).__name__}")
    try:
        return _show(safe_eval(expression))
    except ValueError as exc:
        return f"error: {exc}"


FACTS: dict[str, str] = {
    "chemcrow tools": "The first ChemCrow preprint gave the model 13 chemistry tools (18 when published).",
    "api-bank tools": "API-Bank has 53 API tools.",
    "api-bank dialogues": "API-Bank has 264 annotated dialogues.",
    "api-bank calls": "API-Bank has 568 API calls in its dialogues.",
    "hugginggpt stages": "HuggingGPT works in 4 stages.",
    "generative agents characters": "The Generative Agents town has 25 characters.",
}
"""A lookup table of facts from the papers this chapter discusses (the tool's 'database')."""


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def lookup(table: Mapping[str, str], key: str) -> str:
    """Lookup tool: the entry for ``key`` (case and spacing ignored), or a message with close matches."""
    if not isinstance(table, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise TypeError("table must be a mapping from strings to strings")
    if not isinstance(key, str):
        raise TypeError(f"key must be a string; got {type(key).__name__}")
    entries = {_key(k): v for k, v in table.items()}
    if _key(key) in entries:
        return entries[_key(key)]
    close = difflib.get_close_matches(_key(key), list(entries), n=3, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return f"no entry for '{key}'.{hint}"


# ------------------------------------------------------------------------------------------------
# The ReAct loop
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One turn of the loop: what the policy thought and did, and what the tool returned."""

    thought: str
    action: str
    argument: str
    observation: str = ""


@dataclass
class Trace:
    """A finished episode: the question, the steps taken and the final answer (None if none)."""

    question: str
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None


Policy = Callable[[str, Sequence[Step]], tuple[str, str, str]]


def react(question: str, policy: Policy, tools: Mapping[str, Callable[[str], str]], max_steps: int = 8) -> Trace:
    """Run the ReAct loop: thought -> action -> observation, until the policy says ``finish``.

    Parameters
    ----------
    question : str
    policy : callable
        ``policy(question, steps)`` returns ``(thought, action, argument)``; ``action`` is the name
        of a tool or ``"finish"`` (then ``argument`` is the answer).
    tools : mapping from action name to a function of one string returning the observation
    max_steps : int >= 1
        The episode stops without an answer after this many steps.
    """
    if not isinstance(question, str):
        raise TypeError(f"question must be a string; got {type(question).__name__}")
    if not callable(policy):
        raise TypeError(f"policy must be callable; got {type(policy).__name__}")
    if not isinstance(tools, Mapping) or not all(callable(t) for t in tools.values()):
        raise TypeError("tools must be a mapping from names to callables")
    max_steps = positive_int(max_steps, "max_steps")
    trace = Trace(question)
    for _ in range(max_steps):
        thought, action, argument = policy(question, tuple(trace.steps))
        if action == "finish":
            trace.steps.append(Step(thought, action, argument))
            trace.answer = argument
            return trace
        if action in tools:
            observation = tools[action](argument)
        else:
            observation = f"error: unknown action '{action}'; available: {', '.join(sorted(tools))}, finish"
        trace.steps.append(Step(thought, action, argument, observation))
    return trace


def format_trace(trace: Trace) -> str:
    """The trace as the text a ReAct prompt accumulates (Thought / Action / Observation lines)."""
    if not isinstance(trace, Trace):
        raise TypeError(f"trace must be a Trace; got {type(trace).__name__}")
    lines = [f"Question: {trace.question}"]
    for i, step in enumerate(trace.steps, 1):
        lines.append(f"Thought {i}: {step.thought}")
        lines.append(f"Action {i}: {step.action}[{step.argument}]")
        if step.action != "finish":
            lines.append(f"Observation {i}: {step.observation}")
    if trace.answer is None:
        lines.append("(stopped without an answer)")
    return "\n".join(lines)


_QUESTION = re.compile(r"what is the (total|difference|product|ratio) of (.+?) (?:and|to) (.+?)\??$", re.I)
_OPERATOR = {"total": "+", "difference": "-", "product": "*", "ratio": "/"}
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class ScriptedPolicy:
    """The stand-in for the language model: a few explicit rules, no learning, no randomness.

    It understands questions of the form "What is the total|difference|product|ratio of A and B?".
    With tools it looks up A and B (following the lookup tool's suggestion when a key is not
    found), takes the first number in each observation, asks the calculator and finishes with
    the calculator's answer. Without tools (``use_tools=False``) it answers in one step from its
    own ``memory`` (a dict standing in for what the model absorbed in training, possibly stale).
    """

    def __init__(self, use_tools: bool = True, memory: Mapping[str, float] | None = None):
        if not isinstance(use_tools, bool):
            raise TypeError(f"use_tools must be True or False; got {type(use_tools).__name__}")
        self.use_tools = use_tools
        self.memory = {_key(k): float(v) for k, v in (memory or {}).items()}

    def __call__(self, question: str, steps: Sequence[Step]) -> tuple[str, str, str]:
        match = _QUESTION.match(question.strip())
        if match is None:
            return "I do not know how to break this question into steps.", "finish", "unknown"
        kind, *entities = match.groups()
        symbol = _OPERATOR[kind.lower()]
        if not self.use_tools:
            return self._from_memory(entities, symbol)
        values: list[str] = []
        for entity in entities:
            value, next_key = self._read(entity, steps)
            if value is None and next_key is None:
                return f"I could not find '{entity}', so I cannot answer.", "finish", "unknown"
            if value is None and _key(next_key) != _key(entity):
                thought = f"No entry '{entity}'; I try the suggested key '{next_key}'."
                return thought, "lookup", next_key
            if value is None:
                return f"I need the number for '{entity}'; I will look it up.", "lookup", next_key
            values.append(value)
        expression = f"{values[0]} {symbol} {values[1]}"
        done = [s for s in steps if s.action == "calculator" and s.argument == expression]
        if not done:
            return f"I have both numbers; the {kind.lower()} is {expression}.", "calculator", expression
        result = done[-1].observation
        if result.startswith("error"):
            return f"The calculator failed ({result}), so I cannot answer.", "finish", "unknown"
        return f"The calculator returned {result}; that is the answer.", "finish", result

    @staticmethod
    def _read(entity: str, steps: Sequence[Step]) -> tuple[str | None, str | None]:
        """The number found for ``entity`` so far, or else the key to look up next."""
        key = entity
        for step in steps:
            if step.action != "lookup" or _key(step.argument) != _key(key):
                continue
            if not step.observation.startswith("no entry"):
                number = _NUMBER.search(step.observation)
                return (number.group(0), None) if number else (None, None)
            suggestion = re.search(r"Did you mean: ([^,?]+)", step.observation)
            if suggestion is None:
                return None, None
            key = suggestion.group(1)
        return None, key

    def _from_memory(self, entities: Sequence[str], symbol: str) -> tuple[str, str, str]:
        recalled = [self.memory.get(_key(e)) for e in entities]
        if any(v is None for v in recalled):
            return "I do not remember these numbers.", "finish", "unknown"
        expression = f"{recalled[0]:g} {symbol} {recalled[1]:g}"
        return f"From memory the numbers are {expression}.", "finish", _show(safe_eval(expression))


# ------------------------------------------------------------------------------------------------
# Planning as search: the game of 24
# ------------------------------------------------------------------------------------------------

State = tuple[tuple[Fraction, str], ...]  # remaining numbers with the expression that made each


def _check_numbers(numbers: object) -> list[int]:
    """A hand for the game: 1 to 6 integers in [0, 1000]."""
    if isinstance(numbers, (str, bytes)) or not isinstance(numbers, Sequence):
        raise TypeError(f"numbers must be a sequence of integers; got {type(numbers).__name__}")
    if not 1 <= len(numbers) <= 6:
        raise ValueError(f"numbers must hold 1 to 6 integers; got {len(numbers)}")
    return [int_in_range(v, "numbers", 0, 1000) for v in numbers]


def _start(numbers: Sequence[int]) -> State:
    """The root of the search: each number of the (checked) hand, written as itself."""
    return tuple((Fraction(v), str(v)) for v in numbers)


def _combine(a: tuple[Fraction, str], b: tuple[Fraction, str]) -> list[tuple[Fraction, str]]:
    (x, ex), (y, ey) = a, b
    out = [(x + y, f"({ex} + {ey})"), (x * y, f"({ex} * {ey})"), (x - y, f"({ex} - {ey})"), (y - x, f"({ey} - {ex})")]
    if y != 0:
        out.append((x / y, f"({ex} / {ey})"))
    if x != 0:
        out.append((y / x, f"({ey} / {ex})"))
    return out


def children(state: State) -> list[State]:
    """Every state one step away: pick two numbers, replace them by one result of + - * /.

    States with the same multiset of values are kept once (the first one generated).
    """
    seen: set[tuple[Fraction, ...]] = set()
    out: list[State] = []
    for i, j in itertools.combinations(range(len(state)), 2):
        rest = [s for m, s in enumerate(state) if m not in (i, j)]
        for made in _combine(state[i], state[j]):
            child = tuple(sorted([*rest, made], key=lambda s: s[0]))
            values = tuple(v for v, _ in child)
            if values not in seen:
                seen.add(values)
                out.append(child)
    return out


def value_24(values: Sequence[Fraction]) -> float:
    """A cheap, imperfect value heuristic for the numbers left (the model's 'evaluate' prompt).

    One number: 1 if it is 24, else 0. Two numbers: 1 if one operation reaches 24, else 0 (easy to
    check, like the model's "sure" / "impossible"). Three or more: a guess in [0, 1], 0.4 if two
    of the numbers already multiply or add to 24, plus 0.3 times the share of whole numbers, plus
    0.3 times the share of numbers that divide 24.
    """
    vals = _check_fractions(values)
    return _value_24(vals)


def _check_fractions(values: Sequence[Fraction]) -> list[Fraction]:
    vals = [Fraction(v) for v in values]
    if not vals:
        raise ValueError("values must hold at least one number")
    return vals


def _value_24(values: list[Fraction]) -> float:
    """The heuristic value of the numbers left (at least one)."""
    if len(values) == 1:  # done: right or wrong
        return float(values[0] == 24)
    if len(values) == 2:  # one operation left: easy to check them all
        return float(any(r == 24 for r, _ in _combine((values[0], ""), (values[1], ""))))
    # three or more: a guess from cheap features of the numbers
    near = any(a * b == 24 or a + b == 24 for a, b in itertools.combinations(values, 2))
    whole = [v.denominator == 1 for v in values]
    divides = [v.denominator == 1 and v > 0 and 24 % v.numerator == 0 for v in values]
    return 0.4 * near + 0.3 * float(np.mean(whole)) + 0.3 * float(np.mean(divides))


def oracle_value_24(values: Sequence[Fraction]) -> float:
    """A perfect value for comparison: 1.0 if the numbers left can still make 24, else 0.0.

    Unlike :func:`solvable_24`, which takes a hand of integers, this takes the values of a search
    state, which may be fractions (pass it as ``value`` to :func:`tot_bfs`). Exhaustive search.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ValueError("values must be a non-empty sequence of numbers")
    try:
        vals = [Fraction(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError("values must hold integers or fractions") from None
    return float(_solvable_values(tuple(sorted(vals))))


@dataclass(frozen=True)
class SearchResult:
    """Outcome of a search: solved or not, the expression found, and how many states were valued."""

    solved: bool
    expression: str | None
    evaluations: int


def tot_bfs(numbers: Sequence[int], breadth: int, value: Callable[[Sequence[Fraction]], float] = value_24) -> SearchResult:
    """Tree-of-Thoughts breadth-first search: expand every kept state, value every child, keep the best ``breadth``.

    Each level uses one operation, so n numbers take n - 1 levels. Ties in value keep the order
    in which children were generated.
    """
    hand = _check_numbers(numbers)
    breadth = positive_int(breadth, "breadth")
    if not callable(value):
        raise TypeError(f"value must be callable; got {type(value).__name__}")
    return _tot_bfs(hand, breadth, value)


def _tot_bfs(numbers: list[int], breadth: int, value: Callable[[Sequence[Fraction]], float]) -> SearchResult:
    """Breadth-first search keeping the ``breadth`` best-valued states of each level."""
    frontier = [_start(numbers)]
    evaluations = 0
    for _ in range(len(numbers) - 1):  # each level combines two numbers into one
        candidates = [c for state in frontier for c in children(state)]
        scores = [value([v for v, _ in c]) for c in candidates]
        evaluations += len(candidates)
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])  # stable: ties keep their order
        frontier = [candidates[i] for i in order[:breadth]]
    for state in frontier:  # each final state holds one number
        if state[0][0] == 24:
            return SearchResult(True, _strip(state[0][1]), evaluations)
    return SearchResult(False, None, evaluations)


def _strip(expression: str) -> str:
    return expression[1:-1] if expression.startswith("(") else expression


def greedy_24(numbers: Sequence[int], value: Callable[[Sequence[Fraction]], float] = value_24) -> SearchResult:
    """One path, always taking the best-valued next step: Tree-of-Thoughts search with breadth 1."""
    return tot_bfs(numbers, 1, value)


def sample_path_24(numbers: Sequence[int], rng: np.random.Generator) -> SearchResult:
    """One path with uniformly random steps and no evaluation, like one sampled chain of thought."""
    state = _start(_check_numbers(numbers))
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    while len(state) > 1:
        options = children(state)
        state = options[int(rng.integers(len(options)))]
    solved = bool(state[0][0] == 24)
    return SearchResult(solved, _strip(state[0][1]) if solved else None, 0)


def solvable_24(numbers: Sequence[int]) -> bool:
    """Whether the numbers can make 24 at all (exhaustive search; the ground truth)."""
    start = _start(_check_numbers(numbers))
    return _solvable_values(tuple(sorted(v for v, _ in start)))


@functools.lru_cache(maxsize=None)
def _solvable_values(values: tuple[Fraction, ...]) -> bool:
    """Exhaustive search over sorted value tuples, memoised across calls (states recur across hands)."""
    if len(values) == 1:
        return values[0] == 24
    for i, j in itertools.combinations(range(len(values)), 2):
        rest = [v for m, v in enumerate(values) if m not in (i, j)]
        for made, _ in _combine((values[i], ""), (values[j], "")):
            if _solvable_values(tuple(sorted([*rest, made]))):
                return True
    return False


def verify_24(expression: str, numbers: Sequence[int]) -> bool:
    """True if ``expression`` uses each of ``numbers`` exactly once (no other numbers) and equals 24."""
    start = _start(_check_numbers(numbers))
    value = safe_eval(expression)
    used = sorted(
        Fraction(str(n.value)) if isinstance(n.value, float) else Fraction(n.value)
        for n in ast.walk(ast.parse(expression.strip(), mode="eval"))
        if isinstance(n, ast.Constant)
    )
    return used == sorted(v for v, _ in start) and value == 24
