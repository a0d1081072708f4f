"""Model compression for inference: quantization, pruning and distillation.

The numerical core of the second half of the inference-optimization chapter:

* uniform integer quantization, symmetric (absmax) and asymmetric (zero-point), with one
  scale per tensor, per row or per column, and its use inside a matrix product;
* the LLM.int8() mixed-precision decomposition (Dettmers et al. 2022): input feature
  dimensions holding an activation of magnitude >= ``threshold`` (6.0 in the paper) are
  multiplied in floating point, the rest with vector-wise int8;
* SmoothQuant's scale migration (Xiao et al. 2022): divide activation channel ``j`` by
  ``s_j = max|X_j|**alpha / max|W_j|**(1 - alpha)`` and multiply weight row ``j`` by it,
  which leaves ``X W`` unchanged and makes both factors easier to quantize;
* a compact GPTQ (Frantar et al. 2022): weights quantized one input channel at a time, each
  rounding error pushed onto the channels not yet quantized through the inverse Hessian of the
  layer's squared output error;
* magnitude pruning and N:M structured sparsity (keep the ``n`` largest of every ``m``
  consecutive weights; 2:4 is what sparse tensor cores accelerate);
* the knowledge-distillation loss with a temperature (Hinton et al. 2015).

Matrices follow the ``Y = X @ W`` convention: ``X`` is (tokens, d_in), ``W`` is
(d_in, d_out). "Row" scales give one scale per row of the array quantized, "column"
scales one per column. Quantization here is *simulated*: values are rounded to the
integer grid and mapped back to floats, which gives the same numbers an integer kernel
followed by rescaling would give.

Every public function rejects impossible input (non-finite arrays, sizes <= 0, n > m,
a last axis not divisible by m, unknown options) with a ``ValueError`` or ``TypeError``
naming the argument.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.linalg import cho_factor, cho_solve, cholesky
from scipy.special import log_softmax, softmax

from lilbook._checks import finite_array, generator, int_in_range, positive_int, positive_scalar

__all__ = [
    "GRANULARITIES",
    "QUANT_METHODS",
    "absmax_quantize",
    "accuracy_and_loss",
    "distillation_loss",
    "fake_quantize",
    "gptq_quantize",
    "llm_int8_matmul",
    "magnitude_prune",
    "mlp_forward",
    "nm_prune",
    "outlier_dims",
    "quantized_factors",
    "quantized_matmul",
    "relative_error",
    "smoothquant_matmul",
    "smoothquant_scales",
    "soft_targets",
    "synthetic_activations",
    "teacher_task",
    "train_mlp",
    "zeropoint_quantize",
]

GRANULARITIES = ("tensor", "row", "column")
_SCHEMES = ("absmax", "zeropoint")


def _check_matrix(x: object, name: str) -> NDArray[np.float64]:
    arr = finite_array(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array; got shape {arr.shape}")
    return arr


def _check_granularity(granularity: object) -> str:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}; got {granularity!r}")
    return str(granularity)


def _reduce(values: NDArray[np.float64], granularity: str, fn) -> NDArray[np.float64]:
    """Apply ``fn`` over the whole tensor, each row, or each column (keeping dims)."""
    if granularity == "tensor":
        return fn(values, axis=None, keepdims=True)
    if values.ndim != 2:
        raise ValueError(
            f"granularity={granularity!r} needs a 2-D array; got shape {values.shape}"
        )
    return fn(values, axis=1 if granularity == "row" else 0, keepdims=True)


def absmax_quantize(
    x: object, *, bits: int = 8, granularity: str = "tensor"
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Symmetric quantization: ``q = round(x / step)`` with ``step = max|x| / (2**(b-1) - 1)``.

    The largest magnitude in each group (tensor, row or column) maps to ``+-(2**(b-1)-1)``
    (127 for int8) and zero maps exactly to zero. Returns the integers ``q`` and the
    ``step`` (broadcastable against ``x``); ``q * step`` reconstructs ``x``. A group that is
    all zeros gets step 1.
    """
    arr = finite_array(x, "x")
    bits = int_in_range(bits, "bits", 2, 16)
    granularity = _check_granularity(granularity)
    return _absmax_quantize(arr, bits, granularity)


