"""Committed benchmark results (docs/results/<device>/*.csv) as the Scalability page draws
them: the right figure per result family (one line per query shape, capacity as bars),
and the command that produced each file, read from that folder's README table."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

import pets.viz

from lib.scale_rounds import memory_figure, tasks_axis, throughput_figure

ROW = re.compile(r"^\|\s*([\w.-]+\.csv)\s*\|\s*(.+?)\s*\|\s*$")


def commands(folder: Path) -> dict[str, str]:
    """File name -> how it was made, from the folder's README.md table (empty if none)."""
    readme = folder / "README.md"
    if not readme.is_file():
        return {}
    out = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def describe(df: pd.DataFrame) -> str:
    """'distilbert, quick scale, cpu' from the columns a result carries."""
    parts = []
    for col, fmt in (("preset", "{}"), ("scale", "{} scale"), ("device", "{}")):
        if col in df.columns and df[col].nunique() == 1:
            parts.append(fmt.format(df[col].iloc[0]))
    return ", ".join(parts)


def figures(df: pd.DataFrame, name: str) -> list[go.Figure]:
    """The figures for one committed CSV ([] when none fits its columns)."""
    cols = set(df.columns)
    if {"tasks", "system", "throughput_qps", "memory_mib"} <= cols:  # scalability
        return [throughput_figure(df), memory_figure(df)]
    if {"group", "tasks", "ratio_vs_dense", "budget_copies"} <= cols:  # capacity
        return [pets.viz.capacity_bars(df)]
    if {"shape", "system", "queries_per_s", "tasks"} <= cols:  # systems: seqs / pars / pets
        return [pets.viz.systems_lines(df).update_xaxes(type="log", title="tasks (log scale)")]
    if {"shape", "normalised", "queries_per_s", "tasks"} <= cols:  # throughput per shape
        return [pets.viz.throughput_lines(df), per_shape(df, "queries_per_s", name)]
    if {"streams", "schedule", "vs_one_stream"} <= cols:
        return [pets.viz.streams_lines(df)]
    fig = generic(df, name)
    return [fig] if fig is not None else []


def per_shape(df: pd.DataFrame, y: str, title: str) -> go.Figure:
    """`y` against tasks, one line per query shape (never one line across shapes)."""
    fig = go.Figure()
    for i, (shape, g) in enumerate(df.groupby("shape", sort=False)):
        g = g.sort_values("tasks")
        fig.add_trace(go.Scatter(x=g.tasks, y=g[y], name=f"{shape} per task", mode="lines+markers",
                                 line=dict(dash=pets.viz.DASHES[i % len(pets.viz.DASHES)]),
                                 marker=dict(symbol=pets.viz.SYMBOLS[i % len(pets.viz.SYMBOLS)],
                                             size=8)))
    fig.update_layout(title=f"{title}: {y.replace('_', ' ')}", yaxis_title=y.replace("_", " "),
                      yaxis_rangemode="tozero", legend_title="shape {queries, tokens}")
    return tasks_axis(fig, df.tasks)


Y_PREFERENCE = ("throughput_qps", "queries_per_s", "throughput_rps", "speedup", "vs_seqs",
                "normalised", "memory_mib")


def generic(df: pd.DataFrame, title: str) -> go.Figure | None:
    """A line per (system, shape) group against tasks, for other families."""
    y = next((c for c in Y_PREFERENCE if c in df.columns), None)
    if "tasks" not in df.columns or y is None:
        return None
    keys = [c for c in ("system", "shape", "group", "policy") if c in df.columns]
    fig = go.Figure()
    groups = df.groupby(keys, sort=False) if keys else [((), df)]
    for i, (key, g) in enumerate(groups):
        g = g.sort_values("tasks")
        label = " ".join(str(k) for k in (key if isinstance(key, tuple) else (key,))) or y
        fig.add_trace(go.Scatter(x=g.tasks, y=g[y], name=label, mode="lines+markers",
                                 line=dict(dash=pets.viz.DASHES[i % len(pets.viz.DASHES)]),
                                 marker=dict(symbol=pets.viz.SYMBOLS[i % len(pets.viz.SYMBOLS)])))
    fig.update_layout(title=title, yaxis_title=y.replace("_", " "), yaxis_rangemode="tozero")
    return fig.update_xaxes(title="tasks")
