"""Tests for lilbook.attention.

References are independent of the code under test: explicit loops over queries and keys,
closed forms worked by hand (sin/cos tables, rotation matrices, ALiBi's published slopes),
scipy's softmax, and brute-force masks built from the pattern's definition.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax as scipy_softmax

from lilbook import attention as at

FAST = settings(max_examples=30, deadline=None, database=None)


def loop_attention(q, k, v, allowed=None, bias=None):
    """Attention for 2-d q, k, v written as explicit loops (the textbook definition)."""
    n_q, d = q.shape
    out = np.zeros((n_q, v.shape[1]))
    weights = np.zeros((n_q, k.shape[0]))
    for i in range(n_q):
        keys = [j for j in range(k.shape[0]) if allowed is None or allowed[i, j]]
        s = np.array([q[i] @ k[j] / math.sqrt(d) + (0 if bias is None else bias[i, j]) for j in keys])
        w = np.exp(s - s.max())
        w /= w.sum()
        for wj, j in zip(w, keys):
            weights[i, j] = wj
            out[i] += wj * v[j]
    return out, weights


def rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------------------------------------
# softmax and scaled dot-product attention
# ---------------------------------------------------------------------------------------------


def test_softmax_matches_scipy_and_survives_huge_logits():
    z = np.array([[1000.0, 999.0, -1000.0], [1e300, 0.0, -1e300]])
    got = at.softmax(z)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[0], scipy_softmax(z[0]))
    np.testing.assert_allclose(got[1], [1.0, 0.0, 0.0])


def test_softmax_masked_entries_are_exactly_zero():
    z = np.array([[5.0, 1.0, 2.0]])
    got = at.softmax(z, np.array([[False, True, True]]))
    assert got[0, 0] == 0.0
    np.testing.assert_allclose(got[0, 1:], scipy_softmax([1.0, 2.0]))


def test_fully_masked_row_raises_instead_of_nan():
    with pytest.raises(ValueError, match="no allowed key"):
        at.softmax(np.zeros((2, 3)), np.array([[True, False, False], [False, False, False]]))
    q = rand(0, 3, 4)
    with pytest.raises(ValueError, match="no allowed key"):
        at.scaled_dot_product_attention(q, q, q, mask=np.zeros((3, 3), dtype=bool))


@FAST
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 5), st.integers(0, 10_000))
def test_attention_matches_loops(n_q, n_k, d, seed):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((n_q, d)), rng.standard_normal((n_k, d)), rng.standard_normal((n_k, 3))
    allowed = rng.random((n_q, n_k)) < 0.6
    allowed[np.arange(n_q), rng.integers(0, n_k, n_q)] = True
    bias = rng.standard_normal((n_q, n_k))
    out, w = at.scaled_dot_product_attention(q, k, v, allowed, bias=bias)
    ref_out, ref_w = loop_attention(q, k, v, allowed, bias)
    np.testing.assert_allclose(out, ref_out, atol=1e-12)
    np.testing.assert_allclose(w, ref_w, atol=1e-12)
    np.testing.assert_allclose(w.sum(-1), 1.0)
    assert np.all(w[~allowed] == 0)


def test_attention_broadcasts_batch_and_head_dims():
    q = rand(1, 2, 1, 5, 4)  # (batch, 1, seq, d)
    k = rand(2, 1, 3, 5, 4)  # (1, heads, seq, d)
    v = rand(3, 1, 3, 5, 2)
    out, w = at.scaled_dot_product_attention(q, k, v, at.causal_mask(5))
    assert out.shape == (2, 3, 5, 2) and w.shape == (2, 3, 5, 5)
    for b in range(2):
        for h in range(3):
            ref, _ = loop_attention(q[b, 0], k[0, h], v[0, h], np.tri(5, dtype=bool))
            np.testing.assert_allclose(out[b, h], ref, atol=1e-12)


def test_causal_output_ignores_the_future():
    x = rand(4, 6, 3)
    y = x.copy()
    y[4:] += 10.0  # change only the last two positions
    a, _ = at.scaled_dot_product_attention(x, x, x, at.causal_mask(6))
    b, _ = at.scaled_dot_product_attention(y, y, y, at.causal_mask(6))
    np.testing.assert_allclose(a[:4], b[:4])
    assert not np.allclose(a[4:], b[4:])


@pytest.mark.parametrize(
    "q,k,v,mask,err",
    [
        (np.ones((3, 4)), np.ones((3, 5)), np.ones((3, 2)), None, "last dimension"),
        (np.ones((3, 4)), np.ones((3, 4)), np.ones((2, 2)), None, "same sequence length"),
        (np.ones(4), np.ones((3, 4)), np.ones((3, 2)), None, "at least 2 dimensions"),
        (np.ones((3, 4)), np.ones((3, 4)), np.ones((3, 2)), np.ones((2, 2), bool), "broadcast"),
        (np.full((3, 4), np.nan), np.ones((3, 4)), np.ones((3, 2)), None, "finite"),
        (np.ones((3, 4)), np.full((3, 4), np.inf), np.ones((3, 2)), None, "finite"),
        (np.ones((2, 3, 4)), np.ones((3, 3, 4)), np.ones((3, 3, 2)), None, "broadcast"),
    ],
)
def test_attention_bad_shapes_and_values(q, k, v, mask, err):
    with pytest.raises(ValueError, match=err):
        at.scaled_dot_product_attention(q, k, v, mask)


def test_attention_mask_must_be_boolean():
    x = np.ones((3, 2))
    with pytest.raises(TypeError, match="boolean"):
        at.scaled_dot_product_attention(x, x, x, np.ones((3, 3)))
    with pytest.raises(TypeError):
        at.scaled_dot_product_attention("abc", x, x)


def test_causal_mask():
    np.testing.assert_array_equal(at.causal_mask(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    for bad in (0, -2):
        with pytest.raises(ValueError):
            at.causal_mask(bad)
    for bad in (2.5, True, "3"):
        with pytest.raises(TypeError):
            at.causal_mask(bad)


# ---------------------------------------------------------------------------------------------
# multi-head attention
# ---------------------------------------------------------------------------------------------


@FAST
@given(st.sampled_from([(4, 1), (4, 2), (6, 3), (8, 4)]), st.integers(1, 6), st.integers(0, 10_000))
def test_multi_head_matches_per_head_loops(dims, seq, seed):
    d, h = dims
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((seq, d))
    wq, wk, wv, wo = rng.standard_normal((4, d, d))
    mask = np.tri(seq, dtype=bool)
    out, w = at.multi_head_attention(x, wq, wk, wv, wo, h, mask)
    dh = d // h
    heads = []
    for i in range(h):
        cols = slice(i * dh, (i + 1) * dh)
        o, wi = loop_attention(x @ wq[:, cols], x @ wk[:, cols], x @ wv[:, cols], mask)
        np.testing.assert_allclose(w[i], wi, atol=1e-10)
        heads.append(o)
    np.testing.assert_allclose(out, np.concatenate(heads, axis=1) @ wo, atol=1e-9)


def test_multi_head_with_one_head_is_single_attention_and_batches():
    x = rand(5, 2, 4, 6)
    wq, wk, wv = rand(6, 3, 6, 6)
    eye = np.eye(6)
    out, _ = at.multi_head_attention(x, wq, wk, wv, eye, 1)
    for b in range(2):
        ref, _ = loop_attention(x[b] @ wq, x[b] @ wk, x[b] @ wv)
        np.testing.assert_allclose(out[b], ref, atol=1e-10)


def test_multi_head_bad_inputs():
    x = np.ones((3, 6))
    w = np.eye(6)
    with pytest.raises(ValueError, match="divide"):
        at.multi_head_attention(x, w, w, w, w, 4)
    with pytest.raises(ValueError, match="shape"):
        at.multi_head_attention(x, np.eye(5), w, w, w, 2)
    with pytest.raises(ValueError):
        at.multi_head_attention(x, w, w, w, w, 0)
    with pytest.raises(ValueError, match="finite"):
        at.multi_head_attention(x, w, w, w * np.nan, w, 2)


# ---------------------------------------------------------------------------------------------
# positional encodings
# ---------------------------------------------------------------------------------------------


def test_sinusoidal_encoding_by_hand():
    pe = at.sinusoidal_encoding(3, 4)
    expected = [
        [math.sin(i), math.cos(i), math.sin(i / 100.0), math.cos(i / 100.0)] for i in range(3)
    ]
    np.testing.assert_allclose(pe, expected)


@FAST
@given(st.integers(1, 50), st.integers(1, 16).map(lambda n: 2 * n), st.integers(0, 40))
def test_sinusoidal_offset_is_a_rotation(n, d, shift):
    # PE(i + k) is PE(i) rotated pair by pair by the angle k * freq (a linear map of PE(i))
    pe = at.sinusoidal_encoding(n + shift, d)
    freq = 10000.0 ** (-np.arange(0, d, 2) / d)
    c, s = np.cos(shift * freq), np.sin(shift * freq)
    sin_i, cos_i = pe[:n, 0::2], pe[:n, 1::2]
    np.testing.assert_allclose(pe[shift:, 0::2], sin_i * c + cos_i * s, atol=1e-9)
    np.testing.assert_allclose(pe[shift:, 1::2], cos_i * c - sin_i * s, atol=1e-9)
    assert np.all(np.abs(pe) <= 1)


def test_sinusoidal_bad_sizes():
    with pytest.raises(ValueError, match="even"):
        at.sinusoidal_encoding(4, 3)
    with pytest.raises(ValueError):
        at.sinusoidal_encoding(0, 4)
    with pytest.raises(TypeError):
        at.sinusoidal_encoding(4.0, 4)


def test_rotary_matches_rotation_matrices():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4))
    pos = np.array([0.0, 2.0, 5.0])
    got = at.rotary_embedding(x, pos, base=100.0)
    for r in range(3):
        expected = []
        for pair, theta in enumerate([1.0, 100.0 ** (-0.5)]):
            a = pos[r] * theta
            rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
            expected.extend(rot @ x[r, 2 * pair : 2 * pair + 2])
        np.testing.assert_allclose(got[r], expected, atol=1e-12)


@FAST
@given(
    st.integers(1, 8).map(lambda n: 2 * n),
    st.integers(-50, 50),
    st.integers(-50, 50),
    st.integers(-20, 20),
    st.integers(0, 10_000),
)
def test_rotary_score_depends_only_on_offset(d, m, n, shift, seed):
    rng = np.random.default_rng(seed)
    q, k = rng.standard_normal((2, 1, d))
    s1 = at.rotary_embedding(q, [m])[0] @ at.rotary_embedding(k, [n])[0]
    s2 = at.rotary_embedding(q, [m + shift])[0] @ at.rotary_embedding(k, [n + shift])[0]
    assert s1 == pytest.approx(s2, abs=1e-9)
    # norms are preserved (a rotation)
    assert np.linalg.norm(at.rotary_embedding(q, [m])) == pytest.approx(np.linalg.norm(q))


def test_rotary_bad_inputs():
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match="even"):
        at.rotary_embedding(np.ones((3, 5)), [0, 1, 2])
    with pytest.raises(ValueError, match="positions"):
        at.rotary_embedding(x, [0, 1])
    with pytest.raises(ValueError, match="finite"):
        at.rotary_embedding(x, [0, np.nan, 2])
    with pytest.raises(ValueError, match="base"):
        at.rotary_embedding(x, [0, 1, 2], base=1.0)
    with pytest.raises(ValueError, match="finite"):
        at.rotary_embedding(x * np.inf, [0, 1, 2])


def test_alibi_slopes_from_the_paper():
    # Press et al.: 8 heads -> 1/2, 1/4, ..., 1/256; 16 heads -> 1/sqrt(2), 1/2, ..., 1/256
    np.testing.assert_allclose(at.alibi_slopes(8), [2.0**-i for i in range(1, 9)])
    np.testing.assert_allclose(at.alibi_slopes(16), [2.0 ** (-i / 2) for i in range(1, 17)])
    # non power of two (authors' code): 4-head slopes, then every other of the 8-head slopes
    np.testing.assert_allclose(at.alibi_slopes(6), [1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8])
    assert at.alibi_slopes(1)[0] == pytest.approx(2.0**-8)


@FAST
@given(st.integers(1, 40))
def test_alibi_slopes_properties(n):
    s = at.alibi_slopes(n)
    assert s.shape == (n,) and len(set(s)) == n
    assert np.all((s > 0) & (s < 1))


def test_alibi_bias_by_hand_and_causal_shift_invariance():
    b = at.alibi_bias(2, 3)
    np.testing.assert_allclose(b[0], -0.0625 * np.array([[0, 1, 2], [1, 0, 1], [2, 1, 0]]))
    assert b.shape == (2, 3, 3)
    # inside the causal triangle, -m (i - j) and -m j differ by a per-row constant: same softmax
    bias = at.alibi_bias(4, 7)
    z = rand(9, 4, 7, 7)
    j = np.arange(7)
    alt = at.alibi_slopes(4)[:, None, None] * j[None, None, :]
    mask = at.causal_mask(7)
    np.testing.assert_allclose(at.softmax(z + bias, mask), at.softmax(z + alt, mask), atol=1e-12)
    with pytest.raises(ValueError):
        at.alibi_bias(0, 3)
    with pytest.raises(ValueError):
        at.alibi_slopes(-1)


# ---------------------------------------------------------------------------------------------
# sparse masks
# ---------------------------------------------------------------------------------------------


@FAST
@given(st.integers(1, 30), st.integers(1, 8), st.booleans())
def test_local_and_strided_masks_by_definition(n, w, causal):
    loc = at.local_mask(n, w, causal)
    stri = at.strided_mask(n, w, causal)
    for i in range(n):
        for j in range(n):
            near = (0 <= i - j < w) if causal else abs(i - j) < w
            assert loc[i, j] == near
            assert stri[i, j] == (((i - j) % w == 0) and (j <= i or not causal))
    assert np.all(np.diag(loc)) and np.all(np.diag(stri))


def test_global_random_bigbird_masks():
    g = at.global_mask(5, 2)
    assert g[:2].all() and g[:, :2].all() and not g[2:, 2:].any()
    r = at.random_mask(20, 3, np.random.default_rng(0))
    assert np.all(r.sum(axis=1) == 3)
    r2 = at.random_mask(20, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(r, r2)
    bb = at.bigbird_mask(20, 2, 1, 3, np.random.default_rng(0))
    assert np.all(bb >= (at.local_mask(20, 2, False) | at.global_mask(20, 1) | r))
    assert bb.sum() <= (at.local_mask(20, 2, False) | at.global_mask(20, 1)).sum() + 60
    with pytest.raises(ValueError):
        at.global_mask(5, 6)
    with pytest.raises(ValueError):
        at.random_mask(5, 6, np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        at.random_mask(5, 2, 0)
    with pytest.raises(TypeError):
        at.local_mask(5, 2, causal="yes")
    with pytest.raises(ValueError):
        at.strided_mask(5, 0)


# ---------------------------------------------------------------------------------------------
# sparse attention without the full matrix
# ---------------------------------------------------------------------------------------------


@FAST
@given(st.integers(1, 40), st.integers(1, 10), st.integers(0, 10_000))
def test_sparse_attention_equals_masked_full_attention(n, w, seed):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((3, 2, n, 4))
    for index, valid, mask in (
        (*at.local_indices(n, w), at.local_mask(n, w)),
        (*at.strided_indices(n, w), at.local_mask(n, w) | at.strided_mask(n, w)),
    ):
        np.testing.assert_array_equal(at.indices_to_mask(index, valid), mask)
        ref, _ = at.scaled_dot_product_attention(q, k, v, mask)
        np.testing.assert_allclose(at.sparse_attention(q, k, v, index, valid), ref, atol=1e-12)


def test_sparse_attention_bad_index():
    q = np.ones((4, 2))
    idx, ok = at.local_indices(4, 2)
    with pytest.raises(ValueError, match="index entries"):
        at.sparse_attention(q, q, q, idx + 5, ok)
    with pytest.raises(ValueError, match="shape"):
        at.sparse_attention(q, q, q, idx[:3], ok[:3])
    with pytest.raises(ValueError, match="no key"):
        at.sparse_attention(q, q, q, idx, np.zeros_like(ok))
    with pytest.raises(TypeError, match="integer"):
        at.sparse_attention(q, q, q, idx.astype(float), ok)
    with pytest.raises(ValueError, match="self-attention"):
        at.sparse_attention(q, np.ones((5, 2)), np.ones((5, 2)), idx, ok)
    with pytest.raises(ValueError):
        at.indices_to_mask(np.array(3), ok)


# ---------------------------------------------------------------------------------------------
# linear attention
# ---------------------------------------------------------------------------------------------


def elu1(x):
    return np.where(x > 0, x + 1, np.exp(x))


@FAST
@given(st.integers(1, 12), st.integers(1, 5), st.booleans(), st.integers(0, 10_000))
def test_elu_linear_attention_equals_explicit_kernel_matrix(n, d, causal, seed):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((3, n, d))
    a = elu1(q) @ elu1(k).T  # the L x L kernel matrix, built explicitly
    if causal:
        a = np.tril(a)
    ref = (a / a.sum(axis=1, keepdims=True)) @ v
    np.testing.assert_allclose(at.linear_attention(q, k, v, causal=causal), ref, atol=1e-10)


def test_random_features_are_unbiased_for_the_exponential_kernel():
    rng = np.random.default_rng(0)
    x, y = 0.4 * rng.standard_normal((2, 1, 6))
    w = at.performer_projection(6, 200_000, rng, orthogonal=False)
    est = at.positive_random_features(x, w) @ at.positive_random_features(y, w).T
    assert est[0, 0] == pytest.approx(math.exp(float(x[0] @ y[0])), rel=0.01)
    assert np.all(at.positive_random_features(x, w) > 0)


def test_softmax_random_features_converge_to_softmax_attention():
    rng = np.random.default_rng(1)
    q, k, v = 0.5 * rng.standard_normal((3, 2, 32, 8))
    ref, _ = at.scaled_dot_product_attention(q, k, v)
    errs = []
    for m in (8, 4096):
        e = [
            np.abs(at.linear_attention(q, k, v, "softmax", at.performer_projection(8, m, np.random.default_rng(s))) - ref).mean()
            for s in range(3)
        ]
        errs.append(np.mean(e))
    assert errs[1] < errs[0] / 4
    # causal variant against the causal softmax reference
    refc, _ = at.scaled_dot_product_attention(q, k, v, at.causal_mask(32))
    w = at.performer_projection(8, 4096, np.random.default_rng(7))
    assert np.abs(at.linear_attention(q, k, v, "softmax", w, causal=True) - refc).mean() < 0.02


def test_orthogonal_projection_blocks_are_orthogonal():
    w = at.performer_projection(4, 10, np.random.default_rng(2))
    assert w.shape == (10, 4)
    g = w[:4] @ w[4:8].T  # different blocks: not orthogonal in general
    gram = w[:4] @ w[:4].T
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-10)
    assert np.abs(g).max() > 1e-6


def test_linear_attention_bad_inputs():
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match="feature_map"):
        at.linear_attention(x, x, x, feature_map="relu")
    with pytest.raises(TypeError, match="projection"):
        at.linear_attention(x, x, x, feature_map="softmax")
    with pytest.raises(ValueError, match="projection"):
        at.linear_attention(x, x, x, "softmax", np.ones((5, 2)))
    with pytest.raises(ValueError, match="causal"):
        at.linear_attention(x, np.ones((5, 3)), np.ones((5, 3)), causal=True)
    with pytest.raises(ValueError, match="finite"):
        at.linear_attention(x * np.nan, x, x)
    with pytest.raises(ValueError, match="overflow"):
        at.positive_random_features(np.full((1, 2), 30.0), np.full((3, 2), 100.0))
    with pytest.raises(TypeError):
        at.performer_projection(4, 8, rng=3)
    with pytest.raises(ValueError):
        at.performer_projection(0, 8, np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------
# cost formulas
# ---------------------------------------------------------------------------------------------


def test_attention_cost_by_counting():
    # count multiply-adds of the explicit loops: L*L*d for q k^T and L*L*d for weights @ v
    L, d = 10, 4
    full = at.attention_cost(L, d)
    assert full.flops == 2 * (L * L * d + L * L * d) and full.memory == L * L
    loc = at.attention_cost(L, d, "local", window=3)
    assert loc.flops == 2 * 2 * L * 3 * d and loc.memory == L * 3
    idx, _ = at.strided_indices(L, 3)
    st_ = at.attention_cost(L, d, "strided", window=3)
    assert st_.memory == L * idx.shape[1]
    lin = at.attention_cost(L, d, "linear", n_features=5)
    assert lin.flops == 2 * (L * 5 * d) * 2 + 4 * L * 5 and lin.memory == L * 5 + 5 * d


@FAST
@given(st.integers(2, 1 << 16), st.integers(1, 128))
def test_cost_scaling_exponents(L, d):
    full = at.attention_cost(np.array([L, 2 * L]), d)
    assert full.flops[1] / full.flops[0] == pytest.approx(4.0)
    lin = at.attention_cost(np.array([L, 2 * L]), d, "linear", n_features=16)
    assert lin.flops[1] / lin.flops[0] == pytest.approx(2.0)
    w = 8
    loc = at.attention_cost(np.array([L, 2 * L]), d, "local", window=w)
    if L >= w:
        assert loc.flops[1] / loc.flops[0] == pytest.approx(2.0)
    assert np.all(loc.flops <= full.flops)


def test_attention_cost_bad_inputs():
    with pytest.raises(ValueError, match="kind"):
        at.attention_cost(10, 4, "dense")
    with pytest.raises(TypeError, match="window"):
        at.attention_cost(10, 4, "local")
    with pytest.raises(TypeError, match="n_features"):
        at.attention_cost(10, 4, "linear")
    with pytest.raises(ValueError, match="integers"):
        at.attention_cost(10.5, 4)
    with pytest.raises(ValueError, match="integers"):
        at.attention_cost(np.inf, 4)
    with pytest.raises(ValueError):
        at.attention_cost(10, 0)


def test_attention_flops_fraction_from_kaplan_counts():
    # direct count: N = 12 n_layer d^2, forward = 2N + 2 n_layer n_ctx d
    n_layer, d, n_ctx = 24, 1024, 2048
    direct = 2 * n_layer * n_ctx * d / (2 * 12 * n_layer * d**2 + 2 * n_layer * n_ctx * d)
    assert at.attention_flops_fraction(d, n_ctx) == pytest.approx(direct)
    assert at.attention_flops_fraction(d, 12 * d) == pytest.approx(0.5)
    np.testing.assert_allclose(at.attention_flops_fraction(np.array([1.0, 2.0]), 0.0), [0, 0])
    with pytest.raises(ValueError):
        at.attention_flops_fraction(0, 10)
    with pytest.raises(ValueError):
        at.attention_flops_fraction(10, -1)


# ---------------------------------------------------------------------------------------------
# adaptive computation
# ---------------------------------------------------------------------------------------------


def test_adaptive_span_mask_by_hand():
    got = at.adaptive_span_mask([0, 5, 6, 7, 9, 20], z=5, ramp=4)
    np.testing.assert_allclose(got, [1, 1, 0.75, 0.5, 0, 0])
    with pytest.raises(ValueError):
        at.adaptive_span_mask([-1], 1, 1)
    with pytest.raises(ValueError):
        at.adaptive_span_mask([1], 1, 0)
    with pytest.raises(ValueError):
        at.adaptive_span_mask([1], -1, 1)
    with pytest.raises(ValueError):
        at.adaptive_span_mask([np.nan], 1, 1)


def test_act_halting_hand_case():
    n, w, cost = at.act_halting([0.2, 0.5, 0.4, 0.9], epsilon=0.01)
    assert n == 3  # 0.2 + 0.5 + 0.4 = 1.1 >= 0.99
    np.testing.assert_allclose(w, [0.2, 0.5, 0.3, 0.0])
    assert cost == pytest.approx(3.3)
    n, w, cost = at.act_halting([0.1, 0.1], epsilon=0.01)  # never reaches: use every step
    assert n == 2 and w[-1] == pytest.approx(0.9) and cost == pytest.approx(2.9)


@FAST
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12), st.floats(0.001, 0.5))
def test_act_weights_form_a_distribution(h, eps):
    n, w, cost = at.act_halting(h, eps)
    assert 1 <= n <= len(h)
    assert w.sum() == pytest.approx(1.0)
    assert np.all(w >= -1e-12)
    assert n < cost <= n + 1 + 1e-12
    # brute force: the first n whose prefix sum reaches 1 - eps
    prefix = np.cumsum(h)
    hits = [i + 1 for i in range(len(h)) if prefix[i] >= 1 - eps]
    assert n == (hits[0] if hits else len(h))


def test_act_bad_inputs():
    with pytest.raises(ValueError):
        at.act_halting([0.5, 1.2])
    with pytest.raises(ValueError):
        at.act_halting([[0.5]])
    with pytest.raises(ValueError):
        at.act_halting([0.5], epsilon=1.0)
    with pytest.raises(ValueError):
        at.act_halting([np.nan])


def test_ponder_toy_halts_and_mixes_states():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4))
    w = 0.3 * rng.standard_normal((4, 4))
    wh = rng.standard_normal(4)
    steps, out, halt = at.ponder_toy(x, w, wh, b_halt=-1.0, max_steps=8)
    assert steps.shape == (6,) and np.all((steps >= 1) & (steps <= 8))
    # independent recomputation for token 0
    s, states, hs = x[0], [], []
    for _ in range(8):
        s = np.tanh(s @ w) + s
        states.append(s)
        hs.append(1 / (1 + math.exp(-(s @ wh - 1.0))))
    hs[-1] = 1.0
    n, wts, _ = at.act_halting(hs, 0.01)
    assert steps[0] == n
    np.testing.assert_allclose(out[0], wts @ np.array(states))
    np.testing.assert_allclose(halt[0], hs)
    # a very negative bias never halts early: every token runs to max_steps
    steps_all, _, _ = at.ponder_toy(x, w, np.zeros(4), b_halt=-50.0, max_steps=5)
    assert np.all(steps_all == 5)
    with pytest.raises(ValueError):
        at.ponder_toy(x, w, np.zeros(3), 0.0)
    with pytest.raises(ValueError):
        at.ponder_toy(x[None], w, wh, 0.0)
    with pytest.raises(ValueError):
        at.ponder_toy(x, w, wh, 0.0, max_steps=0)


# ---------------------------------------------------------------------------------------------
# GTrXL gate
# ---------------------------------------------------------------------------------------------


def test_gtrxl_gate_by_formula_and_identity_limit():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((2, 3, 5))
    w = 0.5 * rng.standard_normal((6, 5, 5))
    sig = lambda t: 1 / (1 + np.exp(-t))  # noqa: E731
    r = sig(y @ w[0] + x @ w[1])
    z = sig(y @ w[2] + x @ w[3] - 1.5)
    h = np.tanh(y @ w[4] + (r * x) @ w[5])
    np.testing.assert_allclose(at.gtrxl_gate(x, y, w, 1.5), (1 - z) * x + z * h, atol=1e-12)
    # a very large gate bias gives the identity map on x
    np.testing.assert_allclose(at.gtrxl_gate(x, y, w, 60.0), x, atol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        at.gtrxl_gate(x, y[:, :4], w, 0.0)
    with pytest.raises(ValueError, match="weights"):
        at.gtrxl_gate(x, y, w[:5], 0.0)
    with pytest.raises(ValueError, match="finite"):
        at.gtrxl_gate(x, y, w, np.nan)


# ---------------------------------------------------------------------------------------------
# the private functions the chapter displays (the public ones check input, then call these)
# ---------------------------------------------------------------------------------------------


def test_private_scaled_dot_product_attention_equals_public_and_loops():
    q, k, v = rand(40, 4, 3), rand(41, 5, 3), rand(42, 5, 2)
    mask, bias = np.tril(np.ones((4, 5), dtype=bool)), rand(43, 4, 5)
    out, w = at._scaled_dot_product_attention(q, k, v, mask, bias)
    pub_out, pub_w = at.scaled_dot_product_attention(q, k, v, mask, bias)
    np.testing.assert_array_equal(out, pub_out)
    np.testing.assert_array_equal(w, pub_w)
    ref_out, ref_w = loop_attention(q, k, v, mask, bias)
    np.testing.assert_allclose(out, ref_out, atol=1e-12)
    np.testing.assert_allclose(w, ref_w, atol=1e-12)


def test_attention_checks_shapes_before_computing():
    # a bias can stretch a single key to several; the weights then no longer fit v
    with pytest.raises(ValueError, match=r"weights \(5, 3\) and v \(1, 3\)"):
        at.scaled_dot_product_attention(rand(1, 5, 4), rand(2, 1, 4), rand(3, 1, 3), None, np.ones((5, 3)))
    with pytest.raises(ValueError, match="no allowed key"):
        at.scaled_dot_product_attention(rand(1, 2, 3), rand(2, 2, 3), rand(3, 2, 3), np.zeros((2, 2), dtype=bool))


def test_private_multi_head_attention_equals_public():
    x, w = rand(44, 2, 5, 8), rand(45, 4, 8, 8)
    mask = at.causal_mask(5)
    got = at._multi_head_attention(x, *w, 4, mask, None)
    want = at.multi_head_attention(x, *w, 4, mask)
    for g, e in zip(got, want):
        np.testing.assert_array_equal(g, e)


def test_private_rotary_embedding_equals_public_and_keeps_norms():
    x, pos = rand(46, 2, 3, 6), np.array([0.0, 1.5, 4.0])
    got = at._rotary_embedding(x, pos, 500.0)
    np.testing.assert_array_equal(got, at.rotary_embedding(x, pos, 500.0))
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), np.linalg.norm(x, axis=-1))


def test_private_act_halting_hand_case():
    n, w, cost = at._act_halting(np.array([0.2, 0.5, 0.4, 0.9]), 0.01)
    assert n == 3 and cost == pytest.approx(3.3)
    np.testing.assert_allclose(w, [0.2, 0.5, 0.3, 0.0])


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("feature_map", ["elu", "softmax"])
def test_private_linear_attention_equals_public(feature_map, causal):
    q, k, v = 0.5 * rand(47, 3, 6, 4)
    proj = at.performer_projection(4, 8, np.random.default_rng(48)) if feature_map == "softmax" else None
    got = at._linear_attention(q, k, v, feature_map, proj, causal)
    np.testing.assert_array_equal(got, at.linear_attention(q, k, v, feature_map, proj, causal))


def test_private_feature_maps_are_positive_and_elu_is_elu_plus_one():
    q, k = rand(49, 2, 5, 4)
    phi_q, phi_k = at._feature_maps(q, k, "elu", None)
    np.testing.assert_allclose(phi_q, np.where(q > 0, q + 1, np.exp(q)))
    np.testing.assert_allclose(phi_k, np.where(k > 0, k + 1, np.exp(k)))
    proj = at.performer_projection(4, 16, np.random.default_rng(50))
    phi_q, phi_k = at._feature_maps(q, k, "softmax", proj)
    assert phi_q.shape == phi_k.shape == (5, 16) and np.all(phi_q > 0) and np.all(phi_k > 0)
    assert np.allclose(phi_q.max(axis=-1), 1.0) and phi_k.max() == 1.0  # the shifts that cancel


@pytest.mark.parametrize(
    ("kind", "window", "n_features"),
    [("full", None, None), ("local", 4, None), ("strided", 3, None), ("linear", None, 8)],
)
def test_private_attention_cost_equals_public(kind, window, n_features):
    L = np.array([1.0, 10.0, 100.0])
    got = at._attention_cost(L, 16, kind, window, n_features)
    want = at.attention_cost(L, 16, kind, window=window, n_features=n_features)
    np.testing.assert_array_equal(got.flops, want.flops)
    np.testing.assert_array_equal(got.memory, want.memory)
    assert at._attention_cost(np.array(10.0), 16, kind, window, n_features) == at.attention_cost(
        10, 16, kind, window=window, n_features=n_features
    )


# ---------------------------------------------------------------------------------------------
# attention_flops: the book's one count of attention FLOPs


def _count_attention_flops(n_queries, n_keys, d):
    """Count multiply-adds one by one: each score is a d-long dot product, each output element a
    n_keys-long weighted sum over d-wide values; 2 FLOPs per multiply-add."""
    scores = n_queries * n_keys * d
    weighted_sum = n_queries * d * n_keys
    return 2 * (scores + weighted_sum)


@pytest.mark.parametrize(("n", "k", "d", "g"), [(1, 1, 1, 1), (7, 7, 3, 1), (5, 9, 4, 3)])
def test_attention_flops_counts_multiply_adds(n, k, d, g):
    assert at.attention_flops(n, d, n_groups=g, n_keys=k) == g * _count_attention_flops(n, k, d)


def test_attention_cost_and_video_costs_use_the_one_count():
    from lilbook import diffusion

    assert diffusion.attention_flops is at.attention_flops
    lengths = np.array([16, 64, 256])
    np.testing.assert_array_equal(at.attention_cost(lengths, 8).flops, at.attention_flops(lengths, 8))
    assert diffusion.full_attention_flops(2, 4, 4, 8) == at.attention_flops(2 * 16, 8)


@pytest.mark.parametrize("bad", [0, 2.5, -1, np.inf])
def test_attention_flops_rejects_token_counts_that_are_not_whole_numbers(bad):
    with pytest.raises(ValueError, match="n_tokens must be whole numbers >= 1"):
        at.attention_flops(bad, 4)


# ---------------------------------------------------------------------------------------------
# Space-time attention patterns of video models
# ---------------------------------------------------------------------------------------------


def _brute_spacetime(t, s, pattern):
    """The same masks written token by token from the papers' definitions."""
    n = t * s
    m = np.zeros((n, n), dtype=bool)
    for i in range(n):
        fi, si = divmod(i, s)
        for j in range(n):
            fj, sj = divmod(j, s)
            if pattern in ("full", "all_frames"):
                ok = True
            elif pattern == "spatial":
                ok = fi == fj
            elif pattern == "temporal":
                ok = si == sj
            elif pattern == "sparse_causal":  # first frame and previous frame (frame 0: itself)
                ok = fj == 0 or fj == max(fi - 1, 0)
            else:  # first_frame
                ok = fj == 0
            m[i, j] = ok
    return m


