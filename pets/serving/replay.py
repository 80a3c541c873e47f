"""Replaying a trace: build an engine for its tasks, pick a system, run the loop."""
from __future__ import annotations

import torch

import pets
from pets.batching.cost import CostModel
from pets.pet.mixes import PAPER_MIX
from pets.serving.loop import ServeConfig, ServingLoop
from pets.serving.metrics import Report
from pets.serving.systems import make_system
from pets.serving.trace import Trace


def engine_for_trace(trace: Trace, preset: str = "bert-tiny", *, device: str = "cpu",
                     dtype: str | torch.dtype = "auto", mix=PAPER_MIX,
                     num_labels: int = 2) -> pets.PetsEngine:
    """An engine holding every task the trace requests, except those it adds itself;
    PET types round-robin over `mix` in order of first appearance. dtype "auto": the
    fastest the device runs natively (bf16 on CPUs with avx512_bf16), as served."""
    eng = pets.PetsEngine.from_preset(preset, device=device, dtype=dtype)
    added_by_trace = {r.task for r in trace.rows if r.event == "add_task"}
    for i, task in enumerate(t for t in trace.tasks if t not in added_by_trace):
        eng.add_task(pets.TaskSpec(name=task, num_labels=num_labels, **mix[i % len(mix)]))
    return eng


def replay(trace: Trace, engine: pets.PetsEngine, *, system: str = "pets",
           config: ServeConfig = ServeConfig(), cost: CostModel | None = None,
           progress: bool = True) -> Report:
    """Replay `trace` on `system` over `engine` (the engine's tasks change with lifecycle rows)."""
    return ServingLoop(make_system(system, engine, cost), config).run(trace, progress=progress)
