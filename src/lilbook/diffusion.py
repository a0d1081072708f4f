"""Diffusion models for video: the numerical core of the video-diffusion chapter.

Everything the chapter computes lives here, so it can be unit-tested:

* noise schedules: the linear beta schedule of Ho et al. (2020) and the cosine schedule of
  Nichol and Dhariwal (2021), their cumulative products ``alpha_bar`` and signal-to-noise
  ratios;
* the forward process ``z = sqrt(alpha_bar) x + sqrt(1 - alpha_bar) eps`` and the conversions
  between the three things a denoiser can predict: the noise ``eps``, the clean sample ``x0``
  and the velocity ``v = alpha eps - sigma x0`` (Salimans and Ho 2022), plus the deterministic
  DDIM step written with ``v``;
* noise shared across the frames of a video (a base component plus a per-frame residual) and
  the correlation between frames;
* a toy video generator (a soft disc moving across a small frame);
* the FLOP count of full space-time attention against factorised spatial-then-temporal
  attention;
* a toy version of video data curation: a pool of clips with static and cut clips mixed in,
  motion and cut scores that filter them out, and the denoising error of a model fitted to the
  curated or the uncurated pool;
* a closed-form Gaussian (linear) denoiser fitted to toy videos, and DDIM sampling with it,
  optionally conditioned on known frames by replacement or by reconstruction guidance
  (Ho, Salimans et al. 2022).

The process is variance preserving throughout: ``alpha_t = sqrt(alpha_bar_t)`` and
``sigma_t = sqrt(1 - alpha_bar_t)``, so ``alpha_t**2 + sigma_t**2 = 1`` and one can write
``alpha_t = cos(phi_t)``, ``sigma_t = sin(phi_t)``.

Every public function checks its input and raises ``TypeError`` (wrong kind of object) or
``ValueError`` (wrong value or shape) with a message that names the parameter and the allowed
range, rather than returning a meaningless number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lilbook._checks import (
    FloatOrArray,
    as_output,
    describe,
    finite_array,
    generator,
    positive_int,
    positive_scalar,
    real_array,
    real_scalar,
)
from lilbook.runtime import matmul, one_blas_thread
from lilbook.attention import attention_flops  # the book's one count of attention FLOPs

__all__ = [
    "PREDICTION_TARGETS",
    "GaussianVideoModel",
    "alpha_bar_from_betas",
    "attention_flops",
    "clip_scores",
    "conditional_mean",
    "curation_experiment",
    "curation_pool",
    "denoising_mse",
    "convert_prediction",
    "cosine_alpha_bar",
    "cosine_beta_schedule",
    "ddim_sample",
    "ddim_step_v",
    "eps_from_v",
    "eps_from_x0",
    "factorized_attention_flops",
    "fit_gaussian_video_model",
    "frame_correlation",
    "full_attention_flops",
    "keyframe_attention_flops",
    "linear_beta_schedule",
    "log_snr",
    "mean_adjacent_correlation",
    "q_sample",
    "shared_noise",
    "snr",
    "toy_video",
    "toy_video_dataset",
    "v_target",
    "x0_from_eps",
    "x0_from_v",
]

PREDICTION_TARGETS = ("eps", "x0", "v")


# ------------------------------------------------------------------------------------
# Input checks specific to this module
# ------------------------------------------------------------------------------------


def _check_alpha_bar(x: object, name: str = "alpha_bar", *, allow_one: bool = True) -> NDArray:
    """Values in (0, 1] (or (0, 1) when ``allow_one`` is False)."""
    arr = real_array(x, name)
    if allow_one:
        bad = ~np.isfinite(arr) | (arr <= 0) | (arr > 1)
        rng = f"0 < {name} <= 1"
    else:
        bad = ~np.isfinite(arr) | (arr <= 0) | (arr >= 1)
        rng = f"0 < {name} < 1"
    if np.any(bad):
        raise ValueError(f"{name} must lie in the allowed range {rng}; {describe(arr, bad)}")
    return arr


def _check_same_shape(a: NDArray, b: NDArray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape; "
            f"{name_a} has shape {a.shape}, {name_b} has shape {b.shape}"
        )


def _check_broadcastable(a: NDArray, alpha_bar: NDArray, name: str) -> None:
    try:
        shape = np.broadcast_shapes(a.shape, alpha_bar.shape)
    except ValueError:
        shape = None
    if shape != a.shape:
        raise ValueError(
            f"alpha_bar must broadcast to the shape of {name}; alpha_bar has shape "
            f"{alpha_bar.shape}, {name} has shape {a.shape} (use a scalar, or add trailing "
            f"axes of length 1)"
        )


# ------------------------------------------------------------------------------------
# Noise schedules and the forward process
# ------------------------------------------------------------------------------------


def linear_beta_schedule(
    n_steps: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> NDArray[np.float64]:
    """The linear variance schedule of DDPM (Ho et al. 2020): ``n_steps`` betas, evenly spaced.

    Parameters
    ----------
    n_steps : int
        Number of diffusion steps, ``n_steps >= 1``. With one step the schedule is
        ``[beta_start]``.
    beta_start, beta_end : float
        First and last beta, ``0 < beta_start <= beta_end < 1`` (DDPM used 1e-4 and 0.02
        with 1000 steps).

    Returns
    -------
    ndarray of shape (n_steps,)
        ``beta_t`` for ``t = 1, ..., n_steps``; ``alpha_bar_t = prod_{s<=t} (1 - beta_s)``
        comes from :func:`alpha_bar_from_betas`.
    """
    n = positive_int(n_steps, "n_steps")
    b0 = positive_scalar(beta_start, "beta_start")
    b1 = positive_scalar(beta_end, "beta_end")
    if b0 >= 1:
        raise ValueError(f"beta_start must satisfy 0 < beta_start < 1; got {b0!r}")
    if not b0 <= b1 < 1:
        raise ValueError(
            f"beta_end must satisfy beta_start <= beta_end < 1; got beta_end={b1!r} "
            f"with beta_start={b0!r}"
        )
    return np.linspace(b0, b1, n)


def alpha_bar_from_betas(betas: object) -> NDArray[np.float64]:
    """Cumulative product ``alpha_bar_t = prod_{s <= t} (1 - beta_s)`` of a beta schedule.

    ``betas`` is a 1-D array with every value in (0, 1).
    """
    b = real_array(betas, "betas")
    if b.ndim != 1:
        raise ValueError(f"betas must be one-dimensional; got shape {b.shape}")
    bad = ~np.isfinite(b) | (b <= 0) | (b >= 1)
    if np.any(bad):
        raise ValueError(f"betas must lie in the allowed range 0 < betas < 1; {describe(b, bad)}")
    return np.cumprod(1.0 - b)


def cosine_alpha_bar(t: object, s: float = 0.008) -> FloatOrArray:
    """The cosine schedule of improved DDPM (Nichol and Dhariwal 2021, Eq. 17).

    ``alpha_bar(t) = f(t) / f(0)`` with ``f(t) = cos(((t + s) / (1 + s)) * pi / 2) ** 2``, for
    continuous time ``t`` in [0, 1], so ``alpha_bar(0) = 1`` exactly. The small offset ``s``
    keeps ``beta`` from being tiny near ``t = 0``.

    Clipping: none here. The formula gives ``alpha_bar(1) = 0`` mathematically; in floating
    point ``cos(pi / 2)`` is 6e-17, so the value at ``t = 1`` is about 4e-33 (positive,
    SNR of 4e-33). The paper's clipping of each step's beta to at most 0.999 is applied by
    :func:`cosine_beta_schedule`, which is where it matters.

    Parameters
    ----------
    t : float or array
        Time(s) in [0, 1].
    s : float
        Offset, ``s > 0`` (the paper uses 0.008).
    """
    tt = real_array(t, "t")
    bad = ~np.isfinite(tt) | (tt < 0) | (tt > 1)
    if np.any(bad):
        raise ValueError(f"t must lie in the allowed range 0 <= t <= 1; {describe(tt, bad)}")
    s = positive_scalar(s, "s")

    def f(u: NDArray) -> NDArray:
        return np.cos((u + s) / (1 + s) * np.pi / 2) ** 2

    return as_output(f(tt) / f(np.zeros(1))[0])


def cosine_beta_schedule(
    n_steps: int, s: float = 0.008, max_beta: float = 0.999
) -> NDArray[np.float64]:
    """Discrete betas of the cosine schedule, ``beta_t = 1 - alpha_bar(t/T) / alpha_bar((t-1)/T)``.

    Each beta is clipped to at most ``max_beta`` (0.999 in the paper) to avoid the singularity
    at the end of the diffusion, where ``alpha_bar`` reaches 0. Without clipping the last
    beta would be 1.
    """
    n = positive_int(n_steps, "n_steps")
    s = positive_scalar(s, "s")
    max_beta = positive_scalar(max_beta, "max_beta")
    if max_beta >= 1:
        raise ValueError(f"max_beta must satisfy 0 < max_beta < 1; got {max_beta!r}")
    return _cosine_beta_schedule(n, s, max_beta)


def _cosine_beta_schedule(n_steps: int, s: float, max_beta: float) -> NDArray[np.float64]:
    """``beta_t = 1 - alpha_bar(t/T) / alpha_bar((t-1)/T)`` for t = 1..T, clipped at ``max_beta``."""
    ab = np.atleast_1d(cosine_alpha_bar(np.arange(n_steps + 1) / n_steps, s))
    return np.minimum(1.0 - ab[1:] / ab[:-1], max_beta)


def snr(alpha_bar: object) -> FloatOrArray:
    """Signal-to-noise ratio ``alpha_bar / (1 - alpha_bar)``; ``alpha_bar`` in (0, 1)."""
    ab = _check_alpha_bar(alpha_bar, allow_one=False)
    return as_output(ab / (1.0 - ab))


def log_snr(alpha_bar: object) -> FloatOrArray:
    """``lambda = log(alpha_bar / (1 - alpha_bar))``, the log-SNR in nats; ``alpha_bar`` in (0, 1)."""
    ab = _check_alpha_bar(alpha_bar, allow_one=False)
    return as_output(np.log(ab) - np.log1p(-ab))


def q_sample(x0: object, alpha_bar: object, noise: object) -> NDArray[np.float64]:
    """Sample the forward process: ``z = sqrt(alpha_bar) * x0 + sqrt(1 - alpha_bar) * noise``.

    Parameters
    ----------
    x0 : array
        Clean data (for a video: frames x height x width), finite.
    alpha_bar : float or array
        Values in (0, 1]; a scalar, or an array that broadcasts to ``x0``'s shape (for one
        noise level per sample, give it trailing axes of length 1).
    noise : array
        Standard normal draws, the same shape as ``x0``.
    """
    x = finite_array(x0, "x0")
    eps = finite_array(noise, "noise")
    ab = _check_alpha_bar(alpha_bar)
    _check_same_shape(x, eps, "x0", "noise")
    _check_broadcastable(x, ab, "x0")
    return _q_sample(x, ab, eps)


def _q_sample(x0: NDArray, alpha_bar: NDArray, noise: NDArray) -> NDArray[np.float64]:
    """One draw of ``z_t`` given clean ``x0``: the signal shrinks as the noise grows."""
    return np.sqrt(alpha_bar) * x0 + np.sqrt(1.0 - alpha_bar) * noise


# ------------------------------------------------------------------------------------
# Parameterisations: eps, x0 and v
# ------------------------------------------------------------------------------------


def _prep(a: object, b: object, alpha_bar: object, na: str, nb: str, allow_one: bool = True):
    x = finite_array(a, na)
    y = finite_array(b, nb)
    ab = _check_alpha_bar(alpha_bar, allow_one=allow_one)
    _check_same_shape(x, y, na, nb)
    _check_broadcastable(x, ab, na)
    return x, y, np.sqrt(ab), np.sqrt(1.0 - ab)


def v_target(x0: object, eps: object, alpha_bar: object) -> NDArray[np.float64]:
    """The velocity ``v = alpha * eps - sigma * x0`` (Salimans and Ho 2022)."""
    x, e, alpha, sigma = _prep(x0, eps, alpha_bar, "x0", "eps")
    return alpha * e - sigma * x


def x0_from_eps(z: object, eps: object, alpha_bar: object) -> NDArray[np.float64]:
    """Clean sample from a noise prediction: ``x0 = (z - sigma * eps) / alpha``."""
    zz, e, alpha, sigma = _prep(z, eps, alpha_bar, "z", "eps")
    return (zz - sigma * e) / alpha


def eps_from_x0(z: object, x0: object, alpha_bar: object) -> NDArray[np.float64]:
    """Noise from a clean-sample prediction: ``eps = (z - alpha * x0) / sigma``.

    Needs ``alpha_bar < 1`` (at ``alpha_bar = 1`` there is no noise to recover).
    """
    zz, x, alpha, sigma = _prep(z, x0, alpha_bar, "z", "x0", allow_one=False)
    return (zz - alpha * x) / sigma


def x0_from_v(z: object, v: object, alpha_bar: object) -> NDArray[np.float64]:
    """Clean sample from a velocity prediction: ``x0 = alpha * z - sigma * v``."""
    zz, vv, alpha, sigma = _prep(z, v, alpha_bar, "z", "v")
    return alpha * zz - sigma * vv


def eps_from_v(z: object, v: object, alpha_bar: object) -> NDArray[np.float64]:
    """Noise from a velocity prediction: ``eps = sigma * z + alpha * v``."""
    zz, vv, alpha, sigma = _prep(z, v, alpha_bar, "z", "v")
    return sigma * zz + alpha * vv


def convert_prediction(
    pred: object, z: object, alpha_bar: object, source: str, target: str
) -> NDArray[np.float64]:
    """Turn a denoiser's prediction of ``source`` into the implied ``target``.

    ``source`` and ``target`` are each one of ``"eps"``, ``"x0"``, ``"v"``. All three
    are determined by the noisy input ``z`` and any one of them; the conversion goes through
    ``x0`` and ``eps``. Conversions that must divide by ``sigma`` (from ``x0``) need
    ``alpha_bar < 1``.
    """
    for name, value in (("source", source), ("target", target)):
        if value not in PREDICTION_TARGETS:
            raise ValueError(f"{name} must be one of {PREDICTION_TARGETS}; got {value!r}")
    if source == target:
        _, p, _, _ = _prep(z, pred, alpha_bar, "z", "pred")
        return p.copy()
    if source == "eps":
        eps = finite_array(pred, "pred")
        x0 = x0_from_eps(z, eps, alpha_bar)
    elif source == "x0":
        x0 = finite_array(pred, "pred")
        eps = eps_from_x0(z, x0, alpha_bar)
    else:
        x0 = x0_from_v(z, pred, alpha_bar)
        eps = eps_from_v(z, pred, alpha_bar)
    return {"eps": eps, "x0": x0, "v": v_target(x0, eps, alpha_bar)}[target]


def ddim_step_v(
    z_t: object, v_hat: object, alpha_bar_t: object, alpha_bar_s: object
) -> NDArray[np.float64]:
    """One deterministic DDIM step from noise level t to s, written with ``v``.

    With ``alpha = cos(phi)`` and ``sigma = sin(phi)``,
    ``z_s = cos(phi_s - phi_t) * z_t + sin(phi_s - phi_t) * v_hat``: a rotation in the plane
    spanned by the data and the noise (Salimans and Ho 2022).
    """
    zz, vv, _, _ = _prep(z_t, v_hat, alpha_bar_t, "z_t", "v_hat")
    ab_s = _check_alpha_bar(alpha_bar_s, "alpha_bar_s")
    _check_broadcastable(zz, ab_s, "z_t")
    phi_t = np.arccos(np.sqrt(_check_alpha_bar(alpha_bar_t, "alpha_bar_t")))
    phi_s = np.arccos(np.sqrt(ab_s))
    return np.cos(phi_s - phi_t) * zz + np.sin(phi_s - phi_t) * vv


# ------------------------------------------------------------------------------------
# Noise shared across frames, and correlation between frames
# ------------------------------------------------------------------------------------


def shared_noise(
    rng: np.random.Generator, n_frames: int, frame_shape: tuple[int, ...], shared: float
) -> NDArray[np.float64]:
    """Per-frame Gaussian noise with a component common to all frames.

    ``eps_f = sqrt(shared) * eps_base + sqrt(1 - shared) * eps_f_residual`` with independent
    standard normal ``eps_base`` (one per video) and ``eps_f_residual`` (one per frame). Every
    frame is still standard normal, and two different frames have correlation ``shared``
    per pixel; ``shared = 0`` gives independent noise, ``shared = 1`` the same noise on every
    frame.

    Returns an array of shape ``(n_frames, *frame_shape)``.
    """
    rng = generator(rng)
    n = positive_int(n_frames, "n_frames")
    if not isinstance(frame_shape, tuple) or not frame_shape:
        raise TypeError(f"frame_shape must be a non-empty tuple of ints; got {frame_shape!r}")
    shape = tuple(positive_int(d, "frame_shape") for d in frame_shape)
    lam = real_scalar(shared, "shared")
    if not 0 <= lam <= 1:
        raise ValueError(f"shared must lie in the allowed range 0 <= shared <= 1; got {lam!r}")
    base = rng.standard_normal(shape)
    residual = rng.standard_normal((n, *shape))
    return math.sqrt(lam) * base[None] + math.sqrt(1 - lam) * residual


def frame_correlation(video: object) -> NDArray[np.float64]:
    """Pearson correlation matrix between the frames of ``video`` (frames first, any shape after).

    Each frame is flattened to a vector; entry ``(i, j)`` is the correlation of frames i and j
    over pixels. Needs at least two frames, two pixels per frame, and no constant frame.
    """
    v = finite_array(video, "video")
    if v.ndim < 2 or v.shape[0] < 2:
        raise ValueError(f"video must have shape (frames >= 2, ...); got {v.shape}")
    flat = v.reshape(v.shape[0], -1)
    if flat.shape[1] < 2:
        raise ValueError("video must have at least two pixels per frame")
    if np.any(np.ptp(flat, axis=1) == 0):
        raise ValueError("video has a constant frame, whose correlation is undefined")
    return np.corrcoef(flat)


def mean_adjacent_correlation(video: object) -> float:
    """Average correlation between consecutive frames (the first off-diagonal of
    :func:`frame_correlation`)."""
    c = frame_correlation(video)
    return float(np.mean(np.diag(c, k=1)))


# ------------------------------------------------------------------------------------
# A toy video
# ------------------------------------------------------------------------------------


def toy_video(
    n_frames: int = 8,
    size: int = 16,
    start: tuple[float, float] = (4.0, 4.0),
    velocity: tuple[float, float] = (1.0, 0.5),
    radius: float = 3.0,
    edge: float = 0.7,
) -> NDArray[np.float64]:
    """A soft disc moving in a straight line, as an array (frames, size, size) in [-1, 1].

    The background is -1 and the disc's centre +1 (the [-1, 1] range diffusion models use for
    pixels). Frame ``f`` has the disc centred at ``start + f * velocity`` (row, column, in
    pixels); its edge is a logistic ramp of width ``edge`` pixels. The disc may leave the frame.
    """
    n = positive_int(n_frames, "n_frames")
    m = positive_int(size, "size")
    r = positive_scalar(radius, "radius")
    w = positive_scalar(edge, "edge")
    p0 = finite_array(start, "start")
    vel = finite_array(velocity, "velocity")
    for name, arr in (("start", p0), ("velocity", vel)):
        if arr.shape != (2,):
            raise ValueError(f"{name} must be a pair (row, column); got shape {arr.shape}")
    centres = p0[None, :] + np.arange(n)[:, None] * vel[None, :]
    return _discs(centres, m, r, w)


def _discs(centres: NDArray, size: int, radius: float, edge: float) -> NDArray:
    """Frames with a soft disc at each ``centres[..., :]`` (row, column); shape (..., size, size)."""
    rows, cols = np.mgrid[0:size, 0:size].astype(float)
    dist = np.hypot(rows - centres[..., 0, None, None], cols - centres[..., 1, None, None])
    inside = 0.5 * (1 + np.tanh((radius - dist) / edge))  # logistic ramp, in [0, 1]
    return 2.0 * inside - 1.0


def toy_video_dataset(
    rng: np.random.Generator,
    n_videos: int,
    n_frames: int = 8,
    size: int = 12,
    speed: float = 1.0,
    radius: float = 2.5,
) -> NDArray[np.float64]:
    """``n_videos`` toy videos with random start points and directions of motion.

    Each disc starts uniformly inside the frame and moves with the given ``speed`` (pixels per
    frame) in a uniformly random direction. Returns shape (n_videos, n_frames, size, size).
    """
    rng = generator(rng)
    k = positive_int(n_videos, "n_videos")
    n = positive_int(n_frames, "n_frames")
    speed = positive_scalar(speed, "speed")
    size_i = positive_int(size, "size")
    r = positive_scalar(radius, "radius")
    if size_i < 4:
        raise ValueError(f"size must be >= 4 pixels; got {size_i}")
    starts = rng.uniform(1.0, size_i - 2.0, (k, 2))
    angles = rng.uniform(0, 2 * np.pi, k)
    vel = speed * np.stack([np.sin(angles), np.cos(angles)], axis=1)
    centres = starts[:, None, :] + np.arange(n)[None, :, None] * vel[:, None, :]
    return _discs(centres, size_i, r, 0.7)


# ------------------------------------------------------------------------------------
# The cost of attention over space-time tokens
# ------------------------------------------------------------------------------------


def _grid(frames: object, height: object, width: object, patch: int) -> tuple[NDArray, NDArray]:
    p = positive_int(patch, "patch")
    out = []
    for name, value in (("frames", frames), ("height", height), ("width", width)):
        arr = real_array(value, name)
        bad = ~np.isfinite(arr) | (arr < 1) | (arr != np.round(arr))
        if np.any(bad):
            raise ValueError(f"{name} must be whole numbers >= 1; {describe(arr, bad)}")
        out.append(arr)
    t, h, w = out
    if np.any(h % p) or np.any(w % p):
        raise ValueError(f"height and width must be multiples of patch={p}")
    return t, (h // p) * (w // p)


def full_attention_flops(
    frames: object, height: object, width: object, d_model: int, patch: int = 1
) -> FloatOrArray:
    """Attention FLOPs of one layer of full 3D attention over ``frames x (height/patch) x
    (width/patch)`` space-time tokens: every token attends to every other."""
    t, s = _grid(frames, height, width, patch)
    return attention_flops(t * s, d_model)


def factorized_attention_flops(
    frames: object, height: object, width: object, d_model: int, patch: int = 1
) -> FloatOrArray:
    """Attention FLOPs of a factorised layer: spatial attention within each frame, then
    temporal attention along each spatial position.

    With ``T`` frames and ``S`` tokens per frame: ``T`` attentions over ``S`` tokens plus
    ``S`` attentions over ``T`` tokens, i.e. ``4 d T S (S + T)`` against ``4 d (T S)**2``.
    """
    t, s = _grid(frames, height, width, patch)
    spatial = attention_flops(s, d_model, n_groups=t)
    temporal = attention_flops(t, d_model, n_groups=s)
    return as_output(np.asarray(spatial) + np.asarray(temporal))


def keyframe_attention_flops(
    frames: object,
    height: object,
    width: object,
    d_model: int,
    patch: int = 1,
    key_frames: int = 1,
) -> FloatOrArray:
    """Attention FLOPs when each frame's tokens attend to the tokens of ``key_frames`` frames.

    ``key_frames=1`` is the cross-frame attention of Text2Video-Zero (every frame attends to the
    first); ``key_frames=2`` the sparse-causal attention of Tune-A-Video (the first and the
    previous frame); ``key_frames=frames`` attends to all frames, the same cost as full
    attention. Cost: ``T`` groups of ``S`` queries over ``key_frames * S`` keys.
    """
    t, s = _grid(frames, height, width, patch)
    k = positive_int(key_frames, "key_frames")
    if np.any(k > t):
        raise ValueError(f"key_frames must be <= frames; got key_frames={k}")
    return attention_flops(s, d_model, n_groups=t, n_keys=k * s)


# ------------------------------------------------------------------------------------
# A closed-form denoiser and DDIM sampling with conditioning
# ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GaussianVideoModel:
    """A Gaussian fitted to flattened videos: mean, eigenvalues and eigenvectors of the covariance.

    Its denoiser is the exact posterior mean ``E[x0 | z]`` under that Gaussian, a linear map
    (a Wiener filter): the best a *linear* denoiser can do in mean squared error. It stands in
    for a trained network in the chapter, which keeps every sample exact and fast.
    """

    shape: tuple[int, ...]
    mean: NDArray[np.float64]
    eigvals: NDArray[np.float64]
    eigvecs: NDArray[np.float64]

    def _scale(self, alpha_bar: float) -> NDArray[np.float64]:
        a = math.sqrt(alpha_bar)
        return a * self.eigvals / (alpha_bar * self.eigvals + 1.0 - alpha_bar)

    def gain(self, alpha_bar: float) -> NDArray[np.float64]:
        """The symmetric matrix ``G`` with ``E[x0 | z] = mean + G (z - alpha * mean)``.

        In the covariance's eigenbasis ``G`` is diagonal, with entries
        ``alpha lambda / (alpha^2 lambda + sigma^2)``: each direction is shrunk by how much
        signal it carries at this noise level.
        """
        ab = float(_check_alpha_bar(alpha_bar))
        return matmul(self.eigvecs * self._scale(ab), self.eigvecs.T)

    def _apply_gain(self, flat: NDArray, alpha_bar: float) -> NDArray:
        """``flat @ G`` (= ``G @ flat`` per row, G is symmetric) without forming ``G``."""
        return matmul(matmul(flat, self.eigvecs) * self._scale(alpha_bar), self.eigvecs.T)

    def denoise(self, z: object, alpha_bar: float) -> NDArray[np.float64]:
        """Posterior mean of the clean video given the noisy one (same shape as ``z``)."""
        zz = finite_array(z, "z")
        if zz.shape[-len(self.shape) :] != self.shape:
            raise ValueError(f"z must end with the video shape {self.shape}; got {zz.shape}")
        flat = zz.reshape(-1, self.mean.size)
        ab = float(_check_alpha_bar(alpha_bar))
        out = self.mean + self._apply_gain(flat - math.sqrt(ab) * self.mean, ab)
        return out.reshape(zz.shape)


def fit_gaussian_video_model(videos: object, ridge: float = 1e-3) -> GaussianVideoModel:
    """Fit the mean and covariance of ``videos`` (n_videos, frames, ...) with a small ridge.

    ``ridge`` is added to every eigenvalue so that the covariance is positive definite even with
    fewer videos than pixels.
    """
    v = finite_array(videos, "videos")
    if v.ndim < 3 or v.shape[0] < 2:
        raise ValueError(f"videos must have shape (n_videos >= 2, frames, ...); got {v.shape}")
    r = positive_scalar(ridge, "ridge")
    flat = v.reshape(v.shape[0], -1)
    mean = flat.mean(axis=0)
    with one_blas_thread():  # faster than 2 threads on a shared 2-core machine
        centred = flat - mean
        cov = matmul(centred.T, centred) / (flat.shape[0] - 1)  # np.cov(flat, rowvar=False)
        vals, vecs = np.linalg.eigh(cov)
    return GaussianVideoModel(v.shape[1:], mean, np.clip(vals, 0, None) + r, vecs)


def ddim_sample(
    model: GaussianVideoModel,
    alpha_bars: object,
    rng: np.random.Generator,
    n_samples: int = 1,
    known: object | None = None,
    known_frames: object | None = None,
    method: str = "none",
    guidance_weight: float = 1.0,
) -> NDArray[np.float64]:
    """Deterministic DDIM sampling with the Gaussian denoiser, optionally conditioned on frames.

    Parameters
    ----------
    model : GaussianVideoModel
        The denoiser.
    alpha_bars : 1-D array
        Noise levels to visit, strictly increasing from the noisiest (close to 0) to the
        cleanest (below 1); the sample is the denoised prediction at the last level.
    rng : numpy.random.Generator
        Draws the starting noise (and, for replacement, the noise added to the known frames).
    n_samples : int
        Number of videos.
    known : array of shape (len(known_frames), *frame_shape), optional
        Clean values of the conditioning frames, shared by all samples; or of shape
        (n_samples, len(known_frames), *frame_shape), one set per sample.
    known_frames : sequence of int, optional
        Indices of the known frames.
    method : {"none", "replacement", "reconstruction"}
        ``"replacement"`` overwrites the known frames of ``z`` with a fresh forward-process
        sample of ``known`` at each step; ``"reconstruction"`` also adds the reconstruction
        guidance term of Ho, Salimans et al. (2022) to the prediction for the unknown frames:
        ``x_tilde_b = x_hat_b - (w_r alpha / 2) grad_{z_b} ||x_a - x_hat_a(z)||^2``.
    guidance_weight : float
        ``w_r`` for reconstruction guidance (>= 0).

    Returns
    -------
    ndarray of shape (n_samples, *model.shape)
    """
    if not isinstance(model, GaussianVideoModel):
        raise TypeError(f"model must be a GaussianVideoModel; got {type(model).__name__}")
    ab = _check_alpha_bar(alpha_bars, "alpha_bars", allow_one=False)
    if ab.ndim != 1 or ab.size < 2 or np.any(np.diff(ab) <= 0):
        raise ValueError("alpha_bars must be a 1-D array of at least 2 strictly increasing values")
    rng = generator(rng)
    k = positive_int(n_samples, "n_samples")
    if method not in ("none", "replacement", "reconstruction"):
        raise ValueError(
            f"method must be 'none', 'replacement' or 'reconstruction'; got {method!r}"
        )
    w = real_scalar(guidance_weight, "guidance_weight")
    if not (math.isfinite(w) and w >= 0):
        raise ValueError(f"guidance_weight must be finite and >= 0; got {w!r}")
    shape = model.shape
    mask = np.zeros(shape, dtype=bool)
    xa = None
    if method != "none":
        if known is None or known_frames is None:
            raise ValueError(f"method={method!r} needs known and known_frames")
        idx = _frame_indices(known_frames, shape[0])
        xa_frames = finite_array(known, "known")
        one = (idx.size, *shape[1:])
        if xa_frames.shape == one:
            xa_frames = np.broadcast_to(xa_frames, (k, *one))
        elif xa_frames.shape != (k, *one):
            raise ValueError(
                f"known must have shape {one} (shared) or {(k, *one)} (one per sample); "
                f"got {xa_frames.shape}"
            )
        mask[idx] = True
        full = np.zeros((k, *shape))
        full[:, idx] = xa_frames
        xa = full.reshape(k, -1)[:, mask.reshape(-1)]
    with one_blas_thread():
        return _ddim_loop(model, ab, rng, k, mask.reshape(-1), xa, method, w)


def _frame_indices(known_frames: object, n_frames: int) -> NDArray[np.int64]:
    """Distinct frame indices in ``[0, n_frames - 1]`` as a non-empty 1-D integer array."""
    idx = np.asarray(known_frames)
    if idx.ndim != 1 or idx.dtype.kind not in "iu" or idx.size == 0:
        raise ValueError("known_frames must be a non-empty 1-D sequence of frame indices")
    if np.any(idx < 0) or np.any(idx >= n_frames) or np.unique(idx).size != idx.size:
        raise ValueError(f"known_frames must be distinct indices in [0, {n_frames - 1}]")
    return idx


def _ddim_loop(
    model: GaussianVideoModel,
    alpha_bars: NDArray[np.float64],
    rng: np.random.Generator,
    n_samples: int,
    known: NDArray[np.bool_],
    x_a: NDArray[np.float64] | None,
    method: str,
    guidance_weight: float,
) -> NDArray[np.float64]:
    """DDIM from pure noise to samples; ``known`` masks the flattened pixels of ``x_a``."""
    z = rng.standard_normal((n_samples, model.mean.size))
    for i, a_t in enumerate(alpha_bars):
        alpha, sigma = math.sqrt(a_t), math.sqrt(1 - a_t)
        if method != "none":
            z[:, known] = alpha * x_a + sigma * rng.standard_normal(x_a.shape)
        x_hat = model.mean + model._apply_gain(z - alpha * model.mean, a_t)
        if method == "reconstruction":
            # x_hat = mean + G (z - alpha mean), so d x_hat_a / d z = G[a, :] and the
            # gradient of ||x_a - x_hat_a||^2 with respect to z is -2 G[:, a] (x_a - x_hat_a)
            resid = np.zeros_like(z)
            resid[:, known] = x_a - x_hat[:, known]
            grad = -2.0 * model._apply_gain(resid, a_t)
            x_hat[:, ~known] -= 0.5 * guidance_weight * alpha * grad[:, ~known]
        if method != "none":
            x_hat[:, known] = x_a
        if i == alpha_bars.size - 1:
            break  # the prediction at the cleanest level is the sample
        eps_hat = (z - alpha * x_hat) / sigma
        a_s = alpha_bars[i + 1]
        z = math.sqrt(a_s) * x_hat + math.sqrt(1 - a_s) * eps_hat
    return x_hat.reshape(n_samples, *model.shape)


def conditional_mean(
    model: GaussianVideoModel, known: object, known_frames: object
) -> NDArray[np.float64]:
    """Exact ``E[x | x_a = known]`` under the Gaussian model: the best possible infill in mean
    squared error, the reference the guided samplers are compared with.

    ``known`` has shape (len(known_frames), *frame_shape) or (n, len(known_frames),
    *frame_shape); returns full videos (known frames included), (n, *model.shape) or
    model.shape.
    """
    if not isinstance(model, GaussianVideoModel):
        raise TypeError(f"model must be a GaussianVideoModel; got {type(model).__name__}")
    shape = model.shape
    idx = _frame_indices(known_frames, shape[0])
    xa = finite_array(known, "known")
    one = (idx.size, *shape[1:])
    single = xa.shape == one
    if not single and (xa.ndim != len(one) + 1 or xa.shape[1:] != one):
        raise ValueError(f"known must have shape {one} or (n, {', '.join(map(str, one))})")
    xa = xa.reshape(-1, int(np.prod(one)))
    mask = np.zeros(shape, dtype=bool)
    mask[idx] = True
    a = mask.reshape(-1)
    with one_blas_thread():
        cov = matmul(model.eigvecs * model.eigvals, model.eigvecs.T)
        sol = np.linalg.solve(cov[np.ix_(a, a)], (xa - model.mean[a]).T)
        out = np.empty((xa.shape[0], model.mean.size))
        out[:, a] = xa
        out[:, ~a] = model.mean[~a] + matmul(cov[np.ix_(~a, a)], sol).T
    out = out.reshape(-1, *shape)
    return out[0] if single else out


# ------------------------------------------------------------------------------------
# Data curation on toy clips
# ------------------------------------------------------------------------------------


def curation_pool(
    rng: np.random.Generator,
    n_videos: int,
    bad_fraction: float,
    n_frames: int = 8,
    size: int = 8,
    radius: float = 2.0,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """A pool of toy clips of which about ``bad_fraction`` are unusable, and which ones they are.

    Good clips are :func:`toy_video_dataset` clips (a disc moving one pixel per frame). Bad clips
    are, in equal shares, *static* (the disc never moves: no motion to learn) and *cut* (the
    second half of the clip is a different clip, as when a scene cut is missed). Returns
    ``(videos, is_bad)`` with shapes (n_videos, n_frames, size, size) and (n_videos,).
    """
    rng = generator(rng)
    n = positive_int(n_videos, "n_videos")
    frac = real_scalar(bad_fraction, "bad_fraction")
    if not 0 <= frac <= 1:
        raise ValueError(f"bad_fraction must lie in the allowed range 0 <= bad_fraction <= 1; got {frac!r}")
    t = positive_int(n_frames, "n_frames")
    if t < 4:
        raise ValueError(f"n_frames must be >= 4 so that a cut has two frames on each side; got {t}")
    videos = toy_video_dataset(rng, n, n_frames=t, size=size, radius=radius)
    other = toy_video_dataset(rng, n, n_frames=t, size=size, radius=radius)
    kind = rng.choice(3, size=n, p=[1 - frac, frac / 2, frac / 2])  # 0 good, 1 static, 2 cut
    videos[kind == 1] = videos[kind == 1][:, :1]  # the first frame repeated
    videos[kind == 2, t // 2 :] = other[kind == 2, t // 2 :]
    return videos, kind > 0


def clip_scores(videos: object) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-clip ``(motion, jump)``: the mean absolute change between consecutive frames, and the
    largest such change divided by the median one (large when one transition is a cut)."""
    v = finite_array(videos, "videos")
    if v.ndim < 3 or v.shape[1] < 3:
        raise ValueError(f"videos must have shape (n_videos, frames >= 3, ...); got {v.shape}")
    return _clip_scores(v)


