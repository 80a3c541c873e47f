"""`pets bench replay`: the serving systems on one bursty, skewed trace.

Gamma arrivals (cv 2), Zipf(1.0) popularity over 32 tasks, lengths ~ N(32, 8).
The rate is set where `seqs` saturates: `saturation` x the seqs capacity that
the sim executor predicts. Every system replays the same trace with the real
executor; pets also with the sim executor, to check the simulator.
"""
from __future__ import annotations

from pets.dtypes import resolve_dtype

from dataclasses import dataclass

import pandas as pd
import torch

from pets.serving import ServeConfig, TraceSpec, engine_for_trace, generate_trace, replay


@dataclass(frozen=True, kw_only=True)
class ReplayBenchConfig:
    preset: str = "distilbert"
    requests: int = 1000
    tasks: int = 32
    cv: float = 2.0
    alpha: float = 1.0
    saturation: float = 1.5
    systems: tuple[str, ...] = ("base", "pets", "seqs", "peft")
    policy: str = "best"
    max_batch: int = 32
    device: str = "cpu"
    dtype: str = "auto"
    seed: int = 0


SCALES = {"quick": ReplayBenchConfig()}


def run_replay_bench(cfg: ReplayBenchConfig = SCALES["quick"], *,
                     progress: bool = True) -> pd.DataFrame:
    """Summary rows (system x executor); `rate_rps` is the arrival rate used."""
    spec = lambda rate: TraceSpec(requests=cfg.requests, rate=rate, arrival="gamma", cv=cfg.cv,  # noqa: E731
                                  tasks=cfg.tasks, popularity="zipf", alpha=cfg.alpha, seed=cfg.seed)
    probe = generate_trace(spec(1e6))
    eng = engine_for_trace(probe, cfg.preset, device=cfg.device, dtype=resolve_dtype(cfg.dtype, cfg.device))
    serve = ServeConfig(policy=cfg.policy, max_batch=cfg.max_batch, queue_limit=cfg.requests)
    seqs_capacity = replay(probe, eng, system="seqs", config=serve, progress=False).summary()["throughput_rps"]
    rate = cfg.saturation * seqs_capacity
    trace = generate_trace(spec(rate))
    rows = []
    for system in cfg.systems:
        real = ServeConfig(policy=cfg.policy, max_batch=cfg.max_batch, queue_limit=cfg.requests,
                           executor="real")
        rows.append(replay(trace, eng, system=system, config=real, progress=progress).summary())
    rows.append(replay(trace, eng, system="pets", config=serve, progress=progress).summary())
    df = pd.DataFrame(rows)
    df["rate_rps"] = rate
    df["preset"] = cfg.preset
    df["saturation"] = cfg.saturation
    return df


def summary_lines(df: pd.DataFrame) -> list[str]:
    """The trace's rate, then pets against seqs and base (real), and sim against real."""
    real = df[df.executor == "real"].set_index("system").throughput_rps
    sim = df[(df.executor == "sim") & (df.system == "pets")].throughput_rps.iloc[0]
    first = df.iloc[0]
    lines = [f"rate {first.rate_rps:.1f} req/s ({first.saturation:g} x the simulated seqs capacity)"]
    lines += [f"pets / {other} throughput: {real['pets'] / real[other]:.3f}"
              for other in ("seqs", "base") if other in real and "pets" in real]
    if "pets" in real:
        lines.append(f"pets sim / real throughput: {sim / real['pets']:.3f}")
    return lines
