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
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 0:
            raise InvalidSpecError(f"threads {self.threads!r}: give a whole number >= 1, or 0 "
                                   "for torch's default (all cores)")


SCALES = {
    "quick": ServeBenchConfig(),
    "paper": ServeBenchConfig(rates=(50.0, 100.0, 200.0, 400.0, 800.0), requests=2000, tasks=32),
}


def run_serve_bench(cfg: ServeBenchConfig, *, progress: bool = True) -> pd.DataFrame:
    """One row per (rate, system, mode): the replay summary of each run."""
    dtype = resolve_dtype(cfg.dtype, cfg.device)
    dtype_arg = str(dtype).removeprefix("torch.")
    rows = []
    with tempfile.TemporaryDirectory(prefix="pets-serve-bench-") as tmp:
        for rate in cfg.rates:
            trace = generate_trace(TraceSpec(requests=cfg.requests, rate=rate, tasks=cfg.tasks,
                                             mean_len=cfg.mean_len, std_len=cfg.std_len,
                                             max_len=cfg.max_len, seed=cfg.seed))
            path = save_trace(trace, Path(tmp) / f"rate-{rate:g}.csv")
            for system in cfg.systems:
                server = ServerConfig(system=system, policy=cfg.policy, max_batch=cfg.max_batch,
                                      max_wait_ms=cfg.max_wait_ms, queue_limit=cfg.queue_limit)
                rows.append({**_replayed(trace, cfg, system, server, dtype), "mode": "replay",
                             "rate": rate})
                args = ["--backbone", cfg.preset, "--trace-tasks", str(path), "--system", system,
                        *(["--threads", str(cfg.threads)] if cfg.threads else []),
                        "--policy", cfg.policy, "--max-batch", str(cfg.max_batch),
                        "--max-wait-ms", str(cfg.max_wait_ms), "--queue-limit",
                        str(cfg.queue_limit), "--device", cfg.device, "--dtype", dtype_arg]
                with ServerProcess(args) as url:
                    online = run_loadgen(trace, LoadgenConfig(url=url, slo_ms=cfg.slo_ms,
                                                              timeout_s=cfg.timeout_s))
                rows.append({**online.summary(), "system": system, "mode": "online", "rate": rate})
                if progress:
                    r, o = rows[-2], rows[-1]
                    print(f"rate {rate:g}/s {system}: replay {r['throughput_rps']:.1f} req/s "
                          f"p50 {r['p50_ms']:.1f} ms | online {o['throughput_rps']:.1f} req/s "
                          f"p50 {o['p50_ms']:.1f} ms", flush=True)
    df = pd.DataFrame(rows).assign(preset=cfg.preset, dtype=dtype_arg,
                                   threads=cfg.threads or torch.get_num_threads())
    return df[[*COLUMNS, *(c for c in df.columns if c not in COLUMNS)]]


def _replayed(trace, cfg: ServeBenchConfig, system: str, server: ServerConfig, dtype) -> dict:
    """The in-process replay's summary. Its engine (for seqs: one dense copy per task) is
    freed, and the memory handed back to the OS, before the server starts, so the two never
    hold memory at once."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads or threads)
    try:
        engine = engine_for_trace(trace, cfg.preset, device=cfg.device, dtype=dtype)
        report = ServingLoop(make_system(system, engine),
                             server.serve_config(cfg.slo_ms)).run(trace, progress=False)
    finally:
        torch.set_num_threads(threads)
    del engine
    release_freed()
    return report.summary()


def capacity_at_slo(df: pd.DataFrame, slo_ms: float) -> pd.DataFrame:
    """Per (system, mode): the highest offered rate served whole within the SLO (p99 <= SLO,
    nothing rejected or failed), and its goodput."""
    ok = df[(df.p99_ms <= slo_ms) & (df.rejected == 0) & (df.failed == 0)]
    best = ok.sort_values("rate").groupby(["system", "mode"]).tail(1)
    return best[["system", "mode", "rate", "goodput_rps", "p99_ms"]].reset_index(drop=True)


def summary_lines(df: pd.DataFrame) -> list[str]:
    lines = []
    slo = float(df.slo_ms.iloc[0]) if "slo_ms" in df else DEFAULT_SLO_MS
    wide = df.pivot_table(index=["system", "rate"], columns="mode",
                          values=["throughput_rps", "p50_ms"])
    for (system, rate), r in wide.iterrows():
        lines.append(f"{system} at {rate:g} req/s: online / replay throughput "
                     f"{r[('throughput_rps', 'online')] / r[('throughput_rps', 'replay')]:.2f}, "
                     f"p50 {r[('p50_ms', 'online')]:.1f} vs {r[('p50_ms', 'replay')]:.1f} ms")
    cap = capacity_at_slo(df, slo)
    for _, r in cap.iterrows():
        lines.append(f"capacity at p99 <= {slo:g} ms ({r['mode']}): {r.system} {r.rate:g} req/s "
                     f"offered (goodput {r.goodput_rps:.1f})")
    return lines + full_batch_lines(df)


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
