"""The Replay page's readable views: a latency CDF per system with the SLO marked, a queue
chart binned to its peaks, line styles that keep overlapping systems apart, and the summary
table in plain units (req/s, ms with one decimal, share within the SLO)."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from lib.charts import bin_width, waiting_counts

Frames = Mapping[str, pd.DataFrame]
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
SYMBOLS = ("circle", "square", "diamond", "x", "triangle-up", "cross")
DEFAULT_SLO_MS = 200.0


def distinguish(fig: go.Figure) -> go.Figure:
    """Give every line trace its own dash and a few markers, so lines that lie on top of
    each other (pets and base often do) stay visible and tell apart in greyscale."""
    for i, trace in enumerate(t for t in fig.data if t.type == "scatter"):
        trace.update(mode="lines+markers", line=dict(dash=DASHES[i % len(DASHES)], width=2),
                     marker=dict(symbol=SYMBOLS[i % len(SYMBOLS)], size=8, maxdisplayed=24))
    return fig


def queue_chart(frames: Frames) -> go.Figure:
    """Requests waiting, as the peak within each time bin, one styled line per system."""
    width = bin_width(frames, bins=80)
    fig = go.Figure()
    for name, df in frames.items():
        if df.empty:
            continue
        t, waiting = waiting_counts(df)
        if not len(t):
            continue
        bins = np.floor(t / width).astype(int)
        peak = pd.Series(waiting).groupby(bins).max()
        fig.add_trace(go.Scatter(x=peak.index * width, y=peak.to_numpy(), name=name))
    fig.update_layout(title=f"Queue length (peak per {width:g} s)", xaxis_title="trace time (s)",
                      yaxis_title="requests waiting", yaxis_rangemode="tozero", hovermode="x unified")
    return distinguish(fig)


def latency_cdf(frames: Frames, slo_ms: float | None) -> go.Figure:
    """Share of completed requests within each latency, one line per system; SLO marked."""
    fig = go.Figure()
    for name, df in frames.items():
        lat = np.sort(df.loc[df.status == "completed", "latency"].to_numpy(dtype=float) * 1e3)
        if len(lat):
            fig.add_trace(go.Scatter(x=lat, y=np.arange(1, len(lat) + 1) / len(lat), name=name))
    if slo_ms:
        fig.add_vline(x=slo_ms, line_dash="dot", line_color="grey",
                      annotation_text=f"SLO {slo_ms:g} ms", annotation_position="bottom right")
    fig.update_layout(title="Latency CDF (completed requests)", xaxis_title="latency (ms, log scale)",
                      xaxis_type="log", yaxis_title="share of completed requests",
                      yaxis_tickformat=".0%", yaxis_range=[0, 1.02])
    return distinguish(fig)


def summary_table(reports: Mapping, frames: Frames, slo_ms: float | None,
                  offered_rps: float | None) -> pd.DataFrame:
    """One row per system, in plain units; `throughput_rps` etc. keep the Report's names."""
    rows = []
    for name, report in reports.items():
        s = report.summary()
        df = frames.get(name, report.frame())
        lat = df.loc[df.status == "completed", "latency"].to_numpy(dtype=float) * 1e3
        within = float((lat <= slo_ms).mean()) if slo_ms and len(lat) else float("nan")
        rows.append({
            "system": name, "executor": s.get("executor"), "requests": s["requests"],
            "completed": s["completed"], "rejected": s["rejected"], "failed": s["failed"],
            "offered_rps": offered_rps, "capacity_rps": s.get("capacity_rps", float("nan")),
            "throughput_rps": s["throughput_rps"],
            "goodput_rps": s.get("goodput_rps", float("nan")),
            "within_slo": within,
            "mean_ms": float(lat.mean()) if len(lat) else float("nan"),
            "p50_ms": s["p50_ms"], "p95_ms": s["p95_ms"], "p99_ms": s["p99_ms"],
            "p99_meets_slo": (bool(s["p99_ms"] <= slo_ms) if slo_ms and len(lat) else None),
            "batches": s.get("batches"),
        })
    return pd.DataFrame(rows)


def ordering_warnings(reports: Mapping) -> list[str]:
    """Orderings that cannot be right in one replay (base slower than pets or seqs)."""
    from pets.serving.compare import aggregate, ordering_flags

    if not reports:
        return []
    runs = pd.DataFrame([{**r.summary(), "repeat": 0} for r in reports.values()])
    return [f.replace("--repeats", "repeats (pets replay --repeats)")
            for f in ordering_flags(aggregate(runs))]


def column_config(slo_ms: float | None) -> dict:
    """Streamlit formats for `summary_table`: req/s to one decimal, ms to one, shares as %."""
    rps = lambda label, help: st.column_config.NumberColumn(label, format="%.1f", help=help)  # noqa: E731
    ms = lambda label: st.column_config.NumberColumn(label, format="%.1f")  # noqa: E731
    slo = f"{slo_ms:g} ms" if slo_ms else "the SLO"
    return {
        "offered_rps": rps("offered (req/s)", "requests in the trace over its duration"),
        "capacity_rps": rps("capacity (req/s)", "most this system serves, by its cost model: "
                            "full batches at the trace's mean length"),
        "throughput_rps": rps("throughput (req/s)", "completed requests over the makespan"),
        "goodput_rps": rps("goodput (req/s)", f"completed within {slo} over the makespan"),
        "within_slo": st.column_config.NumberColumn(f"within {slo}", format="percent"),
        "mean_ms": ms("mean (ms)"), "p50_ms": ms("p50 (ms)"), "p95_ms": ms("p95 (ms)"),
        "p99_ms": ms("p99 (ms)"),
        "p99_meets_slo": st.column_config.CheckboxColumn(f"p99 within {slo}"),
    }
