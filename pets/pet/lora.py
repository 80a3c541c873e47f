"""LoRA: y += (alpha / r) * x A^T B^T on each target linear (PEFT convention).

Run-time form: per (layer, target) the task's A [r, in] and B [out, r], dense.
Batch operator: per target, each LoRA segment does two thin GEMMs on its own
rows; tasks of any rank mix in one batch with no padding of ranks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pets.pet.method import PetMethod, register
from pets.pet.ops import HookKey, OpTable, Segment, add_op
from pets.pet.params import ParamSpec
from pets.pet import segments
from pets.pet.segments import SegmentGather, group_by_shape
from pets.pet.spec import TaskSpec
from pets.pet.targets import linear_path, linear_shape


@dataclass
class LoraState:
    scale: float
    ab: dict[tuple[int, str], tuple[Tensor, Tensor]]  # (layer, target) -> (A [r, in], B [out, r])


def _sites(spec: TaskSpec, backbone) -> list[tuple[int, str]]:
    return [(i, t) for i in range(backbone.cfg.num_hidden_layers) for t in spec.targets]


@register
class Lora(PetMethod):
    name = "lora"
    default_targets = ("query", "value")
    storage = "dense A [r, in] and B [out, r] per target"

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

    def build_state(self, spec, backbone, params):
        put = lambda t: t.to(backbone.device, backbone.dtype).contiguous()  # noqa: E731
        return LoraState(
            scale=spec.alpha / spec.rank,
            ab={(i, t): (put(params[f"{linear_path(t, i)}.lora_A"]),
                         put(params[f"{linear_path(t, i)}.lora_B"]))
                for i, t in _sites(spec, backbone)})

    def export_params(self, spec, backbone, state):
        out = {}
        for (i, t), (a, b) in state.ab.items():
            out[f"{linear_path(t, i)}.lora_A"] = a
            out[f"{linear_path(t, i)}.lora_B"] = b
        return out

    def ops(self, items: list[tuple[LoraState, Segment]], backbone) -> OpTable:
        by_site: dict[tuple[int, str], list[tuple[float, Tensor, Tensor, slice]]] = {}
        for state, seg in items:
            for site, (a, b) in state.ab.items():
                by_site.setdefault(site, []).append((state.scale, a, b, seg.rows))
        gathers: dict[tuple, SegmentGather] = {}
        table: OpTable = {}
        for (i, t), work in by_site.items():
            for group in group_by_shape(work, key=lambda w: w[1].shape[0]):
                add_op(table, HookKey("linear", i, t), _lora_fn(group, gathers, backbone.device))
        return table

    def merge_into(self, spec, params, sd):
        scale = spec.alpha / spec.rank
        for key in [k for k in params if k.endswith(".lora_A")]:
            path = key.removesuffix(".lora_A")
            a, b = params[key], params[f"{path}.lora_B"]
            w = sd[f"{path}.weight"]
            w += (scale * (b.double() @ a.double())).to(w.dtype)


def _lora_fn(group, gathers: dict, device):
    """y[rows] += scale * x[rows] A^T B^T for every segment of one rank group."""
    if not segments.use_batched(torch.device(device), len(group)):
        def loop(x: Tensor, y: Tensor) -> None:
            for scale, a, b, rows in group:
                y[rows].addmm_(x[rows] @ a.t(), b.t(), alpha=scale)
        return loop
    key = tuple((r.start, r.stop) for *_, r in group)
    gather = gathers.get(key) or gathers.setdefault(
        key, SegmentGather.build([r for *_, r in group], device))
    a_t = torch.stack([a.t() for _, a, _, _ in group])                 # [n, in, r]
    b_t = torch.stack([b.t() * scale for scale, _, b, _ in group])     # [n, r, out]

    def batched(x: Tensor, y: Tensor) -> None:
        gather.scatter_add(y, torch.bmm(torch.bmm(gather.gather(x), a_t), b_t))
    return batched
