"""Per-request records and the replay summary."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

STATUSES = ("completed", "rejected", "failed")


@dataclass
class RequestRecord:
    id: int
    task: str
    arrival: float
    start: float = float("nan")
    finish: float = float("nan")
    batch: int = -1
    status: str = ""
    reason: str = ""

    @property
    def latency(self) -> float:
        return self.finish - self.arrival


@dataclass
class Report:
    """Everything a replay produced. `completed + rejected + failed == requests` always."""

    system: str
    executor: str
    policy: str
    records: list[RequestRecord]
    slo_s: float | None = None
    batches: int = 0
    offered_rps: float = float("nan")   # the trace's requests over its arrival span
    capacity_rps: float = float("nan")  # the system's cost-model capacity on this trace
    outputs: dict = field(default_factory=dict)  # request id -> Result (keep_outputs, real)
    log: list[str] = field(default_factory=list)  # lifecycle events and their outcome

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame([asdict(r) for r in self.records])
        if df.empty:
            return pd.DataFrame(columns=[*RequestRecord.__dataclass_fields__, "latency"])
        df["latency"] = df.finish - df.arrival
        return df

    def to_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.frame().to_csv(path, index=False)
        return path

    def summary(self) -> dict:
        df = self.frame()
        done = df[df.status == "completed"]
        span = (done.finish.max() - df.arrival.min()) if len(done) else float("nan")
        lat = done.latency.to_numpy()
        good = int((lat <= self.slo_s).sum()) if self.slo_s is not None else len(lat)
        counts = {s: int((df.status == s).sum()) for s in STATUSES}
        out = dict(system=self.system, executor=self.executor, policy=self.policy,
                   requests=len(df), **counts, batches=self.batches,
                   throughput_rps=float(len(done) / span) if span and span > 0 else 0.0,
                   goodput_rps=float(good / span) if span and span > 0 else 0.0,
                   offered_rps=float(self.offered_rps), capacity_rps=float(self.capacity_rps),
                   slo_ms=self.slo_s * 1e3 if self.slo_s is not None else float("nan"),
                   mean_ms=float(lat.mean() * 1e3) if len(lat) else float("nan"),
                   **{f"p{q}_ms": float(np.percentile(lat, q) * 1e3) if len(lat) else float("nan")
                      for q in (50, 95, 99)},
                   jain_fairness=jain(self.per_task().service_ratio.to_numpy()) if len(df) else 1.0)
        return out

    def per_task(self) -> pd.DataFrame:
        df = self.frame()
        if df.empty:
            return pd.DataFrame(columns=["task", "requests", "completed", "mean_latency_ms",
                                         "p99_latency_ms", "service_ratio"])
        g = df.groupby("task")
        out = pd.DataFrame({"requests": g.size(),
                            "completed": g.status.apply(lambda s: int((s == "completed").sum()))})
        done = df[df.status == "completed"].groupby("task").latency
        out["mean_latency_ms"] = done.mean() * 1e3
        out["p99_latency_ms"] = done.quantile(0.99) * 1e3
        out["service_ratio"] = out.completed / out.requests
        return out.reset_index()


def jain(x: np.ndarray) -> float:
    """Jain's fairness index (sum x)^2 / (n sum x^2): 1 when all equal, 1/n when one takes all.

    Over tasks we use each task's service ratio (completed / requested); NaN when no task
    was served at all (fairness is undefined there), 1.0 for no tasks.
    """
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return 1.0
    if not np.any(x):
        return float("nan")
    return float(x.sum() ** 2 / (len(x) * (x ** 2).sum()))
