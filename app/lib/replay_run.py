"""A replay of one trace against several systems, run as a background Job.

The serving loop runs unchanged; the system it serves is wrapped in a
`PacedSystem` that (a) holds the loop back so that trace time advances at
`speed` x wall-clock (a simulated replay would otherwise end before the first
chart is drawn), and (b) stops the loop when the user presses Stop. The page
reads the running loop's `records` for the live charts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import pandas as pd

import pets
from pets.config import PRESETS
from pets.serving import SYSTEMS, ServeConfig, ServingLoop, Trace, engine_for_trace, make_system
from pets.serving.metrics import Report, RequestRecord

from lib.backbones import fork
from lib.jobs import Job

SPEEDS: dict[str, float | None] = {"as fast as possible": None, "1x": 1.0, "2x": 2.0, "5x": 5.0,
                                   "10x": 10.0, "50x": 50.0}
RECORD_COLUMNS = list(RequestRecord.__dataclass_fields__)


@dataclass(frozen=True, kw_only=True)
class ReplayPlan:
    """What to replay: the trace, the systems (one after another) and the serving config.

    The tasks come from a fresh `preset` engine holding the trace's tasks (the paper's PET
    mix), or, when `engine` is given, from a fork of it with the trace's tasks mapped
    round-robin onto its tasks.
    """

    trace: Trace
    systems: tuple[str, ...]
    config: ServeConfig
    preset: str = "bert-tiny"
    engine: pets.PetsEngine | None = None
    speed: float | None = None  # trace seconds per wall-clock second; None: unpaced

    def __post_init__(self) -> None:
        unknown = [s for s in self.systems if s not in SYSTEMS]
        if not self.systems or unknown:
            raise pets.InvalidSpecError(f"pick one or more systems from {sorted(SYSTEMS)}")
        if self.engine is None and self.preset not in PRESETS:
            raise pets.InvalidSpecError(f"unknown preset {self.preset!r}; choose {sorted(PRESETS)}")
        if self.engine is not None and not self.engine.tasks:
            raise pets.InvalidSpecError("your engine has no tasks: add some on the Tasks page, "
                                        "or replay on a preset engine with the trace's own tasks")
        if self.speed is not None and not self.speed > 0:
            raise pets.InvalidSpecError("speed must be > 0")

    def engine_and_trace(self) -> tuple[pets.PetsEngine, Trace]:
        """A fresh engine for one system's replay (lifecycle rows change it) and the trace."""
        if self.engine is None:
            return engine_for_trace(self.trace, self.preset), self.trace
        engine = fork(self.engine)
        return engine, map_tasks(self.trace, list(engine.tasks))


def map_tasks(trace: Trace, names: list[str]) -> Trace:
    """The trace with its requested tasks renamed round-robin onto `names` (first-seen
    order); tasks the trace adds itself, or that already carry one of `names`, keep theirs."""
    added = {r.task for r in trace.rows if r.event == "add_task"}
    todo = [t for t in dict.fromkeys(r.task for r in trace.requests)
            if t not in added and t not in names]
    mapping = {t: names[i % len(names)] for i, t in enumerate(todo)}
    rows = tuple(replace(r, task=mapping.get(r.task, r.task)) if r.is_request else r
                 for r in trace.rows)
    return Trace(rows, name=trace.name)


class PacedSystem:
    """A System seen through the loop at a pace, stoppable. Everything else is delegated."""

    def __init__(self, inner, job: Job, speed: float | None) -> None:
        self._inner, self._job, self._speed = inner, job, speed
        self.loop: ServingLoop | None = None
        self._origin: tuple[float, float] | None = None  # (trace time, wall time) at start

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def _pace(self) -> None:
        self._job.check()
        now = getattr(self.loop, "now", None)
        if self._speed is None or now is None:
            return
        if self._origin is None:
            self._origin = (now, time.monotonic())
        due = self._origin[1] + (now - self._origin[0]) / self._speed
        while (left := due - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
            self._job.check()

    def refuses(self, task: str):  # called once per arrival, at its arrival time
        self._pace()
        return self._inner.refuses(task)

    def predict(self, batch):  # the sim executor: not timed by the wall-clock
        self._pace()
        return self._inner.predict(batch)

    def run(self, batch):  # the real executor times this call: no sleeping here
        self._job.check()
        return self._inner.run(batch)


def run_replay(plan: ReplayPlan, job: Job) -> dict[str, Report]:
    """The job's work: every system in turn; `job.live` exposes the running loop."""
    reports: dict[str, Report] = {}
    frames: dict[str, pd.DataFrame] = {}
    job.live.update(reports=reports, frames=frames, loop=None, system=None)
    n = len(plan.systems)
    for i, name in enumerate(plan.systems):
        job.report(i / n, f"{name}: preparing the engine")
        engine, trace = plan.engine_and_trace()
        system = PacedSystem(make_system(name, engine), job, plan.speed)
        loop = ServingLoop(system, plan.config)
        system.loop = loop
        job.live.update(loop=loop, system=name, requests=len(trace.requests))
        job.report(i / n, f"{name}: replaying")
        reports[name] = loop.run(trace, progress=False)
        frames[name] = reports[name].frame()
        job.live["loop"] = None
    return reports


def live_frames(job: Job) -> dict[str, pd.DataFrame]:
    """Per-request frames so far: finished systems, plus the running one's partial records."""
    frames = dict(job.live.get("frames", {}))
    loop, system = job.live.get("loop"), job.live.get("system")
    if loop is not None and system not in frames:
        records = list(getattr(loop, "records", {}).values())
        df = pd.DataFrame([{c: getattr(r, c) for c in RECORD_COLUMNS} for r in records],
                          columns=RECORD_COLUMNS)
        df["latency"] = df.finish - df.arrival
        frames[system] = df
    return frames


def live_progress(job: Job, systems: int) -> float:
    """Fraction done: finished systems plus the running one's settled requests."""
    if job.done:
        return 1.0
    finished = len(job.live.get("frames", {}))
    loop, total = job.live.get("loop"), job.live.get("requests") or 1
    settled = 0
    if loop is not None:
        settled = sum(1 for r in list(getattr(loop, "records", {}).values()) if r.status)
    return min(1.0, (finished + settled / total) / systems)


def summaries(reports: dict[str, Report]) -> pd.DataFrame:
    return pd.DataFrame([r.summary() for r in reports.values()])


def requests_csv(frames: dict[str, pd.DataFrame]) -> bytes:
    """Every request of every system, one row each, with a `system` column."""
    parts = [df.assign(system=name) for name, df in frames.items()]
    if not parts:
        return b""
    df = pd.concat(parts, ignore_index=True)
    return df[["system", *[c for c in df.columns if c != "system"]]].to_csv(index=False).encode()
