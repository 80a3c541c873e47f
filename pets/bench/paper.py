"""Registry of the paper-figure benchmarks, and how `pets bench NAME` maps its
command-line options onto their configs (each bench keeps its own `SCALES`)."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

import pandas as pd


@dataclass(frozen=True)
class PaperBench:
    module: str  # pets.bench.<module>: run_<module>(scale, **overrides), summary_lines(df)
    figure: str  # what it reproduces
    columns: tuple[str, ...]  # what the CLI prints
    overrides: Callable[[argparse.Namespace], dict]  # CLI options -> config overrides


def _powers(top: int | None, start: int = 1) -> tuple[int, ...] | None:
    """start, 2 start, 4 start, ... up to top (None: keep the scale's)."""
    if not top:
        return None
    out = [start]
    while out[-1] * 2 <= top:
        out.append(out[-1] * 2)
    return tuple(out)


def _common(args: argparse.Namespace) -> dict:
    return dict(preset=args.preset, device=args.device, dtype=args.dtype)


BENCHES: dict[str, PaperBench] = {
    "capacity": PaperBench(
        "capacity", "Table 5",
        ("group", "tasks", "bytes_per_task", "share_of_dense", "ratio_vs_dense", "device_bytes"),
        _common),
    "throughput": PaperBench(
        "throughput", "Fig. 7",
        ("shape", "tasks", "queries", "median_s", "queries_per_s", "normalised"),
        lambda a: {**_common(a), "padding": a.padding, "task_counts": _powers(a.tasks)}),
    "systems": PaperBench(
        "systems", "Fig. 8",
        ("shape", "system", "tasks", "queries", "median_s", "queries_per_s", "vs_seqs"),
        lambda a: {**_common(a), "padding": a.padding, "task_counts": _powers(a.tasks, 2)}),
    "breakdown": PaperBench(
        "breakdown", "Fig. 9",
        ("group", "shape", "tasks", "pets_s", "base_s", "pet_ops_s", "pet_build_s", "shared_s",
         "pet_share", "pet_share_by_difference"),
        lambda a: {**_common(a), "padding": a.padding, "tasks": a.tasks}),
    "streams": PaperBench(
        "streams", "Fig. 11",
        ("schedule", "streams", "tasks", "median_s", "queries_per_s", "vs_one_stream"),
        lambda a: {**_common(a), "padding": a.padding, "tasks": a.tasks}),
}


def run_bench(name: str, args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(full frame for the CSV, columns to print, summary lines) of `pets bench NAME`."""
    import importlib

    bench = BENCHES[name]
    module = importlib.import_module(f"pets.bench.{bench.module}")
    df = getattr(module, f"run_{bench.module}")(args.scale, **bench.overrides(args))
    df["scale"] = args.scale
    return df, df[list(bench.columns)], module.summary_lines(df)
