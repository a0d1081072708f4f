"""Adversarial attacks on a small text classifier: the numerical core of the adversarial-attacks chapter.

The victim is deliberately tiny and fully explicit, so every step of an attack can be checked:

* a synthetic vocabulary of *meaning groups*: each group holds a few synonyms that mean the same
  thing (same sentiment) but occur with very different frequencies, like "good", "fine",
  "decent" and "commendable";
* documents drawn from a class-conditional model (positive documents favour positive groups), so
  the choice *between* synonyms carries no information about the label;
* a bag-of-words logistic regression trained with L2 regularisation (SciPy's L-BFGS-B).

On that victim the module implements a gradient-guided synonym-substitution attack in the spirit
of HotFlip (Ebrahimi et al. 2018) and of the candidate ranking in greedy coordinate gradient
(Zou et al. 2023), a random-substitution baseline, a unigram perplexity filter as a defence (after
Jain et al. 2023), adversarial training as the saddle-point problem of Madry et al. (2018), and a
simulated red-teaming search over attack attributes (after Perez et al. 2022).

Every public function checks its input and raises ``TypeError`` or ``ValueError`` naming the
parameter and the allowed range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from lilbook._checks import finite_array, generator, int_in_range, positive_int, positive_scalar, probabilities

__all__ = [
    "AttackResult",
    "LogisticBoW",
    "SynonymVocabulary",
    "UnigramFilter",
    "adversarial_training",
    "attack_success_curve",
    "bag_of_words",
    "fit_unigram_filter",
    "hotflip_attack",
    "make_vocabulary",
    "random_substitution_attack",
    "red_team_search",
    "sample_documents",
    "substitution_gains",
    "train_logistic_bow",
]


# --------------------------------------------------------------------------------------
# The synthetic vocabulary and documents
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynonymVocabulary:
    """Tokens arranged in meaning groups of synonyms.

    Token ``t`` belongs to group ``t // group_size``; within a group, synonym ``j`` is drawn with
    probability ``synonym_freq[j]`` (so synonym 0 is the common word and the last one the rarest).
    ``sentiment[g]`` is +1 for a positive group, -1 for a negative one and 0 for a neutral one.
    """

    sentiment: NDArray[np.int64]
    synonym_freq: NDArray[np.float64]

    @property
    def n_groups(self) -> int:
        return int(self.sentiment.size)

    @property
    def group_size(self) -> int:
        return int(self.synonym_freq.size)

    @property
    def n_tokens(self) -> int:
        return self.n_groups * self.group_size

    def group_of(self, tokens: NDArray[np.int64]) -> NDArray[np.int64]:
        """The meaning group of each token."""
        return np.asarray(tokens) // self.group_size

    def synonyms(self, token: int) -> NDArray[np.int64]:
        """All tokens of ``token``'s group, ``token`` itself included."""
        start = (int(token) // self.group_size) * self.group_size
        return np.arange(start, start + self.group_size)

    def canonical(self, tokens: NDArray[np.int64]) -> NDArray[np.int64]:
        """Each token replaced by the most common synonym of its group."""
        return self.group_of(tokens) * self.group_size


def make_vocabulary(
    n_groups: int = 60, synonym_freq: object = (0.75, 0.18, 0.05, 0.02), polar_share: float = 0.5
) -> SynonymVocabulary:
    """A vocabulary of ``n_groups`` meaning groups: ``polar_share`` of them sentiment-bearing.

    The polar groups alternate positive and negative (so there are as many of each, give or take
    one); the rest are neutral. ``synonym_freq`` gives the within-group frequencies (it must sum
    to 1 and have at least two entries).
    """
    n_groups = int_in_range(n_groups, "n_groups", 2, None)
    freq = probabilities(synonym_freq, "synonym_freq")
    if freq.ndim != 1 or freq.size < 2:
        raise ValueError(f"synonym_freq must be a 1-D sequence of at least 2 frequencies; got shape {freq.shape}")
    if not np.isclose(freq.sum(), 1.0):
        raise ValueError(f"synonym_freq must sum to 1; got {freq.sum():.6g}")
    share = float(probabilities(polar_share, "polar_share"))
    n_polar = int(round(share * n_groups))
    sentiment = np.zeros(n_groups, dtype=np.int64)
    sentiment[:n_polar] = np.where(np.arange(n_polar) % 2 == 0, 1, -1)
    return SynonymVocabulary(sentiment=sentiment, synonym_freq=freq)


def sample_documents(
    vocab: SynonymVocabulary, n_docs: int, length: int, rng: np.random.Generator, *, polarity: float = 3.0
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Draw ``n_docs`` documents of ``length`` tokens and their labels (half 0, half 1, shuffled).

    A document of class ``y`` picks each token's group with probability proportional to
    ``exp(polarity * s * sentiment[g])`` with ``s = +1`` for ``y = 1`` and ``-1`` for ``y = 0``,
    then a synonym within the group by ``vocab.synonym_freq``, independently of the class.
    Returns ``(tokens, labels)`` with ``tokens`` of shape ``(n_docs, length)``.
    """
    _check_vocab(vocab)
    n_docs = positive_int(n_docs, "n_docs")
    length = positive_int(length, "length")
    polarity = float(finite_array(polarity, "polarity"))
    rng = generator(rng)
    labels = rng.permutation(np.arange(n_docs) % 2)
    sign = np.where(labels == 1, 1.0, -1.0)
    tokens = np.empty((n_docs, length), dtype=np.int64)
    for cls_sign in (1.0, -1.0):
        rows = np.flatnonzero(sign == cls_sign)
        weights = np.exp(polarity * cls_sign * vocab.sentiment)
        groups = rng.choice(vocab.n_groups, size=(rows.size, length), p=weights / weights.sum())
        synonym = rng.choice(vocab.group_size, size=(rows.size, length), p=vocab.synonym_freq)
        tokens[rows] = groups * vocab.group_size + synonym
    return tokens, labels


def _check_vocab(vocab: object) -> SynonymVocabulary:
    if not isinstance(vocab, SynonymVocabulary):
        raise TypeError(f"vocab must be a SynonymVocabulary (see make_vocabulary); got {type(vocab).__name__}")
    return vocab


def _check_tokens(tokens: object, n_tokens: int, name: str = "tokens") -> NDArray[np.int64]:
    arr = np.asarray(tokens)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of token ids; got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if arr.min() < 0 or arr.max() >= n_tokens:
        raise ValueError(f"{name} must hold token ids in [0, {n_tokens - 1}]; got values in [{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


def bag_of_words(tokens: object, n_tokens: int) -> NDArray[np.float64]:
    """Token frequencies per document: row ``d`` is the mean of the one-hot vectors of document ``d``.

    ``tokens`` has shape ``(n_docs, length)`` (or ``(length,)`` for one document).
    """
    n_tokens = positive_int(n_tokens, "n_tokens")
    docs = _check_tokens(tokens, n_tokens)
    docs2 = np.atleast_2d(docs)
    counts = np.zeros((docs2.shape[0], n_tokens))
    np.add.at(counts, (np.repeat(np.arange(docs2.shape[0]), docs2.shape[1]), docs2.ravel()), 1.0)
    counts /= docs2.shape[1]
    return counts[0] if docs.ndim == 1 else counts


# --------------------------------------------------------------------------------------
# The victim: bag-of-words logistic regression
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogisticBoW:
    """``p(y = 1 | x) = sigmoid(weights . bow(x) + bias)`` over token frequencies ``bow(x)``."""

    weights: NDArray[np.float64]
    bias: float

    @property
    def n_tokens(self) -> int:
        return int(self.weights.size)

    def logits(self, tokens: object) -> NDArray[np.float64]:
        """``weights . bow(x) + bias``, computed as the mean weight of the document's tokens."""
        return self.weights[_check_tokens(tokens, self.n_tokens)].mean(axis=-1) + self.bias

    def predict_proba(self, tokens: object) -> NDArray[np.float64]:
        """Probability of class 1 for each document."""
        return expit(self.logits(tokens))

    def predict(self, tokens: object) -> NDArray[np.int64]:
        return (self.logits(tokens) > 0).astype(np.int64)


def train_logistic_bow(tokens: object, labels: object, n_tokens: int, *, l2: float = 1e-3) -> LogisticBoW:
    """Fit a bag-of-words logistic regression by minimising mean log loss + ``l2 * |w|^2 / 2``."""
    n_tokens = positive_int(n_tokens, "n_tokens")
    docs = _check_tokens(tokens, n_tokens)
    if docs.ndim != 2:
        raise ValueError(f"tokens must have shape (n_docs, length); got {docs.shape}")
    y = _labels(labels, docs.shape[0])
    l2 = positive_scalar(l2, "l2")
    x = bag_of_words(docs, n_tokens)
    sign = 2.0 * y - 1.0

    def objective(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        w, b = theta[:-1], theta[-1]
        margin = sign * (x @ w + b)
        loss = -np.mean(log_expit(margin)) + 0.5 * l2 * w @ w
        coef = -sign * expit(-margin) / y.size  # d loss / d logit, per document
        grad = np.append(x.T @ coef + l2 * w, coef.sum())
        return float(loss), grad

    res = minimize(objective, np.zeros(n_tokens + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000, "gtol": 1e-9})
    return LogisticBoW(weights=res.x[:-1].copy(), bias=float(res.x[-1]))


def _labels(labels: object, n: int, name: str = "labels") -> NDArray[np.int64]:
    arr = np.asarray(labels)
    if arr.dtype.kind not in "iub":
        raise TypeError(f"{name} must be an integer array of 0/1 labels; got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one label per document; got {arr.shape}")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold only 0 and 1")
    return arr.astype(np.int64)


def _check_model(model: object) -> LogisticBoW:
    if not isinstance(model, LogisticBoW):
        raise TypeError(f"model must be a LogisticBoW (see train_logistic_bow); got {type(model).__name__}")
    return model


# --------------------------------------------------------------------------------------
# Attacks
# --------------------------------------------------------------------------------------


def substitution_gains(model: LogisticBoW, doc: object, label: int) -> NDArray[np.float64]:
    """First-order increase of the loss for every single-token swap, as in HotFlip.

    The loss is ``-log p(label | doc)``. Writing the document as one-hot rows ``e_i``, the
    gradient with respect to ``e_i`` is ``g_i = (p1 - label) * weights / length`` (with ``p1`` the
    probability of class 1), and swapping token ``a`` for ``b`` at position ``i`` changes the loss by
    about ``g_i[b] - g_i[a]``. Returns that estimate as an array of shape ``(length, n_tokens)``.
    For this linear model the estimate ranks swaps exactly, because the logit moves by exactly
    ``(weights[b] - weights[a]) / length``.
    """
    model = _check_model(model)
    doc = _check_tokens(doc, model.n_tokens, "doc")
    if doc.ndim != 1:
        raise ValueError(f"doc must be one document, a 1-D array of token ids; got shape {doc.shape}")
    label = int_in_range(label, "label", 0, 1)
    return _substitution_gains(model, doc, label)


def _substitution_gains(model: LogisticBoW, doc: NDArray[np.int64], label: int) -> NDArray[np.float64]:
    """``gains[i, b]``: first-order loss increase from putting token ``b`` at position ``i``."""
    p1 = float(model.predict_proba(doc))
    grad = (p1 - label) * model.weights / doc.size  # the same gradient at every position
    return grad[None, :] - grad[doc][:, None]


@dataclass(frozen=True, eq=False)
class AttackResult:
    """An attack on one document: the edited document, the edits made and whether it succeeded."""

    doc: NDArray[np.int64]
    edits: int
    success: bool


def hotflip_attack(
    model: LogisticBoW, vocab: SynonymVocabulary, doc: object, label: int, max_edits: int, *, allowed: object = None
) -> AttackResult:
    """Greedy gradient-guided synonym substitution.

    At each step, among all swaps of a not-yet-edited position to another synonym of its token,
    take the one with the largest first-order loss increase (:func:`substitution_gains`); stop as
    soon as the prediction differs from ``label`` or after ``max_edits`` edits. ``allowed``, if
    given, is a function ``allowed(candidate_doc) -> bool`` that an edit must satisfy (for an
    attacker who knows the defence); rejected swaps are skipped.
    """
    model, vocab, doc, label, max_edits = _attack_args(model, vocab, doc, label, max_edits)
    if allowed is not None and not callable(allowed):
        raise TypeError(f"allowed must be None or a function of the candidate document; got {type(allowed).__name__}")
    # the candidate swaps: every synonym of the token at each position, shape (length, group_size)
    options = vocab.group_of(doc)[:, None] * vocab.group_size + np.arange(vocab.group_size)
    rows = np.arange(doc.size)[:, None]
    edited = np.zeros(doc.size, dtype=bool)
    for n_edits in range(max_edits + 1):
        if model.predict(doc)[()] != label:
            return AttackResult(doc, n_edits, True)
        if n_edits == max_edits:
            break
        gains = substitution_gains(model, doc, label)[rows, options]
        gains[options == doc[:, None]] = -np.inf
        gains[edited] = -np.inf
        for flat in np.argsort(gains, axis=None)[::-1]:
            pos, j = divmod(int(flat), vocab.group_size)
            if not np.isfinite(gains[pos, j]):
                return AttackResult(doc, n_edits, False)
            candidate = doc.copy()
            candidate[pos] = options[pos, j]
            if allowed is None or allowed(candidate):
                doc, edited[pos] = candidate, True
                break
        else:
            return AttackResult(doc, n_edits, False)
    return AttackResult(doc, max_edits, False)


def random_substitution_attack(
    model: LogisticBoW, vocab: SynonymVocabulary, doc: object, label: int, max_edits: int, rng: np.random.Generator
) -> AttackResult:
    """The baseline: swap random positions to random other synonyms until the prediction flips."""
    model, vocab, doc, label, max_edits = _attack_args(model, vocab, doc, label, max_edits)
    rng = generator(rng)
    order = rng.permutation(doc.size)
    for n_edits in range(max_edits + 1):
        if model.predict(doc)[()] != label:
            return AttackResult(doc, n_edits, True)
        if n_edits == max_edits or n_edits == doc.size:
            break
        pos = order[n_edits]
        others = vocab.synonyms(doc[pos])
        others = others[others != doc[pos]]
        doc = doc.copy()
        doc[pos] = rng.choice(others)
    return AttackResult(doc, n_edits, False)


def _attack_args(model, vocab, doc, label, max_edits):
    model = _check_model(model)
    vocab = _check_vocab(vocab)
    if vocab.n_tokens != model.n_tokens:
        raise ValueError(f"vocab has {vocab.n_tokens} tokens but model has {model.n_tokens} weights; they must match")
    doc = _check_tokens(doc, model.n_tokens, "doc")
    if doc.ndim != 1:
        raise ValueError(f"doc must be one document, a 1-D array of token ids; got shape {doc.shape}")
    label = int_in_range(label, "label", 0, 1)
    max_edits = int_in_range(max_edits, "max_edits", 0, None)
    return model, vocab, doc.copy(), label, max_edits


def attack_success_curve(results: list[AttackResult], max_edits: int) -> NDArray[np.float64]:
    """Share of attacks that succeeded within ``k`` edits, for ``k = 0 .. max_edits``."""
    max_edits = int_in_range(max_edits, "max_edits", 0, None)
    if not isinstance(results, (list, tuple)) or not results or not all(isinstance(r, AttackResult) for r in results):
        raise TypeError("results must be a non-empty list of AttackResult")
    edits = np.array([r.edits if r.success else max_edits + 1 for r in results])
    return np.array([(edits <= k).mean() for k in range(max_edits + 1)])


# --------------------------------------------------------------------------------------
# Defences
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnigramFilter:
    """A perplexity filter: reject a document whose unigram perplexity exceeds ``threshold``."""

    log_prob: NDArray[np.float64]
    threshold: float

    def perplexity(self, tokens: object) -> NDArray[np.float64]:
        """``exp(-mean log p(token))`` per document under the unigram model."""
        docs = np.atleast_2d(_check_tokens(tokens, self.log_prob.size))
        return np.exp(-self.log_prob[docs].mean(axis=1))

    def accepts(self, tokens: object) -> NDArray[np.bool_]:
        return self.perplexity(tokens) <= self.threshold


def fit_unigram_filter(
    tokens: object, n_tokens: int, *, false_positive_rate: float = 0.05, smoothing: float = 0.5
) -> UnigramFilter:
    """Fit unigram log-probabilities (add-``smoothing``) on clean documents and set the threshold.

    The threshold is the ``1 - false_positive_rate`` quantile of the clean documents' perplexities,
    so that share of the clean (training) documents would be rejected.
    """
    n_tokens = positive_int(n_tokens, "n_tokens")
    docs = _check_tokens(tokens, n_tokens)
    if docs.ndim != 2:
        raise ValueError(f"tokens must have shape (n_docs, length); got {docs.shape}")
    fpr = float(probabilities(false_positive_rate, "false_positive_rate"))
    if fpr >= 1.0:
        raise ValueError(f"false_positive_rate must be < 1 (allowed range: 0 <= false_positive_rate < 1); got {fpr}")
    smoothing = positive_scalar(smoothing, "smoothing")
    counts = np.bincount(docs.ravel(), minlength=n_tokens) + smoothing
    log_prob = np.log(counts / counts.sum())
    ppl = np.exp(-log_prob[docs].mean(axis=1))
    return UnigramFilter(log_prob=log_prob, threshold=float(np.quantile(ppl, 1.0 - fpr)))


def adversarial_training(
    vocab: SynonymVocabulary,
    tokens: object,
    labels: object,
    *,
    max_edits: int = 3,
    rounds: int = 3,
    l2: float = 1e-3,
) -> list[LogisticBoW]:
    """Approximate the saddle point ``min_theta E[max_delta loss(x + delta, y; theta)]``.

    Round 0 trains on the clean data. Each later round attacks every training document with
    :func:`hotflip_attack` (the inner maximisation, ``max_edits`` synonym swaps at most), adds the
    successful adversarial documents with their true labels to the training set and retrains.
    Returns the model of every round (``rounds + 1`` models).
    """
    vocab = _check_vocab(vocab)
    docs = _check_tokens(tokens, vocab.n_tokens)
    if docs.ndim != 2:
        raise ValueError(f"tokens must have shape (n_docs, length); got {docs.shape}")
    y = _labels(labels, docs.shape[0])
    max_edits = positive_int(max_edits, "max_edits")
    rounds = int_in_range(rounds, "rounds", 0, None)
    models = [train_logistic_bow(docs, y, vocab.n_tokens, l2=l2)]
    train_x, train_y = docs, y
    for _ in range(rounds):
        attacks = [hotflip_attack(models[-1], vocab, d, int(t), max_edits) for d, t in zip(docs, y)]
        won = [i for i, a in enumerate(attacks) if a.success and a.edits > 0]
        if won:
            train_x = np.vstack([train_x, np.stack([attacks[i].doc for i in won])])
            train_y = np.concatenate([train_y, y[won]])
        models.append(train_logistic_bow(train_x, train_y, vocab.n_tokens, l2=l2))
    return models


# --------------------------------------------------------------------------------------
# Red-teaming as search
# --------------------------------------------------------------------------------------


def red_team_search(
    attribute_effects: object,
    base_logit: float,
    rng: np.random.Generator,
    *,
    rounds: int = 20,
    batch: int = 200,
    learning_rate: float = 0.3,
    floor: float = 0.02,
) -> dict[str, NDArray[np.float64]]:
    """Simulate an automated red team that learns which prompt attributes make a target fail.

    A test case is a binary vector of attributes (a role-play frame, an encoding trick, ...).
    The target fails on case ``f`` with probability ``sigmoid(base_logit + attribute_effects . f)``.
    The red team samples each attribute independently with probability ``p_j`` (all 0.5 at
    first); after each round it moves ``p`` toward the mean of the cases that succeeded,
    ``p <- (1 - learning_rate) p + learning_rate * mean(successes)``, clipped to
    ``[floor, 1 - floor]`` (the cross-entropy method). ``learning_rate = 0`` is pure zero-shot
    sampling.

    Returns per-round arrays: ``success_rate`` (share of the batch that made the target fail),
    ``diversity`` (mean pairwise Hamming distance between successful cases, divided by the
    number of attributes; NaN when fewer than two succeeded) and ``unique`` (distinct successful
    cases found so far, cumulative).
    """
    effects = finite_array(attribute_effects, "attribute_effects")
    if effects.ndim != 1:
        raise ValueError(f"attribute_effects must be 1-D, one effect per attribute; got shape {effects.shape}")
    base = float(finite_array(base_logit, "base_logit"))
    rng = generator(rng)
    rounds = positive_int(rounds, "rounds")
    batch = int_in_range(batch, "batch", 2, None)
    lr = float(probabilities(learning_rate, "learning_rate"))
    floor = float(probabilities(floor, "floor"))
    if floor >= 0.5:
        raise ValueError(f"floor must be < 0.5 (allowed range: 0 <= floor < 0.5); got {floor}")
    d = effects.size
    p = np.full(d, 0.5)
    seen: set[bytes] = set()
    success_rate, diversity, unique = np.empty(rounds), np.empty(rounds), np.empty(rounds)
    for r in range(rounds):
        cases = rng.random((batch, d)) < p
        fails = rng.random(batch) < expit(base + cases @ effects)
        wins = cases[fails]
        success_rate[r] = fails.mean()
        if wins.shape[0] >= 2:
            x = wins.astype(float)
            ones = x.sum(axis=0)
            # sum over pairs of Hamming distances = sum over attributes of (#ones * #zeros)
            pair_sum = float(np.sum(ones * (wins.shape[0] - ones)))
            diversity[r] = pair_sum / (wins.shape[0] * (wins.shape[0] - 1) / 2) / d
        else:
            diversity[r] = np.nan
        seen.update(np.packbits(w).tobytes() for w in wins)
        unique[r] = len(seen)
        if wins.shape[0] > 0 and lr > 0:
            p = np.clip((1 - lr) * p + lr * wins.mean(axis=0), floor, 1 - floor)
    return {"success_rate": success_rate, "diversity": diversity, "unique": unique}

