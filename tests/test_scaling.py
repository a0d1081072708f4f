"""Tests for lilbook.scaling.

Expected values come from the papers (constants), from closed-form algebra done here in the
test, or from an independent numerical computation (scipy minimisation, finite differences),
never from the output of the code under test.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from lilbook import scaling as sc
from lilbook.scaling import (
    BESIROGLU,
    CHINCHILLA,
    KAPLAN,
    KAPLAN_ND,
    MUENNIGHOFF_R_D_STAR,
    PEARCE_SONG_OMEGA,
    PF_DAY_FLOPS,
    ChinchillaParams,
    KaplanParams,
    PowerLawFit,
)

FAST = settings(max_examples=40, deadline=None, database=None)
GOPHER_FLOPS = 5.76e23  # Gopher's (and Chinchilla's) training budget, Hoffmann et al. 2022


def make_runs(params: ChinchillaParams, n: int, seed: int, sigma: float):
    """Synthetic training runs over Chinchilla's grid (70M-16B params, 5B-500B tokens)."""
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(math.log(7e7), math.log(1.6e10), n))
    D = np.exp(rng.uniform(math.log(5e9), math.log(5e11), n))
    clean = params.E + params.A * N ** -params.alpha + params.B * D ** -params.beta
    return N, D, clean * np.exp(sigma * rng.standard_normal(n))


def rel(a, b):
    return np.max(np.abs(np.asarray(a, float) / np.asarray(b, float) - 1.0))


def isoflop_argmin(C, loss_of_n, lo=1.0, hi=None):
    """Independent check: minimise a loss along an isoFLOP over log N with a bounded search."""
    hi = C / 6.0 if hi is None else hi
    res = minimize_scalar(lambda x: loss_of_n(math.exp(x)), bounds=(math.log(lo), math.log(hi)),
                          method="bounded", options={"xatol": 1e-10, "maxiter": 2000})
    return math.exp(res.x)


# ------------------------------------------------------------------------------------
# Shared fits (module scope: each fit runs once)
# ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_runs():
    return make_runs(CHINCHILLA, 250, seed=5, sigma=0.0)


@pytest.fixture(scope="module")
def noisy_runs():
    return make_runs(CHINCHILLA, 250, seed=1, sigma=0.01)


@pytest.fixture(scope="module")
def clean_fit(clean_runs):
    return sc.fit_chinchilla_detailed(*clean_runs)


@pytest.fixture(scope="module")
def noisy_fit(noisy_runs):
    return sc.fit_chinchilla_detailed(*noisy_runs)


# ------------------------------------------------------------------------------------
# Constants checked against the papers
# ------------------------------------------------------------------------------------


def test_published_constants():
    # Hoffmann et al. 2022, Eq. 10; Besiroglu et al. 2024 refit.
    assert CHINCHILLA.to_array().tolist() == [1.69, 406.4, 410.7, 0.34, 0.28]
    assert BESIROGLU.to_array().tolist() == [1.8172, 482.01, 2085.43, 0.3478, 0.3658]
    # Kaplan et al. 2020, Eqs. 1.1-1.3 / Table 5 and Table 2.
    assert dataclasses.astuple(KAPLAN) == (8.8e13, 0.076, 5.4e13, 0.095, 3.1e8, 0.050)
    assert (KAPLAN_ND.N_c, KAPLAN_ND.alpha_N, KAPLAN_ND.D_c, KAPLAN_ND.alpha_D) == (6.4e13, 0.076, 1.8e13, 0.103)
    assert (sc.KAPLAN_N_OPT_SCALE, sc.KAPLAN_N_OPT_EXPONENT) == (1.3e9, 0.73)
    assert PF_DAY_FLOPS == 1e15 * 24 * 3600
    assert (MUENNIGHOFF_R_D_STAR, sc.MUENNIGHOFF_R_N_STAR) == (15.4, 5.3)
    assert PEARCE_SONG_OMEGA == 47491.0


def test_full_grid_is_the_papers_grid():
    grid = sc.chinchilla_init_grid("full")
    assert grid.shape == (4500, 5)
    expected_axes = [
        [0, 5, 10, 15, 20, 25],
        [0, 5, 10, 15, 20, 25],
        [-1, -0.5, 0, 0.5, 1],
        [0, 0.5, 1, 1.5, 2],
        [0, 0.5, 1, 1.5, 2],
    ]
    for j, axis in enumerate(expected_axes):
        assert np.unique(grid[:, j]).tolist() == axis
    assert len({tuple(r) for r in grid}) == 4500  # full Cartesian product, no repeats


def test_default_grid_is_a_small_subgrid_of_the_full_grid():
    full = {tuple(r) for r in sc.chinchilla_init_grid("full")}
    default = sc.chinchilla_init_grid()
    assert 50 <= default.shape[0] <= 300 and default.shape[1] == 5
    assert all(tuple(r) in full for r in default)
    assert np.array_equal(default, sc.chinchilla_init_grid("default"))


# ------------------------------------------------------------------------------------
# ChinchillaParams and the loss
# ------------------------------------------------------------------------------------


def test_params_are_frozen_floats():
    p = ChinchillaParams(E=2, A=np.float32(100.0), B=np.int64(50), alpha=0.5, beta=0.25)
    assert all(type(v) is float for v in dataclasses.astuple(p))
    assert [f.name for f in dataclasses.fields(p)] == ["E", "A", "B", "alpha", "beta"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.E = 3.0  # type: ignore[misc]


@pytest.mark.parametrize("name", ["E", "A", "B", "alpha", "beta"])
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_params_reject_bad_values(name, bad):
    kwargs = dict(E=1.0, A=1.0, B=1.0, alpha=0.3, beta=0.3)
    kwargs[name] = bad
    with pytest.raises(ValueError, match=name):
        ChinchillaParams(**kwargs)


@pytest.mark.parametrize("bad", ["1", None, True, [1.0]])
def test_params_reject_wrong_types(bad):
    with pytest.raises(TypeError, match="alpha"):
        ChinchillaParams(E=1.0, A=1.0, B=1.0, alpha=bad, beta=0.3)


def test_chinchilla_loss_value_and_types():
    value = sc.chinchilla_loss(1e9, 2e10)
    assert isinstance(value, float)
    assert value == pytest.approx(1.69 + 406.4 / 1e9 ** 0.34 + 410.7 / 2e10 ** 0.28, rel=1e-14)
    grid = sc.chinchilla_loss(np.array([[1e8], [1e9], [1e10]]), np.array([1e10, 1e11, 1e12, 1e13]))
    assert grid.shape == (3, 4)
    # Loss approaches the irreducible term E for huge models and data.
    assert sc.chinchilla_loss(1e40, 1e40, BESIROGLU) == pytest.approx(BESIROGLU.E, abs=1e-10)


@FAST
@given(n=st.floats(1e6, 1e13), d=st.floats(1e8, 1e15), k=st.floats(1.01, 100.0))
def test_chinchilla_loss_decreases_in_n_and_d(n, d, k):
    base = sc.chinchilla_loss(n, d)
    assert sc.chinchilla_loss(n * k, d) < base
    assert sc.chinchilla_loss(n, d * k) < base
    assert base > CHINCHILLA.E


def test_training_flops():
    assert sc.training_flops(70e9, 1.4e12) == pytest.approx(5.88e23)
    assert np.allclose(sc.training_flops([1.0, 2.0], 3.0), [18.0, 36.0])


@pytest.mark.parametrize("x", [0.0, 1e-4, -1e-4, 2e-3, -0.5, 3.0])
def test_huber_piecewise(x):
    d = 1e-3
    expected = 0.5 * x * x if abs(x) <= d else d * (abs(x) - 0.5 * d)
    assert float(sc.huber(x, d)) == pytest.approx(expected, rel=1e-14, abs=0)


@FAST
@given(x=st.floats(-10, 10), delta=st.floats(1e-4, 1.0))
def test_huber_properties(x, delta):
    h = float(sc.huber(x, delta))
    assert h == float(sc.huber(-x, delta))  # symmetric
    assert 0.0 <= h <= 0.5 * x * x + 1e-15  # below the square loss
    assert h >= delta * abs(x) - 0.5 * delta**2 - 1e-12  # above its linear part
    # Huber is the Moreau envelope of delta*|.|: rescaling x and delta together scales by delta^2.
    assert float(sc.huber(x / delta, 1.0)) * delta**2 == pytest.approx(h, rel=1e-9, abs=1e-300)


def test_huber_is_continuous_at_delta():
    d = 1e-3
    eps = 1e-12
    assert float(sc.huber(d - eps, d)) == pytest.approx(float(sc.huber(d + eps, d)), rel=1e-8)


# ------------------------------------------------------------------------------------
# Compute-optimal allocation
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [CHINCHILLA, BESIROGLU])
@pytest.mark.parametrize("C", [1e18, 1e21, GOPHER_FLOPS, 1e25])
def test_compute_optimal_matches_numerical_minimisation(params, C):
    n_opt, d_opt = sc.compute_optimal(C, params)
    n_num = isoflop_argmin(C, lambda n: sc.chinchilla_loss(n, C / (6 * n), params))
    assert n_opt == pytest.approx(n_num, rel=1e-6)
    assert 6 * n_opt * d_opt == pytest.approx(C, rel=1e-12)


