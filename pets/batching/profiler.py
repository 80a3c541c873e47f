"""Measuring alpha and beta on the current device (`pets profile`).

alpha(B, L): one batch of B queries of L tokens through the shared model with
no PET ops (layout, encoder, pooler). beta(pet, B, L): the same batch for one
task of that type on the real path with an `OpTrace`: building its PET
operators plus every PET operator call, i.e. exactly the work PET ops add.
"""
from __future__ import annotations

import statistics
from typing import Callable, Iterable, Mapping, Sequence

import pandas as pd
import torch
from tqdm.auto import tqdm

import pets
from pets.batching.analytic import GRID_BATCHES, GRID_SEQS
from pets.batching.synthetic import random_queries
from pets.engine.trace import OpTrace
from pets.pet.mixes import PAPER_MIX
from pets.timing import sync, time_once


RECHECK_TOLERANCE = 0.05  # a cell this much slower than a larger shape's is measured again
RECHECKS = 2  # passes over such cells
Cell = tuple[str, str, int, int]  # (op, pet, batch, seq)


def profile_engine(eng: pets.PetsEngine, *, batches: Iterable[int] = GRID_BATCHES,
                   seqs: Iterable[int] = GRID_SEQS, repeats: int = 3, warmup: int = 1,
                   progress: bool = True) -> pd.DataFrame:
    """Measure the alpha/beta grid on `eng`'s device; returns rows in PROFILE_COLUMNS order.

    More queries or tokens never take less time, so a cell measured slower than the next
    larger batch or length of its op was disturbed (a cold cache, another process): such
    cells are measured again, up to RECHECKS times, keeping the lower median (noise on a
    shared machine only adds time). Without this, one slow cell (distilbert bf16: 4 queries
    of 16 tokens at 25.8 ms, twice 2 x 16 and more than 4 x 32) raised the monotone grid
    around it and made the planners split batches that run faster whole."""
    eng = pets.PetsEngine(eng.backbone, seed=eng.seed, model_name=eng.model_name)
    for kw in PAPER_MIX:
        eng.add_task(pets.TaskSpec(name=f"probe-{kw['pet']}", **kw))
    batches, seqs = sorted(batches), sorted(seqs)
    ops = [("alpha", "")] + [("beta", kw["pet"]) for kw in PAPER_MIX]
    cells = [(op, pet, b, s) for b in batches for s in seqs for op, pet in ops]
    times: dict[Cell, list[float]] = {}
    bar = tqdm(cells, desc=f"profile {eng.model_name}", disable=not progress)
    for cell in bar:
        bar.set_postfix_str("{} {} b={} s={}".format(*cell))
        times[cell] = _cell_times(eng, cell, repeats, warmup)
    for _ in range(RECHECKS):
        medians = {c: statistics.median(t) for c, t in times.items()}
        again = implausible(medians, batches, seqs)
        for cell in tqdm(again, desc="re-measure implausible cells", disable=not progress):
            retry = _cell_times(eng, cell, repeats, warmup)
            if statistics.median(retry) < medians[cell]:
                times[cell] = retry
    return pd.DataFrame([dict(op=op, pet=pet, batch=b, seq=s, median_s=statistics.median(t),
                              mean_s=statistics.fmean(t), std_s=statistics.pstdev(t),
                              repeats=len(t))
                         for (op, pet, b, s), t in times.items()])



def implausible(medians: Mapping[Cell, float], batches: Sequence[int],
                seqs: Sequence[int]) -> list[Cell]:
    """Cells more than RECHECK_TOLERANCE slower than the next larger batch or length of the
    same op, in grid order."""
    larger = dict(zip(batches, batches[1:]))
    longer = dict(zip(seqs, seqs[1:]))
    out = []
    for (op, pet, b, s), v in medians.items():
        bigger = [medians.get((op, pet, larger.get(b), s)), medians.get((op, pet, b, longer.get(s)))]
        if any(n is not None and v > (1 + RECHECK_TOLERANCE) * n for n in bigger):
            out.append((op, pet, b, s))
    return out


def _cell_times(eng, cell: Cell, repeats: int, warmup: int) -> list[float]:
    """Seconds of each repetition of one grid cell."""
    op, pet, b, s = cell
    task = f"probe-{pet or 'lora'}"
    batch = pets.batching.batch_by_task(random_queries([task], [s] * b, eng.config.vocab_size))[0]
    if op == "alpha":
        return _measure(_alpha_run(eng, batch), eng.backbone.device, repeats, warmup)
    return _beta_times(eng, batch, repeats, warmup)


def _alpha_run(eng, batch) -> Callable[[], Callable[[], object]]:
    return lambda: (lambda: eng.run(batch, padding="none", pet_ops=False))


def _beta_times(eng, batch, repeats: int, warmup: int) -> list[float]:
    """Per repetition: the batch on the real path with an OpTrace; beta = building its
    PET operators (host) + the PET operator calls, exactly the work PET ops add."""
    device = eng.backbone.device
    trace = OpTrace(device)
    times = []
    for i in range(warmup + repeats):
        trace.reset()
        eng.run(batch, padding="none", trace=trace)
        sync(device)
        if i >= warmup:
            times.append(trace.build_s + trace.op_seconds())
    return times


@torch.inference_mode()
def _measure(setup, device, repeats: int, warmup: int) -> list[float]:
    times = []
    for i in range(warmup + repeats):
        fn = setup()
        sync(device)
        elapsed = time_once(fn, device)
        if i >= warmup:
            times.append(elapsed)
    return times


def calibrate(eng: pets.PetsEngine, profile: pd.DataFrame, *, batches: int = 30,
              repeats: int = 2, seed: int = 12345, progress: bool = True) -> float:
    """Median of measured / predicted latency over random mixed batches of the paper's mix.

    The grid times shared and PET ops in isolation; real mixed batches also pay for
    building many segments' operators and for the ops disturbing each other's caches.
    The seed differs from `pets bench costmodel`'s, so that benchmark stays held-out.
    """
    from pets.batching.cost import CostModel
    from pets.batching.synthetic import random_batches
    from pets.pet.mixes import round_robin_specs

    eng = pets.PetsEngine(eng.backbone, seed=eng.seed, model_name=eng.model_name)
    for spec in round_robin_specs(32):
        eng.add_task(spec)
    cost = CostModel.from_frame(profile[profile.op != "scale"]).with_tasks(eng.tasks)
    ratios = []
    for batch in tqdm(random_batches(eng, batches, 32, 128, seed), desc="calibrate",
                      disable=not progress):
        times = _measure(lambda: (lambda: eng.run(batch)), eng.backbone.device, repeats, 1)
        ratios.append(statistics.median(times) / cost.batch_cost(batch, eng.padding))
    return statistics.median(ratios)


def with_scale(profile: pd.DataFrame, factor: float) -> pd.DataFrame:
    """The profile with its calibration row replaced by `factor`."""
    row = pd.DataFrame([dict(op="scale", pet="", batch=0, seq=0, median_s=factor, mean_s=factor,
                             std_s=0.0, repeats=0)])
    return pd.concat([profile[profile.op != "scale"], row], ignore_index=True)
