"""The cluster loop: one discrete-event simulation of N workers behind a router.

Events sit in a heap of (time, kind, seq, payload); handlers return the events they
cause. A request goes to the least-loaded live worker holding its task (outstanding
tokens, queued plus running); each worker batches its own queue exactly as the
single-server loop does (`pets.serving.dispatch`). Every `interval_s` the loop samples
per-worker load and asks the balancer for moves; a move or copy lands after the link
time, and requests of a task with no routable copy wait (parked) until one lands.
A worker that dies hands its queued and running requests back to the router and its
tasks are re-placed from the host store. Every request ends completed, rejected or
failed, with a reason.
"""
from __future__ import annotations

import bisect
import heapq
import itertools
from collections import defaultdict, deque
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm.auto import tqdm

from pets.batching.batch import Batch
from pets.batching.cost import CostModel
from pets.batching.padding import DEFAULT_PADDING
from pets.batching.policies import get_policy
from pets.batching.query import Query, check_query
from pets.cluster.backends import EXECUTOR_OF, WorkerLost, make_backend
from pets.cluster.balancers import COPY, DROP, MOVE, LoadView, Move, get_balancer
from pets.cluster.catalog import Catalog
from pets.cluster.config import ClusterConfig
from pets.cluster.placement import Placement
from pets.cluster.report import ClusterRecord, ClusterReport, Migration
from pets.errors import PetsError
from pets.serving.dispatch import due_at, query_of, take_batch
from pets.serving.loop import ServeConfig
from pets.serving.metrics import Report
from pets.serving.trace import Trace

# Same-instant order: a batch finishing or a PET landing frees capacity before a fault,
# arrivals see the result, timers and balancer rounds come last.
DONE, LANDED, FAULT, ARRIVAL, TIMER, TICK = range(6)
RECOVER = "recover"  # a migration from the host store after a worker died


@dataclass
class Worker:
    queue: list[Query] = field(default_factory=list)
    queued_tokens: int = 0
    running: Batch | None = None
    alive: bool = True
    timer_at: float | None = None
    epoch: int = 0          # bumped on death: a DONE of an older epoch is stale
    busy_s: float = 0.0     # total time spent running batches
    busy_sampled: float = 0.0  # busy_s at the previous load sample

    @property
    def outstanding(self) -> int:
        return self.queued_tokens + (sum(self.running.lengths) if self.running else 0)


