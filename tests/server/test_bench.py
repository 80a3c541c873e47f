"""`pets serve-bench`: online (child-process server + loadgen) vs in-process real replay."""
from __future__ import annotations

import pandas as pd
import pytest

from pets.errors import InvalidSpecError
from pets.server.bench import ServeBenchConfig, capacity_at_slo, run_serve_bench, summary_lines


@pytest.mark.slow
def test_serve_bench_runs_both_modes_on_the_same_traces_in_rounds():
    cfg = ServeBenchConfig(systems=("pets",), rates=(20.0, 40.0), requests=20, tasks=3,
                           dtype="float32", repeats=2)
    df = run_serve_bench(cfg, progress=False)
    assert len(df) == 2 * 2 * 2  # rounds x rates x modes
    assert df.groupby(["round", "rate"])["mode"].apply(sorted).tolist() == [["online", "replay"]] * 4
    assert (df.completed == 20).all() and (df.rejected + df.failed == 0).all()
    # within a round both modes serve the same trace; the rounds draw different traces
    assert (df.groupby(["round", "rate"]).offered_rps.nunique() == 1).all()
    assert df[df.rate == 40.0].groupby("round").offered_rps.first().nunique() == 2
    lines = summary_lines(df)
    assert any("online / replay throughput" in line and "medians of 2 runs" in line
               for line in lines)
    assert any(line.startswith("capacity at p99 <= 200 ms (online): pets 40 req/s")
               and "2 of 2 runs held" in line for line in lines)


def test_capacity_is_the_highest_rate_the_median_run_served_whole_within_the_slo():
    runs = {50: [(20, 0), (30, 0), (25, 0)], 100: [(150, 0), (190, 0), (420, 0)],
            150: [(120, 0), (260, 0), (330, 0)], 200: [(180, 3), (170, 2), (150, 0)],
            400: [(900, 0), (950, 0), (990, 0)]}
    df = pd.DataFrame([
        dict(system="pets", mode="online", rate=r, round=i, p99_ms=p99, rejected=rej, failed=0,
             goodput_rps=r * 0.9, throughput_rps=r, p50_ms=5.0, slo_ms=200.0)
        for r, rs in runs.items() for i, (p99, rej) in enumerate(rs)])
    cap = capacity_at_slo(df, 200.0)
    # 150: median p99 260 ms; 200: the median run rejected 2
    assert cap.rate.tolist() == [100]
    assert cap.p99_ms.tolist() == [190] and cap.runs.tolist() == [3]
    assert cap.runs_held.tolist() == [2]


def test_rates_per_system():
    cfg = ServeBenchConfig(systems=("pets", "seqs"), rates=(10.0,),
                           system_rates=("pets=105/120.5",))
    assert cfg.rates_of("pets") == (105.0, 120.5) and cfg.rates_of("seqs") == (10.0,)


@pytest.mark.parametrize("item", ["pets", "pets=", "pets=1/x", "pets=-5", "seq=60", "=60"])
def test_malformed_system_rates_say_how_to_write_them(item):
    with pytest.raises(InvalidSpecError, match="system rates"):
        ServeBenchConfig(system_rates=(item,))


def test_summary_bounds_the_capacity_ratio_by_the_rate_grid():
    p99 = {("pets", 60): 50, ("pets", 120): 150, ("seqs", 60): 150, ("seqs", 70): 400}
    df = pd.DataFrame([
        dict(system=s, mode=m, rate=float(r), round=0, p99_ms=v, rejected=0, failed=0,
             goodput_rps=r, throughput_rps=r, p50_ms=5.0, slo_ms=200.0)
        for (s, r), v in p99.items() for m in ("online", "replay")])
    line = next(x for x in summary_lines(df) if x.startswith("online capacity"))
    assert line == ("online capacity at p99 <= 200 ms, pets / seqs: 2.00x; at least 1.71x "
                    "(seqs did not hold 70 req/s); pets held its highest rate tried, so it may "
                    "serve more")


@pytest.mark.parametrize("threads", [-1, 1.5, True])
def test_serve_bench_threads_must_be_a_count(threads):
    with pytest.raises(InvalidSpecError, match="threads"):
        ServeBenchConfig(threads=threads)


@pytest.mark.parametrize("repeats", [0, 2.0, True])
def test_serve_bench_repeats_must_be_a_count_of_rounds(repeats):
    with pytest.raises(InvalidSpecError, match="repeats"):
        ServeBenchConfig(repeats=repeats)


def test_summary_gives_the_cost_models_full_batch_capacities_and_ratio():
    df = pd.DataFrame([
        dict(system=s, mode=m, rate=50.0, p99_ms=20.0, rejected=0, failed=0, goodput_rps=50.0,
             throughput_rps=50.0, p50_ms=5.0, slo_ms=200.0,
             capacity_rps={"pets": 300.0, "seqs": 150.0}[s] if m == "replay" else float("nan"))
        for s in ("pets", "seqs") for m in ("replay", "online")])
    lines = summary_lines(df)
    assert "cost-model capacity (full batches, no SLO): pets 300 req/s" in lines
    assert lines[-1] == "cost-model full-batch capacity, pets / seqs: 2.00x"


def test_serve_bench_command_is_the_bench_with_every_option():
    from pets.cli import build_parser

    args = ["--repeats", "2", "--system-rates", "pets=105/120,seqs=60", "--alpha", "0.5"]
    alias = build_parser().parse_args(["serve-bench", *args])
    bench = build_parser().parse_args(["bench", "serve", *args])
    assert alias.system_rates == bench.system_rates == ("pets=105/120", "seqs=60")
    assert (alias.repeats, alias.alpha) == (bench.repeats, bench.alpha) == (2, 0.5)
