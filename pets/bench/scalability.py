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
Memory is measured on the objects each system holds, not derived from a formula.
The dashboard's Scalability page runs this at quick scale; `python -m
pets.bench.scalability` writes a full-scale CSV under docs/results/.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

import pets
from pets.batching.policies.base import batch_of_queries
from pets.batching.synthetic import random_queries
from pets.errors import InvalidSpecError
from pets.pet.mixes import LORA_MIX, PAPER_MIX
from pets.pet.spec import TaskSpec
from pets.serving.systems import make_system
from pets.timing import device_slug, median_time

MIXES: dict[str, tuple[dict, ...]] = {
    "lora": LORA_MIX,
    "paper": PAPER_MIX,
}
SYSTEMS = ("pets", "seqs", "peft")
Progress = Callable[[float, str], None]


@dataclass(frozen=True, kw_only=True)
class ScalabilityConfig:
    preset: str = "bert-tiny"
    tasks: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    queries: int = 64
    seq_len: int = 32
    mix: str = "lora"
    systems: tuple[str, ...] = SYSTEMS
    repeats: int = 3
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        tasks = tuple(self.tasks)
        if not tasks or any(not isinstance(n, int) or n < 1 for n in tasks):
            raise InvalidSpecError(f"tasks must be positive ints, got {self.tasks!r}")
        object.__setattr__(self, "tasks", tuple(sorted(set(tasks))))
        if self.mix not in MIXES:
            raise InvalidSpecError(f"unknown mix {self.mix!r}; choose {sorted(MIXES)}")
        unknown = [s for s in self.systems if s not in SYSTEMS]
        if unknown or not self.systems:
            raise InvalidSpecError(f"systems {list(self.systems)} invalid; choose from {SYSTEMS}")
        if self.queries < max(self.tasks):
            raise InvalidSpecError(f"queries ({self.queries}) must be at least the largest task "
                                   f"count ({max(self.tasks)}) so that every task gets a query")
        if not 1 <= self.seq_len <= 512 or self.repeats < 1:
            raise InvalidSpecError("seq_len must be in 1..512 and repeats >= 1")


def run_scalability(cfg: ScalabilityConfig = ScalabilityConfig(), *,
                    progress: Progress | None = None) -> pd.DataFrame:
    """One row per (tasks, system): seconds for the workload, queries/s, bytes held."""
    dtype = getattr(torch, cfg.dtype)
    base = pets.PetsEngine.from_preset(cfg.preset, device=cfg.device, dtype=dtype, seed=0)
    systems = [s for s in cfg.systems if s != "peft" or cfg.mix == "lora"]
    steps, done = len(cfg.tasks) * len(systems), 0
    rows: list[dict] = []
    for n in cfg.tasks:
        eng = _engine_with_tasks(base, n, MIXES[cfg.mix])
        queries = random_queries(list(eng.tasks), [cfg.seq_len] * cfg.queries, eng.config.vocab_size)
        for system in systems:
            if progress:
                progress(done / steps, f"{system}, {n} tasks")
            seconds, nbytes = MEASURES[system](eng, queries, cfg)
            rows.append(dict(preset=cfg.preset, mix=cfg.mix, tasks=n, system=system,
                             queries=cfg.queries, seq_len=cfg.seq_len, seconds=seconds,
                             throughput_qps=cfg.queries / seconds, memory_bytes=nbytes,
                             memory_mib=nbytes / 2**20, device=device_slug(cfg.device)))
            done += 1
    if progress:
        progress(1.0, "done")
    return pd.DataFrame(rows)


def _engine_with_tasks(base: pets.PetsEngine, n: int, mix: tuple[dict, ...]) -> pets.PetsEngine:
    """A fresh engine over `base`'s backbone (shared, read-only) with n tasks of the mix."""
    eng = pets.PetsEngine(base.backbone, seed=base.seed, padding=base.padding,
                          model_name=base.model_name)
    for i in range(n):
        kind = mix[i % len(mix)]
        eng.add_task(TaskSpec(name=f"{kind['pet']}-{i}", num_labels=2, **kind))
    return eng


def _time(fn: Callable[[], object], cfg: ScalabilityConfig) -> float:
    return median_time(fn, cfg.device, repeats=cfg.repeats, warmup=1)


def _pets(eng: pets.PetsEngine, queries: list[pets.Query], cfg) -> tuple[float, int]:
    system, batch = make_system("pets", eng), batch_of_queries(queries)
    return _time(lambda: system.run(batch), cfg), eng.memory().total


def _seqs(eng: pets.PetsEngine, queries: list[pets.Query], cfg) -> tuple[float, int]:
    seconds, nbytes = 0.0, 0
    for task in eng.tasks:
        copy = pets.baselines.dense_copy(eng, task)
        batch = batch_of_queries([q for q in queries if q.task == task])
        seconds += _time(lambda: copy.run(batch), cfg)
        nbytes += copy.memory().total
        del copy
    return seconds, nbytes


def _peft(eng: pets.PetsEngine, queries: list[pets.Query], cfg) -> tuple[float, int]:
    """HF PEFT mixed-adapter batches, as the `peft` system of replays runs them."""
    system, batch = make_system("peft", eng), batch_of_queries(queries)
    model = system.model
    nbytes = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
    return _time(lambda: system.run(batch), cfg), nbytes


MEASURES: dict[str, Callable[..., tuple[float, int]]] = {"pets": _pets, "seqs": _seqs, "peft": _peft}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="distilbert")
    p.add_argument("--tasks", default="1,2,4,8,16,32", help="comma-separated task counts")
    p.add_argument("--queries", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--mix", default="lora", choices=sorted(MIXES))
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="CSV (default docs/results/<device>/scalability-<preset>.csv)")
    a = p.parse_args(argv)
    cfg = ScalabilityConfig(preset=a.preset, tasks=tuple(int(n) for n in a.tasks.split(",")),
                            queries=a.queries, seq_len=a.seq_len, mix=a.mix, repeats=a.repeats,
                            device=a.device)
    df = run_scalability(cfg, progress=lambda f, msg: print(f"[{f:4.0%}] {msg}", flush=True))
    out = Path(a.out or f"docs/results/{device_slug(a.device)}/scalability-{a.preset}.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out, index=False)
    print(df.to_string(index=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
