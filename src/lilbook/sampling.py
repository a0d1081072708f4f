"""Test-time compute by sampling: the numerical core of the why-we-think chapter.

Nothing here calls a language model. A "model" is an explicit probability model (a
per-sample success probability, a categorical distribution over final answers, a
verifier's score distributions), so every quantity can be computed exactly or simulated
with a seeded generator, and checked.

* :func:`pass_at_k` -- the unbiased pass@k estimator of Chen et al. (2021), computed as
  a product so it stays accurate for large ``n``.
* :func:`majority_vote_accuracy` -- the exact probability that majority voting over
  ``n_samples`` independent answers (self-consistency, Wang et al. 2022) returns the
  correct answer, ties broken uniformly at random; :func:`simulate_majority_vote` is the
  Monte Carlo version.
* :func:`best_of_n_accuracy` -- best-of-N selection with an imperfect verifier whose
  scores are Gaussian given the answer's type (correct, ordinary wrong, or a wrong answer
  that the verifier finds convincing), as a one-dimensional integral;
  :func:`simulate_best_of_n` is the Monte Carlo version.
* :func:`revision_accuracy`, :func:`split_accuracies` and :func:`compute_optimal_split`
  -- a stated toy model of sequential revision (a two-state Markov chain inside a
  high-level approach) against parallel sampling (fresh approaches, picked by a
  verifier) under one budget of attempts.

Every public function checks its input and raises ``TypeError`` (wrong kind of object) or
``ValueError`` (wrong value or shape) with a message naming the parameter and the
allowed range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import binom, norm

from lilbook._checks import (
    FloatOrArray,
    as_output,
    generator,
    int_in_range,
    positive,
    positive_int,
    positive_scalar,
    probabilities,
    real_array,
    real_scalar,
)
from lilbook.agreement import vote_shares  # the book's one majority vote

__all__ = [
    "MAX_BEST_OF_N",
    "MAX_VOTE_CATEGORIES",
    "MAX_VOTE_SAMPLES",
    "STEP_SEARCH_METHODS",
    "SplitTable",
    "best_of_n_accuracy",
    "best_of_pool_accuracy",
    "correct_count_distribution",
    "flops_matched_multiplier",
    "compute_optimal_split",
    "majority_vote_accuracy",
    "parallel_budget_to_match",
    "pass_at_k",
    "revision_accuracy",
    "simulate_best_of_n",
    "simulate_majority_vote",
    "simulate_step_search",
    "split_accuracies",
    "verified_split_accuracies",
]

#: Largest ``n_samples`` that :func:`majority_vote_accuracy` accepts (cost grows as n**3).
MAX_VOTE_SAMPLES = 256
#: Largest number of answer categories that :func:`majority_vote_accuracy` accepts.
MAX_VOTE_CATEGORIES = 64
#: Largest ``n_samples`` that :func:`best_of_n_accuracy` accepts.
MAX_BEST_OF_N = 10**6


# ------------------------------------------------------------------------------------
# pass@k
# ------------------------------------------------------------------------------------


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from ``n`` samples of which ``c`` are correct.

    pass@k is the probability that at least one of ``k`` samples solves the problem.
    Drawing ``k`` of the ``n`` samples without replacement, the chance that all ``k`` are
    wrong is ``C(n - c, k) / C(n, k)``, so the estimator is ``1 - C(n - c, k) / C(n, k)``
    (Chen et al. 2021). The ratio of binomials overflows for large ``n``; it equals
    ``prod_{i = n - c + 1}^{n} (1 - k / i)``, which is evaluated as a sum of logarithms.

    Parameters
    ----------
    n : int
        Number of samples drawn, ``n >= 1``.
    c : int
        Number of correct samples, ``0 <= c <= n``.
    k : int
        Budget of attempts, ``1 <= k <= n``.

    Returns
    -------
    float
        The estimate in ``[0, 1]``; exactly 1.0 when ``n - c < k`` (every ``k``-subset
        contains a correct sample) and exactly 0.0 when ``c == 0``.

    Raises
    ------
    TypeError
        If an argument is not an integer.
    ValueError
        If ``n < 1``, ``c`` is outside ``[0, n]`` or ``k`` is outside ``[1, n]``.
    """
    n = positive_int(n, "n")
    c = int_in_range(c, "c", 0, n)
    k = int_in_range(k, "k", 1, n)
    if n - c < k:
        return 1.0
    if c == 0:
        return 0.0
    i = np.arange(n - c + 1, n + 1, dtype=float)
    log_all_wrong = np.sum(np.log1p(-k / i))
    return float(-np.expm1(log_all_wrong))


# ------------------------------------------------------------------------------------
# Majority voting (self-consistency)
# ------------------------------------------------------------------------------------


