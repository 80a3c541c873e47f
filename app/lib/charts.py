"""Replay figures from per-request frames (columns of `Report.frame()`), one line or bar
group per system. They take partial frames too: the Replay page redraws them while a
replay runs. Times are trace seconds (the serving loop's clock)."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

Frames = Mapping[str, pd.DataFrame]
PERCENTILES = (50, 95, 99)


def _span(frames: Frames) -> float:
    ends = [df[["arrival", "finish"]].max().max() for df in frames.values() if len(df)]
    return float(np.nanmax(ends)) if ends else 0.0


def bin_width(frames: Frames, bins: int = 60) -> float:
    """A round bin width giving about `bins` bins over the replay."""
    span = max(_span(frames), 1e-3)
    raw = span / bins
    step = 10 ** np.floor(np.log10(raw))
    return float(min((m * step for m in (1, 2, 5, 10) if m * step >= raw), default=raw))


def throughput_over_time(frames: Frames) -> go.Figure:
    """Completed requests per second in each time bin."""
    width = bin_width(frames)
    fig = go.Figure()
    for name, df in frames.items():
        done = df.loc[df.status == "completed", "finish"].to_numpy(dtype=float)
        if not len(done):
            continue
        edges = np.arange(0.0, done.max() + width, width)
        counts, _ = np.histogram(done, bins=edges)
        fig.add_trace(go.Scatter(x=edges[:-1], y=counts / width, name=name, mode="lines",
                                 line_shape="hv"))
    fig.update_layout(title="Throughput over time", xaxis_title="trace time (s)",
                      yaxis_title="completed requests / s")
    return fig


def waiting_counts(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(t, waiting): requests arrived and admitted but not yet in a batch, at every arrival
    and batch start of one system's records."""
    admitted = df[df.status != "rejected"]
    arrivals = np.sort(admitted.arrival.to_numpy(dtype=float))
    starts = np.sort(admitted.start.dropna().to_numpy(dtype=float))
    t = np.unique(np.concatenate([arrivals, starts]))
    return t, np.searchsorted(arrivals, t, side="right") - np.searchsorted(starts, t, side="right")


def latency_percentiles(frames: Frames) -> go.Figure:
    """p50 / p95 / p99 latency of completed requests, grouped by system."""
    fig = go.Figure()
    names = list(frames)
    for q in PERCENTILES:
        values = []
        for name in names:
            lat = frames[name].loc[frames[name].status == "completed", "latency"].to_numpy(dtype=float)
            values.append(float(np.percentile(lat, q) * 1e3) if len(lat) else None)
        fig.add_trace(go.Bar(x=names, y=values, name=f"p{q}"))
    fig.update_layout(title="Latency percentiles", barmode="group", yaxis_title="latency (ms)")
    return fig


def per_task_latency(frames: Frames, top: int = 16) -> go.Figure:
    """Mean latency of each of the `top` busiest tasks (by requests), grouped by system."""
    fig = go.Figure()
    all_rows = pd.concat([df[["task"]] for df in frames.values()]) if frames else pd.DataFrame()
    if all_rows.empty:
        return fig.update_layout(title="Per-task latency")
    tasks = all_rows.task.value_counts().index[:top].tolist()
    for name, df in frames.items():
        done = df[df.status == "completed"]
        mean = done.groupby("task").latency.mean().reindex(tasks) * 1e3
        fig.add_trace(go.Bar(x=tasks, y=mean.to_numpy(), name=name))
    fig.update_layout(title=f"Per-task mean latency ({len(tasks)} busiest tasks)", barmode="group",
                      yaxis_title="latency (ms)", xaxis_title="task")
    return fig


def status_counts(frames: Frames) -> pd.DataFrame:
    """Requests per status per system (pending ones are still in the loop)."""
    rows = {name: df.status.replace("", "pending").value_counts() for name, df in frames.items()}
    return pd.DataFrame(rows).T.fillna(0).astype(int)
