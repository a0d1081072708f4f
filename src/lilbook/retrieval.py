"""Long-term memory for an agent: maximum inner-product search (MIPS) and memory scoring.

An agent's long-term memory is a store of embedding vectors; recalling means finding the stored
vectors with the largest inner product with a query vector. This module has

* ``exact_mips``: brute force, the ground truth;
* two approximate searchers that look at only part of the store:
  ``build_lsh`` / ``lsh_search`` (random-hyperplane locality-sensitive hashing after the
  "simple-LSH" reduction of MIPS to cosine similarity) and ``build_ivf`` / ``ivf_search``
  (an inverted file over k-means clusters, probing the clusters whose centroids score highest);
* ``recall_at_k`` to compare them, ``time_per_query`` to time them, and
  ``clustered_embeddings`` for synthetic memories;
* the retrieval score of Generative Agents (Park et al. 2023): ``recency``, ``min_max`` and
  ``memory_scores``, a weighted sum of recency, importance and relevance.

Every searcher returns an integer array of shape ``(n_queries, k)``: the indices of the top-k
items per query, best first.
"""

from __future__ import annotations

import heapq
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lilbook._checks import finite_array, generator, int_in_range, nonnegative, positive_int, positive_scalar, real_array
from lilbook.runtime import bincount, one_blas_thread

__all__ = [
    "GraphIndex",
    "IVFIndex",
    "LSHIndex",
    "build_ivf",
    "build_lsh",
    "build_nsw",
    "clustered_embeddings",
    "exact_mips",
    "ivf_search",
    "kmeans",
    "lsh_first_tables",
    "lsh_search",
    "memory_scores",
    "min_max",
    "nsw_search",
    "recall_at_k",
    "recency",
    "text_relevance",
    "time_per_query",
]


# ------------------------------------------------------------------------------------------------
# Input checks
# ------------------------------------------------------------------------------------------------


def _matrix(x: object, name: str) -> NDArray[np.float64]:
    """A finite 2-D float array (n, d) with n, d >= 1."""
    arr = finite_array(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, d); got shape {arr.shape}")
    return arr


def _queries(x: object, d: int, name: str = "queries") -> NDArray[np.float64]:
    """Queries as a finite (m, d) array; a single vector of length d becomes one row."""
    arr = finite_array(x, name)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != d:
        raise ValueError(f"{name} must have shape (m, {d}) or ({d},) to match the index; got shape {arr.shape}")
    return arr