def _check_answer_distribution(
    probs: object, name: str = "probs"
) -> NDArray[np.float64]:
    """Check a categorical distribution (1-D, entries in [0, 1], summing to 1)."""
    p = probabilities(probs, name)
    if p.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of answer probabilities; got shape {p.shape}")
    if p.size > MAX_VOTE_CATEGORIES:
        raise ValueError(
            f"{name} may have at most {MAX_VOTE_CATEGORIES} categories (lump rare answers "
            f"together); got {p.size}"
        )
    total = float(p.sum())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"{name} must sum to 1 (within 1e-9); got a sum of {total!r}")
    return p / total


def majority_vote_accuracy(probs: object, n_samples: int) -> float:
    """Exact accuracy of majority voting over ``n_samples`` independent answers.

    Each sample's final answer is drawn independently from the categorical distribution
    ``probs``; index 0 is the correct answer and every other index is a distinct wrong
    answer. The vote returns the most frequent answer; when several answers share the
    top count, one of them is chosen uniformly at random. The result is the probability
    that the vote returns answer 0.

    The computation is exact (no Monte Carlo). Condition on the count ``m`` of correct
    answers (binomial). The other ``n_samples - m`` samples are multinomial over the
    wrong answers; that multinomial is built one category at a time as a chain of
    binomials, tracking a probability table over (samples left, number of wrong answers
    whose count equals ``m``) and discarding any outcome in which a wrong answer exceeds
    ``m``. The correct answer then wins with probability ``1 / (1 + ties)``.

    Cost and limits: for each of the ``n_samples`` values of ``m``, ``K`` products of an
    ``(n_samples + 1)``-square matrix with an ``(n_samples + 1) x K`` table
    (``K = len(probs)``), i.e. O(n**3 K**2); about 0.02 s for ``K = 10`` and
    ``n_samples = 64``. Inputs are capped at ``MAX_VOTE_SAMPLES`` samples
    and ``MAX_VOTE_CATEGORIES`` categories. Categories with probability zero are dropped
    first (they can never hold the top count because ``n_samples >= 1``).

    Parameters
    ----------
    probs : array_like, shape (K,)
        Answer distribution, entries in ``[0, 1]`` summing to 1 (within 1e-9; it is then
        renormalised). ``K >= 1``; index 0 is the correct answer.
    n_samples : int
        Number of sampled answers, ``1 <= n_samples <= MAX_VOTE_SAMPLES``.

    Returns
    -------
    float
        Probability in ``[0, 1]`` that the majority vote is correct.

    Raises
    ------
    TypeError
        If ``probs`` is not real-valued or ``n_samples`` is not an integer.
    ValueError
        If ``probs`` is not 1-D, has an entry outside ``[0, 1]``, does not sum to 1 or has
        more than ``MAX_VOTE_CATEGORIES`` entries, or if ``n_samples`` is outside
        ``[1, MAX_VOTE_SAMPLES]``.
    """
    p = _check_answer_distribution(probs)
    n = int_in_range(n_samples, "n_samples", 1, MAX_VOTE_SAMPLES)
    return _majority_vote_accuracy(p, n)


def _majority_vote_accuracy(probs: NDArray[np.float64], n_samples: int) -> float:
    """Exact probability that the vote over ``n_samples`` answers returns answer 0."""
    p_correct = float(probs[0])
    wrong = probs[1:][probs[1:] > 0]
    if p_correct == 0.0:
        return 0.0
    if wrong.size == 0:
        return 1.0
    moves = _wrong_answer_moves(wrong, n_samples)
    ties = np.arange(wrong.size + 1)
    accuracy = 0.0
    for m in range(1, n_samples + 1):
        # m of the samples give the correct answer ...
        p_m = float(binom.pmf(m, n_samples, p_correct))
        if p_m == 0.0:
            continue
        # ... the other n_samples - m go to wrong answers: p_ties[t] is the probability
        # that t wrong answers also get exactly m votes and none gets more ...
        p_ties = _tie_distribution(moves, n_samples - m, m)
        # ... and the tie-break among the 1 + t top answers picks the correct one.
        accuracy += p_m * float(np.sum(p_ties / (1.0 + ties)))
    return float(min(max(accuracy, 0.0), 1.0))


def _wrong_answer_moves(
    wrong: NDArray[np.float64], n_samples: int
) -> list[NDArray[np.float64]]:
    """The chain of binomials that shares samples among wrong answers, as matrices."""
    # Conditional probability that a sample lands in wrong answer j given that it landed
    # in wrong answer j or a later one; the last one takes everything left.
    tail = np.cumsum(wrong[::-1])[::-1]
    cond = np.minimum(wrong / tail, 1.0)
    cond[-1] = 1.0
    r = np.arange(n_samples + 1)
    # moves[j][r_new, r_old] = P(wrong answer j takes x = r_old - r_new of the r_old samples
    # still unassigned) = P(Binomial(r_old, cond[j]) = x); zero when r_new > r_old.
    x = r[None, :] - r[:, None]
    return [
        np.where(x >= 0, binom.pmf(np.clip(x, 0, None), r[None, :], q), 0.0) for q in cond
    ]


