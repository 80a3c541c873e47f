"""The catalog: every task a cluster may serve, its PET bytes and (for real backends)
its parameters in host memory, from where a PET is loaded onto a worker that lost it."""
from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from functools import lru_cache

import torch
from torch import Tensor

import pets
from pets.pet.mixes import PAPER_MIX
from pets.config import ModelConfig, preset
from pets.errors import InvalidSpecError, UnknownTaskError
from pets.pet.spec import TaskSpec
from pets.serving.trace import Trace


@dataclass
class Catalog:
    """Tasks by name. `host` is an engine holding every task (None in pure simulation)."""

    preset: str
    config: ModelConfig
    specs: dict[str, TaskSpec]
    sizes: dict[str, int]  # PET (+ head) bytes of each task at run time
    host: pets.PetsEngine | None = field(default=None, repr=False)

    @classmethod
    def from_engine(cls, engine: pets.PetsEngine) -> "Catalog":
        """Every task of `engine`, which stays the host copy real workers load PETs from."""
        if not engine.tasks:
            raise InvalidSpecError("the engine holds no tasks; add tasks before building a cluster")
        return cls(engine.model_name, engine.config, dict(engine.tasks),
                   dict(engine.memory().tasks), engine)

    @classmethod
    def for_trace(cls, trace: Trace, preset_name: str = "bert-tiny", *, mix=PAPER_MIX,
                  num_labels: int = 2, with_params: bool = False) -> "Catalog":
        """Tasks for every name in `trace`, PET types round-robin over `mix` in order of first
        appearance. Without params the bytes come from loading one task of each shape."""
        if any(not r.is_request for r in trace.rows):
            raise InvalidSpecError("cluster replay takes request rows only; this trace adds or "
                                   "removes tasks (replay it on one engine with `pets replay`)")
        specs = [TaskSpec(name=t, num_labels=num_labels, **mix[i % len(mix)])
                 for i, t in enumerate(trace.tasks)]
        if with_params:
            eng = pets.PetsEngine.from_preset(preset_name)
            for s in specs:
                eng.add_task(s)
            return cls.from_engine(eng)
        return cls(preset_name, preset(preset_name), {s.name: s for s in specs},
                   {s.name: probe_bytes(preset_name, s.renamed("probe")) for s in specs})

    def shuffled(self, seed: int = 0) -> "Catalog":
        """The same tasks in a seeded random order: placements that go by catalog order
        (round-robin) then know nothing of popularity, as a real deployment would not."""
        order = list(self.specs)
        random.Random(seed).shuffle(order)
        return replace(self, specs={t: self.specs[t] for t in order})

    @property
    def tasks(self) -> list[str]:
        return list(self.specs)

    def params(self, task: str) -> dict[str, Tensor]:
        """The task's parameters on the host, CPU tensors ready to ship."""
        if self.host is None:
            raise InvalidSpecError("this catalog has no host copy of the parameters; build it "
                                   "with Catalog.from_engine or for_trace(with_params=True)")
        if task not in self.specs:
            raise UnknownTaskError(f"task {task!r} is not in the cluster's catalog")
        return {k: v.detach().to("cpu") for k, v in self.host.task_params(task).items()}

    def total_bytes(self) -> int:
        """PET bytes of every task in the catalog."""
        return sum(self.sizes.values())


@lru_cache(maxsize=64)
def probe_bytes(preset_name: str, spec: TaskSpec) -> int:
    """Run-time bytes of a task of this shape, measured by loading it once."""
    eng = _probe_engine(preset_name)
    eng.add_task(spec)
    try:
        return eng.memory().tasks[spec.name]
    finally:
        eng.remove_task(spec.name)


@lru_cache(maxsize=4)
def _probe_engine(preset_name: str) -> pets.PetsEngine:
    return pets.PetsEngine.from_preset(preset_name, dtype=torch.float32)

