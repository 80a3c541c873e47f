"""What every server of the serving loop does the same way, single or in a cluster:
turn a trace row into a query, decide when a batch is due, and take the next batch.

A batch is due when `max_batch` requests wait or the oldest has waited `max_wait_ms`;
the policy then plans over the first `window * max_batch` queued requests and the
batch holding the oldest one runs.
"""
from __future__ import annotations

import time
from functools import lru_cache
from typing import Sequence

import numpy as np

from pets.batching.batch import Batch
from pets.batching.cost import CostModel
from pets.batching.policies.base import Policy, batch_of_queries
from pets.batching.query import Query
from pets.errors import InvalidQueryError
from pets.serving.trace import TraceRow


def query_of(rid: int, row: TraceRow, vocab_size: int, rng: np.random.Generator, *,
             max_len: int | None = None) -> Query:
    """The query a request row stands for: its ids, its text tokenized, or seeded random ids.

    `max_len` (the model's longest sequence) is checked before any ids are made, so a row
    asking for 10**12 tokens is refused at once. Raises InvalidQueryError.
    """
    if max_len is not None and not row.input_ids and not row.text and row.seq_len > max_len:
        raise InvalidQueryError(
            f"seq_len {row.seq_len}: this model takes at most {max_len} tokens; "
            "truncate the request")
    if not row.input_ids and not row.text and row.seq_len < 1:
        raise InvalidQueryError(f"seq_len must be >= 1, got {row.seq_len}")
    if row.input_ids:
        ids = row.input_ids
    elif row.text:
        ids = tokenize(row.text)
    else:
        low = 1000 if vocab_size > 1000 else 1
        first = min(101, vocab_size - 1)
        ids = (first,) + tuple(int(i) for i in rng.integers(low, vocab_size, row.seq_len - 1))
    return Query(id=rid, task=row.task, arrival=row.arrival_s, input_ids=ids)


def due_at(queue: Sequence[Query], now: float, *, max_batch: int, max_wait_ms: float) -> float | None:
    """None when a batch should start now, else when the oldest queued request falls due."""
    due = queue[0].arrival + max_wait_ms / 1e3
    return due if len(queue) < max_batch and now < due else None


def take_batch(queue: list[Query], plan: Policy, cost: CostModel, *, max_batch: int, window: int,
               padding: str) -> tuple[Batch, list[Query], float]:
    """Plan over the queue's head; return the batch holding the oldest request, the rest of
    the queue (order kept) and the planning time in seconds. A lone request has one plan
    whatever the policy: it runs at once, unplanned (planning `best` costs 1-3 ms, the most
    of a quiet server's overhead)."""
    start = time.perf_counter()
    if len(queue) == 1:
        return batch_of_queries(queue), [], time.perf_counter() - start
    plans = plan(queue[: window * max_batch], cost, max_batch=max_batch, padding=padding)
    planning = time.perf_counter() - start
    oldest = queue[0].id
    batch = next(b for b in plans if any(q.id == oldest for q in b.queries))
    taken = {q.id for q in batch.queries}
    return batch, [q for q in queue if q.id not in taken], planning


@lru_cache(maxsize=1)
def tokenizer():
    """The uncased BERT WordPiece tokenizer shipped with MiniLM (every preset shares its vocab)."""
    from transformers import AutoTokenizer

    from pets.config import minilm_path

    return AutoTokenizer.from_pretrained(minilm_path())


def tokenize(text: str) -> tuple[int, ...]:
    """Token ids of `text` under that tokenizer, untruncated."""
    return tuple(tokenizer()(text, truncation=False)["input_ids"])
