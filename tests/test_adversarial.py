"""Tests for lilbook.adversarial: the toy victim, the attacks, the defences and the red-team search."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lilbook import adversarial as adv


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    vocab = adv.make_vocabulary(n_groups=30)
    x_train, y_train = adv.sample_documents(vocab, 600, 12, rng, polarity=0.6)
    x_test, y_test = adv.sample_documents(vocab, 200, 12, rng, polarity=0.6)
    model = adv.train_logistic_bow(x_train, y_train, vocab.n_tokens)
    return vocab, model, x_train, y_train, x_test, y_test


# ---- vocabulary and documents --------------------------------------------------------------


def test_vocabulary_layout():
    vocab = adv.make_vocabulary(n_groups=7, synonym_freq=(0.5, 0.3, 0.2), polar_share=4 / 7)
    assert vocab.n_tokens == 21 and vocab.group_size == 3
    assert vocab.sentiment.tolist() == [1, -1, 1, -1, 0, 0, 0]
    assert vocab.synonyms(10).tolist() == [9, 10, 11]
    assert vocab.canonical(np.array([0, 5, 11, 20])).tolist() == [0, 3, 9, 18]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_groups": 1}, ValueError, "n_groups must be an integer in"),
        ({"n_groups": 2.5}, TypeError, "n_groups must be an integer"),
        ({"synonym_freq": (0.5, 0.4)}, ValueError, "synonym_freq must sum to 1"),
        ({"synonym_freq": (1.0,)}, ValueError, "at least 2"),
        ({"synonym_freq": (1.5, -0.5)}, ValueError, r"synonym_freq must lie in \[0, 1\]"),
        ({"polar_share": 1.2}, ValueError, r"polar_share must lie in \[0, 1\]"),
    ],
)
def test_make_vocabulary_rejects_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        adv.make_vocabulary(**kwargs)


def test_documents_follow_the_class_conditional_model():
    vocab = adv.make_vocabulary(n_groups=12)  # three positive, three negative, six neutral groups
    tokens, labels = adv.sample_documents(vocab, 4000, 20, np.random.default_rng(1), polarity=1.0)
    assert tokens.shape == (4000, 20) and sorted(set(labels.tolist())) == [0, 1]
    assert labels.sum() == 2000
    sentiment = vocab.sentiment[vocab.group_of(tokens)]
    # positive documents use positive groups e^2 times as often as negative groups
    pos = sentiment[labels == 1]
    ratio = (pos == 1).sum() / (pos == -1).sum()
    assert ratio == pytest.approx(np.exp(2.0), rel=0.05)
    # the synonym within a group follows synonym_freq whatever the class
    share = np.bincount(tokens.ravel() % vocab.group_size, minlength=4) / tokens.size
    assert share == pytest.approx(vocab.synonym_freq, abs=0.01)


def test_sample_documents_rejects_bad_input():
    vocab = adv.make_vocabulary()
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        adv.sample_documents(vocab, 10, 5, 0)
    with pytest.raises(TypeError, match="vocab must be a SynonymVocabulary"):
        adv.sample_documents("vocab", 10, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_docs must be an integer >= 1"):
        adv.sample_documents(vocab, 0, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="polarity must be finite"):
        adv.sample_documents(vocab, 10, 5, np.random.default_rng(0), polarity=np.nan)


@given(st.lists(st.lists(st.integers(0, 9), min_size=3, max_size=3), min_size=1, max_size=6))
@settings(max_examples=50, deadline=None)
def test_bag_of_words_counts_each_token(docs):
    bow = adv.bag_of_words(np.array(docs), 10)
    for row, doc in zip(bow, docs):
        assert row.tolist() == [doc.count(t) / 3 for t in range(10)]


def test_bag_of_words_rejects_out_of_range_tokens_and_floats():
    with pytest.raises(ValueError, match=r"tokens must hold token ids in \[0, 9\]"):
        adv.bag_of_words(np.array([[0, 10]]), 10)
    with pytest.raises(TypeError, match="integer array"):
        adv.bag_of_words(np.array([[0.0, 1.0]]), 10)


# ---- the victim ---------------------------------------------------------------------------------


def test_training_reaches_the_optimum_of_the_regularised_loss(setup):
    vocab, model, x_train, y_train, *_ = setup
    bow = adv.bag_of_words(x_train, vocab.n_tokens)
    p = model.predict_proba(x_train)
    # stationarity: the gradient of mean log loss + l2/2 |w|^2 vanishes at the fitted weights
    grad_w = bow.T @ (p - y_train) / y_train.size + 1e-3 * model.weights
    assert np.abs(grad_w).max() < 1e-5
    assert abs(np.mean(p - y_train)) < 1e-5


def test_logits_equal_the_bag_of_words_dot_product(setup):
    vocab, model, _, _, x_test, _ = setup
    direct = adv.bag_of_words(x_test, vocab.n_tokens) @ model.weights + model.bias
    assert np.allclose(model.logits(x_test), direct)


def test_the_victim_is_accurate_and_rare_synonyms_get_small_weights(setup):
    vocab, model, _, _, x_test, y_test = setup
    assert (model.predict(x_test) == y_test).mean() > 0.85
    w = np.abs(model.weights.reshape(vocab.n_groups, vocab.group_size))
    polar = vocab.sentiment != 0
    assert np.all(w[polar, 0] > w[polar, -1])


def test_train_rejects_bad_labels():
    tokens = np.zeros((4, 3), dtype=int)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        adv.train_logistic_bow(tokens, [0, 1, 0], 5)
    with pytest.raises(ValueError, match="labels must hold only 0 and 1"):
        adv.train_logistic_bow(tokens, [0, 1, 2, 0], 5)
    with pytest.raises(ValueError, match="l2 must be finite and > 0"):
        adv.train_logistic_bow(tokens, [0, 1, 1, 0], 5, l2=0.0)


# ---- attacks -------------------------------------------------------------------------------


def test_substitution_gains_are_exact_loss_changes_for_the_linear_model(setup):
    vocab, model, _, _, x_test, y_test = setup
    doc, label = x_test[0], int(y_test[0])

    def loss(d):
        p1 = float(model.predict_proba(d))
        return -np.log(p1 if label == 1 else 1 - p1)

    gains = adv.substitution_gains(model, doc, label)
    actual = np.empty((doc.size, 5))
    candidates = np.arange(5) * vocab.group_size
    for pos, j in itertools.product(range(doc.size), range(5)):
        swapped = doc.copy()
        swapped[pos] = candidates[j]
        actual[pos, j] = loss(swapped) - loss(doc)
    predicted = gains[:, candidates]
    # a first-order estimate: same ranking within a position, close for small changes
    for pos in range(doc.size):
        assert np.argsort(predicted[pos]).tolist() == np.argsort(actual[pos]).tolist()
    assert np.allclose(predicted, actual, atol=0.05)


def test_substitution_gains_rank_all_swaps_exactly_across_positions(setup):
    """The chapter's claim: for the linear victim the first-order scores order *every* swap
    (any position, any token) exactly as the true loss changes do, not only within a position."""
    vocab, model, _, _, x_test, y_test = setup
    for i in range(5):
        doc, label = x_test[i], int(y_test[i])
        p1 = float(model.predict_proba(doc))
        base = -np.log(p1 if label == 1 else 1 - p1)
        predicted = adv.substitution_gains(model, doc, label).ravel()
        actual = np.empty((doc.size, vocab.n_tokens))
        for pos in range(doc.size):
            swapped = np.tile(doc, (vocab.n_tokens, 1))
            swapped[:, pos] = np.arange(vocab.n_tokens)
            q1 = model.predict_proba(swapped)
            actual[pos] = -np.log(q1 if label == 1 else 1 - q1) - base
        actual = actual.ravel()
        # every pair of swaps is ordered the same way (ties only where both are tied)
        dp = np.sign(np.round(predicted[:, None] - predicted[None, :], 12))
        da = np.sign(np.round(actual[:, None] - actual[None, :], 12))
        assert np.array_equal(dp, da)


def brute_force_min_edits(model, vocab, doc, label, max_edits):
    """The fewest synonym swaps that flip the prediction, by trying every combination."""
    for k in range(max_edits + 1):
        for positions in itertools.combinations(range(doc.size), k):
            choices = [vocab.synonyms(doc[p])[vocab.synonyms(doc[p]) != doc[p]] for p in positions]
            for new in itertools.product(*choices):
                cand = doc.copy()
                cand[list(positions)] = new
                if model.predict(cand)[()] != label:
                    return k
    return None


def test_hotflip_is_optimal_on_a_linear_model(setup):
    """For a linear model greedy swaps by gradient need the fewest edits (checked by brute force)."""
    vocab, model, _, _, x_test, y_test = setup
    small = [i for i in range(len(y_test)) if model.predict(x_test[i])[()] == y_test[i]][:25]
    for i in small:
        doc = x_test[i][:6]  # a short document keeps the brute force small
        label = int(model.predict(doc)[()])
        result = adv.hotflip_attack(model, vocab, doc, label, 3)
        best = brute_force_min_edits(model, vocab, doc, label, 3)
        if best is None:
            assert not result.success
        else:
            assert result.success and result.edits == best
            assert model.predict(result.doc)[()] != label
            changed = np.flatnonzero(result.doc != doc)
            assert changed.size == best
            assert np.all(vocab.group_of(result.doc) == vocab.group_of(doc))


def test_gradient_attack_beats_random_substitution(setup):
    vocab, model, _, _, x_test, y_test = setup
    rng = np.random.default_rng(3)
    ok = np.flatnonzero(model.predict(x_test) == y_test)
    hot = adv.attack_success_curve([adv.hotflip_attack(model, vocab, x_test[i], int(y_test[i]), 4) for i in ok], 4)
    rand = adv.attack_success_curve(
        [adv.random_substitution_attack(model, vocab, x_test[i], int(y_test[i]), 4, rng) for i in ok], 4
    )
    assert hot[0] == rand[0] == 0.0
    assert np.all(np.diff(hot) >= 0) and np.all(np.diff(rand) >= 0)
    assert hot[-1] > 3 * rand[-1] > 0


def test_random_attack_keeps_meaning_and_reports_edits(setup):
    vocab, model, _, _, x_test, y_test = setup
    result = adv.random_substitution_attack(model, vocab, x_test[1], int(y_test[1]), 5, np.random.default_rng(0))
    changed = np.flatnonzero(result.doc != x_test[1])
    assert changed.size == result.edits
    assert np.all(vocab.group_of(result.doc) == vocab.group_of(x_test[1]))


def test_hotflip_respects_the_allowed_predicate(setup):
    vocab, model, _, _, x_test, y_test = setup
    rare = vocab.group_size - 1
    never_rare = lambda d: bool(np.all(d % vocab.group_size != rare))  # noqa: E731
    for i in range(20):
        result = adv.hotflip_attack(model, vocab, x_test[i], int(y_test[i]), 4, allowed=never_rare)
        new = result.doc[result.doc != x_test[i]]
        assert np.all(new % vocab.group_size != rare)


def test_attack_arguments_are_checked(setup):
    vocab, model, _, _, x_test, y_test = setup
    with pytest.raises(ValueError, match=r"label must be an integer in \[0, 1\]"):
        adv.hotflip_attack(model, vocab, x_test[0], 2, 3)
    with pytest.raises(ValueError, match=r"max_edits must be an integer in \[0, inf\]"):
        adv.hotflip_attack(model, vocab, x_test[0], 1, -1)
    with pytest.raises(ValueError, match="doc must be one document"):
        adv.hotflip_attack(model, vocab, x_test[:2], 1, 3)
    with pytest.raises(ValueError, match="they must match"):
        adv.hotflip_attack(model, adv.make_vocabulary(n_groups=5), x_test[0] % 5, 1, 3)
    with pytest.raises(TypeError, match="allowed must be None or a function"):
        adv.hotflip_attack(model, vocab, x_test[0], 1, 3, allowed=True)
    with pytest.raises(TypeError, match="model must be a LogisticBoW"):
        adv.substitution_gains(None, x_test[0], 1)
    with pytest.raises(TypeError, match="results must be a non-empty list"):
        adv.attack_success_curve([], 3)


def test_success_curve_counts_successes_within_each_budget():
    d = np.zeros(3, dtype=np.int64)
    results = [adv.AttackResult(d, 0, True), adv.AttackResult(d, 2, True), adv.AttackResult(d, 3, False)]
    assert adv.attack_success_curve(results, 3).tolist() == [1 / 3, 1 / 3, 2 / 3, 2 / 3]


# ---- defences -------------------------------------------------------------------------------


def test_unigram_filter_rejects_the_promised_share_of_clean_documents(setup):
    vocab, _, x_train, *_ = setup
    filt = adv.fit_unigram_filter(x_train, vocab.n_tokens, false_positive_rate=0.1)
    assert 1 - filt.accepts(x_train).mean() == pytest.approx(0.1, abs=0.01)
    counts = np.bincount(x_train.ravel(), minlength=vocab.n_tokens) + 0.5
    expected = np.exp(-np.log(counts / counts.sum())[x_train[0]].mean())
    assert filt.perplexity(x_train[0])[0] == pytest.approx(expected)


def test_rare_synonyms_raise_perplexity(setup):
    vocab, _, x_train, *_ = setup
    filt = adv.fit_unigram_filter(x_train, vocab.n_tokens)
    common = vocab.canonical(x_train[:50])
    rare = common + vocab.group_size - 1
    assert np.all(filt.perplexity(rare) > filt.perplexity(common))


def test_filter_rejects_bad_rates():
    with pytest.raises(ValueError, match="false_positive_rate must be < 1"):
        adv.fit_unigram_filter(np.zeros((3, 2), dtype=int), 4, false_positive_rate=1.0)
    with pytest.raises(ValueError, match=r"false_positive_rate must lie in \[0, 1\]"):
        adv.fit_unigram_filter(np.zeros((3, 2), dtype=int), 4, false_positive_rate=-0.1)


def test_adversarial_training_makes_the_model_more_robust(setup):
    vocab, _, x_train, y_train, x_test, y_test = setup
    models = adv.adversarial_training(vocab, x_train, y_train, max_edits=3, rounds=2)
    assert len(models) == 3

    def robust_accuracy(m):
        wins = [adv.hotflip_attack(m, vocab, d, int(t), 3) for d, t in zip(x_test, y_test)]
        return np.mean([not w.success for w in wins])

    assert robust_accuracy(models[-1]) > robust_accuracy(models[0]) + 0.1
    with pytest.raises(ValueError, match=r"rounds must be an integer in \[0, inf\]"):
        adv.adversarial_training(vocab, x_train, y_train, rounds=-1)


# ---- red teaming ----------------------------------------------------------------------------------


def test_zero_shot_red_teaming_matches_the_analytic_failure_rate():
    effects = np.array([2.0, -1.0, 0.5])
    out = adv.red_team_search(effects, -2.0, np.random.default_rng(0), rounds=50, batch=400, learning_rate=0.0)
    cases = np.array(list(itertools.product([0, 1], repeat=3)))
    fail = 1 / (1 + np.exp(-(-2.0 + cases @ effects)))
    assert out["success_rate"].mean() == pytest.approx(fail.mean(), abs=0.01)
    # two independent successes differ in attribute j with probability 2 q_j (1 - q_j),
    # q_j = P(attribute j is on | the case succeeded)
    q = (cases * fail[:, None]).sum(axis=0) / fail.sum()
    assert out["diversity"].mean() == pytest.approx(np.mean(2 * q * (1 - q)), abs=0.01)
    assert np.all(np.diff(out["unique"]) >= 0) and out["unique"][-1] <= 8


def test_learning_red_team_finds_more_failures_but_less_diverse_ones():
    effects = np.array([2.5, 2.0, -1.0, 0, 0, 1.5, -2, 0, 0, 0.5])
    slow = adv.red_team_search(effects, -5.0, np.random.default_rng(1), learning_rate=0.0)
    fast = adv.red_team_search(effects, -5.0, np.random.default_rng(1), learning_rate=0.5)
    assert fast["success_rate"][-5:].mean() > 3 * slow["success_rate"][-5:].mean()
    assert fast["diversity"][-5:].mean() < slow["diversity"][-5:].mean()


@given(st.lists(st.floats(-3, 3), min_size=1, max_size=6), st.floats(0, 1))
@settings(max_examples=25, deadline=None)
def test_red_team_outputs_are_in_range(effects, lr):
    out = adv.red_team_search(effects, 0.0, np.random.default_rng(0), rounds=4, batch=20, learning_rate=lr)
    assert np.all((out["success_rate"] >= 0) & (out["success_rate"] <= 1))
    div = out["diversity"][np.isfinite(out["diversity"])]
    assert np.all((div >= 0) & (div <= 1))


def test_red_team_rejects_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="attribute_effects must be 1-D"):
        adv.red_team_search([[1.0]], 0.0, rng)
    with pytest.raises(ValueError, match="floor must be < 0.5"):
        adv.red_team_search([1.0], 0.0, rng, floor=0.5)
    with pytest.raises(ValueError, match=r"learning_rate must lie in \[0, 1\]"):
        adv.red_team_search([1.0], 0.0, rng, learning_rate=2.0)
    with pytest.raises(ValueError, match=r"batch must be an integer in \[2, inf\]"):
        adv.red_team_search([1.0], 0.0, rng, batch=1)


def test_private_substitution_gains_matches_public(setup):
    _, model, _, _, x_test, y_test = setup
    doc, label = x_test[1], int(y_test[1])
    np.testing.assert_array_equal(
        adv._substitution_gains(model, doc, label), adv.substitution_gains(model, doc, label)
    )


# ---- artifacts, the nonlinear victim and suffix searches -------------------------------------


def test_artifact_groups_are_overrepresented_in_positive_documents_by_the_stated_factor():
    vocab = adv.make_vocabulary(n_groups=10)  # groups 0-4 polar, 5-9 neutral
    tokens, labels = adv.sample_documents(
        vocab, 6000, 20, np.random.default_rng(3), polarity=0.5, artifact_groups=2, artifact_strength=0.7
    )
    groups = vocab.group_of(tokens)
    # independent expectation: per-class group probabilities from the stated weights
    sentiment = np.array([1, -1, 1, -1, 1, 0, 0, 0, 0, 0])
    extra = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0.7, 0.7])
    p_pos = np.exp(0.5 * sentiment + extra)
    p_neg = np.exp(-0.5 * sentiment - extra)
    p_pos, p_neg = p_pos / p_pos.sum(), p_neg / p_neg.sum()
    for g in (8, 9, 6):
        observed = (groups[labels == 1] == g).mean() / (groups[labels == 0] == g).mean()
        assert observed == pytest.approx(p_pos[g] / p_neg[g], rel=0.08)


def test_no_artifact_by_default_reproduces_the_old_sampler():
    vocab = adv.make_vocabulary(n_groups=8)
    a = adv.sample_documents(vocab, 50, 6, np.random.default_rng(9), polarity=1.0)
    b = adv.sample_documents(vocab, 50, 6, np.random.default_rng(9), polarity=1.0, artifact_groups=3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])  # strength 0: no change


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"artifact_groups": 9}, ValueError, "artifact_groups must be an integer in"),
        ({"artifact_groups": -1}, ValueError, "artifact_groups must be an integer in"),
        ({"artifact_groups": 1.5}, TypeError, "artifact_groups must be an integer"),
        ({"artifact_strength": float("nan")}, ValueError, "artifact_strength"),
    ],
)
def test_artifacts_reject_bad_input(kwargs, error, message):
    vocab = adv.make_vocabulary(n_groups=12)  # six neutral groups
    with pytest.raises(error, match=message):
        adv.sample_documents(vocab, 10, 5, np.random.default_rng(0), **kwargs)


def _tiny_mlp(seed=0, n_tokens=9, hidden=3):
    rng = np.random.default_rng(seed)
    return adv.MLPBoW(rng.normal(size=(n_tokens, hidden)), rng.normal(size=hidden), rng.normal(size=hidden), 0.3)


def test_mlp_logits_follow_the_definition():
    net = _tiny_mlp()
    doc = np.array([1, 4, 4, 7])
    freq = np.bincount(doc, minlength=9) / 4
    expected = np.tanh(freq @ net.w_in + net.b_in) @ net.w_out + net.b_out
    assert net.logits(doc) == pytest.approx(expected)
    assert net.predict_proba(doc[None])[0] == pytest.approx(1 / (1 + np.exp(-expected)))


@pytest.mark.parametrize("target", [0, 1])
def test_mlp_input_gradient_matches_finite_differences(target):
    net = _tiny_mlp(1)
    x = np.eye(9)[np.array([[0, 3, 5], [2, 2, 8]])]
    loss, grad = net.loss_and_grad(x, target)
    ids_loss, _ = net.loss_and_grad(np.array([[0, 3, 5], [2, 2, 8]]), target)
    assert loss == pytest.approx(ids_loss)
    eps = 1e-6
    for d, i, v in [(0, 1, 4), (1, 2, 8), (0, 0, 0)]:
        bumped = x.copy()
        bumped[d, i, v] += eps
        assert (net.loss_and_grad(bumped, target)[0][d] - loss[d]) / eps == pytest.approx(grad[d, i, v], rel=1e-4, abs=1e-8)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=2, max_size=4), st.integers(0, 1))
def test_suffix_loss_equals_the_loss_of_the_concatenated_sequence(suffix, target):
    net = _tiny_mlp(2)
    prompts = np.array([[1, 2, 3], [4, 4, 0]])
    suffixes = np.array([suffix, suffix[::-1]])
    got = net.suffix_loss(prompts, suffixes, target)
    for b in range(2):
        seqs = np.hstack([prompts, np.repeat(suffixes[b][None], 2, axis=0)])
        logit = net.logits(seqs)
        expected = np.log1p(np.exp(-logit)) if target == 1 else np.log1p(np.exp(logit))
        assert got[b] == pytest.approx(expected)


def test_suffix_grad_matches_finite_differences_of_the_mean_loss():
    net = _tiny_mlp(3)
    prompts = np.array([[1, 2, 3], [4, 4, 0], [5, 6, 7]])
    soft = np.random.default_rng(0).dirichlet(np.ones(9), size=(1, 2))
    grad = net.suffix_grad(prompts, soft, 1)
    base = net.suffix_loss(prompts, soft, 1).mean()
    eps = 1e-6
    for i, v in [(0, 2), (1, 7)]:
        bumped = soft.copy()
        bumped[0, i, v] += eps
        assert (net.suffix_loss(prompts, bumped, 1).mean() - base) / eps == pytest.approx(grad[0, i, v], rel=1e-4)


def test_trained_mlp_beats_chance_and_depends_on_its_seed(setup):
    vocab, _, x_train, y_train, x_test, y_test = setup
    a = adv.train_mlp_bow(x_train, y_train, vocab.n_tokens, np.random.default_rng(0), steps=150)
    b = adv.train_mlp_bow(x_train, y_train, vocab.n_tokens, np.random.default_rng(1), steps=150)
    assert np.mean(a.predict(x_test) == y_test) > 0.75
    assert not np.allclose(a.w_in, b.w_in)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"rng": 0}, TypeError, "rng must be a numpy.random.Generator"),
        ({"labels": np.zeros(3, dtype=int)}, ValueError, "labels must have shape"),
        ({"hidden": 0}, ValueError, "hidden must be"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate"),
    ],
)
def test_train_mlp_rejects_bad_input(kwargs, error, message):
    args = {"tokens": np.array([[0, 1], [2, 3]]), "labels": np.array([0, 1]), "n_tokens": 4, "rng": np.random.default_rng(0)}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        adv.train_mlp_bow(**args)


@pytest.mark.parametrize("method", ["gcg", "autoprompt"])
def test_gradient_searches_find_the_brute_force_best_suffix(method):
    net = _tiny_mlp(4, n_tokens=12, hidden=4)
    prompts = np.array([[0, 1, 2, 3], [3, 2, 5, 5], [6, 0, 1, 1]])
    allowed = np.array([4, 7, 8, 9, 10, 11])
    best = min(
        net.suffix_loss(prompts, np.array([s]), 1).mean() for s in itertools.product(allowed, repeat=2)
    )
    res = adv.suffix_attack(net, prompts, 1, allowed, 2, np.random.default_rng(0), method=method, n_iter=30, top_k=6, batch=6)
    assert res.loss == pytest.approx(best)
    assert net.suffix_loss(prompts, res.suffix[None], 1).mean() == pytest.approx(res.loss)


@pytest.mark.parametrize("method", ["gcg", "autoprompt", "random", "gbda"])
def test_suffix_search_traces_are_monotone_and_count_evaluations(method):
    net = _tiny_mlp(5, n_tokens=12)
    prompts = np.array([[0, 1, 2], [3, 2, 5]])
    res = adv.suffix_attack(net, prompts, 0, np.arange(4, 12), 3, np.random.default_rng(1), method=method, n_iter=10, batch=4, samples=2)
    assert np.all(np.diff(res.best_loss) <= 1e-12)
    assert np.all(np.diff(res.evaluations) > 0) and res.evaluations.size == 10
    step = {"gcg": 5, "autoprompt": 5, "random": 4, "gbda": 4}[method]
    assert np.all(np.diff(res.evaluations) == step)
    assert set(res.suffix.tolist()) <= set(range(4, 12))


def test_ensemble_objective_is_the_sum_over_models():
    a, b = _tiny_mlp(6), _tiny_mlp(7)
    prompts = np.array([[0, 1, 2]])
    res = adv.suffix_attack([a, b], prompts, 1, np.arange(9), 2, np.random.default_rng(0), n_iter=5)
    total = a.suffix_loss(prompts, res.suffix[None], 1).mean() + b.suffix_loss(prompts, res.suffix[None], 1).mean()
    assert res.loss == pytest.approx(total)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"models": "net"}, TypeError, "models must be an MLPBoW"),
        ({"method": "beam"}, ValueError, "method must be one of"),
        ({"top_k": 0}, ValueError, "top_k must be an integer in"),
        ({"allowed": np.array([3])}, ValueError, "allowed must be a 1-D array of at least 2"),
        ({"allowed": np.array([3, 99])}, ValueError, "allowed must hold token ids"),
        ({"target": 2}, ValueError, "target must be an integer in"),
        ({"suffix_len": 0}, ValueError, "suffix_len must be"),
        ({"prompts": np.array([1, 2])}, ValueError, "prompts must have shape"),
        ({"rng": 3}, TypeError, "rng must be a numpy.random.Generator"),
    ],
)
def test_suffix_attack_rejects_bad_input(kwargs, error, message):
    args = {
        "models": _tiny_mlp(),
        "prompts": np.array([[0, 1]]),
        "target": 1,
        "allowed": np.arange(9),
        "suffix_len": 2,
        "rng": np.random.default_rng(0),
    }
    args.update(kwargs)
    with pytest.raises(error, match=message):
        adv.suffix_attack(**args)


def test_suffix_success_counts_flipped_prompts():
    model = adv.LogisticBoW(weights=np.array([-1.0, -1.0, 0.0, 5.0]), bias=0.0)
    prompts = np.array([[0, 1], [0, 2], [1, 1]])
    # with suffix [3]: logits (-1-1+5)/3 = 1, (-1+0+5)/3 = 4/3, (-2+5)/3 = 1 -> all positive
    assert adv.suffix_success(model, prompts, np.array([3]), 1) == 1.0
    # with suffix [2]: logits -2/3, -1/3, -2/3 -> none positive
    assert adv.suffix_success(model, prompts, np.array([2]), 1) == 0.0
    with pytest.raises(TypeError, match="model must be"):
        adv.suffix_success("m", prompts, np.array([3]), 1)
    with pytest.raises(ValueError, match="suffix 1-D"):
        adv.suffix_success(model, prompts, np.array([[3]]), 1)


def test_kl_weight_zero_is_the_plain_update_and_one_is_zero_shot_sampling():
    effects = np.array([2.0, -1.0, 0.5, 0.0])
    plain = adv.red_team_search(effects, -2.0, np.random.default_rng(4), rounds=6, learning_rate=0.5)
    zero = adv.red_team_search(effects, -2.0, np.random.default_rng(4), rounds=6, learning_rate=0.5, kl_weight=0.0)
    for key in plain:
        np.testing.assert_array_equal(plain[key], zero[key])
    # with kl_weight = 1 the target of every update is 0.5, so p never moves from its start:
    # the same random draws as a search that does not learn at all
    anchored = adv.red_team_search(effects, -2.0, np.random.default_rng(4), rounds=6, learning_rate=0.5, kl_weight=1.0)
    frozen = adv.red_team_search(effects, -2.0, np.random.default_rng(4), rounds=6, learning_rate=0.0)
    for key in frozen:
        np.testing.assert_array_equal(anchored[key], frozen[key])


def test_kl_weight_trades_failures_for_diversity():
    effects = np.array([2.5, 2.0, -1.0, 0, 0, 1.5, -2, 0, 0, 0.5])
    runs = {
        kl: adv.red_team_search(effects, -5.0, np.random.default_rng(2), rounds=20, learning_rate=0.6, kl_weight=kl)
        for kl in (0.0, 0.5)
    }
    assert runs[0.0]["success_rate"][-5:].mean() > runs[0.5]["success_rate"][-5:].mean()
    assert np.nanmean(runs[0.0]["diversity"][-5:]) < np.nanmean(runs[0.5]["diversity"][-5:])
    with pytest.raises(ValueError, match=r"kl_weight must lie in \[0, 1\]"):
        adv.red_team_search(effects, 0.0, np.random.default_rng(0), kl_weight=1.5)