@given(st.integers(1, 5), st.integers(1, 4), st.sampled_from(at.SPACETIME_PATTERNS))
@settings(max_examples=60, deadline=None, database=None)
def test_spacetime_mask_matches_token_by_token_definition(t, s, pattern):
    m = at.spacetime_mask(t, s, pattern)
    assert m.dtype == bool and m.shape == (t * s, t * s)
    assert np.array_equal(m, _brute_spacetime(t, s, pattern))


def test_spacetime_mask_key_counts():
    t, s = 6, 4
    keys = {p: at.spacetime_mask(t, s, p).sum(axis=1) for p in at.SPACETIME_PATTERNS}
    assert np.all(keys["full"] == t * s) and np.all(keys["spatial"] == s)
    assert np.all(keys["temporal"] == t) and np.all(keys["first_frame"] == s)
    # frames 0 and 1 see only frame 0; later frames see frame 0 and their predecessor
    assert keys["sparse_causal"].tolist() == [s] * 2 * s + [2 * s] * (t - 2) * s
    # sparse-causal attention never lets frame f >= 2 see itself
    m = at.spacetime_mask(t, s, "sparse_causal")
    assert not m[3 * s, 3 * s] and m[3 * s, 0] and m[3 * s, 2 * s]


def test_factorised_layer_reaches_every_token_in_two_hops():
    t, s = 5, 3
    sp, tm = at.spacetime_mask(t, s, "spatial"), at.spacetime_mask(t, s, "temporal")
    assert not sp.all() and not tm.all()
    assert at.mask_reach(sp, tm).all() and at.mask_reach(tm, sp).all()
    assert np.array_equal(at.mask_reach(sp), sp)
    # first-frame attention alone never lets frame 0 hear from the others, however deep
    ff = at.spacetime_mask(t, s, "first_frame")
    assert not at.mask_reach(ff, ff, ff)[:s, s:].any()
    # sparse-causal: information flows only forward, one frame per layer beyond the first
    sc = at.spacetime_mask(t, s, "sparse_causal")
    two = at.mask_reach(sc, sc)
    assert not np.triu(two.reshape(t, s, t, s).any(axis=(1, 3)), 1).any()
    # without the residual path a token of frame 3 never sees its own frame; with it, it does,
    # and after t - 1 layers every frame has heard from every earlier frame
    assert not at.mask_reach(sc, sc, sc)[3 * s, 3 * s]
    deep = at.mask_reach(*[sc] * (t - 1), residual=True).reshape(t, s, t, s).any(axis=(1, 3))
    assert np.array_equal(deep, np.tril(np.ones((t, t), bool)))
    with pytest.raises(TypeError, match="residual"):
        at.mask_reach(sc, residual=1)


