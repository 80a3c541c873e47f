"""A query (one sequence of one task) and the engine's answer to it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from pets.errors import InvalidQueryError


@dataclass(frozen=True, kw_only=True)
class Query:
    """One request: token ids of one sequence, to be served under `task`.

    `input_ids` may be given as a list, tuple or 1-D tensor; it is stored as a tuple.
    """

    task: str
    input_ids: tuple[int, ...]
    id: int = 0
    arrival: float = 0.0

    def __post_init__(self) -> None:
        ids = self.input_ids
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1:
                raise InvalidQueryError(
                    f"query {self.id}: input_ids must be 1-D, got shape {tuple(ids.shape)}"
                )
            ids = ids.tolist()
        try:
            ids = tuple(int(i) for i in ids)
        except (TypeError, ValueError):
            raise InvalidQueryError(
                f"query {self.id}: input_ids must be a sequence of ints"
            ) from None
        if not ids:
            raise InvalidQueryError(f"query {self.id} of task {self.task!r} has no tokens")
        object.__setattr__(self, "input_ids", ids)

    @property
    def length(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class Result:
    """Output of one query under its task.

    pooled: [hidden] BERT pooler output. logits: [num_labels], or None without a head.
    """

    query_id: int
    task: str
    pooled: torch.Tensor
    logits: torch.Tensor | None


def as_queries(items: Sequence[Query]) -> list[Query]:
    items = list(items)
    bad = [type(q).__name__ for q in items if not isinstance(q, Query)]
    if bad:
        raise InvalidQueryError(f"expected pets.Query objects, got {bad[0]}")
    return items
