"""The Tasks page's model: the task table and building a TaskSpec from form values."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

import pets
from pets.pet import get_method
from pets.pet.params import param_count


@dataclass(frozen=True)
class Field:
    """One hyperparameter input of the add-task form."""

    name: str  # the TaskSpec field
    label: str
    kind: str  # "int", "float" or "bool"
    default: Any
    help: str = ""


RANK = Field("rank", "LoRA rank r", "int", 8, "rows of A [r, in] and columns of B [out, r]")
ALPHA = Field("alpha", "LoRA alpha", "float", 16.0, "scaling alpha / r (PEFT convention)")
BOTTLENECK = Field("bottleneck", "bottleneck m", "int", 64, "adapter width: down [m, H], up [H, m]")
BIAS = Field("bias", "also new biases", "bool", False, "diff-pruning with task-specific biases")


def density_field(pet: str) -> Field:
    return Field("density", "density", "float", get_method(pet).default_density,
                 "fraction of each target weight's entries the task changes (diff) or zeroes (mask)")


# Which hyperparameters each PET type takes (targets, head and seed are asked of every type).
PET_FIELDS: dict[str, tuple[Field, ...]] = {
    "lora": (RANK, ALPHA),
    "adapter": (BOTTLENECK,),
    "bitfit": (),
    "diff": (density_field("diff"), BIAS),
    "mask": (density_field("mask"),),
}


def fields_for(pet: str) -> tuple[Field, ...]:
    return PET_FIELDS.get(pet, ())


def spec_from_form(name: str, pet: str, values: dict[str, Any], targets: list[str],
                   num_labels: int, seed: int | None) -> pets.TaskSpec:
    """A validated TaskSpec (raises InvalidSpecError with the reason)."""
    kept = {f.name: values[f.name] for f in fields_for(pet) if f.name in values}
    return pets.TaskSpec(name=name.strip(), pet=pet, targets=tuple(targets),
                         num_labels=int(num_labels), seed=seed, **kept)


def hyperparameters(spec: pets.TaskSpec) -> str:
    """A short human summary of a spec's hyperparameters."""
    parts = [f"{f.name}={getattr(spec, f.name)}" for f in fields_for(spec.pet)]
    return ", ".join(parts + ["targets=" + "+".join(spec.targets or ())])


def task_table(engine: pets.PetsEngine) -> pd.DataFrame:
    """One row per task: type, hyperparameters, parameters, bytes and share of memory."""
    mem = engine.memory()
    rows = []
    for name, spec in engine.tasks.items():
        nbytes = mem.tasks[name]
        rows.append({
            "task": name, "pet": spec.pet, "hyperparameters": hyperparameters(spec),
            "labels": spec.num_labels, "params": param_count(engine.task_params(name)),
            "bytes": nbytes, "share of memory": nbytes / mem.total,
            "vs dense copy": nbytes / mem.dense_copy,
        })
    columns = ["task", "pet", "hyperparameters", "labels", "params", "bytes", "share of memory",
               "vs dense copy"]
    return pd.DataFrame(rows, columns=columns)


def memory_summary(engine: pets.PetsEngine) -> dict[str, float]:
    """Bytes under PetS against one dense copy per task."""
    mem = engine.memory()
    return {"shared": mem.shared, "tasks": sum(mem.tasks.values()), "total": mem.total,
            "dense_total": mem.dense_total, "saving": mem.dense_total / mem.total}
