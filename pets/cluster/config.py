"""Typed, validated settings of a cluster replay."""
from __future__ import annotations

import math
from dataclasses import dataclass

from pets.cluster.backends import BACKENDS
from pets.cluster.balancers import BALANCERS
from pets.errors import InvalidSpecError


# The balancer runs every interval_s of trace time; a finer period would spin millions of
# empty rounds (1e-8 s over a 2 s trace is 2e8 rounds). `ticks` bounds rounds per replay.
MIN_INTERVAL_S = 1e-3
MAX_TICKS = 1_000_000


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class Fault:
    """Worker `worker` dies at `at_s` (trace time)."""

    at_s: float
    worker: int


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    workers: int = 4
    backend: str = "sim"
    balancer: str = "migrate"
    interval_s: float = 0.5          # balancer period and load-sampling period
    window_s: float = 2.0            # the balancer sees work routed over this trailing window
    bandwidth_gbs: float = 10.0      # link for PET migration, GB/s (PCIe 4 x16 ~ 25)
    link_latency_ms: float = 0.5     # fixed cost per migration
    memory_budget_mb: float | None = None  # PET bytes per worker; None: unbounded
    threshold: float = 0.15          # migrate acts when the hottest worker is this far above the mean
    max_moves: int = 4               # migrations started per balancer round
    min_busy: float = 0.5            # migrate leaves workers alone that are idle more than this
    faults: tuple[Fault, ...] = ()
    address: str | None = None       # ray: address of an existing cluster (None: local)
    devices: tuple[str, ...] | None = None  # ray: "cpu" or "cuda" per worker (default: GPUs first)

    def __post_init__(self) -> None:
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or self.workers < 1:
            raise InvalidSpecError(f"workers must be an int >= 1, got {self.workers!r}")
        if self.backend not in BACKENDS:
            raise InvalidSpecError(f"unknown backend {self.backend!r}; choose one of {sorted(BACKENDS)}")
        if self.balancer not in BALANCERS:
            raise InvalidSpecError(
                f"unknown balancer {self.balancer!r}; choose one of {sorted(BALANCERS)}")
        bad = [k for k, ok in {
            "interval_s": _finite(self.interval_s) and MIN_INTERVAL_S <= self.interval_s <= 3600,
            "window_s": _finite(self.window_s) and self.window_s > 0,
            "bandwidth_gbs": _finite(self.bandwidth_gbs) and self.bandwidth_gbs > 0,
            "link_latency_ms": _finite(self.link_latency_ms) and self.link_latency_ms >= 0,
            "memory_budget_mb": self.memory_budget_mb is None or (
                _finite(self.memory_budget_mb) and self.memory_budget_mb > 0),
            "threshold": _finite(self.threshold) and self.threshold >= 0,
            "max_moves": _is_int(self.max_moves) and self.max_moves >= 1,
            "min_busy": _finite(self.min_busy) and 0 <= self.min_busy <= 1}.items() if not ok]
        if bad:
            raise InvalidSpecError(
                f"cluster config out of range: {bad}; interval_s must be in [{MIN_INTERVAL_S:g}, "
                "3600] seconds, window_s, bandwidth_gbs and memory_budget_mb finite and > 0, "
                "link_latency_ms and threshold finite and >= 0, max_moves an int >= 1, "
                "min_busy in [0, 1]")
        for f in self.faults:
            if not (_is_int(f.worker) and 0 <= f.worker < self.workers):
                raise InvalidSpecError(f"fault {f} names no worker of 0..{self.workers - 1}")
            if not (_finite(f.at_s) and f.at_s >= 0):
                raise InvalidSpecError(f"fault {f}: the time must be a number >= 0")
        if self.devices is not None and len(self.devices) != self.workers:
            raise InvalidSpecError(f"{self.workers} workers need {self.workers} devices, got {self.devices}")

    def check_rounds(self, duration_s: float) -> None:
        """Raise if balancing every interval_s over `duration_s` of trace would take more than
        MAX_TICKS rounds."""
        rounds = duration_s / self.interval_s
        if rounds > MAX_TICKS:
            raise InvalidSpecError(
                f"interval_s {self.interval_s:g} gives {rounds:,.0f} balancer rounds over this "
                f"trace's {duration_s:g} s (at most {MAX_TICKS:,}); use interval_s >= "
                f"{duration_s / MAX_TICKS:.3g}")

    @property
    def budget_bytes(self) -> int | None:
        return None if self.memory_budget_mb is None else int(self.memory_budget_mb * 2**20)

    def transfer_s(self, nbytes: int) -> float:
        return self.link_latency_ms / 1e3 + nbytes / (self.bandwidth_gbs * 1e9)