def _tie_distribution(
    moves: list[NDArray[np.float64]], n_left: int, m: int
) -> NDArray[np.float64]:
    """P(t wrong answers get exactly m of ``n_left`` samples, none more), for each t."""
    n_wrong = len(moves)
    # table[r, t]: probability that r samples are still unassigned and t wrong answers
    # so far hold exactly m votes, with none above m.
    table = np.zeros((n_left + 1, n_wrong + 1))
    table[n_left, 0] = 1.0
    r = np.arange(n_left + 1)
    taken = r[None, :] - r[:, None]
    below = (taken < m).astype(float)
    exact = (taken == m).astype(float)
    for move in moves:
        w = move[: n_left + 1, : n_left + 1]
        new = (w * below) @ table
        new[:, 1:] += (w * exact) @ table[:, :-1]
        table = new
    return table[0]


def simulate_majority_vote(
    probs: object, n_samples: int, trials: int, rng: np.random.Generator
) -> float:
    """Monte Carlo estimate of :func:`majority_vote_accuracy`.

    Draws ``trials`` independent sets of ``n_samples`` answers from ``probs`` with
    ``rng`` and averages the vote's credit: 1 when answer 0 alone has the top count,
    ``1 / t`` when it shares the top count with ``t - 1`` other answers, else 0.

    Parameters
    ----------
    probs : array_like, shape (K,)
        Answer distribution as in :func:`majority_vote_accuracy`.
    n_samples : int
        Answers per vote, ``1 <= n_samples <= MAX_VOTE_SAMPLES``.
    trials : int
        Number of simulated votes, ``1 <= trials <= 10**7``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    float
        The mean credit over the trials.
    """
    p = _check_answer_distribution(probs)
    n = int_in_range(n_samples, "n_samples", 1, MAX_VOTE_SAMPLES)
    trials = int_in_range(trials, "trials", 1, 10**7)
    generator(rng)
    counts = rng.multinomial(n, p, size=trials)
    return float(np.mean(vote_shares(counts)[:, 0]))  # answer 0 is the correct one


# ------------------------------------------------------------------------------------
# Best-of-N with an imperfect verifier
# ------------------------------------------------------------------------------------


def _verifier_model(
    p_correct: object, separation: object, p_fooling: object, fooling_score: object
) -> tuple[float, float, float, float]:
    p = float(probabilities(real_scalar(p_correct, "p_correct"), "p_correct"))
    d = real_scalar(separation, "separation")
    if not (math.isfinite(d) and 0.0 <= d <= 40.0):
        raise ValueError(f"separation must lie in [0, 40] (score units); got {d!r}")
    h = float(probabilities(real_scalar(p_fooling, "p_fooling"), "p_fooling"))
    mu = real_scalar(fooling_score, "fooling_score")
    if not (math.isfinite(mu) and -40.0 <= mu <= 40.0):
        raise ValueError(f"fooling_score must lie in [-40, 40] (score units); got {mu!r}")
    return p, d, h, mu


_check_verifier_model = _verifier_model  # the same checks, under a name that says so


def _sample_counts(n_samples: object) -> NDArray[np.int64]:
    arr = real_array(n_samples, "n_samples")
    if np.any(arr != np.round(arr)) or np.any(arr < 1) or np.any(arr > MAX_BEST_OF_N):
        raise ValueError(
            f"n_samples must hold integers in [1, {MAX_BEST_OF_N}]; got {n_samples!r}"
        )
    return arr.astype(np.int64)