def test_compute_optimal_exponents_and_shapes():
    C = np.logspace(18, 26, 9)
    n_opt, d_opt = sc.compute_optimal(C)
    assert n_opt.shape == d_opt.shape == (9,)
    a, b = CHINCHILLA.alpha, CHINCHILLA.beta
    assert np.polyfit(np.log(C), np.log(n_opt), 1)[0] == pytest.approx(b / (a + b), rel=1e-10)
    assert np.polyfit(np.log(C), np.log(d_opt), 1)[0] == pytest.approx(a / (a + b), rel=1e-10)
    n1, d1 = sc.compute_optimal(1e22)
    assert isinstance(n1, float) and isinstance(d1, float)


def test_tokens_per_parameter():
    """The famous ~20 tokens/parameter comes out of the Besiroglu refit, not the rounded fit.

    For Besiroglu et al.'s refit, D/N stays within 15-25 over 1e20-1e26 FLOPs (about 18 at
    Gopher's budget), and the optimum at that budget is close to Chinchilla itself
    (70B parameters, 1.4T tokens). The rounded published Approach-3 numbers instead give
    more than 60 tokens per parameter at Gopher's budget, growing with compute (because
    alpha > beta): Besiroglu et al.'s point that those estimates disagree with Approaches 1-2.
    """
    budgets = np.logspace(20, 26, 7)
    ratios = []
    for C in budgets:  # numerically, independent of the closed form
        n = isoflop_argmin(C, lambda n: sc.chinchilla_loss(n, C / (6 * n), BESIROGLU))
        ratios.append(C / (6 * n) / n)
    assert 15 < min(ratios) and max(ratios) < 25
    n_g, d_g = sc.compute_optimal(GOPHER_FLOPS, BESIROGLU)
    assert n_g == pytest.approx(70e9, rel=0.1) and d_g == pytest.approx(1.4e12, rel=0.1)
    n_r, d_r = sc.compute_optimal(GOPHER_FLOPS, CHINCHILLA)
    assert d_r / n_r > 60
    assert np.all(np.diff(np.divide(*sc.compute_optimal(budgets, CHINCHILLA)[::-1])) > 0)
    # tokens_per_parameter is that same ratio
    assert sc.tokens_per_parameter(budgets, BESIROGLU) == pytest.approx(ratios, rel=1e-3)
    assert sc.tokens_per_parameter(GOPHER_FLOPS, CHINCHILLA) == pytest.approx(d_r / n_r, rel=1e-12)
    with pytest.raises(ValueError, match="C"):
        sc.tokens_per_parameter(-1.0)


@FAST
@given(
    alpha=st.floats(0.1, 0.8),
    beta=st.floats(0.1, 0.8),
    logA=st.floats(1, 10),
    logB=st.floats(1, 10),
    logC=st.floats(40, 60),
)
def test_compute_optimal_is_a_minimum_on_the_isoflop(alpha, beta, logA, logB, logC):
    p = ChinchillaParams(E=1.0, A=math.exp(logA), B=math.exp(logB), alpha=alpha, beta=beta)
    C = math.exp(logC)
    n_opt, _ = sc.compute_optimal(C, p)
    at = sc.chinchilla_loss(n_opt, C / (6 * n_opt), p)
    for factor in (0.9, 1.1):
        n = n_opt * factor
        assert sc.chinchilla_loss(n, C / (6 * n), p) > at


# ------------------------------------------------------------------------------------
# Approach 3: the Huber fit
# ------------------------------------------------------------------------------------


def test_fit_recovers_parameters_from_noise_free_runs(clean_fit):
    assert rel(clean_fit.params.to_array(), CHINCHILLA.to_array()) < 1e-4
    assert clean_fit.objective < 1e-10
    assert clean_fit.n_starts == sc.chinchilla_init_grid().shape[0]


def test_fit_recovers_parameters_from_noisy_runs(noisy_runs, noisy_fit):
    p = noisy_fit.params
    # 1% log-normal noise on 250 runs: exponents within 0.05, E within 0.1 nats.
    assert abs(p.alpha - CHINCHILLA.alpha) < 0.05
    assert abs(p.beta - CHINCHILLA.beta) < 0.05
    assert abs(p.E - CHINCHILLA.E) < 0.1
    # The fit explains the data at least as well as the truth does.
    assert noisy_fit.objective <= sc.chinchilla_objective(CHINCHILLA, *noisy_runs)
    # The reported objective is the objective at the returned parameters.
    assert noisy_fit.objective == pytest.approx(sc.chinchilla_objective(p, *noisy_runs), rel=1e-9)
    # the polish can only improve on the best start
    assert noisy_fit.start_objectives[noisy_fit.best_start] >= noisy_fit.objective
    assert np.nanmin(noisy_fit.start_objectives) >= noisy_fit.objective
    assert 0 < noisy_fit.n_converged <= noisy_fit.n_starts


def test_fit_returns_params_of_the_detailed_fit(noisy_runs, noisy_fit):
    p = sc.fit_chinchilla(*noisy_runs)
    assert isinstance(p, ChinchillaParams)
    assert p == noisy_fit.params


