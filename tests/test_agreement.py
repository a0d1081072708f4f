"""Tests for lilbook.agreement.

Expected values come from published worked examples (Fleiss 1971 as tabulated on Wikipedia,
Krippendorff 2011), from hand-worked small cases, from brute-force loops written here, or from
algebraic identities between the statistics; never from the output of the code under test.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lilbook import agreement as ag

FAST = settings(max_examples=40, deadline=None, database=None)
M = ag.MISSING

# Fleiss' kappa worked example (10 items, 14 raters, 5 categories); published kappa 0.210.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example:
# 4 observers x 12 units, values 1..5, published alpha = 0.743.
KRIPP_TABLE = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, M, M, M],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, M, 3],
        [M, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, M],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, M],
    ]
).T


def labels_pair(max_classes: int = 4, max_items: int = 40):
    return st.integers(2, max_classes).flatmap(
        lambda k: st.integers(2, max_items).flatmap(
            lambda n: st.tuples(
                st.lists(st.integers(0, k - 1), min_size=n, max_size=n),
                st.lists(st.integers(0, k - 1), min_size=n, max_size=n),
                st.just(k),
            )
        )
    )


def brute_kappa(a, b, k):
    """Cohen's kappa from a hand-built contingency table in exact fractions."""
    n = len(a)
    table = [[0] * k for _ in range(k)]
    for x, y in zip(a, b):
        table[x][y] += 1
    p_o = Fraction(sum(table[i][i] for i in range(k)), n)
    p_e = sum(
        Fraction(sum(table[i]), n) * Fraction(sum(r[i] for r in table), n)
        for i in range(k)
    )
    return float((p_o - p_e) / (1 - p_e))


def brute_alpha(labels):
    """Krippendorff's nominal alpha from its pairwise definition, by loops."""
    units = [[v for v in row if v != M] for row in labels]
    units = [u for u in units if len(u) >= 2]
    n = sum(len(u) for u in units)
    disagree_obs = 0.0
    for u in units:
        for i, j in itertools.permutations(range(len(u)), 2):
            disagree_obs += (u[i] != u[j]) / (len(u) - 1)
    pooled = [v for u in units for v in u]
    disagree_exp = sum(x != y for x, y in itertools.permutations(pooled, 2))
    return 1.0 - (n - 1) * disagree_obs / disagree_exp


# ---------------------------------------------------------------------------- Cohen
def test_cohen_hand_worked():
    # 10 items; table [[4, 1], [2, 3]]: p_o = 0.7, p_a = (.5, .5), p_b = (.6, .4), p_e = 0.5
    a = [0] * 5 + [1] * 5
    b = [0, 0, 0, 0, 1, 0, 0, 1, 1, 1]
    assert ag.cohen_kappa(a, b) == pytest.approx((0.7 - 0.5) / 0.5)
    assert ag.agreement_parts("cohen", a, b) == pytest.approx((0.7, 0.5))


def test_cohen_textbook_example():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o 0.7, p_e 0.5, kappa 0.4
    a = [1] * 25 + [0] * 25
    b = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert ag.cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_perfect_disagreement_on_balanced_binary_is_minus_one():
    assert ag.cohen_kappa([0, 1, 0, 1], [1, 0, 1, 0]) == pytest.approx(-1.0)


@FAST
@given(labels_pair())
def test_cohen_matches_brute_force_and_is_symmetric(case):
    a, b, k = case
    assume(len(set(a)) > 1 or len(set(b)) > 1 or a[0] != b[0])
    assert ag.cohen_kappa(a, b, n_classes=k) == pytest.approx(
        brute_kappa(a, b, k), abs=1e-12
    )
    assert ag.cohen_kappa(a, b, n_classes=k) == pytest.approx(
        ag.cohen_kappa(b, a, n_classes=k), abs=1e-12
    )


@FAST
@given(labels_pair())
def test_cohen_is_one_for_identical_labels(case):
    a, _, k = case
    assume(len(set(a)) > 1)
    assert ag.cohen_kappa(a, a, n_classes=k) == pytest.approx(1.0)


@FAST
@given(labels_pair(), st.permutations(range(4)))
def test_cohen_is_invariant_to_renaming_categories(case, perm):
    a, b, k = case
    assume(len(set(a)) > 1 or len(set(b)) > 1 or a[0] != b[0])
    ra = [perm[x] for x in a]
    rb = [perm[x] for x in b]
    assert ag.cohen_kappa(ra, rb, n_classes=4) == pytest.approx(
        ag.cohen_kappa(a, b, n_classes=k), abs=1e-12
    )


