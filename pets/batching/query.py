"""A query (one sequence of one task) and the engine's answer to it."""
from __future__ import annotations

import math
import numbers
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
        if not isinstance(self.task, str):
            raise InvalidQueryError(f"query {self.id!r}: task must be a task name (a string), "
                                    f"got {self.task!r}")
        if not _is_int(self.id):
            raise InvalidQueryError(f"query id must be an int, got {self.id!r}")
        if (not isinstance(self.arrival, (int, float)) or isinstance(self.arrival, bool)
                or not math.isfinite(self.arrival)):
            raise InvalidQueryError(f"query {self.id}: arrival must be a finite number of "
                                    f"seconds, got {self.arrival!r}")
        ids = _token_ids(self.input_ids, self.id)
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
    label_names: the task's class names, when it names them.
    """

    query_id: int
    task: str
    pooled: torch.Tensor
    logits: torch.Tensor | None
    label_names: tuple[str, ...] | None = None

    @property
    def label_index(self) -> int | None:
        """The predicted class (argmax of the logits); None without a head."""
        return None if self.logits is None else int(self.logits.argmax())

    @property
    def label(self) -> str | None:
        """The predicted class's name (its number as text when the task names none)."""
        i = self.label_index
        if i is None:
            return None
        return self.label_names[i] if self.label_names else str(i)


def _is_int(v: object) -> bool:
    """An integer (Python or NumPy), not a bool: what a token id or query id may be."""
    return type(v) is int or isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _token_ids(ids: object, qid: object) -> tuple[int, ...]:
    """`ids` as a tuple of ints; a float (101.7), a string ("101") or a bool is refused,
    never coerced, so that what runs is exactly what the caller sent."""
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1 or ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise InvalidQueryError(
                f"query {qid}: input_ids must be a 1-D integer tensor, got shape "
                f"{tuple(ids.shape)} of {ids.dtype}")
        return tuple(ids.tolist())
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (Sequence, range)) and not hasattr(
            ids, "__array__"):
        raise InvalidQueryError(
            f"query {qid}: input_ids must be a list of int token ids, got {type(ids).__name__} "
            f"{ids!r:.40}; tokenize text first")
    ids = list(ids.tolist() if hasattr(ids, "tolist") else ids)
    if all(type(i) is int for i in ids):  # plain ints (not bools): no ABC check per id
        return tuple(ids)
    bad = next((i for i in ids if not _is_int(i)), None)
    if bad is not None:
        raise InvalidQueryError(
            f"query {qid}: token id {bad!r} is not an int; input_ids must be a sequence of ints "
            "(token ids: no floats, strings or bools)")
    return tuple(int(i) for i in ids)


def as_queries(items: Sequence[Query]) -> list[Query]:
    if isinstance(items, (str, bytes, Query)) or not isinstance(items, Sequence) and not hasattr(
            items, "__iter__"):
        raise InvalidQueryError(
            f"expected a list of pets.Query objects, got {type(items).__name__}")
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
