"""MaskBERT: binary weight masks, W_task = W * M with M = 0 on a zeroed set Z
(default 5% of each target's entries). Run as x W^T - x (W * (1 - M))^T: the
shared GEMM plus a sparse GEMM over the zeroed entries.

Run-time storage is the zeroed set's positions (`SparsePattern`: int16 column
indices + int32 row pointers, 2 bytes per zeroed entry). The values of
W * (1 - M) are the shared weight's own: a task that has not run holds none of
them, so many more tasks fit. Gathering them touches nearly every cache line of
W (at 5% density), so a task that runs keeps its gathered values and int32
columns (8 more bytes per entry, counted by `engine.memory()`) while it is among
the VALUE_CACHE_TASKS most recently run mask tasks of the process."""
from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import Tensor

from pets.pet.method import PetMethod, register
from pets.pet.ops import HookKey, linear_keys
from pets.pet.params import ParamSpec, check_sparse_indices, random_sparse_indices
from pets.pet.sparse import SparsePattern, sparse_dtype, sparse_ops
from pets.pet.targets import linear_path, linear_shape


VALUE_CACHE_TASKS = 64  # mask tasks whose gathered values stay resident (LRU per process)
_recent: OrderedDict[int, weakref.ref] = OrderedDict()


@dataclass(eq=False)
class MaskState:
    zeroed: dict[HookKey, SparsePattern]  # positions of Z in W [out, in]
    # (int32 columns [nnz], W's values [nnz]) per target, while the task runs recently
    cached: dict[HookKey, tuple[Tensor, Tensor]] = field(default_factory=dict)


def _touch(state: MaskState) -> None:
    """Mark `state` as just run; the least recently run beyond the cap drop their values."""
    _recent.pop(id(state), None)
    _recent[id(state)] = weakref.ref(state)
    while len(_recent) > VALUE_CACHE_TASKS:
        _, ref = _recent.popitem(last=False)
        if (old := ref()) is not None:
            old.cached.clear()


def _keys(spec, backbone) -> list[HookKey]:
    return linear_keys(spec.targets, backbone.cfg.num_hidden_layers)


def _name(k: HookKey) -> str:
    return f"{linear_path(k.name, k.layer)}.weight.zeroed"


@register
class Mask(PetMethod):
    name = "mask"
    default_density = 0.05
    storage = ("zeroed positions: int16 column indices + int32 row pointers; W's values "
               "gathered from the shared weight on first use and kept for recently run tasks")

    def param_specs(self, spec, backbone):
        return {_name(k): ParamSpec((2, None), "index") for k in _keys(spec, backbone)}

    def check_params(self, spec, backbone, params):
        for k in _keys(spec, backbone):
            check_sparse_indices(spec.name, _name(k), params[_name(k)],
                                 linear_shape(backbone.cfg, k.name))

    def init_params(self, spec, backbone, gen):
        return {_name(k): random_sparse_indices(linear_shape(backbone.cfg, k.name),
                                                spec.density, gen)
                for k in _keys(spec, backbone)}

    def build_state(self, spec, backbone, params):
        return MaskState({k: SparsePattern.from_indices(
            params[_name(k)], linear_shape(backbone.cfg, k.name), backbone.device)[0]
            for k in _keys(spec, backbone)})

    def export_params(self, spec, backbone, state):
        return {_name(k): p.indices() for k, p in state.zeroed.items()}

    def ops(self, items, backbone):
        values_dtype = sparse_dtype(backbone.device, backbone.dtype)

        def to_csr(key: HookKey, state: MaskState):
            pattern = state.zeroed[key]
            if key not in state.cached:
                col = pattern.col.to(torch.int32)
                weight = backbone.linear(key.layer, key.name)[0]
                state.cached[key] = (col, pattern.gather(weight).to(values_dtype))
            col, values = state.cached[key]
            return pattern.csr(values, col)

        for state, _ in items:
            _touch(state)
        return sparse_ops([({k: s for k in s.zeroed}, seg) for s, seg in items], -1.0, to_csr)

    def merge_into(self, spec, params, sd):
        for name, idx in params.items():
            sd[name.removesuffix(".zeroed")][idx[0], idx[1]] = 0.0
