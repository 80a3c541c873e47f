"""Fixed-size batching: the baselines every smarter policy is compared with."""
from __future__ import annotations

from pets.batching.policies.base import batch_of_queries, by_length, register_policy


@register_policy("fixed")
def fixed(queries, cost, *, max_batch, padding):
    """Arrival order, `max_batch` queries per batch."""
    ordered = sorted(queries, key=lambda q: (q.arrival, q.id))
    return [batch_of_queries(ordered[i:i + max_batch]) for i in range(0, len(ordered), max_batch)]


@register_policy("fixed-sorted")
def fixed_sorted(queries, cost, *, max_batch, padding):
    """Sorted by length, then `max_batch` queries per batch (less padding)."""
    ordered = by_length(queries)
    return [batch_of_queries(ordered[i:i + max_batch]) for i in range(0, len(ordered), max_batch)]
