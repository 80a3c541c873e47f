"""The live worker: one Ray actor per device that serves on its own.

It holds an engine over the shared backbone and a queue made by `LiveConfig.queue`: the
single server's `Scheduler` (`pets.server.live.worker_queue`, handed down by the layer above,
so this layer never imports the server), with the same queue, batching policy, cost model and
dispatch code as `pets serve`, on a thread inside the actor that runs batches back to back as
requests arrive.
The driver never waits for a batch: `submit` only queues, and completions come back through
`completions`, a long poll the driver keeps one of in flight per worker. The actor is
threaded (`max_concurrency`), so a poll, a submit and a PET transfer run beside each other.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import wait
from typing import Callable, Protocol, Sequence

import ray
import torch

from pets.cluster.live.outcomes import COMPLETED, Event, Reply, outcome_of

# Concurrent calls one worker accepts: the poll, a submit, a PET add/export/remove, a ping.
CONCURRENCY = 6


class WorkerQueue(Protocol):
    """What a worker asks of its queue (the server's `Scheduler` has it all, plus `busy_s`)."""

    busy_s: float  # seconds spent running batches so far
    batches: int   # batches run so far

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def submit(self, task: str, ids: Sequence[Sequence[int]]) -> list: ...
    def add_task(self, add: Callable) -> object: ...
    def remove_task(self, name: str) -> int: ...
    def queue_length(self) -> int: ...


@ray.remote
class LiveWorker:
    """One worker. Built from the host's backbone weights (an object-store ref shared by all
    workers), in the host's dtype and padding."""

    def __init__(self, model_name: str, cfg, backbone_sd, dtype: torch.dtype, padding: str,
                 device: str, threads: int, make_queue: Callable[..., WorkerQueue],
                 keep_outputs: bool) -> None:
        import pets
        from pets.engine.backbone import Backbone

        torch.set_num_threads(threads)
        self.device, self.keep_outputs = device, keep_outputs
        backbone = Backbone.from_state_dict(cfg, backbone_sd, device=device, dtype=dtype)
        self.engine = pets.PetsEngine(backbone, model_name=model_name, padding=padding)
        self.scheduler: WorkerQueue = make_queue(self.engine)
        self._events: list[Event] = []
        self._cond = threading.Condition()

    # ---- tasks --------------------------------------------------------------------------------
    def add(self, spec, params) -> int:
        """Load one PET (params: tensors, or the ref of another worker's `export`); its bytes."""
        self.scheduler.add_task(lambda engine: engine.add_task(spec, params))
        return self.engine.task_bytes(spec.name)

    def export(self, task: str) -> dict:
        return {k: v.detach().cpu() for k, v in self.engine.task_params(task).items()}

    def remove(self, task: str) -> int:
        """Unload `task`; its queued requests come back as `reroute` events. How many."""
        return self.scheduler.remove_task(task)

    def tasks(self) -> list[str]:
        return sorted(self.engine.tasks)

    # ---- serving ------------------------------------------------------------------------------
    def start(self) -> str:
        """Warm every task up and start the batching thread; the id of the Ray node it runs on."""
        self.scheduler.start()
        return ray.get_runtime_context().get_node_id()

    def submit(self, items: Sequence[tuple[int, str, tuple[int, ...]]]) -> None:
        """Queue requests (id, task, token ids); never waits for a batch. A refusal becomes
        that request's event at once."""
        for rid, task, ids in items:
            try:
                future = self.scheduler.submit(task, [ids])[0]
            except Exception as e:  # noqa: BLE001 - every refusal is the request's answer
                self._push(Event(rid, outcome_of(e), str(e)))
                continue
            future.add_done_callback(lambda f, rid=rid: self._finished(rid, f))

    def completions(self, wait_s: float) -> Reply:
        """Events since the last call; waits up to `wait_s` for the first one."""
        with self._cond:
            if not self._events:
                self._cond.wait(wait_s)
            events, self._events = tuple(self._events), []
        return Reply(events, self.scheduler.busy_s, self.scheduler.queue_length(),
                     self.scheduler.batches)

    def service_rate(self, items: Sequence[tuple[int, str, tuple[int, ...]]]) -> float:
        """Requests/s this worker serves when `items` all wait at once: its own queue,
        policy and batches, without the driver or Ray in the way (the sim's calibration)."""
        start = time.perf_counter()
        futures = [self.scheduler.submit(task, [ids])[0] for _, task, ids in items]
        wait(futures)
        return len(items) / (time.perf_counter() - start)

    def stop(self) -> None:
        self.scheduler.stop()

    def crash(self) -> None:
        """Fault injection: the process dies from inside, as a crashing kernel would take it."""
        os._exit(1)

    # ---- helpers ------------------------------------------------------------------------------
    def _finished(self, rid: int, future) -> None:
        error = future.exception()
        if error is not None:
            self._push(Event(rid, outcome_of(error), str(error)))
        else:
            self._push(Event(rid, COMPLETED, "", future.result() if self.keep_outputs else None))

    def _push(self, event: Event) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()
