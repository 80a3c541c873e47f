"""Task biases that replace shared ones (BitFit, Diff-Pruning's optional biases).

A task bias b_task is stored whole (so export is exact); per batch each
segment adds b_task - b_shared to the shared op's output rows.
"""
from __future__ import annotations

from torch import Tensor

from pets.pet.ops import HookKey, OpTable, Segment, add_op
from pets.pet.targets import LAYERNORM_PATHS, LINEAR_PATHS

# The bias of a linear fires at its "linear" hook; a LayerNorm's at its "layernorm" hook.
_PATHS = {"linear": LINEAR_PATHS, "layernorm": LAYERNORM_PATHS}


def bias_name(key: HookKey) -> str:
    return f"{_PATHS[key.kind][key.name].format(i=key.layer)}.bias"


def shared_bias(backbone, key: HookKey) -> Tensor:
    if key.kind == "linear":
        return backbone.linear(key.layer, key.name)[1]
    return backbone.layernorm_bias(key.layer, key.name)


def bias_ops(items: list[tuple[dict[HookKey, Tensor], Segment]], backbone) -> OpTable:
    """Ops adding (b_task - b_shared) on each segment's rows, one function per hook point."""
    work: dict[HookKey, list[tuple[Tensor, slice]]] = {}
    for biases, seg in items:
        for key, b in biases.items():
            work.setdefault(key, []).append((b - shared_bias(backbone, key), seg.rows))
    table: OpTable = {}
    for key, deltas in work.items():
        add_op(table, key, _add_rows(deltas))
    return table


def _add_rows(deltas: list[tuple[Tensor, slice]]):
    def apply(x: Tensor, y: Tensor) -> None:
        for delta, rows in deltas:
            y[rows] += delta
    return apply
