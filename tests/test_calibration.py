"""Tests for lilbook.calibration.

Expected values come from hand-worked small cases, brute-force loops written here (explicit bin
membership, all positive/negative pairs), scipy, or exact constructions (perfectly calibrated
groups, data drawn at a known temperature), never from the output of the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lilbook import calibration as cal

FAST = settings(max_examples=60, deadline=None, database=None)

unit = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def conf_and_correct(draw, min_size=1, max_size=60):
    n = draw(st.integers(min_size, max_size))
    # mix arbitrary floats with values sitting exactly on bin edges
    conf = draw(
        st.lists(
            st.one_of(unit, st.sampled_from([0.0, 0.1, 0.5, 0.3, 0.7, 1.0])),
            min_size=n,
            max_size=n,
        )
    )
    correct = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return np.array(conf), np.array(correct)


def brute_bins(conf, n_bins):
    """Bin membership by explicit comparisons with the documented edges."""
    edges = np.linspace(0, 1, n_bins + 1)
    out = []
    for c in conf:
        for k in range(n_bins):
            last = k == n_bins - 1
            if edges[k] <= c < edges[k + 1] or (last and c == 1.0):
                out.append(k)
                break
    return np.array(out)


def brute_ece(conf, correct, n_bins):
    idx = brute_bins(conf, n_bins)
    total = 0.0
    for k in range(n_bins):
        members = [i for i in range(len(conf)) if idx[i] == k]
        if members:
            acc = sum(bool(correct[i]) for i in members) / len(members)
            mean_conf = sum(conf[i] for i in members) / len(members)
            total += len(members) / len(conf) * abs(acc - mean_conf)
    return total


# ------------------------------------------------------------------------------------
# bins, ECE and reliability curve
# ------------------------------------------------------------------------------------


def test_bin_edge_convention():
    idx = cal.bin_indices([0.0, 0.05, 0.1, 0.5, 0.9999, 1.0], n_bins=10)
    assert idx.tolist() == [0, 0, 1, 5, 9, 9]
    assert cal.bin_indices([1.0], n_bins=1).tolist() == [0]
    assert cal.bin_indices([0.25, 0.5, 0.75], n_bins=4).tolist() == [1, 2, 3]


@FAST
@given(conf_and_correct(), st.integers(1, 15))
def test_bins_match_brute_force(data, n_bins):
    conf, _ = data
    np.testing.assert_array_equal(
        cal.bin_indices(conf, n_bins), brute_bins(conf, n_bins)
    )


def test_ece_hand_worked():
    # bin 9: conf .9,.95 -> mean .925, acc 1/2; bin 2: conf .2, acc 0; bin 0: conf 0, acc 0
    conf = [0.9, 0.95, 0.2, 0.0]
    correct = [1, 0, 0, False]
    expected = 2 / 4 * abs(0.5 - 0.925) + 1 / 4 * 0.2 + 1 / 4 * 0.0
    assert cal.expected_calibration_error(conf, correct) == pytest.approx(expected)
    # one bin: |mean(correct) - mean(conf)|
    assert cal.expected_calibration_error(conf, correct, n_bins=1) == pytest.approx(
        abs(0.25 - np.mean(conf))
    )


@FAST
@given(conf_and_correct(), st.integers(1, 15))
def test_ece_in_unit_interval_and_equals_brute_force(data, n_bins):
    conf, correct = data
    ece = cal.expected_calibration_error(conf, correct, n_bins)
    assert 0.0 <= ece <= 1.0
    assert ece == pytest.approx(brute_ece(conf, correct, n_bins), abs=1e-12)


@FAST
@given(
    st.lists(st.tuples(st.integers(1, 12), st.integers(0, 12)), min_size=1, max_size=8),
    st.integers(1, 12),
)
def test_ece_zero_for_perfectly_calibrated_groups(groups, n_bins):
    # every member of a group of n items with h hits has confidence h / n; groups sharing a
    # bin still average to accuracy == mean confidence, so every bin has zero gap
    conf, correct = [], []
    for n, h in groups:
        h = min(h, n)
        conf += [h / n] * n
        correct += [True] * h + [False] * (n - h)
    assert cal.expected_calibration_error(conf, correct, n_bins) == pytest.approx(
        0.0, abs=1e-12
    )


@FAST
@given(
    conf_and_correct(min_size=2), st.integers(1, 12), st.randoms(use_true_random=False)
)
def test_ece_invariant_to_permutation(data, n_bins, rnd):
    conf, correct = data
    perm = list(range(conf.size))
    rnd.shuffle(perm)
    assert cal.expected_calibration_error(
        conf[perm], correct[perm], n_bins
    ) == pytest.approx(cal.expected_calibration_error(conf, correct, n_bins), abs=1e-12)


@FAST
@given(conf_and_correct(), st.integers(1, 15))
def test_reliability_curve_matches_brute_force(data, n_bins):
    conf, correct = data
    curve = cal.reliability_curve(conf, correct, n_bins)
    idx = brute_bins(conf, n_bins)
    used = sorted(set(idx.tolist()))
    assert curve.bin_index.tolist() == used
    assert curve.count.sum() == conf.size
    for j, k in enumerate(used):
        members = idx == k
        assert curve.count[j] == members.sum()
        assert curve.confidence[j] == pytest.approx(conf[members].mean())
        assert curve.accuracy[j] == pytest.approx(correct[members].mean())
        lo, hi = curve.edges[k], curve.edges[k + 1]
        assert lo - 1e-12 <= curve.confidence[j] <= hi + 1e-12
    assert curve.weight.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(curve.gap, curve.accuracy - curve.confidence)


@pytest.mark.parametrize(
    "conf, correct, exc",
    [
        ([1.2, 0.5], [1, 0], ValueError),
        ([-0.1], [1], ValueError),
        ([0.5, float("nan")], [1, 0], ValueError),
        ([0.5, 0.2], [1], ValueError),
        ([], [], ValueError),
        ([0.5], [2], ValueError),
        ([[0.5, 0.2]], [[1, 0]], ValueError),
        ("0.5", [1], TypeError),
        ([0.5], "1", TypeError),
    ],
)
def test_calibration_bad_input(conf, correct, exc):
    with pytest.raises(exc):
        cal.expected_calibration_error(conf, correct)
    with pytest.raises(exc):
        cal.reliability_curve(conf, correct)


@pytest.mark.parametrize(
    "n_bins, exc", [(0, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_bad_n_bins(n_bins, exc):
    with pytest.raises(exc):
        cal.expected_calibration_error([0.5], [1], n_bins=n_bins)
    with pytest.raises(exc):
        cal.bin_indices([0.5], n_bins=n_bins)


# ------------------------------------------------------------------------------------
# temperature scaling
# ------------------------------------------------------------------------------------


@FAST
@given(
    arrays(np.float64, (5, 3), elements=st.floats(-20, 20)),
    st.floats(0.1, 10.0),
)
def test_softmax_matches_scipy(z, t):
    p = cal.softmax(z, t)
    np.testing.assert_allclose(p, scipy.special.softmax(z / t, axis=1), rtol=1e-10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_nll_hand_worked():
    z = np.array([[0.0, 0.0], [math.log(3.0), 0.0]])
    labels = [0, 0]
    # p = 1/2 and 3/4
    expected = -(math.log(0.5) + math.log(0.75)) / 2
    assert cal.negative_log_likelihood(z, labels) == pytest.approx(expected)
    # T = 2 halves the logits: p = 1/2 and sqrt(3)/(sqrt(3)+1)
    expected_t = -(math.log(0.5) + math.log(math.sqrt(3) / (math.sqrt(3) + 1))) / 2
    assert cal.negative_log_likelihood(z, labels, 2.0) == pytest.approx(expected_t)


def test_fit_temperature_recovers_the_generating_temperature():
    rng = np.random.default_rng(3)
    n, k, t_true = 20000, 4, 2.5
    z = rng.normal(0, 2.5, (n, k))
    p = scipy.special.softmax(z / t_true, axis=1)
    labels = (p.cumsum(axis=1) < rng.random(n)[:, None]).sum(axis=1)
    t_hat = cal.fit_temperature(z, labels)
    assert t_hat == pytest.approx(t_true, rel=0.05)
    # the fitted temperature beats a fine grid of alternatives (independent search)
    grid = np.linspace(0.5, 6, 221)
    logp = [
        scipy.special.log_softmax(z / t, axis=1)[np.arange(n), labels].mean()
        for t in grid
    ]
    assert cal.negative_log_likelihood(z, labels, t_hat) <= -max(logp) + 1e-9


def test_fit_temperature_keeps_accuracy_and_lowers_nll():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 1, (500, 5))
    labels = rng.integers(0, 5, 500)  # logits carry no information: best T is large
    t_hat = cal.fit_temperature(z, labels)
    assert t_hat > 3
    assert np.array_equal(
        cal.softmax(z, t_hat).argmax(axis=1), cal.softmax(z).argmax(axis=1)
    )
    assert cal.negative_log_likelihood(z, labels, t_hat) < cal.negative_log_likelihood(
        z, labels
    )


@pytest.mark.parametrize(
    "logits, labels, exc",
    [
        ([1.0, 2.0], [0, 1], ValueError),  # not 2-d
        ([[1.0], [2.0]], [0, 0], ValueError),  # one class
        ([[1.0, 2.0]], [2], ValueError),  # label out of range
        ([[1.0, 2.0]], [0.5], ValueError),  # not an integer
        ([[1.0, 2.0]], [0, 1], ValueError),  # length mismatch
        ([[1.0, float("inf")]], [0], ValueError),
        ([[1.0, 2.0]], None, TypeError),
    ],
)
def test_temperature_bad_input(logits, labels, exc):
    with pytest.raises(exc):
        cal.negative_log_likelihood(logits, labels)
    with pytest.raises(exc):
        cal.fit_temperature(logits, labels)


def test_temperature_bad_values():
    with pytest.raises(ValueError):
        cal.softmax([[1.0, 2.0]], 0.0)
    with pytest.raises(ValueError):
        cal.negative_log_likelihood([[1.0, 2.0]], [0], -1.0)
    with pytest.raises(ValueError):
        cal.fit_temperature([[1.0, 2.0]], [0], bounds=(2.0, 1.0))
    with pytest.raises(TypeError):
        cal.fit_temperature([[1.0, 2.0]], [0], bounds=1.0)


# ------------------------------------------------------------------------------------
# selective answering
# ------------------------------------------------------------------------------------


def test_selective_curve_hand_worked():
    curve = cal.selective_curve([0.9, 0.9, 0.5, 0.7], [1, 0, 1, 1])
    np.testing.assert_allclose(curve.threshold, [0.9, 0.7, 0.5])
    np.testing.assert_allclose(curve.coverage, [0.5, 0.75, 1.0])
    np.testing.assert_allclose(curve.accuracy, [0.5, 2 / 3, 0.75])


@FAST
@given(conf_and_correct())
def test_selective_curve_matches_brute_force(data):
    conf, correct = data
    curve = cal.selective_curve(conf, correct)
    assert curve.threshold.tolist() == sorted(set(conf.tolist()), reverse=True)
    for t, cov, acc in zip(curve.threshold, curve.coverage, curve.accuracy):
        answered = conf >= t
        assert cov == pytest.approx(answered.mean())
        assert acc == pytest.approx(correct[answered].mean())
        out = cal.abstention_score(conf, correct, t, wrong_penalty=0.0)
        assert out.coverage == pytest.approx(cov)
        assert out.accuracy == pytest.approx(acc)
    assert curve.coverage[-1] == 1.0


def test_abstention_score_hand_worked():
    conf, correct = [0.9, 0.8, 0.6, 0.3], [1, 0, 1, 0]
    out = cal.abstention_score(conf, correct, threshold=0.7, wrong_penalty=2.0)
    assert (out.n_questions, out.n_answered, out.n_correct) == (4, 2, 1)
    assert out.score == pytest.approx((1 - 2.0) / 4)
    assert out.coverage == 0.5 and out.accuracy == 0.5
    nothing = cal.abstention_score(conf, correct, threshold=1.0)
    assert nothing.score == 0.0 and nothing.coverage == 0.0
    with pytest.raises(ValueError):
        nothing.accuracy


@FAST
@given(conf_and_correct(), st.floats(0.0, 5.0))
def test_abstention_score_brute_force_and_no_penalty_favours_guessing(data, penalty):
    conf, correct = data
    for t in (0.0, 0.3, 0.5, 0.8, 1.0):
        expected = (
            sum((1.0 if ok else -penalty) for c, ok in zip(conf, correct) if c >= t)
            / conf.size
        )
        assert cal.abstention_score(conf, correct, t, penalty).score == pytest.approx(
            expected
        )
    # with no penalty, answering everything is never worse than abstaining on some
    best = cal.abstention_score(conf, correct, 0.0, 0.0).score
    assert all(cal.abstention_score(conf, correct, t, 0.0).score <= best for t in conf)


def test_calibrated_best_threshold_is_penalty_over_one_plus_penalty():
    rng = np.random.default_rng(1)
    conf = rng.random(200000)
    correct = rng.random(conf.size) < conf  # calibrated by construction
    penalty = 3.0
    grid = np.linspace(0, 1, 41)
    scores = [cal.abstention_score(conf, correct, t, penalty).score for t in grid]
    assert grid[int(np.argmax(scores))] == pytest.approx(
        penalty / (1 + penalty), abs=0.05
    )


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"threshold": 1.5}, ValueError),
        ({"threshold": "high"}, TypeError),
        ({"threshold": 0.5, "wrong_penalty": -1.0}, ValueError),
        ({"threshold": 0.5, "wrong_penalty": [1.0, 2.0]}, TypeError),
    ],
)
def test_abstention_bad_input(kwargs, exc):
    with pytest.raises(exc):
        cal.abstention_score([0.5], [1], **kwargs)


def test_selective_bad_input():
    with pytest.raises(ValueError):
        cal.selective_curve([0.5, 1.1], [1, 0])
    with pytest.raises(ValueError):
        cal.selective_curve([0.5], [1, 0])


# ------------------------------------------------------------------------------------
# ROC / AUC
# ------------------------------------------------------------------------------------


def brute_auc(scores, positives):
    pos = [s for s, p in zip(scores, positives) if p]
    neg = [s for s, p in zip(scores, positives) if not p]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


@st.composite
def scored_labels(draw):
    n = draw(st.integers(2, 40))
    scores = draw(
        st.lists(
            st.one_of(st.integers(0, 4).map(float), st.floats(-5, 5)),
            min_size=n,
            max_size=n,
        )
    )
    labels = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    labels[0], labels[1] = True, False  # both classes present
    return np.array(scores), np.array(labels)


@FAST
@given(scored_labels())
def test_auc_matches_pairwise_brute_force_and_trapezoid(data):
    scores, labels = data
    auc = cal.roc_auc(scores, labels)
    assert auc == pytest.approx(brute_auc(scores, labels), abs=1e-12)
    curve = cal.roc_curve(scores, labels)
    area = float(np.sum(np.diff(curve.fpr) * (curve.tpr[1:] + curve.tpr[:-1]) / 2))
    assert area == pytest.approx(auc, abs=1e-12)


@FAST
@given(scored_labels())
def test_roc_curve_matches_brute_force(data):
    scores, labels = data
    curve = cal.roc_curve(scores, labels)
    assert (curve.fpr[0], curve.tpr[0], curve.fpr[-1], curve.tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(curve.fpr) >= 0) and np.all(np.diff(curve.tpr) >= 0)
    for t, f, r in zip(curve.threshold[1:], curve.fpr[1:], curve.tpr[1:]):
        flagged = scores >= t
        assert r == pytest.approx(flagged[labels].mean())
        assert f == pytest.approx(flagged[~labels].mean())


def test_auc_extremes():
    assert cal.roc_auc([3, 2, 1, 0], [1, 1, 0, 0]) == 1.0
    assert cal.roc_auc([0, 1, 2, 3], [1, 1, 0, 0]) == 0.0
    assert cal.roc_auc([1, 1, 1, 1], [1, 0, 1, 0]) == 0.5


@pytest.mark.parametrize(
    "scores, labels, exc",
    [
        ([1.0, 2.0], [1, 1], ValueError),
        ([1.0, 2.0], [0, 0], ValueError),
        ([1.0, 2.0], [1], ValueError),
        ([1.0, float("nan")], [1, 0], ValueError),
        ([], [], ValueError),
        ([1.0, 2.0], [1, 3], ValueError),
    ],
)
def test_roc_bad_input(scores, labels, exc):
    with pytest.raises(exc):
        cal.roc_auc(scores, labels)
    with pytest.raises(exc):
        cal.roc_curve(scores, labels)


# ------------------------------------------------------------------------------------
# SelfCheckGPT-style consistency and the toy answer model
# ------------------------------------------------------------------------------------


def test_selfcheck_inconsistency_hand_worked():
    main = [0, 3]
    samples = [[0, 0, 1, 0], [1, 2, 3, 4]]
    np.testing.assert_allclose(cal.selfcheck_inconsistency(main, samples), [0.25, 0.75])


def test_selfcheck_bad_shapes():
    with pytest.raises(ValueError):
        cal.selfcheck_inconsistency([0, 1], [0, 1])
    with pytest.raises(ValueError):
        cal.selfcheck_inconsistency([0, 1], [[0, 1, 2]])


def test_simulate_answers_is_seeded_and_consistent():
    a = cal.simulate_answers(300, 7, np.random.default_rng(5))
    b = cal.simulate_answers(300, 7, np.random.default_rng(5))
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.probs.shape == (300, 8) and a.samples.shape == (300, 7)
    np.testing.assert_allclose(a.probs.sum(axis=1), 1.0)
    assert np.array_equal(a.main, a.probs.argmax(axis=1))
    assert np.array_equal(a.hallucinated, a.main != 0)
    np.testing.assert_allclose(a.main_probability, a.probs.max(axis=1))
    assert a.samples.min() >= 0 and a.samples.max() <= 7


def test_simulated_samples_follow_the_answer_distribution():
    sim = cal.simulate_answers(3, 40000, np.random.default_rng(2), n_candidates=4)
    for i in range(3):
        freq = np.bincount(sim.samples[i], minlength=4) / 40000
        np.testing.assert_allclose(freq, sim.probs[i], atol=0.01)


def test_sample_answers_temperature():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    rng = np.random.default_rng(4)
    draws = cal.sample_answers(probs, 60000, rng)
    assert draws.shape == (2, 60000)
    for i in range(2):
        freq = np.bincount(draws[i], minlength=3) / 60000
        np.testing.assert_allclose(freq, probs[i], atol=0.01)
    # temperature 0.5 squares the probabilities before renormalising (hand-worked)
    hot = cal.sample_answers(probs, 60000, rng, temperature=0.5)
    expected = probs**2 / (probs**2).sum(axis=1, keepdims=True)
    for i in range(2):
        freq = np.bincount(hot[i], minlength=3) / 60000
        np.testing.assert_allclose(freq, expected[i], atol=0.01)
    # a tiny temperature is greedy decoding
    cold = cal.sample_answers(probs, 50, rng, temperature=1e-3)
    assert (cold[0] == 0).all() and (cold[1] == 2).all()


@pytest.mark.parametrize(
    "probs, kwargs, exc",
    [
        ([0.5, 0.5], {}, ValueError),
        ([[0.5, 0.6]], {}, ValueError),
        ([[1.5, -0.5]], {}, ValueError),
        ([[0.5, 0.5]], {"temperature": 0.0}, ValueError),
        ([[0.5, 0.5]], {"n_samples": 0}, ValueError),
        ([[0.5, 0.5]], {"rng": 1}, TypeError),
    ],
)
def test_sample_answers_bad_input(probs, kwargs, exc):
    args = {"n_samples": 3, "rng": np.random.default_rng(0)}
    args.update(kwargs)
    with pytest.raises(exc):
        cal.sample_answers(probs, **args)


def test_simulated_knowledge_controls_hallucination():
    rng = np.random.default_rng(0)
    known = cal.simulate_answers(2000, 1, rng, known_fraction=1.0, known_strength=50.0)
    assert known.known.all() and known.hallucinated.mean() < 0.01
    unknown = cal.simulate_answers(4000, 1, rng, known_fraction=0.0, n_candidates=4)
    # a symmetric Dirichlet: the true answer is the argmax a quarter of the time
    assert unknown.hallucinated.mean() == pytest.approx(0.75, abs=0.03)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"n_questions": 0}, ValueError),
        ({"n_samples": 1.5}, TypeError),
        ({"known_fraction": 1.5}, ValueError),
        ({"n_candidates": 1}, ValueError),
        ({"spread": 0.0}, ValueError),
        ({"rng": 3}, TypeError),
    ],
)
def test_simulate_answers_bad_input(kwargs, exc):
    args = {"n_questions": 5, "n_samples": 2, "rng": np.random.default_rng(0)}
    args.update(kwargs)
    with pytest.raises(exc):
        cal.simulate_answers(**args)


# ------------------------------------------------------------------------------------
# factual precision, F1@K and the toy biography model
# ------------------------------------------------------------------------------------


def test_factual_precision_hand_worked():
    # responses with 3/4 and 1/2 supported facts: equal weight per response
    assert cal.factual_precision([[1, 1, 1, 0], [True, False]]) == pytest.approx(0.625)
    assert cal.factual_precision(np.array([[1, 0], [1, 1]], dtype=bool)) == 0.75


@pytest.mark.parametrize(
    "supported, exc",
    [
        ([], ValueError),
        ([[1, 0], []], ValueError),
        ([[1, 2]], ValueError),
        ("1010", TypeError),
        (np.array([1, 0]), ValueError),
        (3, TypeError),
    ],
)
def test_factual_precision_bad_input(supported, exc):
    with pytest.raises(exc):
        cal.factual_precision(supported)


def test_f1_at_k_hand_worked():
    # S=5, N=5, K=10: precision 1/2, recall 1/2 -> 1/2
    assert cal.f1_at_k(5, 5, 10) == pytest.approx(0.5)
    # S=20 >= K: recall 1; precision 20/30 -> 2*(2/3)/(5/3) = 0.8
    assert cal.f1_at_k(20, 10, 10) == pytest.approx(0.8)
    assert cal.f1_at_k(0, 7, 10) == 0.0
    np.testing.assert_allclose(cal.f1_at_k([10, 0], [0, 0], 10), [1.0, 0.0])


@FAST
@given(st.integers(0, 80), st.integers(0, 80), st.integers(1, 80))
def test_f1_at_k_properties(s, n, k):
    f1 = cal.f1_at_k(s, n, k)
    assert 0.0 <= f1 <= 1.0
    if s > 0:
        prec, rec = s / (s + n), min(s / k, 1.0)
        assert f1 == pytest.approx(2 / (1 / prec + 1 / rec))


@pytest.mark.parametrize(
    "args, exc",
    [
        ((-1, 0, 5), ValueError),
        ((1.5, 0, 5), ValueError),
        ((1, 0, 0), ValueError),
        ((1, 0, 2.0), TypeError),
    ],
)
def test_f1_at_k_bad_input(args, exc):
    with pytest.raises(exc):
        cal.f1_at_k(*args)


def test_simulate_atomic_facts_limits():
    pop = np.linspace(0, 1, 50)
    rng = np.random.default_rng(0)
    facts = cal.simulate_atomic_facts(
        pop, 20, rng, retrieval_recall=1.0, copy_accuracy=1.0
    )
    assert facts.shape == (50, 20) and facts.all()
    # closed book: the true-fact rate follows sigmoid(offset + slope * popularity)
    pop2 = np.array([0.0, 1.0])
    facts = cal.simulate_atomic_facts(pop2, 40000, rng, slope=4.0, offset=-2.0)
    expected = 1 / (1 + np.exp(-np.array([-2.0, 2.0])))
    np.testing.assert_allclose(facts.mean(axis=1), expected, atol=0.01)


def test_judge_atomic_facts_limits():
    rng = np.random.default_rng(0)
    truth = rng.random((30, 10)) < 0.6
    pop = rng.random(30)
    exact = cal.judge_atomic_facts(
        truth, pop, rng, evidence=True, evidence_recall=1.0, false_support=0.0
    )
    assert np.array_equal(exact, truth)
    knows_all = cal.judge_atomic_facts(truth, pop, rng, evidence=False, offset=60.0)
    assert np.array_equal(knows_all, truth)
    credulous = cal.judge_atomic_facts(
        truth, pop, rng, evidence=False, offset=-60.0, lenient=1.0
    )
    assert credulous.all()


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"truth": [1, 0]}, ValueError),
        ({"truth": [[1, 2]]}, ValueError),
        ({"popularity": [0.5, 0.5]}, ValueError),
        ({"popularity": [1.5]}, ValueError),
        ({"evidence": 1}, TypeError),
        ({"rng": None}, TypeError),
        ({"evidence_recall": 2.0}, ValueError),
    ],
)
def test_judge_bad_input(kwargs, exc):
    args = {
        "truth": [[1, 0]],
        "popularity": [0.5],
        "rng": np.random.default_rng(0),
        "evidence": True,
    }
    args.update(kwargs)
    with pytest.raises(exc):
        cal.judge_atomic_facts(**args)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"popularity": [1.2]}, ValueError),
        ({"n_facts": 0}, ValueError),
        ({"retrieval_recall": -0.1}, ValueError),
        ({"rng": "seed"}, TypeError),
    ],
)
def test_simulate_atomic_facts_bad_input(kwargs, exc):
    args = {"popularity": [0.5], "n_facts": 3, "rng": np.random.default_rng(0)}
    args.update(kwargs)
    with pytest.raises(exc):
        cal.simulate_atomic_facts(**args)


# ------------------------------------------------------------------------------------
# the private functions the chapter displays, against their checked public versions
# ------------------------------------------------------------------------------------


def test_private_selfcheck_inconsistency_matches_public():
    main = np.array([0.0, 3.0])
    samples = np.array([[0.0, 0.0, 1.0, 0.0], [1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(
        cal._selfcheck_inconsistency(main, samples),
        cal.selfcheck_inconsistency(main, samples),
    )


def test_private_fit_temperature_matches_public():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2.0, (200, 3))
    labels = rng.integers(0, 3, 200)
    assert cal._fit_temperature(z, labels, 0.1, 10.0) == cal.fit_temperature(
        z, labels, bounds=(0.1, 10.0)
    )


# ------------------------------------------------------------------------------------
# confident fabrications, the FActScore closed form, fine-tuning dynamics, CoVe
# ------------------------------------------------------------------------------------


def test_fabrication_fraction_zero_draws_as_before():
    a = cal.simulate_answers(200, 5, np.random.default_rng(9))
    b = cal.simulate_answers(200, 5, np.random.default_rng(9), fabrication_fraction=0.0)
    np.testing.assert_array_equal(a.probs, b.probs)
    np.testing.assert_array_equal(a.samples, b.samples)


def test_fabrications_are_confident_and_wrong():
    rng = np.random.default_rng(1)
    sim = cal.simulate_answers(
        3000, 1, rng, known_fraction=0.0, fabrication_fraction=1.0, n_candidates=4
    )
    # every question has a wrong answer with concentration 10 against 3 x 0.5: the true
    # answer (concentration 0.5) is almost never the argmax, and the mean top
    # probability is at least the Dirichlet mean 10 / 11.5 of the favoured answer
    assert sim.hallucinated.mean() > 0.97
    assert sim.main_probability.mean() > 10 / 11.5 - 0.02
    assert not sim.known.any() and sim.fabricated.all()
    plain = cal.simulate_answers(50, 1, rng)
    assert not plain.fabricated.any()


def test_fabrication_needs_unknown_questions():
    # a fact the model learned is never replaced by a fabrication
    sim = cal.simulate_answers(
        2000, 1, np.random.default_rng(2), known_fraction=1.0,
        fabrication_fraction=1.0, known_strength=50.0,
    )
    assert sim.hallucinated.mean() < 0.01


@pytest.mark.parametrize("frac", [-0.1, 1.5, float("nan")])
def test_fabrication_fraction_bad_input(frac):
    with pytest.raises(ValueError, match="fabrication_fraction"):
        cal.simulate_answers(5, 2, np.random.default_rng(0), fabrication_fraction=frac)


def test_expected_factscore_hand_worked():
    # popularity 0.2: memory m = sigmoid(-1 + 1) = 0.5
    out = cal.expected_factscore(
        [0.2], retrieval_recall=0.5, copy_accuracy=0.9, evidence_recall=0.8,
        false_support=0.1, lenient=0.6,
    )
    p = 0.5 * 0.9 + 0.5 * 0.5  # 0.7
    assert out.truth[0] == pytest.approx(p)
    assert out.evidence[0] == pytest.approx(p * 0.8 + 0.3 * 0.1)
    assert out.memory[0] == pytest.approx(0.5 * p + 0.5 * 0.6)


def test_expected_factscore_matches_the_simulation():
    rng = np.random.default_rng(4)
    pop = np.full(4000, 0.3)
    truth = cal.simulate_atomic_facts(pop, 30, rng, retrieval_recall=0.6)
    closed = cal.expected_factscore(pop[:1], retrieval_recall=0.6, evidence_recall=0.9,
                                    false_support=0.05, lenient=0.8)
    assert truth.mean() == pytest.approx(closed.truth[0], abs=0.005)
    ev = cal.judge_atomic_facts(truth, pop, rng, evidence=True)
    assert ev.mean() == pytest.approx(closed.evidence[0], abs=0.005)
    mem = cal.judge_atomic_facts(truth, pop, rng, evidence=False)
    assert mem.mean() == pytest.approx(closed.memory[0], abs=0.005)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"popularity": [1.2]}, ValueError),
        ({"popularity": "x"}, TypeError),
        ({"retrieval_recall": -0.1}, ValueError),
        ({"lenient": 2.0}, ValueError),
        ({"slope": "a"}, TypeError),
    ],
)
def test_expected_factscore_bad_input(kwargs, exc):
    args = {"popularity": [0.5]}
    args.update(kwargs)
    with pytest.raises(exc):
        cal.expected_factscore(**args)


def test_finetuning_first_step_is_the_hand_derived_update():
    # from W = 0 every softmax row is uniform, so one step gives
    # W1 = lr / n * X^T (Y - 1/k), Y the one-hot answers: check through the dev
    # predictions after one epoch, with the dev set equal to the training set
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 6))
    y = rng.integers(3, size=20)
    unknown = np.zeros(20, dtype=bool)
    run = cal._finetune(x, y, unknown, x, y, 1, 0.7)
    one_hot = np.eye(3)[y]
    w1 = 0.7 / 20 * x.T @ (one_hot - 1 / 3)
    assert run.dev_accuracy[1] == pytest.approx(np.mean((x @ w1).argmax(1) == y))
    assert run.fitted_known[1] == run.dev_accuracy[1]
    # epoch 0: all logits zero, argmax picks answer 0
    assert run.dev_accuracy[0] == pytest.approx(np.mean(y == 0))
    assert np.isnan(run.fitted_unknown).all()


def test_finetuning_unknown_fitted_later_and_dev_falls():
    rng = np.random.default_rng(0)
    run = cal.simulate_finetuning(0.5, rng, n_epochs=300)
    assert run.fitted_known.shape == (301,)
    # Known examples fitted in a few epochs, Unknown ones much later
    assert run.fitted_known[5] > 0.95 and run.fitted_unknown[5] < 0.7
    assert run.fitted_unknown[-1] > 0.9
    # held-out accuracy peaks early and falls as the Unknown examples are memorised
    assert run.dev_accuracy[-1] < run.dev_accuracy.max() - 0.05
    clean = cal.simulate_finetuning(0.0, np.random.default_rng(0), n_epochs=300)
    assert clean.dev_accuracy[-1] > run.dev_accuracy[-1] + 0.05


def test_finetuning_is_seeded():
    a = cal.simulate_finetuning(0.3, np.random.default_rng(8), n_epochs=20)
    b = cal.simulate_finetuning(0.3, np.random.default_rng(8), n_epochs=20)
    np.testing.assert_array_equal(a.dev_accuracy, b.dev_accuracy)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"unknown_share": 1.1}, ValueError),
        ({"rng": 0}, TypeError),
        ({"n_train": 0}, ValueError),
        ({"n_epochs": 2.5}, TypeError),
        ({"n_answers": 1}, ValueError),
        ({"n_features": 2, "n_answers": 4}, ValueError),
        ({"signal": 0.0}, ValueError),
        ({"wrong_belief": -1.0}, ValueError),
        ({"learning_rate": float("inf")}, ValueError),
    ],
)
def test_finetuning_bad_input(kwargs, exc):
    args = {"unknown_share": 0.5, "rng": np.random.default_rng(0), "n_epochs": 2}
    args.update(kwargs)
    with pytest.raises(exc):
        cal.simulate_finetuning(**args)


def test_cove_factored_keeps_at_the_drafted_answers_probability():
    probs = np.tile([0.6, 0.3, 0.1], (40000, 1))
    draft = np.repeat([0, 1], 20000)
    keep = cal.cove_verify(probs, draft, np.random.default_rng(5))
    assert keep[:20000].mean() == pytest.approx(0.6, abs=0.01)
    assert keep[20000:].mean() == pytest.approx(0.3, abs=0.01)
    # joint: weight 1 on the draft gives (0.3 + 1) / 2 = 0.65 for answer 1
    joint = cal.cove_verify(probs, draft, np.random.default_rng(6), copy_weight=1.0)
    assert joint[20000:].mean() == pytest.approx(0.65, abs=0.01)
    # an overwhelming copy weight keeps every draft: no verification at all
    assert cal.cove_verify(probs, draft, np.random.default_rng(7), 1e9).all()


@pytest.mark.parametrize(
    "probs, draft, kwargs, exc",
    [
        ([[0.5, 0.5]], [2], {}, ValueError),
        ([[0.5, 0.5]], [0.5], {}, ValueError),
        ([[0.5, 0.5]], [0, 1], {}, ValueError),
        ([[0.5, 0.6]], [0], {}, ValueError),
        ([0.5, 0.5], [0], {}, ValueError),
        ([[0.5, 0.5]], [0], {"copy_weight": -1.0}, ValueError),
        ([[0.5, 0.5]], [0], {"rng": 3}, TypeError),
    ],
)
def test_cove_bad_input(probs, draft, kwargs, exc):
    args = {"rng": np.random.default_rng(0)}
    args.update(kwargs)
    with pytest.raises(exc):
        cal.cove_verify(probs, draft, **args)
