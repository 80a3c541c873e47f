"""The registry of backends: where a cluster's workers run. The loop and balancers are the
same for all (the interface is `pets.cluster.backend.Backend`).

`sim`  N virtual devices; a batch takes what the device's cost model predicts and PETs
       move as bookkeeping (their cost is the link time the loop charges).
`ray`  one Ray actor per device, each with its own engine (pets/cluster/ray_backend.py);
       batches run for real and PET tensors travel through Ray's object store.
"""
from __future__ import annotations

from typing import Callable

from pets.cluster.backend import Backend
from pets.errors import InvalidSpecError


class SimBackend(Backend):
    """Virtual devices: PETs move as bookkeeping only, batches take the predicted time."""

    name = "sim"

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
# What each backend's times are ("sim": predictions; "real": measured on the worker), by name,
# without importing ray (the cluster extra) to find out.
EXECUTOR_OF = {"sim": "sim", "ray": "real"}


def make_backend(name: str, *args, **kw) -> Backend:
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise InvalidSpecError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}") from None
    return factory(*args, **kw)
