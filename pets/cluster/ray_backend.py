"""The Ray backend: one actor per device, each holding the shared backbone and the PETs
placed on it. `ray.init()` starts a local Ray by default; give `address` to join an
existing cluster, where the same code spreads actors over its nodes."""
from __future__ import annotations

import time

import ray
import torch
from ray.exceptions import RayActorError

from pets.batching.batch import Batch
from pets.cluster.backends import Backend, WorkerLost
from pets.errors import InvalidSpecError


@ray.remote
class WorkerActor:
    """One worker: an engine over the shared backbone, on `device`."""

    def __init__(self, model_name: str, cfg, backbone_sd, device: str, threads: int) -> None:
        import pets
        from pets.engine.backbone import Backbone

        torch.set_num_threads(threads)
        self.device = device
        bb = Backbone.from_state_dict(cfg, backbone_sd, device=device)
        self.engine = pets.PetsEngine(bb, model_name=model_name)

    def add(self, spec, params) -> int:
        self.engine.add_task(spec, params)
        return self.engine.memory().tasks[spec.name]

    def export(self, task: str) -> dict:
        return {k: v.detach().cpu() for k, v in self.engine.task_params(task).items()}

    def remove(self, task: str) -> None:
        self.engine.remove_task(task)

    def run(self, batch: Batch, padding: str):
        from pets.bench.timing import sync

        sync(self.device)
        start = time.perf_counter()
        out = self.engine.run(batch, padding=padding)
        sync(self.device)
        seconds = time.perf_counter() - start
        return seconds, [r.__class__(r.query_id, r.task, r.pooled.cpu(),
                                     None if r.logits is None else r.logits.cpu()) for r in out]

    def tasks(self) -> list[str]:
        return sorted(self.engine.tasks)


class RayBackend(Backend):
    name, executor = "ray", "real"

    def __init__(self, catalog, workers, *, cost, padding, address: str | None = None,
                 devices: tuple[str, ...] | None = None, threads: int = 1) -> None:
        super().__init__(catalog, workers, cost=cost, padding=padding)
        host = catalog.host
        if host is None:
            raise InvalidSpecError("the ray backend needs a catalog with parameters "
                                   "(Catalog.from_engine, or for_trace(with_params=True))")
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=None if address else max(2, workers),
                     include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        n_gpu = torch.cuda.device_count()
        devices = devices or tuple(f"cuda:{i}" if i < n_gpu else "cpu" for i in range(workers))
        if len(devices) != workers:
            raise InvalidSpecError(f"{workers} workers need {workers} devices, got {devices}")
        sd = ray.put({k: v.detach().cpu() for k, v in host.backbone.state_dict().items()})
        self.actors = [WorkerActor.options(num_cpus=1 if d == "cpu" else 0,
                                           num_gpus=0 if d == "cpu" else 1)
                       .remote(host.model_name, host.config, sd, "cpu" if d == "cpu" else "cuda", threads)
                       for d in devices]
        self.alive = [True] * workers

    def _call(self, w: int, ref):
        try:
            return ray.get(ref)
        except RayActorError as e:
            self.alive[w] = False
            raise WorkerLost(f"worker {w} died: {type(e).__name__}") from None

    def load(self, w, task, src):
        if src is not None and self.alive[src]:
            params = self.actors[src].export.remote(task)  # an ObjectRef: actor to actor
        else:
            params = self.catalog.params(task)
        self._call(w, self.actors[w].add.remote(self.catalog.specs[task], params))

    def drop(self, w, task):
        if self.alive[w]:
            self._call(w, self.actors[w].remove.remote(task))

    def execute(self, w, batch):
        if not self.alive[w]:
            raise WorkerLost(f"worker {w} is dead")
        return self._call(w, self.actors[w].run.remote(batch, self.padding))

    def resident(self, w: int) -> list[str]:
        """Tasks the actor really holds (for tests and reports)."""
        return self._call(w, self.actors[w].tasks.remote())

    def kill(self, w):
        ray.kill(self.actors[w], no_restart=True)
        self.alive[w] = False

    def close(self):
        for w, actor in enumerate(self.actors):
            if self.alive[w]:
                ray.kill(actor, no_restart=True)
        self.alive = [False] * self.workers
