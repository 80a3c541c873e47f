"""`pets bench padding`: the three padding modes on mixed lengths, same queries.

Queries of many tasks with lengths ~ Normal(mean, std) clipped to [1, 128] run
as one task-contiguous batch per padding mode; prints padded tokens and time.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm

import pets
from pets.batching.padding import PADDING_MODES
from pets.batching.synthetic import normal_lengths, random_queries
from pets.bench.workloads import mixed_engine
from pets.engine.layout import build_layout
from pets.timing import median_time


@dataclass(frozen=True, kw_only=True)
class PaddingConfig:
    preset: str = "distilbert"
    tasks: int = 32
    queries: int = 128
    mean_len: float = 32.0
    std_len: float = 8.0
    repeats: int = 5
    device: str = "cpu"
    dtype: str = "float32"


def run_padding(cfg: PaddingConfig = PaddingConfig(), *, progress: bool = True) -> pd.DataFrame:
    eng = mixed_engine(cfg.preset, cfg.tasks, device=cfg.device, dtype=cfg.dtype)
    lengths = normal_lengths(cfg.queries, cfg.mean_len, cfg.std_len)
    batch = pets.batching.batch_by_task(
        random_queries(list(eng.tasks), lengths, eng.config.vocab_size))[0]
    rows = []
    for mode in tqdm(PADDING_MODES, desc="padding", disable=not progress):
        seconds = median_time(lambda: eng.run(batch, padding=mode), cfg.device, repeats=cfg.repeats)
        rows.append(dict(padding=mode, real_tokens=sum(lengths),
                         padded_tokens=build_layout(batch, mode, eng.backbone.device).num_tokens,
                         median_s=seconds, queries_per_s=cfg.queries / seconds))
    df = pd.DataFrame(rows)
    df["vs_macro"] = df.queries_per_s / df.loc[df.padding == "macro", "queries_per_s"].iloc[0]
    return df
