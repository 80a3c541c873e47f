"""Placement: which worker holds which task's PET, under per-worker memory budgets.

A PET on its way to a worker (a migration in flight) already counts against the
destination's budget but is not routable there until it lands.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from pets.errors import InvalidSpecError


@dataclass
class Placement:
    sizes: Mapping[str, int]   # task -> PET bytes
    workers: int
    budget: int | None = None  # PET bytes per worker; None: unbounded
    holders: dict[str, set[int]] = field(default_factory=dict)   # routable copies
    incoming: dict[str, set[int]] = field(default_factory=dict)  # copies in flight
    used: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.used = self.used or [0] * self.workers

    # ---- queries ---------------------------------------------------------------------------
    def fits(self, w: int, task: str) -> bool:
        return self.budget is None or self.used[w] + self.sizes[task] <= self.budget

    def holds(self, w: int, task: str) -> bool:
        """Routable there, or on its way there."""
        return w in self.holders.get(task, ()) or w in self.incoming.get(task, ())

    def on(self, w: int) -> list[str]:
        """Tasks routable on worker `w`."""
        return [t for t, ws in self.holders.items() if w in ws]

    def in_flight(self, task: str) -> bool:
        return bool(self.incoming.get(task))

    def no_room(self, task: str) -> str:
        """Why no worker can take `task` under the budget, and the one fix that helps."""
        size, budget = self.sizes[task], self.budget
        if budget is not None and size > budget:
            return (f"task {task!r} needs {size} B, more than the per-worker memory budget of "
                    f"{budget} B: raise the budget to at least {size} B (more workers will not help)")
        return (f"task {task!r} ({size} B) fits no worker: every worker's budget of {budget} B is "
                "taken by other tasks; raise the budget or add workers")

    def copy(self) -> "Placement":
        """An independent copy (a balancer plans several moves against one)."""
        return Placement(self.sizes, self.workers, self.budget,
                         {t: set(ws) for t, ws in self.holders.items()},
                         {t: set(ws) for t, ws in self.incoming.items()}, list(self.used))

    # ---- changes ---------------------------------------------------------------------------
    def reserve(self, w: int, task: str) -> None:
        """Start bringing `task` to `w`: its bytes count from now."""
        if self.holds(w, task):
            raise InvalidSpecError(f"worker {w} already holds or receives task {task!r}")
        if not self.fits(w, task):
            raise InvalidSpecError(f"task {task!r} does not fit worker {w}'s memory budget")
        self.used[w] += self.sizes[task]
        self.incoming.setdefault(task, set()).add(w)

    def land(self, w: int, task: str) -> None:
        """The PET arrived: routable from now."""
        self.incoming[task].discard(w)
        self.holders.setdefault(task, set()).add(w)

    def put(self, w: int, task: str) -> None:
        """Reserve and land at once (initial placement)."""
        self.reserve(w, task)
        self.land(w, task)

    def drop(self, w: int, task: str) -> None:
        for table in (self.holders, self.incoming):
            if w in table.get(task, ()):
                table[task].discard(w)
                self.used[w] -= self.sizes[task]

    def forget_worker(self, w: int) -> list[str]:
        """A worker died: drop everything it held or was receiving; returns those tasks."""
        held = [t for t in self.sizes if self.holds(w, t)]
        for t in held:
            self.drop(w, t)
        return held