def test_fit_is_equivariant_to_rescaling_the_loss(noisy_runs):
    """Multiplying every loss by k shifts the optimum's (a, b, e) by log k, so E, A, B scale by k
    and the exponents stay put. Tight tolerances make both fits converge fully."""
    N, D, L = noisy_runs
    grid = sc.chinchilla_init_grid()[::6]
    k = 3.0
    shift = np.array([math.log(k)] * 3 + [0.0, 0.0])
    tight = dict(gtol=1e-12, ftol=1e-15)
    base = sc.fit_chinchilla(N, D, L, init_grid=grid, **tight)
    scaled = sc.fit_chinchilla(N, D, k * L, init_grid=grid + shift, **tight)
    assert rel([scaled.E / k, scaled.A / k, scaled.B / k], [base.E, base.A, base.B]) < 1e-6
    assert rel([scaled.alpha, scaled.beta], [base.alpha, base.beta]) < 1e-6


def test_fit_does_not_depend_on_run_order(noisy_runs, noisy_fit):
    N, D, L = noisy_runs
    perm = np.random.default_rng(3).permutation(N.size)
    p = sc.fit_chinchilla(N[perm], D[perm], L[perm], init_grid=noisy_fit.theta)
    assert rel(p.to_array(), noisy_fit.params.to_array()) < 1e-5


def test_mean_reduction_stops_early(noisy_runs, noisy_fit):
    """Besiroglu et al. 2024: averaging instead of summing makes L-BFGS stop before convergence.

    Both objectives have the same minimiser, yet with SciPy's default tolerances the mean
    version stops (and reports success) at a worse point: its summed objective is clearly
    higher and its compute-optimal exponent beta/(alpha+beta) differs. Scaling the tolerances
    by 1/n undoes the effect.
    """
    N, D, L = noisy_runs
    n = N.size
    mean_fit = sc.fit_chinchilla_detailed(N, D, L, reduction="mean", polish=False)
    assert mean_fit.converged  # L-BFGS-B believes it converged
    sum_at_mean = sc.chinchilla_objective(mean_fit.params, N, D, L)
    assert sum_at_mean > 1.01 * noisy_fit.objective
    assert mean_fit.objective == pytest.approx(sum_at_mean / n, rel=1e-9)
    exp_sum = noisy_fit.params.beta / (noisy_fit.params.alpha + noisy_fit.params.beta)
    exp_mean = mean_fit.params.beta / (mean_fit.params.alpha + mean_fit.params.beta)
    assert abs(exp_mean - exp_sum) > 0.02
    rescued = sc.fit_chinchilla(N, D, L, reduction="mean", gtol=1e-5 / n, ftol=2.2e-9 / n, polish=False)
    assert rel(rescued.to_array(), noisy_fit.params.to_array()) < 1e-3
    # the default polish with strict tolerances also walks the averaged fit to the optimum
    polished = sc.fit_chinchilla(N, D, L, reduction="mean")
    assert sc.chinchilla_objective(polished, N, D, L) == pytest.approx(noisy_fit.objective, rel=1e-8)
    assert rel(polished.to_array(), noisy_fit.params.to_array()) < 1e-3


def test_mean_reduction_misses_noise_free_truth(clean_runs, clean_fit):
    mean_params = sc.fit_chinchilla(*clean_runs, reduction="mean", polish=False)
    assert rel(mean_params.to_array(), CHINCHILLA.to_array()) > 1e-2
    assert rel(sc.fit_chinchilla(*clean_runs, reduction="mean").to_array(), CHINCHILLA.to_array()) < 1e-4
    assert rel(clean_fit.params.to_array(), CHINCHILLA.to_array()) < 1e-4


def test_maxiter_limits_the_optimiser(noisy_runs, noisy_fit):
    short = sc.fit_chinchilla_detailed(*noisy_runs, maxiter=2, polish=False)
    assert short.n_iterations <= 2
    assert short.n_converged < short.n_starts
    assert short.objective > noisy_fit.objective


def test_fit_runs_under_a_one_thread_blas_limit(monkeypatch, noisy_runs):
    """The L-BFGS-B loop and the polish run inside one limit of one BLAS thread (lilbook.runtime)."""
    import contextlib

    calls = []

    def one_blas_thread():
        calls.append("limit")
        return contextlib.nullcontext()

    monkeypatch.setattr(sc, "one_blas_thread", one_blas_thread)
    sc.fit_chinchilla(*noisy_runs, init_grid=sc.chinchilla_init_grid()[:2])
    assert calls == ["limit"]


def test_polish_must_be_a_bool(noisy_runs):
    with pytest.raises(TypeError, match="polish"):
        sc.fit_chinchilla(*noisy_runs, polish="yes")


def test_unpolished_bootstrap_understates_the_spread(noisy_runs):
    """Replicates that stop near the warm start agree with each other far more than converged ones."""
    polished = sc.bootstrap_fit(*noisy_runs, n_boot=12, seed=5)
    unpolished = sc.bootstrap_fit(*noisy_runs, n_boot=12, seed=5, polish=False)
    assert np.std(unpolished[:, 3]) < 0.5 * np.std(polished[:, 3])
    with pytest.raises(TypeError, match="polish"):
        sc.bootstrap_fit(*noisy_runs, n_boot=2, polish=1)


def test_bootstrap_replicates_are_converged_fits_of_their_resamples(noisy_runs):
    """Each replicate is the optimum of its own resample, not a point near the warm start."""
    N, D, L = noisy_runs
    boot = sc.bootstrap_fit(N, D, L, n_boot=3, seed=7)
    rng = np.random.default_rng(7)
    for k in range(3):
        idx = rng.integers(0, N.size, size=N.size)
        independent = sc.fit_chinchilla(N[idx], D[idx], L[idx])
        assert rel(boot[k], independent.to_array()) < 1e-3


def test_bootstrap_on_noise_free_runs_returns_the_truth():
    N, D, L = make_runs(CHINCHILLA, 80, seed=11, sigma=0.0)
    boots = sc.bootstrap_fit(N, D, L, n_boot=4, seed=0)
    assert boots.shape == (4, 5)
    assert rel(boots, np.tile(CHINCHILLA.to_array(), (4, 1))) < 1e-3


def test_bootstrap_is_seeded_and_spreads_with_noise():
    N, D, L = make_runs(CHINCHILLA, 120, seed=12, sigma=0.02)
    grid = sc.chinchilla_init_grid()
    a = sc.bootstrap_fit(N, D, L, n_boot=6, seed=42, init_grid=grid)
    b = sc.bootstrap_fit(N, D, L, n_boot=6, seed=np.random.default_rng(42), init_grid=grid)
    c = sc.bootstrap_fit(N, D, L, n_boot=6, seed=7, init_grid=grid)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(a > 0)
    assert np.std(a[:, 3]) > 1e-4  # resampling noisy runs moves alpha


