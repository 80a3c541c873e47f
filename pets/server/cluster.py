"""The online server over a live cluster: `pets serve --backend ray --workers N`.

`LiveScheduler` offers the single server's `Scheduler` interface (submit returns futures,
task changes, start/stop, tasks, queue length), so the same FastAPI app serves it. Request
handlers only append to an inbox; one driver thread owns the `LiveCore` (routing, polls,
deaths, moves) and resolves the futures with the workers' `Output`s. The host engine keeps
every task (uploads land there first, then on the least loaded worker with room); a removed
task's waiting requests end with `TaskRemovedError`, as on one engine.
"""
from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import Future, InvalidStateError
from dataclasses import replace
from typing import Callable, Mapping, Sequence

import pets
from pets.batching.query import Query, check_query
from pets.cluster.catalog import Catalog
from pets.cluster.live.config import LiveConfig
from pets.cluster.live.core import LiveCore
from pets.errors import BatchFailedError, QueueFullError, ServerStoppedError, TaskRemovedError
from pets.pet.spec import TaskSpec
from pets.server.config import ServerConfig
from pets.server.live import worker_queue
from pets.server.metrics import ServerMetrics
from pets.server.scheduler import check_served, stopped

# What a request's end that is not a completion raises at its caller, by status.
ERROR_OF: dict[str, type[Exception]] = {"rejected": QueueFullError, "failed": BatchFailedError}


class LiveScheduler:
    """A Scheduler over N live Ray workers; `engine` is the host copy of every task."""

    def __init__(self, engine: pets.PetsEngine, config: ServerConfig = ServerConfig(),
                 live: LiveConfig = LiveConfig(), metrics: ServerMetrics | None = None) -> None:
        self.engine, self.config = engine, config
        self.live = replace(live, queue=worker_queue(config), serve=config.serve_config(),
                            keep_outputs=True)
        self.metrics = metrics or ServerMetrics()
        self.ready = threading.Event()
        self._lock = threading.Lock()       # guards the inbox, the futures and the served tasks
        self._changes = threading.Lock()    # one task change at a time
        self._inbox: list[tuple] = []
        self._futures: dict[int, tuple[str, Future]] = {}
        self._served: Mapping[str, TaskSpec] = dict(engine.tasks)
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._t0 = time.perf_counter()

    # ---- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers (Ray, actors, every task placed and warmed up) and the driver."""
        e = self.engine
        catalog = Catalog(e.model_name, e.config, dict(e.tasks), dict(e.memory().tasks), e)
        self.core = LiveCore(catalog, self.live, sink=self)
        try:
            self.core.start()
        except BaseException:
            self.core.close()  # the actors started so far, and Ray when it started it
            raise
        self._thread = threading.Thread(target=self._loop, name="pets-live-driver", daemon=True)
        self._thread.start()
        self.ready.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        with self._lock:
            waiting, self._futures = list(self._futures.values()), {}
        for _, f in waiting:
            _resolve(f, error=stopped())
        if self._thread is not None:
            self.core.close()
        self.ready.clear()

    # ---- what handlers call -------------------------------------------------------------------------
    @property
    def tasks(self) -> Mapping[str, TaskSpec]:
        return self._served

    def queue_length(self) -> int:
        """Requests sent and not answered yet, over every worker."""
        return len(self._futures)

    def submit(self, task: str, ids: Sequence[Sequence[int]]) -> list[Future]:
        """As `Scheduler.submit`: all or none, never waits for a batch."""
        with self._lock:
            check_served(task, self._served)
            now = time.perf_counter() - self._t0
            queries = [Query(task=task, input_ids=tuple(seq), id=next(self._ids), arrival=now)
                       for seq in ids]
            for q in queries:
                check_query(self.engine.config, q)
            if self._stopping or self._thread is None:
                raise ServerStoppedError("the server is not running; start it (pets serve)")
            if len(self._futures) + len(queries) > self.config.queue_limit:
                raise QueueFullError(f"queue full ({len(self._futures)} of "
                                     f"{self.config.queue_limit} waiting); retry later", 1.0)
            futures = [Future() for _ in queries]
            self._futures.update({q.id: (task, f) for q, f in zip(queries, futures)})
            self._inbox += [("submit", q) for q in queries]
        return futures

    def add_task(self, add: Callable[[pets.PetsEngine], TaskSpec]) -> TaskSpec:
        """Run `add(engine)` on the host copy, then ship the task to a worker; requests may name
        it at once (they wait until it lands)."""
        with self._changes:
            spec = add(self.engine)
            size = self.engine.task_bytes(spec.name)
            with self._lock:
                self._inbox.append(("load", spec, size))
                self._served = dict(self.engine.tasks)
        return spec

    def remove_task(self, name: str) -> int:
        """Unload `name` everywhere; its unanswered requests end with TaskRemovedError."""
        with self._changes:
            self.engine.task(name)
            with self._lock:
                self._served = {n: s for n, s in self._served.items() if n != name}
                waiting = sum(t == name for t, _ in self._futures.values())
                self._inbox.append(("unload", name))
            self.engine.remove_task(name)
        return waiting

    # ---- the driver thread -----------------------------------------------------------------------------
    def _loop(self) -> None:
        commands = {"submit": self._submit, "load": self._load, "unload": self._unload}
        while True:
            with self._lock:
                inbox, self._inbox = self._inbox, []
                if self._stopping:
                    return
            for kind, *args in inbox:
                commands[kind](*args)
            self.core.pump(self.live.send_s)

    def _submit(self, q: Query) -> None:
        self.core.submit(q.id, q)

    def _load(self, spec: TaskSpec, size: int) -> None:
        self.core.catalog.specs[spec.name] = spec
        self.core.catalog.sizes[spec.name] = size
        self.core.load(spec.name)

    def _unload(self, name: str) -> None:
        self.core.catalog.specs.pop(name, None)
        self.core.unload(name)

    # ---- the core's sink ----------------------------------------------------------------------------------
    def completed(self, rid: int, worker: int, output: object) -> None:
        self._end(rid, result=output)

    def ended(self, rid: int, status: str, reason: str) -> None:
        task = self._futures.get(rid, ("", None))[0]
        if task and task not in self._served:
            error: Exception = TaskRemovedError(f"task {task!r} was removed while this request "
                                                "waited; load it again (POST /v1/tasks) to serve it")
        else:
            error = ERROR_OF.get(status, BatchFailedError)(reason)
        self._end(rid, error=error)

    def rerouted(self, rid: int) -> None:
        pass

    def _end(self, rid: int, **outcome) -> None:
        with self._lock:
            entry = self._futures.pop(rid, None)
        if entry is not None:
            _resolve(entry[1], **outcome)


def _resolve(future: Future, *, result: object = None, error: Exception | None = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # the caller gave up on it
        pass
