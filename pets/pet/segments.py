"""Gathering a slot group's segments into one padded [n, L_max, d] block.

When a group's segments differ in length, its batched PET operators gather
their rows into [n, L_max, d] (short segments padded with a repeat of their
first row), run one batched GEMM, and add the valid rows back into the output
with one index_add. Equal-length groups skip all of this: their rows are a
view (`pets.pet.ops.GroupRun.blocks`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class SegmentGather:
    """Index tensors gathering n segments into a padded [n, L_max] block.

    index: [n, L_max] token row of each slot (padding slots repeat the first row).
    rows:  [V] token rows of the valid slots; valid: [n * L_max] bool, or None if none padded.
    """

    index: Tensor
    rows: Tensor
    valid: Tensor | None

    @classmethod
    def build(cls, segments: list[slice], device: torch.device) -> "SegmentGather":
        starts = torch.tensor([s.start for s in segments], device=device)
        lens = torch.tensor([s.stop - s.start for s in segments], device=device)
        length = int(lens.max())
        ar = torch.arange(length, device=device)
        valid = ar < lens[:, None]
        index = torch.where(valid, starts[:, None] + ar, starts[:, None])
        all_valid = bool(valid.all())
        return cls(index=index, rows=index[valid],
                   valid=None if all_valid else valid.reshape(-1))

    def gather(self, x: Tensor) -> Tensor:
        """x [T, d] -> [n, L_max, d]."""
        return x[self.index]

    def scatter_add(self, y: Tensor, delta: Tensor) -> None:
        """Add delta [n, L_max, d] into the rows of y [T, d] it came from."""
        flat = delta.reshape(-1, delta.shape[-1])
        y.index_add_(0, self.rows, flat if self.valid is None else flat[self.valid])
