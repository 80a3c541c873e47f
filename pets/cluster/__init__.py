"""Multi-device serving: workers each holding the shared backbone and a subset of PETs,
a router, balancers that move or copy PETs between workers, sim and Ray backends."""
from __future__ import annotations

from typing import Sequence

from pets.batching.cost import CostModel
from pets.cluster.backend import WorkerLost
from pets.cluster.backends import BACKENDS
from pets.cluster.balancers import BALANCERS, Balancer, LoadView, Move, register_balancer
from pets.cluster.catalog import Catalog
from pets.cluster.config import ClusterConfig, Fault
from pets.cluster.loop import ClusterLoop
from pets.cluster.placement import Placement
from pets.cluster.report import ClusterReport
from pets.serving.loop import ServeConfig
from pets.serving.trace import Trace


def replay_cluster(trace: Trace, catalog: Catalog | None = None, cfg: ClusterConfig = ClusterConfig(),
                   serve: ServeConfig = ServeConfig(), *, preset: str = "bert-tiny",
                   cost: CostModel | Sequence[CostModel] | None = None,
                   progress: bool = True) -> ClusterReport:
    """Replay `trace` on a cluster. Without a catalog, one is made for the trace's tasks
    (PET types round-robin over the paper's mix; parameters only for real backends)."""
    if catalog is None:
        catalog = Catalog.for_trace(trace, preset, with_params=cfg.backend != "sim")
    return ClusterLoop(catalog, cfg, serve, cost=cost).run(trace, progress=progress)


__all__ = ["BACKENDS", "BALANCERS", "Balancer", "Catalog", "ClusterConfig", "ClusterLoop",
           "ClusterReport", "Fault", "LoadView", "Move", "Placement", "WorkerLost",
           "register_balancer", "replay_cluster"]
