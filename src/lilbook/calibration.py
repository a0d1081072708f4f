"""Calibration, abstention and hallucination detection: the numerical core of the hallucination chapter.

Nothing here calls a language model. The functions score confidences and answers that a model
(or the chapter's small seeded stand-in for one) produced:

* calibration: :func:`expected_calibration_error` and :func:`reliability_curve` with
  equal-width bins, and temperature scaling (:func:`softmax`, :func:`negative_log_likelihood`,
  :func:`fit_temperature`), after Guo et al. 2017;
* selective answering: :func:`selective_curve` (accuracy against coverage when the model
  abstains below a confidence threshold) and :func:`abstention_score` (the expected score of a
  grader that rewards a right answer, penalises a wrong one and gives zero for "I don't know");
* detection: :func:`roc_curve` and :func:`roc_auc` (the Mann-Whitney form), the SelfCheckGPT-style
  :func:`selfcheck_inconsistency` and a seeded toy answer model, :func:`simulate_answers`
  with :func:`sample_answers` (sampling at a temperature);
* factuality of long text: FActScore-style :func:`factual_precision`, the SAFE paper's
  :func:`f1_at_k`, and a seeded toy biography generator and fact checker
  (:func:`simulate_atomic_facts`, :func:`judge_atomic_facts`).

**Bin convention.** ``n_bins`` equal-width bins split [0, 1] at ``np.linspace(0, 1, n_bins + 1)``.
Bin ``k`` holds the confidences ``c`` with ``edges[k] <= c < edges[k + 1]``, except the last bin,
which is closed on the right: a confidence of 0.0 goes in the first bin and 1.0 in the last.

Every public function checks its input and raises ``TypeError`` (wrong kind of object) or
``ValueError`` (wrong value or shape) with a message naming the parameter and the allowed range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from lilbook._checks import (
    finite_array,
    generator,
    int_in_range,
    nonnegative,
    positive_int,
    positive_scalar,
    probabilities,
    real_array,
    real_scalar,
)
from lilbook.runtime import bincount

__all__ = [
    "AnswerSimulation",
    "ReliabilityCurve",
    "RocCurve",
    "SelectiveCurve",
    "SelectiveOutcome",
    "abstention_score",
    "bin_indices",
    "expected_calibration_error",
    "f1_at_k",
    "factual_precision",
    "FactscoreCurves",
    "FineTuneRun",
    "cove_verify",
    "expected_factscore",
    "fit_temperature",
    "simulate_finetuning",
    "judge_atomic_facts",
    "negative_log_likelihood",
    "reliability_curve",
    "roc_auc",
    "roc_curve",
    "sample_answers",
    "selective_curve",
    "selfcheck_inconsistency",
    "simulate_answers",
    "simulate_atomic_facts",
    "softmax",
]


# ------------------------------------------------------------------------------------
# input checks specific to this module (built on lilbook._checks)
# ------------------------------------------------------------------------------------


def _check_vector(arr: NDArray[np.float64], name: str) -> NDArray[np.float64]:
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}")
    return arr


def _binary(x: object, name: str) -> NDArray[np.bool_]:
    """A 1-d array of outcomes given as bools or as the numbers 0 and 1."""
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be an array of outcomes, got a single bool")
    try:
        arr = None if isinstance(x, (str, bytes)) else np.asarray(x)
    except (TypeError, ValueError):  # ragged input: real_array below reports it
        arr = None
    if arr is not None and arr.dtype == bool:
        if arr.size == 0:
            raise ValueError(f"{name} must not be empty")
        return _check_vector(arr, name)
    values = _check_vector(real_array(x, name), name)
    bad = ~np.isin(values, (0.0, 1.0))
    if np.any(bad):
        first = values[np.flatnonzero(bad)[0]]
        raise ValueError(f"{name} must hold only 0/1 or False/True; got {first!r}")
    return values.astype(bool)


def _paired(
    values: NDArray[np.float64], values_name: str, outcomes: object, outcomes_name: str
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Checked ``values`` as a 1-d array and 0/1 ``outcomes`` of the same length."""
    vec = _check_vector(values, values_name)
    flags = _binary(outcomes, outcomes_name)
    if vec.shape != flags.shape:
        raise ValueError(
            f"{values_name} and {outcomes_name} must have the same length; "
            f"got {vec.size} and {flags.size}"
        )
    return vec, flags


