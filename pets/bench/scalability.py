"""Scalability: throughput and memory as the number of tasks grows, pets against seqs and peft.

For each task count n an engine of n tasks serves one fixed workload: `queries`
queries of `seq_len` tokens, spread round-robin over the tasks, as one batch.
  pets  the mixed-task batch on the shared backbone (`make_system("pets")`, as in replays)
  seqs  one dense copy per task, each running its own queries; copies are built
        one at a time (many dense copies would not fit in memory) and their
        median times summed, their bytes added up
  peft  one HF PEFT model over the shared weights with every task as an adapter, one
        mixed-adapter batch padded to its longest query (as the replay's peft system);
        only with the LoRA-only mix, since PEFT serves LoRA tasks alone
pets and peft are timed in turn within each repeat (interleaved, after a warm-up);
seqs copies cannot all be held at once, so each is timed alone. Memory is measured
on the objects each system holds, not derived from a formula. The dashboard's
Scalability page runs this at quick scale; `pets bench scalability` writes a
full-scale CSV under docs/results/.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd
import torch

import pets
from pets.dtypes import resolve_dtype
from pets.batching.policies.base import batch_of_queries
from pets.batching.synthetic import random_queries
from pets.bench.interleave import interleaved_medians
from pets.errors import InvalidSpecError
from pets.pet.mixes import LORA_MIX, PAPER_MIX
from pets.pet.spec import TaskSpec
from pets.serving.systems import make_system
from pets.timing import device_slug, median_time

MIXES: dict[str, tuple[dict, ...]] = {"lora": LORA_MIX, "paper": PAPER_MIX}
Progress = Callable[[float, str], None]
Case = tuple[Callable[[], object], int]  # (one run of the workload, bytes the system holds)


def _pets(eng: pets.PetsEngine, queries: list[pets.Query]) -> Case:
    system, batch = make_system("pets", eng), batch_of_queries(queries)
    return (lambda: system.run(batch)), eng.memory().total


def _peft(eng: pets.PetsEngine, queries: list[pets.Query]) -> Case:
    """HF PEFT mixed-adapter batches, as the `peft` system of replays runs them."""
    system, batch = make_system("peft", eng), batch_of_queries(queries)
    model = system.model
    nbytes = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    return (lambda: system.run(batch)), nbytes


# Systems held side by side and timed interleaved; seqs (dense copies) is timed copy by copy.
SIDE_BY_SIDE: dict[str, Callable[[pets.PetsEngine, list[pets.Query]], Case]] = {"pets": _pets, "peft": _peft}
COMPARED = ("pets", "seqs", "peft")


@dataclass(frozen=True, kw_only=True)
class ScalabilityConfig:
    preset: str = "bert-tiny"
    tasks: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    queries: int = 64
    seq_len: int = 32
    mix: str = "lora"
    systems: tuple[str, ...] = COMPARED
    repeats: int = 3
    device: str = "cpu"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        tasks = tuple(self.tasks)
        if not tasks or any(not isinstance(n, int) or n < 1 for n in tasks):
            raise InvalidSpecError(f"tasks must be positive ints, got {self.tasks!r}")
        object.__setattr__(self, "tasks", tuple(sorted(set(tasks))))
        if self.mix not in MIXES:
            raise InvalidSpecError(f"unknown mix {self.mix!r}; choose {sorted(MIXES)}")
        unknown = [s for s in self.systems if s not in COMPARED]
        if unknown or not self.systems:
            raise InvalidSpecError(f"systems {list(self.systems)} invalid; choose from {COMPARED}")
        if self.queries < max(self.tasks):
            raise InvalidSpecError(f"queries ({self.queries}) must be at least the largest task "
                                   f"count ({max(self.tasks)}) so that every task gets a query")
        if not 1 <= self.seq_len <= 512 or self.repeats < 1:
            raise InvalidSpecError("seq_len must be in 1..512 and repeats >= 1")


SCALES = {"quick": ScalabilityConfig(), "paper": ScalabilityConfig(preset="distilbert")}


def run_scalability(cfg: ScalabilityConfig = SCALES["quick"], *,
                    progress: bool | Progress | None = None) -> pd.DataFrame:
    """One row per (tasks, system): seconds for the workload, queries/s, bytes held.
    `progress`: a callback (fraction, message), or True to print them."""
    if progress is True:
        progress = _print_progress
    dtype = resolve_dtype(cfg.dtype, cfg.device)
    base = pets.PetsEngine.from_preset(cfg.preset, device=cfg.device, dtype=dtype, seed=0)
    systems = [s for s in cfg.systems if s != "peft" or cfg.mix == "lora"]
    rows: list[dict] = []
    for i, n in enumerate(cfg.tasks):
        if progress:
            progress(i / len(cfg.tasks), f"{', '.join(systems)}: {n} tasks")
        eng = _engine_with_tasks(base, n, MIXES[cfg.mix])
        queries = random_queries(list(eng.tasks), [cfg.seq_len] * cfg.queries, eng.config.vocab_size)
        cases = {s: SIDE_BY_SIDE[s](eng, queries) for s in systems if s in SIDE_BY_SIDE}
        seconds = interleaved_medians({s: fn for s, (fn, _) in cases.items()}, cfg.device,
                                      repeats=cfg.repeats)
        measured = {s: (seconds[s], nbytes) for s, (_, nbytes) in cases.items()}
        if "seqs" in systems:
            measured["seqs"] = _seqs(eng, queries, cfg)
        for system in systems:
            secs, nbytes = measured[system]
            rows.append(dict(preset=cfg.preset, mix=cfg.mix, tasks=n, system=system,
                             queries=cfg.queries, seq_len=cfg.seq_len, seconds=secs,
                             throughput_qps=cfg.queries / secs, memory_bytes=nbytes,
                             memory_mib=nbytes / 2**20, device=device_slug(cfg.device)))
    if progress:
        progress(1.0, "done")
    return pd.DataFrame(rows)


def _print_progress(fraction: float, message: str) -> None:
    print(f"[{fraction:4.0%}] {message}", flush=True)


def _engine_with_tasks(base: pets.PetsEngine, n: int, mix: tuple[dict, ...]) -> pets.PetsEngine:
    """A fresh engine over `base`'s backbone (shared, read-only) with n tasks of the mix."""
    eng = pets.PetsEngine(base.backbone, seed=base.seed, padding=base.padding,
                          model_name=base.model_name)
    for i in range(n):
        kind = mix[i % len(mix)]
        eng.add_task(TaskSpec(name=f"{kind['pet']}-{i}", num_labels=2, **kind))
    return eng


def _seqs(eng: pets.PetsEngine, queries: list[pets.Query], cfg: ScalabilityConfig) -> tuple[float, int]:
    """One dense copy per task, built and timed one at a time; seconds and bytes summed."""
    seconds, nbytes = 0.0, 0
    for task in eng.tasks:
        copy = pets.baselines.dense_copy(eng, task)
        batch = batch_of_queries([q for q in queries if q.task == task])
        seconds += median_time(lambda: copy.run(batch), cfg.device, repeats=cfg.repeats, warmup=1)
        nbytes += copy.memory().total
        del copy
    return seconds, nbytes


def summary_lines(df: pd.DataFrame) -> list[str]:
    """Throughput of each system at the largest task count, and pets against the others."""
    top = df[df.tasks == df.tasks.max()].set_index("system")
    lines = [f"{top.tasks.iloc[0]} tasks: " + ", ".join(
        f"{s} {r.throughput_qps:.1f} q/s, {r.memory_mib:.1f} MiB" for s, r in top.iterrows())]
    if "pets" in top.index:
        lines += [f"pets / {s} throughput: {top.throughput_qps['pets'] / top.throughput_qps[s]:.2f}"
                  for s in top.index if s != "pets"]
    return lines