def _clip_scores(v: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    change = np.abs(np.diff(v, axis=1)).reshape(v.shape[0], v.shape[1] - 1, -1).mean(axis=2)
    motion = change.mean(axis=1)  # a crude optical-flow score: static clips score 0
    jump = change.max(axis=1) / np.maximum(np.median(change, axis=1), 1e-6)
    return motion, jump


def denoising_mse(
    model: GaussianVideoModel, videos: object, alpha_bars: object, rng: np.random.Generator
) -> float:
    """Mean squared error of ``model``'s clean-video estimate on noised ``videos``, averaged over
    the noise levels ``alpha_bars`` and all pixels: the x-prediction training loss, on held-out
    clips."""
    if not isinstance(model, GaussianVideoModel):
        raise TypeError(f"model must be a GaussianVideoModel; got {type(model).__name__}")
    v = finite_array(videos, "videos")
    if v.shape[1:] != model.shape:
        raise ValueError(f"videos must have shape (n, {', '.join(map(str, model.shape))}); got {v.shape}")
    ab = _check_alpha_bar(alpha_bars, "alpha_bars").reshape(-1)
    rng = generator(rng)
    errs = []
    with one_blas_thread():
        for a in ab:
            z = math.sqrt(a) * v + math.sqrt(1 - a) * rng.standard_normal(v.shape)
            errs.append(np.mean((model.denoise(z, float(a)) - v) ** 2))
    return float(np.mean(errs))


def curation_experiment(
    rng: np.random.Generator,
    pool_size: int,
    bad_fraction: float,
    test_videos: object,
    alpha_bars: object,
    min_motion: float = 0.05,
    max_jump: float = 2.5,
) -> dict[str, float]:
    """Fit the Gaussian denoiser to an uncurated pool, to its curated part, and to a random
    subset of the pool as large as the curated part; score each on clean held-out clips.

    Returns the three denoising errors (keys ``"uncurated"``, ``"curated"``, ``"random subset"``)
    and the curation's bookkeeping: ``"kept"`` (clips kept), ``"bad_caught"`` (share of bad clips
    removed) and ``"good_lost"`` (share of good clips removed).
    """
    rng = generator(rng)
    pool, bad = curation_pool(rng, pool_size, bad_fraction, *np.shape(test_videos)[1:3], 2.0)
    lo = real_scalar(min_motion, "min_motion")
    hi = real_scalar(max_jump, "max_jump")
    motion, jump = _clip_scores(pool)
    keep = (motion > lo) & (jump < hi)
    if keep.sum() < 2:
        raise ValueError("the curation thresholds keep fewer than 2 clips; loosen min_motion or max_jump")
    subset = rng.choice(pool_size, size=int(keep.sum()), replace=False)
    out = {
        name: denoising_mse(fit_gaussian_video_model(pool[sel]), test_videos, alpha_bars, rng)
        for name, sel in (("uncurated", slice(None)), ("curated", keep), ("random subset", subset))
    }
    out["kept"] = float(keep.sum())
    out["bad_caught"] = float(np.mean(~keep[bad])) if bad.any() else float("nan")
    out["good_lost"] = float(np.mean(~keep[~bad])) if (~bad).any() else float("nan")
    return out
