"""The server's scheduler as each live cluster worker's queue (`pets.cluster.live`).

The cluster layer sits beside the server and does not import it; whoever starts a live
cluster hands the worker's queue down as `LiveConfig.queue`: `worker_queue(config)` makes,
inside each Ray actor, the single server's `Scheduler` over that actor's engine, so workers
batch with the same queue, policy, cost model and dispatch code as `pets serve`.
"""
from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any, Callable

import pets
from pets.cluster.live.config import LiveConfig
from pets.server.config import ServerConfig
from pets.server.metrics import ServerMetrics
from pets.server.scheduler import Scheduler

# A live worker's queue is as deep as a trace replay needs (the router spreads the load).
LIVE_QUEUE_LIMIT = 100_000


class _BatchClock(ServerMetrics):
    """Server metrics that also sum the seconds spent in batches (the worker's busy time)."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_s, self.batches = 0.0, 0

    def batch(self, size: int, tokens: int, seconds: float) -> None:
        super().batch(size, tokens, seconds)
        self.batch_s += seconds
        self.batches += 1


class WorkerScheduler(Scheduler):
    """The server's scheduler, telling how long it has spent in batches (`busy_s`) and how
    many it ran (`batches`)."""

    def __init__(self, engine: pets.PetsEngine, config: ServerConfig = ServerConfig()) -> None:
        super().__init__(engine, config, _BatchClock())

    @property
    def busy_s(self) -> float:
        return self.metrics.batch_s

    @property
    def batches(self) -> int:
        return self.metrics.batches


def worker_queue(config: ServerConfig = ServerConfig(queue_limit=LIVE_QUEUE_LIMIT)
                 ) -> Callable[[pets.PetsEngine], WorkerScheduler]:
    """What makes each worker's queue: `WorkerScheduler(engine, config)` (picklable)."""
    return partial(WorkerScheduler, config=config)


def live_config(server: ServerConfig = ServerConfig(queue_limit=LIVE_QUEUE_LIMIT),
                **fields: Any) -> LiveConfig:
    """A LiveConfig whose workers batch like a server with `server`'s options."""
    cfg = LiveConfig(**fields)
    return replace(cfg, queue=worker_queue(server), serve=server.serve_config())