def test_cohen_bad_input():
    with pytest.raises(ValueError, match="same items"):
        ag.cohen_kappa([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="range"):
        ag.cohen_kappa([0, -1], [0, 1])
    with pytest.raises(ValueError, match="range"):
        ag.cohen_kappa([0, 2], [0, 1], n_classes=2)
    with pytest.raises(ValueError, match="1-D"):
        ag.cohen_kappa([[0, 1]], [[0, 1]])
    with pytest.raises(ValueError, match="integers"):
        ag.cohen_kappa([0, 0.5], [0, 1])
    with pytest.raises(ValueError, match="undefined"):
        ag.cohen_kappa([1, 1, 1], [1, 1, 1])
    with pytest.raises(TypeError):
        ag.cohen_kappa(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="n_classes"):
        ag.cohen_kappa([0, 1], [0, 1], n_classes=1)


# ---------------------------------------------------------------------------- Fleiss
def test_fleiss_published_example():
    table = FLEISS_TABLE
    n = sum(table[0])
    n_items = len(table)
    # independent computation in exact fractions
    p_i = [Fraction(sum(c * c for c in row) - n, n * (n - 1)) for row in table]
    p_bar = sum(p_i) / n_items
    p_j = [Fraction(sum(row[j] for row in table), n * n_items) for j in range(5)]
    p_e = sum(p * p for p in p_j)
    expected = float((p_bar - p_e) / (1 - p_e))
    assert ag.fleiss_kappa(table) == pytest.approx(expected, abs=1e-12)
    assert round(ag.fleiss_kappa(table), 3) == 0.210  # as published
    observed, chance = ag.agreement_parts("fleiss", table)
    assert round(observed, 3) == 0.378 and round(chance, 3) == 0.213


@FAST
@given(labels_pair())
def test_fleiss_with_two_raters_is_scotts_pi(case):
    a, b, k = case
    counts = np.zeros((len(a), k), dtype=int)
    for i, (x, y) in enumerate(zip(a, b)):
        counts[i, x] += 1
        counts[i, y] += 1
    pooled = np.bincount(a + b, minlength=k) / (2 * len(a))
    p_o = np.mean(np.array(a) == np.array(b))
    p_e = np.sum(pooled**2)
    assume(p_e < 1 - 1e-12)
    assert ag.fleiss_kappa(counts) == pytest.approx((p_o - p_e) / (1 - p_e), abs=1e-12)
    # Scott's pi and Cohen's kappa coincide when the two raters' marginals match
    if np.array_equal(np.bincount(a, minlength=k), np.bincount(b, minlength=k)):
        assert ag.fleiss_kappa(counts) == pytest.approx(
            ag.cohen_kappa(a, b, n_classes=k), abs=1e-12
        )


def test_fleiss_is_one_for_unanimous_items_and_matches_counts_from_labels():
    labels = np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2], [0, 0, 0]])
    counts = ag.counts_from_labels(labels, 3)
    assert counts.tolist() == [[3, 0, 0], [0, 3, 0], [0, 0, 3], [3, 0, 0]]
    assert ag.fleiss_kappa(counts) == pytest.approx(1.0)


