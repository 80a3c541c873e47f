"""Checking PET parameter dicts against the names and shapes a method expects."""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch
from torch import Tensor

from pets.errors import InvalidParamsError


@dataclass(frozen=True)
class ParamSpec:
    """Expected shape (None = any size, e.g. nnz) and kind ("float" or "index": int64)."""

    shape: tuple[int | None, ...]
    kind: str = "float"


def check_params(task: str, params: object, expected: dict[str, ParamSpec], *,
                 dtype: torch.dtype | None = None) -> dict[str, Tensor]:
    """Validate names, dtypes, shapes and finiteness; return a plain dict of tensors.

    `dtype`: the engine's dtype; float tensors must also stay finite once cast to it
    (1e5 is finite in fp32 and inf in fp16). Raises InvalidParamsError.
    """
    if not isinstance(params, dict):
        raise InvalidParamsError(f"task {task!r}: params must be a dict name -> tensor")
    missing = sorted(set(expected) - set(params))
    extra = sorted(set(params) - set(expected))
    if missing or extra:
        hint = f"; expected names like {sorted(expected)[:3]}" if expected else ""
        raise InvalidParamsError(
            f"task {task!r}: params do not match the spec: missing {missing[:4]}"
            f"{' ...' if len(missing) > 4 else ''}, unexpected {extra[:4]}"
            f"{' ...' if len(extra) > 4 else ''}{hint}"
        )
    for name, spec in expected.items():
        t = params[name]
        if not isinstance(t, Tensor):
            raise InvalidParamsError(f"task {task!r}: {name} must be a torch.Tensor")
        if spec.kind == "index" and t.dtype != torch.int64:
            raise InvalidParamsError(f"task {task!r}: {name} must be int64, got {t.dtype}")
        if spec.kind == "float" and not t.is_floating_point():
            raise InvalidParamsError(f"task {task!r}: {name} must be floating point, got {t.dtype}")
        if len(t.shape) != len(spec.shape) or any(
                want is not None and want != got for want, got in zip(spec.shape, t.shape)):
            want = tuple("*" if s is None else s for s in spec.shape)
            raise InvalidParamsError(
                f"task {task!r}: {name} has shape {tuple(t.shape)}, expected {want}"
            )
        if spec.kind == "float":
            check_finite(task, name, t, dtype)
    return dict(params)


def check_finite(task: str, name: str, t: Tensor, dtype: torch.dtype | None = None) -> None:
    """Raise InvalidParamsError if float tensor `t` holds NaN or inf, as it is or once cast
    to `dtype` (a value beyond that dtype's range becomes inf)."""
    if not torch.isfinite(t).all():
        raise InvalidParamsError(f"task {task!r}: {name} holds NaN or inf; "
                                 "every parameter must be a finite number")
    if dtype is not None and dtype.is_floating_point and t.dtype != dtype:
        if not torch.isfinite(t.to(dtype)).all():
            limit = torch.finfo(dtype).max
            raise InvalidParamsError(
                f"task {task!r}: {name} holds values beyond {dtype}'s range (|x| <= {limit:.4g}), "
                f"which become inf in this engine; rescale the parameters or use a wider dtype")


def check_sparse_indices(task: str, name: str, idx: Tensor, shape: tuple[int, int]) -> None:
    """indices [2, nnz]: in range, no duplicate (row, col), at least one entry."""
    rows, cols = shape
    if idx.shape[1] == 0:
        raise InvalidParamsError(f"task {task!r}: {name} is empty; give at least one entry")
    if idx.min() < 0 or idx[0].max() >= rows or idx[1].max() >= cols:
        raise InvalidParamsError(
            f"task {task!r}: {name} has indices outside the weight's shape {shape}"
        )
    flat = idx[0] * cols + idx[1]
    increasing = bool((flat[1:] > flat[:-1]).all())  # row-major input: no duplicates, no sort
    if not increasing and flat.unique().numel() != flat.numel():
        raise InvalidParamsError(f"task {task!r}: {name} repeats a (row, col) entry")


def task_generator(name: str, seed: int | None, engine_seed: int) -> torch.Generator:
    """Deterministic RNG for a task's random parameters: spec.seed, else a hash of its name."""
    base = seed if seed is not None else zlib.crc32(name.encode())
    return torch.Generator().manual_seed((base * 1_000_003 + engine_seed) % (2**63))


def random_sparse_indices(shape: tuple[int, int], density: float,
                          gen: torch.Generator) -> Tensor:
    """`round(density * numel)` distinct (row, col) pairs, row-major sorted. [2, nnz] int64."""
    rows, cols = shape
    nnz = max(1, round(density * rows * cols))
    flat = torch.randperm(rows * cols, generator=gen)[:nnz].sort().values
    return torch.stack([flat // cols, flat % cols])


def param_count(params: dict[str, Tensor]) -> int:
    """Learned numbers in a task: float entries, plus one per sparse index pair ([2, nnz])."""
    return sum(t.numel() if t.is_floating_point() else t.shape[-1] for t in params.values())
