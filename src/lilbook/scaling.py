"""Scaling laws for language models: the numerical core of the scaling-laws chapter.

Everything the chapter computes lives here, so it can be unit-tested:

* the Chinchilla parametric loss ``L(N, D) = E + A / N**alpha + B / D**beta`` and its
  compute-optimal allocation under ``C = 6 N D`` (Hoffmann et al. 2022, Section 3.3,
  Eqs. 2 and 4);
* "Approach 3", the Huber fit of that law to training runs in log space with L-BFGS
  started from a grid of initialisations (Hoffmann et al. 2022, Appendix D.2), including
  the averaging pitfall found by Besiroglu et al. 2024, and a bootstrap;
* the power laws of Kaplan et al. 2020 (Equations 1.1 to 1.5, Tables 2, 5 and 6);
* generic tools: a power law with an irreducible term, isoFLOP vertices ("Approach 2"),
  and ``y = k C**a`` fits;
* the embedding-parameter explanation of the Kaplan/Chinchilla gap (Pearce and Song 2024);
* the effective data of repeated tokens (Muennighoff et al. 2023).

Every public function checks its input and raises ``TypeError`` (wrong kind of object)
or ``ValueError`` (wrong value or shape) with a message that names the parameter and the
allowed range, rather than returning a meaningless number.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import OptimizeResult, brentq, curve_fit, minimize
from scipy.special import zeta

from lilbook._checks import (
    FloatOrArray,
    broadcast,
    check_bool,
    describe,
    generator,
    nonnegative,
    as_output,
    positive,
    positive_int,
    positive_scalar,
    real_array,
    real_scalar,
)
from lilbook.runtime import one_blas_thread

__all__ = [
    "BESIROGLU",
    "CHINCHILLA",
    "KAPLAN",
    "KAPLAN_ND",
    "KAPLAN_N_OPT_EXPONENT",
    "KAPLAN_N_OPT_SCALE",
    "MUENNIGHOFF_R_D_STAR",
    "MUENNIGHOFF_R_N_STAR",
    "PEARCE_SONG_OMEGA",
    "PF_DAY_FLOPS",
    "STRICT_TOLERANCES",
    "ChinchillaFit",
    "ChinchillaParams",
    "KaplanParams",
    "PowerLawFit",
    "bootstrap_fit",
    "chinchilla_init_grid",
    "chinchilla_loss",
    "chinchilla_objective",
    "compute_optimal",
    "compute_optimal_nonembedding",
    "effective_data",
    "envelope_optimal",
    "objective_gradient",
    "quanta_data_loss",
    "repetition_penalty_loss",
    "fit_chinchilla",
    "fit_chinchilla_detailed",
    "fit_compute_law",
    "fit_power_law",
    "huber",
    "IsoflopProfile",
    "fit_isoflop_profile",
    "isoflop_minimum",
    "tokens_per_parameter",
    "kaplan_loss_c",
    "kaplan_loss_d",
    "kaplan_loss_n",
    "kaplan_loss_nd",
    "kaplan_optimal_n",
    "local_exponent",
    "omega_from_architecture",
    "total_params",
    "training_flops",
]

#: One petaflop/s-day in FLOPs: 1e15 FLOP/s for 86,400 s (the compute unit of Kaplan et al. 2020).
PF_DAY_FLOPS: float = 8.64e19


# --------------------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------------------


def _check_runs(N: object, D: object, loss: object, min_runs: int) -> tuple[NDArray[np.float64], ...]:
    """Check the three per-run arrays of a fit: 1-D, equal length, positive and finite."""
    n_arr = positive(N, "N")
    d_arr = positive(D, "D")
    l_arr = positive(loss, "loss")
    for name, arr in (("N", n_arr), ("D", d_arr), ("loss", l_arr)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array with one entry per run; got shape {arr.shape}")
    if not (n_arr.size == d_arr.size == l_arr.size):
        raise ValueError(
            f"N, D and loss must have the same length (one entry per run); got {n_arr.size}, {d_arr.size} and {l_arr.size}"
        )
    if n_arr.size < min_runs:
        raise ValueError(f"N, D and loss need at least {min_runs} runs to fit; got {n_arr.size}")
    return n_arr, d_arr, l_arr


def _same_length_1d(x: NDArray[np.float64], y: NDArray[np.float64], xname: str, yname: str, min_len: int) -> None:
    for name, arr in ((xname, x), (yname, y)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array; got shape {arr.shape}")
    if x.size != y.size:
        raise ValueError(f"{xname} and {yname} must have the same length; got {x.size} and {y.size}")
    n_distinct = np.unique(x).size
    if n_distinct < min_len:
        raise ValueError(f"{xname} must contain at least {min_len} distinct values; got {n_distinct}")


# --------------------------------------------------------------------------------------
# The Chinchilla parametric law (Hoffmann et al. 2022)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChinchillaParams:
    """Parameters of ``L(N, D) = E + A / N**alpha + B / D**beta`` (Hoffmann et al. 2022, Eq. 2).

    ``E`` is the irreducible loss (nats per token), ``A / N**alpha`` the penalty for a finite
    model of ``N`` parameters and ``B / D**beta`` the penalty for training on ``D`` tokens.
    All five values must be finite and strictly positive; they are stored as floats.
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, positive_scalar(getattr(self, f.name), f.name))

    def to_array(self) -> NDArray[np.float64]:
        """The parameters as an array in the order ``(E, A, B, alpha, beta)``."""
        return np.array([self.E, self.A, self.B, self.alpha, self.beta])


#: Hoffmann et al. 2022, Eq. 10 (Appendix D.2): the published "Approach 3" fit, as printed
#: in the paper (exponents rounded to two digits).
CHINCHILLA = ChinchillaParams(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)

#: Besiroglu et al. 2024 ("Chinchilla Scaling: A Replication Attempt"): their refit of
#: Approach 3 on data reconstructed from Hoffmann et al.'s Figure 4.
BESIROGLU = ChinchillaParams(E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658)


def _check_params(params: object, cls: type, name: str = "params") -> None:
    if not isinstance(params, cls):
        raise TypeError(f"{name} must be a {cls.__name__}, got {type(params).__name__}")


def chinchilla_loss(N: ArrayLike, D: ArrayLike, params: ChinchillaParams = CHINCHILLA) -> FloatOrArray:
    """Predicted loss ``E + A / N**alpha + B / D**beta`` (Hoffmann et al. 2022, Eq. 2).

    Parameters
    ----------
    N : float or array_like
        Model sizes (parameters), finite and > 0.
    D : float or array_like
        Training tokens, finite and > 0. Broadcasts against ``N``.
    params : ChinchillaParams
        The law's parameters; defaults to :data:`CHINCHILLA`.

    Returns
    -------
    float or ndarray
        A float when both inputs are scalars, otherwise the broadcast array.
    """
    _check_params(params, ChinchillaParams)
    n_arr, d_arr = broadcast({"N": positive(N, "N"), "D": positive(D, "D")})
    p = params
    return as_output(p.E + p.A * n_arr ** (-p.alpha) + p.B * d_arr ** (-p.beta))


def huber(x: ArrayLike, delta: float = 1e-3) -> NDArray[np.float64]:
    """Elementwise Huber function, quadratic for ``|x| <= delta`` and linear beyond.

    ``huber(x) = x**2 / 2`` if ``|x| <= delta`` else ``delta * (|x| - delta / 2)``; this is
    the robust loss of Hoffmann et al. 2022, Eq. 3 and Appendix D.2 (who use ``delta = 1e-3``).

    Parameters
    ----------
    x : float or array_like
        Finite residuals.
    delta : float
        Threshold between the quadratic and linear parts, finite and > 0.

    Returns
    -------
    ndarray
        Same shape as ``x`` (0-d for a scalar).
    """
    delta = positive_scalar(delta, "delta")
    arr = real_array(x, "x")
    bad = ~np.isfinite(arr)
    if np.any(bad):
        raise ValueError(f"x must be finite (allowed range: -inf < x < inf); {describe(arr, bad)}")
    ax = np.abs(arr)
    return np.where(ax <= delta, 0.5 * arr * arr, delta * (ax - 0.5 * delta))


