"""Interleaved timing for side-by-side comparisons on a noisy machine.

Every repeat times each case once, in turn, so drift (other jobs, clocks) hits
all cases alike; a case can be run `inner` times per timing so that small and
large cases are exposed to the noise for similar spans. Medians per case.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable, Hashable, Mapping

from pets.timing import sync


def interleaved_medians(cases: Mapping[Hashable, Callable[[], object]], device: str, *,
                        repeats: int, warmup: int = 1,
                        inner: Mapping[Hashable, int] | None = None) -> dict[Hashable, float]:
    """Median seconds per call of each case."""
    times = interleaved_times(cases, device, repeats=repeats, warmup=warmup, inner=inner)
    return {k: statistics.median(v) for k, v in times.items()}


def interleaved_times(cases: Mapping[Hashable, Callable[[], object]], device: str, *,
                      repeats: int, warmup: int = 1,
                      inner: Mapping[Hashable, int] | None = None) -> dict[Hashable, list[float]]:
    """Every repeat's seconds per call of each case (A B A B rounds after warm-up)."""
    inner = inner or {}
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    times: dict[Hashable, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for key, fn in cases.items():
            n = max(1, inner.get(key, 1))
            sync(device)
            start = time.perf_counter()
            for _ in range(n):
                fn()
            sync(device)
            times[key].append((time.perf_counter() - start) / n)
    return times


def spread(samples: list[float]) -> tuple[float, float, float]:
    """(median, low, high): the median and the interquartile range of `samples`."""
    q = statistics.quantiles(samples, n=4, method="inclusive") if len(samples) > 1 else samples * 3
    return statistics.median(samples), q[0], q[-1]
