"""MaskBERT (Zhao et al. 2020): learn which weights to zero, W_task = W * M.

Every target weight gets a real-valued score (initialised to |W|, so the first mask is
magnitude pruning); per target linear the `density` fraction of lowest scores is zeroed
(M = 0) and the rest kept. The hard threshold passes gradients straight through to the
scores (dL/dS = dL/dM). The learned zeroed set is what the task file stores.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from pets.pet.spec import TaskSpec
from pets.pet.targets import linear_path
from pets.train.model import TaskModel
from pets.train.recipes.base import Recipe, register


class _TopKeep(torch.autograd.Function):
    """M = 1 except the k lowest scores; straight-through gradient."""

    @staticmethod
    def forward(ctx, scores: Tensor, k: int) -> Tensor:
        mask = torch.ones_like(scores)
        mask.view(-1)[scores.flatten().topk(k, largest=False).indices] = 0
        return mask

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad, None


class MaskLinear(nn.Module):
    def __init__(self, base: nn.Linear, zero_fraction: float) -> None:
        super().__init__()
        self.base = base
        self.scores = nn.Parameter(base.weight.detach().abs().clone())
        self.k = max(1, round(zero_fraction * base.weight.numel()))

    def mask(self) -> Tensor:
        return _TopKeep.apply(self.scores, self.k)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.base.weight * self.mask(), self.base.bias)


@register
class Mask(Recipe):
    name = "mask"
    lr = 2e-3
    paper = "Zhao et al. 2020 (scores, hard threshold, straight-through estimator)"

    def attach(self, model: TaskModel, spec: TaskSpec | None) -> None:
        model.freeze_backbone()
        for t, i in model.sites(spec.targets):
            model.set_linear(t, i, MaskLinear(model.linear(t, i), spec.density))

    def export(self, model: TaskModel, spec: TaskSpec | None) -> dict[str, Tensor]:
        out = {}
        for t, i in model.sites(spec.targets):
            m = model.linear(t, i)
            out[f"{linear_path(t, i)}.weight.zeroed"] = \
                (m.mask().detach() == 0).nonzero().T.contiguous()
        return out