def test_fleiss_bad_input():
    with pytest.raises(ValueError, match="same number of raters"):
        ag.fleiss_kappa([[2, 1], [1, 1]])
    with pytest.raises(ValueError, match="2-D"):
        ag.fleiss_kappa([1, 2, 3])
    with pytest.raises(ValueError, match=">= 0"):
        ag.fleiss_kappa([[3, -1], [1, 1]])
    with pytest.raises(ValueError, match="at least 2 raters"):
        ag.fleiss_kappa([[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="integers"):
        ag.fleiss_kappa([[1.5, 0.5], [1, 1]])
    with pytest.raises(ValueError, match="undefined"):
        ag.fleiss_kappa([[3, 0], [3, 0]])


# ---------------------------------------------------------------------------- Krippendorff
def test_krippendorff_published_example():
    assert round(ag.krippendorff_alpha(KRIPP_TABLE), 3) == 0.743
    assert ag.krippendorff_alpha(KRIPP_TABLE) == pytest.approx(
        brute_alpha(KRIPP_TABLE.tolist()), abs=1e-12
    )


@FAST
@given(
    st.integers(2, 4).flatmap(
        lambda k: st.lists(
            st.lists(st.integers(-1, k - 1), min_size=3, max_size=3),
            min_size=2,
            max_size=15,
        ).map(lambda rows: (rows, k))
    )
)
def test_krippendorff_matches_pairwise_definition(case):
    rows, k = case
    pooled = [v for r in rows if sum(x != M for x in r) >= 2 for v in r if v != M]
    assume(len(set(pooled)) > 1)
    assert ag.krippendorff_alpha(rows, n_classes=k) == pytest.approx(
        brute_alpha(rows), abs=1e-10
    )


@FAST
@given(labels_pair())
def test_krippendorff_two_raters_relates_to_scotts_pi(case):
    # with two raters and no missing labels: alpha = 1 - (2N - 1) / (2N) * (1 - pi)
    a, b, k = case
    counts = np.zeros((len(a), k), dtype=int)
    for i, (x, y) in enumerate(zip(a, b)):
        counts[i, x] += 1
        counts[i, y] += 1
    assume(len(set(a + b)) > 1)
    pi = ag.fleiss_kappa(counts)
    n2 = 2 * len(a)
    alpha = ag.krippendorff_alpha(np.array([a, b]).T, n_classes=k)
    assert alpha == pytest.approx(1 - (n2 - 1) / n2 * (1 - pi), abs=1e-12)


def test_krippendorff_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        ag.krippendorff_alpha([0, 1, 1])
    with pytest.raises(ValueError, match="two or more raters"):
        ag.krippendorff_alpha([[0, M], [M, 1]])
    with pytest.raises(ValueError, match="range"):
        ag.krippendorff_alpha([[0, 3], [1, 1]], n_classes=2)
    with pytest.raises(ValueError, match="range"):
        ag.krippendorff_alpha([[0, -2], [1, 1]])


def test_agreement_parts_and_chance_corrected():
    with pytest.raises(ValueError, match="kind"):
        ag.agreement_parts("scott", [0, 1], [0, 1])
    observed, chance = ag.agreement_parts("krippendorff", KRIPP_TABLE)
    assert ag.chance_corrected(observed, chance) == pytest.approx(
        ag.krippendorff_alpha(KRIPP_TABLE)
    )
    assert ag.chance_corrected(0.9, 0.8) == pytest.approx(0.5)
    assert ag.chance_corrected(0.8, 0.8) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="observed"):
        ag.chance_corrected(1.2, 0.5)
    with pytest.raises(ValueError, match="undefined"):
        ag.chance_corrected(1.0, 1.0)


def test_counts_from_labels_bad_input():
    assert ag.counts_from_labels([[0, M, 1], [1, 1, M]], 2).tolist() == [[1, 1], [0, 2]]
    with pytest.raises(ValueError, match="2-D"):
        ag.counts_from_labels([0, 1], 2)
    with pytest.raises(ValueError, match="range"):
        ag.counts_from_labels([[0, 2]], 2)
    with pytest.raises(ValueError, match="n_classes"):
        ag.counts_from_labels([[0, 1]], 1)


# ---------------------------------------------------------------------------- crowd
def test_simulate_crowd_moments_and_theory():
    rng = np.random.default_rng(0)
    g = ag.simulate_crowd(100.0, 10.0, 50, 4000, rng, rho=0.3, bias=2.0)
    assert g.shape == (4000, 50)
    assert g.mean() == pytest.approx(102.0, abs=0.5)
    assert g.std() == pytest.approx(10.0, rel=0.05)
    c = np.corrcoef(g[:, 0], g[:, 1])[0, 1]
    assert c == pytest.approx(0.3, abs=0.05)
    rmse = np.sqrt(np.mean((g.mean(axis=1) - 100.0) ** 2))
    theory = np.sqrt(4 + 100 * (0.3 + 0.7 / 50))
    assert ag.crowd_error_theory(50, 10.0, 0.3, 2.0) == pytest.approx(theory)
    assert rmse == pytest.approx(theory, rel=0.05)


def test_crowd_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="rho"):
        ag.simulate_crowd(1.0, 1.0, 5, 5, rng, rho=1.5)
    with pytest.raises(ValueError, match="sigma"):
        ag.simulate_crowd(1.0, 0.0, 5, 5, rng)
    with pytest.raises(TypeError, match="rng"):
        ag.simulate_crowd(1.0, 1.0, 5, 5, 0)
    with pytest.raises(ValueError, match="n_people"):
        ag.simulate_crowd(1.0, 1.0, 0, 5, rng)
    with pytest.raises(ValueError, match="n_people"):
        ag.crowd_error_theory([0, 1], 1.0)


# ---------------------------------------------------------------------------- aggregation
def test_mace_confusion_closed_form_and_bad_input():
    # trustworthiness 0.4: honest 40% of the time, otherwise a draw from xi
    c = ag.mace_confusion(0.4, [0.5, 0.25, 0.25])
    assert c[0].tolist() == pytest.approx([0.4 + 0.3, 0.15, 0.15])
    assert c[1].tolist() == pytest.approx([0.3, 0.4 + 0.15, 0.15])
    assert ag.mace_confusion(0.0, [0.5, 0.5]).tolist() == [[0.5, 0.5], [0.5, 0.5]]
    assert ag.mace_confusion(1.0, [0.3, 0.7]).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match="theta"):
        ag.mace_confusion(1.5, [0.5, 0.5])
    with pytest.raises(ValueError, match="xi"):
        ag.mace_confusion(0.5, [0.5, 0.4])


