"""BitFit (Ben Zaken et al. 2022): train only the encoder's bias terms (every linear and
LayerNorm bias) and the head."""
from __future__ import annotations

from torch import Tensor

from pets.pet.spec import TaskSpec
from pets.pet.targets import LAYERNORM_PATHS, LINEAR_PATHS
from pets.train.model import TaskModel
from pets.train.recipes.base import Recipe, register


def bias_names(num_layers: int) -> list[str]:
    paths = list(LINEAR_PATHS.values()) + list(LAYERNORM_PATHS.values())
    return [f"{p.format(i=i)}.bias" for i in range(num_layers) for p in paths]


@register
class BitFit(Recipe):
    name = "bitfit"
    lr = 3e-3
    paper = "Ben Zaken et al. 2022"

    def attach(self, model: TaskModel, spec: TaskSpec | None) -> None:
        model.freeze_backbone()
        for n in bias_names(model.num_layers):
            model.bert.get_parameter(n).requires_grad_(True)

    def export(self, model: TaskModel, spec: TaskSpec | None) -> dict[str, Tensor]:
        return {n: model.bert.get_parameter(n).detach().clone()
                for n in bias_names(model.num_layers)}
