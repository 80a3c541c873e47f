"""Carrying out PET movement for one cluster run: the balancer's moves, copies and
drops, recovery of tasks a dead worker held, and the requests parked while their task
has no routable copy.

A move or copy reserves memory at the destination at once and lands after the link
time (`ClusterConfig.transfer_s`); only then is the PET routable there. A move then drops
the source copy and hands the source's queued requests of that task to the holders.
Backend calls that find a worker dead turn into that worker's death, never an error.
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Protocol, Sequence

from pets.batching.query import Query
from pets.cluster.backend import Backend, WorkerLost
from pets.cluster.balancers import COPY, DROP, MOVE, Move, make_room
from pets.cluster.catalog import Catalog
from pets.cluster.config import ClusterConfig
from pets.cluster.events import Kind
from pets.cluster.monitor import LoadMonitor
from pets.cluster.placement import Placement
from pets.cluster.report import Migration
from pets.serving.events import Event, EventCore
from pets.serving.ledger import Ledger

if TYPE_CHECKING:
    from pets.cluster.loop import Worker

RECOVER = "recover"  # a migration from the host store after a worker died


class Router(Protocol):
    """What movement asks of the cluster loop's router."""

    def route(self, q: Query) -> list[Event]: ...
    def reroute(self, queries: list[Query]) -> list[Event]: ...
    def take_back(self, w: int, task: str | None = None) -> list[Query]: ...
    def die(self, w: int, why: str) -> list[Event]: ...
    def live_holders(self, task: str) -> list[int]: ...