def best_of_n_accuracy(
    n_samples: object,
    p_correct: float,
    separation: float,
    *,
    p_fooling: float = 0.0,
    fooling_score: float = 0.0,
) -> FloatOrArray:
    """Accuracy of best-of-N: draw N answers, keep the one the verifier scores highest.

    The model. Each of the ``n_samples`` answers is independently correct with
    probability ``p_correct``. The verifier's score for an answer is Gaussian with unit
    variance; its mean depends only on the answer's type:

    * a correct answer scores ``separation`` on average (the verifier's d');
    * a wrong answer scores 0 on average, except that a fraction ``p_fooling`` of the
      wrong answers are *convincing* to the verifier and score ``fooling_score``.

    Answers, types and score noise are independent. The kept answer is correct with
    probability ``N p E[F(X)**(N - 1)]`` for ``X ~ Normal(separation, 1)``, where ``F`` is
    the score distribution of one answer of unknown type (a three-part Gaussian
    mixture): some answer must be the top one, and by symmetry each of the N is with
    the same chance. The integral is done on a fine grid, with ``log F`` computed from
    the upper tail so that large N (up to ``MAX_BEST_OF_N``) stays accurate.

    Parameters
    ----------
    n_samples : int or array_like of int
        Number of answers N, each in ``[1, MAX_BEST_OF_N]``.
    p_correct : float
        Probability that one answer is correct, in ``[0, 1]``.
    separation : float
        Mean score of correct answers minus that of ordinary wrong ones, in units of the
        score noise, in ``[0, 40]``; 0 is a verifier that cannot tell them apart.
    p_fooling : float, optional
        Fraction of wrong answers that the verifier finds convincing, in ``[0, 1]``.
    fooling_score : float, optional
        Mean score of a convincing wrong answer, in ``[-40, 40]``.

    Returns
    -------
    float or numpy.ndarray
        Accuracy for each N (a float for scalar input).
    """
    n = _sample_counts(n_samples)
    p, d, h, mu = _verifier_model(p_correct, separation, p_fooling, fooling_score)
    if p == 0.0 or p == 1.0:
        return as_output(np.full(n.shape, p))
    weights = np.array([p, (1 - p) * (1 - h), (1 - p) * h])
    means = np.array([d, 0.0, mu])
    lo, hi = min(d, 0.0, mu) - 9.0, max(d, 0.0, mu) + 9.0
    x = np.linspace(lo, hi, 8001)
    tail = norm.sf(x[:, None] - means[None, :]) @ weights
    log_cdf = np.log1p(-np.minimum(tail, 1.0 - 2.0**-52))
    density = norm.pdf(x - d)
    n_flat = n.ravel().astype(float)
    integrand = density[None, :] * np.exp((n_flat[:, None] - 1.0) * log_cdf[None, :])
    acc = n_flat * p * np.trapezoid(integrand, x, axis=1)
    return as_output(np.clip(acc, 0.0, 1.0).reshape(n.shape))


def simulate_best_of_n(
    n_samples: int,
    p_correct: float,
    separation: float,
    *,
    p_fooling: float = 0.0,
    fooling_score: float = 0.0,
    trials: int,
    rng: np.random.Generator,
) -> float:
    """Monte Carlo estimate of :func:`best_of_n_accuracy` for one N.

    Draws ``trials`` sets of ``n_samples`` answers (types, then Gaussian scores) with
    ``rng``, keeps the top-scoring answer of each set and returns the fraction that are
    correct. ``n_samples * trials`` is capped at ``2 * 10**7`` draws.
    """
    n = int_in_range(n_samples, "n_samples", 1, MAX_BEST_OF_N)
    p, d, h, mu = _verifier_model(p_correct, separation, p_fooling, fooling_score)
    trials = int_in_range(trials, "trials", 1, 10**7)
    if n * trials > 2 * 10**7:
        raise ValueError(
            f"n_samples * trials must be at most 2e7 draws; got {n} * {trials}"
        )
    generator(rng)
    kind = rng.choice(3, size=(trials, n), p=[p, (1 - p) * (1 - h), (1 - p) * h])
    scores = np.array([d, 0.0, mu])[kind] + rng.standard_normal((trials, n))
    best = np.argmax(scores, axis=1)
    return float(np.mean(kind[np.arange(trials), best] == 0))


# ------------------------------------------------------------------------------------
# Sequential revision against parallel sampling
# ------------------------------------------------------------------------------------


def revision_accuracy(
    n_attempts: object, p_first: float, fix_rate: float, break_rate: float
) -> FloatOrArray:
    """Probability that the last of ``n_attempts`` sequential attempts is correct.

    The model: the first attempt is correct with probability ``p_first``; each revision
    reads the previous attempt and turns a wrong answer into a right one with
    probability ``fix_rate`` and a right answer into a wrong one with probability
    ``break_rate`` (a two-state Markov chain). After ``r = n_attempts - 1`` revisions

    ``a_r = s + (p_first - s) (1 - fix_rate - break_rate)**r``,  ``s = fix / (fix + break)``,

    so accuracy moves geometrically from ``p_first`` to the fixed point ``s``; if both
    rates are zero it stays at ``p_first``.

    Parameters
    ----------
    n_attempts : int or array_like of int
        Attempts in the chain (the first answer plus the revisions), each ``>= 1``.
    p_first, fix_rate, break_rate : float
        Probabilities in ``[0, 1]``.

    Returns
    -------
    float or numpy.ndarray
        Accuracy of the final attempt (a float for scalar input).
    """
    arr = real_array(n_attempts, "n_attempts")
    if np.any(arr != np.round(arr)) or np.any(arr < 1):
        raise ValueError(f"n_attempts must hold integers >= 1; got {n_attempts!r}")
    p0 = _check_probability(p_first, "p_first")
    a = _check_probability(fix_rate, "fix_rate")
    b = _check_probability(break_rate, "break_rate")
    return _revision_accuracy(arr, p0, a, b)


def _check_probability(value: object, name: str) -> float:
    """A real number in ``[0, 1]``, as a float."""
    return float(probabilities(real_scalar(value, name), name))


