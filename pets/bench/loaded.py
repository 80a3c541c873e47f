"""`pets bench loaded`: a batch costs what its own tasks cost, however many are loaded.

Engines holding 64, 1,000 and 10,000 tasks (LoRA r8 and BitFit, alternating)
run the same kind of batch: 64 queries over 64 tasks drawn at random from the
loaded ones (so their slots lie anywhere in the stores), timed in interleaved
rounds. Reports the per-batch median and its spread per load level, the ratio
to the smallest level, and the memory per loaded task.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm

import pets
from pets.batching.batch import batch_by_task
from pets.batching.synthetic import random_queries
from pets.bench.interleave import interleaved_times, spread
from pets.dtypes import dtype_name
from pets.errors import InvalidSpecError

MIX = (dict(pet="lora", rank=8, alpha=16), dict(pet="bitfit"))


@dataclass(frozen=True, kw_only=True)
class LoadedConfig:
    preset: str = "bert-tiny"
    loaded: tuple[int, ...] = (64, 1_000, 10_000)
    batch_tasks: int = 64
    seq_len: int = 16
    repeats: int = 9
    device: str = "cpu"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        if not self.loaded or min(self.loaded) < self.batch_tasks:
            raise InvalidSpecError(f"every load level must hold at least the batch's "
                                   f"{self.batch_tasks} tasks, got {self.loaded}")


SCALES = {"quick": LoadedConfig(loaded=(64, 1_000), repeats=5), "paper": LoadedConfig()}


def run_loaded(cfg: LoadedConfig = LoadedConfig(), *, progress: bool = True) -> pd.DataFrame:
    rng = random.Random(0)
    engines, batches = {}, {}
    for n in tqdm(cfg.loaded, desc="loading", disable=not progress):
        eng = pets.PetsEngine.from_preset(cfg.preset, device=cfg.device, dtype=cfg.dtype, seed=0)
        for i in range(n):
            eng.add_task(pets.TaskSpec(name=f"t{i}", num_labels=2, **MIX[i % len(MIX)]))
        names = rng.sample(sorted(eng.tasks), cfg.batch_tasks)
        queries = random_queries(names, [cfg.seq_len] * len(names), eng.config.vocab_size, seed=1)
        engines[n], batches[n] = eng, batch_by_task(queries)[0]
    cases = {n: (lambda n=n: engines[n].run(batches[n])) for n in cfg.loaded}
    times = interleaved_times(cases, cfg.device, repeats=cfg.repeats, warmup=2)
    rows = []
    for n, samples in times.items():
        med, low, high = spread(samples)
        mem = engines[n].memory()
        rows.append(dict(loaded=n, batch_queries=cfg.batch_tasks, median_ms=med * 1e3,
                         iqr_low_ms=low * 1e3, iqr_high_ms=high * 1e3,
                         bytes_per_task=(mem.total - mem.shared) / n, reserved_bytes=mem.reserved))
    df = pd.DataFrame(rows)
    df["vs_fewest"] = df.median_ms / df.median_ms.iloc[0]
    df["preset"], df["device"] = cfg.preset, cfg.device
    df["dtype"] = dtype_name(next(iter(engines.values())).backbone.dtype)
    return df


def summary_lines(df: pd.DataFrame) -> list[str]:
    return [f"{r.loaded:6d} tasks loaded: {r.median_ms:7.2f} ms per 64-query batch "
            f"(IQR {r.iqr_low_ms:.2f}-{r.iqr_high_ms:.2f}), {r.vs_fewest:.3f}x the fewest; "
            f"{r.bytes_per_task / 1024:.1f} KiB per task" for r in df.itertuples()]