def _confidences_and_outcomes(
    confidences: object, correct: object
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    return _paired(probabilities(confidences, "confidences"), "confidences", correct, "correct")


# ------------------------------------------------------------------------------------
# calibration
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per-bin statistics of a reliability diagram, for the non-empty bins only.

    ``edges`` has all ``n_bins + 1`` bin edges; the other arrays have one entry per
    non-empty bin, in increasing order of ``bin_index``: how many predictions fell in
    the bin, their mean confidence and the fraction of them that were correct.
    """

    edges: NDArray[np.float64]
    bin_index: NDArray[np.int64]
    count: NDArray[np.int64]
    confidence: NDArray[np.float64]
    accuracy: NDArray[np.float64]

    @property
    def weight(self) -> NDArray[np.float64]:
        """Fraction of all predictions in each non-empty bin (sums to one)."""
        return self.count / self.count.sum()

    @property
    def gap(self) -> NDArray[np.float64]:
        """Accuracy minus mean confidence per bin (negative means over-confident)."""
        return self.accuracy - self.confidence


def bin_indices(confidences: object, n_bins: int = 10) -> NDArray[np.int64]:
    """Equal-width bin (0 ... n_bins - 1) of each confidence: 0.0 first, 1.0 last.

    Bin ``k`` is ``[k / n_bins, (k + 1) / n_bins)`` with the float edges of
    ``np.linspace(0, 1, n_bins + 1)``; the last bin also holds 1.0.
    """
    conf = probabilities(confidences, "confidences")
    n_bins = positive_int(n_bins, "n_bins")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.searchsorted(edges, conf, side="right") - 1
    return np.minimum(idx, n_bins - 1).astype(np.int64)


def reliability_curve(
    confidences: object, correct: object, n_bins: int = 10
) -> ReliabilityCurve:
    """Mean confidence and accuracy in each equal-width confidence bin.

    Parameters
    ----------
    confidences : array of shape (n,)
        The model's probability that each of its answers is right, in [0, 1].
    correct : array of shape (n,)
        Whether each answer was right (bools, or 0/1).
    n_bins : int
        Number of equal-width bins on [0, 1] (see the module docstring for the edges).

    Raises
    ------
    ValueError
        If a confidence lies outside [0, 1] or is not finite, the arrays are empty or of
        different lengths, ``correct`` holds anything but 0/1, or ``n_bins < 1``.
    """
    conf, ok = _confidences_and_outcomes(confidences, correct)
    idx = bin_indices(conf, n_bins)
    count = bincount(idx, minlength=n_bins)
    conf_sum = bincount(idx, weights=conf, minlength=n_bins)
    hit_sum = bincount(idx, weights=ok.astype(float), minlength=n_bins)
    used = np.flatnonzero(count)
    return ReliabilityCurve(
        edges=np.linspace(0.0, 1.0, n_bins + 1),
        bin_index=used.astype(np.int64),
        count=count[used].astype(np.int64),
        confidence=conf_sum[used] / count[used],
        accuracy=hit_sum[used] / count[used],
    )


def expected_calibration_error(
    confidences: object, correct: object, n_bins: int = 10
) -> float:
    """Expected calibration error with equal-width bins.

    ``ECE = sum_k (n_k / n) * |acc_k - conf_k|``, the gap between accuracy and mean
    confidence in each bin, weighted by the share of predictions in the bin. It lies in
    [0, 1]; it is 0 when every bin's accuracy equals its mean confidence. Arguments and
    errors as in :func:`reliability_curve`.
    """
    curve = reliability_curve(confidences, correct, n_bins)
    return float(np.sum(curve.weight * np.abs(curve.accuracy - curve.confidence)))


def _check_logits_and_labels(
    logits: object, labels: object | None, need_labels: bool = True
) -> tuple[NDArray[np.float64], NDArray[np.int64] | None]:
    z = finite_array(logits, "logits")
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(
            f"logits must have shape (n, k) with k >= 2 classes; got shape {z.shape}"
        )
    if labels is None:
        if need_labels:
            raise TypeError("labels must be an array of class indices, got None")
        return z, None
    lab = _check_vector(finite_array(labels, "labels"), "labels")
    if lab.size != z.shape[0]:
        raise ValueError(
            f"labels must have one entry per row of logits; got {lab.size} "
            f"labels for {z.shape[0]} rows"
        )
    bad = (lab != np.round(lab)) | (lab < 0) | (lab >= z.shape[1])
    if np.any(bad):
        first = lab[np.flatnonzero(bad)[0]]
        raise ValueError(
            f"labels must be integers in [0, {z.shape[1] - 1}]; got {first!r}"
        )
    return z, lab.astype(np.int64)


def softmax(logits: object, temperature: float = 1.0) -> NDArray[np.float64]:
    """Row-wise class probabilities ``softmax(logits / temperature)``, logits (n, k)."""
    z, _ = _check_logits_and_labels(logits, None, need_labels=False)
    t = positive_scalar(temperature, "temperature")
    return np.exp(log_softmax(z / t, axis=1))


def negative_log_likelihood(
    logits: object, labels: object, temperature: float = 1.0
) -> float:
    """Mean negative log-likelihood (nats) of ``labels`` under softmax(logits / T)."""
    z, lab = _check_logits_and_labels(logits, labels)
    t = positive_scalar(temperature, "temperature")
    logp = log_softmax(z / t, axis=1)
    return float(-np.mean(logp[np.arange(z.shape[0]), lab]))


def fit_temperature(
    logits: object, labels: object, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The temperature that minimises the NLL of held-out ``labels`` (Guo et al. 2017).

    One scalar ``T > 0`` divides all logits; the argmax, hence accuracy, is unchanged,
    only the confidence moves. ``T > 1`` softens an over-confident model. The search
    runs over ``log T`` with scipy's bounded scalar minimiser inside ``bounds``.
    """
    z, lab = _check_logits_and_labels(logits, labels)
    if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2):
        raise TypeError("bounds must be a pair (low, high) of temperatures")
    low = positive_scalar(bounds[0], "bounds[0]")
    high = positive_scalar(bounds[1], "bounds[1]")
    if not low < high:
        raise ValueError(f"bounds must satisfy low < high; got ({low!r}, {high!r})")
    return _fit_temperature(z, lab, low, high)