def test_mask_attention_flops_counts_allowed_pairs():
    d = 8
    m = np.array([[True, False, True], [False, True, False]])
    assert at.mask_attention_flops(m, d) == 4 * 3 * d
    full = at.spacetime_mask(4, 3, "full")
    assert at.mask_attention_flops(full, d) == pytest.approx(4 * 12**2 * d)
    assert at.mask_attention_flops(full, d) == pytest.approx(at.attention_flops(12, d))


def test_spacetime_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="pattern"):
        at.spacetime_mask(3, 2, "diagonal")
    with pytest.raises(ValueError, match="n_frames"):
        at.spacetime_mask(0, 2, "full")
    with pytest.raises(TypeError, match="tokens_per_frame"):
        at.spacetime_mask(3, 2.0, "full")
    with pytest.raises(TypeError, match="mask"):
        at.mask_reach()
    with pytest.raises(ValueError, match="square"):
        at.mask_reach(np.ones((2, 2), bool), np.ones((3, 3), bool))
    with pytest.raises(TypeError, match="boolean"):
        at.mask_reach(np.ones((2, 2)))
    with pytest.raises(ValueError, match="no allowed key"):
        at.mask_attention_flops(np.array([[True, False], [False, False]]), 4)
    with pytest.raises(ValueError, match="shape"):
        at.mask_attention_flops(np.ones(3, bool), 4)
    with pytest.raises(ValueError, match="d_model"):
        at.mask_attention_flops(np.ones((2, 2), bool), 0)


