"""Mini-batches and batches: the contract between the batcher and the engine.

A MiniBatch holds queries of one task. A Batch (macro-batch) is an ordered,
task-contiguous list of mini-batches that the engine runs in one pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

from pets.batching.query import Query, as_queries
from pets.errors import InvalidQueryError


@dataclass(frozen=True)
class MiniBatch:
    """Queries of a single task. Shape: `len(queries)` sequences."""

    task: str
    queries: tuple[Query, ...]

    def __post_init__(self) -> None:
        if not self.queries:
            raise InvalidQueryError(f"mini-batch of task {self.task!r} is empty")
        other = [q.task for q in self.queries if q.task != self.task]
        if other:
            raise InvalidQueryError(
                f"mini-batch of task {self.task!r} holds a query of task {other[0]!r}"
            )

    @property
    def lengths(self) -> list[int]:
        return [q.length for q in self.queries]

    @property
    def max_len(self) -> int:
        return max(self.lengths)


@dataclass(frozen=True)
class Batch:
    """An ordered list of mini-batches, run together; the engine derives the token
    segments of each task from it (`pets.engine.layout`)."""

    minibatches: tuple[MiniBatch, ...]

    def __post_init__(self) -> None:
        if not self.minibatches:
            raise InvalidQueryError("a batch needs at least one query")
        seen: set[str] = set()
        previous = None
        for mb in self.minibatches:
            if mb.task != previous and mb.task in seen:
                raise InvalidQueryError(
                    f"batch is not task-contiguous: task {mb.task!r} appears in two places"
                )
            seen.add(mb.task)
            previous = mb.task

    @cached_property
    def queries(self) -> list[Query]:
        return [q for mb in self.minibatches for q in mb.queries]

    @property
    def lengths(self) -> list[int]:
        return [q.length for q in self.queries]

    @cached_property
    def task_queries(self) -> dict[str, list[Query]]:
        """Each task's queries in batch order. A batch is task-contiguous, so every task is
        one run of rows: one PET segment."""
        out: dict[str, list[Query]] = {}
        for mb in self.minibatches:
            out.setdefault(mb.task, []).extend(mb.queries)
        return out

    @cached_property
    def group_of(self) -> list[int]:
        """Mini-batch index of each query."""
        return [g for g, mb in enumerate(self.minibatches) for _ in mb.queries]

    @property
    def tasks(self) -> list[str]:
        return list(self.task_queries)

    def __len__(self) -> int:
        return len(self.queries)


def batch_by_task(queries: Sequence[Query]) -> tuple[Batch, list[int]]:
    """Group queries into one task-contiguous Batch (tasks in first-seen order).

    Returns the batch and `order`, where `order[j]` is the index in `queries` of
    the batch's j-th query, so results can be put back in the caller's order.
    """
    queries = as_queries(queries)
    if not queries:
        raise InvalidQueryError("empty batch: pass at least one pets.Query")
    groups: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        groups.setdefault(q.task, []).append(i)
    order = [i for idx in groups.values() for i in idx]
    minibatches = tuple(
        MiniBatch(task, tuple(queries[i] for i in idx)) for task, idx in groups.items()
    )
    return Batch(minibatches), order