# ------------------------------------------------------------------------------------
# Kaplan et al. 2020
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [KAPLAN, KAPLAN_ND])
def test_kaplan_nd_limits(params):
    N = np.array([1e6, 1e8, 1e10])
    D = np.array([1e8, 1e10, 1e12])
    # D -> inf gives L(N) (Eq. 1.1); N -> inf gives L(D) (Eq. 1.2).
    assert np.allclose(sc.kaplan_loss_nd(N, 1e40, params), sc.kaplan_loss_n(N, params), rtol=1e-9)
    assert np.allclose(sc.kaplan_loss_nd(1e60, D, params), sc.kaplan_loss_d(D, params), rtol=1e-9)
    both = sc.kaplan_loss_nd(N[:, None], D[None, :], params)
    assert np.all(both >= sc.kaplan_loss_n(N, params)[:, None])
    assert np.all(both >= sc.kaplan_loss_d(D, params)[None, :])


def test_kaplan_doubling_and_values():
    # Kaplan et al.: doubling N multiplies L(N) by 2**-alpha_N ~ 0.95.
    assert sc.kaplan_loss_n(2e9) / sc.kaplan_loss_n(1e9) == pytest.approx(0.95, abs=0.002)
    assert sc.kaplan_loss_n(8.8e13) == pytest.approx(1.0)
    assert sc.kaplan_loss_d(1e9) == pytest.approx((5.4e13 / 1e9) ** 0.095)
    assert sc.kaplan_loss_c(1.0) == pytest.approx(3.1e8**0.05)
    assert isinstance(sc.kaplan_loss_nd(1e9, 1e10), float)


def test_kaplan_optimal_n():
    assert sc.kaplan_optimal_n(1.0) == pytest.approx(1.3e9)
    # 10x more compute -> ~5.4x bigger model (Kaplan et al., Figure 14: "5x").
    assert sc.kaplan_optimal_n(10.0) / sc.kaplan_optimal_n(1.0) == pytest.approx(10**0.73)
    assert sc.kaplan_optimal_n(2.0, scale=1.0, exponent=1.0) == pytest.approx(2.0)
    assert sc.kaplan_optimal_n(np.array([1e-3, 1.0])).shape == (2,)


def test_kaplan_params_validate():
    with pytest.raises(ValueError, match="D_c"):
        KaplanParams(N_c=1.0, alpha_N=0.1, D_c=-1.0, alpha_D=0.1, C_c=1.0, alpha_C=0.1)
    with pytest.raises(TypeError, match="alpha_C"):
        KaplanParams(N_c=1.0, alpha_N=0.1, D_c=1.0, alpha_D=0.1, C_c=1.0, alpha_C="0.1")


# ------------------------------------------------------------------------------------
# Power law with offset, isoFLOP vertices, compute laws
# ------------------------------------------------------------------------------------


def test_fit_power_law_recovers_exact_parameters():
    x = np.logspace(6, 11, 25)
    true = PowerLawFit(a=400.0, alpha=0.34, e=1.69)
    fit = sc.fit_power_law(x, true(x))
    assert rel([fit.a, fit.alpha, fit.e], [400.0, 0.34, 1.69]) < 1e-6


def test_fit_power_law_without_offset_is_the_log_log_line():
    x = np.logspace(0, 4, 9)
    fit = sc.fit_power_law(x, 5.0 * x**-0.5, with_offset=False)
    assert (fit.a, fit.alpha, fit.e) == (pytest.approx(5.0), pytest.approx(0.5), 0.0)


def test_fit_power_law_with_noise():
    rng = np.random.default_rng(0)
    x = np.logspace(6, 11, 40)
    y = (300.0 * x**-0.3 + 2.0) * np.exp(0.002 * rng.standard_normal(x.size))
    fit = sc.fit_power_law(x, y)
    assert abs(fit.alpha - 0.3) < 0.05 and abs(fit.e - 2.0) < 0.1
    # It beats the straight line on the same data in log-space squared error.
    line = sc.fit_power_law(x, y, with_offset=False)
    sse = lambda f: np.sum((np.log(f(x)) - np.log(y)) ** 2)  # noqa: E731
    assert sse(fit) < sse(line)


@FAST
@given(alpha=st.floats(0.1, 0.7), e=st.floats(0.5, 3.0), ratio=st.floats(0.5, 20.0))
def test_fit_power_law_property(alpha, e, ratio):
    x = np.logspace(6, 11, 20)
    a = ratio * e * x[0] ** alpha  # power term is `ratio` times the floor at the smallest x
    y = a * x**-alpha + e
    fit = sc.fit_power_law(x, y)
    assert np.allclose(fit(x), y, rtol=1e-6)
    assert fit.e >= 0


def test_power_law_fit_object_validates():
    with pytest.raises(ValueError, match="e"):
        PowerLawFit(a=1.0, alpha=0.5, e=-0.1)
    with pytest.raises(ValueError, match="a"):
        PowerLawFit(a=0.0, alpha=0.5, e=0.1)
    with pytest.raises(ValueError, match="x"):
        PowerLawFit(a=1.0, alpha=0.5, e=0.1)(np.array([1.0, -2.0]))


@FAST
@given(log_vertex=st.floats(16, 24), curvature=st.floats(0.01, 1.0), offset=st.floats(-3, 3), floor=st.floats(1.0, 4.0))
def test_isoflop_minimum_recovers_parabola_vertex(log_vertex, curvature, offset, floor):
    log_n = log_vertex + offset + np.linspace(-2, 2, 7)  # vertex need not be inside the samples
    loss = floor + curvature * (log_n - log_vertex) ** 2
    assert sc.isoflop_minimum(np.exp(log_n), loss) == pytest.approx(math.exp(log_vertex), rel=1e-6)


@FAST
@given(log_vertex=st.floats(16, 24), curvature=st.floats(0.01, 1.0), floor=st.floats(1.0, 4.0))
def test_isoflop_profile_reproduces_the_parabola(log_vertex, curvature, floor):
    log_n = log_vertex + np.linspace(-2, 2, 7)
    loss = floor + curvature * (log_n - log_vertex) ** 2
    profile = sc.fit_isoflop_profile(np.exp(log_n), loss)
    assert profile(np.exp(log_n)) == pytest.approx(loss, rel=1e-9)
    assert profile(profile.n_opt) == pytest.approx(floor, rel=1e-9)
    assert profile.c2 == pytest.approx(curvature, rel=1e-6)
    with pytest.raises(ValueError, match="N must"):
        profile(-1.0)


def test_isoflop_minimum_on_the_chinchilla_law():
    C = 1e21
    n_opt, _ = sc.compute_optimal(C)
    N = n_opt * np.exp(np.linspace(-1.0, 1.0, 9))
    loss = sc.chinchilla_loss(N, C / (6 * N))
    assert sc.isoflop_minimum(N, loss) == pytest.approx(n_opt, rel=0.03)


def test_isoflop_minimum_rejects_downward_parabola_and_too_few_points():
    N = np.array([1e8, 1e9, 1e10])
    with pytest.raises(ValueError, match="opens downward"):
        sc.isoflop_minimum(N, np.array([2.0, 3.0, 2.0]))
    with pytest.raises(ValueError, match="N must contain at least 3 distinct"):
        sc.isoflop_minimum(N[:2], np.array([2.0, 3.0]))
    with pytest.raises(ValueError, match="N must contain at least 3 distinct"):
        sc.isoflop_minimum(np.array([1e8, 1e8, 1e9]), np.array([2.0, 2.1, 2.2]))


