"""Houlsby adapters (Houlsby et al. 2019): a bottleneck after the attention-output and
output dense layers, h += gelu(h W_d^T + b_d) W_u^T + b_u, initialised near identity
(small down projection, zero up projection)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from pets.pet.spec import TaskSpec
from pets.pet.targets import ADAPTER_PATHS
from pets.train.model import TaskModel
from pets.train.recipes.base import Recipe, register


class AdapterAfter(nn.Module):
    """dense(x) followed by the adapter's residual bottleneck."""

    def __init__(self, dense: nn.Linear, bottleneck: int) -> None:
        super().__init__()
        self.dense = dense
        h = dense.out_features
        self.down = nn.Linear(h, bottleneck)
        self.up = nn.Linear(bottleneck, h)
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.dense(x)
        return h + self.up(F.gelu(self.down(h)))


@register
class Adapter(Recipe):
    name = "adapter"
    lr = 1e-3
    paper = "Houlsby et al. 2019, near-identity init"

    def attach(self, model: TaskModel, spec: TaskSpec | None) -> None:
        model.freeze_backbone()
        for site, i in model.sites(spec.targets):
            model.set_linear(site, i, AdapterAfter(model.linear(site, i), spec.bottleneck))

    def export(self, model: TaskModel, spec: TaskSpec | None) -> dict[str, Tensor]:
        out = {}
        for site, i in model.sites(spec.targets):
            mod = model.linear(site, i)
            for part in ("down", "up"):
                lin = getattr(mod, part)
                out[f"{ADAPTER_PATHS[site].format(i=i)}.{part}.weight"] = lin.weight.detach().clone()
                out[f"{ADAPTER_PATHS[site].format(i=i)}.{part}.bias"] = lin.bias.detach().clone()
        return out