def _absmax_quantize(
    x: NDArray[np.float64], bits: int, granularity: str
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Symmetric ``bits``-bit quantization of ``x`` with one step per group."""
    qmax = 2 ** (bits - 1) - 1
    amax = _reduce(np.abs(x), granularity, np.max)
    step = amax / qmax
    step = np.where(step > 0, step, 1.0)  # all-zero (or subnormal) groups: any step works
    q = np.clip(np.rint(x / step), -qmax, qmax).astype(np.int64)
    return q, step


def zeropoint_quantize(
    x: object, *, bits: int = 8, granularity: str = "tensor"
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """Asymmetric quantization onto ``[-2**(b-1), 2**(b-1) - 1]`` with a zero point.

    The range ``[min(x, 0), max(x, 0)]`` of each group is stretched over all ``2**b``
    integer levels: ``step = (hi - lo) / (2**b - 1)``, ``z = round(-lo / step) - 2**(b-1)``
    and ``q = clip(round(x / step) + z)``. Returns ``(q, step, z)``; ``(q - z) * step``
    reconstructs ``x``. Including 0 in the range keeps zero exactly representable.
    """
    arr = finite_array(x, "x")
    bits = int_in_range(bits, "bits", 2, 16)
    granularity = _check_granularity(granularity)
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    lo = np.minimum(_reduce(arr, granularity, np.min), 0.0)
    hi = np.maximum(_reduce(arr, granularity, np.max), 0.0)
    step = (hi - lo) / (qmax - qmin)
    step = np.where(step > 0, step, 1.0)
    zero = np.clip(np.rint(-lo / step) + qmin, qmin, qmax).astype(np.int64)
    q = np.clip(np.rint(arr / step) + zero, qmin, qmax).astype(np.int64)
    return q, step, zero


def fake_quantize(
    x: object, *, scheme: str = "absmax", bits: int = 8, granularity: str = "tensor"
) -> NDArray[np.float64]:
    """Quantize and dequantize: the float values an integer kernel would effectively use."""
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {_SCHEMES}; got {scheme!r}")
    if scheme == "absmax":
        q, step = absmax_quantize(x, bits=bits, granularity=granularity)
        return q * step
    q, step, zero = zeropoint_quantize(x, bits=bits, granularity=granularity)
    return (q - zero) * step


def quantized_matmul(
    x: object,
    w: object,
    *,
    scheme: str = "absmax",
    bits: int = 8,
    x_granularity: str = "tensor",
    w_granularity: str = "tensor",
) -> NDArray[np.float64]:
    """``X @ W`` with both factors quantized (W8A8 for ``bits=8``).

    ``x_granularity="row"`` gives one scale per token and ``w_granularity="column"`` one
    per output channel: the "vector-wise" quantization of LLM.int8(), whose scales can be
    applied to the integer product's rows and columns afterwards. (Per-column activation
    scales or per-row weight scales cannot be factored out of the inner sum that way; they
    are allowed here so their error can be compared, not because a kernel could use them.)
    """
    x = _check_matrix(x, "x")
    w = _check_matrix(w, "w")
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x and w do not chain: x has {x.shape[1]} columns, w has {w.shape[0]} rows"
        )
    xq = fake_quantize(x, scheme=scheme, bits=bits, granularity=x_granularity)
    wq = fake_quantize(w, scheme=scheme, bits=bits, granularity=w_granularity)
    return xq @ wq


def gptq_quantize(
    w: object, x: object, *, bits: int = 4, damp: float = 0.01
) -> NDArray[np.float64]:
    """GPTQ weight quantization of ``W`` (d_in, d_out) for inputs ``X`` (n, d_in).

    Minimises ``||X W - X W_hat||`` approximately: the input channels (rows of ``W``) are
    rounded in order with absmax steps fixed per output column, and after row ``i`` is
    rounded its error, divided by ``U[i, i]``, is subtracted from the later rows in
    proportion to ``U[i, i+1:]``, where ``U`` is the upper Cholesky factor of the inverse
    Hessian ``(2 X^T X + damp * mean(diag) * I)^-1``. Returns the dequantized weights. When
    ``X^T X`` is diagonal nothing is propagated and the result equals round-to-nearest.
    (No lazy batching or act-order: the plain algorithm of Frantar et al., Algorithm 1.)
    """
    w = _check_matrix(w, "w")
    x = _check_matrix(x, "x")
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x and w do not chain: x has {x.shape[1]} columns, w has {w.shape[0]} rows"
        )
    bits = int_in_range(bits, "bits", 2, 16)
    damp = positive_scalar(damp, "damp")
    return _gptq_quantize(w, x, bits, damp)


def _gptq_quantize(
    w: NDArray[np.float64], x: NDArray[np.float64], bits: int, damp: float
) -> NDArray[np.float64]:
    """GPTQ (Frantar et al., Algorithm 1) of ``w`` (d_in, d_out) for inputs ``x``."""
    d_in = w.shape[0]
    # dampened Hessian of the squared output error; u = upper Cholesky factor of its inverse
    hessian = 2.0 * x.T @ x
    hessian += damp * max(float(np.mean(np.diag(hessian))), 1e-12) * np.eye(d_in)
    h_inv = cho_solve(cho_factor(hessian), np.eye(d_in))
    u = cholesky(h_inv, lower=False)
    # one absmax step per output column, fixed before any rounding
    qmax = 2 ** (bits - 1) - 1
    amax = np.max(np.abs(w), axis=0)
    step = np.where(amax / qmax > 0, amax / qmax, 1.0)
    work = w.copy()
    out = np.empty_like(w)
    for i in range(d_in):  # round row i, push its error onto the rows not yet rounded
        out[i] = np.clip(np.rint(work[i] / step), -qmax, qmax) * step
        err = (work[i] - out[i]) / u[i, i]
        work[i + 1 :] -= np.outer(u[i, i + 1 :], err)
    return out


def outlier_dims(x: object, threshold: float = 6.0) -> NDArray[np.int64]:
    """Input feature dimensions (columns of ``X``) holding any ``|x| >= threshold``."""
    x = _check_matrix(x, "x")
    threshold = positive_scalar(threshold, "threshold")
    return np.flatnonzero(np.any(np.abs(x) >= threshold, axis=0))


def llm_int8_matmul(
    x: object, w: object, *, threshold: float = 6.0, bits: int = 8
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """LLM.int8(): outlier dimensions in floating point, the rest in vector-wise int8.

    ``X @ W = X[:, O] @ W[O, :] + X[:, R] @ W[R, :]`` where ``O`` are the outlier
    dimensions (:func:`outlier_dims`) and ``R`` the rest. The first product stays in float
    (fp16 in the paper), the second uses one absmax scale per row of ``X[:, R]`` and per
    column of ``W[R, :]``. Returns the product and ``O``.
    """
    x = _check_matrix(x, "x")
    w = _check_matrix(w, "w")
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x and w do not chain: x has {x.shape[1]} columns, w has {w.shape[0]} rows"
        )
    return _llm_int8_matmul(x, w, threshold, bits)


def _llm_int8_matmul(
    x: NDArray[np.float64], w: NDArray[np.float64], threshold: float, bits: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """``x @ w`` with outlier input dimensions in float and the rest in ``bits``-bit."""
    outliers = outlier_dims(x, threshold)
    regular = np.setdiff1d(np.arange(x.shape[1]), outliers)
    out = x[:, outliers] @ w[outliers, :]
    if regular.size:
        out = out + quantized_matmul(
            x[:, regular],
            w[regular, :],
            bits=bits,
            x_granularity="row",
            w_granularity="column",
        )
    return out, outliers


def smoothquant_scales(x: object, w: object, alpha: float = 0.5) -> NDArray[np.float64]:
    """Per-input-channel smoothing factors ``s_j = max|X_j|**alpha / max|W_j|**(1-alpha)``.

    ``X_j`` is column ``j`` of the activations and ``W_j`` row ``j`` of the weights.
    ``alpha`` (the migration strength, in [0, 1]) sets how much of the activation range
    moves into the weights; 0.5 balances the two. Channels where either maximum is zero
    get ``s_j = 1``.
    """
    x = _check_matrix(x, "x")
    w = _check_matrix(w, "w")
    if x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x and w do not chain: x has {x.shape[1]} columns, w has {w.shape[0]} rows"
        )
    alpha = _check_alpha(alpha)
    return _smoothquant_scales(x, w, alpha)


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)):
        raise TypeError(f"alpha must be a number in [0, 1], got {type(alpha).__name__}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1]; got {alpha!r}")
    return alpha


def _smoothquant_scales(
    x: NDArray[np.float64], w: NDArray[np.float64], alpha: float
) -> NDArray[np.float64]:
    """SmoothQuant's factors ``max|X_j|**alpha / max|W_j|**(1-alpha)`` (1 where a max is 0)."""
    ax = np.max(np.abs(x), axis=0)
    aw = np.max(np.abs(w), axis=1)
    ok = (ax > 0) & (aw > 0)
    s = np.ones_like(ax)
    s[ok] = ax[ok] ** alpha / aw[ok] ** (1.0 - alpha)
    return s