# ---------------------------------------------------------------------------------------------
# Reachability through stacked sparse layers
# ---------------------------------------------------------------------------------------------


def brute_reach(layers, residual=True):
    """Breadth-first reachability, one layer at a time, from each query's own definition."""
    n = layers[0].shape[0]
    know = [{i} for i in range(n)]  # token i's state holds information from these positions
    for m in layers:
        new = []
        for i in range(n):
            srcs = set(know[i]) if residual else set()
            for j in range(n):
                if m[i, j]:
                    srcs |= know[j]
            new.append(srcs)
        know = new
    return know


def test_fixed_masks_by_definition():
    block, summary = at.fixed_masks(12, 4, 1)
    for i in range(12):
        for j in range(12):
            assert block[i, j] == (j <= i and i // 4 == j // 4)
            assert summary[i, j] == (j <= i and j % 4 == 3)


def test_fixed_masks_bad_input():
    with pytest.raises(ValueError, match="n_summary"):
        at.fixed_masks(12, 4, 5)
    with pytest.raises(ValueError, match="stride"):
        at.fixed_masks(12, 0, 1)
    with pytest.raises(TypeError, match="n_summary"):
        at.fixed_masks(12, 4, 1.5)


@FAST
@given(st.integers(4, 30), st.integers(1, 6), st.integers(1, 3))
def test_reach_fraction_matches_breadth_first_search(n, w, depth):
    layers = [at.local_mask(n, w), at.strided_mask(n, w)] * 2
    layers = layers[:depth]
    got = at.reach_fraction(layers)
    know = brute_reach(layers)
    pairs = n * (n + 1) / 2
    want = sum(len([j for j in know[i] if j <= i]) for i in range(n)) / pairs
    assert got[-1] == pytest.approx(want)
    assert np.all(np.diff(got) >= 0)  # with the residual path, reach never shrinks


def test_sparse_transformer_two_hops_reach_every_earlier_token():
    # window of l keys then stride l: i - j = a l + b with 0 <= b < l, one hop each
    for n, l in ((64, 8), (100, 10), (50, 7)):
        frac = at.reach_fraction([at.local_mask(n, l), at.strided_mask(n, l)])
        assert frac[0] < 1 and frac[1] == 1.0
    # a window alone grows by about l - 1 positions per layer: never complete at these depths
    assert at.reach_fraction([at.local_mask(64, 8)] * 3)[-1] < 1
    # the strided part alone never leaves its residue class
    assert at.reach_fraction([at.strided_mask(64, 8)] * 3)[-1] == pytest.approx(
        at.reach_fraction([at.strided_mask(64, 8)])[0]
    )


def test_reach_fraction_bidirectional_and_bad_input():
    g = at.global_mask(10, 1)
    assert at.reach_fraction([g], causal=False)[0] < 1
    assert at.reach_fraction([g, g], causal=False)[-1] == 1.0  # every pair via token 0
    with pytest.raises(ValueError, match="at least one"):
        at.reach_fraction([])
    with pytest.raises(TypeError, match="sequence of masks"):
        at.reach_fraction(at.causal_mask(4))
    with pytest.raises(TypeError, match="causal"):
        at.reach_fraction([at.causal_mask(4)], causal="yes")


# ---------------------------------------------------------------------------------------------
# Reformer LSH
# ---------------------------------------------------------------------------------------------


def test_lsh_two_buckets_is_random_hyperplane_hashing():
    # with b = 2 the hash is the sign of one Gaussian projection (argmax of [p, -p]), and two
    # vectors at angle θ fall on opposite sides of a random hyperplane with probability θ/π
    theta = np.array([0.0, np.pi / 6, np.pi / 3, np.pi / 2, 2.0, np.pi])
    got = at.lsh_collision_rate(theta, 2, 40_000, np.random.default_rng(0), d=8)
    np.testing.assert_allclose(got, 1 - theta / np.pi, atol=0.01)


@FAST
@given(st.sampled_from([4, 8, 16]), st.integers(0, 10_000))
def test_lsh_collision_is_certain_at_zero_impossible_at_pi_and_decreasing(b, seed):
    theta = np.linspace(0, np.pi, 7)
    p = at.lsh_collision_rate(theta, b, 3000, np.random.default_rng(seed), d=6)
    assert p[0] == 1.0 and p[-1] == 0.0  # y = -x swaps the halves [xR, -xR]
    assert np.all(np.diff(p) <= 0.03)  # decreasing up to Monte Carlo noise


def test_lsh_buckets_by_hand():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # by construction of the generator draw: recompute the rotation with the same seed
    rot = np.random.default_rng(3).standard_normal((1, 2, 2))
    proj = x @ rot[0]
    want = np.argmax(np.concatenate([proj, -proj], axis=1), axis=1)
    np.testing.assert_array_equal(at.lsh_buckets(x, 4, np.random.default_rng(3))[0], want)
    assert at.lsh_buckets(x, 4, np.random.default_rng(3), n_rounds=5).shape == (5, 3)


@pytest.mark.parametrize(
    "kwargs, err, word",
    [
        (dict(n_buckets=3), ValueError, "even"),
        (dict(n_buckets=0), ValueError, "n_buckets"),
        (dict(n_rounds=0), ValueError, "n_rounds"),
        (dict(rng=1), TypeError, "rng"),
    ],
)
def test_lsh_buckets_bad_input(kwargs, err, word):
    args = dict(x=np.ones((4, 3)), n_buckets=4, rng=np.random.default_rng(0), n_rounds=1)
    args.update(kwargs)
    with pytest.raises(err, match=word):
        at.lsh_buckets(**args)


def test_lsh_collision_rate_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="angles"):
        at.lsh_collision_rate([4.0], 4, 10, rng)
    with pytest.raises(ValueError, match="n_trials"):
        at.lsh_collision_rate([1.0], 4, 0, rng)
    with pytest.raises(ValueError, match="d must"):
        at.lsh_collision_rate([1.0], 4, 10, rng, d=1)


