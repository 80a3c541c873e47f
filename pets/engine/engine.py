"""PetsEngine: one shared backbone, many PET tasks, mixed-task batches."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor

from pets.batching.batch import Batch, batch_by_task
from pets.batching.query import Query, Result, check_query
from pets.dtypes import resolve_dtype
from pets.config import MINILM_ALIASES, ModelConfig, minilm_path, preset
from pets.engine.backbone import Backbone
from pets.engine.execute import LoadedTask, RunOptions, run_batch
from pets.engine.trace import OpTrace
from pets.batching.padding import DEFAULT_PADDING, PADDING_MODES
from pets.engine.loading import load_checkpoint
from pets.engine.rwlock import RWLock
from pets.errors import (DuplicateTaskError, InvalidSpecError,
                         PeftImportError, PetsError, UnknownTaskError)
from pets.pet.build import build_task, check_finite_after_cast
from pets.pet.method import nbytes
from pets.pet.peft_io import check_layers_cover, read_peft_lora
from pets.pet.spec import TaskSpec
from pets.pet.ops import OpContext, OpTable
from pets.pet.slots import DenseSlots, ListSlots, slot_bytes
from pets.pet.taskfile import read_task_folder, save_task_folder


@dataclass(frozen=True)
class MemoryReport:
    """Bytes held: the shared backbone, each task's PET state (+ head), and their sum.

    `dense_copy` is what one per-task dense model would hold (the backbone's size).
    `reserved`: slot-store capacity not in use (stores grow by doubling), not in `total`.
    `packed`: the shared linears' weights packed for speed (`pets.engine.linear`), a second
    copy of them; not in `total` (a dense copy served the same way would hold one too).
    """

    shared: int
    tasks: Mapping[str, int]
    dense_copy: int
    reserved: int = 0
    packed: int = 0

    @property
    def total(self) -> int:
        return self.shared + sum(self.tasks.values())

    @property
    def dense_total(self) -> int:
        """Bytes if every task had its own dense model copy."""
        return self.dense_copy * max(1, len(self.tasks))


class PetsEngine:
    """Serves queries of many tasks in one batch over one shared backbone.

    Every public method either succeeds or raises a `PetsError` and leaves the
    engine unchanged.
    """

    def __init__(self, backbone: Backbone, *, seed: int = 0, padding: str = DEFAULT_PADDING,
                 model_name: str = "custom", sparse_cache_tasks: int = 64,
                 sparse_kernels: bool = True, lowrank_kernels: bool = True) -> None:
        if padding not in PADDING_MODES:
            raise InvalidSpecError(f"unknown padding {padding!r}; choose {sorted(PADDING_MODES)}")
        self.backbone = backbone
        self.model_name = model_name  # preset or checkpoint name: picks the cost-model profile
        self.seed = seed
        self.padding = padding
        self._tasks: dict[str, LoadedTask] = {}
        self._stores: dict[tuple, DenseSlots | ListSlots] = {}  # slot group -> its store
        # sparse_kernels / lowrank_kernels: the compiled CPU kernels for Diff/Mask and for
        # LoRA/adapters and task-bias adds when they build (else torch's CSR products, batched
        # GEMMs and broadcast adds)
        self._ctx = OpContext(sparse_cache_tasks=sparse_cache_tasks, sparse_kernels=sparse_kernels,
                              lowrank_kernels=lowrank_kernels)
        self._lock = RWLock()  # batches read concurrently; task changes write

    # ---- construction -----------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, *, device: str | torch.device = "cpu",
                    dtype: str | torch.dtype = "auto", seed: int = 0, **kw) -> "PetsEngine":
        """A backbone of a preset shape with seeded random weights (no download).

        dtype "auto": the fastest the device runs natively (`pets.dtypes`)."""
        dt = resolve_dtype(dtype, device)
        return cls(Backbone.random(preset(name), seed=seed, device=device, dtype=dt),
                   seed=seed, model_name=name, **kw)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str | torch.device = "cpu",
                        dtype: str | torch.dtype = "auto", seed: int = 0, **kw) -> "PetsEngine":
        """Any local HF BERT checkpoint folder, or 'all-MiniLM-L6-v2' (shipped by a package)."""
        name = Path(str(path)).name
        if str(path) in MINILM_ALIASES:
            path, name = minilm_path(), "minilm"
        dt = resolve_dtype(dtype, device)
        cfg, sd = load_checkpoint(path, dtype=dt)  # weights beyond dt's range are refused
        return cls(Backbone.from_state_dict(cfg, sd, device=device, dtype=dt), seed=seed,
                   model_name=name, **kw)

    # ---- tasks ---------------------------------------------------------------------------
    @property
    def config(self) -> ModelConfig:
        return self.backbone.cfg

    @property
    def tasks(self) -> Mapping[str, TaskSpec]:
        """A snapshot: name -> TaskSpec of every loaded task."""
        with self._lock.read():
            return MappingProxyType({n: t.spec for n, t in self._tasks.items()})

    def add_task(self, spec: TaskSpec, params: dict[str, Tensor] | None = None) -> TaskSpec:
        """Load a task; random non-zero seeded PET params when `params` is None.

        Raises InvalidSpecError / InvalidParamsError (bad spec or parameters, including
        values that overflow the engine's dtype) or DuplicateTaskError; the engine is
        then unchanged. Safe while other threads run batches: it waits for them.
        """
        if not isinstance(spec, TaskSpec):
            raise InvalidSpecError(f"add_task takes a pets.TaskSpec, got {type(spec).__name__}")
        if spec.name in self._tasks:
            raise DuplicateTaskError(
                f"task {spec.name!r} is already loaded; remove_task it first or pick another name")
        built = build_task(spec, params, self.backbone, self.seed)  # outside the lock: slow part
        check_finite_after_cast(spec, built.head, self.backbone.dtype)
        group = (built.method.name, built.method.store_key(spec))
        with self._lock.write():
            if spec.name in self._tasks:
                raise DuplicateTaskError(f"task {spec.name!r} was loaded meanwhile")
            store = self._stores.get(group) or built.method.new_store(spec, self.backbone)
            slot = store.add(built.state)
            try:
                check_finite_after_cast(spec, store.view(slot), self.backbone.dtype)
            except PetsError:
                store.remove(slot)
                raise
            self._stores[group] = store
            self._tasks[spec.name] = LoadedTask(spec, built.method, group, slot, built.head)
        return spec

    def add_merged_task(self, spec: TaskSpec, head: tuple[Tensor, Tensor] | None) -> TaskSpec:
        """A task whose PET is already folded into this engine's backbone (a per-task
        dense copy, `pets.baselines.dense_copy`): it runs with no PET op, only its head."""
        with self._lock.write():
            if spec.name in self._tasks:
                raise DuplicateTaskError(f"task {spec.name!r} is already loaded")
            self._tasks[spec.name] = LoadedTask(spec, None, None, -1, head)
        return spec

    def remove_task(self, name: str) -> None:
        """Unload a task (UnknownTaskError if it is not loaded). Waits for running batches;
        batches checked after it fail with UnknownTaskError for its queries."""
        with self._lock.write():
            task = self._get(name)
            del self._tasks[name]
            if task.group is not None:
                store = self._stores[task.group]
                store.remove(task.slot)
                if not len(store):
                    del self._stores[task.group]

    def task(self, name: str) -> TaskSpec:
        """The spec of a loaded task; `UnknownTaskError` (with the loaded names) if none."""
        return self._get(name).spec

    def task_params(self, name: str) -> dict[str, Tensor]:
        """The task's parameters, named as in a task file (exactly what was loaded)."""
        with self._lock.read():
            task = self._get(name)
            params = {} if task.method is None else task.method.export_params(
                task.spec, self.backbone, self._stores[task.group].view(task.slot))
        if task.head is not None:
            params["classifier.weight"], params["classifier.bias"] = task.head
        return params

    def save_task(self, name: str, folder: str | Path) -> Path:
        return save_task_folder(folder, self._get(name).spec, self.task_params(name))

    def load_task(self, folder: str | Path, name: str | None = None) -> TaskSpec:
        spec, params = read_task_folder(folder)
        if name is not None:
            spec = spec.renamed(name)
        return self.add_task(spec, params)

    def import_peft(self, folder: str | Path, name: str) -> TaskSpec:
        """Add a LoRA task from a PEFT adapter folder saved for a model of this shape."""
        spec, params, layers = read_peft_lora(folder, name)
        check_layers_cover(folder, layers, self.config.num_hidden_layers)
        try:
            return self.add_task(spec, params)
        except PeftImportError:
            raise
        except PetsError as e:
            raise PeftImportError(f"{folder} does not fit this model ({e})") from None

    def _get(self, name: str) -> LoadedTask:
        try:
            return self._tasks[name]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self._tasks)[:8]) or "none loaded"
            raise UnknownTaskError(f"unknown task {name!r}; loaded tasks: {known}") from None

    # ---- inference -------------------------------------------------------------------------
    def infer(self, queries: Sequence[Query], *, padding: str | None = None,
              reference: bool = False) -> list[Result]:
        """Serve queries of any tasks in one batch; results in the given order."""
        batch, order = batch_by_task(queries)
        results = self.run(batch, padding=padding, reference=reference)
        out: list[Result | None] = [None] * len(order)
        for j, i in enumerate(order):
            out[i] = results[j]
        return out

    def run(self, batch: Batch, *, padding: str | None = None, pet_ops: bool = True,
            reference: bool = False, trace: OpTrace | None = None,
            schedule: Callable[[list[OpTable]], OpTable] | None = None) -> list[Result]:
        """Run a prepared Batch; results in batch order (`batch.queries`).

        pet_ops=False runs the shared model alone (heads still apply): the upper bound
        PetS is measured against. reference=True runs the plain per-segment PET
        operators (the test oracle). `trace` times op building and PET op calls.
        `schedule` gets one PET op table per task and returns the table to run
        (`pets bench streams` spreads them over CUDA streams).
        """
        opts = RunOptions(padding=padding or self.padding, pet_ops=pet_ops, reference=reference,
                          trace=trace, schedule=schedule)
        with self._lock.read():  # a consistent task set for the whole batch
            self.check(batch.queries)
            return run_batch(self.backbone, batch, self._tasks, self._stores, self._ctx, opts)

    def check(self, queries: Sequence[Query]) -> None:
        """Raise if any query cannot run here (unknown task, too long, id out of vocab)."""
        for q in queries:
            self._get(q.task)
            check_query(self.config, q)

    # ---- accounting ------------------------------------------------------------------------
    def memory(self) -> MemoryReport:
        shared = self.backbone.nbytes()
        with self._lock.read():
            return self._memory(shared)

    def _memory(self, shared: int) -> MemoryReport:
        return MemoryReport(
            shared=shared,
            tasks=MappingProxyType({n: self._task_bytes(t) for n, t in self._tasks.items()}),
            dense_copy=shared,
            reserved=sum(store.free_bytes() for store in self._stores.values()),
            packed=self.backbone.packed_bytes())

    def task_bytes(self, name: str) -> int:
        """Bytes one task holds: its PET slot (and cached kernel operands) + its head."""
        with self._lock.read():
            return self._task_bytes(self._get(name))

    def _task_bytes(self, task: LoadedTask) -> int:
        pet = 0 if task.group is None else slot_bytes(self._stores[task.group], task.slot)
        return pet + nbytes(task.head)
