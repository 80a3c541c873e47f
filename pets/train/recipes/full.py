"""Full fine-tuning: every backbone weight trains. The accuracy reference for the PET
types; its result is a dense model (a whole backbone + head), not a task file."""
from __future__ import annotations

from torch import Tensor

from pets.pet.spec import TaskSpec
from pets.train.model import TaskModel
from pets.train.recipes.base import Recipe, register


@register
class Full(Recipe):
    name = "full"
    lr = 5e-5
    paper = "Devlin et al. 2019 (full fine-tuning)"

    def spec(self, name: str, labels: tuple[str, ...], seed: int) -> TaskSpec | None:
        return None

    def attach(self, model: TaskModel, spec: TaskSpec | None) -> None:
        for p in model.parameters():
            p.requires_grad_(True)

    def export(self, model: TaskModel, spec: TaskSpec | None) -> dict[str, Tensor]:
        """The whole dense model: HF BertModel names + classifier."""
        out = {k: v.detach().clone() for k, v in model.bert.state_dict().items()
               if not k.endswith("position_ids")}
        out.update(model.head_params())
        return out
