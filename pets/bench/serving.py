"""`pets bench replay`: the serving systems on one bursty, skewed trace.

Gamma arrivals (cv 2), Zipf(1.0) popularity over 32 tasks, lengths ~ N(32, 8).
The rate is set where `seqs` saturates: `saturation` x the seqs capacity that
the sim executor predicts. Every system replays the same trace with the real
executor, `repeats` times with the systems interleaved (each warmed up first), as
medians with their spread; pets also with the sim executor, to check the simulator.
The summary flags orderings that cannot be right (base slower than pets or seqs
beyond the spread).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from pets.dtypes import resolve_dtype
from pets.serving import ServeConfig, TraceSpec, engine_for_trace, generate_trace, replay
from pets.serving.compare import DEFAULT_REPEATS, aggregate, compare, ordering_flags, spread_text
from pets.serving.loop import DEFAULT_SLO_MS


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
    slo_ms: float = DEFAULT_SLO_MS
    repeats: int = DEFAULT_REPEATS
    device: str = "cpu"
    dtype: str = "auto"
    seed: int = 0


SCALES = {"quick": ReplayBenchConfig()}


def run_replay_bench(cfg: ReplayBenchConfig = SCALES["quick"], *,
                     progress: bool = True) -> pd.DataFrame:
    """One row per system x executor: medians over `repeats` interleaved real runs with
    their spread (`<metric>_min`/`_max`), and pets on the sim executor; `rate_rps` is the
    arrival rate used."""
    spec = lambda rate: TraceSpec(requests=cfg.requests, rate=rate, arrival="gamma", cv=cfg.cv,  # noqa: E731
                                  tasks=cfg.tasks, popularity="zipf", alpha=cfg.alpha, seed=cfg.seed)
    probe = generate_trace(spec(1e6))
    eng = engine_for_trace(probe, cfg.preset, device=cfg.device, dtype=resolve_dtype(cfg.dtype, cfg.device))
    serve = ServeConfig(policy=cfg.policy, max_batch=cfg.max_batch, queue_limit=cfg.requests,
                        slo_ms=cfg.slo_ms)
    seqs_capacity = replay(probe, eng, system="seqs", config=serve, progress=False).summary()["throughput_rps"]
    rate = cfg.saturation * seqs_capacity
    trace = generate_trace(spec(rate))
    real = replace(serve, executor="real")
    runs, _ = compare(trace, list(cfg.systems), real, make_engine=lambda: eng,
                      repeats=cfg.repeats, progress=progress)
    sim = replay(trace, eng, system="pets", config=serve, progress=progress).summary()
    df = aggregate(pd.concat([runs, pd.DataFrame([{**sim, "repeat": 0}])], ignore_index=True))
    df["rate_rps"] = rate
    df["preset"] = cfg.preset
    df["saturation"] = cfg.saturation
    return df


def summary_lines(df: pd.DataFrame) -> list[str]:
    """The trace's rate and SLO, each system's throughput with its spread, pets against seqs
    and base (real), impossible orderings, and sim against real."""
    real = df[df.executor == "real"].set_index("system")
    sim = df[(df.executor == "sim") & (df.system == "pets")].throughput_rps
    first = df.iloc[0]
    runs = int(real.repeats.max()) if len(real) else 0
    lines = [f"rate {first.rate_rps:.1f} req/s ({first.saturation:g} x the simulated seqs capacity); "
             f"SLO p99 <= {first.slo_ms:g} ms; real: median [min-max] of {runs} interleaved run(s)"]
    for system, row in real.iterrows():
        lines.append(f"{system}: throughput {spread_text(row, 'throughput_rps')} req/s, "
                     f"p99 {spread_text(row, 'p99_ms')} ms, capacity (cost model) "
                     f"{row.capacity_rps:.1f} req/s")
    tput = real.throughput_rps
    lines += [f"pets / {other} throughput: {tput['pets'] / tput[other]:.3f}"
              for other in ("seqs", "base") if other in tput and "pets" in tput]
    lines += ordering_flags(df)
    if "pets" in tput and len(sim):
        lines.append(f"pets sim / real throughput: {sim.iloc[0] / tput['pets']:.3f}")
    return lines
