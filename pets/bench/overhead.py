"""`pets bench overhead`: what serving many PET tasks in one batch costs.

Side by side, in one run, on the same queries (one per task, fixed length):
  base     the shared model alone, no PET ops: the limit
  pets     the mixed-task batch
  seqs     each task on its own dense copy (merged weights), our backbone code
  seqs-hf  the same with `transformers` models
  peft     HF PEFT mixed-adapter batch over the LoRA tasks only; compared with
           base-hf and pets on those same queries
Per-task copies are built one at a time (64 dense bert-base copies would not
fit in memory); each is timed alone and the medians are summed.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from tqdm.auto import tqdm

import pets
from pets.batching.batch import batch_by_task
from pets.batching.synthetic import random_queries
from pets.bench.workloads import mixed_engine
from pets.timing import median_time


@dataclass(frozen=True, kw_only=True)
class OverheadConfig:
    preset: str = "bert-base"
    tasks: int = 64
    seq_len: int = 64
    repeats: int = 5
    device: str = "cpu"
    dtype: str = "float32"
    padding: str | None = None
    systems: tuple[str, ...] = ("base", "pets", "seqs", "seqs-hf", "peft")


def run_overhead(cfg: OverheadConfig = OverheadConfig(), *, progress: bool = True) -> pd.DataFrame:
    dtype = getattr(torch, cfg.dtype)
    eng = mixed_engine(cfg.preset, cfg.tasks, device=cfg.device, dtype=dtype)
    names = list(eng.tasks)
    queries = random_queries(names, [cfg.seq_len] * cfg.tasks, eng.config.vocab_size)
    batch = batch_by_task(queries)[0]
    padding = cfg.padding or eng.padding
    timer = lambda fn: median_time(fn, cfg.device, repeats=cfg.repeats)  # noqa: E731

    rows: list[dict] = []

    def add(system: str, seconds: float, n_queries: int, note: str = "") -> None:
        rows.append(dict(system=system, queries=n_queries, tokens=n_queries * cfg.seq_len,
                         median_s=seconds, queries_per_s=n_queries / seconds, note=note))

    steps = tqdm(total=len(cfg.systems), desc="overhead", disable=not progress)
    for system in cfg.systems:
        steps.set_postfix_str(system)
        if system == "base":
            add("base", timer(lambda: eng.run(batch, padding=padding, pet_ops=False)), len(queries),
                "shared model, no PET ops")
        elif system == "pets":
            add("pets", timer(lambda: eng.run(batch, padding=padding)), len(queries),
                f"{cfg.tasks} tasks in one batch, padding={padding}")
        elif system == "seqs":
            add("seqs", _seqs(eng, queries, timer), len(queries), "one dense copy per task, our code")
        elif system == "seqs-hf":
            add("seqs-hf", _seqs_hf(eng, queries, timer), len(queries),
                "one dense copy per task, transformers")
        elif system == "peft":
            rows.extend(_peft_rows(eng, queries, timer, padding, cfg))
        steps.update()
    steps.close()
    df = pd.DataFrame(rows)
    base = df.loc[df.system == "base", "queries_per_s"]
    if len(base):
        df["vs_base"] = df.queries_per_s / base.iloc[0]
    pets_qps = df.loc[df.system == "pets", "queries_per_s"]
    if len(pets_qps):
        df["pets_speedup"] = pets_qps.iloc[0] / df.queries_per_s
    for k in ("preset", "device", "dtype", "seq_len"):
        df[k] = getattr(cfg, k)
    return df


def _per_task(eng, queries, timer, desc: str, build) -> float:
    """Sum over tasks of timing `build(task, queries)()` on a per-task dense model, built
    (untimed) and freed one task at a time so only one copy is alive."""
    total = 0.0
    for task, qs in tqdm(batch_by_task(queries)[0].task_queries.items(), desc=desc, leave=False):
        run = build(task, qs)
        total += timer(run)
        del run
    return total


def _seqs(eng, queries, timer) -> float:
    def build(task, qs):
        copy = pets.baselines.dense_copy(eng, task)
        return lambda: copy.infer(qs)
    return _per_task(eng, queries, timer, "seqs copies", build)


def _seqs_hf(eng, queries, timer) -> float:
    def build(task, qs):
        model = pets.baselines.dense_model(eng, task)
        ids = torch.tensor([q.input_ids for q in qs], device=eng.backbone.device)

        def run():
            with torch.inference_mode():
                return model(input_ids=ids)
        return run
    return _per_task(eng, queries, timer, "seqs-hf copies", build)


def _peft_rows(eng, queries, timer, padding, cfg) -> list[dict]:
    """PEFT mixed-adapter batch over the LoRA tasks vs the HF base and pets on those queries."""
    lora = [q for q in queries if eng.tasks[q.task].pet == "lora"]
    if not lora:
        return []
    model = pets.baselines.peft_model(eng, list(dict.fromkeys(q.task for q in lora)))
    ids = torch.tensor([q.input_ids for q in lora], device=eng.backbone.device)
    names = [q.task for q in lora]

    def run_peft():
        with torch.inference_mode():
            return model(input_ids=ids, adapter_names=names)

    def run_base():
        with torch.inference_mode(), model.disable_adapter():
            return model(input_ids=ids)

    lora_batch = batch_by_task(lora)[0]
    n = len(lora)
    out = []
    for system, fn, note in (
            ("base-hf[lora]", run_base, "transformers base model, LoRA tasks' queries"),
            ("peft[lora]", run_peft, f"PEFT mixed-adapter batch, {len(set(names))} LoRA tasks"),
            ("pets[lora]", lambda: eng.run(lora_batch, padding=padding), "pets on the same queries")):
        t = timer(fn)
        out.append(dict(system=system, queries=n, tokens=n * cfg.seq_len, median_s=t,
                        queries_per_s=n / t, note=note))
    base_qps = out[0]["queries_per_s"]
    for row in out:
        row["vs_base_hf"] = row["queries_per_s"] / base_qps
    return out


def summary_lines(df: pd.DataFrame) -> list[str]:
    """The headline ratios of an overhead run, as printed by the CLI."""
    qps = dict(zip(df.system, df.queries_per_s))
    pairs = [("pets", "base"), ("pets", "seqs"), ("pets", "seqs-hf"), ("base", "seqs"),
             ("peft[lora]", "base-hf[lora]"), ("pets[lora]", "peft[lora]")]
    return [f"{a} / {b} throughput: {qps[a] / qps[b]:.3f}" for a, b in pairs if a in qps and b in qps]
