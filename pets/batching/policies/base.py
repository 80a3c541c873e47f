"""The policy registry and what every policy shares: validation and Batch building.

A policy is a pure function `plan(queries, cost, *, max_batch, padding) -> list[Batch]`:
every query lands in exactly one batch, batches hold at most `max_batch` queries,
and each batch is task-contiguous (a task's mini-batches adjacent).
"""
from __future__ import annotations

from typing import Callable, Protocol, Sequence

from pets.batching.batch import Batch, MiniBatch, batch_by_task
from pets.batching.cost import CostModel
from pets.batching.padding import PADDING_MODES
from pets.batching.query import Query, as_queries
from pets.errors import InvalidSpecError


class Policy(Protocol):
    def __call__(self, queries: list[Query], cost: CostModel, *, max_batch: int,
                 padding: str) -> list[Batch]: ...


POLICIES: dict[str, Policy] = {}


def register_policy(name: str) -> Callable[[Policy], Policy]:
    def deco(fn: Policy) -> Policy:
        POLICIES[name] = fn
        return fn
    return deco


def get_policy(name: str) -> Policy:
    try:
        policy = POLICIES[name]
    except KeyError:
        raise InvalidSpecError(f"unknown batching policy {name!r}; choose one of {sorted(POLICIES)}") from None

    def checked(queries: Sequence[Query], cost: CostModel, *, max_batch: int = 32,
                padding: str = "none") -> list[Batch]:
        queries = validate(queries, cost, max_batch, padding)
        return policy(queries, cost, max_batch=max_batch, padding=padding) if queries else []
    checked.__name__ = f"plan_{name.replace('-', '_')}"
    return checked


def plan(policy: str, queries: Sequence[Query], cost: CostModel, *, max_batch: int = 32,
         padding: str = "none") -> list[Batch]:
    """Plan `queries` into batches with the named policy (validated)."""
    return get_policy(policy)(queries, cost, max_batch=max_batch, padding=padding)


def validate(queries: Sequence[Query], cost: CostModel, max_batch: int, padding: str) -> list[Query]:
    queries = as_queries(queries)
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise InvalidSpecError(f"max_batch must be an int >= 1, got {max_batch!r}")
    if padding not in PADDING_MODES:
        raise InvalidSpecError(f"unknown padding {padding!r}; choose one of {sorted(PADDING_MODES)}")
    for q in queries:
        cost.pet_of(q.task)
    return queries


def batch_of(minibatches: Sequence[MiniBatch]) -> Batch:
    """A Batch from mini-batches, reordered so each task's mini-batches are adjacent."""
    order: dict[str, list[MiniBatch]] = {}
    for mb in minibatches:
        order.setdefault(mb.task, []).append(mb)
    return Batch(tuple(mb for mbs in order.values() for mb in mbs))


def batch_of_queries(queries: Sequence[Query]) -> Batch:
    """A Batch with one mini-batch per task (first-seen order, queries in given order)."""
    return batch_by_task(queries)[0]


def by_length(queries: Sequence[Query]) -> list[Query]:
    return sorted(queries, key=lambda q: (q.length, q.task, q.id))


def by_task_then_length(queries: Sequence[Query]) -> list[Query]:
    first = {}
    for q in queries:
        first.setdefault(q.task, len(first))
    return sorted(queries, key=lambda q: (first[q.task], q.length, q.id))
