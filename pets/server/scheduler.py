"""The scheduler: one thread that batches queued queries exactly as a replay does.

Request handlers `submit` queries and get one `concurrent.futures.Future` per query; they
never wait for a batch themselves. The thread waits until a batch is due
(`pets.serving.dispatch.due_at`: `max_batch` queries wait or the oldest waited
`max_wait_ms`), takes it with `dispatch.take_batch` (the same batching policy and cost model
as a replay; planned on a snapshot of the queue's head outside the lock, so submits never
wait for the planner), runs it on the system (`pets.serving.systems`) and resolves the
futures with `Output`s or errors. Task changes go through the scheduler so that the engine,
the cost model and the queue agree: a removed task's queued queries end with
`TaskRemovedError`.

Only the scheduler's thread computes in parallel. GNU OpenMP (torch's intra-op pool) spins
between parallel regions only while the process holds no more OpenMP threads than cores; every
thread that ever ran a parallel op keeps a pool of its own, so a second one (the thread that
built the engine, a request handler's worker) makes every later region sleep and wake its
workers instead: the same batches ran 1.3-1.4x slower on 2 cores. So the thread warms up
and runs every batch with `config.threads` torch threads, task changes in handlers' threads
compute on one (`single_threaded`), and `pets serve` builds its engine on one.
"""
from __future__ import annotations

import itertools
import math
import threading
import time
from concurrent.futures import Future, InvalidStateError
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import torch

import pets
from pets.batching.batch import Batch
from pets.batching.policies import get_policy
from pets.batching.policies.base import batch_of_queries
from pets.batching.query import Query, check_query
from pets.errors import (BatchFailedError, QueueFullError, ServerStoppedError, TaskRemovedError,
                         UnknownTaskError)
from pets.pet.spec import TaskSpec
from pets.serving.dispatch import due_at, take_batch
from pets.serving.faults import RUN_ERRORS, describe
from pets.serving.outputs import NONFINITE, nonfinite_ids
from pets.serving.systems import System, make_system
from pets.server.config import ServerConfig
from pets.server.metrics import ServerMetrics


@dataclass(frozen=True)
class Output:
    """One query's answer, as plain floats (converted on the scheduler thread)."""

    task: str
    pooled: list[float]
    logits: list[float] | None
    tokens: int


