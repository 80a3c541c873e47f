"""Figures of the paper-figure benches that need no run: built from small frames."""
from __future__ import annotations

import pandas as pd

from pets.viz import batching_lines, streams_lines


def test_streams_lines():
    df = pd.DataFrame(dict(schedule=["engine", "streams", "streams"], streams=[1, 1, 2],
                           vs_one_stream=[1.05, 1.0, 1.1]))
    assert list(streams_lines(df).data[0].x) == [1, 2]


def test_batching_lines_one_line_per_policy():
    df = pd.DataFrame(dict(tasks=[32] * 4 + [64] * 2, std=[1, 8, 1, 8, 1, 8],
                           policy=["fixed", "fixed", "cb", "cb", "fixed", "cb"],
                           vs_fixed=[1.0, 1.0, 1.2, 1.1, 1.0, 1.3]))
    fig = batching_lines(df)
    assert sorted(t.name for t in fig.data) == ["cb", "fixed"]
    assert list(fig.data[0].x) == [1, 8]
