"""The shipped default load: a trace on which the serving systems differ, per serving dtype.

The dashboard's Replay page and notebook 03 open on it. Each trace offers distilbert a
little more than per-task serving (`seqs`) carries within a 200 ms p99 and well below what
`pets` carries (`pets bench sweep --tasks 32 --alpha A --mean-len L` finds both), so in
the simulator pets meets the SLO and seqs does not. bf16, about 3x faster than fp32 on
CPUs with avx512_bf16, gets a heavier trace of shorter queries (many tasks' short
classification queries are where batching them together pays most).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from pets.dtypes import dtype_name, resolve_dtype


@dataclass(frozen=True)
class DefaultLoad:
    trace: str         # file under data/traces/
    preset: str
    alpha: float       # the trace's Zipf popularity ...
    mean_len: float    # ... and mean query length, for a load sweep of the same workload


DEFAULT_LOADS = {
    "bfloat16": DefaultLoad("poisson-zipf05-32tasks-16tok.csv", "distilbert", 0.5, 16.0),
    "float32": DefaultLoad("poisson-zipf1-32tasks-distilbert.csv", "distilbert", 1.0, 32.0),
}


def default_load(dtype: str | torch.dtype = "auto", device: str = "cpu") -> DefaultLoad:
    """The default load for engines serving in `dtype` ("auto": what the device runs
    natively); dtypes without a load of their own get fp32's."""
    return DEFAULT_LOADS.get(dtype_name(resolve_dtype(dtype, device)), DEFAULT_LOADS["float32"])
