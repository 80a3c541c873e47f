"""`pets bench sweep`: raise the offered load until p99 breaks the SLO; capacity at the SLO.

As in MLPerf's Server scenario or `vllm bench serve --request-rate`: for each system
(pets, seqs, base) the same seeded trace (Poisson arrivals, Zipf task popularity,
lengths ~ N(mean_len, mean_len / 4)) is replayed at rising rates, `factors` x that system's capacity
estimate (its cost model: full batches at the trace's mean length), until the p99
latency exceeds the SLO; `refine` bisections then narrow the gap between the last rate
that met it and the first that broke it. A system's capacity at the SLO is the highest
offered rate whose p99 met it (all requests completed). The sim executor (default) predicts batch times with the cost model;
`--executor real` runs them (warmed up first; one run per step).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pets.dtypes import resolve_dtype
from pets.errors import InvalidSpecError
from pets.serving import ServeConfig, ServingLoop, TraceSpec, engine_for_trace, generate_trace
from pets.serving.capacity import capacity_rps
from pets.serving.loop import DEFAULT_SLO_MS
from pets.serving.systems import make_system


@dataclass(frozen=True, kw_only=True)
class SweepConfig:
    preset: str = "distilbert"
    requests: int = 500
    tasks: int = 32
    alpha: float = 1.0
    mean_len: float = 32.0  # tokens per query (std a quarter of it)
    systems: tuple[str, ...] = ("pets", "seqs", "base")
    factors: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    refine: int = 3  # bisections between the last rate that met the SLO and the first that broke it
    slo_ms: float = DEFAULT_SLO_MS
    executor: str = "sim"
    policy: str = "best"
    max_batch: int = 32
    max_wait_ms: float = 20.0
    device: str = "cpu"
    # auto: the device's fastest native dtype, as the replay engines serve; the sim reads the
    # committed profile of this dtype (data/profiles/), else the analytic FLOP model.
    dtype: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.factors or any(not (isinstance(f, (int, float)) and 0 < f <= 100)
                                   for f in self.factors):
            raise InvalidSpecError(f"factors must be numbers in (0, 100], not {self.factors!r}")
        if not (isinstance(self.refine, int) and 0 <= self.refine <= 10):
            raise InvalidSpecError(f"refine must be 0..10 bisection steps, not {self.refine!r}")
        if not self.systems:
            raise InvalidSpecError("name one or more systems to sweep (pets, seqs, peft, base)")


SCALES = {
    "quick": SweepConfig(),
    "paper": SweepConfig(requests=2000, refine=5,
                         factors=(0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0)),
}


def _spec(cfg: SweepConfig, rate: float) -> TraceSpec:
    return TraceSpec(requests=cfg.requests, rate=rate, arrival="poisson", tasks=cfg.tasks,
                     popularity="zipf", alpha=cfg.alpha, mean_len=cfg.mean_len,
                     std_len=cfg.mean_len / 4, seed=cfg.seed)


def run_sweep(cfg: SweepConfig = SCALES["quick"], *, progress: bool = True) -> pd.DataFrame:
    """One row per (system, step): the offered rate, what was served, latency, whether
    p99 met the SLO; a system's sweep stops at the first step that broke it."""
    probe = generate_trace(_spec(cfg, 1.0))  # rates only scale arrival times (same seed)
    eng = engine_for_trace(probe, cfg.preset, device=cfg.device,
                           dtype=resolve_dtype(cfg.dtype, cfg.device))
    serve = ServeConfig(policy=cfg.policy, executor=cfg.executor, max_batch=cfg.max_batch,
                        max_wait_ms=cfg.max_wait_ms, queue_limit=cfg.requests, slo_ms=cfg.slo_ms)
    rows = []
    for name in cfg.systems:
        system = make_system(name, eng)
        estimate = capacity_rps(system, probe, max_batch=cfg.max_batch)
        if not np.isfinite(estimate):
            raise InvalidSpecError(f"{name} serves none of the trace's tasks; leave it out of "
                                   "--systems")
        def step(rate: float, refined: bool) -> bool:
            trace = generate_trace(_spec(cfg, rate))
            s = ServingLoop(system, serve).run(trace, progress=progress).summary()
            meets = bool(s["completed"] == s["requests"] and s["p99_ms"] <= cfg.slo_ms)
            rows.append(dict(system=name, step=len(rows), factor=rate / estimate,
                             rate_rps=rate, estimate_rps=estimate, cost_model=system.cost.source,
                             offered_rps=s["offered_rps"], throughput_rps=s["throughput_rps"],
                             goodput_rps=s["goodput_rps"], mean_ms=s["mean_ms"],
                             p50_ms=s["p50_ms"], p99_ms=s["p99_ms"], completed=s["completed"],
                             requests=s["requests"], meets_slo=meets, refined=refined))
            return meets

        low = None
        for factor in sorted(cfg.factors):
            if not step(factor * estimate, False):
                high = factor * estimate
                break
            low = factor * estimate
        else:
            continue
        for _ in range(cfg.refine if low is not None else 0):
            mid = (low + high) / 2
            if step(mid, True):
                low = mid
            else:
                high = mid
    df = pd.DataFrame(rows)
    return df.assign(preset=cfg.preset, executor=cfg.executor, slo_ms=cfg.slo_ms,
                     max_batch=cfg.max_batch)


