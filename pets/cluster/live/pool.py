"""The driver's handle on the live workers: starting Ray and the actors, what the driver
knows of each worker (alive, the requests it owes an answer for), and what a dead actor
looks like."""
from __future__ import annotations

from dataclasses import dataclass, field

import ray
from ray import exceptions as rx

from pets.batching.query import Query
from pets.cluster.catalog import Catalog
from pets.cluster.live.config import LiveConfig
from pets.cluster.live.worker import CONCURRENCY, LiveWorker
from pets.errors import InvalidSpecError

# What a dead or unreachable actor looks like (a Python error inside a method is RayTaskError:
# the worker is fine, the call was bad).
DEAD = (rx.RayActorError, rx.ObjectLostError, rx.OwnerDiedError, rx.WorkerCrashedError,
        rx.NodeDiedError, rx.GetTimeoutError)
PING_S = 10.0  # a worker that does not answer a ping in this long counts as dead


@dataclass
class WorkerState:
    """The driver's view of one worker. `sent`: requests it owes an answer for (queued or
    running there, or on their way), by request id. Duck-types the loop's `Worker` for the
    load monitor (`queue`, `running`, `outstanding`, `alive`)."""

    actor: object
    alive: bool = True
    sent: dict[int, Query] = field(default_factory=dict)
    tokens: int = 0
    batch_s: float = 0.0       # the worker's cumulative batch time at its last reply
    node: str = ""             # the Ray node it runs on
    batches: int = 0           # batches it had run at its last reply
    running = None             # the driver never knows which batch runs: all is "queued"

    @property
    def queue(self) -> list[Query]:
        return list(self.sent.values())

    @property
    def outstanding(self) -> int:
        return self.tokens

    def send(self, rid: int, q: Query) -> None:
        self.sent[rid] = q
        self.tokens += q.length

    def settle(self, rid: int) -> Query | None:
        """The worker answered `rid`: it owes nothing for it any more (None: not owed)."""
        q = self.sent.pop(rid, None)
        if q is not None:
            self.tokens -= q.length
        return q

    def take_all(self) -> list[Query]:
        lost, self.sent, self.tokens = list(self.sent.values()), {}, 0
        return lost


def ensure_ray(cfg: LiveConfig) -> bool:
    """Start a local Ray (or join `cfg.address`) unless one runs; True when this call started it."""
    if ray.is_initialized():
        return False
    ray.init(address=cfg.address, num_cpus=None if cfg.address else (cfg.num_cpus or max(2, cfg.workers)),
             include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    return True


def spawn(catalog: Catalog, cfg: LiveConfig, sd_ref=None) -> list[WorkerState]:
    """One actor per worker (one CPU each), each with the host's backbone, dtype and padding."""
    host = catalog.host
    if host is None:
        raise InvalidSpecError("a live cluster needs a catalog with parameters "
                               "(Catalog.from_engine, or Catalog.for_trace(with_params=True))")
    if cfg.queue is None:
        raise InvalidSpecError("LiveConfig.queue is missing: each worker needs a queue, e.g. "
                               "LiveConfig(queue=pets.server.live.worker_queue(ServerConfig())) or "
                               "pets.server.live.live_config(...)")
    if sd_ref is None:
        sd_ref = ray.put({k: v.detach().cpu() for k, v in host.backbone.state_dict().items()})
    actors = [LiveWorker.options(num_cpus=1, max_concurrency=CONCURRENCY).remote(
        host.model_name, host.config, sd_ref, host.backbone.dtype, host.padding, "cpu",
        cfg.threads, cfg.queue, cfg.keep_outputs) for _ in range(cfg.workers)]
    return [WorkerState(a) for a in actors]


def answers(state: WorkerState) -> bool:
    """Ping a worker; records whether it is alive."""
    try:
        ray.get(state.actor.tasks.remote(), timeout=PING_S)
    except DEAD:
        state.alive = False
    return state.alive


def release(states: list[WorkerState]) -> None:
    for s in states:
        if s.alive:
            try:
                ray.kill(s.actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        s.alive = False
