"""lilbook.runtime: the helpers that let the same code run natively and in the browser (Pyodide)."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

from lilbook import runtime


@given(st.lists(st.integers(0, 40), max_size=60), st.integers(0, 50))
def test_bincount_counts_like_numpy(values, minlength):
    x = np.array(values, dtype=np.int64)
    np.testing.assert_array_equal(runtime.bincount(x, minlength=minlength), np.bincount(x, minlength=minlength))


def test_bincount_takes_weights_positionally_like_numpy():
    x = np.array([0, 2, 2, 5], dtype=np.int32)
    w = np.array([0.5, 1.0, 2.0, 4.0])
    np.testing.assert_array_equal(runtime.bincount(x, w, 7), [0.5, 0, 3.0, 0, 0, 4.0, 0])


def test_bincount_hands_numpy_the_platforms_index_type(monkeypatch):
    """On wasm32 np.bincount refuses int64 ('according to the rule safe'); simulate that platform."""
    real = np.bincount

    def wasm32_bincount(x, weights=None, minlength=0):
        if np.asarray(x).dtype != np.int32:
            raise TypeError("Cannot cast array data from dtype('int64') to dtype('int32') according to the rule 'safe'")
        return real(x, weights=weights, minlength=minlength)

    monkeypatch.setattr(runtime, "INDEX", np.dtype(np.int32))
    monkeypatch.setattr(runtime.np, "bincount", wasm32_bincount)
    x = np.array([1, 1, 3], dtype=np.int64)
    np.testing.assert_array_equal(runtime.bincount(x), [0, 2, 0, 1])
    with pytest.raises(ValueError, match="index range"):
        runtime.bincount(np.array([2**40], dtype=np.int64))


def test_bincount_keeps_numpys_errors():
    with pytest.raises(ValueError):
        runtime.bincount(np.array([-1, 2]))
    with pytest.raises(TypeError):
        runtime.bincount(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="index range"):
        runtime.bincount(np.array([2**64 - 1], dtype=np.uint64))


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_one_blas_thread_limits_blas_natively_and_restores_it():
    before = blas_threads()
    assert before, "numpy's BLAS should be visible to threadpoolctl"
    with runtime.one_blas_thread():
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before


def test_one_blas_thread_does_nothing_in_the_browser(monkeypatch):
    monkeypatch.setattr(runtime, "IN_BROWSER", True)
    before = blas_threads()
    limit = runtime.one_blas_thread()
    assert isinstance(limit, contextlib.nullcontext)
    with limit:
        assert blas_threads() == before


shapes = st.tuples(st.integers(1, 60), st.integers(1, 60), st.integers(1, 60))


@given(shapes, st.integers(0, 2**32 - 1))
def test_matmul_is_numpys_matmul_natively(shape, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape[:2]), rng.standard_normal(shape[1:])
    np.testing.assert_array_equal(runtime.matmul(a, b), a @ b)


@given(shapes, st.integers(0, 2**32 - 1))
def test_matmul_in_the_browser_agrees_with_numpy(shape, seed):
    """Products both above and below BLAS_MIN_WORK (up to 60**3 multiply-adds)."""
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape[:2]), rng.standard_normal(shape[1:])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime, "IN_BROWSER", True)
        out = runtime.matmul(a, b)
    assert out.shape == (shape[0], shape[2]) and out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12 * shape[1])


@pytest.fixture
def monkeypatch_browser():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime, "IN_BROWSER", True)
        yield


def test_matmul_in_the_browser_uses_blas_for_large_products_only(monkeypatch_browser, monkeypatch):
    from scipy.linalg import blas

    calls = []
    real = blas.dgemm
    monkeypatch.setattr(blas, "dgemm", lambda *args: calls.append(args[1].shape) or real(*args))
    rng = np.random.default_rng(0)
    big_a, big_b = rng.standard_normal((200, 64)), rng.standard_normal((64, 100))
    np.testing.assert_allclose(runtime.matmul(big_a, big_b), big_a @ big_b, rtol=1e-12, atol=1e-12)
    # a transposed view and an integer matrix are products of float64 too
    np.testing.assert_allclose(runtime.matmul(big_b.T, big_a.T), big_b.T @ big_a.T, rtol=1e-12, atol=1e-12)
    ints = rng.integers(-5, 5, (64, 100))
    np.testing.assert_allclose(runtime.matmul(big_a, ints), big_a @ ints, rtol=1e-12, atol=1e-12)
    assert len(calls) == 3
    small = rng.standard_normal((4, 4))
    stack = rng.standard_normal((3, 100, 64))
    complex_b = big_b + 1j
    for x, y in [(small, small), (stack, big_b), (big_a, big_b[:, 0]), (big_a, complex_b)]:
        np.testing.assert_array_equal(runtime.matmul(x, y), np.matmul(x, y))
    assert len(calls) == 3, "only 2-D float64 products of at least BLAS_MIN_WORK multiply-adds use BLAS"
    with pytest.raises(ValueError, match="matmul"):
        runtime.matmul(big_a, big_a)  # (200, 64) @ (200, 64): numpy's own shape error
