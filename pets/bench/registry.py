"""The one registry of benchmarks: `pets bench NAME` is generated from it.

Every bench is one module exporting the same small interface: a frozen config
dataclass, `SCALES` (scale name -> config), a run function (config -> DataFrame)
and `summary_lines(df) -> list[str]`. An entry here names them once, with what
the CLI prints and the CSV's file stem. `config(name, scale, **overrides)` is the
config a notebook or the CLI runs; the CLI offers one option per config field,
its help giving the scales' defaults.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd
import torch

from pets.bench.scales import resolve
from pets.dtypes import dtype_name, resolve_dtype
from pets.errors import InvalidSpecError


@dataclass(frozen=True)
class Bench:
    """One benchmark. `module` is under pets.bench; `run`/`config` name its attributes."""

    name: str
    module: str
    run: str                           # run(config, *, progress) -> DataFrame
    config: str                        # the config dataclass
    figure: str = ""                   # what it reproduces (paper figure or table)
    columns: tuple[str, ...] = ()      # what the CLI prints (empty: every column)
    stem: Callable[[Any, str], str] | None = None  # CSV file stem from (config, scale)
    # (a module without SCALES runs at one scale, "quick": its config's defaults)

    def load(self):
        return importlib.import_module(f"pets.bench.{self.module}")

    @property
    def scales(self) -> dict[str, Any]:
        module = self.load()
        return dict(getattr(module, "SCALES", None) or {"quick": self.config_class()})

    @property
    def config_class(self) -> type:
        return getattr(self.load(), self.config)

    @property
    def about(self) -> str:
        return (self.load().__doc__ or self.name).strip().splitlines()[0]

    def execute(self, cfg: Any, *, progress: bool = True) -> pd.DataFrame:
        device = getattr(cfg, "device", "cpu")
        if torch.device(device).type == "cuda" and not torch.cuda.is_available():
            raise InvalidSpecError(f"bench {self.name} on device {device!r} needs a GPU and this "
                                   "machine has none; pass --device cpu where the bench allows it")
        fn = getattr(self.load(), self.run)
        df = fn(cfg, progress=progress)
        if hasattr(cfg, "dtype") and "dtype" not in df:  # every report names the dtype it ran in
            df = df.assign(dtype=dtype_name(resolve_dtype(cfg.dtype, device)))
        return df

    def summary(self, df: pd.DataFrame) -> list[str]:
        return self.load().summary_lines(df)

    def file_stem(self, cfg: Any, scale: str) -> str:
        if self.stem:
            return self.stem(cfg, scale)
        return self.name if scale == "quick" else f"{self.name}-{scale}"


BENCHES: dict[str, Bench] = {}


def register(bench: Bench) -> Bench:
    BENCHES[bench.name] = bench
    return bench


def get_bench(name: str) -> Bench:
    try:
        return BENCHES[name]
    except KeyError:
        raise InvalidSpecError(f"unknown bench {name!r}; choose one of {sorted(BENCHES)}") from None


def config(name: str, scale: str = "quick", **overrides: Any) -> Any:
    """The config bench `name` runs at `scale`, with `overrides` (None values ignored)."""
    return resolve(get_bench(name).scales, scale, overrides)


def run(name: str, scale: str = "quick", *, progress: bool = True, **overrides: Any) -> pd.DataFrame:
    """Run bench `name` at `scale` with `overrides`; the frame gains a `scale` column."""
    bench = get_bench(name)
    return bench.execute(config(name, scale, **overrides), progress=progress).assign(scale=scale)


_FIXED_LEN = ("shape", "tasks", "queries", "median_s", "queries_per_s")
for _bench in (
    Bench("capacity", "capacity", "run_capacity", "CapacityConfig", "Table 5",
          ("group", "tasks", "bytes_per_task", "share_of_dense", "ratio_vs_dense", "device_bytes")),
    Bench("throughput", "throughput", "run_throughput", "ThroughputConfig", "Fig. 7",
          (*_FIXED_LEN, "normalised")),
    Bench("systems", "systems", "run_systems", "SystemsConfig", "Fig. 8",
          ("shape", "system", "tasks", "queries", "median_s", "queries_per_s", "vs_seqs")),
    Bench("breakdown", "breakdown", "run_breakdown", "BreakdownConfig", "Fig. 9",
          ("group", "shape", "tasks", "pets_s", "base_s", "pet_ops_s", "pet_build_s", "shared_s",
           "pet_share", "pet_share_by_difference")),
    Bench("streams", "streams", "run_streams", "StreamsConfig", "Fig. 11",
          ("schedule", "streams", "tasks", "median_s", "queries_per_s", "vs_one_stream")),
    Bench("batching", "batching", "run_batching", "BatchingConfig", "Fig. 12",
          ("tasks", "std", "policy", "batches", "plan_ms", "measured_s", "queries_per_s", "vs_fixed"),
          stem=lambda c, s: f"batching-{c.preset}-{s}"),
    Bench("overhead", "overhead", "run_overhead", "OverheadConfig",
          columns=("seq_len", "system", "queries", "median_s", "queries_per_s", "vs_base", "vs_seqs",
                   "host_ms", "pet_ops_ms", "vs_base_hf"),
          stem=lambda c, s: f"overhead-{c.preset}-{s}"),
    Bench("loaded", "loaded", "run_loaded", "LoadedConfig",
          columns=("loaded", "median_ms", "iqr_low_ms", "iqr_high_ms", "vs_fewest", "bytes_per_task"),
          stem=lambda c, s: f"loaded-{c.preset}"),
    Bench("padding", "padding", "run_padding", "PaddingConfig", stem=lambda c, s: f"padding-{c.preset}"),
    Bench("costmodel", "costmodel", "run_costmodel", "CostModelBenchConfig",
          columns=("queries", "tasks", "tokens", "measured_s", "predicted_s", "rel_error"),
          stem=lambda c, s: f"costmodel-{c.preset}"),
    Bench("replay", "serving", "run_replay_bench", "ReplayBenchConfig",
          columns=("system", "executor", "repeats", "completed", "rejected", "failed",
                   "offered_rps", "capacity_rps", "throughput_rps", "throughput_rps_min",
                   "throughput_rps_max", "goodput_rps", "mean_ms", "p50_ms", "p99_ms",
                   "p99_ms_min", "p99_ms_max", "jain_fairness"),
          stem=lambda c, s: f"replay-{c.preset}"),
    Bench("serve", "serve", "run_serve_bench", "ServeBenchConfig", "online server vs replay",
          stem=lambda c, s: f"serve-{c.preset}"),
    Bench("sweep", "sweep", "run_sweep", "SweepConfig", "load sweep (MLPerf Server style)",
          columns=("system", "factor", "refined", "offered_rps", "throughput_rps", "goodput_rps", "mean_ms",
                   "p50_ms", "p99_ms", "meets_slo"),
          stem=lambda c, s: f"sweep-{c.preset}-{c.executor}"),
    Bench("scalability", "scalability", "run_scalability", "ScalabilityConfig",
          columns=("tasks", "system", "seconds", "throughput_qps", "memory_mib"),
          stem=lambda c, s: f"scalability-{c.preset}"),
    Bench("pet-accuracy", "pet_accuracy", "run_pet_accuracy", "PetAccuracyConfig",
          "PET accuracy vs storage (paper Table 2 / journal accuracy study)",
          columns=("data", "method", "test_accuracy", "served_accuracy", "vs_full_points",
                   "task_params", "bytes", "share_of_dense", "train_s"),
          stem=lambda c, s: f"pet-accuracy-{s}"),
    Bench("cluster", "cluster", "run_cluster_bench", "ClusterBenchConfig", "journal, multi-GPU",
          columns=("alpha", "tasks", "workers", "budget", "balancer", "throughput_rps", "vs_static")),
    Bench("cluster-ray", "cluster_ray", "run_ray_check", "RayCheckConfig",
          columns=("backend", "balancer", "throughput_rps", "p99_ms", "vs_static")),
    Bench("cluster-live", "cluster_live", "run_cluster_live", "ClusterLiveConfig", "concurrent Ray actors"),
):
    register(_bench)
