"""Plotly figures for notebooks and the dashboard (one function per view)."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.express as px
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


def cluster_load(reports: Mapping[str, "pets.cluster.ClusterReport"],  # noqa: F821
                 metric: str = "outstanding_tokens") -> go.Figure:
    """Per-worker load over time, one panel per balancer (a ClusterReport's `loads()`)."""
    df = pd.concat([r.loads().assign(balancer=name) for name, r in reports.items()])
    fig = px.line(df, x="time_s", y=metric, color=df.worker.astype(str), facet_row="balancer",
                  labels={"color": "worker", "time_s": "trace time (s)"},
                  title=f"per-worker {metric.replace('_', ' ')}", height=220 * len(reports))
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    return fig


def migration_timeline(report: "pets.cluster.ClusterReport") -> go.Figure:  # noqa: F821
    """Each migration as a bar from start to landing, one row per destination worker."""
    log = report.migration_log()
    log = log[log.kind != "drop"].assign(worker=lambda d: "worker " + d.dst.astype(str))
    fig = go.Figure()
    for kind, g in log.groupby("kind"):
        fig.add_scatter(x=g.start_s, y=g.worker, mode="markers", name=kind,
                        text=g.task + " (" + (g.nbytes / 2**20).round(2).astype(str) + " MB)",
                        marker=dict(size=9, symbol="triangle-right"))
    fig.update_layout(title=f"PET migrations ({report.balancer}): when each started, where it went",
                      xaxis_title="trace time (s)", height=300)
    return fig
