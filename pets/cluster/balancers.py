"""Balancers: where PETs start, and which PETs move or get copied while a trace runs.

A balancer is a registered class with two pure methods over named dataclasses:
`place` fills an empty Placement (the catalog order is all it knows), `rebalance`
looks at the recent load and returns Moves. The cluster loop carries them out: a
move or copy ships the PET's bytes over the link (`latency + bytes / bandwidth`) and
the PET is usable at the destination only when it lands; a move then drops the
source copy and hands the source's queued requests of that task to the holders.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from pets.cluster.placement import Placement
from pets.errors import InvalidSpecError

MOVE, COPY, DROP = "move", "copy", "drop"


@dataclass(frozen=True)
class Move:
    """Bring `task` to `dst` (from `src`; None: from the host store), or drop it from `dst`."""

    kind: str
    task: str
    dst: int
    src: int | None = None


@dataclass(frozen=True)
class LoadView:
    """What the balancer sees at time `now`, in units of work (tokens).

    work[(task, w)]: tokens of `task` routed to `w` over the last window, plus those
    still queued there; running[w]: tokens of the batch `w` is running; busy[w]: the
    share of the last period `w` spent running batches.
    """

    now: float
    alive: tuple[int, ...]
    work: Mapping[tuple[str, int], float]
    running: Mapping[int, float]
    busy: Mapping[int, float] = field(default_factory=dict)

    def load(self, placement: Placement) -> dict[int, float]:
        load = {w: float(self.running.get(w, 0.0)) for w in self.alive}
        for (task, w), x in self.work.items():
            if w in load:
                load[w] += x
        return load


class Balancer(ABC):
    name: str

    def __init__(self, *, threshold: float = 0.15, max_moves: int = 4, min_busy: float = 0.5) -> None:
        if threshold < 0 or max_moves < 1 or not 0 <= min_busy <= 1:
            raise InvalidSpecError("balancer threshold must be >= 0, max_moves >= 1, "
                                   "min_busy in [0, 1]")
        self.threshold, self.max_moves, self.min_busy = threshold, max_moves, min_busy

    def place(self, tasks: Sequence[str], placement: Placement) -> None:
        """Round-robin over workers in catalog order, skipping full workers."""
        for i, task in enumerate(tasks):
            order = [(i + k) % placement.workers for k in range(placement.workers)]
            w = next((w for w in order if placement.fits(w, task)), None)
            if w is None:
                raise InvalidSpecError(placement.no_room(task))
            placement.put(w, task)

    @abstractmethod
    def rebalance(self, view: LoadView, placement: Placement) -> list[Move]: ...


BALANCERS: dict[str, Callable[..., Balancer]] = {}


def register_balancer(cls: type[Balancer]) -> type[Balancer]:
    BALANCERS[cls.name] = cls
    return cls


def get_balancer(name: str, **kw) -> Balancer:
    try:
        return BALANCERS[name](**kw)
    except KeyError:
        raise InvalidSpecError(f"unknown balancer {name!r}; choose one of {sorted(BALANCERS)}") from None


@register_balancer
class Static(Balancer):
    """Round-robin placement, never moved."""

    name = "static"

    def rebalance(self, view, placement):
        return []


@register_balancer
class Replicate(Balancer):
    """Every task on every worker where memory allows (copies in catalog order)."""

    name = "replicate"

    def place(self, tasks, placement):
        super().place(tasks, placement)
        for w in range(placement.workers):
            for task in tasks:
                if not placement.holds(w, task) and placement.fits(w, task):
                    placement.put(w, task)

    def rebalance(self, view, placement):
        return []


@register_balancer
class Migrate(Balancer):
    """PET migration after the PetS journal version: while the most loaded worker is busy
    (at least `min_busy` of the last period) and more than `threshold` above the mean,
    shift work to the least loaded worker with room (then the next, among those below the
    mean). A task whose work there fits in half the gap moves; a task hotter than that
    gets a copy, and the router then splits it between holders. Memory on the destination is made by dropping copies
    of tasks that have another holder, coldest first; nothing else is ever evicted."""

    name = "migrate"

    def rebalance(self, view, placement):
        load = view.load(placement)
        if len(load) < 2:
            return []
        plan = placement.copy()  # each planned move is applied here, so the next sees it
        moves: list[Move] = []
        busy = {t for t in plan.sizes if plan.in_flight(t)}
        for _ in range(self.max_moves):
            hot = max(load, key=load.get)
            mean = sum(load.values()) / len(load)
            if load[hot] - mean <= self.threshold * mean or load[hot] <= 0 \
                    or view.busy.get(hot, 1.0) < self.min_busy:
                break
            step = None
            for cold in sorted((w for w in load if load[w] < mean), key=load.get):
                step = self._choose(view, plan, hot, cold, (load[hot] - load[cold]) / 2, busy)
                if step is not None:
                    break
            if step is None:
                break
            move, shift, evicted = step
            for t in evicted:
                plan.drop(move.dst, t)
            plan.reserve(move.dst, move.task)
            moves += [Move(DROP, t, move.dst) for t in evicted] + [move]
            busy.add(move.task)
            load[hot] -= shift
            load[move.dst] += shift
        return moves

    def _choose(self, view, placement, hot, cold, gap, busy):
        """(move, work shifted, copies to drop on cold first) or None. Moving the largest
        task that fits in the gap comes first; a copy of the hottest task is the fallback."""
        here = sorted(((view.work.get((t, hot), 0.0), t) for t in placement.on(hot)
                       if t not in busy and not placement.holds(cold, t)), reverse=True)
        moves = [(MOVE, x, t) for x, t in here if 0 < x <= gap]
        copies = [(COPY, x, t) for x, t in here if x > gap]
        for kind, x, task in moves + copies:
            evicted = make_room(placement, cold, task, view.work, busy)
            if evicted is not None:
                return Move(kind, task, cold, hot), (x if kind == MOVE else gap), evicted
        return None


def make_room(placement: Placement, w: int, task: str, work: Mapping[tuple[str, int], float],
              keep: set[str] = frozenset()) -> list[str] | None:
    """Spare copies to drop on `w` so that `task` fits there (coldest first), or None when it
    cannot fit. A copy is spare when its task has another holder; tasks in `keep` stay."""
    if placement.budget is None:
        return []
    free = placement.budget - placement.used[w]
    spare = sorted((work.get((t, w), 0.0), t) for t in placement.on(w)
                   if t not in keep and t != task and len(placement.holders[t]) > 1)
    evicted = []
    for _, t in spare:
        if free >= placement.sizes[task]:
            break
        free += placement.sizes[t]
        evicted.append(t)
    return evicted if free >= placement.sizes[task] else None
