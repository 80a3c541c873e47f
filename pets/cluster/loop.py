"""The cluster loop: one discrete-event simulation of N workers behind a router.

Events run on the serving loop's core (`pets.serving.events`): a heap of (time, kind,
seq, payload) whose handlers return the events they cause. A request goes to the least-loaded live worker holding its task (outstanding
tokens, queued plus running); each worker batches its own queue exactly as the
single-server loop does (`pets.serving.dispatch`). Every `interval_s` the loop samples
per-worker load and asks the balancer for moves, which a `Movement` carries out; requests of a task with no routable copy wait (parked) until one lands. A worker
that dies hands its queued and running requests back to the router and its tasks are
re-placed from the host store. Every request ends completed, rejected or failed, with a
reason.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Sequence

from pets.batching.batch import Batch
from pets.batching.cost import CostModel
from pets.batching.padding import DEFAULT_PADDING
from pets.batching.policies import get_policy
from pets.batching.query import Query, check_query
from pets.cluster.backend import WorkerLost
from pets.cluster.backends import EXECUTOR_OF, make_backend
from pets.cluster.balancers import get_balancer
from pets.cluster.catalog import Catalog
from pets.cluster.config import ClusterConfig
from pets.cluster.events import Kind
from pets.cluster.monitor import LoadMonitor
from pets.cluster.movement import Movement
from pets.cluster.placement import Placement
from pets.cluster.report import ClusterRecord, ClusterReport
from pets.errors import InvalidSpecError, PetsError
from pets.serving.dispatch import due_at, query_of, take_batch
from pets.serving.faults import RUN_ERRORS, at_row, describe
from pets.serving.events import EventCore, Hook, Replayer, drive
from pets.serving.ledger import Ledger
from pets.serving.loop import ServeConfig
from pets.serving.trace import Trace


@dataclass
class Worker:
    queue: list[Query] = field(default_factory=list)
    queued_tokens: int = 0
    running: Batch | None = None
    alive: bool = True
    timer_at: float | None = None
    epoch: int = 0          # bumped on death: a DONE of an older epoch is stale

    @property
    def outstanding(self) -> int:
        return self.queued_tokens + (sum(self.running.lengths) if self.running else 0)


class ClusterLoop(Replayer):
    """Replays one trace on a cluster. Ids, clock and events belong to the instance.

    `cost`: one cost model for every device, or one per worker (heterogeneous devices);
    by default the committed profile of the catalog's model on this machine.
    """

    def __init__(self, catalog: Catalog, cfg: ClusterConfig = ClusterConfig(),
                 serve: ServeConfig = ServeConfig(), *,
                 cost: CostModel | Sequence[CostModel] | None = None) -> None:
        self.catalog, self.cfg = catalog, cfg
        self.serve = replace(serve, executor=EXECUTOR_OF[cfg.backend])
        cost = cost or CostModel.for_model(catalog.preset, catalog.config)
        costs = [cost] * cfg.workers if isinstance(cost, CostModel) else list(cost)
        if len(costs) != cfg.workers:
            raise InvalidSpecError(f"{cfg.workers} workers need {cfg.workers} cost models, got {len(costs)}")
        self.costs = [c.with_tasks(catalog.specs) for c in costs]
        self._plan = get_policy(self.serve.policy)

    # ---- the run ---------------------------------------------------------------------------
    def run(self, trace: Trace, *, progress: bool = True, hook: Hook | None = None) -> ClusterReport:
        """Replay `trace`; `hook` as in `ServingLoop.run` (called before every event, True
        stops the replay)."""
        cfg = self.cfg
        cfg.check_rounds(trace.duration_s)
        self.placement = Placement(self.catalog.sizes, cfg.workers, cfg.budget_bytes)
        self.balancer = get_balancer(cfg.balancer, threshold=cfg.threshold, max_moves=cfg.max_moves,
                                     min_busy=cfg.min_busy)
        self.balancer.place(self.catalog.tasks, self.placement)
        extra = dict(address=cfg.address, devices=cfg.devices) if cfg.backend == "ray" else {}
        self.backend = make_backend(cfg.backend, self.catalog, self.costs,
                                    padding=self.serve_padding, **extra)
        try:
            self.backend.start()
            return self._replay(trace, progress, hook)
        finally:
            self.backend.close()

    @property
    def serve_padding(self) -> str:
        return self.catalog.host.padding if self.catalog.host is not None else DEFAULT_PADDING

    def _replay(self, trace: Trace, progress: bool, hook: Hook | None) -> ClusterReport:
        requests = trace.requests
        self._core = EventCore({Kind.ARRIVAL: self._arrive, Kind.DONE: self._done, Kind.TIMER: self._timer,
                                Kind.TICK: self._tick, Kind.FAULT: self._fault, Kind.LANDED: self._landed},
                               seed=self.serve.seed, now=requests[0].arrival_s if requests else 0.0)
        self._ledger = Ledger(len(requests), ClusterRecord)
        self._trace_name = trace.name
        self.workers = [Worker() for _ in range(self.cfg.workers)]
        self.monitor = LoadMonitor(self.cfg.workers, interval_s=self.cfg.interval_s,
                                   window_s=self.cfg.window_s)
        self.movement = Movement(catalog=self.catalog, cfg=self.cfg, placement=self.placement,
                                 backend=self.backend, workers=self.workers, monitor=self.monitor,
                                 core=self._core, ledger=self._ledger, router=self)
        self._core.push_all(self._initial_loads())
        for rid, row in enumerate(requests):
            self._core.push(row.arrival_s, Kind.ARRIVAL, (rid, row))
        for f in self.cfg.faults:
            self._core.push(f.at_s, Kind.FAULT, f.worker)
        self._core.push(self.now + self.cfg.interval_s, Kind.TICK, None)
        drive(self._core, self._ledger, arrival=Kind.ARRIVAL, counted=(Kind.ARRIVAL,),
              total=len(requests), desc=f"cluster {self.cfg.balancer}", progress=progress, hook=hook)
        report = self._ledger.report(f"pets x{self.cfg.workers}", self.serve)
        return ClusterReport(report, self.cfg.workers, self.cfg.balancer, self.cfg.backend,
                             self.monitor.samples, self.movement.migrations, self.movement.peak,
                             self.placement.budget)

    def _initial_loads(self):
        """Load every placed PET onto its worker; a worker lost already is a fault at t=0."""
        events = []
        for w in range(self.cfg.workers):
            for task in self.placement.on(w):
                if not self.workers[w].alive:
                    break
                try:
                    self.backend.load(w, task, None)
                except WorkerLost as e:
                    events += self.die(w, str(e))
        return events

    def _end(self, rid: int, status: str, reason: str = "") -> None:
        self._ledger.end(rid, status, reason)

    # ---- requests and routing ----------------------------------------------------------------
    def _arrive(self, item):
        rid, row = item
        self._ledger.arrive(rid, row)
        if row.task not in self.catalog.specs:
            self._end(rid, "rejected", f"unknown task {row.task!r}: not in the cluster's catalog")
            return []
        cfg = self.catalog.config
        try:
            query = query_of(rid, row, cfg.vocab_size, self._core.rng,
                             max_len=cfg.max_position_embeddings)
            check_query(cfg, query)
        except PetsError as e:
            self._end(rid, "rejected", at_row(row, self._trace_name, str(e)))
            return []
        self._ledger.queries[rid] = query
        return self.route(query, fresh=True)

    # the Router of Movement: route, reroute, take_back, die, live_holders
    def route(self, q: Query, *, fresh: bool = False):
        """Queue `q` on the least-loaded live holder; park it while its task is in flight.
        Only `fresh` arrivals count as new work for the balancer."""
        holders = self.live_holders(q.task)
        if not holders:
            events = [] if self.placement.in_flight(q.task) else self.movement.recover(q.task)
            if events is None:
                self._end(q.id, "failed", self.movement.unservable(q.task))
                return []
            self.movement.park(q)
            return events
        limit = self.serve.queue_limit
        for w in sorted(holders, key=lambda w: (self.workers[w].outstanding, w)):
            wk = self.workers[w]
            if len(wk.queue) < limit:
                bisect.insort(wk.queue, q, key=lambda x: (x.arrival, x.id))
                wk.queued_tokens += q.length
                if fresh:
                    self.monitor.routed(self.now, q.task, w, q.length)
                return self._maybe_dispatch(w)
        self._end(q.id, "rejected", f"queue full on every holder of {q.task!r} ({limit} waiting)")
        return []

    def reroute(self, queries: list[Query]):
        events = []
        for q in sorted(queries, key=lambda q: (q.arrival, q.id)):
            self._ledger.records[q.id].hops += 1
            events += self.route(q)
        return events

    def take_back(self, w: int, task: str | None = None) -> list[Query]:
        """Remove (all, or one task's) queued requests of worker `w`."""
        wk = self.workers[w]
        back = [q for q in wk.queue if task is None or q.task == task]
        wk.queue = [q for q in wk.queue if not (task is None or q.task == task)]
        wk.queued_tokens = sum(q.length for q in wk.queue)
        return back

    def live_holders(self, task: str) -> list[int]:
        return [w for w in self.placement.holders.get(task, ()) if self.workers[w].alive]

    # ---- workers ----------------------------------------------------------------------------
    def _maybe_dispatch(self, w: int):
        wk = self.workers[w]
        while wk.alive and wk.running is None and wk.queue:
            due = due_at(wk.queue, self.now, max_batch=self.serve.max_batch,
                         max_wait_ms=self.serve.max_wait_ms)
            if due is not None:
                if wk.timer_at != due:
                    wk.timer_at = due
                    return [(due, Kind.TIMER, w)]
                return []
            batch, wk.queue, planning = take_batch(
                wk.queue, self._plan, self.costs[w], max_batch=self.serve.max_batch,
                window=self.serve.window, padding=self.serve_padding)
            wk.queued_tokens -= sum(batch.lengths)
            self._ledger.start(batch, self.now)
            try:
                seconds, out = self.backend.execute(w, batch)
            except WorkerLost as e:
                wk.running = batch
                return self.die(w, str(e))
            except RUN_ERRORS as e:  # e.g. out of memory: the batch fails, the replay goes on
                for q in batch.queries:
                    self._end(q.id, "failed", describe(e))
                continue
            if self.serve.executor == "real":
                seconds += planning
            wk.running = batch
            self.monitor.ran(w, self.now, self.now + seconds)
            return [(self.now + seconds, Kind.DONE, (w, wk.epoch, out))]
        return []

    def _timer(self, w: int):
        self.workers[w].timer_at = None
        return self._maybe_dispatch(w)

    def _done(self, item):
        w, epoch, out = item
        wk = self.workers[w]
        if epoch != wk.epoch:  # the worker died meanwhile; its requests were re-routed
            return []
        self._ledger.complete(wk.running, self.now, out, keep_outputs=self.serve.keep_outputs, worker=w)
        wk.running = None
        return self._maybe_dispatch(w)

    def _fault(self, w: int):
        if not self.workers[w].alive:
            return []
        self.backend.kill(w)
        return self.die(w, "killed by a scripted fault")

    def _landed(self, m):
        return self.movement.landed(m)

    def die(self, w: int, why: str):
        """Worker `w` is gone: re-route its requests, re-place the tasks only it held."""
        wk = self.workers[w]
        if not wk.alive:
            return []
        lost = (list(wk.running.queries) if wk.running else []) + self.take_back(w)
        wk.alive, wk.running, wk.epoch = False, None, wk.epoch + 1
        held = self.placement.forget_worker(w)
        self._ledger.log.append(f"{self.now:.3f}s worker {w} died ({why}): {len(lost)} requests "
                                f"re-routed, {len(held)} tasks to re-place")
        self.movement.cancel_to(w)
        events = []
        for task in held:
            events += self.movement.orphaned(task)
        return events + self.reroute(lost)

    # ---- balancer rounds ------------------------------------------------------------------
    def _tick(self, _):
        view = self.monitor.view(self.now, self.workers, self.placement)
        events = self.movement.apply(self.balancer.rebalance(view, self.placement))
        if self._ledger.open > 0:
            if self._core.pending or events:
                events.append((self.now + self.cfg.interval_s, Kind.TICK, None))
            else:  # nothing can happen any more: what still waits never will be served
                self.movement.fail_all_parked()
        return events
