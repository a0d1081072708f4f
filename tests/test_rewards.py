"""Tests for lilbook.rewards.

Expected values come from closed forms worked out here (order statistics of the normal
distribution, the calculus of Gao et al.'s forms), from brute force (loops over candidates,
enumeration of all best-of-n outcomes, value iteration on the gridworld), or from an
independent numerical computation (scipy quadrature, scipy optimisation), never from the
output of the code under test.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, stats

from lilbook import rewards as rw
from lilbook.rewards import ACTIONS, CheckpointWorld

FAST = settings(max_examples=40, deadline=None, database=None)
SLOW = settings(max_examples=10, deadline=None, database=None)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------
# best_of_n_kl
# ------------------------------------------------------------------------------------


def kl_by_quadrature(n: int) -> float:
    """KL(best-of-n || base) for a standard normal base, integrating the density n F^(n-1) f."""

    def integrand(x):
        log_ratio = math.log(n) + (n - 1) * stats.norm.logcdf(x)
        return math.exp(log_ratio) * stats.norm.pdf(x) * log_ratio

    value, _ = integrate.quad(integrand, -12, 12, limit=200, points=[0.0])
    return value


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10, 64, 1000])
def test_best_of_n_kl_matches_quadrature_of_the_max_density(n):
    assert rw.best_of_n_kl(n) == pytest.approx(kl_by_quadrature(n), abs=1e-7)


def test_best_of_n_kl_small_cases_by_hand():
    assert rw.best_of_n_kl(1) == 0.0
    assert rw.best_of_n_kl(2) == pytest.approx(math.log(2) - 0.5)
    assert rw.best_of_n_kl(4.0) == pytest.approx(math.log(4) - 0.75)
    assert rw.best_of_n_kl(np.int64(3)) == pytest.approx(math.log(3) - 2 / 3)


@FAST
@given(st.integers(1, 10**6))
def test_best_of_n_kl_is_increasing_and_below_log_n(n):
    kl = rw.best_of_n_kl(n)
    assert 0.0 <= kl <= math.log(n)
    assert rw.best_of_n_kl(n + 1) > kl
    assert math.log(n) - kl == pytest.approx((n - 1) / n)


@pytest.mark.parametrize("bad", [0, -3, 2.5, 0.5, float("nan"), float("inf")])
def test_best_of_n_kl_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        rw.best_of_n_kl(bad)


@pytest.mark.parametrize("bad", ["4", None, True, [4], 4 + 0j])
def test_best_of_n_kl_rejects_non_numbers(bad):
    with pytest.raises(TypeError, match="n must be an integer"):
        rw.best_of_n_kl(bad)


# ------------------------------------------------------------------------------------
# best_of_n_kl_discrete
# ------------------------------------------------------------------------------------


def kl_discrete_brute_force(p, n):
    """Enumerate all k**n ordered draws; the best is the one with the largest index."""
    k = len(p)
    q = np.zeros(k)
    for draw in itertools.product(range(k), repeat=n):
        q[max(draw)] += np.prod([p[i] for i in draw])
    keep = q > 0
    return float(np.sum(q[keep] * np.log(q[keep] / np.asarray(p)[keep])))


@pytest.mark.parametrize(
    "p,n",
    [([0.5, 0.5], 2), ([0.2, 0.3, 0.5], 3), ([0.1, 0.0, 0.6, 0.3], 4), ([1.0], 5)],
)
def test_best_of_n_kl_discrete_matches_enumeration(p, n):
    assert rw.best_of_n_kl_discrete(p, n) == pytest.approx(
        kl_discrete_brute_force(p, n), abs=1e-12
    )


def test_best_of_n_kl_discrete_two_atoms_by_hand():
    # Best of 2 fair coins is "heads" with probability 3/4.
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert rw.best_of_n_kl_discrete([0.5, 0.5], 2) == pytest.approx(expected)


@FAST
@given(
    st.lists(st.floats(0.01, 1.0), min_size=1, max_size=30),
    st.integers(1, 200),
)
def test_best_of_n_kl_discrete_never_exceeds_the_continuous_formula(w, n):
    p = np.asarray(w) / np.sum(w)
    kl = rw.best_of_n_kl_discrete(p, n)
    assert 0.0 <= kl <= rw.best_of_n_kl(n) + 1e-12
    assert kl <= -math.log(p.min()) + 1e-12  # KL(q||p) <= sum q log(1/p) <= log(1/p_min)


def test_best_of_n_kl_discrete_approaches_the_formula_with_fine_atoms():
    p = np.full(200_000, 1 / 200_000)
    assert rw.best_of_n_kl_discrete(p, 16) == pytest.approx(rw.best_of_n_kl(16), abs=1e-3)


@pytest.mark.parametrize(
    "probs,err",
    [
        ([0.5, 0.6], "sum to 1"),
        ([[0.5, 0.5]], "one-dimensional"),
        ([1.2, -0.2], r"\[0, 1\]"),
        ([], "must not be empty"),
        ([0.5, float("nan")], r"\[0, 1\]"),
    ],
)
def test_best_of_n_kl_discrete_rejects_bad_probs(probs, err):
    with pytest.raises(ValueError, match=err):
        rw.best_of_n_kl_discrete(probs, 2)


def test_best_of_n_kl_discrete_rejects_bad_n_and_types():
    with pytest.raises(ValueError, match="n must"):
        rw.best_of_n_kl_discrete([0.5, 0.5], 0)
    with pytest.raises(TypeError, match="probs"):
        rw.best_of_n_kl_discrete("0.5 0.5", 2)


# ------------------------------------------------------------------------------------
# best_of_n_kl_monte_carlo
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 8, 64])
def test_best_of_n_kl_monte_carlo_agrees_with_quadrature(n):
    est, se = rw.best_of_n_kl_monte_carlo(n, 40_000, rng(n))
    assert 0 < se < 0.05
    assert abs(est - kl_by_quadrature(n)) < 4.5 * se


def test_best_of_n_kl_monte_carlo_n1_is_exactly_zero_and_seeded():
    assert rw.best_of_n_kl_monte_carlo(1, 10, rng()) == (0.0, 0.0)
    assert rw.best_of_n_kl_monte_carlo(5, 100, rng(7)) == rw.best_of_n_kl_monte_carlo(
        5, 100, rng(7)
    )


def test_best_of_n_kl_monte_carlo_rejects_bad_input():
    with pytest.raises(ValueError, match="samples"):
        rw.best_of_n_kl_monte_carlo(4, 1, rng())
    with pytest.raises(TypeError, match="samples"):
        rw.best_of_n_kl_monte_carlo(4, 10.0, rng())
    with pytest.raises(TypeError, match="rng"):
        rw.best_of_n_kl_monte_carlo(4, 10, 0)
    with pytest.raises(ValueError, match="n must"):
        rw.best_of_n_kl_monte_carlo(1.5, 10, rng())


# ------------------------------------------------------------------------------------
# best_of_n_select
# ------------------------------------------------------------------------------------


@FAST
@given(
    st.integers(1, 6),
    st.integers(1, 12),
    st.integers(0, 10_000),
)
def test_best_of_n_select_matches_a_loop(trials, n_max, seed):
    g = rng(seed)
    true = g.standard_normal((trials, n_max))
    proxy = true + g.standard_normal((trials, n_max))
    ns = sorted({1, n_max, max(1, n_max // 2)})
    t_sel, p_sel = rw.best_of_n_select(true, proxy, ns)
    for i, n in enumerate(ns):
        for t in range(trials):
            j = max(range(n), key=lambda c: proxy[t, c])
            assert t_sel[i, t] == true[t, j]
            assert p_sel[i, t] == proxy[t, j]
    # the selected proxy never decreases as n grows (nested candidate sets)
    assert np.all(np.diff(p_sel, axis=0) >= 0)


def expected_max_normal(n: int) -> float:
    """E[max of n standard normals] by quadrature of x n Phi^(n-1) phi."""
    f = lambda x: x * n * stats.norm.cdf(x) ** (n - 1) * stats.norm.pdf(x)  # noqa: E731
    return integrate.quad(f, -12, 12, limit=200)[0]


def test_best_of_n_select_regressional_goodhart_closed_form():
    # True ~ N(0,1), error ~ N(0, s^2): E[true | proxy] = proxy / (1 + s^2), so the selected
    # true reward averages E[max proxy] / (1 + s^2) = sqrt(1 + s^2) e_n / (1 + s^2).
    s, trials, n_max = 0.8, 40_000, 16
    g = rng(11)
    true = g.standard_normal((trials, n_max))
    proxy = true + s * g.standard_normal((trials, n_max))
    t_sel, p_sel = rw.best_of_n_select(true, proxy, [1, 4, 16])
    for i, n in enumerate([1, 4, 16]):
        e_n = expected_max_normal(n)
        se = t_sel[i].std() / math.sqrt(trials)
        assert abs(t_sel[i].mean() - e_n / math.sqrt(1 + s * s)) < 4.5 * se + 1e-12
        assert p_sel[i].mean() == pytest.approx(e_n * math.sqrt(1 + s * s), abs=0.03)


def test_best_of_n_select_accepts_numpy_n_values():
    true = np.arange(6.0).reshape(2, 3)
    t_sel, _ = rw.best_of_n_select(true, -true, np.array([1, 3]))
    np.testing.assert_array_equal(t_sel, [[0.0, 3.0], [0.0, 3.0]])


@pytest.mark.parametrize(
    "true,proxy,ns,exc,err",
    [
        (np.zeros(3), np.zeros(3), [1], ValueError, "2-d"),
        (np.zeros((2, 3)), np.zeros((2, 4)), [1], ValueError, "shape"),
        (np.zeros((2, 3)), np.zeros((2, 3)), [4], ValueError, r"\[1, 3\]"),
        (np.zeros((2, 3)), np.zeros((2, 3)), [0], ValueError, ">= 1"),
        (np.zeros((2, 3)), np.zeros((2, 3)), [1.5], ValueError, ">= 1"),
        (np.zeros((2, 3)), np.zeros((2, 3)), [], ValueError, "empty"),
        (np.zeros((2, 3)), np.zeros((2, 3)), "12", TypeError, "n_values"),
        (np.zeros((2, 3)), np.zeros((2, 3)), [[1]], TypeError, "n_values"),
        (np.full((2, 3), np.nan), np.zeros((2, 3)), [1], ValueError, "finite"),
        ("x", np.zeros((2, 3)), [1], TypeError, "true_reward"),
    ],
)
def test_best_of_n_select_rejects_bad_input(true, proxy, ns, exc, err):
    with pytest.raises(exc, match=err):
        rw.best_of_n_select(true, proxy, ns)


# ------------------------------------------------------------------------------------
# Gao et al.'s forms
# ------------------------------------------------------------------------------------


def test_gao_forms_by_hand():
    assert rw.gao_bon_gold(2.0, 1.0, 0.25) == pytest.approx(2 * (1 - 0.5))
    assert rw.gao_rl_gold(math.e, 1.0, 0.5) == pytest.approx(math.e * 0.5)
    assert rw.gao_rl_gold(0.0, 1.0, 0.5) == 0.0
    np.testing.assert_allclose(rw.gao_bon_gold([0.0, 1.0], 1.0, 1.0), [0.0, 0.0])
    assert isinstance(rw.gao_bon_gold(1.0, 1.0, 1.0), float)


@FAST
@given(st.floats(0.05, 3.0), st.floats(0.25, 2.0))
def test_gao_peaks_match_numerical_maximisation(alpha, beta):
    for form, fn in (("bon", rw.gao_bon_gold), ("rl", rw.gao_rl_gold)):
        d_star, r_star = rw.gao_peak(form, alpha, beta)
        hi = 3 * d_star + 1
        res = optimize.minimize_scalar(
            lambda d: -fn(d, alpha, beta), bounds=(1e-12, hi), method="bounded",
            options={"xatol": 1e-10 * hi},
        )
        assert -res.fun == pytest.approx(r_star, rel=1e-6, abs=1e-9)
        assert fn(d_star, alpha, beta) == pytest.approx(r_star, rel=1e-9)


@FAST
@given(st.floats(-3.0, 3.0), st.floats(-1.0, 1.0), st.sampled_from(["bon", "rl"]))
def test_fit_gao_recovers_exact_coefficients(alpha, beta, form):
    d = np.linspace(0.0, 4.0, 25)
    fn = rw.gao_bon_gold if form == "bon" else rw.gao_rl_gold
    a_fit, b_fit = rw.fit_gao(d, fn(d, alpha, beta), form)
    assert a_fit == pytest.approx(alpha, abs=1e-8)
    assert b_fit == pytest.approx(beta, abs=1e-8)


def test_fit_gao_agrees_with_scipy_curve_fit_on_noisy_data():
    g = rng(5)
    d = np.linspace(0.1, 5, 40)
    y = rw.gao_rl_gold(d, 1.0, 0.4) + 0.05 * g.standard_normal(d.size)
    popt, _ = optimize.curve_fit(lambda x, a, b: x * (a - b * np.log(x)), d, y, p0=[0.5, 0.1])
    np.testing.assert_allclose(rw.fit_gao(d, y, "rl"), popt, rtol=1e-6)


def test_gao_functions_reject_bad_input():
    with pytest.raises(ValueError, match="d must be finite and >= 0"):
        rw.gao_bon_gold(-1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="d must be finite"):
        rw.gao_rl_gold(np.inf, 1.0, 1.0)
    with pytest.raises(TypeError, match="alpha"):
        rw.gao_rl_gold(1.0, "1", 1.0)
    with pytest.raises(ValueError, match="beta must be finite"):
        rw.gao_bon_gold(1.0, 1.0, np.nan)
    with pytest.raises(ValueError, match="form"):
        rw.gao_peak("ppo", 1.0, 1.0)
    with pytest.raises(ValueError, match="beta must be finite and > 0"):
        rw.gao_peak("rl", 1.0, 0.0)
    with pytest.raises(ValueError, match="alpha must be finite and > 0"):
        rw.gao_peak("bon", -1.0, 1.0)
    with pytest.raises(ValueError, match="alpha / beta"):
        rw.gao_peak("rl", 1000.0, 1.0)
    with pytest.raises(ValueError, match="form"):
        rw.fit_gao([1, 2], [1, 2], "ppo")
    with pytest.raises(ValueError, match="equal length"):
        rw.fit_gao([1, 2, 3], [1, 2], "bon")
    with pytest.raises(ValueError, match="two distinct"):
        rw.fit_gao([0.0, 1.0, 1.0], [0.0, 1.0, 1.0], "bon")
    with pytest.raises(ValueError, match="gold must be finite"):
        rw.fit_gao([1.0, 2.0], [1.0, np.nan], "rl")


# ------------------------------------------------------------------------------------
# CheckpointWorld and Q-learning
# ------------------------------------------------------------------------------------


def test_world_moves_and_walls():
    w = CheckpointWorld()
    s = w.index((0, 0))
    assert w.move(s, 0) == w.index((1, 0))  # right
    assert w.move(s, 1) == s  # left into the wall
    assert w.move(s, 2) == w.index((0, 1))  # up
    assert w.move(s, 3) == s  # down into the wall
    top_right = w.index((w.width - 1, w.height - 1))
    assert w.move(top_right, 0) == top_right and w.move(top_right, 2) == top_right


def test_world_rewards_by_hand():
    w = CheckpointWorld(bonus=0.3)
    check, goal = w.index(w.checkpoint), w.index(w.goal)
    left = w.index((w.checkpoint[0] - 1, w.checkpoint[1]))
    below_goal = w.index((w.goal[0], w.goal[1] - 1))
    assert w.rewards(left, check, 0.9) == pytest.approx((0.0, 0.3, 0.9 * 0.3))
    assert w.rewards(check, left, 0.9) == pytest.approx((0.0, 0.0, -0.3))
    assert w.rewards(check, check, 0.9) == pytest.approx((0.0, 0.0, 0.9 * 0.3 - 0.3))
    assert w.rewards(below_goal, goal, 0.9) == pytest.approx((1.0, 1.0, 1.0))


def test_shaped_loop_never_pays_but_the_proxy_loop_does():
    # Off and back on the checkpoint: the proxy pays `bonus` every cycle, while the
    # potential-based bonus telescopes: +gamma*bonus on, -bonus off (discounted: zero per cycle).
    w, g = CheckpointWorld(bonus=0.5), 0.9
    check = w.index(w.checkpoint)
    left = w.index((w.checkpoint[0] - 1, w.checkpoint[1]))
    on = w.rewards(left, check, g)
    off = w.rewards(check, left, g)
    assert on[1] + g * off[1] == pytest.approx(0.5)
    assert on[2] + g * off[2] == pytest.approx(g * 0.5 - g * 0.5)  # zero: Phi telescopes
    assert on[2] + g * off[2] + g * g * on[2] < on[1] + g * off[1] + g * g * on[1]


def value_iteration(w: CheckpointWorld, which: int, gamma: float) -> np.ndarray:
    """Optimal Q of the infinite-horizon discounted problem, by brute-force iteration."""
    q = np.zeros((w.n_states, len(ACTIONS)))
    goal = w.index(w.goal)
    for _ in range(2000):
        new = np.empty_like(q)
        for s in range(w.n_states):
            for a in range(len(ACTIONS)):
                nxt = w.move(s, a)
                r = w.rewards(s, nxt, gamma)[which]
                new[s, a] = r if nxt == goal else r + gamma * q[nxt].max()
        if np.max(np.abs(new - q)) < 1e-12:
            break
        q = new
    return q


@pytest.mark.parametrize("which,finishes", [(0, True), (1, False), (2, True)])
def test_optimal_policies_under_each_reward(which, finishes):
    # Ng et al. 1999: potential-based shaping keeps the optimal policy of the true reward;
    # the revisitable bonus makes looping optimal instead.
    w = CheckpointWorld()
    q = value_iteration(w, which, 0.9)
    proxy_ret, true_ret, path = rw.greedy_rollout(w, q)
    assert (true_ret == 1.0) is finishes
    if not finishes:
        assert path.count(w.index(w.checkpoint)) > 5
    if which == 2:  # Q*_shaped = Q*_true - Phi(s)
        q_true = value_iteration(w, 0, 0.9)
        phi = np.zeros(w.n_states)
        phi[w.index(w.checkpoint)] = w.bonus
        np.testing.assert_allclose(q, q_true - phi[:, None], atol=1e-9)


@pytest.mark.parametrize("reward,true_final", [("true", 1.0), ("proxy", 0.0), ("shaped", 1.0)])
def test_q_learning_learns_what_it_is_paid_for(reward, true_final):
    w = CheckpointWorld()
    runs = [rw.q_learning(w, reward, 300, rng(seed), eval_every=50) for seed in range(3)]
    for run in runs:
        assert run.episode[-1] == 300 and run.episode.size == 6
        assert run.true_return[-1] == true_final
        assert run.q.shape == (w.n_states, 4)
    if reward == "proxy":
        assert min(r.proxy_return[-1] for r in runs) > 1.0  # more than finishing pays


def test_q_learning_is_reproducible():
    w = CheckpointWorld()
    a = rw.q_learning(w, "proxy", 30, rng(1), eval_every=7)
    b = rw.q_learning(w, "proxy", 30, rng(1), eval_every=7)
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.episode, [7, 14, 21, 28, 30])


@pytest.mark.parametrize(
    "kwargs,exc,err",
    [
        (dict(width=1), ValueError, "width"),
        (dict(goal=(9, 0)), ValueError, r"goal\[0\]"),
        (dict(checkpoint=(0, 0)), ValueError, "different cells"),
        (dict(start=[0, 0]), TypeError, "start"),
        (dict(bonus=-0.1), ValueError, "bonus"),
        (dict(bonus="x"), TypeError, "bonus"),
        (dict(horizon=0), ValueError, "horizon"),
    ],
)
def test_world_rejects_bad_settings(kwargs, exc, err):
    with pytest.raises(exc, match=err):
        CheckpointWorld(**kwargs)


def test_world_and_learning_reject_bad_arguments():
    w = CheckpointWorld()
    with pytest.raises(ValueError, match="state"):
        w.move(w.n_states, 0)
    with pytest.raises(ValueError, match="action"):
        w.move(0, 4)
    with pytest.raises(ValueError, match="reward"):
        rw.q_learning(w, "gold", 10, rng())
    with pytest.raises(TypeError, match="world"):
        rw.q_learning("grid", "true", 10, rng())
    with pytest.raises(ValueError, match="episodes"):
        rw.q_learning(w, "true", 0, rng())
    with pytest.raises(TypeError, match="rng"):
        rw.q_learning(w, "true", 10, 3)
    with pytest.raises(ValueError, match="alpha"):
        rw.q_learning(w, "true", 10, rng(), alpha=0.0)
    with pytest.raises(ValueError, match="gamma"):
        rw.q_learning(w, "true", 10, rng(), gamma=1.0)
    with pytest.raises(ValueError, match="epsilon"):
        rw.q_learning(w, "true", 10, rng(), epsilon=1.5)
    with pytest.raises(ValueError, match="q must have shape"):
        rw.greedy_rollout(w, np.zeros((3, 4)))
    with pytest.raises(TypeError, match="world"):
        rw.greedy_rollout(None, np.zeros((3, 4)))


# ------------------------------------------------------------------------------------
# reinforce_bandit
# ------------------------------------------------------------------------------------


def test_reinforce_first_step_matches_the_exact_policy_gradient():
    # With a huge batch, the sampled update approaches lr * pi_a * (r_a - pi . r).
    proxy = np.array([0.0, 1.0, 3.0])
    logits = np.array([0.5, 0.0, -0.5])
    lr = 0.1
    run = rw.reinforce_bandit(proxy, proxy, logits, 1, rng(2), batch=400_000, lr=lr)
    pi0 = np.exp(logits) / np.exp(logits).sum()
    theta1 = logits + lr * pi0 * (proxy - pi0 @ proxy)
    pi1 = np.exp(theta1) / np.exp(theta1).sum()
    np.testing.assert_allclose(run.probs[0], pi0)
    np.testing.assert_allclose(run.probs[1], pi1, atol=2e-3)


@SLOW
@given(st.integers(0, 1000))
def test_reinforce_probabilities_stay_valid_and_curves_are_expectations(seed):
    true = np.array([0.0, 0.5, 1.0, 0.0])
    proxy = np.array([0.0, 0.5, 1.0, 1.5])
    run = rw.reinforce_bandit(true, proxy, np.zeros(4), 60, rng(seed), batch=16, lr=0.5)
    assert run.probs.shape == (61, 4)
    np.testing.assert_allclose(run.probs.sum(axis=1), 1.0)
    assert np.all(run.probs >= 0)
    np.testing.assert_allclose(run.expected_proxy, run.probs @ proxy)
    np.testing.assert_allclose(run.expected_true, run.probs @ true)


def test_reinforce_on_the_proxy_ends_on_the_hack():
    true = np.array([0.0, 1.0, 0.0])
    proxy = np.array([0.0, 1.0, 2.0])
    run = rw.reinforce_bandit(true, proxy, np.zeros(3), 300, rng(0), batch=32, lr=0.5)
    assert run.probs[-1, 2] > 0.95
    assert run.expected_true[-1] < 0.05 and run.expected_proxy[-1] > 1.9


@pytest.mark.parametrize(
    "args,kwargs,exc,err",
    [
        (([0.0], [0.0], [0.0], 5), {}, ValueError, ">= 2 arms"),
        (([0.0, 1.0], [0.0], [0.0, 0.0], 5), {}, ValueError, "proxy_reward must have shape"),
        (([0.0, 1.0], [0.0, 1.0], [0.0], 5), {}, ValueError, "logits must have shape"),
        (([0.0, 1.0], [0.0, np.inf], [0.0, 0.0], 5), {}, ValueError, "finite"),
        (([0.0, 1.0], [0.0, 1.0], [0.0, 0.0], 0), {}, ValueError, "steps"),
        (([0.0, 1.0], [0.0, 1.0], [0.0, 0.0], 5), {"batch": 0}, ValueError, "batch"),
        (([0.0, 1.0], [0.0, 1.0], [0.0, 0.0], 5), {"lr": -1.0}, ValueError, "lr"),
        (([0.0, 1.0], [0.0, 1.0], [0.0, 0.0], 5.0), {}, TypeError, "steps"),
    ],
)
def test_reinforce_rejects_bad_input(args, kwargs, exc, err):
    with pytest.raises(exc, match=err):
        rw.reinforce_bandit(*args, rng(), **kwargs)
    with pytest.raises(TypeError, match="rng"):
        rw.reinforce_bandit([0.0, 1.0], [0.0, 1.0], [0.0, 0.0], 5, None)


# ------------------------------------------------------------------------------------
# fit_bradley_terry
# ------------------------------------------------------------------------------------


def test_bradley_terry_matches_scipy_logistic_regression_via_minimize():
    g = rng(4)
    x = g.standard_normal((3000, 2))
    y = g.random(3000) < 1 / (1 + np.exp(-(x @ np.array([1.5, -0.7]))))
    w = rw.fit_bradley_terry(x, y)

    def nll(v):  # written independently: -log-likelihood with np.logaddexp
        z = x @ v
        return np.mean(np.where(y, np.logaddexp(0, -z), np.logaddexp(0, z)))

    ref = optimize.minimize(nll, np.ones(2), method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-13, "maxiter": 5000}).x
    np.testing.assert_allclose(w, ref, atol=1e-5)
    assert np.all(np.abs(w - [1.5, -0.7]) < 0.15)  # and near the truth at this sample size


@settings(max_examples=20, deadline=None, database=None)
@given(st.floats(0.0, 2.0), st.integers(0, 1000))
def test_bradley_terry_l2_shrinks_towards_zero(l2, seed):
    g = rng(seed)
    x = g.standard_normal((200, 2))
    y = g.random(200) < 1 / (1 + np.exp(-(x @ np.array([1.0, 0.5]))))
    if y.all() or not y.any():
        return
    w0 = rw.fit_bradley_terry(x, y, l2=0.5)
    w1 = rw.fit_bradley_terry(x, y, l2=0.5 + l2)
    assert np.linalg.norm(w1) <= np.linalg.norm(w0) + 1e-7


def test_bradley_terry_rejects_bad_input():
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="separable"):
        rw.fit_bradley_terry(x, np.array([True, False, True]))
    assert np.all(np.isfinite(rw.fit_bradley_terry(x, np.array([True, False, True]), l2=0.1)))
    with pytest.raises(TypeError, match="booleans"):
        rw.fit_bradley_terry(x, np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="shape"):
        rw.fit_bradley_terry(x, np.array([True, False]))
    with pytest.raises(ValueError, match="2-d"):
        rw.fit_bradley_terry(np.ones(3), np.array([True, False, True]))
    with pytest.raises(ValueError, match="l2"):
        rw.fit_bradley_terry(x, np.array([True, False, True]), l2=-1.0)
    with pytest.raises(ValueError, match="finite"):
        rw.fit_bradley_terry(np.full((3, 2), np.nan), np.array([True, False, True]))


# ------------------------------------------------------------------------------------
# simulate_preferences
# ------------------------------------------------------------------------------------


def test_simulate_preferences_frequencies_follow_the_logistic_law():
    # one repeated pair per block: the win frequency must match sigmoid(w . d)
    w = np.array([1.0, -2.0])
    for d, p in (([0.0, 0.0], 0.5), ([1.0, 0.0], 1 / (1 + math.exp(-1))), ([0.0, 1.0], 1 / (1 + math.exp(2)))):
        x = np.tile(d, (40_000, 1))
        wins = rw.simulate_preferences(x, w, rng(9))
        assert wins.dtype == bool
        assert abs(wins.mean() - p) < 4.5 * math.sqrt(p * (1 - p) / 40_000)


def test_simulate_then_fit_recovers_the_rater_weights():
    g = rng(12)
    x = g.standard_normal((20_000, 2))
    w_true = np.array([1.5, 0.8])
    w_fit = rw.fit_bradley_terry(x, rw.simulate_preferences(x, w_true, g))
    np.testing.assert_allclose(w_fit, w_true, atol=0.1)


def test_simulate_preferences_rejects_bad_input():
    with pytest.raises(ValueError, match="shapes"):
        rw.simulate_preferences(np.zeros((3, 2)), np.zeros(3), rng())
    with pytest.raises(ValueError, match="shapes"):
        rw.simulate_preferences(np.zeros(3), np.zeros(3), rng())
    with pytest.raises(ValueError, match="finite"):
        rw.simulate_preferences(np.zeros((3, 2)), [np.nan, 0.0], rng())
    with pytest.raises(TypeError, match="rng"):
        rw.simulate_preferences(np.zeros((3, 2)), np.zeros(2), "seed")


# ------------------------------------------------------------------------------------------
# Private pieces that the chapter displays (they take already-checked values)
# ------------------------------------------------------------------------------------------


def test_private_best_of_n_select_by_hand():
    true = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    proxy = np.array([[0.0, 9.0, 1.0], [3.0, 2.0, 7.0]])
    t_sel, p_sel = rw._best_of_n_select(true, proxy, [1, 2, 3])
    assert t_sel.tolist() == [[1.0, 4.0], [2.0, 4.0], [2.0, 6.0]]
    assert p_sel.tolist() == [[0.0, 3.0], [9.0, 3.0], [9.0, 7.0]]
    t_pub, p_pub = rw.best_of_n_select(true, proxy, [1, 2, 3])
    assert np.array_equal(t_sel, t_pub) and np.array_equal(p_sel, p_pub)


def test_private_reinforce_bandit_matches_the_public_one_and_keeps_its_input():
    true, proxy = np.array([1.0, 0.0, 0.5]), np.array([0.0, 1.0, 0.5])
    logits = np.array([0.1, -0.2, 0.0])
    run = rw._reinforce_bandit(true, proxy, logits, 20, rng(7), batch=8, lr=0.5)
    public = rw.reinforce_bandit(true, proxy, logits, 20, rng(7), batch=8, lr=0.5)
    assert np.array_equal(run.probs, public.probs)
    assert np.array_equal(run.expected_true, public.expected_true)
    assert logits.tolist() == [0.1, -0.2, 0.0]  # the caller's logits are not updated


# ------------------------------------------------------------------------------------
# the distance ("progress") potential in the gridworld
# ------------------------------------------------------------------------------------


def test_progress_reward_by_hand():
    # Phi = 0.1 * (8 - Manhattan distance to the goal), and 0 at the terminal goal.
    w = CheckpointWorld(progress=0.1)
    start, goal = w.index((0, 0)), w.index(w.goal)
    right_of_start = w.index((1, 0))
    below_goal = w.index((w.goal[0], w.goal[1] - 1))
    assert w.progress_reward(start, right_of_start, 0.9) == pytest.approx(0.9 * 0.1 - 0.0)
    assert w.progress_reward(right_of_start, start, 0.9) == pytest.approx(0.0 - 0.1)
    assert w.progress_reward(below_goal, goal, 0.9) == pytest.approx(1.0 - 0.7)
    # bumping a wall costs (1 - gamma) * Phi: standing still never pays
    corner = w.index((w.width - 1, 0))
    assert w.progress_reward(corner, corner, 0.9) == pytest.approx(-(1 - 0.9) * 0.1 * (8 - 3))


def value_iteration_progress(w: CheckpointWorld, gamma: float) -> np.ndarray:
    q = np.zeros((w.n_states, len(ACTIONS)))
    goal = w.index(w.goal)
    for _ in range(2000):
        new = np.empty_like(q)
        for s in range(w.n_states):
            for a in range(len(ACTIONS)):
                nxt = w.move(s, a)
                r = w.progress_reward(s, nxt, gamma)
                new[s, a] = r if nxt == goal else r + gamma * q[nxt].max()
        if np.max(np.abs(new - q)) < 1e-12:
            break
        q = new
    return q


def test_progress_potential_keeps_the_optimal_values_shifted_by_phi():
    w = CheckpointWorld()
    q = value_iteration_progress(w, 0.9)
    q_true = value_iteration(w, 0, 0.9)
    phi = np.array([0.1 * (8 - abs(5 - s % 6) - abs(3 - s // 6)) for s in range(w.n_states)])
    phi[w.index(w.goal)] = 0.0
    np.testing.assert_allclose(q, q_true - phi[:, None], atol=1e-9)


def test_progress_shaping_learns_faster_than_the_true_reward():
    w = CheckpointWorld()
    first = {}
    for reward in ("true", "progress"):
        runs = [rw.q_learning(w, reward, 60, rng(seed), eval_every=5) for seed in range(4)]
        assert all(run.true_return[-1] == 1.0 for run in runs)
        first[reward] = np.mean([run.episode[np.argmax(run.true_return > 0)] for run in runs])
    assert first["progress"] < first["true"]


def test_world_rejects_negative_progress_and_q_learning_unknown_reward():
    with pytest.raises(ValueError, match="progress"):
        CheckpointWorld(progress=-0.1)
    with pytest.raises(TypeError, match="progress"):
        CheckpointWorld(progress="a")
    with pytest.raises(ValueError, match="reward must be one of"):
        rw.q_learning(CheckpointWorld(), "distance", 5, rng())


# ------------------------------------------------------------------------------------
# best-of-n and the KL-regularised policy on a finite pool
# ------------------------------------------------------------------------------------


def brute_force_bon_pool(true_row, proxy_row, n):
    """Enumerate every ordered n-tuple of draws; the winner is the top proxy."""
    k = len(true_row)
    prob = np.zeros(k)
    for draw in itertools.product(range(k), repeat=n):
        prob[max(draw, key=lambda i: proxy_row[i])] += 1.0 / k**n
    kept = prob > 0
    kl = float(np.sum(prob[kept] * np.log(prob[kept] * k)))
    return kl, float(prob @ true_row), float(prob @ proxy_row)


@FAST
@given(st.integers(0, 10_000), st.integers(2, 4), st.integers(1, 4))
def test_best_of_n_pool_matches_enumeration(seed, k, n):
    g = rng(seed)
    true = g.standard_normal((2, k))
    proxy = g.standard_normal((2, k))
    kl, gold, score = rw.best_of_n_pool(true, proxy, [n])
    rows = [brute_force_bon_pool(true[i], proxy[i], n) for i in range(2)]
    assert kl[0] == pytest.approx(np.mean([r[0] for r in rows]), abs=1e-12)
    assert gold[0] == pytest.approx(np.mean([r[1] for r in rows]), abs=1e-12)
    assert score[0] == pytest.approx(np.mean([r[2] for r in rows]), abs=1e-12)


def test_best_of_n_pool_limits():
    g = rng(3)
    true, proxy = g.standard_normal((5, 4000)), g.standard_normal((5, 4000))
    kl, gold, _ = rw.best_of_n_pool(true, proxy, [1, 8])
    assert kl[0] == pytest.approx(0.0, abs=1e-12)
    assert gold[0] == pytest.approx(true.mean())
    # a large pool behaves like a continuous base: log n - (n-1)/n
    assert kl[1] == pytest.approx(math.log(8) - 7 / 8, abs=5e-3)
    # very large n keeps the top-proxy answer of each row
    kl_big, gold_big, _ = rw.best_of_n_pool(true, proxy, [10**7])
    top = true[np.arange(5), proxy.argmax(axis=1)].mean()
    assert gold_big[0] == pytest.approx(top, abs=1e-6)
    assert kl_big[0] == pytest.approx(math.log(4000), abs=1e-6)


def tilted_objective(q, proxy_row, temp):
    k = len(proxy_row)
    kept = q > 0
    return q @ proxy_row - temp * np.sum(q[kept] * np.log(q[kept] * k))


@FAST
@given(st.integers(0, 10_000), st.floats(0.05, 20.0))
def test_kl_regularised_policy_beats_every_other_policy_on_its_objective(seed, temp):
    g = rng(seed)
    true, proxy = g.standard_normal((1, 5)), 2.0 * g.standard_normal((1, 5))
    kl, gold, score = rw.kl_regularised_policy(true, proxy, [temp])
    # the optimum found independently, by a constrained optimiser over the simplex
    res = optimize.minimize(
        lambda z: -tilted_objective(np.exp(z) / np.exp(z).sum(), proxy[0], temp),
        np.zeros(5), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12,
                                                    "maxiter": 20000},
    )
    assert score[0] - temp * kl[0] >= -res.fun - 1e-6
    for _ in range(20):
        q = g.dirichlet(np.ones(5))
        assert score[0] - temp * kl[0] >= tilted_objective(q, proxy[0], temp) - 1e-12
    assert 0.0 <= kl[0] <= math.log(5) + 1e-12


def test_kl_regularised_policy_limits():
    g = rng(4)
    true, proxy = g.standard_normal((6, 50)), g.standard_normal((6, 50))
    kl, gold, score = rw.kl_regularised_policy(true, proxy, [1e6, 1e-4])
    assert kl[0] == pytest.approx(0.0, abs=1e-9) and gold[0] == pytest.approx(true.mean())
    top = true[np.arange(6), proxy.argmax(axis=1)].mean()
    assert gold[1] == pytest.approx(top) and kl[1] == pytest.approx(math.log(50))
    assert score[1] == pytest.approx(proxy.max(axis=1).mean())


@pytest.mark.parametrize("func,arg", [(rw.best_of_n_pool, [2]), (rw.kl_regularised_policy, [1.0])])
def test_pool_functions_reject_bad_arrays(func, arg):
    good = np.zeros((3, 4))
    with pytest.raises(ValueError, match="true_reward must be 2-d"):
        func(np.zeros(4), np.zeros(4), arg)
    with pytest.raises(ValueError, match="true_reward must be 2-d"):
        func(np.zeros((3, 1)), np.zeros((3, 1)), arg)
    with pytest.raises(ValueError, match="proxy_reward must have the shape"):
        func(good, np.zeros((3, 5)), arg)
    with pytest.raises(ValueError, match="true_reward"):
        func(np.full((3, 4), np.nan), good, arg)


@pytest.mark.parametrize("bad,err", [([0], ValueError), ([2.5], ValueError), ("4", TypeError),
                                     ([[2]], TypeError), ([], ValueError)])
def test_best_of_n_pool_rejects_bad_n(bad, err):
    with pytest.raises(err, match="n_values"):
        rw.best_of_n_pool(np.zeros((2, 3)), np.zeros((2, 3)), bad)


@pytest.mark.parametrize("bad,err", [(0.0, ValueError), (-1.0, ValueError), (np.inf, ValueError),
                                     ([[1.0]], ValueError), ("a", TypeError)])
def test_kl_regularised_policy_rejects_bad_temperatures(bad, err):
    with pytest.raises(err, match="temperatures"):
        rw.kl_regularised_policy(np.zeros((2, 3)), np.zeros((2, 3)), bad)


# ------------------------------------------------------------------------------------
# conditional_true_reward: what selecting on U = X + E buys
# ------------------------------------------------------------------------------------


@FAST
@given(st.floats(-30.0, 30.0))
def test_conditional_true_reward_normal_error_is_half_u(u):
    # X, E independent N(0, 1): (X, U) jointly normal, E[X | U] = cov/var * u = u / 2
    assert rw.conditional_true_reward(u) == pytest.approx(u / 2, abs=1e-7)


@pytest.mark.parametrize("dof", [1.0, 2.0, 5.0])
@pytest.mark.parametrize("u", [0.5, 3.0, 10.0, 40.0])
def test_conditional_true_reward_t_error_matches_quad(u, dof):
    num_ = integrate.quad(lambda x: x * stats.norm.pdf(x) * stats.t.pdf(u - x, dof), -np.inf,
                          np.inf, points=None)[0]
    den = integrate.quad(lambda x: stats.norm.pdf(x) * stats.t.pdf(u - x, dof), -np.inf,
                         np.inf)[0]
    assert rw.conditional_true_reward(u, dof) == pytest.approx(num_ / den, rel=1e-5, abs=1e-8)


def test_conditional_true_reward_heavy_tail_returns_to_zero():
    u = np.array([1.0, 3.0, 100.0, 1000.0])
    t2 = rw.conditional_true_reward(u, 2)
    assert t2[1] > t2[0] > 0 and t2[2] < 0.05 and t2[3] < t2[2]
    assert np.all(np.diff(rw.conditional_true_reward(u)) > 0)


@pytest.mark.parametrize("kwargs,err", [({"u": np.nan}, ValueError), ({"u": "a"}, TypeError),
                                        ({"u": 1.0, "dof": 0.0}, ValueError),
                                        ({"u": 1.0, "dof": -2.0}, ValueError)])
def test_conditional_true_reward_rejects_bad_input(kwargs, err):
    with pytest.raises(err):
        rw.conditional_true_reward(**kwargs)
