"""Online vs in-process: the same trace, engine and batching options served by `pets serve`
(a child process, driven by `pets loadgen` from this one) and replayed in-process on the real
executor, at rising offered rates, for pets and for a per-task-models server (seqs).

Written to the bench contract (frozen config, `SCALES`, `run_serve_bench(cfg, *, progress)`,
`summary_lines(df)`) and registered as `pets bench serve` (`pets serve-bench` runs the same).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

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
from pets.serving.trace import Trace, TraceRow

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
    policy: str = "best"
    max_batch: int = 32
    max_wait_ms: float = 5.0
    queue_limit: int = 1024
    slo_ms: float = DEFAULT_SLO_MS
    timeout_s: float = 30.0
    threads: int = 0  # torch threads of the server and of the replay (0: torch's default)
    repeats: int = 1  # rounds; each serves every system at every rate once
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise InvalidSpecError(f"threads {self.threads!r}: give a whole number >= 1, or 0 "
                                   "for torch's default (all cores)")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 1:
            raise InvalidSpecError(f"repeats {self.repeats!r}: give a whole number of rounds >= 1")


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
    draws its traces with seed `cfg.seed + r`."""
    dtype = resolve_dtype(cfg.dtype, cfg.device)
    dtype_arg = str(dtype).removeprefix("torch.")
    rows = []
    with tempfile.TemporaryDirectory(prefix="pets-serve-bench-") as tmp:
        tasks = save_trace(_every_task(cfg.tasks), Path(tmp) / "tasks.csv")
        for round_ in range(cfg.repeats):
            traces = {rate: generate_trace(TraceSpec(
                requests=cfg.requests, rate=rate, tasks=cfg.tasks, mean_len=cfg.mean_len,
                std_len=cfg.std_len, max_len=cfg.max_len, seed=cfg.seed + round_))
                for rate in cfg.rates}
            for system in cfg.systems:
                server = ServerConfig(system=system, policy=cfg.policy, max_batch=cfg.max_batch,
                                      max_wait_ms=cfg.max_wait_ms, queue_limit=cfg.queue_limit)
                replayed = _replayed(traces, cfg, system, server, dtype)
                args = ["--backbone", cfg.preset, "--trace-tasks", str(tasks), "--system", system,
                        *(["--threads", str(cfg.threads)] if cfg.threads else []),
                        "--policy", cfg.policy, "--max-batch", str(cfg.max_batch),
                        "--max-wait-ms", str(cfg.max_wait_ms), "--queue-limit",
                        str(cfg.queue_limit), "--device", cfg.device, "--dtype", dtype_arg]
                with ServerProcess(args) as url:
                    for rate, trace in traces.items():
                        online = run_loadgen(trace, LoadgenConfig(url=url, slo_ms=cfg.slo_ms,
                                                                  timeout_s=cfg.timeout_s))
                        r = {**replayed[rate], "mode": "replay"}
                        o = {**online.summary(), "system": system, "mode": "online"}
                        rows += [{**x, "round": round_, "rate": rate} for x in (r, o)]
                        if progress:
                            print(f"round {round_ + 1}/{cfg.repeats} rate {rate:g}/s {system}: "
                                  f"replay {r['throughput_rps']:.1f} req/s p50 "
                                  f"{r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} ms | online "
                                  f"{o['throughput_rps']:.1f} req/s p50 {o['p50_ms']:.1f} p99 "
                                  f"{o['p99_ms']:.1f} ms", flush=True)
    df = pd.DataFrame(rows).assign(preset=cfg.preset, dtype=dtype_arg,
                                   threads=cfg.threads or torch.get_num_threads())
    return df[[*COLUMNS, *(c for c in df.columns if c not in COLUMNS)]]


def _every_task(tasks: int) -> Trace:
    """A trace naming task-0 .. task-{tasks-1} once each, in order: what the engines load."""
    return Trace(tuple(TraceRow(0.0, f"task-{i}", 1) for i in range(tasks)), name="tasks")


