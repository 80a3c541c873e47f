"""TaskSpec: what a task is (its PET type and hyperparameters), validated on creation."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from pets.errors import InvalidSpecError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """One task: a PET method plus its hyperparameters.

    Fields a method does not use are ignored by it. `targets` and `density`
    default per method (see DESIGN.md section 4) and are stored resolved.
    `num_labels` > 0 adds a classifier head on the shared pooler.
    `bias` (diff only) also gives the task new biases for its targets.
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

    def __post_init__(self) -> None:
        from pets.pet.method import get_method

        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise InvalidSpecError(
                f"task name {self.name!r} must be 1-64 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        method = get_method(self.pet)
        _check_int(self, "rank", 1)
        _check_int(self, "bottleneck", 1)
        _check_int(self, "num_labels", 0)
        if self.seed is not None:
            _check_int(self, "seed", 0)
        if not isinstance(self.alpha, (int, float)) or not self.alpha > 0:
            raise InvalidSpecError(f"task {self.name!r}: alpha must be > 0, got {self.alpha!r}")
        object.__setattr__(self, "alpha", float(self.alpha))
        density = method.default_density if self.density is None else self.density
        if density is not None and not (isinstance(density, (int, float)) and 0 < density <= 1):
            raise InvalidSpecError(
                f"task {self.name!r}: density must be in (0, 1], got {density!r}"
            )
        object.__setattr__(self, "density", None if density is None else float(density))
        targets = method.default_targets if self.targets is None else self.targets
        if isinstance(targets, str):
            targets = (targets,)
        targets = tuple(targets)
        unknown = [t for t in targets if t not in method.allowed_targets]
        if unknown or not targets or len(set(targets)) != len(targets):
            raise InvalidSpecError(
                f"task {self.name!r}: targets {targets} invalid for pet {self.pet!r}; "
                f"choose distinct names from {method.allowed_targets}"
            )
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "bias", bool(self.bias))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["targets"] = list(self.targets or ())
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
        if isinstance(data.get("targets"), list):
            data["targets"] = tuple(data["targets"])
        return cls(**data)

    def renamed(self, name: str) -> "TaskSpec":
        return TaskSpec.from_dict({**self.to_dict(), "name": name})


def _check_int(spec: TaskSpec, field: str, minimum: int) -> None:
    value = getattr(spec, field)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidSpecError(
            f"task {spec.name!r}: {field} must be an int >= {minimum}, got {value!r}"
        )
