"""The Cluster page's live mode: a skewed trace served by real Ray actors, watched as it runs.

`run_live(plan, job)` runs in a measuring process (`Job.start_process`): it starts a local
Ray, measures one worker's service rate, makes a trace at `plan.load` x what the workers
could serve, and replays it on `plan.workers` live actors with the chosen balancer
(`pets.cluster.live`). While it serves it publishes, every `PUBLISH_S` of wall-clock time,
the per-worker load samples and the migrations so far (`job.live`), so the page draws them
as they happen; Stop ends the run (the actors are released). The result is plain tables.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import pandas as pd

import pets
from pets.cluster import BALANCERS, Fault
from pets.cluster.report import Migration

PUBLISH_S = 0.25  # how often the page's view of a running replay is refreshed
MODELS = ("bert-tiny", "minilm")
MAX_WORKERS = 4


@dataclass(frozen=True)
class LivePlan:
    """One live run: `workers` actors, `tasks` tasks with Zipf(`alpha`) popularity, offered
    `load` x the workers' measured service rate for `seconds`; `kill_at`: worker 0 is
    killed this many seconds in (None: never)."""

    model: str = "bert-tiny"
    workers: int = 2
    balancer: str = "migrate"
    tasks: int = 32
    alpha: float = 1.2
    load: float = 1.2
    seconds: float = 5.0
    kill_at: float | None = None
    mean_len: int = 32

    def __post_init__(self) -> None:
        bad = []
        if self.model not in MODELS:
            bad.append(f"model must be one of {list(MODELS)}")
        if not 1 <= self.workers <= MAX_WORKERS:
            bad.append(f"workers must be 1-{MAX_WORKERS} (one actor per core)")
        if self.balancer not in BALANCERS:
            bad.append(f"balancer must be one of {sorted(BALANCERS)}")
        if self.tasks < 1 or not self.alpha > 0 or not self.load > 0:
            bad.append("tasks must be >= 1, alpha and load > 0")
        if not 0 < self.seconds <= 60:
            bad.append("seconds must be in (0, 60]")
        if self.kill_at is not None and not 0 <= self.kill_at < self.seconds:
            bad.append("kill at must fall inside the run")
        if bad:
            raise pets.InvalidSpecError("; ".join(bad))


class _Publisher:
    """The driver loop's hook: every PUBLISH_S, the samples and migrations so far go to the
    page, and a pressed Stop ends the run."""

    def __init__(self, job, span_s: float) -> None:
        self.job, self.span_s, self.last = job, span_s, 0.0

    def __call__(self, core) -> None:
        if time.monotonic() - self.last < PUBLISH_S:
            return
        self.last = time.monotonic()
        now = core.now()
        self.job.publish(samples=list(core.monitor.samples),
                         migrations=[asdict(m) for m in core.moves.migrations], now_s=now)
        self.job.report(0.1 + 0.9 * min(now / self.span_s, 0.99) if self.span_s > 0 else 0.5,
                        f"serving: {now:.1f} s (arrivals until {self.span_s:.1f} s, then the "
                        "queues drain)")


def run_live(plan: LivePlan, job) -> dict:
    """Serve `plan` on live Ray actors. Returns {summary, loads, migrations, rate_rps,
    worker_rps, log}: the report's summary row, per-worker load samples and migration log
    (DataFrames), the offered and the one-worker service rate."""
    import ray

    from pets.cluster.live import replay_live
    from pets.cluster.live.hosts import host_catalog, service_rate
    from pets.server.config import ServerConfig
    from pets.server.live import live_config
    from pets.serving import TraceSpec, generate_trace

    job.report(0.02, f"loading {plan.tasks} tasks on {plan.model}")
    catalog = host_catalog([f"task-{i}" for i in range(plan.tasks)], plan.model).shuffled(0)
    spec = TraceSpec(requests=256, rate=1000.0, tasks=plan.tasks, alpha=plan.alpha,
                     mean_len=plan.mean_len, std_len=plan.mean_len / 4, seed=0)
    started = not ray.is_initialized()
    if started:
        job.report(0.04, "starting Ray")
        ray.init(num_cpus=max(2, plan.workers), include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    try:
        job.report(0.06, "measuring one worker's service rate")
        probe = generate_trace(spec)
        one = service_rate(catalog, probe, live_config(ServerConfig(), workers=1))
        rate = plan.load * plan.workers * one
        requests = max(1, int(rate * plan.seconds))
        trace = generate_trace(replace(spec, requests=requests, rate=rate, seed=1))
        server = ServerConfig(queue_limit=10 * requests)
        faults = () if plan.kill_at is None else (Fault(plan.kill_at, 0),)
        job.report(0.1, f"serving {requests} requests at {rate:.0f} req/s")
        report = replay_live(trace, catalog, live_config(
            server, workers=plan.workers, balancer=plan.balancer, faults=faults),
            hook=_Publisher(job, trace.duration_s))
    finally:
        if started:
            ray.shutdown()
    return dict(summary=report.summary(), loads=report.loads(),
                migrations=report.migration_log(), rate_rps=rate, worker_rps=one,
                log=list(report.report.log))


def samples_frame(samples: list[dict]) -> pd.DataFrame:
    """Published load samples as a table (empty with the load columns before the first)."""
    cols = ["time_s", "worker", "alive", "queued", "outstanding_tokens", "busy", "tasks", "pet_mb"]
    return pd.DataFrame(samples) if samples else pd.DataFrame(columns=cols)


def migrations_frame(rows: list[dict]) -> pd.DataFrame:
    """Published migrations as a table with the report's migration-log columns."""
    return pd.DataFrame(rows, columns=list(Migration.__dataclass_fields__))