class Movement:
    """PET movement of one run; owns the migration log, peak PET bytes per worker and the
    parked requests. Handlers return events, as the loop's do."""

    def __init__(self, *, catalog: Catalog, cfg: ClusterConfig, placement: Placement,
                 backend: Backend, workers: Sequence["Worker"], monitor: LoadMonitor,
                 core: EventCore, ledger: Ledger, router: Router) -> None:
        self.catalog, self.cfg, self.placement, self.backend = catalog, cfg, placement, backend
        self.workers, self.monitor, self.core, self.ledger = workers, monitor, core, ledger
        self.router = router
        self.migrations: list[Migration] = []
        self.peak = list(placement.used)
        self.parked: dict[str, list[Query]] = defaultdict(list)

    @property
    def now(self) -> float:
        return self.core.now

    def park(self, q: Query) -> None:
        """`q` waits for its task to land somewhere."""
        self.parked[q.task].append(q)

    def cancel_to(self, w: int) -> None:
        """Worker `w` died: migrations still travelling to it will not land."""
        for m in self.migrations:
            if m.status == "in flight" and m.dst == w:
                m.status = "cancelled"

    def fail_all_parked(self) -> None:
        """Nothing can happen any more: what still waits never will be served."""
        for task in list(self.parked):
            self.fail_parked(task)

    def apply(self, moves: list[Move]):
        """Carry out a balancer round: drops only together with the move they make room for."""
        events, drops = [], []
        for move in moves:
            if move.kind == DROP:
                drops.append(move)
                continue
            if move.kind in (MOVE, COPY) and self._can_take(move, drops):
                for d in drops:
                    events += self._drop(d)
                if self.placement.fits(move.dst, move.task):
                    events += self._start(move)
            drops = []
        return events

    def _can_take(self, move: Move, drops: list[Move]) -> bool:
        dst = move.dst
        if not self.workers[dst].alive or self.placement.holds(dst, move.task):
            return False
        if self.placement.budget is None:
            return True
        freed = sum(self.placement.sizes[d.task] for d in drops
                    if len(self.router.live_holders(d.task)) > 1 and dst in self.router.live_holders(d.task))
        return self.placement.used[dst] - freed + self.placement.sizes[move.task] <= self.placement.budget

    def recover(self, task: str):
        """Bring `task` from the host store to the least-loaded live worker that has room (or
        can make it by dropping spare copies). None when no worker can take it."""
        work = {}
        for w, wk in enumerate(self.workers):
            for q in wk.queue:
                work[q.task, w] = work.get((q.task, w), 0) + q.length
        for dst in sorted((w for w, wk in enumerate(self.workers) if wk.alive),
                          key=lambda w: (self.workers[w].outstanding, w)):
            evicted = make_room(self.placement, dst, task, work)
            if evicted is None:
                continue
            events = []
            for t in evicted:
                events += self._drop(Move(DROP, t, dst))
            if self.workers[dst].alive and self.placement.fits(dst, task):
                return events + self._start(Move(RECOVER, task, dst, None))
        return None

    def orphaned(self, task: str):
        """`task` may have lost its last copy: re-place it, or fail what waits for it."""
        if self.router.live_holders(task):
            return self._release(task)
        if self.placement.in_flight(task):
            return []
        events = self.recover(task)
        return self.fail_parked(task) if events is None else events

    def _start(self, move: Move):
        """Reserve the destination and schedule the landing after the link time."""
        nbytes = self.catalog.sizes[move.task]
        self.placement.reserve(move.dst, move.task)
        self.peak[move.dst] = max(self.peak[move.dst], self.placement.used[move.dst])
        m = Migration(move.kind, move.task, move.dst, move.src, nbytes, self.now,
                      self.now + self.cfg.transfer_s(nbytes))
        self.migrations.append(m)
        return [(m.end_s, Kind.LANDED, m)]

    def landed(self, m: Migration):
        task, dst = m.task, m.dst
        if m.status == "cancelled" or not self.workers[dst].alive:
            m.status = "cancelled"
            return self.orphaned(task) if self.parked.get(task) else []
        src = m.src if m.src is not None and self.workers[m.src].alive else None
        try:
            self.backend.load(dst, task, src)
        except WorkerLost as e:
            m.status = "cancelled"
            return self.router.die(dst, str(e)) + self.orphaned(task)
        self.placement.land(dst, task)
        m.status = "landed"
        events, back = [], []
        if m.kind == MOVE and src is not None and self.placement.holds(src, task):
            self.placement.drop(src, task)
            self.monitor.moved(task, src, dst)
            back = self.router.take_back(src, task)
            events += self._backend_drop(src, task)
        return events + self.router.reroute(back) + self._release(task)

    def _release(self, task: str):
        """Route the requests that waited for `task` to land (they were never queued)."""
        events = []
        for q in sorted(self.parked.pop(task, []), key=lambda q: (q.arrival, q.id)):
            events += self.router.route(q)
        return events

    def fail_parked(self, task: str):
        reason = self.unservable(task)
        for q in self.parked.pop(task, []):
            self.ledger.end(q.id, "failed", reason)
        return []

    def unservable(self, task: str) -> str:
        """Why no live worker can serve `task`: every worker dead, or no memory left."""
        alive = sum(wk.alive for wk in self.workers)
        if not alive:
            return (f"every worker is dead ({len(self.workers)} of {len(self.workers)} killed or "
                    f"lost), so nothing can serve task {task!r}; replay with fewer faults or "
                    "more workers")
        return f"no live worker ({alive} of {len(self.workers)}) can take task {task!r}: " + \
            self.placement.no_room(task)

    def _drop(self, move: Move):
        """Drop a spare copy (to make room); its queued requests go to the other holders."""
        holders = self.router.live_holders(move.task)
        if len(holders) < 2 or move.dst not in holders:
            return []
        self.placement.drop(move.dst, move.task)
        self.migrations.append(Migration(DROP, move.task, move.dst, None, 0, self.now, self.now,
                                          "landed"))
        events = self._backend_drop(move.dst, move.task)
        return events + self.router.reroute(self.router.take_back(move.dst, move.task))

    def _backend_drop(self, w: int, task: str):
        try:
            self.backend.drop(w, task)
        except WorkerLost as e:
            return self.router.die(w, str(e))
        return []
