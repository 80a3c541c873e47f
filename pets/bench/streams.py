"""`pets bench streams` (paper Fig. 11): PET operators scheduled over CUDA streams.

GPU only. The PET operators of different tasks in a batch are independent (each
writes its own segment's rows), so PetS can run them concurrently. Here each
task gets its own operator table (not the engine's per-slot-group batched one), and
at every hook point the tasks' operators fan out round-robin over N side
streams after the shared op, and the main stream waits for all of them before
the next shared op. N = 1 runs them one after another on the main stream.
Throughput is normalised to N = 1; the engine's default path (PET ops batched
per method, one stream) is reported beside it as `schedule = engine`.

On a CPU there are no streams to schedule over: `run_streams` raises
`InvalidSpecError` saying so.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch
from tqdm.auto import tqdm

import pets
from pets.bench.fixedlen import fixed_batch, shape_label
from pets.bench.interleave import interleaved_medians
from pets.bench.workloads import mixed_engine
from pets.errors import InvalidSpecError
from pets.pet.ops import HookFn, OpTable


@dataclass(frozen=True, kw_only=True)
class StreamsConfig:
    preset: str = "distilbert"
    tasks: int = 16
    shape: tuple[int, int] = (2, 64)
    stream_counts: tuple[int, ...] = (1, 2, 4, 8, 16)
    repeats: int = 5
    padding: str | None = None
    device: str = "cuda"
    dtype: str = "auto"


SCALES = {
    "quick": StreamsConfig(preset="distilbert", tasks=16, stream_counts=(1, 2, 4, 8, 16)),
    "paper": StreamsConfig(preset="bert-base", tasks=32, stream_counts=(1, 2, 4, 8, 16, 32),
                           repeats=10),
}


def require_cuda(device: str) -> None:
    if torch.device(device).type != "cuda":
        raise InvalidSpecError(
            f"the streams experiment schedules PET operators over CUDA streams and needs a GPU; "
            f"device {device!r} has none. Run it with --device cuda on a machine with one "
            f"(committed GPU results, if any: docs/results/<gpu>/streams.csv)")


def run_streams(cfg: StreamsConfig = SCALES["quick"], *, progress: bool = True) -> pd.DataFrame:
    """One row per stream count (schedule = streams) plus the engine's default path."""
    require_cuda(cfg.device)
    eng = mixed_engine(cfg.preset, cfg.tasks, device=cfg.device, dtype=cfg.dtype)
    padding = cfg.padding or eng.padding
    batch = fixed_batch(list(eng.tasks), cfg.shape, eng.config.vocab_size)
    streams = [torch.cuda.Stream(cfg.device) for _ in range(max(cfg.stream_counts))]
    cases = {("engine", 1): lambda: eng.run(batch, padding=padding)}
    for n in cfg.stream_counts:
        cases[("streams", n)] = lambda n=n: _run_scheduled(eng, batch, padding, streams[:n])
    with tqdm(total=1, desc="streams", disable=not progress) as bar:
        seconds = interleaved_medians(cases, cfg.device, repeats=cfg.repeats)
        bar.update()
    rows = [dict(schedule=s, streams=n, tasks=cfg.tasks, shape=shape_label(cfg.shape),
                 queries=len(batch), median_s=t, queries_per_s=len(batch) / t)
            for (s, n), t in seconds.items()]
    df = pd.DataFrame(rows)
    one = df[(df.schedule == "streams") & (df.streams == 1)].queries_per_s
    df["vs_one_stream"] = df.queries_per_s / (one.iloc[0] if len(one) else float("nan"))
    df["preset"], df["device"] = cfg.preset, cfg.device
    return df


def _run_scheduled(eng: pets.PetsEngine, batch, padding: str, streams: list):
    """The batch with per-task PET ops spread over `streams`."""
    return eng.run(batch, padding=padding, schedule=lambda tables: scheduled_table(tables, streams))


def scheduled_table(per_task: list[OpTable], streams: list) -> OpTable:
    """One op per hook point running task i's ops on streams[i % len(streams)]."""
    keys = dict.fromkeys(k for table in per_task for k in table)
    out: OpTable = {}
    for key in keys:
        groups: dict[int, list[HookFn]] = {}
        for i, table in enumerate(per_task):
            groups.setdefault(i % len(streams), []).extend(table.get(key, ()))
        lanes = [(streams[s], fns) for s, fns in groups.items() if fns]
        out[key] = [_serial(lanes) if len(streams) == 1 else _fan_out(lanes)]
    return out


def _serial(lanes) -> HookFn:
    fns = [fn for _, lane in lanes for fn in lane]

    def apply(x, y):
        for fn in fns:
            fn(x, y)
    return apply


def _fan_out(lanes) -> HookFn:
    def apply(x, y):
        main = torch.cuda.current_stream()
        ready = torch.cuda.Event()
        ready.record(main)
        for stream, fns in lanes:
            stream.wait_event(ready)
            with torch.cuda.stream(stream):
                for fn in fns:
                    fn(x, y)
        for stream, _ in lanes:
            main.wait_stream(stream)
    return apply


def summary_lines(df: pd.DataFrame) -> list[str]:
    best = df[df.schedule == "streams"].sort_values("vs_one_stream").iloc[-1]
    return [f"best: {best.streams} streams, {best.vs_one_stream:.2f}x one stream "
            f"({df.tasks.iloc[0]} tasks, {df['shape'].iloc[0]} per task)"]
