"""LoRA's and adapters' projections through the compiled CPU kernel (`segment_gemm`).

Both PETs are two projections per hook point over a group's segments, each segment with
its own task's weights: h = x W1^T (+ b1), then y += act(h) W2^T (+ b2). On the CPU the
compiled kernel reads every segment's weights straight from the slot stacks
([capacity, out, in], indexed by the group's slots), whatever the segments' lengths;
elsewhere (or without a compiler) the methods run torch's batched GEMMs instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pets.pet.ops import GroupRun

_NONE = torch.empty(0)  # "no bias" / "scale 1" for the kernel


@dataclass(frozen=True, eq=False)
class Projections:
    """One hook point's two projections for a group: w1 [S, k, in] (+ b1 [S, k]) into the
    [V, k] hidden buffer, then w2 [S, out, k] (+ b2 [S, out]) added into y. `scales`: [n]
    float32 applied to the first projection (LoRA's alpha / r), or empty."""

    kernel: object
    run: GroupRun
    w1: Tensor
    w2: Tensor
    b1: Tensor = _NONE
    b2: Tensor = _NONE
    scales: Tensor = _NONE

    def hidden(self, x: Tensor) -> Tensor:
        """h [V, k] = scale * x[group rows] @ W1^T + b1, per segment (h row 0 is the group's
        first row)."""
        run = self.run
        h = torch.empty(run.stop - run.start, self.w1.shape[1], dtype=x.dtype, device=x.device)
        self.kernel.segment_gemm(x, h, self.w1, self.b1, run.slots, run.segment_starts,
                                 run.segment_offsets, run.segment_lens, self.scales, False)
        return h

    def add_output(self, h: Tensor, y: Tensor) -> None:
        """y[group rows] += h @ W2^T + b2, per segment."""
        run = self.run
        self.kernel.segment_gemm(h, y, self.w2, self.b2, run.slots, run.segment_offsets,
                                 run.segment_starts, run.segment_lens, _NONE, True)
