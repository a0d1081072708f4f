"""Mixture-of-experts routing under a capacity limit.

A router gives every token a probability over ``E`` experts; the token is sent to its top
``k``. Each expert processes at most ``capacity = round(C * k * n_tokens / E)`` assignments
per batch (``C`` is the capacity factor); assignments beyond that are dropped and the token
skips that expert through the residual connection.

Two ways of deciding *which* assignments get the scarce slots are simulated:

* ``"order"``: the first choices of all tokens are served before any second choice, and
  within one choice rank tokens are served in their order in the batch (the usual routing
  of GShard / Switch-style layers, called vanilla routing in V-MoE);
* ``"batch"``: batch prioritized routing (BPR, Riquelme et al. 2021): still first choices
  before second choices, but within a rank the tokens are served by decreasing priority
  score, the token's largest routing weight.

Every public function rejects impossible input with a ``ValueError`` or ``TypeError`` that
names the argument.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import softmax

from lilbook._checks import (
    finite_array,
    generator,
    int_in_range,
    positive_int,
    positive_scalar,
    real_scalar,
)
from lilbook.runtime import bincount

__all__ = ["PRIORITIES", "RoutingResult", "expert_capacity", "route_tokens", "router_probs"]

PRIORITIES = ("order", "batch")


@dataclass(frozen=True)
class RoutingResult:
    """What one routed batch looks like.

    ``kept`` has shape (n_tokens, k): whether the token's j-th choice got a slot.
    ``experts`` has the same shape: the expert of that choice.
    ``dropped_assignments``: share of the n_tokens * k assignments dropped.
    ``unrouted_tokens``: share of tokens that got no expert at all.
    ``dropped_weight``: share of the routing weight of all top-k assignments that was dropped.
    """

    kept: NDArray[np.bool_]
    experts: NDArray[np.int64]
    dropped_assignments: float
    unrouted_tokens: float
    dropped_weight: float


def expert_capacity(n_tokens: int, n_experts: int, k: int, capacity_factor: float) -> int:
    """``round(C * k * n_tokens / n_experts)``, at least 1: the slots per expert."""
    n_tokens = positive_int(n_tokens, "n_tokens")
    n_experts = positive_int(n_experts, "n_experts")
    k = int_in_range(k, "k", 1, n_experts)
    c = positive_scalar(capacity_factor, "capacity_factor")
    return max(1, int(round(c * k * n_tokens / n_experts)))


def router_probs(
    n_tokens: int,
    n_experts: int,
    *,
    d_model: int = 32,
    skew: float = 1.0,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Softmax routing probabilities of a random linear router on Gaussian tokens.

    Logits are ``h @ W + b`` with ``h ~ N(0, I)``, ``W ~ N(0, 1/d_model)`` and a per-expert
    bias ``b ~ N(0, skew**2)``: ``skew`` > 0 makes some experts more popular than others,
    as an imperfectly balanced router does.
    """
    n_tokens = positive_int(n_tokens, "n_tokens")
    n_experts = int_in_range(n_experts, "n_experts", 2, None)
    d_model = positive_int(d_model, "d_model")
    skew = real_scalar(skew, "skew")
    if not (np.isfinite(skew) and skew >= 0):
        raise ValueError(f"skew must be finite and >= 0 (allowed range: 0 <= skew < inf); got {skew!r}")
    rng = generator(rng)
    h = rng.standard_normal((n_tokens, d_model))
    w = rng.standard_normal((d_model, n_experts)) / np.sqrt(d_model)
    b = skew * rng.standard_normal(n_experts)
    return softmax(h @ w * 2.0 + b, axis=1)


def route_tokens(
    probs: object, *, k: int = 1, capacity_factor: float = 1.0, priority: str = "order"
) -> RoutingResult:
    """Route a batch of tokens with router probabilities ``probs`` (n_tokens, n_experts)."""
    p = finite_array(probs, "probs")
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"probs must have shape (n_tokens, n_experts >= 2); got {p.shape}")
    if np.any(p < 0):
        raise ValueError("probs must be non-negative")
    k = int_in_range(k, "k", 1, p.shape[1])
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {PRIORITIES}; got {priority!r}")
    cap = expert_capacity(p.shape[0], p.shape[1], k, capacity_factor)
    kept, experts = _route(p, k, cap, priority)
    weight = np.take_along_axis(p, experts, axis=1)
    return RoutingResult(
        kept=kept,
        experts=experts,
        dropped_assignments=float(1.0 - kept.mean()),
        unrouted_tokens=float(np.mean(~kept.any(axis=1))),
        dropped_weight=float(weight[~kept].sum() / weight.sum()),
    )


def _route(
    p: NDArray[np.float64], k: int, capacity: int, priority: str
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Fill each expert's ``capacity`` slots in priority order; return (kept, experts)."""
    n, n_experts = p.shape
    experts = np.argsort(-p, axis=1, kind="stable")[:, :k]  # each token's top-k choices
    token = np.repeat(np.arange(n), k)
    rank = np.tile(np.arange(k), n)
    if priority == "batch":  # BPR: within a choice rank, highest max-weight first
        order = np.lexsort((token, -p.max(axis=1)[token], rank))
    else:  # vanilla: within a choice rank, position in the batch
        order = np.lexsort((token, rank))
    queue = experts.ravel()[order]  # the expert asked for, in serving order
    # place of each request in its expert's queue: requests to one expert, counted in order
    by_expert = np.argsort(queue, kind="stable")
    counts = bincount(queue, minlength=n_experts)
    place = np.empty(len(queue), dtype=np.int64)
    place[by_expert] = np.arange(len(queue)) - np.repeat(np.cumsum(counts) - counts, counts)
    kept = np.zeros(n * k, dtype=bool)
    kept[order] = place < capacity
    return kept.reshape(n, k), experts
