"""Typed, validated settings of a live (wall-clock) cluster run on Ray."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from pets.cluster.balancers import BALANCERS
from pets.cluster.config import Fault
from pets.errors import InvalidSpecError
from pets.serving.loop import ServeConfig


def _positive(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


@dataclass(frozen=True, kw_only=True)
class LiveConfig:
    """N Ray actors serving at once. `queue(engine)` makes each worker's queue and batching
    thread: the single server's scheduler, from the layer above
    (`pets.server.live.worker_queue(ServerConfig(...))`; `serve` is what the report says it
    batched with); `faults` kill actors with `ray.kill` at wall-clock
    seconds after the first arrival (the driver learns of it only from failing calls)."""

    workers: int = 2
    balancer: str = "static"
    queue: Callable[[Any], Any] | None = None
    serve: ServeConfig = ServeConfig(executor="real")
    interval_s: float = 0.25         # balancer period (wall clock)
    window_s: float = 1.0            # work routed over this trailing window counts as load
    threshold: float = 0.15
    max_moves: int = 2
    min_busy: float = 0.5
    memory_budget_mb: float | None = None  # PET bytes per worker; None: unbounded
    faults: tuple[Fault, ...] = ()   # ray.kill from the driver
    crashes: tuple[Fault, ...] = ()  # the actor's process exits from inside (a crashing batch)
    threads: int = 1                 # torch threads per actor
    address: str | None = None       # an existing Ray cluster (None: start a local one)
    num_cpus: int | None = None      # local Ray's CPUs (None: max(2, workers))
    keep_outputs: bool = False       # ship every pooled output back (tests compare them)
    poll_s: float = 0.05             # how long a worker's completion poll waits
    send_s: float = 0.01             # arrivals this close together go to a worker in one call
    timeout_s: float = 600.0         # requests still open this long after the last arrival fail

    def __post_init__(self) -> None:
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or self.workers < 1:
            raise InvalidSpecError(f"workers must be an int >= 1, got {self.workers!r}")
        if self.balancer not in BALANCERS:
            raise InvalidSpecError(
                f"unknown balancer {self.balancer!r}; choose one of {sorted(BALANCERS)}")
        bad = [k for k in ("interval_s", "window_s", "poll_s", "send_s", "timeout_s")
               if not _positive(getattr(self, k))]
        if self.memory_budget_mb is not None and not _positive(self.memory_budget_mb):
            bad.append("memory_budget_mb")
        if not isinstance(self.threads, int) or self.threads < 1:
            bad.append("threads")
        if bad:
            raise InvalidSpecError(f"live cluster config out of range: {bad}; the times and the "
                                   "budget must be finite numbers > 0, threads an int >= 1")
        if self.queue is not None and not callable(self.queue):
            raise InvalidSpecError("queue must make a worker's scheduler from an engine, e.g. "
                                   "pets.server.live.worker_queue(ServerConfig())")
        for f in (*self.faults, *self.crashes):
            if not (isinstance(f.worker, int) and 0 <= f.worker < self.workers):
                raise InvalidSpecError(f"fault {f} names no worker of 0..{self.workers - 1}")

    @property
    def budget_bytes(self) -> int | None:
        return None if self.memory_budget_mb is None else int(self.memory_budget_mb * 2**20)
