"""Batched PET operators over many task segments: gather, bmm, scatter.

Tasks whose PET tensors have the same shape (LoRA of one rank, adapters of
one bottleneck) run as one batched GEMM: their segments' rows are gathered
into [n, L_max, d] (short segments padded with a repeat of their first row),
multiplied by the stacked per-task weights, and the valid rows added back into
the output with one index_add. Each op also has a per-segment loop, the plain
reference used as the test oracle.

Which runs is `BATCHED`: None (auto) batches on accelerators, where each
small GEMM is a kernel launch, and loops on the CPU, where calls are cheap and
the gather/scatter copies cost more (distilbert, 64 tasks x 64 tokens, 2-core
EPYC: LoRA+adapter ops add 66 ms batched vs 45 ms looped, medians of 7).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

BATCHED: bool | None = None  # True / False force the batched / looped operators


def use_batched(device: torch.device, n_segments: int) -> bool:
    if n_segments < 2:
        return False
    return device.type != "cpu" if BATCHED is None else BATCHED


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


def group_by_shape(work: list[tuple], key) -> list[list[tuple]]:
    """Split work items into groups with equal `key(item)` (e.g. the LoRA rank)."""
    groups: dict[object, list[tuple]] = {}
    for item in work:
        groups.setdefault(key(item), []).append(item)
    return list(groups.values())
