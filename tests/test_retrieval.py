"""Tests for lilbook.retrieval.

References are independent: a full argsort of all inner products (brute force), hand-worked
small cases, and set arithmetic done here in the test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lilbook import retrieval as rt
from lilbook.retrieval import (
    build_ivf,
    build_lsh,
    clustered_embeddings,
    exact_mips,
    ivf_search,
    kmeans,
    lsh_search,
    memory_scores,
    min_max,
    recall_at_k,
    recency,
    text_relevance,
    time_per_query,
)

FAST = settings(max_examples=40, deadline=None, database=None)
finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=32)


@st.composite
def index_and_queries(draw):
    n = draw(st.integers(1, 30))
    d = draw(st.integers(1, 6))
    m = draw(st.integers(1, 5))
    index = draw(arrays(np.float64, (n, d), elements=finite))
    queries = draw(arrays(np.float64, (m, d), elements=finite))
    k = draw(st.integers(1, n))
    return index, queries, k


@pytest.fixture(scope="module")
def store():
    rng = np.random.default_rng(3)
    x = clustered_embeddings(600, 8, 12, rng)
    q = x[rng.integers(600, size=25)] + rng.normal(0, 0.05, (25, 8))
    return x, q


# ------------------------------------------------------------------------------------------------
# exact_mips
# ------------------------------------------------------------------------------------------------


def test_exact_mips_hand_worked():
    index = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [-1.0, -1.0]])
    # scores for q=(1, 0.5): 1, 0.5, 3, -1.5 -> order 2, 0, 1, 3
    assert exact_mips(index, [1.0, 0.5], 4).tolist() == [[2, 0, 1, 3]]
    # inner product, not cosine: the long vector wins over the well-aligned short one
    assert exact_mips([[1.0, 0.0], [3.0, 3.0]], [[1.0, 0.0]], 1).tolist() == [[1]]


def test_exact_mips_ties_prefer_the_lower_index():
    index = np.ones((5, 3))
    assert exact_mips(index, np.ones(3), 5).tolist() == [[0, 1, 2, 3, 4]]


@FAST
@given(index_and_queries())
def test_exact_mips_matches_a_full_argsort(case):
    index, queries, k = case
    found = exact_mips(index, queries, k)
    scores = queries @ index.T
    brute = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    assert found.shape == (queries.shape[0], k) and found.dtype.kind == "i"
    # equal scores may be returned in either order at the cut: compare the scores themselves
    np.testing.assert_array_equal(np.take_along_axis(scores, found, 1), np.take_along_axis(scores, brute, 1))
    assert all(len(set(row)) == k for row in found.tolist())


@pytest.mark.parametrize("k", [0, 5, -1])
def test_exact_mips_rejects_k_outside_one_to_n(k):
    with pytest.raises(ValueError, match="k must be an integer in \\[1, 4\\]"):
        exact_mips(np.eye(4), np.ones(4), k)


def test_exact_mips_rejects_bad_input():
    with pytest.raises(TypeError, match="k must be an integer"):
        exact_mips(np.eye(3), np.ones(3), 1.5)
    with pytest.raises(ValueError, match="queries must have shape"):
        exact_mips(np.eye(3), np.ones(4), 1)
    with pytest.raises(ValueError, match="index must be a 2-D"):
        exact_mips(np.ones(3), np.ones(3), 1)
    with pytest.raises(ValueError, match="index must be finite"):
        exact_mips([[1.0, math.nan]], [1.0, 1.0], 1)
    with pytest.raises(ValueError, match="queries must be finite"):
        exact_mips(np.eye(2), [math.inf, 0.0], 1)
    with pytest.raises(TypeError, match="index"):
        exact_mips("abc", np.ones(3), 1)
    with pytest.raises(ValueError, match="must not be empty"):
        exact_mips(np.empty((0, 3)), np.ones(3), 1)


# ------------------------------------------------------------------------------------------------
# Approximate searchers
# ------------------------------------------------------------------------------------------------


def test_lsh_returns_k_distinct_items_and_finds_most_neighbours(store):
    x, q = store
    truth = exact_mips(x, q, 10)
    lsh = build_lsh(x, 6, 16, np.random.default_rng(0))
    found, scanned = lsh_search(lsh, q, 10)
    assert found.shape == (25, 10) and scanned.shape == (25,)
    assert all(len(set(r)) == 10 for r in found.tolist())
    assert np.all((scanned >= 10) & (scanned <= 600))
    assert recall_at_k(found, truth) > 0.6
    assert scanned.mean() < 600  # it did not score everything


def test_lsh_with_one_bucket_is_exact(store):
    # One hyperplane: every item lands in one of two buckets. With many tables nearly all items
    # collide with the query at least once, and re-ranking the candidates exactly then gives the
    # exact answer whenever every true neighbour is a candidate.
    x, q = store
    lsh = build_lsh(x, 1, 40, np.random.default_rng(1))
    found, scanned = lsh_search(lsh, q, 5)
    assert np.all(scanned == 600)
    np.testing.assert_array_equal(found, exact_mips(x, q, 5))


def test_lsh_fills_up_when_few_items_collide():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 4))
    lsh = build_lsh(x, 20, 1, rng)  # a million buckets: the query's bucket is nearly empty
    found, scanned = lsh_search(lsh, rng.standard_normal((3, 4)), 7)
    assert found.shape == (3, 7) and np.all(scanned >= 7)
    assert all(len(set(r)) == 7 for r in found.tolist())


def test_lsh_bucket_codes_follow_the_hyperplane_signs():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 3))
    lsh = build_lsh(x, 5, 2, rng)
    m = np.linalg.norm(x, axis=1).max()
    ext = np.hstack([x / m, np.sqrt(np.clip(1 - (np.linalg.norm(x, axis=1) / m) ** 2, 0, None))[:, None]])
    for t in range(2):
        expected = [sum(int(ext[i] @ lsh.planes[t, b] > 0) << b for b in range(5)) for i in range(20)]
        assert lsh.codes[t].tolist() == expected
        members = sorted(i for bucket in lsh.buckets[t].values() for i in bucket.tolist())
        assert members == list(range(20))


def test_ivf_lists_partition_the_store_and_probing_all_is_exact(store):
    x, q = store
    ivf = build_ivf(x, 12, np.random.default_rng(0))
    members = np.sort(np.concatenate(ivf.lists))
    np.testing.assert_array_equal(members, np.arange(600))
    found, scanned = ivf_search(ivf, q, 10, 12)
    assert np.all(scanned == 600)
    np.testing.assert_array_equal(found, exact_mips(x, q, 10))
    few, scanned_few = ivf_search(ivf, q, 10, 1)
    assert np.all(scanned_few < 600) and np.all(scanned_few >= 10)
    assert recall_at_k(few, exact_mips(x, q, 10)) > 0.5


def test_ivf_probes_more_lists_when_the_first_is_too_small():
    x = np.vstack([np.full((2, 2), 10.0), np.full((30, 2), -10.0)])
    x = x + np.random.default_rng(0).normal(0, 0.1, x.shape)
    ivf = build_ivf(x, 2, np.random.default_rng(0))
    found, scanned = ivf_search(ivf, [[1.0, 1.0]], 5, 1)
    assert scanned[0] == 32 and set(found[0][:2]) == {0, 1}


def test_kmeans_separates_obvious_clusters_and_matches_lloyd():
    rng = np.random.default_rng(5)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = np.vstack([c + rng.normal(0, 0.3, (40, 2)) for c in centres])
    cent, labels = kmeans(x, 3, np.random.default_rng(0))
    # each true group gets one label, and each centroid is the mean of its members
    groups = [set(labels[i * 40:(i + 1) * 40].tolist()) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3
    for j in range(3):
        np.testing.assert_allclose(cent[j], x[labels == j].mean(axis=0), atol=1e-9)
    # every point is assigned to its nearest centroid
    d2 = ((x[:, None, :] - cent[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(labels, d2.argmin(1))


def test_kmeans_with_duplicate_points_keeps_all_clusters_filled():
    x = np.vstack([np.zeros((10, 2)), np.ones((2, 2))])
    cent, labels = kmeans(x, 2, np.random.default_rng(0))
    assert set(labels.tolist()) == {0, 1}


def test_searchers_reject_bad_input(store):
    x, q = store
    rng = np.random.default_rng(0)
    lsh = build_lsh(x, 4, 2, rng)
    ivf = build_ivf(x, 4, rng)
    with pytest.raises(ValueError, match="k must be an integer in \\[1, 600\\]"):
        lsh_search(lsh, q, 601)
    with pytest.raises(ValueError, match="k must be"):
        ivf_search(ivf, q, 601, 1)
    with pytest.raises(ValueError, match="n_probe"):
        ivf_search(ivf, q, 5, 5)
    with pytest.raises(ValueError, match="queries must have shape"):
        lsh_search(lsh, np.ones((2, 3)), 5)
    with pytest.raises(ValueError, match="queries must be finite"):
        ivf_search(ivf, np.full(8, math.nan), 5, 1)
    with pytest.raises(TypeError, match="LSHIndex"):
        lsh_search(ivf, q, 5)
    with pytest.raises(TypeError, match="IVFIndex"):
        ivf_search(lsh, q, 5, 1)
    with pytest.raises(ValueError, match="n_bits"):
        build_lsh(x, 31, 1, rng)
    with pytest.raises(ValueError, match="n_tables"):
        build_lsh(x, 4, 0, rng)
    with pytest.raises(TypeError, match="rng"):
        build_lsh(x, 4, 1, 0)
    with pytest.raises(ValueError, match="index must be finite"):
        build_lsh([[math.inf, 1.0]], 2, 1, rng)
    with pytest.raises(ValueError, match="n_lists"):
        build_ivf(x, 601, rng)
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(x, 0, rng)
    with pytest.raises(ValueError, match="n_iter"):
        kmeans(x, 2, rng, n_iter=0)
    with pytest.raises(ValueError, match="x must be finite"):
        kmeans([[math.nan, 0.0]], 1, rng)


# ------------------------------------------------------------------------------------------------
# recall_at_k and timing
# ------------------------------------------------------------------------------------------------


def test_recall_hand_worked():
    truth = np.array([[0, 1, 2, 3], [4, 5, 6, 7]])
    found = np.array([[3, 2, 9, 8], [4, 5, 6, 7]])
    assert recall_at_k(found, truth) == pytest.approx((2 / 4 + 4 / 4) / 2)
    # [3, 2] holds 2 of row 0's four true items, [4, 5] holds 2 of row 1's
    assert recall_at_k(found[:, :2], truth) == pytest.approx((2 / 4 + 2 / 4) / 2)


@FAST
@given(index_and_queries(), st.integers(0, 2**32 - 1))
def test_recall_is_one_for_exact_and_in_unit_interval_for_random(case, seed):
    index, queries, k = case
    truth = exact_mips(index, queries, k)
    assert recall_at_k(truth, truth) == 1.0
    rng = np.random.default_rng(seed)
    guess = np.array([rng.permutation(index.shape[0])[:k] for _ in range(queries.shape[0])])
    r = recall_at_k(guess, truth)
    expected = np.mean([len(set(g) & set(t)) / k for g, t in zip(guess.tolist(), truth.tolist())])
    assert 0.0 <= r <= 1.0 and r == pytest.approx(expected)


def test_recall_rejects_bad_input():
    with pytest.raises(ValueError, match="one row per query"):
        recall_at_k(np.arange(6).reshape(2, 3), np.arange(9).reshape(3, 3))
    with pytest.raises(ValueError, match="must not repeat"):
        recall_at_k([[1, 1]], [[1, 2]])
    with pytest.raises(TypeError, match="integer array"):
        recall_at_k([[0.5, 1.0]], [[1, 2]])
    with pytest.raises(ValueError, match="2-D"):
        recall_at_k([1, 2], [[1, 2]])
    with pytest.raises(ValueError, match=">= 0"):
        recall_at_k([[-1, 2]], [[1, 2]])


def test_time_per_query():
    calls = []
    t = time_per_query(lambda q: calls.append(q.shape), np.zeros((4, 2)), repeats=3)
    assert t >= 0 and calls == [(4, 2)] * 3
    with pytest.raises(TypeError, match="callable"):
        time_per_query(3, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="2-D"):
        time_per_query(len, np.zeros(4))
    with pytest.raises(ValueError, match="repeats"):
        time_per_query(len, np.zeros((4, 2)), repeats=0)


def test_clustered_embeddings():
    a = clustered_embeddings(200, 5, 3, np.random.default_rng(7))
    b = clustered_embeddings(200, 5, 3, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    norms = np.linalg.norm(a, axis=1)
    assert a.shape == (200, 5) and np.all((norms >= 0.5 - 1e-12) & (norms <= 2 + 1e-12))
    with pytest.raises(ValueError, match="n must be"):
        clustered_embeddings(0, 5, 3, np.random.default_rng(7))
    with pytest.raises(ValueError, match="spread"):
        clustered_embeddings(5, 5, 3, np.random.default_rng(7), spread=-1.0)
    with pytest.raises(TypeError, match="rng"):
        clustered_embeddings(5, 5, 3, 7)


# ------------------------------------------------------------------------------------------------
# Generative Agents retrieval score
# ------------------------------------------------------------------------------------------------


def test_recency_is_exponential_decay_per_hour():
    assert recency([0.0, 1.0, 10.0]).tolist() == pytest.approx([1.0, 0.995, 0.995**10])
    assert recency(24.0, decay=0.5) == pytest.approx(0.5**24)
    with pytest.raises(ValueError, match="hours_since_access"):
        recency([-1.0])
    with pytest.raises(ValueError, match="decay must be in \\(0, 1\\]"):
        recency([1.0], decay=1.5)
    with pytest.raises(ValueError, match="decay"):
        recency([1.0], decay=0.0)


def test_min_max():
    assert min_max([2.0, 4.0, 3.0]).tolist() == [0.0, 1.0, 0.5]
    assert min_max([5.0, 5.0]).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="1-D"):
        min_max(np.ones((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        min_max([1.0, math.nan])


def test_memory_scores_hand_worked():
    hours = [0.0, 100.0, 1000.0]
    importance = [1.0, 10.0, 4.0]
    relevance = [0.0, 0.2, 0.8]
    rec = np.array([1.0, 0.995**100, 0.995**1000])
    rec = (rec - rec.min()) / (rec.max() - rec.min())
    imp = np.array([0.0, 1.0, 3 / 9])
    rel = np.array([0.0, 0.25, 1.0])
    np.testing.assert_allclose(memory_scores(hours, importance, relevance), rec + imp + rel)
    np.testing.assert_allclose(memory_scores(hours, importance, relevance, weights=(0, 0, 2)), 2 * rel)
    # each weight alone ranks by its own component
    assert np.argmax(memory_scores(hours, importance, relevance, (1, 0, 0))) == 0
    assert np.argmax(memory_scores(hours, importance, relevance, (0, 1, 0))) == 1
    assert np.argmax(memory_scores(hours, importance, relevance, (0, 0, 1))) == 2


@FAST
@given(
    st.integers(2, 20).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=st.floats(0, 500)),
            arrays(np.float64, n, elements=st.floats(1, 10)),
            arrays(np.float64, n, elements=st.floats(-1, 1)),
        )
    ),
    st.tuples(st.floats(0, 3), st.floats(0, 3), st.floats(0.01, 3)),
)
def test_memory_scores_lie_between_zero_and_the_weight_sum(parts, weights):
    scores = memory_scores(*parts, weights=weights)
    assert np.all(scores >= -1e-12) and np.all(scores <= sum(weights) + 1e-9)


def test_memory_scores_reject_bad_input():
    with pytest.raises(ValueError, match="same length"):
        memory_scores([1.0, 2.0], [1.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="weights must be three numbers"):
        memory_scores([1.0], [1.0], [1.0], weights=(1.0, 1.0))
    with pytest.raises(ValueError, match="not all zero"):
        memory_scores([1.0], [1.0], [1.0], weights=(0, 0, 0))
    with pytest.raises(ValueError, match="weights"):
        memory_scores([1.0], [1.0], [1.0], weights=(1, -1, 1))
    with pytest.raises(ValueError, match="relevance must be finite"):
        memory_scores([1.0], [1.0], [math.nan])
    with pytest.raises(ValueError, match="1-D"):
        memory_scores([[1.0]], [[1.0]], [[1.0]])


def test_text_relevance_hand_worked():
    memories = ["The festival needs chairs", "Watered the plants", "the and of"]
    rel = text_relevance(memories, "Chairs for the festival?")
    # content words: {festival, needs, chairs} vs {chairs, festival}: 2 / (sqrt(3) * sqrt(2))
    assert rel.tolist() == pytest.approx([2 / (math.sqrt(3) * math.sqrt(2)), 0.0, 0.0])
    assert text_relevance(["Chairs chairs"], "chairs").tolist() == pytest.approx([1.0])
    with pytest.raises(TypeError, match="memories"):
        text_relevance("one string", "q")
    with pytest.raises(TypeError, match="memories"):
        text_relevance([], "q")
    with pytest.raises(TypeError, match="query"):
        text_relevance(["a"], 3)


def test_public_names_exist():
    for name in rt.__all__:
        assert hasattr(rt, name), name


# ------------------------------------------------------------------------------------------------
# Nested LSH tables and the small-world graph
# ------------------------------------------------------------------------------------------------


def test_first_tables_equal_an_index_built_with_fewer_tables(store):
    x, q = store
    big = rt.build_lsh(x, 6, 16, np.random.default_rng(5))
    small = rt.build_lsh(x, 6, 4, np.random.default_rng(5))  # the generator draws planes table by table
    prefix = rt.lsh_first_tables(big, 4)
    assert np.array_equal(prefix.planes, small.planes)
    assert np.array_equal(rt.lsh_search(prefix, q, 10)[0], rt.lsh_search(small, q, 10)[0])


def test_nested_tables_never_lose_a_true_neighbour(store):
    x, q = store
    truth = exact_mips(x, q, 10)
    big = rt.build_lsh(x, 5, 16, np.random.default_rng(2))
    hits, real = [], []
    for t in (1, 2, 4, 8, 16):
        found, scanned = rt.lsh_search(rt.lsh_first_tables(big, t), q, 10)
        hits.append([len(set(f) & set(s)) for f, s in zip(found.tolist(), truth.tolist())])
        real.append(scanned > 10)  # more than k collided: no fill-up from Hamming neighbours
    # more tables give a superset of candidates, and exact re-ranking keeps every true neighbour among them
    both = np.array(real[:-1]) & np.array(real[1:])
    assert both.sum() > 60
    assert np.all(np.diff(np.array(hits), axis=0)[both] >= 0)
    with pytest.raises(ValueError, match="n_tables"):
        rt.lsh_first_tables(big, 17)
    with pytest.raises(TypeError, match="lsh"):
        rt.lsh_first_tables("index", 1)


def test_nsw_links_are_symmetric_and_the_search_is_exact_when_ef_is_n(store):
    x, q = store
    g = rt.build_nsw(x, 4, np.random.default_rng(0))
    n = x.shape[0]
    pairs = {(i, int(j)) for i in range(n) for j in g.links[i]}
    assert all((j, i) in pairs for i, j in pairs) and all(i != j for i, j in pairs)
    assert all(len(g.links[i]) >= 4 for i in range(n))
    found, scanned = rt.nsw_search(g, q, 10, ef=n)
    assert recall_at_k(found, exact_mips(x, q, 10)) == 1.0 and np.all(scanned == n)


def test_nsw_links_each_item_to_its_closest_earlier_items():
    # four directions inserted in order: 1 is closest to 0, 2 closer to 1 than to 0, 3 closest to 2
    pts = np.array([[0.0, 1.0], [0.1, 1.0], [1.0, 0.1], [1.0, 0.0]])
    links = rt._nsw_links(pts / np.linalg.norm(pts, axis=1, keepdims=True), 1)
    assert [sorted(a.tolist()) for a in links] == [[1], [0, 2], [1, 3], [2]]


def test_nsw_search_finds_most_neighbours_cheaply(store):
    x, q = store
    g = rt.build_nsw(x, 8, np.random.default_rng(1))
    found, scanned = rt.nsw_search(g, q, 10, ef=40)
    assert recall_at_k(found, exact_mips(x, q, 10)) > 0.8 and scanned.mean() < x.shape[0]
    assert all(len(set(r)) == 10 for r in found.tolist())


def test_nsw_rejects_bad_input(store):
    x, q = store
    g = rt.build_nsw(x, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="ef"):
        rt.nsw_search(g, q, 10, ef=5)
    with pytest.raises(TypeError, match="graph"):
        rt.nsw_search("graph", q, 10, ef=20)
    with pytest.raises(ValueError, match="n_links"):
        rt.build_nsw(x, 0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        rt.build_nsw(x, 4, 0)
