"""BitFit: the task's biases replace the shared biases of every target linear
and both LayerNorms of each encoder layer. Run-time form: the full bias
vectors of tasks with the same targets, stacked over slots in one flat buffer; per
batch one subtraction gives b_task - b_shared at every hook point, then one
indexed add per hook point covers all of the batch's BitFit tasks."""
from __future__ import annotations

import weakref

import torch
from torch import Tensor

from pets.pet.bias import bias_loop, bias_name, part_key, shared_bias, slot_part
from pets.pet.method import PetMethod, register
from pets.pet.ops import HookKey, OpTable, add_op, linear_keys
from pets.pet.params import ParamSpec
from pets.pet.slots import DenseSlots
from pets.pet.targets import LAYERNORM_PATHS


def _keys(spec, backbone) -> list[HookKey]:
    layers = backbone.cfg.num_hidden_layers
    return linear_keys(spec.targets, layers) + [
        HookKey("layernorm", i, s) for i in range(layers) for s in LAYERNORM_PATHS]


@register
class BitFit(PetMethod):
    name = "bitfit"
    storage = "dense bias vectors, stacked over tasks"

    def param_specs(self, spec, backbone):
        return {bias_name(k): ParamSpec(tuple(shared_bias(backbone, k).shape))
                for k in _keys(spec, backbone)}

    def init_params(self, spec, backbone, gen):
        return {bias_name(k): shared_bias(backbone, k).cpu().float()
                + torch.randn(shared_bias(backbone, k).shape, generator=gen) * 0.05
                for k in _keys(spec, backbone)}

    def new_store(self, spec, backbone):
        return DenseSlots({slot_part(k): tuple(shared_bias(backbone, k).shape)
                           for k in _keys(spec, backbone)}, backbone.device, backbone.dtype,
                          flat=True)

    def build_state(self, spec, backbone, params):
        return {slot_part(k): params[bias_name(k)] for k in _keys(spec, backbone)}

    def export_params(self, spec, backbone, state):
        return {bias_name(part_key(p)): b.clone() for p, b in state.items()}

    def ops(self, store, run, backbone, ctx) -> OpTable:
        """b_task - b_shared for every hook point of the batch's tasks in one subtraction
        ([n, D]); each hook point then adds its columns: one op per hook point."""
        delta = store.take_all(run.slots, run.slot_span) - _shared_flat(store, backbone, ctx)
        kernel = ctx.dense_kernels_for(backbone.device, backbone.dtype)
        table: OpTable = {}
        for part, cols in store.offsets.items():
            add_op(table, part_key(part), per_segment_add(run, delta[:, cols], kernel))
        return table

    def reference_ops(self, store, run, backbone) -> OpTable:
        table: OpTable = {}
        for part in store.shapes:
            key = part_key(part)
            add_op(table, key, bias_loop(run, shared_bias(backbone, key),
                                         lambda slot, part=part: store.view(slot)[part]))
        return table

    def merge_into(self, spec, params, sd):
        for name, b in params.items():
            sd[name].copy_(b)


def _shared_flat(store, backbone, ctx) -> Tensor:
    """The shared biases in the store's column order, [D]; built once per store."""
    cache = ctx.cache("bitfit-shared", weakref.WeakKeyDictionary)
    if store not in cache:
        cache[store] = torch.cat([shared_bias(backbone, part_key(p)) for p in store.offsets])
    return cache[store]


def per_segment_add(run, vectors: Tensor, kernel=None):
    """y's rows of segment j += vectors[j]. vectors: [n, out]; `kernel` as in `bias_op`."""
    def apply(x: Tensor, y: Tensor) -> None:
        run.add_per_segment(y, vectors, kernel)
    return apply
