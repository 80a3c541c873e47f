"""The Scalability page's quick runs: several independent rounds of `run_scalability`,
summarised as medians with their spread (min..max over the rounds).

Nothing here is cached across sessions: a quick run belongs to the visitor who asked
for it (kept in that session's state by the page)."""
from __future__ import annotations

from typing import Callable

import pandas as pd
import plotly.graph_objects as go

from pets.bench.scalability import ScalabilityConfig, run_scalability

Progress = Callable[[float, str], None]
# One look per system, so that overlapping lines stay distinguishable in print too.
STYLES = {"pets": ("solid", "circle"), "seqs": ("dash", "square"), "peft": ("dot", "diamond"),
          "base": ("dashdot", "x"), "pars": ("longdash", "triangle-up")}
TIE = "tie (within the spread)"


def style(name: str, i: int) -> dict:
    dashes = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
    symbols = ("circle", "square", "diamond", "x", "triangle-up", "cross")
    dash, symbol = STYLES.get(name, (dashes[i % len(dashes)], symbols[i % len(symbols)]))
    return dict(line=dict(dash=dash, width=2), marker=dict(symbol=symbol, size=8))


def run_rounds(cfg: ScalabilityConfig, rounds: int, progress: Progress | None = None) -> pd.DataFrame:
    """`rounds` independent runs of the config, one after another; a `round` column tells them
    apart. Each round times the systems interleaved after a warm-up (`run_scalability`)."""
    rounds = max(1, int(rounds))
    parts = []
    for r in range(rounds):
        def report(fraction: float, message: str, r=r) -> None:
            if progress is not None:
                progress((r + fraction) / rounds, f"round {r + 1}/{rounds}, {message}")
        parts.append(run_scalability(cfg, progress=report).assign(round=r))
    if progress is not None:
        progress(1.0, "done")
    return pd.concat(parts, ignore_index=True)


def rounds_job(cfg: ScalabilityConfig, rounds: int, job) -> pd.DataFrame:
    """`run_rounds` as the work of a measuring process (lib.jobs `Job.start_process`)."""
    return run_rounds(cfg, rounds, progress=job.report)


def throughput_stats(df: pd.DataFrame) -> pd.DataFrame:
    """Per (tasks, system): median, min and max throughput over the rounds, and memory."""
    g = df.groupby(["tasks", "system"], sort=False)
    return g.agg(throughput_qps=("throughput_qps", "median"), low=("throughput_qps", "min"),
                 high=("throughput_qps", "max"), memory_mib=("memory_mib", "median"),
                 rounds=("throughput_qps", "size")).reset_index()


def ratio_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per task count, pets throughput over each other system's: the median of the per-round
    ratios, their range, and a plain reading (a range that includes 1.00 is a tie)."""
    if "round" not in df.columns:
        df = df.assign(round=0)
    wide = df.pivot_table(index=["tasks", "round"], columns="system", values="throughput_qps")
    mem = df.pivot_table(index="tasks", columns="system", values="memory_bytes")
    out = pd.DataFrame(index=sorted(df.tasks.unique()))
    out.index.name = "tasks"
    for other in [s for s in df.system.unique() if s != "pets"]:
        ratio = (wide["pets"] / wide[other]).groupby(level="tasks")
        med, lo, hi = ratio.median(), ratio.min(), ratio.max()
        out[f"pets / {other} throughput"] = med.round(2)
        out[f"pets / {other} spread"] = [f"{a:.2f} to {b:.2f}" for a, b in zip(lo, hi)]
        out[f"vs {other}"] = [reading(a, b, other) for a, b in zip(lo, hi)]
        out[f"{other} / pets memory"] = (mem[other] / mem["pets"]).round(2)
    return out.reset_index()


def reading(low: float, high: float, other: str) -> str:
    if low > 1.0:
        return "pets faster"
    if high < 1.0:
        return f"{other} faster"
    return TIE


def throughput_figure(df: pd.DataFrame) -> go.Figure:
    """Median throughput against tasks with min..max error bars, one styled line per system."""
    stats = throughput_stats(df)
    fig = go.Figure()
    for i, (system, g) in enumerate(stats.groupby("system", sort=False)):
        fig.add_trace(go.Scatter(
            x=g.tasks, y=g.throughput_qps, name=system, mode="lines+markers", **style(system, i),
            error_y=dict(type="data", symmetric=False, array=g.high - g.throughput_qps,
                         arrayminus=g.throughput_qps - g.low, thickness=1)))
    first = df.iloc[0]
    rounds = int(df["round"].nunique()) if "round" in df.columns else 1
    fig.update_layout(title=f"Throughput vs tasks ({first.queries} queries x {first.seq_len} tokens, "
                            f"{first.preset}; median of {rounds} round(s), bars: min to max)",
                      yaxis_title="queries / s", yaxis_rangemode="tozero", legend_title="system")
    return tasks_axis(fig, stats.tasks)


def memory_figure(df: pd.DataFrame) -> go.Figure:
    stats = throughput_stats(df)
    fig = go.Figure([go.Scatter(x=g.tasks, y=g.memory_mib, name=system, mode="lines+markers",
                                **style(system, i))
                     for i, (system, g) in enumerate(stats.groupby("system", sort=False))])
    fig.update_layout(title="Memory held vs tasks", yaxis_title="MiB held",
                      yaxis_rangemode="tozero", legend_title="system")
    return tasks_axis(fig, stats.tasks)


def tasks_axis(fig: go.Figure, tasks) -> go.Figure:
    """Log x, labelled as such, with a tick at every measured task count."""
    counts = sorted({int(t) for t in tasks})
    return fig.update_xaxes(type="log", tickvals=counts, ticktext=[str(c) for c in counts],
                            title="tasks (log scale)")

