"""`pets serve-bench`: online (child-process server + loadgen) vs in-process real replay."""
from __future__ import annotations

import pandas as pd
import pytest

from pets.errors import InvalidSpecError
from pets.server.bench import ServeBenchConfig, capacity_at_slo, run_serve_bench, summary_lines


@pytest.mark.slow
def test_serve_bench_runs_both_modes_on_the_same_trace():
    cfg = ServeBenchConfig(systems=("pets",), rates=(40.0,), requests=20, tasks=3,
                           dtype="float32")
    df = run_serve_bench(cfg, progress=False)
    assert sorted(df["mode"]) == ["online", "replay"]
    assert (df.completed == 20).all() and (df.rejected + df.failed == 0).all()
    assert df.offered_rps.nunique() == 1  # the same trace both ways
    assert any("online / replay throughput" in line for line in summary_lines(df))


def test_capacity_is_the_highest_rate_served_whole_within_the_slo():
    df = pd.DataFrame([
        dict(system="pets", mode="online", rate=r, p99_ms=p99, rejected=rej, failed=0,
             goodput_rps=r * 0.9, throughput_rps=r, p50_ms=5.0, slo_ms=200.0)
        for r, p99, rej in ((50, 20, 0), (100, 150, 0), (200, 180, 3), (400, 900, 0))])
    cap = capacity_at_slo(df, 200.0)
    assert cap.rate.tolist() == [100]


@pytest.mark.parametrize("threads", [-1, 1.5, True])
def test_serve_bench_threads_must_be_a_count(threads):
    with pytest.raises(InvalidSpecError, match="threads"):
        ServeBenchConfig(threads=threads)


def test_summary_gives_the_cost_models_full_batch_capacities_and_ratio():
    df = pd.DataFrame([
        dict(system=s, mode=m, rate=50.0, p99_ms=20.0, rejected=0, failed=0, goodput_rps=50.0,
             throughput_rps=50.0, p50_ms=5.0, slo_ms=200.0,
             capacity_rps={"pets": 300.0, "seqs": 150.0}[s] if m == "replay" else float("nan"))
        for s in ("pets", "seqs") for m in ("replay", "online")])
    lines = summary_lines(df)
    assert "cost-model capacity (full batches, no SLO): pets 300 req/s" in lines
    assert lines[-1] == "cost-model full-batch capacity, pets / seqs: 2.00x"
