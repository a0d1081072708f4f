"""Attention from scratch, positional encodings, efficient-attention patterns and adaptive depth.

Companion module to the chapter *The Transformer Family* (after Lilian Weng's post "The
Transformer Family Version 2.0", 2023). Everything is plain numpy so that the code that *is*
the idea stays short enough to read in the page.

Conventions
-----------
* Arrays of queries, keys and values have shape ``(..., seq, dim)``; leading batch and head
  dimensions broadcast against each other (numpy rules).
* A mask is a boolean array, ``True`` where a query may attend to a key, broadcastable to
  ``(..., seq_q, seq_k)``.
* A query row in which every key is masked has no defined attention distribution; the functions
  here raise ``ValueError`` for it rather than return NaN.
* FLOP counts treat one multiply-add as 2 FLOPs and ignore the exponentials of the softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from lilbook._checks import (
    FloatOrArray,
    as_output,
    check_bool,
    describe,
    finite_array,
    generator,
    int_in_range,
    positive_int,
    positive_scalar,
    probabilities,
    real_array,
)
from lilbook.runtime import matmul

__all__ = [
    "AttentionCost",
    "act_halting",
    "adaptive_span_mask",
    "alibi_bias",
    "alibi_slopes",
    "attention_cost",
    "attention_flops",
    "attention_flops_fraction",
    "bigbird_mask",
    "causal_mask",
    "global_mask",
    "gtrxl_gate",
    "indices_to_mask",
    "linear_attention",
    "local_indices",
    "local_mask",
    "mask_attention_flops",
    "mask_reach",
    "multi_head_attention",
    "performer_projection",
    "positive_random_features",
    "random_mask",
    "rotary_embedding",
    "scaled_dot_product_attention",
    "sinusoidal_encoding",
    "softmax",
    "SPACETIME_PATTERNS",
    "spacetime_mask",
    "sparse_attention",
    "strided_indices",
    "strided_mask",
    "ponder_toy",
    "blocked_causal_attention",
    "causal_linear_attention",
    "fixed_masks",
    "lsh_attention_mask",
    "lsh_buckets",
    "lsh_collision_rate",
    "mass_covered",
    "reach_fraction",
]


# ---------------------------------------------------------------------------------------------
# Input helpers
# ---------------------------------------------------------------------------------------------


def _check_at_least_2d(x: object, name: str) -> NDArray[np.float64]:
    arr = finite_array(x, name)
    if arr.ndim < 2:
        raise ValueError(f"{name} must have shape (..., seq, dim) with at least 2 dimensions; got shape {arr.shape}")
    return arr


def _bool_mask(mask: object, name: str = "mask") -> NDArray[np.bool_]:
    if mask is None:
        raise TypeError(f"{name} must be a boolean array, got None")
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean array (True where attention is allowed); got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


# ---------------------------------------------------------------------------------------------
# Softmax and scaled dot-product attention
# ---------------------------------------------------------------------------------------------


def softmax(logits: object, mask: object = None, axis: int = -1) -> NDArray[np.float64]:
    """Numerically stable softmax along ``axis``, with masked entries given weight exactly 0.

    The largest allowed logit of each row is subtracted before exponentiating, so logits of any
    finite size give finite weights.

    Raises
    ------
    ValueError
        If ``logits`` is not finite, or a row has every entry masked (no distribution exists).
    """
    z = finite_array(logits, "logits")
    if mask is not None:
        z = np.where(_check_mask(mask, z.shape, axis), z, -np.inf)
    shift = np.max(z, axis=axis, keepdims=True)
    e = np.exp(z - shift)
    return e / np.sum(e, axis=axis, keepdims=True)


def _check_mask(mask: object, shape: tuple[int, ...], axis: int = -1) -> NDArray[np.bool_]:
    """``mask`` as a boolean array of ``shape``, with at least one True in every row along ``axis``."""
    m = _bool_mask(mask)
    try:
        m = np.broadcast_to(m, shape)
    except ValueError:
        raise ValueError(f"mask of shape {m.shape} does not broadcast to the logits' shape {shape}") from None
    if not np.all(np.any(m, axis=axis)):
        raise ValueError(
            "mask leaves a query row with no allowed key; every row needs at least one True "
            "(a fully masked row has no attention distribution)"
        )
    return m


def scaled_dot_product_attention(
    q: object, k: object, v: object, mask: object = None, bias: object = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """softmax(q kᵀ / √d_k + bias) v, returning the output and the attention weights.

    Parameters
    ----------
    q : array (..., seq_q, d_k)
    k : array (..., seq_k, d_k)
    v : array (..., seq_k, d_v)
        Leading dimensions broadcast (batch, heads, ...).
    mask : bool array broadcastable to (..., seq_q, seq_k), optional
        True where query i may attend to key j. A row with no True raises ValueError.
    bias : array broadcastable to (..., seq_q, seq_k), optional
        Added to the scaled scores before the softmax (e.g. ALiBi's distance penalty).

    Returns
    -------
    output : array (..., seq_q, d_v)
    weights : array (..., seq_q, seq_k), rows summing to 1
    """
    q = _check_at_least_2d(q, "q")
    k = _check_at_least_2d(k, "k")
    v = _check_at_least_2d(v, "v")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share the last dimension d_k; got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same sequence length; got {k.shape[-2]} and {v.shape[-2]}")
    bias = _check_attention_shapes(q, k, v, mask, bias)
    return _scaled_dot_product_attention(q, k, v, mask, bias)


def _check_attention_shapes(
    q: NDArray[np.float64], k: NDArray[np.float64], v: NDArray[np.float64], mask: object, bias: object
) -> NDArray[np.float64] | None:
    """The checked ``bias`` (or None), after checking that the batch dimensions of q, k, the bias, the
    mask and v broadcast, in the order :func:`_scaled_dot_product_attention` combines them."""
    try:
        scores_shape = (*np.broadcast_shapes(q.shape[:-2], k.shape[:-2]), q.shape[-2], k.shape[-2])
    except ValueError:
        raise ValueError(f"batch dimensions of q {q.shape} and k {k.shape} do not broadcast") from None
    b = None
    if bias is not None:
        b = finite_array(bias, "bias")
        try:
            scores_shape = np.broadcast_shapes(scores_shape, b.shape)
        except ValueError:
            raise ValueError(f"bias of shape {b.shape} does not broadcast to the scores' shape {scores_shape}") from None
    if mask is not None:
        _check_mask(mask, scores_shape)
    try:
        if scores_shape[-1] != v.shape[-2]:  # a bias can stretch a single key to several
            raise ValueError
        np.broadcast_shapes(scores_shape[:-2], v.shape[:-2])
    except ValueError:
        raise ValueError(f"batch dimensions of the weights {scores_shape} and v {v.shape} do not broadcast") from None
    return b


def _scaled_dot_product_attention(
    q: NDArray[np.float64],
    k: NDArray[np.float64],
    v: NDArray[np.float64],
    mask: NDArray[np.bool_] | None,
    bias: NDArray[np.float64] | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """softmax(q kᵀ / √d_k + bias) v and the weights, for inputs already checked."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    weights = softmax(scores, mask)  # masked keys get weight exactly 0
    return weights @ v, weights


def causal_mask(seq_len: int) -> NDArray[np.bool_]:
    """(seq_len, seq_len) boolean mask, True where key position j <= query position i."""
    n = positive_int(seq_len, "seq_len")
    return np.tril(np.ones((n, n), dtype=bool))


def _check_weight(w: object, name: str, shape: tuple[int, int]) -> NDArray[np.float64]:
    arr = finite_array(w, name)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
    return arr


def multi_head_attention(
    x: object,
    w_q: object,
    w_k: object,
    w_v: object,
    w_o: object,
    n_heads: int,
    mask: object = None,
    bias: object = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Multi-head self-attention of ``x`` (..., seq, d_model).

    ``w_q``, ``w_k``, ``w_v`` and ``w_o`` are (d_model, d_model) matrices; the projected queries,
    keys and values are split into ``n_heads`` heads of width d_model / n_heads, each head
    attends on its own, and the heads are concatenated and mixed by ``w_o``. ``mask`` (and an
    optional additive ``bias``) broadcast to (..., n_heads, seq, seq).

    Returns the output (..., seq, d_model) and the weights (..., n_heads, seq, seq).
    """
    x = _check_at_least_2d(x, "x")
    h = positive_int(n_heads, "n_heads")
    if x.shape[-1] % h:
        raise ValueError(f"n_heads must divide d_model; got d_model={x.shape[-1]}, n_heads={h}")
    w_q, w_k, w_v, w_o = (
        _check_weight(w, name, (x.shape[-1], x.shape[-1]))
        for w, name in ((w_q, "w_q"), (w_k, "w_k"), (w_v, "w_v"), (w_o, "w_o"))
    )
    return _multi_head_attention(x, w_q, w_k, w_v, w_o, h, mask, bias)


def _multi_head_attention(
    x: NDArray[np.float64],
    w_q: NDArray[np.float64],
    w_k: NDArray[np.float64],
    w_v: NDArray[np.float64],
    w_o: NDArray[np.float64],
    n_heads: int,
    mask: object,
    bias: object,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Multi-head self-attention for checked inputs (n_heads divides d_model)."""
    d_model = x.shape[-1]
    d_head = d_model // n_heads

    def split(t: NDArray[np.float64]) -> NDArray[np.float64]:  # (..., seq, d) -> (..., h, seq, d_head)
        return np.swapaxes(t.reshape(*t.shape[:-1], n_heads, d_head), -2, -3)

    heads, weights = scaled_dot_product_attention(split(x @ w_q), split(x @ w_k), split(x @ w_v), mask, bias)
    concat = np.swapaxes(heads, -2, -3).reshape(*x.shape[:-1], d_model)
    return concat @ w_o, weights


# ---------------------------------------------------------------------------------------------
# Positional encodings
# ---------------------------------------------------------------------------------------------


def _even(d: object, name: str) -> int:
    n = positive_int(d, name)
    if n % 2:
        raise ValueError(f"{name} must be even (sin/cos pairs); got {n}")
    return n


def sinusoidal_encoding(n_positions: int, d_model: int) -> NDArray[np.float64]:
    """The fixed encoding of Vaswani et al.: PE[i, 2k] = sin(i / 10000^(2k/d)), PE[i, 2k+1] = cos(...).

    Returns an array of shape (n_positions, d_model); ``d_model`` must be even.
    """
    n = positive_int(n_positions, "n_positions")
    d = _even(d_model, "d_model")
    freq = 10000.0 ** (-np.arange(0, d, 2) / d)  # (d/2,)
    angle = np.arange(n)[:, None] * freq[None, :]
    pe = np.empty((n, d))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle)
    return pe


def rotary_embedding(x: object, positions: object, base: float = 10000.0) -> NDArray[np.float64]:
    """Rotary position embedding (RoPE): rotate each consecutive pair (x[2k], x[2k+1]) of the last
    dimension by the angle position * base^(-2k/d).

    ``x`` has shape (..., seq, d) with d even; ``positions`` is a 1-d array of length seq (real
    positions are allowed). Because rotations compose, the dot product of a rotated query at
    position m and a rotated key at position n depends on m and n only through n - m.
    """
    x = _check_at_least_2d(x, "x")
    if x.shape[-1] % 2:
        raise ValueError(f"the last dimension of x must be even (pairs are rotated); got {x.shape[-1]}")
    pos = finite_array(positions, "positions")
    if pos.ndim != 1 or pos.shape[0] != x.shape[-2]:
        raise ValueError(f"positions must be 1-d with one entry per row of x (length {x.shape[-2]}); got shape {pos.shape}")
    b = positive_scalar(base, "base")
    if b <= 1:
        raise ValueError(f"base must be > 1 (allowed range: 1 < base < inf); got {b!r}")
    return _rotary_embedding(x, pos, b)


def _rotary_embedding(x: NDArray[np.float64], positions: NDArray[np.float64], base: float) -> NDArray[np.float64]:
    """RoPE for checked inputs: x (..., seq, d) with d even, positions (seq,), base > 1."""
    d = x.shape[-1]
    theta = base ** (-np.arange(0, d, 2) / d)  # (d/2,)
    angle = positions[:, None] * theta[None, :]  # (seq, d/2)
    cos, sin = np.cos(angle), np.sin(angle)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out


def alibi_slopes(n_heads: int) -> NDArray[np.float64]:
    """ALiBi's per-head slopes (Press et al.).

    For n heads with n a power of two the slopes are the geometric sequence 2^(-8/n), 2^(-16/n),
    ..., 2^(-8). Otherwise, as in the authors' code, take the slopes for the largest power of two
    p < n and fill the rest with every other slope of the 2p-head sequence.
    """
    n = positive_int(n_heads, "n_heads")

    def power_of_two(m: int) -> NDArray[np.float64]:
        return 2.0 ** (-8.0 * np.arange(1, m + 1) / m)

    p = 1 << (n.bit_length() - 1)
    if p == n:
        return power_of_two(n)
    return np.concatenate([power_of_two(p), power_of_two(2 * p)[0::2][: n - p]])


def alibi_bias(n_heads: int, seq_len: int) -> NDArray[np.float64]:
    """ALiBi's additive bias, shape (n_heads, seq_len, seq_len): -slope_h * |i - j|.

    In a causal model the entries above the diagonal are masked anyway; for them the formula gives
    the symmetric penalty.
    """
    slopes = alibi_slopes(n_heads)
    n = positive_int(seq_len, "seq_len")
    dist = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :])
    return -slopes[:, None, None] * dist[None, :, :]


