"""Engines for the benchmarks: one preset holding n tasks of a standard mix.

The mixes themselves are domain constants (`pets.pet.mixes`); synthetic queries
live in `pets.batching.synthetic`.
"""
from __future__ import annotations

import torch

import pets
from pets.pet.mixes import PAPER_MIX, round_robin_specs


def mixed_engine(preset: str, tasks: int, *, device: str = "cpu", dtype: str | torch.dtype = "auto",
                 mix=PAPER_MIX) -> pets.PetsEngine:
    """An engine of `preset` holding `tasks` tasks round-robin over `mix` (seeded weights);
    dtype "auto" is the device's fastest native one."""
    eng = pets.PetsEngine.from_preset(preset, device=device, dtype=dtype, seed=0)
    for spec in round_robin_specs(tasks, mix=mix):
        eng.add_task(spec)
    return eng
