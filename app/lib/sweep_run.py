"""The Replay page's load sweep: `pets bench sweep` as the work of a measuring process.

Each system's offered rate rises until p99 breaks the SLO; the result is the sweep's
frame (one row per system and rate), drawn with `pets.viz.sweep_lines`."""
from __future__ import annotations

import pandas as pd

from pets.bench.sweep import SweepConfig, capacity_at_slo, run_sweep, summary_lines

__all__ = ["SweepConfig", "capacity_at_slo", "summary_lines", "sweep_job"]


def sweep_job(cfg: SweepConfig, job) -> pd.DataFrame:
    """Run the sweep (lib.jobs `Job.start_process` work)."""
    job.report(0.05, f"sweeping {', '.join(cfg.systems)} on {cfg.preset} ({cfg.executor})")
    return run_sweep(cfg, progress=False)