def _revision_accuracy(
    n_attempts: NDArray[np.float64], p_first: float, fix_rate: float, break_rate: float
) -> FloatOrArray:
    """Accuracy of the last of ``n_attempts`` attempts of the two-state Markov chain."""
    if fix_rate + break_rate == 0.0:
        return as_output(np.full(n_attempts.shape, p_first))
    # the fixed point s, approached geometrically at the rate 1 - fix_rate - break_rate
    s = fix_rate / (fix_rate + break_rate)
    acc = s + (p_first - s) * (1.0 - fix_rate - break_rate) ** (n_attempts - 1.0)
    return as_output(np.clip(acc, 0.0, 1.0))


@dataclass(frozen=True)
class SplitTable:
    """Accuracy of every way to split a budget into parallel chains of revisions.

    Attributes
    ----------
    budget : int
        Total attempts (one attempt = one generated answer of fixed length).
    n_parallel : numpy.ndarray
        Number of independent chains for each split (the divisors of ``budget``).
    n_sequential : numpy.ndarray
        Attempts per chain, ``budget // n_parallel``.
    accuracy : numpy.ndarray
        Probability that the verifier's pick among the chains' final answers is right.
    """

    budget: int
    n_parallel: NDArray[np.int64]
    n_sequential: NDArray[np.int64]
    accuracy: NDArray[np.float64]

    @property
    def best(self) -> int:
        """Index of the most accurate split (the most parallel one among equals)."""
        top = np.flatnonzero(self.accuracy == self.accuracy.max())
        return int(top[-1])


def split_accuracies(
    budget: int,
    *,
    p_approach: float,
    p_first: float,
    fix_rate: float,
    break_rate: float,
    separation: float,
) -> SplitTable:
    """Accuracy of each split of ``budget`` attempts into parallel chains of revisions.

    The model (stated, not fitted to anything): a chain starts by choosing a high-level
    approach, which is viable with probability ``p_approach`` (how hard the question
    is). Inside a viable approach, attempts follow :func:`revision_accuracy` with
    ``p_first``, ``fix_rate`` and ``break_rate``; a non-viable approach is never
    correct, however often it is revised. Chains are independent, so a chain of ``R``
    attempts is correct with probability ``p_approach * revision_accuracy(R, ...)``. The
    final answers of ``N`` chains go to a verifier and the top-scoring one is kept
    (:func:`best_of_n_accuracy` with ``separation``). Every split uses ``N * R = budget``.

    Parameters
    ----------
    budget : int
        Number of attempts in total, ``1 <= budget <= 4096``.
    p_approach, p_first, fix_rate, break_rate : float
        Probabilities in ``[0, 1]``.
    separation : float
        Verifier quality as in :func:`best_of_n_accuracy`, in ``[0, 40]``.

    Returns
    -------
    SplitTable
    """
    budget = int_in_range(budget, "budget", 1, 4096)
    g = float(probabilities(real_scalar(p_approach, "p_approach"), "p_approach"))
    n_par = np.array([k for k in range(1, budget + 1) if budget % k == 0], dtype=np.int64)
    n_seq = budget // n_par
    chain = g * np.atleast_1d(revision_accuracy(n_seq, p_first, fix_rate, break_rate))
    acc = np.array(
        [best_of_n_accuracy(int(k), float(c), separation) for k, c in zip(n_par, chain)]
    )
    return SplitTable(budget, n_par, n_seq, acc)


def compute_optimal_split(budget: int, **model: float) -> tuple[int, int, float]:
    """The most accurate split of ``budget`` under :func:`split_accuracies`' model.

    Returns ``(n_parallel, n_sequential, accuracy)``; ``model`` holds the keyword
    arguments of :func:`split_accuracies` (``p_approach``, ``p_first``, ``fix_rate``,
    ``break_rate``, ``separation``).
    """
    table = split_accuracies(budget, **model)
    i = table.best
    return int(table.n_parallel[i]), int(table.n_sequential[i]), float(table.accuracy[i])


# ------------------------------------------------------------------------------------
# Revision with a verifier that sees every attempt
# ------------------------------------------------------------------------------------


def _check_revision_model(
    p_approach: object, p_first: object, fix_rate: object, break_rate: object
) -> tuple[float, float, float, float]:
    return (
        _check_probability(p_approach, "p_approach"),
        _check_probability(p_first, "p_first"),
        _check_probability(fix_rate, "fix_rate"),
        _check_probability(break_rate, "break_rate"),
    )


