"""LoRA (Hu et al. 2021) with PEFT's conventions: A Kaiming-uniform, B zero, y += (alpha/r) x A^T B^T."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pets.pet.spec import TaskSpec
from pets.pet.targets import linear_path
from pets.train.model import TaskModel
from pets.train.recipes.base import Recipe, register


class LoraLinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = alpha / rank

    def forward(self, x: Tensor) -> Tensor:
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scale


@register
class Lora(Recipe):
    name = "lora"
    lr = 2e-3
    paper = "Hu et al. 2021; PEFT init and scaling"

    def attach(self, model: TaskModel, spec: TaskSpec | None) -> None:
        model.freeze_backbone()
        for t, i in model.sites(spec.targets):
            model.set_linear(t, i, LoraLinear(model.linear(t, i), spec.rank, spec.alpha))

    def export(self, model: TaskModel, spec: TaskSpec | None) -> dict[str, Tensor]:
        out = {}
        for t, i in model.sites(spec.targets):
            mod, path = model.linear(t, i), linear_path(t, i)
            out[f"{path}.lora_A"] = mod.lora_A.detach().clone()
            out[f"{path}.lora_B"] = mod.lora_B.detach().clone()
        return out