def test_simulate_annotations_frequencies():
    rng = np.random.default_rng(1)
    conf = np.array([[[0.9, 0.1], [0.3, 0.7]], [[0.5, 0.5], [0.5, 0.5]]])
    truth = np.repeat([0, 1], 20000)
    lab = ag.simulate_annotations(truth, conf, rng, p_observed=0.5)
    assert lab.shape == (40000, 2)
    assert np.mean(lab == M) == pytest.approx(0.5, abs=0.01)
    seen = lab[:, 0] != M
    assert np.mean(lab[seen & (truth == 0), 0] == 0) == pytest.approx(0.9, abs=0.01)
    assert np.mean(lab[seen & (truth == 1), 0] == 1) == pytest.approx(0.7, abs=0.015)
    with pytest.raises(ValueError, match="sum to 1"):
        ag.simulate_annotations([0, 1], [[[0.5, 0.4], [0.5, 0.5]]], rng)
    with pytest.raises(ValueError, match="shape"):
        ag.simulate_annotations([0, 1], [[0.5, 0.5], [0.5, 0.5]], rng)
    with pytest.raises(ValueError, match="range"):
        ag.simulate_annotations([0, 2], conf, rng)


def test_majority_vote_hand_cases():
    labels = [[0, 0, 1], [1, 1, M], [M, M, M], [0, 1, M], [2, 2, 0]]
    assert ag.majority_vote(labels, 3).tolist() == [0, 1, M, 0, 2]
    rng = np.random.default_rng(0)
    draws = {int(ag.majority_vote([[0, 1]], 2, rng)[0]) for _ in range(40)}
    assert draws == {0, 1}  # ties broken at random
    with pytest.raises(TypeError, match="rng"):
        ag.majority_vote(labels, 3, rng=3)


def test_dawid_skene_recovers_known_confusions():
    rng = np.random.default_rng(7)
    k = 3
    truth = rng.integers(0, k, 3000)
    conf = np.stack(
        [
            [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]],
            [[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]],
            ag.mace_confusion(0.7, [0.6, 0.2, 0.2]),
            ag.mace_confusion(0.0, [1 / 3, 1 / 3, 1 / 3]),  # a pure spammer
            [[0.6, 0.3, 0.1], [0.1, 0.6, 0.3], [0.3, 0.1, 0.6]],
        ]
    )
    labels = ag.simulate_annotations(truth, conf, rng, p_observed=0.9)
    posterior, est = ag.dawid_skene(labels, k)
    assert posterior.shape == (3000, k) and est.shape == conf.shape
    assert np.allclose(posterior.sum(axis=1), 1.0)
    assert np.max(np.abs(est - conf)) < 0.05
    # the EM labels beat majority vote on this panel
    acc_ds = np.mean(posterior.argmax(axis=1) == truth)
    acc_mv = np.mean(ag.majority_vote(labels, k, rng=np.random.default_rng(0)) == truth)
    assert acc_ds > acc_mv


def test_dawid_skene_unanimous_and_missing_items():
    labels = np.array([[0, 0], [1, 1], [M, M], [0, M]] * 10)
    posterior, conf = ag.dawid_skene(labels, 2)
    assert posterior[0, 0] > 0.95 and posterior[1, 1] > 0.95
    # an unlabelled item gets the class prior, here 2:1 in favour of class 0
    assert posterior[2, 0] == pytest.approx(2 / 3, abs=0.05)


@FAST
@given(st.integers(0, 10_000), st.integers(2, 4), st.integers(1, 5))
def test_dawid_skene_outputs_are_distributions(seed, k, n_raters):
    rng = np.random.default_rng(seed)
    labels = rng.integers(-1, k, size=(12, n_raters))
    posterior, conf = ag.dawid_skene(labels, k, max_iter=20)
    assert np.all(posterior >= 0) and np.allclose(posterior.sum(axis=1), 1.0)
    assert np.all(conf > 0) and np.allclose(conf.sum(axis=2), 1.0)


def test_dawid_skene_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        ag.dawid_skene([0, 1, 1], 2)
    with pytest.raises(ValueError, match="range"):
        ag.dawid_skene([[0, 2]], 2)
    with pytest.raises(ValueError, match="range"):
        ag.dawid_skene([[0, -3]], 2)
    with pytest.raises(ValueError, match="max_iter"):
        ag.dawid_skene([[0, 1]], 2, max_iter=0)
    with pytest.raises(ValueError, match="n_classes"):
        ag.dawid_skene([[0, 1]], 1)


# ---------------------------------------------------------------------------- flip noise
@FAST
@given(
    st.lists(st.floats(0.01, 1.0), min_size=2, max_size=5),
    st.floats(0.0, 0.45),
)
def test_flip_noise_round_trip(weights, p_flip):
    p = np.array(weights) / np.sum(weights)
    c = p.size
    assume(p_flip < (c - 1) / c - 1e-3)
    noisy = ag.flip_noise(p, p_flip)
    assert noisy.sum() == pytest.approx(1.0)
    # forward model by hand for one class
    assert noisy[0] == pytest.approx(
        p[0] * (1 - p_flip) + (1 - p[0]) * p_flip / (c - 1)
    )
    assert ag.deconvolve_flip(noisy, p_flip) == pytest.approx(p, abs=1e-9)