def smoothquant_matmul(
    x: object,
    w: object,
    *,
    alpha: float = 0.5,
    bits: int = 8,
    x_granularity: str = "tensor",
    w_granularity: str = "tensor",
) -> NDArray[np.float64]:
    """W8A8 after SmoothQuant: ``(X diag(s)^-1) @ (diag(s) W)``, both factors quantized.

    The rescaling is exact in real arithmetic; only the quantization of the two smoothed
    factors introduces error. SmoothQuant's point is that per-tensor scales (the default
    here, the cheapest kernel) then work.
    """
    s = smoothquant_scales(x, w, alpha)
    x = np.asarray(x, dtype=float) / s
    w = np.asarray(w, dtype=float) * s[:, None]
    return quantized_matmul(
        x, w, bits=bits, x_granularity=x_granularity, w_granularity=w_granularity
    )


def relative_error(approx: object, exact: object) -> float:
    """Frobenius-norm relative error ``||approx - exact|| / ||exact||``."""
    a = finite_array(approx, "approx")
    e = finite_array(exact, "exact")
    if a.shape != e.shape:
        raise ValueError(f"approx and exact must have the same shape; {a.shape} != {e.shape}")
    norm = np.linalg.norm(e)
    if norm == 0:
        raise ValueError("exact must not be all zeros (the relative error is undefined)")
    return float(np.linalg.norm(a - e) / norm)