def correct_count_distribution(
    n_chains: int,
    n_attempts: int,
    *,
    p_approach: float,
    p_first: float,
    fix_rate: float,
    break_rate: float,
) -> NDArray[np.float64]:
    """Distribution of the number of correct attempts among ``n_chains * n_attempts``.

    Each of ``n_chains`` independent chains picks an approach that is viable with
    probability ``p_approach``; a non-viable chain never produces a correct attempt. In a
    viable chain, correctness of successive attempts is the two-state Markov chain of
    :func:`revision_accuracy` (first attempt right with ``p_first``, then each revision
    fixes a wrong attempt with ``fix_rate`` and breaks a right one with ``break_rate``).

    Parameters
    ----------
    n_chains, n_attempts : int
        Chains and attempts per chain, each ``>= 1``, with ``n_chains * n_attempts <= 4096``.
    p_approach, p_first, fix_rate, break_rate : float
        Probabilities in ``[0, 1]``.

    Returns
    -------
    numpy.ndarray, shape (n_chains * n_attempts + 1,)
        ``out[c]`` is the probability that exactly ``c`` attempts are correct.
    """
    n = positive_int(n_chains, "n_chains")
    r = positive_int(n_attempts, "n_attempts")
    if n * r > 4096:
        raise ValueError(f"n_chains * n_attempts must be at most 4096; got {n} * {r}")
    g, p1, a, b = _check_revision_model(p_approach, p_first, fix_rate, break_rate)
    return _correct_count_distribution(n, r, g, p1, a, b)


def _correct_count_distribution(
    n_chains: int, n_attempts: int, g: float, p1: float, a: float, b: float
) -> NDArray[np.float64]:
    """P(c correct attempts in the pool): one chain by dynamic programming, then n-fold."""
    # right[c], wrong[c]: P(c correct so far and the latest attempt is right / wrong)
    right = np.zeros(n_attempts + 1)
    wrong = np.zeros(n_attempts + 1)
    right[1], wrong[0] = p1, 1.0 - p1
    for _ in range(n_attempts - 1):
        stay_right = np.roll(right * (1.0 - b) + wrong * a, 1)  # a right attempt adds one
        right, wrong = stay_right, right * b + wrong * (1.0 - a)
    chain = g * (right + wrong)
    chain[0] += 1.0 - g  # a non-viable approach: every attempt wrong
    pool = np.ones(1)
    for _ in range(n_chains):  # chains are independent: convolve their counts
        pool = np.convolve(pool, chain)
    return np.clip(pool, 0.0, 1.0)


def best_of_pool_accuracy(
    n_candidates: int, n_correct: object, separation: float
) -> FloatOrArray:
    """P(the top-scoring of ``n_candidates`` answers is correct) when ``n_correct`` are.

    Scores are Gaussian with unit variance, mean ``separation`` for a correct answer and 0
    for a wrong one (the verifier of :func:`best_of_n_accuracy` without convincing
    errors). With ``c`` correct among ``n``, the answer is

    ``int c phi(s - d) Phi(s - d)**(c - 1) Phi(s)**(n - c) ds``.

    Parameters
    ----------
    n_candidates : int
        Answers scored, in ``[1, 4096]``.
    n_correct : int or array_like of int
        Correct answers among them, each in ``[0, n_candidates]``.
    separation : float
        Verifier quality d, in ``[0, 40]``.
    """
    n = int_in_range(n_candidates, "n_candidates", 1, 4096)
    c = real_array(n_correct, "n_correct")
    if np.any(c != np.round(c)) or np.any(c < 0) or np.any(c > n):
        raise ValueError(f"n_correct must hold integers in [0, {n}]; got {n_correct!r}")
    d = _verifier_model(0.5, separation, 0.0, 0.0)[1]
    return as_output(_best_of_pool_accuracy(n, c, d))


def _best_of_pool_accuracy(
    n: int, c: NDArray[np.float64], d: float
) -> NDArray[np.float64]:
    x = np.linspace(-9.0, d + 9.0, 6001)
    log_cdf_right = norm.logcdf(x - d)
    log_cdf_wrong = norm.logcdf(x)
    cf = c.ravel()[:, None]
    integrand = np.where(
        cf > 0,
        cf * norm.pdf(x - d)[None, :]
        * np.exp((cf - 1.0) * log_cdf_right[None, :] + (n - cf) * log_cdf_wrong[None, :]),
        0.0,
    )
    return np.clip(np.trapezoid(integrand, x, axis=1), 0.0, 1.0).reshape(c.shape)


def verified_split_accuracies(
    budget: int,
    *,
    p_approach: float,
    p_first: float,
    fix_rate: float,
    break_rate: float,
    separation: float,
) -> SplitTable:
    """Like :func:`split_accuracies`, but the verifier picks among *every* attempt.

    The budget of ``budget`` attempts is split into ``N`` chains of ``R = budget / N``
    attempts (every divisor ``N``), with the chain model of
    :func:`correct_count_distribution`. All ``budget`` attempts, first drafts and
    revisions alike, are scored by the verifier of :func:`best_of_pool_accuracy` and the
    top one is returned, so a revision that breaks a right answer no longer loses it.
    The accuracy is ``sum_c P(c correct) * best_of_pool_accuracy(budget, c, separation)``.

    Parameters
    ----------
    budget : int
        Attempts in total, ``1 <= budget <= 1024``.
    p_approach, p_first, fix_rate, break_rate : float
        Probabilities in ``[0, 1]``.
    separation : float
        Verifier quality d, in ``[0, 40]``.
    """
    budget = int_in_range(budget, "budget", 1, 1024)
    g, p1, a, b = _check_revision_model(p_approach, p_first, fix_rate, break_rate)
    d = _verifier_model(0.5, separation, 0.0, 0.0)[1]
    n_par = np.array([k for k in range(1, budget + 1) if budget % k == 0], dtype=np.int64)
    n_seq = budget // n_par
    pick = _best_of_pool_accuracy(budget, np.arange(budget + 1, dtype=float), d)
    acc = np.array(
        [
            float(_correct_count_distribution(int(k), int(r), g, p1, a, b) @ pick)
            for k, r in zip(n_par, n_seq)
        ]
    )
    return SplitTable(budget, n_par, n_seq, acc)


