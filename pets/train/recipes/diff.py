"""Diff-Pruning (Guo et al. 2021), by magnitude: W_task = W + D with D sparse.

The diff D of every target linear is first trained dense (the first third of the
epochs, at least one), then pruned to the task's density by keeping the entries of
largest magnitude over all targets together, and the kept entries are trained on (at 10x
the learning rate: they are few). The targets' biases train densely beside the diff (the
spec's `bias`), as the paper's diff covers every parameter. The
paper reaches the density with an L0 relaxation; pruning a trained dense diff reaches
the same target density with a plain optimiser.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from pets.pet.spec import TaskSpec
from pets.pet.targets import linear_path
from pets.train.model import TaskModel
from pets.train.recipes.base import Recipe, register


class DiffLinear(nn.Module):
    """y = x (W + D * keep)^T + b; `keep` is all ones until pruned. D, keep: [out, in]."""

    def __init__(self, base: nn.Linear) -> None:
        super().__init__()
        self.base = base
        self.diff = nn.Parameter(torch.zeros_like(base.weight))
        self.register_buffer("keep", torch.ones_like(base.weight), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.base.weight + self.diff * self.keep, self.base.bias)


@register
class Diff(Recipe):
    name = "diff"
    lr = 1e-4
    sparse_lr_scale = 10.0  # the few kept entries re-train at a higher rate
    paper = "Guo et al. 2021 (magnitude pruning of a trained dense diff, then re-training)"

    def spec(self, name: str, labels: tuple[str, ...], seed: int) -> TaskSpec | None:
        """Diff-Pruning's diff covers the biases too (dense: they are few); the task file
        then carries each target's new bias."""
        return TaskSpec(name=name, pet=self.name, num_labels=len(labels), labels=labels,
                        seed=seed, bias=True)

    def attach(self, model: TaskModel, spec: TaskSpec | None) -> None:
        model.freeze_backbone()
        for t, i in model.sites(spec.targets):
            model.set_linear(t, i, DiffLinear(model.linear(t, i)))
            if spec.bias:
                model.linear(t, i).base.bias.requires_grad_(True)
        model.diff_density = spec.density

    def after_epoch(self, model: TaskModel, epoch: int, epochs: int) -> bool:
        if epoch + 1 != dense_epochs(epochs):
            return False
        mods = [m for m in model.modules() if isinstance(m, DiffLinear)]
        mags = torch.cat([m.diff.detach().abs().flatten() for m in mods])
        k = max(1, round(model.diff_density * mags.numel()))
        threshold = mags.topk(k).values[-1]
        with torch.no_grad():
            for m in mods:
                m.keep.copy_((m.diff.abs() >= threshold).to(m.keep.dtype))
                m.diff.mul_(m.keep)
        return True

    def lr_after_change(self, lr: float) -> float:
        return lr * self.sparse_lr_scale

    def export(self, model: TaskModel, spec: TaskSpec | None) -> dict[str, Tensor]:
        out = {}
        for t, i in model.sites(spec.targets):
            m = model.linear(t, i)
            d = (m.diff * m.keep).detach()
            idx = (m.keep > 0).nonzero().T.contiguous()  # [2, nnz], row-major
            if idx.shape[1] == 0:  # a target the pruning emptied keeps one zero entry
                idx = torch.zeros(2, 1, dtype=torch.int64)
            out[f"{linear_path(t, i)}.weight.indices"] = idx
            out[f"{linear_path(t, i)}.weight.values"] = d[idx[0], idx[1]].clone()
            if spec.bias:
                out[f"{linear_path(t, i)}.bias"] = m.base.bias.detach().clone()
        return out


def dense_epochs(epochs: int) -> int:
    return max(1, epochs // 3)
