"""`pets bench batching`: the paper's Fig. 12 workload, every policy executed for real.

1024 queries (quick scale: fewer, say which) with length ~ Normal(32, std)
clipped to [1, 128], std in {1, 2, 4, 8}, over {32, 64, 128} tasks of mixed
PET types. Each policy plans with the cost model; its plan runs on the engine;
throughput is normalised to `fixed`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm

import pets
from pets.batching.cost import CostModel
from pets.batching.policies import POLICIES, plan
from pets.batching.synthetic import normal_lengths, random_queries
from pets.bench.interleave import interleaved_medians
from pets.bench.workloads import mixed_engine


@dataclass(frozen=True, kw_only=True)
class BatchingConfig:
    preset: str = "distilbert"
    queries: int = 256
    mean_len: int = 32
    stds: tuple[float, ...] = (1, 2, 4, 8)
    task_counts: tuple[int, ...] = (32, 64, 128)
    policies: tuple[str, ...] = ()
    max_batch: int = 32
    repeats: int = 2
    padding: str | None = None
    device: str = "cpu"
    dtype: str = "auto"
    seed: int = 0


SCALES = {
    "quick": BatchingConfig(preset="distilbert", queries=256),
    "paper": BatchingConfig(preset="bert-base", queries=1024),
    "short": BatchingConfig(preset="distilbert", queries=256, mean_len=16),
}


def run_batching(cfg: BatchingConfig = SCALES["quick"], *, progress: bool = True) -> pd.DataFrame:
    eng = mixed_engine(cfg.preset, max(cfg.task_counts), device=cfg.device, dtype=cfg.dtype)
    cost = CostModel.for_engine(eng)
    padding = cfg.padding or eng.padding
    names = list(eng.tasks)
    policies = cfg.policies or tuple(POLICIES)
    cells = [(n, std) for n in cfg.task_counts for std in cfg.stds]
    bar = tqdm(total=len(cells) * len(policies), desc="batching", disable=not progress)
    rows = []
    for n_tasks, std in cells:
        lengths = normal_lengths(cfg.queries, cfg.mean_len, std, seed=cfg.seed)
        queries = random_queries(names[:n_tasks], lengths, eng.config.vocab_size, seed=cfg.seed)
        queries = [pets.Query(task=q.task, input_ids=q.input_ids, id=q.id,
                              arrival=(q.id * 7919 % cfg.queries) / cfg.queries) for q in queries]
        plans = {}
        for name in policies:
            start = time.perf_counter()
            plans[name] = plan(name, queries, cost, max_batch=cfg.max_batch, padding=padding)
            plans[name] = (plans[name], time.perf_counter() - start)
        # every policy's plan in turn per repeat, so drift hits all alike
        measured = interleaved_medians(
            {name: (lambda b=plans[name][0]: _execute(eng, b, padding)) for name in policies},
            cfg.device, repeats=cfg.repeats)
        for name in policies:
            batches, plan_s = plans[name]
            seconds = measured[name]
            rows.append(dict(tasks=n_tasks, std=std, policy=name, batches=len(batches),
                             plan_ms=plan_s * 1e3, predicted_s=cost.plan_cost(batches, padding),
                             measured_s=seconds, queries_per_s=cfg.queries / seconds))
            bar.update()
    bar.close()
    df = pd.DataFrame(rows)
    fixed = df[df.policy == "fixed"].set_index(["tasks", "std"]).queries_per_s
    df["vs_fixed"] = df.apply(lambda r: r.queries_per_s / fixed.get((r.tasks, r["std"]), float("nan")),
                              axis=1)
    df["preset"], df["padding"], df["queries"] = cfg.preset, padding, cfg.queries
    return df


def _execute(eng: pets.PetsEngine, batches, padding: str) -> None:
    for b in batches:
        eng.run(b, padding=padding)


def headline(df: pd.DataFrame) -> pd.DataFrame:
    """vs_fixed per cell (rows: tasks x std, columns: policy)."""
    return df.pivot_table(index=["tasks", "std"], columns="policy", values="vs_fixed")


def summary_lines(df: pd.DataFrame) -> list[str]:
    """Throughput vs fixed per cell, and each policy's median planning time."""
    first = df.iloc[0]
    with pd.option_context("display.width", 220, "display.float_format", "{:.3f}".format):
        table = headline(df).to_string()
    plan_ms = df.groupby("policy").plan_ms.median()
    return [f"{first.preset}, {first.queries} queries per cell, padding {first.padding}: "
            f"throughput vs fixed", table,
            "median planning time (ms): " + ", ".join(f"{p} {v:.1f}" for p, v in plan_ms.items())]
