"""The systems a trace replays against, behind one interface.

Each system runs a Batch for real (`run`, wall-clock measured by the loop) or
predicts its latency (`predict`, the `sim` executor):
  pets  one engine, mixed-task batches (shared ops once, PET ops per segment)
  seqs  one dense model copy per task; a batch runs task by task on the copies
  peft  HF PEFT mixed-adapter batches over the shared model (LoRA tasks only)
  base  the shared model with no PET ops: the upper bound
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import torch

import pets
from pets.batching.batch import Batch
from pets.batching.query import Query
from pets.batching.cost import CostModel
from pets.batching.padding import padded_lengths
from pets.batching.policies.base import batch_of_queries
from pets.errors import InvalidSpecError
from pets.pet.method import get_method
from pets.serving.faults import RUN_ERRORS
from pets.serving.memory import check_fits


WARM_UP_ID = 10**12  # ids of warm-up queries (never in a report)


class System(ABC):
    name: str

    def __init__(self, engine: pets.PetsEngine, cost: CostModel, padding: str) -> None:
        self.engine, self.cost, self.padding = engine, cost, padding

    def refuses(self, task: str) -> str | None:
        """Why this system cannot serve `task` now (None: it can)."""
        return None if task in self.engine.tasks else "task not loaded"

    def tasks_changed(self) -> None:
        """Called after a task was added to or removed from the engine."""
        self.cost = self.cost.with_tasks(self.engine.tasks)

    def prepare(self) -> None:
        """Build what `run` needs (called before a real replay, outside the timed path)."""

    def warm_up(self, tasks: list[str], *, rounds: int = 2, max_batch: int = 32) -> int:
        """Run every task's operators before the clock starts (first calls pay for
        allocation, kernel selection and PET caches): `rounds` passes of one short query
        per servable task, in batches of at most `max_batch`. Returns the batches run."""
        servable = [t for t in dict.fromkeys(tasks) if self.refuses(t) is None]
        batches = [batch_of_queries([Query(task=t, input_ids=(1,) * 8, id=WARM_UP_ID + i)
                                     for i, t in enumerate(servable[k:k + max_batch])])
                   for k in range(0, len(servable), max_batch)]
        for _ in range(rounds):
            for batch in batches:
                try:
                    self.run(batch)
                except RUN_ERRORS:  # it fails again when served: those requests end failed
                    pass
        return len(batches) * rounds

    @abstractmethod
    def run(self, batch: Batch) -> object: ...

    @abstractmethod
    def predict(self, batch: Batch) -> float: ...


class PetsSystem(System):
    name = "pets"

    def run(self, batch):
        return self.engine.run(batch, padding=self.padding)

    def predict(self, batch):
        return self.cost.batch_cost(batch, self.padding)


class BaseSystem(System):
    """Every query through the shared model alone (its task's PET ignored)."""

    name = "base"

    def run(self, batch):
        return self.engine.run(batch, padding=self.padding, pet_ops=False)

    def predict(self, batch):
        tokens = sum(padded_lengths(batch.lengths, batch.group_of, self.padding))
        return float(self.cost.alpha(len(batch), tokens / len(batch)))


class SeqsSystem(System):
    """One dense copy per task (built by `prepare`, outside the timed path; a simulated replay
    never builds them); a batch runs one task after another on the copies."""

    name = "seqs"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self._copies: dict[str, pets.PetsEngine] | None = None

    def prepare(self) -> None:
        """Build the copies; InvalidSpecError when they would not fit the device's memory."""
        if self._copies is None:
            self._copies = {}
            try:
                self.tasks_changed()
            except InvalidSpecError:
                self._copies = None  # nothing built: a later call checks again
                raise

    def refuses(self, task: str) -> str | None:
        if self._copies is not None and task in self.engine.tasks and task not in self._copies:
            return "seqs has no dense copy of this task (it would not fit in memory)"
        return super().refuses(task)

    def tasks_changed(self) -> None:
        super().tasks_changed()
        if self._copies is None:
            return
        for gone in set(self._copies) - set(self.engine.tasks):
            del self._copies[gone]
        new = sorted(set(self.engine.tasks) - set(self._copies))
        if new:  # a task added mid-replay: refuse it (see refuses) if its copy cannot fit
            self._check_memory(len(new))
        for task in new:
            self._copies[task] = pets.baselines.dense_copy(self.engine, task)

    def _check_memory(self, copies: int) -> None:
        mem = self.engine.memory()  # a copy packs its linears as the engine does
        check_fits(f"seqs with {copies} dense backbone copies", copies * (mem.shared + mem.packed),
                   self.engine.backbone.device,
                   "replay fewer tasks, a smaller preset, or use the sim executor")

    def run(self, batch):
        self.prepare()
        out = []
        for task, qs in batch.task_queries.items():
            out += self._copies[task].run(batch_of_queries(qs), padding=self.padding)
        return out

    def predict(self, batch):
        """Each task alone on its copy: alpha, plus beta for PETs that cannot be merged."""
        total = 0.0
        for task, qs in batch.task_queries.items():
            lengths = [q.length for q in qs]
            tokens = sum(padded_lengths(lengths, [0] * len(lengths), self.padding)) / len(lengths)
            total += float(self.cost.alpha(len(lengths), tokens))
            if not get_method(self.engine.tasks[task].pet).mergeable:
                total += float(self.cost.beta(self.engine.tasks[task].pet, len(lengths), tokens))
        return total


class PeftSystem(System):
    """HF PEFT with every LoRA task as an adapter; batches padded to their longest query."""

    name = "peft"

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.tasks_changed()

    def refuses(self, task):
        if task in self.engine.tasks and self.engine.tasks[task].pet != "lora":
            return "peft serves LoRA tasks only"
        return super().refuses(task)

    def tasks_changed(self) -> None:
        super().tasks_changed()
        lora = [t for t, s in self.engine.tasks.items() if s.pet == "lora"]
        self.model = pets.baselines.peft_model(self.engine, lora) if lora else None  # PeftModel

    def run(self, batch):
        dev = self.engine.backbone.device
        longest = max(batch.lengths)
        ids = torch.zeros(len(batch), longest, dtype=torch.long, device=dev)
        mask = torch.zeros_like(ids)
        for i, q in enumerate(batch.queries):
            ids[i, :q.length] = torch.tensor(q.input_ids, device=dev)
            mask[i, :q.length] = 1
        with torch.inference_mode():
            return self.model(input_ids=ids, attention_mask=mask,
                               adapter_names=[q.task for q in batch.queries])

    def predict(self, batch):
        return self.cost.batch_cost(batch, "macro")


SYSTEMS: dict[str, Callable[..., System]] = {
    cls.name: cls for cls in (PetsSystem, SeqsSystem, PeftSystem, BaseSystem)}


def make_system(name: str, engine: pets.PetsEngine, cost: CostModel | None = None,
                padding: str | None = None) -> System:
    try:
        cls = SYSTEMS[name]
    except KeyError:
        raise InvalidSpecError(f"unknown system {name!r}; choose one of {sorted(SYSTEMS)}") from None
    cost = (cost or CostModel.for_engine(engine)).with_tasks(engine.tasks)
    return cls(engine, cost, padding or engine.padding)
