"""Prompt engineering without a language model: the numerical core of that chapter.

Nothing here calls a language model. Each "model" is a small, explicit probability model
whose behaviour is stated in its docstring, so every result can be checked by hand.

* :func:`icl_predict` -- a stand-in for in-context learning: the label distribution for a
  query is a similarity-weighted vote of the demonstrations' labels (a kernel smoother),
  mixed with a little uniform noise. Which demonstrations are chosen matters, as it does
  for a real model.
* :func:`vote_k_select` -- the graph-based selective-annotation score of Su et al. (2022):
  pick items that many unselected items have as near neighbours, discounting items whose
  neighbourhoods are already covered.
* :func:`prompt_bias_logits`, :func:`biased_label_probs` and
  :func:`contextual_calibration` -- the biases of few-shot classification that Zhao et al.
  (2021) describe (majority label, recency, common-token prior) as additive log-biases,
  and their correction by a content-free input, ``W = diag(p_cf)^-1``.
* :func:`simulate_calibration` -- accuracy before and after calibration for many random
  prompts.
* :func:`order_bias_logits`, :func:`prediction_entropies` and
  :func:`simulate_order_sensitivity` -- prompt-order sensitivity: a bias in which every
  demonstration's position and content matter, Lu et al.'s (2022) label-free GlobalE and
  LocalE scores of an ordering, and every ordering of many random demonstration sets
  scored with and without labels (:func:`top_by_score` keeps the best-scored ones).
* :func:`token_cost` -- input and output tokens of zero-shot, few-shot, chain-of-thought
  and self-consistency prompting.
* :func:`toolformer_keep` -- Toolformer's filter for self-annotated API calls (Schick et
  al. 2023): keep a call when it lowers the loss on the following tokens by a margin.

Every public function checks its input and raises ``TypeError`` (wrong kind of object) or
``ValueError`` (wrong value or shape) with a message naming the parameter and the
allowed range.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import softmax

from lilbook._checks import (
    finite_array,
    generator,
    int_in_range,
    nonnegative_int,
    positive_int,
    positive_scalar,
    probabilities,
    real_array,
    real_scalar,
)
from lilbook.retrieval import exact_mips
from lilbook.runtime import bincount

__all__ = [
    "STRATEGIES",
    "CalibrationResult",
    "OrderResult",
    "TokenCost",
    "biased_label_probs",
    "contextual_calibration",
    "icl_predict",
    "order_bias_logits",
    "prediction_entropies",
    "prompt_bias_logits",
    "simulate_calibration",
    "simulate_order_sensitivity",
    "token_cost",
    "toolformer_keep",
    "top_by_score",
    "vote_k_select",
]

#: Prompting strategies known to :func:`token_cost`.
STRATEGIES = ("zero-shot", "few-shot", "zero-shot CoT", "few-shot CoT", "self-consistency")


# ------------------------------------------------------------------------------------
# Input checks local to this module
# ------------------------------------------------------------------------------------


def _check_matrix(x: object, name: str, cols: int | None = None) -> NDArray[np.float64]:
    arr = finite_array(x, name)
    if arr.ndim == 1 and cols is not None:
        arr = arr[None, :]
    if arr.ndim != 2 or (cols is not None and arr.shape[1] != cols):
        want = "(n, d)" if cols is None else f"(m, {cols})"
        raise ValueError(f"{name} must be a 2-D array of shape {want}; got shape {arr.shape}")
    return arr


def _labels(x: object, name: str, n_labels: int) -> NDArray[np.int64]:
    arr = real_array(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels; got shape {arr.shape}")
    if np.any(arr != np.round(arr)) or np.any(arr < 0) or np.any(arr >= n_labels):
        raise ValueError(f"{name} must hold integer labels in [0, {n_labels - 1}]; got {x!r}")
    return arr.astype(np.int64)


def _check_classified(
    clean_logits: object, true_labels: object
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """A test set for the simulated classifier: its evidence, shape (m, n_labels >= 2), and one
    correct label per row."""
    clean = _check_matrix(clean_logits, "clean_logits")
    m, n_labels = clean.shape
    if n_labels < 2:
        raise ValueError(f"clean_logits must have at least 2 columns (labels); got {n_labels}")
    y = _labels(true_labels, "true_labels", n_labels)
    if y.size != m:
        raise ValueError(f"true_labels must have one label per row of clean_logits ({m}); got {y.size}")
    return clean, y


def _distribution(x: object, name: str) -> NDArray[np.float64]:
    p = probabilities(x, name)
    if p.ndim != 1:
        raise ValueError(f"{name} must be a 1-D probability vector; got shape {p.shape}")
    total = float(p.sum())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"{name} must sum to 1 (within 1e-9); got a sum of {total!r}")
    return p


# ------------------------------------------------------------------------------------
# A stand-in for in-context learning, and example selection
# ------------------------------------------------------------------------------------


def icl_predict(
    queries: object,
    demo_embeddings: object,
    demo_labels: object,
    n_labels: int,
    *,
    temperature: float = 0.1,
    noise: float = 0.05,
) -> NDArray[np.float64]:
    """Label probabilities of a simulated in-context learner.

    The model: the query attends to the demonstrations with softmax weights
    ``w_j = softmax_j(<q, x_j> / temperature)`` and returns the weighted vote of their
    labels, mixed with a uniform distribution of weight ``noise``:

    ``p(y | q, demos) = (1 - noise) * sum_j w_j [y_j = y] + noise / n_labels``.

    Demonstrations that resemble the query therefore decide the answer, as retrieval of
    similar examples assumes. Use unit-length embeddings for cosine similarity.

    Parameters
    ----------
    queries : array, shape (m, d) or (d,)
        Query embeddings, finite.
    demo_embeddings : array, shape (k, d) or (m, k, d)
        Embeddings of the ``k >= 1`` demonstrations in the prompt: one set shared by all
        queries, or one set per query (as when demonstrations are retrieved per query).
    demo_labels : array of int, shape (k,) or (m, k)
        Their labels, in ``[0, n_labels - 1]``.
    n_labels : int
        Number of classes, ``2 <= n_labels <= 1000``.
    temperature : float, optional
        Softmax temperature, ``> 0``; small values let the most similar demo decide.
    noise : float, optional
        Weight of the uniform component, in ``[0, 1]``.

    Returns
    -------
    numpy.ndarray, shape (m, n_labels)
        Rows are probability vectors.
    """
    n_labels = int_in_range(n_labels, "n_labels", 2, 1000)
    demos = finite_array(demo_embeddings, "demo_embeddings")
    if demos.ndim not in (2, 3):
        raise ValueError(
            "demo_embeddings must have shape (k, d), or (m, k, d) for one set of "
            f"demonstrations per query; got shape {demos.shape}"
        )
    q = _check_matrix(queries, "queries", cols=demos.shape[-1])
    y = real_array(demo_labels, "demo_labels")
    if y.shape != demos.shape[:-1]:
        raise ValueError(
            f"demo_labels must have shape {demos.shape[:-1]}, one label per "
            f"demonstration; got shape {y.shape}"
        )
    y = _labels(y.ravel(), "demo_labels", n_labels).reshape(y.shape)
    if demos.ndim == 3 and demos.shape[0] != q.shape[0]:
        raise ValueError(
            f"demo_embeddings of shape (m, k, d) needs m = {q.shape[0]} (one set per "
            f"query); got m = {demos.shape[0]}"
        )
    tau = positive_scalar(temperature, "temperature")
    eps = float(probabilities(real_scalar(noise, "noise"), "noise"))
    if demos.ndim == 2:
        demos, y = np.broadcast_to(demos, (q.shape[0], *demos.shape)), y[None, :]
    similarity = np.einsum("md,mkd->mk", q, demos)
    weights = softmax(similarity / tau, axis=1)  # (m, k), one row per query
    vote = np.einsum("mk,mkc->mc", weights, np.eye(n_labels)[y])
    return (1.0 - eps) * vote + eps / n_labels


def vote_k_select(embeddings: object, budget: int, *, k: int = 10, rho: float = 10.0):
    """Choose ``budget`` items to annotate with the greedy vote-k score (Su et al. 2022).

    Build a directed graph in which every item ``v`` points to its ``k`` nearest
    neighbours by inner product (use unit-length embeddings for cosine similarity).
    Item ``u`` covers ``v`` when ``u`` is one of ``v``'s neighbours. With ``L`` the items
    selected so far and ``U`` the rest, each unselected ``v`` votes with weight
    ``s(v) = rho ** -|{l in L : v points to l}|`` for every item it points to, and the
    next item is the unselected ``u`` with the highest total vote

    ``score(u) = sum over unselected v pointing to u of s(v)``.

    Votes from neighbourhoods that already contain selected items are discounted, so the
    selection spreads over the dense regions instead of piling into one. Equal scores go
    to the lower index. (Su et al. select only the first tenth of the budget this way and
    the rest with the language model's confidence; this function is the graph part.)

    Parameters
    ----------
    embeddings : array, shape (n, d)
        Item embeddings, finite, ``n >= 2``.
    budget : int
        Number of items to select, ``1 <= budget <= n``.
    k : int, optional
        Out-degree of the neighbour graph, ``1 <= k <= n - 1``.
    rho : float, optional
        Discount base, ``rho > 1``.

    Returns
    -------
    numpy.ndarray of int, shape (budget,)
        Selected indices, in the order they were chosen.
    """
    x = _check_matrix(embeddings, "embeddings")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"embeddings must hold at least 2 items; got {n}")
    budget = int_in_range(budget, "budget", 1, n)
    k = int_in_range(k, "k", 1, n - 1)
    rho = real_scalar(rho, "rho")
    if not (np.isfinite(rho) and rho > 1.0):
        raise ValueError(f"rho must be finite and > 1 (allowed range: 1 < rho < inf); got {rho!r}")
    # Each item's k nearest other items: search k + 1, then drop the item itself (or,
    # if an exact duplicate outranked it, the last of the k + 1).
    found = exact_mips(x, x, k + 1)
    keep = found != np.arange(n)[:, None]
    keep[keep.all(axis=1), -1] = False
    neighbours = found[keep].reshape(n, k)
    points_to = np.zeros((n, n))  # points_to[v, u] = 1: u is a neighbour of v
    points_to[np.repeat(np.arange(n), k), neighbours.ravel()] = 1.0
    selected = np.zeros(n, dtype=bool)
    covered = np.zeros(n)  # covered[v]: how many of v's neighbours are selected
    chosen = []
    for _ in range(budget):
        s = np.where(selected, 0.0, rho**-covered)  # s(v); selected items do not vote
        score = s @ points_to  # score[u] = sum over v pointing to u of s(v)
        score[selected] = -np.inf
        # ties (equal up to rounding, since sums run in different orders) go to the lower index
        best = score.max()
        u = int(np.flatnonzero(score >= best - 1e-12 * max(1.0, abs(best)))[0])
        selected[u] = True
        covered += points_to[:, u]
        chosen.append(u)
    return np.array(chosen, dtype=np.int64)


# ------------------------------------------------------------------------------------
# Few-shot biases and contextual calibration
# ------------------------------------------------------------------------------------


def prompt_bias_logits(
    demo_labels: object,
    n_labels: int,
    *,
    majority: float,
    recency: float,
    token_prior: object,
) -> NDArray[np.float64]:
    """Log-bias that a prompt adds to every label, in the simulated model.

    Three biases of few-shot classification (Zhao et al. 2021), as additive logits:

    * majority label: ``majority * (fraction of demonstrations with label y)``;
    * recency: ``recency * [y is the label of the last demonstration]``;
    * common token: ``log token_prior[y]`` (label words frequent in pre-training win).

    Parameters
    ----------
    demo_labels : array of int, shape (k,)
        Labels of the demonstrations in prompt order, in ``[0, n_labels - 1]``, ``k >= 1``.
    n_labels : int
        Number of classes, ``2 <= n_labels <= 1000``.
    majority, recency : float
        Strengths of the two biases, each in ``[0, 50]`` (logit units).
    token_prior : array, shape (n_labels,)
        A probability vector with positive entries.

    Returns
    -------
    numpy.ndarray, shape (n_labels,)
    """
    n_labels = int_in_range(n_labels, "n_labels", 2, 1000)
    y = _labels(demo_labels, "demo_labels", n_labels)
    strengths = []
    for value, name in [(majority, "majority"), (recency, "recency")]:
        v = real_scalar(value, name)
        if not (0.0 <= v <= 50.0):
            raise ValueError(f"{name} must lie in [0, 50] (logit units); got {v!r}")
        strengths.append(v)
    prior = _distribution(token_prior, "token_prior")
    if prior.size != n_labels or np.any(prior <= 0):
        raise ValueError(
            f"token_prior must hold {n_labels} positive probabilities; got {token_prior!r}"
        )
    fraction = bincount(y, minlength=n_labels) / y.size
    last = np.eye(n_labels)[y[-1]]
    return strengths[0] * fraction + strengths[1] * last + np.log(prior)


def biased_label_probs(clean_logits: object, bias_logits: object) -> NDArray[np.float64]:
    """The simulated model's label probabilities: ``softmax(clean_logits + bias_logits)``.

    ``clean_logits`` (shape ``(m, n_labels)`` or ``(n_labels,)``) is what the input itself
    says about each label; ``bias_logits`` (shape ``(n_labels,)``) is what the prompt
    adds, the same for every input (see :func:`prompt_bias_logits`).
    """
    bias = finite_array(bias_logits, "bias_logits")
    if bias.ndim != 1:
        raise ValueError(f"bias_logits must be 1-D, one entry per label; got shape {bias.shape}")
    clean = _check_matrix(clean_logits, "clean_logits", cols=bias.size)
    return softmax(clean + bias, axis=1)


def contextual_calibration(probs: object, p_cf: object) -> NDArray[np.float64]:
    """Correct label probabilities with a content-free estimate (Zhao et al. 2021).

    Query the model with a content-free input such as "N/A" in the same prompt; its
    label probabilities ``p_cf`` estimate the prompt's bias. The calibrated prediction is
    ``W p`` with ``W = diag(p_cf)^-1`` (and ``b = 0``), renormalised, so a label the
    prompt favours is scaled down by exactly that favour and the content-free input
    itself maps to the uniform distribution.

    Parameters
    ----------
    probs : array, shape (m, n_labels) or (n_labels,)
        The model's label probabilities, rows of non-negative numbers with a positive sum.
    p_cf : array, shape (n_labels,)
        Label probabilities for the content-free input, all positive.

    Returns
    -------
    numpy.ndarray, shape (m, n_labels)
        Calibrated probabilities; rows sum to 1.
    """
    cf = probabilities(p_cf, "p_cf")
    if cf.ndim != 1 or np.any(cf <= 0):
        raise ValueError(f"p_cf must be a 1-D vector of positive probabilities; got {p_cf!r}")
    p = probabilities(probs, "probs")
    p = _check_matrix(p, "probs", cols=cf.size)
    if np.any(p.sum(axis=1) <= 0):
        raise ValueError("probs must have a positive sum in every row")
    return _contextual_calibration(p, cf)


def _contextual_calibration(
    probs: NDArray[np.float64], p_cf: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``W p`` with ``W = diag(p_cf)^-1``, renormalised, for each row of ``probs``."""
    w = np.diag(1.0 / p_cf)  # scale each label down by the prompt's favour for it
    q = probs @ w  # row-vector form of W p
    return q / q.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class CalibrationResult:
    """Per-prompt results of :func:`simulate_calibration`.

    Attributes
    ----------
    before, after : numpy.ndarray, shape (n_prompts,)
        Test accuracy of each random prompt without and with contextual calibration.
    demo_labels : numpy.ndarray of int, shape (n_prompts, n_shots)
        The demonstrations' labels of each prompt, in prompt order.
    predicted_before, predicted_after : numpy.ndarray, shape (n_prompts, n_labels)
        Fraction of test inputs assigned to each label, without and with calibration.
    """

    before: NDArray[np.float64]
    after: NDArray[np.float64]
    demo_labels: NDArray[np.int64]
    predicted_before: NDArray[np.float64]
    predicted_after: NDArray[np.float64]


def simulate_calibration(
    clean_logits: object,
    true_labels: object,
    *,
    n_prompts: int,
    n_shots: int,
    majority: float,
    recency: float,
    token_prior: object,
    cf_noise: float,
    rng: np.random.Generator,
) -> CalibrationResult:
    """Accuracy of many random few-shot prompts before and after contextual calibration.

    For each prompt, ``n_shots`` demonstration labels are drawn uniformly at random (the
    demonstrations' content does not enter the simulated model, only their labels and
    order). The prompt's bias is :func:`prompt_bias_logits`; the model's probabilities on
    the test set are :func:`biased_label_probs`. The content-free input is not perfectly
    neutral: its clean logits are Gaussian with standard deviation ``cf_noise``, drawn
    afresh for each prompt. Calibration uses that input's probabilities as ``p_cf``.

    Parameters
    ----------
    clean_logits : array, shape (m, n_labels)
        What each test input says about each label, finite; ``n_labels >= 2``.
    true_labels : array of int, shape (m,)
        Correct labels of the test inputs.
    n_prompts : int
        Number of random prompts, ``1 <= n_prompts <= 100000``.
    n_shots : int
        Demonstrations per prompt, ``1 <= n_shots <= 64``.
    majority, recency, token_prior
        As in :func:`prompt_bias_logits`.
    cf_noise : float
        Standard deviation of the content-free input's own logits, in ``[0, 10]``.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    CalibrationResult
    """
    clean, y = _check_classified(clean_logits, true_labels)
    m, n_labels = clean.shape
    n_prompts = int_in_range(n_prompts, "n_prompts", 1, 100_000)
    n_shots = int_in_range(n_shots, "n_shots", 1, 64)
    sigma = real_scalar(cf_noise, "cf_noise")
    if not (0.0 <= sigma <= 10.0):
        raise ValueError(f"cf_noise must lie in [0, 10] (logit units); got {sigma!r}")
    rng = generator(rng)
    accuracy = np.zeros((2, n_prompts))
    predicted = np.zeros((2, n_prompts, n_labels))
    demos = rng.integers(n_labels, size=(n_prompts, n_shots))
    for i in range(n_prompts):
        bias = prompt_bias_logits(
            demos[i], n_labels, majority=majority, recency=recency, token_prior=token_prior
        )
        probs = biased_label_probs(clean, bias)
        p_cf = biased_label_probs(rng.normal(0.0, sigma, n_labels), bias)[0]
        for j, p in enumerate([probs, contextual_calibration(probs, p_cf)]):
            pred = np.argmax(p, axis=1)
            accuracy[j, i] = np.mean(pred == y)
            predicted[j, i] = bincount(pred, minlength=n_labels) / m
    return CalibrationResult(accuracy[0], accuracy[1], demos, predicted[0], predicted[1])


# ------------------------------------------------------------------------------------
# Order sensitivity and entropy-based choice of permutation (Lu et al. 2022)
# ------------------------------------------------------------------------------------


def order_bias_logits(
    demo_labels: object,
    demo_lean: object,
    *,
    majority: float,
    recency: float,
    decay: float,
    token_prior: object,
) -> NDArray[np.float64]:
    """Log-bias of a prompt whose every demonstration, and its position, matters.

    A richer version of :func:`prompt_bias_logits`. Demonstration ``j`` of ``k`` (in
    prompt order, the last one nearest the query) has position weight
    ``w_j = decay ** (k - 1 - j)``, so the last demonstration weighs 1 and earlier ones
    fade geometrically. It pushes its own label with strength ``recency * w_j`` and also
    carries a content lean ``demo_lean[j]`` (logits that its wording happens to add to
    each label), weighted by ``w_j`` too:

    ``b_y = majority * frac_y + sum_j w_j (recency [y_j = y] + lean_j[y]) + log prior_y``.

    With ``decay = 0`` and no lean this is exactly :func:`prompt_bias_logits`; with
    ``decay > 0`` or a lean, reordering the same demonstrations changes the bias.

    Parameters
    ----------
    demo_labels : array of int, shape (k,)
        Labels in prompt order, in ``[0, n_labels - 1]``; ``1 <= k <= 64``.
    demo_lean : array, shape (k, n_labels)
        Finite content leans of the demonstrations, in the same order.
    majority, recency : float
        Bias strengths, each in ``[0, 50]`` (logit units).
    decay : float
        Position decay, in ``[0, 1]``.
    token_prior : array, shape (n_labels,)
        A probability vector with positive entries; ``n_labels = demo_lean.shape[1]``.

    Returns
    -------
    numpy.ndarray, shape (n_labels,)
    """
    lean = _check_matrix(demo_lean, "demo_lean")
    y = _check_ordered_labels(demo_labels, lean)
    maj = _check_strength(majority, "majority")
    rec = _check_strength(recency, "recency")
    gamma = _check_decay(decay)
    prior = _check_prior(token_prior, lean.shape[1])
    return _order_bias_logits(np.eye(lean.shape[1])[y], lean, maj, rec, gamma, np.log(prior))


def _order_bias_logits(
    onehot: NDArray[np.float64],
    lean: NDArray[np.float64],
    majority: float,
    recency: float,
    decay: float,
    log_prior: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Bias of one ordered prompt; ``onehot[j]`` is demonstration j's label (last = nearest)."""
    k = onehot.shape[0]
    weight = decay ** np.arange(k - 1, -1, -1.0)  # w_j = decay^(k-1-j); the last weighs 1
    pushed = weight @ (recency * onehot + lean)  # each demonstration's push, faded by position
    return majority * onehot.mean(axis=0) + pushed + log_prior


def prediction_entropies(probe_probs: object) -> tuple[float, float]:
    """Lu et al.'s (2022) two label-free scores of a prompt, from its probing-set predictions.

    * ``GlobalE``: the entropy (nats) of the histogram of predicted labels (argmax) over
      the probing set. Low when the prompt sends most inputs to one label.
    * ``LocalE``: the mean over probing inputs of the entropy of the predicted label
      distribution. Low when the prompt makes the model confident on every input.

    Parameters
    ----------
    probe_probs : array, shape (m, n_labels)
        Label probabilities for ``m >= 1`` probing inputs; rows are probability vectors
        (non-negative, summing to 1 within 1e-6), ``n_labels >= 2``.

    Returns
    -------
    (float, float)
        ``(GlobalE, LocalE)``, each in ``[0, log n_labels]``.
    """
    p = _check_matrix(probabilities(probe_probs, "probe_probs"), "probe_probs")
    if p.shape[1] < 2:
        raise ValueError(f"probe_probs must have at least 2 columns (labels); got {p.shape[1]}")
    if np.any(np.abs(p.sum(axis=1) - 1.0) > 1e-6):
        raise ValueError("probe_probs rows must sum to 1 (within 1e-6)")
    return _prediction_entropies(p)


def _entropy(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Shannon entropy in nats along the last axis, with 0 log 0 = 0."""
    logs = np.log(np.where(p > 0, p, 1.0))
    return -np.sum(p * logs, axis=-1)


def _prediction_entropies(probs: NDArray[np.float64]) -> tuple[float, float]:
    """GlobalE and LocalE of one prompt's predictions on the probing set."""
    m, n_labels = probs.shape
    share = bincount(probs.argmax(axis=1), minlength=n_labels) / m  # predicted-label histogram
    global_e = _entropy(share)  # low: the prompt sends the probing set to one label
    local_e = _entropy(probs).mean()  # low: confident on every probing input
    return float(global_e), float(local_e)


def top_by_score(scores: object, top: int) -> NDArray[np.int64]:
    """Indices of the ``top`` highest scores in each row (ties to the lower index).

    Parameters
    ----------
    scores : array, shape (n_sets, n_candidates)
        Finite scores, such as the GlobalE of every permutation of each demonstration set.
    top : int
        How many to keep, ``1 <= top <= n_candidates``.

    Returns
    -------
    numpy.ndarray of int, shape (n_sets, top)
        Column indices, best first.
    """
    s = _check_matrix(scores, "scores")
    top = int_in_range(top, "top", 1, s.shape[1])
    return np.argsort(-s, axis=1, kind="stable")[:, :top]


@dataclass(frozen=True)
class OrderResult:
    """Per-permutation results of :func:`simulate_order_sensitivity`.

    Attributes
    ----------
    permutations : numpy.ndarray of int, shape (n_perms, n_shots)
        Every ordering of the demonstrations, as positions into the drawn set.
    accuracy, accuracy_calibrated : numpy.ndarray, shape (n_sets, n_perms)
        Test accuracy of each ordering of each demonstration set, raw and after
        contextual calibration.
    global_entropy, local_entropy : numpy.ndarray, shape (n_sets, n_perms)
        Lu et al.'s GlobalE and LocalE of each ordering on the unlabeled probing set.
    demo_labels : numpy.ndarray of int, shape (n_sets, n_shots)
        The drawn demonstrations' labels (in drawn order).
    """

    permutations: NDArray[np.int64]
    accuracy: NDArray[np.float64]
    accuracy_calibrated: NDArray[np.float64]
    global_entropy: NDArray[np.float64]
    local_entropy: NDArray[np.float64]
    demo_labels: NDArray[np.int64]


def simulate_order_sensitivity(
    clean_logits: object,
    true_labels: object,
    probe_logits: object,
    *,
    n_sets: int,
    n_shots: int,
    majority: float,
    recency: float,
    decay: float,
    token_prior: object,
    lean_scale: float,
    cf_noise: float,
    rng: np.random.Generator,
) -> OrderResult:
    """Every ordering of random demonstration sets, scored with and without labels.

    For each of ``n_sets`` sets, ``n_shots`` demonstrations are drawn: labels uniform,
    content leans Gaussian with standard deviation ``lean_scale``. Every permutation of
    the set gives a bias :func:`order_bias_logits`; the model's probabilities are
    ``softmax(clean + bias)``. Each permutation gets its test accuracy, its accuracy
    after contextual calibration (the content-free input's own logits are Gaussian with
    standard deviation ``cf_noise``, drawn once per set: the same "N/A" string in every
    ordering), and GlobalE and LocalE (:func:`prediction_entropies`) on the probing
    inputs ``probe_logits``, whose labels are never used.

    Parameters
    ----------
    clean_logits : array, shape (m, n_labels)
        Evidence of each test input, finite; ``n_labels >= 2``.
    true_labels : array of int, shape (m,)
        Correct labels of the test inputs.
    probe_logits : array, shape (m_probe, n_labels)
        Evidence of the unlabeled probing inputs.
    n_sets : int
        Demonstration sets, ``1 <= n_sets <= 10000``.
    n_shots : int
        Demonstrations per set, ``1 <= n_shots <= 6`` (so at most 720 orderings).
    majority, recency, decay, token_prior
        As in :func:`order_bias_logits`.
    lean_scale, cf_noise : float
        Standard deviations, each in ``[0, 10]`` (logit units).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    OrderResult
    """
    clean, y = _check_classified(clean_logits, true_labels)
    m, n_labels = clean.shape
    probe = _check_matrix(probe_logits, "probe_logits", cols=n_labels)
    n_sets = int_in_range(n_sets, "n_sets", 1, 10_000)
    n_shots = int_in_range(n_shots, "n_shots", 1, 6)
    strengths = [_check_strength(majority, "majority"), _check_strength(recency, "recency")]
    gamma = _check_decay(decay)
    log_prior = np.log(_check_prior(token_prior, n_labels))
    sigmas = []
    for value, name in [(lean_scale, "lean_scale"), (cf_noise, "cf_noise")]:
        v = real_scalar(value, name)
        if not (0.0 <= v <= 10.0):
            raise ValueError(f"{name} must lie in [0, 10] (logit units); got {v!r}")
        sigmas.append(v)
    rng = generator(rng)
    perms = np.array(list(itertools.permutations(range(n_shots))), dtype=np.int64)
    out = np.zeros((4, n_sets, len(perms)))
    labels = rng.integers(n_labels, size=(n_sets, n_shots))
    for s in range(n_sets):
        onehot = np.eye(n_labels)[labels[s]]
        lean = rng.normal(0.0, sigmas[0], (n_shots, n_labels))
        cf_clean = rng.normal(0.0, sigmas[1], n_labels)
        bias = np.array(
            [_order_bias_logits(onehot[p], lean[p], *strengths, gamma, log_prior) for p in perms]
        )  # (n_perms, n_labels): one bias per ordering
        probs = softmax(clean[None] + bias[:, None], axis=2)  # (n_perms, m, n_labels)
        p_cf = softmax(cf_clean + bias, axis=1)  # the content-free input under each ordering
        calibrated = probs / p_cf[:, None]  # W p with W = diag(p_cf)^-1; argmax needs no renormalising
        out[0, s] = np.mean(probs.argmax(axis=2) == y, axis=1)
        out[1, s] = np.mean(calibrated.argmax(axis=2) == y, axis=1)
        probe_probs = softmax(probe[None] + bias[:, None], axis=2)
        out[2:, s] = np.array([_prediction_entropies(pp) for pp in probe_probs]).T
    return OrderResult(perms, out[0], out[1], out[2], out[3], labels)


def _check_ordered_labels(demo_labels: object, lean: NDArray[np.float64]) -> NDArray[np.int64]:
    n_labels = lean.shape[1]
    if n_labels < 2:
        raise ValueError(f"demo_lean must have at least 2 columns (labels); got {n_labels}")
    y = _labels(demo_labels, "demo_labels", n_labels)
    if not (1 <= y.size <= 64) or lean.shape[0] != y.size:
        raise ValueError(
            f"demo_labels must hold 1 to 64 labels and demo_lean one row per label; "
            f"got {y.size} labels and {lean.shape[0]} rows"
        )
    return y


def _check_strength(value: object, name: str) -> float:
    v = real_scalar(value, name)
    if not (0.0 <= v <= 50.0):
        raise ValueError(f"{name} must lie in [0, 50] (logit units); got {v!r}")
    return v


def _check_decay(decay: object) -> float:
    gamma = real_scalar(decay, "decay")
    if not (0.0 <= gamma <= 1.0):
        raise ValueError(f"decay must lie in [0, 1]; got {gamma!r}")
    return gamma


def _check_prior(token_prior: object, n_labels: int) -> NDArray[np.float64]:
    prior = _distribution(token_prior, "token_prior")
    if prior.size != n_labels or np.any(prior <= 0):
        raise ValueError(
            f"token_prior must hold {n_labels} positive probabilities; got {token_prior!r}"
        )
    return prior


# ------------------------------------------------------------------------------------
# Token cost of prompting strategies
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenCost:
    """Tokens one question costs under a prompting strategy.

    Attributes
    ----------
    input_tokens : int
        Tokens the model reads (the prompt), counted once per question.
    output_tokens : int
        Tokens the model generates, over all samples.
    """

    input_tokens: int
    output_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def price(self, per_million_input: float, per_million_output: float) -> float:
        """Cost in currency units, given prices per million input and output tokens."""
        a = real_scalar(per_million_input, "per_million_input")
        b = real_scalar(per_million_output, "per_million_output")
        if not (np.isfinite(a) and np.isfinite(b) and a >= 0 and b >= 0):
            raise ValueError(
                f"prices must be finite and >= 0 (allowed range: 0 <= price < inf); got {a!r}, {b!r}"
            )
        return (self.input_tokens * a + self.output_tokens * b) / 1e6


def token_cost(
    strategy: str,
    *,
    question_tokens: int,
    answer_tokens: int,
    instruction_tokens: int = 0,
    n_shots: int = 0,
    demo_tokens: int = 0,
    rationale_tokens: int = 0,
    trigger_tokens: int = 6,
    extraction_tokens: int = 6,
    k_samples: int = 1,
    share_prompt: bool = True,
) -> TokenCost:
    """Input and output tokens for one question under a prompting strategy.

    With ``I`` instruction tokens, ``Q`` question tokens, ``A`` answer tokens, ``n`` shots
    of ``D`` tokens each (question plus answer) and rationales of ``R`` tokens:

    * ``"zero-shot"``: input ``I + Q``; output ``A``.
    * ``"few-shot"``: input ``I + n D + Q``; output ``A``.
    * ``"zero-shot CoT"``: two calls (Kojima et al. 2022). The first reads ``I + Q + T``
      (a trigger such as "Let's think step by step" of ``T`` tokens) and writes the
      rationale; the second re-reads all of that plus an answer-extraction phrase of ``E``
      tokens ("Therefore, the answer is") and writes the answer. Input
      ``2 (I + Q + T) + R + E``; output ``R + A``.
    * ``"few-shot CoT"``: input ``I + n (D + R) + Q`` (every demonstration carries its
      rationale); output ``R + A``.
    * ``"self-consistency"``: the few-shot CoT prompt, sampled ``k`` times; output
      ``k (R + A)``. The prompt is read once when ``share_prompt`` (samples share the
      prompt's cache) and ``k`` times otherwise.

    Every count is an integer ``>= 0`` except ``question_tokens`` and ``answer_tokens``
    (``>= 1``) and ``k_samples`` (``>= 1``; only self-consistency may use ``k > 1``).

    Returns
    -------
    TokenCost
    """
    if not isinstance(strategy, str):
        raise TypeError(f"strategy must be a string; got {type(strategy).__name__}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}; got {strategy!r}")
    q = positive_int(question_tokens, "question_tokens")
    a = positive_int(answer_tokens, "answer_tokens")
    i = nonnegative_int(instruction_tokens, "instruction_tokens")
    n = nonnegative_int(n_shots, "n_shots")
    d = nonnegative_int(demo_tokens, "demo_tokens")
    r = nonnegative_int(rationale_tokens, "rationale_tokens")
    t = nonnegative_int(trigger_tokens, "trigger_tokens")
    e = nonnegative_int(extraction_tokens, "extraction_tokens")
    k = positive_int(k_samples, "k_samples")
    if not isinstance(share_prompt, (bool, np.bool_)):
        raise TypeError(f"share_prompt must be True or False; got {type(share_prompt).__name__}")
    if k > 1 and strategy != "self-consistency":
        raise ValueError(f"k_samples must be 1 unless strategy is 'self-consistency'; got {k}")
    if strategy == "zero-shot":
        return TokenCost(i + q, a)
    if strategy == "few-shot":
        return TokenCost(i + n * d + q, a)
    if strategy == "zero-shot CoT":
        first_call = i + q + t  # reasoning call: instruction, question, trigger
        return TokenCost(first_call + (first_call + r + e), r + a)  # extraction call re-reads it all
    prompt = i + n * (d + r) + q
    if strategy == "few-shot CoT":
        return TokenCost(prompt, r + a)
    return TokenCost(prompt if share_prompt else k * prompt, k * (r + a))


# ------------------------------------------------------------------------------------
# Toolformer's filter
# ------------------------------------------------------------------------------------


def toolformer_keep(
    loss_plain: object, loss_call: object, loss_with_result: object, threshold: float
) -> NDArray[np.bool_]:
    """Which candidate API calls Toolformer keeps (Schick et al. 2023).

    For each candidate call, three weighted losses of the model on the tokens after the
    call position are compared: with no call at all (``loss_plain``), with the call but
    without its result (``loss_call``), and with the call and its result
    (``loss_with_result``). With ``L+ = loss_with_result`` and
    ``L- = min(loss_plain, loss_call)``, the call is kept when ``L- - L+ >= threshold``:
    the result, not just the act of calling, must make the continuation easier.

    Parameters
    ----------
    loss_plain, loss_call, loss_with_result : array_like
        Non-negative finite losses (nats), broadcastable to one shape.
    threshold : float
        Required improvement, finite and ``>= 0``.

    Returns
    -------
    numpy.ndarray of bool
    """
    plain = _check_loss(loss_plain, "loss_plain")
    call = _check_loss(loss_call, "loss_call")
    plus = _check_loss(loss_with_result, "loss_with_result")
    tau = real_scalar(threshold, "threshold")
    if not (np.isfinite(tau) and tau >= 0):
        raise ValueError(f"threshold must be finite and >= 0; got {tau!r}")
    plain, call, plus = _check_broadcastable_losses(plain, call, plus)
    return _toolformer_keep(plain, call, plus, tau)


def _toolformer_keep(
    loss_plain: NDArray[np.float64],
    loss_call: NDArray[np.float64],
    loss_with_result: NDArray[np.float64],
    threshold: float,
) -> NDArray[np.bool_]:
    """Keep a call when its result lowers the loss by at least ``threshold``."""
    # L-: the better of making no call and making the call without seeing its result
    loss_minus = np.minimum(loss_plain, loss_call)
    # L+ = loss_with_result: the result, not just the call, must help by the threshold
    return loss_minus - loss_with_result >= threshold


def _check_loss(value: object, name: str) -> NDArray[np.float64]:
    arr = finite_array(value, name)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 (a loss in nats); got {value!r}")
    return arr


def _check_broadcastable_losses(
    plain: NDArray[np.float64], call: NDArray[np.float64], plus: NDArray[np.float64]
) -> list[NDArray[np.float64]]:
    try:
        return np.broadcast_arrays(plain, call, plus)
    except ValueError:
        raise ValueError("loss_plain, loss_call and loss_with_result must have broadcastable shapes") from None
