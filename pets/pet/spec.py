"""TaskSpec: what a task is (its PET type and hyperparameters), validated on creation."""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from pets.errors import InvalidSpecError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

# Upper bounds on what a task may ask for. A LoRA rank or adapter bottleneck above the
# widest linear of the largest preset (bert-large's 4096) adds nothing a full-rank update
# would not, and allocates layers x targets x (in + out) x r numbers; the label count sizes
# the head [num_labels, hidden]. The bounds keep one task within what a machine can hold.
MAX_RANK = 4096
MAX_BOTTLENECK = 4096
MAX_LABELS = 32768
# alpha / r scales a LoRA update on the hot path, which may run in fp16 (largest 65504).
MAX_ALPHA = 65504.0


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """One task: a PET method plus its hyperparameters.

    Fields a method does not use are ignored by it. `targets` and `density`
    default per method (see DESIGN.md section 4) and are stored resolved.
    `num_labels` > 0 adds a classifier head on the shared pooler.
    `bias` (diff only) also gives the task new biases for its targets.
    `labels` names the head's classes (one name per label, in logit order).
    """

    name: str
    pet: str
    rank: int = 8
    alpha: float = 16.0
    bottleneck: int = 64
    density: float | None = None
    targets: tuple[str, ...] | None = None
    bias: bool = False
    num_labels: int = 0
    seed: int | None = None
    labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        from pets.pet.method import get_method

        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidSpecError(
                f"task name {self.name!r} must be 1-64 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        if not isinstance(self.pet, str):
            raise InvalidSpecError(f"task {self.name!r}: pet must be a method name (a string), "
                                   f"got {self.pet!r}")
        method = get_method(self.pet)
        _check_int(self, "rank", 1, MAX_RANK)
        _check_int(self, "bottleneck", 1, MAX_BOTTLENECK)
        _check_int(self, "num_labels", 0, MAX_LABELS)
        if self.seed is not None:
            _check_int(self, "seed", 0, 2**63 - 1)
        if not _is_number(self.alpha) or not 0 < self.alpha <= MAX_ALPHA:
            raise InvalidSpecError(
                f"task {self.name!r}: alpha must be a finite number in (0, {MAX_ALPHA:g}] "
                f"(the LoRA scale alpha / r must stay finite in fp16), got {self.alpha!r}")
        object.__setattr__(self, "alpha", float(self.alpha))
        density = method.default_density if self.density is None else self.density
        if density is not None and not (_is_number(density) and 0 < density <= 1):
            raise InvalidSpecError(
                f"task {self.name!r}: density must be a number in (0, 1], got {density!r}"
            )
        object.__setattr__(self, "density", None if density is None else float(density))
        object.__setattr__(self, "targets", _targets(self, method))
        if not isinstance(self.bias, bool):
            raise InvalidSpecError(
                f"task {self.name!r}: bias must be true or false (a JSON boolean, not a string "
                f"or number), got {self.bias!r}")
        object.__setattr__(self, "labels", _labels(self))

    def label_name(self, index: int) -> str:
        """The name of class `index` (its number as a string when the task names none)."""
        return self.labels[index] if self.labels else str(index)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["targets"] = list(self.targets or ())
        if self.labels is None:
            del d["labels"]  # files of unlabelled tasks stay as they were
        else:
            d["labels"] = list(self.labels)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TaskSpec":
        if not isinstance(data, dict):
            raise InvalidSpecError(f"a task spec must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidSpecError(f"unknown TaskSpec fields {unknown}; known: {sorted(known)}")
        missing = [k for k in ("name", "pet") if k not in data]
        if missing:
            raise InvalidSpecError(f"task spec lacks required fields {missing}")
        data = dict(data)
        for key in ("targets", "labels"):
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        try:
            return cls(**data)
        except (TypeError, ValueError, OverflowError) as e:  # a field of a type no check expects
            raise InvalidSpecError(f"task spec {data.get('name')!r} is invalid: {e}") from None

    def renamed(self, name: str) -> "TaskSpec":
        return TaskSpec.from_dict({**self.to_dict(), "name": name})


def _is_number(value: object) -> bool:
    """A finite int or float (not a bool, not NaN or infinity)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_int(spec: TaskSpec, field: str, minimum: int, maximum: int) -> None:
    value = getattr(spec, field)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise InvalidSpecError(
            f"task {spec.name!r}: {field} must be an int in [{minimum}, {maximum}], got {value!r}"
            + (" (the bound keeps a task within what one machine can hold)"
               if isinstance(value, int) and value > maximum else "")
        )


def _targets(spec: TaskSpec, method) -> tuple[str, ...]:
    """The spec's targets resolved: a name or a list of distinct names the method allows."""
    targets = method.default_targets if spec.targets is None else spec.targets
    if isinstance(targets, str):
        targets = (targets,)
    if not isinstance(targets, (tuple, list)) or not all(isinstance(t, str) for t in targets):
        raise InvalidSpecError(
            f"task {spec.name!r}: targets must be a list of names from {method.allowed_targets}, "
            f"got {targets!r}")
    targets = tuple(targets)
    unknown = [t for t in targets if t not in method.allowed_targets]
    if unknown or not targets or len(set(targets)) != len(targets):
        raise InvalidSpecError(
            f"task {spec.name!r}: targets {targets} invalid for pet {spec.pet!r}; "
            f"choose distinct names from {method.allowed_targets}"
        )
    return targets


def _labels(spec: TaskSpec) -> tuple[str, ...] | None:
    """The label names, checked against the head: one distinct non-empty name per label."""
    labels = spec.labels
    if labels is None:
        return None
    if isinstance(labels, list):
        labels = tuple(labels)
    if not isinstance(labels, tuple) or not all(isinstance(n, str) and n.strip() for n in labels):
        raise InvalidSpecError(f"task {spec.name!r}: labels must be a list of non-empty names, "
                               f"got {labels!r}")
    if len(labels) != spec.num_labels:
        raise InvalidSpecError(
            f"task {spec.name!r}: {len(labels)} label names {list(labels)[:6]} but the head has "
            f"num_labels={spec.num_labels}; give one name per class of the head")
    if len(set(labels)) != len(labels):
        raise InvalidSpecError(f"task {spec.name!r}: label names {list(labels)} repeat a name")
    return labels
