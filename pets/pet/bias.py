"""Task biases that replace shared ones (BitFit, Diff-Pruning's optional biases).

A task bias b_task is stored whole (so export is exact); per batch each
segment adds b_task - b_shared to the shared op's output rows: one indexed
add per hook point over all segments of a slot group.
"""
from __future__ import annotations

from typing import Callable

from torch import Tensor

from pets.pet.ops import GroupRun, HookKey
from pets.pet.targets import LAYERNORM_PATHS, LINEAR_PATHS

# The bias of a linear fires at its "linear" hook; a LayerNorm's at its "layernorm" hook.
_PATHS = {"linear": LINEAR_PATHS, "layernorm": LAYERNORM_PATHS}


def bias_name(key: HookKey) -> str:
    return f"{_PATHS[key.kind][key.name].format(i=key.layer)}.bias"


def shared_bias(backbone, key: HookKey) -> Tensor:
    if key.kind == "linear":
        return backbone.linear(key.layer, key.name)[1]
    return backbone.layernorm_bias(key.layer, key.name)


def slot_part(key: HookKey) -> str:
    """The name of a hook point's bias in a slot store."""
    return f"{key.kind}.{key.layer}.{key.name}"


def part_key(part: str) -> HookKey:
    kind, layer, name = part.split(".")
    return HookKey(kind, int(layer), name)


def bias_op(run: GroupRun, shared: Tensor, task_biases: Callable[[], Tensor], kernel=None):
    """y's rows of each segment += b_task - b_shared. task_biases() -> [n, out]; `kernel`:
    `OpContext.dense_kernels_for`'s answer (None: torch's add)."""
    def apply(x: Tensor, y: Tensor) -> None:
        run.add_per_segment(y, task_biases() - shared, kernel)
    return apply


def bias_loop(run: GroupRun, shared: Tensor, bias_of: Callable[[int], Tensor]):
    """The per-segment reference of `bias_op`; bias_of(slot) -> [out]."""
    def apply(x: Tensor, y: Tensor) -> None:
        for slot, rows in zip(run.slot_list, run.rows):
            y[rows] += bias_of(slot) - shared
    return apply
