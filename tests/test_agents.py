"""Tests for lilbook.agents.

References: exact fractions computed here, hand-worked traces, the known count of solvable
game-of-24 hands with cards 1-13 (1,362 of the 1,820 multisets), and brute force.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lilbook import agents as ag
from lilbook.agents import (
    FACTS,
    ScriptedPolicy,
    Step,
    Trace,
    calculator,
    children,
    format_trace,
    greedy_24,
    lookup,
    oracle_value_24,
    react,
    safe_eval,
    sample_path_24,
    solvable_24,
    tot_bfs,
    value_24,
    verify_24,
)

FAST = settings(max_examples=60, deadline=None, database=None)
TOOLS = {"lookup": lambda key: lookup(FACTS, key), "calculator": calculator}

# ------------------------------------------------------------------------------------------------
# safe_eval and the tools
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("1 + 2 * 3", Fraction(7)),
        ("(1 + 2) * 3", Fraction(9)),
        ("8 / (3 - 8 / 3)", Fraction(24)),
        ("-4 + +2", Fraction(-2)),
        ("0.1 + 0.2", Fraction(3, 10)),
        ("  7 / 2 ", Fraction(7, 2)),
    ],
)
def test_safe_eval_is_exact_arithmetic(expression, expected):
    assert safe_eval(expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('echo hi')",
        "2 ** 10",
        "abs(-3)",
        "x + 1",
        "'a' * 3",
        "True + 1",
        "1 if 1 else 2",
        "[1, 2]",
        "3 // 2",
        "3 % 2",
        "1e400 - 1e400",
        "1 +",
        "",
        "   ",
        "1 / 0",
        "1 / (2 - 2)",
        "1j + 1",
        "1" + " + 1" * 100,
    ],
)
def test_safe_eval_rejects_everything_else(expression):
    with pytest.raises(ValueError, match="expression"):
        safe_eval(expression)


def test_safe_eval_rejects_non_strings():
    with pytest.raises(TypeError, match="expression must be a string"):
        safe_eval(3)


@FAST
@given(st.lists(st.integers(-50, 50), min_size=1, max_size=6), st.data())
def test_safe_eval_agrees_with_fraction_arithmetic(numbers, data):
    ops = data.draw(st.lists(st.sampled_from("+-*"), min_size=len(numbers) - 1, max_size=len(numbers) - 1))
    # build ((a op b) op c) ... with explicit parentheses and compute the same with Fractions
    expr, value = f"({numbers[0]})", Fraction(numbers[0])
    for op, n in zip(ops, numbers[1:]):
        expr = f"({expr} {op} ({n}))"
        value = {"+": value + n, "-": value - n, "*": value * n}[op]
    assert safe_eval(expr) == value


def test_calculator_reports_errors_as_observations():
    assert calculator("6 * 7") == "42"
    assert calculator("1 / 3") == "0.333333"
    assert calculator("1 / 0").startswith("error: ") and "zero" in calculator("1 / 0")
    assert calculator("open('f')").startswith("error: ")
    with pytest.raises(TypeError):
        calculator(None)


def test_lookup_ignores_case_and_suggests_close_keys():
    table = {"Paris population": "2.1 million", "Rome population": "2.8 million"}
    assert lookup(table, "  paris   POPULATION ") == "2.1 million"
    assert "Did you mean: paris population" in lookup(table, "pariss population")
    assert lookup(table, "zzz") == "no entry for 'zzz'."
    with pytest.raises(TypeError, match="key"):
        lookup(table, 3)
    with pytest.raises(TypeError, match="table"):
        lookup({"a": 1}, "a")
    with pytest.raises(TypeError, match="table"):
        lookup(["a"], "a")


def test_facts_hold_the_numbers_the_papers_report():
    # ChemCrow: 13 tools; API-Bank: 53 tools, 264 dialogues, 568 calls; HuggingGPT: 4 stages;
    # Generative Agents: 25 characters.
    expected = {
        "chemcrow tools": 13,
        "api-bank tools": 53,
        "api-bank dialogues": 264,
        "api-bank calls": 568,
        "hugginggpt stages": 4,
        "generative agents characters": 25,
    }
    for key, number in expected.items():
        assert f" {number} " in FACTS[key]


# ------------------------------------------------------------------------------------------------
# The ReAct loop
# ------------------------------------------------------------------------------------------------


def test_react_with_tools_looks_up_computes_and_finishes():
    trace = react("What is the total of chemcrow tools and api-bank tools?", ScriptedPolicy(), TOOLS)
    assert [(s.action, s.argument) for s in trace.steps] == [
        ("lookup", "chemcrow tools"),
        ("lookup", "api-bank tools"),
        ("calculator", "13 + 53"),
        ("finish", "66"),
    ]
    assert trace.answer == "66" == str(13 + 53)
    assert trace.steps[0].observation == FACTS["chemcrow tools"]


def test_react_follows_the_lookup_suggestion():
    trace = react("What is the ratio of api-bank call to hugginggpt stages?", ScriptedPolicy(), TOOLS)
    args = [s.argument for s in trace.steps]
    assert args[:2] == ["api-bank call", "api-bank calls"]
    assert trace.answer == "142" == str(568 // 4)


def test_react_without_tools_answers_from_memory():
    policy = ScriptedPolicy(use_tools=False, memory={"chemcrow tools": 12, "api-bank tools": 53})
    trace = react("What is the difference of api-bank tools and chemcrow tools?", policy, TOOLS)
    assert len(trace.steps) == 1 and trace.answer == "41"
    unknown = react("What is the total of a and b?", ScriptedPolicy(use_tools=False), TOOLS)
    assert unknown.answer == "unknown"


def test_react_gives_up_cleanly():
    assert react("Tell me a joke", ScriptedPolicy(), TOOLS).answer == "unknown"
    assert react("What is the total of nothing here and chemcrow tools?", ScriptedPolicy(), TOOLS).answer == "unknown"
    # a policy that never finishes stops at max_steps without an answer
    looping = lambda q, steps: ("again", "calculator", "1 + 1")  # noqa: E731
    trace = react("q", looping, TOOLS, max_steps=3)
    assert trace.answer is None and len(trace.steps) == 3
    assert "(stopped without an answer)" in format_trace(trace)
    # an unknown action becomes an error observation
    wrong = react("q", lambda q, steps: ("t", "search", "x") if not steps else ("t", "finish", "done"), TOOLS)
    assert wrong.steps[0].observation.startswith("error: unknown action 'search'") and wrong.answer == "done"


def test_react_policy_sees_only_its_own_history():
    seen = []

    def policy(question, steps):
        seen.append(len(steps))
        return ("t", "finish", "x") if len(steps) == 2 else ("t", "calculator", "2 * 3")

    trace = react("q", policy, TOOLS)
    assert seen == [0, 1, 2] and [s.observation for s in trace.steps[:2]] == ["6", "6"]


def test_react_and_format_reject_bad_input():
    with pytest.raises(TypeError, match="question"):
        react(3, ScriptedPolicy(), TOOLS)
    with pytest.raises(TypeError, match="policy"):
        react("q", "policy", TOOLS)
    with pytest.raises(TypeError, match="tools"):
        react("q", ScriptedPolicy(), {"calculator": 3})
    with pytest.raises(ValueError, match="max_steps"):
        react("q", ScriptedPolicy(), TOOLS, max_steps=0)
    with pytest.raises(TypeError, match="trace"):
        format_trace("trace")
    with pytest.raises(TypeError, match="use_tools"):
        ScriptedPolicy(use_tools=1)


def test_format_trace_lines():
    trace = Trace("q", [Step("think", "calculator", "1 + 1", "2"), Step("done", "finish", "2")], "2")
    assert format_trace(trace).splitlines() == [
        "Question: q",
        "Thought 1: think",
        "Action 1: calculator[1 + 1]",
        "Observation 1: 2",
        "Thought 2: done",
        "Action 2: finish[2]",
    ]


# ------------------------------------------------------------------------------------------------
# Game of 24
# ------------------------------------------------------------------------------------------------


def test_children_of_two_numbers():
    kids = children(((Fraction(3), "3"), (Fraction(8), "8")))
    values = sorted(k[0][0] for k in kids)
    assert values == sorted({Fraction(11), Fraction(24), Fraction(-5), Fraction(5), Fraction(3, 8), Fraction(8, 3)})
    kids_zero = children(((Fraction(0), "0"), (Fraction(2), "2")))
    assert sorted(k[0][0] for k in kids_zero) == [-2, 0, 2]  # no division by zero, duplicates merged


@FAST
@given(st.lists(st.integers(1, 13), min_size=2, max_size=4))
def test_children_keep_the_expressions_consistent(numbers):
    state = tuple((Fraction(n), str(n)) for n in numbers)
    for child in children(state):
        assert len(child) == len(numbers) - 1
        for value, expr in child:
            assert safe_eval(expr) == value


def test_value_heuristic():
    f = Fraction
    assert value_24([f(24)]) == 1.0 and value_24([f(23)]) == 0.0
    assert value_24([f(3), f(8)]) == 1.0 and value_24([f(1), f(1)]) == 0.0
    assert value_24([f(4), f(6), f(1)]) == pytest.approx(0.4 + 0.3 + 0.3)
    assert value_24([f(5), f(7), f(1, 2)]) == pytest.approx(0.3 * 2 / 3)
    with pytest.raises(ValueError):
        value_24([])


def test_solvable_24_known_hands_and_the_count_over_all_hands():
    assert solvable_24([4, 9, 10, 13]) and solvable_24([3, 3, 8, 8]) and solvable_24([1, 5, 5, 5])
    assert not solvable_24([1, 1, 1, 1]) and not solvable_24([13, 13, 13, 13])
    hands = list(itertools.combinations_with_replacement(range(1, 14), 4))
    assert len(hands) == 1820
    # the well-known count: 1,362 of the 1,820 hands of cards 1-13 can make 24
    assert sum(solvable_24(h) for h in hands) == 1362


def test_oracle_value_takes_fractional_states_and_makes_greedy_perfect():
    # hand-worked states: 8 / (3 - 8/3) = 24 needs the fraction 8/3; 1/2 and 1 cannot make 24
    assert oracle_value_24([Fraction(8, 3), 3, 8]) == 1.0
    assert oracle_value_24([Fraction(1, 2), 1]) == 0.0
    assert oracle_value_24([24]) == 1.0 and oracle_value_24([Fraction(48, 2)]) == 1.0
    hands = list(itertools.combinations_with_replacement(range(1, 14), 4))[::29]
    for h in hands:
        assert oracle_value_24(list(h)) == float(solvable_24(h))
        result = tot_bfs(h, 1, oracle_value_24)  # a perfect value needs no breadth
        assert result.solved == solvable_24(h)
        if result.solved:
            assert verify_24(result.expression, h)
    with pytest.raises(ValueError, match="values"):
        oracle_value_24([])
    with pytest.raises(TypeError, match="values"):
        oracle_value_24([1, None])


def test_verify_24():
    assert verify_24("8 / (3 - 8 / 3)", [3, 3, 8, 8])
    assert verify_24("(13 - 9) * (10 - 4)", [4, 9, 10, 13])
    assert not verify_24("(13 - 9) * (10 - 4)", [4, 9, 10, 12])  # wrong numbers
    assert not verify_24("4 * 6", [4, 6, 1, 1])  # numbers left unused
    assert not verify_24("(13 - 9) * (10 - 5)", [5, 9, 10, 13])  # 20, not 24
    with pytest.raises(ValueError):
        verify_24("4 ** 6", [4, 6])


def test_bfs_finds_verified_solutions_and_wider_search_does_better():
    hands = [h for h in itertools.combinations_with_replacement(range(1, 14), 4)][::37]
    solvable = [h for h in hands if solvable_24(h)]
    solved = {}
    for b in (1, 3, 50):
        results = [tot_bfs(h, b) for h in solvable]
        for r, h in zip(results, solvable):
            if r.solved:
                assert verify_24(r.expression, h)
        solved[b] = sum(r.solved for r in results)
    assert solved[1] <= solved[3] <= solved[50] == len(solvable)
    for h in hands:
        if not solvable_24(h):
            assert not tot_bfs(h, 50).solved


def test_bfs_counts_evaluations():
    # breadth 1 on four numbers: 4 -> 3 -> 2 -> 1 numbers, each level values the kept state's children
    start = tuple((Fraction(n), str(n)) for n in (1, 2, 3, 4))
    level1 = children(start)
    result = greedy_24([1, 2, 3, 4])
    best = max(level1, key=lambda s: value_24([v for v, _ in s]))  # first max, as in tot_bfs
    level2 = children(best)
    best2 = max(level2, key=lambda s: value_24([v for v, _ in s]))
    assert result.evaluations == len(level1) + len(level2) + len(children(best2))
    assert result == tot_bfs([1, 2, 3, 4], 1)


def test_sample_path_24():
    rng = np.random.default_rng(0)
    results = [sample_path_24([4, 9, 10, 13], rng) for _ in range(50)]
    assert all(r.evaluations == 0 for r in results)
    for r in results:
        assert (r.expression is not None) == r.solved
        if r.solved:
            assert verify_24(r.expression, [4, 9, 10, 13])
    assert sample_path_24([24], rng).solved
    with pytest.raises(TypeError, match="rng"):
        sample_path_24([1, 2, 3, 4], 0)


def test_game_of_24_rejects_bad_input():
    with pytest.raises(TypeError, match="numbers"):
        tot_bfs("1234", 2)
    with pytest.raises(ValueError, match="1 to 6"):
        tot_bfs([], 2)
    with pytest.raises(ValueError, match="numbers must be an integer in"):
        solvable_24([1, 2, -3, 4])
    with pytest.raises(TypeError, match="numbers must be an integer"):
        solvable_24([1, 2, 3.5, 4])
    with pytest.raises(ValueError, match="breadth"):
        tot_bfs([1, 2, 3, 4], 0)
    with pytest.raises(TypeError, match="value"):
        tot_bfs([1, 2, 3, 4], 2, value=3)


def test_public_names_exist():
    for name in ag.__all__:
        assert hasattr(ag, name), name


# ------------------------------------------------------------------------------------------------
# Private pieces that the chapter displays (they take already-checked values)
# ------------------------------------------------------------------------------------------------


def test_check_numbers_and_start():
    assert ag._check_numbers((4, 6, 1)) == [4, 6, 1]
    assert ag._start([4, 6]) == ((Fraction(4), "4"), (Fraction(6), "6"))
    with pytest.raises(TypeError, match="numbers"):
        ag._check_numbers("46")
    with pytest.raises(ValueError, match="1 to 6"):
        ag._check_numbers([])


def test_check_fractions():
    assert ag._check_fractions([1, Fraction(1, 2)]) == [Fraction(1), Fraction(1, 2)]
    with pytest.raises(ValueError, match="at least one"):
        ag._check_fractions([])


def test_private_value_24_by_hand_and_as_the_public_one():
    f = Fraction
    assert ag._value_24([f(24)]) == 1.0 and ag._value_24([f(3), f(8)]) == 1.0
    assert ag._value_24([f(1), f(1)]) == 0.0
    # 4 * 6 = 24 (0.4), all whole (0.3), all divide 24 (0.3)
    assert ag._value_24([f(4), f(6), f(1)]) == pytest.approx(1.0)
    assert ag._value_24([f(5), f(7), f(1, 2)]) == value_24([5, 7, f(1, 2)])


def test_private_tot_bfs_matches_the_public_one():
    for hand in ([4, 6, 1, 1], [1, 1, 1, 1], [3, 3, 8, 8]):
        for breadth in (1, 5):
            assert ag._tot_bfs(hand, breadth, value_24) == tot_bfs(hand, breadth)
    result = ag._tot_bfs([3, 8], 1, oracle_value_24)
    assert result.solved and safe_eval(result.expression) == 24


# ------------------------------------------------------------------------------------------------
# Random search at a fixed budget
# ------------------------------------------------------------------------------------------------


def _path_success_by_enumeration(values):
    """Independent reference: enumerate every ordered pair and every operation with exact fractions."""
    if len(values) == 1:
        return Fraction(int(values[0] == 24))
    total, count = Fraction(0), 0
    for i, j in itertools.permutations(range(len(values)), 2):
        x, y = values[i], values[j]
        rest = [v for m, v in enumerate(values) if m not in (i, j)]
        made = [x + y, x * y, x - y, y - x] + ([x / y] if y else []) + ([y / x] if x else [])
        total += sum(_path_success_by_enumeration([*rest, r]) for r in made) / len(made)
        count += 1
    return total / count


def test_random_path_success_by_hand():
    # two numbers: six results, one of them 24
    assert ag.random_path_success_24([3, 8]) == pytest.approx(1 / 6)
    assert ag.random_path_success_24([12, 12]) == pytest.approx(1 / 6)
    assert ag.random_path_success_24([24]) == 1.0 and ag.random_path_success_24([5]) == 0.0
    assert ag.random_path_success_24([1, 1, 1, 1]) == 0.0


@FAST
@given(st.lists(st.integers(0, 13), min_size=2, max_size=3))
def test_random_path_success_matches_enumeration_and_solvability(hand):
    p = ag.random_path_success_24(hand)
    assert p == pytest.approx(float(_path_success_by_enumeration([Fraction(v) for v in hand])))
    assert (p > 0) == solvable_24(hand)


def test_random_search_frequency_matches_the_exact_probability():
    rng = np.random.default_rng(0)
    hits = np.mean([ag.random_search_24([3, 8], 1, rng).solved for _ in range(3000)])
    p = 1 / 6
    assert abs(hits - p) < 4 * np.sqrt(p * (1 - p) / 3000)


def test_random_search_respects_the_budget_and_finds_valid_expressions():
    rng = np.random.default_rng(1)
    miss = ag.random_search_24([1, 1, 1, 1], 25, rng)
    assert not miss.solved and miss.evaluations == 25 and miss.expression is None
    hit = ag.random_search_24([4, 6, 1, 1], 500, rng)
    assert hit.solved and 1 <= hit.evaluations <= 500 and verify_24(hit.expression, [4, 6, 1, 1])


def test_random_search_rejects_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="budget"):
        ag.random_search_24([3, 8], 0, rng)
    with pytest.raises(TypeError, match="rng"):
        ag.random_search_24([3, 8], 5, 0)
    with pytest.raises(ValueError, match="numbers"):
        ag.random_path_success_24([])


# ------------------------------------------------------------------------------------------------
# Reflexion
# ------------------------------------------------------------------------------------------------


def test_detect_failure_by_hand():
    same = ["go to a"] * 4
    seen = ["nothing"] * 4
    assert ag.detect_failure(same[:3], seen[:3]) is None  # three in a row is not more than three
    assert ag.detect_failure(same, seen) == "hallucination"
    assert ag.detect_failure(same, ["nothing", "nothing", "nothing", "else"]) is None
    many = [f"go to {i}" for i in range(31)]
    assert ag.detect_failure(many[:30], ["x"] * 30) is None
    assert ag.detect_failure(many, ["x"] * 31) == "inefficient planning"
    assert ag.detect_failure(["a", "b", "c"], ["x"] * 3, max_actions=2) == "inefficient planning"
    assert ag.detect_failure([], []) is None


def test_detect_failure_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        ag.detect_failure(["a"], [])
    with pytest.raises(TypeError, match="sequences"):
        ag.detect_failure("a", "b")
    with pytest.raises(ValueError, match="max_repeats"):
        ag.detect_failure(["a"], ["b"], max_repeats=0)


def test_reflect_names_the_failure_and_the_places_searched_in_vain():
    actions = ["go to a", "go to b", "go to b", "go to c"]
    seen = ["On the a you see nothing you need."] * 3 + ["On the c you see a mug."]
    lesson = ag.reflect(actions, seen, "inefficient planning")
    assert "not in a, b." in lesson and "4 actions" in lesson and "never repeat" in lesson
    assert "repeated 'go to c'" in ag.reflect(actions, seen, "hallucination")
    with pytest.raises(ValueError, match="failure"):
        ag.reflect(actions, seen, "boredom")
    with pytest.raises(ValueError, match="same length"):
        ag.reflect(actions, seen[:2], "hallucination")


def test_reflexion_hand_worked_retry_uses_the_lesson():
    places = ["a", "b", "c", "d", "e"]
    rng = np.random.default_rng(0)
    trials = ag.reflexion(places, "e", rng, n_trials=4, max_actions=2, p_repeat=0.0)
    # trial 1: a, b, c -> more than two actions, stopped; the lesson rules out a, b, c
    assert [t.success for t in trials] == [False, True]
    assert trials[0].actions == ("go to a", "go to b", "go to c")
    assert trials[0].failure == "inefficient planning" and trials[0].lessons == ()
    assert trials[1].actions == ("go to d", "go to e", "take mug")
    assert len(trials[1].lessons) == 1 and "not in a, b, c." in trials[1].lessons[0]
    # the baseline resets without a lesson and repeats the same failure every time
    base = ag.reflexion(places, "e", rng, n_trials=4, max_actions=2, p_repeat=0.0, use_reflection=False)
    assert len(base) == 4 and not any(t.success for t in base)
    assert all(t.actions == trials[0].actions for t in base)


def test_reflexion_first_trial_succeeds_when_the_target_is_within_budget():
    rng = np.random.default_rng(3)
    for rank, place in enumerate(ag.PLACES, 1):
        first = ag.reflexion(list(ag.PLACES), place, rng, n_trials=1, max_actions=5, p_repeat=0.0)[0]
        assert first.success == (rank <= 5)


@FAST
@given(st.integers(0, 10_000), st.floats(0.0, 0.9), st.integers(1, 3))
def test_reflexion_invariants(seed, p_repeat, memory_size):
    rng = np.random.default_rng(seed)
    prior = list(rng.permutation(ag.PLACES))
    target = str(rng.choice(ag.PLACES))
    trials = ag.reflexion(prior, target, rng, n_trials=6, max_actions=4, p_repeat=p_repeat, memory_size=memory_size)
    assert all(not t.success for t in trials[:-1])
    for t in trials:
        assert len(t.lessons) <= memory_size
        if t.failure == "hallucination":
            assert len(set(zip(t.actions[-4:], t.observations[-4:]))) == 1
        if t.failure == "inefficient planning":
            assert len(t.actions) == 5
        if t.success:
            assert t.actions[-1] == "take mug" and t.actions[-2] == f"go to {target}"


def test_reflexion_rejects_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="prior"):
        ag.reflexion("abc", "a", rng)
    with pytest.raises(ValueError, match="prior"):
        ag.reflexion(["a", "a"], "a", rng)
    with pytest.raises(ValueError, match="target"):
        ag.reflexion(["a", "b"], "c", rng)
    with pytest.raises(TypeError, match="rng"):
        ag.reflexion(["a", "b"], "a", 1)
    with pytest.raises(ValueError, match="p_repeat"):
        ag.reflexion(["a", "b"], "a", rng, p_repeat=1.0)
    with pytest.raises(ValueError, match="p_repeat"):
        ag.reflexion(["a", "b"], "a", rng, p_repeat=-0.1)
    with pytest.raises(ValueError, match="n_trials"):
        ag.reflexion(["a", "b"], "a", rng, n_trials=0)
    with pytest.raises(TypeError, match="use_reflection"):
        ag.reflexion(["a", "b"], "a", rng, use_reflection=1)


def test_reflexion_study_without_repeats_matches_the_rank_argument():
    # 12 places, at most 4 actions: trial 1 finds ranks 1-4 and, failing, visits 5 places. The lesson
    # rules out those searched in vain, so trial 2 starts at rank 6 (or at rank 5 when the mug was seen
    # there too late) and finds ranks 5-9; trial 3 the rest. Uniform target: 4/12, 9/12, 1.
    # Without reflection every retry repeats trial 1: 1/3 throughout.
    rng = np.random.default_rng(5)
    n = 1200
    with_lessons, fails = ag.reflexion_study(n, rng, n_trials=4, max_actions=4, p_repeat=0.0)
    tol = 4 * np.sqrt(0.25 / n)
    assert with_lessons[0] == pytest.approx(1 / 3, abs=tol)
    assert with_lessons[1] == pytest.approx(3 / 4, abs=tol)
    assert with_lessons[2] == with_lessons[3] == 1.0
    assert fails["hallucination"] == 0
    without, _ = ag.reflexion_study(n, rng, n_trials=4, max_actions=4, p_repeat=0.0, use_reflection=False)
    assert np.all(without == without[0]) and without[0] == pytest.approx(1 / 3, abs=tol)


def test_reflexion_study_rejects_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_tasks"):
        ag.reflexion_study(0, rng)
    with pytest.raises(TypeError, match="rng"):
        ag.reflexion_study(5, 5)
    with pytest.raises(ValueError, match="p_repeat"):
        ag.reflexion_study(5, rng, p_repeat=2.0)