# ------------------------------------------------------------------------------------
# Test-time compute against a bigger model at equal FLOPs
# ------------------------------------------------------------------------------------


def flops_matched_multiplier(
    inference_to_pretraining: object, size_ratio: float = 14.0
) -> FloatOrArray:
    """How many times more inference tokens a small model may spend at equal total FLOPs.

    A model of ``P`` parameters costs about ``6 P D_pre`` FLOPs to pretrain on ``D_pre``
    tokens and ``2 P D_inf`` to generate ``D_inf`` tokens. A model ``size_ratio`` times
    larger, pretrained on the same tokens and serving the same ``D_inf`` tokens, costs
    ``size_ratio`` times as much. The small model matches that total by generating
    ``M`` times as many tokens, with ``6 P D_pre + 2 P M D_inf = size_ratio (6 P D_pre +
    2 P D_inf)``, i.e.

    ``M = size_ratio + 3 (size_ratio - 1) / R``,  ``R = D_inf / D_pre``.

    Parameters
    ----------
    inference_to_pretraining : float or array_like
        ``R``, the ratio of inference tokens to pretraining tokens, each ``> 0``.
    size_ratio : float, optional
        Parameter ratio of the larger model, ``>= 1`` (Snell et al. use about 14).

    Returns
    -------
    float or numpy.ndarray
        The multiplier ``M`` (a float for scalar input).
    """
    ratio = positive(inference_to_pretraining, "inference_to_pretraining")
    if not np.all(np.isfinite(ratio)):
        raise ValueError("inference_to_pretraining must be finite and > 0")
    k = real_scalar(size_ratio, "size_ratio")
    if not (math.isfinite(k) and 1.0 <= k <= 1e6):
        raise ValueError(f"size_ratio must lie in [1, 1e6]; got {k!r}")
    return _flops_matched_multiplier(ratio, k)


def _flops_matched_multiplier(ratio: NDArray[np.float64], k: float) -> FloatOrArray:
    # pretraining is 6 FLOPs per parameter per token, generation 2: hence the 3
    return as_output(k + 3.0 * (k - 1.0) / ratio)


# ------------------------------------------------------------------------------------
# Search over reasoning steps with a process reward model
# ------------------------------------------------------------------------------------

STEP_SEARCH_METHODS = ("best_of_n", "beam", "rebase")


def simulate_step_search(
    method: str,
    budget: int,
    *,
    n_steps: int,
    p_step: float,
    separation: float,
    beam_width: int = 4,
    temperature: float = 1.0,
    p_fooling: float = 0.0,
    fooling_score: float = 0.0,
    trials: int,
    rng: np.random.Generator,
) -> float:
    """Monte Carlo accuracy of a search over ``n_steps`` reasoning steps guided by a PRM.

    The model. A solution is ``n_steps`` steps; a step extending a correct prefix is
    correct with probability ``p_step``, and one wrong step makes the whole solution
    wrong. When a prefix first goes wrong it becomes, with probability ``p_fooling``, a
    *convincing* error for good. After every step the process reward model scores the
    prefix with unit Gaussian noise around ``separation`` (correct so far), ``0`` (wrong)
    or ``fooling_score`` (convincingly wrong). Every method generates ``budget`` steps at
    each depth, ``budget * n_steps`` in all, and returns the final prefix that the PRM
    scores highest:

    * ``"best_of_n"``: ``budget`` independent solutions, judged at the last step;
    * ``"beam"``: keep the top ``budget // beam_width`` prefixes at each depth and extend
      each ``beam_width`` times (``budget`` must be a multiple of ``beam_width``);
    * ``"rebase"``: give each prefix a share of the next ``budget`` extensions drawn in
      proportion to ``softmax(score / temperature)`` (REBASE-like).

    Parameters
    ----------
    method : {"best_of_n", "beam", "rebase"}
    budget : int
        Steps generated per depth, in ``[1, 4096]``.
    n_steps : int
        Steps per solution, in ``[1, 64]``.
    p_step : float
        Per-step success probability, in ``[0, 1]``.
    separation : float
        PRM score gap between correct and wrong prefixes, in ``[0, 40]``.
    beam_width : int, optional
        Extensions per kept prefix for ``"beam"``, in ``[1, 4096]``; for ``"beam"``
        ``budget`` must be a multiple of it.
    temperature : float, optional
        Softmax temperature for ``"rebase"``, ``> 0``.
    p_fooling : float, optional
        Probability that a wrong prefix is convincing, in ``[0, 1]``.
    fooling_score : float, optional
        Mean PRM score of a convincing wrong prefix, in ``[-40, 40]``.
    trials : int
        Independent searches; ``trials * budget * n_steps <= 5e7``.
    rng : numpy.random.Generator

    Returns
    -------
    float
        Fraction of the trials whose returned solution is correct.
    """
    if not isinstance(method, str) or method not in STEP_SEARCH_METHODS:
        raise ValueError(f"method must be one of {STEP_SEARCH_METHODS}; got {method!r}")
    n = int_in_range(budget, "budget", 1, 4096)
    steps = int_in_range(n_steps, "n_steps", 1, 64)
    q = _check_probability(p_step, "p_step")
    _, d, h, mu = _check_verifier_model(q, separation, p_fooling, fooling_score)
    width = int_in_range(beam_width, "beam_width", 1, 4096)
    if method == "beam" and n % width:
        raise ValueError(f"budget must be a multiple of beam_width for beam search; got {n}, {width}")
    tau = positive_scalar(temperature, "temperature")
    trials = int_in_range(trials, "trials", 1, 10**6)
    if trials * n * steps > 5 * 10**7:
        raise ValueError(f"trials * budget * n_steps must be at most 5e7; got {trials * n * steps}")
    generator(rng)
    return _step_search(method, n, steps, q, d, h, mu, width, tau, trials, rng)


