"""The live cluster: N Ray actors that serve at once, in wall-clock time.

Each actor owns its queue and batching thread (the single server's scheduler, handed down
as `LiveConfig.queue` by `pets.server.live`); the driver
routes requests without waiting for batches, takes completions as they come, re-routes what
a dead actor owed and ships PETs between actors while they serve. `replay_live` replays a
trace open-loop and reports like a cluster replay, with wall-clock times.
"""
from __future__ import annotations

from pets.cluster.catalog import Catalog
from typing import Callable

from pets.cluster.live.config import LiveConfig
from pets.cluster.live.core import LiveCore
from pets.cluster.live.driver import LiveReport, LiveRun
from pets.cluster.live.moves import Death
from pets.serving.trace import Trace


def replay_live(trace: Trace, catalog: Catalog, cfg: LiveConfig, *,
                hook: Callable[[LiveCore], None] | None = None) -> LiveReport:
    """Replay `trace` against `cfg.workers` live actors holding `catalog`'s tasks (Ray is
    started locally, or joined at `cfg.address`, unless it already runs). `cfg.queue` makes
    each worker's queue (`pets.server.live.live_config` fills it); `hook` as in `LiveRun.run`."""
    return LiveRun(catalog, cfg).run(trace, hook=hook)


__all__ = ["Death", "LiveConfig", "LiveCore", "LiveReport", "LiveRun", "replay_live"]
