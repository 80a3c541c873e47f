"""The interface between PET methods and the backbone.

The backbone exposes hook points, each named by a `HookKey` (kind, layer,
name): `linear` fires after a target linear's shared GEMM (x: its input
[T, in], y: its output [T, out], updated in place); `adapter` fires after the
attention-output / FFN-output dense, before the residual and LayerNorm (x is
y: [T, H]); `layernorm` fires after a LayerNorm (y: [T, H]).

For one batch, each PET method turns its tasks' segments into an `OpTable`:
a dict HookKey -> list of functions f(x, y) that add the PET's contribution to
y in place. The backbone knows nothing else of PETs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

from torch import Tensor

HookFn = Callable[[Tensor, Tensor], None]


class HookKey(NamedTuple):
    kind: str  # "linear" | "adapter" | "layernorm"
    layer: int
    name: str  # a target, adapter site or LayerNorm site


OpTable = dict[HookKey, list[HookFn]]


@dataclass(frozen=True)
class Segment:
    """Rows [start, stop) of the batch's token tensor that belong to one task.

    Segments are task-contiguous: a task's queries are adjacent in a Batch.
    """

    task: str
    start: int
    stop: int

    @property
    def rows(self) -> slice:
        return slice(self.start, self.stop)


def linear_keys(targets: tuple[str, ...], num_layers: int) -> list[HookKey]:
    """The `linear` hook points of `targets` in every layer."""
    return [HookKey("linear", i, t) for i in range(num_layers) for t in targets]


def add_op(table: OpTable, key: HookKey, fn: HookFn) -> None:
    table.setdefault(key, []).append(fn)


def merge_tables(tables: list[OpTable]) -> OpTable:
    merged: OpTable = {}
    for table in tables:
        for key, fns in table.items():
            merged.setdefault(key, []).extend(fns)
    return merged
