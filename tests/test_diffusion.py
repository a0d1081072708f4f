"""Tests for lilbook.diffusion.

Expected values come from the formulas in the papers worked out here independently (a loop
instead of cumprod, the trigonometric form of v, brute-force token counting, Monte Carlo
moments, the Gaussian conditional written with an explicit matrix inverse), never from the
output of the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lilbook import diffusion as df

FAST = settings(max_examples=40, deadline=None, database=None)
unit_open = st.floats(min_value=1e-4, max_value=1 - 1e-4)


# ------------------------------------------------------------------------------------
# Schedules
# ------------------------------------------------------------------------------------


def test_linear_schedule_matches_ddpm_endpoints():
    b = df.linear_beta_schedule(1000)
    assert b.shape == (1000,)
    assert b[0] == pytest.approx(1e-4) and b[-1] == pytest.approx(0.02)
    assert np.allclose(np.diff(b), (0.02 - 1e-4) / 999)
    assert df.linear_beta_schedule(1, 0.01, 0.02).tolist() == [0.01]


def test_alpha_bar_from_betas_is_a_running_product():
    betas = [0.1, 0.2, 0.5]
    expected, acc = [], 1.0
    for b in betas:
        acc *= 1 - b
        expected.append(acc)
    assert np.allclose(df.alpha_bar_from_betas(betas), expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_steps": 0},
        {"n_steps": 10, "beta_start": 0.0},
        {"n_steps": 10, "beta_start": -0.1},
        {"n_steps": 10, "beta_start": 0.03, "beta_end": 0.02},
        {"n_steps": 10, "beta_end": 1.0},
        {"n_steps": 10, "beta_start": 1.0, "beta_end": 1.0},
        {"n_steps": 10, "beta_start": float("nan")},
    ],
)
def test_linear_schedule_rejects_bad_input(kwargs):
    with pytest.raises(ValueError, match="n_steps|beta_start|beta_end"):
        df.linear_beta_schedule(**kwargs)


def test_linear_schedule_type_errors():
    with pytest.raises(TypeError, match="n_steps"):
        df.linear_beta_schedule(10.5)
    with pytest.raises(TypeError, match="beta_start"):
        df.linear_beta_schedule(10, "0.1")


@pytest.mark.parametrize("bad", [[0.0, 0.1], [0.1, 1.0], [0.1, float("inf")], [[0.1]]])
def test_alpha_bar_from_betas_rejects_bad_betas(bad):
    with pytest.raises(ValueError, match="betas"):
        df.alpha_bar_from_betas(bad)


def test_cosine_alpha_bar_closed_form():
    s = 0.008
    for t in (0.0, 0.25, 0.5, 0.9):
        f = math.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
        assert df.cosine_alpha_bar(t) == pytest.approx(f / f0, rel=1e-12)
    assert df.cosine_alpha_bar(0.0) == 1.0
    assert 0 < df.cosine_alpha_bar(1.0) < 1e-30
    assert isinstance(df.cosine_alpha_bar(0.3), float)
    assert df.cosine_alpha_bar(np.array([0.1, 0.2])).shape == (2,)


@pytest.mark.parametrize("t", [-0.01, 1.01, float("nan"), [0.5, 2.0]])
def test_cosine_alpha_bar_rejects_t_outside_unit_interval(t):
    with pytest.raises(ValueError, match="t must lie"):
        df.cosine_alpha_bar(t)


@pytest.mark.parametrize("s", [0.0, -0.008, float("inf")])
def test_cosine_alpha_bar_rejects_bad_offset(s):
    with pytest.raises(ValueError, match="s must"):
        df.cosine_alpha_bar(0.5, s=s)


def test_cosine_betas_clipped_and_consistent():
    b = df.cosine_beta_schedule(100)
    assert b[-1] == pytest.approx(0.999)  # alpha_bar(1) is 0: clipped, as in the paper
    assert np.all(b[:-1] < 0.999) and np.all(b > 0)
    ab = np.cumprod(1 - b)
    t = np.arange(1, 100) / 100
    truth = np.cos((t + 0.008) / 1.008 * np.pi / 2) ** 2 / math.cos(0.008 / 1.008 * np.pi / 2) ** 2
    assert np.allclose(ab[:-1], truth, rtol=1e-9)
    with pytest.raises(ValueError, match="max_beta"):
        df.cosine_beta_schedule(10, max_beta=1.0)
    with pytest.raises(ValueError, match="n_steps"):
        df.cosine_beta_schedule(0)


@FAST
@given(
    n=st.integers(1, 400),
    b0=st.floats(1e-6, 0.5),
    frac=st.floats(0, 1),
)
def test_linear_alpha_bar_is_decreasing_in_unit_interval(n, b0, frac):
    b1 = b0 + frac * (0.99 - b0)
    ab = df.alpha_bar_from_betas(df.linear_beta_schedule(n, b0, b1))
    assert np.all(ab > 0) and np.all(ab < 1)
    assert np.all(np.diff(ab) < 0)


@FAST
@given(ts=st.lists(st.floats(0, 1), min_size=2, max_size=20), s=st.floats(1e-4, 0.5))
def test_cosine_alpha_bar_is_monotone_and_bounded(ts, s):
    t = np.sort(np.array(ts))
    ab = np.atleast_1d(df.cosine_alpha_bar(t, s))
    assert np.all(ab <= 1) and np.all(ab >= 0)
    assert np.all(np.diff(ab) <= 1e-15)


def test_snr_and_log_snr():
    assert df.snr(0.5) == pytest.approx(1.0)
    assert df.snr(0.8) == pytest.approx(4.0)
    assert df.log_snr(0.8) == pytest.approx(math.log(4.0))
    assert np.allclose(df.log_snr(np.array([0.2, 0.5])), [math.log(0.25), 0.0])
    for bad in (0.0, 1.0, -0.5, float("nan")):
        with pytest.raises(ValueError, match="alpha_bar"):
            df.snr(bad)
        with pytest.raises(ValueError, match="alpha_bar"):
            df.log_snr(bad)


# ------------------------------------------------------------------------------------
# Forward process and parameterisations
# ------------------------------------------------------------------------------------


def test_q_sample_formula_and_broadcasting():
    x = np.ones((2, 3))
    e = np.full((2, 3), 2.0)
    z = df.q_sample(x, 0.64, e)
    assert np.allclose(z, 0.8 + 0.6 * 2.0)
    ab = np.array([[0.64], [1.0]])
    z = df.q_sample(x, ab, e)
    assert np.allclose(z[0], 2.0) and np.allclose(z[1], 1.0)


@pytest.mark.parametrize(
    "args, name",
    [
        ((np.ones(3), 0.0, np.ones(3)), "alpha_bar"),
        ((np.ones(3), 1.5, np.ones(3)), "alpha_bar"),
        ((np.ones(3), 0.5, np.ones(4)), "noise"),
        ((np.ones(3), np.full(2, 0.5), np.ones(3)), "alpha_bar"),
        ((np.array([1.0, np.nan]), 0.5, np.ones(2)), "x0"),
        ((np.ones(2), 0.5, np.array([np.inf, 1.0])), "noise"),
    ],
)
def test_q_sample_rejects_bad_input(args, name):
    with pytest.raises(ValueError, match=name):
        df.q_sample(*args)


def test_q_sample_type_error():
    with pytest.raises(TypeError, match="x0"):
        df.q_sample("abc", 0.5, np.ones(3))


@settings(max_examples=15, deadline=None, database=None)
@given(ab=st.floats(0.01, 1.0), mu=st.floats(-2, 2), seed=st.integers(0, 2**16))
def test_q_sample_mean_and_variance(ab, mu, seed):
    rng = np.random.default_rng(seed)
    n = 200_000
    z = df.q_sample(np.full(n, mu), ab, rng.standard_normal(n))
    se_mean = math.sqrt((1 - ab) / n)
    assert abs(z.mean() - math.sqrt(ab) * mu) < 5 * se_mean + 1e-12
    assert z.var() == pytest.approx(1 - ab, abs=5 * (1 - ab) * math.sqrt(2 / n) + 1e-12)


def test_v_matches_the_angular_definition():
    # v = d z_phi / d phi with z_phi = cos(phi) x + sin(phi) eps
    x, e, phi = 0.7, -1.3, 0.6
    ab = math.cos(phi) ** 2
    h = 1e-6
    z = lambda p: math.cos(p) * x + math.sin(p) * e
    numeric = (z(phi + h) - z(phi - h)) / (2 * h)
    assert df.v_target(np.array([x]), np.array([e]), ab)[0] == pytest.approx(numeric, rel=1e-6)


@FAST
@given(
    ab=st.floats(1e-3, 1 - 1e-3),
    seed=st.integers(0, 2**16),
    source=st.sampled_from(df.PREDICTION_TARGETS),
    target=st.sampled_from(df.PREDICTION_TARGETS),
)
def test_conversions_round_trip(ab, seed, source, target):
    rng = np.random.default_rng(seed)
    x, e = rng.standard_normal((2, 5))
    z = math.sqrt(ab) * x + math.sqrt(1 - ab) * e
    truth = {"x0": x, "eps": e, "v": math.sqrt(ab) * e - math.sqrt(1 - ab) * x}
    got = df.convert_prediction(truth[source], z, ab, source, target)
    assert np.allclose(got, truth[target], atol=1e-6 / math.sqrt(min(ab, 1 - ab)))
    back = df.convert_prediction(got, z, ab, target, source)
    assert np.allclose(back, truth[source], atol=1e-5 / min(ab, 1 - ab))


def test_each_conversion_function():
    ab = 0.36  # alpha 0.6, sigma 0.8
    x, e = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    z = 0.6 * x + 0.8 * e
    v = 0.6 * e - 0.8 * x
    assert np.allclose(df.v_target(x, e, ab), v)
    assert np.allclose(df.x0_from_eps(z, e, ab), x)
    assert np.allclose(df.eps_from_x0(z, x, ab), e)
    assert np.allclose(df.x0_from_v(z, v, ab), x)
    assert np.allclose(df.eps_from_v(z, v, ab), e)
    assert np.allclose(df.convert_prediction(v, z, ab, "v", "v"), v)


def test_conversion_errors():
    z = np.ones(3)
    with pytest.raises(ValueError, match="source"):
        df.convert_prediction(z, z, 0.5, "score", "x0")
    with pytest.raises(ValueError, match="target"):
        df.convert_prediction(z, z, 0.5, "x0", "noise")
    with pytest.raises(ValueError, match="alpha_bar"):
        df.eps_from_x0(z, z, 1.0)
    with pytest.raises(ValueError, match="z and eps"):
        df.x0_from_eps(z, np.ones(2), 0.5)
    with pytest.raises(ValueError, match="v"):
        df.x0_from_v(z, np.array([1.0, np.nan, 0.0]), 0.5)
    with pytest.raises(ValueError, match="alpha_bar"):
        df.v_target(z, z, 0.0)


@FAST
@given(ab_t=st.floats(0.01, 0.98), gap=st.floats(0.0, 0.99), seed=st.integers(0, 999))
def test_ddim_v_step_with_true_v_follows_the_same_noise(ab_t, gap, seed):
    ab_s = ab_t + gap * (0.999 - ab_t)
    rng = np.random.default_rng(seed)
    x, e = rng.standard_normal((2, 4))
    z_t = math.sqrt(ab_t) * x + math.sqrt(1 - ab_t) * e
    v = math.sqrt(ab_t) * e - math.sqrt(1 - ab_t) * x
    expected = math.sqrt(ab_s) * x + math.sqrt(1 - ab_s) * e
    assert np.allclose(df.ddim_step_v(z_t, v, ab_t, ab_s), expected, atol=1e-9)


def test_ddim_step_errors():
    with pytest.raises(ValueError, match="alpha_bar_s"):
        df.ddim_step_v(np.ones(2), np.ones(2), 0.5, 1.5)
    with pytest.raises(ValueError, match="z_t and v_hat"):
        df.ddim_step_v(np.ones(2), np.ones(3), 0.5, 0.6)


# ------------------------------------------------------------------------------------
# Shared noise and frame correlation
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.8])
def test_shared_noise_has_unit_variance_and_the_requested_correlation(lam):
    eps = df.shared_noise(np.random.default_rng(1), 4, (200, 200), lam)
    assert eps.shape == (4, 200, 200)
    assert eps.var() == pytest.approx(1.0, abs=0.02)
    flat = eps.reshape(4, -1)
    corr = np.corrcoef(flat)[np.triu_indices(4, 1)]
    assert np.allclose(corr, lam, atol=0.02)


def test_shared_noise_extremes_and_errors():
    rng = np.random.default_rng(0)
    same = df.shared_noise(rng, 3, (5,), 1.0)
    assert np.allclose(same, same[0])
    with pytest.raises(ValueError, match="shared"):
        df.shared_noise(rng, 3, (5,), 1.5)
    with pytest.raises(TypeError, match="rng"):
        df.shared_noise(0, 3, (5,), 0.5)
    with pytest.raises(TypeError, match="frame_shape"):
        df.shared_noise(rng, 3, [5], 0.5)
    with pytest.raises(ValueError, match="n_frames"):
        df.shared_noise(rng, 0, (5,), 0.5)


def test_frame_correlation_against_hand_computation():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    video = np.stack([a, 2 * a + 1, -a, np.array([1.0, -1.0, 1.0, -1.0])])
    c = df.frame_correlation(video)
    assert np.allclose(np.diag(c), 1)
    assert c[0, 1] == pytest.approx(1) and c[0, 2] == pytest.approx(-1)
    # corr(a, alternating) by hand: a - mean = [-1.5,-.5,.5,1.5], b = [1,-1,1,-1]
    num = -1.5 - (-0.5) * 1 + 0.5 - 1.5
    den = math.sqrt(1.5**2 * 2 + 0.5**2 * 2) * 2
    assert c[0, 3] == pytest.approx(num / den)
    assert df.mean_adjacent_correlation(video) == pytest.approx((1 - 1 + c[2, 3]) / 3)


@pytest.mark.parametrize(
    "bad", [np.ones(4), np.ones((1, 4)), np.ones((3, 4)), np.ones((3, 1)), np.full((2, 2), np.nan)]
)
def test_frame_correlation_rejects_bad_video(bad):
    with pytest.raises(ValueError, match="video|frame"):
        df.frame_correlation(bad)


# ------------------------------------------------------------------------------------
# Toy video
# ------------------------------------------------------------------------------------


def test_toy_video_moves_the_disc():
    video = df.toy_video(n_frames=5, size=20, start=(5.0, 5.0), velocity=(2.0, 1.0), radius=3)
    assert video.shape == (5, 20, 20)
    assert video.min() >= -1 and video.max() <= 1
    rows, cols = np.mgrid[0:20, 0:20]
    for f in range(5):
        w = (video[f] + 1) / 2
        centre = (np.sum(w * rows) / w.sum(), np.sum(w * cols) / w.sum())
        assert centre == pytest.approx((5 + 2 * f, 5 + f), abs=1e-3)
    assert video[0, 5, 5] > 0.99 and video[0, 19, 19] < -0.99


def test_toy_video_errors():
    with pytest.raises(ValueError, match="start"):
        df.toy_video(start=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="velocity"):
        df.toy_video(velocity=(np.nan, 1.0))
    with pytest.raises(ValueError, match="radius"):
        df.toy_video(radius=0)
    with pytest.raises(ValueError, match="n_frames"):
        df.toy_video(n_frames=0)


def test_toy_dataset_matches_single_videos_and_speed():
    data = df.toy_video_dataset(np.random.default_rng(3), 50, n_frames=4, size=16, speed=1.5)
    assert data.shape == (50, 4, 16, 16)
    rows, cols = np.mgrid[0:16, 0:16]
    # the intensity centroid moves 1.5 px per frame while the disc stays inside the frame
    w = (data + 1) / 2
    cr = (w * rows).sum(axis=(2, 3)) / w.sum(axis=(2, 3))
    cc = (w * cols).sum(axis=(2, 3)) / w.sum(axis=(2, 3))
    step = np.hypot(np.diff(cr, axis=1), np.diff(cc, axis=1))
    assert np.median(step) == pytest.approx(1.5, abs=0.1)
    with pytest.raises(ValueError, match="size"):
        df.toy_video_dataset(np.random.default_rng(0), 2, size=3)
    with pytest.raises(TypeError, match="rng"):
        df.toy_video_dataset(None, 2)


# ------------------------------------------------------------------------------------
# Attention FLOPs
# ------------------------------------------------------------------------------------


def brute_force_attention_flops(groups):
    """Count 2 FLOPs per multiply-add of QK^T and AV, looping over token groups.

    Each group is (queries, d) for self-attention or (queries, d, keys)."""
    total = 0
    for group in groups:
        queries, d = group[0], group[1]
        keys = group[2] if len(group) == 3 else queries
        total += 2 * queries * keys * d  # scores: one d-long dot product per pair
        total += 2 * queries * keys * d  # weighted sum: d values per pair
    return total


def test_keyframe_attention_flops_by_counting():
    t, side, d = 5, 4, 8
    s = side * side
    for k in (1, 2, t):
        expected = brute_force_attention_flops([(s, d, k * s)] * t)
        assert df.keyframe_attention_flops(t, side, side, d, key_frames=k) == expected
    # attending to every frame costs as much as full attention
    assert df.keyframe_attention_flops(t, side, side, d, key_frames=t) == (
        df.full_attention_flops(t, side, side, d)
    )
    with pytest.raises(ValueError, match="key_frames"):
        df.keyframe_attention_flops(3, 4, 4, 8, key_frames=4)
    with pytest.raises(ValueError, match="key_frames"):
        df.keyframe_attention_flops(3, 4, 4, 8, key_frames=0)
    with pytest.raises(ValueError, match="n_keys"):
        df.attention_flops(4, 4, n_keys=0.5)


def test_full_and_factorised_flops_by_counting():
    t, h, w, d, p = 4, 8, 6, 16, 2
    s = (h // p) * (w // p)
    assert df.full_attention_flops(t, h, w, d, patch=p) == brute_force_attention_flops(
        [(t * s, d)]
    )
    groups = [(s, d)] * t + [(t, d)] * s
    assert df.factorized_attention_flops(t, h, w, d, patch=p) == brute_force_attention_flops(
        groups
    )
    assert df.attention_flops(10, 8, n_groups=3) == brute_force_attention_flops([(10, 8)] * 3)


@FAST
@given(t=st.integers(1, 64), side=st.integers(1, 32), d=st.integers(1, 256))
def test_factorised_saving_is_ts_over_s_plus_t(t, side, d):
    s = side * side
    ratio = df.full_attention_flops(t, side, side, d) / df.factorized_attention_flops(
        t, side, side, d
    )
    assert ratio == pytest.approx(t * s / (s + t), rel=1e-12)


def test_flops_vectorise_and_reject_bad_input():
    out = df.full_attention_flops(np.array([1, 2]), 4, 4, 2)
    assert out.tolist() == [4 * 16**2 * 2, 4 * 32**2 * 2]
    with pytest.raises(ValueError, match="frames"):
        df.full_attention_flops(0, 4, 4, 2)
    with pytest.raises(ValueError, match="height"):
        df.factorized_attention_flops(2, 4.5, 4, 2)
    with pytest.raises(ValueError, match="multiples of patch"):
        df.full_attention_flops(2, 6, 4, 2, patch=4)
    with pytest.raises(ValueError, match="d_model"):
        df.attention_flops(4, 0)
    with pytest.raises(ValueError, match="n_tokens"):
        df.attention_flops(np.inf, 4)
    with pytest.raises(ValueError, match="n_groups"):
        df.attention_flops(4, 4, n_groups=0)


# ------------------------------------------------------------------------------------
# Gaussian denoiser and guided DDIM
# ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_model():
    rng = np.random.default_rng(0)
    videos = df.toy_video_dataset(rng, 600, n_frames=4, size=6, radius=1.5)
    return df.fit_gaussian_video_model(videos), videos


def test_denoiser_is_the_gaussian_posterior_mean(small_model):
    model, videos = small_model
    flat = videos.reshape(len(videos), -1)
    cov = np.cov(flat, rowvar=False) + 1e-3 * np.eye(flat.shape[1])
    ab = 0.3
    z = videos[:3] * 0.5 + 0.1
    # E[x | z] = mu + a C (a^2 C + s^2 I)^-1 (z - a mu), with an explicit inverse
    a, s2 = math.sqrt(ab), 1 - ab
    gain = a * cov @ np.linalg.inv(ab * cov + s2 * np.eye(len(cov)))
    expected = flat.mean(0) + (z.reshape(3, -1) - a * flat.mean(0)) @ gain.T
    assert np.allclose(model.denoise(z, ab).reshape(3, -1), expected, atol=1e-8)
    assert np.allclose(model.gain(ab), gain, atol=1e-8)
    with pytest.raises(ValueError, match="z must end"):
        model.denoise(np.ones(5), ab)


def test_conditional_mean_matches_the_gaussian_formula(small_model):
    model, videos = small_model
    flat = videos.reshape(len(videos), -1)
    cov = np.cov(flat, rowvar=False) + 1e-3 * np.eye(flat.shape[1])
    mu = flat.mean(0)
    a = np.zeros(model.shape, bool)
    a[[0, 3]] = True
    a = a.ravel()
    x = videos[7].ravel()
    expected = mu[~a] + cov[np.ix_(~a, a)] @ np.linalg.inv(cov[np.ix_(a, a)]) @ (x[a] - mu[a])
    got = df.conditional_mean(model, videos[7][[0, 3]], [0, 3])
    assert got.shape == model.shape
    assert np.allclose(got.ravel()[~a], expected, atol=1e-6)
    assert np.allclose(got[[0, 3]], videos[7][[0, 3]])
    both = df.conditional_mean(model, videos[7:9][:, [0, 3]], [0, 3])
    assert both.shape == (2, *model.shape) and np.allclose(both[0], got)
    with pytest.raises(ValueError, match="known_frames"):
        df.conditional_mean(model, videos[7][[0, 3]], [0, 9])
    with pytest.raises(ValueError, match="known"):
        df.conditional_mean(model, videos[7][[0]], [0, 3])
    with pytest.raises(TypeError, match="model"):
        df.conditional_mean("m", videos[7][[0]], [0])


def test_unconditional_samples_have_the_model_moments(small_model):
    model, videos = small_model
    ab = np.asarray(df.cosine_alpha_bar(np.linspace(0.995, 0.005, 60)))
    samples = df.ddim_sample(model, ab, np.random.default_rng(2), n_samples=3000)
    assert samples.shape == (3000, *model.shape)
    flat = samples.reshape(3000, -1)
    mu = videos.reshape(len(videos), -1).mean(0)
    # deterministic DDIM with the exact Gaussian denoiser maps N(0, I) to (nearly) the model
    assert np.abs(flat.mean(0) - mu).max() < 0.15
    target_var = np.sum(model.eigvals)
    assert np.sum(flat.var(0)) == pytest.approx(target_var, rel=0.1)


def test_conditioning_keeps_known_frames_and_guidance_helps(small_model):
    model, _ = small_model
    test = df.toy_video_dataset(np.random.default_rng(5), 40, n_frames=4, size=6, radius=1.5)
    ab = np.asarray(df.cosine_alpha_bar(np.linspace(0.98, 0.02, 20)))
    idx = [0, 3]
    errors = {}
    for method, w in [("replacement", 0.0), ("reconstruction", 5.0)]:
        s = df.ddim_sample(
            model, ab, np.random.default_rng(1), 40, test[:, idx], idx, method, w
        )
        assert np.allclose(s[:, idx], test[:, idx])
        errors[method] = np.mean((s[:, 1:3] - test[:, 1:3]) ** 2)
    assert errors["reconstruction"] < errors["replacement"]
    # w_r = 0 is replacement with the same random numbers
    r0 = df.ddim_sample(model, ab, np.random.default_rng(1), 2, test[0, idx], idx, "reconstruction", 0)
    r1 = df.ddim_sample(model, ab, np.random.default_rng(1), 2, test[0, idx], idx, "replacement")
    assert np.allclose(r0, r1)


def test_reconstruction_guidance_matches_a_finite_difference_gradient(small_model):
    """Replay the guided sampler step by step, with the gradient of
    ||x_a - x_hat_a(z)||^2 taken by central differences of the public denoiser
    instead of the closed form, and the same random numbers."""
    model, videos = small_model
    idx, w, levels = [0, 3], 3.0, np.array([0.3, 0.6, 0.9])
    known = videos[11][idx]
    got = df.ddim_sample(
        model, levels, np.random.default_rng(11), 1, known, idx, "reconstruction", w
    )
    a = np.zeros(model.shape, bool)
    a[idx] = True
    a = a.ravel()
    xa = known.ravel()
    rng = np.random.default_rng(11)
    z = rng.standard_normal(a.size)
    for i, ab in enumerate(levels):
        alpha, sigma = math.sqrt(ab), math.sqrt(1 - ab)
        z[a] = alpha * xa + sigma * rng.standard_normal(a.sum())

        def recon_loss(zz, ab=ab):
            x_hat = model.denoise(zz.reshape(model.shape), ab).ravel()
            return np.sum((xa - x_hat[a]) ** 2)

        grad = np.zeros_like(z)
        for j in np.flatnonzero(~a):
            step = np.zeros_like(z)
            step[j] = 1e-4
            grad[j] = (recon_loss(z + step) - recon_loss(z - step)) / 2e-4
        x_hat = model.denoise(z.reshape(model.shape), ab).ravel()
        x_hat[~a] -= 0.5 * w * alpha * grad[~a]
        x_hat[a] = xa
        if i == len(levels) - 1:
            break
        eps = (z - alpha * x_hat) / sigma
        z = math.sqrt(levels[i + 1]) * x_hat + math.sqrt(1 - levels[i + 1]) * eps
    assert np.allclose(got.ravel(), x_hat, atol=1e-6)


def test_ddim_sample_errors(small_model):
    model, videos = small_model
    ab = np.array([0.1, 0.5, 0.9])
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="alpha_bars"):
        df.ddim_sample(model, ab[::-1], rng)
    with pytest.raises(ValueError, match="alpha_bars"):
        df.ddim_sample(model, np.array([0.1, 1.0]), rng)
    with pytest.raises(ValueError, match="method"):
        df.ddim_sample(model, ab, rng, method="inpaint")
    with pytest.raises(ValueError, match="needs known"):
        df.ddim_sample(model, ab, rng, method="replacement")
    with pytest.raises(ValueError, match="guidance_weight"):
        df.ddim_sample(model, ab, rng, 1, videos[0][[0]], [0], "reconstruction", -1.0)
    with pytest.raises(ValueError, match="known must have shape"):
        df.ddim_sample(model, ab, rng, 1, videos[0][[0, 1]], [0], "replacement")
    with pytest.raises(TypeError, match="model"):
        df.ddim_sample(None, ab, rng)
    with pytest.raises(TypeError, match="rng"):
        df.ddim_sample(model, ab, 3)
    with pytest.raises(ValueError, match="videos"):
        df.fit_gaussian_video_model(np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match="ridge"):
        df.fit_gaussian_video_model(videos, ridge=0)


# ------------------------------------------------------------------------------------
# the private functions the chapter displays, against their checked public versions
# ------------------------------------------------------------------------------------


def test_private_cosine_beta_schedule_matches_public():
    np.testing.assert_array_equal(
        df._cosine_beta_schedule(50, 0.008, 0.999), df.cosine_beta_schedule(50)
    )


def test_private_q_sample_matches_public():
    x = np.arange(6.0).reshape(2, 3)
    e = np.full((2, 3), -1.0)
    ab = np.array([[0.25], [0.81]])
    np.testing.assert_array_equal(df._q_sample(x, ab, e), df.q_sample(x, ab, e))


def test_private_ddim_loop_matches_unconditional_ddim_sample(small_model):
    model, _ = small_model
    ab = np.array([0.05, 0.4, 0.9])
    mask = np.zeros(model.mean.size, dtype=bool)
    loop = df._ddim_loop(model, ab, np.random.default_rng(4), 2, mask, None, "none", 1.0)
    np.testing.assert_array_equal(loop, df.ddim_sample(model, ab, np.random.default_rng(4), 2))


# ------------------------------------------------------------------------------------
# Data curation on toy clips
# ------------------------------------------------------------------------------------


def test_curation_pool_makes_static_and_cut_clips():
    videos, bad = df.curation_pool(np.random.default_rng(0), 600, 0.5, n_frames=8, size=8)
    assert videos.shape == (600, 8, 8, 8) and bad.shape == (600,)
    assert 0.4 < bad.mean() < 0.6
    still = np.all(videos == videos[:, :1], axis=(1, 2, 3))
    assert not still[~bad].any()  # good clips move
    assert 0.35 < still[bad].mean() < 0.65  # about half the bad clips are static
    none_bad = df.curation_pool(np.random.default_rng(1), 50, 0.0)[1]
    assert not none_bad.any()


def test_clip_scores_by_hand():
    v = np.zeros((2, 5, 1, 2))
    v[0] = np.array([0, 1, 2, 3, 4])[:, None, None]  # steady change of 1 per frame
    v[1, 3:] = 6.0  # still, then one jump of 6 between frames 2 and 3
    motion, jump = df.clip_scores(v + 0.0)
    assert motion.tolist() == pytest.approx([1.0, 1.5])
    assert jump[0] == pytest.approx(1.0)
    assert jump[1] > 1e5  # the median change is zero: a cut in an otherwise static clip


def test_denoising_mse_equals_posterior_variance_for_gaussian_data():
    # data drawn from a known Gaussian: the Wiener filter's error per direction is
    # lam sigma^2 / (ab lam + sigma^2), averaged over directions and levels
    rng = np.random.default_rng(3)
    lam = np.array([4.0, 1.0, 0.25, 0.04])
    train = rng.standard_normal((20000, 2, 2)) * np.sqrt(lam).reshape(1, 2, 2)
    model = df.fit_gaussian_video_model(train, ridge=1e-9)
    test = rng.standard_normal((20000, 2, 2)) * np.sqrt(lam).reshape(1, 2, 2)
    levels = np.array([0.2, 0.5, 0.8])
    expected = np.mean([np.mean(lam * (1 - a) / (a * lam + 1 - a)) for a in levels])
    got = df.denoising_mse(model, test, levels, np.random.default_rng(4))
    assert got == pytest.approx(expected, rel=0.03)


def test_curation_beats_more_uncurated_data():
    test = df.toy_video_dataset(np.random.default_rng(9), 60, n_frames=8, size=8, radius=2.0)
    levels = np.asarray(df.cosine_alpha_bar(np.array([0.3, 0.6])))
    r = df.curation_experiment(np.random.default_rng(0), 800, 0.5, test, levels)
    assert r["curated"] < r["uncurated"] and r["curated"] < r["random subset"]
    assert r["kept"] < 800 and r["bad_caught"] > 0.5 and r["good_lost"] < 0.1


def test_curation_helpers_reject_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="bad_fraction"):
        df.curation_pool(rng, 10, 1.5)
    with pytest.raises(ValueError, match="n_frames"):
        df.curation_pool(rng, 10, 0.5, n_frames=3)
    with pytest.raises(TypeError, match="rng"):
        df.curation_pool(0, 10, 0.5)
    with pytest.raises(ValueError, match="videos"):
        df.clip_scores(np.zeros((3, 2, 4, 4)))
    model = df.fit_gaussian_video_model(rng.standard_normal((10, 2, 2, 2)))
    with pytest.raises(ValueError, match="videos"):
        df.denoising_mse(model, np.zeros((3, 2, 3, 3)), [0.5], rng)
    with pytest.raises(ValueError, match="alpha_bars"):
        df.denoising_mse(model, np.zeros((3, 2, 2, 2)), [0.0], rng)
    with pytest.raises(TypeError, match="model"):
        df.denoising_mse("model", np.zeros((3, 2, 2, 2)), [0.5], rng)
    test = df.toy_video_dataset(rng, 5, n_frames=8, size=8, radius=2.0)
    with pytest.raises(ValueError, match="min_motion|thresholds"):
        df.curation_experiment(rng, 50, 0.5, test, [0.5], min_motion=10.0)


def test_mask_costs_agree_with_closed_form_attention_costs():
    # the token-grid masks of lilbook.attention, priced pair by pair, against the closed forms
    from lilbook import attention as at

    t, side, d = 5, 4, 16  # 16 tokens per frame at patch 1
    s = side * side
    price = {p: at.mask_attention_flops(at.spacetime_mask(t, s, p), d) for p in at.SPACETIME_PATTERNS}
    assert price["full"] == pytest.approx(df.full_attention_flops(t, side, side, d))
    assert price["all_frames"] == price["full"]
    assert price["spatial"] + price["temporal"] == pytest.approx(
        df.factorized_attention_flops(t, side, side, d)
    )
    assert price["first_frame"] == pytest.approx(df.keyframe_attention_flops(t, side, side, d, key_frames=1))
    # the closed form charges 2 key frames to every frame; the mask's first two frames read one
    two = df.keyframe_attention_flops(t, side, side, d, key_frames=2)
    assert two - price["sparse_causal"] == pytest.approx(2 * 4 * s * s * d)
