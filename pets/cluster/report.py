"""What a cluster replay produced: the serving report plus per-worker load over time
and the migration log."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from pets.serving.metrics import Report, RequestRecord


@dataclass
class ClusterRecord(RequestRecord):
    worker: int = -1  # the worker that completed it
    hops: int = 0     # times it was re-routed (a worker died, or its task moved away)


@dataclass
class Migration:
    kind: str         # move | copy | drop | recover (re-placed from the host after a fault)
    task: str
    dst: int
    src: int | None
    nbytes: int
    start_s: float
    end_s: float
    status: str = "in flight"  # landed | cancelled


@dataclass
class ClusterReport:
    report: Report
    workers: int
    balancer: str
    backend: str
    samples: list[dict] = field(default_factory=list)
    migrations: list[Migration] = field(default_factory=list)
    peak_pet_bytes: list[int] = field(default_factory=list)
    budget_bytes: int | None = None

    def frame(self) -> pd.DataFrame:
        return self.report.frame()

    def loads(self) -> pd.DataFrame:
        """One row per (sample time, worker): queued, outstanding tokens, utilisation, PET MB."""
        return pd.DataFrame(self.samples)

    def migration_log(self) -> pd.DataFrame:
        cols = list(Migration.__dataclass_fields__)
        return pd.DataFrame([asdict(m) for m in self.migrations], columns=cols)

    def per_worker(self) -> pd.DataFrame:
        df = self.frame()
        done = df[df.status == "completed"]
        g = done.groupby("worker")
        out = pd.DataFrame({"completed": g.size(), "p99_ms": g.latency.quantile(0.99) * 1e3})
        out = out.reindex(range(self.workers), fill_value=0)
        out["peak_pet_mb"] = [b / 2**20 for b in self.peak_pet_bytes]
        return out.rename_axis("worker").reset_index()

    def summary(self) -> dict:
        s = self.report.summary()
        log = self.migration_log()
        landed = log[log.status == "landed"]
        s.update(workers=self.workers, balancer=self.balancer, backend=self.backend,
                 migrations=int(landed.kind.isin(["move", "copy"]).sum()),
                 recoveries=int((landed.kind == "recover").sum()),
                 moved_mb=float(landed.nbytes.sum() / 2**20),
                 peak_pet_mb=max(self.peak_pet_bytes, default=0) / 2**20,
                 rerouted=sum(r.hops > 0 for r in self.report.records))
        return s
