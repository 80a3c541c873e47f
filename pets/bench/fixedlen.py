"""Fixed-length workloads of the paper's Fig. 7-9 and 11: every task sends the
same number of queries of one length ("per-task batch {b, L}")."""
from __future__ import annotations

from pets.batching.batch import Batch, batch_by_task
from pets.batching.synthetic import random_queries

# (queries per task, tokens per query), as in the paper
PAPER_SHAPES: tuple[tuple[int, int], ...] = ((1, 128), (2, 64), (4, 32))
# short queries, where classification traffic lives (and PET ops weigh most)
SHORT_SHAPES: tuple[tuple[int, int], ...] = ((1, 16), (2, 16), (1, 32))


def shape_label(shape: tuple[int, int]) -> str:
    return f"{{{shape[0]},{shape[1]}}}"


def fixed_batch(tasks: list[str], shape: tuple[int, int], vocab_size: int, *,
                seed: int = 0) -> Batch:
    """One task-contiguous Batch: `shape[0]` queries of `shape[1]` tokens for each task."""
    per_task, seq_len = shape
    names = [t for t in tasks for _ in range(per_task)]
    return batch_by_task(random_queries(names, [seq_len] * len(names), vocab_size, seed=seed))[0]

