"""Offered load and capacity: what a trace asks for, and what a system can serve at most.

`capacity_rps` comes from the system's cost model (the sim executor's prediction): the
trace's requests in arrival order, in full batches of `max_batch` at the trace's mean
length, requests over predicted seconds. A replay whose offered rate is far below every
system's capacity cannot tell the systems apart: they all keep up.
"""
from __future__ import annotations

import statistics

from pets.batching.policies.base import batch_of_queries
from pets.batching.query import Query
from pets.serving.systems import System
from pets.serving.trace import Trace

CAPACITY_BATCHES = 64  # batches of the trace the capacity estimate looks at (the first ones)


def offered_rps(trace: Trace) -> float:
    """Requests of the trace over the span of their arrivals (NaN for fewer than two)."""
    arrivals = [r.arrival_s for r in trace.requests]
    span = max(arrivals) - min(arrivals) if len(arrivals) > 1 else 0.0
    return len(arrivals) / span if span > 0 else float("nan")


def capacity_rps(system: System, trace: Trace, *, max_batch: int = 32,
                 batches: int = CAPACITY_BATCHES) -> float:
    """Requests per second `system` serves at most, by its cost model: the trace's servable
    requests in arrival order, in full batches of `max_batch` at the trace's mean length."""
    tasks = [r.task for r in trace.requests if system.refuses(r.task) is None]
    lengths = [n for r in trace.requests if (n := r.seq_len or len(r.input_ids or ()))]
    if not tasks:
        return float("nan")
    length = max(1, round(statistics.fmean(lengths))) if lengths else 32
    length = min(length, system.engine.config.max_position_embeddings)
    tasks = tasks[:batches * max_batch]
    seconds = 0.0
    for k in range(0, len(tasks), max_batch):
        qs = [Query(task=t, input_ids=(1,) * length, id=k + i)
              for i, t in enumerate(tasks[k:k + max_batch])]
        seconds += float(system.predict(batch_of_queries(qs)))
    return len(tasks) / seconds if seconds > 0 else float("nan")
