"""Timing a batch's PET work: op building on the host and every PET op call.

Pass an `OpTrace` to `PetsEngine.run(..., trace=)`: `layout_s` accumulates the
host time to lay out the batch's rows, `build_s` to build its PET operators, `op_seconds()` the
time inside PET operator calls (CUDA events on a GPU, so nothing extra is
synchronised; host clock on the CPU).
"""
from __future__ import annotations

import time

import torch

from pets.pet.ops import HookFn, OpTable


class OpTrace:
    def __init__(self, device: str | torch.device) -> None:
        self.cuda = torch.device(device).type == "cuda"
        self.reset()

    def reset(self) -> None:
        self.host_s = 0.0
        self.layout_s = 0.0
        self.build_s = 0.0
        self.events: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []

    def wrap(self, fn: HookFn) -> HookFn:
        def timed(x, y):
            if self.cuda:
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                fn(x, y)
                end.record()
                self.events.append((start, end))
            else:
                t0 = time.perf_counter()
                fn(x, y)
                self.host_s += time.perf_counter() - t0
        return timed

    def wrap_table(self, table: OpTable) -> OpTable:
        return {key: [self.wrap(fn) for fn in fns] for key, fns in table.items()}

    def op_seconds(self) -> float:
        """PET op time since the last reset (call after the device is synchronised)."""
        if self.cuda:
            return sum(s.elapsed_time(e) for s, e in self.events) / 1e3
        return self.host_s
