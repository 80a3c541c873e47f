"""Online vs in-process: the same trace, engine and batching options served by `pets serve`
(a child process, driven by `pets loadgen` from this one) and replayed in-process on the real
executor, at rising offered rates, for pets and for a per-task-models server (seqs).

Written to the bench contract (frozen config, `SCALES`, `run_serve_bench(cfg, *, progress)`,
`summary_lines(df)`) and registered as `pets bench serve` (`pets serve-bench` runs the same).
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd
import torch

from pets.dtypes import resolve_dtype
from pets.errors import InvalidSpecError
from pets.server.config import ServerConfig
from pets.server.loadgen import LoadgenConfig, run_loadgen
from pets.server.run import ServerProcess
from pets.serving import TraceSpec, engine_for_trace, generate_trace, save_trace
from pets.serving.loop import DEFAULT_SLO_MS, ServingLoop
from pets.serving.memory import release_freed
from pets.serving.systems import make_system
from pets.serving.generate import every_task
from pets.serving.trace import Trace

COLUMNS = ("system", "mode", "rate", "offered_rps", "completed", "rejected", "failed",
           "throughput_rps", "goodput_rps", "mean_ms", "p50_ms", "p99_ms", "batches")


@dataclass(frozen=True)
class ServeBenchConfig:
    preset: str = "bert-tiny"
    device: str = "cpu"
    dtype: str = "auto"
    systems: tuple[str, ...] = ("pets", "seqs")
    rates: tuple[float, ...] = (25.0, 50.0, 100.0)
    requests: int = 300
    tasks: int = 8
    mean_len: float = 24.0
    std_len: float = 4.0
    max_len: int = 32
    alpha: float = 1.0  # Zipf exponent of task popularity (> 0; smaller spreads load more evenly)
    policy: str = "best"
    max_batch: int = 32
    max_wait_ms: float = 5.0
    queue_limit: int = 1024
    slo_ms: float = DEFAULT_SLO_MS
    timeout_s: float = 30.0
    threads: int = 0  # torch threads of the server and of the replay (0: torch's default)
    repeats: int = 1  # rounds; each serves every system at every rate once
    # rates of one system instead of `rates`, as "SYSTEM=R/R/R" (systems' capacities differ)
    system_rates: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise InvalidSpecError(f"threads {self.threads!r}: give a whole number >= 1, or 0 "
                                   "for torch's default (all cores)")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 1:
            raise InvalidSpecError(f"repeats {self.repeats!r}: give a whole number of rounds >= 1")
        self.rates_of("")  # parses system_rates: a malformed item raises here

    def rates_of(self, system: str) -> tuple[float, ...]:
        """The offered rates `system` is served at: its `system_rates` item, else `rates`."""
        own = {}
        for item in self.system_rates:
            name, _, rates = item.partition("=")
            try:
                values = tuple(float(r) for r in rates.split("/"))
            except ValueError:
                values = ()
            if not name or not values or not all(math.isfinite(v) and v > 0 for v in values):
                raise InvalidSpecError(f"system rates {item!r}: write SYSTEM=RATE/RATE/..., e.g. "
                                       "pets=105/120/135 (req/s > 0)")
            if name.strip() not in self.systems:
                raise InvalidSpecError(f"system rates {item!r}: {name.strip()!r} is not among the "
                                       f"systems served ({', '.join(self.systems)})")
            own[name.strip()] = values
        return own.get(system, self.rates)


SCALES = {
    "quick": ServeBenchConfig(),
    "paper": ServeBenchConfig(rates=(50.0, 100.0, 200.0, 400.0, 800.0), requests=2000, tasks=32),
}


def run_serve_bench(cfg: ServeBenchConfig, *, progress: bool = True) -> pd.DataFrame:
    """One row per (round, system, rate, mode): the replay summary of each run.

    Each round serves every system in turn (A B A B over rounds, so drift hits them alike):
    the system's engine replays every rate's trace in-process, is freed, and one `pets serve`
    child then serves the same traces, rate after rate. Every engine holds the same tasks (all
    `cfg.tasks`, PET types in task order), so the rates differ only in their arrivals. Round r
    draws its traces with seed `cfg.seed + r`: at a rate both systems serve, the same trace."""
    dtype = resolve_dtype(cfg.dtype, cfg.device)
    dtype_arg = str(dtype).removeprefix("torch.")
    rows = []
    with tempfile.TemporaryDirectory(prefix="pets-serve-bench-") as tmp:
        tasks = save_trace(every_task(cfg.tasks), Path(tmp) / "tasks.csv")
        for round_ in range(cfg.repeats):
            for system in cfg.systems:
                traces = {rate: generate_trace(TraceSpec(
                    requests=cfg.requests, rate=rate, tasks=cfg.tasks, mean_len=cfg.mean_len,
                    std_len=cfg.std_len, max_len=cfg.max_len, alpha=cfg.alpha,
                    seed=cfg.seed + round_))
                    for rate in cfg.rates_of(system)}
                server = ServerConfig(system=system, policy=cfg.policy, max_batch=cfg.max_batch,
                                      max_wait_ms=cfg.max_wait_ms, queue_limit=cfg.queue_limit)
                replayed = _replayed(traces, cfg, system, server, dtype)
                for rate, online in _served(traces, cfg, system, tasks, dtype_arg):
                    r = {**replayed[rate], "mode": "replay"}
                    o = {**online, "system": system, "mode": "online"}
                    rows += [{**x, "round": round_, "rate": rate} for x in (r, o)]
                    if progress:
                        print(f"round {round_ + 1}/{cfg.repeats} rate {rate:g}/s {system}: "
                              f"replay {r['throughput_rps']:.1f} req/s p50 {r['p50_ms']:.1f} p99 "
                              f"{r['p99_ms']:.1f} ms | online {o['throughput_rps']:.1f} req/s "
                              f"p50 {o['p50_ms']:.1f} p99 {o['p99_ms']:.1f} ms", flush=True)
    df = pd.DataFrame(rows).assign(preset=cfg.preset, dtype=dtype_arg,
                                   threads=cfg.threads or torch.get_num_threads())
    return df[[*COLUMNS, *(c for c in df.columns if c not in COLUMNS)]]


def _served(traces: dict[float, Trace], cfg: ServeBenchConfig, system: str, tasks: Path,
            dtype_arg: str) -> Iterator[tuple[float, dict]]:
    """(rate, loadgen summary) per trace, all served by one `pets serve` child of `system`
    holding the tasks named in the `tasks` trace."""
    args = ["--backbone", cfg.preset, "--trace-tasks", str(tasks), "--system", system,
            *(["--threads", str(cfg.threads)] if cfg.threads else []),
            "--policy", cfg.policy, "--max-batch", str(cfg.max_batch),
            "--max-wait-ms", str(cfg.max_wait_ms), "--queue-limit", str(cfg.queue_limit),
            "--device", cfg.device, "--dtype", dtype_arg]
    with ServerProcess(args) as url:
        for rate, trace in traces.items():
            report = run_loadgen(trace, LoadgenConfig(url=url, slo_ms=cfg.slo_ms,
                                                      timeout_s=cfg.timeout_s))
            yield rate, report.summary()


def _replayed(traces: dict[float, Trace], cfg: ServeBenchConfig, system: str,
              server: ServerConfig, dtype) -> dict[float, dict]:
    """Each trace's in-process replay summary, by rate. The engine (for seqs: one dense copy
    per task) is freed, and the memory handed back to the OS, before the server starts, so the
    two never hold memory at once."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads or threads)
    try:
        engine = engine_for_trace(every_task(cfg.tasks), cfg.preset, device=cfg.device,
                                  dtype=dtype)
        loop = ServingLoop(make_system(system, engine), server.serve_config(cfg.slo_ms))
        summaries = {rate: {**loop.run(trace, progress=False).summary(), "system": system}
                     for rate, trace in traces.items()}
    finally:
        torch.set_num_threads(threads)
    del engine, loop
    release_freed()
    return summaries


