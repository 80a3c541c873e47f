"""Standard task mixes: the paper's PET types with the paper's hyperparameters.

Domain constants used by replays (tasks a trace names), cluster catalogs, the
profiler, benchmarks, notebooks and the dashboard. A mix is a tuple of TaskSpec
keyword sets; tasks take them round-robin.
"""
from __future__ import annotations

from pets.pet.spec import TaskSpec

# The paper's PET types plus LoRA, with the paper's hyperparameters.
PAPER_MIX: tuple[dict, ...] = (
    dict(pet="lora", rank=8, alpha=16, targets=("query", "value")),
    dict(pet="adapter", bottleneck=64),
    dict(pet="bitfit"),
    dict(pet="diff", density=0.005),
    dict(pet="mask", density=0.05),
)
# LoRA alone (what HF PEFT can serve too).
LORA_MIX: tuple[dict, ...] = PAPER_MIX[:1]
# The paper's own four types (Adapters, MaskBERT, Diff-Pruning, BitFit), round-robin.
FOUR_TYPE_MIX: tuple[dict, ...] = tuple(m for m in PAPER_MIX if m["pet"] != "lora")
# Task groups of the per-PET-type experiments: each type alone, and the four-type mix.
PET_GROUPS: dict[str, tuple[dict, ...]] = {**{m["pet"]: (m,) for m in PAPER_MIX},
                                           "mix": FOUR_TYPE_MIX}


def round_robin_specs(n: int, *, num_labels: int = 2, mix=PAPER_MIX) -> list[TaskSpec]:
    """n tasks, PET types taken round-robin from `mix`, named `<pet>-<i>`."""
    return [TaskSpec(name=f"{mix[i % len(mix)]['pet']}-{i}", num_labels=num_labels,
                     **mix[i % len(mix)]) for i in range(n)]