class Scheduler:
    """Owns the queue and the thread that serves it. `start()` warms up and starts the thread;
    `stop()` ends it and fails whatever still waits."""

    def __init__(self, engine: pets.PetsEngine, config: ServerConfig = ServerConfig(),
                 metrics: ServerMetrics | None = None) -> None:
        self.engine, self.config = engine, config
        self.metrics = metrics or ServerMetrics()
        self.system: System = make_system(config.system, engine)
        self._plan = get_policy(config.policy)
        # guards the queue; held briefly, never over a plan or a batch
        self._cond = threading.Condition()
        self._changes = threading.Lock()  # one task change at a time
        self._queue: list[Query] = []
        self._futures: dict[int, Future] = {}
        self._ids = itertools.count()
        self._served: Mapping[str, TaskSpec] = dict(engine.tasks)
        self._t0 = time.perf_counter()
        self._last_batch_s = 0.01
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.ready = threading.Event()

    # ---- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the thread and wait while it builds what the system needs and warms every
        task up; re-raises what that raised."""
        failed: list[BaseException] = []
        started = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(started, failed),
                                        name="pets-scheduler", daemon=True)
        self._thread.start()
        started.wait()
        if failed:
            self._thread.join()
            self._thread = None
            raise failed[0]
        self.ready.set()

    def _main(self, started: threading.Event, failed: list[BaseException]) -> None:
        try:
            if self.config.threads:
                torch.set_num_threads(self.config.threads)
            self.system.prepare()
            with self._changes:
                self._tasks_changed()
            if self.config.warm_up:
                self.system.warm_up(list(self._served), max_batch=self.config.max_batch)
        except BaseException as e:  # noqa: BLE001 - handed to start()'s caller
            failed.append(e)
            return
        finally:
            started.set()
        self._loop()

    def stop(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            self._stopping = True
            waiting, self._queue = self._queue, []
            self._cond.notify_all()
        self._fail(waiting, stopped())
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.ready.clear()

    # ---- what handlers call -------------------------------------------------------------------
    @property
    def tasks(self) -> Mapping[str, TaskSpec]:
        """The tasks requests may name now (a snapshot; reading it never waits for a batch)."""
        return self._served

    def queue_length(self) -> int:
        return len(self._queue)

    def submit(self, task: str, ids: Sequence[Sequence[int]]) -> list[Future]:
        """Queue one query per id sequence, all or none. Raises UnknownTaskError,
        InvalidQueryError (empty, too long, id outside the vocabulary), QueueFullError or
        ServerStoppedError; never waits for a batch."""
        with self._cond:  # checked under the lock: a removal purges the queue under it too
            check_served(task, self._served)
            now = self._now()
            queries = [Query(task=task, input_ids=seq, id=next(self._ids), arrival=now)
                       for seq in ids]
            for q in queries:
                check_query(self.engine.config, q)
            if self._stopping or self._thread is None:
                raise ServerStoppedError("the server is not running; start it (pets serve)")
            if len(self._queue) + len(queries) > self.config.queue_limit:
                raise QueueFullError(
                    f"queue full ({len(self._queue)} of {self.config.queue_limit} waiting); retry "
                    "later or send fewer requests at once", self._retry_after_s())
            futures = [Future() for _ in queries]
            self._futures.update({q.id: f for q, f in zip(queries, futures)})
            self._queue.extend(queries)
            self.metrics.queue.set(len(self._queue))
            self._cond.notify_all()
        return futures

    def add_task(self, add: Callable[[pets.PetsEngine], TaskSpec]) -> TaskSpec:
        """Run `add(engine)` (which loads one task), then let requests name the new task."""
        with self._changes, self.single_threaded():
            spec = add(self.engine)
            self._tasks_changed()
        return spec

    def remove_task(self, name: str) -> int:
        """Unload `name`; its queued queries end with TaskRemovedError. Returns how many.
        Raises UnknownTaskError when it is not loaded."""
        with self._changes, self.single_threaded():
            self.engine.task(name)  # UnknownTaskError first, with the loaded names
            with self._cond:
                self._served = {n: s for n, s in self._served.items() if n != name}
                gone = [q for q in self._queue if q.task == name]
                self._queue = [q for q in self._queue if q.task != name]
                self.metrics.queue.set(len(self._queue))
            self._fail(gone, TaskRemovedError(f"task {name!r} was removed while this request "
                                              "waited; load it again (POST /v1/tasks) to serve it"))
            self.engine.remove_task(name)  # waits for a running batch that uses it
            self._tasks_changed()
        return len(gone)

    # ---- the thread ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            try:
                self._run(batch)
            except Exception as e:  # a bug must not stop the thread: these requests fail, 5xx
                self._fail(batch.queries, BatchFailedError(f"internal error: {describe(e)}"))

    def _next_batch(self) -> Batch | None:
        """The next batch, planned outside the queue's lock (submits never wait for the
        planner); None when stopping."""
        cfg = self.config
        while True:
            with self._cond:
                head = self._due_head()
            if head is None:
                return None
            try:
                batch, _, _ = take_batch(head, self._plan, self.system.cost,
                                         max_batch=cfg.max_batch, window=cfg.window,
                                         padding=self.system.padding)
            except RUN_ERRORS as e:  # the planner refused the head: end it, keep serving
                with self._cond:
                    self._claim(head)
                self._fail(head, BatchFailedError(f"could not plan a batch: {describe(e)}; "
                                                  "send the request again"))
                continue
            with self._cond:
                queries = self._claim(batch.queries)
            if len(queries) == len(batch.queries):
                return batch
            if queries:  # some were taken off the queue while planning (task removed, stop)
                return batch_of_queries(queries)

    def _due_head(self) -> list[Query] | None:
        """Wait (holding the condition) until a batch is due; the queue's head the planner
        looks at, or None when stopping."""
        cfg = self.config
        while not self._stopping:
            if not self._queue:
                self._cond.wait()
                continue
            now = self._now()
            due = due_at(self._queue, now, max_batch=cfg.max_batch, max_wait_ms=cfg.max_wait_ms)
            if due is not None:
                self._cond.wait(timeout=max(due - now, 0.0))
                continue
            return self._queue[:cfg.window * cfg.max_batch]
        return None

    def _claim(self, queries: Sequence[Query]) -> list[Query]:
        """Take `queries` off the queue (under the lock); those that were still on it."""
        ids = {q.id for q in queries}
        present = {q.id for q in self._queue if q.id in ids}
        if present:
            self._queue = [q for q in self._queue if q.id not in present]
        self.metrics.queue.set(len(self._queue))
        return [q for q in queries if q.id in present]

    def _run(self, batch: Batch) -> None:
        start = time.perf_counter()
        try:
            out = self.system.run(batch)
        except (UnknownTaskError, KeyError):  # a task was removed after the batch was taken
            batch, out = self._run_without_removed(batch)
            if batch is None:
                return
        except RUN_ERRORS as e:  # e.g. out of memory: this batch fails, the server goes on
            self._fail(batch.queries, BatchFailedError(f"the batch failed: {describe(e)}"))
            return
        seconds = time.perf_counter() - start
        self._last_batch_s = seconds
        self.metrics.batch(len(batch), sum(batch.lengths), seconds)
        bad = nonfinite_ids(batch, out)
        lengths = {q.id: q.length for q in batch.queries}
        for r in out:
            future = self._futures.pop(r.query_id, None)
            if future is None:
                continue
            if r.query_id in bad:
                _resolve(future, error=BatchFailedError(NONFINITE.format(task=r.task)))
            else:
                _resolve(future, result=Output(
                    task=r.task, pooled=r.pooled.float().tolist(),
                    logits=None if r.logits is None else r.logits.float().tolist(),
                    tokens=lengths[r.query_id]))

    def _run_without_removed(self, batch: Batch) -> tuple[Batch | None, object]:
        """End the queries of removed tasks, run the rest: (the batch run, its output), or
        (None, None) when nothing was left to run or it failed."""
        served = self._served
        gone = [q for q in batch.queries if q.task not in served]
        rest = [q for q in batch.queries if q.task in served]
        self._fail(gone, TaskRemovedError("the request's task was removed before its batch ran; "
                                          "load it again (POST /v1/tasks) to serve it"))
        if not rest:
            return None, None
        batch = batch_of_queries(rest)
        try:
            return batch, self.system.run(batch)
        except RUN_ERRORS as e:
            self._fail(rest, BatchFailedError(f"the batch failed: {describe(e)}"))
            return None, None

    # ---- helpers ------------------------------------------------------------------------------
    @contextmanager
    def single_threaded(self) -> Iterator[None]:
        """Torch computes on one thread in this block unless this is the scheduler's thread
        (or it has none yet): a handler's thread then never starts an OpenMP pool beside the
        scheduler's. The thread's setting is restored after."""
        if self._thread is None or threading.current_thread() is self._thread:
            yield
            return
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def _tasks_changed(self) -> None:
        """Refresh the system (cost model, seqs' copies), then the names requests may use: a new
        task is admitted only once the cost model the planner reads knows it. Outside the
        queue's lock (seqs builds a dense copy here), serialized by `_changes`."""
        self.system.tasks_changed()
        served = dict(self.engine.tasks)
        with self._cond:
            self._served = served
        self.metrics.tasks.set(len(served))

    def _fail(self, queries: Sequence[Query], error: Exception) -> None:
        for q in queries:
            future = self._futures.pop(q.id, None)
            if future is not None:
                _resolve(future, error=error)

    def _retry_after_s(self) -> float:
        """When the queue should have room: its batches at the last batch's time, at least 1 s."""
        batches = len(self._queue) / self.config.max_batch
        return max(1.0, math.ceil(batches * self._last_batch_s + self.config.max_wait_ms / 1e3))

    def _now(self) -> float:
        return time.perf_counter() - self._t0


def _resolve(future: Future, *, result: object = None, error: Exception | None = None) -> None:
    """Set a future's outcome unless its caller gave up on it (cancelled)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


def check_served(task: str, served: Mapping[str, TaskSpec]) -> None:
    """UnknownTaskError naming the loaded tasks unless `task` is served (every front end)."""
    if task not in served:
        known = ", ".join(sorted(served)[:8]) or "none loaded"
        raise UnknownTaskError(f"unknown task {task!r}; loaded tasks: {known} "
                               "(GET /v1/tasks lists them)")


def stopped() -> ServerStoppedError:
    """What a request still waiting when the server stops ends with."""
    return ServerStoppedError("the server is shutting down; send the request again when it is back")
