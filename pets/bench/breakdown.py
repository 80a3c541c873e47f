"""`pets bench breakdown` (paper Fig. 9): time in shared vs PET operators, per PET type.

8 tasks of one PET type (or the four-type mix), fixed-length queries, one batch.
Two measures, side by side in each row:

* traced (`pet_share`): the batch runs on the real path with an `OpTrace`, so
  that laying out the batch and building its PET operators (host) and every
  PET operator call are timed (CUDA events on a GPU, so PET ops are timed
  on the device without extra synchronisation). Shared = the rest: embeddings,
  the dense GEMMs, attention, LayerNorms, pooler and heads.
* difference (`pet_share_by_difference`): 1 - base / pets, with `base` the same
  batch through the shared model with no PET ops. It also counts what wrapping
  cannot see (e.g. cache effects of PET ops on the shared GEMMs).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import pandas as pd
import torch
from tqdm.auto import tqdm

import pets
from pets.dtypes import resolve_dtype
from pets.bench.fixedlen import PAPER_SHAPES, SHORT_SHAPES, fixed_batch, shape_label
from pets.config import preset as model_preset
from pets.engine.backbone import Backbone
from pets.engine.trace import OpTrace
from pets.errors import InvalidSpecError
from pets.pet.mixes import PET_GROUPS
from pets.timing import time_once


@dataclass(frozen=True, kw_only=True)
class BreakdownConfig:
    preset: str = "distilbert"
    tasks: int = 8
    shapes: tuple[tuple[int, int], ...] = ((2, 64),)
    groups: tuple[str, ...] = tuple(PET_GROUPS)
    repeats: int = 3
    padding: str | None = None
    device: str = "cpu"
    dtype: str = "auto"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.groups) - set(PET_GROUPS))
        if unknown:
            raise InvalidSpecError(f"unknown group(s) {unknown}; choose from {list(PET_GROUPS)}")


SCALES = {
    "quick": BreakdownConfig(preset="distilbert", shapes=((2, 64),), repeats=3),
    "paper": BreakdownConfig(preset="bert-base", shapes=PAPER_SHAPES, repeats=5),
    "short": BreakdownConfig(preset="bert-base", shapes=SHORT_SHAPES[:2], repeats=5),
}


def run_breakdown(cfg: BreakdownConfig = SCALES["quick"], *, progress: bool = True) -> pd.DataFrame:
    """One row per (group, shape): pets_s, base_s, pet_ops_s, pet_build_s, shared_s, shares."""
    backbone = Backbone.random(model_preset(cfg.preset), seed=0, device=cfg.device,
                               dtype=resolve_dtype(cfg.dtype, cfg.device))
    rows = []
    cells = [(g, s) for g in cfg.groups for s in cfg.shapes]
    engines: dict[str, pets.PetsEngine] = {}
    for group, shape in tqdm(cells, desc="breakdown", disable=not progress):
        if group not in engines:
            engines.clear()  # one group's tasks alive at a time
            engines[group] = _engine(backbone, group, cfg)
        rows.append(dict(group=group, shape=shape_label(shape), tasks=cfg.tasks,
                         **_measure(engines[group], shape, cfg)))
    df = pd.DataFrame(rows)
    df["shared_s"] = df.instrumented_s - df.pet_ops_s - df.pet_build_s
    df["pet_share"] = (df.pet_ops_s + df.pet_build_s) / df.instrumented_s
    df["pet_share_by_difference"] = 1 - df.base_s / df.pets_s
    df["preset"], df["device"] = cfg.preset, cfg.device
    return df


def _engine(backbone: Backbone, group: str, cfg: BreakdownConfig) -> pets.PetsEngine:
    eng = pets.PetsEngine(backbone, model_name=cfg.preset)
    mix = PET_GROUPS[group]
    for i in range(cfg.tasks):
        eng.add_task(pets.TaskSpec(name=f"{group}-{i}", num_labels=2, **mix[i % len(mix)]))
    return eng


def _measure(eng: pets.PetsEngine, shape: tuple[int, int], cfg: BreakdownConfig) -> dict:
    padding = cfg.padding or eng.padding
    batch = fixed_batch(list(eng.tasks), shape, eng.config.vocab_size)
    timer = OpTrace(cfg.device)
    cases = {"pets": lambda: eng.run(batch, padding=padding),
             "base": lambda: eng.run(batch, padding=padding, pet_ops=False),
             "instrumented": lambda: eng.run(batch, padding=padding, trace=timer)}
    for fn in cases.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in (*cases, "ops", "build")}
    for _ in range(cfg.repeats):  # the three in turn, so drift hits all alike
        for name, fn in cases.items():
            timer.reset()
            times[name].append(time_once(fn, cfg.device))  # synchronises the device
            if name == "instrumented":
                times["ops"].append(timer.op_seconds())
                times["build"].append(timer.build_s)
    med = {k: statistics.median(v) for k, v in times.items()}
    return dict(queries=len(batch), pets_s=med["pets"], base_s=med["base"],
                instrumented_s=med["instrumented"], pet_ops_s=med["ops"], pet_build_s=med["build"])


def summary_lines(df: pd.DataFrame) -> list[str]:
    return [f"{r.group:8s} {r.shape}: PET operators {r.pet_share:6.1%} of the batch time "
            f"(by difference with the shared model alone: {r.pet_share_by_difference:6.1%})"
            for r in df.itertuples()]
