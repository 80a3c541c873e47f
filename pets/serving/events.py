"""The discrete-event core of the serving and cluster loops (Vidur's shape).

Events sit in a heap of (time, kind, seq, payload). `kind` is an IntEnum of the
loop: at the same instant the lower kind runs first; `seq`, counted by the
instance, keeps pushes of equal (time, kind) in push order. A handler takes the
payload and returns the events it causes as (time, kind, payload). The core owns
the clock (`now`, the time of the event being handled) and the loop's seeded
generator, so two runs of one loop with one seed are the same run.

`drive` runs a core with what every loop shows: a progress bar over the events
that count, and the public hook: called before each event with a `Progress`, it
paces, watches or (returning True) stops the replay; the requests left open then
end `failed` with the reason, so a stopped replay still accounts for every request.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable, Iterable, Mapping

import numpy as np
from tqdm.auto import tqdm

from pets.batching.query import Query
from pets.serving.ledger import Ledger
from pets.serving.metrics import RequestRecord

Event = tuple[float, IntEnum, Any]
Handler = Callable[[Any], Iterable[Event]]


class EventCore:
    """A heap of events and their handlers by kind; seeded; ids and clock per instance."""

    def __init__(self, handlers: Mapping[IntEnum, Handler], *, seed: int, now: float = 0.0) -> None:
        self.handlers = dict(handlers)
        self.now = now
        self.rng = np.random.default_rng(seed)
        self.left: list[Event] = []  # events never handled because the run was stopped
        self._heap: list[tuple[float, IntEnum, int, Any]] = []
        self._seq = itertools.count()

    def push(self, t: float, kind: IntEnum, payload: Any = None) -> None:
        heapq.heappush(self._heap, (t, kind, next(self._seq), payload))

    def push_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.push(*event)

    @property
    def pending(self) -> bool:
        """Whether any event waits."""
        return bool(self._heap)

    def run(self, *, before: Callable[[float], bool] | None = None,
            after: Callable[[IntEnum], None] | None = None) -> bool:
        """Handle events in order until none is left. `before(t)` is asked ahead of each
        event; when it answers True the run stops, the rest go to `left`, and run is True."""
        while self._heap:
            if before is not None and before(self._heap[0][0]):
                self.left = [(t, k, p) for t, k, _, p in sorted(self._heap)]
                self._heap.clear()
                return True
            self.now, kind, _, payload = heapq.heappop(self._heap)
            self.push_all(self.handlers[kind](payload))
            if after is not None:
                after(kind)
        return False


@dataclass(frozen=True)
class Progress:
    """What the hook sees before each event: trace time and how many requests ended."""

    now: float       # trace seconds of the event about to run
    settled: int     # requests ended so far (completed, rejected or failed)
    requests: int    # requests in the trace
    _ledger: Ledger

    def records(self) -> list[RequestRecord]:
        """A copy of every request's record so far (those still open have status '')."""
        return self._ledger.snapshot()


# Called before each event; True stops the replay there.
Hook = Callable[[Progress], "bool | None"]


class Replayer:
    """What every loop over an `EventCore` and a `Ledger` shows while and after it runs."""

    _core: EventCore
    _ledger: Ledger

    @property
    def now(self) -> float:
        """Trace seconds of the event being handled."""
        return self._core.now

    @property
    def queries(self) -> dict[int, Query]:
        """The query each admitted request became, by request id (after or during a run)."""
        return self._ledger.queries


def drive(core: EventCore, ledger: Ledger, *, arrival: IntEnum, counted: tuple[IntEnum, ...],
          total: int, desc: str, progress: bool, hook: Hook | None) -> None:
    """Run `core` to its end (or until `hook` stops it), with a bar over the `counted`
    kinds; a stop ends what is open and the never-handled `arrival` events (payload
    (id, TraceRow)) as failed."""
    before = None
    if hook is not None:
        before = lambda t: bool(hook(Progress(t, ledger.settled, ledger.requests, ledger)))  # noqa: E731
    with tqdm(total=total, desc=desc, disable=not progress) as bar:
        def after(kind: IntEnum) -> None:
            if kind in counted:
                bar.update()
        stopped = core.run(before=before, after=after)
    if stopped:
        unseen = [payload for _, kind, payload in core.left if kind == arrival]
        ledger.stop(core.now, unseen)