def _extend(state: NDArray[np.int64], q: float, h: float, rng: np.random.Generator) -> NDArray[np.int64]:
    """One more step: 0 = correct so far, 1 = wrong, 2 = convincingly wrong (absorbing)."""
    breaks = (state == 0) & (rng.random(state.shape) >= q)
    fooled = rng.random(state.shape) < h
    return np.where(breaks, np.where(fooled, 2, 1), state)


def _step_search(method, n, steps, q, d, h, mu, width, tau, trials, rng) -> float:
    """Run ``trials`` searches at once; rows are trials, columns are prefixes."""
    means = np.array([d, 0.0, mu])
    rows = np.arange(trials)[:, None]
    state = _extend(np.zeros((trials, n), dtype=np.int64), q, h, rng)
    for _ in range(steps - 1):
        if method == "best_of_n":
            state = _extend(state, q, h, rng)  # samples never look at the PRM midway
            continue
        score = means[state] + rng.standard_normal(state.shape)
        if method == "beam":  # keep the top n / width prefixes, extend each width times
            keep = np.argsort(-score, axis=1)[:, : n // width]
            parents = np.repeat(keep, width, axis=1)
        else:  # REBASE: expansions in proportion to softmax(score / tau)
            w = np.exp((score - score.max(axis=1, keepdims=True)) / tau)
            cum = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1) + rows
            u = (np.arange(n) + rng.random((trials, 1))) / n + rows  # systematic resampling
            parents = np.searchsorted(cum.ravel(), u.ravel()).reshape(trials, n) - rows * n
            parents = np.clip(parents, 0, n - 1)
        state = _extend(state[rows, parents], q, h, rng)
    final = means[state] + rng.standard_normal(state.shape)
    return float(np.mean(state[rows[:, 0], np.argmax(final, axis=1)] == 0))


def parallel_budget_to_match(
    target: float, p_correct: float, separation: float, *, max_n: int = 10**5
) -> int | None:
    """Smallest integer N whose best-of-N accuracy reaches ``target``, or None.

    Uses :func:`best_of_n_accuracy` without convincing errors, which never decreases with
    N, so a bisection over the integers ``1 .. max_n`` finds the first N with
    ``accuracy >= target``. Returns None when even ``max_n`` samples fall short.

    Parameters
    ----------
    target : float
        Accuracy to reach, in ``[0, 1]``.
    p_correct : float
        Probability that one sample is correct, in ``[0, 1]``.
    separation : float
        Verifier quality d, in ``[0, 40]``.
    max_n : int, optional
        Largest N tried, in ``[1, MAX_BEST_OF_N]``.
    """
    goal = _check_probability(target, "target")
    p, d, _, _ = _verifier_model(p_correct, separation, 0.0, 0.0)
    top = int_in_range(max_n, "max_n", 1, MAX_BEST_OF_N)
    return _parallel_budget_to_match(goal, p, d, top)


def _parallel_budget_to_match(goal: float, p: float, d: float, top: int) -> int | None:
    def reaches(n: int) -> bool:
        return float(best_of_n_accuracy(n, p, d)) >= goal

    if not reaches(top):
        return None
    lo, hi = 0, top  # reaches(hi) holds; reaches(lo) is false or lo == 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid, hi)
    return hi
