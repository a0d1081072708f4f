"""Reward hacking in small, explicit models: the numerical core of the reward-hacking chapter.

Everything the chapter computes lives here, so it can be unit-tested:

* best-of-n selection against a proxy reward (Goodhart's law under optimisation pressure);
* the KL divergence of best-of-n sampling from its base policy, in closed form
  (``log n - (n - 1) / n`` for a continuous base distribution), exactly for a discrete base
  distribution, and by Monte Carlo over the log density ratio of a continuous one;
* the functional forms that Gao et al. (2022) fitted to gold reward against
  ``d = sqrt(KL)``, their peaks, and a least-squares fit of their two coefficients;
* a small gridworld whose proxy reward pays for a revisitable checkpoint, a tabular
  Q-learning agent for it, and the potential-based version of the same bonus
  (Ng, Harada and Russell 1999);
* a softmax bandit trained with REINFORCE on a proxy reward that pays most for an exploit;
* a Bradley-Terry reward model fitted to pairwise preferences (a biased rater's, in the
  chapter's sycophancy simulation).

Every public function checks its input and raises ``TypeError`` (wrong kind of object) or
``ValueError`` (wrong value or shape) with a message that names the parameter and the allowed
range, rather than returning a meaningless number.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp, softmax
from scipy.stats import norm
from scipy.stats import t as student_t

from lilbook._checks import (
    FloatOrArray,
    as_output,
    finite_array,
    generator,
    int_in_range,
    nonnegative,
    positive,
    positive_int,
    positive_scalar,
    probabilities,
    real_scalar,
)

__all__ = [
    "ACTIONS",
    "CheckpointWorld",
    "BanditRun",
    "QLearningRun",
    "best_of_n_kl",
    "best_of_n_kl_discrete",
    "best_of_n_kl_monte_carlo",
    "best_of_n_pool",
    "best_of_n_select",
    "conditional_true_reward",
    "fit_bradley_terry",
    "fit_gao",
    "gao_bon_gold",
    "gao_peak",
    "gao_rl_gold",
    "greedy_rollout",
    "kl_regularised_policy",
    "q_learning",
    "reinforce_bandit",
    "simulate_preferences",
]


# ------------------------------------------------------------------------------------------
# Best-of-n: selection and its KL divergence
# ------------------------------------------------------------------------------------------


def _count(n: object, name: str) -> int:
    """An integer-valued count >= 1; integral floats such as 4.0 are accepted."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Real):
        raise TypeError(f"{name} must be an integer >= 1, got {type(n).__name__}")
    if isinstance(n, numbers.Integral):
        v = int(n)
    else:
        x = float(n)
        if not math.isfinite(x) or x != math.floor(x):
            raise ValueError(f"{name} must be an integer >= 1; got {x!r}")
        v = int(x)
    if v < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {v}")
    return v


def best_of_n_kl(n: object) -> float:
    """KL divergence (nats) of best-of-``n`` sampling from its base policy.

    Draw ``n`` samples from a continuous base distribution and keep the one with the highest
    reward. The kept sample has density ``n F(x)**(n-1) f(x)`` (with ``F`` the distribution
    function of the reward), and ``KL(best-of-n || base) = log n - (n - 1) / n``. The value
    does not depend on the base distribution or on the reward, as long as ties have
    probability zero; with ties (a discrete base) it is an upper bound, see
    :func:`best_of_n_kl_discrete`.

    Raises ``TypeError`` if ``n`` is not a number and ``ValueError`` if it is not an integer
    >= 1 (``4.0`` is accepted, ``2.5`` is not).
    """
    k = _count(n, "n")
    return math.log(k) - (k - 1) / k


def best_of_n_kl_discrete(probs: object, n: object) -> float:
    """Exact KL divergence of best-of-``n`` from a discrete base distribution.

    ``probs[k]`` is the base probability of the ``k``-th outcome, with outcomes listed in
    increasing order of reward and distinct rewards (merge tied outcomes first: best-of-n
    picks uniformly among ties, so merging leaves the KL unchanged). The best of ``n``
    draws is outcome ``k`` with probability ``F_k**n - F_{k-1}**n``, where ``F_k`` is the
    cumulative probability, and the KL is summed over the outcomes exactly.

    Raises ``ValueError`` if ``probs`` is not a 1-d array of probabilities summing to one,
    and as :func:`best_of_n_kl` for ``n``.
    """
    p = probabilities(probs, "probs")
    if p.ndim != 1:
        raise ValueError(f"probs must be one-dimensional; got shape {p.shape}")
    if abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"probs must sum to 1; got {p.sum()!r}")
    k = _count(n, "n")
    cdf = np.minimum(np.cumsum(p), 1.0)
    cdf[-1] = 1.0
    q = np.diff(np.concatenate([[0.0], cdf**k]))
    keep = (p > 0) & (q > 0)
    return max(0.0, float(np.sum(q[keep] * np.log(q[keep] / p[keep]))))


