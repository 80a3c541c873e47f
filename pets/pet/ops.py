"""The interface between PET methods and the backbone.

The backbone exposes hook points, each named by a `HookKey` (kind, layer,
name): `linear` fires after a target linear's shared GEMM (x: its input
[T, in], y: its output [T, out], updated in place); `adapter` fires after the
attention-output / FFN-output dense, before the residual and LayerNorm (x is
y: [T, H]); `layernorm` fires after a LayerNorm (y: [T, H]).

For one batch, each PET method turns its tasks' segments into an `OpTable`:
a dict HookKey -> list of functions f(x, y) that add the PET's contribution to
y in place. The backbone knows nothing else of PETs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, NamedTuple

import torch
from torch import Tensor

from pets.pet.segments import SegmentGather

HookFn = Callable[[Tensor, Tensor], None]


class HookKey(NamedTuple):
    kind: str  # "linear" | "adapter" | "layernorm"
    layer: int
    name: str  # a target, adapter site or LayerNorm site


OpTable = dict[HookKey, list[HookFn]]


@dataclass(frozen=True)
class Segment:
    """Rows [start, stop) of the batch's token tensor that belong to one task.

    Segments are task-contiguous: a task's queries are adjacent in a Batch.
    """

    task: str
    start: int
    stop: int

    @property
    def rows(self) -> slice:
        return slice(self.start, self.stop)


def linear_keys(targets: tuple[str, ...], num_layers: int) -> list[HookKey]:
    """The `linear` hook points of `targets` in every layer."""
    return [HookKey("linear", i, t) for i in range(num_layers) for t in targets]


def add_op(table: OpTable, key: HookKey, fn: HookFn) -> None:
    table.setdefault(key, []).append(fn)


def merge_tables(tables: list[OpTable]) -> OpTable:
    merged: OpTable = {}
    for table in tables:
        for key, fns in table.items():
            merged.setdefault(key, []).extend(fns)
    return merged


@dataclass(frozen=True, eq=False)
class GroupRun:
    """One slot group's share of a batch, built once and used by all its hook points.

    The engine lays a group's segments out on adjacent token rows [start, stop)
    (`pets.engine.layout`), so a PET operator reads its rows as one slice.
    slots: [n] long, the slot of each segment's task. rows: each segment's rows.
    length: the common number of rows per segment, or None when they differ.
    """

    slots: Tensor
    slot_list: tuple[int, ...]
    rows: tuple[slice, ...]
    start: int
    stop: int
    length: int | None

    @classmethod
    def build(cls, slot_list: list[int], rows: list[slice], device) -> "GroupRun":
        lens = {r.stop - r.start for r in rows}
        return cls(slots=torch.tensor(slot_list, dtype=torch.long, device=device),
                   slot_list=tuple(slot_list), rows=tuple(rows), start=rows[0].start,
                   stop=rows[-1].stop, length=lens.pop() if len(lens) == 1 else None)

    @cached_property
    def slot_span(self) -> slice | None:
        """slice(a, b) when the segments' slots are a, a+1, ..., b-1 (stores then hand out
        views instead of gathered copies), else None."""
        first = self.slot_list[0]
        if self.slot_list == tuple(range(first, first + self.n)):
            return slice(first, first + self.n)
        return None

    @property
    def n(self) -> int:
        return len(self.slot_list)

    @cached_property
    def row_segment(self) -> Tensor:
        """Segment number of every row in [start, stop). [V] long."""
        counts = torch.tensor([r.stop - r.start for r in self.rows], device=self.slots.device)
        return torch.repeat_interleave(torch.arange(self.n, device=self.slots.device), counts)

    @cached_property
    def segment_starts(self) -> Tensor:
        """Each segment's first row in the batch, [n] int64 on the CPU (the compiled kernels'
        side; built once per batch, shared by every hook point)."""
        return torch.tensor([r.start for r in self.rows], dtype=torch.long)

    @cached_property
    def segment_offsets(self) -> Tensor:
        """Each segment's first row among the group's rows [start, stop). [n] int64, CPU."""
        return self.segment_starts - self.start

    @cached_property
    def segment_lens(self) -> Tensor:
        """Each segment's number of rows, [n] int64 on the CPU."""
        return torch.tensor([r.stop - r.start for r in self.rows], dtype=torch.long)

    @cached_property
    def gather(self) -> SegmentGather:
        return SegmentGather.build(list(self.rows), self.slots.device)

    def blocks(self, t: Tensor) -> Tensor:
        """The group's rows of t [T, d] as [n, L, d]: a view when lengths agree, else padded."""
        if self.length is not None:
            return t[self.start:self.stop].view(self.n, self.length, t.shape[-1])
        return self.gather.gather(t)

    def add_blocks(self, y: Tensor, delta: Tensor) -> None:
        """y's group rows += delta [n, L, d] (from `blocks`)."""
        if self.length is not None:
            y[self.start:self.stop].view(self.n, self.length, y.shape[-1]).add_(delta)
        else:
            self.gather.scatter_add(y, delta)

    def add_bmm(self, y: Tensor, h: Tensor, w: Tensor) -> None:
        """y's group rows += h @ w, h: [n, L, k] (from `blocks`), w: [n, k, d]; written
        straight into y when the segments' lengths agree."""
        if self.length is not None:
            rows = y[self.start:self.stop].view(self.n, self.length, y.shape[-1])
            torch.baddbmm(rows, h, w, out=rows)
        else:
            self.gather.scatter_add(y, torch.bmm(h, w))

    def add_per_segment(self, y: Tensor, vectors: Tensor, kernel=None) -> None:
        """Every row of segment j in y [T, d] += vectors[j]. vectors: [n, d]. `kernel`: the
        compiled CPU kernels (`OpContext.dense_kernels_for`), or None for torch's add."""
        if kernel is not None:
            kernel.segment_bias(y, vectors, self.segment_starts, self.segment_lens)
        elif self.length is not None:
            y[self.start:self.stop].view(self.n, self.length, y.shape[-1]).add_(vectors[:, None])
        else:
            y[self.start:self.stop].add_(vectors.index_select(0, self.row_segment))


