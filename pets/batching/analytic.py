"""FLOP-based latency model: the fallback where no profile was measured.

alpha(B, L) = launch overhead per layer + (linear FLOPs + attention FLOPs) / rate:
linear FLOPs = 2 * B * L * layers * (4 H^2 + 2 H I), attention = 4 * B * L^2 * H * layers.
beta(pet, B, L) = per-call overhead * calls + the PET's FLOPs / its rate, with the
paper's hyperparameters (LoRA r8 on q/v, adapters m64, diff 0.5%, mask 5%) and
sparse products at a much lower rate than dense ones. The rates are rough
figures for a CPU core pair and for a data-centre GPU: expect tens of percent of
error, enough to rank plans, not to quote. Run `pets profile` for real numbers.
"""
from __future__ import annotations

import numpy as np

from pets.batching.grid import Grid
from pets.config import ModelConfig

GRID_BATCHES = (1, 2, 4, 8, 16, 32, 64)
GRID_SEQS = (8, 16, 32, 64, 128)

# (dense FLOP/s, sparse FLOP/s, seconds per op call) by device type
RATES = {"cpu": (1.0e11, 5.0e9, 2.0e-5), "cuda": (2.0e14, 2.0e12, 8.0e-6)}


def analytic_grids(cfg: ModelConfig, device_type: str) -> tuple[Grid, dict[str, Grid]]:
    dense, sparse, call = RATES.get(device_type, RATES["cpu"])
    b = np.asarray(GRID_BATCHES, dtype=float)[:, None]
    s = np.asarray(GRID_SEQS, dtype=float)[None, :]
    h, f, n = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    tokens = b * s
    linear = 2 * tokens * n * (4 * h * h + 2 * h * f)
    attention = 4 * b * s * s * h * n
    alpha = 10 * n * call + (linear + attention) / dense
    six = 4 * h * h + 2 * h * f  # weights of the six target linears of one layer
    beta = {
        "lora": n * 2 * (2 * call + 2 * tokens * 8 * 2 * h / dense),
        "adapter": n * 2 * (2 * call + 4 * tokens * 64 * h / dense),
        "bitfit": n * 8 * (call + tokens * h * 8 / 2e10),
        "diff": n * 6 * (call + 2 * tokens * 0.005 * six / 6 / sparse),
        "mask": n * 6 * (call + 2 * tokens * 0.05 * six / 6 / sparse),
    }
    grid = lambda v: Grid.monotone(GRID_BATCHES, GRID_SEQS, v * np.ones_like(tokens))  # noqa: E731
    return grid(alpha), {pet: grid(v) for pet, v in beta.items()}
