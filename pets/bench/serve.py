"""`pets bench serve`: the online server against the in-process real replay, at rising rates.

The experiment lives with the server (`pets.server.bench`); this module registers it
among the benchmarks, so `pets bench serve` and `pets serve-bench` run the same code.
"""
from pets.server.bench import SCALES, ServeBenchConfig, run_serve_bench, summary_lines

__all__ = ["SCALES", "ServeBenchConfig", "run_serve_bench", "summary_lines"]
