"""Timing helpers every layer may use: device sync, one timed call, medians, device names.

On CUDA a kernel launch returns before the work is done, so every timing
synchronises the device before reading the clock. Lives at the bottom of the
layers (beside config and errors): the serving loop's real executor, the cost
model's profile lookup, the Ray workers and the benchmarks all time the same way.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def sync(device: torch.device | str) -> None:
    """Wait for the device's queued work (a no-op off CUDA)."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], object], device: torch.device | str) -> float:
    """Seconds of one call of `fn`, device work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def timed_call(fn: Callable[[], object], device: torch.device | str) -> tuple[float, object]:
    """(seconds, result) of one call of `fn`, device work included."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - start, out


def median_time(fn: Callable[[], object], device: torch.device | str, *,
                repeats: int = 5, warmup: int = 1) -> float:
    """Median seconds of `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    return statistics.median(time_once(fn, device) for _ in range(repeats))


def device_slug(device: torch.device | str) -> str:
    """A folder name for results of this device: 'cpu' or e.g. 'nvidia-h200'."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device).lower()
        return "-".join(name.replace("nvidia", "nvidia ").split()[:2])
    return "cpu"
