"""`pets bench throughput` (paper Fig. 7): throughput as tasks are added.

Fixed-length queries, per-task batch {1,128}, {2,64} or {4,32}; 1..64 tasks of
mixed PET types (round-robin over lora, adapter, bitfit, diff, mask) served as
one PetS batch. Throughput (queries/s) is normalised to one task with the same
per-task batch: how much serving many tasks together gains over serving one.
Task counts are timed in turn within each repeat (a 1-task batch repeated to
the span of the largest), medians per count.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm

from pets.bench.fixedlen import PAPER_SHAPES, SHORT_SHAPES, fixed_batch, shape_label
from pets.bench.interleave import interleaved_medians
from pets.bench.workloads import mixed_engine


@dataclass(frozen=True, kw_only=True)
class ThroughputConfig:
    preset: str = "distilbert"
    shapes: tuple[tuple[int, int], ...] = PAPER_SHAPES
    task_counts: tuple[int, ...] = (1, 2, 4, 8, 16)
    repeats: int = 3
    padding: str | None = None
    device: str = "cpu"
    dtype: str = "auto"


SCALES = {
    "quick": ThroughputConfig(preset="distilbert", task_counts=(1, 2, 4, 8, 16), repeats=3),
    "paper": ThroughputConfig(preset="bert-base", task_counts=(1, 2, 4, 8, 16, 32, 64), repeats=5),
    "short": ThroughputConfig(preset="bert-base", shapes=SHORT_SHAPES,
                              task_counts=(1, 2, 4, 8, 16, 32, 64), repeats=5),
}


def run_throughput(cfg: ThroughputConfig = SCALES["quick"], *, progress: bool = True) -> pd.DataFrame:
    """One row per (shape, tasks): median seconds, queries/s, normalised to 1 task."""
    eng = mixed_engine(cfg.preset, max(cfg.task_counts), device=cfg.device, dtype=cfg.dtype)
    names = list(eng.tasks)
    padding = cfg.padding or eng.padding
    rows = []
    for shape in tqdm(cfg.shapes, desc="throughput", disable=not progress):
        batches = {n: fixed_batch(names[:n], shape, eng.config.vocab_size) for n in cfg.task_counts}
        # each task count in turn per repeat; small batches repeated to a similar span
        seconds = interleaved_medians(
            {n: (lambda b=b: eng.run(b, padding=padding)) for n, b in batches.items()},
            cfg.device, repeats=cfg.repeats,
            inner={n: max(cfg.task_counts) // n for n in cfg.task_counts})
        for n, batch in batches.items():
            rows.append(dict(shape=shape_label(shape), per_task_batch=shape[0], seq_len=shape[1],
                             tasks=n, queries=len(batch), tokens=sum(batch.lengths),
                             median_s=seconds[n], queries_per_s=len(batch) / seconds[n]))
    df = pd.DataFrame(rows)
    one = df.sort_values("tasks").groupby("shape").queries_per_s.first()
    df["normalised"] = df.queries_per_s / df["shape"].map(one)
    df["preset"], df["padding"], df["device"] = cfg.preset, padding, cfg.device
    return df


def summary_lines(df: pd.DataFrame) -> list[str]:
    """Normalised throughput per shape at the largest task count."""
    top = df[df.tasks == df.tasks.max()]
    return [f"{r.shape}: {r.tasks} tasks -> {r.normalised:.2f}x one task's throughput "
            f"({r.queries_per_s:.1f} queries/s)" for r in top.itertuples()]
