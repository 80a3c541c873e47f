"""Seeded synthetic queries and batches: random token ids after [CLS], lengths fixed,
Normal or uniform. The workloads of the profiler, the benchmarks and the notebooks."""
from __future__ import annotations

import random
from typing import Sequence

from pets.batching.batch import Batch
from pets.batching.policies.base import batch_of_queries
from pets.batching.query import Query

CLS = 101


def random_queries(tasks: Sequence[str], lengths: Sequence[int], vocab_size: int, *,
                   seed: int = 0) -> list[Query]:
    """One query per length, tasks cycled, random token ids after [CLS]; ids 0, 1, ..."""
    rng = random.Random(seed)
    return [Query(task=tasks[i % len(tasks)], id=i,
                  input_ids=[CLS] + [rng.randrange(1000, vocab_size) for _ in range(n - 1)])
            for i, n in enumerate(lengths)]


def normal_lengths(n: int, mean: float, std: float, *, seed: int = 0, max_len: int = 128) -> list[int]:
    """n lengths ~ Normal(mean, std), rounded and clipped to [1, max_len]."""
    rng = random.Random(seed)
    return [min(max_len, max(1, round(rng.gauss(mean, std)))) for _ in range(n)]


def random_batches(eng, n: int, max_batch: int, max_len: int, seed: int) -> list[Batch]:
    """n mixed batches over the tasks of `eng` (anything with `.tasks` and `.config`):
    1..max_batch queries over 1..16 tasks, lengths uniform in 1..max_len."""
    rng = random.Random(seed)
    names = list(eng.tasks)
    out = []
    for i in range(n):
        size = rng.randint(1, max_batch)
        tasks = rng.sample(names, rng.randint(1, min(size, 16, len(names))))
        lengths = [rng.randint(1, max_len) for _ in range(size)]
        qs = random_queries([tasks[j % len(tasks)] for j in range(size)], lengths,
                            eng.config.vocab_size, seed=seed * 100_003 + i)
        out.append(batch_of_queries(qs))
    return out
