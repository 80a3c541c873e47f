"""The Scalability page's data: quick-scale runs (cached) and committed full-scale CSVs."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from pets.bench.scalability import ScalabilityConfig, run_scalability

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
# Committed result families that plot against the number of tasks, best first.
FAMILIES = ("scalability", "throughput", "capacity", "systems", "streams")
Y_PREFERENCE = ("throughput_qps", "queries_per_s", "throughput_rps", "tasks_loaded", "max_tasks",
                "memory_mib", "speedup", "vs_seqs", "normalized")


@st.cache_data(show_spinner=False, max_entries=32)
def quick_scalability(cfg: ScalabilityConfig, _progress=None) -> pd.DataFrame:
    """`run_scalability` cached per config (shared by every session of this server)."""
    return run_scalability(cfg, progress=_progress)


def committed_results(root: Path = RESULTS) -> dict[str, Path]:
    """'<device>/<file>' -> path of committed CSVs of the families above."""
    out: dict[str, Path] = {}
    for family in FAMILIES:
        for path in sorted(root.glob(f"*/{family}*.csv")):
            out[f"{path.parent.name}/{path.name}"] = path
    return out


def _tasks_axis(fig: go.Figure, df: pd.DataFrame) -> go.Figure:
    """Log x with a tick at every measured task count (1, 2, 4, ...)."""
    counts = sorted(df.tasks.unique())
    return fig.update_xaxes(type="log", tickvals=counts, ticktext=[str(c) for c in counts],
                            title="tasks")


def throughput_figure(df: pd.DataFrame) -> go.Figure:
    fig = px.line(df, x="tasks", y="throughput_qps", color="system", markers=True,
                  title=f"Throughput vs number of tasks ({df.queries.iloc[0]} queries x "
                        f"{df.seq_len.iloc[0]} tokens, {df.preset.iloc[0]})")
    fig.update_layout(yaxis_title="queries / s", yaxis_rangemode="tozero")
    return _tasks_axis(fig, df)


def memory_figure(df: pd.DataFrame) -> go.Figure:
    fig = px.line(df, x="tasks", y="memory_mib", color="system", markers=True,
                  title="Memory vs number of tasks")
    fig.update_layout(yaxis_title="MiB held", yaxis_rangemode="tozero")
    return _tasks_axis(fig, df)


def speedup_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per task count: pets throughput over each other system's, and memory saved."""
    wide = df.pivot_table(index="tasks", columns="system", values=["throughput_qps", "memory_bytes"])
    out = pd.DataFrame(index=wide.index)
    for other in [s for s in df.system.unique() if s != "pets"]:
        out[f"pets / {other} throughput"] = (wide["throughput_qps"]["pets"]
                                             / wide["throughput_qps"][other])
        out[f"{other} / pets memory"] = wide["memory_bytes"][other] / wide["memory_bytes"]["pets"]
    return out.reset_index()


def auto_figure(df: pd.DataFrame, title: str) -> go.Figure | None:
    """A line per system against tasks, for committed CSVs of any family (None if unplottable)."""
    y = next((c for c in Y_PREFERENCE if c in df.columns), None)
    if "tasks" not in df.columns or y is None:
        return None
    color = "system" if "system" in df.columns else None
    fig = px.line(df.sort_values("tasks"), x="tasks", y=y, color=color, markers=True, title=title)
    return fig.update_layout(yaxis_rangemode="tozero")