def _fit_temperature(
    logits: NDArray[np.float64], labels: NDArray[np.int64], low: float, high: float
) -> float:
    """The temperature in ``[low, high]`` that minimises the NLL of ``labels``."""
    rows = np.arange(logits.shape[0])

    def nll_of_log_t(log_t: float) -> float:
        logp = log_softmax(logits / math.exp(log_t), axis=1)
        return float(-np.mean(logp[rows, labels]))

    res = minimize_scalar(
        nll_of_log_t,
        bounds=(math.log(low), math.log(high)),
        method="bounded",
        options={"xatol": 1e-8},
    )
    return float(math.exp(res.x))


# ------------------------------------------------------------------------------------
# selective answering ("I don't know")
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SelectiveCurve:
    """Accuracy against coverage when answering only if ``confidence >= threshold``.

    One entry per distinct confidence, from the highest threshold (fewest answers) to
    the lowest (every question answered).
    """

    threshold: NDArray[np.float64]
    coverage: NDArray[np.float64]
    accuracy: NDArray[np.float64]


def selective_curve(confidences: object, correct: object) -> SelectiveCurve:
    """Accuracy of the answered questions against the fraction answered (coverage).

    For each distinct confidence ``t`` the model answers the questions with confidence
    ``>= t`` and abstains on the rest. Ties are answered or skipped together, so the
    curve has one point per distinct confidence. Errors as in :func:`reliability_curve`.
    """
    conf, ok = _confidences_and_outcomes(confidences, correct)
    order = np.argsort(-conf, kind="stable")
    sorted_conf = conf[order]
    hits = np.cumsum(ok[order])
    # the last position of each run of equal confidences
    last = np.flatnonzero(np.r_[sorted_conf[1:] != sorted_conf[:-1], True])
    answered = last + 1
    return SelectiveCurve(
        threshold=sorted_conf[last],
        coverage=answered / conf.size,
        accuracy=hits[last] / answered,
    )


@dataclass(frozen=True)
class SelectiveOutcome:
    """One threshold's outcome: counts, coverage and mean score per question."""

    n_questions: int
    n_answered: int
    n_correct: int
    score: float

    @property
    def coverage(self) -> float:
        return self.n_answered / self.n_questions

    @property
    def accuracy(self) -> float:
        """Accuracy on the answered questions; ValueError if the model answered
        nothing."""
        if self.n_answered == 0:
            raise ValueError("accuracy is undefined: no question was answered")
        return self.n_correct / self.n_answered


