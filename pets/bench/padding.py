"""`pets bench padding`: the three padding modes on mixed lengths, same queries.

Queries of many tasks with lengths ~ Normal(mean, std) clipped to [1, 128] run
as one task-contiguous batch per padding mode, the modes timed in turn within each
repeat; prints padded tokens and time.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

import pets
from pets.batching.padding import PADDING_MODES
from pets.batching.synthetic import normal_lengths, random_queries
from pets.bench.interleave import interleaved_medians
from pets.bench.workloads import mixed_engine
from pets.engine.layout import build_layout


@dataclass(frozen=True, kw_only=True)
class PaddingConfig:
    preset: str = "distilbert"
    tasks: int = 32
    queries: int = 128
    mean_len: float = 32.0
    std_len: float = 8.0
    repeats: int = 5
    device: str = "cpu"
    dtype: str = "auto"


SCALES = {"quick": PaddingConfig()}


def run_padding(cfg: PaddingConfig = SCALES["quick"], *, progress: bool = True) -> pd.DataFrame:
    """One row per padding mode: padded tokens, median seconds, queries/s, vs macro."""
    eng = mixed_engine(cfg.preset, cfg.tasks, device=cfg.device, dtype=cfg.dtype)
    lengths = normal_lengths(cfg.queries, cfg.mean_len, cfg.std_len)
    batch = pets.batching.batch_by_task(
        random_queries(list(eng.tasks), lengths, eng.config.vocab_size))[0]
    # the modes in turn per repeat, so drift hits all alike
    seconds = interleaved_medians({m: (lambda m=m: eng.run(batch, padding=m)) for m in PADDING_MODES},
                                  cfg.device, repeats=cfg.repeats)
    rows = [dict(padding=mode, real_tokens=sum(lengths),
                 padded_tokens=build_layout(batch, mode, eng.backbone.device).num_tokens,
                 median_s=seconds[mode], queries_per_s=cfg.queries / seconds[mode])
            for mode in PADDING_MODES]
    df = pd.DataFrame(rows)
    df["vs_macro"] = df.queries_per_s / df.loc[df.padding == "macro", "queries_per_s"].iloc[0]
    df["preset"] = cfg.preset
    return df


def summary_lines(df: pd.DataFrame) -> list[str]:
    return [f"{r.padding}: {r.vs_macro:.2f}x macro ({r.padded_tokens} tokens for {r.real_tokens})"
            for r in df.itertuples()]
