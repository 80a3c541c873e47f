"""Backends: where a cluster's workers run. The loop and balancers are the same for all.

`sim`  N virtual devices; a batch takes what the device's cost model predicts and PETs
       move as bookkeeping (their cost is the link time the loop charges).
`ray`  one Ray actor per device, each with its own engine (pets/cluster/ray_backend.py);
       batches run for real and PET tensors travel through Ray's object store.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, Sequence

from pets.batching.batch import Batch
from pets.batching.cost import CostModel
from pets.cluster.catalog import Catalog
from pets.errors import InvalidSpecError, PetsError


class WorkerLost(PetsError, RuntimeError):
    """A worker died while the loop talked to it."""


class Backend(ABC):
    name: str
    executor: str  # "sim": times are predictions; "real": measured on the worker

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


class SimBackend(Backend):
    """Virtual devices: PETs move as bookkeeping only, batches take the predicted time."""

    name, executor = "sim", "sim"

    def load(self, w, task, src):
        pass

    def drop(self, w, task):
        pass

    def execute(self, w, batch):
        return self.costs[w].batch_cost(batch, self.padding), None


def _ray_backend(*args, **kw) -> Backend:
    from pets.cluster.ray_backend import RayBackend

    return RayBackend(*args, **kw)


BACKENDS: dict[str, Callable[..., Backend]] = {"sim": SimBackend, "ray": _ray_backend}
# Backend.executor by name, without importing ray (the cluster extra) to find out.
EXECUTOR_OF = {"sim": "sim", "ray": "real"}


def make_backend(name: str, *args, **kw) -> Backend:
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise InvalidSpecError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}") from None
    return factory(*args, **kw)
