"""Timing helpers: warm-up, repeats, medians; device-synchronised."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], object], device: torch.device | str) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def median_time(fn: Callable[[], object], device: torch.device | str, *,
                repeats: int = 5, warmup: int = 1) -> float:
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
