"""Plotly figures for notebooks and the dashboard (one function per view)."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go


# Line styles that keep overlapping lines apart (also in greyscale print).
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
SYMBOLS = ("circle", "square", "diamond", "x", "triangle-up", "cross")
COLORS = px.colors.qualitative.Plotly


def memory_bars(engine) -> go.Figure:
    """Bytes of the shared backbone and of each task, against one dense copy per task."""
    mem = engine.memory()
    tasks = list(mem.tasks)
    fig = go.Figure([
        go.Bar(name="PET parameters", x=tasks, y=[mem.tasks[t] / 2**20 for t in tasks]),
        go.Bar(name="dense copy", x=tasks, y=[mem.dense_copy / 2**20] * len(tasks), opacity=0.35),
    ])
    fig.update_layout(barmode="group", yaxis_title="MiB (log scale)", yaxis_type="log",
                      title=f"Per-task memory (shared backbone {mem.shared / 2**20:.1f} MiB, held once)")
    return fig


def latency_cdf(reports: Mapping[str, "pets.serving.Report"]) -> go.Figure:  # noqa: F821
    """Latency CDF of completed requests, one line per system."""
    fig = go.Figure()
    for name, report in reports.items():
        df = report.frame()
        lat = np.sort(df.loc[df.status == "completed", "latency"].to_numpy() * 1e3)
        if len(lat):
            i = len(fig.data)
            fig.add_trace(go.Scatter(x=lat, y=np.arange(1, len(lat) + 1) / len(lat), name=name,
                                     mode="lines", line=dict(dash=DASHES[i % len(DASHES)], width=2)))
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


def live_load(samples: pd.DataFrame, migrations: pd.DataFrame,
              metric: str = "outstanding_tokens") -> go.Figure:
    """A live cluster run as it goes: each worker's load over wall-clock time (one styled
    line per worker), every migration a marker at its start on its destination's line."""
    fig = go.Figure()
    for i, (w, g) in enumerate(samples.groupby("worker")):
        fig.add_scatter(x=g.time_s, y=g[metric], mode="lines", name=f"worker {w}",
                        line=dict(dash=DASHES[i % len(DASHES)], color=COLORS[i % len(COLORS)]))
    moved = migrations[migrations.kind != "drop"] if len(migrations) else migrations
    if len(moved) and len(samples):
        at = [samples.loc[(samples.worker == d) & (samples.time_s <= t), metric].iloc[-1]
              if ((samples.worker == d) & (samples.time_s <= t)).any() else 0.0
              for d, t in zip(moved.dst, moved.start_s)]
        fig.add_scatter(x=moved.start_s, y=at, mode="markers", name="migration (to worker)",
                        text=moved.kind + " " + moved.task + " -> worker " + moved.dst.astype(str),
                        marker=dict(size=11, symbol="triangle-right", color="black"))
    fig.update_layout(title=f"per-worker {metric.replace('_', ' ')} (live, wall clock)",
                      xaxis_title="seconds since the first arrival",
                      yaxis_title=metric.replace("_", " "), height=340)
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


def sweep_lines(df: pd.DataFrame) -> go.Figure:
    """A load sweep (`pets bench sweep`): p99 latency against throughput, one styled line per
    system in order of offered rate, the SLO as a dotted line and each system's capacity at
    the SLO (the highest offered rate that met it) as a ringed marker."""
    fig = go.Figure()
    slo = float(df.slo_ms.iloc[0]) if "slo_ms" in df else None
    for i, (system, g) in enumerate(df.groupby("system", sort=False)):
        g = g.sort_values("offered_rps")
        color = COLORS[i % len(COLORS)]
        fig.add_trace(go.Scatter(
            x=g.throughput_rps, y=g.p99_ms, name=system, mode="lines+markers",
            line=dict(dash=DASHES[i % len(DASHES)], width=2, color=color),
            marker=dict(symbol=SYMBOLS[i % len(SYMBOLS)], size=8),
            customdata=g.offered_rps, hovertemplate="offered %{customdata:.1f} req/s<br>"
            "throughput %{x:.1f} req/s<br>p99 %{y:.0f} ms"))
        ok = g[g.meets_slo] if "meets_slo" in g else g.iloc[0:0]
        if len(ok):
            best = ok.loc[ok.offered_rps.idxmax()]
            fig.add_trace(go.Scatter(
                x=[best.throughput_rps], y=[best.p99_ms], mode="markers", showlegend=False,
                name=f"{system} capacity", hovertext=f"{system}: capacity at the SLO "
                f"{best.offered_rps:.1f} req/s", hoverinfo="text",
                marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(width=2, color=color))))
    if slo:
        fig.add_hline(y=slo, line_dash="dot", line_color="grey",
                      annotation_text=f"SLO p99 {slo:g} ms", annotation_position="top left")
    first = df.iloc[0]
    where = f" ({first.preset}, {first.executor})" if {"preset", "executor"} <= set(df) else ""
    fig.update_layout(title=f"Throughput vs p99 latency as the offered load rises{where}",
                      xaxis_title="throughput (req/s)", yaxis_title="p99 latency (ms, log scale)",
                      yaxis_type="log", legend_title="system")
    return fig


# ---- paper figures (pets.bench: capacity, throughput, systems, breakdown, streams, batching) ----

