"""The serving loop: one discrete-event simulation for every system and executor.

Events run on the shared core (`pets.serving.events`): a heap of (time, kind, seq,
payload) whose handlers return the events they cause. Requests arrive, wait in a
bounded queue, and whenever the server is idle and either `max_batch` requests wait
or the oldest has waited `max_wait_ms`, the batching policy plans over the first
`window * max_batch` queued requests and the batch holding the oldest one runs. The `real`
executor runs it on the system and advances time by the measured wall-clock
(planning included); `sim` advances time by the cost model's prediction. Every request ends
completed, rejected or failed, with a reason. `run(..., hook=)` is the public progress and
stop hook (the dashboard paces and stops replays with it).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Callable

from pets.batching.batch import Batch
from pets.batching.policies import POLICIES, get_policy
from pets.batching.query import Query
from pets.errors import InvalidSpecError, PetsError
from pets.serving.capacity import capacity_rps, offered_rps
from pets.serving.faults import ROW_ERRORS, RUN_ERRORS, at_row, describe
from pets.serving.dispatch import due_at, query_of, take_batch
from pets.serving.events import EventCore, Hook, Replayer, drive
from pets.serving.ledger import Ledger
from pets.serving.metrics import Report
from pets.serving.systems import System
from pets.serving.trace import Trace, TraceRow, spec_from_field
from pets.timing import timed_call


# Bounds on serving options: beyond them a replay would wait forever (an infinite
# max_wait_ms never dispatches a partial batch) or hold more than memory allows.
MAX_BATCH = 4096
MAX_QUEUE = 10_000_000
MAX_WAIT_MS = 3_600_000.0  # one hour
DEFAULT_SLO_MS = 200.0  # p99 target; goodput counts the requests completed within it


class Kind(IntEnum):
    """Event kinds, in their order at one instant: a finishing batch frees the server
    first, and a task added or removed at time t is in effect for requests arriving at t."""
    DONE = 0
    LIFECYCLE = 1
    ARRIVAL = 2
    TIMER = 3


def _real(system: System, batch: Batch) -> tuple[float, object]:
    return timed_call(lambda: system.run(batch), system.engine.backbone.device)


def _sim(system: System, batch: Batch) -> tuple[float, object]:
    return system.predict(batch), None


EXECUTORS: dict[str, Callable[[System, Batch], tuple[float, object]]] = {"real": _real, "sim": _sim}


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    policy: str = "best"
    executor: str = "sim"
    max_batch: int = 32
    max_wait_ms: float = 20.0
    queue_limit: int = 1024
    slo_ms: float | None = DEFAULT_SLO_MS  # None: goodput counts every completed request
    window: int = 4
    seed: int = 0
    keep_outputs: bool = False
    warm_up: bool = True  # real executor: run every task's operators before timing

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InvalidSpecError(f"unknown policy {self.policy!r}; choose {sorted(POLICIES)}")
        if self.executor not in EXECUTORS:
            raise InvalidSpecError(f"unknown executor {self.executor!r}; choose {sorted(EXECUTORS)}")
        is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)  # noqa: E731
        is_number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)  # noqa: E731
        finite = lambda v: is_number(v) and math.isfinite(v)  # noqa: E731
        bad = [k for k, ok in {
            "max_batch": is_int(self.max_batch) and 1 <= self.max_batch <= MAX_BATCH,
            "max_wait_ms": finite(self.max_wait_ms) and 0 <= self.max_wait_ms <= MAX_WAIT_MS,
            "queue_limit": is_int(self.queue_limit) and 1 <= self.queue_limit <= MAX_QUEUE,
            "window": is_int(self.window) and 1 <= self.window <= 64,
            "slo_ms": self.slo_ms is None or finite(self.slo_ms) and self.slo_ms > 0,
            "seed": is_int(self.seed) and self.seed >= 0}.items() if not ok]
        if bad:
            raise InvalidSpecError(
                f"serving config out of range: {bad}; max_batch 1..{MAX_BATCH}, max_wait_ms a "
                f"finite 0..{MAX_WAIT_MS:g}, queue_limit 1..{MAX_QUEUE}, window 1..64, slo_ms a "
                "finite number > 0 or none, seed >= 0")


class ServingLoop(Replayer):
    """Replays one trace against one system. Ids, clock and events belong to the instance."""

    def __init__(self, system: System, cfg: ServeConfig = ServeConfig()) -> None:
        self.system, self.cfg = system, cfg
        self._plan = get_policy(cfg.policy)
        self._execute = EXECUTORS[cfg.executor]

    def run(self, trace: Trace, *, progress: bool = True, hook: Hook | None = None) -> Report:
        """Replay `trace`. `hook(Progress)` is called before every event: it may watch or
        pace the replay, and returning True stops it (open requests then end failed)."""
        self._core = EventCore({Kind.ARRIVAL: self._arrive, Kind.LIFECYCLE: self._lifecycle,
                                Kind.TIMER: self._timer, Kind.DONE: self._done}, seed=self.cfg.seed)
        self._ledger = Ledger(len(trace.requests))
        self._trace_name = trace.name
        self._queue: list[Query] = []
        self._busy = False
        self._timer_at: float | None = None
        if self.cfg.executor == "real":
            self.system.prepare()
            if self.cfg.warm_up:
                self.system.warm_up(trace.tasks, max_batch=self.cfg.max_batch)
        ids = itertools.count()
        for row in trace.rows:
            if row.is_request:
                self._core.push(row.arrival_s, Kind.ARRIVAL, (next(ids), row))
            else:
                self._core.push(row.arrival_s, Kind.LIFECYCLE, row)
        drive(self._core, self._ledger, arrival=Kind.ARRIVAL, counted=(Kind.ARRIVAL, Kind.LIFECYCLE),
              total=len(trace.rows), desc=f"replay {self.system.name}", progress=progress, hook=hook)
        report = self._ledger.report(self.system.name, self.cfg)
        report.offered_rps = offered_rps(trace)
        try:
            report.capacity_rps = capacity_rps(self.system, trace, max_batch=self.cfg.max_batch)
        except (PetsError, KeyError, ValueError):  # an estimate, never a reason to lose a replay
            pass
        return report

    # ---- events ------------------------------------------------------------------------------
    def _arrive(self, item: tuple[int, TraceRow]):
        rid, row = item
        self._ledger.arrive(rid, row)
        reason = self.system.refuses(row.task)
        if reason is None:
            cfg = self.system.engine.config
            try:
                query = query_of(rid, row, cfg.vocab_size, self._core.rng,
                                 max_len=cfg.max_position_embeddings)
                self.system.engine.check([query])
            except PetsError as e:
                reason = at_row(row, self._trace_name, str(e))
        if reason is None and len(self._queue) >= self.cfg.queue_limit:
            reason = f"queue full ({self.cfg.queue_limit} waiting)"
        if reason is not None:
            self._ledger.end(rid, "rejected", reason)
            return []
        self._queue.append(query)
        self._ledger.queries[rid] = query
        return self._maybe_dispatch()

    def _lifecycle(self, row: TraceRow):
        eng = self.system.engine
        try:
            if row.event == "add_task":
                spec, folder = spec_from_field(row.spec)
                if spec is not None:
                    eng.add_task(spec.renamed(row.task))
                else:
                    eng.load_task(folder, name=row.task)
            else:
                eng.remove_task(row.task)
                for q in [q for q in self._queue if q.task == row.task]:
                    self._ledger.end(q.id, "rejected", "task removed")
                self._queue = [q for q in self._queue if q.task != row.task]
            self.system.tasks_changed()
            self._ledger.log.append(f"{row.arrival_s:.3f}s {row.event} {row.task}: ok")
        except ROW_ERRORS as e:  # one bad row is logged; the replay goes on
            self._ledger.log.append(f"{row.arrival_s:.3f}s {row.event} {row.task}: failed "
                                    f"({row.where(self._trace_name)}): {describe(e)}")
        return self._maybe_dispatch()

    def _timer(self, _):
        self._timer_at = None
        return self._maybe_dispatch()

    def _done(self, item: tuple[Batch, object]):
        batch, out = item
        self._busy = False
        self._ledger.complete(batch, self.now, out, keep_outputs=self.cfg.keep_outputs)
        return self._maybe_dispatch()

    # ---- dispatch ----------------------------------------------------------------------------
    def _maybe_dispatch(self):
        """Start the next batch if one is due (a loop, as a failed batch frees the server)."""
        while not self._busy and self._queue:
            due = due_at(self._queue, self.now, max_batch=self.cfg.max_batch,
                         max_wait_ms=self.cfg.max_wait_ms)
            if due is not None:
                if self._timer_at != due:
                    self._timer_at = due
                    return [(due, Kind.TIMER, None)]
                return []
            event = self._dispatch()
            if event is not None:
                return [event]
        return []

    def _dispatch(self):
        """Plan over the queue's head, run the batch holding the oldest request.

        Returns its DONE event, or None when the batch failed (its requests end failed).
        """
        batch, self._queue, planning = take_batch(
            self._queue, self._plan, self.system.cost, max_batch=self.cfg.max_batch,
            window=self.cfg.window, padding=self.system.padding)
        self._ledger.start(batch, self.now)
        try:
            seconds, out = self._execute(self.system, batch)
        except RUN_ERRORS as e:  # e.g. out of memory: the batch fails, the replay goes on
            for q in batch.queries:
                self._ledger.end(q.id, "failed", describe(e))
            return None
        self._busy = True
        if self.cfg.executor == "real":  # a real server spends its planning time too
            seconds += planning
        return (self.now + seconds, Kind.DONE, (batch, out))
