"""A replay of one trace against several systems, run as a background Job.

The serving loop runs unchanged; its public hook (`ServingLoop.run(hook=)`, called
before every event) is a `LiveHook` that (a) holds the loop back so that trace time
advances at `speed` x wall-clock (a simulated replay would otherwise end before the
first chart is drawn), (b) keeps a copy of the records a few times a second for the
live charts, and (c) stops the loop when the user presses Stop.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import pandas as pd

import pets
from pets.config import PRESETS
from pets.serving import SYSTEMS, ServeConfig, ServingLoop, Trace, engine_for_trace, make_system
from pets.serving.events import Progress
from pets.serving.metrics import Report, RequestRecord

from lib.backbones import fork
from lib.jobs import Job, RemoteJob

SPEEDS: dict[str, float | None] = {"as fast as possible": None, "1x": 1.0, "2x": 2.0, "5x": 5.0,
                                   "10x": 10.0, "50x": 50.0}
RECORD_COLUMNS = list(RequestRecord.__dataclass_fields__)


@dataclass(frozen=True)
class EngineSnapshot:
    """A picklable copy of an engine (backbone, settings, every task's spec and parameters),
    for replays that run in a measuring process."""

    backbone: object
    seed: int
    padding: str
    model_name: str
    tasks: tuple = field(default=())  # (spec, params) pairs

    @classmethod
    def of(cls, engine: pets.PetsEngine) -> "EngineSnapshot":
        tasks = []
        for name, spec in dict(engine.tasks).items():
            try:
                tasks.append((spec, engine.task_params(name)))
            except pets.UnknownTaskError:  # removed meanwhile
                continue
        return cls(engine.backbone, engine.seed, engine.padding, engine.model_name, tuple(tasks))

    def build(self) -> pets.PetsEngine:
        out = pets.PetsEngine(self.backbone, seed=self.seed, padding=self.padding,
                              model_name=self.model_name)
        for spec, params in self.tasks:
            out.add_task(spec, params)
        return out


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
    snapshot: EngineSnapshot | None = None  # instead of `engine`, in a measuring process
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
        if self.snapshot is not None:
            engine = self.snapshot.build()
        elif self.engine is not None:
            engine = fork(self.engine)
        else:
            return engine_for_trace(self.trace, self.preset), self.trace
        return engine, map_tasks(self.trace, list(engine.tasks))

    @property
    def measures(self) -> bool:
        """A real-executor replay: it times the systems, so it runs in a measuring process."""
        return self.config.executor == "real"

    def for_process(self) -> "ReplayPlan":
        """This plan, picklable: the engine as a snapshot."""
        if self.engine is None:
            return self
        return replace(self, engine=None, snapshot=EngineSnapshot.of(self.engine))


def start_replay(plan: ReplayPlan) -> Job:
    """A real-executor replay in a measuring process (see lib.jobs); a simulated one in a
    thread of this server."""
    if plan.measures:
        return Job.start_process("replay", run_replay, plan.for_process())
    return Job.start("replay", lambda job: run_replay(plan, job))


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


class LiveHook:
    """The loop's hook for one system's replay: paces, snapshots the records, stops."""

    SNAPSHOT_S = 0.25  # wall-clock seconds between copies of the records

    def __init__(self, job: Job | RemoteJob, speed: float | None) -> None:
        self._job, self._speed = job, speed
        self._origin: tuple[float, float] | None = None  # (trace time, wall time) at start
        self._snapped = float("-inf")
        self.progress: Progress | None = None
        self.records: list[RequestRecord] = []

    def __call__(self, p: Progress) -> bool:
        """True (stop) once the user pressed Stop; else wait until trace time `p.now` is due."""
        self.progress = p
        if time.monotonic() - self._snapped >= self.SNAPSHOT_S:
            self.records, self._snapped = p.records(), time.monotonic()
            self._job.publish(records=self.records, settled=p.settled)
        if self._speed is not None:
            if self._origin is None:
                self._origin = (p.now, time.monotonic())
            due = self._origin[1] + (p.now - self._origin[0]) / self._speed
            while (left := due - time.monotonic()) > 0 and not self._job.stopping:
                time.sleep(min(left, 0.1))
        return self._job.stopping


def run_replay(plan: ReplayPlan, job: Job | RemoteJob) -> dict[str, Report]:
    """The job's work: every system in turn. It publishes `frames` (finished systems),
    `system` (the running one), its latest `records` and `settled` count, and `requests`."""
    reports: dict[str, Report] = {}
    frames: dict[str, pd.DataFrame] = {}
    job.publish(frames={}, system=None, records=[], settled=0)
    n = len(plan.systems)
    for i, name in enumerate(plan.systems):
        job.report(i / n, f"{name}: preparing the engine")
        engine, trace = plan.engine_and_trace()
        hook = LiveHook(job, plan.speed)
        job.publish(system=name, records=[], settled=0, requests=len(trace.requests))
        job.report(i / n, f"{name}: warming up and replaying" if plan.measures else f"{name}: replaying")
        reports[name] = ServingLoop(make_system(name, engine), plan.config).run(
            trace, progress=False, hook=hook)
        frames[name] = reports[name].frame()
        job.publish(frames=dict(frames), system=None, records=[], settled=0)
        job.check()  # stopped: the frames keep what was served until then
    return reports


def live_frames(job: Job) -> dict[str, pd.DataFrame]:
    """Per-request frames so far: finished systems, plus the running one's latest records."""
    frames = dict(job.live.get("frames", {}))
    system = job.live.get("system")
    if system is not None and system not in frames:
        df = pd.DataFrame([{c: getattr(r, c) for c in RECORD_COLUMNS}
                           for r in job.live.get("records", [])], columns=RECORD_COLUMNS)
        df["latency"] = df.finish - df.arrival
        frames[system] = df
    return frames


def live_progress(job: Job, systems: int) -> float:
    """Fraction done: finished systems plus the running one's settled requests."""
    if job.done:
        return 1.0
    finished = len(job.live.get("frames", {}))
    total = job.live.get("requests") or 1
    settled = job.live.get("settled", 0) if job.live.get("system") is not None else 0
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