def abstention_score(
    confidences: object, correct: object, threshold: float, wrong_penalty: float = 1.0
) -> SelectiveOutcome:
    """Mean score when answering above ``threshold``: +1 right, -penalty wrong, 0 skip.

    With ``wrong_penalty = 0`` guessing never hurts, so a score-maximising model never
    abstains; for a calibrated model the best threshold is ``penalty / (1 + penalty)``,
    where the expected reward of answering, ``c - (1 - c) * penalty``, changes sign.
    """
    conf, ok = _confidences_and_outcomes(confidences, correct)
    t = real_scalar(threshold, "threshold")
    if not (0.0 <= t <= 1.0):
        raise ValueError(f"threshold must lie in [0, 1]; got {t!r}")
    penalty = real_scalar(wrong_penalty, "wrong_penalty")
    if not (math.isfinite(penalty) and penalty >= 0):
        raise ValueError(f"wrong_penalty must be finite and >= 0; got {penalty!r}")
    answer = conf >= t
    n_correct = int(np.sum(answer & ok))
    n_wrong = int(np.sum(answer & ~ok))
    return SelectiveOutcome(
        n_questions=int(conf.size),
        n_answered=n_correct + n_wrong,
        n_correct=n_correct,
        score=(n_correct - penalty * n_wrong) / conf.size,
    )


# ------------------------------------------------------------------------------------
# detection: ROC and AUC
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RocCurve:
    """False- and true-positive rates when flagging items with ``score >= threshold``.

    Starts at (0, 0) with threshold +inf and ends at (1, 1); one point per distinct
    score.
    """

    fpr: NDArray[np.float64]
    tpr: NDArray[np.float64]
    threshold: NDArray[np.float64]


