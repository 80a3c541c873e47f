"""Houlsby adapters: after the attention-output and FFN-output dense layers,
before dropout/residual/LayerNorm: h += gelu(h down^T + down_b) up^T + up_b.

Run-time form: per (layer, site) dense down [m, H], up [H, m] and biases.
Adapters cannot be merged into weights; the dense baseline inserts them as
modules (`AdapterDense` wraps the HF dense layer).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pets.pet.method import PetMethod, register
from pets.pet.ops import HookKey, OpTable, Segment, add_op
from pets.pet import segments
from pets.pet.params import ParamSpec
from pets.pet.segments import SegmentGather, group_by_shape
from pets.pet.targets import ADAPTER_PATHS, LINEAR_PATHS

SITES = tuple(ADAPTER_PATHS)
_PARTS = ("down.weight", "down.bias", "up.weight", "up.bias")


@dataclass
class AdapterState:
    layers: dict[tuple[int, str], tuple[Tensor, Tensor, Tensor, Tensor]]  # down_w, down_b, up_w, up_b


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
    storage = "dense down [m, H] / up [H, m] per site"

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

    def build_state(self, spec, backbone, params):
        put = lambda t: t.to(backbone.device, backbone.dtype).contiguous()  # noqa: E731
        return AdapterState({(i, s): tuple(put(params[f"{_path(s, i)}.{p}"]) for p in _PARTS)
                             for i, s in _sites(spec, backbone)})

    def export_params(self, spec, backbone, state):
        return {f"{_path(s, i)}.{p}": t for (i, s), ts in state.layers.items()
                for p, t in zip(_PARTS, ts)}

    def ops(self, items: list[tuple[AdapterState, Segment]], backbone) -> OpTable:
        by_site: dict[tuple[int, str], list] = {}
        for state, seg in items:
            for site, ws in state.layers.items():
                by_site.setdefault(site, []).append((ws, seg.rows))
        gathers: dict[tuple, SegmentGather] = {}
        table: OpTable = {}
        for (i, s), work in by_site.items():
            for group in group_by_shape(work, key=lambda w: w[0][0].shape[0]):
                add_op(table, HookKey("adapter", i, s), _adapter_fn(group, gathers, backbone.device))
        return table

    def insert_modules(self, spec, params, model):
        for i, s in [(i, s) for i in range(model.config.num_hidden_layers) for s in spec.targets]:
            dense_path = LINEAR_PATHS[s].format(i=i)
            parent = model.get_submodule(dense_path.rsplit(".", 1)[0])
            p = _path(s, i)
            parent.dense = AdapterDense(parent.dense, *(params[f"{p}.{q}"] for q in _PARTS))


def _adapter_fn(group, gathers: dict, device):
    """h[rows] += adapter(h[rows]) for every segment of one bottleneck size."""
    if not segments.use_batched(torch.device(device), len(group)):
        def loop(x: Tensor, y: Tensor) -> None:
            for (dw, db, uw, ub), rows in group:
                h = y[rows]
                h += F.linear(F.gelu(F.linear(h, dw, db)), uw, ub)
        return loop
    key = tuple((r.start, r.stop) for _, r in group)
    gather = gathers.get(key) or gathers.setdefault(
        key, SegmentGather.build([r for _, r in group], device))
    down_t = torch.stack([w[0].t() for w, _ in group])     # [n, H, m]
    down_b = torch.stack([w[1] for w, _ in group])[:, None]  # [n, 1, m]
    up_t = torch.stack([w[2].t() for w, _ in group])       # [n, m, H]
    up_b = torch.stack([w[3] for w, _ in group])[:, None]    # [n, 1, H]

    def batched(x: Tensor, y: Tensor) -> None:
        hidden = F.gelu(torch.baddbmm(down_b, gather.gather(y), down_t))
        gather.scatter_add(y, torch.baddbmm(up_b, hidden, up_t))
    return batched


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
