"""Scale presets of the paper-figure benchmarks: `quick` (minutes on a 2-core CPU)
and `paper` (the paper's settings), plus field overrides for tests and notebooks."""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, Mapping, TypeVar

from pets.errors import InvalidSpecError

C = TypeVar("C")


def resolve(configs: Mapping[str, C], scale: str, overrides: Mapping[str, Any]) -> C:
    """The config of `scale` with `overrides` applied (None values are ignored)."""
    if scale not in configs:
        raise InvalidSpecError(f"unknown scale {scale!r}; choose one of {sorted(configs)}")
    base = configs[scale]
    known = {f.name for f in fields(base)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InvalidSpecError(f"unknown setting(s) {unknown} for {type(base).__name__}; "
                               f"known: {sorted(known)}")
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})
