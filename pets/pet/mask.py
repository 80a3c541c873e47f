"""MaskBERT: binary weight masks, W_task = W * M with M = 0 on a zeroed set Z
(default 5% of each target's entries). Run as x W^T - x (W * (1 - M))^T: the
shared GEMM plus a sparse GEMM over the zeroed entries.

Run-time storage is the zeroed set's positions (`SparsePattern`: int16 column
indices + int32 row pointers, 2 bytes per zeroed entry). The values of
W * (1 - M) are the shared weight's own: a task that has not run holds none of
them, so many more tasks fit. Gathering them touches nearly every cache line of
W (at 5% density), so a task that runs keeps its kernel operands (for the CPU segment
kernel its sliced columns + values, about 4.2 bytes per entry in bf16; values + int32
columns for torch's CSR kernels; counted by `engine.memory()`) while it is among the
engine's most recently run sparse tasks (`OpContext.sparse_cache_tasks`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from pets.pet.method import PetMethod, register
from pets.pet.ops import GroupRun, HookKey, OpTable, add_op, linear_keys
from pets.pet.params import ParamSpec, check_sparse_indices, random_sparse_indices
from pets.pet.slots import ListSlots
from pets.pet.sparse import SparsePattern, group_sparse_ops, sparse_loop
from pets.pet.targets import linear_path, linear_shape


@dataclass(eq=False)
class MaskState:
    zeroed: dict[HookKey, SparsePattern]  # positions of Z in W [out, in]
    # kernel operands (W's values at Z) while the task runs recently
    cached: dict = field(default_factory=dict)

    def sparse_keys(self) -> list[HookKey]:
        """The hook points of its sparse terms."""
        return list(self.zeroed)


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

    def new_store(self, spec, backbone):
        return ListSlots()

    def ops(self, store: ListSlots, run: GroupRun, backbone, ctx) -> OpTable:
        return group_sparse_ops(
            run, ctx, backbone, {slot: store.view(slot) for slot in run.slot_list}, -1.0,
            pattern_of=lambda s, key: s.zeroed[key],
            values_of=lambda s, key: s.zeroed[key].gather(backbone.linear(key.layer, key.name)[0]))

    def reference_ops(self, store: ListSlots, run: GroupRun, backbone) -> OpTable:
        table: OpTable = {}
        for key in store.view(run.slot_list[0]).zeroed:
            weight = backbone.linear(key.layer, key.name)[0]
            add_op(table, key, sparse_loop(
                run, -1.0, lambda slot, key=key, w=weight:
                    store.view(slot).zeroed[key].csr_of(w, w.dtype).to_dense()))
        return table

    def merge_into(self, spec, params, sd):
        for name, idx in params.items():
            sd[name.removesuffix(".zeroed")][idx[0], idx[1]] = 0.0