@dataclass
class OpContext:
    """Per-engine state that PET operators keep between batches (e.g. an LRU of
    sparse kernels' operands), so that two engines in one process never share it."""

    sparse_cache_tasks: int = 64  # sparse tasks whose kernel operands stay resident
    # mean nnz per task and hook up to which sparse terms run as one block-diagonal GEMM
    sparse_concat_nnz: int = 8192
    # CPU: the compiled segment kernel (`pets.pet.kernels`) when it builds; False: torch's CSR
    sparse_kernels: bool = True
    # CPU: LoRA's and adapters' projections and the task-bias adds (BitFit, Diff's biases) in
    # the compiled kernels; False: torch's bmm and broadcast adds
    lowrank_kernels: bool = True
    caches: dict[str, Any] = field(default_factory=dict)

    def sparse_kernels_for(self, device: torch.device, dtype: torch.dtype):
        """The compiled CPU kernels for Diff/Mask terms when this engine may use them on
        `device` in `dtype`, else None (torch's CSR products)."""
        from pets.pet.kernels import kernels_for
        return kernels_for(self.sparse_kernels, device, dtype)

    def dense_kernels_for(self, device: torch.device, dtype: torch.dtype):
        """The compiled CPU kernels for dense PET ops (LoRA's and adapters' projections,
        task-bias adds) when this engine may use them on `device` in `dtype`, else None."""
        from pets.pet.kernels import kernels_for
        return kernels_for(self.lowrank_kernels, device, dtype)

    def cache(self, name: str, factory: Callable[[], Any]) -> Any:
        if name not in self.caches:
            self.caches[name] = factory()
        return self.caches[name]