def synthetic_activations(
    n_tokens: int,
    d_model: int,
    *,
    outlier_channels: object = (),
    outlier_scale: float = 20.0,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Standard-normal activations with a few "outlier" feature dimensions.

    The chosen columns are multiplied by ``outlier_scale``, mimicking the systematic
    large-magnitude hidden dimensions that Dettmers et al. (2022) and Bondarenko et al.
    (2021) found in Transformer activations: the same few channels in every token.
    """
    n_tokens = positive_int(n_tokens, "n_tokens")
    d_model = positive_int(d_model, "d_model")
    outlier_scale = positive_scalar(outlier_scale, "outlier_scale")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    dims = np.asarray(outlier_channels, dtype=np.int64).ravel()
    if dims.size and (dims.min() < 0 or dims.max() >= d_model):
        raise ValueError(f"outlier_channels must lie in [0, {d_model - 1}]; got {dims.tolist()}")
    x = rng.standard_normal((n_tokens, d_model))
    x[:, dims] *= outlier_scale
    return x


def magnitude_prune(w: object, sparsity: float) -> NDArray[np.float64]:
    """Zero the ``floor(sparsity * w.size)`` entries of smallest magnitude (whole array).

    Ties are broken by position (a stable sort), so exactly that many entries are zeroed.
    ``sparsity`` lies in [0, 1].
    """
    arr = finite_array(w, "w")
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.number)):
        raise TypeError(f"sparsity must be a number in [0, 1], got {type(sparsity).__name__}")
    if not 0.0 <= float(sparsity) <= 1.0:
        raise ValueError(f"sparsity must lie in [0, 1]; got {sparsity!r}")
    k = int(np.floor(float(sparsity) * arr.size))
    out = arr.copy().ravel()
    order = np.argsort(np.abs(out), kind="stable")
    out[order[:k]] = 0.0
    return out.reshape(arr.shape)


def nm_prune(w: object, n: int = 2, m: int = 4) -> NDArray[np.float64]:
    """N:M structured sparsity: in every group of ``m`` consecutive weights along the last
    axis keep the ``n`` of largest magnitude and zero the others.

    ``1 <= n <= m`` and the last axis must be divisible by ``m``. Ties keep the earlier
    position.
    """
    arr = finite_array(w, "w")
    m = positive_int(m, "m")
    n = positive_int(n, "n")
    if n > m:
        raise ValueError(f"n must satisfy 1 <= n <= m={m}; got n={n}")
    if arr.ndim == 0 or arr.shape[-1] % m:
        raise ValueError(
            f"w's last axis must be divisible by m={m}; got shape {arr.shape}"
        )
    return _nm_prune(arr, n, m)


def _nm_prune(w: NDArray[np.float64], n: int, m: int) -> NDArray[np.float64]:
    """Keep the ``n`` largest-magnitude weights of every ``m`` along the last axis."""
    groups = w.reshape(-1, m)
    # rank within each group: stable sort on -|w| puts the largest (earliest on ties) first
    order = np.argsort(-np.abs(groups), axis=1, kind="stable")
    keep = np.zeros_like(groups, dtype=bool)
    np.put_along_axis(keep, order[:, :n], True, axis=1)
    return np.where(keep, groups, 0.0).reshape(w.shape)


def soft_targets(logits: object, temperature: float = 1.0) -> NDArray[np.float64]:
    """``softmax(logits / T)`` along the last axis: the temperature-softened distribution.

    ``T > 1`` flattens the distribution and exposes how the model ranks the wrong
    classes ("dark knowledge"); ``T -> 0`` approaches a one-hot argmax.
    """
    z = finite_array(logits, "logits")
    t = positive_scalar(temperature, "temperature")
    return softmax(z / t, axis=-1)


def distillation_loss(
    student_logits: object,
    teacher_logits: object,
    labels: object = None,
    *,
    temperature: float = 1.0,
    ce_weight: float = 0.0,
) -> float:
    """Knowledge-distillation loss, averaged over the batch (Hinton et al. 2015).

    ``T**2 * KL(softmax(z_t / T) || softmax(z_s / T)) + ce_weight * CE(y, softmax(z_s))``.
    The factor ``T**2`` keeps the soft term's gradient on the same scale as ``T`` changes
    (its gradient with respect to ``z_s`` is ``T * (p_s - p_t)``). ``labels`` are integer
    class indices, needed only when ``ce_weight > 0``. Logits have shape (batch, classes)
    or (classes,).
    """
    zs = finite_array(student_logits, "student_logits")
    zt = finite_array(teacher_logits, "teacher_logits")
    if zs.shape != zt.shape:
        raise ValueError(
            f"student_logits and teacher_logits must have the same shape; "
            f"{zs.shape} != {zt.shape}"
        )
    t = positive_scalar(temperature, "temperature")
    if isinstance(ce_weight, bool) or not isinstance(ce_weight, (int, float, np.number)):
        raise TypeError(f"ce_weight must be a number >= 0, got {type(ce_weight).__name__}")
    if not (np.isfinite(ce_weight) and ce_weight >= 0):
        raise ValueError(f"ce_weight must be finite and >= 0; got {ce_weight!r}")
    if ce_weight > 0:
        labels = _check_labels(labels, zs)
    return _distillation_loss(zs, zt, labels, t, ce_weight)


def _check_labels(labels: object, logits: NDArray[np.float64]) -> NDArray[np.int64]:
    """``labels`` as class indices, one per row of ``logits`` (batch, classes) or (classes,)."""
    if labels is None:
        raise ValueError("labels are required when ce_weight > 0")
    rows, classes = np.atleast_2d(logits).shape
    y = np.asarray(labels)
    if y.dtype.kind not in "iu" or y.shape != (rows,):
        raise ValueError(
            f"labels must be integers, one per row of student_logits "
            f"(shape {(rows,)}); got dtype {y.dtype}, shape {y.shape}"
        )
    if np.any((y < 0) | (y >= classes)):
        raise ValueError(f"labels must lie in [0, {classes - 1}]")
    return y


def _distillation_loss(
    student_logits: NDArray[np.float64],
    teacher_logits: NDArray[np.float64],
    labels: NDArray[np.int64] | None,
    temperature: float,
    ce_weight: float,
) -> float:
    """``T**2 * KL(p_teacher || p_student)`` at temperature T, plus ``ce_weight * CE``."""
    t = temperature
    zs2 = np.atleast_2d(student_logits)
    zt2 = np.atleast_2d(teacher_logits)
    log_pt = log_softmax(zt2 / t, axis=-1)
    log_ps = log_softmax(zs2 / t, axis=-1)
    kl = np.sum(np.exp(log_pt) * (log_pt - log_ps), axis=-1)
    loss = t**2 * np.mean(kl)
    if ce_weight > 0:  # the usual cross-entropy with the true labels, at temperature 1
        ce = -log_softmax(zs2, axis=-1)[np.arange(len(labels)), labels]
        loss = loss + ce_weight * np.mean(ce)
    return float(loss)


# --- a small trained model to measure compression on -------------------------------------


def teacher_task(
    n_samples: int,
    *,
    d_in: int = 8,
    n_classes: int = 8,
    noise: float = 0.1,
    rng: np.random.Generator,
    task_seed: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """A learnable classification task: Gaussian inputs labelled by a fixed random network.

    The labelling rule (a random ReLU network with 64 hidden units, drawn from
    ``task_seed``, so every call with the same ``task_seed`` shares it) gives the class
    ``argmax(logits + noise * Gumbel)``; ``rng`` draws the inputs and the label noise.
    """
    n_samples = positive_int(n_samples, "n_samples")
    d_in = positive_int(d_in, "d_in")
    n_classes = int_in_range(n_classes, "n_classes", 2, None)
    noise = positive_scalar(noise, "noise")
    task_seed = int_in_range(task_seed, "task_seed", 0, None)
    rng = generator(rng)
    rule = np.random.default_rng(task_seed)
    a = rule.standard_normal((d_in, 64)) / np.sqrt(d_in)
    b = rule.standard_normal((64, n_classes)) * 4.0 / np.sqrt(64)
    x = rng.standard_normal((n_samples, d_in))
    hidden = np.maximum(x @ a, 0.0)
    logits = (hidden - np.sqrt(1.0 / (2.0 * np.pi))) @ b  # centred: classes about equally likely
    y = np.argmax(logits + noise * rng.gumbel(size=logits.shape), axis=1)
    return x, y


def mlp_forward(params: dict, x: object) -> NDArray[np.float64]:
    """Logits of a one-hidden-layer ReLU network ``relu(x W1 + b1) W2 + b2``."""
    x = _check_matrix(x, "x")
    for key in ("w1", "b1", "w2", "b2"):
        if key not in params:
            raise ValueError(f"params must hold w1, b1, w2, b2; {key} is missing")
    if x.shape[1] != np.shape(params["w1"])[0]:
        raise ValueError(f"x has {x.shape[1]} columns but w1 has {np.shape(params['w1'])[0]} rows")
    return _mlp_forward(params, x)


def _mlp_forward(params: dict, x: NDArray[np.float64]) -> NDArray[np.float64]:
    hidden = np.maximum(x @ params["w1"] + params["b1"], 0.0)
    return hidden @ params["w2"] + params["b2"]


def train_mlp(
    x: object,
    targets: object,
    *,
    hidden: int = 64,
    steps: int = 400,
    lr: float = 0.02,
    rng: np.random.Generator,
    init: dict | None = None,
    masks: dict | None = None,
) -> dict:
    """Train a one-hidden-layer ReLU classifier with full-batch Adam on cross-entropy.

    ``targets`` are integer labels (shape (n,)) or target distributions (shape (n, classes),
    rows summing to 1, e.g. a teacher's soft targets). Returns the parameters as a dict.
    ``init`` (parameters to start from, e.g. a pruned network) replaces the random start
    (``hidden`` is then read from it);
    ``masks`` (0/1 arrays for some of the parameters) are kept fixed: masked weights stay
    zero, which is fine-tuning after pruning.
    """
    x = _check_matrix(x, "x")
    raw = np.asarray(targets)
    if raw.ndim == 1:  # integer labels -> one-hot rows
        if raw.dtype.kind not in "iu" or raw.shape != (len(x),) or raw.min() < 0:
            raise ValueError(
                f"targets given as labels must be {len(x)} integers >= 0; "
                f"got dtype {raw.dtype}, shape {raw.shape}"
            )
        raw = np.eye(int(raw.max()) + 1)[raw]
    t = finite_array(raw, "targets")
    if t.ndim != 2 or t.shape[0] != x.shape[0]:
        raise ValueError(f"targets must be (n,) labels or (n, classes) with n = {x.shape[0]}; got {t.shape}")
    if np.any(t < 0) or not np.allclose(t.sum(axis=1), 1.0):
        raise ValueError("targets given as distributions must be non-negative rows summing to 1")
    hidden = positive_int(hidden, "hidden")
    steps = positive_int(steps, "steps")
    lr = positive_scalar(lr, "lr")
    rng = generator(rng)
    d, c = x.shape[1], t.shape[1]
    if init is None:
        init = {"w1": rng.standard_normal((d, hidden)) * np.sqrt(2.0 / d), "b1": np.zeros(hidden),
                "w2": rng.standard_normal((hidden, c)) / np.sqrt(hidden), "b2": np.zeros(c)}
    hidden = int(np.shape(init.get("w1", np.zeros((d, hidden))))[-1])  # init's width wins
    shapes = {"w1": (d, hidden), "b1": (hidden,), "w2": (hidden, c), "b2": (c,)}
    for key, shape in shapes.items():
        if np.shape(init.get(key)) != shape:
            raise ValueError(f"init[{key!r}] must have shape {shape}; got {np.shape(init.get(key))}")
    masks = {} if masks is None else masks
    for key, mask in masks.items():
        if key not in shapes or np.shape(mask) != shapes[key]:
            raise ValueError(f"masks[{key!r}] must be a parameter's shape {shapes.get(key)}")
    p = {k: np.asarray(v, dtype=float) * masks.get(k, 1.0) for k, v in init.items()}
    return _train_mlp(x, t, p, masks, steps, lr)


def _train_mlp(x, t, p, masks, steps, lr) -> dict:
    """Full-batch Adam on the mean cross-entropy between ``t`` and softmax(logits)."""
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(val) for k, val in p.items()}
    for step in range(1, steps + 1):
        h = np.maximum(x @ p["w1"] + p["b1"], 0.0)
        dz = (softmax(h @ p["w2"] + p["b2"], axis=1) - t) / len(x)  # d loss / d logits
        dh = (dz @ p["w2"].T) * (h > 0)
        g = {"w1": x.T @ dh, "b1": dh.sum(0), "w2": h.T @ dz, "b2": dz.sum(0)}
        for k in p:
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            m_hat, v_hat = m[k] / (1 - 0.9**step), v[k] / (1 - 0.999**step)
            p[k] = (p[k] - lr * m_hat / (np.sqrt(v_hat) + 1e-8)) * masks.get(k, 1.0)
    return p


def accuracy_and_loss(logits: object, labels: object) -> tuple[float, float]:
    """Classification accuracy and mean cross-entropy (nats) of ``logits`` on ``labels``."""
    z = _check_matrix(logits, "logits")
    y = _check_labels(labels, z)
    ce = -log_softmax(z, axis=1)[np.arange(len(y)), y]
    return float(np.mean(np.argmax(z, axis=1) == y)), float(np.mean(ce))


# --- the quantized factors of a product, to split its error by channel ---------------------


QUANT_METHODS = ("tensor", "zeropoint", "vector", "smoothquant", "smoothquant-vector", "llm-int8")


def quantized_factors(
    x: object, w: object, *, method: str, alpha: float = 0.5, threshold: float = 6.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The (dequantized) factors ``X_hat, W_hat`` whose product an int8 method computes.

    Channel ``j`` of ``X_hat @ W_hat`` stands in for channel ``j`` of ``X @ W`` (for
    SmoothQuant, after undoing the exact rescaling), so the error can be split by channel.
    Methods: ``QUANT_METHODS``.
    """
    x = _check_matrix(x, "x")
    w = _check_matrix(w, "w")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x and w do not chain: x has {x.shape[1]} columns, w has {w.shape[0]} rows")
    if method not in QUANT_METHODS:
        raise ValueError(f"method must be one of {QUANT_METHODS}; got {method!r}")
    alpha = _check_alpha(alpha)
    threshold = positive_scalar(threshold, "threshold")
    return _quantized_factors(x, w, method, alpha, threshold)


def _quantized_factors(x, w, method, alpha, threshold):
    per_token = dict(granularity="row")
    if method in ("tensor", "zeropoint"):
        scheme = "absmax" if method == "tensor" else "zeropoint"
        return fake_quantize(x, scheme=scheme), fake_quantize(w, scheme=scheme)
    if method == "vector":
        return fake_quantize(x, **per_token), fake_quantize(w, granularity="column")
    if method.startswith("smoothquant"):
        s = _smoothquant_scales(x, w, alpha)
        gx, gw = ("row", "column") if method.endswith("vector") else ("tensor", "tensor")
        return fake_quantize(x / s, granularity=gx), fake_quantize(w * s[:, None], granularity=gw)
    x_hat, w_hat = x.copy(), w.copy()  # LLM.int8(): outlier columns stay in float
    regular = np.setdiff1d(np.arange(x.shape[1]), outlier_dims(x, threshold))
    if regular.size:
        x_hat[:, regular] = fake_quantize(x[:, regular], **per_token)
        w_hat[regular] = fake_quantize(w[regular], granularity="column")
    return x_hat, w_hat
