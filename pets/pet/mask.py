"""MaskBERT: binary weight masks, W_task = W * M with M = 0 on a zeroed set Z
(default 5% of each target's entries). Run as x W^T - x (W * (1 - M))^T: the
shared GEMM plus a sparse GEMM over the zeroed entries."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pets.pet.method import PetMethod, register
from pets.pet.ops import HookKey, linear_keys
from pets.pet.params import ParamSpec, check_sparse_indices, random_sparse_indices
from pets.pet.sparse import csr_indices, sparse_ops, to_csr
from pets.pet.targets import linear_path, linear_shape


@dataclass
class MaskState:
    removed: dict[HookKey, Tensor]  # CSR [out, in] holding W's values on Z


def _keys(spec, backbone) -> list[HookKey]:
    return linear_keys(spec.targets, backbone.cfg.num_hidden_layers)


def _name(k: HookKey) -> str:
    return f"{linear_path(k.name, k.layer)}.weight.zeroed"


@register
class Mask(PetMethod):
    name = "mask"
    default_density = 0.05
    storage = "CSR of the shared weight's values on the zeroed set (int32 indices)"

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
        removed = {}
        for k in _keys(spec, backbone):
            idx = params[_name(k)].to(backbone.device)
            w = backbone.linear(k.layer, k.name)[0]
            removed[k] = to_csr(idx, w[idx[0], idx[1]], tuple(w.shape))
        return MaskState(removed)

    def export_params(self, spec, backbone, state):
        return {_name(k): csr_indices(csr) for k, csr in state.removed.items()}

    def ops(self, items, backbone):
        return sparse_ops([(s.removed, seg) for s, seg in items], sign=-1.0)

    def merge_into(self, spec, params, sd):
        for name, idx in params.items():
            sd[name.removesuffix(".zeroed")][idx[0], idx[1]] = 0.0
