"""Tests for lilbook.sampling.

Expected values come from brute-force enumeration (subsets of samples, sequences of
answers), from closed forms worked out here in the test (binomials, symmetry), or from
seeded simulation with a tolerance, never from the output of the code under test.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lilbook import sampling as sa
from lilbook.sampling import majority_vote_accuracy, pass_at_k

FAST = settings(max_examples=40, deadline=None, database=None)


# ------------------------------------------------------------------------------------
# pass@k
# ------------------------------------------------------------------------------------


def pass_at_k_subsets(n: int, c: int, k: int) -> Fraction:
    """Fraction of k-subsets of n samples (the first c correct) holding a correct one."""
    hits = total = 0
    for subset in itertools.combinations(range(n), k):
        total += 1
        hits += any(i < c for i in subset)
    return Fraction(hits, total)


@FAST
@given(st.integers(1, 9).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_matches_subset_enumeration(args):
    n, c, k = args
    assert pass_at_k(n, c, k) == pytest.approx(float(pass_at_k_subsets(n, c, k)), abs=1e-14)


@FAST
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_pass_at_k_is_monotone_in_k(args):
    n, c = args
    values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
    assert all(b >= a - 1e-15 for a, b in zip(values, values[1:]))
    assert all(0.0 <= v <= 1.0 for v in values)


@FAST
@given(st.integers(1, 400).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_matches_exact_binomial_ratio(args):
    n, c, k = args
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-12, abs=1e-15)


def test_pass_at_k_hand_cases():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is c / n
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 3 of the 6 pairs contain the hit
    assert pass_at_k(5, 3, 3) == 1.0  # n - c = 2 < 3
    assert pass_at_k(7, 0, 7) == 0.0
    assert pass_at_k(7, 7, 1) == 1.0


def test_pass_at_k_is_stable_for_large_n():
    # 1 - C(n - 1, k) / C(n, k) = k / n exactly; the binomials themselves overflow floats.
    n, k = 10**6, 1000
    assert pass_at_k(n, 1, k) == pytest.approx(k / n, rel=1e-10)
    # Unbiased: averaging over c ~ Binomial(n, p) gives 1 - (1 - p)**k exactly.
    n, k, p = 50, 7, 0.1
    mean = sum(math.comb(n, c) * p**c * (1 - p) ** (n - c) * pass_at_k(n, c, k)
               for c in range(n + 1))
    assert mean == pytest.approx(1 - (1 - p) ** k, rel=1e-12)


@pytest.mark.parametrize(
    "args, exc",
    [
        ((0, 0, 1), ValueError),
        ((5, -1, 1), ValueError),
        ((5, 6, 1), ValueError),
        ((5, 2, 0), ValueError),
        ((5, 2, 6), ValueError),
        ((5.0, 2, 1), TypeError),
        ((5, 2.5, 1), TypeError),
        ((5, 2, True), TypeError),
        (("5", 2, 1), TypeError),
    ],
)
def test_pass_at_k_rejects_bad_input(args, exc):
    with pytest.raises(exc, match="n|c|k"):
        pass_at_k(*args)


# ------------------------------------------------------------------------------------
# majority_vote_accuracy
# ------------------------------------------------------------------------------------


def vote_by_enumeration(probs, n):
    """Sum over every sequence of n answers of P(sequence) * P(vote picks answer 0)."""
    total = Fraction(0)
    probs = [Fraction(p).limit_denominator(10**6) for p in probs]
    for seq in itertools.product(range(len(probs)), repeat=n):
        counts = [seq.count(a) for a in range(len(probs))]
        top = max(counts)
        if counts[0] == top:
            weight = Fraction(1)
            for a in seq:
                weight *= probs[a]
            total += weight / counts.count(top)
    return float(total)


def distributions(max_k=4):
    """Categorical distributions with 1..max_k entries (some may be zero), summing to 1."""
    return st.lists(st.integers(0, 20), min_size=1, max_size=max_k).filter(
        lambda w: w[0] > 0 or sum(w) > 0).map(lambda w: [x / sum(w) for x in w]).filter(
        lambda p: abs(sum(p) - 1) < 1e-12)


@settings(max_examples=30, deadline=None, database=None)
@given(distributions(), st.integers(1, 5))
def test_majority_vote_matches_enumeration(probs, n):
    assume(len(probs) ** n <= 1100)
    expected = vote_by_enumeration(probs, n)
    assert majority_vote_accuracy(probs, n) == pytest.approx(expected, abs=1e-9)


def test_majority_vote_matches_simulation():
    rng = np.random.default_rng(20250501)
    probs = np.array([0.3, 0.35, 0.1, 0.1, 0.1, 0.05])  # the correct answer is not the mode
    n, trials = 15, 40_000
    answers = rng.choice(probs.size, size=(trials, n), p=probs)
    counts = np.stack([(answers == a).sum(axis=1) for a in range(probs.size)], axis=1)
    top = counts.max(axis=1)
    at_top = counts == top[:, None]
    credit = at_top[:, 0] / at_top.sum(axis=1)
    simulated = credit.mean()
    stderr = credit.std() / math.sqrt(trials)
    assert abs(majority_vote_accuracy(probs, n) - simulated) < 4 * stderr


def test_majority_vote_closed_forms():
    # Two answers, odd n: the vote is right when more than half the samples are.
    p, n = 0.6, 9
    expected = sum(math.comb(n, c) * p**c * (1 - p) ** (n - c) for c in range(5, n + 1))
    assert majority_vote_accuracy([p, 1 - p], n) == pytest.approx(expected, rel=1e-12)
    # Two answers, even n: a tie at n/2 is won half the time.
    n = 8
    expected = sum(math.comb(n, c) * p**c * (1 - p) ** (n - c) for c in range(5, n + 1))
    expected += 0.5 * math.comb(n, 4) * p**4 * (1 - p) ** 4
    assert majority_vote_accuracy([p, 1 - p], n) == pytest.approx(expected, rel=1e-12)
    # One sample: the vote is that sample.
    assert majority_vote_accuracy([0.2, 0.5, 0.3], 1) == pytest.approx(0.2)
    # Degenerate distributions.
    assert majority_vote_accuracy([1.0], 7) == 1.0
    assert majority_vote_accuracy([0.0, 1.0], 7) == 0.0
    assert majority_vote_accuracy([1.0, 0.0, 0.0], 3) == 1.0


@pytest.mark.parametrize("k, n", [(2, 64), (5, 40), (10, 64)])
def test_majority_vote_symmetry(k, n):
    # With K equally likely answers each one wins with probability 1 / K, ties included.
    assert majority_vote_accuracy(np.full(k, 1 / k), n) == pytest.approx(1 / k, abs=1e-12)


@FAST
@given(st.floats(0.05, 0.95), st.integers(1, 30))
def test_majority_vote_zero_categories_change_nothing(p, n):
    assert majority_vote_accuracy([p, 0.0, 1 - p, 0.0], n) == pytest.approx(
        majority_vote_accuracy([p, 1 - p], n), abs=1e-12)


def test_majority_vote_grows_towards_one_when_correct_is_the_mode():
    # Lead of answer 0 over answer 1 after 101 samples: mean 20.2, sd about 8.8, so the
    # vote should be right well over 95 % of the time (normal approximation).
    probs = [0.5, 0.3, 0.2]
    acc = [majority_vote_accuracy(probs, n) for n in (1, 5, 25, 101)]
    assert acc[0] == pytest.approx(0.5)
    assert acc == sorted(acc) and acc[-1] > 0.95
    # When a wrong answer is the mode, accuracy falls towards 0 instead.
    acc = [majority_vote_accuracy([0.3, 0.4, 0.3], n) for n in (1, 25, 101)]
    assert acc[0] == pytest.approx(0.3) and acc[-1] < acc[1] < acc[0]


@pytest.mark.parametrize(
    "probs, n, exc",
    [
        ([0.5, 0.6], 3, ValueError),  # sums to 1.1
        ([0.5, 0.4], 3, ValueError),  # sums to 0.9
        ([1.2, -0.2], 3, ValueError),
        ([0.5, float("nan")], 3, ValueError),
        ([[0.5, 0.5]], 3, ValueError),  # 2-D
        ([], 3, ValueError),
        (np.full(sa.MAX_VOTE_CATEGORIES + 1, 1 / (sa.MAX_VOTE_CATEGORIES + 1)), 3,
         ValueError),
        ([0.5, 0.5], 0, ValueError),
        ([0.5, 0.5], sa.MAX_VOTE_SAMPLES + 1, ValueError),
        ([0.5, 0.5], 3.0, TypeError),
        (["a", "b"], 3, TypeError),
        (None, 3, TypeError),
    ],
)
def test_majority_vote_rejects_bad_input(probs, n, exc):
    with pytest.raises(exc, match="probs|n_samples"):
        majority_vote_accuracy(probs, n)


@pytest.mark.parametrize("probs, n", [([0.3, 0.35, 0.1, 0.25], 9), ([0.6, 0.4], 4)])
def test_simulate_majority_vote_agrees_with_enumeration(probs, n):
    trials = 40_000
    estimate = sa.simulate_majority_vote(probs, n, trials, np.random.default_rng(7))
    expected = vote_by_enumeration(probs, n) if len(probs) ** n < 3000 else None
    if expected is None:
        expected = majority_vote_accuracy(probs, n)
    assert abs(estimate - expected) < 4 * math.sqrt(0.25 / trials)


def test_simulate_majority_vote_is_reproducible_and_checks_input():
    a = sa.simulate_majority_vote([0.4, 0.6], 5, 100, np.random.default_rng(3))
    b = sa.simulate_majority_vote([0.4, 0.6], 5, 100, np.random.default_rng(3))
    assert a == b
    with pytest.raises(TypeError, match="rng"):
        sa.simulate_majority_vote([0.4, 0.6], 5, 100, 3)
    with pytest.raises(ValueError, match="trials"):
        sa.simulate_majority_vote([0.4, 0.6], 5, 0, np.random.default_rng(3))
    with pytest.raises(ValueError, match="probs"):
        sa.simulate_majority_vote([0.4, 0.7], 5, 10, np.random.default_rng(3))


# ------------------------------------------------------------------------------------
# best_of_n_accuracy
# ------------------------------------------------------------------------------------


@FAST
@given(st.floats(0.01, 0.99), st.floats(0.0, 6.0))
def test_best_of_two_closed_form(p, d):
    # Two answers: both right, or one right and it outscores the wrong one, which
    # happens with probability Phi(d / sqrt(2)) (difference of two unit Gaussians).
    expected = p * p + 2 * p * (1 - p) * norm_cdf(d / math.sqrt(2))
    assert sa.best_of_n_accuracy(2, p, d) == pytest.approx(expected, abs=1e-9)


def norm_cdf(x):
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


@FAST
@given(st.floats(0.0, 1.0), st.integers(1, 2000))
def test_best_of_n_limits(p, n):
    # A verifier that cannot separate answers picks one at random: accuracy p.
    assert sa.best_of_n_accuracy(n, p, 0.0) == pytest.approx(p, abs=1e-9)
    # A perfect verifier finds a correct answer whenever one exists: pass@n.
    assert sa.best_of_n_accuracy(n, p, 40.0) == pytest.approx(1 - (1 - p) ** n, abs=1e-9)


def test_best_of_n_one_sample_and_vector_input():
    acc = sa.best_of_n_accuracy(np.array([[1, 3], [9, 27]]), 0.25, 1.0)
    assert acc.shape == (2, 2)
    assert acc[0, 0] == pytest.approx(0.25, abs=1e-12)
    assert np.all(np.diff(acc.ravel()) > 0)  # an honest verifier: more samples help
    assert isinstance(sa.best_of_n_accuracy(4, 0.25, 1.0), float)


@pytest.mark.parametrize(
    "n, p, d, h, mu",
    [(8, 0.3, 1.5, 0.0, 0.0), (32, 0.2, 2.0, 0.05, 3.0), (100, 0.5, 1.0, 0.2, 1.5)],
)
def test_best_of_n_matches_simulation(n, p, d, h, mu):
    trials = 20_000
    sim = sa.simulate_best_of_n(n, p, d, p_fooling=h, fooling_score=mu, trials=trials,
                                rng=np.random.default_rng(11))
    exact = sa.best_of_n_accuracy(n, p, d, p_fooling=h, fooling_score=mu)
    assert abs(sim - exact) < 4 * math.sqrt(exact * (1 - exact) / trials) + 1e-3


def test_best_of_n_with_a_fooled_verifier_peaks_then_falls():
    # Convincing wrong answers outscore correct ones on average: with enough samples
    # one of them is almost surely present and wins, so accuracy tends to 0.
    ns = np.array([1, 4, 16, 64, 1024, 65536])
    acc = sa.best_of_n_accuracy(ns, 0.3, 1.5, p_fooling=0.05, fooling_score=3.0)
    assert acc.argmax() not in (0, ns.size - 1)
    assert acc[-1] < 0.05


def test_best_of_n_handles_very_large_n():
    # Rare correct answers and a good verifier: compare with a direct quadrature.
    from scipy.integrate import quad
    from scipy.stats import norm
    n, p, d = 10**6, 1e-4, 3.0

    def integrand(x):
        log_f = math.log1p(-(p * norm.sf(x - d) + (1 - p) * norm.sf(x)))
        return norm.pdf(x - d) * math.exp((n - 1) * log_f)

    expected = n * p * quad(integrand, 0, 12, points=[4, 5, 6, 7], limit=200)[0]
    assert sa.best_of_n_accuracy(n, p, d) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        (dict(n_samples=0, p_correct=0.5, separation=1.0), ValueError, "n_samples"),
        (dict(n_samples=2.5, p_correct=0.5, separation=1.0), ValueError, "n_samples"),
        (dict(n_samples=10**7, p_correct=0.5, separation=1.0), ValueError, "n_samples"),
        (dict(n_samples="3", p_correct=0.5, separation=1.0), TypeError, "n_samples"),
        (dict(n_samples=3, p_correct=1.5, separation=1.0), ValueError, "p_correct"),
        (dict(n_samples=3, p_correct=None, separation=1.0), TypeError, "p_correct"),
        (dict(n_samples=3, p_correct=0.5, separation=-1.0), ValueError, "separation"),
        (dict(n_samples=3, p_correct=0.5, separation=float("nan")), ValueError,
         "separation"),
        (dict(n_samples=3, p_correct=0.5, separation=1.0, p_fooling=-0.1), ValueError,
         "p_fooling"),
        (dict(n_samples=3, p_correct=0.5, separation=1.0, fooling_score=float("inf")),
         ValueError, "fooling_score"),
    ],
)
def test_best_of_n_rejects_bad_input(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        sa.best_of_n_accuracy(**kwargs)


def test_simulate_best_of_n_checks_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="trials"):
        sa.simulate_best_of_n(10**6, 0.5, 1.0, trials=100, rng=rng)
    with pytest.raises(TypeError, match="rng"):
        sa.simulate_best_of_n(4, 0.5, 1.0, trials=100, rng=None)
    with pytest.raises(TypeError, match="n_samples"):
        sa.simulate_best_of_n(4.0, 0.5, 1.0, trials=100, rng=rng)


# ------------------------------------------------------------------------------------
# Sequential revision and the parallel / sequential split
# ------------------------------------------------------------------------------------


@FAST
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.integers(1, 12))
def test_revision_accuracy_matches_markov_chain_power(p0, a, b, n):
    transition = np.array([[1 - b, b], [a, 1 - a]])  # rows: from right, from wrong
    state = np.array([p0, 1 - p0]) @ np.linalg.matrix_power(transition, n - 1)
    assert sa.revision_accuracy(n, p0, a, b) == pytest.approx(state[0], abs=1e-12)


def test_revision_accuracy_simulated_chain_and_shapes():
    rng = np.random.default_rng(5)
    p0, a, b, n, trials = 0.2, 0.3, 0.1, 6, 50_000
    right = rng.random(trials) < p0
    for _ in range(n - 1):
        u = rng.random(trials)
        right = np.where(right, u >= b, u < a)
    assert sa.revision_accuracy(n, p0, a, b) == pytest.approx(right.mean(), abs=0.01)
    acc = sa.revision_accuracy(np.arange(1, 200), p0, a, b)
    assert acc[-1] == pytest.approx(a / (a + b))  # the fixed point
    assert sa.revision_accuracy(5, 0.4, 0.0, 0.0) == 0.4
    assert isinstance(sa.revision_accuracy(5, 0.4, 0.1, 0.1), float)


@pytest.mark.parametrize(
    "args, exc, word",
    [
        ((0, 0.5, 0.1, 0.1), ValueError, "n_attempts"),
        ((1.5, 0.5, 0.1, 0.1), ValueError, "n_attempts"),
        ((3, 1.5, 0.1, 0.1), ValueError, "p_first"),
        ((3, 0.5, -0.1, 0.1), ValueError, "fix_rate"),
        ((3, 0.5, 0.1, "x"), TypeError, "break_rate"),
    ],
)
def test_revision_accuracy_rejects_bad_input(args, exc, word):
    with pytest.raises(exc, match=word):
        sa.revision_accuracy(*args)


MODEL = dict(p_first=0.3, fix_rate=0.25, break_rate=0.05, separation=2.0)


def test_split_accuracies_enumerates_divisors_and_composes_the_parts():
    table = sa.split_accuracies(12, p_approach=0.4, **MODEL)
    assert table.n_parallel.tolist() == [1, 2, 3, 4, 6, 12]
    assert (table.n_parallel * table.n_sequential == 12).all()
    # Independent composition for the 3 x 4 split, by hand: chain accuracy from the
    # Markov chain, then the best-of-3 integral by scipy quadrature.
    from scipy.integrate import quad
    from scipy.stats import norm
    transition = np.array([[1 - 0.05, 0.05], [0.25, 1 - 0.25]])
    chain = 0.4 * (np.array([0.3, 0.7]) @ np.linalg.matrix_power(transition, 3))[0]
    f = lambda x: chain * norm.cdf(x - 2.0) + (1 - chain) * norm.cdf(x)  # noqa: E731
    expected = 3 * chain * quad(lambda x: norm.pdf(x - 2.0) * f(x) ** 2, -12, 14)[0]
    assert table.accuracy[2] == pytest.approx(expected, abs=1e-7)


def test_compute_optimal_split_prefers_parallel_for_hard_questions():
    hard = sa.compute_optimal_split(64, p_approach=0.05, **MODEL)
    easy = sa.compute_optimal_split(64, p_approach=0.8, **MODEL)
    assert hard[0] > easy[0]  # more chains when viable approaches are rare
    for n_par, n_seq, acc in (hard, easy):
        table = sa.split_accuracies(64, p_approach=0.05 if n_par == hard[0] else 0.8,
                                    **MODEL)
        assert n_par * n_seq == 64 and acc == pytest.approx(table.accuracy.max())


def test_split_table_best_prefers_the_most_parallel_among_equal_splits():
    # Every chain is always right, so every split is exactly 1.0 and the docstring
    # promises the most parallel one (N = budget, R = 1).
    table = sa.split_accuracies(
        8, p_approach=1.0, p_first=1.0, fix_rate=0.0, break_rate=0.0, separation=1.0
    )
    assert (table.accuracy == 1.0).all()
    assert table.n_parallel[table.best] == 8 and table.n_sequential[table.best] == 1
    assert sa.compute_optimal_split(
        8, p_approach=1.0, p_first=1.0, fix_rate=0.0, break_rate=0.0, separation=1.0
    ) == (8, 1, 1.0)


def test_split_accuracies_rejects_bad_input():
    with pytest.raises(ValueError, match="budget"):
        sa.split_accuracies(0, p_approach=0.5, **MODEL)
    with pytest.raises(ValueError, match="p_approach"):
        sa.split_accuracies(8, p_approach=1.5, **MODEL)
    with pytest.raises(TypeError, match="budget"):
        sa.compute_optimal_split(8.0, p_approach=0.5, **MODEL)
    with pytest.raises(TypeError):
        sa.compute_optimal_split(8, p_approach=0.5, p_first=0.3)  # missing parameters


# ------------------------------------------------------------------------------------
# Private pieces that the chapter displays (they take already-checked values)
# ------------------------------------------------------------------------------------


def test_private_majority_vote_accuracy_matches_enumeration_and_the_public_one():
    probs = np.array([0.4, 0.35, 0.25])
    expected = vote_by_enumeration(probs, 4)
    assert sa._majority_vote_accuracy(probs, 4) == pytest.approx(expected, abs=1e-12)
    assert sa._majority_vote_accuracy(probs, 4) == majority_vote_accuracy(probs, 4)


def test_wrong_answer_moves_are_binomial_transitions():
    # Two wrong answers with 1/4 and 3/4 of the wrong mass: the first takes each sample
    # with probability 1/4, the last takes all that are left.
    moves = sa._wrong_answer_moves(np.array([0.1, 0.3]), 3)
    assert len(moves) == 2
    for r_old in range(4):
        for r_new in range(4):
            taken = r_old - r_new
            want = math.comb(r_old, taken) * 0.25**taken * 0.75 ** (r_old - taken) if taken >= 0 else 0.0
            assert moves[0][r_new, r_old] == pytest.approx(want, abs=1e-12)
        assert moves[1][0, r_old] == pytest.approx(1.0)  # the last answer takes everything
    assert np.allclose(moves[0].sum(axis=0), 1.0)


def test_tie_distribution_by_hand():
    # Two equally likely wrong answers share 2 samples: (1, 1) with probability 1/2, else
    # (2, 0) or (0, 2).
    moves = sa._wrong_answer_moves(np.array([0.5, 0.5]), 2)
    # m = 1: (1, 1) makes both tie at 1; (2, 0) and (0, 2) beat the correct answer.
    assert np.allclose(sa._tie_distribution(moves, 2, 1), [0.0, 0.0, 0.5])
    # m = 2: (1, 1) leaves no tie; (2, 0) and (0, 2) make one tie.
    assert np.allclose(sa._tie_distribution(moves, 2, 2), [0.5, 0.5, 0.0])
    # nothing left to share: no wrong answer gets a vote
    assert np.allclose(sa._tie_distribution(moves, 0, 1), [1.0, 0.0, 0.0])


def test_private_revision_accuracy_matches_the_public_one_and_closed_forms():
    n = np.array([1.0, 2.0, 5.0])
    got = sa._revision_accuracy(n, 0.3, 0.2, 0.1)
    assert np.array_equal(got, sa.revision_accuracy([1, 2, 5], 0.3, 0.2, 0.1))
    assert got[0] == pytest.approx(0.3)  # no revision yet
    assert got[1] == pytest.approx(0.3 * 0.9 + 0.7 * 0.2)  # one step of the chain
    assert sa._revision_accuracy(np.array(4.0), 0.3, 0.0, 0.0) == 0.3


def test_check_probability():
    assert sa._check_probability(1, "p") == 1.0 and isinstance(sa._check_probability(1, "p"), float)
    with pytest.raises(ValueError, match="p_first"):
        sa._check_probability(1.5, "p_first")
    with pytest.raises(TypeError, match="p_first"):
        sa._check_probability("0.5", "p_first")


# ------------------------------------------------------------------------------------
# Revision with a verifier that sees every attempt
# ------------------------------------------------------------------------------------


def brute_count_distribution(n_chains, n_attempts, g, p1, a, b):
    """Enumerate every viability pattern and correctness sequence of every chain."""
    chain = np.zeros(n_attempts + 1)
    chain[0] += 1 - g
    for seq in itertools.product([0, 1], repeat=n_attempts):
        prob = p1 if seq[0] else 1 - p1
        for prev, cur in zip(seq, seq[1:]):
            if prev:
                prob *= (1 - b) if cur else b
            else:
                prob *= a if cur else (1 - a)
        chain[sum(seq)] += g * prob
    pool = np.array([1.0])
    for _ in range(n_chains):
        new = np.zeros(pool.size + n_attempts)
        for i, x in enumerate(pool):
            new[i : i + n_attempts + 1] += x * chain
        pool = new
    return pool


@FAST
@given(
    st.integers(1, 3),
    st.integers(1, 5),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_correct_count_distribution_matches_enumeration(n, r, g, p1, a, b):
    got = sa.correct_count_distribution(
        n, r, p_approach=g, p_first=p1, fix_rate=a, break_rate=b
    )
    np.testing.assert_allclose(got, brute_count_distribution(n, r, g, p1, a, b), atol=1e-12)
    assert got.sum() == pytest.approx(1.0)


def test_best_of_pool_limits_and_closed_form():
    assert sa.best_of_pool_accuracy(10, 0, 2.0) == 0.0
    assert sa.best_of_pool_accuracy(10, 10, 2.0) == pytest.approx(1.0, abs=1e-9)
    # a blind verifier picks uniformly: c / n
    np.testing.assert_allclose(sa.best_of_pool_accuracy(8, [1, 3, 8], 0.0), [1 / 8, 3 / 8, 1], atol=1e-6)
    # one right, one wrong: P(N(d,1) > N(0,1)) = Phi(d / sqrt 2)
    for d in (0.5, 1.0, 3.0):
        assert sa.best_of_pool_accuracy(2, 1, d) == pytest.approx(
            0.5 * (1 + math.erf(d / 2)), abs=1e-6
        )


def test_best_of_pool_agrees_with_best_of_n_on_binomial_pools():
    # averaging over a binomial number of correct answers gives plain best-of-N
    n, p, d = 12, 0.3, 1.5
    c = np.arange(n + 1)
    weights = [math.comb(n, int(k)) * p**k * (1 - p) ** (n - k) for k in c]
    mixed = float(np.dot(weights, sa.best_of_pool_accuracy(n, c, d)))
    assert mixed == pytest.approx(sa.best_of_n_accuracy(n, p, d), abs=1e-5)


def test_verified_split_all_parallel_is_best_of_n_and_easy_favours_sequential():
    model = dict(p_first=0.3, fix_rate=0.25, break_rate=0.05, separation=1.0)
    t = sa.verified_split_accuracies(16, p_approach=0.5, **model)
    assert list(t.n_parallel) == [1, 2, 4, 8, 16]
    assert t.accuracy[-1] == pytest.approx(sa.best_of_n_accuracy(16, 0.15, 1.0), abs=1e-5)
    # every approach viable and revisions improve: one long chain has the most correct
    # attempts in expectation, and the verifier picks the best of them
    easy = sa.verified_split_accuracies(64, p_approach=1.0, **model)
    assert easy.n_parallel[easy.best] == 1
    # rarely viable approaches: the single chain is right at most with probability g
    hard = sa.verified_split_accuracies(64, p_approach=0.05, **model)
    assert hard.accuracy[0] <= 0.05 + 1e-12
    assert hard.n_parallel[hard.best] > 1


def test_verified_split_matches_simulation():
    rng = np.random.default_rng(3)
    g, p1, a, b, d, n, r, trials = 0.6, 0.3, 0.3, 0.1, 1.0, 3, 4, 40000
    viable = rng.random((trials, n)) < g
    right = np.zeros((trials, n, r), dtype=bool)
    right[:, :, 0] = rng.random((trials, n)) < p1
    for t in range(1, r):
        u = rng.random((trials, n))
        right[:, :, t] = np.where(right[:, :, t - 1], u >= b, u < a)
    right &= viable[:, :, None]
    scores = d * right + rng.standard_normal(right.shape)
    flat = scores.reshape(trials, -1).argmax(axis=1)
    sim = right.reshape(trials, -1)[np.arange(trials), flat].mean()
    table = sa.verified_split_accuracies(12, p_approach=g, p_first=p1, fix_rate=a, break_rate=b, separation=d)
    exact = table.accuracy[list(table.n_parallel).index(3)]
    assert exact == pytest.approx(sim, abs=4 * math.sqrt(0.25 / trials))


def test_revision_verifier_bad_input():
    kw = dict(p_approach=0.5, p_first=0.3, fix_rate=0.2, break_rate=0.1)
    with pytest.raises(ValueError, match="n_chains"):
        sa.correct_count_distribution(0, 3, **kw)
    with pytest.raises(TypeError, match="n_attempts"):
        sa.correct_count_distribution(2, 1.5, **kw)
    with pytest.raises(ValueError, match="4096"):
        sa.correct_count_distribution(100, 100, **kw)
    with pytest.raises(ValueError, match="p_approach"):
        sa.correct_count_distribution(2, 2, **{**kw, "p_approach": 1.5})
    with pytest.raises(ValueError, match="n_correct"):
        sa.best_of_pool_accuracy(4, 5, 1.0)
    with pytest.raises(ValueError, match="separation"):
        sa.best_of_pool_accuracy(4, 1, -1.0)
    with pytest.raises(ValueError, match="budget"):
        sa.verified_split_accuracies(0, separation=1.0, **kw)
    with pytest.raises(ValueError, match="break_rate"):
        sa.verified_split_accuracies(8, separation=1.0, **{**kw, "break_rate": -0.1})


# ------------------------------------------------------------------------------------
# FLOPs-matched test-time compute
# ------------------------------------------------------------------------------------


@FAST
@given(st.floats(1e-3, 1e3), st.floats(1.0, 100.0))
def test_flops_matched_multiplier_balances_total_flops(ratio, k):
    m = sa.flops_matched_multiplier(ratio, k)
    params, d_pre = 1.0, 1.0
    d_inf = ratio * d_pre
    small = 6 * params * d_pre + 2 * params * m * d_inf
    large = 6 * k * params * d_pre + 2 * k * params * d_inf
    assert small == pytest.approx(large, rel=1e-9)


def test_flops_matched_multiplier_values_and_bad_input():
    assert sa.flops_matched_multiplier(1.0) == pytest.approx(14 + 39)
    assert sa.flops_matched_multiplier(1.0, 1.0) == pytest.approx(1.0)
    np.testing.assert_allclose(sa.flops_matched_multiplier([0.5, 3.0]), [14 + 78, 14 + 13])
    with pytest.raises(ValueError, match="inference_to_pretraining"):
        sa.flops_matched_multiplier(0.0)
    with pytest.raises(ValueError, match="size_ratio"):
        sa.flops_matched_multiplier(1.0, 0.5)
    with pytest.raises(TypeError, match="size_ratio"):
        sa.flops_matched_multiplier(1.0, "14")


# ------------------------------------------------------------------------------------
# Step-level search with a process reward model
# ------------------------------------------------------------------------------------


def test_step_search_best_of_n_matches_the_exact_integral():
    rng = np.random.default_rng(5)
    kw = dict(n_steps=4, p_step=0.7, separation=1.0, p_fooling=0.1, fooling_score=2.0)
    for n in (1, 8, 32):
        sim = sa.simulate_step_search("best_of_n", n, trials=20000, rng=rng, **kw)
        exact = sa.best_of_n_accuracy(n, 0.7**4, 1.0, p_fooling=0.1, fooling_score=2.0)
        assert sim == pytest.approx(exact, abs=4 * math.sqrt(0.25 / 20000))


@pytest.mark.parametrize("method", sa.STEP_SEARCH_METHODS)
def test_step_search_limits(method):
    rng = np.random.default_rng(0)
    kw = dict(n_steps=5, separation=1.0, beam_width=2, trials=200, rng=rng)
    assert sa.simulate_step_search(method, 8, p_step=1.0, **kw) == 1.0
    assert sa.simulate_step_search(method, 8, p_step=0.0, **kw) == 0.0
    # one prefix per depth: every method is a single sample, right with p_step**n_steps
    one = sa.simulate_step_search(method, 1, n_steps=3, p_step=0.5, separation=2.0,
                                  beam_width=1, trials=40000, rng=rng)
    assert one == pytest.approx(0.125, abs=0.01)


def test_beam_search_beats_best_of_n_with_an_honest_prm_and_loses_to_a_gameable_one():
    kw = dict(n_steps=8, p_step=0.75, separation=1.0, beam_width=4, trials=1000)
    honest = [sa.simulate_step_search(m, 16, rng=np.random.default_rng(1), **kw)
              for m in ("best_of_n", "beam")]
    assert honest[1] > honest[0] + 0.2
    gamed = dict(kw, p_fooling=0.05, fooling_score=2.0)
    big = [sa.simulate_step_search(m, 256, rng=np.random.default_rng(2), **{**gamed, "trials": 200})
           for m in ("best_of_n", "beam")]
    assert big[1] < big[0]


def test_step_search_bad_input():
    rng = np.random.default_rng(0)
    kw = dict(n_steps=3, p_step=0.5, separation=1.0, trials=10, rng=rng)
    with pytest.raises(ValueError, match="method"):
        sa.simulate_step_search("mcts", 4, **kw)
    with pytest.raises(ValueError, match="beam_width"):
        sa.simulate_step_search("beam", 6, beam_width=4, **kw)
    with pytest.raises(ValueError, match="budget"):
        sa.simulate_step_search("beam", 0, **kw)
    with pytest.raises(ValueError, match="p_step"):
        sa.simulate_step_search("beam", 4, **{**kw, "p_step": 2.0})
    with pytest.raises(ValueError, match="temperature"):
        sa.simulate_step_search("rebase", 4, temperature=0.0, **kw)
    with pytest.raises(TypeError, match="rng"):
        sa.simulate_step_search("beam", 4, **{**kw, "rng": 0})
    with pytest.raises(ValueError, match="5e7"):
        sa.simulate_step_search("beam", 4096, **{**kw, "n_steps": 64, "trials": 1000})


def test_parallel_budget_to_match_is_the_first_integer_that_reaches():
    p, d = 0.24, 1.0
    acc = np.array([sa.best_of_n_accuracy(n, p, d) for n in range(1, 301)])
    for target in (0.3, 0.6, 0.75):
        n = sa.parallel_budget_to_match(target, p, d, max_n=300)
        first = int(np.argmax(acc >= target)) + 1  # linear scan over every integer
        assert n == first
    assert sa.parallel_budget_to_match(0.99, p, d, max_n=300) is None
    assert sa.parallel_budget_to_match(0.0, p, d) == 1
    with pytest.raises(ValueError, match="target"):
        sa.parallel_budget_to_match(1.2, p, d)
    with pytest.raises(ValueError, match="max_n"):
        sa.parallel_budget_to_match(0.5, p, d, max_n=0)
