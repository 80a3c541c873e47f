"""The throughput bench (Fig. 7) normalises each shape to its one-task run."""
from __future__ import annotations

from pets.bench.throughput import summary_lines
from pets.bench.registry import run
from pets.viz import throughput_lines


def test_throughput_grid():
    df = run("throughput", "quick", preset="bert-tiny", shapes=((1, 8), (2, 4)),
             task_counts=(1, 2, 4), repeats=1, progress=False)
    assert len(df) == 6 and set(df["shape"]) == {"{1,8}", "{2,4}"}
    assert (df[df.tasks == 1].normalised == 1.0).all()
    assert (df.queries == df.tasks * df.per_task_batch).all()
    assert (df.tokens == df.queries * df.seq_len).all()
    assert (df.queries_per_s > 0).all()
    assert len(summary_lines(df)) == 2
    assert len(throughput_lines(df).data) == 2
