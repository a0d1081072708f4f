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
