"""`pets bench cluster-live`: N Ray actors serving at once, measured in wall-clock time.

A saturating trace (offered `load` x what the cluster could serve) is replayed open-loop
against live actors (one torch thread each), in interleaved rounds; throughput and latency
are measured at the client. Beside it the simulated cluster replays the same trace, its
devices calibrated to a live worker's own service rate (its queue, policy and batches inside
the actor, without the driver) measured while as many actors as the case has serve at once
(`sim_rate_rps`): the sim predicts, the actors deliver.

Parts (`--part`): `scaling` compares 1 and 2 actors with every task on every actor (the
router alone balances); `skew` compares balancers (static vs migrate) on 2 actors over a
Zipf-skewed trace of many tasks, placed in a seeded random order.
Needs the `cluster` extra (ray).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Callable, Iterator

import pandas as pd

from pets.batching.cost import CostModel
from pets.cluster import ClusterConfig, Fault, replay_cluster
from pets.cluster.live import replay_live
from pets.cluster.live.hosts import host_catalog, service_rate
from pets.errors import InvalidSpecError
from pets.serving import Trace, TraceSpec, generate_trace
from pets.server.config import ServerConfig
from pets.server.live import live_config


@dataclass(frozen=True)
class Case:
    """One side of a comparison: how many actors, which balancer, which actors die when."""

    workers: int
    balancer: str
    faults: tuple[Fault, ...] = ()
    system: str = "pets"           # pets: our live cluster; serve: the Ray Serve multiplexing peer


def _cases_scaling(cfg: "ClusterLiveConfig") -> Iterator[Case]:
    return (Case(n, cfg.balancers[0]) for n in cfg.workers)


def _cases_skew(cfg: "ClusterLiveConfig") -> Iterator[Case]:
    n = max(cfg.workers)
    yield from (Case(n, b) for b in cfg.balancers)
    yield from (Case(n, PEER_BALANCER, system=p) for p in cfg.peers)


def _cases_fault(cfg: "ClusterLiveConfig") -> Iterator[Case]:
    n = max(cfg.workers)
    return (Case(n, cfg.balancers[0], faults) for faults in ((), (Fault(cfg.fault_at_s, n - 1),)))


def _run_pets(trace, catalog, case: Case, cfg: "ClusterLiveConfig", server: ServerConfig) -> dict:
    return replay_live(trace, catalog, live_config(
        server, workers=case.workers, balancer=case.balancer, faults=case.faults,
        interval_s=cfg.interval_s)).summary()


def _run_serve(trace, catalog, case: Case, cfg: "ClusterLiveConfig", server: ServerConfig) -> dict:
    from pets.cluster.live.serve_peer import ServePeerConfig, replay_serve

    return replay_serve(trace, catalog, ServePeerConfig(replicas=case.workers,
                                                        max_batch=server.max_batch)).summary()


PEER_BALANCER = "serve-multiplex"
# system -> how one live case runs
SYSTEMS: dict[str, Callable[..., dict]] = {"pets": _run_pets, "serve": _run_serve}

# part -> the cases of one round
PARTS: dict[str, Callable[["ClusterLiveConfig"], Iterator[Case]]] = {
    "scaling": _cases_scaling, "skew": _cases_skew, "fault": _cases_fault}


@dataclass(frozen=True, kw_only=True)
class ClusterLiveConfig:
    part: str = "scaling"            # scaling | skew | fault
    model: str = "minilm"            # a preset name or "minilm" (the real checkpoint)
    workers: tuple[int, ...] = (1, 2)  # scaling: each count; skew: the largest
    balancers: tuple[str, ...] = ("replicate",)  # scaling: one; skew: compared side by side
    tasks: int = 16
    alpha: float = 1.0               # Zipf popularity of the tasks
    requests: int = 800
    load: float = 2.0                # offered rate / (largest workers x one worker's service rate)
    mean_len: int = 32
    policy: str = "best"
    max_batch: int = 32
    interval_s: float = 0.25         # the balancer's period (wall clock)
    fault_at_s: float = 1.0          # fault: the last actor is killed this long after the start
    peers: tuple[str, ...] = ()      # skew: peer systems run beside ("serve": Ray Serve multiplexing)
    repeats: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.part not in PARTS:
            raise InvalidSpecError(f"unknown part {self.part!r}; choose one of {sorted(PARTS)}")
        unknown = sorted(set(self.peers) - set(SYSTEMS))
        if unknown:
            raise InvalidSpecError(f"unknown peers {unknown}; choose from {sorted(SYSTEMS)}")


SCALES = {
    "quick": ClusterLiveConfig(),
    "tiny": ClusterLiveConfig(model="bert-tiny", requests=3000),
    "skew": ClusterLiveConfig(part="skew", workers=(2,), balancers=("static", "migrate"), tasks=64,
                              alpha=1.2, requests=2400, load=1.5, peers=("serve",)),
    "fault": ClusterLiveConfig(part="fault", workers=(2,), balancers=("static",), load=1.0,
                               requests=600),
}


def run_cluster_live(cfg: ClusterLiveConfig = SCALES["quick"], *, progress: bool = True) -> pd.DataFrame:
    """Rows: one per (backend, workers, balancer) with medians over rounds, spread, scaling
    over the first case and live vs sim."""
    import ray

    server = ServerConfig(policy=cfg.policy, max_batch=cfg.max_batch, queue_limit=10 * cfg.requests)
    spec = TraceSpec(requests=256, rate=1000.0, tasks=cfg.tasks, alpha=cfg.alpha,
                     mean_len=cfg.mean_len, std_len=cfg.mean_len / 4, seed=cfg.seed)
    probe = generate_trace(spec)
    catalog = host_catalog([f"task-{i}" for i in range(cfg.tasks)], cfg.model).shuffled(cfg.seed)
    cases = list(PARTS[cfg.part](cfg))
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=max(2, *cfg.workers), include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    try:
        # the sim's devices serve at the rate one actor reaches while as many actors as the
        # case has serve at once (co-running actors share the host's cores, caches and memory)
        corun = {n: service_rate(catalog, probe, live_config(server, workers=1), workers=n)
                 for n in sorted({c.workers for c in cases if c.system == "pets"})}
        rate1 = corun.get(1) or service_rate(catalog, probe, live_config(server, workers=1))
        rate = cfg.load * max(cfg.workers) * rate1
        trace = generate_trace(replace(spec, requests=cfg.requests, rate=rate, seed=cfg.seed + 1))
        rows = []
        for rep in range(cfg.repeats):
            for case in cases:
                s = SYSTEMS[case.system](trace, catalog, case, cfg, server)
                rows.append(_row(s["backend"], case, rep, s, rate, rate1))
                if progress:
                    print(f"  live {_label(case)} round {rep}: {s['throughput_rps']:.1f} req/s, "
                          f"p99 {s['p99_ms']:.0f} ms, workers busy {s['worker_busy']:.0%}, "
                          f"driver CPU {s['driver_cpu_s']:.2f} s, {s['migrations']} migrations",
                          flush=True)
    finally:
        if started:
            ray.shutdown()
    base = CostModel.for_engine(catalog.host)
    for case in (c for c in cases if c.system == "pets"):
        rate_n = corun[case.workers]
        s = replay_cluster(trace, catalog, ClusterConfig(
            workers=case.workers, backend="sim", balancer=case.balancer, faults=case.faults,
            interval_s=cfg.interval_s), server.serve_config(),
            cost=_calibrated(base, probe, catalog, server, rate_n), progress=False).summary()
        rows.append(_row("sim", case, 0, s, rate, rate1) | {"sim_rate_rps": rate_n})
    return _derived(pd.DataFrame(rows))


def _calibrated(cost: CostModel, probe: Trace, catalog, server: ServerConfig,
                rate1: float) -> CostModel:
    """`cost` scaled so that the sim serves the probe requests, all waiting at once, at the
    rate one live worker served them in its actor."""
    burst = Trace(tuple(replace(r, arrival_s=0.0) for r in probe.requests), name="burst")
    s = replay_cluster(burst, catalog, ClusterConfig(workers=1, backend="sim", balancer="static"),
                       server.serve_config(), cost=cost, progress=False).summary()
    return replace(cost, scale=cost.scale * s["throughput_rps"] / rate1)


def _label(case: Case) -> str:
    killed = "".join(f", kill {f.worker} at {f.at_s:g}s" for f in case.faults)
    return f"x{case.workers} {case.balancer}{killed}"


def _row(backend: str, case: Case, rep: int, s: dict, offered: float, rate1: float) -> dict:
    return dict(backend=backend, workers=case.workers, balancer=case.balancer,
                faults=len(case.faults), repeat=rep, recovery_s=s.get("recovery_s", float("nan")),
                detect_s=s.get("detect_s", float("nan")), rerouted=s["rerouted"],
                offered_rps=offered, load_avg=os.getloadavg()[0], worker_rate_rps=rate1,
                throughput_rps=s["throughput_rps"], p50_ms=s["p50_ms"], p99_ms=s["p99_ms"],
                completed=s["completed"], rejected=s["rejected"], failed=s["failed"],
                requests=s["requests"], migrations=s["migrations"],
                mean_batch=s["completed"] / s["batches"] if s["batches"] else float("nan"),
                worker_busy=s.get("worker_busy", float("nan")),
                driver_cpu_s=s.get("driver_cpu_s", float("nan")))


def _derived(df: pd.DataFrame) -> pd.DataFrame:
    """Medians per (backend, workers, balancer), their spread, the ratio to the first case
    of the same backend and live over sim."""
    if "sim_rate_rps" not in df:
        df = df.assign(sim_rate_rps=float("nan"))
    keys = ["backend", "workers", "balancer", "faults"]
    out = df.groupby(keys, sort=False).agg(
        throughput_rps=("throughput_rps", "median"), tput_min=("throughput_rps", "min"),
        tput_max=("throughput_rps", "max"), p50_ms=("p50_ms", "median"),
        p99_ms=("p99_ms", "median"), p99_min=("p99_ms", "min"), p99_max=("p99_ms", "max"),
        completed=("completed", "min"), requests=("requests", "first"),
        migrations=("migrations", "median"), worker_busy=("worker_busy", "median"),
        mean_batch=("mean_batch", "median"),
        recovery_s=("recovery_s", "median"), detect_s=("detect_s", "median"),
        rerouted=("rerouted", "median"),
        driver_cpu_s=("driver_cpu_s", "median"), runs=("repeat", "size"),
        offered_rps=("offered_rps", "first"), load_avg=("load_avg", "median"),
        worker_rate_rps=("worker_rate_rps", "first"),
        sim_rate_rps=("sim_rate_rps", "first")).reset_index()
    side = out.backend.map(lambda b: "sim" if b == "sim" else "live")  # serve peer: beside live
    first = out.groupby(side, sort=False).throughput_rps.first()
    out["vs_first"] = out.throughput_rps / side.map(first)
    sim = out[out.backend == "sim"].set_index(keys[1:]).throughput_rps
    out["live_vs_sim"] = [t / sim.get(k, float("nan")) for t, k in
                          zip(out.throughput_rps, out[keys[1:]].itertuples(index=False, name=None))]
    return out


def summary_lines(df: pd.DataFrame) -> list[str]:
    cols = ["backend", "workers", "balancer", "faults", "throughput_rps", "tput_min", "tput_max", "p50_ms",
            "p99_ms", "completed", "requests", "migrations", "rerouted", "recovery_s", "mean_batch", "worker_busy", "load_avg", "vs_first",
            "live_vs_sim"]
    return [df[[c for c in cols if c in df]].round(3).to_string(index=False)]