def test_fit_compute_law():
    C = np.logspace(18, 24, 7)
    k, a = sc.fit_compute_law(C, 0.1 * C**0.5)
    assert (k, a) == (pytest.approx(0.1, rel=1e-8), pytest.approx(0.5, rel=1e-10))
    n_opt, _ = sc.compute_optimal(C, BESIROGLU)
    _, a_b = sc.fit_compute_law(C, n_opt)
    assert a_b == pytest.approx(0.3658 / (0.3478 + 0.3658), rel=1e-10)  # 0.5126, Besiroglu et al.


# ------------------------------------------------------------------------------------
# Pearce and Song 2024
# ------------------------------------------------------------------------------------


def test_total_params_and_omega():
    assert sc.total_params(1e9, 0.0) == 1e9
    assert sc.total_params(1e9, 10.0) == pytest.approx(1e9 + 10.0 * 1e3)
    assert sc.total_params(np.array([1.0, 8.0])).tolist() == pytest.approx([1 + 47491.0, 8 + 2 * 47491.0])
    # The fitted omega matches a 32k vocabulary with d_model / n_layer ~ 39.2.
    assert sc.omega_from_architecture(32000, 39.2) == pytest.approx(PEARCE_SONG_OMEGA, rel=1e-3)
    # 12 n_layer d^2 non-embedding params and vocab*d embedding params, built explicitly:
    d_model, n_layer, vocab = 4096, 32, 32000
    n_e = 12 * n_layer * d_model**2
    omega = sc.omega_from_architecture(vocab, d_model / n_layer)
    assert sc.total_params(n_e, omega) == pytest.approx(n_e + vocab * d_model, rel=1e-12)


@pytest.mark.parametrize("C", [1e15, 1e18, 1e21, 1e24])
def test_nonembedding_optimum_matches_numerical_minimisation(C):
    def loss(n_e):
        return sc.chinchilla_loss(sc.total_params(n_e), C / (6 * n_e), BESIROGLU)

    n_star = sc.compute_optimal_nonembedding(C, BESIROGLU)
    assert n_star == pytest.approx(isoflop_argmin(C, loss), rel=1e-6)


def test_nonembedding_optimum_without_embeddings_is_the_closed_form():
    C = np.logspace(15, 25, 6)
    assert np.allclose(sc.compute_optimal_nonembedding(C, CHINCHILLA, omega=0.0), sc.compute_optimal(C)[0], rtol=1e-10)


def test_local_exponent_limits_and_analytic_slope():
    p = BESIROGLU
    w = PEARCE_SONG_OMEGA
    f = lambda c: sc.compute_optimal_nonembedding(c, p, w)  # noqa: E731
    small_limit = p.beta / (p.alpha / 3 + p.beta)  # embeddings dominate: N_T ~ omega N_E^(1/3)
    large_limit = p.beta / (p.alpha + p.beta)  # 0.5126, Chinchilla-like
    assert sc.local_exponent(1e8, f) == pytest.approx(small_limit, abs=2e-3)
    assert sc.local_exponent(1e32, f) == pytest.approx(large_limit, abs=2e-3)
    # Against the implicit-function derivative of the optimality condition.
    for C in (1e14, 1e17, 1e20):
        n_e = f(C)
        u = (w / 3) * n_e ** (-2 / 3)
        dg = p.beta - 1 + (p.alpha + 1) * (1 + u) / (1 + 3 * u) + (2 / 3) * u / (1 + u)
        assert sc.local_exponent(C, f) == pytest.approx(p.beta / dg, rel=1e-5)
    # Over Kaplan-scale budgets the apparent exponent is far above Chinchilla's.
    C = np.logspace(13, 20, 30)
    _, slope = sc.fit_compute_law(C, f(C))
    assert 0.7 < slope < 0.85


def test_local_exponent_of_a_power_law_is_its_exponent():
    C = np.array([1e10, 1e20])
    assert np.allclose(sc.local_exponent(C, lambda c: 3.0 * c**0.6), 0.6, rtol=1e-9)
    assert sc.local_exponent(1e22, lambda c: sc.compute_optimal(c)[0]) == pytest.approx(0.28 / 0.62, rel=1e-8)


# ------------------------------------------------------------------------------------
# Muennighoff et al. 2023
# ------------------------------------------------------------------------------------


def test_effective_data_limits():
    U = 1e10
    assert sc.effective_data(U, epochs=1) == U
    assert sc.effective_data(U, 0.0) == U
    assert sc.effective_data(U, epochs=1e6) == pytest.approx(U * (1 + 15.4), rel=1e-12)
    # Four epochs are still worth > 90% of fresh data (their "up to 4 epochs" finding).
    assert sc.effective_data(U, epochs=4) / (4 * U) > 0.9
    # epochs and repeated_tokens describe the same thing.
    assert sc.effective_data(U, epochs=7.5) == pytest.approx(sc.effective_data(U, 6.5 * U))
    assert sc.effective_data(U, epochs=3, r_star=5.3) < sc.effective_data(U, epochs=3)


@FAST
@given(u=st.floats(1e6, 1e13), r1=st.floats(0, 200), dr=st.floats(1e-3, 50))
def test_effective_data_monotone_and_bounded(u, r1, dr):
    d1 = sc.effective_data(u, epochs=1 + r1)
    d2 = sc.effective_data(u, epochs=1 + r1 + dr)
    assert d2 > d1 or d1 == pytest.approx(u * (1 + MUENNIGHOFF_R_D_STAR), rel=1e-12)
    assert u <= d1 <= u * (1 + r1) * (1 + 1e-12)  # never worth more than the tokens seen
    assert d1 <= u * (1 + MUENNIGHOFF_R_D_STAR) * (1 + 1e-12)


# ------------------------------------------------------------------------------------
# Every bad input raises a named error
# ------------------------------------------------------------------------------------

_OK_N = np.array([1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9])
_OK_D = np.array([1e10, 3e10, 2e10, 5e10, 8e10, 1e11])
_OK_L = np.array([3.0, 2.9, 2.8, 2.7, 2.6, 2.5])
_NAN = float("nan")

