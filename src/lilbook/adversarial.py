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
from scipy.sparse import csr_matrix
from scipy.special import expit, log_expit

from lilbook._checks import finite_array, generator, int_in_range, positive_int, positive_scalar, probabilities
from lilbook.runtime import bincount

__all__ = [
    "AttackResult",
    "LogisticBoW",
    "MLPBoW",
    "SuffixSearch",
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
    "suffix_attack",
    "suffix_success",
    "train_logistic_bow",
    "train_mlp_bow",
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
    vocab: SynonymVocabulary,
    n_docs: int,
    length: int,
    rng: np.random.Generator,
    *,
    polarity: float = 3.0,
    artifact_groups: int = 0,
    artifact_strength: float = 0.0,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Draw ``n_docs`` documents of ``length`` tokens and their labels (half 0, half 1, shuffled).

    A document of class ``y`` picks each token's group with probability proportional to
    ``exp(polarity * s * sentiment[g])`` with ``s = +1`` for ``y = 1`` and ``-1`` for ``y = 0``,
    then a synonym within the group by ``vocab.synonym_freq``, independently of the class.
    Returns ``(tokens, labels)`` with ``tokens`` of shape ``(n_docs, length)``.

    ``artifact_groups`` > 0 gives the corpus a spurious correlation: the last ``artifact_groups``
    groups (neutral in meaning) get the extra factor ``exp(artifact_strength * s)``, so they turn
    up more often in positive documents than in negative ones without carrying any sentiment (a
    dataset artifact, like a director's name in film reviews). The defaults leave them neutral.
    """
    _check_vocab(vocab)
    n_docs = positive_int(n_docs, "n_docs")
    length = positive_int(length, "length")
    polarity = float(finite_array(polarity, "polarity"))
    n_neutral = int(np.sum(vocab.sentiment == 0))
    artifact_groups = int_in_range(artifact_groups, "artifact_groups", 0, n_neutral)
    artifact_strength = float(finite_array(artifact_strength, "artifact_strength"))
    artifact = np.zeros(vocab.n_groups)
    if artifact_groups:
        artifact[vocab.n_groups - artifact_groups :] = artifact_strength
    rng = generator(rng)
    labels = rng.permutation(np.arange(n_docs) % 2)
    sign = np.where(labels == 1, 1.0, -1.0)
    tokens = np.empty((n_docs, length), dtype=np.int64)
    for cls_sign in (1.0, -1.0):
        rows = np.flatnonzero(sign == cls_sign)
        weights = np.exp(cls_sign * (polarity * vocab.sentiment + artifact))
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
    counts = bincount(docs.ravel(), minlength=n_tokens) + smoothing
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
    kl_weight: float = 0.0,
) -> dict[str, NDArray[np.float64]]:
    """Simulate an automated red team that learns which prompt attributes make a target fail.

    A test case is a binary vector of attributes (a role-play frame, an encoding trick, ...).
    The target fails on case ``f`` with probability ``sigmoid(base_logit + attribute_effects . f)``.
    The red team samples each attribute independently with probability ``p_j`` (all 0.5 at
    first); after each round it moves ``p`` toward the mean of the cases that succeeded,
    ``p <- (1 - learning_rate) p + learning_rate * mean(successes)``, clipped to
    ``[floor, 1 - floor]`` (the cross-entropy method). ``learning_rate = 0`` is pure zero-shot
    sampling. ``kl_weight`` in [0, 1] mixes the initial distribution (0.5 for every attribute)
    into the target of each update, ``(1 - kl_weight) * mean(successes) + kl_weight * 0.5``: the
    analogue of the KL penalty towards the initial red-team model in Perez et al.'s RL set-up
    (0, the default, is the plain update; 1 never moves away from zero-shot sampling).

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
    kl = float(probabilities(kl_weight, "kl_weight"))
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
            target = (1 - kl) * wins.mean(axis=0) + kl * 0.5
            p = np.clip((1 - lr) * p + lr * target, floor, 1 - floor)
    return {"success_rate": success_rate, "diversity": diversity, "unique": unique}



# --------------------------------------------------------------------------------------
# A small nonlinear victim over token sequences, and suffix attacks against it
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MLPBoW:
    """A one-hidden-layer network over a token sequence, in plain NumPy.

    The sequence is read as the mean of its one-hot rows (its token frequencies ``bow(x)``);
    ``h = tanh(bow(x) @ w_in + b_in)`` and the logit of class 1 is ``h @ w_out + b_out``. Because
    of the ``tanh`` the effect of a token depends on the rest of the sequence, unlike in
    :class:`LogisticBoW`. Inputs may be token ids ``(n, T)`` or token distributions
    ``(n, T, n_tokens)`` (one-hot rows for real text, soft rows for a relaxed attack).
    """

    w_in: NDArray[np.float64]
    b_in: NDArray[np.float64]
    w_out: NDArray[np.float64]
    b_out: float

    @property
    def n_tokens(self) -> int:
        return int(self.w_in.shape[0])

    def logits(self, tokens: object) -> NDArray[np.float64]:
        """The logit of class 1 for each sequence of token ids (shape ``(n, T)`` or ``(T,)``)."""
        x = _check_tokens(tokens, self.n_tokens)
        hid = np.tanh(self.w_in[np.atleast_2d(x)].mean(axis=1) + self.b_in)
        out = hid @ self.w_out + self.b_out
        return out[0] if x.ndim == 1 else out

    def predict_proba(self, tokens: object) -> NDArray[np.float64]:
        return expit(self.logits(tokens))

    def predict(self, tokens: object) -> NDArray[np.int64]:
        return (self.logits(tokens) > 0).astype(np.int64)

    def loss_and_grad(self, x: NDArray, target: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``-log p(target | x)`` per sequence and its gradient with respect to the input rows.

        ``x`` holds token ids ``(n, T)`` or token distributions ``(n, T, n_tokens)``; the gradient
        has shape ``(n, T, n_tokens)`` (the same row at every position, as the network averages
        the rows before anything else). This is what HotFlip, UAT, AutoPrompt and GCG read their
        candidate tokens from.
        """
        pooled = self.w_in[x].mean(axis=1) if x.ndim == 2 else (x @ self.w_in).mean(axis=1)
        hid = np.tanh(pooled + self.b_in)
        sign = 1.0 if target == 1 else -1.0
        margin = sign * (hid @ self.w_out + self.b_out)
        dpooled = (-sign * expit(-margin))[:, None] * self.w_out * (1.0 - hid**2)
        row = dpooled @ self.w_in.T / x.shape[1]
        return -log_expit(margin), np.repeat(row[:, None, :], x.shape[1], axis=1)


    def suffix_loss(self, prompts: NDArray[np.int64], suffixes: NDArray, target: int) -> NDArray[np.float64]:
        """``-log p(target | [prompt; suffix])`` for every candidate suffix and prompt, shape ``(B, n)``.

        ``prompts`` are token ids ``(n, T)``; ``suffixes`` are token ids ``(B, m)`` or token
        distributions ``(B, m, n_tokens)``. (Unchecked: the attack functions check their input.)
        """
        total = prompts.shape[1] + suffixes.shape[1]
        p_sum = self.w_in[prompts].sum(axis=1)
        s_sum = self.w_in[suffixes].sum(axis=1) if suffixes.ndim == 2 else (suffixes @ self.w_in).sum(axis=1)
        hid = np.tanh((p_sum[None] + s_sum[:, None]) / total + self.b_in)
        sign = 1.0 if target == 1 else -1.0
        return -log_expit(sign * (hid @ self.w_out + self.b_out))

    def suffix_grad(self, prompts: NDArray[np.int64], suffixes: NDArray, target: int) -> NDArray[np.float64]:
        """Gradient of the prompt-averaged suffix loss with respect to each suffix's input rows,
        shape ``(B, m, n_tokens)`` (the same row at every position: the network averages its rows)."""
        total = prompts.shape[1] + suffixes.shape[1]
        p_sum = self.w_in[prompts].sum(axis=1)
        s_sum = self.w_in[suffixes].sum(axis=1) if suffixes.ndim == 2 else (suffixes @ self.w_in).sum(axis=1)
        hid = np.tanh((p_sum[None] + s_sum[:, None]) / total + self.b_in)
        sign = 1.0 if target == 1 else -1.0
        margin = sign * (hid @ self.w_out + self.b_out)
        dpooled = (-sign * expit(-margin))[..., None] * self.w_out * (1.0 - hid**2)
        row = dpooled.mean(axis=1) @ self.w_in.T / total
        return np.repeat(row[:, None, :], suffixes.shape[1], axis=1)


def train_mlp_bow(
    tokens: object,
    labels: object,
    n_tokens: int,
    rng: np.random.Generator,
    *,
    hidden: int = 16,
    steps: int = 120,
    learning_rate: float = 0.08,
    l2: float = 1e-3,
) -> MLPBoW:
    """Train an :class:`MLPBoW` by full-batch Adam on mean log loss + ``l2 * |weights|^2 / 2``.

    ``rng`` draws the initial weights, so two generators give two independently initialised
    victims (train them on independent samples as well for fully independent victims).
    """
    n_tokens = positive_int(n_tokens, "n_tokens")
    docs = _check_tokens(tokens, n_tokens)
    if docs.ndim != 2:
        raise ValueError(f"tokens must have shape (n_docs, length); got {docs.shape}")
    y = _labels(labels, docs.shape[0])
    rng = generator(rng)
    hidden, steps = positive_int(hidden, "hidden"), positive_int(steps, "steps")
    lr, l2 = positive_scalar(learning_rate, "learning_rate"), positive_scalar(l2, "l2")
    freq = csr_matrix(bag_of_words(docs, n_tokens))  # sparse: a document holds few distinct tokens
    return _train_mlp_bow(freq, y, rng, hidden, steps, lr, l2)


def _train_mlp_bow(freq, y, rng, hidden, steps, lr, l2) -> MLPBoW:
    n, v = freq.shape
    params = [rng.normal(0, 0.1, (v, hidden)), np.zeros(hidden), rng.normal(0, 1 / np.sqrt(hidden), hidden), np.zeros(1)]
    mom = [np.zeros_like(p) for p in params]
    sq = [np.zeros_like(p) for p in params]
    sign = 2.0 * y - 1.0
    for step in range(1, steps + 1):
        w_in, b_in, w_out, b_out = params
        hid = np.tanh(freq @ w_in + b_in)
        dlogit = -sign * expit(-sign * (hid @ w_out + b_out[0])) / n
        dpre = dlogit[:, None] * w_out * (1.0 - hid**2)
        grads = [freq.T @ dpre + l2 * w_in, dpre.sum(axis=0), hid.T @ dlogit + l2 * w_out, np.array([dlogit.sum()])]
        for i, g in enumerate(grads):
            mom[i] = 0.9 * mom[i] + 0.1 * g
            sq[i] = 0.999 * sq[i] + 0.001 * g**2
            params[i] = params[i] - lr * (mom[i] / (1 - 0.9**step)) / (np.sqrt(sq[i] / (1 - 0.999**step)) + 1e-8)
    return MLPBoW(params[0], params[1], params[2], float(params[3][0]))


# ---- searching for an adversarial suffix ---------------------------------------------------


@dataclass(frozen=True, eq=False)
class SuffixSearch:
    """The outcome of a suffix search: the best suffix found, and the best loss after each
    iteration against the number of model evaluations spent so far (a gradient counts as one
    evaluation, each exactly scored candidate as one)."""

    suffix: NDArray[np.int64]
    loss: float
    evaluations: NDArray[np.int64]
    best_loss: NDArray[np.float64]


def _gcg(loss_fn, grad_fn, suffix, allowed, n_iter, top_k, batch, rng):
    """Greedy coordinate gradient (Zou et al. 2023): shortlist by gradient, then score exactly."""
    best, best_loss = suffix.copy(), float(loss_fn(suffix[None])[0])
    evals, trace, spent = [], [], 1
    for _ in range(n_iter):
        grad = grad_fn(suffix[None])[0][:, allowed]  # (m, |allowed|): d loss / d one-hot
        top = allowed[np.argsort(grad, axis=1)[:, :top_k]]  # k most loss-reducing tokens per slot
        pos = rng.integers(0, suffix.size, batch)  # B candidates, each one random single swap
        cands = np.repeat(suffix[None], batch, axis=0)
        cands[np.arange(batch), pos] = top[pos, rng.integers(0, top_k, batch)]
        losses = loss_fn(cands)  # the exact (expensive) step
        suffix = cands[np.argmin(losses)]  # move to the best candidate, even if worse
        spent += 1 + batch
        if losses.min() < best_loss:
            best, best_loss = suffix.copy(), float(losses.min())
        evals.append(spent)
        trace.append(best_loss)
    return best, best_loss, np.array(evals), np.array(trace)


def _autoprompt(loss_fn, grad_fn, suffix, allowed, n_iter, top_k, batch, rng):
    """AutoPrompt's step (Shin et al. 2020): one slot per step, its top candidates all scored."""
    loss = float(loss_fn(suffix[None])[0])
    evals, trace, spent = [], [], 1
    for _ in range(n_iter):
        pos = rng.integers(0, suffix.size)
        grad = grad_fn(suffix[None])[0, pos, allowed]
        cands = np.repeat(suffix[None], batch, axis=0)
        cands[:, pos] = allowed[np.argsort(grad)[:batch]]
        losses = loss_fn(cands)
        spent += 1 + batch
        if losses.min() < loss:  # keep the swap only if it helps
            suffix, loss = cands[np.argmin(losses)], float(losses.min())
        evals.append(spent)
        trace.append(loss)
    return suffix, loss, np.array(evals), np.array(trace)


def _random_search(loss_fn, suffix, allowed, n_iter, batch, rng):
    """The gradient-free baseline: B random single swaps per step, keep the best if it helps."""
    loss = float(loss_fn(suffix[None])[0])
    evals, trace, spent = [], [], 1
    for _ in range(n_iter):
        cands = np.repeat(suffix[None], batch, axis=0)
        cands[np.arange(batch), rng.integers(0, suffix.size, batch)] = rng.choice(allowed, batch)
        losses = loss_fn(cands)
        spent += batch
        if losses.min() < loss:
            suffix, loss = cands[np.argmin(losses)], float(losses.min())
        evals.append(spent)
        trace.append(loss)
    return suffix, loss, np.array(evals), np.array(trace)


def _gbda(loss_fn, grad_fn, n_tokens, suffix_len, allowed, n_iter, samples, tau, lr, rng):
    """GBDA (Guo et al. 2021): a Gumbel-softmax relaxation of the token choice, trained by Adam."""
    theta = np.zeros((suffix_len, allowed.size))
    mom, sq = np.zeros_like(theta), np.zeros_like(theta)
    best, best_loss, evals, trace, spent = None, np.inf, [], [], 0
    for step in range(1, n_iter + 1):
        noisy = theta + rng.gumbel(size=(samples, *theta.shape))
        soft = np.exp((noisy - noisy.max(axis=-1, keepdims=True)) / tau)
        soft /= soft.sum(axis=-1, keepdims=True)  # Gumbel-softmax sample, (S, m, |allowed|)
        rows = np.zeros((samples, suffix_len, n_tokens))
        rows[..., allowed] = soft
        g = grad_fn(rows)[..., allowed]  # d loss / d soft rows
        g_theta = (soft * (g - (g * soft).sum(axis=-1, keepdims=True)) / tau).mean(axis=0)
        mom, sq = 0.9 * mom + 0.1 * g_theta, 0.999 * sq + 0.001 * g_theta**2
        theta -= lr * (mom / (1 - 0.9**step)) / (np.sqrt(sq / (1 - 0.999**step)) + 1e-8)
        hard = allowed[noisy.argmax(axis=-1)]  # the matching discrete samples (Gumbel-max)
        losses = loss_fn(hard)
        spent += 2 * samples
        if losses.min() < best_loss:
            best, best_loss = hard[np.argmin(losses)].copy(), float(losses.min())
        evals.append(spent)
        trace.append(best_loss)
    return best, best_loss, np.array(evals), np.array(trace)


def _suffix_args(models, prompts, target, allowed, suffix_len, rng):
    if isinstance(models, MLPBoW):
        models = [models]
    if not isinstance(models, (list, tuple)) or not models or not all(isinstance(m, MLPBoW) for m in models):
        raise TypeError("models must be an MLPBoW or a non-empty list of MLPBoW (see train_mlp_bow)")
    n_tokens = models[0].n_tokens
    if any(m.n_tokens != n_tokens for m in models):
        raise ValueError("models must all have the same vocabulary size")
    prompts = _check_tokens(prompts, n_tokens, "prompts")
    if prompts.ndim != 2:
        raise ValueError(f"prompts must have shape (n_prompts, length); got {prompts.shape}")
    target = int_in_range(target, "target", 0, 1)
    allowed = np.unique(_check_tokens(allowed, n_tokens, "allowed"))
    if allowed.ndim != 1 or allowed.size < 2:
        raise ValueError(f"allowed must be a 1-D array of at least 2 distinct token ids; got {allowed.size}")
    suffix_len = positive_int(suffix_len, "suffix_len")
    rng = generator(rng)

    def loss_fn(suffixes):  # mean loss over the prompts, summed over the models
        return sum(m.suffix_loss(prompts, suffixes, target).mean(axis=1) for m in models)

    def grad_fn(suffixes):
        return sum(m.suffix_grad(prompts, suffixes, target) for m in models)

    return loss_fn, grad_fn, n_tokens, allowed, suffix_len, rng


def suffix_attack(
    models: object,
    prompts: object,
    target: int,
    allowed: object,
    suffix_len: int,
    rng: np.random.Generator,
    *,
    method: str = "gcg",
    n_iter: int = 40,
    top_k: int = 8,
    batch: int = 16,
    samples: int = 8,
    tau: float = 1.0,
    learning_rate: float = 0.3,
) -> SuffixSearch:
    """Search for one suffix of ``suffix_len`` tokens from ``allowed`` that, appended to every
    prompt, drives the models towards class ``target`` (a universal trigger when ``prompts`` holds
    many prompts; GCG's multi-model attack when ``models`` holds several).

    ``method`` is ``"gcg"`` (top-``k`` gradient shortlist per slot, ``batch`` random single swaps
    scored exactly), ``"autoprompt"`` (one random slot per step, its ``batch`` best gradient
    candidates scored exactly), ``"random"`` (``batch`` random swaps, no gradient) or ``"gbda"``
    (Gumbel-softmax relaxation with ``samples`` samples per step at temperature ``tau``). The
    suffix starts as ``suffix_len`` copies of ``allowed[0]`` (GBDA starts from a uniform
    distribution instead).
    """
    loss_fn, grad_fn, n_tokens, allowed, m, rng = _suffix_args(models, prompts, target, allowed, suffix_len, rng)
    n_iter = positive_int(n_iter, "n_iter")
    batch = positive_int(batch, "batch")
    top_k = int_in_range(top_k, "top_k", 1, allowed.size)
    start = np.full(m, allowed[0])
    if method == "gcg":
        out = _gcg(loss_fn, grad_fn, start, allowed, n_iter, top_k, batch, rng)
    elif method == "autoprompt":
        out = _autoprompt(loss_fn, grad_fn, start, allowed, n_iter, top_k, min(batch, allowed.size), rng)
    elif method == "random":
        out = _random_search(loss_fn, start, allowed, n_iter, batch, rng)
    elif method == "gbda":
        samples = positive_int(samples, "samples")
        tau, lr = positive_scalar(tau, "tau"), positive_scalar(learning_rate, "learning_rate")
        out = _gbda(loss_fn, grad_fn, n_tokens, m, allowed, n_iter, samples, tau, lr, rng)
    else:
        raise ValueError(f"method must be one of 'gcg', 'autoprompt', 'random', 'gbda'; got {method!r}")
    suffix, loss, evals, trace = out
    return SuffixSearch(np.asarray(suffix, dtype=np.int64), float(loss), evals, trace)


def suffix_success(model: object, prompts: object, suffix: object, target: int) -> float:
    """Share of ``prompts`` that ``model`` assigns to class ``target`` once ``suffix`` is appended."""
    if not isinstance(model, (MLPBoW, LogisticBoW)):
        raise TypeError(f"model must be an MLPBoW or a LogisticBoW; got {type(model).__name__}")
    prompts = _check_tokens(prompts, model.n_tokens, "prompts")
    suffix = _check_tokens(suffix, model.n_tokens, "suffix")
    if prompts.ndim != 2 or suffix.ndim != 1:
        raise ValueError(f"prompts must be 2-D and suffix 1-D; got shapes {prompts.shape} and {suffix.shape}")
    target = int_in_range(target, "target", 0, 1)
    seqs = np.hstack([prompts, np.repeat(suffix[None], prompts.shape[0], axis=0)])
    return float(np.mean(model.predict(seqs) == target))
