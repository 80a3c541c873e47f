"""Replay reports state offered load, capacity, SLO and mean latency; side-by-side
comparisons repeat interleaved, report median and spread, and flag impossible orderings."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from pets.cli import main, replay_notes, replay_table
from pets.serving import ServeConfig, TraceSpec, engine_for_trace, generate_trace, replay, save_trace
from pets.serving.capacity import capacity_rps, offered_rps
from pets.serving.compare import aggregate, compare, ordering_flags
from pets.serving.loop import DEFAULT_SLO_MS
from pets.serving.systems import make_system

TRACE = generate_trace(TraceSpec(requests=40, rate=100, tasks=4, seed=3))


def test_every_report_states_offered_capacity_slo_and_mean():
    eng = engine_for_trace(TRACE, "bert-tiny")
    s = replay(TRACE, eng, system="pets", progress=False).summary()
    assert ServeConfig().slo_ms == DEFAULT_SLO_MS == 200.0 and s["slo_ms"] == 200.0
    assert s["offered_rps"] == pytest.approx(offered_rps(TRACE)) and 60 < s["offered_rps"] < 160
    assert s["capacity_rps"] > 0 and math.isfinite(s["capacity_rps"])
    assert s["p50_ms"] * 0.5 < s["mean_ms"] < s["p99_ms"] * 1.01


def test_capacity_orders_systems_by_their_work():
    eng = engine_for_trace(TRACE, "bert-tiny")
    cap = {n: capacity_rps(make_system(n, eng), TRACE, max_batch=8) for n in ("pets", "seqs", "base")}
    assert cap["base"] > cap["pets"] and cap["base"] > cap["seqs"]
    # batches of 8 over 4 tasks: bigger batches mean fewer batch overheads, more capacity
    assert capacity_rps(make_system("base", eng), TRACE, max_batch=32) > cap["base"]


def test_compare_interleaves_repeats_and_reuses_systems():
    eng = engine_for_trace(TRACE, "bert-tiny")
    built = []

    def make():
        built.append(1)
        return eng
    cfg = ServeConfig(executor="real", max_batch=8)
    runs, reports = compare(TRACE, ["pets", "base"], cfg, make_engine=make, repeats=2)
    assert list(runs.system) == ["pets", "pets", "base", "base"] and list(runs.repeat) == [0, 1, 0, 1]
    assert len(built) == 2 and set(reports) == {"pets", "base"}
    agg = aggregate(runs)
    assert list(agg.repeats) == [2, 2]
    for m in ("throughput_rps", "mean_ms", "p99_ms"):
        assert (agg[f"{m}_min"] <= agg[m]).all() and (agg[m] <= agg[f"{m}_max"]).all()
    sim, _ = compare(TRACE, ["pets"], ServeConfig(), make_engine=lambda: eng, repeats=3)
    assert len(sim) == 1  # a simulated replay is deterministic: once


def test_compare_order_rotates():
    order = []
    eng = engine_for_trace(TRACE, "bert-tiny")
    compare(TRACE, ["pets", "seqs", "base"], ServeConfig(executor="real", max_batch=16),
            make_engine=lambda: eng, repeats=3, on_run=lambda r, s: order.append(s))
    assert order[:3] == ["pets", "seqs", "base"] and order[3:6] == ["seqs", "base", "pets"]


def _agg(base, pets, n=3):
    rows = []
    for i, (b, p) in enumerate(zip(base, pets)):
        rows += [dict(system="base", executor="real", throughput_rps=b[0], mean_ms=b[1], repeat=i),
                 dict(system="pets", executor="real", throughput_rps=p[0], mean_ms=p[1], repeat=i)]
    return aggregate(pd.DataFrame(rows))


def test_flags_base_slower_beyond_the_spread_only():
    ok = _agg([(50, 20), (52, 21), (49, 22)], [(40, 30), (41, 31), (39, 29)])
    assert ordering_flags(ok) == []
    overlap = _agg([(40, 30), (45, 25), (50, 20)], [(44, 28), (46, 26), (48, 24)])
    assert ordering_flags(overlap) == []  # spreads overlap: no claim either way
    bad = _agg([(20, 90), (21, 95), (22, 99)], [(40, 30), (41, 31), (39, 29)])
    flags = ordering_flags(bad)
    assert len(flags) == 2 and all("IMPOSSIBLE ORDER" in f and "--repeats" in f for f in flags)
    assert "base throughput 20.0-22.0 req/s is below pets's 39.0-41.0" in flags[0]
    assert any("warning: IMPOSSIBLE" in line for line in replay_notes(bad.assign(
        offered_rps=10.0, capacity_rps=100.0)))


def test_cli_table_shows_load_capacity_slo_and_spread(tmp_path, capsys):
    trace = tmp_path / "t.csv"
    save_trace(TRACE, trace)
    assert main(["replay", str(trace), "--system", "pets,base", "--executor", "real",
                 "--repeats", "2", "--slo-ms", "150", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "offered" in out and "SLO p99 <= 150 ms" in out and "median [min-max] of 2 run(s)" in out
    assert "capacity req/s" in out and "mean ms" in out
    assert "note: the offered load" in out  # bert-tiny at 100 req/s: far below capacity
    assert main(["replay", str(trace), "--system", "pets", "--slo-ms", "0",
                 "--out", str(tmp_path / "o")]) == 0
    assert "SLO none" in capsys.readouterr().out


def test_replay_table_formats_spreads():
    agg = _agg([(50, 20), (52, 21), (49, 22)], [(40, 30), (41, 31), (39, 29)]).assign(
        offered_rps=45.0, capacity_rps=60.0, completed=10, rejected=0, failed=0,
        goodput_rps=1.0, p50_ms=1.0, p99_ms=2.0)
    t = replay_table(agg)
    assert t["throughput req/s"].iloc[0] == "50.0 [49.0-52.0]" and t["runs"].iloc[0] == 3
