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
