"""LoRA: y += (alpha / r) * x A^T B^T on each target linear (PEFT convention).

Run-time form: tasks of one rank and target set share a slot store with, per
(layer, target), A [r, in] and B [out, r] stacked over slots, and the scale.
Batch operator: per hook point one pair of projections over all the batch's
tasks of the store, [L_s, in] @ [in, r] @ [r, out] per segment (on the CPU the
compiled `segment_gemm` kernel, `pets.pet.lowrank`; else two batched GEMMs);
tasks of other ranks sit in other stores and run as their own pair, so ranks
mix without padding.
"""
from __future__ import annotations

import torch
from torch import Tensor

from pets.pet.lowrank import Projections
from pets.pet.method import PetMethod, register
from pets.pet.ops import GroupRun, HookKey, OpTable, add_op
from pets.pet.params import ParamSpec
from pets.pet.slots import DenseSlots
from pets.pet.targets import linear_path, linear_shape


def _sites(spec, backbone) -> list[tuple[int, str]]:
    return [(i, t) for i in range(backbone.cfg.num_hidden_layers) for t in spec.targets]


def _part(layer: int, target: str, ab: str) -> str:
    return f"{ab}.{layer}.{target}"


@register
class Lora(PetMethod):
    name = "lora"
    default_targets = ("query", "value")
    storage = "dense A [r, in] and B [out, r] per target, stacked in rank groups"

    def param_specs(self, spec, backbone):
        out = {}
        for i, t in _sites(spec, backbone):
            o, n = linear_shape(backbone.cfg, t)
            out[f"{linear_path(t, i)}.lora_A"] = ParamSpec((spec.rank, n))
            out[f"{linear_path(t, i)}.lora_B"] = ParamSpec((o, spec.rank))
        return out

    def init_params(self, spec, backbone, gen):
        params = {}
        for i, t in _sites(spec, backbone):
            o, n = linear_shape(backbone.cfg, t)
            params[f"{linear_path(t, i)}.lora_A"] = torch.randn(spec.rank, n, generator=gen) / n**0.5
            params[f"{linear_path(t, i)}.lora_B"] = torch.randn(o, spec.rank, generator=gen) * 0.02
        return params

    def store_key(self, spec):
        return (spec.rank, spec.targets)

    def new_store(self, spec, backbone):
        shapes: dict[str, tuple[int, ...]] = {"scale": ()}
        for i, t in _sites(spec, backbone):
            o, n = linear_shape(backbone.cfg, t)
            shapes[_part(i, t, "A")] = (spec.rank, n)
            shapes[_part(i, t, "B")] = (o, spec.rank)
        return DenseSlots(shapes, backbone.device, backbone.dtype)

    def build_state(self, spec, backbone, params):
        state = {"scale": torch.tensor(spec.alpha / spec.rank)}
        for i, t in _sites(spec, backbone):
            state[_part(i, t, "A")] = params[f"{linear_path(t, i)}.lora_A"]
            state[_part(i, t, "B")] = params[f"{linear_path(t, i)}.lora_B"]
        return state

    def export_params(self, spec, backbone, state):
        out = {}
        for i, t in _sites(spec, backbone):
            out[f"{linear_path(t, i)}.lora_A"] = state[_part(i, t, "A")].clone()
            out[f"{linear_path(t, i)}.lora_B"] = state[_part(i, t, "B")].clone()
        return out

    def ops(self, store: DenseSlots, run: GroupRun, backbone, ctx) -> OpTable:
        scale = store.take("scale", run.slots, run.slot_span)  # [n]
        kernel = ctx.dense_kernels_for(backbone.device, backbone.dtype)
        # once per batch for all hook points: the kernel's per-segment scales, or bmm's
        scale = scale.float() if kernel else scale[:, None, None]
        table: OpTable = {}
        for i, t in _sites_of(store):
            a, b = store.parts[_part(i, t, "A")], store.parts[_part(i, t, "B")]
            add_op(table, HookKey("linear", i, t),
                   _kernel(Projections(kernel, run, a, b, scales=scale))
                   if kernel else _batched(store, run, i, t, scale))
        return table

    def reference_ops(self, store: DenseSlots, run: GroupRun, backbone) -> OpTable:
        table: OpTable = {}
        for i, t in _sites_of(store):
            def loop(x: Tensor, y: Tensor, i=i, t=t) -> None:
                for slot, rows in zip(run.slot_list, run.rows):
                    s = store.view(slot)
                    y[rows] += float(s["scale"]) * (x[rows] @ s[_part(i, t, "A")].t()) @ s[_part(i, t, "B")].t()
            add_op(table, HookKey("linear", i, t), loop)
        return table

    def merge_into(self, spec, params, sd):
        scale = spec.alpha / spec.rank
        for key in [k for k in params if k.endswith(".lora_A")]:
            path = key.removesuffix(".lora_A")
            a, b = params[key], params[f"{path}.lora_B"]
            w = sd[f"{path}.weight"]
            w += (scale * (b.double() @ a.double())).to(w.dtype)


def _sites_of(store: DenseSlots) -> list[tuple[int, str]]:
    return [(int(i), t) for ab, i, t in (k.split(".") for k in store.shapes if k != "scale")
            if ab == "A"]


def _kernel(proj: Projections):
    """y[rows] += scale * x[rows] A^T B^T per segment, in the compiled kernel."""
    def apply(x: Tensor, y: Tensor) -> None:
        proj.add_output(proj.hidden(x), y)
    return apply


def _batched(store: DenseSlots, run: GroupRun, layer: int, target: str, scale: Tensor):
    """y[rows] += scale * x[rows] A^T B^T for every segment of the group, in two bmm."""
    a_name, b_name = _part(layer, target, "A"), _part(layer, target, "B")

    def apply(x: Tensor, y: Tensor) -> None:
        a = store.take(a_name, run.slots, run.slot_span)  # [n, r, in]
        b = store.take(b_name, run.slots, run.slot_span)  # [n, out, r]
        h = torch.bmm(run.blocks(x), a.transpose(1, 2)).mul_(scale)  # [n, L, r]
        run.add_bmm(y, h, b.transpose(1, 2))
    return apply
