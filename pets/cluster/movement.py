"""Carrying out PET movement for the cluster loop: the balancer's moves, copies and
drops, and recovery of tasks a dead worker held.

A move or copy reserves memory at the destination at once and lands after the link
time (`ClusterConfig.transfer_s`); only then is the PET routable there. A move then drops
the source copy and hands the source's queued requests of that task to the holders.
Backend calls that find a worker dead turn into that worker's death, never an error.
"""
from __future__ import annotations

from pets.cluster.backend import WorkerLost
from pets.cluster.balancers import COPY, DROP, MOVE, Move, make_room
from pets.cluster.events import LANDED, RECOVER
from pets.cluster.report import Migration


class Movement:
    """Mixed into ClusterLoop: uses its placement, backend, workers, parked requests and
    `_route` / `_reroute` / `_take_back` / `_die` / `_live_holders` / `_end`."""

    def _apply(self, moves: list[Move]):
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
                    if len(self._live_holders(d.task)) > 1 and dst in self._live_holders(d.task))
        return self.placement.used[dst] - freed + self.placement.sizes[move.task] <= self.placement.budget

    def _recover(self, task: str):
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

    def _orphaned(self, task: str):
        """`task` may have lost its last copy: re-place it, or fail what waits for it."""
        if self._live_holders(task):
            return self._release(task)
        if self.placement.in_flight(task):
            return []
        events = self._recover(task)
        return self._fail_parked(task) if events is None else events

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
            return self._orphaned(task) if self._parked.get(task) else []
        src = m.src if m.src is not None and self.workers[m.src].alive else None
        try:
            self.backend.load(dst, task, src)
        except WorkerLost as e:
            m.status = "cancelled"
            return self._die(dst, str(e)) + self._orphaned(task)
        self.placement.land(dst, task)
        m.status = "landed"
        events, back = [], []
        if m.kind == MOVE and src is not None and self.placement.holds(src, task):
            self.placement.drop(src, task)
            self.monitor.moved(task, src, dst)
            back = self._take_back(src, task)
            events += self._backend_drop(src, task)
        return events + self._reroute(back) + self._release(task)

    def _release(self, task: str):
        """Route the requests that waited for `task` to land (they were never queued)."""
        events = []
        for q in sorted(self._parked.pop(task, []), key=lambda q: (q.arrival, q.id)):
            events += self._route(q)
        return events

    def _fail_parked(self, task: str):
        for q in self._parked.pop(task, []):
            self._end(q.id, "failed", f"no live worker has memory for task {task!r}")
        return []

    def _drop(self, move: Move):
        """Drop a spare copy (to make room); its queued requests go to the other holders."""
        holders = self._live_holders(move.task)
        if len(holders) < 2 or move.dst not in holders:
            return []
        self.placement.drop(move.dst, move.task)
        self._migrations.append(Migration(DROP, move.task, move.dst, None, 0, self.now, self.now,
                                          "landed"))
        events = self._backend_drop(move.dst, move.task)
        return events + self._reroute(self._take_back(move.dst, move.task))

    def _backend_drop(self, w: int, task: str):
        try:
            self.backend.drop(w, task)
        except WorkerLost as e:
            return self._die(w, str(e))
        return []
