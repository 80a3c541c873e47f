"""The live cluster's driver core: N actors, where each task lives, routing, the calls in
flight and what their answers mean. One thread drives it (`pump`); it never waits for a
batch. What becomes of each request is told to a `Sink`: the trace replay records it in a
ledger (`driver.LiveRun`), the HTTP front end resolves a future (`frontend.LiveScheduler`).

Routing: a request goes to the least loaded live worker holding its task (outstanding
tokens); arrivals are sent to a worker together, one `submit` per `send_s`. One completion
poll per worker is always in flight. A worker is dead when a call to it fails: what it owed
is routed again and the tasks only it held are loaded from the host copy elsewhere.
"""
from __future__ import annotations

import time
from typing import Callable, Protocol

import ray
from ray import exceptions as rx

from pets.batching.query import Query
from pets.cluster.balancers import get_balancer
from pets.cluster.catalog import Catalog
from pets.cluster.live.config import LiveConfig
from pets.cluster.live.moves import Call, LiveMoves
from pets.cluster.live.outcomes import COMPLETED, FAILED, REROUTE, Reply
from pets.cluster.live.pool import DEAD, answers, ensure_ray, release, spawn
from pets.cluster.monitor import LoadMonitor
from pets.cluster.placement import Placement


class Sink(Protocol):
    """Where requests end. `rid`s are the caller's ids."""

    def completed(self, rid: int, worker: int, output: object) -> None: ...
    def ended(self, rid: int, status: str, reason: str) -> None: ...
    def rerouted(self, rid: int) -> None: ...


