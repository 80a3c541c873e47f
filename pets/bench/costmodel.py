"""`pets bench costmodel`: predicted vs measured latency of random mixed batches."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from pets.batching.cost import CostModel
from pets.batching.synthetic import random_batches
from pets.bench.workloads import mixed_engine
from pets.timing import median_time


@dataclass(frozen=True, kw_only=True)
class CostModelBenchConfig:
    preset: str = "distilbert"
    tasks: int = 64
    batches: int = 200
    max_batch: int = 32
    max_len: int = 128
    repeats: int = 2
    padding: str = "none"
    device: str = "cpu"
    dtype: str = "auto"
    seed: int = 0


SCALES = {"quick": CostModelBenchConfig()}


def run_costmodel(cfg: CostModelBenchConfig = SCALES["quick"], *,
                  progress: bool = True) -> pd.DataFrame:
    """One row per random batch: measured and predicted seconds, relative error."""
    eng = mixed_engine(cfg.preset, cfg.tasks, device=cfg.device, dtype=cfg.dtype)
    cost = CostModel.for_engine(eng)
    rows = []
    for batch in tqdm(random_batches(eng, cfg.batches, cfg.max_batch, cfg.max_len, cfg.seed),
                      desc="costmodel", disable=not progress):
        measured = median_time(lambda: eng.run(batch, padding=cfg.padding), cfg.device,
                               repeats=cfg.repeats)
        predicted = cost.batch_cost(batch, cfg.padding)
        rows.append(dict(queries=len(batch), tasks=len(batch.tasks), tokens=sum(batch.lengths),
                         measured_s=measured, predicted_s=predicted,
                         rel_error=abs(predicted - measured) / measured, source=cost.source))
    return pd.DataFrame(rows).assign(preset=cfg.preset)


def error_summary(df: pd.DataFrame) -> dict[str, float]:
    err = df.rel_error.to_numpy()
    return {"median_abs_rel_error": float(np.median(err)),
            "p90_abs_rel_error": float(np.quantile(err, 0.9)), "batches": len(err)}


def summary_lines(df: pd.DataFrame) -> list[str]:
    s = error_summary(df)
    return [f"cost model {df.source.iloc[0]}: {s['batches']} random batches, "
            f"median |rel error| {s['median_abs_rel_error']:.1%}, p90 {s['p90_abs_rel_error']:.1%}"]