def test_lsh_attention_mask_by_hand():
    # buckets 1, 0, 1, 0: sorted order is positions 1, 3, 0, 2 (bucket 0 first, then by position);
    # chunks of 2 are {1, 3} and {0, 2}; chunk {0, 2} also sees the chunk before it
    m = at.lsh_attention_mask(np.array([[1, 0, 1, 0]]), 2)
    want = np.zeros((4, 4), dtype=bool)
    for a in (1, 3):
        for b in (1, 3):
            want[a, b] = True
    for a in (0, 2):
        want[a, :] = True
    np.testing.assert_array_equal(m, want)
    np.testing.assert_array_equal(
        at.lsh_attention_mask(np.array([[1, 0, 1, 0]]), 2, causal=True), want & at.causal_mask(4)
    )


@FAST
@given(st.integers(2, 40), st.integers(1, 10), st.integers(1, 3), st.integers(0, 10_000))
def test_lsh_mask_rounds_are_a_union_and_one_bucket_is_local(n, c, rounds, seed):
    h = np.random.default_rng(seed).integers(0, 4, size=(rounds, n))
    union = np.zeros((n, n), dtype=bool)
    for r in range(rounds):
        union |= at.lsh_attention_mask(h[r : r + 1], c)
    np.testing.assert_array_equal(at.lsh_attention_mask(h, c), union)
    # a single bucket keeps the original order: chunk c sees itself and the chunk before
    same = at.lsh_attention_mask(np.zeros((1, n), dtype=int), c)
    ci = np.arange(n) // c
    np.testing.assert_array_equal(same, (ci[:, None] - ci[None, :] >= 0) & (ci[:, None] - ci[None, :] <= 1))


