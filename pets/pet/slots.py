"""Slot storage: the run-time home of every loaded task's PET state.

Tasks whose PET state has the same shapes (LoRA of one rank and target set,
adapters of one bottleneck, BitFit of one target set) share a `DenseSlots`:
one stacked tensor per part, [capacity, *shape], a task owning one slot
(vLLM's `lora_a_stacked`). Loading, removing or migrating a task is a copy
into or out of a slot; a batch passes slot indices and each PET operator reads
the rows it needs with one `index_select` per part, whatever the number of
tasks loaded. Sparse PETs (nnz differs per task) keep a `ListSlots`: one state
object per slot.

Capacity doubles when full (amortised O(1) per load); freed slots are reused.
"""
from __future__ import annotations

import heapq
import itertools
import math
from typing import Any, Generic, TypeVar

import torch
from torch import Tensor

S = TypeVar("S")


class _Free:
    """Slot numbers: the lowest free one is handed out first."""

    def __init__(self) -> None:
        self.used: set[int] = set()
        self.free: list[int] = []
        self.capacity = 0

    def take(self) -> int:
        if self.free:
            slot = heapq.heappop(self.free)
        else:
            slot = len(self.used)
        self.used.add(slot)
        return slot

    def release(self, slot: int) -> None:
        self.used.remove(slot)
        heapq.heappush(self.free, slot)


class DenseSlots:
    """Stacked per-task tensors of one shape group. parts: name -> [capacity, *shape].

    flat=True keeps every part as a view into one [capacity, D] buffer (D: all parts'
    sizes), so `take_all` reads a batch's whole state in one op (BitFit's biases).
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]], device: torch.device,
                 dtype: torch.dtype, capacity: int = 4, flat: bool = False) -> None:
        self.shapes = dict(shapes)
        self.flat = flat
        sizes = [math.prod(s) for s in self.shapes.values()]
        starts = [0, *itertools.accumulate(sizes)]
        self.offsets = {k: slice(a, a + n) for k, a, n in zip(self.shapes, starts, sizes)}
        self._device, self._dtype = device, dtype
        self.buffer: Tensor | None = None
        self.parts: dict[str, Tensor] = {}
        self._allocate(capacity)
        self._slots = _Free()
        self._slots.capacity = capacity

    def _allocate(self, capacity: int) -> None:
        zeros = lambda *shape: torch.zeros(shape, device=self._device, dtype=self._dtype)  # noqa: E731
        if self.flat:
            self.buffer = zeros(capacity, sum(math.prod(s) for s in self.shapes.values()))
            self.parts = {k: self.buffer[:, self.offsets[k]].view(capacity, *s)
                          for k, s in self.shapes.items()}
        else:
            self.parts = {k: zeros(capacity, *s) for k, s in self.shapes.items()}

    def take_all(self, index: Tensor, span: slice | None = None) -> Tensor:
        """Every part of a batch's slots at once, [n, D] (flat stores only; `offsets`
        names each part's columns)."""
        if self.buffer is None:
            raise ValueError("take_all needs a flat store")
        return self.buffer[span] if span is not None else self.buffer.index_select(0, index)

    def __len__(self) -> int:
        return len(self._slots.used)

    @property
    def capacity(self) -> int:
        return self._slots.capacity

    def add(self, tensors: dict[str, Tensor]) -> int:
        """Copy one task's tensors into a free slot; returns the slot."""
        if set(tensors) != set(self.shapes):
            raise ValueError(f"slot parts {sorted(tensors)} != {sorted(self.shapes)}")
        slot = self._slots.take()
        if slot >= self.capacity:
            self._grow(max(2 * self.capacity, slot + 1))
        for k, t in tensors.items():
            self.parts[k][slot].copy_(t)
        return slot

    def remove(self, slot: int) -> None:
        self._slots.release(slot)

    def view(self, slot: int) -> dict[str, Tensor]:
        """The task's tensors (views into the slot)."""
        return {k: p[slot] for k, p in self.parts.items()}

    def take(self, part: str, index: Tensor, span: slice | None = None) -> Tensor:
        """Rows of `part` for a batch's slots. index: [n] long -> [n, *shape]; when the slots
        are consecutive (`span`), a view instead of a copy."""
        if span is not None:
            return self.parts[part][span]
        return self.parts[part].index_select(0, index)

    def slot_bytes(self) -> int:
        return sum(p[0].numel() * p.element_size() for p in self.parts.values())

    def free_bytes(self) -> int:
        """Bytes of allocated but unused slots."""
        return (self.capacity - len(self)) * self.slot_bytes()

    def _grow(self, capacity: int) -> None:
        old = self.parts
        self._allocate(capacity)
        for k, p in old.items():
            self.parts[k][: p.shape[0]].copy_(p)
        self._slots.capacity = capacity


class ListSlots(Generic[S]):
    """One state object per slot, for PETs whose tensors differ in size per task."""

    def __init__(self) -> None:
        self._states: dict[int, S] = {}
        self._slots = _Free()

    def __len__(self) -> int:
        return len(self._states)

    def add(self, state: S) -> int:
        slot = self._slots.take()
        self._states[slot] = state
        return slot

    def remove(self, slot: int) -> None:
        self._slots.release(slot)
        del self._states[slot]

    def view(self, slot: int) -> S:
        return self._states[slot]

    def free_bytes(self) -> int:
        return 0


def slot_bytes(store: Any, slot: int) -> int:
    """Bytes one task holds in its store (its slot's share)."""
    from pets.pet.method import nbytes

    if isinstance(store, DenseSlots):
        return store.slot_bytes()
    return nbytes(store.view(slot))
