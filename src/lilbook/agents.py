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
from numpy.typing import NDArray

from lilbook._checks import int_in_range, positive_int, probabilities

__all__ = [
    "FACTS",
    "PLACES",
    "ScriptedPolicy",
    "SearchResult",
    "Step",
    "Trace",
    "Trial",
    "calculator",
    "children",
    "format_trace",
    "greedy_24",
    "lookup",
    "oracle_value_24",
    "random_path_success_24",
    "random_search_24",
    "react",
    "reflect",
    "reflexion",
    "reflexion_study",
    "detect_failure",
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
    "api-bank tools": "The first API-Bank preprint has 53 API tools (73 when published).",
    "api-bank dialogues": "The first API-Bank preprint has 264 annotated dialogues (314 when published).",
    "api-bank calls": "The first API-Bank preprint has 568 API calls in its dialogues (753 when published).",
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
    return list(_children(state))


@functools.lru_cache(maxsize=200_000)
def _children(state: State) -> tuple[State, ...]:
    """:func:`children`, memoised (searches at several breadths revisit the same states)."""
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
    return tuple(out)


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
        candidates = [c for state in frontier for c in _children(state)]
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


def random_search_24(numbers: Sequence[int], budget: int, rng: np.random.Generator) -> SearchResult:
    """Random search at a fixed budget: sample up to ``budget`` complete random paths, stop at the first that makes 24.

    Each step of a path picks two of the numbers left and one of + - * / uniformly at random (a
    division by zero is drawn again). A path is charged one evaluation, the check of its final
    number, which is the most generous way to count it against :func:`tot_bfs`, where every
    valued state is charged. ``evaluations`` in the result is the number of paths tried.
    """
    hand = _check_numbers(numbers)
    budget = positive_int(budget, "budget")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    return _random_search_24(hand, budget, rng)


def _random_search_24(numbers: list[int], budget: int, rng: np.random.Generator) -> SearchResult:
    """Up to ``budget`` random paths; the first that ends at 24 wins."""
    for tried in range(1, budget + 1):
        state = list(_start(numbers))
        while len(state) > 1:
            i = int(rng.integers(len(state)))
            j = (i + 1 + int(rng.integers(len(state) - 1))) % len(state)  # a different, uniform partner
            options = _combine(state[i], state[j])  # + * a-b b-a a/b b/a (divisions only if defined)
            made = options[int(rng.integers(len(options)))]
            state = [s for m, s in enumerate(state) if m not in (i, j)] + [made]
        if state[0][0] == 24:
            return SearchResult(True, _strip(state[0][1]), tried)
    return SearchResult(False, None, budget)


def random_path_success_24(numbers: Sequence[int]) -> float:
    """Exact probability that one random path (as in :func:`random_search_24`) ends at 24.

    Random search with ``B`` paths then solves the hand with probability ``1 - (1 - p)**B``.
    """
    hand = _check_numbers(numbers)
    return _path_success(tuple(sorted(float(v) for v in hand)))


@functools.lru_cache(maxsize=None)
def _path_success(values: tuple[float, ...]) -> float:
    """Average over the uniform pair and the uniform operation of the success of what follows.

    Floats rounded to 9 decimals stand in for exact fractions (fast, and exact zeros stay zero).
    """
    if len(values) == 1:
        return float(abs(values[0] - 24) < 1e-6)
    pairs = list(itertools.combinations(range(len(values)), 2))
    total = 0.0
    for i, j in pairs:
        rest = [v for m, v in enumerate(values) if m not in (i, j)]
        x, y = values[i], values[j]
        made = [x + y, x * y, x - y, y - x] + ([x / y] if y != 0 else []) + ([y / x] if x != 0 else [])
        total += sum(_path_success(tuple(sorted([*rest, round(r, 9)]))) for r in made) / len(made)
    return total / len(pairs)


# ------------------------------------------------------------------------------------------------
# Reflexion: detect a failing trial, write a verbal lesson, retry with the lesson in memory
# ------------------------------------------------------------------------------------------------

PLACES = (
    "cabinet 1", "countertop 1", "drawer 1", "shelf 1", "sinkbasin 1", "fridge 1",
    "desk 1", "sidetable 1", "stoveburner 1", "garbagecan 1", "microwave 1", "armchair 1",
)  # fmt: skip
"""The receptacles of the toy household (named after ALFWorld's, where Reflexion was tested)."""

_FOUND = "you see a mug"
_TAKEN = "You pick up the mug."


@dataclass(frozen=True)
class Trial:
    """One attempt: the actions and observations, success, the failure the heuristic detected, the lessons in memory."""

    actions: tuple[str, ...]
    observations: tuple[str, ...]
    success: bool
    failure: str | None  # "hallucination", "inefficient planning" or None
    lessons: tuple[str, ...]  # what the policy read from memory during this trial


def _observe(action: str, target: str, actions: Sequence[str]) -> str:
    """The environment: what the agent sees after ``action`` (``actions`` are the earlier ones)."""
    if action.startswith("go to "):
        place = action[len("go to ") :]
        return f"On the {place} {_FOUND}." if place == target else f"On the {place} you see nothing you need."
    if action == "take mug" and actions and actions[-1] == f"go to {target}":
        return _TAKEN
    return "Nothing happens."


def _act(prior: Sequence[str], actions: Sequence[str], observations: Sequence[str], lessons: Sequence[str], p_repeat: float, rng: np.random.Generator) -> str:
    """The scripted stand-in for the model: search places in its prior order, reading its lessons."""
    if observations and _FOUND in observations[-1]:
        return "take mug"
    ruled_out = {p for lesson in lessons for said in re.findall(r"not in ([^.]*)\.", lesson) for p in said.split(", ")}
    careful = any("never repeat" in lesson for lesson in lessons)
    if actions and not careful and rng.random() < p_repeat:
        return actions[-1]  # the flaw: it believes it missed something and looks again
    visited = {a[len("go to ") :] for a in actions}
    fresh = [p for p in prior if p not in visited and p not in ruled_out]
    return "go to " + (fresh or [p for p in prior if p not in visited] or list(prior))[0]


def detect_failure(actions: Sequence[str], observations: Sequence[str], max_actions: int = 30, max_repeats: int = 3) -> str | None:
    """Reflexion's hand-written heuristic: should this trial stop and be reflected on?

    ``"hallucination"`` when the same action has met the same observation more than
    ``max_repeats`` times in a row; ``"inefficient planning"`` when more than ``max_actions``
    actions have been taken; otherwise None. (Shinn et al. used 3 and 30 on ALFWorld.)
    """
    if isinstance(actions, str) or isinstance(observations, str):
        raise TypeError("actions and observations must be sequences of strings, not one string")
    if len(actions) != len(observations):
        raise ValueError(f"actions and observations must have the same length; got {len(actions)} and {len(observations)}")
    max_actions = positive_int(max_actions, "max_actions")
    max_repeats = positive_int(max_repeats, "max_repeats")
    return _detect_failure(list(zip(actions, observations)), max_actions, max_repeats)


def _detect_failure(steps: list[tuple[str, str]], max_actions: int, max_repeats: int) -> str | None:
    run = 1
    while run < len(steps) and steps[-1 - run] == steps[-1]:
        run += 1
    if steps and run > max_repeats:
        return "hallucination"
    if len(steps) > max_actions:
        return "inefficient planning"
    return None


def reflect(actions: Sequence[str], observations: Sequence[str], failure: str) -> str:
    """The verbal lesson a failed trial leaves (the stand-in for the model's self-reflection).

    It names what went wrong and the places already searched in vain; the policy reads both back.
    """
    if failure not in ("hallucination", "inefficient planning"):
        raise ValueError(f"failure must be 'hallucination' or 'inefficient planning'; got {failure!r}")
    if len(actions) != len(observations) or not actions:
        raise ValueError("actions and observations must be non-empty and of the same length")
    return _reflect(list(actions), list(observations), failure)


def _reflect(actions: list[str], observations: list[str], failure: str) -> str:
    empty = [a[len("go to ") :] for a, o in zip(actions, observations) if a.startswith("go to ") and _FOUND not in o]
    searched = list(dict.fromkeys(empty))  # in order, once each
    if failure == "hallucination":
        head = f"I repeated '{actions[-1]}' and kept getting the same observation."
    else:
        head = f"I used {len(actions)} actions and never found the mug."
    return f"{head} The mug is not in {', '.join(searched)}. Next time I will never repeat a search that failed and will try other places first."


def reflexion(prior: Sequence[str], target: str, rng: np.random.Generator, n_trials: int = 5, max_actions: int = 8, p_repeat: float = 0.3, memory_size: int = 3, use_reflection: bool = True) -> list[Trial]:
    """Run up to ``n_trials`` attempts at "find the mug and take it", stopping at the first success.

    ``prior`` is the policy's search order over the places (all of :data:`PLACES` or a subset),
    ``target`` where the mug is. With ``use_reflection`` a failed trial leaves a lesson
    (:func:`reflect`) and the last ``memory_size`` lessons are shown to the next trial; without
    it the environment is reset and the same policy simply tries again (Reflexion's baseline).
    """
    checked = _check_reflexion(prior, target, rng, n_trials, max_actions, p_repeat, memory_size, use_reflection)
    return _reflexion(*checked)


def _check_reflexion(prior: object, target: object, rng: object, n_trials: object, max_actions: object, p_repeat: object, memory_size: object, use_reflection: object) -> tuple:
    """The arguments of :func:`reflexion`, checked, in the order :func:`_reflexion` takes them."""
    if isinstance(prior, str) or not isinstance(prior, Sequence) or not prior or not all(isinstance(p, str) for p in prior):
        raise TypeError("prior must be a non-empty sequence of place names")
    if len(set(prior)) != len(prior):
        raise ValueError("prior must name each place once")
    if target not in prior:
        raise ValueError(f"target must be one of the places in prior; got {target!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    n_trials, max_actions, memory_size = (positive_int(v, name) for v, name in [(n_trials, "n_trials"), (max_actions, "max_actions"), (memory_size, "memory_size")])
    p = float(probabilities(p_repeat, "p_repeat"))
    if p == 1.0:
        raise ValueError("p_repeat must lie in [0, 1): at 1 the policy never leaves its first place")
    if not isinstance(use_reflection, bool):
        raise TypeError(f"use_reflection must be True or False; got {type(use_reflection).__name__}")
    return list(prior), target, rng, n_trials, max_actions, p, memory_size, use_reflection


def _reflexion(prior: list[str], target: str, rng: np.random.Generator, n_trials: int, max_actions: int, p_repeat: float, memory_size: int, use_reflection: bool) -> list[Trial]:
    """Trials until success: act, let the heuristic stop a failing trial, keep a lesson, retry."""
    lessons: list[str] = []
    trials: list[Trial] = []
    for _ in range(n_trials):
        actions: list[str] = []
        observations: list[str] = []
        failure = None
        while True:
            action = _act(prior, actions, observations, lessons, p_repeat, rng)
            observations.append(_observe(action, target, actions))
            actions.append(action)
            if observations[-1] == _TAKEN:
                break
            failure = _detect_failure(list(zip(actions, observations)), max_actions, max_repeats=3)
            if failure is not None:
                break
        trials.append(Trial(tuple(actions), tuple(observations), failure is None, failure, tuple(lessons)))
        if failure is None:
            break
        if use_reflection:  # the baseline resets and retries with an empty memory
            lessons = (lessons + [_reflect(actions, observations, failure)])[-memory_size:]
    return trials


def reflexion_study(n_tasks: int, rng: np.random.Generator, n_trials: int = 6, **settings: object) -> tuple[NDArray[np.float64], dict[str, int]]:
    """Run :func:`reflexion` on ``n_tasks`` random tasks: a shuffled search order over :data:`PLACES`, a uniform target.

    Returns the share of tasks solved by the end of each trial (a non-decreasing array of length
    ``n_trials``) and how often each kind of failure stopped a trial. ``settings`` go to
    :func:`reflexion` (``max_actions``, ``p_repeat``, ``memory_size``, ``use_reflection``).
    """
    n_tasks = positive_int(n_tasks, "n_tasks")
    n_trials = positive_int(n_trials, "n_trials")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    solved_by = np.zeros(n_trials)
    failures = {"hallucination": 0, "inefficient planning": 0}
    for _ in range(n_tasks):
        prior = [str(p) for p in rng.permutation(PLACES)]
        trials = reflexion(prior, str(rng.choice(PLACES)), rng, n_trials=n_trials, **settings)  # type: ignore[arg-type]
        for trial in trials:
            if trial.failure is not None:
                failures[trial.failure] += 1
        if trials[-1].success:
            solved_by[len(trials) - 1 :] += 1
    return solved_by / n_tasks, failures
