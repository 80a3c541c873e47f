"""Optimal segmentation of a sequence into contiguous groups (the batching DPs).

`segment_dp(costs)` takes costs[j, k] = cost of the group that ends at item j
(inclusive) and holds k + 1 items (inf where not allowed) and returns the group
boundaries minimising the total. O(N * K) with the inner minimum vectorised.
`exhaustive_segments` enumerates every segmentation: the test oracle.
"""
from __future__ import annotations

from itertools import product
from typing import Callable

import numpy as np


def segment_dp(costs: np.ndarray) -> list[int]:
    """Boundaries [0, b1, ..., N] of the cheapest segmentation."""
    n, kmax = costs.shape
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    start = np.zeros(n + 1, dtype=np.int64)
    for j in range(n):
        k = min(kmax, j + 1)
        total = best[j - np.arange(k)] + costs[j, :k]  # group = items j-k'..j for k' in 0..k-1
        i = int(np.argmin(total))
        best[j + 1] = total[i]
        start[j + 1] = j - i
    bounds = [n]
    while bounds[-1] > 0:
        bounds.append(int(start[bounds[-1]]))
    return bounds[::-1]


def exhaustive_segments(n: int, group_cost: Callable[[int, int], float],
                        max_size: int) -> tuple[float, list[int]]:
    """Minimum over all segmentations of range(n) into groups of <= max_size items.

    group_cost(i, j) is the cost of items i..j-1. For tests: 2^(n-1) candidates.
    """
    best = (np.inf, [])
    for cuts in product((False, True), repeat=max(n - 1, 0)):
        bounds = [0] + [i + 1 for i, c in enumerate(cuts) if c] + [n]
        if any(b - a > max_size for a, b in zip(bounds, bounds[1:])):
            continue
        total = sum(group_cost(a, b) for a, b in zip(bounds, bounds[1:]))
        if total < best[0]:
            best = (total, bounds)
    return best


def window_sizes(n: int, kmax: int) -> tuple[np.ndarray, np.ndarray]:
    """For costs[j, k]: start index j - k of each window and a mask of windows that fit."""
    j = np.arange(n)[:, None]
    k = np.arange(kmax)[None, :]
    start = j - k
    return start, start >= 0