def capacity_at_slo(df: pd.DataFrame, slo_ms: float) -> pd.DataFrame:
    """Per (system, mode): the highest offered rate its runs held, by their medians (median p99
    <= SLO, and the median run lost nothing: none rejected or failed); the median goodput and
    p99 there, how many runs there were and how many held on their own."""
    held = _held(df, slo_ms)
    runs = df.assign(held=held, lost=df.rejected + df.failed).groupby(
        ["system", "mode", "rate"]).agg(
        p99_ms=("p99_ms", "median"), lost=("lost", "median"), goodput_rps=("goodput_rps", "median"),
        runs=("held", "size"), runs_held=("held", "sum")).reset_index()
    ok = runs[(runs.p99_ms <= slo_ms) & (runs.lost == 0)]
    best = ok.sort_values("rate").groupby(["system", "mode"]).tail(1)
    return best[["system", "mode", "rate", "goodput_rps", "p99_ms", "runs", "runs_held"]
                ].reset_index(drop=True)


def _held(df: pd.DataFrame, slo_ms: float) -> pd.Series:
    """Per run: served whole within the SLO (p99 <= SLO, nothing rejected or failed)."""
    return (df.p99_ms <= slo_ms) & (df.rejected == 0) & (df.failed == 0)


def summary_lines(df: pd.DataFrame) -> list[str]:
    """Per system and rate: online against replay (medians over the rounds) and each run's
    p99; then each system's capacity at the SLO and, with pets and seqs, their ratio."""
    lines = []
    slo = float(df.slo_ms.iloc[0]) if "slo_ms" in df else DEFAULT_SLO_MS
    for (system, rate), g in df.groupby(["system", "rate"]):
        on, re = g[g["mode"] == "online"], g[g["mode"] == "replay"]
        if on.empty or re.empty:
            continue
        held = _held(on, slo).sum()
        runs = f" (medians of {len(on)} runs)" if len(on) > 1 else ""
        lines.append(f"{system} at {rate:g} req/s: online / replay throughput "
                     f"{on.throughput_rps.median() / re.throughput_rps.median():.2f}, "
                     f"p50 {on.p50_ms.median():.1f} vs {re.p50_ms.median():.1f} ms ("
                     f"{on.p50_ms.median() / re.p50_ms.median():.1f}x){runs}; online p99 "
                     f"{' / '.join(f'{v:.0f}' for v in on.p99_ms)} ms, {held} of {len(on)} "
                     f"within {slo:g} ms")
    cap = capacity_at_slo(df, slo)
    for _, r in cap.iterrows():
        runs = f"; {r.runs_held} of {r.runs} runs held" if r.runs > 1 else ""
        lines.append(f"capacity at p99 <= {slo:g} ms ({r['mode']}): {r.system} {r.rate:g} req/s "
                     f"offered (goodput {r.goodput_rps:.1f}, p99 {r.p99_ms:.0f} ms{runs})")
    return lines + ratio_lines(df, cap, slo) + full_batch_lines(df)


