"""Tests for lilbook.prompting.

Expected values come from hand-worked small cases, closed forms written out here (softmax
by hand, the token formulas), brute-force reference implementations in this file (vote-k
with explicit sets), or invariances of the stated models, never from the output of the
code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lilbook import prompting as pr
from lilbook.prompting import (
    STRATEGIES,
    TokenCost,
    biased_label_probs,
    contextual_calibration,
    icl_predict,
    prompt_bias_logits,
    simulate_calibration,
    token_cost,
    toolformer_keep,
    vote_k_select,
)

FAST = settings(max_examples=40, deadline=None, database=None)


def unit_rows(rng, n, d):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def hand_softmax(z):
    z = np.asarray(z, float)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------------------------------
# icl_predict
# ------------------------------------------------------------------------------------


def test_icl_single_demo_is_its_label_plus_noise():
    p = icl_predict([1.0, 0.0], [[0.0, 1.0]], [2], 3, noise=0.3)
    assert np.allclose(p, [[0.1, 0.1, 0.8]])


def test_icl_two_demos_hand_worked():
    # similarities 1 and 0, temperature 1: weights e/(e+1) and 1/(e+1)
    p = icl_predict([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], [0, 1], 2, temperature=1.0, noise=0.0)
    w = math.e / (math.e + 1)
    assert np.allclose(p, [[w, 1 - w]])


def test_icl_cold_temperature_follows_nearest_demo():
    rng = np.random.default_rng(0)
    demos, queries = unit_rows(rng, 12, 5), unit_rows(rng, 30, 5)
    labels = rng.integers(4, size=12)
    p = icl_predict(queries, demos, labels, 4, temperature=1e-4, noise=0.0)
    nearest = np.array([np.argmax([q @ x for x in demos]) for q in queries])
    assert np.array_equal(p.argmax(axis=1), labels[nearest])


def test_icl_per_query_demos_match_shared_demos():
    rng = np.random.default_rng(1)
    demos, queries = unit_rows(rng, 6, 4), unit_rows(rng, 5, 4)
    labels = rng.integers(3, size=6)
    shared = icl_predict(queries, demos, labels, 3)
    per_query = icl_predict(
        queries, np.repeat(demos[None], 5, axis=0), np.repeat(labels[None], 5, axis=0), 3
    )
    assert np.allclose(shared, per_query)
    one_by_one = np.vstack([icl_predict(q, demos, labels, 3) for q in queries])
    assert np.allclose(shared, one_by_one)


@FAST
@given(st.integers(0, 10**6), st.integers(1, 8), st.integers(2, 5),
       st.floats(0.01, 5.0), st.floats(0.0, 1.0))
def test_icl_rows_are_distributions_and_ignore_demo_order(seed, k, n_labels, tau, noise):
    rng = np.random.default_rng(seed)
    demos, queries = unit_rows(rng, k, 3), unit_rows(rng, 4, 3)
    labels = rng.integers(n_labels, size=k)
    p = icl_predict(queries, demos, labels, n_labels, temperature=tau, noise=noise)
    assert p.shape == (4, n_labels)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.all(p >= noise / n_labels - 1e-12)
    perm = rng.permutation(k)
    assert np.allclose(p, icl_predict(queries, demos[perm], labels[perm], n_labels,
                                      temperature=tau, noise=noise))


@pytest.mark.parametrize("kwargs, error", [
    ({"n_labels": 1}, ValueError),
    ({"n_labels": 2.0}, TypeError),
    ({"temperature": 0.0}, ValueError),
    ({"noise": 1.5}, ValueError),
    ({"demo_labels": [0, 2]}, ValueError),
    ({"demo_labels": [0, 0.5]}, ValueError),
    ({"demo_labels": [0]}, ValueError),
    ({"demo_embeddings": [1.0, 0.0]}, ValueError),
    ({"demo_embeddings": [[1.0, np.nan], [0.0, 1.0]]}, ValueError),
    ({"queries": [[1.0, 0.0, 0.0]]}, ValueError),
    ({"queries": "a"}, TypeError),
    ({"demo_embeddings": np.ones((3, 2, 2)), "demo_labels": np.zeros((3, 2))}, ValueError),
])
def test_icl_rejects_bad_input(kwargs, error):
    args = {"queries": [[1.0, 0.0]], "demo_embeddings": [[1.0, 0.0], [0.0, 1.0]],
                "demo_labels": [0, 1], "n_labels": 2}
    args.update(kwargs)
    with pytest.raises(error):
        icl_predict(args.pop("queries"), args.pop("demo_embeddings"),
                    args.pop("demo_labels"), args.pop("n_labels"), **args)


# ------------------------------------------------------------------------------------
# vote_k_select
# ------------------------------------------------------------------------------------


def vote_k_brute(x, budget, k, rho):
    """Vote-k written with explicit neighbour sets and a set of selected items."""
    n = len(x)
    nbrs = []
    for v in range(n):
        others = sorted((u for u in range(n) if u != v), key=lambda u: (-(x[v] @ x[u]), u))
        nbrs.append(set(others[:k]))
    chosen = []
    for _ in range(budget):
        best, best_score = None, -1.0
        for u in range(n):
            if u in chosen:
                continue
            score = sum(rho ** -len(nbrs[v] & set(chosen))
                        for v in range(n) if v not in chosen and u in nbrs[v])
            if score > best_score + 1e-12:
                best, best_score = u, score
        chosen.append(best)
    return chosen


@FAST
@given(st.integers(0, 10**6), st.integers(3, 14), st.integers(1, 5), st.floats(1.5, 50.0))
def test_vote_k_matches_brute_force(seed, n, k, rho):
    rng = np.random.default_rng(seed)
    x = unit_rows(rng, n, 3)
    k = min(k, n - 1)
    budget = int(rng.integers(1, n + 1))
    got = vote_k_select(x, budget, k=k, rho=rho)
    assert list(got) == vote_k_brute(x, budget, k, rho)
    assert len(set(got.tolist())) == budget


def test_vote_k_spreads_over_clusters():
    # a big tight cluster and a small one far away; a large rho forbids a second pick
    # from the first cluster's covered neighbourhoods
    rng = np.random.default_rng(3)
    big = np.array([1.0, 0.0]) + 0.01 * rng.standard_normal((8, 2))
    small = np.array([-1.0, 0.0]) + 0.01 * rng.standard_normal((4, 2))
    x = np.vstack([big, small])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    first, second = vote_k_select(x, 2, k=3, rho=1e6)
    assert first < 8 and second >= 8


@pytest.mark.parametrize("kwargs, error", [
    ({"budget": 0}, ValueError),
    ({"budget": 5}, ValueError),
    ({"k": 4}, ValueError),
    ({"k": 0}, ValueError),
    ({"rho": 1.0}, ValueError),
    ({"rho": float("inf")}, ValueError),
    ({"rho": "2"}, TypeError),
    ({"embeddings": [[1.0, 0.0]]}, ValueError),
    ({"embeddings": [1.0, 0.0, 2.0]}, ValueError),
    ({"budget": 1.5}, TypeError),
])
def test_vote_k_rejects_bad_input(kwargs, error):
    args = {"embeddings": np.eye(4), "budget": 2, "k": 2, "rho": 10.0}
    args.update(kwargs)
    with pytest.raises(error):
        vote_k_select(args.pop("embeddings"), args.pop("budget"), **args)


# ------------------------------------------------------------------------------------
# Biases and contextual calibration
# ------------------------------------------------------------------------------------


def test_prompt_bias_hand_worked():
    b = prompt_bias_logits([0, 1, 1, 0], 3, majority=2.0, recency=1.5,
                           token_prior=[0.5, 0.25, 0.25])
    expected = [2.0 * 0.5 + 1.5 + math.log(0.5), 2.0 * 0.5 + math.log(0.25), math.log(0.25)]
    assert np.allclose(b, expected)


@pytest.mark.parametrize("kwargs, error", [
    ({"majority": -1.0}, ValueError),
    ({"recency": 51.0}, ValueError),
    ({"recency": "1"}, TypeError),
    ({"token_prior": [0.5, 0.5, 0.0]}, ValueError),
    ({"token_prior": [0.5, 0.5]}, ValueError),
    ({"token_prior": [0.5, 0.6, 0.1]}, ValueError),
    ({"demo_labels": [3]}, ValueError),
    ({"demo_labels": [[0, 1]]}, ValueError),
    ({"n_labels": 1}, ValueError),
])
def test_prompt_bias_rejects_bad_input(kwargs, error):
    args = {"demo_labels": [0, 1], "n_labels": 3, "majority": 1.0, "recency": 1.0,
                "token_prior": [0.2, 0.3, 0.5]}
    args.update(kwargs)
    with pytest.raises(error):
        prompt_bias_logits(args.pop("demo_labels"), args.pop("n_labels"), **args)


def test_biased_probs_is_softmax_of_sum():
    clean = np.array([[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    bias = np.array([0.5, 0.0, 2.0])
    assert np.allclose(biased_label_probs(clean, bias), hand_softmax(clean + bias))
    assert np.allclose(biased_label_probs(clean[1], bias), hand_softmax(bias)[None])


@pytest.mark.parametrize("clean, bias, error", [
    ([[0.0, 1.0]], [[0.0, 1.0]], ValueError),
    ([[0.0, 1.0, 2.0]], [0.0, 1.0], ValueError),
    ([[0.0, np.inf]], [0.0, 1.0], ValueError),
    ([[0.0, 1.0]], [np.nan, 1.0], ValueError),
    (None, [0.0, 1.0], TypeError),
])
def test_biased_probs_rejects_bad_input(clean, bias, error):
    with pytest.raises(error):
        biased_label_probs(clean, bias)


@FAST
@given(st.integers(0, 10**6), st.integers(2, 6))
def test_calibration_removes_a_pure_prompt_bias(seed, n_labels):
    # p = softmax(c + b) and p_cf = softmax(b): diag(p_cf)^-1 p renormalised is softmax(c)
    rng = np.random.default_rng(seed)
    clean = rng.normal(0, 2, (7, n_labels))
    bias = rng.normal(0, 3, n_labels)
    p = hand_softmax(clean + bias)
    p_cf = hand_softmax(bias)
    assert np.allclose(contextual_calibration(p, p_cf), hand_softmax(clean), atol=1e-10)
    assert np.allclose(contextual_calibration(p_cf, p_cf), 1.0 / n_labels)


def test_calibration_hand_worked():
    out = contextual_calibration([0.6, 0.4], [0.8, 0.2])
    assert np.allclose(out, [[0.75 / 2.75, 2.0 / 2.75]])


@pytest.mark.parametrize("probs, p_cf, error", [
    ([0.5, 0.5], [1.0, 0.0], ValueError),
    ([0.5, 0.5], [[0.5, 0.5]], ValueError),
    ([0.5, 1.5], [0.5, 0.5], ValueError),
    ([0.0, 0.0], [0.5, 0.5], ValueError),
    ([0.2, 0.3, 0.5], [0.5, 0.5], ValueError),
    ("x", [0.5, 0.5], TypeError),
])
def test_calibration_rejects_bad_input(probs, p_cf, error):
    with pytest.raises(error):
        contextual_calibration(probs, p_cf)


def clean_task(seed, m=60, n_labels=2):
    rng = np.random.default_rng(seed)
    y = rng.integers(n_labels, size=m)
    clean = rng.normal(0, 0.3, (m, n_labels))
    clean[np.arange(m), y] += rng.normal(1.0, 1.5, m)
    return clean, y


SIM = {"n_prompts": 25, "n_shots": 4, "majority": 2.0, "recency": 1.5, "token_prior": [0.7, 0.3]}


def test_simulation_with_a_neutral_content_free_input_restores_clean_accuracy():
    clean, y = clean_task(0)
    res = simulate_calibration(clean, y, cf_noise=0.0, rng=np.random.default_rng(1), **SIM)
    clean_acc = np.mean(clean.argmax(axis=1) == y)
    assert np.allclose(res.after, clean_acc)
    assert res.before.shape == (25,) and res.demo_labels.shape == (25, 4)
    assert np.allclose(res.predicted_before.sum(axis=1), 1.0)
    assert np.allclose(res.predicted_after.sum(axis=1), 1.0)


def test_simulation_accuracies_agree_with_a_recomputation():
    clean, y = clean_task(2)
    res = simulate_calibration(clean, y, cf_noise=0.5, rng=np.random.default_rng(3), **SIM)
    for demos, acc, share in zip(res.demo_labels, res.before, res.predicted_before):
        bias = (2.0 * np.bincount(demos, minlength=2) / 4 + 1.5 * np.eye(2)[demos[-1]]
                + np.log([0.7, 0.3]))
        pred = np.argmax(clean + bias, axis=1)
        assert acc == pytest.approx(np.mean(pred == y))
        assert share[0] == pytest.approx(np.mean(pred == 0))


def test_simulation_without_bias_changes_nothing_and_is_seeded():
    clean, y = clean_task(4)
    kw = dict(SIM, majority=0.0, recency=0.0, token_prior=[0.5, 0.5])
    res = simulate_calibration(clean, y, cf_noise=0.0, rng=np.random.default_rng(5), **kw)
    assert np.allclose(res.before, np.mean(clean.argmax(axis=1) == y))
    assert np.allclose(res.before, res.after)
    a = simulate_calibration(clean, y, cf_noise=0.4, rng=np.random.default_rng(6), **SIM)
    b = simulate_calibration(clean, y, cf_noise=0.4, rng=np.random.default_rng(6), **SIM)
    assert np.array_equal(a.after, b.after) and np.array_equal(a.demo_labels, b.demo_labels)


@pytest.mark.parametrize("kwargs, error", [
    ({"n_prompts": 0}, ValueError),
    ({"n_shots": 65}, ValueError),
    ({"cf_noise": -0.1}, ValueError),
    ({"cf_noise": 11.0}, ValueError),
    ({"rng": 0}, TypeError),
    ({"true_labels": [0, 1]}, ValueError),
    ({"true_labels": [2] * 60}, ValueError),
    ({"clean_logits": np.zeros((60, 1)), "token_prior": [1.0]}, ValueError),
    ({"token_prior": [0.3, 0.3]}, ValueError),
])
def test_simulation_rejects_bad_input(kwargs, error):
    clean, y = clean_task(7)
    args = dict(SIM, clean_logits=clean, true_labels=y, cf_noise=0.1,
                rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(error):
        simulate_calibration(args.pop("clean_logits"), args.pop("true_labels"), **args)


# ------------------------------------------------------------------------------------
# Token cost
# ------------------------------------------------------------------------------------


BASE = {"question_tokens": 50, "answer_tokens": 5, "instruction_tokens": 20, "n_shots": 4,
            "demo_tokens": 60, "rationale_tokens": 100, "trigger_tokens": 7}


@pytest.mark.parametrize("strategy, k, share, expected", [
    ("zero-shot", 1, True, (70, 5)),
    ("few-shot", 1, True, (20 + 240 + 50, 5)),
    # two calls: reasoning reads 20 + 50 + 7 = 77; extraction re-reads those 77, the
    # 100-token rationale and the default 6-token answer trigger: 77 + 183 = 260
    ("zero-shot CoT", 1, True, (260, 105)),
    ("few-shot CoT", 1, True, (20 + 4 * 160 + 50, 105)),
    ("self-consistency", 10, True, (710, 1050)),
    ("self-consistency", 10, False, (7100, 1050)),
])
def test_token_cost_hand_worked(strategy, k, share, expected):
    cost = token_cost(strategy, k_samples=k, share_prompt=share, **BASE)
    assert (cost.input_tokens, cost.output_tokens) == expected
    assert cost.total_tokens == sum(expected)
    assert cost.price(2.0, 8.0) == pytest.approx((expected[0] * 2 + expected[1] * 8) / 1e6)


@FAST
@given(st.integers(1, 500), st.integers(0, 100), st.integers(0, 20), st.integers(0, 400),
       st.integers(0, 30))
def test_zero_shot_cot_reads_the_first_call_twice(q, i, t, r, e):
    cost = token_cost("zero-shot CoT", question_tokens=q, answer_tokens=3, instruction_tokens=i,
                      trigger_tokens=t, rationale_tokens=r, extraction_tokens=e)
    first = i + q + t
    second = first + r + e
    assert cost.input_tokens == first + second
    assert cost.output_tokens == r + 3
    # more than one zero-shot call costs, whatever the lengths
    assert cost.input_tokens >= 2 * token_cost("zero-shot", question_tokens=q, answer_tokens=3,
                                               instruction_tokens=i).input_tokens


@FAST
@given(st.integers(1, 500), st.integers(1, 50), st.integers(0, 16), st.integers(0, 300),
       st.integers(0, 400), st.integers(1, 64))
def test_self_consistency_scales_output_with_k(q, a, n, d, r, k):
    kw = {"question_tokens": q, "answer_tokens": a, "n_shots": n, "demo_tokens": d,
              "rationale_tokens": r}
    cot = token_cost("few-shot CoT", **kw)
    sc = token_cost("self-consistency", k_samples=k, **kw)
    assert sc.input_tokens == cot.input_tokens
    assert sc.output_tokens == k * cot.output_tokens
    assert token_cost("self-consistency", k_samples=1, **kw) == cot
    assert token_cost("few-shot", **kw).input_tokens <= cot.input_tokens
    assert set(STRATEGIES) == {"zero-shot", "few-shot", "zero-shot CoT", "few-shot CoT",
                               "self-consistency"}


@pytest.mark.parametrize("strategy, kwargs, error", [
    ("one-shot", {}, ValueError),
    (3, {}, TypeError),
    ("few-shot", {"k_samples": 2}, ValueError),
    ("few-shot", {"question_tokens": 0}, ValueError),
    ("few-shot", {"n_shots": -1}, ValueError),
    ("few-shot", {"demo_tokens": 2.5}, TypeError),
    ("few-shot", {"share_prompt": 1}, TypeError),
    ("self-consistency", {"k_samples": 0}, ValueError),
    ("zero-shot CoT", {"extraction_tokens": -1}, ValueError),
])
def test_token_cost_rejects_bad_input(strategy, kwargs, error):
    args = dict(BASE)
    args.update(kwargs)
    with pytest.raises(error):
        token_cost(strategy, **args)


@pytest.mark.parametrize("prices", [(-1.0, 1.0), (1.0, float("nan")), ("1", 1.0)])
def test_price_rejects_bad_input(prices):
    with pytest.raises((TypeError, ValueError)):
        TokenCost(10, 10).price(*prices)


# ------------------------------------------------------------------------------------
# Toolformer's filter
# ------------------------------------------------------------------------------------


def test_toolformer_keep_hand_worked():
    keep = toolformer_keep([2.0, 2.0, 2.0, 1.0], [1.5, 3.0, 2.0, 1.0],
                           [1.0, 1.0, 1.9, 1.2], 0.5)
    # L- = 1.5, 2.0, 2.0, 1.0; L- - L+ = 0.5, 1.0, 0.1, -0.2
    assert keep.tolist() == [True, True, False, False]
    assert toolformer_keep(2.0, 2.0, 1.0, 0.0).tolist() is True
    assert toolformer_keep([2.0, 3.0], 2.5, 1.0, 1.2).tolist() == [False, True]


@FAST
@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 10), st.floats(0, 10)),
                min_size=1, max_size=20), st.floats(0, 5))
def test_toolformer_keep_matches_the_definition(rows, tau):
    a, b, c = (np.array(col) for col in zip(*rows))
    got = toolformer_keep(a, b, c, tau)
    assert got.tolist() == [min(x, y) - z >= tau for x, y, z in rows]


@pytest.mark.parametrize("args, error", [
    (([1.0], [1.0], [-1.0], 0.1), ValueError),
    (([1.0], [np.nan], [1.0], 0.1), ValueError),
    (([1.0, 2.0], [1.0, 2.0, 3.0], [1.0], 0.1), ValueError),
    (([1.0], [1.0], [1.0], -0.1), ValueError),
    (([1.0], [1.0], [1.0], "0"), TypeError),
    ((None, [1.0], [1.0], 0.1), TypeError),
])
def test_toolformer_keep_rejects_bad_input(args, error):
    with pytest.raises(error):
        toolformer_keep(*args)


def test_module_exports_exist():
    for name in pr.__all__:
        assert hasattr(pr, name)


# ------------------------------------------------------------------------------------
# Private pieces that the chapter displays (they take already-checked values)
# ------------------------------------------------------------------------------------


def test_private_contextual_calibration_by_hand():
    out = pr._contextual_calibration(np.array([[0.6, 0.4]]), np.array([0.8, 0.2]))
    # W p = (0.6 / 0.8, 0.4 / 0.2) = (0.75, 2), renormalised
    assert np.allclose(out, [[0.75 / 2.75, 2 / 2.75]])
    assert np.array_equal(out, contextual_calibration([0.6, 0.4], [0.8, 0.2]))


def test_private_toolformer_keep_by_hand():
    keep = pr._toolformer_keep(np.array([2.0, 2.0, 3.0]), np.array([1.5, 3.0, 3.0]), np.array([1.0, 1.0, 2.5]), 0.6)
    # L- = (1.5, 2.0, 3.0); L- - L+ = (0.5, 1.0, 0.5)
    assert keep.tolist() == [False, True, False]
    assert keep.tolist() == toolformer_keep([2.0, 2.0, 3.0], [1.5, 3.0, 3.0], [1.0, 1.0, 2.5], 0.6).tolist()


def test_check_loss_and_broadcastable_losses():
    assert pr._check_loss([0.0, 1.5], "loss_call").tolist() == [0.0, 1.5]
    with pytest.raises(ValueError, match="loss_call must be >= 0"):
        pr._check_loss([-1.0], "loss_call")
    plain, call, plus = pr._check_broadcastable_losses(np.zeros(3), np.zeros((2, 1)), np.zeros(1))
    assert plain.shape == call.shape == plus.shape == (2, 3)
    with pytest.raises(ValueError, match="broadcastable"):
        pr._check_broadcastable_losses(np.zeros(3), np.zeros(2), np.zeros(1))


# ------------------------------------------------------------------------------------
# Order sensitivity: order_bias_logits, prediction_entropies, top_by_score,
# simulate_order_sensitivity
# ------------------------------------------------------------------------------------


def test_order_bias_hand_worked():
    # labels (0, 1, 1), weights decay^(2, 1, 0) = (0.25, 0.5, 1), majority 3, recency 2
    lean = [[0.4, 0.0], [0.0, 0.0], [0.0, -1.0]]
    b = pr.order_bias_logits([0, 1, 1], lean, majority=3.0, recency=2.0, decay=0.5,
                             token_prior=[0.8, 0.2])
    b0 = 3 * (1 / 3) + 0.25 * (2 + 0.4) + math.log(0.8)
    b1 = 3 * (2 / 3) + 0.5 * 2 + 1.0 * (2 - 1.0) + math.log(0.2)
    assert b == pytest.approx([b0, b1])


@FAST
@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(2, 4))
def test_order_bias_reduces_to_the_simple_model_and_ignores_order_at_decay_one(seed, k, n_labels):
    rng = np.random.default_rng(seed)
    y = rng.integers(n_labels, size=k)
    prior = rng.dirichlet(np.ones(n_labels)) + 0.01
    prior /= prior.sum()
    zero = np.zeros((k, n_labels))
    simple = prompt_bias_logits(y, n_labels, majority=1.3, recency=0.7, token_prior=prior)
    rich = pr.order_bias_logits(y, zero, majority=1.3, recency=0.7, decay=0.0, token_prior=prior)
    assert np.allclose(rich, simple)
    # with decay 1 every position weighs the same, so reordering changes nothing
    lean = rng.normal(size=(k, n_labels))
    perm = rng.permutation(k)
    kw = dict(majority=1.3, recency=0.7, decay=1.0, token_prior=prior)
    assert np.allclose(pr.order_bias_logits(y, lean, **kw),
                       pr.order_bias_logits(y[perm], lean[perm], **kw))


def test_order_bias_depends_on_order_when_positions_fade():
    kw = dict(majority=0.0, recency=1.0, decay=0.5, token_prior=[0.5, 0.5])
    zero = np.zeros((2, 2))
    a = pr.order_bias_logits([0, 1], zero, **kw)
    b = pr.order_bias_logits([1, 0], zero, **kw)
    # (0, 1): label 0 weighs 0.5, label 1 weighs 1; reversed, the other way round
    assert a - math.log(0.5) == pytest.approx([0.5, 1.0])
    assert b - math.log(0.5) == pytest.approx([1.0, 0.5])


@pytest.mark.parametrize("kwargs, error", [
    ({"decay": 1.5}, ValueError),
    ({"decay": "0.5"}, TypeError),
    ({"majority": -1.0}, ValueError),
    ({"recency": 60.0}, ValueError),
    ({"token_prior": [0.5, 0.6]}, ValueError),
    ({"token_prior": [1.0, 0.0]}, ValueError),
    ({"demo_labels": [0, 2]}, ValueError),
    ({"demo_labels": [0]}, ValueError),
    ({"demo_lean": [[0.0, np.inf], [0.0, 0.0]]}, ValueError),
    ({"demo_lean": [[0.0], [0.0]]}, ValueError),
])
def test_order_bias_rejects_bad_input(kwargs, error):
    args = dict(demo_labels=[0, 1], demo_lean=np.zeros((2, 2)), majority=1.0, recency=1.0,
                decay=0.5, token_prior=[0.5, 0.5])
    args.update(kwargs)
    with pytest.raises(error):
        pr.order_bias_logits(**args)


def binary_entropy(p):
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def test_prediction_entropies_hand_worked():
    probs = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]]
    global_e, local_e = pr.prediction_entropies(probs)
    # predicted labels 0, 1, 0, 0: histogram (3/4, 1/4)
    assert global_e == pytest.approx(binary_entropy(0.25))
    assert local_e == pytest.approx(np.mean([binary_entropy(p) for p in (0.9, 0.2, 0.6, 0.7)]))


@FAST
@given(st.integers(0, 10_000), st.integers(1, 30), st.integers(2, 5))
def test_prediction_entropies_bounds_and_extremes(seed, m, n_labels):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(n_labels), size=m)
    g, loc = pr.prediction_entropies(probs)
    assert -1e-12 <= g <= math.log(n_labels) + 1e-12
    assert -1e-12 <= loc <= math.log(n_labels) + 1e-12
    # everything sent to one label with certainty: both scores are zero
    onehot = np.zeros((m, n_labels))
    onehot[:, rng.integers(n_labels)] = 1.0
    assert pr.prediction_entropies(onehot) == pytest.approx((0.0, 0.0))
    # uniform predictions: LocalE is log n_labels
    assert pr.prediction_entropies(np.full((m, n_labels), 1 / n_labels))[1] == pytest.approx(
        math.log(n_labels))


@pytest.mark.parametrize("probs, error", [
    ([[0.5, 0.6]], ValueError),
    ([[1.0]], ValueError),
    ([[-0.1, 1.1]], ValueError),
    ([[np.nan, 0.5]], ValueError),
    ("0.5", TypeError),
])
def test_prediction_entropies_rejects_bad_input(probs, error):
    with pytest.raises(error):
        pr.prediction_entropies(probs)


def test_top_by_score_hand_worked_with_ties():
    top = pr.top_by_score([[0.1, 0.7, 0.7, 0.3], [2.0, 1.0, 3.0, 0.0]], 2)
    assert top.tolist() == [[1, 2], [2, 0]]


@pytest.mark.parametrize("scores, top, error", [
    ([[1.0, 2.0]], 3, ValueError),
    ([[1.0, 2.0]], 0, ValueError),
    ([[1.0, np.nan]], 1, ValueError),
    ([[1.0, 2.0]], 1.5, TypeError),
])
def test_top_by_score_rejects_bad_input(scores, top, error):
    with pytest.raises(error):
        pr.top_by_score(scores, top)


def order_task(seed, m=60):
    rng = np.random.default_rng(seed)
    y = rng.integers(2, size=m)
    clean = np.zeros((m, 2))
    clean[np.arange(m), y] = rng.normal(1.0, 1.5, m)
    probe = rng.normal(0, 1.5, (25, 2))
    return clean, y, probe


ORDER_KW = dict(n_sets=3, n_shots=3, majority=1.0, recency=2.0, decay=0.5,
                token_prior=[0.7, 0.3], lean_scale=1.0, cf_noise=0.3)


def test_order_simulation_agrees_with_a_recomputation():
    clean, y, probe = order_task(1)
    res = pr.simulate_order_sensitivity(clean, y, probe, rng=np.random.default_rng(4), **ORDER_KW)
    assert res.permutations.shape == (6, 3)
    assert sorted(map(tuple, res.permutations)) == sorted(
        [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)])
    # replay the generator: labels first, then per set its leans and the content-free logits
    rng = np.random.default_rng(4)
    labels = rng.integers(2, size=(3, 3))
    assert np.array_equal(labels, res.demo_labels)
    for s in range(3):
        lean = rng.normal(0.0, 1.0, (3, 2))
        cf = rng.normal(0.0, 0.3, 2)
        for j, perm in enumerate(res.permutations):
            w = 0.5 ** np.array([2.0, 1.0, 0.0])
            onehot = np.eye(2)[labels[s][perm]]
            bias = onehot.mean(axis=0) + w @ (2.0 * onehot + lean[perm]) + np.log([0.7, 0.3])
            p = hand_softmax(clean + bias)
            assert res.accuracy[s, j] == pytest.approx(np.mean(p.argmax(1) == y))
            q = p / hand_softmax(cf + bias)
            assert res.accuracy_calibrated[s, j] == pytest.approx(np.mean(q.argmax(1) == y))
            pp = hand_softmax(probe + bias)
            share = np.bincount(pp.argmax(1), minlength=2) / len(pp)
            share = share[share > 0]
            assert res.global_entropy[s, j] == pytest.approx(-np.sum(share * np.log(share)))


def test_order_simulation_without_bias_is_the_clean_classifier_and_is_seeded():
    clean, y, probe = order_task(2)
    kw = dict(ORDER_KW, majority=0.0, recency=0.0, token_prior=[0.5, 0.5], lean_scale=0.0,
              cf_noise=0.0)
    res = pr.simulate_order_sensitivity(clean, y, probe, rng=np.random.default_rng(0), **kw)
    clean_acc = np.mean(clean.argmax(1) == y)
    assert np.allclose(res.accuracy, clean_acc)
    assert np.allclose(res.accuracy_calibrated, clean_acc)
    again = pr.simulate_order_sensitivity(clean, y, probe, rng=np.random.default_rng(0), **ORDER_KW)
    once = pr.simulate_order_sensitivity(clean, y, probe, rng=np.random.default_rng(0), **ORDER_KW)
    assert np.array_equal(again.accuracy, once.accuracy)


def test_order_simulation_neutral_content_free_input_removes_order_effects():
    # with a perfectly neutral "N/A", calibration divides out each ordering's bias exactly
    clean, y, probe = order_task(3)
    kw = dict(ORDER_KW, cf_noise=0.0)
    res = pr.simulate_order_sensitivity(clean, y, probe, rng=np.random.default_rng(5), **kw)
    assert np.allclose(res.accuracy_calibrated, np.mean(clean.argmax(1) == y))
    assert res.accuracy.std() > 0  # while the raw orderings differ


@pytest.mark.parametrize("kwargs, error", [
    ({"n_shots": 7}, ValueError),
    ({"n_sets": 0}, ValueError),
    ({"decay": -0.1}, ValueError),
    ({"lean_scale": -1.0}, ValueError),
    ({"cf_noise": 11.0}, ValueError),
    ({"probe_logits": np.zeros((5, 3))}, ValueError),
    ({"true_labels": [0, 1]}, ValueError),
    ({"rng": 3}, TypeError),
    ({"token_prior": [0.2, 0.2, 0.6]}, ValueError),
])
def test_order_simulation_rejects_bad_input(kwargs, error):
    clean, y, probe = order_task(0)
    args = dict(ORDER_KW, clean_logits=clean, true_labels=y, probe_logits=probe,
                rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(error):
        pr.simulate_order_sensitivity(**args)


def test_private_order_bias_by_hand():
    onehot = np.array([[1.0, 0.0], [0.0, 1.0]])  # labels (0, 1), the second one last
    lean = np.array([[0.0, 2.0], [0.0, 0.0]])
    b = pr._order_bias_logits(onehot, lean, 2.0, 1.0, 0.5, np.zeros(2))
    # majority 2 * (1/2, 1/2) = (1, 1); weights (0.5, 1): label 0 gets 0.5 * 1, label 1 gets
    # 0.5 * 2 (first demo's lean) + 1 * 1 (recency of the last)
    assert b == pytest.approx([1.5, 3.0])


def test_private_prediction_entropies_by_hand():
    g, loc = pr._prediction_entropies(np.array([[0.5, 0.5], [1.0, 0.0]]))
    # both rows predict label 0 (ties go to the first): GlobalE 0; LocalE = (ln 2 + 0) / 2
    assert g == pytest.approx(0.0)
    assert loc == pytest.approx(math.log(2) / 2)
