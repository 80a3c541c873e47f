"""A `pets loadgen` run from the Server page: the trace's requests sent open-loop to the
server (pets.server.loadgen), as a background Job in a measuring process (Job.start_process)
so that the dashboard's threads do not delay the sends. Progress is the share of the trace's
send schedule that has passed; the result is the replay-style summary and per-task table."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pandas as pd

from pets.server.loadgen import LoadgenConfig, run_loadgen
from pets.serving import Trace

POLL_S = 0.25
SUMMARY_KEYS = ("requests", "completed", "rejected", "failed", "offered_rps", "throughput_rps",
                "goodput_rps", "p50_ms", "p95_ms", "p99_ms", "batches", "jain_fairness")


@dataclass(frozen=True)
class LoadRun:
    """What to send where: the (possibly task-mapped) trace and the loadgen options."""

    trace: Trace
    config: LoadgenConfig

    @property
    def span_s(self) -> float:
        """Seconds over which the requests are sent (the first `duration_s` of the trace)."""
        span = self.trace.duration_s
        return min(span, self.config.duration_s) if self.config.duration_s else span


@dataclass(frozen=True)
class LoadResult:
    trace: str
    summary: dict
    per_task: pd.DataFrame
    reasons: tuple[tuple[str, int], ...]  # why requests did not complete, most frequent first
    log: tuple[str, ...]  # the trace's lifecycle events as sent

    @property
    def accounted(self) -> bool:
        s = self.summary
        return s["completed"] + s["rejected"] + s["failed"] == s["requests"]


def loadgen_work(run: LoadRun, job) -> LoadResult:
    """The Job's work (picklable, for the measuring process): run loadgen in a thread and
    report progress until it ends; Stop abandons it (the process ends with it)."""
    outcome: dict = {}

    def send() -> None:
        try:
            outcome["report"] = run_loadgen(run.trace, run.config)
        except BaseException as e:  # handed to the job below
            outcome["error"] = e

    sender = threading.Thread(target=send, name="loadgen", daemon=True)
    t0 = time.monotonic()
    sender.start()
    span = max(run.span_s, 1e-3)
    while sender.is_alive():
        elapsed = time.monotonic() - t0
        message = (f"sending: {elapsed:.1f} of {span:.1f} s of the trace" if elapsed < span
                   else "waiting for the last answers")
        job.report(min(elapsed / span, 1.0) * 0.98, message)
        sender.join(POLL_S)
    if "error" in outcome:
        raise outcome["error"]  # a LoadgenError (no server, bad options) shows as the job's error
    return result_of(outcome["report"], run.trace.name)


def result_of(report, trace_name: str) -> LoadResult:
    s = report.summary()
    frame = report.frame()
    reasons = frame[frame.status != "completed"].reason.value_counts().head(5)
    return LoadResult(trace_name.rsplit("/", 1)[-1], {k: s[k] for k in SUMMARY_KEYS if k in s},
                      report.per_task(), tuple((str(r), int(n)) for r, n in reasons.items()),
                      tuple(report.log))
