"""The peer users would reach for: Ray Serve model multiplexing over the same engine.

N replicas of one Serve deployment each hold the shared backbone; a request names its task
as the multiplexed model id, Serve routes it (preferring replicas that already hold the
task), the replica loads the task's PET on demand (`serve.multiplexed`, an LRU of at most
`max_loaded` tasks, from the host copy in the object store) and `serve.batch` gathers
concurrent requests into one mixed-task batch for the engine: PetS's batching inside each
replica, Serve's routing and loading between them. The trace is replayed open-loop from an
asyncio driver and every request is timed at the client, as in `replay_live`.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import ray
from ray import serve

from pets.batching.policies.base import batch_of_queries
from pets.batching.query import Query
from pets.cluster.catalog import Catalog
from pets.cluster.live.driver import LiveReport
from pets.cluster.report import ClusterRecord
from pets.errors import InvalidSpecError
from pets.serving.ledger import Ledger
from pets.serving.loop import ServeConfig
from pets.serving.trace import Trace

APP = "pets-multiplex"


@dataclass(frozen=True, kw_only=True)
class ServePeerConfig:
    replicas: int = 2
    max_loaded: int | None = None  # tasks per replica's LRU (None: every task of the catalog)
    max_batch: int = 32
    batch_wait_s: float = 0.005
    threads: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.replicas, int) or self.replicas < 1:
            raise InvalidSpecError(f"replicas must be an int >= 1, got {self.replicas!r}")
        if self.max_loaded is not None and self.max_loaded < 1:
            raise InvalidSpecError("max_loaded must be >= 1 (or None: every task)")


class _Loaded:
    """A task resident in a replica's engine; Serve calls `__del__` when its LRU evicts it
    (and the garbage collector may call it again: only the first call counts)."""

    def __init__(self, resident: "_Resident", task: str) -> None:
        self.resident, self.task, self.live = resident, task, True

    def __del__(self) -> None:
        if self.live:
            self.live = False
            self.resident.evict(self.task)


class _Resident:
    """Which tasks a replica's engine holds. An evicted task whose requests still wait for
    their batch stays until the last one is answered (pinned), so eviction fails no request."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.pins: Counter[str] = Counter()
        self.evicted: set[str] = set()

    def load(self, spec, params) -> None:
        self.evicted.discard(spec.name)  # evicted but still pinned: it never left
        if spec.name not in self.engine.tasks:
            self.engine.add_task(spec, params)

    def evict(self, task: str) -> None:
        self.evicted.add(task)
        self._settle(task)

    def pin(self, task: str) -> None:
        self.pins[task] += 1

    def unpin(self, task: str) -> None:
        self.pins[task] -= 1
        self._settle(task)

    def _settle(self, task: str) -> None:
        if task in self.evicted and self.pins[task] <= 0 and task in self.engine.tasks:
            self.evicted.discard(task)
            self.engine.remove_task(task)


def _deployment(cfg: ServePeerConfig, max_loaded: int):
    @serve.deployment(num_replicas=cfg.replicas, ray_actor_options={"num_cpus": 1},
                      max_ongoing_requests=8 * cfg.max_batch)
    class PetReplica:
        def __init__(self, model_name, model_cfg, backbone, dtype, padding, specs, params) -> None:
            import torch

            import pets
            from pets.engine.backbone import Backbone

            torch.set_num_threads(cfg.threads)
            sd = ray.get(backbone[0])
            self.engine = pets.PetsEngine(Backbone.from_state_dict(model_cfg, sd, dtype=dtype),
                                          model_name=model_name, padding=padding)
            self.specs, self.params = specs, params
            self.resident = _Resident(self.engine)
            self.replica = serve.get_replica_context().replica_id.unique_id

        @serve.multiplexed(max_num_models_per_replica=max_loaded)
        async def task(self, name: str) -> _Loaded:
            self.resident.load(self.specs[name], await self.params[name])
            return _Loaded(self.resident, name)

        async def __call__(self, ids: tuple[int, ...]) -> tuple[str, str, int]:
            name = serve.get_multiplexed_model_id()
            self.resident.pin(name)
            try:
                await self.task(name)
                return await self.run((name, ids))
            finally:
                self.resident.unpin(name)

        @serve.batch(max_batch_size=cfg.max_batch, batch_wait_timeout_s=cfg.batch_wait_s)
        async def run(self, items: list[tuple[str, tuple[int, ...]]]) -> list[tuple[str, str, int]]:
            """(replica, error or "", batch size) per request of one mixed-task batch."""
            batch = batch_of_queries([Query(task=t, input_ids=ids, id=i)
                                      for i, (t, ids) in enumerate(items)])
            try:
                await asyncio.to_thread(self.engine.run, batch)
            except Exception as e:  # noqa: BLE001 - every request of the batch fails with it
                return [(self.replica, f"failed: {type(e).__name__}: {e}", len(items))] * len(items)
            return [(self.replica, "", len(items))] * len(items)

    return PetReplica


