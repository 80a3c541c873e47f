"""`pets bench cluster-live`: N Ray actors serving at once, measured in wall-clock time.

One saturating trace (offered `load` x what the largest cluster could serve) is replayed
open-loop against 1 and 2 live actors (one torch thread each), interleaved over `repeats`
rounds; throughput and latency are measured at the client. Beside it the simulated cluster
replays the same trace, its devices calibrated to one live worker's own service rate (its
queue, policy and batches inside the actor, no driver): the sim predicts, the actors deliver.
Needs the `cluster` extra (ray).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

import pandas as pd

from pets.batching.cost import CostModel
from pets.cluster import ClusterConfig, replay_cluster
from pets.cluster.live import LiveConfig, replay_live
from pets.cluster.live.hosts import host_catalog, service_rate
from pets.serving import Trace, TraceSpec, generate_trace
from pets.server.config import ServerConfig


@dataclass(frozen=True, kw_only=True)
class ClusterLiveConfig:
    model: str = "minilm"            # a preset name or "minilm" (the real checkpoint)
    workers: tuple[int, ...] = (1, 2)
    tasks: int = 16
    alpha: float = 1.0               # Zipf popularity of the tasks
    balancer: str = "replicate"      # every task on every worker: the router alone balances
    requests: int = 800
    load: float = 2.0                # offered rate / (largest workers x one worker's service rate)
    mean_len: int = 32
    policy: str = "best"
    max_batch: int = 32
    repeats: int = 3
    seed: int = 0


SCALES = {"quick": ClusterLiveConfig(), "tiny": ClusterLiveConfig(model="bert-tiny", requests=3000)}


def run_cluster_live(cfg: ClusterLiveConfig = SCALES["quick"], *, progress: bool = True) -> pd.DataFrame:
    """Rows: one per (backend, workers, repeat): throughput, p50/p99 at the client."""
    import ray

    server = ServerConfig(policy=cfg.policy, max_batch=cfg.max_batch, queue_limit=10 * cfg.requests)
    probe = generate_trace(TraceSpec(requests=256, rate=1000.0, tasks=cfg.tasks, alpha=cfg.alpha,
                                     mean_len=cfg.mean_len, std_len=cfg.mean_len / 4, seed=cfg.seed))
    catalog = host_catalog(probe, cfg.model).shuffled(cfg.seed)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=max(2, *cfg.workers), include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    try:
        rate1 = service_rate(catalog, probe, LiveConfig(workers=1, server=server))
        rate = cfg.load * max(cfg.workers) * rate1
        trace = generate_trace(TraceSpec(requests=cfg.requests, rate=rate, tasks=cfg.tasks,
                                         alpha=cfg.alpha, mean_len=cfg.mean_len,
                                         std_len=cfg.mean_len / 4, seed=cfg.seed + 1))
        rows = []
        for rep in range(cfg.repeats):
            for n in cfg.workers:
                s = replay_live(trace, catalog, LiveConfig(
                    workers=n, balancer=cfg.balancer, server=server)).summary()
                rows.append(_row("ray-live", n, rep, s, rate, rate1))
                if progress:
                    print(f"  live x{n} round {rep}: {s['throughput_rps']:.1f} req/s, workers busy "
                          f"{s['worker_busy']:.0%}, driver CPU {s['driver_cpu_s']:.2f} s", flush=True)
    finally:
        if started:
            ray.shutdown()
    cost = _calibrated(CostModel.for_engine(catalog.host), probe, catalog, server, rate1)
    for n in cfg.workers:
        s = replay_cluster(trace, catalog, ClusterConfig(workers=n, backend="sim", balancer=cfg.balancer),
                           server.serve_config(), cost=cost, progress=False).summary()
        rows.append(_row("sim", n, 0, s, rate, rate1))
    return _derived(pd.DataFrame(rows))


def _calibrated(cost: CostModel, probe: Trace, catalog, server: ServerConfig,
                rate1: float) -> CostModel:
    """`cost` scaled so that the sim serves the probe requests, all waiting at once, at the
    rate one live worker served them in its actor."""
    burst = Trace(tuple(replace(r, arrival_s=0.0) for r in probe.requests), name="burst")
    s = replay_cluster(burst, catalog, ClusterConfig(workers=1, backend="sim", balancer="static"),
                       server.serve_config(), cost=cost, progress=False).summary()
    return replace(cost, scale=cost.scale * s["throughput_rps"] / rate1)


def _row(backend: str, n: int, rep: int, s: dict, offered: float, rate1: float) -> dict:
    return dict(backend=backend, workers=n, repeat=rep, offered_rps=offered, load_avg=os.getloadavg()[0],
                worker_rate_rps=rate1, throughput_rps=s["throughput_rps"], p50_ms=s["p50_ms"],
                p99_ms=s["p99_ms"], completed=s["completed"], rejected=s["rejected"],
                failed=s["failed"], requests=s["requests"],
                worker_busy=s.get("worker_busy", float("nan")),
                driver_cpu_s=s.get("driver_cpu_s", float("nan")))


def _derived(df: pd.DataFrame) -> pd.DataFrame:
    """Medians per (backend, workers), spread, scaling over 1 worker and live vs sim."""
    g = df.groupby(["backend", "workers"])
    out = g.agg(throughput_rps=("throughput_rps", "median"), tput_min=("throughput_rps", "min"),
                tput_max=("throughput_rps", "max"), p50_ms=("p50_ms", "median"),
                p99_ms=("p99_ms", "median"), completed=("completed", "min"),
                worker_busy=("worker_busy", "median"), driver_cpu_s=("driver_cpu_s", "median"),
                requests=("requests", "first"), runs=("repeat", "size"),
                offered_rps=("offered_rps", "first"), load_avg=("load_avg", "median"),
                worker_rate_rps=("worker_rate_rps", "first")).reset_index()
    one = out[out.workers == out.workers.min()].set_index("backend").throughput_rps
    out["vs_one_worker"] = out.throughput_rps / out.backend.map(one)
    sim = out[out.backend == "sim"].set_index("workers").throughput_rps
    out["live_vs_sim"] = out.throughput_rps / out.workers.map(sim)
    return out


def summary_lines(df: pd.DataFrame) -> list[str]:
    return [df.round(3).to_string(index=False)]
