"""Plotly figure functions build figures from engines and replay reports."""
from __future__ import annotations

import pytest

from pets.serving import TraceSpec, engine_for_trace, generate_trace, replay

viz = pytest.importorskip("pets.viz")


def test_figures():
    tr = generate_trace(TraceSpec(requests=30, rate=300, tasks=5))
    eng = engine_for_trace(tr, "bert-tiny")
    assert len(viz.memory_bars(eng).data) == 2
    reports = {s: replay(tr, eng, system=s, progress=False) for s in ("pets", "base")}
    fig = viz.latency_cdf(reports)
    assert [t.name for t in fig.data] == ["pets", "base"] and fig.data[0].y[-1] == 1.0
    import pandas as pd

    bars = viz.summary_bars(pd.DataFrame([r.summary() for r in reports.values()]))
    assert list(bars.data[0].x) == ["pets", "base"]


def test_cluster_figures():
    from pets.cluster import Catalog, ClusterConfig, replay_cluster
    from pets.serving import ServeConfig, TraceSpec, generate_trace

    trace = generate_trace(TraceSpec(requests=600, rate=15_000, tasks=8, alpha=1.5, seed=3))
    cat = Catalog.for_trace(trace, "bert-tiny")
    reps = {b: replay_cluster(trace, cat, ClusterConfig(workers=2, balancer=b, interval_s=0.005,
                                                        window_s=0.02, min_busy=0.0),
                              ServeConfig(queue_limit=10**5), progress=False)
            for b in ("static", "migrate")}
    assert len(viz.cluster_load(reps).data) == 4  # 2 workers x 2 balancers
    assert len(viz.migration_timeline(reps["migrate"]).data) >= 1
