"""PET movement while the workers serve: the balancer's moves, copies and drops, and the
re-placement of a dead worker's tasks from the host copy.

Every transfer is asynchronous: the destination's `add` takes the source's `export` ref
straight from the object store (or the host's tensors), the driver keeps routing meanwhile,
and the PET becomes routable on the destination only when that `add` returns. A move then
stops routing to the source and asks it to unload the task: requests still queued there come
back as `reroute` events and go to the new holder, so none is lost or run twice. Memory
counts on the destination from the start of the transfer and on the source until its
unload returns, so budgets hold at every instant.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Protocol

from pets.batching.query import Query
from pets.cluster.balancers import DROP, MOVE, Move
from pets.cluster.catalog import Catalog
from pets.cluster.live.pool import WorkerState
from pets.cluster.monitor import LoadMonitor
from pets.cluster.placement import Placement
from pets.cluster.report import Migration

RECOVER = "recover"


@dataclass(frozen=True)
class Call:
    """What a pending Ray call was for: `kind` picks the driver's handler."""

    kind: str                          # poll | land | unload
    worker: int
    migration: Migration | None = None
    task: str = ""


@dataclass
class Death:
    """One lost worker: when it was killed (if the run killed it), when the driver noticed,
    and when the last of its tasks landed elsewhere (NaN while any is still on its way)."""

    worker: int
    detected_s: float
    rerouted: int
    tasks: list[str] = field(default_factory=list)
    killed_s: float = float("nan")
    recovered_s: float = float("nan")

    @property
    def recovery_s(self) -> float:
        return self.recovered_s - self.detected_s


class Router(Protocol):
    def reroute(self, queries: list[Query]) -> None: ...
    def fail(self, queries: list[Query], reason: str) -> None: ...
    def die(self, w: int, why: str) -> None: ...


class LiveMoves:
    """Transfers of one live run. `issue(ref, call)` hands a pending Ray call to the driver."""

    def __init__(self, catalog: Catalog, placement: Placement, states: list[WorkerState],
                 monitor: LoadMonitor, router: Router, issue: Callable, now: Callable[[], float]) -> None:
        self.catalog, self.placement, self.states, self.monitor = catalog, placement, states, monitor
        self.router, self.issue, self.now = router, issue, now
        self.migrations: list[Migration] = []
        self.parked: dict[str, list[Query]] = defaultdict(list)
        self.deaths: list[Death] = []
        self.peak = list(placement.used)

    # ---- the balancer's rounds ----------------------------------------------------------------
    def apply(self, moves: list[Move]) -> None:
        for m in moves:
            if m.kind == DROP:
                if len(self.routable(m.task)) > 1 and m.dst in self.routable(m.task):
                    self.unload(m.dst, m.task)
            else:
                self.start(m.kind, m.task, m.dst, m.src)

    def routable(self, task: str) -> list[int]:
        return [w for w in self.placement.holders.get(task, ()) if self.states[w].alive]

    def start(self, kind: str, task: str, dst: int, src: int | None) -> bool:
        """Begin bringing `task` to `dst` (from `src`'s copy, or the host's when None)."""
        p = self.placement
        if not self.states[dst].alive or p.holds(dst, task) or not p.fits(dst, task):
            return False
        p.reserve(dst, task)
        self.peak[dst] = max(self.peak[dst], p.used[dst])
        mig = Migration(kind, task, dst, src, p.sizes[task], self.now(), float("nan"))
        self.migrations.append(mig)
        self._ship(mig)
        return True

    def _ship(self, mig: Migration) -> None:
        src = mig.src if mig.src is not None and self.states[mig.src].alive else None
        params = (self.states[src].actor.export.remote(mig.task) if src is not None
                  else self.catalog.params(mig.task))
        ref = self.states[mig.dst].actor.add.remote(self.catalog.specs[mig.task], params)
        self.issue(ref, Call("land", mig.dst, mig))

    def unload(self, w: int, task: str) -> None:
        """Stop routing `task` to `w` now; its bytes there count until the unload returns."""
        self.placement.holders[task].discard(w)
        self.issue(self.states[w].actor.remove.remote(task), Call("unload", w, task=task))

    # ---- answers to the driver's calls ----------------------------------------------------------
    def landed(self, call: Call, _bytes: int) -> None:
        mig = call.migration
        if mig.status != "in flight":  # cancelled: its destination died meanwhile
            return
        self.placement.land(mig.dst, mig.task)
        mig.status, mig.end_s = "landed", self.now()
        if mig.task not in self.catalog.specs:  # removed from the catalog while it travelled
            self.unload(mig.dst, mig.task)
            return
        if mig.kind == MOVE and mig.src is not None and mig.src in self.routable(mig.task):
            self.monitor.moved(mig.task, mig.src, mig.dst)
            self.unload(mig.src, mig.task)
        self._recovered(mig)
        self.router.reroute(self.parked.pop(mig.task, []))

    def land_failed(self, call: Call, why: str, *, dst_alive: bool) -> None:
        """The add did not happen: the source died (take the host copy), the destination
        died (the driver handles its death) or the add itself was refused."""
        mig = call.migration
        if mig.status != "in flight":
            return
        if dst_alive and mig.src is not None:
            mig.src = None  # the source died: ship from the host store instead
            self._ship(mig)
            return
        mig.status, mig.end_s = "cancelled", self.now()
        self.placement.drop(mig.dst, mig.task)
        if not dst_alive:
            self.router.die(mig.dst, why)
        elif not self.routable(mig.task) and not self.placement.in_flight(mig.task):
            self.router.fail(self.parked.pop(mig.task, []), f"task {mig.task!r} could not be "
                             f"loaded on worker {mig.dst}: {why}")

    def unloaded(self, call: Call, _queued: int) -> None:
        if not self.placement.holds(call.worker, call.task):  # (not brought back meanwhile)
            self.placement.used[call.worker] -= self.placement.sizes[call.task]

    # ---- faults -------------------------------------------------------------------------------
    def lost(self, w: int, rerouted: int, killed_s: float) -> None:
        """Worker `w` died: cancel transfers to it, re-place the tasks only it held."""
        held = self.placement.forget_worker(w)
        for m in self.migrations:
            if m.status == "in flight" and m.dst == w:
                m.status, m.end_s = "cancelled", self.now()
        death = Death(w, self.now(), rerouted, killed_s=killed_s)
        self.deaths.append(death)
        for task in held:
            if not self.routable(task) and not self.placement.in_flight(task) and self.recover(task):
                death.tasks.append(task)
        if not death.tasks:
            death.recovered_s = death.detected_s

    def recover(self, task: str) -> bool:
        """Load `task` from the host onto the least loaded live worker with room."""
        live = sorted((s.tokens, w) for w, s in enumerate(self.states) if s.alive)
        return any(self.start(RECOVER, task, w, None) for _, w in live)

    def _recovered(self, mig: Migration) -> None:
        for d in self.deaths:
            if mig.kind == RECOVER and mig.task in d.tasks and d.recovered_s != d.recovered_s:
                landed = [m for m in self.migrations if m.kind == RECOVER and m.task in d.tasks
                          and m.start_s >= d.detected_s and m.status == "landed"]
                if len({m.task for m in landed}) == len(d.tasks):
                    d.recovered_s = self.now()

    def why_unservable(self, task: str) -> str:
        if not any(s.alive for s in self.states):
            return f"no live worker is left to serve {task!r}: every worker died"
        return self.placement.no_room(task)
