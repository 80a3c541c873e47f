"""Batching policies: pure functions `plan(queries, cost, *, max_batch, padding) -> list[Batch]`."""
from pets.batching.policies import coordinated, ours, simple  # noqa: F401  (registers them)
from pets.batching.policies.base import POLICIES, get_policy, plan

__all__ = ["POLICIES", "get_policy", "plan"]