def _scores_and_positives(
    scores: object, positives: object
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    s, pos = _paired(finite_array(scores, "scores"), "scores", positives, "positives")
    if pos.all() or not pos.any():
        raise ValueError(
            "positives must contain at least one positive and one negative"
        )
    return s, pos


def roc_curve(scores: object, positives: object) -> RocCurve:
    """ROC curve of a detector that flags items whose score is at least a threshold.

    ``positives`` marks the items that really are positive (here: hallucinated answers).
    Tied scores are flagged together, so ties give diagonal segments.
    """
    s, pos = _scores_and_positives(scores, positives)
    order = np.argsort(-s, kind="stable")
    s_sorted, pos_sorted = s[order], pos[order]
    last = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    tp = np.cumsum(pos_sorted)[last]
    fp = np.cumsum(~pos_sorted)[last]
    return RocCurve(
        fpr=np.r_[0.0, fp / np.sum(~pos)],
        tpr=np.r_[0.0, tp / np.sum(pos)],
        threshold=np.r_[np.inf, s_sorted[last]],
    )


def roc_auc(scores: object, positives: object) -> float:
    """Area under the ROC curve: P(random positive scores above random negative).

    Ties count one half. Computed from average ranks (the Mann-Whitney U statistic),
    which equals the trapezoidal area under :func:`roc_curve`.
    """
    s, pos = _scores_and_positives(scores, positives)
    # 1-based ranks of the scores, tied scores sharing the average of their ranks
    _, group, size = np.unique(s, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(size) - (size - 1) / 2)[group]
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


# ------------------------------------------------------------------------------------
# SelfCheckGPT-style sampling consistency
# ------------------------------------------------------------------------------------


def selfcheck_inconsistency(
    main_answers: object, sampled_answers: object
) -> NDArray[np.float64]:
    """Fraction of sampled answers that disagree with the main answer, per question.

    ``main_answers`` has shape (n,) and ``sampled_answers`` shape (n, m): answer
    identifiers (integers, e.g. the index of a canonicalised answer string). A score
    near 0 means the samples agree with the main answer; near 1, the model says
    something different each time, the signature of a fabricated fact in SelfCheckGPT.
    """
    main = _check_vector(finite_array(main_answers, "main_answers"), "main_answers")
    samples = finite_array(sampled_answers, "sampled_answers")
    if samples.ndim != 2 or samples.shape[0] != main.size:
        raise ValueError(
            "sampled_answers must have shape (n, m) with n = len(main_answers) = "
            f"{main.size}; got shape {samples.shape}"
        )
    return _selfcheck_inconsistency(main, samples)


def _selfcheck_inconsistency(
    main_answers: NDArray[np.float64], sampled_answers: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per question (row), the fraction of sampled answers unlike the main answer."""
    return np.mean(sampled_answers != main_answers[:, None], axis=1)


@dataclass(frozen=True)
class AnswerSimulation:
    """A toy model's answers to ``n`` short factual questions.

    ``probs[i]`` is the model's distribution over the candidate answers of question
    ``i``; answer 0 is the true one. ``main`` is the greedy (most probable) answer,
    ``samples`` holds ``m`` answers drawn at temperature 1, ``known`` marks questions
    whose fact the model learned, ``fabricated`` those where it learned a wrong fact
    instead, and ``hallucinated`` marks wrong greedy answers.
    """

    probs: NDArray[np.float64]
    main: NDArray[np.int64]
    samples: NDArray[np.int64]
    known: NDArray[np.bool_]
    fabricated: NDArray[np.bool_] | None = None  # learned a wrong fact instead

    @property
    def hallucinated(self) -> NDArray[np.bool_]:
        return self.main != 0

    @property
    def main_probability(self) -> NDArray[np.float64]:
        """The model's own probability of its greedy answer (a grey-box confidence)."""
        return self.probs[np.arange(self.main.size), self.main]


def simulate_answers(
    n_questions: int,
    n_samples: int,
    rng: np.random.Generator,
    known_fraction: float = 0.6,
    n_candidates: int = 8,
    known_strength: float = 10.0,
    spread: float = 0.5,
    fabrication_fraction: float = 0.0,
) -> AnswerSimulation:
    """Seeded stand-in for an LLM answering short factual questions several times.

    Each question has ``n_candidates`` possible answers, of which answer 0 is true. If
    the model learned the fact (probability ``known_fraction``), its answer distribution
    is drawn from a Dirichlet with concentration ``known_strength`` on the true answer
    and ``spread`` on each wrong one; otherwise from a symmetric Dirichlet(``spread``):
    probability scattered over candidates, sometimes piled on one wrong answer (a
    confident fabrication). With ``fabrication_fraction > 0``, that share of the
    questions the model did not learn are ones where it learned a *wrong* fact instead:
    concentration ``known_strength`` sits on a random wrong answer, so its samples agree
    with each other on something false. The default 0 draws exactly as before.
    """
    n = positive_int(n_questions, "n_questions")
    m = positive_int(n_samples, "n_samples")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, got {type(rng).__name__}")
    frac = real_scalar(known_fraction, "known_fraction")
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"known_fraction must lie in [0, 1]; got {frac!r}")
    k = int_in_range(n_candidates, "n_candidates", 2, None)
    strength = positive_scalar(known_strength, "known_strength")
    alpha = positive_scalar(spread, "spread")
    fab = float(probabilities(fabrication_fraction, "fabrication_fraction"))

    known = rng.random(n) < frac
    conc = np.full((n, k), alpha)
    conc[known, 0] = strength
    wrong = np.zeros(n, dtype=bool)
    if fab > 0:  # a wrong fact learned in place of the true one
        wrong = (rng.random(n) < fab) & ~known
        target = rng.integers(1, k, size=n)
        conc[np.flatnonzero(wrong), target[wrong]] = strength
    probs = rng.gamma(conc)  # a Dirichlet draw, normalised below
    probs /= probs.sum(axis=1, keepdims=True)
    return AnswerSimulation(
        probs=probs,
        main=np.argmax(probs, axis=1).astype(np.int64),
        samples=sample_answers(probs, m, rng),
        known=known,
        fabricated=wrong,
    )


def sample_answers(
    probs: object, n_samples: int, rng: np.random.Generator, temperature: float = 1.0
) -> NDArray[np.int64]:
    """Draw ``n_samples`` answers per row of ``probs`` (shape (n, k)) at a temperature.

    Sampling at temperature ``T`` draws from ``probs ** (1 / T)`` renormalised: ``T =
    1`` is the distribution itself, small ``T`` approaches the greedy (most probable)
    answer. Returns integer answer indices of shape (n, n_samples).
    """
    p = finite_array(probs, "probs")
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(
            f"probs must have shape (n, k) with k >= 2; got shape {p.shape}"
        )
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0):
        raise ValueError("probs must be non-negative and each row must sum to 1")
    m = positive_int(n_samples, "n_samples")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, got {type(rng).__name__}")
    t = positive_scalar(temperature, "temperature")
    logp = np.log(np.maximum(p, np.finfo(float).tiny)) / t
    tempered = np.exp(logp - logp.max(axis=1, keepdims=True))
    cdf = np.cumsum(tempered / tempered.sum(axis=1, keepdims=True), axis=1)
    u = rng.random((p.shape[0], m))
    picks = (cdf[:, None, :] <= u[:, :, None]).sum(axis=2)
    return np.minimum(picks, p.shape[1] - 1).astype(np.int64)


# ------------------------------------------------------------------------------------
# factual precision of long-form text
# ------------------------------------------------------------------------------------


