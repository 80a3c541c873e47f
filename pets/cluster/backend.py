"""The Backend interface: what the cluster loop asks of the workers, wherever they run
(virtual devices in `backends.SimBackend`, Ray actors in `ray_backend.RayBackend`)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

from pets.batching.batch import Batch
from pets.batching.cost import CostModel
from pets.cluster.catalog import Catalog
from pets.errors import PetsError


class WorkerLost(PetsError, RuntimeError):
    """A worker died while the loop talked to it."""


class Backend(ABC):
    name: str

    def __init__(self, catalog: Catalog, costs: Sequence[CostModel], *, padding: str) -> None:
        """`costs`: one cost model per worker (its device), tasks bound."""
        self.catalog, self.costs, self.padding = catalog, list(costs), padding
        self.workers = len(self.costs)

    def start(self) -> None:
        """Bring the workers up (nothing to do for virtual devices)."""

    @abstractmethod
    def load(self, w: int, task: str, src: int | None) -> None:
        """Make `task`'s PET resident on `w`, copied from worker `src` (None: the host store)."""

    @abstractmethod
    def drop(self, w: int, task: str) -> None: ...

    @abstractmethod
    def execute(self, w: int, batch: Batch) -> tuple[float, list | None]:
        """Run `batch` on `w`: (seconds, results or None). Raises WorkerLost."""

    def kill(self, w: int) -> None:
        """Fault injection: the worker stops answering."""

    def close(self) -> None:
        """Release the workers."""
