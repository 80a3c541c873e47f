"""The ledger of one replay: every request's record from arrival to its end, the queries
admitted, outputs kept, lifecycle log, batch count, and the report built from them.
Shared by the serving and cluster loops, so both account for requests the same way."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Iterable

from pets.batching.batch import Batch
from pets.batching.query import Query
from pets.serving.metrics import Report, RequestRecord
from pets.serving.outputs import NONFINITE, nonfinite_ids
from pets.serving.trace import TraceRow

if TYPE_CHECKING:
    from pets.serving.loop import ServeConfig


class Ledger:
    """Records by request id; `open` counts requests of the trace not yet ended."""

    def __init__(self, requests: int, record: type[RequestRecord] = RequestRecord) -> None:
        self.requests, self.open, self._record = requests, requests, record
        self.records: dict[int, RequestRecord] = {}
        self.queries: dict[int, Query] = {}
        self.outputs: dict[int, object] = {}
        self.log: list[str] = []
        self.batches = 0

    @property
    def settled(self) -> int:
        return self.requests - self.open

    def arrive(self, rid: int, row: TraceRow) -> RequestRecord:
        rec = self.records[rid] = self._record(rid, row.task, row.arrival_s)
        return rec

    def end(self, rid: int, status: str, reason: str = "") -> None:
        rec = self.records[rid]
        rec.status, rec.reason = status, reason
        self.open -= 1

    def start(self, batch: Batch, now: float) -> None:
        """`batch` starts at `now`: it gets the next batch number."""
        self.batches += 1
        for q in batch.queries:
            self.records[q.id].start, self.records[q.id].batch = now, self.batches

    def complete(self, batch: Batch, now: float, out: object, *, keep_outputs: bool,
                 **fields: object) -> None:
        """Every query of `batch` finished at `now` (record `fields` set too): completed,
        or failed when its output holds NaN or inf (never served as a result)."""
        bad = nonfinite_ids(batch, out)
        for q in batch.queries:
            rec = self.records[q.id]
            rec.finish = now
            for k, v in fields.items():
                setattr(rec, k, v)
            if q.id in bad:
                self.end(q.id, "failed", NONFINITE.format(task=q.task))
            else:
                self.end(q.id, "completed")
        if keep_outputs and isinstance(out, list):
            self.outputs.update({r.query_id: r for r in out if r.query_id not in bad})

    def stop(self, now: float, unseen: Iterable[tuple[int, TraceRow]]) -> None:
        """The replay was stopped at `now`: what is open, and arrivals never seen, fail."""
        reason = f"replay stopped at {now:.3f}s"
        for rid, row in unseen:
            self.arrive(rid, row)
        for rid, rec in self.records.items():
            if not rec.status:
                self.end(rid, "failed", reason)

    def snapshot(self) -> list[RequestRecord]:
        """Copies of the records so far, in id order."""
        return [replace(self.records[i]) for i in sorted(self.records)]

    def report(self, system: str, serve: "ServeConfig") -> Report:
        return Report(system, serve.executor, serve.policy,
                      [self.records[i] for i in sorted(self.records)],
                      slo_s=None if serve.slo_ms is None else serve.slo_ms / 1e3,
                      batches=self.batches, outputs=self.outputs, log=self.log)
