"""Tests for lilbook.compression.

References are independent: hand-worked small cases, brute-force loops over groups,
scipy's entropy for the KL divergence, and exact algebraic identities.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import softmax
from scipy.stats import entropy

from lilbook.compression import (
    _absmax_quantize,
    _distillation_loss,
    _gptq_quantize,
    _llm_int8_matmul,
    _nm_prune,
    _smoothquant_scales,
    absmax_quantize,
    distillation_loss,
    fake_quantize,
    gptq_quantize,
    llm_int8_matmul,
    magnitude_prune,
    nm_prune,
    outlier_dims,
    quantized_matmul,
    relative_error,
    smoothquant_matmul,
    smoothquant_scales,
    soft_targets,
    synthetic_activations,
    zeropoint_quantize,
)

FAST = settings(max_examples=50, deadline=None, database=None)
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def matrices(rows=st.integers(1, 6), cols=st.integers(1, 6)):
    return st.tuples(rows, cols).flatmap(lambda s: arrays(np.float64, s, elements=finite))


# ----------------------------------------------------------------- quantization


def test_absmax_hand_worked():
    q, step = absmax_quantize([1.0, -2.0, 0.5, 0.0], bits=8)
    # step = 2 / 127; 1 -> 63.5 -> 64 (round half to even), -2 -> -127, 0.5 -> 31.75 -> 32
    assert step.item() == pytest.approx(2 / 127)
    assert q.tolist() == [64, -127, 32, 0]


def test_zeropoint_hand_worked():
    q, step, zero = zeropoint_quantize([0.0, 1.0, 2.0, 3.0], bits=2)
    # range [0, 3] over 4 levels: step 1, zero point round(0) - 2 = -2
    assert step.item() == 1.0 and zero.item() == -2
    assert q.tolist() == [-2, -1, 0, 1]


@FAST
@given(matrices(), st.integers(2, 12), st.sampled_from(["tensor", "row", "column"]))
def test_absmax_error_is_at_most_half_a_step(x, bits, gran):
    q, step = absmax_quantize(x, bits=bits, granularity=gran)
    assert np.all(np.abs(q) <= 2 ** (bits - 1) - 1)
    assert np.all(np.abs(q * step - x) <= step / 2 * (1 + 1e-9) + 1e-12)


@FAST
@given(matrices(), st.integers(2, 12), st.sampled_from(["tensor", "row", "column"]))
def test_zeropoint_error_is_at_most_half_a_step_and_zero_is_exact(x, bits, gran):
    q, step, zero = zeropoint_quantize(x, bits=bits, granularity=gran)
    assert np.all((q >= -(2 ** (bits - 1))) & (q <= 2 ** (bits - 1) - 1))
    assert np.all(np.abs((q - zero) * step - x) <= step / 2 * (1 + 1e-9) + 1e-12)
    xz = x.copy()
    xz.flat[0] = 0.0
    assert fake_quantize(xz, scheme="zeropoint", bits=bits, granularity=gran).flat[0] == 0.0


@FAST
@given(matrices(rows=st.integers(2, 6), cols=st.integers(2, 6)))
def test_finer_scales_match_per_tensor_scales_on_each_row(x):
    # per-row quantization of x equals per-tensor quantization of each row on its own
    rowwise = fake_quantize(x, granularity="row")
    for i in range(x.shape[0]):
        np.testing.assert_array_equal(rowwise[i], fake_quantize(x[i]))
    colwise = fake_quantize(x, granularity="column")
    for j in range(x.shape[1]):
        np.testing.assert_array_equal(colwise[:, j], fake_quantize(x[:, j]))


def test_per_row_scales_protect_small_rows():
    x = np.array([[100.0, -50.0], [0.01, 0.02]])
    assert np.all(fake_quantize(x)[1] == 0.0)  # the big row sets the step
    np.testing.assert_allclose(fake_quantize(x, granularity="row")[1], x[1], rtol=1e-2)


def test_quantized_matmul_vector_wise_equals_integer_product_rescaled():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(5, 7)), rng.normal(size=(7, 3))
    qx, sx = absmax_quantize(x, granularity="row")
    qw, sw = absmax_quantize(w, granularity="column")
    integer = (qx @ qw) * sx * sw  # int32 accumulate, then scale rows and columns
    got = quantized_matmul(x, w, x_granularity="row", w_granularity="column")
    np.testing.assert_allclose(got, integer, rtol=1e-12, atol=1e-12)
    assert relative_error(got, x @ w) < 0.02


def test_llm_int8_on_outliers():
    rng = np.random.default_rng(1)
    x = synthetic_activations(64, 32, outlier_channels=[3, 17], outlier_scale=30.0, rng=rng)
    w = rng.normal(size=(32, 16)) / np.sqrt(32)
    out, dims = llm_int8_matmul(x, w, threshold=6.0)
    assert set(dims.tolist()) >= {3, 17}
    per_tensor = quantized_matmul(x, w)
    assert relative_error(out, x @ w) < relative_error(per_tensor, x @ w)
    # brute-force decomposition: float part plus vector-wise int8 part
    rest = [j for j in range(32) if j not in dims]
    expected = x[:, dims] @ w[dims] + quantized_matmul(
        x[:, rest], w[rest], x_granularity="row", w_granularity="column"
    )
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_llm_int8_all_outliers_is_exact_and_threshold_matters():
    x = np.full((3, 4), 10.0)
    w = np.eye(4)
    out, dims = llm_int8_matmul(x, w)
    assert dims.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(out, x)
    assert outlier_dims(x, threshold=11.0).size == 0
    assert outlier_dims(np.array([[0.0, 6.0, -6.5]])).tolist() == [1, 2]


@FAST
@given(matrices(rows=st.integers(1, 5), cols=st.integers(1, 5)), st.floats(0.0, 1.0))
def test_smoothquant_scales_preserve_the_product_and_balance(x, alpha):
    rng = np.random.default_rng(2)
    w = rng.normal(size=(x.shape[1], 3))
    s = smoothquant_scales(x, w, alpha)
    assert np.all(s > 0)
    np.testing.assert_allclose((x / s) @ (s[:, None] * w), x @ w, rtol=1e-9, atol=1e-6)
    if alpha == 0.5:
        ax, aw = np.max(np.abs(x), axis=0), np.max(np.abs(w), axis=1)
        ok = ax > 0
        # after smoothing, channel maxima of X and W are equal: sqrt(ax * aw)
        np.testing.assert_allclose((ax / s)[ok], (aw * s)[ok], rtol=1e-9)


def test_smoothquant_beats_per_tensor_w8a8_on_outliers():
    rng = np.random.default_rng(3)
    x = synthetic_activations(128, 64, outlier_channels=[5, 40], outlier_scale=50.0, rng=rng)
    w = rng.normal(size=(64, 32)) / 8
    exact = x @ w
    plain = relative_error(quantized_matmul(x, w), exact)
    smooth = relative_error(smoothquant_matmul(x, w, alpha=0.5), exact)
    assert smooth < plain / 2
    # alpha = 0: s = 1 / max|W_j| moves nothing out of X
    s0 = smoothquant_scales(x, w, 0.0)
    np.testing.assert_allclose(s0, 1 / np.max(np.abs(w), axis=1))


def test_quantization_bad_input():
    with pytest.raises(ValueError, match="x"):
        absmax_quantize([1.0, np.nan])
    with pytest.raises(ValueError, match="bits"):
        absmax_quantize([1.0], bits=1)
    with pytest.raises(ValueError, match="bits"):
        zeropoint_quantize([1.0], bits=0)
    with pytest.raises(ValueError, match="granularity"):
        absmax_quantize([[1.0]], granularity="channel")
    with pytest.raises(ValueError, match="granularity"):
        absmax_quantize([1.0, 2.0], granularity="row")  # 1-D has no rows
    with pytest.raises(ValueError, match="scheme"):
        fake_quantize([1.0], scheme="nf4")
    with pytest.raises(ValueError, match="x and w"):
        quantized_matmul(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="w"):
        quantized_matmul(np.ones((2, 3)), np.full((3, 3), np.inf))
    with pytest.raises(ValueError, match="threshold"):
        llm_int8_matmul(np.ones((2, 3)), np.ones((3, 3)), threshold=0.0)
    with pytest.raises(ValueError, match="x and w"):
        llm_int8_matmul(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="alpha"):
        smoothquant_scales(np.ones((2, 3)), np.ones((3, 3)), alpha=1.5)
    with pytest.raises(TypeError, match="alpha"):
        smoothquant_scales(np.ones((2, 3)), np.ones((3, 3)), alpha=True)
    with pytest.raises(ValueError, match="x"):
        smoothquant_matmul(np.ones(3), np.ones((3, 3)))
    with pytest.raises(ValueError, match="exact"):
        relative_error([1.0], [0.0])
    with pytest.raises(ValueError, match="same shape"):
        relative_error([1.0], [1.0, 2.0])


def test_synthetic_activations():
    a = synthetic_activations(2000, 8, outlier_channels=[2], outlier_scale=20.0,
                              rng=np.random.default_rng(5))
    b = synthetic_activations(2000, 8, outlier_channels=[2], outlier_scale=20.0,
                              rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    std = a.std(axis=0)
    assert 15 < std[2] < 25 and np.all(std[[0, 1, 3]] < 1.2)
    with pytest.raises(ValueError, match="n_tokens"):
        synthetic_activations(0, 8, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="outlier_channels"):
        synthetic_activations(4, 8, outlier_channels=[8], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="outlier_scale"):
        synthetic_activations(4, 8, outlier_scale=-1.0, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        synthetic_activations(4, 8, rng=0)


# ----------------------------------------------------------------- pruning


def test_nm_prune_hand_worked():
    w = np.array([[0.1, -0.9, 0.3, 0.5, 4.0, 3.0, -2.0, 1.0]])
    np.testing.assert_array_equal(
        nm_prune(w), [[0.0, -0.9, 0.0, 0.5, 4.0, 3.0, 0.0, 0.0]]
    )


@FAST
@given(
    st.integers(1, 4),
    st.integers(1, 5),
    st.integers(1, 3),
    st.data(),
)
def test_nm_prune_matches_brute_force(m, groups, rows, data):
    n = data.draw(st.integers(1, m))
    w = data.draw(arrays(np.float64, (rows, groups * m), elements=finite))
    got = nm_prune(w, n=n, m=m)
    for r in range(rows):
        for g in range(groups):
            block = w[r, g * m:(g + 1) * m]
            kept = got[r, g * m:(g + 1) * m]
            # at most n non-zeros; kept entries unchanged; the kept magnitudes are the top n
            assert np.count_nonzero(kept) <= n
            assert np.all((kept == 0) | (kept == block))
            idx = sorted(range(m), key=lambda i: (-abs(block[i]), i))[:n]
            expected = np.zeros(m)
            expected[idx] = block[idx]
            np.testing.assert_array_equal(kept, expected)


def test_nm_prune_bad_input():
    with pytest.raises(ValueError, match="n must"):
        nm_prune(np.ones((2, 4)), n=5, m=4)
    with pytest.raises(ValueError, match="divisible by m"):
        nm_prune(np.ones((2, 6)), n=2, m=4)
    with pytest.raises(ValueError, match="n"):
        nm_prune(np.ones((2, 4)), n=0, m=4)
    with pytest.raises(ValueError, match="m"):
        nm_prune(np.ones((2, 4)), n=1, m=-4)
    with pytest.raises(ValueError, match="w"):
        nm_prune(np.array([[1.0, np.nan, 0.0, 2.0]]))
    with pytest.raises(ValueError, match="divisible"):
        nm_prune(3.0)


@FAST
@given(matrices(), st.floats(0.0, 1.0))
def test_magnitude_prune_zeroes_the_smallest(w, sparsity):
    got = magnitude_prune(w, sparsity)
    k = int(np.floor(sparsity * w.size))
    flat_w, flat_g = w.ravel(), got.ravel()
    pruned = flat_g != flat_w
    assert np.all(flat_g[pruned] == 0)
    assert np.count_nonzero(flat_g == 0) >= k
    # every surviving non-zero weight is at least as large as every removed one
    removed = np.abs(flat_w[(flat_g == 0) & (flat_w != 0)])
    kept = np.abs(flat_g[flat_g != 0])
    if removed.size and kept.size:
        assert removed.max() <= kept.min()


def test_magnitude_prune_hand_worked_and_bad_input():
    w = np.array([[3.0, -1.0], [0.5, -4.0]])
    np.testing.assert_array_equal(magnitude_prune(w, 0.5), [[3.0, 0.0], [0.0, -4.0]])
    np.testing.assert_array_equal(magnitude_prune(w, 0.0), w)
    assert np.all(magnitude_prune(w, 1.0) == 0)
    with pytest.raises(ValueError, match="sparsity"):
        magnitude_prune(w, 1.5)
    with pytest.raises(TypeError, match="sparsity"):
        magnitude_prune(w, "half")
    with pytest.raises(ValueError, match="w"):
        magnitude_prune([np.inf, 1.0], 0.5)


# ----------------------------------------------------------------- distillation


def test_soft_targets():
    z = np.array([2.0, 1.0, 0.0])
    np.testing.assert_allclose(soft_targets(z, 1.0), softmax(z))
    np.testing.assert_allclose(soft_targets(z, 2.0), softmax(z / 2))
    hot = soft_targets(z, 1e-3)
    assert hot[0] == pytest.approx(1.0)
    flat = soft_targets(z, 1e4)
    np.testing.assert_allclose(flat, 1 / 3, rtol=1e-3)
    with pytest.raises(ValueError, match="temperature"):
        soft_targets(z, 0.0)
    with pytest.raises(ValueError, match="logits"):
        soft_targets([np.nan, 1.0])


@FAST
@given(
    arrays(np.float64, (3, 5), elements=st.floats(-10, 10)),
    arrays(np.float64, (3, 5), elements=st.floats(-10, 10)),
    st.floats(0.2, 20.0),
)
def test_distillation_loss_is_t2_times_scipy_kl(zs, zt, t):
    got = distillation_loss(zs, zt, temperature=t)
    kl = np.mean([entropy(softmax(zt[i] / t), softmax(zs[i] / t)) for i in range(3)])
    assert got == pytest.approx(t**2 * kl, rel=1e-7, abs=1e-10)
    assert got >= -1e-12
    assert distillation_loss(zt, zt, temperature=t) == pytest.approx(0.0, abs=1e-12)


def test_distillation_gradient_is_t_times_prob_difference():
    # finite differences on the soft term: d/dz_s = T * (p_s - p_t) for one example
    zs, zt, t = np.array([0.3, -1.0, 2.0]), np.array([1.0, 0.5, -0.5]), 3.0
    eps = 1e-6
    grad = np.array([
        (distillation_loss(zs + eps * e, zt, temperature=t)
         - distillation_loss(zs - eps * e, zt, temperature=t)) / (2 * eps)
        for e in np.eye(3)
    ])
    np.testing.assert_allclose(grad, t * (softmax(zs / t) - softmax(zt / t)), atol=1e-6)


def test_distillation_with_hard_labels_and_bad_input():
    zs = np.array([[2.0, 0.0], [0.0, 1.0]])
    zt = np.array([[1.0, 0.0], [0.0, 3.0]])
    soft = distillation_loss(zs, zt, temperature=2.0)
    ce = np.mean([-np.log(softmax(zs[0])[0]), -np.log(softmax(zs[1])[1])])
    got = distillation_loss(zs, zt, np.array([0, 1]), temperature=2.0, ce_weight=0.5)
    assert got == pytest.approx(soft + 0.5 * ce)
    with pytest.raises(ValueError, match="labels"):
        distillation_loss(zs, zt, temperature=2.0, ce_weight=1.0)
    with pytest.raises(ValueError, match="labels"):
        distillation_loss(zs, zt, np.array([0, 2]), ce_weight=1.0)
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(zs, zt[:1])
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(zs, zt, temperature=-1.0)
    with pytest.raises(ValueError, match="ce_weight"):
        distillation_loss(zs, zt, ce_weight=-0.1)
    with pytest.raises(ValueError, match="student_logits"):
        distillation_loss(np.full((2, 2), np.inf), zt)


@pytest.mark.filterwarnings("error")
def test_tiny_and_zero_groups_quantize_without_warnings():
    # a subnormal maximum makes max/127 underflow to 0; the step must fall back to 1
    x = np.array([[5e-324, -5e-324], [0.0, 0.0], [1.0, 2.0]])
    for scheme in ("absmax", "zeropoint"):
        for gran in ("tensor", "row", "column"):
            got = fake_quantize(x, scheme=scheme, granularity=gran)
            assert np.all(np.isfinite(got))
            np.testing.assert_allclose(got, x, atol=2 / 127)


# ----------------------------------------------------------------- GPTQ


def test_gptq_equals_round_to_nearest_when_inputs_are_uncorrelated():
    rng = np.random.default_rng(11)
    q, _ = np.linalg.qr(rng.normal(size=(64, 8)))  # orthonormal columns
    x = q * np.array([1.0, 2.0, 3.0, 0.5, 4.0, 1.5, 2.5, 0.7])  # X^T X diagonal
    w = rng.normal(size=(8, 5))
    np.testing.assert_allclose(
        gptq_quantize(w, x, bits=3), fake_quantize(w, bits=3, granularity="column"),
        rtol=1e-12, atol=1e-12,
    )


def test_gptq_two_weights_by_hand():
    # the second weight absorbs the first one's rounding error by -err * Hinv01 / Hinv00
    rng = np.random.default_rng(12)
    x = rng.normal(size=(50, 2)) @ np.array([[1.0, 0.8], [0.0, 0.6]])
    w = np.array([[0.37], [-0.52]])
    bits, damp = 3, 0.01
    h = 2 * x.T @ x
    h += damp * np.mean(np.diag(h)) * np.eye(2)
    h_inv = np.linalg.inv(h)
    step = 0.52 / 3
    q0 = np.rint(0.37 / step) * step
    w1 = -0.52 - (0.37 - q0) * h_inv[0, 1] / h_inv[0, 0]
    q1 = np.clip(np.rint(w1 / step), -3, 3) * step
    np.testing.assert_allclose(gptq_quantize(w, x, bits=bits, damp=damp), [[q0], [q1]])


@pytest.mark.parametrize("seed", range(4))
def test_gptq_beats_round_to_nearest_on_correlated_inputs(seed):
    rng = np.random.default_rng(seed)
    d = 32
    x = rng.normal(size=(256, d)) @ (np.eye(d) + rng.normal(size=(d, d)) / np.sqrt(d))
    w = rng.normal(size=(d, 16))
    rtn = fake_quantize(w, bits=3, granularity="column")
    got = gptq_quantize(w, x, bits=3)
    assert relative_error(x @ got, x @ w) < relative_error(x @ rtn, x @ w)
    # every output column stays on its own absmax grid
    step = np.max(np.abs(w), axis=0) / 3
    np.testing.assert_allclose(got / step, np.rint(got / step), atol=1e-9)
    assert np.all(np.abs(got / step) <= 3 + 1e-9)


def test_gptq_bad_input():
    w, x = np.ones((4, 2)), np.ones((8, 4))
    with pytest.raises(ValueError, match="bits"):
        gptq_quantize(w, x, bits=1)
    with pytest.raises(ValueError, match="damp"):
        gptq_quantize(w, x, damp=0.0)
    with pytest.raises(ValueError, match="x and w"):
        gptq_quantize(w, np.ones((8, 3)))
    with pytest.raises(ValueError, match="w"):
        gptq_quantize(np.full((4, 2), np.nan), x)


# ------------------------------------------- the private functions the chapter displays
# (each public function checks its input, then calls one of these)


def test_private_distillation_loss_equals_public():
    rng = np.random.default_rng(20)
    zs, zt = rng.standard_normal((2, 4, 6))
    y = np.array([0, 5, 2, 2])
    got = _distillation_loss(zs, zt, y, 2.0, 0.3)
    assert got == distillation_loss(zs, zt, y, temperature=2.0, ce_weight=0.3)
    assert _distillation_loss(zs, zs, None, 3.0, 0.0) == pytest.approx(0.0, abs=1e-12)


def test_private_absmax_quantize_equals_public():
    x = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]])
    q, step = _absmax_quantize(x, 8, "row")
    pq, pstep = absmax_quantize(x, bits=8, granularity="row")
    np.testing.assert_array_equal(q, pq)
    np.testing.assert_array_equal(step, pstep)
    np.testing.assert_array_equal(q, [[64, -127, 32], [0, 0, 0]])


def test_private_llm_int8_matmul_equals_public():
    rng = np.random.default_rng(21)
    x, w = rng.standard_normal((6, 5)), rng.standard_normal((5, 3))
    x[:, 1] *= 10
    got, outliers = _llm_int8_matmul(x, w, 6.0, 8)
    want, want_outliers = llm_int8_matmul(x, w)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(outliers, want_outliers)


def test_private_gptq_quantize_equals_public():
    rng = np.random.default_rng(22)
    w, x = rng.standard_normal((5, 3)), rng.standard_normal((20, 5))
    got = _gptq_quantize(w, x, 3, 0.01)
    np.testing.assert_array_equal(got, gptq_quantize(w, x, bits=3))


def test_private_smoothquant_scales_equals_public():
    x = np.array([[1.0, -8.0, 0.0], [2.0, 4.0, 0.0]])
    w = np.array([[0.5, 1.0], [2.0, -1.0], [1.0, 1.0]])
    got = _smoothquant_scales(x, w, 0.5)
    np.testing.assert_array_equal(got, smoothquant_scales(x, w, 0.5))
    # sqrt(2 / 1), sqrt(8 / 2), and 1 for the all-zero activation column
    np.testing.assert_allclose(got, [np.sqrt(2.0), 2.0, 1.0])


def test_private_nm_prune_equals_public():
    w = np.array([[3.0, -1.0, 0.5, -4.0, 1.0, 1.0, 2.0, 0.0]])
    got = _nm_prune(w, 2, 4)
    np.testing.assert_array_equal(got, nm_prune(w))
    np.testing.assert_array_equal(got, [[3.0, 0.0, 0.0, -4.0, 1.0, 0.0, 2.0, 0.0]])


# --- the small trained model and the per-channel factors ----------------------------------

from lilbook.compression import (  # noqa: E402
    QUANT_METHODS,
    accuracy_and_loss,
    mlp_forward,
    quantized_factors,
    teacher_task,
    train_mlp,
)


def test_teacher_task_shares_the_rule_and_is_learnable():
    x1, y1 = teacher_task(500, rng=np.random.default_rng(0))
    x2, y2 = teacher_task(500, rng=np.random.default_rng(1))
    assert x1.shape == (500, 8) and y1.dtype.kind == "i" and set(np.unique(y1)) <= set(range(8))
    assert not np.array_equal(x1, x2)
    params = train_mlp(x1, y1, hidden=32, steps=200, rng=np.random.default_rng(2))
    acc, loss = accuracy_and_loss(mlp_forward(params, x2), y2)
    assert acc > 0.6  # far above the 1/8 of guessing: the rule generalises to new inputs
    assert loss < np.log(8)


def test_train_mlp_reduces_loss_and_keeps_masks():
    x, y = teacher_task(300, rng=np.random.default_rng(3))
    start = train_mlp(x, y, hidden=16, steps=1, rng=np.random.default_rng(0))
    trained = train_mlp(x, y, hidden=16, steps=150, rng=np.random.default_rng(0))
    assert accuracy_and_loss(mlp_forward(trained, x), y)[1] < accuracy_and_loss(
        mlp_forward(start, x), y
    )[1]
    mask = (np.random.default_rng(4).random((8, 16)) < 0.5).astype(float)
    tuned = train_mlp(x, y, steps=20, rng=np.random.default_rng(0), init=trained,
                      masks={"w1": mask})
    assert np.all(tuned["w1"][mask == 0] == 0.0)
    assert not np.allclose(tuned["w1"][mask == 1], trained["w1"][mask == 1])


def test_train_mlp_soft_targets_equal_one_hot_labels():
    x, y = teacher_task(100, rng=np.random.default_rng(5))
    a = train_mlp(x, y, hidden=8, steps=30, rng=np.random.default_rng(0))
    b = train_mlp(x, np.eye(8)[y], hidden=8, steps=30, rng=np.random.default_rng(0))
    assert all(np.allclose(a[k], b[k]) for k in a)


def test_mlp_forward_by_hand():
    params = {"w1": np.array([[1.0, -1.0]]), "b1": np.array([0.0, 0.5]),
              "w2": np.array([[2.0], [3.0]]), "b2": np.array([1.0])}
    # x = 2: hidden relu(2, -1.5) = (2, 0); logit 2*2 + 1 = 5
    assert mlp_forward(params, np.array([[2.0]]))[0, 0] == pytest.approx(5.0)


def test_accuracy_and_loss_by_hand():
    z = np.array([[0.0, 0.0], [2.0, 0.0]])
    acc, loss = accuracy_and_loss(z, np.array([1, 0]))
    # argmax of a tie is class 0, so the first row is wrong
    assert acc == 0.5
    assert loss == pytest.approx((np.log(2) + np.log(1 + np.exp(-2.0))) / 2)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: teacher_task(0, rng=np.random.default_rng(0)), ValueError, "n_samples"),
        (lambda: teacher_task(5, n_classes=1, rng=np.random.default_rng(0)), ValueError, "n_classes"),
        (lambda: teacher_task(5, rng=1), TypeError, "rng"),
        (lambda: train_mlp(np.ones((3, 2)), np.array([0.5, 1.0, 0.0]),
                           rng=np.random.default_rng(0)), ValueError, "targets"),
        (lambda: train_mlp(np.ones((3, 2)), np.array([0, 1]), rng=np.random.default_rng(0)),
         ValueError, "targets"),
        (lambda: train_mlp(np.ones((2, 2)), np.array([[0.7, 0.7], [1.0, 0.0]]),
                           rng=np.random.default_rng(0)), ValueError, "targets"),
        (lambda: train_mlp(np.ones((2, 2)), np.array([0, 1]), steps=0,
                           rng=np.random.default_rng(0)), ValueError, "steps"),
        (lambda: train_mlp(np.ones((2, 2)), np.array([0, 1]), lr=-1.0,
                           rng=np.random.default_rng(0)), ValueError, "lr"),
        (lambda: train_mlp(np.ones((2, 2)), np.array([0, 1]), rng=np.random.default_rng(0),
                           masks={"w9": np.ones(2)}), ValueError, "masks"),
        (lambda: mlp_forward({"w1": np.ones((2, 2))}, np.ones((1, 2))), ValueError, "params"),
        (lambda: accuracy_and_loss(np.ones((2, 3)), np.array([0, 3])), ValueError, "labels"),
        (lambda: quantized_factors(np.ones((2, 3)), np.ones((3, 2)), method="int3"),
         ValueError, "method"),
        (lambda: quantized_factors(np.ones((2, 3)), np.ones((2, 2)), method="tensor"),
         ValueError, "chain"),
        (lambda: quantized_factors(np.ones((2, 3)), np.ones((3, 2)), method="smoothquant",
                                   alpha=2.0), ValueError, "alpha"),
    ],
)
def test_new_functions_reject_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("method", QUANT_METHODS)
def test_quantized_factors_reproduce_the_matmul_methods(method):
    rng = np.random.default_rng(8)
    x = synthetic_activations(64, 32, outlier_channels=[3, 9], rng=rng)
    w = rng.normal(size=(32, 16))
    xh, wh = quantized_factors(x, w, method=method)
    expected = {
        "tensor": lambda: quantized_matmul(x, w),
        "zeropoint": lambda: quantized_matmul(x, w, scheme="zeropoint"),
        "vector": lambda: quantized_matmul(x, w, x_granularity="row", w_granularity="column"),
        "smoothquant": lambda: smoothquant_matmul(x, w),
        "smoothquant-vector": lambda: smoothquant_matmul(
            x, w, x_granularity="row", w_granularity="column"),
        "llm-int8": lambda: llm_int8_matmul(x, w)[0],
    }[method]()
    assert np.allclose(xh @ wh, expected)


def test_llm_int8_factors_keep_outlier_channels_exact():
    rng = np.random.default_rng(9)
    x = synthetic_activations(64, 32, outlier_channels=[3, 9], rng=rng)
    w = rng.normal(size=(32, 16))
    xh, wh = quantized_factors(x, w, method="llm-int8")
    assert np.array_equal(xh[:, [3, 9]], x[:, [3, 9]]) and np.array_equal(wh[[3, 9]], w[[3, 9]])
    assert not np.array_equal(xh[:, 0], x[:, 0])
