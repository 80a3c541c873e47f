"""Diff-Pruning: a sparse weight delta per target, W_task = W + D, plus
optional new biases (`TaskSpec.bias`). Default density 0.5%.

Run-time storage: per target a `SparseDelta`, the positions as int16 column
indices + int32 row pointers and the values [nnz] in the engine's dtype (4 bytes
per entry in bf16, 6 in fp32, against CSR's 8), which the CPU kernel reads as they are;
with torch's CSR kernels instead, recently run tasks keep int32 columns and values in
those kernels' dtype (`pets.pet.sparse.SparseLRU`).
Per hook point one op runs the batch's diff tasks of a store: one block-diagonal
sparse GEMM (or one per segment for large deltas)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from pets.errors import InvalidParamsError
from pets.pet.bias import bias_loop, bias_name, bias_op, shared_bias
from pets.pet.method import PetMethod, register
from pets.pet.ops import GroupRun, HookKey, OpTable, add_op, linear_keys
from pets.pet.params import ParamSpec, check_sparse_indices, random_sparse_indices
from pets.pet.slots import ListSlots
from pets.pet.sparse import SparseDelta, SparsePattern, group_sparse_ops, sparse_loop
from pets.pet.targets import linear_path, linear_shape


@dataclass(eq=False)
class DiffState:
    deltas: dict[HookKey, SparseDelta]  # D [out, in] per target
    biases: dict[HookKey, Tensor] = field(default_factory=dict)
    # kernel operands while the task runs recently (`pets.pet.sparse.group_sparse_ops`)
    cached: dict = field(default_factory=dict)

    def sparse_keys(self) -> list[HookKey]:
        """The hook points of its sparse terms."""
        return list(self.deltas)


def _keys(spec, backbone) -> list[HookKey]:
    return linear_keys(spec.targets, backbone.cfg.num_hidden_layers)


def _name(k: HookKey) -> str:
    return f"{linear_path(k.name, k.layer)}.weight"


@register
class Diff(PetMethod):
    name = "diff"
    default_density = 0.005
    storage = ("sparse delta: int16 column indices + int32 row pointers + values; "
               "optional dense biases")

    def param_specs(self, spec, backbone):
        out = {}
        for k in _keys(spec, backbone):
            out[f"{_name(k)}.indices"] = ParamSpec((2, None), "index")
            out[f"{_name(k)}.values"] = ParamSpec((None,))
            if spec.bias:
                out[bias_name(k)] = ParamSpec((linear_shape(backbone.cfg, k.name)[0],))
        return out

    def check_params(self, spec, backbone, params):
        for k in _keys(spec, backbone):
            idx, vals = params[f"{_name(k)}.indices"], params[f"{_name(k)}.values"]
            if idx.shape[1] != vals.shape[0]:
                raise InvalidParamsError(
                    f"task {spec.name!r}: {_name(k)} has {idx.shape[1]} indices "
                    f"but {vals.shape[0]} values")
            check_sparse_indices(spec.name, f"{_name(k)}.indices", idx,
                                 linear_shape(backbone.cfg, k.name))

    def init_params(self, spec, backbone, gen):
        params = {}
        for k in _keys(spec, backbone):
            idx = random_sparse_indices(linear_shape(backbone.cfg, k.name), spec.density, gen)
            params[f"{_name(k)}.indices"] = idx
            params[f"{_name(k)}.values"] = torch.randn(idx.shape[1], generator=gen) * 0.05
            if spec.bias:
                b = shared_bias(backbone, k).cpu().float()
                params[bias_name(k)] = b + torch.randn(b.shape, generator=gen) * 0.05
        return params

    def build_state(self, spec, backbone, params):
        dev, dt = backbone.device, backbone.dtype
        return DiffState(
            deltas={k: _delta(params[f"{_name(k)}.indices"], params[f"{_name(k)}.values"],
                              linear_shape(backbone.cfg, k.name), dev, dt)
                    for k in _keys(spec, backbone)},
            biases={k: params[bias_name(k)].to(dev, dt).contiguous()
                    for k in _keys(spec, backbone) if spec.bias})

    def export_params(self, spec, backbone, state):
        out = {}
        for k, d in state.deltas.items():
            out[f"{_name(k)}.indices"] = d.pattern.indices()
            out[f"{_name(k)}.values"] = d.values
        out.update({bias_name(k): b for k, b in state.biases.items()})
        return out

    def new_store(self, spec, backbone):
        return ListSlots()

    def store_key(self, spec):
        return (spec.targets, spec.bias)

    def ops(self, store: ListSlots, run: GroupRun, backbone, ctx) -> OpTable:
        states = {slot: store.view(slot) for slot in run.slot_list}
        table = group_sparse_ops(run, ctx, backbone, states, 1.0,
                                 pattern_of=lambda s, key: s.deltas[key].pattern,
                                 values_of=lambda s, key: s.deltas[key].values)
        kernel = ctx.dense_kernels_for(backbone.device, backbone.dtype)
        for key in states[run.slot_list[0]].biases:
            add_op(table, key, bias_op(run, shared_bias(backbone, key), lambda key=key: torch.stack(
                [states[s].biases[key] for s in run.slot_list]), kernel))
        return table

    def reference_ops(self, store: ListSlots, run: GroupRun, backbone) -> OpTable:
        table: OpTable = {}
        first = store.view(run.slot_list[0])
        for key in first.deltas:
            add_op(table, key, sparse_loop(
                run, 1.0, lambda slot, key=key: store.view(slot).deltas[key].csr().to_dense()))
        for key in first.biases:
            add_op(table, key, bias_loop(run, shared_bias(backbone, key),
                                         lambda slot, key=key: store.view(slot).biases[key]))
        return table

    def merge_into(self, spec, params, sd):
        for name in [n for n in params if n.endswith(".weight.indices")]:
            w = sd[name.removesuffix(".indices")]
            idx = params[name]
            w[idx[0], idx[1]] += params[name.replace(".indices", ".values")].to(w.dtype)
        for name in [n for n in params if n.endswith(".bias")]:
            sd[name].copy_(params[name])


def _delta(indices, values, shape, device, dtype) -> SparseDelta:
    pattern, order = SparsePattern.from_indices(indices, shape, device)
    values = values.to(device, dtype)  # the engine's dtype: bf16 halves a resident task
    if order is not None:
        values = values[order]
    return SparseDelta(pattern, values.contiguous())