BAD_CALLS = [
    # (callable, args, kwargs, exception, match)
    (sc.chinchilla_loss, (0.0, 1e9), {}, ValueError, "N"),
    (sc.chinchilla_loss, (1e9, -1.0), {}, ValueError, "D"),
    (sc.chinchilla_loss, (_NAN, 1e9), {}, ValueError, "N"),
    (sc.chinchilla_loss, (1e9, math.inf), {}, ValueError, "D"),
    (sc.chinchilla_loss, ("1e9", 1e9), {}, TypeError, "N"),
    (sc.chinchilla_loss, (True, 1e9), {}, TypeError, "N"),
    (sc.chinchilla_loss, ([], 1e9), {}, ValueError, "N must not be empty"),
    (sc.chinchilla_loss, (np.ones(3), np.ones(4)), {}, ValueError, "N and D"),
    (sc.chinchilla_loss, (1e9, 1e9), {"params": (1, 2, 3, 4, 5)}, TypeError, "params"),
    (sc.huber, (0.1,), {"delta": 0.0}, ValueError, "delta"),
    (sc.huber, (_NAN,), {}, ValueError, "x"),
    (sc.huber, ("a",), {}, TypeError, "x"),
    (sc.training_flops, (1e9, 0), {}, ValueError, "D"),
    (sc.training_flops, (None, 1e9), {}, TypeError, "N"),
    (sc.compute_optimal, (0.0,), {}, ValueError, "C"),
    (sc.compute_optimal, ([1e20, -1e20],), {}, ValueError, "C"),
    (sc.compute_optimal, (1e20, "params"), {}, TypeError, "params"),
    (sc.chinchilla_init_grid, ("huge",), {}, ValueError, "kind"),
    (sc.chinchilla_init_grid, (3,), {}, TypeError, "kind"),
    (sc.fit_chinchilla, (_OK_N[:5], _OK_D, _OK_L), {}, ValueError, "same length"),
    (sc.fit_chinchilla, (_OK_N[:4], _OK_D[:4], _OK_L[:4]), {}, ValueError, "at least 5 runs"),
    (sc.fit_chinchilla, (_OK_N, _OK_D, -_OK_L), {}, ValueError, "loss"),
    (sc.fit_chinchilla, (_OK_N, _OK_D * 0, _OK_L), {}, ValueError, "D"),
    (sc.fit_chinchilla, (_OK_N.reshape(2, 3), _OK_D, _OK_L), {}, ValueError, "N must be a 1-D"),
    (sc.fit_chinchilla, (_OK_N, _OK_D, _OK_L), {"reduction": "median"}, ValueError, "reduction"),
    (sc.fit_chinchilla, (_OK_N, _OK_D, _OK_L), {"reduction": 1}, TypeError, "reduction"),
    (sc.fit_chinchilla, (_OK_N, _OK_D, _OK_L), {"delta": -1e-3}, ValueError, "delta"),
    (sc.fit_chinchilla, (_OK_N, _OK_D, _OK_L), {"maxiter": 0}, ValueError, "maxiter"),
    (sc.fit_chinchilla, (_OK_N, _OK_D, _OK_L), {"maxiter": 2.5}, TypeError, "maxiter"),
    (sc.fit_chinchilla, (_OK_N, _OK_D, _OK_L), {"gtol": 0.0}, ValueError, "gtol"),
    (sc.fit_chinchilla, (_OK_N, _OK_D, _OK_L), {"ftol": _NAN}, ValueError, "ftol"),
    (sc.fit_chinchilla, (_OK_N, _OK_D, _OK_L), {"init_grid": np.zeros((3, 4))}, ValueError, "init_grid"),
    (sc.fit_chinchilla, (_OK_N, _OK_D, _OK_L), {"init_grid": [[0, 0, _NAN, 0, 0]]}, ValueError, "init_grid"),
    (sc.fit_chinchilla, (_OK_N, _OK_D, _OK_L), {"init_grid": "grid"}, TypeError, "init_grid"),
    (sc.fit_chinchilla_detailed, (_OK_N, _OK_D, [3.0] * 5 + [_NAN]), {}, ValueError, "loss"),
    (sc.chinchilla_objective, ("p", _OK_N, _OK_D, _OK_L), {}, TypeError, "params"),
    (sc.chinchilla_objective, (CHINCHILLA, _OK_N, _OK_D[:3], _OK_L), {}, ValueError, "same length"),
    (sc.bootstrap_fit, (_OK_N, _OK_D, _OK_L), {"n_boot": 0}, ValueError, "n_boot"),
    (sc.bootstrap_fit, (_OK_N, _OK_D, _OK_L), {"seed": -1}, ValueError, "seed"),
    (sc.bootstrap_fit, (_OK_N, _OK_D, _OK_L), {"seed": "x"}, TypeError, "seed"),
    (sc.bootstrap_fit, (_OK_N, _OK_D[:2], _OK_L), {}, ValueError, "same length"),
    (sc.kaplan_loss_n, (0.0,), {}, ValueError, "N"),
    (sc.kaplan_loss_n, (1e9, CHINCHILLA), {}, TypeError, "params"),
    (sc.kaplan_loss_d, (-5.0,), {}, ValueError, "D"),
    (sc.kaplan_loss_c, (math.inf,), {}, ValueError, "C_min_pf_days"),
    (sc.kaplan_loss_nd, (1e9, [1e9, 0.0]), {}, ValueError, "D"),
    (sc.kaplan_loss_nd, (np.ones(2), np.ones(3)), {}, ValueError, "N and D"),
    (sc.kaplan_optimal_n, (0.0,), {}, ValueError, "C_min_pf_days"),
    (sc.kaplan_optimal_n, (1.0,), {"exponent": -0.73}, ValueError, "exponent"),
    (sc.fit_power_law, ([1.0, 2.0, 3.0], [1.0, 2.0]), {}, ValueError, "same length"),
    (sc.fit_power_law, ([1.0, 2.0, 2.0], [1.0, 2.0, 3.0]), {}, ValueError, "x must contain at least 3 distinct"),
    (sc.fit_power_law, ([1.0, 2.0, 3.0], [1.0, 0.0, 3.0]), {}, ValueError, "y"),
    (sc.fit_power_law, ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), {"with_offset": "yes"}, TypeError, "with_offset"),
    (sc.isoflop_minimum, (_OK_N, _OK_L[:3]), {}, ValueError, "same length"),
    (sc.isoflop_minimum, (-_OK_N, _OK_L), {}, ValueError, "N"),
    (sc.isoflop_minimum, (_OK_N, np.r_[_OK_L[:5], math.inf]), {}, ValueError, "loss"),
    (sc.fit_compute_law, ([1e20], [1e9]), {}, ValueError, "C must contain at least 2 distinct"),
    (sc.fit_compute_law, ([1e20, 1e21], [1e9, -1.0]), {}, ValueError, "y"),
    (sc.total_params, (0.0,), {}, ValueError, "n_nonembedding"),
    (sc.total_params, (1e9, -1.0), {}, ValueError, "omega"),
    (sc.total_params, (1e9, "w"), {}, TypeError, "omega"),
    (sc.omega_from_architecture, (0, 39.2), {}, ValueError, "vocab_size"),
    (sc.omega_from_architecture, (32000, 39.2), {"n_ctx": -1}, ValueError, "n_ctx"),
    (sc.compute_optimal_nonembedding, (-1e20,), {}, ValueError, "C"),
    (sc.compute_optimal_nonembedding, (1e20, CHINCHILLA, _NAN), {}, ValueError, "omega"),
    (sc.compute_optimal_nonembedding, (1e20, KAPLAN), {}, TypeError, "params"),
    (sc.local_exponent, (1e20, "f"), {}, TypeError, "n_opt_fn"),
    (sc.local_exponent, (0.0, lambda c: c), {}, ValueError, "C"),
    (sc.local_exponent, (1e20, lambda c: c), {"rel_step": 1.5}, ValueError, "rel_step"),
    (sc.local_exponent, (1e20, lambda c: -c), {}, ValueError, "n_opt_fn"),
    (sc.local_exponent, (np.array([1e20, 1e21]), lambda c: 1.0), {}, ValueError, "n_opt_fn"),
    (sc.effective_data, (1e9,), {}, ValueError, "exactly one"),
    (sc.effective_data, (1e9, 1e9), {"epochs": 2}, ValueError, "exactly one"),
    (sc.effective_data, (1e9,), {"epochs": 0.5}, ValueError, "epochs"),
    (sc.effective_data, (1e9, -1.0), {}, ValueError, "repeated_tokens"),
    (sc.effective_data, (0.0,), {"epochs": 2}, ValueError, "unique_tokens"),
    (sc.effective_data, (1e9,), {"epochs": 2, "r_star": 0}, ValueError, "r_star"),
    (sc.effective_data, (np.ones(2),), {"epochs": np.ones(3) * 2}, ValueError, "unique_tokens and epochs"),
]


