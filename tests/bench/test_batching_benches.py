"""Cost-model fidelity and batching benchmarks run end to end at tiny scale."""
from __future__ import annotations

from pets.batching.policies import POLICIES
from pets.bench.batching import BatchingConfig, headline, run_batching
from pets.bench.costmodel import CostModelBenchConfig, error_summary, run_costmodel


def test_costmodel_bench_reports_errors():
    df = run_costmodel(CostModelBenchConfig(preset="bert-tiny", tasks=8, batches=5, repeats=1),
                       progress=False)
    assert len(df) == 5 and (df.measured_s > 0).all() and (df.predicted_s > 0).all()
    s = error_summary(df)
    assert s["batches"] == 5 and s["median_abs_rel_error"] >= 0


def test_batching_bench_runs_every_policy():
    df = run_batching(BatchingConfig(preset="bert-tiny", queries=40, stds=(1, 8), task_counts=(8,),
                                     repeats=1), progress=False)
    assert set(df.policy) == set(POLICIES)
    assert len(df) == 2 * len(POLICIES)
    assert (df[df.policy == "fixed"].vs_fixed == 1.0).all()
    assert headline(df).shape == (2, len(POLICIES))
