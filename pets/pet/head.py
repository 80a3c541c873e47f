"""Optional classifier head of any task: logits = pooled W_c^T + b_c on the shared pooler."""
from __future__ import annotations

import torch
from torch import Tensor

from pets.pet.params import ParamSpec

HEAD_NAMES = ("classifier.weight", "classifier.bias")


def head_specs(num_labels: int, hidden: int) -> dict[str, ParamSpec]:
    if num_labels == 0:
        return {}
    return {"classifier.weight": ParamSpec((num_labels, hidden)),
            "classifier.bias": ParamSpec((num_labels,))}


def init_head(num_labels: int, hidden: int, gen: torch.Generator) -> dict[str, Tensor]:
    if num_labels == 0:
        return {}
    return {"classifier.weight": torch.randn(num_labels, hidden, generator=gen) / hidden**0.5,
            "classifier.bias": torch.randn(num_labels, generator=gen) * 0.1}
