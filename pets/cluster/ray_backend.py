"""The Ray backend: one actor per device, each holding the shared backbone and the PETs
placed on it. `ray.init()` starts a local Ray by default; give `address` to join an
existing cluster, where the same code spreads actors over its nodes.

Batches really run on the actors and are timed there; the loop waits for each one and
advances its clock by the measured time (as the single-server `real` executor does), so
the reported throughput is what the actors measured, not the driver's wall-clock, and
actors do not overlap in time on this machine. PET transfers really happen (actor to
actor through the object store, or from the host copy); the loop charges the configured
link time for them.
"""
from __future__ import annotations

import ray
import torch
from ray import exceptions as rx

from pets.batching.batch import Batch
from pets.cluster.backend import Backend, WorkerLost
from pets.errors import InvalidSpecError
from pets.timing import timed_call

# What a dead or unreachable actor looks like (a Python error inside a method is RayTaskError
# and is re-raised as itself: the worker is fine, the call was bad).
DEAD = (rx.RayActorError, rx.ObjectLostError, rx.OwnerDiedError, rx.WorkerCrashedError,
        rx.NodeDiedError, rx.GetTimeoutError)


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
        seconds, out = timed_call(lambda: self.engine.run(batch, padding=padding), self.device)
        return seconds, [r.__class__(r.query_id, r.task, r.pooled.cpu(),
                                     None if r.logits is None else r.logits.cpu()) for r in out]

    def tasks(self) -> list[str]:
        return sorted(self.engine.tasks)

    def capacity(self, batch: Batch, padding: str, repeats: int = 7) -> float:
        """Requests/s of full batches like `batch`: median of `repeats` timed runs."""
        self.run(batch, padding)  # warm-up
        times = sorted(self.run(batch, padding)[0] for _ in range(repeats))
        return len(batch) / times[len(times) // 2]


class RayBackend(Backend):
    name = "ray"

    def __init__(self, catalog, costs, *, padding, address: str | None = None,
                 devices: tuple[str, ...] | None = None, threads: int = 1,
                 timeout_s: float = 600.0) -> None:
        super().__init__(catalog, costs, padding=padding)
        if catalog.host is None:
            raise InvalidSpecError("the ray backend needs a catalog with parameters "
                                   "(Catalog.from_engine, or for_trace(with_params=True))")
        self.address, self.devices, self.threads, self.timeout_s = address, devices, threads, timeout_s
        self.actors: list = []
        self.alive: list[bool] = []
        self._started_ray = False

    def start(self):
        if not ray.is_initialized():
            ray.init(address=self.address, num_cpus=None if self.address else max(2, self.workers),
                     include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            self._started_ray = True
        gpus = int(ray.cluster_resources().get("GPU", 0))
        devices = self.devices or tuple("cuda" if i < gpus else "cpu" for i in range(self.workers))
        if len(devices) != self.workers or any(d not in ("cpu", "cuda") for d in devices):
            raise InvalidSpecError(f"{self.workers} workers need {self.workers} devices, each 'cpu' "
                                   f"or 'cuda' (Ray assigns the GPU), got {devices}")
        host = self.catalog.host
        sd = ray.put({k: v.detach().cpu() for k, v in host.backbone.state_dict().items()})
        self.actors = [WorkerActor.options(num_cpus=1 if d == "cpu" else 0,
                                           num_gpus=0 if d == "cpu" else 1)
                       .remote(host.model_name, host.config, sd, d, self.threads) for d in devices]
        self.alive = [True] * self.workers

    def _call(self, w: int, ref):
        try:
            return ray.get(ref, timeout=self.timeout_s)
        except DEAD as e:
            self.alive[w] = False
            raise WorkerLost(f"worker {w} is lost ({type(e).__name__})") from None

    def _answers(self, w: int) -> bool:
        """Ping worker `w`; records whether it is alive."""
        try:
            ray.get(self.actors[w].tasks.remote(), timeout=self.timeout_s)
            self.alive[w] = True
        except DEAD:
            self.alive[w] = False
        return self.alive[w]

    def load(self, w, task, src):
        if not self.alive[w]:
            raise WorkerLost(f"worker {w} is dead")
        spec = self.catalog.specs[task]
        if src is not None and self.alive[src]:
            try:  # actor to actor: the export's ObjectRef goes straight into the add
                self._call(w, self.actors[w].add.remote(spec, self.actors[src].export.remote(task)))
                return
            except (WorkerLost, rx.RayTaskError):
                if not self._answers(w):
                    raise WorkerLost(f"worker {w} is lost") from None
                self._answers(src)  # the source failed: take the host copy instead
        self._call(w, self.actors[w].add.remote(spec, self.catalog.params(task)))

    def drop(self, w, task):
        if self.alive[w]:
            self._call(w, self.actors[w].remove.remote(task))

    def execute(self, w, batch):
        if not self.alive[w]:
            raise WorkerLost(f"worker {w} is dead")
        return self._call(w, self.actors[w].run.remote(batch, self.padding))

    def kill(self, w):
        if self.actors:
            ray.kill(self.actors[w], no_restart=True)
        self.alive[w] = False

    def close(self):
        for w, actor in enumerate(self.actors):
            if self.alive[w]:
                ray.kill(actor, no_restart=True)
        self.alive = [False] * self.workers
        if self._started_ray:
            ray.shutdown()