def capacity_bars(df: pd.DataFrame) -> go.Figure:
    """Tasks that fit in the budget per group (log scale), labelled with the ratio to dense."""
    fig = go.Figure(go.Bar(x=df.group, y=df.tasks, text=[f"{r:.0f}x" for r in df.ratio_vs_dense],
                           textposition="outside"))
    first = df.iloc[0]
    fig.update_layout(yaxis_type="log", yaxis_title="tasks in the budget (log scale)",
                      title=f"Capacity: budget of {first.budget_copies} dense {first.preset} copies")
    return fig


def throughput_lines(df: pd.DataFrame) -> go.Figure:
    """Throughput normalised to one task, against the number of tasks, one line per shape."""
    fig = go.Figure([go.Scatter(x=g.tasks, y=g.normalised, name=f"{shape} per task",
                                mode="lines+markers", line=dict(dash=DASHES[i % len(DASHES)]),
                                marker=dict(symbol=SYMBOLS[i % len(SYMBOLS)], size=8))
                     for i, (shape, g) in enumerate(df.groupby("shape", sort=False))])
    fig.update_layout(xaxis_type="log", xaxis_title="tasks (log scale)", yaxis_title="throughput / one task",
                      title="Throughput as tasks are added (fixed-length queries)")
    return fig


def systems_lines(df: pd.DataFrame) -> go.Figure:
    """Queries/s against tasks, one line per system and shape."""
    fig = go.Figure()
    shapes = list(dict.fromkeys(df["shape"]))
    systems = list(dict.fromkeys(df.system))
    for (shape, system), g in df.groupby(["shape", "system"], sort=False):
        i, j = shapes.index(shape), systems.index(system)
        fig.add_trace(go.Scatter(x=g.tasks, y=g.queries_per_s, name=f"{system} {shape}",
                                 mode="lines+markers", line=dict(dash=DASHES[i % len(DASHES)],
                                                                 color=COLORS[j % len(COLORS)]),
                                 marker=dict(symbol=SYMBOLS[j % len(SYMBOLS)], size=8)))
    fig.update_layout(xaxis_title="tasks", yaxis_title="queries/s", title="SeqS vs ParS vs PetS")
    return fig


def breakdown_bars(df: pd.DataFrame) -> go.Figure:
    """Stacked shares of batch time: shared operators vs PET operators, per group and shape."""
    x = [f"{g} {s}" for g, s in zip(df.group, df["shape"])]
    fig = go.Figure([go.Bar(name="shared operators", x=x, y=1 - df.pet_share),
                     go.Bar(name="PET operators", x=x, y=df.pet_share)])
    fig.update_layout(barmode="stack", yaxis_tickformat=".0%", yaxis_title="share of batch time",
                      title=f"Time breakdown ({df.tasks.iloc[0]} tasks per batch)")
    return fig


def streams_lines(df: pd.DataFrame) -> go.Figure:
    """Throughput against CUDA streams for PET operators, normalised to one stream."""
    s = df[df.schedule == "streams"]
    fig = go.Figure(go.Scatter(x=s.streams, y=s.vs_one_stream, mode="lines+markers",
                               name="per-task PET ops over N streams"))
    for r in df[df.schedule == "engine"].itertuples():
        fig.add_hline(y=r.vs_one_stream, line_dash="dot", annotation_text="engine (batched ops)")
    fig.update_layout(xaxis_type="log", xaxis_title="CUDA streams (log scale)",
                      yaxis_title="throughput / one stream", title="PET-operator scheduling")
    return fig


def batching_lines(df: pd.DataFrame, tasks: int | None = None) -> go.Figure:
    """Throughput relative to fixed batching against the length spread, one line per policy."""
    tasks = tasks if tasks is not None else int(df.tasks.min())
    cell = df[df.tasks == tasks]
    fig = go.Figure([go.Scatter(x=g["std"], y=g.vs_fixed, name=p, mode="lines+markers")
                     for p, g in cell.groupby("policy")])
    fig.update_layout(xaxis_title="length std", yaxis_title="throughput / fixed",
                      title=f"Batching policies, {tasks} tasks")
    return fig


# ---- notebooks ----

NOTEBOOK_RENDERER = "plotly_mimetype+notebook_connected"


def use_notebook_renderer() -> str:
    """Show plotly figures in notebooks as the plotly JSON (JupyterLab, VS Code) *and* as HTML
    that loads plotly.js from its CDN, so `jupyter nbconvert --to html` and viewers without
    the plotly extension draw them too. Returns the renderer string set."""
    import plotly.io as pio

    pio.renderers.default = NOTEBOOK_RENDERER
    return NOTEBOOK_RENDERER


def accuracy_vs_bytes(df: pd.DataFrame) -> go.Figure:
    """`pets bench pet-accuracy`: test accuracy against bytes per task (log), one colour
    per method, one symbol per data set; full fine-tuning is the dense reference."""
    fig = go.Figure()
    datasets = list(dict.fromkeys(df.data))
    for i, method in enumerate(dict.fromkeys(df.method)):
        part = df[df.method == method]
        fig.add_trace(go.Scatter(
            x=part.bytes / 2**20, y=part.test_accuracy, mode="markers", name=method,
            marker=dict(size=11, color=COLORS[i % len(COLORS)],
                        symbol=[SYMBOLS[datasets.index(d) % len(SYMBOLS)] for d in part.data]),
            text=part.data, hovertemplate="%{text}: %{y:.3f} at %{x:.2f} MiB"))
    fig.update_layout(xaxis_type="log", xaxis_title="bytes per task, MiB (log scale)",
                      yaxis_title="test accuracy",
                      title="PET accuracy vs storage (symbols: " + ", ".join(
                          f"{d} {SYMBOLS[i % len(SYMBOLS)]}" for i, d in enumerate(datasets)) + ")")
    return fig
