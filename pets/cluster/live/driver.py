"""The live run: a trace replayed open-loop, in wall-clock time, against N Ray actors that
serve at once.

The driver is one thread and never waits for a batch. At each request's arrival time it
routes the request to the least loaded live worker holding its task (outstanding tokens)
and sends what arrived together in one `submit` per worker; it keeps one completion poll in
flight per worker and takes answers as they come (`ray.wait`). Throughput and latency are
measured here, at the client: a request's latency runs from its arrival time in the trace to
the moment its answer reached the driver. A worker is dead when a call to it fails: its
unanswered requests are routed again and the tasks only it held are loaded from the host copy
elsewhere (`moves.LiveMoves`); every request ends completed, rejected or failed with a reason.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import ray
from ray import exceptions as rx

from pets.batching.query import Query, check_query
from pets.cluster.balancers import get_balancer
from pets.cluster.catalog import Catalog
from pets.cluster.live.config import LiveConfig
from pets.cluster.live.moves import Call, Death, LiveMoves
from pets.cluster.live.outcomes import COMPLETED, REROUTE, Reply
from pets.cluster.live.pool import DEAD, answers, ensure_ray, release, spawn
from pets.cluster.monitor import LoadMonitor
from pets.cluster.placement import Placement
from pets.cluster.report import ClusterRecord, ClusterReport
from pets.errors import PetsError
from pets.serving.dispatch import query_of
from pets.serving.faults import at_row
from pets.serving.ledger import Ledger
from pets.serving.trace import Trace


@dataclass
class LiveReport(ClusterReport):
    """A cluster report whose times are wall-clock seconds since the first arrival."""

    deaths: list[Death] = field(default_factory=list)
    batch_s: list[float] = field(default_factory=list)  # seconds each worker spent in batches
    span_s: float = float("nan")                         # first arrival to last answer
    driver_cpu_s: float = float("nan")                   # CPU time the driver process used
    stale: int = 0            # answers for requests the worker did not owe (a duplicate: 0)

    def summary(self) -> dict:
        s = super().summary()
        s.update(driver_cpu_s=self.driver_cpu_s, stale=self.stale,
                 worker_busy=sum(self.batch_s) / (len(self.batch_s) * self.span_s)
                 if self.batch_s and self.span_s > 0 else float("nan"),
                 recovery_s=max((d.recovery_s for d in self.deaths), default=float("nan")),
                 detect_s=max((d.detected_s - d.killed_s for d in self.deaths), default=float("nan")))
        return s


class LiveRun:
    """One live run of one trace: start the actors, place and load the PETs, serve, release."""

    def __init__(self, catalog: Catalog, cfg: LiveConfig = LiveConfig()) -> None:
        self.catalog, self.cfg = catalog, cfg

    def run(self, trace: Trace) -> LiveReport:
        started = ensure_ray(self.cfg)
        self.states = []
        try:
            self.states = spawn(self.catalog, self.cfg)
            self._place()
            return self._serve(trace)
        finally:
            release(self.states)
            if started:
                ray.shutdown()

    # ---- set-up ---------------------------------------------------------------------------------
    def _place(self) -> None:
        cfg = self.cfg
        self.placement = Placement(self.catalog.sizes, cfg.workers, cfg.budget_bytes)
        self.balancer = get_balancer(cfg.balancer, threshold=cfg.threshold,
                                     max_moves=cfg.max_moves, min_busy=cfg.min_busy)
        self.balancer.place(self.catalog.tasks, self.placement)
        ray.get([self.states[w].actor.add.remote(self.catalog.specs[t], self.catalog.params(t))
                 for w in range(cfg.workers) for t in self.placement.on(w)])
        ray.get([s.actor.start.remote() for s in self.states])

    def _queries(self, trace: Trace) -> list[Query | str]:
        """Every request's query, made before the clock starts (or why it is refused)."""
        rng, cfg = np.random.default_rng(0), self.catalog.config
        out: list[Query | str] = []
        for rid, row in enumerate(trace.requests):
            if row.task not in self.catalog.specs:
                out.append(f"unknown task {row.task!r}: not in the cluster's catalog")
                continue
            try:
                q = query_of(rid, row, cfg.vocab_size, rng, max_len=cfg.max_position_embeddings)
                check_query(cfg, q)
                out.append(q)
            except PetsError as e:
                out.append(at_row(row, trace.name, str(e)))
        return out

    # ---- the run ----------------------------------------------------------------------------------
    def _serve(self, trace: Trace) -> LiveReport:
        cfg, rows = self.cfg, trace.requests
        queries = self._queries(trace)
        first = rows[0].arrival_s if rows else 0.0
        times = [r.arrival_s - first for r in rows]
        self.ledger = Ledger(len(rows), ClusterRecord)
        self.monitor = LoadMonitor(cfg.workers, interval_s=cfg.interval_s, window_s=cfg.window_s)
        self.pending: dict = {}
        self.buffer: dict[int, list] = {}
        self.moves = LiveMoves(self.catalog, self.placement, self.states, self.monitor, self,
                               self._issue, self.now)
        handlers = {"poll": self._polled, "land": self.moves.landed, "unload": self.moves.unloaded}
        faults = sorted(cfg.faults, key=lambda f: f.at_s)
        self.killed_at: dict[int, float] = {}
        self.stale = 0
        self.t0, cpu0 = time.perf_counter(), time.process_time()
        for w in range(cfg.workers):
            self._poll(w)
        i, tick = 0, cfg.interval_s
        while self.ledger.open > 0:
            now = self.now()
            while i < len(rows) and times[i] <= now:
                self._arrive(i, rows[i], times[i], queries[i])
                i += 1
            self._flush()
            while faults and faults[0].at_s <= now:
                f = faults.pop(0)
                self.killed_at[f.worker] = now
                ray.kill(self.states[f.worker].actor, no_restart=True)
            if now >= tick:
                self._tick(now)
                tick = now + cfg.interval_s
            if i == len(rows) and now > (times[-1] if times else 0) + cfg.timeout_s:
                self._give_up()
                break
            nxt = min(times[i] if i < len(rows) else np.inf, tick,
                      faults[0].at_s if faults else np.inf)
            self._wait(handlers, min(max(nxt - self.now(), cfg.send_s), cfg.poll_s))
        return LiveReport(self.ledger.report(f"pets x{cfg.workers} live", cfg.server.serve_config()),
                          cfg.workers, cfg.balancer, "ray-live", self.monitor.samples,
                          self.moves.migrations, self.moves.peak, self.placement.budget,
                          deaths=self.moves.deaths, batch_s=[s.batch_s for s in self.states],
                          span_s=self.now(), driver_cpu_s=time.process_time() - cpu0,
                          stale=self.stale)

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def _arrive(self, rid: int, row, at: float, query: Query | str) -> None:
        self.ledger.arrive(rid, row).arrival = at
        if isinstance(query, str):
            self.ledger.end(rid, "rejected", query)
            return
        self._route(rid, query, fresh=True)

    # ---- routing (also the Router of LiveMoves) ----------------------------------------------------
    def _route(self, rid: int, q: Query, *, fresh: bool = False) -> None:
        holders = self.moves.routable(q.task)
        if not holders:
            if self.placement.in_flight(q.task) or self.moves.recover(q.task):
                self.moves.parked[q.task].append(q)
            else:
                self.ledger.end(rid, "failed", self.moves.why_unservable(q.task))
            return
        w = min(holders, key=lambda w: (self.states[w].tokens, w))
        self.states[w].send(rid, q)
        self.buffer.setdefault(w, []).append((rid, q.task, q.input_ids))
        if fresh:
            self.monitor.routed(self.now(), q.task, w, q.length)

    def reroute(self, queries: list[Query]) -> None:
        for q in queries:
            self.ledger.records[q.id].hops += 1
            self._route(q.id, q)

    def fail(self, queries: list[Query], reason: str) -> None:
        for q in queries:
            self.ledger.end(q.id, "failed", reason)

    def die(self, w: int, why: str) -> None:
        state = self.states[w]
        if not state.alive:
            return
        state.alive = False
        self.buffer.pop(w, None)
        lost = state.take_all()
        self.ledger.log.append(f"{self.now():.3f}s worker {w} lost ({why}): {len(lost)} requests "
                               "re-routed")
        self.moves.lost(w, len(lost), self.killed_at.get(w, float("nan")))
        self.reroute(sorted(lost, key=lambda q: (q.arrival, q.id)))

    # ---- talking to the workers ---------------------------------------------------------------------
    def _flush(self) -> None:
        for w, items in self.buffer.items():
            self.states[w].actor.submit.remote(items)
        self.buffer = {}

    def _issue(self, ref, call: Call) -> None:
        self.pending[ref] = call

    def _poll(self, w: int) -> None:
        self._issue(self.states[w].actor.completions.remote(self.cfg.poll_s), Call("poll", w))

    def _wait(self, handlers, timeout: float) -> None:
        refs = list(self.pending)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            call = self.pending.pop(ref)
            try:
                value = ray.get(ref)
            except DEAD as e:
                self._call_failed(call, e)
                continue
            except rx.RayTaskError as e:  # the call itself failed; the worker lives
                self._call_failed(call, e)
                continue
            handlers[call.kind](call, value)

    def _call_failed(self, call: Call, error: Exception) -> None:
        why = type(error).__name__
        if call.kind == "land":
            alive = self.states[call.worker].alive and answers(self.states[call.worker])
            self.moves.land_failed(call, f"{why}: {str(error).splitlines()[0][:200]}", dst_alive=alive)
        elif call.kind == "unload" and not isinstance(error, DEAD):
            self.moves.unloaded(call, 0)
        else:
            self.die(call.worker, why)

    def _polled(self, call: Call, reply: Reply) -> None:
        w, state = call.worker, self.states[call.worker]
        if not state.alive:
            return
        now = self.now()
        if reply.batch_s > state.batch_s:
            self.monitor.ran(w, now - (reply.batch_s - state.batch_s), now)
            state.batch_s = reply.batch_s
        back = []
        for ev in reply.events:
            q = state.settle(ev.rid)
            if q is None:
                self.stale += 1
                continue
            if ev.kind == REROUTE:
                back.append(q)
            elif ev.kind == COMPLETED:
                rec = self.ledger.records[ev.rid]
                rec.finish, rec.worker = now, w
                self.ledger.end(ev.rid, COMPLETED)
                if ev.output is not None:
                    self.ledger.outputs[ev.rid] = ev.output
            else:
                self.ledger.end(ev.rid, ev.kind, f"worker {w}: {ev.reason}")
        self.reroute(back)
        self._poll(w)

    def _tick(self, now: float) -> None:
        view = self.monitor.view(now, self.states, self.placement)
        self.moves.apply(self.balancer.rebalance(view, self.placement))
        for task in list(self.moves.parked):  # parked with nothing on its way: nothing will come
            if not self.placement.in_flight(task) and not self.moves.routable(task):
                self.fail(self.moves.parked.pop(task), self.moves.why_unservable(task))

    def _give_up(self) -> None:
        reason = f"no answer within timeout_s={self.cfg.timeout_s:g} after the last arrival"
        for rid, rec in self.ledger.records.items():
            if not rec.status:
                self.ledger.end(rid, "failed", reason)
