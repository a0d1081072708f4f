"""Human labels: rater agreement, label aggregation and finding mislabelled data.

The numerical core of the human-data chapter:

* the wisdom of the crowd: simulated independent or correlated guesses of one quantity
  (Galton 1907) and the error of their mean that correlation leaves behind;
* chance-corrected agreement: Cohen's kappa for two raters, Fleiss' kappa for a fixed
  number of raters per item and Krippendorff's alpha (nominal) for any raters with
  missing labels, each with its observed and chance agreement available separately;
* aggregating noisy labels: majority vote and the Dawid-Skene EM model of each rater's
  confusion matrix (Dawid and Skene 1979), with a simulator of raters that follow given
  confusion matrices and the confusion matrix of a MACE-style spammer (Hovy et al. 2013);
* the flip-noise model of disagreement and its inverse (Gordon et al. 2021);
* training dynamics: a small numpy softmax regression trained by gradient descent that
  records every example's logits in every epoch, and the statistics built on them: the
  data map (Swayamdipta et al. 2020), forgetting events (Toneva et al. 2019), the area
  under the margin (Pleiss et al. 2020), noisy cross-validation (Chen et al. 2019), and a
  rank-based AUC to score how well a statistic finds the flipped labels;
* influence functions for L2-regularised logistic regression, with exact leave-one-out
  refits to check them against (Koh and Liang 2017), and self-influence for softmax
  regression with its own leave-one-out check;
* MACE fitted by EM (Hovy et al. 2013), a trust-weighted vote, random subsets of raters
  per item, and random Fourier features (Rahimi and Recht 2007) that let the softmax
  regression bend its boundaries.

Labels are integers ``0 .. n_classes - 1``; a missing label in an items-by-raters array is
``-1``. Every public function checks its input and raises ``TypeError`` or ``ValueError``
naming the parameter and the allowed range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import softmax
from scipy.stats import rankdata

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
from lilbook.runtime import bincount, matmul

__all__ = [
    "MISSING",
    "TrainingRecord",
    "agreement_parts",
    "area_under_margin",
    "chance_corrected",
    "cohen_kappa",
    "counts_from_labels",
    "crowd_error_theory",
    "data_map",
    "dawid_skene",
    "deconvolve_flip",
    "detection_auc",
    "fleiss_kappa",
    "flip_noise",
    "fit_logistic",
    "forgetting_events",
    "influence_on_test_loss",
    "krippendorff_alpha",
    "leave_one_out_test_loss",
    "mace_confusion",
    "majority_vote",
    "vote_shares",
    "MaceFit",
    "assign_raters",
    "leave_one_out_self_loss",
    "mace_em",
    "random_fourier_features",
    "self_influence",
    "weighted_vote",
    "noisy_cross_validation",
    "simulate_annotations",
    "simulate_crowd",
    "train_softmax",
]

MISSING = -1


# --------------------------------------------------------------------------------------
# input checks specific to labels
# --------------------------------------------------------------------------------------

def _int_array(x: object, name: str) -> NDArray[np.int64]:
    arr = real_array(x, name)
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must hold integers; got a non-integer value")
    return arr.astype(np.int64)


def _labels_1d(x: object, name: str, n_classes: int | None) -> NDArray[np.int64]:
    arr = _int_array(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels; got shape {arr.shape}")
    high = None if n_classes is None else n_classes - 1
    bad = (arr < 0) | (arr > (high if high is not None else np.inf))
    if np.any(bad):
        allowed = f"0 <= {name} <= {high}" if high is not None else f"{name} >= 0"
        raise ValueError(
            f"{name} must hold labels in range ({allowed}); got {arr[bad][0]}"
        )
    return arr


def _check_label_matrix(x: object, name: str, n_classes: int) -> NDArray[np.int64]:
    arr = _int_array(x, name)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D items-by-raters array; got shape {arr.shape}"
        )
    bad = (arr < MISSING) | (arr >= n_classes)
    if np.any(bad):
        raise ValueError(
            f"{name} must hold labels in range (0 <= label <= {n_classes - 1}, or -1 for missing); "
            f"got {arr[bad][0]}"
        )
    return arr


def _check_n_classes(n_classes: object) -> int:
    return int_in_range(n_classes, "n_classes", 2, None)


def _check_probability(x: object, name: str) -> float:
    return float(probabilities(x, name))


def counts_from_labels(labels: ArrayLike, n_classes: int) -> NDArray[np.int64]:
    """Turn an items-by-raters label array into items-by-categories vote counts.

    Parameters
    ----------
    labels : array of int, shape (n_items, n_raters)
        Labels ``0 .. n_classes - 1``; ``-1`` marks a missing label (not counted).
    n_classes : int
        Number of categories, at least 2.

    Returns
    -------
    counts : array of int, shape (n_items, n_classes)
        ``counts[i, k]`` is how many raters gave item ``i`` the label ``k``.
    """
    k = _check_n_classes(n_classes)
    arr = _check_label_matrix(labels, "labels", k)
    counts = np.zeros((arr.shape[0], k), dtype=np.int64)
    for c in range(k):
        counts[:, c] = np.sum(arr == c, axis=1)
    return counts


# --------------------------------------------------------------------------------------
# wisdom of the crowd
# --------------------------------------------------------------------------------------
def simulate_crowd(
    truth: float,
    sigma: float,
    n_people: int,
    n_trials: int,
    rng: np.random.Generator,
    rho: float = 0.0,
    bias: float = 0.0,
) -> NDArray[np.float64]:
    """Guesses of one quantity by a crowd, repeated over independent trials.

    Each guess is ``truth + bias + sigma * e`` with standard normal errors ``e`` that have
    correlation ``rho`` between any two people of the same trial (a shared component
    ``sqrt(rho) * z`` plus a private one ``sqrt(1 - rho) * z_j``).

    Returns
    -------
    guesses : array, shape (n_trials, n_people)
    """
    truth = real_scalar(truth, "truth")
    sigma = positive_scalar(sigma, "sigma")
    bias = real_scalar(bias, "bias")
    n_people = positive_int(n_people, "n_people")
    n_trials = positive_int(n_trials, "n_trials")
    rho = float(probabilities(rho, "rho"))
    rng = generator(rng)
    shared = rng.standard_normal((n_trials, 1))
    private = rng.standard_normal((n_trials, n_people))
    errors = np.sqrt(rho) * shared + np.sqrt(1.0 - rho) * private
    return truth + bias + sigma * errors


def crowd_error_theory(
    n_people: ArrayLike, sigma: float, rho: float = 0.0, bias: float = 0.0
) -> NDArray[np.float64]:
    """Root-mean-square error of the crowd's mean guess under :func:`simulate_crowd`'s model.

    ``sqrt(bias**2 + sigma**2 * (rho + (1 - rho) / n))``: averaging removes the private
    part of the errors, never the shared part or a common bias.
    """
    n = finite_array(n_people, "n_people")
    if np.any(n < 1):
        raise ValueError("n_people must be >= 1")
    sigma = positive_scalar(sigma, "sigma")
    rho = float(probabilities(rho, "rho"))
    bias = real_scalar(bias, "bias")
    return np.sqrt(bias**2 + sigma**2 * (rho + (1.0 - rho) / n))


# --------------------------------------------------------------------------------------
# agreement
# --------------------------------------------------------------------------------------
def chance_corrected(observed: float, chance: float) -> float:
    """The common form of kappa and alpha: ``(observed - chance) / (1 - chance)``.

    Raises ``ValueError`` when ``chance == 1`` (every label is the same category, so
    agreement is guaranteed and the statistic is undefined).
    """
    p_o = _check_probability(observed, "observed")
    p_e = _check_probability(chance, "chance")
    if p_e >= 1.0:
        raise ValueError(
            "chance agreement is 1 (a single category is used): statistic undefined"
        )
    return _chance_corrected(p_o, p_e)


def _chance_corrected(p_o: float, p_e: float) -> float:
    """How far observed agreement ``p_o`` goes from chance ``p_e`` towards perfect (1)."""
    return (p_o - p_e) / (1.0 - p_e)


def _cohen_parts(
    a: object, b: object, n_classes: int | None = None
) -> tuple[float, float]:
    if n_classes is not None:
        n_classes = _check_n_classes(n_classes)
    x = _labels_1d(a, "a", n_classes)
    y = _labels_1d(b, "b", n_classes)
    if x.shape != y.shape:
        raise ValueError(
            f"a and b must label the same items; got lengths {x.size} and {y.size}"
        )
    k = int(max(x.max(), y.max()) + 1) if n_classes is None else n_classes
    p_o = float(np.mean(x == y))
    p_a = bincount(x, minlength=k) / x.size
    p_b = bincount(y, minlength=k) / y.size
    return p_o, float(np.sum(p_a * p_b))


def _fleiss_parts(counts: object) -> tuple[float, float]:
    arr, n = _check_fleiss_counts(counts)
    return _fleiss_agreement(arr, n)


def _check_fleiss_counts(counts: object) -> tuple[NDArray[np.int64], int]:
    """Checked items-by-categories ``counts`` and the number of raters per item."""
    arr = _int_array(counts, "counts")
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(
            "counts must be a 2-D items-by-categories array with >= 2 columns; "
            f"got shape {arr.shape}"
        )
    if np.any(arr < 0):
        raise ValueError("counts must be >= 0 (allowed range: 0 <= counts)")
    per_item = arr.sum(axis=1)
    if np.any(per_item != per_item[0]):
        raise ValueError(
            "every item needs the same number of raters for Fleiss' kappa; got row "
            f"sums from {per_item.min()} to {per_item.max()} (use krippendorff_alpha "
            "for unequal counts)"
        )
    n = int(per_item[0])
    if n < 2:
        raise ValueError(f"Fleiss' kappa needs at least 2 raters per item; got {n}")
    return arr, n


def _fleiss_agreement(counts: NDArray[np.int64], n: int) -> tuple[float, float]:
    """Observed and chance agreement of ``counts[item, category]``, ``n`` raters per item."""
    # per item, the fraction of its n (n - 1) ordered pairs of raters that agree
    p_item = (np.sum(counts * counts, axis=1) - n) / (n * (n - 1))
    # the pooled share of each category, and the chance that two draws from it agree
    p_cat = counts.sum(axis=0) / counts.sum()
    return float(p_item.mean()), float(np.sum(p_cat**2))


def _krippendorff_parts(
    labels: object, n_classes: int | None = None
) -> tuple[float, float]:
    arr = _int_array(labels, "labels")
    if arr.ndim != 2:
        raise ValueError(
            f"labels must be a 2-D items-by-raters array; got shape {arr.shape}"
        )
    n_classes = (
        max(int(arr.max()) + 1, 2) if n_classes is None else _check_n_classes(n_classes)
    )
    counts = counts_from_labels(arr, n_classes)
    m = counts.sum(axis=1)
    pairable = counts[m >= 2].astype(float)
    m = m[m >= 2].astype(float)
    if pairable.size == 0:
        raise ValueError(
            "labels must have at least one item labelled by two or more raters"
        )
    # coincidence matrix: o[c, k] = sum over items of n_c * (n_k - [c == k]) / (m - 1)
    o = np.einsum("ic,ik->ck", pairable / (m - 1)[:, None], pairable)
    o -= np.diag(np.sum(pairable / (m - 1)[:, None], axis=0))
    n_c = o.sum(axis=1)
    total = n_c.sum()
    observed = np.trace(o) / total
    chance = (np.sum(n_c**2) - total) / (total * (total - 1))
    return float(observed), float(chance)


def agreement_parts(kind: str, *args: object, **kwargs: object) -> tuple[float, float]:
    """Observed and chance agreement behind a statistic, as ``(observed, chance)``.

    ``kind`` is ``"cohen"`` (arguments as :func:`cohen_kappa`), ``"fleiss"`` (as
    :func:`fleiss_kappa`) or ``"krippendorff"`` (as :func:`krippendorff_alpha`). In each case
    the statistic equals ``chance_corrected(observed, chance)``. For Krippendorff's alpha the
    two numbers are ``1 - D_o`` and ``1 - D_e``, one minus the observed and expected
    disagreement over pairs of values within an item.
    """
    parts = {
        "cohen": _cohen_parts,
        "fleiss": _fleiss_parts,
        "krippendorff": _krippendorff_parts,
    }
    if kind not in parts:
        raise ValueError(f"kind must be one of {sorted(parts)}; got {kind!r}")
    return parts[kind](*args, **kwargs)


def cohen_kappa(a: ArrayLike, b: ArrayLike, n_classes: int | None = None) -> float:
    """Cohen's kappa between two raters who labelled the same items.

    ``kappa = (p_o - p_e) / (1 - p_e)`` where ``p_o`` is the fraction of items on which they
    agree and ``p_e = sum_k p_a(k) p_b(k)`` the agreement expected if each rater drew labels
    independently from their own label frequencies (Cohen 1960).

    Parameters
    ----------
    a, b : 1-D arrays of int
        The two raters' labels, ``0 .. n_classes - 1``, one per item, same length.
    n_classes : int, optional
        Number of categories; by default the largest label plus one.
    """
    return chance_corrected(*_cohen_parts(a, b, n_classes))


def fleiss_kappa(counts: ArrayLike) -> float:
    """Fleiss' kappa for items each labelled by the same number ``n >= 2`` of raters.

    Parameters
    ----------
    counts : array of int, shape (n_items, n_categories)
        ``counts[i, k]`` is how many raters put item ``i`` in category ``k``; every row sums
        to the same ``n`` (the raters need not be the same people).

    Observed agreement is the mean over items of the fraction of agreeing rater pairs,
    ``P_i = (sum_k n_ik**2 - n) / (n (n - 1))``; chance agreement is ``sum_k p_k**2`` with
    ``p_k`` the pooled share of category ``k`` (Fleiss 1971).
    """
    return chance_corrected(*_fleiss_parts(counts))


def krippendorff_alpha(labels: ArrayLike, n_classes: int | None = None) -> float:
    """Krippendorff's alpha for nominal labels, any number of raters, missing labels allowed.

    Parameters
    ----------
    labels : array of int, shape (n_items, n_raters)
        Labels ``0 .. n_classes - 1`` and ``-1`` for missing. Items with fewer than two labels
        carry no pairs and are ignored.
    n_classes : int, optional
        Number of categories; by default the largest label plus one.

    ``alpha = 1 - D_o / D_e`` from the coincidence matrix: observed disagreement ``D_o`` over
    all ordered pairs of values within an item (each item weighted by ``1 / (m_i - 1)``) and
    expected disagreement ``D_e`` over all pairs of the pooled values (Krippendorff 2011).
    """
    return chance_corrected(*_krippendorff_parts(labels, n_classes))


# --------------------------------------------------------------------------------------
# aggregation
# --------------------------------------------------------------------------------------
def _confusion_stack(
    confusions: object, name: str = "confusions"
) -> NDArray[np.float64]:
    arr = probabilities(confusions, name)
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2] or arr.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape (n_raters, n_classes, n_classes) with n_classes >= 2; got {arr.shape}"
        )
    if not np.allclose(arr.sum(axis=2), 1.0, atol=1e-9):
        raise ValueError(f"every row of {name} must sum to 1 (P(label | true class))")
    return arr


def mace_confusion(theta: float, xi: ArrayLike) -> NDArray[np.float64]:
    """Confusion matrix of a MACE rater (Hovy et al. 2013).

    ``theta`` is the rater's trustworthiness: with probability ``theta`` they report the true
    class; otherwise they "spam", drawing a label from their own distribution ``xi``
    whatever the item. So ``P(label = k | true = c) = theta [c == k] + (1 - theta) xi[k]``.
    """
    theta = float(probabilities(theta, "theta"))
    xi = probabilities(xi, "xi")
    if xi.ndim != 1 or xi.size < 2 or not np.isclose(xi.sum(), 1.0):
        raise ValueError(
            "xi must be a 1-D probability vector over >= 2 classes summing to 1"
        )
    return theta * np.eye(xi.size) + (1.0 - theta) * np.broadcast_to(
        xi, (xi.size, xi.size)
    )


def simulate_annotations(
    true_labels: ArrayLike,
    confusions: ArrayLike,
    rng: np.random.Generator,
    p_observed: float = 1.0,
) -> NDArray[np.int64]:
    """Labels from raters who each follow a confusion matrix.

    Parameters
    ----------
    true_labels : 1-D array of int, the true class of each item.
    confusions : array, shape (n_raters, n_classes, n_classes)
        ``confusions[j, c, k] = P(rater j says k | true class c)``; rows sum to 1.
    rng : numpy Generator
    p_observed : float in [0, 1]
        Each rater labels each item independently with this probability; the rest are -1.

    Returns
    -------
    labels : array of int, shape (n_items, n_raters)
    """
    conf = _confusion_stack(confusions)
    k = conf.shape[1]
    truth = _labels_1d(true_labels, "true_labels", k)
    p_obs = float(probabilities(p_observed, "p_observed"))
    rng = generator(rng)
    cdf = np.cumsum(conf[:, truth, :], axis=2)  # (raters, items, k)
    u = rng.random((conf.shape[0], truth.size, 1))
    labels = np.minimum(np.sum(u > cdf, axis=2), k - 1).T
    labels[rng.random(labels.shape) >= p_obs] = MISSING
    return labels.astype(np.int64)


def vote_shares(counts: ArrayLike) -> NDArray[np.float64]:
    """Each answer's chance of winning a plurality vote when ties are broken uniformly at random.

    The book's one majority vote: :func:`majority_vote` aggregates raters' labels with it, and
    :func:`lilbook.sampling.simulate_majority_vote` scores self-consistency's vote over sampled
    answers with it. ``counts[i, k]`` is how many votes answer ``k`` got on item ``i`` (non-negative
    integers, shape ``(n_items, n_answers)``); row ``i`` of the result gives ``1/t`` to each of the
    ``t`` answers tied at the top count and 0 to the others (an item with no votes ties all answers).
    """
    c = np.asarray(counts)
    if c.ndim != 2 or c.shape[1] < 1 or c.dtype.kind not in "iu" or np.any(c < 0):
        raise ValueError(
            "counts must be a 2-d array of non-negative integers (items x answers); "
            f"got dtype {c.dtype}, shape {c.shape}"
        )
    return _vote_shares(c)


def _vote_shares(counts: NDArray[np.int64]) -> NDArray[np.float64]:
    at_top = counts == counts.max(axis=1, keepdims=True)
    return at_top / at_top.sum(axis=1, keepdims=True)


def majority_vote(
    labels: ArrayLike, n_classes: int, rng: np.random.Generator | None = None
) -> NDArray[np.int64]:
    """The most frequent label of each item (``-1`` for items nobody labelled).

    Ties go to the smallest label, or to a uniformly random one of the tied labels when a
    ``rng`` is given (see :func:`vote_shares`).
    """
    counts = counts_from_labels(labels, n_classes)
    shares = _vote_shares(counts)
    if rng is None:
        winner = np.argmax(shares, axis=1)
    else:  # a uniform draw per answer; the largest among the tied answers wins
        u = generator(rng).random(counts.shape)
        winner = np.argmax(np.where(shares > 0, 1.0 + u, 0.0), axis=1)
    winner[counts.sum(axis=1) == 0] = MISSING
    return winner.astype(np.int64)


def _check_em(
    labels: object, n_classes: object, max_iter: object, tol: object, smoothing: object
) -> tuple[NDArray[np.int64], int, int, float, float]:
    """The checked arguments of an EM fit of raters (Dawid-Skene, MACE), in the order the fits take."""
    k = _check_n_classes(n_classes)
    return (
        _check_label_matrix(labels, "labels", k),
        k,
        positive_int(max_iter, "max_iter"),
        positive_scalar(tol, "tol"),
        positive_scalar(smoothing, "smoothing"),
    )


def dawid_skene(
    labels: ArrayLike,
    n_classes: int,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Dawid-Skene EM: each item's class posterior and each rater's confusion matrix.

    The model: item ``i`` has a hidden class ``T_i ~ Categorical(prior)``; rater ``j``
    reports ``k`` with probability ``pi_j[T_i, k]``, independently of the other raters.
    EM starts from the raters' vote shares, then alternates

    * M-step: ``prior_c`` and ``pi_j[c, k]`` are the posterior-weighted counts, plus
      ``smoothing`` pseudo-counts so that no probability is exactly zero;
    * E-step: ``P(T_i = c | labels) ∝ prior_c * prod_j pi_j[c, label_ij]``, over
      observed labels only,

    until no posterior moves by more than ``tol`` or ``max_iter`` rounds have run.

    Parameters
    ----------
    labels : array of int, shape (n_items, n_raters); ``-1`` marks a missing label.
    n_classes : int, number of categories (>= 2).
    max_iter : int, at most this many EM rounds (>= 1).
    tol : float, stopping threshold on the largest change of a posterior.
    smoothing : float, Dirichlet pseudo-count added to every cell (> 0).

    Returns
    -------
    posterior : array, shape (n_items, n_classes); each row sums to 1.
    confusion : array, shape (n_raters, n_classes, n_classes); ``confusion[j, c, k]``
        is the estimated ``P(rater j says k | true class c)``, rows summing to 1.
    """
    return _dawid_skene(*_check_em(labels, n_classes, max_iter, tol, smoothing))