def _top_k(scores: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    """Indices of the k largest entries of each row, best first (equal scores: lower index first)."""
    n = scores.shape[1]
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


# ------------------------------------------------------------------------------------------------
# Exact search
# ------------------------------------------------------------------------------------------------


def exact_mips(index: object, queries: object, k: int) -> NDArray[np.int64]:
    """Exact maximum inner-product search by brute force.

    Parameters
    ----------
    index : array (n, d)
        The stored vectors, finite.
    queries : array (m, d) or (d,)
        The query vectors, finite, with the index's dimension.
    k : int
        How many items to return per query, ``1 <= k <= n``.

    Returns
    -------
    array of int, shape (m, k)
        Row i holds the indices of the k stored vectors with the largest inner product with
        query i, best first.
    """
    idx = _matrix(index, "index")
    q = _queries(queries, idx.shape[1])
    k = int_in_range(k, "k", 1, idx.shape[0])
    return _top_k(q @ idx.T, k)


def _rerank(idx: NDArray[np.float64], q: NDArray[np.float64], candidates: NDArray[np.int64], k: int) -> NDArray[np.int64]:
    """Score the candidate items exactly against one query and keep the best k."""
    scores = idx[candidates] @ q
    best = _top_k(scores[None, :], k)[0]
    return candidates[best]


# ------------------------------------------------------------------------------------------------
# Locality-sensitive hashing
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LSHIndex:
    """Hash tables built by :func:`build_lsh`."""

    vectors: NDArray[np.float64]  # (n, d) the stored vectors, for exact re-ranking
    planes: NDArray[np.float64]  # (n_tables, n_bits, d + 1) random hyperplanes
    codes: NDArray[np.int64]  # (n_tables, n) bucket code of every item in every table
    buckets: tuple[dict[int, NDArray[np.int64]], ...]  # per table: code -> item indices


def _bucket_codes(planes: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.int64]:
    """Sign pattern of x (rows) against each table's hyperplanes, packed into one integer per row."""
    bits = (np.einsum("tbd,nd->tnb", planes, x) > 0).astype(np.int64)
    weights = 1 << np.arange(planes.shape[1], dtype=np.int64)
    return bits @ weights  # (n_tables, n)


def build_lsh(index: object, n_bits: int, n_tables: int, rng: np.random.Generator) -> LSHIndex:
    """Hash the stored vectors into ``n_tables`` tables of ``2**n_bits`` buckets each.

    Inner products are turned into cosines first (simple-LSH, Neyshabur & Srebro): every item is
    divided by the largest norm M in the store and given one extra coordinate
    ``sqrt(1 - |x/M|^2)``, so all items lie on the unit sphere; a query gets a 0 there. Then
    ``q . x`` is proportional to the cosine between the extended vectors, and random hyperplanes
    (Charikar's sign hashing) put vectors with a small angle into the same bucket often.

    Parameters
    ----------
    index : array (n, d), finite
    n_bits : int in [1, 30]
        Hyperplanes per table; more bits make smaller buckets.
    n_tables : int >= 1
        Independent tables; an item is a candidate if it shares a bucket in any table.
    rng : numpy.random.Generator
    """
    idx = _matrix(index, "index")
    n_bits = int_in_range(n_bits, "n_bits", 1, 30)
    n_tables = positive_int(n_tables, "n_tables")
    rng = generator(rng)
    norms = np.linalg.norm(idx, axis=1)
    scale = norms.max() if norms.max() > 0 else 1.0
    extra = np.sqrt(np.clip(1.0 - (norms / scale) ** 2, 0.0, None))
    extended = np.hstack([idx / scale, extra[:, None]])
    planes = rng.standard_normal((n_tables, n_bits, idx.shape[1] + 1))
    codes = _bucket_codes(planes, extended)
    buckets = []
    for table in codes:
        order = np.argsort(table, kind="stable")
        keys, starts = np.unique(table[order], return_index=True)
        groups = np.split(order, starts[1:])
        buckets.append({int(key): grp.astype(np.int64) for key, grp in zip(keys, groups)})
    return LSHIndex(idx, planes, codes, tuple(buckets))


def lsh_search(lsh: LSHIndex, queries: object, k: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Approximate MIPS with an :class:`LSHIndex`.

    The candidates of a query are the items sharing its bucket in at least one table; they are
    scored exactly and the best k kept. When fewer than k items collide, the nearest codes in
    Hamming distance (in the first table) fill up the candidate list, so a full row of k indices
    always comes back.

    Returns
    -------
    found : array of int, shape (m, k)
        Top-k indices per query, best first.
    scanned : array of int, shape (m,)
        How many items were scored exactly for each query (the work done).
    """
    if not isinstance(lsh, LSHIndex):
        raise TypeError(f"lsh must be an LSHIndex from build_lsh; got {type(lsh).__name__}")
    n, d = lsh.vectors.shape
    q = _queries(queries, d)
    k = int_in_range(k, "k", 1, n)
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    q_ext = np.hstack([q / np.where(norms > 0, norms, 1.0), np.zeros((q.shape[0], 1))])
    q_codes = _bucket_codes(lsh.planes, q_ext)  # (n_tables, m)
    found = np.empty((q.shape[0], k), dtype=np.int64)
    scanned = np.empty(q.shape[0], dtype=np.int64)
    empty = np.empty(0, dtype=np.int64)
    for i in range(q.shape[0]):
        hits = [table.get(int(code), empty) for table, code in zip(lsh.buckets, q_codes[:, i])]
        candidates = np.unique(np.concatenate(hits))
        if candidates.size < k:
            diff = lsh.codes[0] ^ q_codes[0, i]
            hamming = sum((diff >> b) & 1 for b in range(lsh.planes.shape[1]))
            nearest = np.argsort(hamming, kind="stable")
            extra = nearest[~np.isin(nearest, candidates)][: k - candidates.size]
            candidates = np.concatenate([candidates, extra])
        scanned[i] = candidates.size
        found[i] = _rerank(lsh.vectors, q[i], candidates, k)
    return found, scanned


def lsh_first_tables(lsh: LSHIndex, n_tables: int) -> LSHIndex:
    """The index made of the first ``n_tables`` tables of ``lsh`` (the same hyperplanes, not new ones).

    Sweeping ``n_tables`` over one index built with the most tables gives nested table sets, so a
    recall curve moves only because tables are added, never because the random planes changed.
    """
    if not isinstance(lsh, LSHIndex):
        raise TypeError(f"lsh must be an LSHIndex from build_lsh; got {type(lsh).__name__}")
    n_tables = int_in_range(n_tables, "n_tables", 1, len(lsh.buckets))
    return LSHIndex(lsh.vectors, lsh.planes[:n_tables], lsh.codes[:n_tables], lsh.buckets[:n_tables])


# ------------------------------------------------------------------------------------------------
# Inverted file over k-means clusters
# ------------------------------------------------------------------------------------------------


def kmeans(x: object, n_clusters: int, rng: np.random.Generator, n_iter: int = 20) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Lloyd's k-means with k-means++ seeding; an emptied cluster is re-seeded at the worst-fit point.

    Returns the centroids ``(n_clusters, d)`` and the cluster label of every row of ``x``.
    """
    pts = _matrix(x, "x")
    n_clusters = int_in_range(n_clusters, "n_clusters", 1, pts.shape[0])
    n_iter = positive_int(n_iter, "n_iter")
    rng = generator(rng)
    with one_blas_thread():  # small products: one BLAS thread is faster on a busy machine
        return _lloyd(pts, n_clusters, rng, n_iter)


def _lloyd(pts: NDArray[np.float64], n_clusters: int, rng: np.random.Generator, n_iter: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    sq = np.einsum("nd,nd->n", pts, pts)
    # k-means++: each new centre is drawn with probability proportional to squared distance.
    centroids = [pts[rng.integers(pts.shape[0])]]
    dist = np.maximum(sq - 2 * pts @ centroids[0] + centroids[0] @ centroids[0], 0.0)
    for _ in range(1, n_clusters):
        p = dist / dist.sum() if dist.sum() > 0 else None
        c = pts[rng.choice(pts.shape[0], p=p)]
        centroids.append(c)
        dist = np.minimum(dist, np.maximum(sq - 2 * pts @ c + c @ c, 0.0))
    cent = np.array(centroids)
    for _ in range(n_iter):
        d2 = sq[:, None] - 2 * pts @ cent.T + np.einsum("kd,kd->k", cent, cent)[None, :]
        labels = np.argmin(d2, axis=1)
        counts = bincount(labels, minlength=n_clusters)
        sums = np.zeros_like(cent)
        np.add.at(sums, labels, pts)
        new = cent.copy()
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled, None]
        if not filled.all():  # move each empty centre to the point that fits its cluster worst
            worst = np.argsort(-d2[np.arange(pts.shape[0]), labels])[: int((~filled).sum())]
            new[~filled] = pts[worst]
        if np.allclose(new, cent):
            cent = new
            break
        cent = new
    d2 = sq[:, None] - 2 * pts @ cent.T + np.einsum("kd,kd->k", cent, cent)[None, :]
    return cent, np.argmin(d2, axis=1).astype(np.int64)


@dataclass(frozen=True)
class IVFIndex:
    """An inverted file built by :func:`build_ivf`."""

    vectors: NDArray[np.float64]  # (n, d)
    centroids: NDArray[np.float64]  # (n_lists, d)
    lists: tuple[NDArray[np.int64], ...]  # item indices of each cluster


def build_ivf(index: object, n_lists: int, rng: np.random.Generator, n_iter: int = 20) -> IVFIndex:
    """Cluster the stored vectors with :func:`kmeans` into ``n_lists`` inverted lists."""
    idx = _matrix(index, "index")
    n_lists = int_in_range(n_lists, "n_lists", 1, idx.shape[0])
    cent, labels = kmeans(idx, n_lists, rng, n_iter)
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(n_lists))
    return IVFIndex(idx, cent, tuple(np.split(order.astype(np.int64), starts[1:])))


def ivf_search(ivf: IVFIndex, queries: object, k: int, n_probe: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Approximate MIPS with an :class:`IVFIndex`.

    A query visits the ``n_probe`` lists whose centroids have the largest inner product with it
    (more lists, in the same order, if those hold fewer than k items) and scores their items
    exactly. Returns ``(found, scanned)`` as :func:`lsh_search` does.
    """
    if not isinstance(ivf, IVFIndex):
        raise TypeError(f"ivf must be an IVFIndex from build_ivf; got {type(ivf).__name__}")
    n, d = ivf.vectors.shape
    q = _queries(queries, d)
    k = int_in_range(k, "k", 1, n)
    n_probe = int_in_range(n_probe, "n_probe", 1, len(ivf.lists))
    sizes = np.array([len(lst) for lst in ivf.lists])
    order = np.argsort(-(q @ ivf.centroids.T), axis=1, kind="stable")
    found = np.empty((q.shape[0], k), dtype=np.int64)
    scanned = np.empty(q.shape[0], dtype=np.int64)
    for i in range(q.shape[0]):
        enough = int(np.searchsorted(np.cumsum(sizes[order[i]]), k)) + 1
        visit = order[i, : max(n_probe, enough)]
        candidates = np.concatenate([ivf.lists[j] for j in visit])
        scanned[i] = candidates.size
        found[i] = _rerank(ivf.vectors, q[i], candidates, k)
    return found, scanned


# ------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------


def _index_rows(x: object, name: str) -> NDArray[np.int64]:
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array of item indices; got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (one row of indices per query); got shape {arr.shape}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must hold indices >= 0")
    srt = np.sort(arr, axis=1)
    if np.any(srt[:, 1:] == srt[:, :-1]):
        raise ValueError(f"{name} must not repeat an index within a row")
    return arr.astype(np.int64)


def recall_at_k(found: object, truth: object) -> float:
    """Mean fraction of each query's true top-k items that the search returned.

    ``found`` and ``truth`` are integer arrays with one row per query (the same number of rows;
    ``truth`` has k columns). Returns a float in [0, 1]; 1 means every true neighbour was found.
    """
    f = _index_rows(found, "found")
    t = _index_rows(truth, "truth")
    if f.shape[0] != t.shape[0]:
        raise ValueError(f"found and truth must have one row per query each; got {f.shape[0]} and {t.shape[0]} rows")
    hits = [np.intersect1d(fr, tr, assume_unique=True).size for fr, tr in zip(f, t)]
    return float(np.mean(hits) / t.shape[1])


def time_per_query(search: Callable[[NDArray[np.float64]], object], queries: object, repeats: int = 3) -> float:
    """Best-of-``repeats`` wall time of ``search(queries)`` divided by the number of queries (s).

    Timings depend on the machine and its load; use them for trends, not as exact numbers.
    """
    if not callable(search):
        raise TypeError(f"search must be callable; got {type(search).__name__}")
    q = finite_array(queries, "queries")
    if q.ndim != 2:
        raise ValueError(f"queries must be a 2-D array (m, d); got shape {q.shape}")
    repeats = positive_int(repeats, "repeats")
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        search(q)
        best = min(best, time.perf_counter() - start)
    return float(best / q.shape[0])


def clustered_embeddings(n: int, d: int, n_topics: int, rng: np.random.Generator, spread: float = 0.5) -> NDArray[np.float64]:
    """Synthetic memory embeddings: ``n`` vectors around ``n_topics`` random topic directions.

    Each vector is a unit topic direction plus Gaussian noise of standard deviation
    ``spread / sqrt(d)`` per coordinate, times a length drawn log-uniformly in [0.5, 2], so norms
    differ and inner-product search differs from cosine search.
    """
    n = positive_int(n, "n")
    d = positive_int(d, "d")
    n_topics = positive_int(n_topics, "n_topics")
    spread = positive_scalar(spread, "spread")
    rng = generator(rng)
    topics = rng.standard_normal((n_topics, d))
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    x = topics[rng.integers(n_topics, size=n)] + rng.normal(0.0, spread / np.sqrt(d), (n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x * np.exp(rng.uniform(np.log(0.5), np.log(2.0), (n, 1)))


# ------------------------------------------------------------------------------------------------
# Generative Agents: recency, importance and relevance
# ------------------------------------------------------------------------------------------------


def recency(hours_since_access: object, decay: float = 0.995) -> NDArray[np.float64]:
    """Exponential recency ``decay ** hours`` of memories last accessed that many hours ago."""
    hours = nonnegative(hours_since_access, "hours_since_access")
    decay = positive_scalar(decay, "decay")
    if decay > 1:
        raise ValueError(f"decay must be in (0, 1]; got {decay!r}")
    return decay**hours


def min_max(x: object, name: str = "x") -> NDArray[np.float64]:
    """Rescale a 1-D array linearly to [0, 1]; a constant array maps to all zeros."""
    arr = finite_array(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    span = arr.max() - arr.min()
    return np.zeros_like(arr) if span == 0 else (arr - arr.min()) / span


def memory_scores(
    hours_since_access: object,
    importance: object,
    relevance: object,
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
    decay: float = 0.995,
) -> NDArray[np.float64]:
    """Retrieval score of Generative Agents for every memory in the stream.

    ``score = w_rec * recency + w_imp * importance + w_rel * relevance``, with each of the three
    components min-max scaled to [0, 1] over the memories first. Recency is
    ``decay ** hours_since_access``; importance is the 1-10 rating the language model gave the
    memory when it was stored; relevance is the cosine similarity between the memory's embedding
    and the query's.

    Parameters
    ----------
    hours_since_access, importance, relevance : 1-D arrays of equal length
        Hours >= 0, importance finite (the paper uses 1-10), relevance finite (cosines).
    weights : three numbers >= 0, not all zero
    decay : float in (0, 1]
    """
    hours = nonnegative(hours_since_access, "hours_since_access")
    imp = finite_array(importance, "importance")
    rel = finite_array(relevance, "relevance")
    for name, arr in (("hours_since_access", hours), ("importance", imp), ("relevance", rel)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one value per memory); got shape {arr.shape}")
    if not (hours.shape == imp.shape == rel.shape):
        raise ValueError(
            "hours_since_access, importance and relevance must have the same length; "
            f"got {hours.shape[0]}, {imp.shape[0]} and {rel.shape[0]}"
        )
    w = nonnegative(real_array(weights, "weights"), "weights")
    if w.shape != (3,) or w.sum() == 0:
        raise ValueError(f"weights must be three numbers >= 0, not all zero; got {np.asarray(weights).tolist()}")
    parts = np.stack(
        [min_max(recency(hours, decay), "recency"), min_max(imp, "importance"), min_max(rel, "relevance")]
    )
    return w @ parts


_WORD = re.compile(r"[a-z]+")
STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or she he the they this to was "
    "were will with what which who should her his their about".split()
)


def text_relevance(memories: list[str], query: str) -> NDArray[np.float64]:
    """Cosine similarity between the bag-of-words vectors of each memory and of the query.

    A stand-in for the sentence embeddings a real agent would use: words are lower-cased,
    common function words dropped, and each text becomes a vector of word counts over the
    vocabulary of all texts. A text with no content words has similarity 0 with everything.
    """
    if isinstance(memories, str) or not isinstance(memories, (list, tuple)) or not memories:
        raise TypeError("memories must be a non-empty list of strings")
    if not all(isinstance(m, str) for m in memories) or not isinstance(query, str):
        raise TypeError("memories must be strings and query must be a string")
    tokens = [[w for w in _WORD.findall(t.lower()) if w not in STOPWORDS] for t in [*memories, query]]
    vocab = {w: i for i, w in enumerate(sorted({w for ts in tokens for w in ts}))}
    counts = np.zeros((len(tokens), max(len(vocab), 1)))
    for row, ts in enumerate(tokens):
        for w in ts:
            counts[row, vocab[w]] += 1
    norms = np.linalg.norm(counts, axis=1)
    unit = counts / np.where(norms > 0, norms, 1.0)[:, None]
    return unit[:-1] @ unit[-1]


# ------------------------------------------------------------------------------------------------
# A navigable small-world graph (one layer of HNSW)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphIndex:
    """A proximity graph built by :func:`build_nsw`."""

    vectors: NDArray[np.float64]  # (n, d) the stored vectors
    links: tuple[NDArray[np.int64], ...]  # neighbours of every item
    entry: int  # where every search starts (the first item inserted)


def _sphere(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Simple-LSH's map of the items onto the unit sphere in d + 1 dimensions (see :func:`build_lsh`)."""
    norms = np.linalg.norm(x, axis=1)
    scale = norms.max() if norms.max() > 0 else 1.0
    extra = np.sqrt(np.clip(1.0 - (norms / scale) ** 2, 0.0, None))
    return np.hstack([x / scale, extra[:, None]])


def build_nsw(index: object, n_links: int, rng: np.random.Generator) -> GraphIndex:
    """Insert the items one by one in random order, linking each to its ``n_links`` closest earlier items.

    Closeness is the cosine after simple-LSH's map to the sphere, so that a walk towards a query
    is a walk towards larger inner products. Links go both ways, so items inserted early collect
    many links and become the long-range "highways" of a small world. (NSW finds the closest
    earlier items with its own approximate search; here they are found exactly, which only
    makes construction slower.)
    """
    idx = _matrix(index, "index")
    n_links = int_in_range(n_links, "n_links", 1, max(1, idx.shape[0] - 1))
    rng = generator(rng)
    order = rng.permutation(idx.shape[0])
    with one_blas_thread():
        links = _nsw_links(_sphere(idx)[order], n_links)
    back = np.empty_like(order)
    back[order] = np.arange(order.size)  # position in insertion order -> item
    by_item = [order[links[back[i]]] for i in range(order.size)]
    return GraphIndex(idx, tuple(a.astype(np.int64) for a in by_item), int(order[0]))


def _nsw_links(points: NDArray[np.float64], n_links: int, block: int = 512) -> list[NDArray[np.int64]]:
    """Links between rows of ``points`` (already in insertion order): each row to its closest earlier rows, both ways."""
    n = points.shape[0]
    src, dst = [np.repeat(np.arange(1, n_links + 1), np.arange(1, n_links + 1))], [np.concatenate([np.arange(i) for i in range(1, n_links + 1)])]
    for start in range(n_links + 1, n, block):  # rows with more than n_links earlier rows, a block at a time
        rows = np.arange(start, min(start + block, n))
        sims = points[rows] @ points[: rows[-1]].T  # (rows, earlier)
        sims[np.arange(rows[-1])[None, :] >= rows[:, None]] = -np.inf  # only earlier rows count
        near = np.argpartition(-sims, n_links - 1, axis=1)[:, :n_links]
        src.append(np.repeat(rows, n_links))
        dst.append(near.ravel())
    a, b = np.concatenate(src), np.concatenate(dst)
    ends, starts = np.concatenate([a, b]), np.concatenate([b, a])  # every link in both directions
    order = np.argsort(starts, kind="stable")
    cuts = np.searchsorted(starts[order], np.arange(1, n))
    return np.split(ends[order].astype(np.int64), cuts)


def nsw_search(graph: GraphIndex, queries: object, k: int, ef: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Approximate MIPS by best-first search over a :class:`GraphIndex`.

    The search keeps the ``ef`` best items met so far (``ef >= k``), always expands the most
    promising unexpanded one, and stops when that is worse than the worst of the ``ef``. Returns
    ``(found, scanned)`` as :func:`lsh_search` does; ``scanned`` counts items whose inner product
    was computed.
    """
    if not isinstance(graph, GraphIndex):
        raise TypeError(f"graph must be a GraphIndex from build_nsw; got {type(graph).__name__}")
    n, d = graph.vectors.shape
    q = _queries(queries, d)
    k = int_in_range(k, "k", 1, n)
    ef = int_in_range(ef, "ef", k, n)
    found = np.empty((q.shape[0], k), dtype=np.int64)
    scanned = np.empty(q.shape[0], dtype=np.int64)
    for i in range(q.shape[0]):
        best, seen = _best_first(graph.vectors, graph.links, graph.entry, q[i], ef)
        found[i] = [j for _, j in sorted(best, reverse=True)[:k]]
        scanned[i] = seen
    return found, scanned


def _best_first(x: NDArray[np.float64], links: tuple[NDArray[np.int64], ...], entry: int, q: NDArray[np.float64], ef: int) -> tuple[list[tuple[float, int]], int]:
    """Greedy best-first walk: the ``ef`` best (score, item) pairs met, and how many items were scored."""
    start = float(x[entry] @ q)
    visited = {entry}
    frontier = [(-start, entry)]  # max-heap of items to expand
    best = [(start, entry)]  # min-heap of the ef best so far
    while frontier:
        neg, item = heapq.heappop(frontier)
        if len(best) >= ef and -neg < best[0][0]:
            break  # nothing left to expand can beat what we hold
        new = [j for j in links[item].tolist() if j not in visited]
        visited.update(new)
        for score, j in zip((x[new] @ q).tolist(), new):
            if len(best) < ef or score > best[0][0]:
                heapq.heappush(frontier, (-score, j))
                heapq.heappush(best, (score, j))
                if len(best) > ef:
                    heapq.heappop(best)
    return best, len(visited)
