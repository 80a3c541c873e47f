"""`pets bench systems` (paper Fig. 8): SeqS vs ParS vs PetS as tasks are added.

Fixed-length queries of 2..16 mixed-PET tasks (per-task batch {b, L}):
  seqs  one dense model copy per task (PET merged in), run one after another
  pars  the same copies run in parallel: one thread per copy on a CPU, one
        thread + CUDA stream per copy on a GPU (the paper: one stream per model)
  pets  one engine, all tasks in one batch
The copies are built once, before timing. Every (system, tasks) case is timed
in turn within each repeat; medians; throughput relative to seqs.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import pandas as pd
import torch
from tqdm.auto import tqdm

import pets
from pets.batching.batch import Batch
from pets.batching.policies.base import batch_of_queries
from pets.bench.fixedlen import PAPER_SHAPES, SHORT_SHAPES, fixed_batch, shape_label
from pets.bench.interleave import interleaved_medians
from pets.bench.workloads import mixed_engine
from pets.errors import InvalidSpecError

SYSTEM_NAMES = ("seqs", "pars", "pets")


@dataclass(frozen=True, kw_only=True)
class SystemsConfig:
    preset: str = "distilbert"
    shapes: tuple[tuple[int, int], ...] = ((2, 64),)
    task_counts: tuple[int, ...] = (2, 4, 8)
    systems: tuple[str, ...] = SYSTEM_NAMES
    repeats: int = 3
    padding: str | None = None
    device: str = "cpu"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.systems) - set(SYSTEM_NAMES))
        if unknown:
            raise InvalidSpecError(f"unknown system(s) {unknown}; choose from {list(SYSTEM_NAMES)}")


SCALES = {
    "quick": SystemsConfig(preset="distilbert", shapes=((2, 64),), task_counts=(2, 4, 8), repeats=3),
    "paper": SystemsConfig(preset="bert-base", shapes=PAPER_SHAPES, task_counts=(2, 4, 8, 16),
                           repeats=5),
    "short": SystemsConfig(preset="bert-base", shapes=SHORT_SHAPES[:2], task_counts=(2, 4, 8, 16),
                           repeats=5),
}


class ParallelCopies:
    """Runs one (copy, batch) pair per worker thread, each on its own CUDA stream on a GPU."""

    def __init__(self, n: int, device: str) -> None:
        self.pool = ThreadPoolExecutor(max_workers=n)
        cuda = torch.device(device).type == "cuda"
        self.streams = [torch.cuda.Stream(device) if cuda else None for _ in range(n)]

    def run(self, work: list[tuple[pets.PetsEngine, Batch]], padding: str) -> None:
        futures = [self.pool.submit(_run_on, copy, batch, padding, stream)
                   for (copy, batch), stream in zip(work, self.streams)]
        for f in futures:
            f.result()

    def close(self) -> None:
        self.pool.shutdown()


def _run_on(copy: pets.PetsEngine, batch: Batch, padding: str, stream) -> None:
    if stream is None:
        copy.run(batch, padding=padding)
        return
    with torch.cuda.stream(stream):
        copy.run(batch, padding=padding)


def run_systems(cfg: SystemsConfig = SCALES["quick"], *, progress: bool = True) -> pd.DataFrame:
    """One row per (shape, system, tasks): median seconds, queries/s, vs seqs."""
    eng = mixed_engine(cfg.preset, max(cfg.task_counts), device=cfg.device, dtype=cfg.dtype)
    names = list(eng.tasks)
    padding = cfg.padding or eng.padding
    needs_copies = {"seqs", "pars"} & set(cfg.systems)
    copies = {t: pets.baselines.dense_copy(eng, t)
              for t in tqdm(names if needs_copies else [], desc="dense copies", leave=False,
                            disable=not progress)}
    parallel = ParallelCopies(max(cfg.task_counts), cfg.device)
    rows = []
    try:
        for shape in tqdm(cfg.shapes, desc="systems", disable=not progress):
            cases, sizes = {}, {}
            for n in cfg.task_counts:
                batch = fixed_batch(names[:n], shape, eng.config.vocab_size)
                per_task = [(copies.get(t), batch_of_queries(qs))
                            for t, qs in batch.task_queries.items()]
                for system in cfg.systems:
                    cases[(system, n)] = _case(system, eng, batch, per_task, parallel, padding)
                    sizes[(system, n)] = len(batch)
            seconds = interleaved_medians(
                cases, cfg.device, repeats=cfg.repeats,
                inner={k: max(cfg.task_counts) // k[1] for k in cases})
            for (system, n), s in seconds.items():
                rows.append(dict(shape=shape_label(shape), system=system, tasks=n,
                                 queries=sizes[(system, n)], median_s=s,
                                 queries_per_s=sizes[(system, n)] / s))
    finally:
        parallel.close()
    df = pd.DataFrame(rows)
    if "seqs" in cfg.systems:
        seqs = df[df.system == "seqs"].set_index(["shape", "tasks"]).queries_per_s
        df["vs_seqs"] = [q / seqs[(s, n)] for s, n, q in zip(df["shape"], df.tasks, df.queries_per_s)]
    df["preset"], df["padding"], df["device"] = cfg.preset, padding, cfg.device
    return df


def _case(system: str, eng: pets.PetsEngine, batch: Batch, per_task: list, parallel: ParallelCopies,
          padding: str) -> Callable[[], object]:
    if system == "pets":
        return lambda: eng.run(batch, padding=padding)
    if system == "seqs":
        return lambda: [copy.run(b, padding=padding) for copy, b in per_task]
    return lambda: parallel.run(per_task, padding)


def summary_lines(df: pd.DataFrame) -> list[str]:
    """Throughput vs seqs per system at each task count (first shape)."""
    if "vs_seqs" not in df:
        return ["(seqs not run: no ratios)"]
    first = df[df["shape"] == df["shape"].iloc[0]]
    table = first.pivot_table(index="tasks", columns="system", values="vs_seqs")
    return [f"{first['shape'].iloc[0]} per task, throughput / seqs:"] + [
        f"  {n:3d} tasks: " + ", ".join(f"{s} {table.loc[n, s]:.2f}" for s in table.columns)
        for n in table.index]