@pytest.mark.parametrize(
    "fn, args, kwargs, exc, match",
    BAD_CALLS,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(BAD_CALLS)],
)
def test_bad_inputs_raise_named_errors(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_error_messages_state_the_allowed_range():
    with pytest.raises(ValueError, match=r"N must be finite and > 0 \(allowed range: 0 < N < inf\)"):
        sc.chinchilla_loss(-1.0, 1e9)
    with pytest.raises(ValueError, match=r"epochs must be finite and >= 1"):
        sc.effective_data(1e9, epochs=0.0)


# ------------------------------------------------------------------------------------
# Private pieces of the Approach-3 fit (they take already-checked values)
# ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_runs():
    return make_runs(CHINCHILLA, 40, seed=3, sigma=0.005)


def small_grid():
    return sc.chinchilla_init_grid("default")[::12]


def fit_args(runs, reduction="sum"):
    N, D, L = runs
    scale = 1.0 if reduction == "sum" else 1.0 / N.size
    return (np.log(N), np.log(D), np.log(L), 1e-3, scale)


def test_check_lbfgs_options():
    assert sc._check_lbfgs_options(None, None, None) == {}
    assert sc._check_lbfgs_options(50, 1e-6, None) == {"maxiter": 50, "gtol": 1e-6}
    with pytest.raises(ValueError, match="maxiter"):
        sc._check_lbfgs_options(0, None, None)
    with pytest.raises(ValueError, match="ftol"):
        sc._check_lbfgs_options(None, None, -1.0)


def test_private_fit_chinchilla_matches_the_public_one(small_runs):
    grid = small_grid()
    for reduction, polish in (("sum", True), ("mean", False)):
        got = sc._fit_chinchilla(
            *small_runs, delta=1e-3, reduction=reduction, grid=grid, options={}, polish=polish
        )
        want = sc.fit_chinchilla_detailed(*small_runs, reduction=reduction, init_grid=grid, polish=polish)
        assert got.params == want.params and got.objective == want.objective
        assert got.best_start == want.best_start and got.n_iterations == want.n_iterations
        assert np.array_equal(got.final_thetas, want.final_thetas, equal_nan=True)


def test_lbfgs_descends_the_objective(small_runs):
    args = fit_args(small_runs)
    x0 = small_grid()[3]
    res = sc._lbfgs(x0, args, {})
    start_value, _ = sc._objective_and_grad(x0, *args)
    assert res.fun <= start_value and res.x.shape == (5,)
    assert res.fun == pytest.approx(sc._objective_and_grad(res.x, *args)[0], rel=1e-12)


def test_objective_if_valid():
    from scipy.optimize import OptimizeResult

    good = OptimizeResult(x=np.array([5.0, 6.0, 0.5, 0.3, 0.3]), fun=0.25)
    assert sc._objective_if_valid(good) == 0.25
    negative_exponent = OptimizeResult(x=np.array([5.0, 6.0, 0.5, -0.3, 0.3]), fun=0.1)
    assert math.isnan(sc._objective_if_valid(negative_exponent))
    assert math.isnan(sc._objective_if_valid(OptimizeResult(x=good.x, fun=np.inf)))


def test_best_valid_start():
    assert sc._best_valid_start(np.array([np.nan, 0.3, 0.2, 0.2])) == 2
    with pytest.raises(RuntimeError, match="no start"):
        sc._best_valid_start(np.array([np.nan, np.nan]))


def test_polish_never_makes_the_fit_worse(small_runs):
    args = fit_args(small_runs)
    rough = sc._lbfgs(small_grid()[3], args, {"maxiter": 5})
    polished = sc._polish(rough.x.copy(), float(rough.fun), args)
    assert polished is not None and polished.fun <= rough.fun
    # a point that is already better than anything reachable is kept (None: no improvement)
    assert sc._polish(rough.x.copy(), -1.0, args) is None


def test_assemble_fit_takes_the_polish_only_when_given(small_runs):
    args = fit_args(small_runs)
    ends = [sc._lbfgs(x0, args, {"maxiter": 5}) for x0 in small_grid()[:3]]
    objectives = np.array([sc._objective_if_valid(end) for end in ends])
    best = sc._best_valid_start(objectives)
    fit = sc._assemble_fit(ends, objectives, best, None, "sum")
    assert fit.objective == objectives[best] and np.array_equal(fit.theta, ends[best].x)
    assert fit.n_starts == 3 and fit.n_iterations == ends[best].nit
    assert fit.final_thetas.shape == (3, 5)
    polished = sc._polish(ends[best].x.copy(), float(objectives[best]), args)
    fit = sc._assemble_fit(ends, objectives, best, polished, "sum")
    assert fit.objective == polished.fun and fit.n_iterations == ends[best].nit + polished.nit
    assert fit.params == sc._params_from_theta(polished.x)


# ------------------------------------------------------------------------------------
# Chapter v2 additions: Method 1 envelope, Lovelace penalty, gradient norm, quanta
# ------------------------------------------------------------------------------------


def test_envelope_picks_lowest_run_and_skips_nan():
    sizes = np.array([1.0, 2.0, 3.0])
    losses = np.array([[3.0, 2.0, np.nan], [4.0, 1.5, 1.0], [np.nan, np.nan, np.nan]])
    n_opt, env = sc.envelope_optimal(sizes, losses)
    np.testing.assert_array_equal(n_opt, [1.0, 2.0, 2.0])
    np.testing.assert_array_equal(env, [3.0, 1.5, 1.0])
    n_opt, env = sc.envelope_optimal(sizes, np.full((3, 2), np.nan))
    assert np.all(np.isnan(n_opt)) and np.all(np.isnan(env))


def test_envelope_of_chinchilla_curves_recovers_allocation_exponent():
    # many sizes: the winners should follow N_opt ~ C**(beta / (alpha + beta))
    sizes = np.logspace(7.5, 10.5, 60)
    budgets = np.logspace(19, 22, 200)
    losses = chinchilla_grid = sc.chinchilla_loss(sizes[:, None], budgets[None, :] / (6 * sizes[:, None]))
    n_opt, _ = sc.envelope_optimal(sizes, chinchilla_grid)
    inner = (n_opt > sizes[0]) & (n_opt < sizes[-1])
    _, a = sc.fit_compute_law(budgets[inner], n_opt[inner])
    assert losses.shape == (60, 200)
    assert a == pytest.approx(CHINCHILLA.beta / (CHINCHILLA.alpha + CHINCHILLA.beta), abs=0.01)


@pytest.mark.parametrize(
    ("sizes", "losses", "error", "match"),
    [
        ([1.0, -2.0], np.ones((2, 3)), ValueError, "sizes"),
        ([1.0, 2.0], np.ones((3, 3)), ValueError, "losses"),
        ([1.0, 2.0], np.ones(2), ValueError, "losses"),
        ([1.0, 2.0], [[1.0, np.inf], [1.0, 1.0]], ValueError, "losses"),
        ("ab", np.ones((2, 3)), TypeError, "sizes"),
    ],
)
def test_envelope_bad_input(sizes, losses, error, match):
    with pytest.raises(error, match=match):
        sc.envelope_optimal(sizes, losses)


def test_repetition_penalty_is_fresh_law_at_one_epoch():
    got = sc.repetition_penalty_loss(1e8, 1e9, 1.0, penalty=0.5, delta=1.0, kappa=0.5)
    assert got == pytest.approx(CHINCHILLA.E + CHINCHILLA.A / 1e8**0.34 + CHINCHILLA.B / 1e9**0.28)


def test_repetition_penalty_value_by_hand():
    # R = 3 repetitions, N / U = 0.25: penalty 0.01 * 3**1 * 0.25**0.5 = 0.015
    got = sc.repetition_penalty_loss(2.5e8, 1e9, 4.0, penalty=0.01, delta=1.0, kappa=0.5)
    fresh = CHINCHILLA.E + CHINCHILLA.A / 2.5e8**0.34 + CHINCHILLA.B / 4e9**0.28
    assert got == pytest.approx(fresh + 0.015, rel=1e-12)


def test_repetition_penalty_turns_up_where_effective_data_only_saturates():
    epochs = np.linspace(1, 200, 400)
    pen = sc.repetition_penalty_loss(1e9, 1e9, epochs, penalty=0.01, delta=1.0, kappa=0.5)
    d_eff = sc.chinchilla_loss(1e9, sc.effective_data(1e9, epochs=epochs))
    assert np.all(np.diff(d_eff) <= 0)  # more epochs never hurt under D'
    turn = int(np.argmin(pen))
    assert 0 < turn < epochs.size - 1 and pen[-1] > pen[turn]
    # the turning point solves beta B U**-beta e**(-beta-1) = P (N/U)**kappa (delta = 1)
    e_star = (CHINCHILLA.beta * CHINCHILLA.B * 1e9**-CHINCHILLA.beta / 0.01) ** (1 / (1 + CHINCHILLA.beta))
    assert epochs[turn] == pytest.approx(e_star, abs=0.6)


@FAST
@given(st.floats(0.05, 5.0), st.floats(0.05, 5.0))
def test_bigger_models_turn_up_earlier(r_small, extra):
    epochs = np.linspace(1, 400, 2000)
    u = 1e9
    turns = [
        epochs[np.argmin(sc.repetition_penalty_loss(r * u, u, epochs, penalty=0.01, delta=1.0, kappa=0.5))]
        for r in (r_small, r_small + extra)
    ]
    assert turns[1] <= turns[0]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(N=-1.0), ValueError, "N"),
        (dict(unique_tokens=0.0), ValueError, "unique_tokens"),
        (dict(epochs=0.5), ValueError, "epochs"),
        (dict(penalty=-0.1), ValueError, "penalty"),
        (dict(delta=0.0), ValueError, "delta"),
        (dict(kappa=np.nan), ValueError, "kappa"),
        (dict(penalty="x"), TypeError, "penalty"),
    ],
)
def test_repetition_penalty_bad_input(kwargs, error, match):
    args = dict(N=1e8, unique_tokens=1e9, epochs=2.0, penalty=0.01, delta=1.0, kappa=0.5)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        sc.repetition_penalty_loss(args.pop("N"), args.pop("unique_tokens"), args.pop("epochs"), **args)


