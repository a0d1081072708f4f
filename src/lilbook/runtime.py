"""What differs between a native Python kernel and the one in the reader's browser.

The book's live mode runs the chapters in Pyodide, CPython compiled to 32-bit WebAssembly. Two things
behave differently there, and the package's code goes through the helpers below instead:

- Pyodide's numpy is built without BLAS: ``a @ b`` runs numpy's plain loop, about fifty times slower
  than scipy's OpenBLAS in the same browser (a 2000 x 800 by 800 x 2000 product took 14 s against
  0.25 s under Node); :func:`matmul` hands large float products of two matrices to scipy's BLAS
  there, and is exactly ``np.matmul`` natively;

- ``np.bincount`` refuses 64-bit integer input on a 32-bit platform ("Cannot cast array data from
  dtype('int64') to dtype('int32') according to the rule 'safe'"); :func:`bincount` converts indices to
  the platform's own index type first, which changes nothing natively (``np.intp`` is 64 bits there);
- there are no BLAS threads to limit in the browser, and asking threadpoolctl costs most of a second per
  call; :func:`one_blas_thread` limits BLAS to one thread natively and does nothing in the browser.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: True inside Pyodide (the book's live mode in a browser)
IN_BROWSER = sys.platform == "emscripten"
#: the platform's array-index type (32 bits in the browser)
INDEX = np.dtype(np.intp)


def bincount(x: ArrayLike, weights: ArrayLike | None = None, minlength: int = 0) -> NDArray:
    """``np.bincount`` that also accepts 64-bit indices on a 32-bit platform (same result, same errors)."""
    indices = np.asarray(x)
    if indices.dtype.kind in "iu" and indices.dtype != INDEX:
        limits = np.iinfo(INDEX)
        if indices.size and (indices.max() > limits.max or indices.min() < limits.min):
            raise ValueError(f"x holds an index outside this platform's index range [{limits.min}, {limits.max}]")
        indices = indices.astype(INDEX)
    return np.bincount(indices, weights=weights, minlength=minlength)


def one_blas_thread() -> AbstractContextManager:
    """Limit BLAS to one thread (natively: small products run faster so on a busy machine).

    The limit applies as soon as this is called and is lifted when its ``with`` block ends; in the
    browser, which has no BLAS threads, it is a no-op.
    """
    if IN_BROWSER:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


#: below this many multiply-adds numpy's own loop is as quick as calling BLAS
BLAS_MIN_WORK = 50_000


def matmul(a: ArrayLike, b: ArrayLike) -> NDArray:
    """``a @ b``: natively exactly ``np.matmul``; in the browser a large float64 product of two
    matrices (2-D arrays) is computed by scipy's BLAS ``dgemm`` (same result up to rounding).

    Anything else (vectors, stacks of matrices, complex or integer results, small products,
    mismatched shapes) goes to ``np.matmul``, which raises its own error for bad shapes.
    """
    if not IN_BROWSER:
        return np.matmul(a, b)
    x, y = np.asarray(a), np.asarray(b)
    if (
        x.ndim != 2
        or y.ndim != 2
        or x.shape[1] != y.shape[0]
        or np.result_type(x, y) != np.float64
        or x.shape[0] * x.shape[1] * y.shape[1] < BLAS_MIN_WORK
    ):
        return np.matmul(x, y)
    from scipy.linalg import blas

    # (x y)^T = y^T x^T: the transposes of C-ordered arrays are Fortran-ordered, so BLAS reads
    # them without a copy, and the transpose of its Fortran-ordered result is C-ordered like numpy's
    return blas.dgemm(1.0, y.T, x.T).T
