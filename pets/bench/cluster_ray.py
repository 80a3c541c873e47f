"""`pets bench cluster-ray`: the cluster comparison on real Ray actors beside the sim.

Needs the `cluster` extra (ray). One worker actor's measured capacity sets the offered
load and the sim's device speed, so both backends see the same saturation.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from pets.batching.cost import CostModel
from pets.batching.policies.base import batch_of_queries
from pets.batching.synthetic import random_queries
from pets.bench.cluster import worker_capacity
from pets.cluster import Catalog, ClusterConfig, replay_cluster
from pets.config import preset
from pets.serving import ServeConfig, TraceSpec, generate_trace
from pets.serving.generate import every_task


def actor_capacity(catalog, *, threads: int = 1, max_batch: int = 32, mean_len: int = 32) -> float:
    """Requests/s of one worker actor (as the Ray backend makes them) running full mixed batches
    of the catalog's tasks. Needs Ray initialised."""
    import ray

    from pets.cluster.ray_backend import WorkerActor

    host = catalog.host
    sd = ray.put({k: v.detach().cpu() for k, v in host.backbone.state_dict().items()})
    actor = WorkerActor.options(num_cpus=1).remote(host.model_name, host.config, sd, "cpu", threads)
    try:
        names = catalog.tasks[:max_batch]
        ray.get([actor.add.remote(catalog.specs[t], catalog.params(t)) for t in names])
        batch = batch_of_queries(random_queries(names, [mean_len] * max_batch, host.config.vocab_size))
        return ray.get(actor.capacity.remote(batch, host.padding))
    finally:
        ray.kill(actor, no_restart=True)


@dataclass(frozen=True, kw_only=True)
class RayCheckConfig:
    preset: str = "bert-tiny"
    workers: int = 2
    tasks: int = 16
    alpha: float = 1.5
    seconds: float = 2.0
    load: float = 3.0          # offered rate / (workers x one actor's measured capacity)
    balancers: tuple[str, ...] = ("static", "migrate")
    seed: int = 0


SCALES = {"quick": RayCheckConfig()}


def run_ray_check(cfg: RayCheckConfig = SCALES["quick"], *, progress: bool = True) -> pd.DataFrame:
    """The same comparison for real: Ray actors on this machine (one thread each), batches
    really executed and timed inside each actor, PETs shipped between actors through Ray's
    object store; beside it the sim backend on the same trace, for the direction. Policy
    `fixed`: on bert-tiny a DP's planning time (which the real executor counts and the sim
    does not) would be as large as the batches themselves."""
    import ray

    model = preset(cfg.preset)
    catalog = Catalog.for_trace(every_task(cfg.tasks), cfg.preset, with_params=True)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=max(2, cfg.workers), include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
    try:
        measured = actor_capacity(catalog, threads=1)
        rate = cfg.load * cfg.workers * measured
        # the sim's devices run at the actors' measured speed (the profile was taken in-process,
        # with 2 threads and without Ray's own processes beside it)
        cost = CostModel.for_model(cfg.preset, model)
        cost = replace(cost, scale=cost.scale * worker_capacity(cost, model.vocab_size) / measured)
        trace = generate_trace(TraceSpec(requests=int(rate * cfg.seconds), rate=rate,
                                         tasks=cfg.tasks, alpha=cfg.alpha, cv=1.0, seed=cfg.seed))
        catalog = catalog.shuffled(cfg.seed)
        rows = []
        for backend, balancer in ((b, name) for b in ("sim", "ray") for name in cfg.balancers):
            rep = replay_cluster(trace, catalog, ClusterConfig(
                workers=cfg.workers, backend=backend, balancer=balancer),
                ServeConfig(policy="fixed", queue_limit=len(trace.rows) + 1), cost=cost,
                progress=progress)
            s = rep.summary()
            rows.append(dict(backend=backend, preset=cfg.preset, workers=cfg.workers, tasks=cfg.tasks,
                             alpha=cfg.alpha, balancer=balancer, offered_rps=rate,
                             throughput_rps=s["throughput_rps"], p99_ms=s["p99_ms"],
                             completed=s["completed"], requests=s["requests"],
                             migrations=s["migrations"], moved_mb=s["moved_mb"]))
    finally:
        if started:
            ray.shutdown()
    df = pd.DataFrame(rows)
    static = df[df.balancer == "static"].set_index("backend").throughput_rps
    df["vs_static"] = df.throughput_rps / df.backend.map(static)
    return df


def summary_lines(df: pd.DataFrame) -> list[str]:
    return [df.round(3).to_string(index=False)]
