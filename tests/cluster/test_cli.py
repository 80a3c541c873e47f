"""`pets cluster replay` and `pets bench cluster` from the command line."""
from __future__ import annotations

import pandas as pd
import pytest

from pets.bench.cluster import ClusterBenchConfig, headline, run_cluster_bench
from pets.cli import main


def test_cluster_replay_with_a_fault(tmp_path, capsys):
    trace = tmp_path / "t.csv"
    assert main(["trace", "gen", "--out", str(trace), "--requests", "200", "--rate", "2000",
                 "--tasks", "8", "--alpha", "1.5"]) == 0
    assert main(["cluster", "replay", str(trace), "--workers", "3", "--kill", "0@0.02",
                 "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "worker 0 died" in out and "per worker" in out
    df = pd.read_csv(tmp_path / "c" / "t-migrate-sim-x3-requests.csv")
    assert len(df) == 200 and set(df.status) == {"completed"}
    assert (tmp_path / "c" / "t-migrate-sim-x3-load.csv").is_file()


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "workers must be an int >= 1"),
    (["--budget-mb", "0.0001"], "raise the budget to at least"),
    (["--kill", "7@1"], "names no worker"),
    (["--kill", "soon"], "WORKER@SECONDS"),
])
def test_cluster_replay_bad_input_is_a_clear_error(tmp_path, capsys, args, message):
    trace = tmp_path / "t.csv"
    main(["trace", "gen", "--out", str(trace), "--requests", "20", "--tasks", "4"])
    assert main(["cluster", "replay", str(trace), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cluster_bench_tiny():
    df = run_cluster_bench(ClusterBenchConfig(
        preset="bert-tiny", alphas=(1.5,), task_counts=(8,), worker_counts=(2,), seconds=0.3,
        budgets=(None,)), progress=False)
    assert set(df.balancer) == {"static", "replicate", "migrate"}
    assert (df.completed == df.requests).all()
    assert df.set_index("balancer").vs_static["static"] == 1.0
    assert any("migrate" in line for line in headline(df))
