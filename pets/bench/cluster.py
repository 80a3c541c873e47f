"""`pets bench cluster`: the journal's multi-GPU experiment on the simulated cluster.

Zipf-skewed popularity (alpha) over many tasks on N virtual devices, each with the cost
model of the best committed profile. The offered load is `load` x the cluster's
capacity (N x one worker's saturated throughput under the cost model) with unbounded
queues, so every request is served and throughput = completed / makespan is the
throughput at saturation: a hot worker that static placement cannot relieve sets it.
Each worker may hold `budget` x its fair share of all PET bytes (replicate fills that), or
any amount (budget None: replicate then puts every task everywhere, the upper bound).
Tasks are placed in a seeded random order: no balancer knows popularity up front.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm

from pets.batching.cost import CostModel
from pets.batching.policies.base import batch_of_queries
from pets.batching.synthetic import random_queries
from pets.cluster import Catalog, ClusterConfig, replay_cluster
from pets.config import preset
from pets.pet.mixes import PAPER_MIX
from pets.serving import ServeConfig, TraceSpec, generate_trace

@dataclass(frozen=True, kw_only=True)
class ClusterBenchConfig:
    preset: str = "distilbert"
    device: str = "cpu"              # whose committed profile the virtual devices use
    alphas: tuple[float, ...] = (0.5, 1.0, 1.5)
    task_counts: tuple[int, ...] = (64, 256)
    worker_counts: tuple[int, ...] = (4, 8)
    balancers: tuple[str, ...] = ("static", "replicate", "migrate")
    seconds: float = 8.0             # length of the offered trace
    load: float = 1.5                # offered rate / cluster capacity
    budgets: tuple[float | None, ...] = (None, 2.0)  # per-worker PET memory in fair shares
                                                     # of all PET bytes (None: unbounded)
    policy: str = "cb-pad"
    max_batch: int = 32
    seed: int = 0


SCALES = {"quick": ClusterBenchConfig(seconds=8.0), "paper": ClusterBenchConfig(seconds=60.0)}


def worker_capacity(cost: CostModel, vocab_size: int, *, max_batch: int = 32, mean_len: int = 32,
                    tasks: int = 32) -> float:
    """Requests/s of one worker running full batches of `tasks` tasks of the paper's mix back
    to back (cost model)."""
    names = [f"task-{i}" for i in range(tasks)]
    batch = batch_of_queries(random_queries(names, [mean_len] * max_batch, vocab_size))
    pets_of = {n: PAPER_MIX[i % len(PAPER_MIX)]["pet"] for i, n in enumerate(names)}
    return max_batch / cost.with_tasks(pets_of).batch_cost(batch)


def run_cluster_bench(cfg: ClusterBenchConfig = SCALES["quick"], *,
                      progress: bool = True) -> pd.DataFrame:
    """One row per (alpha, tasks, workers, budget, balancer): throughput, p99, vs static."""
    cells = [(a, n, w) for n in cfg.task_counts for w in cfg.worker_counts for a in cfg.alphas]
    bar = tqdm(total=len(cells) * len(cfg.balancers) * len(cfg.budgets), desc="cluster",
               disable=not progress)
    model = preset(cfg.preset)
    cost = CostModel.for_model(cfg.preset, model, cfg.device)
    cap = worker_capacity(cost, model.vocab_size, max_batch=cfg.max_batch)
    rows = []
    for alpha, n_tasks, workers in cells:
        rate = cfg.load * workers * cap
        trace = generate_trace(TraceSpec(requests=int(rate * cfg.seconds), rate=rate, tasks=n_tasks,
                                         alpha=alpha, cv=1.0, seed=cfg.seed))
        catalog = Catalog.for_trace(trace, cfg.preset).shuffled(cfg.seed)
        for share, balancer in ((b, name) for b in cfg.budgets for name in cfg.balancers):
            budget = None if share is None else share * catalog.total_bytes() / workers / 2**20
            rep = replay_cluster(trace, catalog, ClusterConfig(
                workers=workers, balancer=balancer, memory_budget_mb=budget),
                ServeConfig(policy=cfg.policy, max_batch=cfg.max_batch,
                            queue_limit=len(trace.rows) + 1), cost=cost, progress=False)
            s = rep.summary()
            rows.append(dict(alpha=alpha, tasks=n_tasks, workers=workers,
                             budget="none" if share is None else f"{share:g}x",
                             balancer=balancer, offered_rps=rate,
                             throughput_rps=s["throughput_rps"], p99_ms=s["p99_ms"],
                             completed=s["completed"], requests=s["requests"],
                             migrations=s["migrations"], moved_mb=s["moved_mb"],
                             peak_pet_mb=s["peak_pet_mb"], budget_mb=budget))
            bar.update()
    bar.close()
    df = pd.DataFrame(rows)
    key = ["alpha", "tasks", "workers", "budget"]
    base = df[df.balancer == "static"].set_index(key).throughput_rps
    df["vs_static"] = [r.throughput_rps / base[tuple(getattr(r, k) for k in key)]
                       for r in df.itertuples()]
    return df


def headline(df: pd.DataFrame, target: float = 1.29) -> list[str]:
    """One line per balancer: min / median / max throughput over static in the skewed cells."""
    skewed = df[df.alpha >= 1.0]
    lines = []
    for (budget, b), g in skewed.groupby(["budget", "balancer"]):
        if b == "static":
            continue
        lines.append(f"budget {budget}: {b} {g.vs_static.min():.2f} / {g.vs_static.median():.2f} / "
                     f"{g.vs_static.max():.2f} x static (min / median / max over alpha >= 1 cells)")
    mig = skewed[skewed.balancer == "migrate"].vs_static
    if len(mig):
        lines.append(f"target migrate >= {target} x static in every skewed cell: "
                     f"{'met' if mig.min() >= target else 'NOT met'} (min {mig.min():.2f})")
    return lines



def summary_lines(df: pd.DataFrame) -> list[str]:
    """Throughput over static per cell, then the headline."""
    table = df.pivot_table(index=["budget", "tasks", "workers", "alpha"], columns="balancer",
                           values="vs_static").round(2).to_string()
    return [table, *headline(df)]
