"""Plotly figures for notebooks and the dashboard (one function per view)."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go


def memory_bars(engine) -> go.Figure:
    """Bytes of the shared backbone and of each task, against one dense copy per task."""
    mem = engine.memory()
    tasks = list(mem.tasks)
    fig = go.Figure([
        go.Bar(name="PET parameters", x=tasks, y=[mem.tasks[t] / 2**20 for t in tasks]),
        go.Bar(name="dense copy", x=tasks, y=[mem.dense_copy / 2**20] * len(tasks), opacity=0.35),
    ])
    fig.update_layout(barmode="group", yaxis_title="MiB", yaxis_type="log",
                      title=f"Per-task memory (shared backbone {mem.shared / 2**20:.1f} MiB, held once)")
    return fig


def latency_cdf(reports: Mapping[str, "pets.serving.Report"]) -> go.Figure:  # noqa: F821
    """Latency CDF of completed requests, one line per system."""
    fig = go.Figure()
    for name, report in reports.items():
        df = report.frame()
        lat = np.sort(df.loc[df.status == "completed", "latency"].to_numpy() * 1e3)
        if len(lat):
            fig.add_trace(go.Scatter(x=lat, y=np.arange(1, len(lat) + 1) / len(lat), name=name,
                                     mode="lines"))
    fig.update_layout(xaxis_title="latency (ms)", yaxis_title="fraction of completed requests",
                      title="Latency CDF")
    return fig


def summary_bars(summaries: pd.DataFrame, metric: str = "throughput_rps") -> go.Figure:
    """One bar per system of a replay summary metric."""
    fig = go.Figure(go.Bar(x=summaries.system, y=summaries[metric]))
    fig.update_layout(yaxis_title=metric, title=metric.replace("_", " "))
    return fig