def test_flip_bad_input():
    with pytest.raises(ValueError, match="p_flip"):
        ag.flip_noise([0.5, 0.5], 0.5)
    with pytest.raises(ValueError, match="sum to 1"):
        ag.deconvolve_flip([0.5, 0.6], 0.1)
    with pytest.raises(ValueError, match="last axis"):
        ag.flip_noise([1.0], 0.1)


# ---------------------------------------------------------------------------- dynamics
def blobs(seed, n=300, flip_frac=0.1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.where(y[:, None] == 1, 1.5, -1.5) + rng.normal(0, 1, (n, 2))
    flip = rng.random(n) < flip_frac
    return x, y, np.where(flip, 1 - y, y), flip


def test_train_softmax_full_batch_matches_hand_gradient_step():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.array([0, 1, 1])
    rec = ag.train_softmax(x, y, 2, epochs=1, lr=0.1, rng=np.random.default_rng(0))
    # from W = 0 all probabilities are 1/2; gradient = X1^T (P - Y) / n
    xb = np.hstack([x, np.ones((3, 1))])
    grad = xb.T @ (np.full((3, 2), 0.5) - np.eye(2)[y]) / 3
    assert rec.weights == pytest.approx(-0.1 * grad)
    assert rec.logits.shape == (1, 3, 2)
    assert rec.logits[0] == pytest.approx(xb @ (-0.1 * grad))
    assert np.allclose(rec.probs.sum(axis=2), 1.0)


def test_train_softmax_learns_separable_data():
    x, y, _, _ = blobs(0, flip_frac=0.0)
    rec = ag.train_softmax(
        x, y, 2, epochs=30, lr=0.5, rng=np.random.default_rng(0), batch_size=32
    )
    assert np.mean(rec.logits[-1].argmax(axis=1) == y) > 0.95


def test_training_dynamics_find_flipped_labels():
    x, _, noisy, flip = blobs(1)
    rec = ag.train_softmax(
        x, noisy, 2, epochs=30, lr=0.5, rng=np.random.default_rng(0), batch_size=32
    )
    conf, var, corr = ag.data_map(rec.probs, noisy)
    aum = ag.area_under_margin(rec.logits, noisy)
    assert ag.detection_auc(-aum, flip) > 0.9
    assert ag.detection_auc(-conf, flip) > 0.9
    assert np.all((conf >= 0) & (conf <= 1) & (var >= 0) & (corr >= 0) & (corr <= 1))
    ncv = ag.noisy_cross_validation(x, noisy, 2, np.random.default_rng(0))
    assert ncv.dtype == bool and np.mean(ncv[flip]) > 0.7


def test_data_map_forgetting_and_aum_hand_case():
    # 3 epochs, 2 examples, 3 classes
    logits = np.array(
        [
            [[2.0, 0.0, 1.0], [0.0, 1.0, 0.0]],
            [[0.0, 3.0, 1.0], [0.0, 2.0, 0.0]],
            [[1.0, 0.0, 0.0], [3.0, 1.0, 0.0]],
        ]
    )
    labels = np.array([0, 1])
    # margins: example 0: 2-1, 0-3, 1-0 -> mean -1/3; example 1: 1-0, 2-0, 1-3 -> mean 1/3
    assert ag.area_under_margin(logits, labels) == pytest.approx([-1 / 3, 1 / 3])
    probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    conf, var, corr = ag.data_map(probs, labels)
    p0 = probs[:, 0, 0]
    assert conf[0] == pytest.approx(p0.mean()) and var[0] == pytest.approx(p0.std())
    assert corr.tolist() == pytest.approx([2 / 3, 2 / 3])
    # example 0: correct, wrong, correct -> 1 forgetting; example 1: correct, correct, wrong -> 1
    assert ag.forgetting_events(probs, labels).tolist() == [1, 1]


def test_detection_auc_against_pair_counting():
    rng = np.random.default_rng(3)
    s = rng.integers(0, 5, 60).astype(float)
    pos = rng.random(60) < 0.3
    pairs = [(a > b) + 0.5 * (a == b) for a in s[pos] for b in s[~pos]]
    assert ag.detection_auc(s, pos) == pytest.approx(np.mean(pairs))
    assert ag.detection_auc([1.0, 2.0], np.array([False, True])) == 1.0


def test_dynamics_bad_input():
    rng = np.random.default_rng(0)
    x, y, _, _ = blobs(0, n=20)
    with pytest.raises(ValueError, match="one entry per row"):
        ag.train_softmax(x, y[:-1], 2, epochs=1, lr=0.1, rng=rng)
    with pytest.raises(ValueError, match="2-D"):
        ag.train_softmax(x[:, 0], y, 2, epochs=1, lr=0.1, rng=rng)
    with pytest.raises(ValueError, match="range"):
        ag.train_softmax(x, y + 1, 2, epochs=1, lr=0.1, rng=rng)
    with pytest.raises(ValueError, match="lr"):
        ag.train_softmax(x, y, 2, epochs=1, lr=0.0, rng=rng)
    with pytest.raises(ValueError, match="finite"):
        ag.train_softmax(np.full((2, 2), np.nan), [0, 1], 2, epochs=1, lr=0.1, rng=rng)
    with pytest.raises(ValueError, match="shape"):
        ag.area_under_margin(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="one entry per example"):
        ag.data_map(np.full((2, 3, 2), 0.5), [0, 1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ag.data_map(np.full((2, 2, 2), 2.0), [0, 1])
    with pytest.raises(ValueError, match="range"):
        ag.forgetting_events(np.full((2, 2, 2), 0.5), [0, 2])
    with pytest.raises(TypeError, match="boolean"):
        ag.detection_auc([1.0, 2.0], [0, 1])
    with pytest.raises(ValueError, match="both"):
        ag.detection_auc([1.0, 2.0], np.array([True, True]))
    with pytest.raises(ValueError, match="at least 2"):
        ag.noisy_cross_validation([[0.0, 1.0]], [0], 2, rng)


# ---------------------------------------------------------------------------- influence
def logistic_problem(seed, n=60, n_test=120):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.where(y[:, None] == 1, 1.0, -1.0) + rng.normal(0, 1, (n, 2))
    yt = rng.integers(0, 2, n_test)
    xt = np.where(yt[:, None] == 1, 1.0, -1.0) + rng.normal(0, 1, (n_test, 2))
    return x, y, xt, yt


def scipy_fit(x, y, l2, n_norm, drop=None):
    from scipy.optimize import minimize

    keep = np.ones(len(y), bool)
    if drop is not None:
        keep[drop] = False
    xb = np.hstack([x, np.ones((len(y), 1))])[keep]
    yk = np.asarray(y, float)[keep]

    def objective(w):
        z = xb @ w
        return np.sum(np.logaddexp(0, z) - yk * z) / n_norm + 0.5 * l2 * w @ w

    return minimize(objective, np.zeros(3), method="BFGS", options={"gtol": 1e-10}).x


def mean_loss(x, y, w):
    z = np.hstack([x, np.ones((len(y), 1))]) @ w
    return np.mean(np.logaddexp(0, z) - y * z)


def test_fit_logistic_matches_scipy():
    x, y, _, _ = logistic_problem(0)
    assert ag.fit_logistic(x, y, 0.05) == pytest.approx(
        scipy_fit(x, y, 0.05, len(y)), abs=1e-5
    )


def test_leave_one_out_matches_independent_refit():
    x, y, xt, yt = logistic_problem(1, n=30)
    loo = ag.leave_one_out_test_loss(x, y, xt, yt, 0.05)
    base = mean_loss(xt, yt, scipy_fit(x, y, 0.05, len(y)))
    for j in (0, 7, 29):
        expected = mean_loss(xt, yt, scipy_fit(x, y, 0.05, len(y), drop=j)) - base
        assert loo[j] == pytest.approx(expected, abs=1e-6)


@settings(max_examples=10, deadline=None, database=None)
@given(st.integers(0, 10_000))
def test_influence_predicts_leave_one_out(seed):
    # a well-conditioned problem (n = 100, l2 = 0.5), where the first-order
    # approximation error is small compared with the effects themselves
    x, y, xt, yt = logistic_problem(seed, n=100)
    inf = ag.influence_on_test_loss(x, y, xt, yt, 0.5)
    loo = ag.leave_one_out_test_loss(x, y, xt, yt, 0.5)
    assert np.max(np.abs(inf - loo)) < 0.2 * np.max(np.abs(loo))
    assert np.corrcoef(inf, loo)[0, 1] > 0.99


def test_influence_bad_input():
    x, y, xt, yt = logistic_problem(0, n=10, n_test=5)
    with pytest.raises(ValueError, match="l2"):
        ag.fit_logistic(x, y, 0.0)
    with pytest.raises(ValueError, match="range"):
        ag.fit_logistic(x, y + 1, 0.1)
    with pytest.raises(ValueError, match="test_features"):
        ag.influence_on_test_loss(x, y, xt[:, :1], yt, 0.1)
    with pytest.raises(ValueError, match="test_labels"):
        ag.leave_one_out_test_loss(x, y, xt, yt[:-1], 0.1)
    with pytest.raises(ValueError, match="2-D"):
        ag.influence_on_test_loss(x[:, 0], y, xt, yt, 0.1)


# ------------------------------------------------------- displayed private functions
def test_private_chance_corrected_matches_public():
    assert ag._chance_corrected(0.8, 0.5) == ag.chance_corrected(0.8, 0.5) == pytest.approx(0.6)


def test_private_fleiss_agreement_matches_public_parts():
    counts = np.array([[3, 0, 1], [2, 2, 0], [0, 4, 0]])
    assert ag._fleiss_agreement(counts, 4) == ag.agreement_parts("fleiss", counts)


def test_private_noisy_cross_validation_matches_public():
    x, _, noisy, _ = blobs(2, n=60)
    public = ag.noisy_cross_validation(x, noisy, 2, np.random.default_rng(5), epochs=10)
    private = ag._noisy_cross_validation(
        x, noisy, 2, np.random.default_rng(5), epochs=10, lr=0.5, l2=0.0
    )
    np.testing.assert_array_equal(private, public)


def test_private_dawid_skene_matches_public():
    labels = np.array([[0, 0, 1], [1, 1, -1], [0, 1, 1], [1, -1, 1]])
    post, conf = ag._dawid_skene(labels, 2, max_iter=20, tol=1e-6, smoothing=0.01)
    post_pub, conf_pub = ag.dawid_skene(labels, 2, max_iter=20)
    np.testing.assert_array_equal(post, post_pub)
    np.testing.assert_array_equal(conf, conf_pub)


# ---------------------------------------------------------------------------------------------
# vote_shares: the book's one majority vote


def test_vote_shares_split_the_win_among_tied_answers():
    shares = ag.vote_shares(np.array([[3, 1, 0], [2, 2, 1], [0, 0, 0], [0, 5, 5]]))
    np.testing.assert_allclose(
        shares, [[1, 0, 0], [0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3], [0, 0.5, 0.5]]
    )


def test_majority_vote_breaks_ties_uniformly_as_vote_shares_say():
    labels = np.array([[0, 1, 2]] * 3000)  # every item a three-way tie
    winners = ag.majority_vote(labels, 3, rng=np.random.default_rng(1))
    freq = np.bincount(winners, minlength=3) / winners.size
    np.testing.assert_allclose(freq, ag.vote_shares(np.array([[1, 1, 1]]))[0], atol=0.03)


def test_self_consistency_scores_its_vote_with_the_same_rule():
    from lilbook import sampling

    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    expected = np.mean(ag.vote_shares(rng_a.multinomial(4, [0.4, 0.35, 0.25], size=500))[:, 0])
    assert sampling.simulate_majority_vote([0.4, 0.35, 0.25], 4, 500, rng_b) == expected


@pytest.mark.parametrize(
    "bad", [np.array([1, 2]), np.array([[1.5, 2.0]]), np.array([[-1, 2]]), np.zeros((2, 0), int)]
)
def test_vote_shares_rejects_what_is_not_a_count_table(bad):
    with pytest.raises(ValueError, match="counts must be a 2-d array of non-negative integers"):
        ag.vote_shares(bad)


# --------------------------------------------------------------------------------------
# raters per item, MACE by EM, weighted vote
# --------------------------------------------------------------------------------------
@FAST
@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_assign_raters_keeps_exactly_r_labels_per_item(r, seed):
    rng = np.random.default_rng(seed)
    full = rng.integers(0, 3, (40, 6))
    kept = ag.assign_raters(full, r, np.random.default_rng(seed + 1))
    assert np.all((kept != M).sum(axis=1) == r)
    assert np.all((kept == full) | (kept == M))


def test_assign_raters_rejects_bad_input():
    full = np.zeros((5, 3), dtype=int)
    with pytest.raises(ValueError, match="raters_per_item"):
        ag.assign_raters(full, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="raters_per_item"):
        ag.assign_raters(full, 0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        ag.assign_raters(full, 2, 0)
    with pytest.raises(ValueError, match="labels"):
        ag.assign_raters(np.zeros(5), 1, np.random.default_rng(0))


def _mace_data(thetas, xis, n_items, seed):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(xis[0]), n_items)
    conf = np.stack([ag.mace_confusion(t, x) for t, x in zip(thetas, xis)])
    return truth, ag.simulate_annotations(truth, conf, rng)


def test_mace_em_recovers_trust_and_finds_the_spammer():
    thetas = [0.9, 0.8, 0.7, 0.6, 0.0]
    xis = [np.full(3, 1 / 3)] * 4 + [np.array([0.8, 0.1, 0.1])]
    truth, labels = _mace_data(thetas, xis, 4000, seed=1)
    fit = ag.mace_em(labels, 3)
    assert np.allclose(fit.theta, thetas, atol=0.04)
    assert np.allclose(fit.xi[-1], xis[-1], atol=0.05)
    assert np.mean(fit.posterior.argmax(1) == truth) > 0.97


def test_mace_em_posterior_is_the_product_of_the_implied_confusions():
    # Independent derivation: P(T = c | labels) ∝ prod_j C_j[c, a_ij] with C_j = mace_confusion(theta_j, xi_j)
    truth, labels = _mace_data([0.8, 0.6, 0.3], [np.full(3, 1 / 3)] * 3, 300, seed=2)
    labels[::3, 1] = M
    fit = ag.mace_em(labels, 3)
    for i in range(0, 300, 37):
        p = np.ones(3)
        for j in range(3):
            if labels[i, j] != M:
                p *= ag.mace_confusion(fit.theta[j], fit.xi[j])[:, labels[i, j]]
        assert np.allclose(fit.posterior[i], p / p.sum(), atol=1e-9)
    assert np.allclose(fit.confusion[1], ag.mace_confusion(fit.theta[1], fit.xi[1]))


def test_mace_em_rejects_bad_input():
    labels = np.array([[0, 1], [1, 1]])
    with pytest.raises(ValueError, match="labels"):
        ag.mace_em(np.array([[0, 3]]), 3)
    with pytest.raises(ValueError, match="n_classes"):
        ag.mace_em(labels, 1)
    with pytest.raises(ValueError, match="smoothing"):
        ag.mace_em(labels, 2, smoothing=0)
    with pytest.raises(ValueError, match="max_iter"):
        ag.mace_em(labels, 2, max_iter=0)


def test_weighted_vote_by_hand():
    labels = np.array([[0, 1, 1], [2, 2, 0], [M, M, M], [1, M, 0]])
    weights = np.array([3.0, 1.0, 1.0])
    # item 0: class 0 weight 3 vs class 1 weight 2; item 1: class 2 weight 4; item 3: 1 vs 3 -> 1
    assert ag.weighted_vote(labels, weights, 3).tolist() == [0, 2, M, 1]
    assert ag.weighted_vote(labels, np.ones(3), 3).tolist() == [1, 2, M, 0]


def test_weighted_vote_rejects_bad_input():
    labels = np.array([[0, 1]])
    with pytest.raises(ValueError, match="weights"):
        ag.weighted_vote(labels, [1.0, -1.0], 2)
    with pytest.raises(ValueError, match="weights"):
        ag.weighted_vote(labels, [1.0, 1.0, 1.0], 2)


# --------------------------------------------------------------------------------------
# random Fourier features, self-influence
# --------------------------------------------------------------------------------------
def test_random_fourier_features_approximate_the_gaussian_kernel():
    x = np.array([[0.0, 0.0], [0.5, 0.0], [1.0, 1.0]])
    phi = ag.random_fourier_features(x, 40000, 0.8, np.random.default_rng(0))
    assert phi.shape == (3, 40000)
    assert np.all(np.abs(phi) <= np.sqrt(2 / 40000) + 1e-15)
    sq = np.sum((x[:, None] - x[None]) ** 2, axis=2)
    assert np.allclose(phi @ phi.T, np.exp(-sq / (2 * 0.8**2)), atol=0.02)


def test_random_fourier_features_reject_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="length_scale"):
        ag.random_fourier_features(np.zeros((2, 2)), 5, 0.0, rng)
    with pytest.raises(ValueError, match="n_features"):
        ag.random_fourier_features(np.zeros((2, 2)), 0, 1.0, rng)
    with pytest.raises(ValueError, match="features"):
        ag.random_fourier_features(np.zeros(3), 5, 1.0, rng)


def _small_softmax_problem(seed, n=60):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = np.array([[0, 2], [-2, -1], [2, -1]])[y] + rng.normal(0, 1.0, (n, 2))
    y[:4] = (y[:4] + 1) % 3  # four wrong labels
    return x, y


def test_self_influence_predicts_leave_one_out_and_is_nonnegative():
    x, y = _small_softmax_problem(3)
    predicted = ag.self_influence(x, y, 3, l2=0.05)
    idx = np.arange(0, 60, 3)
    actual = ag.leave_one_out_self_loss(x, y, 3, 0.05, idx)
    assert np.all(predicted >= 0) and np.all(actual >= 0)
    # first order in 1/n: close, and the refit always raises the removed point's loss at least as much
    assert np.allclose(predicted[idx], actual, rtol=0.35, atol=2e-3)
    assert np.corrcoef(predicted[idx], actual)[0, 1] > 0.98
    # the four wrong labels have the largest self-influence
    assert set(np.argsort(-predicted)[:4]) == {0, 1, 2, 3}


def test_self_influence_rejects_bad_input():
    x, y = _small_softmax_problem(0, n=10)
    with pytest.raises(ValueError, match="l2"):
        ag.self_influence(x, y, 3, l2=0.0)
    with pytest.raises(ValueError, match="labels"):
        ag.self_influence(x, y + 3, 3, l2=0.1)
    with pytest.raises(ValueError, match="indices"):
        ag.leave_one_out_self_loss(x, y, 3, 0.1, [10])