# ---------------------------------------------------------------------------------------------
# Sparse attention patterns as masks
# ---------------------------------------------------------------------------------------------


def _offsets(seq_len: int) -> NDArray[np.int64]:
    n = positive_int(seq_len, "seq_len")
    i = np.arange(n)
    return i[:, None] - i[None, :]  # query minus key


def local_mask(seq_len: int, window: int, causal: bool = True) -> NDArray[np.bool_]:
    """Sliding window: query i sees key j when 0 <= i - j < window (causal) or |i - j| < window."""
    off = _offsets(seq_len)
    w = positive_int(window, "window")
    if check_bool(causal, "causal"):
        return (off >= 0) & (off < w)
    return np.abs(off) < w


def strided_mask(seq_len: int, stride: int, causal: bool = True) -> NDArray[np.bool_]:
    """Strided pattern of the Sparse Transformer: key j is visible when (i - j) mod stride == 0
    (and j <= i when causal)."""
    off = _offsets(seq_len)
    s = positive_int(stride, "stride")
    allowed = off % s == 0
    return allowed & (off >= 0) if check_bool(causal, "causal") else allowed


def global_mask(seq_len: int, n_global: int) -> NDArray[np.bool_]:
    """The first ``n_global`` tokens attend to everything and are attended to by every query."""
    n = positive_int(seq_len, "seq_len")
    g = int_in_range(n_global, "n_global", 0, n)
    m = np.zeros((n, n), dtype=bool)
    m[:g, :] = True
    m[:, :g] = True
    return m


