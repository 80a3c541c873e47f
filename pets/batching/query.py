"""A query (one sequence of one task) and the engine's answer to it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import torch

from pets.errors import InvalidQueryError

if TYPE_CHECKING:
    from pets.config import ModelConfig


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


def check_query(cfg: "ModelConfig", q: Query) -> None:
    """Raise InvalidQueryError when `q` cannot run on a model of shape `cfg`."""
    if q.length > cfg.max_position_embeddings:
        raise InvalidQueryError(
            f"query {q.id} of task {q.task!r} has {q.length} tokens; this model takes "
            f"at most {cfg.max_position_embeddings}: truncate it")
    if min(q.input_ids) < 0 or max(q.input_ids) >= cfg.vocab_size:
        raise InvalidQueryError(
            f"query {q.id} of task {q.task!r} has a token id outside the vocabulary "
            f"[0, {cfg.vocab_size}); tokenize with this model's tokenizer")
