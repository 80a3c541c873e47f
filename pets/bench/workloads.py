"""Standard task mixes and query sets for benchmarks, notebooks and the demo."""
from __future__ import annotations

import random

import torch

import pets
from pets.pet.spec import TaskSpec

# The paper's PET types plus LoRA, with the paper's hyperparameters.
PAPER_MIX: tuple[dict, ...] = (
    dict(pet="lora", rank=8, alpha=16, targets=("query", "value")),
    dict(pet="adapter", bottleneck=64),
    dict(pet="bitfit"),
    dict(pet="diff", density=0.005),
    dict(pet="mask", density=0.05),
)
# The paper's own four types (Adapters, MaskBERT, Diff-Pruning, BitFit), round-robin.
FOUR_TYPE_MIX: tuple[dict, ...] = tuple(m for m in PAPER_MIX if m["pet"] != "lora")
# Task groups of the per-PET-type experiments: each type alone, and the four-type mix.
PET_GROUPS: dict[str, tuple[dict, ...]] = {**{m["pet"]: (m,) for m in PAPER_MIX},
                                           "mix": FOUR_TYPE_MIX}


def round_robin_specs(n: int, *, num_labels: int = 2, mix=PAPER_MIX) -> list[TaskSpec]:
    """n tasks, PET types taken round-robin from `mix`, named `<pet>-<i>`."""
    return [TaskSpec(name=f"{mix[i % len(mix)]['pet']}-{i}", num_labels=num_labels,
                     **mix[i % len(mix)]) for i in range(n)]


def random_queries(tasks: list[str], lengths: list[int], vocab_size: int, *,
                   seed: int = 0) -> list[pets.Query]:
    """One query per (task, length) pair, tasks cycled, random token ids after [CLS]."""
    rng = random.Random(seed)
    return [pets.Query(task=tasks[i % len(tasks)], id=i,
                       input_ids=[101] + [rng.randrange(1000, vocab_size) for _ in range(n - 1)])
            for i, n in enumerate(lengths)]


def mixed_engine(preset: str, tasks: int, *, device: str = "cpu", dtype: str | torch.dtype = "float32",
                 mix=PAPER_MIX) -> pets.PetsEngine:
    """An engine of `preset` holding `tasks` tasks round-robin over `mix` (seeded weights)."""
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    eng = pets.PetsEngine.from_preset(preset, device=device, dtype=dtype, seed=0)
    for spec in round_robin_specs(tasks, mix=mix):
        eng.add_task(spec)
    return eng