def random_mask(seq_len: int, n_random: int, rng: np.random.Generator) -> NDArray[np.bool_]:
    """Each query attends to ``n_random`` keys drawn without replacement (BigBird's random part)."""
    n = positive_int(seq_len, "seq_len")
    r = int_in_range(n_random, "n_random", 0, n)
    gen = generator(rng)
    m = np.zeros((n, n), dtype=bool)
    for i in range(n):
        m[i, gen.choice(n, size=r, replace=False)] = True
    return m


def bigbird_mask(
    seq_len: int, window: int, n_global: int, n_random: int, rng: np.random.Generator
) -> NDArray[np.bool_]:
    """BigBird's bidirectional pattern: sliding window ∪ global tokens ∪ random keys."""
    return (
        local_mask(seq_len, window, causal=False)
        | global_mask(seq_len, n_global)
        | random_mask(seq_len, n_random, rng)
    )


# ---------------------------------------------------------------------------------------------
# Attention patterns over the tokens of a video (frames x tokens per frame)
# ---------------------------------------------------------------------------------------------

SPACETIME_PATTERNS = ("full", "spatial", "temporal", "sparse_causal", "first_frame", "all_frames")


def spacetime_mask(n_frames: int, tokens_per_frame: int, pattern: str) -> NDArray[np.bool_]:
    """Which key each query may attend to, for a clip of ``n_frames`` x ``tokens_per_frame`` tokens.

    Tokens are numbered frame by frame (token ``f * S + s`` is position ``s`` of frame ``f``), so
    the mask is ``(T S, T S)``. Patterns:

    * ``"full"``: every token sees every token of every frame (joint space-time attention);
    * ``"spatial"``: only the tokens of its own frame; ``"temporal"``: only the same position in
      every frame (the two passes of a factorised layer);
    * ``"sparse_causal"``: the tokens of the first and of the previous frame (Tune-A-Video; the
      first frame, having no previous one, sees itself);
    * ``"first_frame"``: the tokens of the first frame only (Text2Video-Zero's cross-frame
      attention);
    * ``"all_frames"``: the tokens of all frames (ControlVideo's fully cross-frame attention),
      the same mask as ``"full"``, reached by reusing a spatial layer's weights on the whole clip.
    """
    t = positive_int(n_frames, "n_frames")
    s = positive_int(tokens_per_frame, "tokens_per_frame")
    if pattern not in SPACETIME_PATTERNS:
        raise ValueError(f"pattern must be one of {SPACETIME_PATTERNS}; got {pattern!r}")
    return _spacetime_mask(t, s, pattern)


def _spacetime_mask(t: int, s: int, pattern: str) -> NDArray[np.bool_]:
    """Frame-level rule (which key frames a query frame sees), expanded to the tokens."""
    q, k = np.arange(t)[:, None], np.arange(t)[None, :]  # query frame, key frame
    if pattern == "temporal":  # every frame, but only the same position s
        return np.kron(np.ones((t, t), dtype=bool), np.eye(s, dtype=bool)).astype(bool)
    frames = {
        "full": np.ones((t, t), dtype=bool),
        "all_frames": np.ones((t, t), dtype=bool),
        "spatial": q == k,
        "sparse_causal": (k == 0) | (k == np.maximum(q - 1, 0)),
        "first_frame": np.broadcast_to(k == 0, (t, t)),
    }[pattern]
    return np.kron(frames, np.ones((s, s), dtype=bool)).astype(bool)


def mask_reach(*masks: object, residual: bool = False) -> NDArray[np.bool_]:
    """Which tokens can reach which after attention layers with these masks, applied in order.

    After one layer, query i holds information from key j when ``masks[0][i, j]``; after a second
    layer, when some token k has ``masks[1][i, k]`` and ``masks[0][k, j]`` (a boolean matrix
    product), and so on. With ``residual=True`` every token also keeps its own information
    through the residual connection (each mask gains its diagonal). Every mask must be square
    and of the same size.
    """
    checked = _check_square_masks(masks)
    keep_own = check_bool(residual, "residual")
    return _mask_reach(checked, keep_own)


def _check_square_masks(masks: tuple[object, ...]) -> list[NDArray[np.bool_]]:
    if not masks:
        raise TypeError("mask_reach needs at least one mask")
    checked = [_bool_mask(m, f"masks[{i}]") for i, m in enumerate(masks)]
    n = checked[0].shape[0]
    for i, m in enumerate(checked):
        if m.ndim != 2 or m.shape != (n, n):
            raise ValueError(f"masks[{i}] must be square with the shape of masks[0], {(n, n)}; got {m.shape}")
    return checked


def _mask_reach(masks: list[NDArray[np.bool_]], residual: bool) -> NDArray[np.bool_]:
    """Layer by layer: i holds j's information if some k that i reads already holds it."""
    n = masks[0].shape[0]
    if residual:  # the skip connection: every token also keeps what it had
        masks = [m | np.eye(n, dtype=bool) for m in masks]
    reach = masks[0]
    for m in masks[1:]:
        reach = (m.astype(np.float64) @ reach.astype(np.float64)) > 0  # a boolean matrix product
    return reach