def best_of_n_kl_monte_carlo(
    n: object, samples: object, rng: np.random.Generator
) -> tuple[float, float]:
    """Monte Carlo estimate of the best-of-``n`` KL over a standard normal base policy.

    Each of ``samples`` trials draws ``n`` standard normal values, keeps the largest (the
    reward is the value itself) and evaluates the log density ratio of best-of-n to the
    base at it, ``log n + (n - 1) log F(x)``; the KL is the mean of that log ratio under
    the best-of-n distribution. Returns ``(estimate, standard_error)``.

    Raises ``TypeError``/``ValueError`` for a bad ``n`` or ``samples`` (``samples`` >= 2)
    and ``TypeError`` if ``rng`` is not a ``numpy.random.Generator``.
    """
    k = _count(n, "n")
    m = int_in_range(samples, "samples", 2, None)
    generator(rng)
    best = rng.standard_normal((m, k)).max(axis=1)
    log_ratio = math.log(k) + (k - 1) * norm.logcdf(best)
    return float(log_ratio.mean()), float(log_ratio.std(ddof=1) / math.sqrt(m))


def best_of_n_select(
    true_reward: object, proxy_reward: object, n_values: object
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Best-of-n selection on a proxy reward, for several ``n`` at once.

    ``true_reward`` and ``proxy_reward`` have shape ``(trials, n_max)``: row ``t`` holds the
    true and proxy rewards of ``n_max`` candidates for trial ``t``. For each ``n`` in
    ``n_values`` the candidate with the highest proxy reward among the first ``n`` of each
    row is selected. Returns ``(true_selected, proxy_selected)``, each of shape
    ``(len(n_values), trials)``.

    Raises ``ValueError`` if the arrays are not finite, not 2-d or of different shapes, or
    if an ``n`` is not an integer in ``[1, n_max]``.
    """
    true = finite_array(true_reward, "true_reward")
    proxy = finite_array(proxy_reward, "proxy_reward")
    if true.ndim != 2:
        raise ValueError(f"true_reward must be 2-d (trials, n_max); got shape {true.shape}")
    if proxy.shape != true.shape:
        raise ValueError(
            f"proxy_reward must have the shape of true_reward {true.shape}; "
            f"got {proxy.shape}"
        )
    ns = _check_counts(n_values, "n_values", true.shape[1])
    return _best_of_n_select(true, proxy, ns)


def _best_of_n_select(
    true_reward: NDArray[np.float64],
    proxy_reward: NDArray[np.float64],
    n_values: list[int],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """True and proxy reward of the proxy's pick among the first ``n`` candidates."""
    true_selected = np.empty((len(n_values), true_reward.shape[0]))
    proxy_selected = np.empty_like(true_selected)
    for i, n in enumerate(n_values):
        # in each trial (row), the candidate with the top proxy reward among the first n
        pick = np.argmax(proxy_reward[:, :n], axis=1)[:, None]
        true_selected[i] = np.take_along_axis(true_reward, pick, axis=1)[:, 0]
        proxy_selected[i] = np.take_along_axis(proxy_reward, pick, axis=1)[:, 0]
    return true_selected, proxy_selected


def _check_counts(values: object, name: str, high: int) -> list[int]:
    if isinstance(values, (str, bytes)) or np.ndim(values) > 1:
        raise TypeError(f"{name} must be an integer or a 1-d sequence of integers")
    items = list(np.atleast_1d(values)) if not isinstance(values, list) else values
    if not items:
        raise ValueError(f"{name} must not be empty")
    out = []
    for v in items:
        k = _count(v.item() if isinstance(v, np.generic) else v, name)
        if k > high:
            raise ValueError(f"{name} must be integers in [1, {high}] (the candidates); got {k}")
        out.append(k)
    return out


# ------------------------------------------------------------------------------------------
# Best-of-n against a KL-regularised softmax policy, on the same finite pool of candidates
# ------------------------------------------------------------------------------------------


def _check_pool(true_reward: object, proxy_reward: object) -> tuple[NDArray[np.float64], ...]:
    true = finite_array(true_reward, "true_reward")
    proxy = finite_array(proxy_reward, "proxy_reward")
    if true.ndim != 2 or true.shape[1] < 2:
        raise ValueError(
            f"true_reward must be 2-d (prompts, candidates) with >= 2 candidates; "
            f"got shape {true.shape}"
        )
    if proxy.shape != true.shape:
        raise ValueError(
            f"proxy_reward must have the shape of true_reward {true.shape}; got {proxy.shape}"
        )
    return true, proxy


def best_of_n_pool(
    true_reward: object, proxy_reward: object, n_values: object
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Exact best-of-n over a finite pool: KL from the base, true and proxy reward.

    Row ``p`` of ``true_reward`` and ``proxy_reward`` (shape ``(prompts, K)``) lists the
    ``K`` answers a base policy gives to prompt ``p``, each with probability ``1/K``.
    Best-of-``n`` draws ``n`` of them with replacement and keeps the highest proxy. Returns
    arrays over ``n_values``: the KL divergence from the base (nats), and the expected true
    and proxy reward of the kept answer, each averaged over prompts. Any integer ``n >= 1``.
    Raises ``ValueError`` for arrays that are not finite, 2-d and of one shape.
    """
    true, proxy = _check_pool(true_reward, proxy_reward)
    ns = _check_any_counts(n_values, "n_values")
    return _best_of_n_pool(true, proxy, ns)


def _check_any_counts(values: object, name: str) -> list[int]:
    """A non-empty integer or 1-d sequence of integers >= 1 (no upper limit)."""
    if isinstance(values, (str, bytes)) or np.ndim(values) > 1:
        raise TypeError(f"{name} must be an integer or a 1-d sequence of integers")
    items = np.atleast_1d(np.asarray(values, dtype=object)).tolist()
    if not items:
        raise ValueError(f"{name} must not be empty")
    return [_count(n, name) for n in items]


def _best_of_n_pool(true, proxy, n_values):
    """KL, true and proxy reward of best-of-n, exact over each row's K equally likely answers."""
    k = proxy.shape[1]
    order = np.argsort(proxy, axis=1)  # rank the pool by proxy, lowest first
    true_sorted = np.take_along_axis(true, order, axis=1)
    proxy_sorted = np.take_along_axis(proxy, order, axis=1)
    cdf = np.arange(k + 1) / k
    kl, gold, score = [], [], []
    for n in n_values:
        win = np.diff(cdf**n)  # P(the answer of rank j is the best of n draws)
        kept = win > 0
        kl.append(np.sum(win[kept] * np.log(win[kept] * k)))
        gold.append(np.mean(true_sorted @ win))
        score.append(np.mean(proxy_sorted @ win))
    return np.array(kl), np.array(gold), np.array(score)


def kl_regularised_policy(
    true_reward: object, proxy_reward: object, temperatures: object
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The optimum of KL-regularised RL on a finite pool: KL, true and proxy reward.

    With the base policy uniform over the ``K`` answers of each row, the policy maximising
    ``E[proxy] - temperature * KL(policy || base)`` is the softmax ``exp(proxy / temperature)``
    over the row. Returns, over ``temperatures`` (each finite and > 0), its KL from the base
    (nats) and its expected true and proxy reward, averaged over rows. Raises ``ValueError``
    for bad arrays (see :func:`best_of_n_pool`) or temperatures.
    """
    true, proxy = _check_pool(true_reward, proxy_reward)
    temps = positive(temperatures, "temperatures")
    if temps.ndim > 1:
        raise ValueError(f"temperatures must be a scalar or 1-d; got shape {temps.shape}")
    return _kl_regularised_policy(true, proxy, temps)


def _kl_regularised_policy(true, proxy, temperatures):
    """KL, true and proxy reward of the tilted policy pi(i) ~ exp(proxy_i / temperature)."""
    k = proxy.shape[1]
    kl, gold, score = [], [], []
    for temp in np.atleast_1d(temperatures):
        logits = proxy / temp  # pi(i) proportional to exp(proxy_i / temp), base uniform
        log_pi = logits - logsumexp(logits, axis=1, keepdims=True)
        pi = np.exp(log_pi)
        kl.append(np.mean(np.sum(pi * (log_pi + np.log(k)), axis=1)))
        gold.append(np.mean(np.sum(pi * true, axis=1)))
        score.append(np.mean(np.sum(pi * proxy, axis=1)))
    return np.array(kl), np.array(gold), np.array(score)


def conditional_true_reward(u: object, dof: object = None) -> FloatOrArray:
    """``E[X | X + E = u]`` for a true reward ``X ~ N(0, 1)`` and an independent error ``E``.

    ``E`` is standard normal when ``dof`` is ``None``, else Student-t with ``dof`` > 0
    degrees of freedom. This is what selecting on the proxy ``U = X + E`` buys on average
    (regressional Goodhart): ``u / 2`` for a normal error, a hump that returns to 0 for a
    heavy-tailed one. Computed by quadrature over ``x``; ``u`` must be finite.
    """
    x = finite_array(u, "u")
    if dof is not None:
        dof = positive_scalar(dof, "dof")
    return _conditional_true_reward(x, dof)


def _conditional_true_reward(u, dof):
    """Posterior mean of X given U = u: integrate x N(x) f_E(u - x) over a fine grid of x."""
    flat = np.ravel(u)[:, None]
    low, high = np.minimum(-12.0, flat / 2 - 12.0), np.maximum(12.0, flat / 2 + 12.0)
    grid = low + (high - low) * np.linspace(0.0, 1.0, 4801)[None, :]  # one grid per u
    error = flat - grid
    log_f = norm.logpdf(error) if dof is None else student_t.logpdf(error, dof)
    log_w = norm.logpdf(grid) + log_f
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    return as_output((np.sum(w * grid, axis=1) / np.sum(w, axis=1)).reshape(np.shape(u)))


# ------------------------------------------------------------------------------------------
# Gao et al.'s functional forms for gold reward against d = sqrt(KL)
# ------------------------------------------------------------------------------------------


def _coef(x: object, name: str) -> float:
    v = real_scalar(x, name)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite; got {v!r}")
    return v


def gao_bon_gold(d: object, alpha: object, beta: object) -> FloatOrArray:
    """Gold reward of best-of-n at distance ``d = sqrt(KL)``: ``d * (alpha - beta * d)``.

    The form Gao et al. (2022) fitted to gold-reward-model scores of best-of-n samples,
    measured from the initial policy's score. ``d`` must be finite and >= 0; ``alpha`` and
    ``beta`` finite reals.
    """
    x = nonnegative(d, "d")
    a, b = _coef(alpha, "alpha"), _coef(beta, "beta")
    return as_output(x * (a - b * x))


def gao_rl_gold(d: object, alpha: object, beta: object) -> FloatOrArray:
    """Gold reward of RL at distance ``d = sqrt(KL)``: ``d * (alpha - beta * log d)``.

    The form Gao et al. (2022) fitted to RL (PPO) runs; the value at ``d = 0`` is its limit,
    0. ``d`` must be finite and >= 0; ``alpha`` and ``beta`` finite reals.
    """
    x = nonnegative(d, "d")
    a, b = _coef(alpha, "alpha"), _coef(beta, "beta")
    safe = np.where(x > 0, x, 1.0)
    return as_output(np.where(x > 0, x * (a - b * np.log(safe)), 0.0))


def gao_peak(form: str, alpha: object, beta: object) -> tuple[float, float]:
    """Where the gold reward of :func:`gao_bon_gold` or :func:`gao_rl_gold` peaks.

    ``form`` is ``"bon"`` or ``"rl"``. Returns ``(d_star, gold_at_d_star)``: for best-of-n
    ``d* = alpha / (2 beta)`` and the peak is ``alpha**2 / (4 beta)``; for RL
    ``d* = exp(alpha / beta - 1)`` and the peak is ``beta * d*``. ``beta`` must be > 0 (with
    ``beta <= 0`` the curve never turns down) and, for best-of-n, ``alpha`` > 0.
    """
    if form not in ("bon", "rl"):
        raise ValueError(f"form must be 'bon' or 'rl'; got {form!r}")
    b = positive_scalar(beta, "beta")
    if form == "bon":
        a = positive_scalar(alpha, "alpha")
        return a / (2 * b), a * a / (4 * b)
    a = _coef(alpha, "alpha")
    if a / b - 1 > 700:
        raise ValueError("alpha / beta must be <= 701 so that exp(alpha/beta - 1) is finite")
    d_star = math.exp(a / b - 1)
    return d_star, b * d_star


def fit_gao(d: object, gold: object, form: str) -> tuple[float, float]:
    """Least-squares ``(alpha, beta)`` of Gao et al.'s form ``"bon"`` or ``"rl"``.

    Both forms are linear in the coefficients, ``gold = alpha * d - beta * g(d)`` with
    ``g(d) = d**2`` (best-of-n) or ``d log d`` (RL), so the fit is an ordinary linear least
    squares without intercept. ``d`` (>= 0) and ``gold`` are 1-d, finite and of equal length,
    with at least two distinct positive ``d``.
    """
    if form not in ("bon", "rl"):
        raise ValueError(f"form must be 'bon' or 'rl'; got {form!r}")
    x = nonnegative(d, "d")
    y = finite_array(gold, "gold")
    if x.ndim != 1 or y.shape != x.shape:
        raise ValueError(f"d and gold must be 1-d of equal length; got {x.shape} and {y.shape}")
    if np.unique(x[x > 0]).size < 2:
        raise ValueError("d must hold at least two distinct positive values")
    safe = np.where(x > 0, x, 1.0)
    g = x**2 if form == "bon" else np.where(x > 0, x * np.log(safe), 0.0)
    design = np.column_stack([x, -g])
    (alpha, beta), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(alpha), float(beta)


# ------------------------------------------------------------------------------------------
# A gridworld with a revisitable checkpoint bonus, and tabular Q-learning
# ------------------------------------------------------------------------------------------

#: Moves as (dx, dy): right, left, up, down.
ACTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))
REWARDS = ("true", "proxy", "shaped", "progress")


@dataclass(frozen=True)
class CheckpointWorld:
    """A ``width`` x ``height`` grid; cells are ``(x, y)`` pairs.

    The task (true reward) is to reach ``goal``: +1, and the episode ends. The designer also
    pays ``bonus`` for entering ``checkpoint``, meaning to reward progress; as written, that
    proxy pays again every time the agent steps off and back on. Moves into a wall leave the
    agent in place. Episodes last at most ``horizon`` steps.
    """

    width: int = 6
    height: int = 4
    start: tuple[int, int] = (0, 0)
    goal: tuple[int, int] = (5, 3)
    checkpoint: tuple[int, int] = (2, 1)
    bonus: float = 0.3
    horizon: int = 40
    progress: float = 0.1

    def __post_init__(self) -> None:
        int_in_range(self.width, "width", 2, 50)
        int_in_range(self.height, "height", 1, 50)
        for name in ("start", "goal", "checkpoint"):
            cell = getattr(self, name)
            if not isinstance(cell, tuple) or len(cell) != 2:
                raise TypeError(f"{name} must be a pair (x, y) of integers")
            int_in_range(cell[0], f"{name}[0]", 0, self.width - 1)
            int_in_range(cell[1], f"{name}[1]", 0, self.height - 1)
        if len({self.start, self.goal, self.checkpoint}) != 3:
            raise ValueError("start, goal and checkpoint must be three different cells")
        nonnegative(real_scalar(self.bonus, "bonus"), "bonus")
        positive_int(self.horizon, "horizon")
        nonnegative(real_scalar(self.progress, "progress"), "progress")

    @property
    def n_states(self) -> int:
        return self.width * self.height

    def index(self, cell: tuple[int, int]) -> int:
        """The state number of a cell (row-major from the bottom-left corner)."""
        return cell[1] * self.width + cell[0]

    def move(self, state: int, action: int) -> int:
        """The state reached from ``state`` by ``action`` (an index into ``ACTIONS``)."""
        int_in_range(state, "state", 0, self.n_states - 1)
        int_in_range(action, "action", 0, len(ACTIONS) - 1)
        return self._move(state, action)

    def _move(self, state: int, action: int) -> int:
        x, y = state % self.width, state // self.width
        dx, dy = ACTIONS[action]
        x = min(max(x + dx, 0), self.width - 1)
        y = min(max(y + dy, 0), self.height - 1)
        return y * self.width + x

    def rewards(self, state: int, nxt: int, gamma: float) -> tuple[float, float, float]:
        """``(true, proxy, shaped)`` rewards of the transition ``state -> nxt``.

        The shaped reward adds ``gamma * Phi(nxt) - Phi(state)`` with the potential
        ``Phi = bonus`` on the checkpoint and 0 elsewhere (and 0 at the terminal goal).
        """
        goal, check = self.index(self.goal), self.index(self.checkpoint)
        true = 1.0 if nxt == goal else 0.0
        entered = nxt == check and state != check
        proxy = true + (self.bonus if entered else 0.0)
        phi_now = self.bonus if state == check else 0.0
        phi_next = self.bonus if nxt == check else 0.0
        return true, proxy, true + gamma * phi_next - phi_now

    def distance_potential(self, state: int) -> float:
        """A heuristic potential that rises towards the goal, and is 0 at the (terminal) goal.

        ``progress`` times (the largest Manhattan distance on the grid minus the distance
        to the goal). It is kept non-negative so that standing still (bumping a wall) costs
        ``(1 - gamma) * Phi`` instead of paying it.
        """
        if state == self.index(self.goal):
            return 0.0
        x, y = state % self.width, state // self.width
        dist = abs(self.goal[0] - x) + abs(self.goal[1] - y)
        return self.progress * (self.width + self.height - 2 - dist)

    def progress_reward(self, state: int, nxt: int, gamma: float) -> float:
        """The true reward plus ``gamma * Phi(nxt) - Phi(state)`` for the distance potential.

        Like the ``shaped`` reward of :meth:`rewards` it is potential-based, so it leaves the
        optimal policy unchanged; unlike it, its potential rises towards the goal.
        """
        true = 1.0 if nxt == self.index(self.goal) else 0.0
        return true + gamma * self.distance_potential(nxt) - self.distance_potential(state)

    def _reward(self, which: int, state: int, nxt: int, gamma: float) -> float:
        if which == 3:
            return self.progress_reward(state, nxt, gamma)
        return self.rewards(state, nxt, gamma)[which]


@dataclass(frozen=True)
class QLearningRun:
    """Learning curves of :func:`q_learning`, one entry per evaluation of the greedy policy.

    ``episode`` is the number of training episodes seen, ``proxy_return`` and ``true_return``
    are the undiscounted returns of the greedy policy's rollout, and ``q`` the final table.
    """

    episode: NDArray[np.int64]
    proxy_return: NDArray[np.float64]
    true_return: NDArray[np.float64]
    q: NDArray[np.float64]


def greedy_rollout(world: CheckpointWorld, q: object) -> tuple[float, float, list[int]]:
    """Follow ``argmax q`` from the start for one episode.

    Returns the undiscounted ``(proxy_return, true_return, visited_states)``; ties between
    actions go to the first one in ``ACTIONS``.
    """
    if not isinstance(world, CheckpointWorld):
        raise TypeError(f"world must be a CheckpointWorld, got {type(world).__name__}")
    table = finite_array(q, "q")
    if table.shape != (world.n_states, len(ACTIONS)):
        raise ValueError(f"q must have shape {(world.n_states, len(ACTIONS))}; got {table.shape}")
    state, goal = world.index(world.start), world.index(world.goal)
    proxy_sum = true_sum = 0.0
    path = [state]
    for _ in range(world.horizon):
        nxt = world._move(state, int(np.argmax(table[state])))
        true, proxy, _ = world.rewards(state, nxt, 1.0)
        proxy_sum, true_sum = proxy_sum + proxy, true_sum + true
        state = nxt
        path.append(state)
        if state == goal:
            break
    return proxy_sum, true_sum, path


def q_learning(
    world: CheckpointWorld,
    reward: str,
    episodes: object,
    rng: np.random.Generator,
    *,
    alpha: object = 0.5,
    gamma: object = 0.9,
    epsilon: object = 0.2,
    eval_every: object = 10,
) -> QLearningRun:
    """Tabular Q-learning on ``world``, trained on the ``"true"``, ``"proxy"``, ``"shaped"``
    (checkpoint potential) or ``"progress"`` (distance potential) reward, with epsilon-greedy exploration (ties broken at random) and a table started at 0.

    Every ``eval_every`` episodes (and after the last) the greedy policy is rolled out and
    scored on both the proxy and the true reward. ``alpha`` and ``epsilon`` lie in (0, 1]
    and [0, 1], ``gamma`` in [0, 1).
    """
    if not isinstance(world, CheckpointWorld):
        raise TypeError(f"world must be a CheckpointWorld, got {type(world).__name__}")
    if reward not in REWARDS:
        raise ValueError(f"reward must be one of {REWARDS}; got {reward!r}")
    n_episodes = positive_int(episodes, "episodes")
    every = positive_int(eval_every, "eval_every")
    generator(rng)
    lr = float(probabilities(real_scalar(alpha, "alpha"), "alpha"))
    if lr == 0:
        raise ValueError("alpha must lie in (0, 1]; got 0.0")
    g = float(probabilities(real_scalar(gamma, "gamma"), "gamma"))
    if g == 1:
        raise ValueError("gamma must lie in [0, 1); got 1.0")
    eps = float(probabilities(real_scalar(epsilon, "epsilon"), "epsilon"))
    which = REWARDS.index(reward)

    n_actions = len(ACTIONS)
    q = [[0.0] * n_actions for _ in range(world.n_states)]  # lists: fast scalar updates
    start, goal = world.index(world.start), world.index(world.goal)
    marks, proxy_curve, true_curve = [], [], []
    for episode in range(1, n_episodes + 1):
        explore = rng.random(world.horizon) < eps
        random_action = rng.integers(n_actions, size=world.horizon)
        tie_break = rng.random(world.horizon)
        state = start
        for t in range(world.horizon):
            if explore[t]:
                action = int(random_action[t])
            else:
                row = q[state]
                top = max(row)
                best = [a for a in range(n_actions) if row[a] == top]
                action = best[int(tie_break[t] * len(best))]
            nxt = world._move(state, action)
            r = world._reward(which, state, nxt, g)
            target = r if nxt == goal else r + g * max(q[nxt])
            q[state][action] += lr * (target - q[state][action])
            state = nxt
            if state == goal:
                break
        if episode % every == 0 or episode == n_episodes:
            proxy_ret, true_ret, _ = greedy_rollout(world, np.array(q))
            marks.append(episode)
            proxy_curve.append(proxy_ret)
            true_curve.append(true_ret)
    return QLearningRun(
        np.array(marks), np.array(proxy_curve), np.array(true_curve), np.array(q)
    )


# ------------------------------------------------------------------------------------------
# A softmax bandit trained with REINFORCE on a proxy reward
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BanditRun:
    """Learning curves of :func:`reinforce_bandit`, one row per update (row 0: the start).

    ``expected_proxy`` and ``expected_true`` are the policy's exact expected rewards and
    ``probs`` its action probabilities, shape ``(steps + 1, n_actions)``.
    """

    expected_proxy: NDArray[np.float64]
    expected_true: NDArray[np.float64]
    probs: NDArray[np.float64]


def reinforce_bandit(
    true_reward: object,
    proxy_reward: object,
    logits: object,
    steps: object,
    rng: np.random.Generator,
    *,
    batch: object = 32,
    lr: object = 0.5,
) -> BanditRun:
    """REINFORCE on a softmax policy over a bandit's arms, rewarded by ``proxy_reward``.

    Each update samples ``batch`` arms from ``softmax(logits)``, scores them with the proxy
    reward only, and moves the logits by ``lr`` times the score-function estimate
    ``mean((r - mean r) * (onehot(a) - pi))`` (the batch mean is the baseline). The true
    reward is never seen by the learner; it is only recorded. ``true_reward``,
    ``proxy_reward`` and ``logits`` are finite 1-d arrays of one length (>= 2 arms).
    """
    true = finite_array(true_reward, "true_reward")
    proxy = finite_array(proxy_reward, "proxy_reward")
    theta = finite_array(logits, "logits")
    if true.ndim != 1 or true.size < 2:
        raise ValueError(f"true_reward must be 1-d with >= 2 arms; got shape {true.shape}")
    for name, arr in (("proxy_reward", proxy), ("logits", theta)):
        if arr.shape != true.shape:
            raise ValueError(f"{name} must have shape {true.shape}; got {arr.shape}")
    n_steps = positive_int(steps, "steps")
    size = positive_int(batch, "batch")
    step = positive_scalar(lr, "lr")
    generator(rng)
    return _reinforce_bandit(true, proxy, theta, n_steps, rng, batch=size, lr=step)


def _reinforce_bandit(
    true_reward: NDArray[np.float64],
    proxy_reward: NDArray[np.float64],
    logits: NDArray[np.float64],
    steps: int,
    rng: np.random.Generator,
    *,
    batch: int,
    lr: float,
) -> BanditRun:
    """REINFORCE with the batch mean as baseline, paid by the proxy reward only."""
    n_arms = logits.size
    theta = logits.copy()
    probs = np.empty((steps + 1, n_arms))
    probs[0] = softmax(theta)
    for t in range(1, steps + 1):
        pi = probs[t - 1]
        arms = rng.choice(n_arms, size=batch, p=pi)
        r = proxy_reward[arms]  # the learner is paid by the proxy, never by the truth
        advantage = r - r.mean()  # the batch mean is the baseline
        onehot = np.zeros((batch, n_arms))
        onehot[np.arange(batch), arms] = 1.0
        # score-function estimate of the gradient of the expected proxy reward
        theta += lr * (advantage[:, None] * (onehot - pi)).mean(axis=0)
        probs[t] = softmax(theta)
    return BanditRun(probs @ proxy_reward, probs @ true_reward, probs)


# ------------------------------------------------------------------------------------------
# A Bradley-Terry reward model fitted to pairwise preferences
# ------------------------------------------------------------------------------------------


def simulate_preferences(
    feature_diff: object, weights: object, rng: np.random.Generator
) -> NDArray[np.bool_]:
    """Simulated pairwise choices of a Bradley-Terry rater.

    Row ``i`` of ``feature_diff`` is ``x_A - x_B`` for one compared pair; the rater prefers
    ``A`` with probability ``sigmoid(weights . (x_A - x_B))``. ``weights`` says what the
    rater actually rewards, biases included. Returns a boolean array, True where ``A`` won.
    """
    x = finite_array(feature_diff, "feature_diff")
    w = finite_array(weights, "weights")
    if x.ndim != 2 or w.shape != (x.shape[1],):
        raise ValueError(
            f"feature_diff must be 2-d (pairs, features) and weights 1-d of length "
            f"features; got shapes {x.shape} and {w.shape}"
        )
    generator(rng)
    return rng.random(x.shape[0]) < expit(x @ w)


def fit_bradley_terry(
    feature_diff: object, first_preferred: object, *, l2: object = 0.0
) -> NDArray[np.float64]:
    """Weights ``w`` of a linear Bradley-Terry reward model ``r(x) = w . x``.

    Row ``i`` of ``feature_diff`` is ``x_A - x_B`` for the ``i``-th compared pair and
    ``first_preferred[i]`` says whether the rater preferred ``A``. The model says
    ``P(A preferred) = sigmoid(w . (x_A - x_B))``; the weights minimise the mean negative
    log-likelihood plus ``l2 * |w|**2 / 2`` (``l2 >= 0``; use ``l2 > 0`` when the data are
    separable). A logistic regression without intercept, solved with L-BFGS.
    """
    x = finite_array(feature_diff, "feature_diff")
    if x.ndim != 2:
        raise ValueError(f"feature_diff must be 2-d (pairs, features); got shape {x.shape}")
    y_raw = np.asarray(first_preferred)
    if y_raw.dtype.kind != "b":
        raise TypeError("first_preferred must be an array of booleans")
    if y_raw.shape != (x.shape[0],):
        raise ValueError(f"first_preferred must have shape ({x.shape[0]},); got {y_raw.shape}")
    lam = float(nonnegative(real_scalar(l2, "l2"), "l2"))
    sign = np.where(y_raw, 1.0, -1.0)

    def objective(w: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        margin = sign * (x @ w)
        loss = -np.mean(log_expit(margin)) + 0.5 * lam * w @ w
        grad = -(x.T @ (sign * expit(-margin))) / x.shape[0] + lam * w
        return float(loss), grad

    res = minimize(objective, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-10, "ftol": 1e-14, "maxiter": 1000})
    if not np.all(np.isfinite(res.x)) or (lam == 0 and res.fun < 1e-8):
        raise ValueError("the preferences are separable, so the weights diverge; use l2 > 0")
    return res.x