def capacity_at_slo(df: pd.DataFrame) -> pd.DataFrame:
    """Per system: the highest offered rate whose p99 met the SLO (NaN if none did), its
    throughput, the cost-model estimate, and whether the sweep reached a rate that broke
    the SLO (False: the capacity is at least the value shown)."""
    out = []
    for name, g in df.groupby("system", sort=False):
        ok = g[g.meets_slo]
        best = ok.loc[ok.offered_rps.idxmax()] if len(ok) else None
        out.append(dict(system=name,
                        capacity_at_slo_rps=float(best.offered_rps) if best is not None else np.nan,
                        throughput_rps=float(best.throughput_rps) if best is not None else np.nan,
                        p99_ms=float(best.p99_ms) if best is not None else np.nan,
                        estimate_rps=float(g.estimate_rps.iloc[0]),
                        broke_slo=bool((~g.meets_slo).any())))
    return pd.DataFrame(out)


def summary_lines(df: pd.DataFrame) -> list[str]:
    """Each system's capacity at the SLO, pets against the others, orderings to doubt."""
    first = df.iloc[0]
    cap = capacity_at_slo(df).set_index("system")
    lines = [f"{first.preset}, {first.executor} executor ({first.cost_model.split(':')[0]} cost "
             f"model), SLO p99 <= {first.slo_ms:g} ms, max batch {first.max_batch}"]
    for name, row in cap.iterrows():
        if np.isnan(row.capacity_at_slo_rps):
            lines.append(f"{name}: no rate met the SLO (lowest tried broke it): lower --factors "
                         "or raise --slo-ms")
            continue
        bound = "" if row.broke_slo else " (at least: no rate tried broke the SLO; add larger --factors)"
        lines.append(f"{name}: capacity at the SLO {row.capacity_at_slo_rps:.1f} req/s{bound} "
                     f"(p99 {row.p99_ms:.0f} ms; cost-model estimate {row.estimate_rps:.1f} req/s)")
    c = cap.capacity_at_slo_rps
    for other in ("seqs", "peft", "base"):
        if "pets" in c and other in c and c[other] > 0 and np.isfinite(c["pets"]):
            hedge = ("at most " if not cap.broke_slo[other] else "") + \
                ("at least " if not cap.broke_slo["pets"] else "")
            hedge = "" if hedge == "at most at least " else hedge  # both unbounded: no claim
            lines.append(f"pets / {other} capacity at the SLO: {hedge}{c['pets'] / c[other]:.2f}")
    for other in ("pets", "seqs"):
        if "base" in c and other in c and c["base"] < c[other] * 0.99:
            lines.append(f"IMPOSSIBLE ORDER: base (no PET work) reaches {c['base']:.1f} req/s at "
                         f"the SLO, below {other}'s {c[other]:.1f}: the sweep steps are too coarse "
                         "or the measurement noisy; add --factors between them or rerun")
    return lines