def training_flops(N: ArrayLike, D: ArrayLike) -> FloatOrArray:
    """Training compute ``C = 6 N D`` FLOPs (Kaplan et al. 2020, Section 2.1).

    About ``2 N`` FLOPs per token for the forward pass and ``4 N`` for the backward pass.
    ``N`` and ``D`` must be finite and > 0 and broadcast against each other.
    """
    n_arr, d_arr = broadcast({"N": positive(N, "N"), "D": positive(D, "D")})
    return as_output(6.0 * n_arr * d_arr)


def compute_optimal(C: ArrayLike, params: ChinchillaParams = CHINCHILLA) -> tuple[FloatOrArray, FloatOrArray]:
    """Closed-form compute-optimal model size and tokens under ``C = 6 N D``.

    Minimising ``E + A N**-alpha + B D**-beta`` subject to ``6 N D = C`` gives
    (Hoffmann et al. 2022, Section 3.3, Eq. 4)::

        G     = (alpha A / (beta B)) ** (1 / (alpha + beta))
        N_opt = G       * (C / 6) ** (beta  / (alpha + beta))
        D_opt = G ** -1 * (C / 6) ** (alpha / (alpha + beta))

    Parameters
    ----------
    C : float or array_like
        Compute budgets in FLOPs, finite and > 0.
    params : ChinchillaParams
        The loss law; defaults to :data:`CHINCHILLA`.

    Returns
    -------
    (N_opt, D_opt)
        Floats for a scalar budget, arrays otherwise; ``6 * N_opt * D_opt == C``.
    """
    _check_params(params, ChinchillaParams)
    c6 = positive(C, "C") / 6.0
    p = params
    s = p.alpha + p.beta
    log_g = (math.log(p.alpha * p.A) - math.log(p.beta * p.B)) / s
    log_c6 = np.log(c6)
    n_opt = np.exp(log_g + (p.beta / s) * log_c6)
    d_opt = np.exp(-log_g + (p.alpha / s) * log_c6)
    return as_output(n_opt), as_output(d_opt)


def tokens_per_parameter(C: ArrayLike, params: ChinchillaParams = CHINCHILLA) -> FloatOrArray:
    """``D_opt / N_opt``: training tokens per parameter of the compute-optimal model at budget ``C``.

    Under the closed form of :func:`compute_optimal` this is
    ``G**-2 (C/6)**((alpha - beta)/(alpha + beta))``: constant only when ``alpha == beta``.
    Same arguments and errors as :func:`compute_optimal`.
    """
    n_opt, d_opt = compute_optimal(C, params)
    return as_output(np.asarray(d_opt) / np.asarray(n_opt))


# --------------------------------------------------------------------------------------
# Approach 3: the Huber fit in log space (Hoffmann et al. 2022, Appendix D.2)
# --------------------------------------------------------------------------------------

_GRID_A = np.arange(0.0, 25.0 + 1e-9, 5.0)  # a = log A in {0, 5, ..., 25}
_GRID_B = _GRID_A  # b = log B in {0, 5, ..., 25}
_GRID_E = np.arange(-1.0, 1.0 + 1e-9, 0.5)  # e = log E in {-1, -0.5, ..., 1}
_GRID_EXP = np.arange(0.0, 2.0 + 1e-9, 0.5)  # alpha, beta in {0, 0.5, ..., 2}

# The default starts: a subgrid of the paper's grid (see chinchilla_init_grid).
_DEFAULT_A = (0.0, 10.0, 20.0)
_DEFAULT_B = (0.0, 25.0)
_DEFAULT_E = (-1.0, -0.5, 0.0, 0.5, 1.0)
_DEFAULT_EXP = (0.0, 0.5)