def _replayed(traces: dict[float, Trace], cfg: ServeBenchConfig, system: str,
              server: ServerConfig, dtype) -> dict[float, dict]:
    """Each trace's in-process replay summary, by rate. The engine (for seqs: one dense copy
    per task) is freed, and the memory handed back to the OS, before the server starts, so the
    two never hold memory at once."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads or threads)
    try:
        engine = engine_for_trace(_every_task(cfg.tasks), cfg.preset, device=cfg.device,
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
    """Per (system, mode): the highest offered rate at which every run (every round) was
    served whole within the SLO (p99 <= SLO, nothing rejected or failed); its median goodput,
    worst p99 and how many runs there were."""
    ok = (df.p99_ms <= slo_ms) & (df.rejected == 0) & (df.failed == 0)
    runs = df.assign(ok=ok).groupby(["system", "mode", "rate"]).agg(
        held=("ok", "all"), runs=("ok", "size"), goodput_rps=("goodput_rps", "median"),
        p99_ms=("p99_ms", "max")).reset_index()
    best = runs[runs.held].sort_values("rate").groupby(["system", "mode"]).tail(1)
    return best[["system", "mode", "rate", "goodput_rps", "p99_ms", "runs"]].reset_index(drop=True)


def summary_lines(df: pd.DataFrame) -> list[str]:
    """Per system and rate: online against replay (medians over the rounds) and each run's
    p99; then each system's capacity at the SLO and, with pets and seqs, their ratio."""
    lines = []
    slo = float(df.slo_ms.iloc[0]) if "slo_ms" in df else DEFAULT_SLO_MS
    for (system, rate), g in df.groupby(["system", "rate"]):
        on, re = g[g["mode"] == "online"], g[g["mode"] == "replay"]
        if on.empty or re.empty:
            continue
        held = ((on.p99_ms <= slo) & (on.rejected == 0) & (on.failed == 0)).sum()
        runs = f" (medians of {len(on)} runs)" if len(on) > 1 else ""
        lines.append(f"{system} at {rate:g} req/s: online / replay throughput "
                     f"{on.throughput_rps.median() / re.throughput_rps.median():.2f}, "
                     f"p50 {on.p50_ms.median():.1f} vs {re.p50_ms.median():.1f} ms ("
                     f"{on.p50_ms.median() / re.p50_ms.median():.1f}x){runs}; online p99 "
                     f"{' / '.join(f'{v:.0f}' for v in on.p99_ms)} ms, {held} of {len(on)} "
                     f"within {slo:g} ms")
    cap = capacity_at_slo(df, slo)
    for _, r in cap.iterrows():
        lines.append(f"capacity at p99 <= {slo:g} ms ({r['mode']}): {r.system} {r.rate:g} req/s "
                     f"offered (goodput {r.goodput_rps:.1f}; every one of {r.runs} runs held)")
    return lines + ratio_lines(df, cap, slo) + full_batch_lines(df)


def ratio_lines(df: pd.DataFrame, cap: pd.DataFrame, slo_ms: float) -> list[str]:
    """pets' online capacity over seqs', with what the rate grid leaves open: the true ratio
    is at least pets' held rate over the lowest rate seqs failed at (when pets held its highest
    rate tried, pets could do more)."""
    held = cap[cap["mode"] == "online"].set_index("system").rate
    if not {"pets", "seqs"} <= set(held.index):
        return []
    online = df[df["mode"] == "online"]
    ok = (online.p99_ms <= slo_ms) & (online.rejected == 0) & (online.failed == 0)
    failed = online[~ok & (online.system == "seqs") & (online.rate > held.seqs)].rate
    line = f"online capacity at p99 <= {slo_ms:g} ms, pets / seqs: {held.pets / held.seqs:.2f}x"
    if len(failed):
        line += (f"; at least {held.pets / failed.min():.2f}x (seqs failed at {failed.min():g} "
                 "req/s)")
    if held.pets >= online[online.system == "pets"].rate.max():
        line += "; pets held its highest rate tried, so it may serve more"
    return [line]


def full_batch_lines(df: pd.DataFrame) -> list[str]:
    """The cost model's full-batch capacity per system (`pets.serving.capacity`): what each
    could serve in full batches with no latency bound. Not a bound on the ratio at an SLO:
    pets' batches grow with load while seqs' per-task batches stay small (over 64 tasks pets
    held 2x seqs' rate at a 200 ms p99 where the full-batch ratio was 1.78x)."""
    if "capacity_rps" not in df:
        return []
    full = df[df["mode"] == "replay"].groupby("system").capacity_rps.median().dropna()
    lines = [f"cost-model capacity (full batches, no SLO): {s} {v:.0f} req/s"
             for s, v in full.items()]
    if {"pets", "seqs"} <= set(full.index):
        lines.append(f"cost-model full-batch capacity, pets / seqs: {full.pets / full.seqs:.2f}x")
    return lines
