"""Plotly figures of a live server's /metrics history (lib.server_metrics): throughput,
queue length, latency percentiles and requests per task. Time is seconds since the page
started watching the server."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from lib.server_metrics import STATUSES

HEIGHT = 300
COLORS = {"completed": "#2ca02c", "rejected": "#ff7f0e", "failed": "#d62728"}


def _layout(fig: go.Figure, title: str, y: str, x: str = "seconds watched") -> go.Figure:
    legend = dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom")
    return fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=HEIGHT,
                             margin=dict(l=10, r=10, t=40, b=10), legend=legend)


def throughput(rates: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for status in STATUSES:
        col = f"{status}_rps"
        if status == "completed" or (rates[col] > 0).any():
            fig.add_trace(go.Scatter(x=rates.t, y=rates[col], name=status, mode="lines",
                                     line=dict(color=COLORS[status])))
    return _layout(fig, "Throughput", "requests / s")


def queue(rates: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Scatter(x=rates.t, y=rates.queue, name="queue", mode="lines",
                               line_shape="hv"))
    return _layout(fig, "Queue length", "queries waiting")


def latency(percentiles: pd.DataFrame, window_s: float) -> go.Figure:
    fig = go.Figure()
    for col in percentiles.columns.drop("t"):
        fig.add_trace(go.Scatter(x=percentiles.t, y=percentiles[col], name=col.removesuffix("_ms"),
                                 mode="lines", connectgaps=False))
    return _layout(fig, f"Latency percentiles (requests of the last {window_s:g} s)",
                   "latency (ms)")


def per_task(counts: pd.DataFrame, top: int = 32) -> go.Figure:
    shown = counts.head(top)
    fig = go.Figure([go.Bar(x=shown.task, y=shown[s], name=s, marker_color=COLORS[s])
                     for s in STATUSES if (shown[s] > 0).any() or s == "completed"])
    title = "Requests per task" + (f" ({top} busiest)" if len(counts) > top else "")
    return _layout(fig.update_layout(barmode="stack"), title, "requests", x="task")