def ratio_lines(df: pd.DataFrame, cap: pd.DataFrame, slo_ms: float) -> list[str]:
    """pets' online capacity over seqs', with what the rate grid leaves open: the true ratio
    is at least pets' capacity over the lowest rate above seqs' capacity that seqs' runs did
    not hold (when pets held its highest rate tried, pets could do more)."""
    held = cap[cap["mode"] == "online"].set_index("system").rate
    if not {"pets", "seqs"} <= set(held.index):
        return []
    online = df[df["mode"] == "online"]
    tried = online[online.system == "seqs"].rate.unique()
    failed = [r for r in tried if r > held.seqs]
    line = f"online capacity at p99 <= {slo_ms:g} ms, pets / seqs: {held.pets / held.seqs:.2f}x"
    if failed:
        line += (f"; at least {held.pets / min(failed):.2f}x (seqs did not hold {min(failed):g} "
                 "req/s)")
    if held.pets >= online[online.system == "pets"].rate.max():
        line += "; pets held its highest rate tried, so it may serve more"
    return [line]


def full_batch_lines(df: pd.DataFrame) -> list[str]:
    """The cost model's full-batch capacity per system (`pets.serving.capacity`): what each
    could serve in full batches with no latency bound. Not a bound on the ratio at an SLO
    either way: at the SLO pets' batches grow with load while seqs' per-task batches stay small
    (over 64 tasks the in-process ratio at a 200 ms p99 was 1.83x where this one was 1.44x)."""
    if "capacity_rps" not in df:
        return []
    full = df[df["mode"] == "replay"].groupby("system").capacity_rps.median().dropna()
    lines = [f"cost-model capacity (full batches, no SLO): {s} {v:.0f} req/s"
             for s, v in full.items()]
    if {"pets", "seqs"} <= set(full.index):
        lines.append(f"cost-model full-batch capacity, pets / seqs: {full.pets / full.seqs:.2f}x")
    return lines