def _dawid_skene(
    labels: NDArray[np.int64], k: int, max_iter: int, tol: float, smoothing: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """EM for ``labels[item, rater]`` (-1 missing) with ``k`` classes: posteriors, confusions."""
    n_items, n_raters = labels.shape
    onehot = np.zeros((n_items, n_raters, k))
    seen = labels != MISSING
    onehot[seen, labels[seen]] = 1.0
    votes = onehot.sum(axis=1)
    flat = onehot.reshape(n_items, n_raters * k)  # one column per (rater, label)

    def m_step(post):  # posterior-weighted label counts -> confusion[j, c, k]
        counts = (post.T @ flat).reshape(k, n_raters, k).transpose(1, 0, 2) + smoothing
        return counts / counts.sum(axis=2, keepdims=True)

    posterior = (votes + smoothing) / (votes + smoothing).sum(axis=1, keepdims=True)
    for _ in range(max_iter):
        prior = posterior.sum(axis=0) + smoothing
        log_prior = np.log(prior / prior.sum())
        confusion = m_step(posterior)
        # log-likelihood of each item's labels under each true class c (E-step)
        log_like = flat @ np.log(confusion).transpose(0, 2, 1).reshape(n_raters * k, k)
        new = softmax(log_prior + log_like, axis=1)
        change = np.max(np.abs(new - posterior))
        posterior = new
        if change < tol:
            break
    return posterior, m_step(posterior)


# --------------------------------------------------------------------------------------
# disagreement as flip noise (Gordon et al. 2021)
# --------------------------------------------------------------------------------------
def _flip_args(
    p: object, p_flip: object, name: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    arr = probabilities(p, name)
    if arr.ndim < 1 or arr.shape[-1] < 2:
        raise ValueError(
            f"{name} must have the classes on its last axis (>= 2 of them); got shape {arr.shape}"
        )
    if not np.allclose(arr.sum(axis=-1), 1.0, atol=1e-9):
        raise ValueError(f"{name} must sum to 1 over its last axis")
    flip = probabilities(p_flip, "p_flip")
    c = arr.shape[-1]
    if np.any(flip >= (c - 1) / c):
        raise ValueError(
            f"p_flip must be < (C - 1) / C = {(c - 1) / c:.4g}, where the labels stop carrying information"
        )
    flip = np.asarray(flip)[..., None] if np.ndim(flip) else flip
    return arr, flip


def flip_noise(p_true: ArrayLike, p_flip: ArrayLike) -> NDArray[np.float64]:
    """Label distribution after a rater flips to a uniformly random other class.

    ``p(y) = p*(y) (1 - p_flip) + (1 - p*(y)) p_flip / (C - 1)`` over the last axis.
    """
    p, flip = _flip_args(p_true, p_flip, "p_true")
    c = p.shape[-1]
    return p * (1.0 - flip) + (1.0 - p) * flip / (c - 1)


def deconvolve_flip(p_observed: ArrayLike, p_flip: ArrayLike) -> NDArray[np.float64]:
    """Invert :func:`flip_noise`: ``p* = (p - p_flip/(C-1)) / (1 - C p_flip/(C-1))``.

    The result can leave ``[0, 1]`` when ``p_observed`` is not something the flip model could
    have produced at that ``p_flip``; it is returned as computed so that the caller sees it.
    """
    p, flip = _flip_args(p_observed, p_flip, "p_observed")
    c = p.shape[-1]
    return (p - flip / (c - 1)) / (1.0 - c * flip / (c - 1))


# --------------------------------------------------------------------------------------
# training dynamics
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingRecord:
    """What :func:`train_softmax` saw: ``logits[t, i, k]`` after epoch ``t + 1``."""

    logits: NDArray[np.float64]
    weights: NDArray[np.float64]

    @property
    def probs(self) -> NDArray[np.float64]:
        """Softmax probabilities, shape (n_epochs, n_examples, n_classes)."""
        return softmax(self.logits, axis=2)


def _check_features_labels(
    features: object, labels: object, n_classes: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    x = finite_array(features, "features")
    if x.ndim != 2:
        raise ValueError(
            f"features must be a 2-D examples-by-features array; got shape {x.shape}"
        )
    y = _labels_1d(labels, "labels", n_classes)
    if y.size != x.shape[0]:
        raise ValueError(
            f"labels must have one entry per row of features; got {y.size} and {x.shape[0]}"
        )
    return x, y


def train_softmax(
    features: ArrayLike,
    labels: ArrayLike,
    n_classes: int,
    epochs: int,
    lr: float,
    rng: np.random.Generator,
    batch_size: int | None = None,
    l2: float = 0.0,
) -> TrainingRecord:
    """Softmax (multinomial logistic) regression by mini-batch gradient descent.

    The model is ``logits = [x, 1] @ W``; each step moves ``W`` against the gradient of the
    mean cross-entropy on a batch plus ``l2 / 2 * |W|^2``. Batches are a fresh shuffle of the
    data every epoch (``batch_size=None`` is full-batch descent). After every epoch the logits
    of *all* training examples are recorded, which is what data maps and AUM are built from.

    Returns
    -------
    TrainingRecord with ``logits`` of shape (epochs, n_examples, n_classes) and final weights.
    """
    k = _check_n_classes(n_classes)
    x, y = _check_features_labels(features, labels, k)
    epochs = positive_int(epochs, "epochs")
    lr = positive_scalar(lr, "lr")
    l2 = float(nonnegative(l2, "l2"))
    rng = generator(rng)
    n = x.shape[0]
    batch = n if batch_size is None else int_in_range(batch_size, "batch_size", 1, None)
    xb = np.hstack([x, np.ones((n, 1))])
    onehot = np.eye(k)[y]
    w = np.zeros((xb.shape[1], k))
    history = np.empty((epochs, n, k))
    for t in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            z = xb[idx] @ w
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            grad = xb[idx].T @ (p - onehot[idx]) / idx.size + l2 * w
            w -= lr * grad
        history[t] = xb @ w
    return TrainingRecord(logits=history, weights=w)


def _history_labels(
    history: object, labels: object, name: str
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    h = finite_array(history, name)
    if h.ndim != 3 or h.shape[2] < 2:
        raise ValueError(
            f"{name} must have shape (n_epochs, n_examples, n_classes >= 2); got {h.shape}"
        )
    y = _labels_1d(labels, "labels", h.shape[2])
    if y.size != h.shape[1]:
        raise ValueError(
            f"labels must have one entry per example of {name}; got {y.size} and {h.shape[1]}"
        )
    return h, y


def data_map(
    probs: ArrayLike, labels: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Dataset-cartography statistics (Swayamdipta et al. 2020) per example.

    Parameters
    ----------
    probs : array, shape (n_epochs, n_examples, n_classes), probabilities after each epoch.
    labels : 1-D array of int, the (possibly wrong) training labels.

    Returns
    -------
    confidence : mean over epochs of the probability given to the training label.
    variability : its standard deviation over epochs.
    correctness : fraction of epochs in which the training label is the top prediction.
    """
    p, y = _history_labels(probs, labels, "probs")
    if np.any(p < 0) or np.any(p > 1):
        raise ValueError("probs must lie in [0, 1]")
    p_label = p[:, np.arange(y.size), y]
    correct = np.argmax(p, axis=2) == y
    return p_label.mean(axis=0), p_label.std(axis=0), correct.mean(axis=0)


def forgetting_events(probs: ArrayLike, labels: ArrayLike) -> NDArray[np.int64]:
    """How often each example goes from classified correctly to incorrectly between epochs.

    A forgetting event (Toneva et al. 2019) is a step ``t -> t+1`` where the top prediction
    matched the training label at ``t`` and no longer does at ``t + 1``.
    """
    p, y = _history_labels(probs, labels, "probs")
    correct = np.argmax(p, axis=2) == y
    return np.sum(correct[:-1] & ~correct[1:], axis=0).astype(np.int64)


def area_under_margin(logits: ArrayLike, labels: ArrayLike) -> NDArray[np.float64]:
    """Area under the margin (Pleiss et al. 2020) per example.

    The margin after epoch ``t`` is the logit of the training label minus the largest
    other logit, ``M_t = z_y - max_{k != y} z_k``; AUM is its mean over epochs.
    Mislabelled examples are pulled towards their (wrong) label late and weakly, so their
    AUM is low or negative.
    """
    z, y = _history_labels(logits, labels, "logits")
    idx = np.arange(y.size)
    assigned = z[:, idx, y]
    others = z.copy()
    others[:, idx, y] = -np.inf
    return np.mean(assigned - others.max(axis=2), axis=0)


def noisy_cross_validation(
    features: ArrayLike,
    labels: ArrayLike,
    n_classes: int,
    rng: np.random.Generator,
    epochs: int = 100,
    lr: float = 0.5,
    l2: float = 0.0,
) -> NDArray[np.bool_]:
    """Flag examples whose label disagrees with a model trained on the other half.

    The data is split at random into two halves; a :func:`train_softmax` model trained on
    each half predicts the other (Chen et al. 2019). Returns ``True`` where the prediction
    differs from the training label, the examples the method would treat as mislabelled.
    """
    k = _check_n_classes(n_classes)
    x, y = _check_features_labels(features, labels, k)
    rng = generator(rng)
    if x.shape[0] < 2:
        raise ValueError("features must have at least 2 examples to split in halves")
    return _noisy_cross_validation(x, y, k, rng, epochs, lr, l2)


def _noisy_cross_validation(
    features: NDArray[np.float64],
    labels: NDArray[np.int64],
    n_classes: int,
    rng: np.random.Generator,
    epochs: int,
    lr: float,
    l2: float,
) -> NDArray[np.bool_]:
    """Train on one random half, flag the other half's mispredicted labels, and swap."""
    n = features.shape[0]
    order = rng.permutation(n)
    halves = [order[: n // 2], order[n // 2 :]]
    flagged = np.zeros(n, dtype=bool)
    for train, test in [(halves[0], halves[1]), (halves[1], halves[0])]:
        rec = train_softmax(
            features[train], labels[train], n_classes, epochs=epochs, lr=lr, rng=rng, l2=l2
        )
        with_bias = np.hstack([features[test], np.ones((test.size, 1))])
        pred = np.argmax(with_bias @ rec.weights, axis=1)
        flagged[test] = pred != labels[test]
    return flagged


def detection_auc(scores: ArrayLike, is_positive: ArrayLike) -> float:
    """Probability that a random positive scores higher than a random negative (ties count 1/2).

    This is the area under the ROC curve, computed from ranks (the Mann-Whitney U statistic
    divided by ``n_pos * n_neg``). Use ``-AUM`` or ``-confidence`` as the score when low values
    point to a mislabelled example.
    """
    s = finite_array(scores, "scores")
    pos = np.asarray(is_positive)
    if pos.dtype != bool:
        raise TypeError(f"is_positive must be a boolean array; got dtype {pos.dtype}")
    if s.ndim != 1 or pos.shape != s.shape:
        raise ValueError(
            f"scores and is_positive must be 1-D of the same length; got {s.shape} and {pos.shape}"
        )
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("is_positive must contain both True and False")
    ranks = rankdata(s)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# --------------------------------------------------------------------------------------
# influence functions for L2-regularised logistic regression (Koh and Liang 2017)
# --------------------------------------------------------------------------------------
def _binary_data(
    features: object, labels: object, name: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = finite_array(features, f"{name}features")
    if x.ndim != 2:
        raise ValueError(
            f"{name}features must be a 2-D examples-by-features array; got shape {x.shape}"
        )
    y = _labels_1d(labels, f"{name}labels", 2)
    if y.size != x.shape[0]:
        raise ValueError(
            f"{name}labels must have one entry per row of {name}features; got {y.size} and {x.shape[0]}"
        )
    return np.hstack([x, np.ones((x.shape[0], 1))]), y.astype(float)


def _newton_logistic(
    xb: NDArray[np.float64],
    y: NDArray[np.float64],
    l2: float,
    n_norm: int,
    drop: int | None = None,
) -> NDArray[np.float64]:
    """Minimise (1/n_norm) sum_i loss_i + l2/2 |w|^2 by Newton's method (example ``drop`` left out)."""
    keep = np.ones(y.size, dtype=bool)
    if drop is not None:
        keep[drop] = False
    xk, yk = xb[keep], y[keep]
    w = np.zeros(xb.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(xk @ w)))
        grad = xk.T @ (p - yk) / n_norm + l2 * w
        hess = (xk * (p * (1 - p))[:, None]).T @ xk / n_norm + l2 * np.eye(w.size)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-12:
            break
    return w


def _mean_log_loss(
    xb: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
) -> float:
    z = xb @ w
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_logistic(
    features: ArrayLike, labels: ArrayLike, l2: float
) -> NDArray[np.float64]:
    """Weights (last entry the bias) minimising mean log-loss + ``l2 / 2 * |w|^2``.

    Binary labels 0/1; Newton's method to machine precision, so influence estimates are
    compared with an exact optimum. ``l2 > 0`` makes the problem strictly convex.
    """
    xb, y = _binary_data(features, labels, "")
    l2 = positive_scalar(l2, "l2")
    return _newton_logistic(xb, y, l2, y.size)


def influence_on_test_loss(
    features: ArrayLike,
    labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    l2: float,
) -> NDArray[np.float64]:
    """Predicted change of the mean test loss when each training example is removed.

    Removing example ``z`` is upweighting it by ``epsilon = -1/n``, so to first order the
    change is ``-(1/n) I_up,loss(z, test) = (1/n) grad L_test^T H^{-1} grad L(z)``, with
    ``H`` the Hessian of the regularised training objective at the optimum (Koh and Liang
    2017). Positive values mean the test loss would rise without the example (it helps).
    """
    xb, y = _binary_data(features, labels, "")
    xt, yt = _binary_data(test_features, test_labels, "test_")
    if xt.shape[1] != xb.shape[1]:
        raise ValueError("test_features must have as many columns as features")
    l2 = positive_scalar(l2, "l2")
    n = y.size
    w = _newton_logistic(xb, y, l2, n)
    p = 1.0 / (1.0 + np.exp(-(xb @ w)))
    hess = (xb * (p * (1 - p))[:, None]).T @ xb / n + l2 * np.eye(w.size)
    grad_train = xb * (p - y)[:, None]  # per-example gradients, shape (n, d)
    pt = 1.0 / (1.0 + np.exp(-(xt @ w)))
    grad_test = xt.T @ (pt - yt) / yt.size
    return grad_train @ np.linalg.solve(hess, grad_test) / n


def leave_one_out_test_loss(
    features: ArrayLike,
    labels: ArrayLike,
    test_features: ArrayLike,
    test_labels: ArrayLike,
    l2: float,
) -> NDArray[np.float64]:
    """Actual change of the mean test loss when each training example is removed and the
    model is refitted: the brute-force quantity :func:`influence_on_test_loss` predicts.

    The refit keeps the ``1/n`` normalisation of the full objective (the ``epsilon = -1/n``
    reweighting exactly), so the two differ only by the first-order approximation.
    """
    xb, y = _binary_data(features, labels, "")
    xt, yt = _binary_data(test_features, test_labels, "test_")
    if xt.shape[1] != xb.shape[1]:
        raise ValueError("test_features must have as many columns as features")
    l2 = positive_scalar(l2, "l2")
    n = y.size
    base = _mean_log_loss(xt, yt, _newton_logistic(xb, y, l2, n))
    return np.array(
        [
            _mean_log_loss(xt, yt, _newton_logistic(xb, y, l2, n, drop=j)) - base
            for j in range(n)
        ]
    )


# --------------------------------------------------------------------------------------
# raters assigned to items, and MACE fitted by EM (Hovy et al. 2013)
# --------------------------------------------------------------------------------------
def assign_raters(
    labels: ArrayLike, raters_per_item: int, rng: np.random.Generator
) -> NDArray[np.int64]:
    """Keep the labels of a uniformly random subset of ``raters_per_item`` raters per item.

    ``labels`` is a complete items-by-raters array (as from :func:`simulate_annotations`);
    every other label is replaced by ``-1`` (missing). ``1 <= raters_per_item <= n_raters``.
    """
    arr = _int_array(labels, "labels")
    if arr.ndim != 2:
        raise ValueError(f"labels must be a 2-D items-by-raters array; got shape {arr.shape}")
    r = int_in_range(raters_per_item, "raters_per_item", 1, arr.shape[1])
    rng = generator(rng)
    chosen = np.argsort(rng.random(arr.shape), axis=1) < r
    return np.where(chosen, arr, MISSING).astype(np.int64)


@dataclass(frozen=True)
class MaceFit:
    """What :func:`mace_em` estimates: posteriors over true labels, ``theta``, ``xi``."""

    posterior: NDArray[np.float64]
    theta: NDArray[np.float64]
    xi: NDArray[np.float64]

    @property
    def confusion(self) -> NDArray[np.float64]:
        """The Dawid-Skene confusion matrix each rater's MACE parameters imply."""
        k = self.xi.shape[1]
        return self.theta[:, None, None] * np.eye(k) + (1 - self.theta)[:, None, None] * self.xi[:, None, :]


def mace_em(
    labels: ArrayLike,
    n_classes: int,
    max_iter: int = 200,
    tol: float = 1e-6,
    smoothing: float = 0.5,
) -> MaceFit:
    """Fit MACE (Hovy et al. 2013) by EM: per rater a trust ``theta_j`` and a spam distribution ``xi_j``.

    The model: ``T_i ~ Uniform``; rater ``j`` copies ``T_i`` with probability ``theta_j`` and
    otherwise draws a label from ``xi_j``, whatever the item. ``smoothing`` is the fixed
    pseudo-count the paper adds to the expected counts before normalising. EM starts from the
    vote shares and ``theta = 0.5``, ``xi`` uniform.

    Parameters
    ----------
    labels : array of int, shape (n_items, n_raters); ``-1`` marks a missing label.
    n_classes : int (>= 2); max_iter : int (>= 1); tol : float (> 0); smoothing : float (> 0).
    """
    return _mace_em(*_check_em(labels, n_classes, max_iter, tol, smoothing))


def _mace_em(
    labels: NDArray[np.int64], k: int, max_iter: int, tol: float, delta: float
) -> MaceFit:
    """EM for MACE on ``labels[item, rater]`` (-1 missing), ``delta`` added to every count."""
    n_items, n_raters = labels.shape
    item, rater = np.nonzero(labels != MISSING)  # one entry per observed label
    a = labels[item, rater]
    votes = bincount(item * k + a, minlength=n_items * k).reshape(n_items, k)
    post = (votes + 1e-3) / (votes + 1e-3).sum(axis=1, keepdims=True)
    theta, xi = np.full(n_raters, 0.5), np.full((n_raters, k), 1.0 / k)
    for _ in range(max_iter):
        # E-step, part 1: P(rater copied the truth | item's labels), per observed label
        th, spam_a = theta[rater], (1 - theta[rater]) * xi[rater, a]
        honest = post[item, a] * th / (th + spam_a)
        # M-step: the expected counts plus delta, normalised
        theta = (bincount(rater, honest, n_raters) + delta) / (
            bincount(rater, None, n_raters) + 2 * delta)
        xi = bincount(rater * k + a, 1 - honest, n_raters * k).reshape(n_raters, k) + delta
        xi /= xi.sum(axis=1, keepdims=True)
        # E-step, part 2: log P(labels | T_i = c) = sum_j log(theta_j [a_ij = c] + (1 - theta_j) xi_j[a_ij])
        th, spam_a = theta[rater], (1 - theta[rater]) * xi[rater, a]
        log_like = bincount(item, np.log(spam_a), n_items)[:, None] + bincount(
            item * k + a, np.log1p(th / spam_a), n_items * k).reshape(n_items, k)
        new = softmax(log_like, axis=1)
        change, post = np.max(np.abs(new - post)), new
        if change < tol:
            break
    return MaceFit(posterior=post, theta=theta, xi=xi)


def weighted_vote(
    labels: ArrayLike, weights: ArrayLike, n_classes: int
) -> NDArray[np.int64]:
    """Each item's label with the largest total rater weight (ties to the smallest label).

    With MACE's ``theta`` as ``weights`` this is the trust-weighted vote; ``-1`` for items
    nobody labelled.
    """
    k = _check_n_classes(n_classes)
    arr = _check_label_matrix(labels, "labels", k)
    w = nonnegative(weights, "weights")
    if w.shape != (arr.shape[1],):
        raise ValueError(f"weights must have one entry per rater ({arr.shape[1]}); got shape {w.shape}")
    seen = arr != MISSING
    onehot = np.zeros(arr.shape + (k,))
    onehot[seen, arr[seen]] = 1.0
    totals = np.einsum("j,ijk->ik", w, onehot)
    winner = np.argmax(totals, axis=1)
    winner[seen.sum(axis=1) == 0] = MISSING
    return winner.astype(np.int64)


# --------------------------------------------------------------------------------------
# a model that can learn slowly: random Fourier features for train_softmax
# --------------------------------------------------------------------------------------
def random_fourier_features(
    features: ArrayLike, n_features: int, length_scale: float, rng: np.random.Generator
) -> NDArray[np.float64]:
    """``sqrt(2 / D) cos(x W / length_scale + b)`` with ``W ~ N(0, 1)``, ``b ~ U(0, 2 pi)``.

    A linear model on these ``D = n_features`` columns approximates a kernel machine with a
    Gaussian kernel of the given length scale (Rahimi and Recht's construction), so a
    softmax regression on them can bend its boundaries and, given time, fit wrong labels.
    """
    x = finite_array(features, "features")
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D examples-by-features array; got shape {x.shape}")
    d = positive_int(n_features, "n_features")
    scale = positive_scalar(length_scale, "length_scale")
    rng = generator(rng)
    w = rng.standard_normal((x.shape[1], d))
    b = rng.uniform(0.0, 2.0 * np.pi, d)
    return np.sqrt(2.0 / d) * np.cos(x @ w / scale + b)


# --------------------------------------------------------------------------------------
# self-influence for softmax regression (Koh and Liang 2017, section 5.4)
# --------------------------------------------------------------------------------------
def _softmax_grad_hess(xb, onehot, w, l2, n_norm):
    """Gradient and Hessian of (1/n_norm) sum cross-entropy + l2/2 |W|^2, W flattened (d*k)."""
    p = softmax(xb @ w, axis=1)
    d, k = w.shape
    grad = xb.T @ (p - onehot) / n_norm + l2 * w
    s = np.einsum("ic,ce->ice", p, np.eye(k)) - np.einsum("ic,ie->ice", p, p)
    xs = xb[:, :, None, None] * s[:, None, :, :]  # (i, a, c, e)
    # sum over i of xs[i, a, c, e] * xb[i, b], as one matrix product: (a c e, i) @ (i, b)
    hess = matmul(xs.reshape(xs.shape[0], -1).T, xb).reshape(d, k, k, d)
    hess = hess.transpose(0, 1, 3, 2).reshape(d * k, d * k) / n_norm
    return grad, hess + l2 * np.eye(d * k), p


def _newton_softmax(xb, onehot, l2, n_norm, w0=None):
    """Minimise (1/n_norm) sum cross-entropy + l2/2 |W|^2 by Newton's method."""
    w = np.zeros((xb.shape[1], onehot.shape[1])) if w0 is None else w0.copy()
    for _ in range(100):
        grad, hess, _ = _softmax_grad_hess(xb, onehot, w, l2, n_norm)
        step = np.linalg.solve(hess, grad.ravel()).reshape(w.shape)
        w -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return w


def _check_softmax_problem(features, labels, n_classes, l2):
    k = _check_n_classes(n_classes)
    x, y = _check_features_labels(features, labels, k)
    l2 = positive_scalar(l2, "l2")
    xb = np.hstack([x, np.ones((x.shape[0], 1))])
    return xb, np.eye(k)[y], l2


def self_influence(
    features: ArrayLike, labels: ArrayLike, n_classes: int, l2: float
) -> NDArray[np.float64]:
    """Predicted rise of each training example's own loss if it were removed and the model refitted.

    The model is L2-regularised softmax regression (weights fitted exactly by Newton's method);
    the prediction is ``-(1/n) I_up,loss(z_i, z_i) = (1/n) g_i^T H^{-1} g_i`` with ``g_i`` the
    gradient of example ``i``'s loss and ``H`` the Hessian of the training objective. Large
    values mark examples the model fits only because they are in the training set.
    """
    xb, onehot, l2 = _check_softmax_problem(features, labels, n_classes, l2)
    return _self_influence(xb, onehot, l2)


def _self_influence(xb, onehot, l2):
    """(1/n) g_i^T H^{-1} g_i for every training example, at the exact optimum."""
    n = xb.shape[0]
    w = _newton_softmax(xb, onehot, l2, n)
    _, hess, p = _softmax_grad_hess(xb, onehot, w, l2, n)
    # per-example gradient of the cross-entropy: outer(x_i, p_i - y_i), flattened
    g = np.einsum("ia,ic->iac", xb, p - onehot).reshape(n, -1)
    return np.einsum("ij,ij->i", g, np.linalg.solve(hess, g.T).T) / n


def leave_one_out_self_loss(
    features: ArrayLike,
    labels: ArrayLike,
    n_classes: int,
    l2: float,
    indices: ArrayLike,
) -> NDArray[np.float64]:
    """Actual rise of example ``i``'s loss when it is removed and the model refitted, for ``indices``.

    The refit minimises ``(1/n) sum_{j != i} loss_j + l2/2 |W|^2``: the ``1/n`` of the full
    objective is kept, so removal is exactly the ``epsilon = -1/n`` reweighting that
    :func:`self_influence` linearises, and the two differ only by the first-order approximation.
    """
    xb, onehot, l2 = _check_softmax_problem(features, labels, n_classes, l2)
    idx = _int_array(indices, "indices")
    if idx.ndim != 1 or np.any(idx < 0) or np.any(idx >= xb.shape[0]):
        raise ValueError(f"indices must be a 1-D array in range (0 <= indices <= {xb.shape[0] - 1})")
    n = xb.shape[0]
    w = _newton_softmax(xb, onehot, l2, n)

    def own_loss(weights, i):
        z = xb[i] @ weights
        return float(np.logaddexp.reduce(z) - z @ onehot[i])

    out = []
    for i in idx:
        keep = np.arange(n) != i
        w_i = _newton_softmax(xb[keep], onehot[keep], l2, n, w0=w)
        out.append(own_loss(w_i, i) - own_loss(w, i))
    return np.array(out)