def mask_attention_flops(mask: object, d_model: int) -> float:
    """FLOPs of attention restricted to ``mask``: each allowed (query, key) pair is scored and
    weighted once, so :func:`attention_flops` for one query over ``mask.sum()`` keys.

    Every query row must allow at least one key."""
    m = _bool_mask(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must have shape (n_queries, n_keys); got shape {m.shape}")
    if not np.all(m.any(axis=1)):
        raise ValueError("mask leaves a query row with no allowed key; every row needs at least one True")
    return _mask_attention_flops(m, positive_int(d_model, "d_model"))


def _mask_attention_flops(mask: NDArray[np.bool_], d_model: int) -> float:
    """Each allowed (query, key) pair costs one score and one weighted value: price them all
    with the book's one attention count, as a single query over ``mask.sum()`` keys."""
    return float(attention_flops(1, d_model, n_keys=int(mask.sum())))


# ---------------------------------------------------------------------------------------------
# Sparse attention computed without the L x L matrix
# ---------------------------------------------------------------------------------------------


def local_indices(seq_len: int, window: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Key indices for causal sliding-window attention: row i lists i - window + 1, ..., i.

    Returns ``(index, valid)`` of shape (seq_len, window); ``valid`` is False for the padding
    slots before the start of the sequence.
    """
    n = positive_int(seq_len, "seq_len")
    w = positive_int(window, "window")
    idx = np.arange(n)[:, None] - np.arange(w)[None, ::-1]
    return np.clip(idx, 0, None), idx >= 0


def strided_indices(seq_len: int, stride: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Key indices for the Sparse Transformer's strided pattern (causal): the previous ``stride``
    positions plus every ``stride``-th position further back.

    Each row holds stride + ceil(seq_len / stride) slots, so with stride ≈ √L the cost per query
    is O(√L). Returns ``(index, valid)``; slots before the start of the sequence are invalid.
    """
    n = positive_int(seq_len, "seq_len")
    s = positive_int(stride, "stride")
    local = np.arange(n)[:, None] - np.arange(s)[None, :]
    n_far = -(-n // s)
    far = np.arange(n)[:, None] - s * np.arange(1, n_far + 1)[None, :]
    idx = np.concatenate([local, far], axis=1)
    # local offsets are 0..s-1 and far offsets s, 2s, ...: no key is listed twice in a row
    return np.clip(idx, 0, None), idx >= 0


def indices_to_mask(index: object, valid: object) -> NDArray[np.bool_]:
    """The (seq, seq) boolean mask equivalent to an ``(index, valid)`` pair of shape (seq, n_keys)."""
    n = np.shape(index)[0] if np.ndim(index) >= 1 else 0
    if n < 1:
        raise ValueError(f"index must have shape (seq, n_keys); got shape {np.shape(index)}")
    idx, ok = _check_index(index, valid, n)
    m = np.zeros((n, n), dtype=bool)
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)
    m[rows[ok], idx[ok]] = True
    return m


def _check_index(index: object, valid: object, n: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    idx = np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"index must be an integer array; got dtype {idx.dtype}")
    ok = _bool_mask(valid, "valid")
    if idx.ndim != 2 or idx.shape[0] != n or ok.shape != idx.shape:
        raise ValueError(f"index and valid must both have shape ({n}, n_keys); got {idx.shape} and {ok.shape}")
    if np.any((idx < 0) | (idx >= n)):
        raise ValueError(f"index entries must lie in [0, {n - 1}]")
    if not np.all(np.any(ok, axis=1)):
        raise ValueError("valid leaves a query with no key; every row needs at least one True")
    return idx.astype(np.int64), ok


def sparse_attention(
    q: object, k: object, v: object, index: object, valid: object
) -> NDArray[np.float64]:
    """Attention in which query i looks only at the keys ``index[i, valid[i]]``.

    ``q``, ``k``, ``v`` have shape (..., seq, d); ``index`` and ``valid`` have shape
    (seq, n_keys). Only seq * n_keys scores are formed, so time and memory grow like
    O(seq * n_keys * d) instead of O(seq² d). Returns the output (..., seq, d_v).
    """
    q = _check_at_least_2d(q, "q")
    k = _check_at_least_2d(k, "k")
    v = _check_at_least_2d(v, "v")
    n = q.shape[-2]
    if k.shape[-2] != n or v.shape[-2] != n or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q, k, v must be self-attention shapes (..., seq, d); got {q.shape}, {k.shape}, {v.shape}")
    idx, ok = _check_index(index, valid, n)
    kg = k[..., idx, :]  # (..., seq, n_keys, d)
    vg = v[..., idx, :]
    scores = np.einsum("...id,...ijd->...ij", q, kg) / np.sqrt(q.shape[-1])
    w = softmax(scores, ok)
    return np.einsum("...ij,...ijd->...id", w, vg)


# ---------------------------------------------------------------------------------------------
# Kernelised linear attention
# ---------------------------------------------------------------------------------------------


def performer_projection(d: int, n_features: int, rng: np.random.Generator, orthogonal: bool = True) -> NDArray[np.float64]:
    """Random Gaussian projection (n_features, d) for positive random features.

    With ``orthogonal=True`` the rows come in blocks of d mutually orthogonal directions whose
    norms are redrawn from the chi distribution, as in Performer's FAVOR+ (lower variance).
    """
    dd = positive_int(d, "d")
    m = positive_int(n_features, "n_features")
    gen = generator(rng)
    if not check_bool(orthogonal, "orthogonal"):
        return gen.standard_normal((m, dd))
    blocks = []
    for _ in range(-(-m // dd)):
        qmat, rmat = np.linalg.qr(gen.standard_normal((dd, dd)))
        qmat = qmat * np.sign(np.diag(rmat))  # sign fix: Haar-distributed rotation
        norms = np.sqrt(gen.chisquare(dd, size=dd))
        blocks.append(qmat.T * norms[:, None])
    return np.concatenate(blocks, axis=0)[:m]


def _prf_logits(x: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
    return x @ w.T - 0.5 * np.sum(x * x, axis=-1, keepdims=True)


def positive_random_features(x: object, projection: object) -> NDArray[np.float64]:
    """φ(x) = exp(W x - |x|²/2) / √m, so that E[φ(x)·φ(y)] = exp(x·y) (Performer's FAVOR+).

    ``x`` has shape (..., seq, d), ``projection`` W has shape (m, d), for example from
    :func:`performer_projection`. Raises ValueError if the features overflow (inputs too large
    for the plain formula; :func:`linear_attention` rescales them safely).
    """
    x = _check_at_least_2d(x, "x")
    w = _check_projection(projection, x.shape[-1])
    with np.errstate(over="ignore"):
        phi = np.exp(_prf_logits(x, w)) / np.sqrt(w.shape[0])
    if not np.all(np.isfinite(phi)):
        raise ValueError("positive random features overflow: x is too large for exp(W x - |x|^2/2)")
    return phi


def _check_projection(projection: object, d: int) -> NDArray[np.float64]:
    w = finite_array(projection, "projection")
    if w.ndim != 2 or w.shape[1] != d:
        raise ValueError(f"projection must have shape (n_features, {d}); got {w.shape}")
    return w


def linear_attention(
    q: object,
    k: object,
    v: object,
    feature_map: str = "elu",
    projection: object = None,
    causal: bool = False,
) -> NDArray[np.float64]:
    """Kernelised attention: φ(q)ᵀ (Σ_j φ(k_j) v_jᵀ) / φ(q)ᵀ Σ_j φ(k_j), never forming the
    (seq × seq) matrix.

    ``feature_map="elu"`` uses φ(x) = elu(x) + 1 (positive, deterministic); ``"softmax"`` uses
    positive random features with the given ``projection`` (m, d) applied to q and k scaled by
    d^(-1/4), which approximates softmax(q kᵀ/√d) attention as m grows. ``causal=True`` uses
    prefix sums so that query i only sees keys j <= i. Cost O(seq · m · d).
    """
    q = _check_at_least_2d(q, "q")
    k = _check_at_least_2d(k, "k")
    v = _check_at_least_2d(v, "v")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"incompatible shapes q {q.shape}, k {k.shape}, v {v.shape}")
    is_causal = check_bool(causal, "causal")
    if is_causal and q.shape[-2] != k.shape[-2]:
        raise ValueError("causal linear attention needs as many queries as keys")
    if feature_map not in ("elu", "softmax"):
        raise ValueError(f"feature_map must be 'elu' or 'softmax'; got {feature_map!r}")
    if feature_map == "softmax":
        if projection is None:
            raise TypeError("projection is required for feature_map='softmax' (see performer_projection)")
        projection = _check_projection(projection, q.shape[-1])
    return _linear_attention(q, k, v, feature_map, projection, is_causal)


def _linear_attention(
    q: NDArray[np.float64],
    k: NDArray[np.float64],
    v: NDArray[np.float64],
    feature_map: str,
    projection: NDArray[np.float64] | None,
    causal: bool,
) -> NDArray[np.float64]:
    """Kernelised attention φ(q)ᵀ (Σ_j φ(k_j) v_jᵀ) / φ(q)ᵀ Σ_j φ(k_j) for checked inputs."""
    phi_q, phi_k = _feature_maps(q, k, feature_map, projection)  # (..., seq, m)
    if causal:  # prefix sums: query i only sees keys j <= i
        kv = np.cumsum(phi_k[..., :, :, None] * v[..., :, None, :], axis=-3)  # (..., seq, m, d_v)
        z = np.cumsum(phi_k, axis=-2)  # (..., seq, m)
        num = np.einsum("...im,...imd->...id", phi_q, kv)
        den = np.einsum("...im,...im->...i", phi_q, z)
    else:  # one (m, d_v) summary of all keys and values, shared by every query
        kv = np.swapaxes(phi_k, -1, -2) @ v  # (..., m, d_v)
        num = phi_q @ kv
        den = phi_q @ np.sum(phi_k, axis=-2)[..., :, None]
        den = den[..., 0]
    return num / _check_normaliser(den)[..., None]


def _feature_maps(
    q: NDArray[np.float64], k: NDArray[np.float64], feature_map: str, projection: NDArray[np.float64] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The positive features φ(q), φ(k): elu(x) + 1, or Performer's random features of x / d^(1/4)."""
    if feature_map == "elu":
        phi_q = np.where(q > 0, q + 1.0, np.exp(np.minimum(q, 0.0)))
        phi_k = np.where(k > 0, k + 1.0, np.exp(np.minimum(k, 0.0)))
        return phi_q, phi_k
    scale = q.shape[-1] ** -0.25
    lq, lk = _prf_logits(q * scale, projection), _prf_logits(k * scale, projection)
    # a factor common to one query row, or to all keys, cancels between numerator and
    # denominator: subtract the row maximum for queries and the global maximum for keys
    phi_q = np.exp(lq - np.max(lq, axis=-1, keepdims=True))
    phi_k = np.exp(lk - np.max(lk, axis=(-2, -1), keepdims=True))
    return phi_q, phi_k


def _check_normaliser(den: NDArray[np.float64]) -> NDArray[np.float64]:
    if not np.all(np.isfinite(den) & (den > 0)):
        raise ValueError("the linear-attention normaliser underflowed; inputs are too large for this feature map")
    return den


# ---------------------------------------------------------------------------------------------
# Cost formulas
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionCost:
    """Cost of one attention head over a sequence: FLOPs and the number of stored scores/state."""

    flops: float
    memory: float


def attention_flops(
    n_tokens: object, d_model: int, n_groups: object = 1, n_keys: object | None = None
) -> FloatOrArray:
    """FLOPs of the attention core (scores ``Q K^T`` and the weighted sum ``A V``).

    The book's one count of attention FLOPs: :func:`attention_cost` (one head over a sequence)
    and the space-time attention costs of :mod:`lilbook.diffusion` are built on it.

    ``n_groups`` independent attentions, each with ``n_tokens`` queries attending to ``n_keys``
    keys (default: the same ``n_tokens``, i.e. self-attention), width ``d_model``:
    ``n_groups * 4 * n_tokens * n_keys * d_model`` (a multiply-add counts as two FLOPs; the
    softmax and the Q/K/V/output projections, which cost the same for every way of grouping the
    tokens, are left out).
    """
    n = real_array(n_tokens, "n_tokens")
    g = real_array(n_groups, "n_groups")
    k = n if n_keys is None else real_array(n_keys, "n_keys")
    for name, arr in (("n_tokens", n), ("n_groups", g), ("n_keys", k)):
        bad = ~np.isfinite(arr) | (arr < 1) | (arr != np.round(arr))
        if np.any(bad):
            raise ValueError(f"{name} must be whole numbers >= 1; {describe(arr, bad)}")
    d = positive_int(d_model, "d_model")
    return as_output(g * 4.0 * n * k * d)


def attention_cost(
    seq_len: object, d_head: int, kind: str = "full", window: int | None = None, n_features: int | None = None
) -> AttentionCost:
    """Analytic FLOPs and memory of one head (multiply-add = 2 FLOPs; softmax exps ignored).

    kind : "full"     every query scores every key: 4 L² d FLOPs, L² scores stored.
           "local"    sliding window of ``window`` keys: 4 L w d FLOPs, L w scores.
           "strided"  Sparse Transformer pattern, window + ceil(L / window) keys per query
                      (pass window ≈ √L for the O(L√L) regime).
           "linear"   kernelised with ``n_features`` = m features: 4 L m d FLOPs for the two
                      products plus 4 L m for the normaliser; stores L m features and an m × d state.
    ``seq_len`` may be an array (costs are returned as arrays then).
    """
    L = real_array(seq_len, "seq_len")
    if np.any(~np.isfinite(L) | (L < 1) | (L != np.round(L))):
        raise ValueError("seq_len must contain integers >= 1")
    d = positive_int(d_head, "d_head")
    if kind not in ("full", "local", "strided", "linear"):
        raise ValueError(f"kind must be 'full', 'local', 'strided' or 'linear'; got {kind!r}")
    if kind in ("local", "strided"):
        if window is None:
            raise TypeError(f"window is required for kind={kind!r}")
        window = positive_int(window, "window")
    if kind == "linear":
        if n_features is None:
            raise TypeError("n_features is required for kind='linear'")
        n_features = positive_int(n_features, "n_features")
    return _attention_cost(L, d, kind, window, n_features)


def _attention_cost(
    L: NDArray[np.float64], d: int, kind: str, window: int | None, n_features: int | None
) -> AttentionCost:
    """FLOPs and memory of one head over L tokens (an array of integers) of width d, for a checked kind."""
    if kind == "full":
        flops, mem = attention_flops(L, d), L**2  # 4 L² d: Q Kᵀ and A V, 2 FLOPs a multiply-add
    elif kind in ("local", "strided"):
        w = window
        keys = np.minimum(w, L) if kind == "local" else np.minimum(w + np.ceil(L / w), L)
        flops, mem = attention_flops(L, d, n_keys=keys), L * keys
    else:  # "linear": m features per token and an m x d summary
        m = n_features
        flops, mem = 4 * L * m * d + 4 * L * m, L * m + m * d
    flops = np.asarray(flops, dtype=float)
    mem = np.asarray(mem, dtype=float)
    if flops.ndim == 0:
        return AttentionCost(float(flops), float(mem))
    return AttentionCost(flops, mem)  # type: ignore[arg-type]


def attention_flops_fraction(d_model: object, n_ctx: object) -> NDArray[np.float64] | float:
    """Share of a dense decoder's forward FLOPs per token spent on attention scores.

    With Kaplan et al.'s count, N = 12 n_layer d² and C_forward ≈ 2N + 2 n_layer n_ctx d per
    token, so the share is n_ctx / (12 d_model + n_ctx), independent of the number of layers.
    """
    d = real_array(d_model, "d_model")
    n = real_array(n_ctx, "n_ctx")
    if np.any(~np.isfinite(d) | (d <= 0)):
        raise ValueError("d_model must be finite and > 0")
    if np.any(~np.isfinite(n) | (n < 0)):
        raise ValueError("n_ctx must be finite and >= 0")
    out = n / (12.0 * d + n)
    return float(out) if out.ndim == 0 else out


# ---------------------------------------------------------------------------------------------
# Adaptive computation
# ---------------------------------------------------------------------------------------------


def adaptive_span_mask(distance: object, z: float, ramp: float) -> NDArray[np.float64]:
    """Sukhbaatar et al.'s soft span mask m_z(x) = clip((R + z - x) / R, 0, 1).

    Distances up to ``z`` get weight 1, the weight falls linearly to 0 over the next ``ramp``
    positions. ``z`` is learnable in the paper, which is why the ramp is linear, not a step.
    """
    x = finite_array(distance, "distance")
    if np.any(x < 0):
        raise ValueError("distance must be >= 0")
    zz = float(finite_array(z, "z"))
    if zz < 0:
        raise ValueError(f"z must be >= 0; got {zz!r}")
    r = positive_scalar(ramp, "ramp")
    return np.clip((r + zz - x) / r, 0.0, 1.0)


def act_halting(halting_probs: object, epsilon: float = 0.01) -> tuple[int, NDArray[np.float64], float]:
    """Graves' adaptive computation time for one input.

    ``halting_probs`` holds h_1, h_2, ... in [0, 1] (one per possible step, the last may be
    forced). The number of steps is N = min{n : h_1 + ... + h_n >= 1 - epsilon}, or all steps if
    the sum never gets there. The step weights are p_n = h_n for n < N and the remainder
    R = 1 - (h_1 + ... + h_{N-1}) for step N; they sum to 1. Returns (N, weights, ponder cost
    N + R).
    """
    h = probabilities(halting_probs, "halting_probs")
    if h.ndim != 1:
        raise ValueError(f"halting_probs must be 1-d (one per step); got shape {h.shape}")
    eps = _check_epsilon(epsilon)
    return _act_halting(h, eps)


def _check_epsilon(epsilon: object) -> float:
    eps = float(finite_array(epsilon, "epsilon"))
    if not 0 < eps < 1:
        raise ValueError(f"epsilon must lie in (0, 1); got {eps!r}")
    return eps


def _act_halting(h: NDArray[np.float64], epsilon: float) -> tuple[int, NDArray[np.float64], float]:
    """ACT's (N, step weights, ponder cost) for checked halting probabilities h (1-d, in [0, 1])."""
    cum = np.cumsum(h)
    reached = np.flatnonzero(cum >= 1 - epsilon)
    n_steps = int(reached[0]) + 1 if reached.size else h.size
    weights = np.zeros_like(h)
    weights[: n_steps - 1] = h[: n_steps - 1]
    remainder = 1.0 - float(np.sum(h[: n_steps - 1]))
    weights[n_steps - 1] = remainder
    return n_steps, weights, n_steps + remainder


def ponder_toy(
    x: object, w: object, w_halt: object, b_halt: float, max_steps: int = 12, epsilon: float = 0.01
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """A toy Universal-Transformer-style recurrence with per-token ACT halting.

    Each token state s (rows of ``x``, shape (seq, d)) is updated by the same shared step
    s <- tanh(s @ w) + s (a stand-in for one shared Transformer layer); after each step the token
    halts with probability h = sigmoid(s @ w_halt + b_halt). Tokens keep updating until their
    halting mass reaches 1 - epsilon (or ``max_steps``, where h is forced to 1). Returns the
    number of steps per token, the ACT-weighted final states (seq, d) and the halting
    probabilities of every step (seq, max_steps).
    """
    xs = _check_at_least_2d(x, "x")
    if xs.ndim != 2:
        raise ValueError(f"x must have shape (seq, d); got {xs.shape}")
    d = xs.shape[1]
    ww = _check_weight(w, "w", (d, d))
    wh = finite_array(w_halt, "w_halt")
    if wh.shape != (d,):
        raise ValueError(f"w_halt must have shape ({d},); got {wh.shape}")
    bh = float(finite_array(b_halt, "b_halt"))
    t_max = positive_int(max_steps, "max_steps")
    states, halts = [], []
    s = xs
    for _ in range(t_max):
        s = np.tanh(s @ ww) + s
        states.append(s)
        halts.append(expit(s @ wh + bh))
    h = np.stack(halts, axis=1)  # (seq, steps)
    h[:, -1] = 1.0  # the last step always halts
    st = np.stack(states, axis=1)  # (seq, steps, d)
    steps = np.empty(xs.shape[0], dtype=np.int64)
    out = np.empty_like(xs)
    for i in range(xs.shape[0]):
        n, wts, _ = act_halting(h[i], epsilon)
        steps[i] = n
        out[i] = wts @ st[i]
    return steps, out, h


# ---------------------------------------------------------------------------------------------
# Gating for reinforcement learning (GTrXL)
# ---------------------------------------------------------------------------------------------


def gtrxl_gate(x: object, y: object, weights: object, b_g: float) -> NDArray[np.float64]:
    """The GRU-style gate of the Gated Transformer-XL, g(x, y), replacing the residual x + y.

    ``x`` is the stream entering the sub-layer and ``y`` the sub-layer's output, both (..., d).
    ``weights`` stacks the six (d, d) matrices W_r, U_r, W_z, U_z, W_g, U_g (shape (6, d, d)),
    used as row-vector products (x @ W). With

        r = σ(y W_r + x U_r),  z = σ(y W_z + x U_z - b_g),  ĥ = tanh(y W_g + (r ⊙ x) U_g),

    the output is (1 - z) ⊙ x + z ⊙ ĥ. A large positive ``b_g`` closes the gate (z ≈ 0), so
    the block starts close to the identity map x.
    """
    xx = finite_array(x, "x")
    yy = finite_array(y, "y")
    if xx.shape != yy.shape or xx.ndim < 1:
        raise ValueError(f"x and y must have the same shape (..., d); got {xx.shape} and {yy.shape}")
    d = xx.shape[-1]
    w = finite_array(weights, "weights")
    if w.shape != (6, d, d):
        raise ValueError(f"weights must have shape (6, {d}, {d}); got {w.shape}")
    bg = float(finite_array(b_g, "b_g"))
    w_r, u_r, w_z, u_z, w_g, u_g = w
    r = expit(yy @ w_r + xx @ u_r)
    z = expit(yy @ w_z + xx @ u_z - bg)
    h = np.tanh(yy @ w_g + (r * xx) @ u_g)
    return (1.0 - z) * xx + z * h


# ---------------------------------------------------------------------------------------------
# How far information travels through stacked sparse layers
# ---------------------------------------------------------------------------------------------


def fixed_masks(seq_len: int, stride: int, n_summary: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """The Sparse Transformer's causal "fixed" pattern, as its two parts ``(block, summary)``.

    ``block``: query i sees the earlier keys of its own block of ``stride`` positions
    (floor(j / stride) == floor(i / stride)); ``summary``: query i sees every earlier key among
    the last ``n_summary`` positions of each block (j mod stride >= stride - n_summary).
    """
    n = positive_int(seq_len, "seq_len")
    s = positive_int(stride, "stride")
    c = int_in_range(n_summary, "n_summary", 1, s)
    return _fixed_masks(n, s, c)


def _fixed_masks(n: int, s: int, c: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    earlier = j <= i
    block = earlier & (i // s == j // s)
    summary = earlier & np.broadcast_to(j % s >= s - c, (n, n))
    return block, summary


def reach_fraction(layers: object, causal: bool = True, residual: bool = True) -> NDArray[np.float64]:
    """Share of (query, key) pairs connected after 1, 2, ... of the given layers (in order).

    ``layers`` is a sequence of square boolean masks, one per layer (repeat a mask to stack the
    same pattern). Entry k of the result is the share of pairs (i, j) whose information path
    exists after layers 0..k, counted over the pairs j <= i when ``causal`` (the pairs a causal
    model can ever connect) and over all pairs otherwise. ``residual`` adds the skip connection
    (a token keeps its own information), as in a real Transformer block; see :func:`mask_reach`.
    """
    if isinstance(layers, np.ndarray) and layers.ndim == 2:
        raise TypeError("layers must be a sequence of masks, one per layer; wrap a single mask in a list")
    masks = list(layers)  # type: ignore[call-overload]
    if not masks:
        raise ValueError("layers must hold at least one mask")
    return _reach_fraction(masks, check_bool(causal, "causal"), check_bool(residual, "residual"))


def _reach_fraction(masks: list[object], causal: bool, residual: bool) -> NDArray[np.float64]:
    """Stack the layers one by one and count the connected pairs after each."""
    out = []
    for depth in range(1, len(masks) + 1):
        reach = mask_reach(*masks[:depth], residual=residual)
        n = reach.shape[0]
        pairs = np.tril(np.ones((n, n), dtype=bool)) if causal else np.ones((n, n), dtype=bool)
        out.append((reach & pairs).sum() / pairs.sum())
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# Reformer's locality-sensitive hashing: hash, sort, chunk
# ---------------------------------------------------------------------------------------------


def _even_buckets(n_buckets: object) -> int:
    b = int_in_range(n_buckets, "n_buckets", 2, None)
    if b % 2:
        raise ValueError(f"n_buckets must be even (argmax over [xR, -xR]); got {b}")
    return b


def lsh_buckets(x: object, n_buckets: int, rng: np.random.Generator, n_rounds: int = 1) -> NDArray[np.int64]:
    """Angular LSH of Reformer: bucket = argmax([x R; -x R]) for a random Gaussian R (d, b/2).

    ``x`` has shape (seq, d); returns bucket ids of shape (n_rounds, seq), one independent R per
    round. Vectors at a small angle tend to land in the same bucket.
    """
    arr = finite_array(x, "x")
    if arr.ndim != 2:
        raise ValueError(f"x must have shape (seq, d); got {arr.shape}")
    b = _even_buckets(n_buckets)
    r = positive_int(n_rounds, "n_rounds")
    rot = generator(rng).standard_normal((r, arr.shape[1], b // 2))
    return _lsh_buckets(arr, rot)


def _lsh_buckets(x: NDArray[np.float64], rot: NDArray[np.float64]) -> NDArray[np.int64]:
    """One hash per round: project on b/2 random directions, take the argmax over ±projections."""
    proj = np.einsum("sd,rdh->rsh", x, rot)  # (rounds, seq, b/2)
    return np.argmax(np.concatenate([proj, -proj], axis=-1), axis=-1)


def lsh_collision_rate(
    angles: object, n_buckets: int, n_trials: int, rng: np.random.Generator, d: int = 64
) -> NDArray[np.float64]:
    """Monte Carlo probability that two unit vectors at each given angle (radians, in [0, π])
    share a Reformer LSH bucket, over ``n_trials`` random rotations in ``d`` dimensions."""
    theta = real_array(angles, "angles")
    if np.any(~np.isfinite(theta) | (theta < 0) | (theta > np.pi)):
        raise ValueError("angles must lie in [0, pi] (radians)")
    b = _even_buckets(n_buckets)
    t = positive_int(n_trials, "n_trials")
    dim = int_in_range(d, "d", 2, None)
    rot = generator(rng).standard_normal((t, dim, b // 2))
    return _lsh_collision_rate(theta.ravel(), rot).reshape(theta.shape)


def _lsh_collision_rate(theta: NDArray[np.float64], rot: NDArray[np.float64]) -> NDArray[np.float64]:
    """x = e1 and y = cos θ e1 + sin θ e2: the law of a Gaussian R is rotation invariant, so one
    fixed pair per angle is as good as any; average the bucket agreement over the rotations."""
    x = np.zeros((theta.size, rot.shape[1]))
    x[:, 0] = 1.0
    y = np.zeros_like(x)
    y[:, 0], y[:, 1] = np.cos(theta), np.sin(theta)
    hx, hy = _lsh_buckets(x, rot), _lsh_buckets(y, rot)  # (trials, n_angles)
    return (hx == hy).mean(axis=0)


def lsh_attention_mask(buckets: object, chunk_size: int, causal: bool = False) -> NDArray[np.bool_]:
    """Which keys each query scores under Reformer's bucket-sort-chunk scheme (shared Q = K).

    ``buckets`` has shape (n_rounds, seq) (as from :func:`lsh_buckets`). In every round the
    positions are sorted by (bucket, position), cut into chunks of ``chunk_size``, and each query
    scores the keys of its own chunk and of the chunk before it; rounds are combined by union.
    Returns a (seq, seq) mask in the original order (with ``causal``, only keys j <= i).
    """
    h = _check_buckets(buckets)
    c = positive_int(chunk_size, "chunk_size")
    is_causal = check_bool(causal, "causal")
    return _lsh_attention_mask(h, c, is_causal)


def _check_buckets(buckets: object) -> NDArray[np.int64]:
    h = np.asarray(buckets)
    if h.dtype.kind not in "iu":
        raise TypeError(f"buckets must be an integer array; got dtype {h.dtype}")
    if h.ndim != 2 or h.shape[1] < 1:
        raise ValueError(f"buckets must have shape (n_rounds, seq); got {h.shape}")
    return h.astype(np.int64)


def _lsh_attention_mask(h: NDArray[np.int64], c: int, causal: bool) -> NDArray[np.bool_]:
    """Sort by bucket (ties by position), chunk, and let each chunk see itself and one back."""
    n = h.shape[1]
    mask = np.zeros((n, n), dtype=bool)
    pos = np.arange(n)
    for round_buckets in h:
        order = np.lexsort((pos, round_buckets))  # positions in sorted order
        chunk_of = np.empty(n, dtype=np.int64)
        chunk_of[order] = np.arange(n) // c  # chunk of each original position
        gap = chunk_of[:, None] - chunk_of[None, :]  # query chunk minus key chunk
        mask |= (gap == 0) | (gap == 1)
    if causal:
        mask &= pos[None, :] <= pos[:, None]
    return mask


def mass_covered(weights: object, mask: object) -> float:
    """Mean over queries of the attention weight that falls on the keys a mask keeps: how much
    of exact attention an approximation that only scores those keys can see."""
    w = probabilities(weights, "weights")
    m = _bool_mask(mask)
    if w.ndim != 2 or m.shape != w.shape:
        raise ValueError(f"weights and mask must have the same 2-D shape; got {w.shape} and {m.shape}")
    return float(np.mean(np.sum(w * m, axis=1)))


# ---------------------------------------------------------------------------------------------
# Exact causal attention in query blocks, and causal linear attention with a running sum
# ---------------------------------------------------------------------------------------------


def _check_qkv_2d(q: object, k: object, v: object) -> tuple[NDArray[np.float64], ...]:
    arrs = [finite_array(a, name) for a, name in ((q, "q"), (k, "k"), (v, "v"))]
    q2, k2, v2 = arrs
    if q2.ndim != 2 or k2.ndim != 2 or v2.ndim != 2:
        raise ValueError(f"q, k, v must have shape (seq, d); got {q2.shape}, {k2.shape}, {v2.shape}")
    if not (q2.shape[0] == k2.shape[0] == v2.shape[0]) or q2.shape[1] != k2.shape[1]:
        raise ValueError(f"q, k, v must have the same seq (shape[0]) and q, k the same d; got shapes {q2.shape}, {k2.shape}, {v2.shape}")
    return q2, k2, v2


def blocked_causal_attention(q: object, k: object, v: object, block: int = 512) -> NDArray[np.float64]:
    """Exact causal softmax attention, computed ``block`` queries at a time so that at most
    block × seq scores exist at once (the full result, at O(seq²) time but O(block · seq) memory)."""
    q2, k2, v2 = _check_qkv_2d(q, k, v)
    return _blocked_causal_attention(q2, k2, v2, positive_int(block, "block"))


def _blocked_causal_attention(
    q: NDArray[np.float64], k: NDArray[np.float64], v: NDArray[np.float64], block: int
) -> NDArray[np.float64]:
    """Each block of queries scores only the keys up to its last query, then masks the rest."""
    n, d = q.shape
    out = np.empty((n, v.shape[1]))
    for start in range(0, n, block):
        stop = min(start + block, n)
        s = matmul(q[start:stop], k[:stop].T) / np.sqrt(d)  # (block, stop)
        s[np.arange(stop)[None, :] > np.arange(start, stop)[:, None]] = -np.inf
        w = np.exp(s - s.max(axis=1, keepdims=True))
        out[start:stop] = matmul(w, v[:stop]) / w.sum(axis=1, keepdims=True)
    return out


def causal_linear_attention(
    q: object, k: object, v: object, feature_map: str = "elu", projection: object = None, chunk: int = 64
) -> NDArray[np.float64]:
    """Causal kernelised attention that carries a running state (S = Σ φ(k_j) v_jᵀ, z = Σ φ(k_j))
    from one chunk of ``chunk`` tokens to the next: memory O(m d + chunk²), never seq × m × d.

    Same result as ``linear_attention(..., causal=True)`` (same feature maps) for (seq, d) inputs.
    """
    q2, k2, v2 = _check_qkv_2d(q, k, v)
    w = _check_feature_map(feature_map, projection, q2.shape[-1])
    c = positive_int(chunk, "chunk")
    return _causal_linear_attention(q2, k2, v2, feature_map, w, c)


def _check_feature_map(feature_map: object, projection: object, d: int) -> NDArray[np.float64] | None:
    if feature_map not in ("elu", "softmax"):
        raise ValueError(f"feature_map must be 'elu' or 'softmax'; got {feature_map!r}")
    if feature_map == "elu":
        return None
    if projection is None:
        raise TypeError("projection is required for feature_map='softmax' (see performer_projection)")
    return _check_projection(projection, d)


def _causal_linear_attention(
    q: NDArray[np.float64],
    k: NDArray[np.float64],
    v: NDArray[np.float64],
    feature_map: str,
    projection: NDArray[np.float64] | None,
    chunk: int,
) -> NDArray[np.float64]:
    """Running sums S (m × d_v) and z (m): past chunks through the state, the current one exactly."""
    phi_q, phi_k = _feature_maps(q, k, feature_map, projection)
    n, m = phi_q.shape
    state, z = np.zeros((m, v.shape[1])), np.zeros(m)
    out = np.empty((n, v.shape[1]))
    for start in range(0, n, chunk):
        pq, pk, vc = phi_q[start : start + chunk], phi_k[start : start + chunk], v[start : start + chunk]
        within = np.tril(pq @ pk.T)  # this chunk's own causal part, (c, c)
        num = pq @ state + within @ vc
        den = pq @ z + within.sum(axis=1)
        out[start : start + chunk] = num / _check_normaliser(den)[:, None]
        state += pk.T @ vc  # fold the chunk into the running sums
        z += pk.sum(axis=0)
    return out
