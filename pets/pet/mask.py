"""MaskBERT: binary weight masks, W_task = W * M with M = 0 on a zeroed set Z
(default 5% of each target's entries). Run as x W^T - x (W * (1 - M))^T: the
shared GEMM plus a sparse GEMM over the zeroed entries.

Run-time storage is the zeroed set's positions only (`SparsePattern`: int16
column indices + int32 row pointers, 2 bytes per zeroed entry). The values of
W * (1 - M) are the shared weight's own, so they are gathered from it at op
time instead of being stored per task (a stored CSR of them cost 8 bytes per
entry: 4x the memory, for a gather that costs less than the sparse GEMM)."""
from __future__ import annotations

from dataclasses import dataclass

from pets.pet.method import PetMethod, register
from pets.pet.ops import HookKey, linear_keys
from pets.pet.params import ParamSpec, check_sparse_indices, random_sparse_indices
from pets.pet.sparse import SparsePattern, sparse_dtype, sparse_ops
from pets.pet.targets import linear_path, linear_shape


@dataclass
class MaskState:
    zeroed: dict[HookKey, SparsePattern]  # positions of Z in W [out, in]


def _keys(spec, backbone) -> list[HookKey]:
    return linear_keys(spec.targets, backbone.cfg.num_hidden_layers)


def _name(k: HookKey) -> str:
    return f"{linear_path(k.name, k.layer)}.weight.zeroed"


@register
class Mask(PetMethod):
    name = "mask"
    default_density = 0.05
    storage = ("zeroed positions only: int16 column indices + int32 row pointers; "
               "W's values gathered from the shared weight per op")

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

        def to_csr(key: HookKey, pattern: SparsePattern):
            return pattern.csr_of(backbone.linear(key.layer, key.name)[0], values_dtype)
        return sparse_ops([(s.zeroed, seg) for s, seg in items], -1.0, to_csr)

    def merge_into(self, spec, params, sd):
        for name, idx in params.items():
            sd[name.removesuffix(".zeroed")][idx[0], idx[1]] = 0.0