def factual_precision(supported: Sequence[object]) -> float:
    """FActScore-style precision: mean over responses of the supported fraction.

    ``supported`` holds one 1-d array per response, one entry per atomic fact (True when
    a knowledge source supports it). Each response scores ``S / (S + N)``; responses are
    averaged with equal weight. A response without atomic facts has no precision, so it
    raises ``ValueError`` (FActScore reports abstentions separately).
    """
    if isinstance(supported, np.ndarray):
        if supported.ndim != 2:
            raise ValueError(
                "supported given as an array must be 2-d (responses x facts); "
                f"got shape {supported.shape}"
            )
        responses = list(supported)
    elif isinstance(supported, (list, tuple)):
        responses = list(supported)
    else:
        raise TypeError(
            "supported must be a list of per-response arrays, "
            f"got {type(supported).__name__}"
        )
    if not responses:
        raise ValueError("supported must hold at least one response")
    scores = []
    for i, facts in enumerate(responses):
        try:
            ok = _binary(facts, f"supported[{i}]")
        except ValueError as exc:
            raise ValueError(
                f"{exc} (a response needs at least one atomic fact)"
            ) from None
        scores.append(ok.mean())
    return float(np.mean(scores))


def f1_at_k(
    n_supported: object, n_not_supported: object, k: int
) -> NDArray[np.float64] | float:
    """SAFE's F1@K: harmonic mean of precision and recall against ``K`` wanted facts.

    ``Prec = S / (S + N)``, ``R_K = min(S / K, 1)``, ``F1@K = 2 Prec R_K / (Prec +
    R_K)`` when ``S > 0`` and 0 when ``S = 0``. ``S`` and ``N`` are counts (broadcast
    together).
    """
    s = nonnegative(n_supported, "n_supported")
    nn = nonnegative(n_not_supported, "n_not_supported")
    for arr, name in ((s, "n_supported"), (nn, "n_not_supported")):
        if np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold whole counts")
    kk = positive_int(k, "k")
    s, nn = np.broadcast_arrays(s, nn)
    safe_total = np.where(s + nn > 0, s + nn, 1.0)
    prec = s / safe_total
    recall = np.minimum(s / kk, 1.0)
    denom = np.where(s > 0, prec + recall, 1.0)
    f1 = np.where(s > 0, 2 * prec * recall / denom, 0.0)
    return float(f1) if f1.ndim == 0 else f1


def _popularity(popularity: object) -> NDArray[np.float64]:
    return _check_vector(probabilities(popularity, "popularity"), "popularity")


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def simulate_atomic_facts(
    popularity: object,
    n_facts: int,
    rng: np.random.Generator,
    retrieval_recall: float = 0.0,
    copy_accuracy: float = 0.95,
    slope: float = 5.0,
    offset: float = -1.0,
) -> NDArray[np.bool_]:
    """Seeded stand-in for a biography generator: which atomic facts it states are true.

    ``popularity`` in [0, 1] ranks each entity from rarest (0) to most frequent in the
    pre-training data (1). A fact generated from memory is true with probability
    ``sigmoid(offset + slope * popularity)``. With retrieval, each fact is covered by a
    retrieved passage with probability ``retrieval_recall`` and is then copied correctly
    with probability ``copy_accuracy``. Returns a boolean array (n_entities, n_facts).
    """
    pop = _popularity(popularity)
    m = positive_int(n_facts, "n_facts")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, got {type(rng).__name__}")
    recall = float(probabilities(retrieval_recall, "retrieval_recall"))
    copy = float(probabilities(copy_accuracy, "copy_accuracy"))
    b = real_scalar(slope, "slope")
    a = real_scalar(offset, "offset")
    p_memory = _sigmoid(a + b * pop)[:, None]
    covered = rng.random((pop.size, m)) < recall
    p_true = np.where(covered, copy, p_memory)
    return rng.random((pop.size, m)) < p_true


