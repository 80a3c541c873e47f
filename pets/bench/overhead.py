"""`pets bench overhead`: what serving many PET tasks in one batch costs, per query length.

For each length, on the same queries (one per task), timed side by side in
interleaved rounds (A B A B after a warm-up), in the engine's dtype (default
`auto`: the device's fastest native one):
  base     the shared model alone over the whole batch, no PET ops: the limit
  pets     the mixed-task batch (shared ops once, one PET operator per slot group
           and hook point)
  seqs     per-task serving: each task's query run as its own batch through a
           dense model. The shared weights stand in for each task's merged copy
           (same shapes, same cost), so 64 copies need not fit in memory.
  seqs-copies  (optional) the same on real per-task dense copies, built one at a
           time, each timed alone; the sum of their medians
  seqs-hf  (optional) the same with `transformers` models
  peft     HF PEFT mixed-adapter batch over the LoRA tasks only, beside base-hf and
           pets on those same queries
Each row carries the median, the interquartile range and, for pets, the host
time per batch (laying out rows + building PET operators).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import pandas as pd
import torch
from tqdm.auto import tqdm

import pets
from pets.batching.batch import batch_by_task
from pets.batching.synthetic import random_queries
from pets.bench.interleave import interleaved_times, spread
from pets.bench.workloads import mixed_engine
from pets.dtypes import dtype_name
from pets.engine.trace import OpTrace
from pets.errors import InvalidSpecError
from pets.timing import median_time, sync

SYSTEMS = ("base", "pets", "seqs", "seqs-copies", "seqs-hf", "peft")


@dataclass(frozen=True, kw_only=True)
class OverheadConfig:
    preset: str = "bert-base"
    tasks: int = 64
    seq_lens: tuple[int, ...] = (16, 64)
    repeats: int = 5
    device: str = "cpu"
    dtype: str = "auto"
    padding: str | None = None
    systems: tuple[str, ...] = ("base", "pets", "seqs", "peft")

    def __post_init__(self) -> None:
        unknown = sorted(set(self.systems) - set(SYSTEMS))
        if unknown:
            raise InvalidSpecError(f"unknown system(s) {unknown}; choose from {list(SYSTEMS)}")
        if not self.seq_lens or min(self.seq_lens) < 1:
            raise InvalidSpecError(f"seq_lens must be positive lengths, got {self.seq_lens}")


SCALES = {
    "quick": OverheadConfig(),
    "paper": OverheadConfig(seq_lens=(8, 16, 32, 64, 128), repeats=7,
                            systems=("base", "pets", "seqs", "seqs-hf", "peft")),
}


def run_overhead(cfg: OverheadConfig = OverheadConfig(), *, progress: bool = True) -> pd.DataFrame:
    eng = mixed_engine(cfg.preset, cfg.tasks, device=cfg.device, dtype=cfg.dtype)
    rows: list[dict] = []
    for seq_len in tqdm(cfg.seq_lens, desc="overhead", disable=not progress):
        rows.extend(_one_length(eng, cfg, seq_len, progress))
    df = pd.DataFrame(rows)
    for ratio, system in (("vs_base", "base"), ("vs_seqs", "seqs")):
        ref = df[df.system == system].set_index("seq_len").queries_per_s
        if len(ref):
            df[ratio] = df.queries_per_s / df.seq_len.map(ref)
    df["preset"], df["device"] = cfg.preset, cfg.device
    df["dtype"] = dtype_name(eng.backbone.dtype)
    return df


def _one_length(eng: pets.PetsEngine, cfg: OverheadConfig, seq_len: int, progress: bool) -> list[dict]:
    names = list(eng.tasks)
    queries = random_queries(names, [seq_len] * len(names), eng.config.vocab_size, seed=seq_len)
    batch = batch_by_task(queries)[0]
    per_task = [batch_by_task(qs)[0] for qs in batch.task_queries.values()]
    padding = cfg.padding or eng.padding
    cases = {
        "base": lambda: eng.run(batch, padding=padding, pet_ops=False),
        "pets": lambda: eng.run(batch, padding=padding),
        "seqs": lambda: [eng.run(b, padding=padding, pet_ops=False) for b in per_task],
    }
    cases = {k: fn for k, fn in cases.items() if k in cfg.systems}
    times = interleaved_times(cases, cfg.device, repeats=cfg.repeats)
    notes = {"base": "shared model alone, no PET ops", "pets": f"{len(names)} tasks in one batch",
             "seqs": "each task's query on its own (shared weights stand in for its dense copy)"}
    rows = [_row(system, seq_len, len(queries), t, notes[system]) for system, t in times.items()]
    if "pets" in cases:
        host, ops = _traced(eng, batch, padding, cfg.device, runs=max(3, cfg.repeats))
        rows[list(times).index("pets")].update(host_ms=host * 1e3, pet_ops_ms=ops * 1e3)
    timer = lambda fn: median_time(fn, cfg.device, repeats=cfg.repeats)  # noqa: E731
    if "seqs-copies" in cfg.systems:
        rows.append(_row("seqs-copies", seq_len, len(queries), [_seqs_copies(eng, queries, timer)],
                         "one real dense copy per task, built and timed one at a time"))
    if "seqs-hf" in cfg.systems:
        rows.append(_row("seqs-hf", seq_len, len(queries), [_seqs_hf(eng, queries, timer)],
                         "one transformers dense copy per task, timed one at a time"))
    if "peft" in cfg.systems:
        rows.extend(_peft_rows(eng, queries, padding, cfg, seq_len))
    return rows


def _traced(eng, batch, padding, device, runs: int) -> tuple[float, float]:
    """Medians over `runs` traced runs: host seconds per batch (row layout + building PET
    operators) and seconds inside PET operator calls."""
    host, ops = [], []
    trace = OpTrace(device)
    for _ in range(runs):
        trace.reset()
        eng.run(batch, padding=padding, trace=trace)
        sync(device)
        host.append(trace.layout_s + trace.build_s)
        ops.append(trace.op_seconds())
    return statistics.median(host), statistics.median(ops)


def _row(system: str, seq_len: int, n: int, samples: list[float], note: str) -> dict:
    med, low, high = spread(samples)
    return dict(system=system, seq_len=seq_len, queries=n, tokens=n * seq_len, median_s=med,
                iqr_low_s=low, iqr_high_s=high, queries_per_s=n / med, note=note)


def _per_task(queries, timer, desc: str, build) -> float:
    """Sum over tasks of timing `build(task, queries)()` on a per-task dense model, built
    (untimed) and freed one task at a time so only one copy is alive."""
    total = 0.0
    for task, qs in tqdm(batch_by_task(queries)[0].task_queries.items(), desc=desc, leave=False):
        run = build(task, qs)
        total += timer(run)
        del run
    return total


def _seqs_copies(eng, queries, timer) -> float:
    def build(task, qs):
        copy = pets.baselines.dense_copy(eng, task)
        return lambda: copy.infer(qs)
    return _per_task(queries, timer, "seqs copies", build)


def _seqs_hf(eng, queries, timer) -> float:
    def build(task, qs):
        model = pets.baselines.dense_model(eng, task)
        ids = torch.tensor([q.input_ids for q in qs], device=eng.backbone.device)

        def run():
            with torch.inference_mode():
                return model(input_ids=ids)
        return run
    return _per_task(queries, timer, "seqs-hf copies", build)


def _peft_rows(eng, queries, padding, cfg, seq_len: int) -> list[dict]:
    """PEFT mixed-adapter batch over the LoRA tasks vs the HF base and pets on those queries."""
    lora = [q for q in queries if eng.tasks[q.task].pet == "lora"]
    if not lora:
        return []
    model = pets.baselines.peft_model(eng, list(dict.fromkeys(q.task for q in lora)))
    ids = torch.tensor([q.input_ids for q in lora], device=eng.backbone.device)
    names = [q.task for q in lora]
    lora_batch = batch_by_task(lora)[0]

    def run_peft():
        with torch.inference_mode():
            return model(input_ids=ids, adapter_names=names)

    def run_base():
        with torch.inference_mode(), model.disable_adapter():
            return model(input_ids=ids)

    cases = {"base-hf[lora]": run_base, "peft[lora]": run_peft,
             "pets[lora]": lambda: eng.run(lora_batch, padding=padding)}
    notes = {"base-hf[lora]": "transformers base model, LoRA tasks' queries",
             "peft[lora]": f"PEFT mixed-adapter batch, {len(set(names))} LoRA tasks",
             "pets[lora]": "pets on the same queries"}
    times = interleaved_times(cases, cfg.device, repeats=cfg.repeats)
    out = [_row(k, seq_len, len(lora), t, notes[k]) for k, t in times.items()]
    for row in out:
        row["vs_base_hf"] = row["queries_per_s"] / out[0]["queries_per_s"]
    return out


def summary_lines(df: pd.DataFrame) -> list[str]:
    """The headline ratios of an overhead run per query length, as printed by the CLI."""
    pairs = [("pets", "base"), ("pets", "seqs"), ("pets", "seqs-copies"), ("pets", "seqs-hf"),
             ("base", "seqs"), ("peft[lora]", "base-hf[lora]"), ("pets[lora]", "peft[lora]")]
    lines = [f"{df.preset.iloc[0]} on {df.device.iloc[0]} in {df.dtype.iloc[0]}, "
             f"{df[df.system == 'pets'].queries.iloc[0] if (df.system == 'pets').any() else '?'} tasks, "
             "one query each"]
    for seq_len, part in df.groupby("seq_len"):
        rows = part.set_index("system")
        ratios = [f"{a}/{b} {rows.queries_per_s[a] / rows.queries_per_s[b]:.2f}"
                  for a, b in pairs if a in rows.index and b in rows.index]
        spread_txt = ""
        if "pets" in rows.index:
            r = rows.loc["pets"]
            spread_txt = (f"; pets {r.queries_per_s:.1f} q/s (IQR {r.queries / r.iqr_high_s:.1f}-"
                          f"{r.queries / r.iqr_low_s:.1f}), host {r.get('host_ms', float('nan')):.1f} ms"
                          f"/batch, PET ops {r.get('pet_ops_ms', float('nan')):.1f} ms")
        lines.append(f"{seq_len:4d} tokens: " + ", ".join(ratios) + spread_txt)
        lines.extend(_implausible(rows, seq_len))
    return lines


def _implausible(rows: pd.DataFrame, seq_len: int) -> list[str]:
    """Orderings that cannot be right on a quiet machine: the shared model alone (base) slower
    than pets or seqs by more than their spreads, i.e. the run was disturbed; re-run it."""
    out = []
    if "base" not in rows.index:
        return out
    noisy = [s for s in ("base", "pets", "seqs") if s in rows.index
             and rows.loc[s].iqr_high_s - rows.loc[s].iqr_low_s > 0.25 * rows.loc[s].median_s]
    if noisy:
        out.append(f"  WARNING {seq_len} tokens: the spread of {', '.join(noisy)} exceeds 25% of the "
                   f"median; the machine was busy, re-run on an idle one before reading ratios")
    base_fast = rows.loc["base"].iqr_low_s
    for other in ("pets", "seqs"):
        if other in rows.index and rows.loc[other].iqr_high_s < base_fast:
            out.append(f"  WARNING {seq_len} tokens: {other} beat the shared model alone beyond the "
                       f"spread; the machine was busy during this run, re-run it on an idle one")
    return out
