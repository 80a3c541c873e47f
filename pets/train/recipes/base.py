"""A training recipe: how one PET type turns the frozen shared backbone into a task.

`attach` patches the method's trainable modules into a `TaskModel` (and freezes what
the method does not train); `after_epoch` may change the parametrisation between epochs
(Diff-Pruning prunes there); `export` returns the task's parameters named as in a task
file (DESIGN.md section 4), which the engine loads and serves.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from torch import Tensor

from pets.pet.spec import TaskSpec
from pets.train.model import TaskModel


class Recipe(ABC):
    name: ClassVar[str]
    lr: ClassVar[float]              # the method's learning rate on this backbone
    epochs: ClassVar[int] = 3
    paper: ClassVar[str] = ""        # whose recipe this follows

    def spec(self, name: str, labels: tuple[str, ...], seed: int) -> TaskSpec | None:
        """The task's spec (None: not a PET, e.g. full fine-tuning)."""
        return TaskSpec(name=name, pet=self.name, num_labels=len(labels), labels=labels,
                        seed=seed)

    @abstractmethod
    def attach(self, model: TaskModel, spec: TaskSpec | None) -> None: ...

    def after_epoch(self, model: TaskModel, epoch: int, epochs: int) -> bool:
        """Called after each epoch; True when the trainable set changed (new optimiser)."""
        return False

    def lr_after_change(self, lr: float) -> float:
        """The learning rate once `after_epoch` changed the trainable set."""
        return lr

    @abstractmethod
    def export(self, model: TaskModel, spec: TaskSpec | None) -> dict[str, Tensor]: ...


_RECIPES: dict[str, Recipe] = {}


def register(cls: type[Recipe]) -> type[Recipe]:
    _RECIPES[cls.name] = cls()
    return cls


def get_recipe(name: str) -> Recipe:
    from pets.errors import TrainError

    try:
        return _RECIPES[name]
    except (KeyError, TypeError):
        raise TrainError(f"unknown training method {name!r}; choose one of "
                         f"{sorted(_RECIPES)}") from None


def recipe_names() -> list[str]:
    return sorted(_RECIPES)
