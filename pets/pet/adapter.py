"""Houlsby adapters: after the attention-output and FFN-output dense layers,
before dropout/residual/LayerNorm: h += gelu(h down^T + down_b) up^T + up_b.

Run-time form: tasks of one bottleneck share a slot store with, per (layer,
site), down [m, H], up [H, m] and biases stacked over slots; per hook point
one pair of projections covers all the batch's tasks of the store (on the CPU
the compiled `segment_gemm` kernel, `pets.pet.lowrank`; else two batched GEMMs).
Adapters cannot be merged into weights; the dense baseline inserts them as
modules (`AdapterDense` wraps the HF dense layer).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pets.pet.lowrank import Projections
from pets.pet.method import PetMethod, register
from pets.pet.ops import GroupRun, HookKey, OpTable, add_op
from pets.pet.params import ParamSpec
from pets.pet.slots import DenseSlots
from pets.pet.targets import ADAPTER_PATHS, LINEAR_PATHS

SITES = tuple(ADAPTER_PATHS)
_PARTS = ("down.weight", "down.bias", "up.weight", "up.bias")


def _path(site: str, layer: int) -> str:
    return ADAPTER_PATHS[site].format(i=layer)


def _sites(spec, backbone):
    return [(i, s) for i in range(backbone.cfg.num_hidden_layers) for s in spec.targets]


@register
class Adapter(PetMethod):
    name = "adapter"
    default_targets = SITES
    allowed_targets = SITES
    mergeable = False
    storage = "dense down [m, H] / up [H, m] per site, stacked in bottleneck groups"

    def param_specs(self, spec, backbone):
        h, m = backbone.cfg.hidden_size, spec.bottleneck
        shapes = dict(zip(_PARTS, ((m, h), (m,), (h, m), (h,))))
        return {f"{_path(s, i)}.{p}": ParamSpec(shapes[p]) for i, s in _sites(spec, backbone)
                for p in _PARTS}

    def init_params(self, spec, backbone, gen):
        h, m = backbone.cfg.hidden_size, spec.bottleneck
        params = {}
        for i, s in _sites(spec, backbone):
            p = _path(s, i)
            params[f"{p}.down.weight"] = torch.randn(m, h, generator=gen) / h**0.5
            params[f"{p}.down.bias"] = torch.randn(m, generator=gen) * 0.1
            params[f"{p}.up.weight"] = torch.randn(h, m, generator=gen) * 0.1 / m**0.5
            params[f"{p}.up.bias"] = torch.randn(h, generator=gen) * 0.02
        return params

    def store_key(self, spec):
        return (spec.bottleneck, spec.targets)

    def new_store(self, spec, backbone):
        h, m = backbone.cfg.hidden_size, spec.bottleneck
        shapes = dict(zip(_PARTS, ((m, h), (m,), (h, m), (h,))))
        return DenseSlots({f"{i}.{s}.{p}": shapes[p] for i, s in _sites(spec, backbone)
                           for p in _PARTS}, backbone.device, backbone.dtype)

    def build_state(self, spec, backbone, params):
        return {f"{i}.{s}.{p}": params[f"{_path(s, i)}.{p}"]
                for i, s in _sites(spec, backbone) for p in _PARTS}

    def export_params(self, spec, backbone, state):
        return {f"{_path(s, i)}.{p}": state[f"{i}.{s}.{p}"].clone()
                for i, s in _sites(spec, backbone) for p in _PARTS}

    def ops(self, store: DenseSlots, run: GroupRun, backbone, ctx) -> OpTable:
        kernel = ctx.dense_kernels_for(backbone.device, backbone.dtype)
        table: OpTable = {}
        for i, s in _sites_of(store):
            pre = f"{i}.{s}."
            dw, db, uw, ub = (store.parts[pre + p] for p in _PARTS)  # [capacity, ...] stacks
            add_op(table, HookKey("adapter", i, s),
                   _kernel(Projections(kernel, run, w1=dw, b1=db, w2=uw, b2=ub))
                   if kernel else _batched(store, run, pre))
        return table

    def reference_ops(self, store: DenseSlots, run: GroupRun, backbone) -> OpTable:
        table: OpTable = {}
        for i, s in _sites_of(store):
            def loop(x: Tensor, y: Tensor, pre=f"{i}.{s}.") -> None:
                for slot, rows in zip(run.slot_list, run.rows):
                    dw, db, uw, ub = (store.view(slot)[pre + p] for p in _PARTS)
                    h = y[rows]
                    h += F.linear(F.gelu(F.linear(h, dw, db)), uw, ub)
            add_op(table, HookKey("adapter", i, s), loop)
        return table

    def insert_modules(self, spec, params, model):
        for i, s in [(i, s) for i in range(model.config.num_hidden_layers) for s in spec.targets]:
            dense_path = LINEAR_PATHS[s].format(i=i)
            parent = model.get_submodule(dense_path.rsplit(".", 1)[0])
            p = _path(s, i)
            parent.dense = AdapterDense(parent.dense, *(params[f"{p}.{q}"] for q in _PARTS))


def _sites_of(store: DenseSlots) -> list[tuple[int, str]]:
    return list(dict.fromkeys((int(k.split(".")[0]), k.split(".")[1]) for k in store.shapes))


def _kernel(proj: Projections):
    """h[rows] += gelu(h down^T + down_b) up^T + up_b per segment, in the compiled kernel."""
    def apply(x: Tensor, y: Tensor) -> None:
        proj.add_output(F.gelu(proj.hidden(y)), y)
    return apply


def _batched(store: DenseSlots, run: GroupRun, pre: str):
    """h[rows] += gelu(h down^T + down_b) up^T + up_b for every segment, in two baddbmm."""
    def apply(x: Tensor, y: Tensor) -> None:
        down_w, down_b, up_w, up_b = (store.take(pre + p, run.slots, run.slot_span) for p in _PARTS)
        hidden = F.gelu(torch.baddbmm(down_b[:, None], run.blocks(y), down_w.transpose(1, 2)))
        run.add_blocks(y, torch.baddbmm(up_b[:, None], hidden, up_w.transpose(1, 2)))
    return apply


class AdapterDense(nn.Module):
    """A transformers dense layer followed by a Houlsby adapter (for the dense baseline)."""

    def __init__(self, dense: nn.Linear, down_w: Tensor, down_b: Tensor,
                 up_w: Tensor, up_b: Tensor) -> None:
        super().__init__()
        self.dense = dense
        self.down = nn.Linear(down_w.shape[1], down_w.shape[0])
        self.up = nn.Linear(up_w.shape[1], up_w.shape[0])
        with torch.no_grad():
            for lin, w, b in ((self.down, down_w, down_b), (self.up, up_w, up_b)):
                lin.weight.copy_(w)
                lin.bias.copy_(b)

    def forward(self, x: Tensor) -> Tensor:
        h = self.dense(x)
        return h + self.up(F.gelu(self.down(h)))