#: L-BFGS-B options that let the optimiser walk to the end of the objective's flat valleys.
#: SciPy's defaults (gtol 1e-5, ftol ~2.2e-9, at most 15,000 iterations) are absolute for
#: objectives below 1, which a Huber sum with delta = 1e-3 always is, and stop early.
STRICT_TOLERANCES: dict[str, float] = {"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000}


def chinchilla_init_grid(kind: str = "default") -> NDArray[np.float64]:
    """Initial points for the Approach-3 fit, one row per start, columns ``(a, b, e, alpha, beta)``.

    ``a = log A``, ``b = log B`` and ``e = log E`` (natural logs).

    Parameters
    ----------
    kind : {"default", "full"}
        ``"full"`` is the exhaustive grid of Hoffmann et al. 2022, Appendix D.2:
        ``alpha, beta`` in ``{0, 0.5, ..., 2}``, ``e`` in ``{-1, -0.5, ..., 1}`` and
        ``a, b`` in ``{0, 5, ..., 25}``, which is 4,500 starts. ``"default"`` is a
        subgrid of it with 120 starts: ``a`` in ``{0, 10, 20}``, ``b`` in ``{0, 25}``,
        all five ``e`` values, and ``alpha, beta`` in ``{0, 0.5}``. Only about one start
        in ten (of either grid) ends in the global basin; on synthetic runs over
        Chinchilla's range (60-400 runs, 0-5% noise, several true laws) this subgrid
        always kept at least 7 starts that reached the full grid's optimum (same
        objective to 1e-8 relative), at under 3% of the cost. The benchmark
        ``benchmarks/bench_fit_chinchilla.py`` re-checks this on fresh data.

    Returns
    -------
    ndarray of shape (n_starts, 5)
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a string, 'default' or 'full'; got {type(kind).__name__}")
    if kind == "full":
        axes = (_GRID_A, _GRID_B, _GRID_E, _GRID_EXP, _GRID_EXP)
    elif kind == "default":
        axes = (_DEFAULT_A, _DEFAULT_B, _DEFAULT_E, _DEFAULT_EXP, _DEFAULT_EXP)
    else:
        raise ValueError(f"kind must be 'default' or 'full'; got {kind!r}")
    return np.array(list(itertools.product(*axes)), dtype=float)


def _objective_and_grad(
    theta: NDArray[np.float64],
    log_n: NDArray[np.float64],
    log_d: NDArray[np.float64],
    log_l: NDArray[np.float64],
    delta: float,
    scale: float,
) -> tuple[float, NDArray[np.float64]]:
    """Huber objective in log space and its analytic gradient.

    ``pred_i = LSE(a - alpha log N_i, b - beta log D_i, e)`` equals ``log L_hat(N_i, D_i)``;
    the objective is ``scale * sum_i huber(pred_i - log L_i)``. The gradient uses
    ``d pred / d r_k = softmax(r)_k`` and ``d huber / d x = clip(x, -delta, delta)``.
    """
    a, b, e, alpha, beta = theta
    r1 = a - alpha * log_n
    r2 = b - beta * log_d
    m = np.maximum(np.maximum(r1, r2), e)
    # Softmax weights. Exponents below -200 are clipped: such weights (< 1e-86) cannot change
    # the value or the gradient in double precision, and clipping keeps them out of the
    # subnormal range, where floating-point arithmetic is very slow.
    w1 = np.exp(np.maximum(r1 - m, -200.0))
    w2 = np.exp(np.maximum(r2 - m, -200.0))
    w3 = np.exp(np.maximum(e - m, -200.0))
    s = w1 + w2 + w3
    res = m + np.log(s) - log_l
    ares = np.abs(res)
    value = scale * float(np.sum(np.where(ares <= delta, 0.5 * res * res, delta * (ares - 0.5 * delta))))
    g = np.clip(res, -delta, delta) * (scale / s)
    gw1 = g * w1
    gw2 = g * w2
    grad = np.array([gw1.sum(), gw2.sum(), float(g @ w3), -float(gw1 @ log_n), -float(gw2 @ log_d)])
    return value, grad


def _check_reduction(reduction: object) -> None:
    if not isinstance(reduction, str):
        raise TypeError(f"reduction must be the string 'sum' or 'mean'; got {type(reduction).__name__}")
    if reduction not in ("sum", "mean"):
        raise ValueError(f"reduction must be 'sum' or 'mean'; got {reduction!r}")


def chinchilla_objective(
    params: ChinchillaParams,
    N: ArrayLike,
    D: ArrayLike,
    loss: ArrayLike,
    *,
    delta: float = 1e-3,
    reduction: str = "sum",
) -> float:
    """The Approach-3 objective evaluated at ``params``.

    ``sum_i huber_delta(log L_hat(N_i, D_i) - log loss_i)`` (Hoffmann et al. 2022, Eq. 3;
    Eq. 11 in Appendix D.2), or the mean over runs when ``reduction="mean"``. Use it to compare fits on
    the same footing, for example a fit stopped early against a converged one.

    Parameters
    ----------
    params : ChinchillaParams
    N, D, loss : array_like
        One entry per run: model size, tokens and final loss, all finite and > 0.
    delta : float
        Huber threshold, finite and > 0.
    reduction : {"sum", "mean"}
    """
    _check_params(params, ChinchillaParams)
    n_arr, d_arr, l_arr = _check_runs(N, D, loss, 1)
    delta = positive_scalar(delta, "delta")
    _check_reduction(reduction)
    theta = np.array([math.log(params.A), math.log(params.B), math.log(params.E), params.alpha, params.beta])
    scale = 1.0 if reduction == "sum" else 1.0 / n_arr.size
    value, _ = _objective_and_grad(theta, np.log(n_arr), np.log(d_arr), np.log(l_arr), delta, scale)
    return value


@dataclass(frozen=True, eq=False)
class ChinchillaFit:
    """Result of :func:`fit_chinchilla_detailed`.

    Attributes
    ----------
    params : ChinchillaParams
        The best fit over all starts.
    objective : float
        The objective at ``params`` (a sum or a mean over runs, following ``reduction``).
    theta : ndarray of shape (5,)
        The best point in the optimiser's coordinates ``(a, b, e, alpha, beta)`` with
        ``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``.
    n_starts : int
        Number of initial points tried.
    n_converged : int
        Number of starts for which L-BFGS-B reported success (its stopping tests were met,
        as opposed to hitting ``maxiter`` or a line-search failure).
    start_objectives : ndarray of shape (n_starts,)
        Final objective of every start (NaN where the end point was not a valid law).
    final_thetas : ndarray of shape (n_starts, 5)
        End point of every start in ``(a, b, e, alpha, beta)`` coordinates.
    best_start : int
        Row of the initial grid that produced ``params``.
    converged : bool
        Whether the final L-BFGS-B run (the polish, if it improved the fit, else the best
        start) met its stopping tests.
    n_iterations : int
        L-BFGS-B iterations used by the best start, plus those of the polish if it was kept.
    reduction : str
        ``"sum"`` or ``"mean"``.
    """

    params: ChinchillaParams
    objective: float
    theta: NDArray[np.float64]
    n_starts: int
    n_converged: int
    start_objectives: NDArray[np.float64] = field(repr=False)
    final_thetas: NDArray[np.float64] = field(repr=False)
    best_start: int
    converged: bool
    n_iterations: int
    reduction: str


def _check_grid(init_grid: object) -> NDArray[np.float64]:
    if init_grid is None:
        return chinchilla_init_grid("default")
    grid = real_array(init_grid, "init_grid")
    if grid.ndim == 1 and grid.size == 5:
        grid = grid[None, :]
    if grid.ndim != 2 or grid.shape[1] != 5:
        raise ValueError(f"init_grid must have shape (n_starts, 5) with columns (a, b, e, alpha, beta); got shape {grid.shape}")
    bad = ~np.isfinite(grid)
    if np.any(bad):
        raise ValueError(f"init_grid must be finite (allowed range: -inf < value < inf); {describe(grid, bad)}")
    return grid


def _valid_theta(theta: NDArray[np.float64], value: float) -> bool:
    """Whether an end point describes a law with finite positive E, A, B, alpha, beta."""
    if not (np.all(np.isfinite(theta)) and math.isfinite(value)):
        return False
    a, b, e, alpha, beta = theta
    return alpha > 0 and beta > 0 and max(a, b, e) < 700.0 and min(a, b, e) > -700.0


def _params_from_theta(theta: NDArray[np.float64]) -> ChinchillaParams:
    a, b, e, alpha, beta = (float(v) for v in theta)
    return ChinchillaParams(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta)


def fit_chinchilla_detailed(
    N: ArrayLike,
    D: ArrayLike,
    loss: ArrayLike,
    *,
    delta: float = 1e-3,
    reduction: str = "sum",
    init_grid: ArrayLike | None = None,
    maxiter: int | None = None,
    gtol: float | None = None,
    ftol: float | None = None,
    polish: bool = True,
) -> ChinchillaFit:
    """Fit the Chinchilla law to training runs the way "Approach 3" does, with diagnostics.

    Following Hoffmann et al. 2022 (Section 3.3, Eq. 3, and Appendix D.2, Eq. 11) this
    minimises::

        sum_i Huber_delta( LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i )

    over ``(a, b, e, alpha, beta)``, where ``LSE`` is log-sum-exp, so the bracket is
    ``log L_hat(N_i, D_i) - log L_i`` with ``A = exp(a)``, ``B = exp(b)``, ``E = exp(e)``.
    SciPy's L-BFGS-B (without bounds, i.e. plain L-BFGS) with the analytic gradient is
    started from every row of ``init_grid`` and the start with the lowest objective is kept.
    End points with ``alpha <= 0`` or ``beta <= 0`` are not valid laws and are skipped.

    ``reduction="mean"`` divides the objective by the number of runs. It has the same
    minimiser, but the objective and its gradient are that many times smaller, so L-BFGS-B's
    default stopping tests (gradient below ``gtol``, decrease below ``ftol``) fire earlier:
    the pitfall Besiroglu et al. 2024 identified in the original fit.

    Parameters
    ----------
    N, D, loss : array_like
        One entry per run (at least 5): model parameters, training tokens and final loss
        (nats per token), all finite and > 0.
    delta : float
        Huber threshold, finite and > 0; the paper uses ``1e-3``.
    reduction : {"sum", "mean"}
        Sum over runs (the paper) or mean over runs (the pitfall).
    init_grid : array_like of shape (n_starts, 5), optional
        Initial points ``(a, b, e, alpha, beta)`` (a single start may have shape ``(5,)``);
        defaults to ``chinchilla_init_grid("default")``. Pass
        ``chinchilla_init_grid("full")`` for the paper's 4,500 starts.
    maxiter : int, optional
        Maximum L-BFGS-B iterations per start (SciPy's default if None).
    gtol : float, optional
        L-BFGS-B projected-gradient tolerance (SciPy's default, 1e-5, if None).
    ftol : float, optional
        L-BFGS-B relative-decrease tolerance (SciPy's default, about 2.2e-9, if None).
    polish : bool
        After the multi-start stage, restart L-BFGS-B from the best end point with
        :data:`STRICT_TOLERANCES` so that it reaches the bottom of the valley (default).
        ``False`` reproduces a fit that stops wherever the stopping rule above fires.

    Returns
    -------
    ChinchillaFit

    Raises
    ------
    RuntimeError
        If no start ends at a valid law (all end points have a non-positive exponent or
        overflow).
    """
    n_arr, d_arr, l_arr = _check_runs(N, D, loss, 5)
    delta = positive_scalar(delta, "delta")
    _check_reduction(reduction)
    grid = _check_grid(init_grid)
    polish = check_bool(polish, "polish")
    options = _check_lbfgs_options(maxiter, gtol, ftol)
    return _fit_chinchilla(
        n_arr, d_arr, l_arr, delta=delta, reduction=reduction, grid=grid, options=options, polish=polish
    )


def _check_lbfgs_options(maxiter: object, gtol: object, ftol: object) -> dict[str, float | int]:
    """The L-BFGS-B options that were given (None leaves SciPy's default)."""
    options: dict[str, float | int] = {}
    if maxiter is not None:
        options["maxiter"] = positive_int(maxiter, "maxiter")
    if gtol is not None:
        options["gtol"] = positive_scalar(gtol, "gtol")
    if ftol is not None:
        options["ftol"] = positive_scalar(ftol, "ftol")
    return options


def _fit_chinchilla(
    N: NDArray[np.float64],
    D: NDArray[np.float64],
    loss: NDArray[np.float64],
    *,
    delta: float,
    reduction: str,
    grid: NDArray[np.float64],
    options: dict[str, float | int],
    polish: bool,
) -> ChinchillaFit:
    """Approach 3: minimise the Huber objective in log space from every start of ``grid``."""
    log_n, log_d, log_l = np.log(N), np.log(D), np.log(loss)
    scale = 1.0 if reduction == "sum" else 1.0 / N.size  # "mean" is the pitfall
    # the objective is scale * sum_i Huber_delta(log L_hat(N_i, D_i) - log L_i)
    args = (log_n, log_d, log_l, delta, scale)
    # one BLAS thread: L-BFGS makes many tiny linear-algebra calls, and waking more threads for each
    # slowed the fit 4-50x on a busy 2-core machine
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # L-BFGS (L-BFGS-B without bounds) with the analytic gradient, from every start
        ends = [_lbfgs(start, args, options) for start in grid]
        # keep the lowest end point that is a valid law (alpha, beta > 0, finite A, B, E)
        objectives = np.array([_objective_if_valid(end) for end in ends])
        best = _best_valid_start(objectives)
        # optionally run the best one on to convergence with strict tolerances
        polished = _polish(ends[best].x.copy(), float(objectives[best]), args) if polish else None
    return _assemble_fit(ends, objectives, best, polished, reduction)


def _lbfgs(
    x0: NDArray[np.float64], args: tuple[object, ...], options: dict[str, float | int]
) -> OptimizeResult:
    """Unbounded L-BFGS-B on :func:`_objective_and_grad` from ``x0``."""
    return minimize(_objective_and_grad, x0, args=args, jac=True, method="L-BFGS-B", options=options)


def _objective_if_valid(end: OptimizeResult) -> float:
    """The objective at an end point, or NaN if the point is not a valid law."""
    return float(end.fun) if _valid_theta(end.x, float(end.fun)) else np.nan


def _best_valid_start(objectives: NDArray[np.float64]) -> int:
    """The start with the lowest objective (NaN marks an invalid end point)."""
    if np.all(np.isnan(objectives)):
        raise RuntimeError(
            "no start of the Chinchilla fit ended at a valid law (alpha > 0, beta > 0, finite A, B, E); "
            "try a different init_grid"
        )
    return int(np.nanargmin(objectives))


def _polish(theta: NDArray[np.float64], objective: float, args: tuple[object, ...]) -> OptimizeResult | None:
    """Restart from ``theta`` with :data:`STRICT_TOLERANCES`; the result if it is a valid law
    no worse than ``objective``, else None."""
    res = _lbfgs(theta, args, STRICT_TOLERANCES)
    if _valid_theta(res.x, float(res.fun)) and float(res.fun) <= objective:
        return res
    return None


def _assemble_fit(
    ends: list[OptimizeResult],
    objectives: NDArray[np.float64],
    best: int,
    polished: OptimizeResult | None,
    reduction: str,
) -> ChinchillaFit:
    """The :class:`ChinchillaFit` of the multi-start runs ``ends`` and the optional polish."""
    start = ends[best]
    theta, objective, converged = start.x.copy(), float(objectives[best]), bool(start.success)
    n_iterations = int(start.nit)
    if polished is not None:
        theta, objective, converged = polished.x.copy(), float(polished.fun), bool(polished.success)
        n_iterations += int(polished.nit)
    return ChinchillaFit(
        params=_params_from_theta(theta),
        objective=objective,
        theta=theta,
        n_starts=len(ends),
        n_converged=int(sum(bool(end.success) for end in ends)),
        start_objectives=objectives,
        final_thetas=np.array([end.x for end in ends], dtype=float),
        best_start=best,
        converged=converged,
        n_iterations=n_iterations,
        reduction=reduction,
    )


def fit_chinchilla(
    N: ArrayLike,
    D: ArrayLike,
    loss: ArrayLike,
    *,
    delta: float = 1e-3,
    reduction: str = "sum",
    init_grid: ArrayLike | None = None,
    maxiter: int | None = None,
    gtol: float | None = None,
    ftol: float | None = None,
    polish: bool = True,
) -> ChinchillaParams:
    """Fit ``L(N, D) = E + A / N**alpha + B / D**beta`` to runs by Chinchilla's Approach 3.

    Same arguments as :func:`fit_chinchilla_detailed` (Hoffmann et al. 2022, Appendix D.2);
    returns only the best parameters.
    """
    return fit_chinchilla_detailed(
        N, D, loss, delta=delta, reduction=reduction, init_grid=init_grid, maxiter=maxiter, gtol=gtol, ftol=ftol,
        polish=polish,
    ).params


def bootstrap_fit(
    N: ArrayLike,
    D: ArrayLike,
    loss: ArrayLike,
    *,
    n_boot: int = 100,
    seed: int | np.random.Generator = 0,
    delta: float = 1e-3,
    init_grid: ArrayLike | None = None,
    polish: bool = True,
) -> NDArray[np.float64]:
    """Bootstrap the Approach-3 fit by resampling runs with replacement.

    The full data are fitted once from ``init_grid``; each of the ``n_boot`` resamples is
    then fitted by L-BFGS-B warm-started at that fit (falling back to ``init_grid`` if the
    warm start does not end at a valid law) and polished to convergence with
    :data:`STRICT_TOLERANCES`. Without the polish a replicate stops a few steps from the warm
    start, and the spread of the replicates measures the optimiser rather than the data. Besiroglu et al. 2024 use this kind of
    bootstrap to show that Hoffmann et al.'s confidence intervals are implausibly narrow.

    Parameters
    ----------
    N, D, loss : array_like
        One entry per run (at least 5), finite and > 0.
    n_boot : int
        Number of bootstrap resamples, >= 1.
    seed : int or numpy.random.Generator
        Seed for ``np.random.default_rng`` (or a generator to draw from).
    delta : float
        Huber threshold, finite and > 0.
    init_grid : array_like of shape (n_starts, 5), optional
        Starts for the full-data fit; defaults to ``chinchilla_init_grid("default")``.
    polish : bool
        Run every fit to convergence with :data:`STRICT_TOLERANCES` (default). ``False``
        shows the pitfall: replicates stop near the warm start and the spread is too small.

    Returns
    -------
    ndarray of shape (n_boot, 5)
        One row per resample, columns ``(E, A, B, alpha, beta)``.
    """
    n_arr, d_arr, l_arr = _check_runs(N, D, loss, 5)
    n_boot = positive_int(n_boot, "n_boot")
    if isinstance(seed, np.random.Generator):
        rng = seed
    elif isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, (bool, np.bool_)):
        if int(seed) < 0:
            raise ValueError(f"seed must be an integer >= 0 or a numpy Generator; got {int(seed)}")
        rng = np.random.default_rng(int(seed))
    else:
        raise TypeError(f"seed must be an integer >= 0 or a numpy Generator; got {type(seed).__name__}")
    delta = positive_scalar(delta, "delta")
    grid = _check_grid(init_grid)

    polish = check_bool(polish, "polish")
    full = fit_chinchilla_detailed(n_arr, d_arr, l_arr, delta=delta, init_grid=grid, polish=polish)
    warm = full.theta[None, :]
    out = np.empty((n_boot, 5))
    n = n_arr.size
    for k in range(n_boot):
        idx = rng.integers(0, n, size=n)
        sample = (n_arr[idx], d_arr[idx], l_arr[idx])
        try:
            fit = fit_chinchilla_detailed(*sample, delta=delta, init_grid=warm, polish=polish)
        except RuntimeError:
            fit = fit_chinchilla_detailed(*sample, delta=delta, init_grid=grid, polish=polish)
        out[k] = fit.params.to_array()
    return out


# --------------------------------------------------------------------------------------
# Kaplan et al. 2020
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KaplanParams:
    """Constants of the Kaplan et al. 2020 power laws (Section 1.2 and Appendix A, Table 5).

    ``L(N) = (N_c / N)**alpha_N`` (Eq. 1.1, ``N`` non-embedding parameters),
    ``L(D) = (D_c / D)**alpha_D`` (Eq. 1.2, ``D`` tokens) and
    ``L(C_min) = (C_c / C_min)**alpha_C`` (Eq. 1.3, ``C_min`` in PF-days). All six values
    must be finite and > 0.
    """

    N_c: float
    alpha_N: float
    D_c: float
    alpha_D: float
    C_c: float
    alpha_C: float

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, positive_scalar(getattr(self, f.name), f.name))


#: Kaplan et al. 2020, Eqs. 1.1-1.3 and Table 5: alpha_N = 0.076, N_c = 8.8e13 non-embedding
#: parameters; alpha_D = 0.095, D_c = 5.4e13 tokens; alpha_C^min = 0.050,
#: C_c^min = 3.1e8 PF-days.
KAPLAN = KaplanParams(N_c=8.8e13, alpha_N=0.076, D_c=5.4e13, alpha_D=0.095, C_c=3.1e8, alpha_C=0.050)

#: Kaplan et al. 2020, Table 2: the joint fit of Eq. 1.5 to early-stopped runs
#: (alpha_N = 0.076, alpha_D = 0.103, N_c = 6.4e13, D_c = 1.8e13); the compute constants
#: are those of Table 5.
KAPLAN_ND = KaplanParams(N_c=6.4e13, alpha_N=0.076, D_c=1.8e13, alpha_D=0.103, C_c=3.1e8, alpha_C=0.050)

#: Kaplan et al. 2020, Table 6 and Figure 14: N_opt = 1.3e9 * C_min**0.73 (C_min in PF-days);
#: the exponent is Eq. 6.1.
KAPLAN_N_OPT_SCALE: float = 1.3e9
KAPLAN_N_OPT_EXPONENT: float = 0.73


def kaplan_loss_n(N: ArrayLike, params: KaplanParams = KAPLAN) -> FloatOrArray:
    """``L(N) = (N_c / N)**alpha_N`` for ``N`` non-embedding parameters (Kaplan et al. 2020, Eq. 1.1)."""
    _check_params(params, KaplanParams)
    return as_output((params.N_c / positive(N, "N")) ** params.alpha_N)


def kaplan_loss_d(D: ArrayLike, params: KaplanParams = KAPLAN) -> FloatOrArray:
    """``L(D) = (D_c / D)**alpha_D`` for ``D`` tokens, with early stopping (Kaplan et al. 2020, Eq. 1.2)."""
    _check_params(params, KaplanParams)
    return as_output((params.D_c / positive(D, "D")) ** params.alpha_D)


def kaplan_loss_c(C_min_pf_days: ArrayLike, params: KaplanParams = KAPLAN) -> FloatOrArray:
    """``L(C_min) = (C_c / C_min)**alpha_C`` with ``C_min`` in PF-days (Kaplan et al. 2020, Eq. 1.3).

    Divide FLOPs by :data:`PF_DAY_FLOPS` to get PF-days.
    """
    _check_params(params, KaplanParams)
    return as_output((params.C_c / positive(C_min_pf_days, "C_min_pf_days")) ** params.alpha_C)


def kaplan_loss_nd(N: ArrayLike, D: ArrayLike, params: KaplanParams = KAPLAN) -> FloatOrArray:
    """``L(N, D) = [(N_c / N)**(alpha_N / alpha_D) + D_c / D]**alpha_D`` (Kaplan et al. 2020, Eq. 1.5).

    Tends to :func:`kaplan_loss_n` as ``D -> inf`` and to :func:`kaplan_loss_d` as
    ``N -> inf``. Kaplan et al. fit this form separately (Table 2, :data:`KAPLAN_ND`).
    """
    _check_params(params, KaplanParams)
    n_arr, d_arr = broadcast({"N": positive(N, "N"), "D": positive(D, "D")})
    p = params
    return as_output(((p.N_c / n_arr) ** (p.alpha_N / p.alpha_D) + p.D_c / d_arr) ** p.alpha_D)


def kaplan_optimal_n(
    C_min_pf_days: ArrayLike,
    *,
    scale: float = KAPLAN_N_OPT_SCALE,
    exponent: float = KAPLAN_N_OPT_EXPONENT,
) -> FloatOrArray:
    """Kaplan's compute-efficient model size ``N_opt = 1.3e9 * C_min**0.73`` (non-embedding parameters).

    Kaplan et al. 2020, Eq. 6.1 (exponent) with the scale of Table 6 / Figure 14; ``C_min``
    is in PF-days, finite and > 0. ``scale`` and ``exponent`` (finite, > 0) can be changed.
    """
    scale = positive_scalar(scale, "scale")
    exponent = positive_scalar(exponent, "exponent")
    return as_output(scale * positive(C_min_pf_days, "C_min_pf_days") ** exponent)


# --------------------------------------------------------------------------------------
# A power law with an irreducible term
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLawFit:
    """``y = a * x**(-alpha) + e``: a power law plus an irreducible floor ``e``.

    ``a`` must be finite and > 0, ``alpha`` finite, and ``e`` finite and >= 0. Calling the
    object evaluates the law at ``x`` (finite, > 0).
    """

    a: float
    alpha: float
    e: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "a", positive_scalar(self.a, "a"))
        alpha = real_scalar(self.alpha, "alpha")
        if not math.isfinite(alpha):
            raise ValueError(f"alpha must be finite (allowed range: -inf < alpha < inf); got {alpha!r}")
        object.__setattr__(self, "alpha", alpha)
        e = real_scalar(self.e, "e")
        if not (math.isfinite(e) and e >= 0):
            raise ValueError(f"e must be finite and >= 0 (allowed range: 0 <= e < inf); got {e!r}")
        object.__setattr__(self, "e", e)

    def __call__(self, x: ArrayLike) -> FloatOrArray:
        return as_output(self.a * positive(x, "x") ** (-self.alpha) + self.e)


def _log_power_law(log_x: NDArray[np.float64], log_c: float, alpha: float, e: float) -> NDArray[np.float64]:
    return np.log(np.exp(log_c - alpha * log_x) + e)


def _log_power_law_jac(log_x: NDArray[np.float64], log_c: float, alpha: float, e: float) -> NDArray[np.float64]:
    t = np.exp(log_c - alpha * log_x)
    y = t + e
    return np.column_stack([t / y, -log_x * t / y, 1.0 / y])


def fit_power_law(x: ArrayLike, y: ArrayLike, *, with_offset: bool = True) -> PowerLawFit:
    """Least-squares fit of ``y = a * x**(-alpha) + e`` on ``log y``.

    The residuals are ``log(a x**-alpha + e) - log y``, so every point counts in relative
    terms, as in the log-space fits of Hoffmann et al. 2022. Initial values come from
    straight-line fits of ``log(y - e0)`` against ``log x`` for a few floors ``e0`` below
    ``min(y)``; :func:`scipy.optimize.curve_fit` (trust-region reflective, ``e >= 0``)
    refines each and the best is kept. With ``with_offset=False`` the floor is fixed at
    0 and the fit is the straight line in log-log space (``np.polyfit``).

    Parameters
    ----------
    x, y : array_like
        1-D, same length, finite and > 0; at least 3 distinct ``x`` with the offset (2
        without).
    with_offset : bool
        Fit the irreducible term ``e`` (default) or fix it at 0.

    Returns
    -------
    PowerLawFit
    """
    with_offset = check_bool(with_offset, "with_offset")
    x_arr = positive(x, "x")
    y_arr = positive(y, "y")
    _same_length_1d(x_arr, y_arr, "x", "y", 3 if with_offset else 2)
    log_x, log_y = np.log(x_arr), np.log(y_arr)
    log_x0 = float(np.mean(log_x))  # fit around the centre of the data for conditioning
    u = log_x - log_x0

    def to_fit(log_c: float, alpha: float, e: float) -> PowerLawFit:
        return PowerLawFit(a=math.exp(log_c + alpha * log_x0), alpha=alpha, e=e)

    if not with_offset:
        slope, intercept = np.polyfit(u, log_y, 1)
        return to_fit(float(intercept), float(-slope), 0.0)

    y_min = float(np.min(y_arr))
    best: tuple[float, NDArray[np.float64]] | None = None
    for frac in (0.0, 0.5, 0.9, 0.99):
        e0 = frac * y_min
        slope, intercept = np.polyfit(u, np.log(y_arr - e0), 1)
        p0 = np.array([intercept, -slope, e0])
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                popt, _ = curve_fit(
                    _log_power_law,
                    u,
                    log_y,
                    p0=p0,
                    jac=_log_power_law_jac,
                    bounds=([-np.inf, -np.inf, 0.0], [np.inf, np.inf, np.inf]),
                    method="trf",
                    x_scale="jac",
                    max_nfev=2000,
                )
        except (RuntimeError, ValueError):
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            sse = float(np.sum((_log_power_law(u, *popt) - log_y) ** 2))
        if math.isfinite(sse) and np.all(np.isfinite(popt)) and (best is None or sse < best[0]):
            best = (sse, popt)
    if best is None:
        raise RuntimeError("fit_power_law: the least-squares fit failed from every starting point")
    log_c, alpha, e = (float(v) for v in best[1])
    return to_fit(log_c, alpha, max(e, 0.0))


# --------------------------------------------------------------------------------------
# Approach 2: isoFLOP profiles, and y = k C**a
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IsoflopProfile:
    """A parabola in ``log N`` fitted to one isoFLOP profile: ``loss ~ c2 u**2 + c1 u + c0``.

    ``u = log N - centre`` (natural log), centred on the sampled sizes for conditioning.
    Call it with model sizes to evaluate the parabola; ``n_opt`` is the size at its vertex.
    """

    centre: float
    c2: float
    c1: float
    c0: float

    @property
    def n_opt(self) -> float:
        """Model size at the vertex (the bottom of the valley)."""
        return float(math.exp(self.centre - self.c1 / (2.0 * self.c2)))

    def __call__(self, N: ArrayLike) -> FloatOrArray:
        u = np.log(positive(N, "N")) - self.centre
        return as_output((self.c2 * u + self.c1) * u + self.c0)


def fit_isoflop_profile(N: ArrayLike, loss: ArrayLike) -> IsoflopProfile:
    """Fit a parabola to ``loss`` against ``log N`` on one compute budget (Hoffmann et al. 2022, Approach 2).

    Parameters
    ----------
    N : array_like
        1-D model sizes on one compute budget, finite and > 0, at least 3 distinct values.
    loss : array_like
        Final losses of those runs, finite and > 0, same length as ``N``.

    Raises
    ------
    ValueError
        On fewer than 3 distinct sizes or a parabola that opens downward (no minimum).
    """
    n_arr = positive(N, "N")
    l_arr = positive(loss, "loss")
    _same_length_1d(n_arr, l_arr, "N", "loss", 3)
    log_n = np.log(n_arr)
    centre = float(np.mean(log_n))
    c2, c1, c0 = (float(c) for c in np.polyfit(log_n - centre, l_arr, 2))
    if not c2 > 0:
        raise ValueError(
            f"the parabola fitted to loss against log N opens downward (curvature {c2:.3g} <= 0), "
            "so the isoFLOP profile has no minimum; sample sizes on both sides of the optimum"
        )
    return IsoflopProfile(centre=centre, c2=c2, c1=c1, c0=c0)


def isoflop_minimum(N: ArrayLike, loss: ArrayLike) -> float:
    """Model size at the bottom of one isoFLOP profile (Hoffmann et al. 2022, Approach 2).

    The vertex of :func:`fit_isoflop_profile`'s parabola. It may lie outside the sampled sizes
    if the profile is one-sided; check it against ``N`` if that matters. Same arguments and
    errors as :func:`fit_isoflop_profile`.
    """
    return fit_isoflop_profile(N, loss).n_opt


def fit_compute_law(C: ArrayLike, y: ArrayLike) -> tuple[float, float]:
    """Fit ``y = k * C**a`` by least squares in log-log space; returns ``(k, a)``.

    Hoffmann et al. 2022 fit ``N_opt`` and ``D_opt`` against compute this way in Approaches
    1 and 2. ``C`` and ``y`` are 1-D, the same length, finite and > 0, with at least 2
    distinct budgets.
    """
    c_arr = positive(C, "C")
    y_arr = positive(y, "y")
    _same_length_1d(c_arr, y_arr, "C", "y", 2)
    log_c = np.log(c_arr)
    centre = float(np.mean(log_c))
    a, intercept = np.polyfit(log_c - centre, np.log(y_arr), 1)
    return float(math.exp(intercept - a * centre)), float(a)


# --------------------------------------------------------------------------------------
# Reconciling Kaplan and Chinchilla (Pearce and Song 2024)
# --------------------------------------------------------------------------------------

#: Pearce and Song 2024: total = non-embedding + omega * non-embedding**(1/3), fitted to the
#: Chinchilla model configurations (vocabulary 32,000; d_model / n_layer about 39.2).
PEARCE_SONG_OMEGA: float = 47491.0


def omega_from_architecture(vocab_size: float, aspect_ratio: float, *, n_ctx: float = 0.0) -> float:
    """The coefficient ``omega`` of :func:`total_params` implied by a transformer's shape.

    With ``N_E = 12 n_layer d_model**2`` non-embedding parameters (Kaplan et al. 2020,
    Section 2.1) and a fixed aspect ratio ``d_model / n_layer``, ``d_model = (aspect_ratio
    N_E / 12)**(1/3)``; an embedding table of ``vocab_size + n_ctx`` rows of width
    ``d_model`` then adds ``omega * N_E**(1/3)`` parameters with
    ``omega = (vocab_size + n_ctx) * (aspect_ratio / 12)**(1/3)`` (Pearce and Song 2024).

    ``vocab_size`` and ``aspect_ratio`` must be finite and > 0, ``n_ctx`` (learned position
    rows) finite and >= 0.
    """
    vocab_size = positive_scalar(vocab_size, "vocab_size")
    aspect_ratio = positive_scalar(aspect_ratio, "aspect_ratio")
    n_ctx_v = real_scalar(n_ctx, "n_ctx")
    if not (math.isfinite(n_ctx_v) and n_ctx_v >= 0):
        raise ValueError(f"n_ctx must be finite and >= 0 (allowed range: 0 <= n_ctx < inf); got {n_ctx_v!r}")
    return (vocab_size + n_ctx_v) * (aspect_ratio / 12.0) ** (1.0 / 3.0)


def _omega(omega: object) -> float:
    v = real_scalar(omega, "omega")
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"omega must be finite and >= 0 (allowed range: 0 <= omega < inf); got {v!r}")
    return v


def total_params(n_nonembedding: ArrayLike, omega: float = PEARCE_SONG_OMEGA) -> FloatOrArray:
    """Total parameters ``N_T = N_E + omega * N_E**(1/3)`` from non-embedding ones (Pearce and Song 2024).

    ``n_nonembedding`` must be finite and > 0; ``omega`` finite and >= 0 (0 means no
    embedding parameters). See :func:`omega_from_architecture`.
    """
    n_e = positive(n_nonembedding, "n_nonembedding")
    w = _omega(omega)
    return as_output(n_e + w * np.cbrt(n_e))


def compute_optimal_nonembedding(
    C: ArrayLike, params: ChinchillaParams = CHINCHILLA, omega: float = PEARCE_SONG_OMEGA
) -> FloatOrArray:
    """Compute-optimal non-embedding size when the true law is in total parameters.

    Pearce and Song 2024: the loss follows the Chinchilla law in total parameters
    ``N_T = N_E + omega N_E**(1/3)``, but size and compute are counted without embeddings,
    ``C_E = 6 N_E D``. Along a fixed ``C_E``::

        L(N_E) = E + A (N_E + omega N_E**(1/3))**-alpha + B (C_E / (6 N_E))**-beta

    and the optimum solves ``dL/dN_E = 0``, i.e.::

        alpha A N_T**(-alpha-1) (1 + omega/3 N_E**(-2/3)) = beta B (C_E/6)**-beta N_E**(beta-1)

    which is solved for ``log N_E`` with :func:`scipy.optimize.brentq` after bracketing the
    sign change. For ``omega = 0`` this is :func:`compute_optimal`.

    Parameters
    ----------
    C : float or array_like
        Non-embedding compute budgets ``C_E`` in FLOPs, finite and > 0.
    params : ChinchillaParams
        The law in total parameters; defaults to :data:`CHINCHILLA`.
    omega : float
        Embedding coefficient, finite and >= 0; defaults to :data:`PEARCE_SONG_OMEGA`.

    Returns
    -------
    float or ndarray
        The optimal non-embedding parameter count ``N_E*`` for each budget.
    """
    _check_params(params, ChinchillaParams)
    c_arr = positive(C, "C")
    w = _omega(omega)
    p = params
    log_aa = math.log(p.alpha * p.A)
    log_bb = math.log(p.beta * p.B)
    # Starting point: the closed form without embeddings.
    n0 = np.log(np.asarray(compute_optimal(c_arr, p)[0], dtype=float))

    def condition(x: float, log_c6: float) -> float:
        # log(d/dN of the data term) - log(-d/dN of the model term); increasing in x.
        z = w * math.exp(-2.0 * x / 3.0)
        log_nt = x + math.log1p(z)
        log_dnt = math.log1p(z / 3.0)
        return (log_bb - p.beta * log_c6 + (p.beta - 1.0) * x) - (log_aa - (p.alpha + 1.0) * log_nt + log_dnt)

    out = np.empty_like(c_arr)
    for idx in np.ndindex(c_arr.shape):
        log_c6 = math.log(c_arr[idx] / 6.0)
        x0 = float(n0[idx])
        lo, hi = x0 - 2.0, x0 + 2.0
        for _ in range(200):
            if condition(lo, log_c6) < 0:
                break
            lo -= 2.0
        for _ in range(200):
            if condition(hi, log_c6) > 0:
                break
            hi += 2.0
        if not (condition(lo, log_c6) < 0 < condition(hi, log_c6)):
            raise RuntimeError("compute_optimal_nonembedding: could not bracket the optimum")
        root = brentq(condition, lo, hi, args=(log_c6,), xtol=1e-13, rtol=1e-15, maxiter=500)
        out[idx] = math.exp(root)
    return as_output(out)


def local_exponent(
    C: ArrayLike, n_opt_fn: Callable[[NDArray[np.float64]], ArrayLike], *, rel_step: float = 1e-3
) -> FloatOrArray:
    """Local scaling exponent ``d log N_opt / d log C`` by a central difference.

    ``(log n_opt_fn(C e**h) - log n_opt_fn(C e**-h)) / (2 h)`` with ``h = rel_step``, so the
    step is relative (about ``rel_step`` in ``C``). Pearce and Song 2024 use this slope to
    show that counting non-embedding parameters gives Kaplan's ~0.73 at small compute and
    Chinchilla's value at large compute.

    Parameters
    ----------
    C : float or array_like
        Compute budgets, finite and > 0.
    n_opt_fn : callable
        Maps an array of budgets to optimal sizes (finite and > 0), e.g.
        ``lambda c: compute_optimal(c)[0]`` or :func:`compute_optimal_nonembedding`.
    rel_step : float
        Step ``h`` in natural-log units, in (0, 1).
    """
    if not callable(n_opt_fn):
        raise TypeError(f"n_opt_fn must be callable; got {type(n_opt_fn).__name__}")
    c_arr = positive(C, "C")
    h = positive_scalar(rel_step, "rel_step")
    if h >= 1.0:
        raise ValueError(f"rel_step must be in (0, 1); got {h!r}")
    values = []
    for factor in (math.exp(h), math.exp(-h)):
        raw = n_opt_fn(c_arr * factor)
        try:
            arr = np.asarray(raw, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("n_opt_fn must return finite values > 0") from None
        if arr.shape != c_arr.shape and arr.size != c_arr.size:
            raise ValueError(f"n_opt_fn must return one value per budget; got shape {arr.shape} for C of shape {c_arr.shape}")
        arr = arr.reshape(c_arr.shape)
        if not np.all(np.isfinite(arr) & (arr > 0)):
            raise ValueError("n_opt_fn must return finite values > 0 (allowed range: 0 < N_opt < inf)")
        values.append(arr)
    return as_output((np.log(values[0]) - np.log(values[1])) / (2.0 * h))


# --------------------------------------------------------------------------------------
# Data-constrained scaling (Muennighoff et al. 2023)
# --------------------------------------------------------------------------------------

#: Muennighoff et al. 2023, the fitted decay constant of repeated data, R_D* ~ 15.4
#: (the value of repeated epochs decays with e-folding ~15.4 repetitions).
MUENNIGHOFF_R_D_STAR: float = 15.4
#: Muennighoff et al. 2023, the analogous constant for excess parameters, R_N* ~ 5.3.
MUENNIGHOFF_R_N_STAR: float = 5.3


def effective_data(
    unique_tokens: ArrayLike,
    repeated_tokens: ArrayLike | None = None,
    *,
    epochs: ArrayLike | None = None,
    r_star: float = MUENNIGHOFF_R_D_STAR,
) -> FloatOrArray:
    """Effective data ``D' = U + U r* (1 - exp(-R / r*))`` of repeated tokens (Muennighoff et al. 2023).

    ``U`` unique tokens seen ``1 + R`` times are worth ``D'`` fresh tokens: the first
    repetitions are worth almost as much as new data, and the total saturates at
    ``U (1 + r*)`` however often the data are repeated. Give exactly one of
    ``repeated_tokens`` (``R U`` tokens beyond the first epoch, so ``R = repeated_tokens / U``)
    or ``epochs`` (``R = epochs - 1``).

    Parameters
    ----------
    unique_tokens : float or array_like
        ``U``, finite and > 0.
    repeated_tokens : float or array_like, optional
        Tokens trained on beyond one epoch, finite and >= 0.
    epochs : float or array_like, optional
        Passes over the unique data, finite and >= 1.
    r_star : float
        Decay constant ``R_D*``, finite and > 0; default 15.4 (:data:`MUENNIGHOFF_R_D_STAR`).

    Returns
    -------
    float or ndarray
        ``D'``, broadcast over the inputs.
    """
    u = positive(unique_tokens, "unique_tokens")
    r_star = positive_scalar(r_star, "r_star")
    if (repeated_tokens is None) == (epochs is None):
        raise ValueError("give exactly one of repeated_tokens (>= 0) or epochs (>= 1)")
    if repeated_tokens is not None:
        rep = nonnegative(repeated_tokens, "repeated_tokens")
        u, rep = broadcast({"unique_tokens": u, "repeated_tokens": rep})
        reps = rep / u
    else:
        ep = real_array(epochs, "epochs")
        bad = ~np.isfinite(ep) | (ep < 1)
        if np.any(bad):
            raise ValueError(f"epochs must be finite and >= 1 (allowed range: 1 <= epochs < inf); {describe(ep, bad)}")
        u, ep = broadcast({"unique_tokens": u, "epochs": ep})
        reps = ep - 1.0
    return as_output(u * (1.0 + r_star * -np.expm1(-reps / r_star)))


def repetition_penalty_loss(
    N: ArrayLike,
    unique_tokens: ArrayLike,
    epochs: ArrayLike,
    params: ChinchillaParams = CHINCHILLA,
    *,
    penalty: float,
    delta: float,
    kappa: float,
) -> FloatOrArray:
    """Chinchilla loss counting every pass, plus an overfitting penalty (Lovelace et al. 2026).

    ``E + A / N**alpha + B / (U (1 + R))**beta + penalty * R**delta * (N / U)**kappa`` with
    ``R = epochs - 1`` repetitions of ``U`` unique tokens. Unlike the effective data of
    :func:`effective_data`, the penalty can make more epochs *raise* the loss.

    Parameters
    ----------
    N, unique_tokens : float or array_like
        Parameters and unique tokens, finite and > 0.
    epochs : float or array_like
        Passes over the unique data, finite and >= 1.
    params : ChinchillaParams
    penalty : float
        The overfitting coefficient ``P``, finite and >= 0.
    delta, kappa : float
        Exponents of the repetitions and of ``N / U``, finite and > 0.
    """
    _check_params(params, ChinchillaParams)
    n_arr = positive(N, "N")
    u_arr = positive(unique_tokens, "unique_tokens")
    ep = real_array(epochs, "epochs")
    bad = ~np.isfinite(ep) | (ep < 1)
    if np.any(bad):
        raise ValueError(f"epochs must be finite and >= 1 (allowed range: 1 <= epochs < inf); {describe(ep, bad)}")
    penalty = real_scalar(penalty, "penalty")
    if not (math.isfinite(penalty) and penalty >= 0):
        raise ValueError(f"penalty must be finite and >= 0 (allowed range: 0 <= penalty < inf); got {penalty!r}")
    delta = positive_scalar(delta, "delta")
    kappa = positive_scalar(kappa, "kappa")
    n_arr, u_arr, ep = broadcast({"N": n_arr, "unique_tokens": u_arr, "epochs": ep})
    return as_output(_repetition_penalty_loss(n_arr, u_arr, ep, params, penalty, delta, kappa))


def _repetition_penalty_loss(
    N: NDArray[np.float64],
    U: NDArray[np.float64],
    epochs: NDArray[np.float64],
    p: ChinchillaParams,
    penalty: float,
    delta: float,
    kappa: float,
) -> NDArray[np.float64]:
    repeats = epochs - 1.0  # R_D: passes beyond the first
    fresh_law = p.E + p.A / N**p.alpha + p.B / (U * epochs) ** p.beta  # every pass counted as new
    overfit = penalty * repeats**delta * (N / U) ** kappa  # grows with R_D and with N / U_D
    return fresh_law + overfit


def envelope_optimal(
    sizes: ArrayLike, losses: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Method 1 of Hoffmann et al. 2022: at each budget, the size whose run reaches the lowest loss.

    ``losses[i, j]`` is the loss of the run of size ``sizes[i]`` after spending budget ``j``
    (NaN where that run does not reach budget ``j``). Returns ``(n_opt, envelope)``, one
    entry per budget: the winning size and its loss (both NaN where no run reaches the budget).

    Parameters
    ----------
    sizes : array_like of shape (n_sizes,)
        Model sizes, finite and > 0.
    losses : array_like of shape (n_sizes, n_budgets)
        Losses, finite or NaN.
    """
    size_arr = positive(sizes, "sizes")
    loss_arr = real_array(losses, "losses")
    if size_arr.ndim != 1:
        raise ValueError(f"sizes must be 1-D; got shape {size_arr.shape}")
    if loss_arr.ndim != 2 or loss_arr.shape[0] != size_arr.size:
        raise ValueError(
            f"losses must have shape (len(sizes), n_budgets) = ({size_arr.size}, n); got shape {loss_arr.shape}"
        )
    bad = np.isinf(loss_arr)
    if np.any(bad):
        raise ValueError(f"losses must be finite or NaN (allowed range: -inf < losses < inf); {describe(loss_arr, bad)}")
    return _envelope_optimal(size_arr, loss_arr)


def _envelope_optimal(
    sizes: NDArray[np.float64], losses: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    filled = np.where(np.isnan(losses), np.inf, losses)  # a run that has not got there cannot win
    winner = np.argmin(filled, axis=0)  # row of the best run at every budget
    best = filled[winner, np.arange(filled.shape[1])]
    reached = np.isfinite(best)
    return np.where(reached, sizes[winner], np.nan), np.where(reached, best, np.nan)


def objective_gradient(
    params: ChinchillaParams,
    N: ArrayLike,
    D: ArrayLike,
    loss: ArrayLike,
    *,
    delta: float = 1e-3,
) -> NDArray[np.float64]:
    """Gradient of the *summed* Approach-3 objective at ``params``.

    In the optimiser's coordinates ``(a, b, e, alpha, beta)`` (``A = exp(a)`` and so on), so
    its norm says how far from a stationary point a fit stopped, whatever objective the fit used.
    """
    _check_params(params, ChinchillaParams)
    n_arr, d_arr, l_arr = _check_runs(N, D, loss, 1)
    delta = positive_scalar(delta, "delta")
    theta = np.array([math.log(params.A), math.log(params.B), math.log(params.E), params.alpha, params.beta])
    _, grad = _objective_and_grad(theta, np.log(n_arr), np.log(d_arr), np.log(l_arr), delta, 1.0)
    return grad


def quanta_data_loss(
    tokens: ArrayLike,
    rng: np.random.Generator,
    *,
    zipf_alpha: float = 0.4,
    n_quanta: int = 200_000,
    threshold: int = 5,
) -> FloatOrArray:
    """Reducible loss of a learner of quanta that has seen ``tokens`` tokens (Michaud et al. 2023).

    Quantum ``k`` is needed on a share ``p_k = k**-(zipf_alpha + 1) / zeta(zipf_alpha + 1)`` of
    tokens (an unbounded Zipf law). Each token shows one quantum; a quantum is learned once it
    has been shown ``threshold`` times (Poisson counts drawn from ``rng``). The loss is the share
    of tokens whose quantum is not learned yet, between 0 and 1. Only the ``n_quanta`` most
    common quanta are simulated; the rest count as not learned, which is exact to within
    ``P(Poisson(tokens * p_{n_quanta}) >= threshold)`` per quantum, so keep
    ``tokens * p_{n_quanta}`` well below ``threshold``.

    Parameters
    ----------
    tokens : float or array_like
        Tokens seen, finite and > 0.
    rng : numpy.random.Generator
    zipf_alpha : float
        Zipf exponent, finite and > 0.
    n_quanta : int
        Number of quanta, >= 1.
    threshold : int
        Sightings needed to learn a quantum, >= 1.
    """
    t_arr = positive(tokens, "tokens")
    rng = generator(rng, "rng")
    zipf_alpha = positive_scalar(zipf_alpha, "zipf_alpha")
    n_quanta = positive_int(n_quanta, "n_quanta")
    threshold = positive_int(threshold, "threshold")
    return as_output(_quanta_data_loss(t_arr, rng, zipf_alpha, n_quanta, threshold))


def _quanta_data_loss(
    tokens: NDArray[np.float64], rng: np.random.Generator, zipf_alpha: float, n_quanta: int, threshold: int
) -> NDArray[np.float64]:
    # p_k: the share of tokens that need quantum k (Zipf, normalised over all k >= 1)
    share = np.arange(1, n_quanta + 1, dtype=float) ** -(zipf_alpha + 1) / zeta(zipf_alpha + 1)
    out = np.empty(tokens.size)
    for i, n_tokens in enumerate(tokens.ravel()):
        sightings = rng.poisson(n_tokens * share)  # how often each quantum was shown
        out[i] = 1.0 - share[sightings >= threshold].sum()  # tokens whose quantum is unlearned
    return out.reshape(tokens.shape)
