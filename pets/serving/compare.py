"""Side-by-side comparisons worth trusting.

`compare` replays one trace on several systems, `repeats` times with the systems
interleaved (A B C, B C A, ...) so that drift on a shared machine hits every system alike; `aggregate` gives each system's median and
spread (min..max over the repeats) and `ordering_flags` names orderings that cannot be
right: base (the shared model alone, the upper bound) slower than pets or seqs beyond
the spread. A simulated replay is deterministic, so it runs once.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

import pets
from pets.errors import InvalidSpecError
from pets.serving.loop import ServeConfig, ServingLoop
from pets.serving.metrics import Report
from pets.serving.capacity import capacity_rps, offered_rps  # noqa: F401  (re-exported)
from pets.serving.systems import System, make_system
from pets.serving.trace import Trace

DEFAULT_REPEATS = 3
SPREAD_METRICS = ("throughput_rps", "goodput_rps", "mean_ms", "p50_ms", "p99_ms")


def compare(trace: Trace, systems: Sequence[str], config: ServeConfig, *,
            make_engine: Callable[[], pets.PetsEngine], repeats: int = DEFAULT_REPEATS,
            progress: bool = False,
            on_run: Callable[[int, str], None] | None = None) -> tuple[pd.DataFrame, dict[str, Report]]:
    """Replay `trace` on every system, `repeats` rounds with the systems interleaved
    (the order rotates each round). Returns one summary row per (system, repeat), with a
    `repeat` column, and each system's last Report. A `sim` replay runs once.

    Systems (and seqs' dense copies) are built once and reused across rounds, unless the
    trace adds or removes tasks: then every run gets a fresh engine from `make_engine`.
    """
    if not systems:
        raise InvalidSpecError("name one or more systems to compare")
    if not (isinstance(repeats, int) and 1 <= repeats <= 100):
        raise InvalidSpecError(f"repeats must be an integer 1..100, not {repeats!r}")
    rounds = 1 if config.executor == "sim" else repeats
    lifecycle = any(not r.is_request for r in trace.rows)
    built: dict[str, System] = {}
    rows, reports = [], {}
    for r in range(rounds):
        order = list(systems[r % len(systems):]) + list(systems[:r % len(systems)])
        for name in order:
            if on_run is not None:
                on_run(r, name)
            if lifecycle or name not in built:
                built[name] = make_system(name, make_engine())
            report = ServingLoop(built[name], config).run(trace, progress=progress)
            reports[name] = report
            rows.append({**report.summary(), "repeat": r})
    df = pd.DataFrame(rows)
    order = {s: i for i, s in enumerate(systems)}
    return df.sort_values(["repeat"], kind="stable").sort_values(
        "system", key=lambda s: s.map(order), kind="stable").reset_index(drop=True), reports


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (system, executor): medians of every numeric column, `repeats`, and
    `<metric>_min` / `<metric>_max` (the spread over the repeats) for the main metrics."""
    keys = [k for k in ("system", "executor") if k in runs]
    g = runs.groupby(keys, sort=False)
    numeric = [c for c in runs.select_dtypes("number").columns if c != "repeat"]
    out = g[numeric].median()
    for c in runs[numeric].select_dtypes("integer").columns:  # counts stay counts
        out[c] = out[c].round().astype(int)
    out.insert(0, "repeats", g.size())
    for m in SPREAD_METRICS:
        if m in runs:
            out[f"{m}_min"], out[f"{m}_max"] = g[m].min(), g[m].max()
    others = [c for c in runs.columns if c not in numeric and c not in keys and c != "repeat"]
    for c in others:
        out[c] = g[c].first()
    return out.reset_index()


def ordering_flags(agg: pd.DataFrame, upper: str = "base",
                   others: Iterable[str] = ("pets", "seqs"), tolerance: float = 0.01) -> list[str]:
    """Orderings that cannot be right: `upper` (base: the shared model with no PET work) with
    less throughput or more mean latency than another system, beyond both spreads (and by
    more than `tolerance`, relative). Each flag says what to do about it."""
    flags = []
    for executor, g in agg.groupby("executor", sort=False) if "executor" in agg else [("", agg)]:
        rows = g.set_index("system")
        if upper not in rows.index:
            continue
        b = rows.loc[upper]
        n = int(b.get("repeats", 1))
        for other in others:
            if other not in rows.index:
                continue
            o = rows.loc[other]
            lo, hi = _range(b, "throughput_rps"), _range(o, "throughput_rps")
            if lo[1] < hi[0] * (1 - tolerance):
                flags.append(
                    f"IMPOSSIBLE ORDER ({executor}): {upper} throughput {_fmt(lo)} req/s is below "
                    f"{other}'s {_fmt(hi)} beyond the spread of {n} run(s); {upper} does strictly "
                    "less work, so the timing is unreliable: rerun on a quiet machine with more "
                    "--repeats")
            lo, hi = _range(b, "mean_ms"), _range(o, "mean_ms")
            if lo[0] > hi[1] * (1 + tolerance):
                flags.append(
                    f"IMPOSSIBLE ORDER ({executor}): {upper} mean latency {_fmt(lo)} ms is above "
                    f"{other}'s {_fmt(hi)} beyond the spread of {n} run(s); {upper} does strictly "
                    "less work, so the timing is unreliable: rerun on a quiet machine with more "
                    "--repeats")
    return flags


def _range(row: pd.Series, metric: str) -> tuple[float, float]:
    return (float(row.get(f"{metric}_min", row[metric])), float(row.get(f"{metric}_max", row[metric])))


def _fmt(r: tuple[float, float]) -> str:
    return f"{r[0]:.1f}" if np.isclose(r[0], r[1]) else f"{r[0]:.1f}-{r[1]:.1f}"


def spread_text(row: pd.Series, metric: str, digits: int = 1) -> str:
    """'median [min-max]' of one aggregated metric."""
    lo, hi = _range(row, metric)
    return f"{row[metric]:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"
