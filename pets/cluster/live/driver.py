"""The live run: a trace replayed open-loop, in wall-clock time, against N Ray actors that
serve at once (`core.LiveCore`).

At each request's arrival time the driver hands it to the core, which routes it without
waiting for any batch; answers are taken as they come. Throughput and latency are measured
here, at the client: a request's latency runs from its arrival time in the trace to the
moment its answer reached the driver. Every request ends completed, rejected or failed with
a reason, also when actors are killed mid-run (`LiveConfig.faults`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from pets.batching.query import Query, check_query
from pets.cluster.catalog import Catalog
from pets.cluster.live.config import LiveConfig
from pets.cluster.live.core import LiveCore
from pets.cluster.live.moves import Death
from pets.cluster.report import ClusterRecord, ClusterReport
from pets.errors import PetsError
from pets.serving.dispatch import query_of
from pets.serving.faults import at_row
from pets.serving.ledger import Ledger
from pets.serving.trace import Trace


@dataclass
class LiveReport(ClusterReport):
    """A cluster report whose times are wall-clock seconds since the first arrival."""

    deaths: list[Death] = field(default_factory=list)
    batch_s: list[float] = field(default_factory=list)  # seconds each worker spent in batches
    span_s: float = float("nan")                         # first arrival to last answer
    driver_cpu_s: float = float("nan")                   # CPU time the driver process used
    stale: int = 0            # answers for requests the worker did not owe (a duplicate: 0)
    nodes: list[str] = field(default_factory=list)      # the Ray node of each worker

    def summary(self) -> dict:
        s = super().summary()
        s.update(driver_cpu_s=self.driver_cpu_s, stale=self.stale, nodes=len(set(self.nodes)),
                 worker_busy=sum(self.batch_s) / (len(self.batch_s) * self.span_s)
                 if self.batch_s and self.span_s > 0 else float("nan"),
                 recovery_s=max((d.recovery_s for d in self.deaths), default=float("nan")),
                 detect_s=max((d.detected_s - d.killed_s for d in self.deaths), default=float("nan")))
        return s


class _LedgerSink:
    """Requests end in the run's ledger, timed when their answer reaches the driver."""

    def __init__(self, ledger: Ledger, core: LiveCore, keep_outputs: bool) -> None:
        self.ledger, self.core, self.keep_outputs = ledger, core, keep_outputs

    def completed(self, rid: int, worker: int, output: object) -> None:
        rec = self.ledger.records[rid]
        rec.finish, rec.worker = self.core.now(), worker
        self.ledger.end(rid, "completed")
        if output is not None and self.keep_outputs:
            self.ledger.outputs[rid] = output

    def ended(self, rid: int, status: str, reason: str) -> None:
        self.ledger.end(rid, status, reason)

    def rerouted(self, rid: int) -> None:
        self.ledger.records[rid].hops += 1


class LiveRun:
    """One live run of one trace: start the actors, place and load the PETs, serve, release."""

    def __init__(self, catalog: Catalog, cfg: LiveConfig = LiveConfig()) -> None:
        self.catalog, self.cfg = catalog, cfg

    def run(self, trace: Trace, *, hook: Callable[[LiveCore], None] | None = None) -> LiveReport:
        """Replay `trace`; `hook(core)` is called on every turn of the driver loop once the
        workers serve (a live view reads `core.now()`, `core.states`, `core.moves`; tests
        inject faults)."""
        rows = trace.requests
        queries = self._queries(trace)
        ledger = Ledger(len(rows), ClusterRecord)
        core = LiveCore(self.catalog, self.cfg, log=ledger.log.append)
        core.sink = _LedgerSink(ledger, core, self.cfg.keep_outputs)
        try:
            core.start()
            return self._serve(core, ledger, rows, queries, hook or (lambda core: None))
        finally:
            core.close()

    def _queries(self, trace: Trace) -> list[Query | str]:
        """Every request's query, made before the clock starts (or why it is refused)."""
        rng, cfg = np.random.default_rng(0), self.catalog.config
        out: list[Query | str] = []
        for rid, row in enumerate(trace.requests):
            if row.task not in self.catalog.specs:
                out.append(f"unknown task {row.task!r}: not in the cluster's catalog")
                continue
            try:
                q = query_of(rid, row, cfg.vocab_size, rng, max_len=cfg.max_position_embeddings)
                check_query(cfg, q)
                out.append(q)
            except PetsError as e:
                out.append(at_row(row, trace.name, str(e)))
        return out

    def _serve(self, core: LiveCore, ledger: Ledger, rows, queries, hook) -> LiveReport:
        cfg = self.cfg
        first = rows[0].arrival_s if rows else 0.0
        times = [r.arrival_s - first for r in rows]
        faults = sorted([(f, core.kill) for f in cfg.faults] + [(f, core.crash) for f in cfg.crashes],
                        key=lambda x: x[0].at_s)
        cpu0 = time.process_time()
        i = 0
        while ledger.open > 0:
            hook(core)
            now = core.now()
            while i < len(rows) and times[i] <= now:
                ledger.arrive(i, rows[i]).arrival = times[i]
                if isinstance(queries[i], str):
                    ledger.end(i, "rejected", queries[i])
                else:
                    core.submit(i, queries[i])
                i += 1
            while faults and faults[0][0].at_s <= now:
                fault, inject = faults.pop(0)
                inject(fault.worker)
            if i == len(rows) and now > (times[-1] if times else 0) + cfg.timeout_s:
                self._give_up(ledger)
                break
            nxt = min(times[i] if i < len(rows) else np.inf, faults[0][0].at_s if faults else np.inf)
            core.pump(min(max(nxt - core.now(), cfg.send_s), cfg.poll_s))
        report = ledger.report(f"pets x{cfg.workers} live", cfg.serve)
        report.batches = sum(s.batches for s in core.states)  # as the workers counted them
        return LiveReport(report,
                          cfg.workers, cfg.balancer, "ray-live", core.monitor.samples,
                          core.moves.migrations, core.moves.peak, core.placement.budget,
                          deaths=core.moves.deaths, batch_s=[s.batch_s for s in core.states],
                          span_s=core.now(), driver_cpu_s=time.process_time() - cpu0,
                          stale=core.stale, nodes=[s.node for s in core.states])

    def _give_up(self, ledger: Ledger) -> None:
        reason = f"no answer within timeout_s={self.cfg.timeout_s:g} after the last arrival"
        for rid, rec in ledger.records.items():
            if not rec.status:
                ledger.end(rid, "failed", reason)