def replay_serve(trace: Trace, catalog: Catalog, cfg: ServePeerConfig = ServePeerConfig()) -> LiveReport:
    """Replay `trace` open-loop against a multiplexed Serve deployment of `cfg.replicas`
    replicas (Ray must be running); Serve is shut down afterwards (Ray keeps running)."""
    host = catalog.host
    if host is None:
        raise InvalidSpecError("the Serve peer needs a catalog with parameters "
                               "(Catalog.from_engine, or Catalog.for_trace(with_params=True))")
    sd = ray.put({k: v.detach().cpu() for k, v in host.backbone.state_dict().items()})
    params = {t: ray.put(catalog.params(t)) for t in catalog.tasks}
    app = _deployment(cfg, cfg.max_loaded or len(catalog.tasks)).bind(
        host.model_name, host.config, [sd], host.backbone.dtype, host.padding, catalog.specs, params)
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    handle = serve.run(app, name=APP, route_prefix=None)
    try:
        return asyncio.run(_drive(handle, trace, catalog, cfg))
    finally:
        serve.delete(APP)
        serve.shutdown()  # shuts its cached handles down: only then can their loop stop
        stop_handle_router()


def stop_handle_router(timeout_s: float = 5.0) -> None:
    """Stop the event loop on which Ray Serve routes this process's handle calls.

    Serve starts that loop in a daemon thread the first time a handle is called from outside
    an actor and never stops it: it outlives `serve.delete`, `serve.shutdown` and
    `ray.shutdown`, and a process that exits with it still polling Ray can die of a
    segmentation fault after its work is done. Call it after `serve.shutdown()` (the
    handles' own shutdown runs on that loop); a later handle call starts a fresh loop. The
    loop is a private detail of Serve's router; if it is not where this looks, nothing is
    done."""
    try:
        from ray.serve._private.router import SingletonThreadRouter as router
        lock = router._asyncio_loop_creation_lock
    except (ImportError, AttributeError):
        return
    with lock:
        loop, router._asyncio_loop = getattr(router, "_asyncio_loop", None), None
        monitor, router._event_loop_monitor = getattr(router, "_event_loop_monitor", None), None
    if loop is None or loop.is_closed():
        return
    if monitor is not None:
        loop.call_soon_threadsafe(monitor.stop)
    loop.call_soon_threadsafe(loop.stop)
    deadline = time.monotonic() + timeout_s
    while loop.is_running() and time.monotonic() < deadline:
        time.sleep(0.01)


async def _drive(handle, trace: Trace, catalog: Catalog, cfg: ServePeerConfig) -> LiveReport:
    rows = trace.requests
    rng, model = np.random.default_rng(0), catalog.config
    ledger = Ledger(len(rows), ClusterRecord)
    replicas: dict[str, int] = {}
    sizes: list[int] = []  # the batch size each answered request ran in
    first = rows[0].arrival_s if rows else 0.0

    async def one(rid: int, row, t0: float) -> None:
        at = row.arrival_s - first
        ledger.arrive(rid, row).arrival = at
        if row.task not in catalog.specs:
            ledger.end(rid, "rejected", f"unknown task {row.task!r}: not in the catalog")
            return
        low = 1000 if model.vocab_size > 1000 else 1
        ids = (101,) + tuple(int(i) for i in rng.integers(low, model.vocab_size, row.seq_len - 1))
        try:
            replica, error, size = await handle.options(multiplexed_model_id=row.task).remote(ids)
        except Exception as e:  # noqa: BLE001 - the request's answer
            ledger.end(rid, "failed", f"{type(e).__name__}: {e}")
            return
        rec = ledger.records[rid]
        rec.finish, rec.worker = time.perf_counter() - t0, replicas.setdefault(replica, len(replicas))
        ledger.end(rid, "failed" if error else "completed", error)
        sizes.append(size)

    t0 = time.perf_counter()
    pending = []
    for rid, row in enumerate(rows):
        delay = row.arrival_s - first - (time.perf_counter() - t0)
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(one(rid, row, t0)))
    await asyncio.gather(*pending)
    report = ledger.report(f"serve-multiplex x{cfg.replicas}", ServeConfig(executor="real"))
    report.batches = round(sum(1 / n for n in sizes))
    return LiveReport(report, cfg.replicas, "serve-multiplex", "ray-serve",
                      peak_pet_bytes=[0] * cfg.replicas, span_s=time.perf_counter() - t0)