def test_lsh_mask_and_mass_covered_bad_input():
    with pytest.raises(TypeError, match="integer"):
        at.lsh_attention_mask(np.ones((1, 4)), 2)
    with pytest.raises(ValueError, match="n_rounds, seq"):
        at.lsh_attention_mask(np.ones(4, dtype=int), 2)
    with pytest.raises(ValueError, match="chunk_size"):
        at.lsh_attention_mask(np.ones((1, 4), dtype=int), 0)
    w = np.full((2, 2), 0.5)
    assert at.mass_covered(w, np.array([[True, False], [True, True]])) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="same 2-D shape"):
        at.mass_covered(w, np.ones((2, 3), dtype=bool))
    with pytest.raises(ValueError, match="weights"):
        at.mass_covered(-w, np.ones((2, 2), dtype=bool))


# ---------------------------------------------------------------------------------------------
# Blocked exact attention and running-sum causal linear attention
# ---------------------------------------------------------------------------------------------


@FAST
@given(st.integers(1, 40), st.integers(1, 50), st.integers(0, 10_000))
def test_blocked_causal_attention_matches_loops(n, block, seed):
    q, k, v = rand(seed, 3, n, 4)
    want, _ = loop_attention(q, k, v, allowed=np.tril(np.ones((n, n), dtype=bool)))
    np.testing.assert_allclose(at.blocked_causal_attention(q, k, v, block), want, atol=1e-12)