def judge_atomic_facts(
    truth: object,
    popularity: object,
    rng: np.random.Generator,
    evidence: bool,
    evidence_recall: float = 0.9,
    false_support: float = 0.05,
    lenient: float = 0.8,
    slope: float = 5.0,
    offset: float = -1.0,
) -> NDArray[np.bool_]:
    """Seeded stand-in for an automatic fact checker's verdicts on atomic facts.

    With ``evidence=True`` the checker reads retrieved passages: a true fact is found
    and supported with probability ``evidence_recall``; a false one is wrongly supported
    with probability ``false_support``. With ``evidence=False`` it relies on its own
    memory, which holds the fact with probability ``sigmoid(offset + slope *
    popularity)`` (it then judges correctly); otherwise it accepts the fact with
    probability ``lenient`` whether true or not.
    """
    t = truth if isinstance(truth, np.ndarray) and truth.dtype == bool else None
    if t is None:
        arr = real_array(truth, "truth")
        if arr.ndim != 2 or np.any(~np.isin(arr, (0.0, 1.0))):
            raise ValueError("truth must be a 2-d array of 0/1 or bools")
        t = arr.astype(bool)
    if t.ndim != 2 or t.size == 0:
        raise ValueError(f"truth must be a non-empty 2-d array; got shape {t.shape}")
    pop = _popularity(popularity)
    if pop.size != t.shape[0]:
        raise ValueError(
            "popularity must have one entry per row of truth; "
            f"got {pop.size} for {t.shape[0]}"
        )
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator, got {type(rng).__name__}")
    if not isinstance(evidence, (bool, np.bool_)):
        raise TypeError(
            f"evidence must be True or False; got {type(evidence).__name__}"
        )
    recall = float(probabilities(evidence_recall, "evidence_recall"))
    fp = float(probabilities(false_support, "false_support"))
    leniency = float(probabilities(lenient, "lenient"))
    u = rng.random(t.shape)
    if evidence:
        return np.where(t, u < recall, u < fp)
    knows = (
        rng.random(t.shape)
        < _sigmoid(real_scalar(offset, "offset") + real_scalar(slope, "slope") * pop)[
            :, None
        ]
    )
    return np.where(knows, t, u < leniency)


def expected_factscore(
    popularity: object,
    retrieval_recall: float = 0.0,
    copy_accuracy: float = 0.95,
    evidence_recall: float = 0.9,
    false_support: float = 0.05,
    lenient: float = 0.8,
    slope: float = 5.0,
    offset: float = -1.0,
) -> "FactscoreCurves":
    """Closed form of the toy writer and checkers (:func:`simulate_atomic_facts`,
    :func:`judge_atomic_facts`): expected precision against popularity.

    ``m = sigmoid(offset + slope * popularity)`` is the chance a fact is known from
    memory; the true precision is ``p = r c + (1 - r) m`` (``r`` retrieval recall, ``c``
    copy accuracy); an evidence checker reports ``p rho + (1 - p) phi`` (``rho``
    evidence recall, ``phi`` false support), a memory-only checker ``m p + (1 - m) l``
    (``l`` its leniency), since it judges the facts it knows correctly and accepts
    the rest at rate ``l``.
    """
    pop = _popularity(popularity)
    r = float(probabilities(retrieval_recall, "retrieval_recall"))
    c = float(probabilities(copy_accuracy, "copy_accuracy"))
    rho = float(probabilities(evidence_recall, "evidence_recall"))
    phi = float(probabilities(false_support, "false_support"))
    leniency = float(probabilities(lenient, "lenient"))
    m = _sigmoid(real_scalar(offset, "offset") + real_scalar(slope, "slope") * pop)
    p = r * c + (1 - r) * m
    return FactscoreCurves(
        truth=p, evidence=p * rho + (1 - p) * phi, memory=m * p + (1 - m) * leniency
    )


@dataclass(frozen=True)
class FactscoreCurves:
    """Expected FActScore per entity: true, as an evidence checker and as a memory-only
    checker would estimate it (arrays shaped like ``popularity``)."""

    truth: NDArray[np.float64]
    evidence: NDArray[np.float64]
    memory: NDArray[np.float64]


# ------------------------------------------------------------------------------------
# fine-tuning on Known and Unknown examples (after Gekhman et al. 2024)
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FineTuneRun:
    """Per epoch (0 = before fine-tuning): the share of Known and of Unknown training
    examples the model answers correctly (fitted), and its accuracy on held-out
    questions whose answer its pre-trained features encode (dev)."""

    fitted_known: NDArray[np.float64]
    fitted_unknown: NDArray[np.float64]
    dev_accuracy: NDArray[np.float64]


def simulate_finetuning(
    unknown_share: float,
    rng: np.random.Generator,
    n_train: int = 300,
    n_epochs: int = 300,
    n_features: int = 300,
    n_answers: int = 4,
    signal: float = 0.25,
    wrong_belief: float = 0.075,
    learning_rate: float = 6.0,
    n_dev: int = 500,
) -> FineTuneRun:
    """Toy closed-book QA fine-tuning: a softmax head trained by full-batch gradient
    descent on frozen "pre-trained" features.

    A question's feature vector is isotropic noise of norm about one plus a direction
    that the pre-trained model associates with an answer: the true answer with strength
    ``signal`` for a Known question, a wrong answer with strength ``wrong_belief`` for
    an Unknown one (what the model would say instead). ``unknown_share`` of the
    ``n_train`` training questions are Unknown; all ``n_dev`` dev questions are Known.
    Fitting an Unknown example needs weights along its own noise directions, which are
    noise for every other question.
    """
    share = float(probabilities(unknown_share, "unknown_share"))
    rng = generator(rng)
    n = positive_int(n_train, "n_train")
    epochs = positive_int(n_epochs, "n_epochs")
    d = positive_int(n_features, "n_features")
    k = int_in_range(n_answers, "n_answers", 2, None)
    if d < k:
        raise ValueError(f"n_features must be >= n_answers = {k}; got {d}")
    s = positive_scalar(signal, "signal")
    w = float(nonnegative(wrong_belief, "wrong_belief"))
    lr = positive_scalar(learning_rate, "learning_rate")
    n_dev = positive_int(n_dev, "n_dev")
    unknown = np.arange(n) < round(share * n)
    x, y = _qa_features(unknown, rng, d, k, s, w)
    x_dev, y_dev = _qa_features(np.zeros(n_dev, dtype=bool), rng, d, k, s, w)
    return _finetune(x, y, unknown, x_dev, y_dev, epochs, lr)