def test_objective_gradient_matches_finite_differences():
    N, D, loss = make_runs(CHINCHILLA, 40, seed=11, sigma=0.02)
    p = ChinchillaParams(E=1.7, A=380.0, B=450.0, alpha=0.33, beta=0.29)
    grad = sc.objective_gradient(p, N, D, loss)
    theta = np.array([math.log(p.A), math.log(p.B), math.log(p.E), p.alpha, p.beta])

    def f(t):
        q = ChinchillaParams(E=math.exp(t[2]), A=math.exp(t[0]), B=math.exp(t[1]), alpha=t[3], beta=t[4])
        return sc.chinchilla_objective(q, N, D, loss)

    h = 1e-6
    fd = [(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(5)]
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-9)


def test_objective_gradient_bad_input():
    with pytest.raises(TypeError, match="params"):
        sc.objective_gradient("x", [1e9], [1e10], [2.0])
    with pytest.raises(ValueError, match="delta"):
        sc.objective_gradient(CHINCHILLA, [1e9], [1e10], [2.0], delta=0.0)


def test_quanta_loss_limits_and_monotone_in_expectation():
    rng = np.random.default_rng(0)
    # almost no tokens: nothing learned, the loss is the whole (simulated + unsimulated) mass
    assert sc.quanta_data_loss(1e-3, rng) == pytest.approx(1.0, abs=1e-6)
    losses = sc.quanta_data_loss(np.logspace(2, 6, 9), rng)
    assert np.all(np.diff(losses) < 0) and np.all((losses > 0) & (losses < 1))


def test_quanta_loss_slope_is_alpha_over_alpha_plus_one():
    # theory: quantum k is learned once D p_k ~ threshold, so k* ~ D**(1/(a+1)) and the unlearned
    # tail ~ k***-a ~ D**(-a/(a+1))
    rng = np.random.default_rng(1)
    tokens = np.logspace(4, 7, 7)
    for a in (0.4, 1.0):
        loss = np.mean([sc.quanta_data_loss(tokens, rng, zipf_alpha=a, n_quanta=100_000) for _ in range(2)], axis=0)
        slope = np.polyfit(np.log(tokens), np.log(loss), 1)[0]
        assert slope == pytest.approx(-a / (a + 1), abs=0.03)


def test_quanta_threshold_one_is_unseen_mass():
    # with threshold 1 the expected loss is sum_k p_k exp(-D p_k); check by an independent sum
    from scipy.special import zeta

    rng = np.random.default_rng(2)
    k = np.arange(1, 100_001, dtype=float)
    p = k**-1.5 / zeta(1.5)
    expected = np.sum(p * np.exp(-1e4 * p)) + (1 - p.sum())
    draws = [sc.quanta_data_loss(1e4, rng, zipf_alpha=0.5, n_quanta=100_000, threshold=1) for _ in range(20)]
    assert np.mean(draws) == pytest.approx(expected, rel=0.02)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(tokens=-1.0), ValueError, "tokens"),
        (dict(rng=0), TypeError, "rng"),
        (dict(zipf_alpha=0.0), ValueError, "zipf_alpha"),
        (dict(n_quanta=0), ValueError, "n_quanta"),
        (dict(threshold=1.5), TypeError, "threshold"),
    ],
)
def test_quanta_bad_input(kwargs, error, match):
    args = dict(tokens=1e4, rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        sc.quanta_data_loss(args.pop("tokens"), args.pop("rng"), **args)