class LiveCore:
    def __init__(self, catalog: Catalog, cfg: LiveConfig, sink: Sink | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        """`sink` may be attached after construction (before `start`); `log` gets one line
        per worker lost."""
        self.catalog, self.cfg, self.sink = catalog, cfg, sink
        self._log = log or (lambda line: None)
        self.states: list = []
        self.pending: dict = {}
        self.buffer: dict[int, list] = {}
        self.killed_at: dict[int, float] = {}
        self.stale = 0
        self._started_ray = False
        self.t0 = time.perf_counter()

    # ---- life cycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start Ray (unless it runs) and the actors, place and load every PET, start serving."""
        cfg = self.cfg
        self._started_ray = ensure_ray(cfg)
        self.states = spawn(self.catalog, cfg)
        self.placement = Placement(self.catalog.sizes, cfg.workers, cfg.budget_bytes)
        self.balancer = get_balancer(cfg.balancer, threshold=cfg.threshold,
                                     max_moves=cfg.max_moves, min_busy=cfg.min_busy)
        self.balancer.place(self.catalog.tasks, self.placement)
        ray.get([self.states[w].actor.add.remote(self.catalog.specs[t], self.catalog.params(t))
                 for w in range(cfg.workers) for t in self.placement.on(w)])
        for s, node in zip(self.states, ray.get([s.actor.start.remote() for s in self.states])):
            s.node = node
        self.monitor = LoadMonitor(cfg.workers, interval_s=cfg.interval_s, window_s=cfg.window_s)
        self.moves = LiveMoves(self.catalog, self.placement, self.states, self.monitor, self,
                               self._issue, self.now)
        self._handlers = {"poll": self._polled, "land": self.moves.landed,
                          "unload": self.moves.unloaded}
        self.t0, self._next_tick = time.perf_counter(), cfg.interval_s
        for w in range(cfg.workers):
            self._poll(w)

    def close(self) -> None:
        release(self.states)
        if self._started_ray:
            ray.shutdown()

    def now(self) -> float:
        return time.perf_counter() - self.t0

    # ---- what the owner calls ---------------------------------------------------------------------
    def submit(self, rid: int, q: Query) -> None:
        """Route a new request (sent at the next `flush`)."""
        self.route(rid, q, fresh=True)

    def kill(self, w: int) -> None:
        """Fault injection: kill worker `w`'s actor; the core learns of it from failing calls."""
        self.killed_at[w] = self.now()
        ray.kill(self.states[w].actor, no_restart=True)

    def crash(self, w: int) -> None:
        """Fault injection: worker `w`'s process exits from inside (nothing tells the core)."""
        self.killed_at[w] = self.now()
        self.states[w].actor.crash.remote()

    def pump(self, timeout: float) -> None:
        """Send what was routed, run a balancer round when due, take the answers that come
        within `timeout` seconds."""
        self.flush()
        now = self.now()
        if now >= self._next_tick:
            self._tick(now)
            self._next_tick = now + self.cfg.interval_s
        self._wait(timeout)

    def load(self, task: str) -> None:
        """A task new to the catalog: load it on the least loaded live worker with room."""
        self.moves.recover(task)

    def unload(self, task: str) -> None:
        """A task leaves the catalog: unload it everywhere; its queued requests fail."""
        for w in list(self.placement.holders.get(task, ())):
            if self.states[w].alive:
                self.moves.unload(w, task)
        self.fail(self.moves.parked.pop(task, []), f"task {task!r} was removed")

    # ---- routing (the Router of LiveMoves) ------------------------------------------------------------
    def route(self, rid: int, q: Query, *, fresh: bool = False) -> None:
        holders = self.moves.routable(q.task)
        if not holders:
            if q.task not in self.catalog.specs:
                self.sink.ended(rid, FAILED, f"task {q.task!r} was removed while the request waited")
            elif self.placement.in_flight(q.task) or self.moves.recover(q.task):
                self.moves.parked[q.task].append(q)
            else:
                self.sink.ended(rid, FAILED, self.moves.why_unservable(q.task))
            return
        w = min(holders, key=lambda w: (self.states[w].tokens, w))
        self.states[w].send(rid, q)
        self.buffer.setdefault(w, []).append((rid, q.task, q.input_ids))
        if fresh:
            self.monitor.routed(self.now(), q.task, w, q.length)

    def reroute(self, queries: list[Query]) -> None:
        for q in queries:
            self.sink.rerouted(q.id)
            self.route(q.id, q)

    def fail(self, queries: list[Query], reason: str) -> None:
        for q in queries:
            self.sink.ended(q.id, FAILED, reason)

    def die(self, w: int, why: str) -> None:
        state = self.states[w]
        if not state.alive:
            return
        state.alive = False
        self.buffer.pop(w, None)
        lost = state.take_all()
        self.moves.lost(w, len(lost), self.killed_at.get(w, float("nan")))
        self._log(f"{self.now():.3f}s worker {w} lost ({why}): {len(lost)} requests re-routed")
        self.reroute(sorted(lost, key=lambda q: (q.arrival, q.id)))

    # ---- talking to the workers -------------------------------------------------------------------------
    def flush(self) -> None:
        for w, items in self.buffer.items():
            self.states[w].actor.submit.remote(items)
        self.buffer = {}

    def _issue(self, ref, call: Call) -> None:
        self.pending[ref] = call

    def _poll(self, w: int) -> None:
        self._issue(self.states[w].actor.completions.remote(self.cfg.poll_s), Call("poll", w))

    def _wait(self, timeout: float) -> None:
        refs = list(self.pending)
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for ref in ready:
            call = self.pending.pop(ref)
            try:
                value = ray.get(ref)
            except (*DEAD, rx.RayTaskError) as e:  # RayTaskError: the call failed, the worker lives
                self._call_failed(call, e)
                continue
            self._handlers[call.kind](call, value)

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
        state.batches = reply.batches
        back = []
        for ev in reply.events:
            q = state.settle(ev.rid)
            if q is None:
                self.stale += 1
            elif ev.kind == REROUTE:
                back.append(q)
            elif ev.kind == COMPLETED:
                self.sink.completed(ev.rid, w, ev.output)
            else:
                self.sink.ended(ev.rid, ev.kind, f"worker {w}: {ev.reason}")
        self.reroute(back)
        self._poll(w)

    def _tick(self, now: float) -> None:
        view = self.monitor.view(now, self.states, self.placement)
        self.moves.apply(self.balancer.rebalance(view, self.placement))
        for task in list(self.moves.parked):  # parked with nothing on its way: nothing will come
            if not self.placement.in_flight(task) and not self.moves.routable(task):
                self.fail(self.moves.parked.pop(task), self.moves.why_unservable(task))