def causal_kernel_loops(phi_q, phi_k, v):
    out = np.zeros((len(phi_q), v.shape[1]))
    for i in range(len(phi_q)):
        w = np.array([phi_q[i] @ phi_k[j] for j in range(i + 1)])
        out[i] = w @ v[: i + 1] / w.sum()
    return out


@FAST
@given(st.integers(1, 40), st.integers(1, 50), st.integers(0, 10_000))
def test_causal_linear_attention_matches_loops(n, chunk, seed):
    q, k, v = rand(seed, 3, n, 5)
    elu1 = lambda x: np.where(x > 0, x + 1, np.exp(x))  # noqa: E731
    want = causal_kernel_loops(elu1(q), elu1(k), v)
    np.testing.assert_allclose(at.causal_linear_attention(q, k, v, chunk=chunk), want, atol=1e-10)


def test_causal_linear_attention_softmax_features_agree_with_prefix_version():
    rng = np.random.default_rng(4)
    q, k, v = 0.5 * rng.standard_normal((3, 50, 8))
    w = at.performer_projection(8, 64, rng)
    np.testing.assert_allclose(
        at.causal_linear_attention(q, k, v, "softmax", w, chunk=7),
        at.linear_attention(q, k, v, "softmax", w, causal=True),
        atol=1e-12,
    )


def test_blocked_and_running_sum_bad_input():
    q = np.ones((4, 3))
    with pytest.raises(ValueError, match="shape"):
        at.blocked_causal_attention(q, q, np.ones((5, 3)))
    with pytest.raises(ValueError, match="block"):
        at.blocked_causal_attention(q, q, q, 0)
    with pytest.raises(ValueError, match="seq, d"):
        at.causal_linear_attention(np.ones(3), q, q)
    with pytest.raises(ValueError, match="chunk"):
        at.causal_linear_attention(q, q, q, chunk=0)
    with pytest.raises(TypeError, match="projection"):
        at.causal_linear_attention(q, q, q, "softmax")
    with pytest.raises(ValueError, match="feature_map"):
        at.causal_linear_attention(q, q, q, "relu")
