"""The PetMethod interface and the registry of methods by name."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor

from pets.pet.ops import GroupRun, OpContext, OpTable
from pets.pet.params import ParamSpec
from pets.pet.targets import LINEAR_TARGETS

if TYPE_CHECKING:
    from pets.pet.slots import DenseSlots, ListSlots
    from pets.engine.backbone import Backbone
    from pets.pet.spec import TaskSpec


class PetMethod(ABC):
    """One PET type: its parameters, their run-time form, and its batch operators.

    Life of a task: `param_specs`/`check_params` validate what the user gives
    (or `init_params` makes random ones); `build_state` turns the parameters
    into the run-time form kept on the device (e.g. CSR for sparse deltas);
    `export_params` turns it back, exactly. Tasks live in slot stores
    (`pets.pet.slots`), one per `store_key`; for one batch, `ops` builds the hook
    functions that apply all of a store's tasks in the batch at once.
    `merge_into` folds the task into a dense HF state dict (the per-task
    baseline and correctness oracle) where the method allows it.
    """

    name: ClassVar[str]
    default_targets: ClassVar[tuple[str, ...]] = LINEAR_TARGETS
    allowed_targets: ClassVar[tuple[str, ...]] = LINEAR_TARGETS
    default_density: ClassVar[float | None] = None
    mergeable: ClassVar[bool] = True
    storage: ClassVar[str] = ""  # run-time storage format, for docs and reports

    @abstractmethod
    def param_specs(self, spec: TaskSpec, backbone: "Backbone") -> dict[str, ParamSpec]: ...

    def check_params(self, spec: TaskSpec, backbone: "Backbone", params: dict[str, Tensor]) -> None:
        """Checks beyond names/shapes/dtypes (index ranges, duplicates)."""

    @abstractmethod
    def init_params(self, spec: TaskSpec, backbone: "Backbone",
                    gen: torch.Generator) -> dict[str, Tensor]: ...

    def store_key(self, spec: "TaskSpec") -> tuple:
        """Tasks with equal keys share one slot store (same shapes, same hook points)."""
        return (spec.targets,)

    @abstractmethod
    def new_store(self, spec: "TaskSpec", backbone: "Backbone") -> "DenseSlots | ListSlots":
        """An empty store for tasks of `spec`'s group."""

    @abstractmethod
    def build_state(self, spec: "TaskSpec", backbone: "Backbone", params: dict[str, Tensor]) -> Any:
        """The run-time form of one task (what its store keeps in a slot)."""

    @abstractmethod
    def export_params(self, spec: "TaskSpec", backbone: "Backbone", state: Any) -> dict[str, Tensor]:
        """`build_state` inverted, exactly; `state` is the store's view of the task's slot."""

    @abstractmethod
    def ops(self, store: Any, run: GroupRun, backbone: "Backbone", ctx: OpContext) -> OpTable:
        """Hook functions applying every task of `run` (one slot group) at once."""

    @abstractmethod
    def reference_ops(self, store: Any, run: GroupRun, backbone: "Backbone") -> OpTable:
        """The same as `ops` as a plain loop over segments: the test oracle."""

    def merge_into(self, spec: TaskSpec, params: dict[str, Tensor], sd: dict[str, Tensor]) -> None:
        """Fold the task into an HF BertModel state dict of cloned tensors, in place."""
        raise NotImplementedError(f"{self.name} cannot be merged into dense weights")

    def insert_modules(self, spec: TaskSpec, params: dict[str, Tensor], model: Any) -> None:
        """Add modules to a transformers BertModel for what cannot be merged."""


_METHODS: dict[str, PetMethod] = {}


def register(cls: type[PetMethod]) -> type[PetMethod]:
    _METHODS[cls.name] = cls()
    return cls


def get_method(name: str) -> PetMethod:
    from pets.errors import InvalidSpecError

    try:
        return _METHODS[name]
    except (KeyError, TypeError):
        raise InvalidSpecError(f"unknown pet {name!r}; choose one of {sorted(_METHODS)}") from None


def method_names() -> list[str]:
    return sorted(_METHODS)


def nbytes(obj: Any) -> int:
    """Bytes of every tensor inside a (nested) state object, sparse ones included."""
    if isinstance(obj, Tensor):
        if obj.layout == torch.sparse_csr:
            parts = (obj.crow_indices(), obj.col_indices(), obj.values())
            return sum(p.numel() * p.element_size() for p in parts)
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):  # a copy: other threads' batches may fill or clear caches
        return sum(nbytes(v) for v in list(obj.values()))
    if isinstance(obj, (list, tuple)):
        return sum(nbytes(v) for v in obj)
    if is_dataclass(obj):
        return sum(nbytes(getattr(obj, f.name)) for f in fields(obj))
    return 0