class ClusterLoop:
    """Replays one trace on a cluster. Ids, clock and events belong to the instance."""

    def __init__(self, catalog: Catalog, cfg: ClusterConfig = ClusterConfig(),
                 serve: ServeConfig = ServeConfig(), *, cost: CostModel | None = None) -> None:
        self.catalog, self.cfg = catalog, cfg
        self.serve = replace(serve, executor=EXECUTOR_OF[cfg.backend])
        self.cost = (cost or CostModel.for_model(catalog.preset, catalog.config)).with_tasks(catalog.specs)
        self._plan = get_policy(self.serve.policy)

    # ---- the run ---------------------------------------------------------------------------
    def run(self, trace: Trace, *, progress: bool = True) -> ClusterReport:
        cfg = self.cfg
        self.placement = Placement(self.catalog.sizes, cfg.workers, cfg.budget_bytes)
        self.balancer = get_balancer(cfg.balancer, threshold=cfg.threshold, max_moves=cfg.max_moves,
                                     min_busy=cfg.min_busy)
        self.balancer.place(self.catalog.tasks, self.placement)
        extra = dict(address=cfg.address, devices=cfg.devices) if cfg.backend == "ray" else {}
        self.backend = make_backend(cfg.backend, self.catalog, cfg.workers, cost=self.cost,
                                    padding=self.serve_padding, **extra)
        try:
            for w in range(cfg.workers):
                for task in self.placement.on(w):
                    self.backend.load(w, task, None)
            return self._replay(trace, progress)
        finally:
            self.backend.close()

    @property
    def serve_padding(self) -> str:
        return self.catalog.host.padding if self.catalog.host is not None else DEFAULT_PADDING

    def _replay(self, trace: Trace, progress: bool) -> ClusterReport:
        self.workers = [Worker() for _ in range(self.cfg.workers)]
        self._events: list = []
        self._seq = itertools.count()
        self._rng = np.random.default_rng(self.serve.seed)
        self.records: dict[int, ClusterRecord] = {}
        self.outputs: dict[int, object] = {}
        self.queries: dict[int, Query] = {}
        self._parked: dict[str, list[Query]] = defaultdict(list)
        self._routed: deque = deque()  # (time, task, worker, tokens)
        self._migrations: list[Migration] = []
        self._samples: list[dict] = []
        self._peak = list(self.placement.used)
        self._batches = 0
        self.log: list[str] = []
        requests = trace.requests
        self._open = len(requests)
        for rid, row in enumerate(requests):
            self._push(row.arrival_s, ARRIVAL, (rid, row))
        for f in self.cfg.faults:
            self._push(f.at_s, FAULT, f.worker)
        start = requests[0].arrival_s if requests else 0.0
        self._push(start + self.cfg.interval_s, TICK, None)
        self.now = start
        handlers = {ARRIVAL: self._arrive, DONE: self._done, TIMER: self._timer, TICK: self._tick,
                    LANDED: self._landed, FAULT: self._fault}
        with tqdm(total=len(requests), desc=f"cluster {self.cfg.balancer}", disable=not progress) as bar:
            while self._events:
                self.now, kind, _, payload = heapq.heappop(self._events)
                for event in handlers[kind](payload):
                    self._push(*event)
                if kind == ARRIVAL:
                    bar.update()
        report = Report(f"pets x{self.cfg.workers}", self.serve.executor, self.serve.policy,
                        [self.records[i] for i in sorted(self.records)],
                        slo_s=None if self.serve.slo_ms is None else self.serve.slo_ms / 1e3,
                        batches=self._batches, outputs=self.outputs, log=self.log)
        return ClusterReport(report, self.cfg.workers, self.cfg.balancer, self.cfg.backend,
                             self._samples, self._migrations, self._peak, self.placement.budget)

    def _push(self, t: float, kind: int, payload) -> None:
        heapq.heappush(self._events, (t, kind, next(self._seq), payload))

    def _end(self, rid: int, status: str, reason: str = "") -> None:
        rec = self.records[rid]
        rec.status, rec.reason = status, reason
        self._open -= 1

    # ---- requests and routing ----------------------------------------------------------------
    def _arrive(self, item):
        rid, row = item
        self.records[rid] = ClusterRecord(rid, row.task, row.arrival_s)
        if row.task not in self.catalog.specs:
            self._end(rid, "rejected", f"unknown task {row.task!r}: not in the cluster's catalog")
            return []
        try:
            query = query_of(rid, row, self.catalog.config.vocab_size, self._rng)
            check_query(self.catalog.config, query)
        except PetsError as e:
            self._end(rid, "rejected", str(e))
            return []
        self.queries[rid] = query
        return self._route(query)

    def _route(self, q: Query):
        """Queue `q` on the least-loaded live holder; park it while its task is in flight."""
        holders = [w for w in self.placement.holders.get(q.task, ()) if self.workers[w].alive]
        if not holders:
            events = [] if self.placement.in_flight(q.task) else self._recover(q.task)
            if events is None:
                self._end(q.id, "failed", f"no live worker has memory for task {q.task!r}")
                return []
            self._parked[q.task].append(q)
            return events
        limit = self.serve.queue_limit
        for w in sorted(holders, key=lambda w: (self.workers[w].outstanding, w)):
            wk = self.workers[w]
            if len(wk.queue) < limit:
                bisect.insort(wk.queue, q, key=lambda x: (x.arrival, x.id))
                wk.queued_tokens += q.length
                self._routed.append((self.now, q.task, w, q.length))
                return self._maybe_dispatch(w)
        self._end(q.id, "rejected", f"queue full on every holder of {q.task!r} ({limit} waiting)")
        return []

    def _take_back(self, w: int, task: str | None = None) -> list[Query]:
        """Remove (all, or one task's) queued requests of worker `w` for re-routing."""
        wk = self.workers[w]
        back = [q for q in wk.queue if task is None or q.task == task]
        wk.queue = [q for q in wk.queue if not (task is None or q.task == task)]
        wk.queued_tokens = sum(q.length for q in wk.queue)
        for q in back:
            self.records[q.id].hops += 1
        return back

    # ---- workers ----------------------------------------------------------------------------
    def _maybe_dispatch(self, w: int):
        wk = self.workers[w]
        while wk.alive and wk.running is None and wk.queue:
            due = due_at(wk.queue, self.now, max_batch=self.serve.max_batch,
                         max_wait_ms=self.serve.max_wait_ms)
            if due is not None:
                if wk.timer_at != due:
                    wk.timer_at = due
                    return [(due, TIMER, w)]
                return []
            batch, wk.queue, planning = take_batch(
                wk.queue, self._plan, self.cost, max_batch=self.serve.max_batch,
                window=self.serve.window, padding=self.serve_padding)
            wk.queued_tokens -= sum(batch.lengths)
            self._batches += 1
            for q in batch.queries:
                self.records[q.id].start, self.records[q.id].batch = self.now, self._batches
            try:
                seconds, out = self.backend.execute(w, batch)
            except WorkerLost as e:
                wk.running = batch
                return self._die(w, str(e))
            except PetsError as e:
                for q in batch.queries:
                    self._end(q.id, "failed", str(e))
                continue
            if self.serve.executor == "real":
                seconds += planning
            wk.running, wk.busy_s = batch, wk.busy_s + seconds
            return [(self.now + seconds, DONE, (w, wk.epoch, out))]
        return []

    def _timer(self, w: int):
        self.workers[w].timer_at = None
        return self._maybe_dispatch(w)

    def _done(self, item):
        w, epoch, out = item
        wk = self.workers[w]
        if epoch != wk.epoch:  # the worker died meanwhile; its requests were re-routed
            return []
        for q in wk.running.queries:
            rec = self.records[q.id]
            rec.finish, rec.worker = self.now, w
            self._end(q.id, "completed")
        if self.serve.keep_outputs and isinstance(out, list):
            self.outputs.update({r.query_id: r for r in out})
        wk.running = None
        return self._maybe_dispatch(w)

    def _fault(self, w: int):
        if not self.workers[w].alive:
            return []
        self.backend.kill(w)
        return self._die(w, "killed by a scripted fault")

    def _die(self, w: int, why: str):
        wk = self.workers[w]
        lost = (list(wk.running.queries) if wk.running else []) + self._take_back(w)
        for q in wk.running.queries if wk.running else ():
            self.records[q.id].hops += 1
        wk.alive, wk.running, wk.epoch = False, None, wk.epoch + 1
        held = self.placement.forget_worker(w)
        self.log.append(f"{self.now:.3f}s worker {w} died ({why}): {len(lost)} requests "
                        f"re-routed, {len(held)} tasks to re-place")
        for m in self._migrations:
            if m.status == "in flight" and m.dst == w:
                m.status = "cancelled"
        events = []
        for task in held:
            if not self._live_holders(task) and not self.placement.in_flight(task):
                events += self._recover(task) or []
        for q in sorted(lost, key=lambda q: (q.arrival, q.id)):
            events += self._route(q)
        return events

    def _live_holders(self, task: str) -> list[int]:
        return [w for w in self.placement.holders.get(task, ()) if self.workers[w].alive]

    # ---- PET movement ---------------------------------------------------------------------
    def _recover(self, task: str):
        """Bring `task` from the host store to the least-loaded live worker with room."""
        room = [w for w, wk in enumerate(self.workers) if wk.alive and self.placement.fits(w, task)]
        if not room:
            return None
        dst = min(room, key=lambda w: (self.workers[w].outstanding, w))
        return self._start(Move(RECOVER, task, dst, None))

    def _start(self, move: Move):
        """Reserve the destination and schedule the landing after the link time."""
        nbytes = self.catalog.sizes[move.task]
        self.placement.reserve(move.dst, move.task)
        self._peak[move.dst] = max(self._peak[move.dst], self.placement.used[move.dst])
        m = Migration(move.kind, move.task, move.dst, move.src, nbytes, self.now,
                      self.now + self.cfg.transfer_s(nbytes))
        self._migrations.append(m)
        return [(m.end_s, LANDED, m)]

    def _landed(self, m: Migration):
        task, dst = m.task, m.dst
        if m.status == "cancelled" or not self.workers[dst].alive:
            m.status = "cancelled"
            if self._parked.get(task) and not self._live_holders(task) \
                    and not self.placement.in_flight(task):
                return self._recover(task) or self._fail_parked(task)
            return []
        src = m.src if m.src is not None and self.workers[m.src].alive else None
        try:
            self.backend.load(dst, task, src)
        except WorkerLost as e:
            self.placement.drop(dst, task)
            return self._die(dst, str(e))
        self.placement.land(dst, task)
        m.status = "landed"
        events, back = [], []
        if m.kind == MOVE and src is not None and self.placement.holds(src, task):
            self.placement.drop(src, task)
            self.backend.drop(src, task)
            back = self._take_back(src, task)
        for q in sorted(back + self._parked.pop(task, []), key=lambda q: (q.arrival, q.id)):
            events += self._route(q)
        return events

    def _fail_parked(self, task: str):
        for q in self._parked.pop(task, []):
            self._end(q.id, "failed", f"no live worker has memory for task {task!r}")
        return []

    def _drop(self, move: Move):
        """Drop a spare copy (the balancer makes room); its queued requests go elsewhere."""
        if len(self._live_holders(move.task)) < 2 or move.dst not in self._live_holders(move.task):
            return []
        self.placement.drop(move.dst, move.task)
        self.backend.drop(move.dst, move.task)
        self._migrations.append(Migration(DROP, move.task, move.dst, None, 0, self.now, self.now,
                                          "landed"))
        events = []
        for q in self._take_back(move.dst, move.task):
            events += self._route(q)
        return events

    # ---- balancer rounds ------------------------------------------------------------------
    def _tick(self, _):
        cfg = self.cfg
        while self._routed and self._routed[0][0] < self.now - cfg.window_s:
            self._routed.popleft()
        work: dict[tuple[str, int], float] = defaultdict(float)
        for _, task, w, tokens in self._routed:
            work[task, w] += tokens
        for w, wk in enumerate(self.workers):
            for q in wk.queue:
                work[q.task, w] += q.length
        alive = tuple(w for w, wk in enumerate(self.workers) if wk.alive)
        running = {w: float(sum(wk.running.lengths)) if wk.running else 0.0
                   for w, wk in enumerate(self.workers)}
        busy = self._sample(work)
        events = []
        for move in self.balancer.rebalance(LoadView(self.now, alive, dict(work), running, busy),
                                            self.placement):
            if move.kind == DROP:
                events += self._drop(move)
            elif move.kind in (MOVE, COPY) and self.workers[move.dst].alive \
                    and not self.placement.holds(move.dst, move.task) \
                    and self.placement.fits(move.dst, move.task):
                events += self._start(move)
        if self._open > 0:
            events.append((self.now + cfg.interval_s, TICK, None))
        return events

    def _sample(self, work) -> dict[int, float]:
        """Record one load sample per worker; returns each worker's busy share."""
        per_worker, busy = defaultdict(float), {}
        for (_, w), x in work.items():
            per_worker[w] += x
        for w, wk in enumerate(self.workers):
            prev, wk.busy_sampled = wk.busy_sampled, wk.busy_s
            busy[w] = min(1.0, (wk.busy_s - prev) / self.cfg.interval_s)
            self._samples.append(dict(
                time_s=self.now, worker=w, alive=wk.alive, queued=len(wk.queue),
                outstanding_tokens=wk.outstanding, window_tokens=per_worker[w], busy=busy[w],
                tasks=len(self.placement.on(w)), pet_mb=self.placement.used[w] / 2**20))
        return busy