def _qa_features(unknown, rng, d, k, signal, wrong_belief):
    """Features and true answers: noise plus the pre-trained association (see above)."""
    n = unknown.size
    y = rng.integers(k, size=n)
    belief = np.where(unknown, (y + rng.integers(1, k, size=n)) % k, y)
    x = rng.normal(0.0, 1.0 / math.sqrt(d), (n, d))
    x[np.arange(n), belief] += np.where(unknown, wrong_belief, signal)
    return x, y


def _finetune(x, y, unknown, x_dev, y_dev, n_epochs, lr):
    """Full-batch gradient descent on the cross-entropy of a softmax head ``x @ W``."""
    n, k = y.size, int(max(y.max(), y_dev.max())) + 1
    weights = np.zeros((x.shape[1], k))
    rows = np.arange(n)
    known_hits, unknown_hits, dev_hits = [], [], []
    for _ in range(n_epochs + 1):
        logits = x @ weights
        hit = logits.argmax(axis=1) == y
        known_hits.append(hit[~unknown].mean() if (~unknown).any() else np.nan)
        unknown_hits.append(hit[unknown].mean() if unknown.any() else np.nan)
        dev_hits.append(np.mean((x_dev @ weights).argmax(axis=1) == y_dev))
        grad = np.exp(logits - logits.max(axis=1, keepdims=True))
        grad /= grad.sum(axis=1, keepdims=True)  # softmax probabilities
        grad[rows, y] -= 1.0  # d(cross-entropy)/d(logits)
        weights -= lr * (x.T @ grad) / n
    return FineTuneRun(
        np.array(known_hits), np.array(unknown_hits), np.array(dev_hits)
    )


# ------------------------------------------------------------------------------------
# Chain-of-Verification: joint against factored verification
# ------------------------------------------------------------------------------------


def cove_verify(
    probs: object, draft: object, rng: np.random.Generator, copy_weight: float = 0.0
) -> NDArray[np.bool_]:
    """Which draft answers survive one verification question (Chain-of-Verification).

    ``probs[i]`` is the model's answer distribution for fact ``i`` and ``draft[i]`` the
    answer its draft stated. The verification question is answered by one fresh sample;
    the draft answer is kept when the two agree. *Factored* verification
    (``copy_weight = 0``) answers without the draft in view. *Joint* verification sees
    the draft, modelled as extra probability mass ``copy_weight`` on the drafted answer
    before renormalising: the model tends to repeat what it already wrote.
    """
    p = finite_array(probs, "probs")
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (n, k) with k >= 2; got shape {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0):
        raise ValueError("probs must be non-negative and each row must sum to 1")
    d = _check_vector(finite_array(draft, "draft"), "draft")
    if d.size != p.shape[0] or np.any((d != np.round(d)) | (d < 0) | (d >= p.shape[1])):
        raise ValueError(
            f"draft must hold one answer index in [0, {p.shape[1] - 1}] per row of probs"
        )
    rng = generator(rng)
    copy = float(nonnegative(copy_weight, "copy_weight"))
    return _cove_verify(p, d.astype(np.int64), rng, copy)


def _cove_verify(probs, draft, rng, copy_weight):
    """Keep a drafted answer when an independent check (shifted towards it) agrees."""
    rows = np.arange(draft.size)
    in_context = probs.copy()
    in_context[rows, draft] += copy_weight  # the draft is visible: echo it
    in_context /= in_context.sum(axis=1, keepdims=True)
    check = (in_context.cumsum(axis=1) < rng.random(draft.size)[:, None]).sum(axis=1)
    return np.minimum(check, probs.shape[1] - 1) == draft
